//! The run store of xsafe: one SQLite file that holds every run (its
//! settings, suite fingerprints, seed and tool version), the cases it used,
//! every transcript message in order, verdicts, failed attempts and human
//! annotations. A run keeps each message text once, however many of its
//! answers say it (a strategy's system text and few-shot exemplars come
//! with every answer).
//!
//! A result is keyed by (run, target, strategy, suite, case, sample) and the
//! key is UNIQUE, so running the same command again resumes a run without
//! duplicating anything; each result is written in one transaction, so a
//! killed process leaves either the whole result or none of it. A result is
//! `done` (answered and judged) or failed; a failed result whose model
//! answered but whose judge failed keeps the answer's messages, so the next
//! run judges it again instead of asking the model twice. The schema
//! is versioned by ordered migrations (`PRAGMA user_version`), and the file
//! runs in WAL mode so readers (reports, the annotation UI) do not block the
//! runner. Run and result ids are never given out twice, so a number that
//! named a deleted run names nothing rather than another run. A store this
//! user may only read is opened read-only, so reading commands still work.
//!
//! A command that writes a run out (`export`, `runs show`) reads it in
//! outline in one snapshot, then the conversations a chunk of results at
//! a time, each chunk in a read transaction of its own
//! ([`Store::each_with_messages`], [`Store::for_each_result`]): a read
//! transaction held while a slow reader takes the output would keep the
//! write-ahead log from being copied back into the file, and it would grow
//! by every page a run writes meanwhile. A log grown anyway (by another
//! program's long read) is cut back to [`JOURNAL_SIZE_LIMIT`] once it can
//! start again. Pages are [`PAGE_SIZE`] bytes, which each result's
//! transaction writes whole. A deleted run's space stays in the file for
//! the next runs until [`Store::compact`] gives it back.
//!
//! The store is synchronous: one connection behind a mutex, which makes
//! [`Store`] `Send + Sync`. Async callers wrap calls in `spawn_blocking`;
//! each call is short.

mod error;
mod schema;
mod time;

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`, as the store writes it.
pub use time::now as now_rfc3339;
mod types;

pub use error::{Owner, StoreError};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use types::{
    Annotation, AnswerOutline, Compacted, CountedFailure, CountedOutcome, DeletedRun, LabelSeen,
    OutcomeCount, Relabel, ResultKey, ResultOutline, RunLock, RunRecord, RunSpec, RunStatus,
    RunSummary, StoredError, StoredResult, Timing, judge_name,
};

use rusqlite::types::Type;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, ToSql, Transaction, TransactionBehavior, params,
};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use xsafe_core::{Case, Class, FinishReason, Label, Message, Role, Transcript, Verdict};

/// How long a call waits for another process's write to finish before
/// giving up. A CLI has no reason to give up soon: a `runs delete` of a
/// large run, a checkpoint, or a SQLite tool with a transaction open can
/// hold the lock for seconds, and a run that gave up would stop with its
/// work half done. A process stuck for a minute is still reported.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// The page size of a new store file, in bytes (SQLite's default is
/// 4,096). Each result is one transaction, and a transaction in WAL mode
/// writes every page it changed, whole, to the log: a result changes a
/// page or so in each of the dozen tables and indexes it has rows in (the
/// result, its messages, their texts, its verdict, and the indexes over
/// them), a few rows in each, so the pages' size is most of what a result
/// writes: some 14 pages of 4 KB for an answer of 600 bytes. Half-size
/// pages write 1.6 to 1.7 times fewer bytes per result
/// (`benches/writes.rs`: 39 KB to the disk per answer of 600 bytes, where
/// 4 KB pages write 62 KB), record faster and read as fast; the file may
/// be up to a fifth larger (12 to 18 % there), as rows of about a third
/// of a page leave more of each page unused. A store made with other
/// pages keeps them (SQLite cannot change the page size of a file in WAL
/// mode) until [`Store::compact`] rewrites it alone.
pub const PAGE_SIZE: i64 = 2048;

/// How many pages the write-ahead log holds before a commit copies them
/// back into the store file (`PRAGMA wal_autocheckpoint`, SQLite's
/// default): a log of 2 MB (4 MB for a store of 4 KB pages).
pub const WAL_AUTOCHECKPOINT: i64 = 1000;

/// The size in bytes the write-ahead log file is cut back to when it
/// starts again from its beginning (`PRAGMA journal_size_limit`): above
/// what [`WAL_AUTOCHECKPOINT`] lets it reach, so that a run never cuts it,
/// but a log a long-held snapshot made grow (to gigabytes, in a long run)
/// does not stay that size on disk.
pub const JOURNAL_SIZE_LIMIT: i64 = 8 * 1024 * 1024;

/// How many results [`Store::for_each_result`] and
/// [`Store::each_with_messages`] read in one read transaction: a read
/// transaction keeps the write-ahead log from being copied back into the
/// file and started again, so none is held while the results are written
/// out (to a pipe that may be slow to take them), and memory holds one
/// chunk of conversations at a time.
pub const READ_CHUNK: usize = 256;

/// Whether SQLite refused for want of a lock another connection holds.
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// `f` again, after a short pause, for as long as it fails because another
/// connection holds the file's lock, up to [`BUSY_TIMEOUT`] in all: for the
/// statements SQLite fails at once rather than wait for the lock.
fn while_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        match f() {
            Err(e) if is_busy(&e) && start.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// The run store. Cheap to share: wrap it in an `Arc` and use it from any
/// thread; calls are serialised on one connection.
pub struct Store {
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
    /// The folder of the run locks (see [`lock_run`](Store::lock_run)),
    /// beside the file `path` resolves to; `None` in memory.
    locks: Option<PathBuf>,
    /// The file as errors name it: the path as given, or `:memory:`.
    location: String,
    /// Opened read-only (see [`Store::open`]) because this user may not
    /// write the file or its folder: every write is refused with
    /// [`StoreError::ReadOnly`] before SQLite is asked.
    read_only: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Store {
    /// Opens (or creates) the store at `path`, creating parent folders, and
    /// brings its schema up to [`SCHEMA_VERSION`].
    ///
    /// A file written by a newer xsafe, or a SQLite file that is not an xsafe
    /// store, is refused and left untouched.
    ///
    /// A store this user may read but not write (a read-only file, or a
    /// read-only folder, where SQLite cannot make the `-wal` and `-shm`
    /// files it writes beside the store) is opened read-only, so that
    /// commands that only read work: every write then fails with
    /// [`StoreError::ReadOnly`], and [`is_read_only`](Store::is_read_only)
    /// says so up front. A read-only file that needs a migration is refused
    /// with [`StoreError::ReadOnlyUpgrade`].
    ///
    /// A store on a full disk, where SQLite cannot make the `-shm` file it
    /// reads through, is refused with [`StoreError::OpenDiskFull`] (it is
    /// not read without that file: the disk may not stay full, nor be full
    /// for every user, and a process writing meanwhile would be read
    /// half-way), and another failure to read or write
    /// while opening with [`StoreError::OpenIo`].
    ///
    /// A store that held nothing yet (no file, or an empty one) and cannot
    /// be set up because the disk is full is refused with
    /// [`StoreError::CreateDiskFull`] (there is nothing to upgrade).
    ///
    /// A path SQLite would not read as a file (`:memory:`, an empty path,
    /// a `file:` URI) is refused with [`StoreError::NotAFile`]: the runs
    /// would be lost at exit, or kept elsewhere than the path says. A
    /// directory is refused with [`StoreError::IsADirectory`], and a folder
    /// that cannot be made with [`StoreError::CreateDir`], which names the
    /// file standing where the path needs a folder, if that is why.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        check_file_path(path)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: parent.to_path_buf(),
                source,
                in_the_way: file_in_the_way(parent),
            })?;
        }
        Store::open_file(path, true)
    }

    /// Opens the store at `path` as [`Store::open`] does, only if there is
    /// a file there: for commands that read runs, which a mistyped path
    /// must not answer with a new, empty store.
    ///
    /// A path that names nothing (nor a folder on the way to it) is refused
    /// with [`StoreError::NotFound`], creating neither the file nor its
    /// folders; so is an empty file (`touch runs.db`), which SQLite would
    /// make a store of, and which is left empty. One with a file where it
    /// needs a folder (`FILE/runs.db`) is refused with
    /// [`StoreError::FileInTheWay`], naming that file. A file that is
    /// there is opened as by [`Store::open`]: one written by an older xsafe
    /// is migrated (read-only, it is refused with
    /// [`StoreError::ReadOnlyUpgrade`]), one that is not a store is refused
    /// and left unchanged.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        check_file_path(path)?;
        let location = path.display().to_string();
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() && meta.len() == 0 => {
                Err(StoreError::NotFound { path: location })
            }
            Ok(_) => Store::open_file(path, false),
            Err(e) if is_missing(&e) => {
                let in_the_way = path.parent().and_then(file_in_the_way);
                Err(match in_the_way {
                    Some(file) => StoreError::FileInTheWay {
                        path: location,
                        file,
                    },
                    None => StoreError::NotFound { path: location },
                })
            }
            Err(source) => Err(StoreError::Unreadable {
                path: location,
                source,
            }),
        }
    }

    /// Opens the file at `path` for writing, or else for reading (see
    /// [`Store::open`]); only with `create` may SQLite make the file.
    fn open_file(path: &Path, create: bool) -> Result<Store, StoreError> {
        let location = path.display().to_string();
        // SQLite would only say "unable to open database file".
        if path.is_dir() {
            return Err(StoreError::IsADirectory {
                path: location,
                example: path.join("xsafe.db"),
            });
        }
        let mut flags = OpenFlags::default();
        if !create {
            // The file was there a moment ago; if it is gone now, it is not
            // made again here.
            flags.remove(OpenFlags::SQLITE_OPEN_CREATE);
        }
        let read_write = Connection::open_with_flags(path, flags)
            .map_err(|e| schema::open_error(&location, e))
            .and_then(|conn| {
                // SQLite opens a file it may not write read-only without
                // failing; the migrations and the journal mode would then
                // fail half-way with a bare "readonly database".
                if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
                    return Err(error::read_only(&location));
                }
                Store::init(
                    conn,
                    Some(path.to_path_buf()),
                    &location,
                    schema::MIGRATIONS,
                )
            });
        match read_write {
            Err(e) if cannot_write(&e) && path.is_file() => Store::open_read_only(path, &location),
            Err(e) if io_failure(&e) && path.is_file() => {
                if !disk_full(path) {
                    return Err(match e {
                        StoreError::Open { path, error } => StoreError::OpenIo { path, error },
                        other => other,
                    });
                }
                // Not read without its `-shm` file (as `immutable`): the
                // disk may not stay full, nor be full for another user (a
                // quota, root's reserved blocks), and a process writing
                // meanwhile would be read half-way.
                Err(StoreError::OpenDiskFull { path: location })
            }
            Err(e) if cannot_write(&e) && !create && !path.exists() => {
                Err(StoreError::NotFound { path: location })
            }
            Err(e) if cannot_write(&e) && !path.exists() => {
                // SQLite only says "unable to open database file": creating
                // the file here finds the operating system's reason.
                match std::fs::File::create_new(path) {
                    Err(source) => Err(StoreError::CreateFile {
                        path: location,
                        source,
                    }),
                    Ok(_) => {
                        let _ = std::fs::remove_file(path);
                        Err(e)
                    }
                }
            }
            other => other,
        }
    }

    /// Opens an existing store that cannot be written, for reading.
    fn open_read_only(path: &Path, location: &str) -> Result<Store, StoreError> {
        // SQLite would only say "unable to open database file".
        if let Err(source) = std::fs::File::open(path) {
            return Err(StoreError::Unreadable {
                path: location.to_string(),
                source,
            });
        }
        let open = |target: &str, flags: OpenFlags| -> Result<(Connection, i64), StoreError> {
            let conn = Connection::open_with_flags(target, flags)
                .map_err(|e| schema::open_error(location, e))?;
            conn.busy_timeout(BUSY_TIMEOUT)
                .map_err(|e| schema::open_error(location, e))?;
            let version = schema::check(&conn, location, SCHEMA_VERSION)?;
            Ok((conn, version))
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let (conn, version) = match open(&file_uri(path, ""), flags) {
            Ok(opened) => opened,
            // Reading a WAL file needs its `-shm` and `-wal` files, which a
            // read-only folder cannot get when the last process to close the
            // store removed them. The file alone then holds everything (no
            // `-wal` means no change outside it, and none can be made in that
            // folder meanwhile: a writer needs the `-shm` file that could not
            // be made), so it is read as an immutable file, without them. A
            // `-wal` file with changes in it must not be skipped.
            Err(e) if cannot_write(&e) => {
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                    return Err(StoreError::ReadOnlyWal {
                        path: location.to_string(),
                    });
                }
                open(&file_uri(path, "immutable=1"), flags)?
            }
            Err(e) => return Err(e),
        };
        if version < SCHEMA_VERSION {
            return Err(match version {
                // Nothing in it yet: making it a store writes to it.
                0 => error::read_only_store(location),
                found => error::read_only_upgrade(location, found, SCHEMA_VERSION),
            });
        }
        conn.pragma_update(None, "query_only", true)
            .map_err(|e| schema::open_error(location, e))?;
        Ok(Store {
            conn: Mutex::new(conn),
            locks: locks_dir(path),
            path: Some(path.to_path_buf()),
            location: location.to_string(),
            read_only: true,
        })
    }

    /// A store that lives in memory and disappears when dropped; for tests
    /// and dry runs.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| schema::open_error(":memory:", e))?;
        Store::init(conn, None, ":memory:", schema::MIGRATIONS)
    }

    /// Sets up a connection opened for writing and applies `migrations`
    /// (all of them but in tests, which make files of older versions).
    fn init(
        mut conn: Connection,
        path: Option<PathBuf>,
        location: &str,
        migrations: &[&str],
    ) -> Result<Store, StoreError> {
        let setup = |conn: &Connection| -> rusqlite::Result<()> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            // Off by default in SQLite; the cascades and the results -> cases
            // link depend on it.
            conn.pragma_update(None, "foreign_keys", true)
        };
        setup(&conn).map_err(|e| schema::open_error(location, e))?;
        // Before anything that writes to the file (journal mode is stored in
        // it): a refused file must stay byte for byte as it was.
        let version = schema::check(&conn, location, migrations.len() as i64)?;
        // Version 0 passed the check only with nothing in it: a failure
        // from here on sets up a new store, not an upgrade of one.
        let new_store = |error: StoreError| match (&path, version) {
            (Some(file), 0) => new_store_error(file, location, error),
            _ => error,
        };
        if path.is_some() {
            let wal = |conn: &Connection| -> rusqlite::Result<()> {
                if version == 0 {
                    // Only a file with nothing in it yet takes a page size
                    // (see PAGE_SIZE); before the journal mode, which is
                    // the first thing written to it.
                    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
                }
                // A filesystem without shared memory may refuse WAL and keep
                // the rollback journal: still correct, readers just wait for
                // writers, so that is accepted rather than refused.
                let _mode: String =
                    conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
                // In WAL mode NORMAL loses no committed transaction when the
                // process dies (kill -9), only on power loss, and saves an
                // fsync per result.
                conn.pragma_update(None, "synchronous", "normal")?;
                // SQLite's default, said here because the next line counts
                // on it: after a commit that leaves this many pages in the
                // log, they are copied back into the file, and the next
                // writer starts the log again from its beginning.
                conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)?;
                // A reader that holds one snapshot for long (an older
                // xsafe, an SQL shell) keeps the log from starting again,
                // and it grows by every page written meanwhile, to
                // gigabytes in a long run; without a limit it then stays
                // that size on disk. With one, the first commit after the
                // log starts again cuts the file down to it.
                let _limit: i64 = conn.pragma_update_and_check(
                    None,
                    "journal_size_limit",
                    JOURNAL_SIZE_LIMIT,
                    |r| r.get(0),
                )?;
                Ok(())
            };
            // Turning WAL on takes the file's exclusive lock without waiting
            // for it (SQLite's busy handler is not called): another process
            // opening the same new store at once makes it fail at once.
            while_busy(|| wal(&conn)).map_err(|e| new_store(schema::open_error(location, e)))?;
        }
        schema::migrate(&mut conn, location, migrations).map_err(new_store)?;
        Ok(Store {
            conn: Mutex::new(conn),
            locks: path.as_deref().and_then(locks_dir),
            path,
            location: location.to_string(),
            read_only: false,
        })
    }

    /// The file behind the store; `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The schema version of the open file (always [`SCHEMA_VERSION`] once
    /// opened).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|tx| Ok(tx.pragma_query_value(None, "user_version", |row| row.get(0))?))
    }

    /// Whether the store was opened read-only because this user may not
    /// write the file or its folder, or because its disk is full (see
    /// [`open`](Store::open)): reading works, every write fails with
    /// [`StoreError::ReadOnly`] or [`StoreError::DiskFull`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Fails with [`StoreError::ReadOnly`] when the store was opened
    /// read-only: for a command about to write, to say so before its work
    /// rather than at its first write.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(error::read_only(&self.location));
        }
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A thread that panicked while holding the lock cannot have left a
        // transaction open (dropping it rolled back), so the connection is
        // still sound and other threads may keep going.
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` in a write transaction that commits only if `f` succeeds.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.check_writable()?;
        // IMMEDIATE takes the write lock at BEGIN, where the busy timeout
        // applies; a deferred transaction that later upgrades can fail with
        // SQLITE_BUSY at once when another process writes.
        self.transaction(TransactionBehavior::Immediate, f)
    }

    /// Runs `f` in a read transaction, so that a multi-query read sees one
    /// snapshot even while another process writes.
    fn read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.transaction(TransactionBehavior::Deferred, f)
    }

    /// Runs `f` in a transaction of `behavior` that commits only if `f`
    /// succeeds; an error names the store.
    fn transaction<T>(
        &self,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let run = || {
            let tx = conn.transaction_with_behavior(behavior)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        run().map_err(|e: StoreError| e.at(&self.location))
    }

    // ----- runs -----

    /// Finds the run named `spec.name`, or creates it.
    ///
    /// A run that exists with another `spec.key` is refused with
    /// [`StoreError::RunMismatch`]: resuming it would mix results made with
    /// different settings. An existing run's status is left as it is; the
    /// runner sets it. Its answers that an earlier xsafe marked done on
    /// another judge's verdict alone (see [`put_verdict`](Store::put_verdict))
    /// are failed again, answers kept, so [`unjudged`](Store::unjudged)
    /// gives them to the run's judge.
    pub fn open_run(&self, spec: &RunSpec) -> Result<RunRecord, StoreError> {
        self.write(|tx| {
            let existing: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, key FROM runs WHERE name = ?1",
                    [&spec.name],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let id = match existing {
                Some((id, key)) if key == spec.key => {
                    reopen_judged_by_others(tx, id)?;
                    id
                }
                Some(_) => {
                    return Err(StoreError::RunMismatch {
                        name: spec.name.clone(),
                    });
                }
                None => {
                    check_new_run_name(&spec.name)?;
                    tx.execute(
                        "INSERT INTO runs (name, key, created_at, status, config, seed, tool_version)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![
                            spec.name,
                            spec.key,
                            time::now(),
                            RunStatus::Running.as_str(),
                            spec.config.to_string(),
                            spec.seed as i64, // bit pattern; see the schema
                            spec.tool_version,
                        ],
                    )?;
                    let id = tx.last_insert_rowid();
                    let mut insert = tx.prepare(
                        "INSERT INTO run_suites (run_id, position, suite, fingerprint)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?;
                    for (position, (suite, fingerprint)) in spec.suites.iter().enumerate() {
                        insert.execute(params![id, position as i64, suite, fingerprint])?;
                    }
                    id
                }
            };
            read_run(tx, id)?.ok_or_else(|| StoreError::RunNotFound(spec.name.clone()))
        })
    }

    /// A run by numeric id or by name. New runs cannot be named like
    /// numbers, but a store made before that rule may hold one: a number
    /// that is both one run's id and another's name is refused
    /// ([`StoreError::AmbiguousRun`]) rather than guessed.
    pub fn run(&self, id_or_name: &str) -> Result<RunRecord, StoreError> {
        let run = self.read(|tx| {
            let by_id = match id_or_name.trim().parse::<i64>() {
                Ok(id) => read_run(tx, id)?,
                Err(_) => None,
            };
            let named: Option<i64> = tx
                .query_row("SELECT id FROM runs WHERE name = ?1", [id_or_name], |row| {
                    row.get(0)
                })
                .optional()?;
            match (by_id, named) {
                (Some(run), Some(named)) if run.id != named => Err(StoreError::AmbiguousRun {
                    given: id_or_name.to_string(),
                    by_id: run.name,
                    named,
                }),
                (Some(run), _) => Ok(run),
                (None, Some(id)) => {
                    read_run(tx, id)?.ok_or_else(|| StoreError::RunNotFound(id_or_name.to_string()))
                }
                (None, None) => Err(StoreError::RunNotFound(id_or_name.to_string())),
            }
        })?;
        Ok(self.live(run))
    }

    /// A run by its id.
    pub fn run_by_id(&self, id: i64) -> Result<RunRecord, StoreError> {
        let run = self
            .read(|tx| read_run(tx, id)?.ok_or_else(|| StoreError::RunNotFound(id.to_string())))?;
        Ok(self.live(run))
    }

    /// `run` with the status it has now: a run stored as running that no
    /// process holds (see [`lock_run`](Store::lock_run)) was killed, and
    /// stands as interrupted; the same command resumes it.
    fn live(&self, mut run: RunRecord) -> RunRecord {
        run.status = self.live_status(run.id, run.status);
        run
    }

    fn live_status(&self, run_id: i64, stored: RunStatus) -> RunStatus {
        if stored == RunStatus::Running && !self.run_held(run_id) {
            RunStatus::Interrupted
        } else {
            stored
        }
    }

    /// Whether a process holds run `run_id`'s lock now (a store in memory,
    /// or a file system without locks, cannot tell: held).
    fn run_held(&self, run_id: i64) -> bool {
        let Some(path) = self.lock_path(run_id) else {
            return true;
        };
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            // Never locked (or its folder deleted): nobody holds it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
            Err(_) => return true,
        };
        match file.try_lock_shared() {
            Ok(()) => false,
            Err(std::fs::TryLockError::WouldBlock) => true,
            Err(std::fs::TryLockError::Error(_)) => true,
        }
    }

    /// Every run with its counts, newest first; the status as
    /// [`run`](Store::run) gives it.
    pub fn list_runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        let mut runs: Vec<RunSummary> = self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT r.id, r.name, r.created_at, r.status,
                        (SELECT count(*) FROM results WHERE run_id = r.id AND status = 'done'),
                        (SELECT count(*) FROM results WHERE run_id = r.id AND status = 'error'),
                        (SELECT count(*) FROM cases WHERE run_id = r.id)
                 FROM runs r
                 ORDER BY r.id DESC",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(RunSummary {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    created_at: row.get(2)?,
                    status: run_status(row, 3)?,
                    results: row.get::<_, i64>(4)? as u64,
                    errors: row.get::<_, i64>(5)? as u64,
                    cases: row.get::<_, i64>(6)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        for run in &mut runs {
            run.status = self.live_status(run.id, run.status);
        }
        Ok(runs)
    }

    /// Claims `run` for this process until the returned lock is dropped, so
    /// that two processes never run it at once (each would ask the model
    /// for the same cases). The claim is an operating-system lock on
    /// `run-ID.lock` in a `.locks` folder beside the store file: a process
    /// that dies releases it, so a crash never leaves a run locked. A store
    /// in memory, or a file system without locks, claims nothing.
    ///
    /// A store opened read-only is refused with [`StoreError::ReadOnly`]:
    /// a run is claimed to write to it.
    pub fn lock_run(&self, run: &RunRecord) -> Result<RunLock, StoreError> {
        self.check_writable()?;
        let Some(path) = self.lock_path(run.id) else {
            return Ok(RunLock { _file: None });
        };
        let failed = |source| StoreError::Lock {
            name: run.name.clone(),
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(failed)?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { _file: Some(file) }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::RunBusy {
                name: run.name.clone(),
                path,
            }),
            Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                Ok(RunLock { _file: None })
            }
            Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
        }
    }

    /// Where run `run_id`'s lock file is; `None` in memory.
    fn lock_path(&self, run_id: i64) -> Option<PathBuf> {
        Some(self.locks.as_ref()?.join(format!("run-{run_id}.lock")))
    }

    /// Deletes a run and everything stored under it (its suites' cases,
    /// results, transcripts, verdicts, errors and human labels) in one
    /// transaction, and says how much went.
    pub fn delete_run(&self, run_id: i64) -> Result<DeletedRun, StoreError> {
        self.write(|tx| {
            let count = |sql: &str| -> Result<u64, StoreError> {
                Ok(tx.query_row(sql, [run_id], |row| row.get::<_, i64>(0))? as u64)
            };
            let deleted = DeletedRun {
                results: count("SELECT count(*) FROM results WHERE run_id = ?1")?,
                annotations: count(
                    "SELECT count(*) FROM annotations a JOIN results r ON r.id = a.result_id
                     WHERE r.run_id = ?1",
                )?,
            };
            // The tables that hang off a run cascade (see the first migration).
            if tx.execute("DELETE FROM runs WHERE id = ?1", [run_id])? == 0 {
                return Err(StoreError::RunNotFound(run_id.to_string()));
            }
            Ok(deleted)
        })
        .map_err(|e| self.damage_behind(e))
        .inspect(|_| {
            if let Some(lock) = self.lock_path(run_id) {
                let _ = std::fs::remove_file(lock);
            }
        })
    }

    /// `error` as [`StoreError::Corrupt`] when it is a constraint failure
    /// that a damaged file explains. A delete cascades through tables whose
    /// links the schema keeps whole, so one that breaks a foreign key found
    /// rows where the file's pages are broken (a row the cascade could not
    /// see still points at what it deleted): `PRAGMA quick_check` says
    /// whether they are, and what it finds is the error. Any other error is
    /// returned as it is.
    fn damage_behind(&self, error: StoreError) -> StoreError {
        let StoreError::Sqlite { error: sqlite, .. } = &error else {
            return error;
        };
        if sqlite.sqlite_error_code() != Some(rusqlite::ErrorCode::ConstraintViolation) {
            return error;
        }
        let found: rusqlite::Result<Vec<String>> = (|| {
            let conn = self.conn();
            let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
            rows.collect()
        })();
        let problem = match found {
            Ok(lines) => lines
                .iter()
                .flat_map(|l| l.lines())
                .map(str::trim)
                .find(|l| !l.is_empty() && *l != "ok" && !l.starts_with("***"))
                .map(str::to_string),
            // The check itself met the damage.
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
                Some(e.to_string())
            }
            Err(_) => None,
        };
        match problem {
            Some(problem) => StoreError::Corrupt {
                path: self.location.clone(),
                error: rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                    Some(format!("{sqlite}; `PRAGMA quick_check` found: {problem}")),
                ),
            },
            None => error,
        }
    }

    /// Gives back to the file system the space of what was deleted
    /// (`VACUUM`): SQLite keeps a deleted run's pages in the file, for
    /// the next runs to reuse, and never shrinks it by itself. Rewrites the
    /// whole store, so it needs about the store's size free, on its disk
    /// and in the temporary directory SQLite copies it through; a full
    /// disk is [`StoreError::CompactDiskFull`], with the store as it was.
    ///
    /// Refused with [`StoreError::RunBusy`] while a process holds a run
    /// (`xsafe run`, `rejudge`; see [`lock_run`](Store::lock_run)), which
    /// would wait on it for as long as it takes, and with
    /// [`StoreError::ReadOnly`] on a store opened read-only. Every run is
    /// claimed until it is done, so none starts meanwhile. Another process
    /// writing (a label from an annotation page) waits for it, as for
    /// any write. With no other process having the store open, its pages
    /// are made [`PAGE_SIZE`] too (a store made by an older xsafe has
    /// pages twice that size, which every result writes whole).
    pub fn compact(&self) -> Result<Compacted, StoreError> {
        self.check_writable()?;
        let runs: Vec<i64> = self.read(|tx| {
            let mut stmt = tx.prepare("SELECT id FROM runs ORDER BY id")?;
            let ids = stmt.query_map([], |row| row.get(0))?;
            Ok(ids.collect::<Result<_, _>>()?)
        })?;
        let mut claims = Vec::with_capacity(runs.len());
        for id in runs {
            claims.push(self.lock_run(&self.run_by_id(id)?)?);
        }
        let on_disk = || {
            let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
            self.path.as_deref().map_or(0, |path| {
                size(path) + size(Path::new(&format!("{}-wal", path.display())))
            })
        };
        let before = on_disk();
        let conn = self.conn();
        let page_size = |conn: &Connection| -> rusqlite::Result<i64> {
            conn.pragma_query_value(None, "page_size", |row| row.get(0))
        };
        let page_size_before = page_size(&conn).map_err(|e| self.compact_error(e))?;
        let readers = (|| -> rusqlite::Result<bool> {
            // Leaving WAL mode, which changing the page size needs, is
            // refused at once (busy) while another connection has the
            // store open; it is then compacted with the pages it has.
            let convert = self.path.is_some() && page_size_before != PAGE_SIZE;
            let mode: String = if convert {
                conn.busy_timeout(Duration::ZERO)?;
                let mode =
                    conn.pragma_update_and_check(None, "journal_mode", "delete", |r| r.get(0));
                conn.busy_timeout(BUSY_TIMEOUT)?;
                match mode {
                    Err(e) if is_busy(&e) => String::new(),
                    mode => mode?,
                }
            } else {
                String::new()
            };
            let converting = mode.eq_ignore_ascii_case("delete");
            if converting {
                // Out of WAL mode, NORMAL may lose the file to a power cut
                // half-way through; FULL syncs the rollback journal first.
                conn.pragma_update(None, "synchronous", "full")?;
                conn.pragma_update(None, "page_size", PAGE_SIZE)?;
            }
            let vacuumed = conn.execute_batch("VACUUM");
            if converting {
                let _mode: String =
                    conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
                conn.pragma_update(None, "synchronous", "normal")?;
            }
            vacuumed?;
            // Out of WAL mode, the copy went to the file itself, and the
            // log starts empty.
            if self.path.is_none() || converting {
                return Ok(false);
            }
            // Copies the log back into the file and empties it, which cuts
            // the file to its new size; a reader's snapshot holds both
            // back, and is not waited for.
            conn.busy_timeout(Duration::ZERO)?;
            let checkpoint = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
                row.get::<_, i64>(0)
            });
            conn.busy_timeout(BUSY_TIMEOUT)?;
            Ok(checkpoint? != 0)
        })()
        .map_err(|e| self.compact_error(e))?;
        let page_size = page_size(&conn).map_err(|e| self.compact_error(e))?;
        drop(conn);
        drop(claims);
        Ok(Compacted {
            before,
            after: on_disk(),
            page_size_before,
            page_size,
            readers,
        })
    }

    /// A failure of [`compact`](Store::compact): a full disk says where
    /// room is needed, the rest as any failure.
    fn compact_error(&self, error: rusqlite::Error) -> StoreError {
        match error::classify(&self.location, error) {
            StoreError::DiskFull { path, .. } => StoreError::CompactDiskFull { path },
            other => other,
        }
    }

    /// Looks for damage that the store's own reads may never meet: a copy
    /// of the file made while a run wrote to it (`cp` during a run) can
    /// hold some pages from before a write and some from after, which
    /// SQLite only notices when a command reads those pages. Such a copy
    /// almost always has an index that no longer holds one entry per row
    /// of its table (what `PRAGMA quick_check` calls "wrong # of entries
    /// in index"): this counts the entries of every index and the rows of
    /// its table, in one read transaction, and says
    /// [`StoreError::Corrupt`] when two differ, or when counting meets a
    /// broken page.
    ///
    /// Counting reads the pages of the indexes and of the tables of short
    /// rows, not the cells in them; the table of message texts, most of a
    /// store, is left out (its one index has nothing to be compared with).
    /// On a store of 120,000 answers (`benches/writes.rs`), 17 ms (36 ms
    /// when each has a few-shot set-up, eleven messages), where
    /// [`list_runs`](Store::list_runs) takes 6 ms and `PRAGMA
    /// quick_check` a second or more.
    pub fn check_index_counts(&self) -> Result<(), StoreError> {
        self.read(|tx| {
            // Tables whose rows hold the message texts: counting them
            // reads most of the file.
            const LEFT_OUT: [&str; 1] = ["texts"];
            let tables: Vec<(String, bool)> = {
                let mut stmt = tx.prepare(
                    "SELECT name, wr FROM pragma_table_list
                     WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%'
                     ORDER BY name",
                )?;
                let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
            let count = |sql: String| -> Result<i64, StoreError> {
                Ok(tx.query_row(&sql, [], |row| row.get(0))?)
            };
            for (table, without_rowid) in tables {
                let indexes: Vec<(String, String)> = {
                    let mut stmt = tx.prepare(
                        "SELECT name, origin FROM pragma_index_list(?1) WHERE partial = 0",
                    )?;
                    let rows = stmt.query_map([&table], |row| Ok((row.get(0)?, row.get(1)?)))?;
                    rows.collect::<Result<_, _>>()?
                };
                // A table WITHOUT ROWID is its primary key's index.
                let indexes: Vec<String> = indexes
                    .into_iter()
                    .filter(|(_, origin)| !(without_rowid && origin == "pk"))
                    .map(|(name, _)| name)
                    .collect();
                if indexes.is_empty() || LEFT_OUT.contains(&table.as_str()) {
                    continue;
                }
                let rows = count(format!(
                    "SELECT count(*) FROM {} NOT INDEXED",
                    quote(&table)
                ))?;
                for index in indexes {
                    let entries = count(format!(
                        "SELECT count(*) FROM {} INDEXED BY {}",
                        quote(&table),
                        quote(&index)
                    ))?;
                    if entries != rows {
                        return Err(StoreError::Corrupt {
                            path: self.location.clone(),
                            error: rusqlite::Error::SqliteFailure(
                                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                                Some(format!(
                                    "index `{index}` holds {entries} entries for the {rows} rows \
                                     of table `{table}`, as a copy of the file made while it \
                                     was written leaves it"
                                )),
                            ),
                        });
                    }
                }
            }
            Ok(())
        })
    }

    /// Marks a run as running, interrupted or complete.
    pub fn set_run_status(&self, run_id: i64, status: RunStatus) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE runs SET status = ?2 WHERE id = ?1",
                params![run_id, status.as_str()],
            )?;
            if changed == 0 {
                return Err(StoreError::RunNotFound(run_id.to_string()));
            }
            Ok(())
        })
    }

    /// Replaces the config recorded with run `run_id` by `config`; its key,
    /// name and everything else stay. For what the key leaves out and may
    /// be recorded anew, such as where a model is served when the run never
    /// got an answer at the base URLs it was recorded with: the caller keeps
    /// what the key holds as it was, as the store does not check it. A run
    /// not stored is [`StoreError::RunNotFound`].
    pub fn set_run_config(
        &self,
        run_id: i64,
        config: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE runs SET config = ?2 WHERE id = ?1",
                params![run_id, config.to_string()],
            )?;
            if changed == 0 {
                return Err(StoreError::RunNotFound(run_id.to_string()));
            }
            Ok(())
        })
    }

    /// Marks a run `interrupted` if it is marked running: for a runner
    /// that stopped on an error, so that the run does not stay `running`
    /// with no process running it. Complete and interrupted runs are left
    /// as they are.
    ///
    /// Waits at most a few seconds for another process's write lock, not
    /// the usual minute: that lock may be what stopped the run, and the
    /// caller has an error to report.
    pub fn mark_stopped(&self, run_id: i64) -> Result<(), StoreError> {
        const WAIT: Duration = Duration::from_secs(3);
        self.check_writable()?;
        let mut conn = self.conn();
        let mut mark = || -> Result<(), StoreError> {
            conn.busy_timeout(WAIT)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE runs SET status = ?2 WHERE id = ?1 AND status = ?3",
                params![
                    run_id,
                    RunStatus::Interrupted.as_str(),
                    RunStatus::Running.as_str()
                ],
            )?;
            Ok(tx.commit()?)
        };
        let marked = mark();
        let restored = conn.busy_timeout(BUSY_TIMEOUT).map_err(StoreError::from);
        marked.and(restored).map_err(|e| e.at(&self.location))
    }

    // ----- cases -----

    /// Adds a suite's cases to a run, in order. Idempotent: cases already
    /// there keep their place, so resuming a run may add them again.
    ///
    /// A case already stored under the same id with other content is
    /// refused ([`StoreError::CaseMismatch`]): the stored results are about
    /// the stored text.
    pub fn add_cases(&self, run_id: i64, suite: &str, cases: &[Case]) -> Result<(), StoreError> {
        self.write(|tx| {
            ensure_run(tx, run_id)?;
            // Ordinals continue across calls and suites, so "case order as
            // added" holds even when a run's cases arrive in several calls.
            let mut next: i64 = tx.query_row(
                "SELECT coalesce(max(ordinal) + 1, 0) FROM cases WHERE run_id = ?1",
                [run_id],
                |row| row.get(0),
            )?;
            let mut insert = tx.prepare(
                "INSERT INTO cases (run_id, suite, case_id, ordinal, prompt, type, label, focus, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (run_id, suite, case_id) DO NOTHING",
            )?;
            for case in cases {
                let inserted = insert.execute(params![
                    run_id,
                    suite,
                    case.id,
                    next,
                    case.prompt,
                    case.kind,
                    case.label.as_str(),
                    case.focus,
                    case.note,
                ])?;
                if inserted == 1 {
                    next += 1;
                } else if read_case(tx, run_id, suite, &case.id)?.as_ref() != Some(case) {
                    return Err(StoreError::CaseMismatch {
                        run_id,
                        suite: suite.to_string(),
                        case_id: case.id.clone(),
                    });
                }
            }
            Ok(())
        })
    }

    /// Every case of a run with its suite name, in the order added.
    pub fn cases(&self, run_id: i64) -> Result<Vec<(String, Case)>, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT suite, case_id, prompt, type, label, focus, note
                 FROM cases WHERE run_id = ?1 ORDER BY ordinal",
            )?;
            let rows = stmt.query_map([run_id], |row| Ok((row.get(0)?, case_from_row(row, 1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    // ----- results -----

    /// The keys of a run's results that are done: answered and judged.
    /// Failed results are left out, so a resumed run tries them again:
    /// asks again when the request failed, judges the stored answer again
    /// when the judge failed (see [`unjudged`](Store::unjudged)).
    pub fn done_keys(&self, run_id: i64) -> Result<HashSet<ResultKey>, StoreError> {
        self.keys_of(run_id, Status::Done)
    }

    /// The keys of a run's failed results: a request that failed, or an
    /// answer the judge failed on (see [`unjudged`](Store::unjudged)). With
    /// [`done_keys`](Store::done_keys), every key the run has a result for.
    pub fn failed_keys(&self, run_id: i64) -> Result<HashSet<ResultKey>, StoreError> {
        self.keys_of(run_id, Status::Error)
    }

    /// The keys of a run's results of status `status`.
    fn keys_of(&self, run_id: i64, status: Status) -> Result<HashSet<ResultKey>, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT target, strategy, suite, case_id, sample
                 FROM results WHERE run_id = ?1 AND status = ?2",
            )?;
            let rows = stmt.query_map(params![run_id, status.as_str()], |row| {
                Ok(ResultKey {
                    run_id,
                    target: row.get(0)?,
                    strategy: row.get(1)?,
                    suite: row.get(2)?,
                    case_id: row.get(3)?,
                    sample: row.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Stores a result in one transaction: the result row, its messages in
    /// order and the verdict. Returns the result's id.
    ///
    /// The key is UNIQUE, so this never duplicates. An earlier failure for
    /// the key becomes this result (same id; its error history stays). An
    /// earlier transcript for the key is replaced, and with it the verdicts
    /// and annotations that judged the old text, since they would otherwise
    /// be counted against an answer they never saw.
    pub fn record_result(
        &self,
        key: &ResultKey,
        transcript: &Transcript,
        verdict: &Verdict,
        timing: Timing,
    ) -> Result<i64, StoreError> {
        self.write(|tx| {
            let id = write_transcript(tx, key, transcript, timing, Status::Done)?;
            upsert_verdict(tx, id, verdict)?;
            Ok(id)
        })
    }

    /// Stores an answer the judge failed on, in one transaction: the result
    /// row and its messages as [`record_result`](Store::record_result)
    /// stores them, no verdict, and `error` appended to the error history.
    /// Returns the result's id.
    ///
    /// The result counts as failed (it is not among the
    /// [`done_keys`](Store::done_keys), [`results`](Store::results) shows
    /// `error` beside the transcript) until a verdict is put on it with
    /// [`put_verdict`](Store::put_verdict); [`unjudged`](Store::unjudged)
    /// finds it so the answer can be judged again without asking the model.
    /// An earlier transcript for the key is replaced, with its verdicts and
    /// annotations, as `record_result` replaces it.
    pub fn record_unjudged(
        &self,
        key: &ResultKey,
        transcript: &Transcript,
        timing: Timing,
        error: &StoredError,
    ) -> Result<i64, StoreError> {
        self.write(|tx| {
            let id = write_transcript(tx, key, transcript, timing, Status::Error)?;
            insert_error(tx, id, &error.kind, &error.message, error.attempts)?;
            Ok(id)
        })
    }

    /// Records that an attempt at `key` failed, after `attempts` tries.
    ///
    /// The failure is appended to the error history. If the key has no
    /// transcript yet, it counts as failed until a later
    /// [`record_result`](Store::record_result) replaces it; if it already
    /// has one, the transcript is kept: a late failure must not destroy a
    /// finished answer. An answer the judge failed on (see
    /// [`record_unjudged`](Store::record_unjudged)) stays failed, with its
    /// answer, and the new failure is the one shown.
    pub fn record_error(
        &self,
        key: &ResultKey,
        kind: &str,
        message: &str,
        attempts: u32,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            ensure_case(tx, key)?;
            tx.execute(
                "INSERT INTO results (run_id, target, strategy, suite, case_id, sample, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'error')
                 ON CONFLICT (run_id, target, strategy, suite, case_id, sample) DO NOTHING",
                params![
                    key.run_id,
                    key.target,
                    key.strategy,
                    key.suite,
                    key.case_id,
                    key.sample
                ],
            )?;
            let id: i64 = tx.query_row(
                "SELECT id FROM results
                 WHERE run_id = ?1 AND target = ?2 AND strategy = ?3 AND suite = ?4
                   AND case_id = ?5 AND sample = ?6",
                params![
                    key.run_id,
                    key.target,
                    key.strategy,
                    key.suite,
                    key.case_id,
                    key.sample
                ],
                |row| row.get(0),
            )?;
            insert_error(tx, id, kind, message, attempts)
        })
    }

    /// Every result of a run, failed ones included, ordered by target,
    /// strategy, suite, case (in the order added) and sample.
    pub fn results(&self, run_id: i64) -> Result<Vec<StoredResult>, StoreError> {
        self.read(|tx| Filter::Run(run_id).load(tx))
    }

    /// Every result of a run, as [`results`](Store::results) reads them
    /// and in its order, handed to `each` one at a time instead of
    /// collected: for output that grows with the run (`runs show --json`),
    /// in memory that does not (the run's result ids, and one chunk of
    /// results). The first error `each` returns stops the reading and is
    /// returned; the store's errors are turned into `E`.
    ///
    /// Which results, and in what order, is read in one transaction, when
    /// the reading begins: results stored after it are left out. The
    /// results themselves are read [`READ_CHUNK`] at a time, each chunk in
    /// a read transaction of its own, ended before `each` sees them, so
    /// that output as slow as its reader (a pipe) never holds one (which
    /// would keep the write-ahead log growing while a run writes). A
    /// result's key never changes, nor does xsafe replace its conversation
    /// once stored; its status and verdicts are read as they are when its
    /// chunk is read. A result
    /// deleted before its chunk was read (its run deleted by another
    /// process) stops the reading with [`StoreError::ResultDeleted`]: what
    /// `each` was given is not the whole run.
    pub fn for_each_result<E: From<StoreError>>(
        &self,
        run_id: i64,
        mut each: impl FnMut(StoredResult) -> Result<(), E>,
    ) -> Result<(), E> {
        let ids = self.read(|tx| result_ids(tx, run_id))?;
        for chunk in ids.chunks(READ_CHUNK) {
            let mut read: HashMap<i64, StoredResult> = self
                .read(|tx| load_results(tx, &ids_condition("r.id"), &[&id_list(chunk)]))?
                .into_iter()
                .map(|r| (r.id, r))
                .collect();
            for id in chunk {
                let result = read.remove(id).ok_or_else(|| StoreError::ResultDeleted {
                    path: self.location.clone(),
                    result: *id,
                    run_id,
                })?;
                each(result)?;
            }
        }
        Ok(())
    }

    /// The messages of the transcripts of the results `result_ids`, oldest
    /// first, by result, as [`messages`](Store::messages) reads each (empty
    /// for a result without one), in one read transaction: for reading the
    /// conversations of outlines read before a chunk at a time (see
    /// [`each_with_messages`](Store::each_with_messages)). A result not
    /// stored (deleted since) is [`StoreError::ResultNotFound`].
    pub fn messages_of(
        &self,
        result_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<Message>>, StoreError> {
        self.read(|tx| load_messages_of(tx, result_ids))
    }

    /// Each outline of `outlines` made whole with its transcript's messages
    /// ([`ResultOutline::with_messages`]), handed to `each` in order: the
    /// outlines of a run read in one [`snapshot`](Store::snapshot) (or by
    /// [`outlines`](Store::outlines)), written out with their
    /// conversations. The messages are read [`READ_CHUNK`] results at a
    /// time, each chunk in a read transaction of its own that ends before
    /// `each` sees it ([`messages_of`](Store::messages_of)), so that output
    /// as slow as its reader never holds one (a read transaction held
    /// while a run writes keeps the write-ahead log growing), in memory
    /// that holds one chunk of conversations. xsafe never replaces a
    /// stored conversation (a resumed run judges a stored answer again
    /// rather than ask for another), so it is the one the outline was read
    /// with. A result
    /// deleted since its outline was read (its run deleted by another
    /// process) stops the reading with [`StoreError::ResultDeleted`], the
    /// results before it handed to `each`. The first error `each` returns
    /// stops the reading and is returned.
    pub fn each_with_messages<E: From<StoreError>>(
        &self,
        outlines: impl IntoIterator<Item = ResultOutline>,
        mut each: impl FnMut(StoredResult) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut outlines = outlines.into_iter();
        loop {
            let chunk: Vec<ResultOutline> = outlines.by_ref().take(READ_CHUNK).collect();
            if chunk.is_empty() {
                return Ok(());
            }
            let ids: Vec<i64> = chunk.iter().map(|o| o.id).collect();
            let mut messages = self.messages_of(&ids).map_err(|e| match e {
                StoreError::ResultNotFound(id) => StoreError::ResultDeleted {
                    path: self.location.clone(),
                    result: id,
                    run_id: chunk
                        .iter()
                        .find(|o| o.id == id)
                        .map_or(0, |o| o.key.run_id),
                },
                e => e,
            })?;
            for outline in chunk {
                let said = match outline.answer {
                    Some(_) => messages.remove(&outline.id).unwrap_or_default(),
                    None => Vec::new(),
                };
                each(outline.with_messages(said))?;
            }
        }
    }

    /// Every result of a run as [`results`](Store::results) reads them and
    /// in its order, but without their messages: each is the
    /// [`ResultOutline`] of what `results` reads, the model's turns counted
    /// by the store. What reports and statistics need, in memory that grows
    /// with the results but not with the conversations' length (system
    /// texts and exemplars come again with every answer read). Their
    /// messages, which never change once stored, are read after with
    /// [`each_with_messages`](Store::each_with_messages) or
    /// [`messages`](Store::messages).
    pub fn outlines(&self, run_id: i64) -> Result<Vec<ResultOutline>, StoreError> {
        let (condition, param) = Filter::Run(run_id).condition();
        self.read(|tx| load_outlines(tx, &condition, &[&param]))
    }

    /// The done results (answered and judged) of one target and one
    /// strategy of run `run_id`, as [`outlines`](Store::outlines) reads
    /// them and in its order: their case, sample, timing and verdicts,
    /// without their messages, which [`result`](Store::result) reads for
    /// the ones wanted. Failed results, answers the judge failed on among
    /// them, are left out. What a run reads of another run whose answers
    /// it may reuse (same target, strategy, case and seed): its results
    /// of that pair only, in memory that does not grow with the
    /// conversations' length. A run another process is writing is read as
    /// it was when the reading began; a run with no such results, or none
    /// of that id, gives none.
    pub fn done_outlines(
        &self,
        run_id: i64,
        target: &str,
        strategy: &str,
    ) -> Result<Vec<ResultOutline>, StoreError> {
        self.read(|tx| {
            load_outlines(
                tx,
                "r.run_id = ?1 AND r.target = ?2 AND r.strategy = ?3 AND r.status = 'done'",
                params![run_id, target, strategy],
            )
        })
    }

    /// Reads through `f` in one transaction: every read of the
    /// [`Snapshot`] sees the store as it was when the snapshot began,
    /// whatever another process writes meanwhile (a run resumed, a run
    /// deleted), as [`results`](Store::results) reads a run at once. For
    /// reading a run in outline, then the conversations wanted. The
    /// store's other methods must not be called from `f` (its connection
    /// is `f`'s until `f` returns).
    ///
    /// Keep `f` short: read what is needed, and write output after the
    /// snapshot ends. While it lasts, the write-ahead log cannot be copied
    /// back into the file and started again, so a run writing meanwhile
    /// makes it grow by every page it writes (hundreds of megabytes while a
    /// slow pipe took an export). To write a run's conversations out, read
    /// its outlines in a snapshot, then the messages with
    /// [`each_with_messages`](Store::each_with_messages).
    pub fn snapshot<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Snapshot<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut out = None;
        self.read(|tx| {
            out = Some(f(&Snapshot {
                tx,
                location: &self.location,
            }));
            Ok(())
        })?;
        out.expect("read ran f")
    }

    /// A run's results counted by target, strategy, suite, case label and
    /// outcome, read without their transcripts, verdict details or error
    /// histories: what a summary needs, in memory that grows with the number
    /// of distinct outcomes rather than with the answers.
    ///
    /// A result counts as failed exactly when [`results`](Store::results)
    /// gives it an `error` or no `transcript`, with that error's kind and
    /// message: the kind as stored, so that failures an earlier invocation
    /// stored have theirs too, and one message of two kinds (a timeout and
    /// a judge that failed, saying the same) is two rows. Any other result
    /// counts the verdict of `judge`, that is whose tag's [`judge_name`] is
    /// `judge` (a model named `@cf/...` keeps its `@`); a result without
    /// one counts as judged with no class, never by another judge's
    /// verdict.
    ///
    /// Rows come ordered by target and strategy, as `results` lists the
    /// results; within a pair their order is fixed but means nothing. Each
    /// has a count of at least 1.
    pub fn outcome_counts(
        &self,
        run_id: i64,
        judge: &str,
    ) -> Result<Vec<OutcomeCount>, StoreError> {
        self.read(|tx| {
            // The last error is joined as `results` joins it, so "failed"
            // and the message shown agree with what `results` reads. A
            // result has at most one verdict of a judge name (the stored
            // `judge_name`, which `upsert_verdict` fills with `judge_name`).
            let mut stmt = tx.prepare(&format!(
                "SELECT target, strategy, suite, label, failed, kind, message, verdict, count(*)
                 FROM (
                     SELECT r.target AS target, r.strategy AS strategy, r.suite AS suite,
                            c.label AS label,
                            (e.id IS NOT NULL OR NOT {ANSWERED}) AS failed,
                            e.kind AS kind, e.message AS message,
                            CASE WHEN e.id IS NULL AND {ANSWERED} THEN (
                                SELECT v.label FROM verdicts v
                                WHERE v.result_id = r.id AND v.judge_name = ?2
                            ) END AS verdict
                     FROM results r
                     JOIN cases c
                       ON c.run_id = r.run_id AND c.suite = r.suite AND c.case_id = r.case_id
                     LEFT JOIN errors e
                            ON r.status = 'error'
                           AND e.id = (SELECT max(id) FROM errors WHERE result_id = r.id)
                     WHERE r.run_id = ?1
                 )
                 GROUP BY target, strategy, suite, label, failed, kind, message, verdict
                 ORDER BY target, strategy, suite, label, failed, kind, message, verdict"
            ))?;
            let rows = stmt.query_map(params![run_id, judge], |row| {
                let outcome = if row.get::<_, bool>(4)? {
                    // Both come from the one error row (both NOT NULL), or
                    // neither, when none was recorded.
                    let kind: Option<String> = row.get(5)?;
                    let message: Option<String> = row.get(6)?;
                    CountedOutcome::Failed(
                        kind.zip(message)
                            .map(|(kind, message)| CountedFailure { kind, message }),
                    )
                } else {
                    match row.get::<_, Option<String>>(7)?.as_deref() {
                        None | Some("unscored") => CountedOutcome::Judged(None),
                        Some(_) => {
                            CountedOutcome::Judged(Some(parse_col(row, 7, |s| s.parse().ok())?))
                        }
                    }
                };
                Ok(OutcomeCount {
                    target: row.get(0)?,
                    strategy: row.get(1)?,
                    suite: row.get(2)?,
                    label: parse_col(row, 3, |s| s.parse::<Label>().ok())?,
                    outcome,
                    count: row.get::<_, i64>(8)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// The results of a run whose model answered but whose judge failed
    /// (stored by [`record_unjudged`](Store::record_unjudged) and not
    /// judged since), with their transcripts and timing, in the order of
    /// [`results`](Store::results): what a resumed run judges again without
    /// asking the model.
    pub fn unjudged(&self, run_id: i64) -> Result<Vec<StoredResult>, StoreError> {
        self.read(|tx| Filter::Unjudged(run_id).load(tx))
    }

    /// One result by id.
    pub fn result(&self, result_id: i64) -> Result<StoredResult, StoreError> {
        self.read(|tx| Filter::Result(result_id).load(tx))?
            .pop()
            .ok_or(StoreError::ResultNotFound(result_id))
    }

    /// The messages of a result's transcript, oldest first, as
    /// [`result`](Store::result) reads them; empty when it has none (the
    /// request failed). [`StoreError::ResultNotFound`] when no result has
    /// this id (its run deleted, say). A transcript never changes once
    /// stored, so they are those of an outline read before.
    pub fn messages(&self, result_id: i64) -> Result<Vec<Message>, StoreError> {
        self.read(|tx| load_messages(tx, result_id))
    }

    /// Adds or replaces a verdict of a result. Verdicts are one per judge
    /// name (the tag before its last `@`), so rejudging with a newer version
    /// of a judge replaces that judge's verdict and keeps the others.
    ///
    /// An answer the judge failed on (see
    /// [`record_unjudged`](Store::record_unjudged)) becomes done with a
    /// verdict of the run's own judge (the one its config names, any
    /// version), and its error history stays: a resumed run no longer
    /// judges it. Another judge's verdict (`xsafe rejudge --judge OTHER`)
    /// is stored beside it and leaves it failed, so the next run of the
    /// command still has its own judge judge it. A run whose config names
    /// no judge takes the first verdict given.
    pub fn put_verdict(&self, result_id: i64, verdict: &Verdict) -> Result<(), StoreError> {
        self.write(|tx| {
            ensure_transcript(tx, result_id)?;
            upsert_verdict(tx, result_id, verdict)?;
            let run_id: i64 = tx.query_row(
                "SELECT run_id FROM results WHERE id = ?1",
                [result_id],
                |row| row.get(0),
            )?;
            let own =
                run_judge(tx, run_id)?.is_none_or(|judge| judge == judge_name(&verdict.judge));
            if own {
                tx.execute(
                    "UPDATE results SET status = 'done' WHERE id = ?1 AND status = 'error'",
                    [result_id],
                )?;
            }
            Ok(())
        })
    }

    // ----- annotations -----

    /// Sets `annotator`'s label for a result, replacing their earlier one;
    /// other annotators' labels stay. An answer the judge failed on may be
    /// labelled too: the label is about the answer, which is stored.
    pub fn annotate(
        &self,
        result_id: i64,
        annotator: &str,
        class: Class,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(|tx| upsert_annotation(tx, result_id, annotator, class, note))
    }

    /// [`annotate`](Store::annotate) for many results in one transaction:
    /// every label is stored, or (on any error) none is, so an import that
    /// fails half-way changes nothing.
    pub fn annotate_all(
        &self,
        annotator: &str,
        labels: &[(i64, Class, Option<String>)],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            for (result_id, class, note) in labels {
                upsert_annotation(tx, *result_id, annotator, *class, note.as_deref())?;
            }
            Ok(())
        })
    }

    /// [`annotate`](Store::annotate) unless `annotator`'s label of the
    /// result changed since it was read: in one transaction, the label and
    /// note stored now are compared with `seen`, and the new label and
    /// `note` are written only when they are the same, so that two pages
    /// labelling as one annotator (or a page and an import) never replace
    /// a label or a note that the one writing did not show. With
    /// [`LabelSeen::Unknown`] the label is written whatever is stored, and a
    /// `note` of `None` keeps the stored note. Notes are compared as
    /// stored: give them trimmed, `None` for none.
    pub fn annotate_checked(
        &self,
        result_id: i64,
        annotator: &str,
        class: Class,
        note: Option<&str>,
        seen: &LabelSeen,
    ) -> Result<Relabel, StoreError> {
        self.write(|tx| {
            ensure_transcript(tx, result_id)?;
            let current = annotation_of(tx, result_id, annotator)?;
            let unchanged = match seen {
                LabelSeen::Unknown => true,
                LabelSeen::Unlabelled => current.is_none(),
                LabelSeen::Labelled(c, n) => current
                    .as_ref()
                    .is_some_and(|a| a.class == *c && a.note == *n),
            };
            if !unchanged {
                return Ok(Relabel::Changed(current));
            }
            let note = match (note, seen) {
                (None, LabelSeen::Unknown) => current.and_then(|a| a.note),
                (note, _) => note.map(str::to_string),
            };
            upsert_annotation(tx, result_id, annotator, class, note.as_deref())?;
            let written = annotation_of(tx, result_id, annotator)?
                .ok_or(StoreError::ResultNotFound(result_id))?;
            Ok(Relabel::Written(written))
        })
    }

    /// Every annotation of a run's results, in the order of
    /// [`results`](Store::results), then by annotator.
    pub fn annotations(&self, run_id: i64) -> Result<Vec<Annotation>, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT a.result_id, a.annotator, a.label, a.note, a.created_at
                 FROM annotations a
                 JOIN results r ON r.id = a.result_id
                 JOIN cases c ON c.run_id = r.run_id AND c.suite = r.suite AND c.case_id = r.case_id
                 WHERE r.run_id = ?1
                 ORDER BY r.target, r.strategy, r.suite, c.ordinal, r.sample, a.annotator",
            )?;
            let rows = stmt.query_map([run_id], |row| {
                Ok(Annotation {
                    result_id: row.get(0)?,
                    annotator: row.get(1)?,
                    class: parse_col(row, 2, |s| s.parse::<Class>().ok())?,
                    note: row.get(3)?,
                    created_at: row.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

// ----- helpers shared by the queries -----

/// Whether opening failed because the file or its folder cannot be written,
/// which reading may get around (see [`Store::open`]).
fn cannot_write(error: &StoreError) -> bool {
    match error {
        StoreError::ReadOnly { .. } | StoreError::ReadOnlySideFile { .. } => true,
        StoreError::Open { error, .. } => matches!(
            error.sqlite_error_code(),
            Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::PermissionDenied)
        ),
        _ => false,
    }
}

/// Whether opening failed because reading or writing the file or the
/// files beside it failed (SQLite's "disk I/O error"): a failing disk, or
/// a full one where the `-shm` file could not be made.
fn io_failure(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Open { error, .. }
            if error.sqlite_error_code() == Some(rusqlite::ErrorCode::SystemIoFailure)
    )
}

/// What `error`, met while setting up the store at `path` that held nothing
/// yet (no file, or an empty one), is: running out of space on the way
/// (turning WAL on, making the `-shm` file, the migrations) is
/// [`StoreError::CreateDiskFull`], since there was nothing to upgrade or
/// keep; any other error is returned as it is.
fn new_store_error(path: &Path, location: &str, error: StoreError) -> StoreError {
    let full = match &error {
        StoreError::DiskFull { .. } | StoreError::MigrationDiskFull { .. } => true,
        // SQLite's "disk I/O error", as when the `-shm` file cannot be
        // made: full only if a small file does not fit beside the store.
        StoreError::Io { .. } => disk_full(path),
        other => io_failure(other) && disk_full(path),
    };
    if full {
        return StoreError::CreateDiskFull {
            path: location.to_string(),
        };
    }
    error
}

/// The file standing where `dir` needs a folder: `dir` itself, or the
/// nearest folder on the way to it that is a file. `None` when nothing is
/// in the way (the folders are there, or missing, or cannot be looked at).
fn file_in_the_way(dir: &Path) -> Option<PathBuf> {
    for ancestor in dir.ancestors().filter(|a| !a.as_os_str().is_empty()) {
        match std::fs::metadata(ancestor) {
            Ok(meta) if meta.is_dir() => return None,
            Ok(_) => return Some(ancestor.to_path_buf()),
            Err(e) if is_missing(&e) => continue,
            Err(_) => return None,
        }
    }
    None
}

/// Whether the disk holding the store file at `path` is full: a small
/// file written beside it, and removed at once, does not fit. (The
/// standard library cannot ask the file system for its free space.)
fn disk_full(path: &Path) -> bool {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let probe = dir.join(format!(".{name}.space-check.{}", std::process::id()));
    let written = std::fs::File::create_new(&probe).and_then(|mut f| {
        // As much as SQLite's `-shm` file needs first.
        f.write_all(&[0; 32 * 1024])?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    matches!(
        written,
        Err(e) if matches!(
            e.kind(),
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
        )
    )
}

/// Whether `error`, from looking up a store file, means there is nothing
/// at its path: no such file, or a file where the path needs a folder.
fn is_missing(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// The folder of the run locks of the store file at `path`: `.NAME.locks`
/// beside the file the path resolves to, so that every spelling of it (a
/// symbolic link, `./`, `..`, an absolute path) locks the same runs, as
/// SQLite, which follows links, opens the same file. `None` when the path
/// names no file.
fn locks_dir(path: &Path) -> Option<PathBuf> {
    let file = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = file.file_name()?.to_string_lossy();
    Some(file.with_file_name(format!(".{name}.locks")))
}

/// Refuses a path that SQLite would open as something other than the file
/// it names (see [`Store::open`]). This build of SQLite reads every name
/// starting with `file:` as a URI (it is compiled with `SQLITE_USE_URI`).
fn check_file_path(path: &Path) -> Result<(), StoreError> {
    let bytes = path.as_os_str().as_encoded_bytes();
    let what = if bytes.is_empty() {
        "a temporary database, deleted at exit"
    } else if bytes == b":memory:" {
        "a database in memory, dropped at exit"
    } else if bytes.starts_with(b"file:") {
        "a URI, whose options may keep the database in memory or elsewhere"
    } else {
        return Ok(());
    };
    Err(StoreError::NotAFile {
        path: path.display().to_string(),
        what,
    })
}

/// `path` as a SQLite URI with `query` parameters. SQLite takes the rest of
/// the path as it is, so only what it would read otherwise is
/// percent-encoded: `?` and `#` (which end the path), `%`, and bytes that
/// are not printable ASCII.
fn file_uri(path: &Path, query: &str) -> String {
    // `file://` starts an authority: a path starting with `//` needs an
    // empty one before it.
    let mut uri = String::from(if path.as_os_str().as_encoded_bytes().starts_with(b"//") {
        "file://"
    } else {
        "file:"
    });
    for &b in path.as_os_str().as_encoded_bytes() {
        if (b.is_ascii_graphic() && !b"?#%".contains(&b)) || b == b' ' {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(query);
    }
    uri
}

fn read_run(conn: &Connection, id: i64) -> Result<Option<RunRecord>, StoreError> {
    let row = conn
        .query_row(
            "SELECT id, name, key, created_at, status, config, seed, tool_version
             FROM runs WHERE id = ?1",
            [id],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    run_status(row, 4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, i64>(6)?,
                    row.get::<_, String>(7)?,
                ))
            },
        )
        .optional()?;
    let Some((id, name, key, created_at, status, config, seed, tool_version)) = row else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare("SELECT suite, fingerprint FROM run_suites WHERE run_id = ?1 ORDER BY position")?;
    let suites = stmt
        .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(Some(RunRecord {
        id,
        name,
        key,
        created_at,
        status,
        config: serde_json::from_str(&config)?,
        suites,
        seed: seed as u64, // bit pattern; see the schema
        tool_version,
    }))
}

/// The name of the judge run `run_id` was made with, as its config records
/// it (`judge.name`, without version); `None` when it records none.
fn run_judge(conn: &Connection, run_id: i64) -> Result<Option<String>, StoreError> {
    // Read in SQLite: `rejudge` asks once per answer, and a config holding
    // few-shot exemplars is long to parse.
    Ok(conn.query_row(
        "SELECT CASE WHEN json_type(config, '$.judge.name') = 'text'
                     THEN json_extract(config, '$.judge.name') END
         FROM runs WHERE id = ?1",
        [run_id],
        |row| row.get(0),
    )?)
}

/// Marks failed again the results of run `run_id` that are done with no
/// verdict of the run's judge: an earlier xsafe made an answer its judge had
/// failed on done when another judge (`rejudge --judge OTHER`) judged it.
/// Their last error, the run's judge's failure, is shown again.
fn reopen_judged_by_others(tx: &Transaction<'_>, run_id: i64) -> Result<(), StoreError> {
    let Some(judge) = run_judge(tx, run_id)? else {
        return Ok(());
    };
    tx.execute(
        "UPDATE results AS r SET status = 'error'
         WHERE r.run_id = ?1 AND r.status = 'done'
           AND NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.result_id = r.id AND v.judge_name = ?2)",
        params![run_id, judge],
    )?;
    Ok(())
}

fn ensure_run(conn: &Connection, run_id: i64) -> Result<(), StoreError> {
    let found = conn
        .query_row("SELECT 1 FROM runs WHERE id = ?1", [run_id], |_| Ok(()))
        .optional()?;
    found.ok_or_else(|| StoreError::RunNotFound(run_id.to_string()))
}

/// Checked up front so that a result for an unknown case gets an error that
/// says what to do, not a bare foreign key failure.
fn ensure_case(conn: &Connection, key: &ResultKey) -> Result<(), StoreError> {
    let found = conn
        .query_row(
            "SELECT 1 FROM cases WHERE run_id = ?1 AND suite = ?2 AND case_id = ?3",
            params![key.run_id, key.suite, key.case_id],
            |_| Ok(()),
        )
        .optional()?;
    if found.is_some() {
        return Ok(());
    }
    ensure_run(conn, key.run_id)?;
    Err(StoreError::CaseNotFound {
        run_id: key.run_id,
        suite: key.suite.clone(),
        case_id: key.case_id.clone(),
    })
}

fn upsert_annotation(
    tx: &Transaction<'_>,
    result_id: i64,
    annotator: &str,
    class: Class,
    note: Option<&str>,
) -> Result<(), StoreError> {
    ensure_transcript(tx, result_id)?;
    tx.execute(
        "INSERT INTO annotations (result_id, annotator, label, note, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (result_id, annotator) DO UPDATE SET
             label = excluded.label,
             note = excluded.note,
             created_at = excluded.created_at",
        params![result_id, annotator, class.as_str(), note, time::now()],
    )?;
    Ok(())
}

/// `annotator`'s annotation of result `result_id`, if any.
fn annotation_of(
    conn: &Connection,
    result_id: i64,
    annotator: &str,
) -> Result<Option<Annotation>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT result_id, annotator, label, note, created_at FROM annotations
             WHERE result_id = ?1 AND annotator = ?2",
            params![result_id, annotator],
            |row| {
                Ok(Annotation {
                    result_id: row.get(0)?,
                    annotator: row.get(1)?,
                    class: parse_col(row, 2, |s| s.parse::<Class>().ok())?,
                    note: row.get(3)?,
                    created_at: row.get(4)?,
                })
            },
        )
        .optional()?)
}

/// Verdicts and annotations are about a transcript; a failed request has
/// none, an answer the judge failed on has one.
fn ensure_transcript(conn: &Connection, result_id: i64) -> Result<(), StoreError> {
    let answered: Option<bool> = conn
        .query_row(
            &format!("SELECT {ANSWERED} FROM results r WHERE r.id = ?1"),
            [result_id],
            |row| row.get(0),
        )
        .optional()?;
    match answered {
        Some(true) => Ok(()),
        Some(false) => Err(StoreError::NoTranscript(result_id)),
        None => Err(StoreError::ResultNotFound(result_id)),
    }
}

/// SQL that is true when result `r` has a stored transcript: it is done,
/// or it failed at judging and kept the answer's messages. A failed
/// request never has messages (`record_error` writes none), so their
/// presence is what tells the two failures apart, with no column that
/// could disagree with them.
const ANSWERED: &str =
    "(r.status = 'done' OR EXISTS (SELECT 1 FROM messages WHERE result_id = r.id))";

/// Refuses a name a new run cannot have: a blank one
/// ([`StoreError::BlankRunName`]), or a number, which [`Store::run`] would
/// read as a run id ([`StoreError::NumericRunName`]).
/// [`Store::open_run`] checks it before creating a run; a caller that only
/// looks (a dry run) checks it to refuse what creating the run would.
pub fn check_new_run_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::BlankRunName(name.to_string()));
    }
    if name.trim().parse::<i64>().is_ok() {
        return Err(StoreError::NumericRunName(name.to_string()));
    }
    Ok(())
}

/// The stored spelling of a result's status (see the first migration).
#[derive(Clone, Copy)]
enum Status {
    /// Answered and judged.
    Done,
    /// The last attempt failed: the request, or the judging of its answer.
    Error,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Error => "error",
        }
    }
}

/// Writes `key`'s result row with `status` and its messages, replacing an
/// earlier transcript with the verdicts and annotations that judged it
/// (and the texts no other message of the run uses); returns the result's
/// id. The caller adds the verdict or the error.
fn write_transcript(
    tx: &Transaction<'_>,
    key: &ResultKey,
    transcript: &Transcript,
    timing: Timing,
    status: Status,
) -> Result<i64, StoreError> {
    ensure_case(tx, key)?;
    let id: i64 = tx.query_row(
        "INSERT INTO results (run_id, target, strategy, suite, case_id, sample, status,
                              finish_reason, complied_at_turn, started_ms, latency_ms,
                              opening)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (run_id, target, strategy, suite, case_id, sample) DO UPDATE SET
             status = excluded.status,
             finish_reason = excluded.finish_reason,
             complied_at_turn = excluded.complied_at_turn,
             opening = excluded.opening,
             started_ms = excluded.started_ms,
             latency_ms = excluded.latency_ms
         RETURNING id",
        params![
            key.run_id,
            key.target,
            key.strategy,
            key.suite,
            key.case_id,
            key.sample,
            status.as_str(),
            transcript.finish_reason.as_ref().map(FinishReason::as_str),
            transcript.complied_at_turn,
            timing.started_ms,
            i64::try_from(timing.latency_ms).unwrap_or(i64::MAX),
            transcript.opening,
        ],
        |row| row.get(0),
    )?;
    // The texts of a transcript replaced here, to drop those no message
    // uses any more; none for a new result.
    let mut replaced: Vec<i64> = tx
        .prepare_cached("DELETE FROM messages WHERE result_id = ?1 RETURNING text_id")?
        .query_map([id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for table in ["verdicts", "annotations"] {
        tx.execute(&format!("DELETE FROM {table} WHERE result_id = ?1"), [id])?;
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO messages (result_id, idx, role, text_id, reasoning, refusal)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (idx, m) in transcript.messages.iter().enumerate() {
        let text = text_id(tx, key.run_id, &m.content)?;
        insert.execute(params![
            id,
            idx as i64,
            m.role.as_str(),
            text,
            m.reasoning,
            m.refusal,
        ])?;
    }
    replaced.sort_unstable();
    replaced.dedup();
    let mut unused = tx.prepare_cached(
        "DELETE FROM texts
         WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM messages WHERE text_id = ?1)",
    )?;
    for text in replaced {
        unused.execute([text])?;
    }
    Ok(id)
}

/// The id of `text` among the message texts of run `run_id`, stored now if
/// the run has none like it: a run keeps each text once, however many
/// messages say it (see the fourth migration).
fn text_id(tx: &Transaction<'_>, run_id: i64, text: &str) -> Result<i64, StoreError> {
    let hash = schema::text_hash(text.as_bytes());
    let found: Option<i64> = tx
        .prepare_cached("SELECT id FROM texts WHERE run_id = ?1 AND hash = ?2 AND text = ?3")?
        .query_row(params![run_id, hash, text], |row| row.get(0))
        .optional()?;
    if let Some(id) = found {
        return Ok(id);
    }
    tx.prepare_cached("INSERT INTO texts (run_id, hash, text) VALUES (?1, ?2, ?3)")?
        .execute(params![run_id, hash, text])?;
    Ok(tx.last_insert_rowid())
}

fn insert_error(
    conn: &Connection,
    result_id: i64,
    kind: &str,
    message: &str,
    attempts: u32,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO errors (result_id, kind, message, attempts, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![result_id, kind, message, attempts, time::now()],
    )?;
    Ok(())
}

fn upsert_verdict(conn: &Connection, result_id: i64, verdict: &Verdict) -> Result<(), StoreError> {
    // On conflict the row is updated in place, keeping its id, so the order
    // of a result's verdicts (the run's judge first) survives rejudging.
    conn.execute(
        "INSERT INTO verdicts (result_id, judge, judge_name, label, reason, confidence, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (result_id, judge_name) DO UPDATE SET
             judge = excluded.judge,
             label = excluded.label,
             reason = excluded.reason,
             confidence = excluded.confidence,
             created_at = excluded.created_at",
        params![
            result_id,
            verdict.judge,
            judge_name(&verdict.judge),
            verdict.outcome.label(),
            // An unscored verdict's reason, else a scored one's note
            // (0005_verdict_notes.sql).
            verdict.reason(),
            verdict.confidence,
            time::now(),
        ],
    )?;
    Ok(())
}

fn read_case(
    conn: &Connection,
    run_id: i64,
    suite: &str,
    case_id: &str,
) -> Result<Option<Case>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT case_id, prompt, type, label, focus, note
             FROM cases WHERE run_id = ?1 AND suite = ?2 AND case_id = ?3",
            params![run_id, suite, case_id],
            |row| case_from_row(row, 0),
        )
        .optional()?)
}

/// A case from six columns starting at `at`: id, prompt, type, label, focus,
/// note.
fn case_from_row(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Case> {
    Ok(Case {
        id: row.get(at)?,
        prompt: row.get(at + 1)?,
        kind: row.get(at + 2)?,
        label: parse_col(row, at + 3, |s| s.parse::<Label>().ok())?,
        focus: row.get(at + 4)?,
        note: row.get(at + 5)?,
    })
}

fn run_status(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<RunStatus> {
    parse_col(row, idx, RunStatus::parse)
}

/// Reads a text column through `parse`, reporting text it does not know as
/// a conversion error. The CHECK constraints make this unreachable for files
/// xsafe wrote; it guards hand-edited ones.
fn parse_col<T>(
    row: &rusqlite::Row<'_>,
    idx: usize,
    parse: impl FnOnce(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            Type::Text,
            format!("unexpected value `{text}`").into(),
        )
    })
}

/// Which results [`load_results`] reads.
#[derive(Clone, Copy)]
enum Filter {
    Run(i64),
    Result(i64),
    /// A run's answers the judge failed on.
    Unjudged(i64),
}

impl Filter {
    fn condition(self) -> (String, i64) {
        match self {
            Filter::Run(id) => ("r.run_id = ?1".into(), id),
            Filter::Result(id) => ("r.id = ?1".into(), id),
            Filter::Unjudged(id) => (
                format!("r.run_id = ?1 AND r.status = 'error' AND {ANSWERED}"),
                id,
            ),
        }
    }

    /// The results of the filter, as [`load_results`] reads them.
    fn load(self, conn: &Connection) -> Result<Vec<StoredResult>, StoreError> {
        let (condition, param) = self.condition();
        load_results(conn, &condition, &[&param])
    }
}

/// SQL that is true when `column` is one of the ids of the JSON array
/// given as `?1` ([`id_list`]): a chunk of ids in one parameter.
fn ids_condition(column: &str) -> String {
    format!("{column} IN (SELECT value FROM json_each(?1))")
}

/// `ids` as the JSON array [`ids_condition`] takes.
fn id_list(ids: &[i64]) -> String {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("[{}]", list.join(","))
}

/// The ids of run `run_id`'s results, in the order results are listed
/// (see [`results_query`]).
fn result_ids(conn: &Connection, run_id: i64) -> Result<Vec<i64>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT r.id
         FROM results r
         JOIN cases c ON c.run_id = r.run_id AND c.suite = r.suite AND c.case_id = r.case_id
         WHERE r.run_id = ?1
         ORDER BY r.target, r.strategy, r.suite, c.ordinal, r.sample",
    )?;
    let ids = stmt
        .query_map([run_id], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Reads the results `condition` selects (over `results r`, with
/// `params`) with three queries (results with their case and last error,
/// then all their messages, then all their verdicts) rather than three
/// per result, which keeps a run of tens of thousands of results fast.
fn load_results(
    conn: &Connection,
    condition: &str,
    params: &[&dyn ToSql],
) -> Result<Vec<StoredResult>, StoreError> {
    let mut messages: HashMap<i64, Vec<Message>> = HashMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT {MESSAGE_COLUMNS}
         FROM {MESSAGES} JOIN results r ON r.id = m.result_id
         WHERE {condition}
         ORDER BY m.result_id, m.idx"
    ))?;
    let rows = stmt.query_map(params, |row| {
        Ok((row.get::<_, i64>(0)?, message_from_row(row)?))
    })?;
    for row in rows {
        let (id, message) = row?;
        messages.entry(id).or_default().push(message);
    }

    let mut verdicts = verdicts_by_result(conn, condition, params)?;

    let mut stmt = conn.prepare(&results_query(condition, ""))?;
    let rows = stmt.query_map(params, result_from_row)?;
    let mut results = Vec::new();
    for row in rows {
        let mut result = row?;
        if let Some(transcript) = &mut result.transcript {
            transcript.messages = messages.remove(&result.id).unwrap_or_default();
        }
        result.verdicts = verdicts.remove(&result.id).unwrap_or_default();
        results.push(result);
    }
    Ok(results)
}

/// A view of the store in one read transaction; see [`Store::snapshot`].
pub struct Snapshot<'a> {
    tx: &'a Transaction<'a>,
    location: &'a str,
}

impl Snapshot<'_> {
    /// [`Store::outlines`] of `run` (read before the snapshot, by
    /// [`Store::run`]), as the store was when the snapshot began; a run
    /// deleted since is [`StoreError::RunNotFound`], by its name.
    pub fn outlines(&self, run: &RunRecord) -> Result<Vec<ResultOutline>, StoreError> {
        let there: Option<i64> = self
            .tx
            .query_row("SELECT id FROM runs WHERE id = ?1", [run.id], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| StoreError::from(e).at(self.location))?;
        if there.is_none() {
            return Err(StoreError::RunNotFound(run.name.clone()));
        }
        let (condition, param) = Filter::Run(run.id).condition();
        load_outlines(self.tx, &condition, &[&param]).map_err(|e| e.at(self.location))
    }

    /// [`Store::messages`], as the store was when the snapshot began.
    pub fn messages(&self, result_id: i64) -> Result<Vec<Message>, StoreError> {
        load_messages(self.tx, result_id).map_err(|e| e.at(self.location))
    }
}

/// The results `condition` selects (over `results r`, with `params`)
/// without their messages; see [`Store::outlines`].
fn load_outlines(
    conn: &Connection,
    condition: &str,
    params: &[&dyn ToSql],
) -> Result<Vec<ResultOutline>, StoreError> {
    let mut verdicts = verdicts_by_result(conn, condition, params)?;
    // The model's turns as `Transcript::turns` counts them: the assistant
    // messages from the opening on (`idx` numbers a transcript's messages
    // from 0, in order).
    let turns = "(SELECT count(*) FROM messages m
                  WHERE m.result_id = r.id AND m.role = 'assistant'
                    AND m.idx >= coalesce(r.opening, 0))";
    let mut stmt = conn.prepare(&results_query(condition, turns))?;
    let rows = stmt.query_map(params, |row| {
        let result = result_from_row(row)?;
        let turns: u32 = row.get(RESULT_COLUMNS)?;
        Ok((result, turns))
    })?;
    let mut outlines = Vec::new();
    for row in rows {
        let (mut result, turns) = row?;
        result.verdicts = verdicts.remove(&result.id).unwrap_or_default();
        let mut outline = ResultOutline::from(result);
        if let Some(answer) = &mut outline.answer {
            answer.turns = turns;
        }
        outlines.push(outline);
    }
    Ok(outlines)
}

/// A result's messages; see [`Store::messages`].
fn load_messages(conn: &Connection, result_id: i64) -> Result<Vec<Message>, StoreError> {
    let exists: Option<i64> = conn
        .prepare_cached("SELECT id FROM results WHERE id = ?1")?
        .query_row([result_id], |row| row.get(0))
        .optional()?;
    if exists.is_none() {
        return Err(StoreError::ResultNotFound(result_id));
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM {MESSAGES} WHERE m.result_id = ?1 ORDER BY m.idx"
    ))?;
    let messages = stmt
        .query_map([result_id], message_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(messages)
}

/// The messages of each result of `ids`; see [`Store::messages_of`].
fn load_messages_of(
    conn: &Connection,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<Message>>, StoreError> {
    let list = id_list(ids);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT r.id FROM results r WHERE {}",
        ids_condition("r.id")
    ))?;
    let stored: HashSet<i64> = stmt
        .query_map([&list], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if let Some(gone) = ids.iter().find(|id| !stored.contains(id)) {
        return Err(StoreError::ResultNotFound(*gone));
    }
    let mut messages: HashMap<i64, Vec<Message>> = ids.iter().map(|id| (*id, Vec::new())).collect();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM {MESSAGES} WHERE {} ORDER BY m.result_id, m.idx",
        ids_condition("m.result_id")
    ))?;
    let rows = stmt.query_map([&list], |row| {
        Ok((row.get::<_, i64>(0)?, message_from_row(row)?))
    })?;
    for row in rows {
        let (id, message) = row?;
        messages.entry(id).or_default().push(message);
    }
    Ok(messages)
}

/// The verdicts of the results `condition` selects, by result, each
/// result's in the order they were added (the run's judge first).
fn verdicts_by_result(
    conn: &Connection,
    condition: &str,
    params: &[&dyn ToSql],
) -> Result<HashMap<i64, Vec<Verdict>>, StoreError> {
    let mut verdicts: HashMap<i64, Vec<Verdict>> = HashMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT v.result_id, v.judge, v.label, v.reason, v.confidence
         FROM verdicts v JOIN results r ON r.id = v.result_id
         WHERE {condition}
         ORDER BY v.result_id, v.id"
    ))?;
    let rows = stmt.query_map(params, |row| {
        Ok((row.get::<_, i64>(0)?, verdict_from_row(row)?))
    })?;
    for row in rows {
        let (id, verdict) = row?;
        verdicts.entry(id).or_default().push(verdict);
    }
    Ok(verdicts)
}

/// The messages as `m`, each with its text as `t`.
const MESSAGES: &str = "messages m JOIN texts t ON t.id = m.text_id";

/// The columns of [`MESSAGES`] that [`message_from_row`] reads.
const MESSAGE_COLUMNS: &str = "m.result_id, m.role, t.text, m.reasoning, m.refusal";

/// A message of [`MESSAGE_COLUMNS`]: `result_id, role, content, reasoning,
/// refusal`.
fn message_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        role: parse_col(row, 1, Role::parse)?,
        content: row.get(2)?,
        reasoning: row.get(3)?,
        refusal: row.get(4)?,
    })
}

/// A verdict of the columns `result_id, judge, label, reason, confidence`
/// ([`Verdict::from_parts`]: a scored verdict's reason is its note).
fn verdict_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Verdict> {
    let reason: Option<String> = row.get(3)?;
    // NULL is how SQLite keeps a NaN.
    let confidence = row.get::<_, Option<f64>>(4)?.unwrap_or(f64::NAN);
    let judge: String = row.get(1)?;
    parse_col(row, 2, |label| {
        Verdict::from_parts(label, reason.as_deref(), confidence, judge).ok()
    })
}

/// The columns of [`results_query`] that [`result_from_row`] reads; an
/// extra column comes after them.
const RESULT_COLUMNS: usize = 23;

/// The results of `condition` with their case and last error, in the
/// order results are listed; read by [`result_from_row`]. `extra`, when
/// not empty, is one more column, at index [`RESULT_COLUMNS`].
fn results_query(condition: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        "SELECT r.id, r.run_id, r.target, r.strategy, r.suite, r.case_id, r.sample, r.status,
                r.finish_reason, r.complied_at_turn, r.started_ms, r.latency_ms,
                c.case_id, c.prompt, c.type, c.label, c.focus, c.note,
                e.kind, e.message, e.attempts, r.opening, {ANSWERED}{extra}
         FROM results r
         JOIN cases c ON c.run_id = r.run_id AND c.suite = r.suite AND c.case_id = r.case_id
         LEFT JOIN errors e
                ON r.status = 'error'
               AND e.id = (SELECT max(id) FROM errors WHERE result_id = r.id)
         WHERE {condition}
         ORDER BY r.target, r.strategy, r.suite, c.ordinal, r.sample"
    )
}

/// A result of a row of [`results_query`], without its messages and
/// verdicts.
fn result_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredResult> {
    let id: i64 = row.get(0)?;
    let done = row.get::<_, String>(7)? == "done";
    let answered: bool = row.get(22)?;
    let transcript = answered.then(|| -> rusqlite::Result<Transcript> {
        Ok(Transcript {
            messages: Vec::new(), // filled in by the caller
            finish_reason: row
                .get::<_, Option<String>>(8)?
                .map(|s| FinishReason::parse(&s)),
            complied_at_turn: row.get(9)?,
            opening: row.get(21)?,
        })
    });
    let timing = answered.then(|| -> rusqlite::Result<Timing> {
        Ok(Timing {
            started_ms: row.get::<_, Option<i64>>(10)?.unwrap_or(0),
            latency_ms: row.get::<_, Option<i64>>(11)?.unwrap_or(0).max(0) as u64,
        })
    });
    let error = match row.get::<_, Option<String>>(18)? {
        Some(kind) if !done => Some(StoredError {
            kind,
            message: row.get(19)?,
            attempts: row.get(20)?,
        }),
        _ => None,
    };
    Ok(StoredResult {
        id,
        key: ResultKey {
            run_id: row.get(1)?,
            target: row.get(2)?,
            strategy: row.get(3)?,
            suite: row.get(4)?,
            case_id: row.get(5)?,
            sample: row.get(6)?,
        },
        case: case_from_row(row, 12)?,
        transcript: transcript.transpose()?,
        verdicts: Vec::new(),
        error,
        timing: timing.transpose()?,
    })
}

#[cfg(test)]
mod tests;
