//! One file per command.

mod annotate;
mod export;
mod judge;
mod judge_train;
pub mod model;
mod rejudge;
mod report;
mod run;
mod runs;
mod serve;
mod strategies;
mod suites;
mod tune;

use crate::cli::{Cli, Command, SuiteFileArgs};
use anyhow::{Context, Result, anyhow, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use xsafe_suite::{Columns, LoadOptions};

pub async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let global = &cli.global;
    match cli.command {
        Command::Run(args) => run::run(global, *args).await,
        Command::Suites(cmd) => suites::run(global, cmd).await,
        Command::Strategies(cmd) => strategies::run(global, cmd),
        Command::Runs(cmd) => runs::run(global, cmd),
        Command::Export(args) => export::run(global, args),
        Command::Model(cmd) => model::run(global, cmd).await,
        Command::Judge(cmd) => judge::run(global, *cmd).await,
        Command::Rejudge(args) => rejudge::run(global, *args).await,
        Command::Tune(args) => tune::run(global, *args).await,
        Command::Report(args) => report::run(global, *args),
        Command::Serve(cmd) => serve::run(global, *cmd).await,
        Command::Annotate(cmd) => annotate::run(global, *cmd).await,
        Command::Completions { shell } => completions(shell),
    }
}

/// `xsafe completions SHELL`: the shell's completion script, from the same
/// definition as `--help`, so it never falls behind the commands.
fn completions(shell: clap_complete::Shell) -> Result<ExitCode> {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "xsafe", &mut script);
    let mut out = Stdout::lock();
    std::io::Write::write_all(&mut out, &script)?;
    std::io::Write::flush(&mut out)?;
    Ok(ExitCode::SUCCESS)
}

/// Standard output, locked, for a command's data: a failed write says that
/// it was standard output being written ("writing standard output: No
/// space left on device"), as an output file's names the file
/// ([`AtomicFile`]); a reader gone from a pipe is still `BrokenPipe`.
pub(crate) struct Stdout(std::io::StdoutLock<'static>);

impl Stdout {
    pub(crate) fn lock() -> Stdout {
        Stdout(std::io::stdout().lock())
    }
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(crate::on_stdout)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(crate::on_stdout)
    }
}

/// `1 answer`, `2 answers`: a count and its noun, in the plural unless one.
pub(crate) fn count(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// Fails now if `path` cannot be written, for a file written at the end of
/// long work (a tune, an LLM judging): a trial temporary file is created
/// beside it and removed at once, so a crash meanwhile leaves nothing.
pub(crate) fn check_writable(path: &Path) -> Result<()> {
    match replaced_file(path)? {
        // Opening a FIFO waits for its reader: it is written at the end.
        None => Ok(()),
        Some(_) => AtomicFile::create(path).map(drop),
    }
}

/// An `--output` of `-` is stdout, as the flag's absence is (a file of
/// that name is `./-`).
pub(crate) fn dash_is_stdout(output: Option<PathBuf>) -> Option<PathBuf> {
    output.filter(|o| o.as_os_str() != "-")
}

/// Refuses an output path (given by `flag`) that names one of the files
/// the command reads, by any spelling or link: writing it would replace
/// that input, a file of human labels say, with no way back.
pub(crate) fn check_not_input<'a>(
    output: &Path,
    flag: &str,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> Result<()> {
    // A path that does not exist yet is no input.
    let Ok(out) = output.canonicalize() else {
        return Ok(());
    };
    for input in inputs {
        if input.canonicalize().is_ok_and(|i| i == out) {
            bail!(
                "{flag} `{}` is `{}`, which this command reads: writing it would replace that \
                 file; give another path",
                output.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// The first file that `paths` name twice, by the same spelling or by two
/// (`f.csv` and `./f.csv`, or a link to it): the places of its first two
/// mentions. A path that names no file is left for its reading to refuse.
/// For the commands that take several input files (`run --suite`, `judge
/// eval --labels`, `judge train --labels`): one file given twice would be
/// read, and counted, twice.
pub(crate) fn file_given_twice<'a>(
    paths: impl IntoIterator<Item = &'a Path>,
) -> Option<(usize, usize)> {
    let files: Vec<Option<PathBuf>> = paths.into_iter().map(|p| p.canonicalize().ok()).collect();
    files.iter().enumerate().find_map(|(i, first)| {
        let first = first.as_ref()?;
        let again = files[i + 1..]
            .iter()
            .position(|f| f.as_ref() == Some(first))?;
        Some((i, i + 1 + again))
    })
}

/// A conversation's instructions, its system messages joined by a blank
/// line, as the CSV exports carry them in their `system` column: `xsafe
/// judge` reads them back, so an answer that only repeats them is judged
/// as it was in the run.
pub(crate) fn system_text(transcript: &xsafe_core::Transcript) -> String {
    transcript
        .messages
        .iter()
        .filter(|m| m.role == xsafe_core::Role::System)
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Whether a file's name asks for CSV (`.csv`, any case) rather than JSONL.
pub(crate) fn csv_by_name(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// Writes a file through a temporary one in the same directory and a
/// rename, so a reader never sees half a file (a report, a profile, weights) and a failure leaves the
/// old file in place.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.commit()
}

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// A file that replaces `path` only when it is complete: it is written as
/// a temporary file beside the file `path` names (through symlinks) and
/// renamed over it by [`AtomicFile::commit`]. Dropped without a commit (an
/// error), the temporary file is removed and `path` is as it was; on Ctrl-C
/// or SIGTERM while a temporary file is open, it is removed too and the
/// process exits (130, 143), since no destructor runs then (a signal the
/// process was started ignoring stays ignored). A temporary
/// file left by a process that died all the same (`kill -9`, a crash) is
/// removed by the next one made for the same file.
///
/// The file it replaces keeps its permissions (and, where this user may
/// set them, its owner and group). A SQLite database (a run store, by any
/// path or link to it) is never replaced: an `--output` naming the store
/// by mistake would put a report in place of every run.
///
/// A path that is not a regular file (a FIFO, `/dev/stdout`, `/dev/null`)
/// is written through as it is: renaming over it would put a regular file
/// in its place (as root, in `/dev`).
///
/// Written through its [`std::io::Write`] (or a [`writer`](AtomicFile::writer)),
/// a failure names the file ("writing `out.csv`: No space left on device").
pub(crate) struct AtomicFile {
    path: PathBuf,
    /// The temporary file and the file it replaces; `None` when writing
    /// straight to `path`.
    replace: Option<(PathBuf, PathBuf)>,
    file: std::fs::File,
    committed: bool,
}

impl AtomicFile {
    pub(crate) fn create(path: &Path) -> Result<AtomicFile> {
        let writing = || format!("writing `{}`", path.display());
        let Some(target) = replaced_file(path)? else {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(writing)?;
            return Ok(AtomicFile {
                path: path.to_path_buf(),
                replace: None,
                file,
                committed: false,
            });
        };
        // The file there now, if any (`target` is a dangling link's end or
        // a name not made yet otherwise).
        let existing = std::fs::metadata(&target).ok().filter(|m| m.is_file());
        if existing.is_some() && is_sqlite_database(&target) {
            bail!(
                "`{}` is a SQLite database (an xsafe run store?): xsafe does not write over it; \
                 give another path",
                path.display()
            );
        }
        if let Some(database) = sqlite_companion_of(&target) {
            bail!(
                "`{}` belongs to the SQLite database `{}` (an xsafe run store?): SQLite keeps \
                 its unsaved changes or its locks there, and xsafe does not write over it; give \
                 another path",
                path.display(),
                database.display()
            );
        }
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .with_context(|| format!("`{}` is not a file name", path.display()))?;
        remove_stale_temporaries(dir, name);
        let tmp = dir.join(temporary_name(name, std::process::id()));
        interrupts::listen();
        let file = interrupts::create(&tmp, path, || create_temporary(&tmp, existing.as_ref()))
            .with_context(writing)?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            replace: Some((tmp, target)),
            file,
            committed: false,
        })
    }

    /// A writer of its own onto the file (for a `BufWriter` or a CSV writer
    /// that must own what it writes to), whose failures name the file as
    /// the `AtomicFile`'s do. Commit the `AtomicFile` once the writer is
    /// flushed and dropped.
    pub(crate) fn writer(&self) -> Result<OutputWriter> {
        let file = self
            .file
            .try_clone()
            .with_context(|| format!("writing `{}`", self.path.display()))?;
        Ok(OutputWriter {
            file,
            path: self.path.clone(),
        })
    }

    /// Syncs the written bytes and renames the file over the one it
    /// replaces (written through: flushes them).
    pub(crate) fn commit(mut self) -> Result<()> {
        let done = match &self.replace {
            Some((tmp, target)) => self
                .file
                .sync_all()
                .and_then(|()| interrupts::rename(tmp, target)),
            None => std::io::Write::flush(&mut self.file),
        };
        done.with_context(|| format!("writing `{}`", self.path.display()))?;
        self.committed = true;
        Ok(())
    }
}

impl std::io::Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::Write::write(&mut self.file, buf).map_err(|e| naming(&self.path, e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::Write::flush(&mut self.file).map_err(|e| naming(&self.path, e))
    }
}

/// A writer onto an [`AtomicFile`]'s file (see [`AtomicFile::writer`]).
pub(crate) struct OutputWriter {
    file: std::fs::File,
    path: PathBuf,
}

impl std::io::Write for OutputWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::Write::write(&mut self.file, buf).map_err(|e| naming(&self.path, e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::Write::flush(&mut self.file).map_err(|e| naming(&self.path, e))
    }
}

/// `error`, from writing the output file `path`, with the file named in
/// it: a bare "No space left on device" does not say which of a command's
/// files it was. The kind stays, so a retried write (`Interrupted`) and a
/// reader gone from a pipe (`BrokenPipe`) are still told apart.
fn naming(path: &Path, error: std::io::Error) -> std::io::Error {
    if error.kind() == std::io::ErrorKind::Interrupted {
        return error;
    }
    std::io::Error::new(
        error.kind(),
        format!("writing `{}`: {error}", path.display()),
    )
}

/// Whether the file at `path` is a SQLite database: it starts with the
/// header every one starts with. A file that cannot be read is taken not
/// to be (writing over it will say why it cannot).
fn is_sqlite_database(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == SQLITE_HEADER)
}

/// The SQLite database whose companion file `path` is, if it is one: a
/// `-wal` (changes not yet written into the database), `-shm` (the
/// index of that log, shared between processes) or `-journal` (the undo
/// log of a write in progress) beside a database of that name. Whether or
/// not the companion exists: SQLite makes it when the database is next
/// written, and a file put there first would be read as its own.
fn sqlite_companion_of(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let base = ["-wal", "-shm", "-journal"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .filter(|base| !base.is_empty())?;
    let database = path.with_file_name(base);
    is_sqlite_database(&database).then_some(database)
}

/// The temporary file of process `pid` for the file `name`: `.NAME.PID.tmp`.
fn temporary_name(name: &std::ffi::OsStr, pid: u32) -> std::ffi::OsString {
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{pid}.tmp"));
    tmp
}

/// Creates the temporary file at `tmp`. Replacing `existing`, it gets that
/// file's permissions (and owner and group, where this user may give
/// them), and no one else may read it until then: a `chmod 600` file of
/// answers must not become world-readable by being written again.
fn create_temporary(
    tmp: &Path,
    existing: Option<&std::fs::Metadata>,
) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if existing.is_some() {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    let file = options.open(tmp)?;
    if let Some(old) = existing {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let new = file.metadata()?;
            if (new.uid(), new.gid()) != (old.uid(), old.gid()) {
                // Only root may give a file away; a user may give it a
                // group of their own. Either way it stays readable by
                // this user only until the mode below.
                let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()))
                    .or_else(|_| std::os::unix::fs::fchown(&file, None, Some(old.gid())));
            }
        }
        // After the owner: changing it may clear set-id bits.
        file.set_permissions(old.permissions())?;
    }
    Ok(file)
}

/// Removes the temporary files `.NAME.PID.tmp` beside `NAME` in `dir` whose
/// process is gone: what a process killed mid-write (`kill -9`, a crash,
/// or one from before the signal handling) left behind, up to a whole
/// export each. Only where running processes can be told (`/proc` on
/// Linux), and only files untouched for `STALE_AFTER`: a process in another
/// PID namespace (a container sharing the folder) or hidden by `/proc`'s
/// `hidepid` looks gone but may still be writing.
fn remove_stale_temporaries(dir: &Path, name: &std::ffi::OsStr) {
    /// A writer makes its temporary file grow as it goes: one untouched
    /// this long is not being written.
    const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let mut prefix = b".".to_vec();
    prefix.extend_from_slice(name.as_encoded_bytes());
    prefix.push(b'.');
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .as_encoded_bytes()
            .strip_prefix(prefix.as_slice())
            .and_then(|rest| rest.strip_suffix(b".tmp"))
            .and_then(|pid| std::str::from_utf8(pid).ok())
            .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let untouched = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= STALE_AFTER);
        if pid.parse::<u32>().is_ok_and(|p| p == std::process::id())
            || proc.join(pid).exists()
            || !entry.file_type().is_ok_and(|t| t.is_file())
            || !untouched
        {
            continue;
        }
        let _ = std::fs::remove_file(entry.path());
    }
}

/// The regular file that writing `path` replaces: `path` itself, or where
/// its symlinks lead (a dangling one included); `None` when `path` is
/// something to write through (a FIFO, a device).
fn replaced_file(path: &Path) -> Result<Option<PathBuf>> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => bail!(
            "`{}` is a directory; give the name of a file to write",
            path.display()
        ),
        Ok(m) if m.is_file() => {
            Ok(Some(std::fs::canonicalize(path).with_context(|| {
                format!("resolving `{}`", path.display())
            })?))
        }
        Ok(_) => Ok(None),
        Err(_) => {
            // Nothing there yet, or a symlink to a file not made yet.
            let mut target = path.to_path_buf();
            for _ in 0..40 {
                match std::fs::read_link(&target) {
                    Ok(next) => {
                        let base = target.parent().unwrap_or(Path::new("."));
                        target = base.join(next);
                    }
                    Err(_) => break,
                }
            }
            Ok(Some(target))
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let (false, Some((tmp, _))) = (self.committed, &self.replace) {
            interrupts::remove(tmp);
        }
    }
}

/// What Ctrl-C and SIGTERM do to the temporary files of [`AtomicFile`]s.
///
/// A signal's default action ends the process without running a
/// destructor, so an interrupted `judge -o` or `export --output` left its
/// temporary file behind. The live temporary files are kept in a registry,
/// and the first one made installs a listener for both signals: while any
/// is live, a signal removes them all and ends the process by that signal
/// again, its default action restored (a shell loop of such commands stops,
/// as on a process the signal killed). Once a listener is installed the
/// default action no longer
/// applies, so with none live the listener ends the process itself as the
/// default action would, except in a command that handles both signals
/// (see [`cancel_on_ctrl_c`]), which it leaves to the command: a run or a
/// tune stops gracefully and marks its runs interrupted.
///
/// The registry's lock is held while a temporary file is made, renamed or
/// removed, and by the listener from the signal to the exit: a file is
/// never made unregistered, nor left behind half-way.
mod interrupts {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, MutexGuard};

    /// The temporary files live now, with the path each will replace (as
    /// given, to name it).
    static LIVE: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

    /// Whether the listener is installed.
    #[cfg(unix)]
    static LISTENING: AtomicBool = AtomicBool::new(false);

    /// Whether the command handles Ctrl-C and SIGTERM itself (see
    /// `cancel_on_ctrl_c`).
    static COMMAND_HANDLES_SIGNALS: AtomicBool = AtomicBool::new(false);

    /// The exit code of a process ended by SIGTERM, as a shell gives it.
    pub(super) const SIGTERM_CODE: i32 = 143;

    /// The exit code of a process ended by SIGINT (Ctrl-C).
    pub(super) const SIGINT_CODE: i32 = 130;

    fn live() -> MutexGuard<'static, Vec<(PathBuf, PathBuf)>> {
        // Nothing is left half-done under the lock by a panic: the list
        // is still right.
        LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Says that the command stops gracefully on Ctrl-C and SIGTERM by
    /// itself.
    pub(super) fn command_handles_signals() {
        COMMAND_HANDLES_SIGNALS.store(true, Ordering::SeqCst);
    }

    /// Ctrl-C and SIGTERM as this process receives them, each signal that
    /// the process was started ignoring left ignored (the background jobs
    /// of a script ignore Ctrl-C, which the script's process group gets:
    /// listening would act on it). Elsewhere than on Unix, Ctrl-C only.
    pub(super) struct Stops {
        #[cfg(unix)]
        interrupt: Option<tokio::signal::unix::Signal>,
        #[cfg(unix)]
        terminate: Option<tokio::signal::unix::Signal>,
    }

    impl Stops {
        /// Listens from now on; in the async runtime, as every command
        /// runs.
        pub(super) fn listen() -> Stops {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let listen = |signal_number, kind| {
                    if ignored(signal_number) {
                        None
                    } else {
                        signal(kind).ok()
                    }
                };
                Stops {
                    interrupt: listen(libc::SIGINT, SignalKind::interrupt()),
                    terminate: listen(libc::SIGTERM, SignalKind::terminate()),
                }
            }
            #[cfg(not(unix))]
            Stops {}
        }

        /// The next signal, as the exit code of a process it ends
        /// ([`SIGINT_CODE`], [`SIGTERM_CODE`]); `None` when none can come.
        pub(super) async fn next(&mut self) -> Option<i32> {
            #[cfg(unix)]
            {
                tokio::select! {
                    Some(()) = next(&mut self.interrupt) => Some(SIGINT_CODE),
                    Some(()) = next(&mut self.terminate) => Some(SIGTERM_CODE),
                    else => None,
                }
            }
            #[cfg(not(unix))]
            {
                tokio::signal::ctrl_c().await.ok().map(|()| SIGINT_CODE)
            }
        }
    }

    /// Makes the temporary file `tmp` with `make`, registered as live.
    pub(super) fn create(
        tmp: &Path,
        replaces: &Path,
        make: impl FnOnce() -> std::io::Result<std::fs::File>,
    ) -> std::io::Result<std::fs::File> {
        let mut live = live();
        let file = make()?;
        live.push((tmp.to_path_buf(), replaces.to_path_buf()));
        Ok(file)
    }

    /// Renames the temporary file `tmp` over `target`; it is no longer live.
    pub(super) fn rename(tmp: &Path, target: &Path) -> std::io::Result<()> {
        let mut live = live();
        std::fs::rename(tmp, target)?;
        live.retain(|(t, _)| t != tmp);
        Ok(())
    }

    /// Removes the temporary file `tmp`; it is no longer live.
    pub(super) fn remove(tmp: &Path) {
        let mut live = live();
        let _ = std::fs::remove_file(tmp);
        live.retain(|(t, _)| t != tmp);
    }

    /// Whether `tmp` is a live temporary file: for tests.
    #[cfg(test)]
    pub(super) fn is_live(tmp: &Path) -> bool {
        live().iter().any(|(t, _)| t == tmp)
    }

    /// Installs the listener, once, when in the async runtime (every
    /// command runs in it; a unit test may not, and has no signal to
    /// handle). The handlers are installed before this returns, so a
    /// signal from here on finds them.
    pub(super) fn listen() {
        #[cfg(unix)]
        {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            if LISTENING.swap(true, Ordering::SeqCst) {
                return;
            }
            // A signal this process was started ignoring stays ignored:
            // listening would end the process on it.
            let mut stops = Stops::listen();
            runtime.spawn(async move {
                while let Some(code) = stops.next().await {
                    on_signal(code);
                }
            });
        }
    }

    /// Whether `signal` is ignored now (`SIG_IGN`), as it was when the
    /// process started unless a handler was installed since.
    #[cfg(unix)]
    fn ignored(signal: libc::c_int) -> bool {
        // SAFETY: with a null new action, sigaction only reads the current
        // one into `old`, a plain struct that zeroed bytes make valid.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
        }
    }

    /// The next delivery of `signal`; never, without a handler for it.
    #[cfg(unix)]
    async fn next(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
        match signal {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    }

    /// Removes the live temporary files and ends the process by the signal
    /// (`code` is 130 for SIGINT, 143 for SIGTERM); with none live, leaves
    /// the signal to a command that handles it.
    #[cfg(unix)]
    fn on_signal(code: i32) {
        let live = live();
        if live.is_empty() && COMMAND_HANDLES_SIGNALS.load(Ordering::SeqCst) {
            return;
        }
        for (tmp, replaces) in live.iter() {
            let _ = std::fs::remove_file(tmp);
            errln!(
                "\n{}: `{}` was not written (it is as it was before)",
                if code == SIGINT_CODE {
                    "interrupted"
                } else {
                    "terminated"
                },
                replaces.display()
            );
        }
        // With the lock held: no other thread makes a temporary file now.
        // Ended by the signal itself, not an exit status: a shell loop
        // (`for f in ...; do xsafe judge ...; done`) stops on a child the
        // signal killed, and goes on to the next one after a child that
        // exited 130 as if it had handled it.
        let signal = if code == SIGINT_CODE {
            libc::SIGINT
        } else {
            libc::SIGTERM
        };
        // SAFETY: plain calls, from a task rather than a signal handler:
        // the default action for the signal, then the signal to this
        // process, whose default action ends it.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
        std::process::exit(code);
    }
}

/// Whether `error` is Ctrl-C while a run was still being prepared (its
/// strategies checked against the suites): nothing was stored, and the
/// command exits 130 as for any interruption.
pub(crate) fn interrupted_before_start(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref(),
        Some(xsafe_runner::RunError::Interrupted)
    )
}

/// Executes a run plan with a progress bar on stderr (hidden with
/// `--quiet`); `message` turns the run's name into the bar's label. When
/// stderr is not a terminal (a CI log), where no bar is drawn, a plain
/// progress line is written every [`progress_interval`] instead, so a long
/// run is not silent until its end.
///
/// An error once the run has started is said to have stopped `what` (`the
/// run`, `the calibration run`). One before, while the run is opened (a
/// name taken by a run of other settings, a stored run asked at other base
/// URLs, a suite given twice, a run another process holds), is about what
/// was asked, and is returned as it is: nothing stopped, since nothing
/// started.
pub(crate) async fn execute_with_progress(
    store: std::sync::Arc<xsafe_store::Store>,
    plan: &xsafe_runner::RunPlan,
    cancel: &tokio_util::sync::CancellationToken,
    quiet: bool,
    what: &str,
    message: impl Fn(&str) -> String + Send + Sync + 'static,
) -> Result<xsafe_runner::RunOutcome> {
    execute_saying_copies(store, plan, cancel, quiet, what, message)
        .await
        .map(|(outcome, _)| outcome)
        .map_err(|stopped| stopped.error)
}

/// The answers a run copied from other runs instead of asking the model
/// ([`xsafe_runner::Event::Reused`]): how many in all, and from which runs,
/// each with how many, newest run first. None when it copied none.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Copied {
    pub answers: u64,
    pub from: Vec<(String, u64)>,
}

/// A run [`execute_saying_copies`] ran that stopped with an error.
pub(crate) struct Stopped {
    /// The error, said to have stopped the run once it had started.
    pub error: anyhow::Error,
    /// When the run had started (its record and what it stored are in the
    /// store): its outcome as stored, `interrupted` (a target that refused
    /// the key, say, stops the run after the others' answers are stored),
    /// for its summary; `None` before, or when the store could not be read.
    pub outcome: Option<xsafe_runner::RunOutcome>,
    /// What the run copied from other runs before it stopped.
    pub copied: Copied,
}

/// [`execute_with_progress`], returning with the outcome what the run
/// copied from other runs (also said in a note, unless `quiet`); when the
/// run stops with an error, that error with the run's stored outcome
/// ([`Stopped`]).
pub(crate) async fn execute_saying_copies(
    store: std::sync::Arc<xsafe_store::Store>,
    plan: &xsafe_runner::RunPlan,
    cancel: &tokio_util::sync::CancellationToken,
    quiet: bool,
    what: &str,
    message: impl Fn(&str) -> String + Send + Sync + 'static,
) -> std::result::Result<(xsafe_runner::RunOutcome, Copied), Stopped> {
    use std::io::IsTerminal;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use xsafe_runner::Event;
    let bar = progress_bar(quiet, 0, "");
    let events = bar.clone();
    let started = Arc::new(AtomicBool::new(false));
    let seen = started.clone();
    // The run, its results in all and those stored before, once started:
    // what its stored outcome is read with if it stops with an error.
    let opened = Arc::new(std::sync::Mutex::new(None));
    let opened_seen = opened.clone();
    let stored = store.clone();
    let reused = Arc::new(std::sync::Mutex::new(None));
    let reused_seen = reused.clone();
    let lines = (!quiet && !std::io::stderr().is_terminal()).then(|| {
        let (bar, started) = (bar.clone(), started.clone());
        tokio::spawn(async move {
            let every = progress_interval();
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if started.load(Ordering::Relaxed) {
                    errln!(
                        "{}",
                        progress_line(
                            &bar.message(),
                            bar.position(),
                            bar.length().unwrap_or_default(),
                            bar.per_sec(),
                            bar.eta(),
                        )
                    );
                }
            }
        })
    });
    let outcome = xsafe_runner::execute(store, plan, cancel.clone(), move |event| match event {
        Event::Started {
            run_id,
            run_name,
            total,
            done,
        } => {
            seen.store(true, Ordering::Relaxed);
            *opened_seen.lock().expect("never poisoned") = Some((run_id, total, done));
            events.set_length(total);
            events.set_position(done);
            // The results stored before are no progress of this process's:
            // without this, the rate and eta count them as made just now.
            events.reset_eta();
            events.set_message(message(&run_name));
        }
        Event::Stored { copied: false, .. } => events.inc(1),
        // A copy of another run's answer is progress, but not at the
        // model's pace: stored at the store's, a run's copies (they come
        // first) made the rate thousands a second and the eta nothing. So
        // the position counts it and the rate and eta start again after
        // it, from the answers the model gives. The tick first has the
        // estimate take the position in (`inc` may skip that, drawing at
        // most so often; the bar has no steady tick, which would make
        // `tick` do nothing), so that the reset does not leave the copies
        // for the next answer to count.
        Event::Stored { copied: true, .. } => {
            events.inc(1);
            events.tick();
            events.reset_eta();
        }
        Event::Reused { answers, from } => {
            *reused_seen.lock().expect("never poisoned") = Some((answers, from));
        }
        // Said at once (before the run starts), above the bar.
        Event::Relocated {
            run_name,
            relocated,
        } => events.suspend(|| note!("{}", xsafe_runner::relocated_note(&run_name, &relocated))),
    })
    .await;
    if let Some(lines) = lines {
        lines.abort();
    }
    bar.finish_and_clear();
    // Said once the bar is gone, whatever the outcome: they are stored.
    let copied = match reused.lock().expect("never poisoned").take() {
        Some((answers, from)) => {
            note!("{}", reused_note(answers, &from));
            Copied { answers, from }
        }
        None => Copied::default(),
    };
    let error = match outcome {
        Ok(outcome) => return Ok((outcome, copied)),
        Err(e) => anyhow::Error::from(e),
    };
    let opened = opened.lock().expect("never poisoned").take();
    let Some((run_id, total, done)) = opened else {
        return Err(Stopped {
            error,
            outcome: None,
            copied,
        });
    };
    // The error is the one to report: a store that cannot be read now
    // leaves the run without its summary, not with another error.
    let judge = plan.judge.name().to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        xsafe_runner::stored_outcome(&stored, run_id, total, done, &judge)
    })
    .await
    .ok()
    .and_then(|read| {
        read.inspect_err(|e| tracing::debug!(error = %e, "cannot read the stopped run's outcome"))
            .ok()
    });
    Err(Stopped {
        error: error.context(format!("{what} stopped")),
        outcome,
        copied,
    })
}

/// What a run says of the answers it copied from other runs
/// ([`xsafe_runner::Event::Reused`]): how many, from which runs, and how to
/// have the model asked instead.
fn reused_note(answers: u64, from: &[(String, u64)]) -> String {
    let runs: Vec<String> = match from {
        [(name, _)] => vec![name.clone()],
        _ => from
            .iter()
            .map(|(name, n)| format!("{name} ({n})"))
            .collect(),
    };
    let runs = match runs.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    };
    format!(
        "reused {} of {runs} (same target, strategy, case and seed) instead of asking the \
         model; --no-reuse asks it, in a run that has not stored them yet",
        count(answers, "answer")
    )
}

/// How often a run writes its progress line when stderr is not a terminal:
/// every 30 s. `XSAFE_PROGRESS_INTERVAL_MS` sets it in milliseconds; it is
/// for the tests (which cannot wait 30 s), not a documented setting.
fn progress_interval() -> std::time::Duration {
    std::env::var("XSAFE_PROGRESS_INTERVAL_MS")
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map_or(std::time::Duration::from_secs(30), |ms| {
            std::time::Duration::from_millis(ms)
        })
}

/// The plain progress line of a run whose stderr is not a terminal:
/// `progress: t1: 1,234/20,000 (6%), 41.2/s, eta 7 minutes` (no rate nor eta
/// before the first result of this invocation).
fn progress_line(
    label: &str,
    position: u64,
    length: u64,
    per_sec: f64,
    eta: std::time::Duration,
) -> String {
    use indicatif::{HumanCount, HumanDuration};
    let percent = (position * 100).checked_div(length).unwrap_or(100);
    let mut line = format!(
        "progress: {label}: {}/{} ({percent}%)",
        HumanCount(position),
        HumanCount(length)
    );
    if per_sec > 0.0 && per_sec.is_finite() {
        line.push_str(&format!(", {}", rate(per_sec)));
        if position < length {
            line.push_str(&format!(", eta {}", HumanDuration(eta)));
        }
    }
    line
}

/// Results per second as a person reads them: `1,307/s`, `41.2/s`.
/// (indicatif's `{per_sec}` showed `1,306.9028/s`.)
fn rate(per_sec: f64) -> String {
    if per_sec >= 100.0 {
        format!("{}/s", indicatif::HumanCount(per_sec.round() as u64))
    } else {
        format!("{per_sec:.1}/s")
    }
}

/// A token cancelled by Ctrl-C or SIGTERM (a CI job's timeout, `docker
/// stop`, systemd), so a run stops cleanly and resumes later: the first
/// says so on stderr and the command ends as it does when cancelled (its
/// summary printed, 130; 143 for SIGTERM, which `main` gives from
/// [`terminated`]). A second signal of either kind exits at once (130 or
/// 143 by that signal): what is stored is kept, each answer being stored
/// in one transaction, and the same command resumes. A signal the process
/// was started ignoring stays ignored, as for outputs (see `AtomicFile`).
pub(crate) fn cancel_on_ctrl_c() -> tokio_util::sync::CancellationToken {
    // An output's signal listener (see `AtomicFile`) leaves the signals to
    // this.
    interrupts::command_handles_signals();
    let cancel = tokio_util::sync::CancellationToken::new();
    let on_signal = cancel.clone();
    // Listening from now on, not from when the task first runs.
    let mut stops = interrupts::Stops::listen();
    tokio::spawn(async move {
        let Some(first) = stops.next().await else {
            return;
        };
        STOPPED_BY.store(first, std::sync::atomic::Ordering::SeqCst);
        let (stopped, again) = if first == interrupts::SIGTERM_CODE {
            ("terminated (SIGTERM)", "SIGTERM or Ctrl-C")
        } else {
            ("interrupted", "Ctrl-C")
        };
        errln!(
            "\n{stopped}: stopping ({again} again to exit at once); run the same command again \
             to resume"
        );
        on_signal.cancel();
        if let Some(code) = stops.next().await {
            let word = if code == interrupts::SIGTERM_CODE {
                "terminated"
            } else {
                "interrupted"
            };
            errln!("{word} again: exiting");
            std::process::exit(code);
        }
    });
    cancel
}

/// The exit code of the signal that cancelled [`cancel_on_ctrl_c`]'s
/// token first (130 Ctrl-C, 143 SIGTERM); 0 while none has.
static STOPPED_BY: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Whether SIGTERM, rather than Ctrl-C, stopped the command through
/// [`cancel_on_ctrl_c`]: the command then ends with 143 where it says 130.
pub(crate) fn terminated() -> bool {
    STOPPED_BY.load(std::sync::atomic::Ordering::SeqCst) == interrupts::SIGTERM_CODE
}

impl SuiteFileArgs {
    pub fn load_options(&self) -> Result<LoadOptions> {
        Ok(LoadOptions {
            format: self
                .suite_format
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| anyhow!("--suite-format: {e}"))?,
            columns: Columns {
                prompt: self.prompt_column.clone(),
                label: self.label_column.clone(),
                kind: self.type_column.clone(),
                id: self.id_column.clone(),
                default_label: self
                    .default_label
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(|e| anyhow!("--default-label: {e}"))?,
            },
            name: None,
        })
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A progress bar on stderr (hidden with `--quiet`; indicatif draws nothing
/// when stderr is not a terminal).
pub fn progress_bar(quiet: bool, len: u64, message: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    let target = if quiet {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {rate} eta {eta}")
            .expect("static template")
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&rate(state.per_sec()));
                },
            )
            .progress_chars("=> "),
    );
    bar.set_message(message.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_an_interruption_before_the_start_is_one() {
        let before = anyhow::Error::from(xsafe_runner::RunError::Interrupted);
        assert!(interrupted_before_start(&before));
        // Through a context, as `execute_with_progress` may add one.
        assert!(interrupted_before_start(&before.context("the run")));
        let other = anyhow::Error::from(xsafe_runner::RunError::Plan("no".into()));
        assert!(!interrupted_before_start(&other));
    }

    #[test]
    fn the_reused_note_names_each_run_copied_from() {
        assert_eq!(
            reused_note(450, &[("run-abc".into(), 450)]),
            "reused 450 answers of run-abc (same target, strategy, case and seed) instead of \
             asking the model; --no-reuse asks it, in a run that has not stored them yet"
        );
        let several = reused_note(6, &[("a".into(), 3), ("b".into(), 2), ("c".into(), 1)]);
        assert!(
            several.starts_with("reused 6 answers of a (3), b (2) and c (1) ("),
            "{several}"
        );
        assert!(reused_note(1, &[("a".into(), 1)]).starts_with("reused 1 answer of a ("));
    }

    #[test]
    fn rates_are_rounded() {
        assert_eq!(rate(1306.9028), "1,307/s");
        assert_eq!(rate(100.0), "100/s");
        assert_eq!(rate(41.2345), "41.2/s");
        assert_eq!(rate(0.05), "0.1/s");
    }

    #[test]
    fn the_plain_progress_line_has_the_count_share_rate_and_eta() {
        use std::time::Duration;
        assert_eq!(
            progress_line("t1", 1234, 20000, 41.23, Duration::from_secs(420)),
            "progress: t1: 1,234/20,000 (6%), 41.2/s, eta 7 minutes"
        );
        assert_eq!(
            progress_line("t1", 0, 20, 0.0, Duration::ZERO),
            "progress: t1: 0/20 (0%)"
        );
        assert_eq!(
            progress_line("t1", 20, 20, 1306.9, Duration::ZERO),
            "progress: t1: 20/20 (100%), 1,307/s"
        );
        assert_eq!(
            progress_line("t1", 0, 0, 0.0, Duration::ZERO),
            "progress: t1: 0/0 (100%)"
        );
    }

    #[test]
    fn counts_take_the_plural_unless_one() {
        assert_eq!(count(1u64, "answer"), "1 answer");
        assert_eq!(count(0u64, "answer"), "0 answers");
        assert_eq!(count(3u32, "result"), "3 results");
    }

    #[test]
    fn an_atomic_file_replaces_the_old_one_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, "old").unwrap();

        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"half of the new").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");

        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.csv"]);
    }

    /// The temporary files in `dir`.
    fn temporaries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_temporary_file_is_live_until_committed_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let f = AtomicFile::create(&path).unwrap();
        let tmp = f.replace.as_ref().unwrap().0.clone();
        assert!(interrupts::is_live(&tmp));
        drop(f);
        assert!(!interrupts::is_live(&tmp) && !tmp.exists());

        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert!(!interrupts::is_live(&tmp) && !tmp.exists());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }

    /// The bug this guards: `export 1 --output runs.db` put the export in
    /// place of the run store, and exited 0.
    #[test]
    fn a_sqlite_database_is_not_replaced_by_any_path_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("runs.db");
        let mut store = SQLITE_HEADER.to_vec();
        store.extend_from_slice(&[7; 4080]);
        std::fs::write(&db, &store).unwrap();
        let link = dir.path().join("link.json");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&db, &link).unwrap();
        #[cfg(not(unix))]
        std::fs::copy(&db, &link).unwrap();
        for path in [&db, &link] {
            let err = AtomicFile::create(path).err().unwrap().to_string();
            assert_eq!(
                err,
                format!(
                    "`{}` is a SQLite database (an xsafe run store?): xsafe does not write over \
                     it; give another path",
                    path.display()
                )
            );
            let err = write_atomically(path, b"{}").unwrap_err().to_string();
            assert!(err.contains("is a SQLite database"), "{err}");
            assert!(check_writable(path).is_err());
        }
        assert_eq!(std::fs::read(&db).unwrap(), store);
        assert!(temporaries(dir.path()).is_empty());

        // Nor are the files SQLite keeps beside it, made yet or not: the
        // store is not replaced, but its changes and locks are lost.
        for companion in ["runs.db-wal", "runs.db-shm", "runs.db-journal"] {
            let path = dir.path().join(companion);
            let err = write_atomically(&path, b"{}").unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "`{}` belongs to the SQLite database `{}` (an xsafe run store?): SQLite \
                     keeps its unsaved changes or its locks there, and xsafe does not write \
                     over it; give another path",
                    path.display(),
                    dir.path().join("runs.db").display()
                )
            );
            assert!(!path.exists());
        }
        assert!(temporaries(dir.path()).is_empty());
        // The same names beside a file that is no database are anyone's.
        let plain = dir.path().join("notes-wal");
        write_atomically(&plain, b"new").unwrap();
        let lone = dir.path().join("-wal");
        write_atomically(&lone, b"new").unwrap();

        // A file that only mentions SQLite, or is shorter than the header,
        // is written as any other.
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "SQLite format 3 is the header").unwrap();
        write_atomically(&text, b"new").unwrap();
        let short = dir.path().join("short");
        std::fs::write(&short, "SQLite").unwrap();
        write_atomically(&short, b"new").unwrap();
    }

    /// The bug this guards: `chmod 600 p.jsonl; export 1 --output p.jsonl`
    /// left it 644, readable by everyone.
    #[cfg(unix)]
    #[test]
    fn the_replaced_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        for mode in [0o600, 0o640, 0o755] {
            std::fs::write(&path, "old").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let mut f = AtomicFile::create(&path).unwrap();
            let tmp = f.replace.as_ref().unwrap().0.clone();
            let meta = std::fs::metadata(&tmp).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, mode, "before any byte");
            f.write_all(b"new").unwrap();
            f.commit().unwrap();
            let meta = std::fs::metadata(&path).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, mode);
            assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        }
        // A new file is made as any other (the umask decides).
        let new = dir.path().join("new.jsonl");
        write_atomically(&new, b"x").unwrap();
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        assert_eq!(
            std::fs::metadata(&new).unwrap().permissions().mode(),
            std::fs::metadata(&plain).unwrap().permissions().mode()
        );
    }

    /// The bug this guards: a full disk during `export --output` said only
    /// "No space left on device", without the file.
    #[test]
    fn a_failed_write_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut f = AtomicFile::create(&path).unwrap();
        // A handle that cannot be written stands for the failing disk.
        let readonly = dir.path().join("readonly");
        std::fs::write(&readonly, "").unwrap();
        let mut writer = f.writer().unwrap();
        writer.file = std::fs::File::open(&readonly).unwrap();
        f.file = std::fs::File::open(&readonly).unwrap();
        let expected = format!("writing `{}`: ", path.display());
        let err = f.write_all(b"x").unwrap_err();
        assert!(err.to_string().starts_with(&expected), "{err}");
        let err = writer.write_all(b"x").unwrap_err();
        assert!(err.to_string().starts_with(&expected), "{err}");
        // Through a BufWriter, as the commands write, and into anyhow.
        let mut buffered = std::io::BufWriter::new(writer);
        buffered.write_all(b"x").unwrap();
        let err = anyhow::Error::from(buffered.flush().unwrap_err());
        assert!(err.to_string().starts_with(&expected), "{err}");
        drop(f);

        // A real full disk, where there is one: written through.
        let full = Path::new("/dev/full");
        if full.exists() {
            let mut f = AtomicFile::create(full).unwrap();
            let err = f.write_all(b"x").and_then(|()| f.flush()).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::StorageFull);
            assert!(
                err.to_string().starts_with("writing `/dev/full`: "),
                "{err}"
            );
        }
    }

    /// The bug this guards: temporary files of processes killed mid-write
    /// stayed forever, up to a whole export each.
    #[cfg(target_os = "linux")]
    #[test]
    fn temporary_files_of_processes_gone_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.csv");
        // No process has a number this high (`pid_max` is at most 2^22).
        let gone = dir.path().join(".j.csv.4000000000.tmp");
        // Process 1 is always running.
        let running = dir.path().join(".j.csv.1.tmp");
        let other = dir.path().join(".k.csv.4000000001.tmp");
        let not_a_pid = dir.path().join(".j.csv.x1.tmp");
        // Of a process gone too, but written a moment ago: perhaps by one in
        // another PID namespace, still writing.
        let fresh = dir.path().join(".j.csv.4000000002.tmp");
        let hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for p in [&gone, &running, &other, &not_a_pid, &fresh] {
            std::fs::write(p, "half").unwrap();
            if p != &fresh {
                let file = std::fs::File::options().write(true).open(p).unwrap();
                file.set_modified(hours_ago).unwrap();
            }
        }
        write_atomically(&path, b"whole").unwrap();
        assert!(!gone.exists());
        assert!(running.exists() && other.exists() && not_a_pid.exists() && fresh.exists());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "whole");
    }
}
