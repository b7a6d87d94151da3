//! What reading and writing a store leaves on disk: reads a chunk at a
//! time that hold no read transaction between chunks (which would keep
//! the write-ahead log growing while a run writes), the log cut back
//! after a long-held snapshot, the pages of a new store, the space a
//! deleted run leaves given back by `compact`, and the damage a copy made
//! while a run wrote leaves found before `runs list` shows it.

use std::path::{Path, PathBuf};
use xsafe_core::{Case, Class, FinishReason, Label, Message, Transcript, Verdict};
use xsafe_store::{
    JOURNAL_SIZE_LIMIT, PAGE_SIZE, READ_CHUNK, ResultKey, RunSpec, Store, StoreError, Timing,
};

fn spec(name: &str) -> RunSpec {
    RunSpec {
        name: name.into(),
        key: format!("key of {name}"),
        config: serde_json::json!({"judge": {"name": "strmatch"}}),
        suites: vec![("s".into(), "f".into())],
        seed: 1,
        tool_version: "0.1.0".into(),
    }
}

/// A run named `name` of `n` cases, `c1`...
fn run_of(store: &Store, name: &str, n: usize) -> i64 {
    let run = store.open_run(&spec(name)).unwrap();
    let cases: Vec<Case> = (1..=n)
        .map(|i| Case {
            id: format!("c{i}"),
            prompt: format!("How do I kill the stuck process number {i}?"),
            kind: "homonyms".into(),
            label: Label::Safe,
            focus: None,
            note: None,
        })
        .collect();
    store.add_cases(run.id, "s", &cases).unwrap();
    run.id
}

/// Records `target`'s answers of `answer_bytes` bytes to cases `cases` of
/// run `run_id`; the id of the last.
fn answer(
    store: &Store,
    run_id: i64,
    target: &str,
    cases: impl IntoIterator<Item = usize>,
    answer_bytes: usize,
) -> i64 {
    let mut last = 0;
    for i in cases {
        let key = ResultKey {
            run_id,
            target: target.into(),
            strategy: "baseline".into(),
            suite: "s".into(),
            case_id: format!("c{i}"),
            sample: 0,
        };
        let text = format!("{target} answers {i}: use `kill`. ");
        let transcript = Transcript {
            messages: vec![
                Message::user(format!("How do I kill the stuck process number {i}?")),
                Message::assistant(text.repeat(answer_bytes / text.len() + 1)),
            ],
            finish_reason: Some(FinishReason::Stop),
            complied_at_turn: None,
            opening: Some(1),
        };
        let verdict = Verdict::scored(Class::Compliance, 0.9, "strmatch@1");
        last = store
            .record_result(&key, &transcript, &verdict, Timing::default())
            .unwrap();
    }
    last
}

fn wal(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", path.display()))
}

/// The size of the store's write-ahead log file; 0 when there is none.
fn wal_size(path: &Path) -> u64 {
    std::fs::metadata(wal(path)).map_or(0, |m| m.len())
}

/// `PRAGMA wal_checkpoint(TRUNCATE)` from a connection of its own that
/// waits for nobody: whether a reader kept it from finishing (SQLite's
/// "busy"), then the size of the log file after it.
fn checkpoint(path: &Path) -> (bool, u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(std::time::Duration::ZERO).unwrap();
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .unwrap();
    drop(conn);
    (busy != 0, wal_size(path))
}

fn page_size(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap()
}

/// The bug this guards: `xsafe export RUN | (sleep 40; ...)` during a run
/// grew the store's `-wal` file to 741 MB, because the export read the
/// conversations in one read transaction for as long as its reader took
/// them, and no checkpoint could pass it. Reading a chunk at a time, the
/// log is copied back and emptied while the reading is paused between
/// chunks, whatever a writer wrote meanwhile; a snapshot held as long
/// does keep it.
#[test]
fn reading_a_chunk_at_a_time_leaves_the_log_free_between_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let reader = Store::open(&path).unwrap();
    let cases = READ_CHUNK + 40;
    let run_id = run_of(&reader, "read", cases);
    answer(&reader, run_id, "openai:a", 1..=cases, 300);
    let writer = Store::open(&path).unwrap();

    // Between the chunks of `each_with_messages`, then of
    // `for_each_result`, the writer stores a target's answers and the
    // log is emptied.
    let mut read = 0;
    let outlines = reader.outlines(run_id).unwrap();
    reader
        .each_with_messages(outlines, |r| {
            read += 1;
            assert_eq!(r.transcript.unwrap().messages.len(), 2);
            if read == 1 {
                answer(&writer, run_id, "openai:b", 1..=100, 300);
                assert!(wal_size(&path) > 0);
                assert_eq!(checkpoint(&path), (false, 0), "the log was held");
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    assert_eq!(read, cases);
    let mut read = 0;
    reader
        .for_each_result(run_id, |_| {
            read += 1;
            if read == 1 {
                answer(&writer, run_id, "openai:c", 1..=100, 300);
                assert_eq!(checkpoint(&path), (false, 0), "the log was held");
            }
            Ok::<_, StoreError>(())
        })
        .unwrap();
    // Which results is read when the reading begins: openai:c's were not
    // there yet.
    assert_eq!(read, cases + 100);

    // A snapshot held while the writer writes keeps the log.
    let run = reader.run_by_id(run_id).unwrap();
    reader
        .snapshot(|snap| {
            snap.outlines(&run)?;
            answer(&writer, run_id, "openai:d", 1..=100, 300);
            let (busy, size) = checkpoint(&path);
            assert!(busy && size > 0, "{busy} {size}");
            Ok::<_, StoreError>(())
        })
        .unwrap();
    assert_eq!(checkpoint(&path), (false, 0));
}

/// A result deleted while a run is read a chunk at a time (`runs delete`
/// in another process) stops the reading with an error that says so:
/// what was handed out before is not the whole run, and must not pass for
/// it.
#[test]
fn a_run_deleted_between_chunks_stops_the_reading_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let reader = Store::open(&path).unwrap();
    let writer = Store::open(&path).unwrap();
    let cases = READ_CHUNK + 10;
    for read_whole in [false, true] {
        let name = format!("gone-{read_whole}");
        let run_id = run_of(&reader, &name, cases);
        answer(&reader, run_id, "openai:a", 1..=cases, 100);
        let mut read = 0;
        let each = |_| {
            read += 1;
            if read == 1 {
                writer.delete_run(run_id).unwrap();
            }
            Ok::<_, StoreError>(())
        };
        let err = if read_whole {
            reader.for_each_result(run_id, each)
        } else {
            let outlines = reader.outlines(run_id).unwrap();
            reader.each_with_messages(outlines, each)
        }
        .unwrap_err();
        assert_eq!(read, READ_CHUNK, "the first chunk, read before the delete");
        assert!(
            matches!(err, StoreError::ResultDeleted { run_id: r, .. } if r == run_id),
            "{err:?}"
        );
        let message = err.to_string();
        for part in [
            path.display().to_string().as_str(),
            "was deleted",
            "while this command read the run",
            "not the whole run",
        ] {
            assert!(message.contains(part), "`{part}` missing from: {message}");
        }
    }
}

/// `messages_of` reads the messages of several results at once, each as
/// `messages` reads it, none for a failed request; a result not stored
/// is named.
#[test]
fn messages_of_reads_each_results_messages() {
    let store = Store::open_in_memory().unwrap();
    let run_id = run_of(&store, "m", 3);
    let a = answer(&store, run_id, "openai:a", [1], 10);
    let b = answer(&store, run_id, "openai:a", [2], 20);
    let key = ResultKey {
        run_id,
        target: "openai:a".into(),
        strategy: "baseline".into(),
        suite: "s".into(),
        case_id: "c3".into(),
        sample: 0,
    };
    store.record_error(&key, "timeout", "slow", 2).unwrap();
    let failed = store.outlines(run_id).unwrap()[2].id;
    let read = store.messages_of(&[b, failed, a]).unwrap();
    assert_eq!(read.len(), 3);
    for id in [a, b, failed] {
        assert_eq!(read[&id], store.messages(id).unwrap());
    }
    assert!(read[&failed].is_empty());
    assert_eq!(read[&a].len(), 2);
    assert!(store.messages_of(&[]).unwrap().is_empty());
    assert!(matches!(
        store.messages_of(&[a, b + 100]),
        Err(StoreError::ResultNotFound(id)) if id == b + 100
    ));
}

/// The log a long-held snapshot made grow beyond the limit is cut back to
/// it once the snapshot ends and the writer goes on (it stayed hundreds
/// of megabytes until the last process closed the store).
#[test]
fn the_log_a_long_snapshot_made_grow_is_cut_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let reader = Store::open(&path).unwrap();
    let writer = Store::open(&path).unwrap();
    let cases = 600;
    let run_id = run_of(&writer, "long", cases);
    let run = reader.run_by_id(run_id).unwrap();
    reader
        .snapshot(|snap| {
            snap.outlines(&run)?;
            answer(&writer, run_id, "openai:a", 1..=cases - 3, 4000);
            Ok::<_, StoreError>(())
        })
        .unwrap();
    let grown = wal_size(&path);
    assert!(grown > JOURNAL_SIZE_LIMIT as u64, "{grown} bytes");
    // The first commit copies the log back into the file, the next
    // starts it again and cuts the file.
    answer(&writer, run_id, "openai:a", cases - 2..=cases, 4000);
    let cut = wal_size(&path);
    assert!(
        cut <= JOURNAL_SIZE_LIMIT as u64,
        "{cut} bytes, from {grown}"
    );
}

/// A new store takes the smaller pages; a store an older xsafe made with
/// SQLite's default keeps its own, as SQLite cannot change them in WAL
/// mode.
#[test]
fn a_new_store_has_small_pages_and_an_older_one_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.db");
    drop(Store::open(&new).unwrap());
    assert_eq!(page_size(&new), PAGE_SIZE);

    let older = dir.path().join("older.db");
    older_empty_store(&older);
    let store = Store::open(&older).unwrap();
    let run_id = run_of(&store, "older", 3);
    answer(&store, run_id, "openai:a", 1..=3, 100);
    drop(store);
    assert_eq!(page_size(&older), 4096);
    assert_eq!(
        Store::open(&older).unwrap().results(run_id).unwrap().len(),
        3
    );
}

/// An empty store file at `path` with SQLite's default pages of 4 KB, in
/// WAL mode, as an xsafe before [`PAGE_SIZE`] began every store.
fn older_empty_store(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "page_size", 4096).unwrap();
    let _mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))
        .unwrap();
}

/// The size of the store file and its log.
fn on_disk(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len() + wal_size(path)
}

/// The bug this guards: `runs delete` of a run of 240,000 answers left the
/// store its size (168 MB for the 40,000 kept): SQLite keeps a deleted
/// run's pages for the next runs. `compact` gives them back, keeps every
/// other run as it was, and ids are still never given out twice.
#[test]
fn compacting_gives_back_what_a_deleted_run_took_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let store = Store::open(&path).unwrap();
    let big = run_of(&store, "big", 800);
    let last_id = answer(&store, big, "openai:a", 1..=800, 2000);
    let kept = run_of(&store, "kept", 20);
    answer(&store, kept, "openai:a", 1..=20, 2000);
    let results = store.results(kept).unwrap();
    let list = store.list_runs().unwrap();
    store.delete_run(big).unwrap();
    let before = on_disk(&path);
    assert!(before > 2_000_000, "{before} bytes");

    let done = store.compact().unwrap();
    assert_eq!(done.before, before);
    assert_eq!(done.after, on_disk(&path));
    assert!(done.after * 10 < done.before, "{done:?}");
    assert!(!done.readers);
    assert_eq!(
        (done.page_size_before, done.page_size),
        (PAGE_SIZE, PAGE_SIZE)
    );
    assert_eq!(store.results(kept).unwrap(), results);
    assert_eq!(store.list_runs().unwrap(), list[..1]);
    store.check_index_counts().unwrap();
    // Ids are not given out again: a new run and its answers get new ones.
    let next = run_of(&store, "next", 1);
    assert!(next > big);
    assert!(answer(&store, next, "openai:a", [1], 10) > last_id);
    drop(store);
    assert_eq!(Store::open(&path).unwrap().results(kept).unwrap(), results);
}

/// A run held by another process (`xsafe run`, `rejudge`) refuses the
/// compaction, naming the run, and nothing changes; once it is released
/// the store compacts.
#[test]
fn compacting_is_refused_while_a_run_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let store = Store::open(&path).unwrap();
    let gone = run_of(&store, "gone", 200);
    answer(&store, gone, "openai:a", 1..=200, 2000);
    let running = run_of(&store, "running", 5);
    store.delete_run(gone).unwrap();
    drop(store);
    let before = std::fs::read(&path).unwrap();

    let runner = Store::open(&path).unwrap();
    let claim = runner
        .lock_run(&runner.run_by_id(running).unwrap())
        .unwrap();
    let store = Store::open(&path).unwrap();
    let err = store.compact().unwrap_err();
    assert!(
        matches!(&err, StoreError::RunBusy { name, .. } if name == "running"),
        "{err:?}"
    );
    drop(store);
    drop(runner);
    assert_eq!(std::fs::read(&path).unwrap(), before, "the store changed");
    drop(claim);
    let store = Store::open(&path).unwrap();
    let done = store.compact().unwrap();
    assert!(done.after < done.before, "{done:?}");
}

/// A store made with SQLite's default pages gets the smaller ones when it
/// is compacted with no other process having it open, every answer kept;
/// with another connection open, it is compacted with the pages it has.
#[test]
fn compacting_an_older_store_alone_gives_it_the_smaller_pages() {
    let dir = tempfile::tempdir().unwrap();
    for alone in [false, true] {
        let path = dir.path().join(format!("older-{alone}.db"));
        older_empty_store(&path);
        let store = Store::open(&path).unwrap();
        let run_id = run_of(&store, "older", 50);
        answer(&store, run_id, "openai:a", 1..=50, 3000);
        let results = store.results(run_id).unwrap();
        let other = (!alone).then(|| {
            let conn = rusqlite::Connection::open(&path).unwrap();
            let _: i64 = conn
                .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
                .unwrap();
            conn
        });
        let done = store.compact().unwrap();
        let expected = if alone { PAGE_SIZE } else { 4096 };
        assert_eq!(
            (done.page_size_before, done.page_size),
            (4096, expected),
            "{done:?}"
        );
        drop(other);
        assert_eq!(store.results(run_id).unwrap(), results);
        drop(store);
        assert_eq!(page_size(&path), expected);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.results(run_id).unwrap(), results);
        store.check_index_counts().unwrap();
        // The store is in WAL mode again.
        let mode: String = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

/// The bug this guards: `runs list` of a copy made with `cp` while a run
/// wrote the store listed the runs as if nothing were wrong, while `runs
/// show`, `report` and `export` refused it as damaged. Such a copy holds
/// pages from before and after a write: here, the index `runs list`
/// counts results by is the one of 20 results while the table holds 30,
/// so the list says 20. Counting each index against its table finds it.
#[test]
fn an_index_out_of_step_with_its_table_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before.db");
    let store = Store::open(&before).unwrap();
    let run_id = run_of(&store, "copied", 30);
    answer(&store, run_id, "openai:a", 1..=20, 100);
    store.check_index_counts().unwrap();
    drop(store); // the last connection folds the log into the file
    let after = dir.path().join("after.db");
    std::fs::copy(&before, &after).unwrap();
    let store = Store::open(&after).unwrap();
    answer(&store, run_id, "openai:a", 21..=30, 100);
    store.check_index_counts().unwrap();
    drop(store);

    // The index's one page as it was before the last ten results.
    let root: i64 = rusqlite::Connection::open(&after)
        .unwrap()
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = 'results_by_status'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let size = page_size(&after) as usize;
    let page = (root as usize - 1) * size..root as usize * size;
    let mut bytes = std::fs::read(&after).unwrap();
    bytes[page.clone()].copy_from_slice(&std::fs::read(&before).unwrap()[page]);
    std::fs::write(&after, bytes).unwrap();

    let store = Store::open_existing(&after).unwrap();
    assert_eq!(
        store.list_runs().unwrap()[0].results,
        20,
        "the list is wrong"
    );
    let err = store.check_index_counts().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    for part in [
        after.display().to_string().as_str(),
        "is damaged",
        "index `results_by_status` holds 20 entries for the 30 rows of table `results`",
        "move it aside",
        "backup",
    ] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    // A store with nothing in it, or in memory, is sound.
    let empty = dir.path().join("empty.db");
    Store::open(&empty).unwrap().check_index_counts().unwrap();
    Store::open_in_memory()
        .unwrap()
        .check_index_counts()
        .unwrap();
}

/// Another process reading the store (a slow export, an SQL shell) does
/// not stop the compaction, which says so: the store is compacted, and
/// the file shrinks once the reader is done.
#[test]
fn compacting_while_another_process_reads_shrinks_the_file_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let store = Store::open(&path).unwrap();
    let gone = run_of(&store, "gone", 400);
    answer(&store, gone, "openai:a", 1..=400, 2000);
    let kept = run_of(&store, "kept", 5);
    answer(&store, kept, "openai:a", 1..=5, 2000);
    store.delete_run(gone).unwrap();
    let results = store.results(kept).unwrap();
    let reader = Store::open(&path).unwrap();
    let run = reader.run_by_id(kept).unwrap();
    let done = reader
        .snapshot(|snap| {
            let outlines = snap.outlines(&run)?;
            let done = store.compact()?;
            // The reader still reads the store as it was.
            assert_eq!(outlines.len(), 5);
            Ok::<_, StoreError>(done)
        })
        .unwrap();
    assert!(done.readers, "{done:?}");
    assert_eq!(store.results(kept).unwrap(), results);
    // The reader is done: the next checkpoint copies the compacted store
    // back into the file, which shrinks.
    let before = std::fs::metadata(&path).unwrap().len();
    assert_eq!(checkpoint(&path), (false, 0));
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(
        after * 5 < done.before && after < before,
        "{after} {done:?}"
    );
    assert_eq!(store.results(kept).unwrap(), results);
}
