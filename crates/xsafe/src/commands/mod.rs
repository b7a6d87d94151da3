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
    std::io::Write::write_all(&mut std::io::stdout(), &script)?;
    Ok(ExitCode::SUCCESS)
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
    std::io::Write::write_all(file.file(), bytes)
        .with_context(|| format!("writing `{}`", path.display()))?;
    file.commit()
}

/// A file that replaces `path` only when it is complete: it is written as
/// a temporary file beside the file `path` names (through symlinks) and
/// renamed over it by [`AtomicFile::commit`]. Dropped without a commit (an
/// error, Ctrl-C), the temporary file is removed and `path` is as it was.
///
/// A path that is not a regular file (a FIFO, `/dev/stdout`, `/dev/null`)
/// is written through as it is: renaming over it would put a regular file
/// in its place (as root, in `/dev`).
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
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .with_context(|| format!("`{}` is not a file name", path.display()))?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = std::fs::File::create(&tmp).with_context(writing)?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            replace: Some((tmp, target)),
            file,
            committed: false,
        })
    }

    pub(crate) fn file(&mut self) -> &mut std::fs::File {
        &mut self.file
    }

    /// Syncs the written bytes and renames the file over the one it
    /// replaces (written through: flushes them).
    pub(crate) fn commit(mut self) -> Result<()> {
        let done = match &self.replace {
            Some((tmp, target)) => self
                .file
                .sync_all()
                .and_then(|()| std::fs::rename(tmp, target)),
            None => std::io::Write::flush(&mut self.file),
        };
        done.with_context(|| format!("writing `{}`", self.path.display()))?;
        self.committed = true;
        Ok(())
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
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Executes a run plan with a progress bar on stderr (hidden with
/// `--quiet`); `message` turns the run's name into the bar's label.
///
/// An error once the run has started is said to have stopped `what` (`the
/// run`, `the calibration run`). One before, while the run is opened (a
/// name taken by a run of other settings, a suite given twice, a run
/// another process holds), is about what was asked, and is returned as it
/// is: nothing stopped, since nothing started.
pub(crate) async fn execute_with_progress(
    store: std::sync::Arc<xsafe_store::Store>,
    plan: &xsafe_runner::RunPlan,
    cancel: &tokio_util::sync::CancellationToken,
    quiet: bool,
    what: &str,
    message: impl Fn(&str) -> String + Send + Sync + 'static,
) -> Result<xsafe_runner::RunOutcome> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use xsafe_runner::Event;
    let bar = progress_bar(quiet, 0, "");
    let events = bar.clone();
    let started = Arc::new(AtomicBool::new(false));
    let seen = started.clone();
    let outcome = xsafe_runner::execute(store, plan, cancel.clone(), move |event| match event {
        Event::Started {
            run_name,
            total,
            done,
            ..
        } => {
            seen.store(true, Ordering::Relaxed);
            events.set_length(total);
            events.set_position(done);
            events.set_message(message(&run_name));
        }
        Event::Stored { .. } => events.inc(1),
    })
    .await;
    bar.finish_and_clear();
    outcome.map_err(|e| {
        let e = anyhow::Error::from(e);
        if started.load(Ordering::Relaxed) {
            e.context(format!("{what} stopped"))
        } else {
            e
        }
    })
}

/// A token cancelled by Ctrl-C, so a run stops cleanly and resumes later.
/// A second Ctrl-C exits at once (130): what is stored is kept, each answer
/// being stored in one transaction, and the same command resumes.
pub(crate) fn cancel_on_ctrl_c() -> tokio_util::sync::CancellationToken {
    let cancel = tokio_util::sync::CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            errln!(
                "\ninterrupted: stopping (Ctrl-C again to exit at once); run the same command \
                 again to resume"
            );
            on_signal.cancel();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            errln!("interrupted again: exiting");
            std::process::exit(130);
        }
    });
    cancel
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
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("static template")
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
        f.file().write_all(b"half of the new").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");

        let mut f = AtomicFile::create(&path).unwrap();
        f.file().write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.csv"]);
    }
}
