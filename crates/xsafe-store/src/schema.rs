//! Versioned migrations: an ordered list of SQL scripts, the version applied
//! kept in `PRAGMA user_version`.

use crate::StoreError;
use rusqlite::{Connection, ErrorCode, TransactionBehavior};

/// The migrations, in order: script `i` takes the schema from version `i` to
/// `i + 1`. Only ever append; a released script must never change, because
/// files migrated by it exist.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_opening.sql"),
];

/// The schema version this build writes and reads: the number of migrations.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `PRAGMA application_id` of xsafe run stores ("xsaf" in ASCII), so that a
/// `--db` pointing at some other SQLite file is refused instead of having
/// xsafe's tables added to it.
pub const APPLICATION_ID: i32 = 0x7873_6166;

/// Reads the file's schema version and refuses files that are not xsafe run
/// stores or are newer than `supported`. Only reads: a refused file is left
/// exactly as it was.
pub(crate) fn check(conn: &Connection, location: &str, supported: i64) -> Result<i64, StoreError> {
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
pub(crate) fn migrate(
    conn: &mut Connection,
    location: &str,
    migrations: &[&str],
) -> Result<(), StoreError> {
    let current = check(conn, location, migrations.len() as i64)?;
    for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
        let version = i as i64 + 1;
        let fail = |source| StoreError::Migration {
            path: location.to_string(),
            version,
            source,
        };
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
        tx.pragma_update(None, "user_version", version)
            .map_err(fail)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
    Ok(())
}

/// An error met while opening, with "not a database" told apart because its
/// fix (pass another path) differs from an I/O problem's.
pub(crate) fn open_error(location: &str, source: rusqlite::Error) -> StoreError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreError::NotAStore {
            path: location.to_string(),
            why: "it is not a SQLite database".into(),
        },
        _ => StoreError::Open {
            path: location.to_string(),
            error: source,
        },
    }
}
