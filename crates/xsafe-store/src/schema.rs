//! Versioned migrations: an ordered list of SQL scripts, the version applied
//! kept in `PRAGMA user_version`.

use crate::StoreError;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

/// The migrations, in order: script `i` takes the schema from version `i` to
/// `i + 1`. Only ever append; a released script must never change, because
/// files migrated by it exist.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_opening.sql"),
    include_str!("migrations/0003_ids_never_reused.sql"),
    include_str!("migrations/0004_texts_once_per_run.sql"),
    include_str!("migrations/0005_verdict_notes.sql"),
];

/// The schema version this build writes and reads: the number of migrations.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `PRAGMA application_id` of xsafe run stores ("xsaf" in ASCII), so that a
/// `--db` pointing at some other SQLite file is refused instead of having
/// xsafe's tables added to it.
pub const APPLICATION_ID: i32 = 0x7873_6166;

/// The hash by which a run's message texts are found (`texts.hash`, see
/// the fourth migration): the 64-bit FNV-1a of `bytes`, kept by its bit
/// pattern. Stored in files, and given to that migration as
/// `xsafe_text_hash`, so it must never change.
pub(crate) fn text_hash(bytes: &[u8]) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

/// Gives the migrations [`text_hash`] as the SQL function
/// `xsafe_text_hash(text)`.
pub(crate) fn define_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::ValueRef;
    conn.create_scalar_function(
        "xsafe_text_hash",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| match ctx.get_raw(0) {
            ValueRef::Text(bytes) | ValueRef::Blob(bytes) => Ok(text_hash(bytes)),
            other => Err(rusqlite::Error::UserFunctionError(
                format!("xsafe_text_hash takes a text, not {}", other.data_type()).into(),
            )),
        },
    )
}

/// Reads the file's schema version and refuses files that are not xsafe run
/// stores or are newer than `supported`. Only reads: a refused file is left
/// exactly as it was.
///
/// Its reads are one snapshot of the file: another process making the same
/// new store meanwhile (its first migration, tables and version at once)
/// must not be seen half-way, as version 0 with tables, which is another
/// program's file.
pub(crate) fn check(conn: &Connection, location: &str, supported: i64) -> Result<i64, StoreError> {
    // Deferred: it takes no lock until its first read, and only reads.
    // Dropped at the end, which ends it.
    let _snapshot = conn
        .unchecked_transaction()
        .map_err(|e| open_error(location, e))?;
    let read = |pragma: &str| -> Result<i64, StoreError> {
        conn.pragma_query_value(None, pragma, |row| row.get(0))
            .map_err(|e| open_error(location, e))
    };
    let version = read("user_version")?;
    let app_id = read("application_id")?;
    if version > 0 && app_id != i64::from(APPLICATION_ID) {
        return Err(StoreError::NotAStore {
            path: location.to_string(),
            why: format!("its SQLite application id is {app_id:#x}, not xsafe's"),
        });
    }
    if version > supported {
        return Err(StoreError::TooNew {
            path: location.to_string(),
            found: version,
            supported,
        });
    }
    if version == 0 {
        let objects: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
                [],
                |row| row.get(0),
            )
            .map_err(|e| open_error(location, e))?;
        if objects > 0 {
            return Err(StoreError::NotAStore {
                path: location.to_string(),
                why: "it already holds tables of something else".into(),
            });
        }
    }
    Ok(version)
}

/// Applies the migrations the file lacks, each in its own transaction, so a
/// failure leaves the file at the last version that fully applied.
///
/// Foreign keys are off while the scripts run, so that a script may rebuild
/// a table the way SQLite documents it (create the new table, copy, drop
/// the old one, rename): with them on, dropping `runs` would cascade and
/// delete every result. Each script's transaction checks the keys before
/// it commits instead, so a script cannot leave a dangling reference.
/// The scripts may call the SQL functions of [`define_functions`].
pub(crate) fn migrate(
    conn: &mut Connection,
    location: &str,
    migrations: &[&str],
) -> Result<(), StoreError> {
    let current = check(conn, location, migrations.len() as i64)?;
    if current >= migrations.len() as i64 {
        return Ok(());
    }
    let on: bool = conn
        .pragma_query_value(None, "foreign_keys", |row| row.get(0))
        .map_err(|e| open_error(location, e))?;
    define_functions(conn).map_err(|e| open_error(location, e))?;
    // Outside a transaction: inside one the pragma does nothing.
    conn.pragma_update(None, "foreign_keys", false)
        .map_err(|e| open_error(location, e))?;
    let applied = apply(conn, location, migrations, current);
    let restored = conn
        .pragma_update(None, "foreign_keys", on)
        .map_err(|e| open_error(location, e));
    applied.and(restored)?;
    compact(conn);
    Ok(())
}

/// Gives back to the file system the space the migrations just freed. A
/// migration that rebuilds a table leaves the old table's pages free, and
/// SQLite only reuses free pages for new rows: after the fourth migration
/// a store of 60,000 few-shot answers (490 MB) stayed 560 MB on disk with
/// 84 MB of it in use, and one of short answers, each said once, nearly
/// doubled (a third of it free). `VACUUM` copies only the pages in use
/// (under a second there), then the write-ahead log it went through is
/// emptied.
///
/// Best effort, and it never waits: another process reading or writing the
/// store now (a proxy, an annotation page, an SQL shell) makes it give up
/// at once rather than hold the store's write lock while it waits, and a
/// store that is not compacted (that, or a full disk) is as sound as one
/// that is; its free pages go to the next runs.
fn compact(conn: &Connection) {
    let pages = |pragma: &str| conn.pragma_query_value(None, pragma, |row| row.get::<_, i64>(0));
    let Ok(total) = pages("page_count") else {
        return;
    };
    let Ok(free) = pages("freelist_count") else {
        return;
    };
    if free * 10 <= total || conn.busy_timeout(std::time::Duration::ZERO).is_err() {
        return;
    }
    let _ = conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);");
    let _ = conn.busy_timeout(crate::BUSY_TIMEOUT);
}

/// What a failure of the migration to `version` is: one with a fix of its
/// own (locked, read-only, damaged) says that fix, a full disk says where
/// the migration needs room, the rest name the migration. The file stays
/// at the last version either way.
pub(crate) fn migration_error(location: &str, version: i64, source: rusqlite::Error) -> StoreError {
    match crate::error::classify(location, source) {
        StoreError::Sqlite { error, .. } => StoreError::Migration {
            path: location.to_string(),
            version,
            source: error,
        },
        StoreError::DiskFull { .. } => StoreError::MigrationDiskFull {
            path: location.to_string(),
            version,
        },
        known => known,
    }
}

/// Applies `migrations` after the first `current`, one transaction each.
fn apply(
    conn: &mut Connection,
    location: &str,
    migrations: &[&str],
    current: i64,
) -> Result<(), StoreError> {
    for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let fail = |source| migration_error(location, version, source);
        // IMMEDIATE takes the write lock up front: two processes opening a
        // new file at once queue here instead of both applying the script.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        let now: i64 = tx
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(fail)?;
        if now >= version {
            // Another process got here first.
            continue;
        }
        tx.execute_batch(sql).map_err(fail)?;
        let dangling: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |row| row.get(0))
            .optional()
            .map_err(fail)?;
        if let Some(table) = dangling {
            return Err(fail(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!(
                    "a row of table `{table}` refers to a row that is not there"
                )),
            )));
        }
        tx.pragma_update(None, "user_version", version)
            .map_err(fail)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
    Ok(())
}

/// An error met while opening: "not a database" is told apart (the file may
/// be something else given by mistake), and the failures with a fix of
/// their own (read-only, locked, damaged, disk full) get it; the rest are
/// [`StoreError::Open`].
pub(crate) fn open_error(location: &str, source: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    match source.sqlite_error_code() {
        Some(NotADatabase) => StoreError::NotAStore {
            path: location.to_string(),
            why: "it is not a SQLite database (if it was a run store, it is damaged: move it \
                  aside and restore a backup copy to that path)"
                .into(),
        },
        Some(ReadOnly | DatabaseBusy | DatabaseLocked | DatabaseCorrupt | DiskFull) => {
            crate::error::classify(location, source)
        }
        _ => StoreError::Open {
            path: location.to_string(),
            error: source,
        },
    }
}
