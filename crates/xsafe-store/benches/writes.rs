//! What a stored result writes to disk, and what the smaller pages of a
//! new store ([`xsafe_store::PAGE_SIZE`]) save, measured against a store
//! of SQLite's default 4 KB pages (every store an older xsafe made) in
//! the same run: the same results recorded through the store's API, one
//! transaction each as a run records them, into each file.
//!
//! For each: the bytes the process wrote per result (`wchar` of
//! `/proc/self/io`: what it handed to `write`, the write-ahead log and the
//! checkpoints copying it back into the file; and `write_bytes`: what
//! reached the page cache to be written to the disk, as `/usr/bin/time`'s
//! "File system outputs" counts it), the file's size once closed, the
//! time to record the results and to read them back (every outline, then
//! every message a chunk at a time, as `export` reads them). Then, on the
//! new store, what looking for damage before `runs list`
//! (`Store::check_index_counts`) costs against `list_runs` itself.
//!
//! Two runs are measured: baseline answers (the case's question and an
//! answer of about 600 bytes), and few-shot answers, which all carry the
//! same 3 KB set-up (stored once per run).
//!
//! A benchmark (ratios against the baseline in the same run, as every
//! speed and size figure of the project): `cargo bench -p xsafe-store
//! --bench writes`, 20,000 results by default (`XSAFE_WRITES_RESULTS=N`),
//! each time the fastest of 3 rounds (`XSAFE_WRITES_ROUNDS`); the bytes
//! are the same every round. Linux only (`/proc/self/io`).

mod common;

use common::{cases, set_up, transcript};
use rusqlite::Connection;
use std::path::Path;
use std::time::{Duration, Instant};
use xsafe_core::{Case, Class, Message, Verdict};
use xsafe_store::{ResultKey, RunSpec, Store, StoreError, Timing};

const TARGETS: [&str; 4] = ["openai:a", "openai:b", "openai:c", "openai:d"];

/// A counter of `/proc/self/io`: `wchar` or `write_bytes`.
fn io(field: &str) -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io (Linux only)");
    io.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(": "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/io"))
}

/// What one store took for one run.
struct Figures {
    page_size: i64,
    /// Per result.
    wchar: u64,
    /// Per result.
    write_bytes: u64,
    file: u64,
    record: Duration,
    read: Duration,
    /// `list_runs`, and the damage check after it.
    list: Duration,
    check: Duration,
}

/// A new, empty store file at `path` of `page_size` pages, in WAL mode:
/// what an xsafe made before [`xsafe_store::PAGE_SIZE`] (4,096), which
/// [`Store::open`] then sets up with the pages it has.
fn empty_file(path: &Path, page_size: i64) {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "page_size", page_size).unwrap();
    let _mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
        .unwrap();
}

fn measure(path: &Path, page_size: Option<i64>, cases: &[Case], set_up: &[Message]) -> Figures {
    if let Some(size) = page_size {
        empty_file(path, size);
    }
    let store = Store::open(path).unwrap();
    let run = store
        .open_run(&RunSpec {
            name: "writes".into(),
            key: "k".into(),
            config: serde_json::json!({"judge": {"name": "strmatch"}}),
            suites: vec![("s".into(), "f".into())],
            seed: 0,
            tool_version: "bench".into(),
        })
        .unwrap();
    store.add_cases(run.id, "s", cases).unwrap();
    let verdict = Verdict::scored(Class::Compliance, 0.9, "strmatch@1");
    let (wchar, write_bytes) = (io("wchar"), io("write_bytes"));
    let started = Instant::now();
    for case in cases {
        for target in TARGETS {
            let key = ResultKey {
                run_id: run.id,
                target: target.into(),
                strategy: "s".into(),
                suite: "s".into(),
                case_id: case.id.clone(),
                sample: 0,
            };
            store
                .record_result(
                    &key,
                    &transcript(set_up, case, target),
                    &verdict,
                    Timing::default(),
                )
                .unwrap();
        }
    }
    let record = started.elapsed();
    let results = (cases.len() * TARGETS.len()) as u64;
    let wchar = (io("wchar") - wchar) / results;
    let write_bytes = (io("write_bytes") - write_bytes) / results;
    drop(store);
    let file = std::fs::metadata(path).unwrap().len();

    let store = Store::open_existing(path).unwrap();
    let started = Instant::now();
    let outlines = store.outlines(run.id).unwrap();
    let mut read = 0;
    store
        .each_with_messages(outlines, |r| {
            read += r.transcript.map_or(0, |t| t.messages.len());
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let read_time = started.elapsed();
    assert_eq!(read, results as usize * (set_up.len() + 2));
    let started = Instant::now();
    assert_eq!(store.list_runs().unwrap()[0].results, results);
    let list = started.elapsed();
    let started = Instant::now();
    store.check_index_counts().unwrap();
    let check = started.elapsed();
    let page_size = Connection::open(path)
        .unwrap()
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    Figures {
        page_size,
        wchar,
        write_bytes,
        file,
        record,
        read: read_time,
        list,
        check,
    }
}

/// The fastest of each timing over the rounds; the bytes of the first.
fn best(rounds: Vec<Figures>) -> Figures {
    let min = |f: fn(&Figures) -> Duration| rounds.iter().map(f).min().unwrap();
    Figures {
        record: min(|f| f.record),
        read: min(|f| f.read),
        list: min(|f| f.list),
        check: min(|f| f.check),
        ..rounds.into_iter().next().unwrap()
    }
}

fn report(name: &str, results: usize, old: &Figures, new: &Figures) {
    let kb = |b: u64| b as f64 / 1000.0;
    let mb = |b: u64| b as f64 / 1e6;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ratio = |a: f64, b: f64| a / b;
    println!("{name}: {results} results");
    for (label, f) in [("baseline", old), ("now     ", new)] {
        println!(
            "  {label} ({} B pages): per result {:>5.1} kB written ({:>5.1} kB to the disk), \
             file {:>7.2} MB, record {:>8.1} ms, read {:>7.1} ms",
            f.page_size,
            kb(f.wchar),
            kb(f.write_bytes),
            mb(f.file),
            ms(f.record),
            ms(f.read),
        );
    }
    println!(
        "  ratio baseline / now: written {:.2}x, to the disk {:.2}x, file {:.2}x, record {:.2}x, \
         read {:.2}x",
        ratio(old.wchar as f64, new.wchar as f64),
        ratio(old.write_bytes as f64, new.write_bytes.max(1) as f64),
        ratio(old.file as f64, new.file as f64),
        ratio(ms(old.record), ms(new.record)),
        ratio(ms(old.read), ms(new.read)),
    );
    println!(
        "  runs list on the new store: list_runs {:.1} ms, damage check {:.1} ms ({:.2}x the list)",
        ms(new.list),
        ms(new.check),
        ratio(ms(new.check), ms(new.list)),
    );
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env("XSAFE_WRITES_RESULTS", 20_000);
    let rounds = env("XSAFE_WRITES_ROUNDS", 3).max(1);
    let cases = cases(n.div_ceil(TARGETS.len()));
    let results = cases.len() * TARGETS.len();
    // On the disk, not in a tmpfs, for `write_bytes` to count.
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    println!("best of {rounds} rounds, the stores in turn first");
    for (name, set_up) in [("baseline", Vec::new()), ("few-shot", set_up())] {
        let (mut old, mut new) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let path = |layout: &str| dir.path().join(format!("{name}-{layout}-{round}.db"));
            // Each goes first in turn, so that neither always has the
            // caches the other warmed (or the writes it left to flush).
            if round % 2 == 0 {
                old.push(measure(&path("4k"), Some(4096), &cases, &set_up));
                new.push(measure(&path("new"), None, &cases, &set_up));
            } else {
                new.push(measure(&path("new"), None, &cases, &set_up));
                old.push(measure(&path("4k"), Some(4096), &cases, &set_up));
            }
        }
        let (old, new) = (best(old), best(new));
        assert_eq!(
            old.page_size, 4096,
            "the baseline keeps SQLite's default pages"
        );
        assert_eq!(new.page_size, xsafe_store::PAGE_SIZE);
        report(name, results, &old, &new);
    }
}
