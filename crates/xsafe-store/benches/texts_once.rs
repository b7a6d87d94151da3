//! What keeping each message text once per run (schema version 4) saves,
//! measured against the layout before it in the same run: the same
//! results recorded into a store of this xsafe and into a file of the
//! schema of version 3 (made here from the first three migrations and
//! written as xsafe of that version wrote a result: one transaction, each
//! message with its text). For each, the file's size once closed, the
//! time to record the results, to read every message of the run back, and
//! to delete the run.
//!
//! Two runs are measured: few-shot answers, which all carry the same
//! set-up (a system text and four exemplar exchanges, about 3 KB), and
//! baseline answers (the case's question and the answer alone), where
//! little repeats and the new layout must not cost much.
//!
//! A benchmark (ratios against the baseline in the same run, as every
//! speed and size figure of the project): `cargo bench -p xsafe-store
//! --bench texts_once`, 5,000 results by default (`XSAFE_TEXTS_RESULTS=N`
//! for another number), each time the fastest of 3 rounds
//! (`XSAFE_TEXTS_ROUNDS`), as other work on the machine only ever slows a
//! round down.

mod common;

use common::{cases, set_up, transcript};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::time::{Duration, Instant};
use xsafe_core::{Case, Class, FinishReason, Message, Transcript, Verdict};
use xsafe_store::{ResultKey, RunSpec, Store, Timing, judge_name};

/// The schema of version 3, as the first three migrations made it.
const SCHEMA_V3: [&str; 3] = [
    include_str!("../src/migrations/0001_initial.sql"),
    include_str!("../src/migrations/0002_opening.sql"),
    include_str!("../src/migrations/0003_ids_never_reused.sql"),
];

const TARGETS: [&str; 2] = ["openai:a", "openai:b"];

fn verdict() -> Verdict {
    Verdict::scored(Class::Compliance, 0.9, "strmatch@1")
}

fn key(run_id: i64, target: &str, case: &Case) -> ResultKey {
    ResultKey {
        run_id,
        target: target.into(),
        strategy: "few-shot".into(),
        suite: "s".into(),
        case_id: case.id.clone(),
        sample: 0,
    }
}

/// What a layout took for one run.
struct Figures {
    bytes: u64,
    record: Duration,
    read: Duration,
    delete: Duration,
    /// Bytes of message text read back, the same for both layouts.
    read_bytes: usize,
}

/// The size of the closed store at `path` (the last connection folded its
/// write-ahead log into the file).
fn size(path: &Path) -> u64 {
    let wal = std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the store was closed");
    std::fs::metadata(path).unwrap().len()
}

/// Total bytes of the message texts of `rows`, each `(result_id, content)`.
fn text_bytes(
    rows: rusqlite::MappedRows<'_, impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<String>>,
) -> usize {
    rows.map(|r| r.unwrap().len()).sum()
}

/// The run recorded through the store of this xsafe.
fn with_store(path: &Path, cases: &[Case], set_up: &[Message]) -> Figures {
    let store = Store::open(path).unwrap();
    let run = store
        .open_run(&RunSpec {
            name: "texts".into(),
            key: "k".into(),
            config: serde_json::json!({}),
            suites: vec![("s".into(), "f".into())],
            seed: 0,
            tool_version: "bench".into(),
        })
        .unwrap();
    store.add_cases(run.id, "s", cases).unwrap();
    let started = Instant::now();
    for case in cases {
        for target in TARGETS {
            store
                .record_result(
                    &key(run.id, target, case),
                    &transcript(set_up, case, target),
                    &verdict(),
                    Timing::default(),
                )
                .unwrap();
        }
    }
    let record = started.elapsed();
    drop(store);
    let bytes = size(path);

    // Read and deleted on a raw connection, as the baseline is: the same
    // queries but for where the text is.
    let conn = open_raw(path);
    let started = Instant::now();
    let read_bytes = {
        let mut stmt = conn
            .prepare(
                "SELECT t.text
                 FROM messages m JOIN texts t ON t.id = m.text_id
                 JOIN results r ON r.id = m.result_id
                 WHERE r.run_id = ?1 ORDER BY m.result_id, m.idx",
            )
            .unwrap();
        text_bytes(stmt.query_map([run.id], |r| r.get(0)).unwrap())
    };
    let read = started.elapsed();
    let started = Instant::now();
    conn.execute("DELETE FROM runs WHERE id = ?1", [run.id])
        .unwrap();
    let delete = started.elapsed();
    Figures {
        bytes,
        record,
        read,
        delete,
        read_bytes,
    }
}

/// A connection set up as the store sets up its own.
fn open_raw(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "foreign_keys", true).unwrap();
    let _mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
        .unwrap();
    conn.pragma_update(None, "synchronous", "normal").unwrap();
    conn
}

/// The run recorded into a file of schema version 3, each result as xsafe
/// of that version recorded it.
fn with_schema_v3(path: &Path, cases: &[Case], set_up: &[Message]) -> Figures {
    let mut conn = open_raw(path);
    for script in SCHEMA_V3 {
        conn.execute_batch(script).unwrap();
    }
    conn.execute(
        "INSERT INTO runs (name, key, created_at, status, config, seed, tool_version)
         VALUES ('texts', 'k', '2025-01-01T00:00:00Z', 'running', '{}', 0, 'bench')",
        [],
    )
    .unwrap();
    let run_id = conn.last_insert_rowid();
    conn.execute(
        "INSERT INTO run_suites (run_id, position, suite, fingerprint) VALUES (?1, 0, 's', 'f')",
        [run_id],
    )
    .unwrap();
    for (ordinal, case) in cases.iter().enumerate() {
        conn.execute(
            "INSERT INTO cases (run_id, suite, case_id, ordinal, prompt, type, label)
             VALUES (?1, 's', ?2, ?3, ?4, ?5, 'safe')",
            params![run_id, case.id, ordinal as i64, case.prompt, case.kind],
        )
        .unwrap();
    }
    let started = Instant::now();
    for case in cases {
        for target in TARGETS {
            record_v3(
                &mut conn,
                &key(run_id, target, case),
                &transcript(set_up, case, target),
                &verdict(),
            );
        }
    }
    let record = started.elapsed();
    drop(conn);
    let bytes = size(path);

    let conn = open_raw(path);
    let started = Instant::now();
    let read_bytes = {
        let mut stmt = conn
            .prepare(
                "SELECT m.content
                 FROM messages m JOIN results r ON r.id = m.result_id
                 WHERE r.run_id = ?1 ORDER BY m.result_id, m.idx",
            )
            .unwrap();
        text_bytes(stmt.query_map([run_id], |r| r.get(0)).unwrap())
    };
    let read = started.elapsed();
    let started = Instant::now();
    conn.execute("DELETE FROM runs WHERE id = ?1", [run_id])
        .unwrap();
    let delete = started.elapsed();
    Figures {
        bytes,
        record,
        read,
        delete,
        read_bytes,
    }
}

/// Records a result as `Store::record_result` of schema version 3 did,
/// statement for statement, in one transaction.
fn record_v3(conn: &mut Connection, key: &ResultKey, transcript: &Transcript, verdict: &Verdict) {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let case: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM cases WHERE run_id = ?1 AND suite = ?2 AND case_id = ?3",
            params![key.run_id, key.suite, key.case_id],
            |r| r.get(0),
        )
        .optional()
        .unwrap();
    assert!(case.is_some());
    let id: i64 = tx
        .query_row(
            "INSERT INTO results (run_id, target, strategy, suite, case_id, sample, status,
                                  finish_reason, complied_at_turn, started_ms, latency_ms,
                                  opening)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'done', ?7, ?8, 0, 0, ?9)
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
                transcript.finish_reason.as_ref().map(FinishReason::as_str),
                transcript.complied_at_turn,
                transcript.opening,
            ],
            |r| r.get(0),
        )
        .unwrap();
    for table in ["messages", "verdicts", "annotations"] {
        tx.execute(&format!("DELETE FROM {table} WHERE result_id = ?1"), [id])
            .unwrap();
    }
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO messages (result_id, idx, role, content, reasoning, refusal)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .unwrap();
        for (idx, m) in transcript.messages.iter().enumerate() {
            insert
                .execute(params![
                    id,
                    idx as i64,
                    m.role.as_str(),
                    m.content,
                    m.reasoning,
                    m.refusal
                ])
                .unwrap();
        }
    }
    tx.execute(
        "INSERT INTO verdicts (result_id, judge, judge_name, label, reason, confidence, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, '2025-01-01T00:00:00Z')
         ON CONFLICT (result_id, judge_name) DO UPDATE SET
             judge = excluded.judge,
             label = excluded.label,
             reason = excluded.reason,
             confidence = excluded.confidence,
             created_at = excluded.created_at",
        params![
            id,
            verdict.judge,
            judge_name(&verdict.judge),
            verdict.outcome.label(),
            verdict.outcome.reason(),
            verdict.confidence,
        ],
    )
    .unwrap();
    tx.commit().unwrap();
}

fn report(name: &str, results: usize, old: &Figures, new: &Figures) {
    assert_eq!(old.read_bytes, new.read_bytes, "both read the same texts");
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ratio = |old: Duration, new: Duration| old.as_secs_f64() / new.as_secs_f64();
    println!(
        "{name}: {results} results, {:.1} MiB of message text",
        mib(new.read_bytes as u64)
    );
    for (label, f) in [("baseline: schema 3", old), ("now:      schema 4", new)] {
        println!(
            "  {label}  file {:>8.2} MiB  record {:>8.1} ms  read {:>7.1} ms  delete {:>7.1} ms",
            mib(f.bytes),
            ms(f.record),
            ms(f.read),
            ms(f.delete),
        );
    }
    println!(
        "  ratio baseline / now: file {:.1}x, record {:.2}x, read {:.2}x, delete {:.2}x",
        old.bytes as f64 / new.bytes as f64,
        ratio(old.record, new.record),
        ratio(old.read, new.read),
        ratio(old.delete, new.delete),
    );
}

/// The fastest of each phase over `rounds`, and the size of the file
/// (the same every round).
fn best(rounds: Vec<Figures>) -> Figures {
    let min = |f: fn(&Figures) -> Duration| rounds.iter().map(f).min().unwrap();
    Figures {
        bytes: rounds[0].bytes,
        record: min(|f| f.record),
        read: min(|f| f.read),
        delete: min(|f| f.delete),
        read_bytes: rounds[0].read_bytes,
    }
}

fn main() {
    let n: usize = std::env::var("XSAFE_TEXTS_RESULTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000);
    let rounds: usize = std::env::var("XSAFE_TEXTS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
        .max(1);
    let cases = cases(n.div_ceil(TARGETS.len()));
    let results = cases.len() * TARGETS.len();
    let dir = tempfile::tempdir().unwrap();
    println!("best of {rounds} rounds, the layouts in turn first");
    for (name, set_up) in [("few-shot", set_up()), ("baseline", Vec::new())] {
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let path = |layout: &str| dir.path().join(format!("{name}-{layout}-{round}.db"));
            // Each layout goes first in turn, so that neither always has
            // the caches the other warmed (or the writes it left to flush).
            if round % 2 == 0 {
                old.push(with_schema_v3(&path("v3"), &cases, &set_up));
                new.push(with_store(&path("v4"), &cases, &set_up));
            } else {
                new.push(with_store(&path("v4"), &cases, &set_up));
                old.push(with_schema_v3(&path("v3"), &cases, &set_up));
            }
        }
        report(name, results, &best(old), &best(new));
    }
}
