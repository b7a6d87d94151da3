use std::path::PathBuf;

/// Why the store could not do what was asked.
///
/// Messages name the thing and say what to do, since the CLI shows them as
/// they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store file's folder could not be created.
    #[error("cannot create the folder `{}` for the run store: {source}; pass another --db path", path.display())]
    CreateDir {
        /// The folder that could not be created: the parent of the `--db` path.
        path: PathBuf,
        /// Why the operating system refused.
        source: std::io::Error,
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
    #[error("`{path}` is not an xsafe run store ({why}): pass another --db path")]
    NotAStore {
        /// The store file as given (`--db`), or `:memory:`.
        path: String,
        /// What gave it away, worded to sit in brackets after the path, e.g.
        /// `it is not a SQLite database`.
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
    #[error("cannot migrate the run store `{path}` to schema version {version}: {source}")]
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

    /// A verdict or annotation for a result that has no transcript.
    #[error("result {0} failed and has no transcript, so there is nothing to judge or annotate")]
    NoTranscript(i64),

    /// Any other SQLite failure.
    #[error("run store: {0}")]
    Sqlite(#[from] rusqlite::Error),

    /// A run's stored config could not be parsed.
    #[error("run store: a run's config is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}
