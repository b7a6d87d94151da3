use rusqlite::ErrorCode;
use std::path::PathBuf;

/// Why the store could not do what was asked.
///
/// Messages name the thing and say what to do, since the CLI shows them as
/// they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// [`Store::open_existing`](crate::Store::open_existing) found no file
    /// at the path, or an empty one: nothing has been stored there, and
    /// nothing was created or written.
    #[error(
        "there is no run store at `{path}`: nothing has been run with it yet; check the path (`xsafe run` creates the store)"
    )]
    NotFound {
        /// The store file as given (`--db`).
        path: String,
    },

    /// The disk holding the store is full: SQLite could not make the
    /// small `-shm` file it reads the store through (see
    /// [`Store::open`](crate::Store::open)).
    #[error(
        "cannot open the run store `{path}`: the disk holding it is full, and SQLite needs a little space beside it (a `-shm` file) to read it; free some space on that disk, then run the command again (nothing was changed)"
    )]
    OpenDiskFull {
        /// The store file as given (`--db`).
        path: String,
    },

    /// Reading or writing failed while opening the store (SQLite's "disk
    /// I/O error"), and the disk does not look full.
    #[error(
        "cannot open the run store `{path}` ({error}): the disk holding it may be full or failing (SQLite makes a `-shm` file beside the store to read it): check its free space and that the disk or share is still there and working, then run the command again, or pass another --db path"
    )]
    OpenIo {
        /// The store file as given (`--db`).
        path: String,
        /// SQLite's report.
        error: rusqlite::Error,
    },

    /// The store file's folder could not be created.
    #[error(
        "cannot create the folder `{}` for the run store: {source}{}pass another --db path",
        path.display(),
        in_the_way_fix(in_the_way.as_deref())
    )]
    CreateDir {
        /// The folder that could not be created: the parent of the `--db` path.
        path: PathBuf,
        /// Why the operating system refused.
        source: std::io::Error,
        /// The file that stands where the path needs a folder (the folder
        /// itself, or one on the way to it), if that is why.
        in_the_way: Option<PathBuf>,
    },

    /// A file stands where the store's path needs a folder (`FILE/runs.db`),
    /// so there can be no store there. Found by
    /// [`Store::open_existing`](crate::Store::open_existing), which creates
    /// nothing.
    #[error(
        "there can be no run store at `{path}`: `{}` is a file, not a folder; check the path, or move that file away, or pass another --db path",
        file.display()
    )]
    FileInTheWay {
        /// The store file as given (`--db`).
        path: String,
        /// The file where the path needs a folder.
        file: PathBuf,
    },

    /// The path given is a directory, not a store file in it.
    #[error(
        "`{path}` is a directory: give the path of the store file in it, e.g. `{}`",
        example.display()
    )]
    IsADirectory {
        /// The path as given (`--db`).
        path: String,
        /// A store file in that directory, to show how the path is given.
        example: PathBuf,
    },

    /// The store file does not exist and cannot be made: its folder cannot
    /// be written by this user, or the file system is read-only.
    #[error(
        "cannot create the run store `{path}`: {source}; make its folder writable by this user, or pass another --db path"
    )]
    CreateFile {
        /// The store file as given (`--db`).
        path: String,
        /// Why the operating system refused to create it.
        source: std::io::Error,
    },

    /// The store file exists but this user may not read it.
    #[error(
        "cannot read the run store `{path}`: {source}; make the file readable by this user (e.g. `chmod u+r`), or pass another --db path"
    )]
    Unreadable {
        /// The store file as given (`--db`).
        path: String,
        /// Why the operating system refused to open it.
        source: std::io::Error,
    },

    /// The path given is a name SQLite does not read as a file (`:memory:`,
    /// an empty path, a `file:` URI): the runs would not be kept, or not
    /// where the path says.
    #[error(
        "cannot use `{path}` as the run store: SQLite reads it as {what}, not as a file path; pass the path of a file to --db or XSAFE_DB (a file whose name starts so as `./NAME`)"
    )]
    NotAFile {
        /// The path as given (`--db`).
        path: String,
        /// What SQLite reads it as, worded to follow "reads it as", e.g.
        /// `a database in memory, dropped at exit`.
        what: &'static str,
    },

    /// SQLite could not open or read the file.
    #[error(
        "cannot open the run store `{path}`: {error}; check that the file and its folder can be read and written, or pass another --db path"
    )]
    Open {
        /// The store file as given (`--db`), or `:memory:` for a store in memory.
        path: String,
        /// Not a `source`: SQLite's own chain only repeats the message.
        error: rusqlite::Error,
    },

    /// The file is a database (or something else) that xsafe did not make;
    /// it is left alone rather than filled with xsafe's tables.
    #[error(
        "`{path}` is not an xsafe run store: {why}; xsafe left it unchanged: pass another --db path"
    )]
    NotAStore {
        /// The store file as given (`--db`), or `:memory:`.
        path: String,
        /// What gave it away, worded to follow "is not an xsafe run store:",
        /// e.g. `it already holds tables of something else`.
        why: String,
    },

    /// The file was written by a newer xsafe. It is left unchanged.
    #[error(
        "the run store `{path}` has schema version {found}, but this xsafe knows versions up to {supported}: upgrade xsafe to use it (the file was left unchanged)"
    )]
    TooNew {
        /// The store file as given (`--db`).
        path: String,
        /// The schema version recorded in the file (`PRAGMA user_version`).
        found: i64,
        /// The newest schema version this build knows (`SCHEMA_VERSION`).
        supported: i64,
    },

    /// A migration failed; the file stays at the last version that applied.
    #[error(
        "cannot migrate the run store `{path}` to schema version {version}: {source}; the file was left at the version before, unchanged; if it fails the same way again, restore a backup copy or pass another --db path"
    )]
    Migration {
        /// The store file as given (`--db`), or `:memory:`.
        path: String,
        /// The schema version the failed script would have brought the file to.
        version: i64,
        /// SQLite's failure while applying or recording the script.
        source: rusqlite::Error,
    },

    /// `open_run` found the name with another key.
    #[error(
        "run `{name}` already exists with other settings (suite/target/strategy/judge/seed...); pass a new --run name or repeat the original command"
    )]
    RunMismatch {
        /// The run name that is taken: `--run`, or the one derived from the
        /// settings.
        name: String,
    },

    /// Another process holds the run (see `Store::lock_run`).
    #[error(
        "run `{name}` is being run by another xsafe process (it holds `{}`); wait for it to finish, or stop it, then run the command again",
        path.display()
    )]
    RunBusy {
        /// The run's name.
        name: String,
        /// The lock file the other process holds, in the `.locks` folder
        /// beside the store file.
        path: PathBuf,
    },

    /// The lock file of a run cannot be made or locked.
    #[error("cannot lock run `{name}` with `{}`: {source}; check that the run store's folder can be written, or pass another --db path", path.display())]
    Lock {
        /// The run's name.
        name: String,
        /// The lock file, in the `.locks` folder beside the store file.
        path: PathBuf,
        /// Why its folder or the file could not be made, or the file not locked.
        source: std::io::Error,
    },

    /// A new run named like a number, which would read as a run id.
    #[error(
        "a run cannot be named `{0}`: a number is read as a run id; give a name with a letter in it"
    )]
    NumericRunName(String),

    /// A new run named with nothing but white space (or nothing at all).
    #[error(
        "a run cannot be named `{0}`: the name is blank; give a name with a letter in it, or leave out --run to name the run after its settings"
    )]
    BlankRunName(String),

    /// The run was deleted (`xsafe runs delete --force` in another process)
    /// while this process was running it.
    #[error(
        "run `{0}` was deleted while it was running, by another command (such as `xsafe runs delete --force`), and its results with it; run the command again to start it anew"
    )]
    RunDeleted(String),

    /// A number that is one run's id and another run's name (a store made
    /// before numeric names were refused).
    #[error(
        "`{given}` is both the id of run `{by_id}` and the name of run {named}: give the name `{by_id}` or the id {named}"
    )]
    AmbiguousRun {
        /// What was given.
        given: String,
        /// The name of the run whose id it is.
        by_id: String,
        /// The id of the run with that name.
        named: i64,
    },

    /// No run with that id or name.
    #[error("no run `{0}` in the run store; `xsafe runs list` shows the stored runs")]
    RunNotFound(String),

    /// A result or error for a case that was never added to the run.
    #[error(
        "run {run_id} has no case `{case_id}` of suite `{suite}`: add the suite's cases to the run before recording its results"
    )]
    CaseNotFound {
        /// The run's id in the store.
        run_id: i64,
        /// The name of the suite the case was looked up in.
        suite: String,
        /// The case's id within that suite.
        case_id: String,
    },

    /// A run's cases are fixed by its key; different content under the same
    /// id means the suite changed under a reused run name.
    #[error(
        "case `{case_id}` of suite `{suite}` differs from the copy stored with run {run_id}: a run's cases cannot change; start a new run with --run"
    )]
    CaseMismatch {
        /// The run's id in the store.
        run_id: i64,
        /// The name of the suite the case belongs to.
        suite: String,
        /// The case's id within that suite.
        case_id: String,
    },

    /// No result with that id.
    #[error("no result {0} in the run store; `xsafe runs show RUN` lists a run's results")]
    ResultNotFound(i64),

    /// A result was deleted while a command read a run a chunk at a time
    /// (see [`Store::for_each_result`](crate::Store::for_each_result)):
    /// its run deleted by another process. What the command wrote stops
    /// before it.
    #[error(
        "result {result} of run {run_id} was deleted from the run store `{path}` while this command read the run (by `xsafe runs delete` in another process, say), so what it wrote stops before that result and is not the whole run; run the command again if the run is still there (`xsafe runs list` shows the runs)"
    )]
    ResultDeleted {
        /// The store file as given (`--db`).
        path: String,
        /// The result's id.
        result: i64,
        /// The id of the run it belonged to.
        run_id: i64,
    },

    /// A verdict or annotation for a result that has no transcript.
    #[error("result {0} failed and has no transcript, so there is nothing to judge or annotate")]
    NoTranscript(i64),

    /// The file or its folder cannot be written by this user. Reading
    /// works (the store is then opened read-only, see
    /// [`Store::open`](crate::Store::open)); this write was refused and
    /// nothing was changed.
    #[error(
        "cannot write to the run store `{path}`: the file or its folder is read-only for this user (commands that only read it still work); {}",
        writable_fix(
            "make both writable (e.g. `chmod u+w` on each)",
            owners,
            "or pass another --db path"
        )
    )]
    ReadOnly {
        /// The store file as given (`--db`).
        path: String,
        /// Who owns the file or the folder this user may not write, when
        /// another user does: only they (or root) can make it writable.
        /// Empty when this user owns what is read-only.
        owners: Vec<Owner>,
    },

    /// The store file may be written, but SQLite's `-shm` or `-wal` file
    /// beside it may not: a command that read the store while the store
    /// was read-only left them so (SQLite gives them the store's
    /// permissions), and making the store writable does not change them.
    #[error(
        "cannot write to the run store `{path}`: `{file}` beside it is read-only for this user (SQLite left it so when the store was read while it was read-only); {}",
        writable_fix(&format!("make it writable (e.g. `chmod u+w {file}`)"), owners, "or delete it while no xsafe or other program has the store open, then run the command again (what was stored is kept)")
    )]
    ReadOnlySideFile {
        /// The store file as given (`--db`).
        path: String,
        /// The read-only `-shm` or `-wal` file.
        file: String,
        /// Its owner, when it is another user.
        owners: Vec<Owner>,
    },

    /// The file is at an older schema version, and bringing it up to date
    /// writes to it, which this user may not. It is left unchanged.
    #[error(
        "the run store `{path}` has schema version {found} and must be upgraded to version {version} before xsafe can use it, which writes to it, but the file or its folder is read-only for this user: {} (the file was left unchanged)",
        writable_fix(
            "make both writable (e.g. `chmod u+w` on each)",
            owners,
            "then run the command again"
        )
    )]
    ReadOnlyUpgrade {
        /// The store file as given (`--db`).
        path: String,
        /// The schema version recorded in the file.
        found: i64,
        /// The version this build needs ([`SCHEMA_VERSION`](crate::SCHEMA_VERSION)).
        version: i64,
        /// Who owns the file or the folder this user may not write, when
        /// another user does.
        owners: Vec<Owner>,
    },

    /// The file's folder cannot be written, and a `-wal` file beside the
    /// file holds changes that SQLite reads only through a `-shm` file it
    /// would have to create.
    #[error(
        "cannot read the run store `{path}`: its folder is read-only for this user, and SQLite cannot read the changes kept in `{path}-wal` without writing a `-shm` file beside it; make the folder writable, then run the command again"
    )]
    ReadOnlyWal {
        /// The store file as given (`--db`).
        path: String,
    },

    /// Another process held the file's write lock for longer than the store
    /// waits for it. Nothing was written by the refused call.
    #[error(
        "the run store `{path}` is locked: another process has been writing to it for over {waited_secs} s (an `xsafe run`, `runs delete`, or a SQLite tool with an open transaction); wait for it to finish, or stop it, then run the command again (what was stored is kept)"
    )]
    Busy {
        /// The store file as given (`--db`).
        path: String,
        /// How long the call waited for the lock, in seconds.
        waited_secs: u64,
    },

    /// The file is damaged (truncated, overwritten, a bad disk block).
    /// xsafe stops at the first damage it meets and does not try to repair
    /// it.
    #[error(
        "the run store `{path}` is damaged ({error}); xsafe stopped without changing it further: move it aside together with its `-wal` and `-shm` files (if any), then restore a backup copy to that path, or pass another --db path to start a new store"
    )]
    Corrupt {
        /// The store file as given (`--db`).
        path: String,
        /// SQLite's description of the damage.
        error: rusqlite::Error,
    },

    /// The disk holding the file is full. The write that failed was rolled
    /// back; everything stored before it is kept.
    #[error(
        "cannot write to the run store `{path}`: the disk is full; free some space on it, then run the command again (what was stored before is kept)"
    )]
    DiskFull {
        /// The store file as given (`--db`).
        path: String,
        /// SQLite's report.
        error: rusqlite::Error,
    },

    /// Upgrading the store's layout ran out of space: on the store's disk,
    /// or in the temporary directory where SQLite sorts what it copies
    /// (the fourth migration sorts every distinct message text). The
    /// upgrade was rolled back.
    #[error(
        "cannot upgrade the run store `{path}` to this xsafe's layout (schema version {version}): the disk is full, either the store's or the one with the temporary directory SQLite sorts in (SQLITE_TMPDIR, else TMPDIR, else /var/tmp or /tmp); free some space, or set SQLITE_TMPDIR to a directory on a disk with room, then run the command again (the store is as it was)"
    )]
    MigrationDiskFull {
        /// The store file as given (`--db`).
        path: String,
        /// The schema version the failed migration would have reached.
        version: i64,
    },

    /// Compacting the store ([`Store::compact`](crate::Store::compact))
    /// ran out of space: it writes a copy of what the store holds, through
    /// the temporary directory and the write-ahead log beside the store.
    /// It was rolled back.
    #[error(
        "cannot compact the run store `{path}`: the disk is full, either the store's (its `-wal` file takes a copy of what the store holds) or the one with the temporary directory SQLite copies it through (SQLITE_TMPDIR, else TMPDIR, else /var/tmp or /tmp); compacting needs about the store's size free on each: free some space, or set SQLITE_TMPDIR to a directory on a disk with room, then run the command again (the store is as it was)"
    )]
    CompactDiskFull {
        /// The store file as given (`--db`).
        path: String,
    },

    /// A store that held nothing yet (no file, or an empty one) could not
    /// be set up: the disk holding it is full. Nothing was stored, so there
    /// is nothing to upgrade or keep.
    #[error(
        "cannot create the run store `{path}`: the disk holding it is full, and a new store needs room there for its tables and for SQLite's `-wal` and `-shm` files beside it; free some space on that disk, or pass a --db path on another disk, then run the command again"
    )]
    CreateDiskFull {
        /// The store file as given (`--db`).
        path: String,
    },

    /// The operating system failed to read or write the file (a failing
    /// disk, a network share that went away, the file deleted meanwhile).
    #[error(
        "cannot read or write the run store `{path}` ({error}): check that the disk or share holding it is still there and working, then run the command again"
    )]
    Io {
        /// The store file as given (`--db`).
        path: String,
        /// SQLite's report.
        error: rusqlite::Error,
    },

    /// Any other SQLite failure.
    #[error("run store `{path}`: {error}")]
    Sqlite {
        /// The store file as given (`--db`), or `:memory:`.
        path: String,
        /// SQLite's report.
        error: rusqlite::Error,
    },

    /// A run's stored config could not be parsed.
    #[error("run store: a run's config is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Lets queries use `?` on SQLite calls; the store names the file before the
/// error leaves it (see `StoreError::at`).
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: String::new(),
            error,
        }
    }
}

impl StoreError {
    /// Names the store file in a SQLite failure and tells apart the
    /// failures that have their own fix; other errors are returned as they
    /// are.
    pub(crate) fn at(self, location: &str) -> StoreError {
        match self {
            StoreError::Sqlite { error, .. } => classify(location, error),
            other => other,
        }
    }
}

/// The variant of a SQLite failure on the file at `location`, by what the
/// user can do about it.
pub(crate) fn classify(location: &str, error: rusqlite::Error) -> StoreError {
    let path = location.to_string();
    match error.sqlite_error_code() {
        // A file moved or deleted under an open connection is reported as
        // read-only (SQLITE_READONLY_DBMOVED), but permissions are not
        // the fix.
        Some(ErrorCode::ReadOnly) if moved(&error) => StoreError::Io { path, error },
        Some(ErrorCode::ReadOnly) => read_only(&path),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy {
            path,
            waited_secs: crate::BUSY_TIMEOUT.as_secs(),
        },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Corrupt { path, error }
        }
        Some(ErrorCode::DiskFull) => StoreError::DiskFull { path, error },
        Some(ErrorCode::SystemIoFailure) => StoreError::Io { path, error },
        _ => StoreError::Sqlite { path, error },
    }
}

/// A file or folder of the store that this user may not write and does
/// not own: only its owner (or root) can change its permissions, so
/// `chmod` is no fix to give this user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The file or folder.
    pub path: PathBuf,
    /// Its owner's user id.
    pub uid: u32,
    /// Its owner's user name, when the system knows it.
    pub name: Option<String>,
}

impl std::fmt::Display for Owner {
    /// `user alice (uid 1001)`, or `user 1001` when the name is not known.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "user {name} (uid {})", self.uid),
            None => write!(f, "user {}", self.uid),
        }
    }
}

/// What a read-only error says to do: `fix`, then `otherwise`, when this
/// user owns what is read-only; when another user owns it, that only
/// they can apply `fix`, and that a copy of the store works.
fn writable_fix(fix: &str, owners: &[Owner], otherwise: &str) -> String {
    if owners.is_empty() {
        return format!("{fix}, {otherwise}");
    }
    let whose: Vec<String> = owners
        .iter()
        .map(|o| format!("`{}` belongs to {o}", o.path.display()))
        .collect();
    let me = this_user().map_or_else(String::new, |me| format!(", not to this user, {me}"));
    format!(
        "{}{me}: only its owner (or root) can {fix}; ask them to, or copy the store (with its \
         `-wal` file, if there is one) to a folder of yours and pass the copy with --db",
        whose.join(", and ")
    )
}

/// The user this process runs as (its effective id): `bob (uid 1002)`,
/// or `uid 1002` when the name is not known; `None` where users are not
/// known.
fn this_user() -> Option<String> {
    #[cfg(unix)]
    {
        let uid = effective_uid();
        Some(match user_name(uid) {
            Some(name) => format!("{name} (uid {uid})"),
            None => format!("uid {uid}"),
        })
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(unix)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The name of user `uid`, as the system's user database knows it.
#[cfg(unix)]
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: a zeroed passwd is a valid value for getpwuid_r to fill.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the length given; on success
    // `found` points at `entry`, whose strings live in `buf`.
    let rc = unsafe { libc::getpwuid_r(uid, &mut entry, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name is a C string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// Whether this user may write `path`, as the system decides it for the
/// process's effective ids (groups, ACLs and root included).
#[cfg(unix)]
fn writable(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return true;
    };
    // SAFETY: `c_path` is a valid C string for the call's duration.
    unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::W_OK,
            libc::AT_EACCESS,
        ) == 0
    }
}

/// Of `paths`, those another user than `me` owns, with that user: what
/// a read-only error names as theirs to make writable.
#[cfg(unix)]
pub(crate) fn other_owners<'a>(
    paths: impl IntoIterator<Item = &'a std::path::Path>,
    me: u32,
) -> Vec<Owner> {
    use std::os::unix::fs::MetadataExt;
    paths
        .into_iter()
        .filter_map(|path| {
            let uid = std::fs::metadata(path).ok()?.uid();
            (uid != me).then(|| Owner {
                path: path.to_path_buf(),
                uid,
                name: user_name(uid),
            })
        })
        .collect()
}

/// The owners of what makes the store at `location` read-only for this
/// user, among `paths` (the store file and its folder, or a file beside
/// it), when they are other users; empty when this user owns them.
pub(crate) fn owners_of_read_only(paths: &[&std::path::Path]) -> Vec<Owner> {
    #[cfg(unix)]
    {
        let blocking = paths.iter().copied().filter(|p| !writable(p));
        other_owners(blocking, effective_uid())
    }
    #[cfg(not(unix))]
    {
        let _ = paths;
        Vec::new()
    }
}

/// The store file at `location` and its folder.
fn store_and_folder(location: &str) -> [PathBuf; 2] {
    let file = PathBuf::from(location);
    let folder = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    [file, folder]
}

/// [`StoreError::ReadOnly`] for the store at `location`, naming the other
/// users who own what is read-only.
pub(crate) fn read_only_store(location: &str) -> StoreError {
    let [file, folder] = store_and_folder(location);
    StoreError::ReadOnly {
        path: location.to_string(),
        owners: owners_of_read_only(&[&file, &folder]),
    }
}

/// [`StoreError::ReadOnlyUpgrade`] for the store at `location`, at schema
/// version `found`.
pub(crate) fn read_only_upgrade(location: &str, found: i64, version: i64) -> StoreError {
    let [file, folder] = store_and_folder(location);
    StoreError::ReadOnlyUpgrade {
        path: location.to_string(),
        found,
        version,
        owners: owners_of_read_only(&[&file, &folder]),
    }
}

/// The end of [`StoreError::CreateDir`]'s message, after the operating
/// system's reason: what to do, naming the file in the way if there is one.
fn in_the_way_fix(in_the_way: Option<&std::path::Path>) -> String {
    match in_the_way {
        Some(file) => format!(
            ": `{}` is a file, not a folder; move that file away, or ",
            file.display()
        ),
        None => "; ".to_string(),
    }
}

/// Whether SQLite refused a write because the file was moved or deleted
/// since it was opened.
fn moved(error: &rusqlite::Error) -> bool {
    const SQLITE_READONLY_DBMOVED: std::ffi::c_int = 1032;
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.extended_code == SQLITE_READONLY_DBMOVED)
}

/// [`StoreError::ReadOnly`] for the store at `location`, or
/// [`StoreError::ReadOnlySideFile`] when it is SQLite's `-shm` or `-wal`
/// file beside it that cannot be written: the fix the message gives must
/// be the one that works.
pub(crate) fn read_only(location: &str) -> StoreError {
    for side in ["-shm", "-wal"] {
        let file = format!("{location}{side}");
        let read_only = std::fs::metadata(&file).is_ok_and(|m| m.permissions().readonly());
        if read_only && std::fs::metadata(location).is_ok_and(|m| !m.permissions().readonly()) {
            let owners = owners_of_read_only(&[std::path::Path::new(&file)]);
            return StoreError::ReadOnlySideFile {
                path: location.to_string(),
                file,
                owners,
            };
        }
    }
    read_only_store(location)
}
