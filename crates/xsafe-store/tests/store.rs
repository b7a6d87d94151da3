//! The run store through its public API, on real files where it matters
//! (WAL, migrations, several connections).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use xsafe_core::{Case, Class, FinishReason, Label, Message, Role, Transcript, Verdict};
use xsafe_store::{
    CountedFailure, CountedOutcome, OutcomeCount, ResultKey, ResultOutline, RunSpec, RunStatus,
    SCHEMA_VERSION, Store, StoreError, StoredError, Timing,
};

fn spec(name: &str, key: &str) -> RunSpec {
    RunSpec {
        name: name.into(),
        key: key.into(),
        config: serde_json::json!({
            "suites": {"xsafe-basic": "abc"},
            "targets": [{"id": "openai:gpt-4o-mini", "temperature": 0.0}],
            "judge": {"name": "strmatch", "version": "1"},
        }),
        suites: vec![
            ("xsafe-basic".into(), "abc".into()),
            ("xstest".into(), "def".into()),
        ],
        seed: 42,
        tool_version: "0.1.0".into(),
    }
}

fn case(id: &str, label: Label) -> Case {
    Case {
        id: id.into(),
        prompt: format!("prompt {id}"),
        kind: if label == Label::Safe {
            "homonyms"
        } else {
            "contrast_homonyms"
        }
        .into(),
        label,
        focus: Some("kill".into()),
        note: None,
    }
}

fn key(run_id: i64, target: &str, strategy: &str, case_id: &str, sample: u32) -> ResultKey {
    ResultKey {
        run_id,
        target: target.into(),
        strategy: strategy.into(),
        suite: "xsafe-basic".into(),
        case_id: case_id.into(),
        sample,
    }
}

fn transcript(answer: &str) -> Transcript {
    Transcript {
        messages: vec![Message::user("q"), Message::assistant(answer)],
        finish_reason: Some(FinishReason::Stop),
        complied_at_turn: None,
        opening: Some(1),
    }
}

fn verdict() -> Verdict {
    Verdict::scored(Class::Compliance, 0.9, "strmatch@1")
}

/// What `outcome_counts` counts results that failed with `kind` and
/// `message` as.
fn failed_with(kind: &str, message: &str) -> CountedOutcome {
    CountedOutcome::Failed(Some(CountedFailure {
        kind: kind.into(),
        message: message.into(),
    }))
}

/// A store with one run holding cases c1..cN of suite `xsafe-basic`.
fn store_with_run(store: Store, cases: usize) -> (Store, i64) {
    let run = store.open_run(&spec("r1", "k1")).unwrap();
    let cases: Vec<Case> = (1..=cases)
        .map(|i| case(&format!("c{i}"), Label::Safe))
        .collect();
    store.add_cases(run.id, "xsafe-basic", &cases).unwrap();
    (store, run.id)
}

fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn count(path: &Path, sql: &str) -> i64 {
    raw(path).query_row(sql, [], |r| r.get(0)).unwrap()
}

// ----- opening and migrations -----

#[test]
fn a_new_file_is_migrated_to_the_current_version_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/xsafe.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), Some(path.as_path()));
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    const { assert!(SCHEMA_VERSION >= 1) };

    let conn = raw(&path);
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let tables: HashSet<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in [
        "runs",
        "run_suites",
        "cases",
        "results",
        "messages",
        "verdicts",
        "errors",
        "annotations",
    ] {
        assert!(tables.contains(table), "missing table {table}");
    }
}

/// The bug this guards: reading commands opened their store with `open`,
/// so a mistyped `--db` made an empty store, folders and all, and said it
/// had no runs.
#[test]
fn open_existing_refuses_a_path_with_nothing_there_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "x").unwrap();
    let path = dir.path().join("runs.db");
    for missing in [path.clone(), dir.path().join("new/deeper/runs.db")] {
        let err = Store::open_existing(&missing).unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("no run store at `{}`", missing.display())),
            "{message}"
        );
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["plain"], "nothing is created");

    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 1);
    drop(store);
    let store = Store::open_existing(&path).unwrap();
    assert!(!store.is_read_only());
    assert_eq!(store.run_by_id(run_id).unwrap().name, "r1");
}

/// The bug this guards: an empty file at the path (`touch runs.db`) was
/// made a store by reading commands (`runs list` said "no runs yet" and
/// left 98,304 bytes there). It is no store, as a missing file is, and is
/// left empty; `open` makes a store of it as before.
#[test]
fn open_existing_takes_an_empty_file_for_no_store_and_leaves_it_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    std::fs::write(&path, "").unwrap();
    let err = Store::open_existing(&path).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "there is no run store at `{}`: nothing has been run with it yet; check the path \
             (`xsafe run` creates the store)",
            path.display()
        )
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["runs.db"], "nothing is created beside it");

    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 1);
    drop(store);
    assert!(std::fs::metadata(&path).unwrap().len() > 0);
    let store = Store::open_existing(&path).unwrap();
    assert_eq!(store.run_by_id(run_id).unwrap().name, "r1");
}

/// The bug this guards: a path with a file where it needs a folder was
/// "no run store there yet" to commands that read runs, and `File exists
/// (os error 17)` to `run`, naming neither the file in the way. Both name
/// it now, whichever folder on the way it is, and create nothing.
#[test]
fn a_file_where_the_store_path_needs_a_folder_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    std::fs::write(&plain, "x").unwrap();
    for path in [plain.join("runs.db"), plain.join("sub/deeper/runs.db")] {
        let err = Store::open_existing(&path).unwrap_err();
        assert!(
            matches!(&err, StoreError::FileInTheWay { file, .. } if *file == plain),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "there can be no run store at `{}`: `{}` is a file, not a folder; check the \
                 path, or move that file away, or pass another --db path",
                path.display(),
                plain.display()
            )
        );

        let err = Store::open(&path).unwrap_err();
        let folder = path.parent().unwrap();
        assert!(
            matches!(&err, StoreError::CreateDir { path, in_the_way: Some(file), .. }
                if path == folder && *file == plain),
            "{err:?}"
        );
        let message = err.to_string();
        let expected = format!(
            "`{}` is a file, not a folder; move that file away, or pass another --db path",
            plain.display()
        );
        assert!(
            message.starts_with(&format!(
                "cannot create the folder `{}` for the run store: ",
                folder.display()
            )) && message.ends_with(&expected),
            "{message}"
        );
        // The operating system's reason, once.
        assert_eq!(message.matches("(os error").count(), 1, "{message}");
    }
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), "x");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// The bug this guards: a directory given as the store was "unable to open
/// database file; check that the file and its folder can be read and
/// written". It is refused, saying to give a file in it, and nothing is
/// made in it or beside it.
#[test]
fn a_directory_given_as_the_store_is_refused_with_a_file_in_it_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let outdir = dir.path().join("outdir");
    std::fs::create_dir(&outdir).unwrap();
    for open in [Store::open, Store::open_existing] {
        let err = open(&outdir).unwrap_err();
        assert!(matches!(err, StoreError::IsADirectory { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "`{}` is a directory: give the path of the store file in it, e.g. `{}`",
                outdir.display(),
                outdir.join("xsafe.db").display()
            )
        );
    }
    assert_eq!(std::fs::read_dir(&outdir).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // The file it suggests is a store.
    let store = Store::open(&outdir.join("xsafe.db")).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn results_need_a_known_case_and_cases_a_known_run() {
    let (store, run_id) = store_with_run(Store::open_in_memory().unwrap(), 1);
    let err = store
        .record_result(
            &key(run_id, "t", "baseline", "nope", 0),
            &transcript("a"),
            &verdict(),
            Timing::default(),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::CaseNotFound { .. }), "{err}");
    assert!(err.to_string().contains("`nope`"), "{err}");
    let err = store
        .add_cases(999, "s", &[case("c", Label::Safe)])
        .unwrap_err();
    assert!(matches!(err, StoreError::RunNotFound(_)), "{err}");
}

#[test]
fn reopening_an_existing_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("xsafe.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 2);
    store
        .record_result(
            &key(run_id, "t", "baseline", "c1", 0),
            &transcript("a"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    drop(store);
    let schema = |path: &Path| -> Vec<String> {
        raw(path)
            .prepare("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let before = schema(&path);

    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.results(run_id).unwrap().len(), 1);
    assert_eq!(store.run("r1").unwrap().id, run_id);
    drop(store);
    assert_eq!(schema(&path), before);
}

#[test]
fn a_file_from_a_newer_xsafe_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("xsafe.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = raw(&path);
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        // Fold the WAL back into the file so its bytes say everything.
        conn.pragma_update(None, "journal_mode", "delete").unwrap();
    }
    let before = std::fs::read(&path).unwrap();

    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("upgrade xsafe"), "{message}");
    assert!(
        message.contains(&format!("{}", SCHEMA_VERSION + 1)),
        "{message}"
    );

    assert_eq!(std::fs::read(&path).unwrap(), before);
    let mode: String = raw(&path)
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "journal mode must not have been switched");
}

#[test]
fn files_that_are_not_run_stores_are_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();

    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "this is not a database, just a long enough line of text",
    )
    .unwrap();
    let before = std::fs::read(&text).unwrap();
    let err = Store::open(&text).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains("--db"), "{err}");
    assert_eq!(std::fs::read(&text).unwrap(), before);

    let other = dir.path().join("other.db");
    raw(&other)
        .execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY);")
        .unwrap();
    let before = std::fs::read(&other).unwrap();
    let err = Store::open(&other).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert_eq!(std::fs::read(&other).unwrap(), before);

    let versioned = dir.path().join("versioned.db");
    raw(&versioned)
        .execute_batch("PRAGMA user_version = 1;")
        .unwrap();
    let err = Store::open(&versioned).unwrap_err();
    assert!(err.to_string().contains("application id"), "{err}");
}

// ----- runs -----

#[test]
fn open_run_creates_then_finds_then_refuses_other_settings() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(store.path(), None);
    let mut s = spec("nightly", "key-a");
    s.seed = u64::MAX; // kept by its bit pattern
    let created = store.open_run(&s).unwrap();
    assert_eq!(created.name, "nightly");
    assert_eq!(created.key, "key-a");
    assert_eq!(created.status, RunStatus::Running);
    assert_eq!(created.config, s.config);
    assert_eq!(created.suites, s.suites);
    assert_eq!(created.seed, u64::MAX);
    assert_eq!(created.tool_version, "0.1.0");
    assert_eq!(created.created_at.len(), "2025-01-01T00:00:00Z".len());
    assert!(created.created_at.ends_with('Z'));

    store
        .set_run_status(created.id, RunStatus::Interrupted)
        .unwrap();
    let found = store.open_run(&s).unwrap();
    assert_eq!(found.id, created.id);
    assert_eq!(
        found.status,
        RunStatus::Interrupted,
        "reopening keeps the status"
    );

    let err = store.open_run(&spec("nightly", "key-b")).unwrap_err();
    assert!(matches!(err, StoreError::RunMismatch { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "run `nightly` already exists with other settings (suite/target/strategy/judge/seed...); \
         pass a new --run name or repeat the original command"
    );
    assert_eq!(store.list_runs().unwrap().len(), 1);
}

/// A run's config is replaced as given, on disk; its key, name, status
/// and suites stay, so the same spec still opens it; a run not stored is
/// refused.
#[test]
fn set_run_config_replaces_the_config_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let store = Store::open(&path).unwrap();
    let s = spec("nightly", "key-a");
    let created = store.open_run(&s).unwrap();
    store
        .set_run_status(created.id, RunStatus::Interrupted)
        .unwrap();
    let mut config = s.config.clone();
    config["targets"][0]["base_urls"] = serde_json::json!(["http://right:8000/v1"]);
    store.set_run_config(created.id, &config).unwrap();
    drop(store);

    let store = Store::open(&path).unwrap();
    let found = store.run("nightly").unwrap();
    assert_eq!(found.config, config);
    assert_eq!(
        (&found.key, found.status, &found.suites, found.seed),
        (
            &created.key,
            RunStatus::Interrupted,
            &created.suites,
            created.seed
        )
    );
    assert_eq!(store.open_run(&s).unwrap().id, created.id);
    let err = store.set_run_config(999, &config).unwrap_err();
    assert!(matches!(err, StoreError::RunNotFound(_)), "{err}");
}

#[test]
fn runs_are_found_by_id_or_name() {
    let store = Store::open_in_memory().unwrap();
    let a = store.open_run(&spec("alpha", "k")).unwrap();
    let b = store.open_run(&spec("beta", "k")).unwrap();
    assert_eq!(store.run(&a.id.to_string()).unwrap(), a);
    assert_eq!(store.run("alpha").unwrap(), a);
    assert_eq!(store.run(&format!(" {}", b.id)).unwrap(), b);
    assert_eq!(store.run_by_id(b.id).unwrap(), b);

    let err = store.run("missing").unwrap_err();
    assert!(matches!(err, StoreError::RunNotFound(_)), "{err}");
    assert!(err.to_string().contains("`missing`"), "{err}");
    assert!(err.to_string().contains("xsafe runs list"), "{err}");
    let err = store.set_run_status(999, RunStatus::Complete).unwrap_err();
    assert!(matches!(err, StoreError::RunNotFound(_)), "{err}");
}

#[test]
fn list_runs_is_newest_first_with_counts() {
    let (store, first) = store_with_run(Store::open_in_memory().unwrap(), 3);
    let second = store.open_run(&spec("r2", "k2")).unwrap().id;
    store
        .record_result(
            &key(first, "t", "baseline", "c1", 0),
            &transcript("a"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    store
        .record_result(
            &key(first, "t", "baseline", "c2", 0),
            &transcript("a"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    // Two failures of one key count once: `errors` is results that failed.
    let failing = key(first, "t", "baseline", "c3", 0);
    store.record_error(&failing, "timeout", "slow", 3).unwrap();
    store.record_error(&failing, "timeout", "slow", 3).unwrap();
    store.set_run_status(first, RunStatus::Complete).unwrap();

    let runs = store.list_runs().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, second);
    assert_eq!((runs[0].results, runs[0].errors, runs[0].cases), (0, 0, 0));
    assert_eq!(runs[1].id, first);
    assert_eq!(runs[1].name, "r1");
    assert_eq!(runs[1].status, RunStatus::Complete);
    assert_eq!((runs[1].results, runs[1].errors, runs[1].cases), (2, 1, 3));
    let json = serde_json::to_value(&runs[1]).unwrap();
    assert_eq!(json["status"], "complete");
    assert_eq!(json["results"], 2);
}

// ----- cases -----

#[test]
fn add_cases_is_idempotent_and_keeps_the_order_added() {
    let store = Store::open_in_memory().unwrap();
    let run = store.open_run(&spec("r", "k")).unwrap().id;
    let first = [case("b", Label::Safe), case("a", Label::Unsafe)];
    store.add_cases(run, "s1", &first).unwrap();
    store.add_cases(run, "s1", &first).unwrap();
    store
        .add_cases(
            run,
            "s1",
            &[case("a", Label::Unsafe), case("c", Label::Safe)],
        )
        .unwrap();
    store
        .add_cases(run, "s2", &[case("a", Label::Safe)])
        .unwrap();
    let cases = store.cases(run).unwrap();
    let ids: Vec<(&str, &str)> = cases
        .iter()
        .map(|(s, c)| (s.as_str(), c.id.as_str()))
        .collect();
    assert_eq!(ids, [("s1", "b"), ("s1", "a"), ("s1", "c"), ("s2", "a")]);
    assert_eq!(cases[1].1, case("a", Label::Unsafe));
    assert_eq!(store.list_runs().unwrap()[0].cases, 4);

    let mut changed = case("a", Label::Unsafe);
    changed.prompt = "another text".into();
    let err = store.add_cases(run, "s1", &[changed]).unwrap_err();
    assert!(matches!(err, StoreError::CaseMismatch { .. }), "{err}");
    assert_eq!(store.cases(run).unwrap().len(), 4);
}

// ----- results -----

#[test]
fn a_result_round_trips_every_field() {
    let (store, run_id) = store_with_run(Store::open_in_memory().unwrap(), 2);
    let t = Transcript {
        messages: vec![
            Message::system("You are helpful."),
            Message::user("How do I kill a Python process?"),
            Message {
                role: Role::Assistant,
                content: String::new(),
                reasoning: Some("they mean an OS process".into()),
                refusal: Some("I can't help with that.".into()),
            },
            Message::user("It is a computer process."),
            Message {
                role: Role::Assistant,
                content: "Use `kill PID` or `pkill -f script.py`.".into(),
                reasoning: Some("fine".into()),
                refusal: None,
            },
        ],
        finish_reason: Some(FinishReason::Other("eos_token".into())),
        complied_at_turn: Some(2),
        opening: Some(2),
    };
    let scored = Verdict::scored(Class::PartialRefusal, 0.75, "llm:judge@3");
    let timing = Timing {
        started_ms: 1_700_000_000_123,
        latency_ms: 456,
    };
    let k = key(run_id, "openai:gpt-4o-mini", "interactive", "c2", 3);
    let id = store.record_result(&k, &t, &scored, timing).unwrap();

    let unscored = Verdict::unscored("empty answer", "strmatch@1");
    let other = key(run_id, "openai:gpt-4o-mini", "baseline", "c1", 0);
    let bare = Transcript {
        messages: vec![Message::user("q"), Message::assistant("")],
        finish_reason: None,
        complied_at_turn: None,
        opening: None,
    };
    let other_id = store
        .record_result(&other, &bare, &unscored, Timing::default())
        .unwrap();

    let stored = store.result(id).unwrap();
    assert_eq!(stored.id, id);
    assert_eq!(stored.key, k);
    assert_eq!(stored.case, case("c2", Label::Safe));
    assert_eq!(stored.transcript.as_ref(), Some(&t));
    assert_eq!(stored.verdicts, vec![scored]);
    assert_eq!(stored.error, None);
    assert_eq!(stored.timing, Some(timing));

    let stored = store.result(other_id).unwrap();
    assert_eq!(stored.transcript, Some(bare));
    assert_eq!(stored.verdicts, vec![unscored.clone()]);
    assert_eq!(stored.verdicts[0].outcome.reason(), Some("empty answer"));

    assert_eq!(store.results(run_id).unwrap().len(), 2);
    let err = store.result(9999).unwrap_err();
    assert!(matches!(err, StoreError::ResultNotFound(9999)), "{err}");
}

/// A scored verdict's note (a provider's refusal) is stored in `reason`
/// (schema version 5) and read back with the verdict, by `result` and
/// `results` alike; rejudging replaces it, and a verdict without a note
/// keeps `reason` NULL.
#[test]
fn a_scored_verdict_with_a_note_is_recorded_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 1);
    let note = "provider refusal: the provider's content filter stopped the reply";
    let noted = Verdict::scored(Class::FullRefusal, 1.0, "xsafe@7").with_note(note);
    let k = key(run_id, "openai:gpt-4o-mini", "baseline", "c1", 0);
    let id = store
        .record_result(&k, &transcript(""), &noted, Timing::default())
        .unwrap();
    let other = verdict().with_note("another judge's note");
    store.put_verdict(id, &other).unwrap();
    assert_eq!(
        count(
            &path,
            &format!(
                "SELECT count(*) FROM verdicts WHERE label = 'full_refusal' AND reason = '{}'",
                note.replace('\'', "''")
            )
        ),
        1
    );
    assert_eq!(
        store.result(id).unwrap().verdicts,
        vec![noted.clone(), other.clone()]
    );
    assert_eq!(
        store.results(run_id).unwrap()[0].verdicts,
        vec![noted, other]
    );
    // Rejudged without a note, the note goes.
    store.put_verdict(id, &verdict()).unwrap();
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM verdicts WHERE judge_name = 'strmatch' AND reason IS NULL"
        ),
        1
    );
    assert_eq!(store.result(id).unwrap().verdicts[1], verdict());
}

#[test]
fn a_nan_confidence_does_not_cost_the_result() {
    let (store, run_id) = store_with_run(Store::open_in_memory().unwrap(), 1);
    let v = Verdict::scored(Class::Compliance, f64::NAN, "odd@1");
    let id = store
        .record_result(
            &key(run_id, "t", "s", "c1", 0),
            &transcript("a"),
            &v,
            Timing::default(),
        )
        .unwrap();
    let stored = store.result(id).unwrap();
    assert!(stored.verdicts[0].confidence.is_nan());
    assert_eq!(stored.verdicts[0].outcome, v.outcome);
}

#[test]
fn recording_a_key_twice_never_duplicates() {
    let (store, run_id) = store_with_run(Store::open_in_memory().unwrap(), 1);
    let k = key(run_id, "t", "baseline", "c1", 0);
    let first = store
        .record_result(&k, &transcript("first"), &verdict(), Timing::default())
        .unwrap();
    store
        .put_verdict(
            first,
            &Verdict::scored(Class::FullRefusal, 1.0, "human-ish@1"),
        )
        .unwrap();
    store
        .annotate(first, "ann", Class::Compliance, None)
        .unwrap();

    let second_verdict = Verdict::scored(Class::FullRefusal, 0.6, "strmatch@1");
    let second = store
        .record_result(
            &k,
            &transcript("second"),
            &second_verdict,
            Timing::default(),
        )
        .unwrap();
    assert_eq!(first, second, "same key, same row");

    let results = store.results(run_id).unwrap();
    assert_eq!(results.len(), 1);
    let t = results[0].transcript.as_ref().unwrap();
    assert_eq!(
        t.messages.len(),
        2,
        "old messages are gone, not appended to"
    );
    assert_eq!(t.final_reply().unwrap().content, "second");
    assert_eq!(
        results[0].verdicts,
        vec![second_verdict],
        "verdicts of the old text are gone"
    );
    assert!(store.annotations(run_id).unwrap().is_empty());
    assert_eq!(store.done_keys(run_id).unwrap(), HashSet::from([k]));
}

#[test]
fn a_success_replaces_a_failure_and_the_history_stays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("xsafe.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 2);
    let k = key(run_id, "t", "baseline", "c1", 0);
    let ok = key(run_id, "t", "baseline", "c2", 0);
    store
        .record_result(&ok, &transcript("fine"), &verdict(), Timing::default())
        .unwrap();

    store
        .record_error(&k, "rate_limited", "HTTP 429", 3)
        .unwrap();
    store
        .record_error(&k, "server_error", "HTTP 500: oops", 5)
        .unwrap();
    assert_eq!(
        store.done_keys(run_id).unwrap(),
        HashSet::from([ok.clone()])
    );
    let failed = store
        .results(run_id)
        .unwrap()
        .into_iter()
        .find(|r| r.key == k)
        .unwrap();
    assert_eq!(failed.transcript, None);
    assert_eq!(failed.timing, None);
    assert!(failed.verdicts.is_empty());
    let error = failed.error.unwrap();
    assert_eq!(
        (error.kind.as_str(), error.message.as_str(), error.attempts),
        ("server_error", "HTTP 500: oops", 5),
        "the last failure is the one shown"
    );
    // Nothing to judge or annotate on a failure.
    let err = store.put_verdict(failed.id, &verdict()).unwrap_err();
    assert!(matches!(err, StoreError::NoTranscript(_)), "{err}");
    let err = store
        .annotate(failed.id, "ann", Class::Compliance, None)
        .unwrap_err();
    assert!(matches!(err, StoreError::NoTranscript(_)), "{err}");

    let id = store
        .record_result(&k, &transcript("finally"), &verdict(), Timing::default())
        .unwrap();
    assert_eq!(id, failed.id, "the failure row became the result");
    assert_eq!(
        store.done_keys(run_id).unwrap(),
        HashSet::from([k.clone(), ok])
    );
    let stored = store.result(id).unwrap();
    assert_eq!(stored.error, None);
    assert_eq!(stored.transcript, Some(transcript("finally")));
    assert_eq!(
        count(
            &path,
            &format!("SELECT count(*) FROM errors WHERE result_id = {id}")
        ),
        2,
        "the error history is kept"
    );
    assert_eq!(store.list_runs().unwrap()[0].errors, 0);

    // A late failure never destroys a finished answer.
    store.record_error(&k, "timeout", "late", 1).unwrap();
    let stored = store.result(id).unwrap();
    assert_eq!(stored.transcript, Some(transcript("finally")));
    assert_eq!(stored.error, None);
    assert!(store.done_keys(run_id).unwrap().contains(&k));
}

/// An answer the judge failed on is kept beside its error: failed (not
/// done, counted as an error) until the run's judge puts a verdict on it;
/// then done, with its error history. Another judge's verdict is stored
/// beside it and leaves it failed. A failed request stays without one.
#[test]
fn an_answer_the_judge_failed_on_is_kept_until_it_is_judged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("xsafe.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 2);
    let k = key(run_id, "t", "baseline", "c1", 0);
    let request_failed = key(run_id, "t", "baseline", "c2", 0);
    store
        .record_error(&request_failed, "timeout", "no answer", 3)
        .unwrap();
    let timing = Timing {
        started_ms: 1_700_000_000_000,
        latency_ms: 250,
    };
    let down = StoredError {
        kind: "judge".into(),
        message: "judge's model failed: HTTP 500: overloaded".into(),
        attempts: 2,
    };
    let id = store
        .record_unjudged(&k, &transcript("an answer"), timing, &down)
        .unwrap();

    // Not done, so a resumed run takes it up; found as unjudged, with the
    // answer and the model's timing, and only it.
    assert!(store.done_keys(run_id).unwrap().is_empty());
    let unjudged = store.unjudged(run_id).unwrap();
    assert_eq!(unjudged.len(), 1);
    assert_eq!(
        (unjudged[0].id, &unjudged[0].key),
        (id, &k),
        "the failed request is not among them"
    );
    // Read back from another connection: it is on the file.
    let reopened = Store::open(&path).unwrap();
    let stored = reopened.result(id).unwrap();
    assert_eq!(stored.transcript, Some(transcript("an answer")));
    assert_eq!(stored.timing, Some(timing));
    assert!(stored.verdicts.is_empty());
    assert_eq!(stored.error, Some(down.clone()));
    let failed = reopened
        .results(run_id)
        .unwrap()
        .into_iter()
        .find(|r| r.key == request_failed)
        .unwrap();
    assert_eq!((failed.transcript, failed.timing), (None, None));
    assert_eq!(reopened.list_runs().unwrap()[0].errors, 2);
    assert_eq!(reopened.list_runs().unwrap()[0].results, 0);

    // The judge fails again: the new failure is shown, the answer stays.
    store
        .record_error(&k, "judge", "judge's model failed: timed out", 1)
        .unwrap();
    let stored = store.result(id).unwrap();
    assert_eq!(stored.transcript, Some(transcript("an answer")));
    assert_eq!(
        stored.error.unwrap().message,
        "judge's model failed: timed out"
    );

    // A human may label the answer meanwhile; a failed request still not.
    store.annotate(id, "ann", Class::Compliance, None).unwrap();
    let err = store
        .annotate(failed.id, "ann", Class::Compliance, None)
        .unwrap_err();
    assert!(matches!(err, StoreError::NoTranscript(_)), "{err}");
    let err = store.put_verdict(failed.id, &verdict()).unwrap_err();
    assert!(matches!(err, StoreError::NoTranscript(_)), "{err}");

    // Another judge than the run's (`xsafe rejudge --judge OTHER`) judges
    // it: its verdict is stored, and the run's judge still has to judge it,
    // so the next run of the command does; the summary of the run's judge
    // still counts it as failed, not by the other judge's verdict.
    let other = Verdict::scored(Class::Compliance, 0.8, "llm:openai:judge@1");
    store.put_verdict(id, &other).unwrap();
    assert!(store.done_keys(run_id).unwrap().is_empty());
    assert_eq!(store.unjudged(run_id).unwrap()[0].id, id);
    let rejudged = store.result(id).unwrap();
    assert_eq!(rejudged.verdicts, vec![other.clone()]);
    assert_eq!(
        rejudged.error.unwrap().message,
        "judge's model failed: timed out"
    );
    let counted: Vec<_> = store
        .outcome_counts(run_id, "strmatch")
        .unwrap()
        .into_iter()
        .map(|c| c.outcome)
        .collect();
    assert_eq!(
        counted,
        [
            failed_with("judge", "judge's model failed: timed out"),
            failed_with("timeout", "no answer"),
        ]
    );

    // The run's judge, in another version, makes the result done.
    let own = Verdict::scored(Class::FullRefusal, 0.9, "strmatch@2");
    store.put_verdict(id, &own).unwrap();
    assert_eq!(store.done_keys(run_id).unwrap(), HashSet::from([k.clone()]));
    assert!(store.unjudged(run_id).unwrap().is_empty());
    let judged = store.result(id).unwrap();
    assert_eq!(judged.error, None);
    assert_eq!(judged.verdicts, vec![other, own]);
    assert_eq!(judged.transcript, Some(transcript("an answer")));
    assert_eq!(judged.timing, Some(timing));
    assert_eq!(
        store.annotations(run_id).unwrap().len(),
        1,
        "the label stays"
    );
    assert_eq!(
        count(
            &path,
            &format!("SELECT count(*) FROM errors WHERE result_id = {id}")
        ),
        2,
        "the error history is kept"
    );
    let listed = &store.list_runs().unwrap()[0];
    assert_eq!((listed.results, listed.errors), (1, 1));
}

/// An earlier xsafe made an answer its judge failed on done when another
/// judge judged it: reopening the run fails it again (answer, verdict and
/// error history kept), so the run's judge judges it; answers the run's
/// judge judged stay done.
#[test]
fn reopening_a_run_fails_again_what_only_another_judge_judged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("xsafe.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 2);
    let judged = key(run_id, "t", "baseline", "c1", 0);
    store
        .record_result(&judged, &transcript("a"), &verdict(), Timing::default())
        .unwrap();
    let k = key(run_id, "t", "baseline", "c2", 0);
    let down = StoredError {
        kind: "judge".into(),
        message: "judge down".into(),
        attempts: 1,
    };
    let id = store
        .record_unjudged(&k, &transcript("b"), Timing::default(), &down)
        .unwrap();
    let other = Verdict::scored(Class::Compliance, 0.8, "llm:openai:judge@1");
    store.put_verdict(id, &other).unwrap();
    // What the earlier xsafe left: the other judge's verdict made it done.
    raw(&path)
        .execute("UPDATE results SET status = 'done' WHERE id = ?1", [id])
        .unwrap();
    assert_eq!(store.done_keys(run_id).unwrap().len(), 2);

    let reopened = store.open_run(&spec("r1", "k1")).unwrap();
    assert_eq!(reopened.id, run_id);
    assert_eq!(store.done_keys(run_id).unwrap(), HashSet::from([judged]));
    let unjudged = store.unjudged(run_id).unwrap();
    assert_eq!(unjudged.len(), 1);
    assert_eq!(unjudged[0].key, k);
    assert_eq!(unjudged[0].transcript, Some(transcript("b")));
    assert_eq!(unjudged[0].verdicts, vec![other]);
    assert_eq!(unjudged[0].error, Some(down));
}

/// Storing an answer unjudged over an earlier one replaces it, with the
/// verdicts and labels of the old text, as `record_result` does.
#[test]
fn an_unjudged_answer_replaces_an_earlier_one_and_what_judged_it() {
    let (store, run_id) = store_with_run(Store::open_in_memory().unwrap(), 1);
    let k = key(run_id, "t", "baseline", "c1", 0);
    let id = store
        .record_result(&k, &transcript("old"), &verdict(), Timing::default())
        .unwrap();
    store.annotate(id, "ann", Class::Compliance, None).unwrap();
    let error = StoredError {
        kind: "judge".into(),
        message: "down".into(),
        attempts: 1,
    };
    let again = store
        .record_unjudged(&k, &transcript("new"), Timing::default(), &error)
        .unwrap();
    assert_eq!(again, id, "the same result, never a duplicate");
    let stored = store.result(id).unwrap();
    assert_eq!(stored.transcript, Some(transcript("new")));
    assert!(stored.verdicts.is_empty());
    assert_eq!(stored.error, Some(error));
    assert!(store.annotations(run_id).unwrap().is_empty());
    assert!(store.done_keys(run_id).unwrap().is_empty());
}

#[test]
fn results_are_ordered_by_target_strategy_suite_case_and_sample() {
    let store = Store::open_in_memory().unwrap();
    let run = store.open_run(&spec("r", "k")).unwrap().id;
    // Added in an order that is not alphabetical, to tell "as added" apart.
    store
        .add_cases(
            run,
            "xsafe-basic",
            &[case("z", Label::Safe), case("a", Label::Safe)],
        )
        .unwrap();
    store
        .add_cases(run, "another", &[case("m", Label::Unsafe)])
        .unwrap();
    let mut keys = Vec::new();
    for target in ["t2", "t1"] {
        for strategy in ["few-shot", "baseline"] {
            for (suite, case_id) in [("xsafe-basic", "a"), ("another", "m"), ("xsafe-basic", "z")] {
                for sample in [1, 0] {
                    let mut k = key(run, target, strategy, case_id, sample);
                    k.suite = suite.into();
                    keys.push(k);
                }
            }
        }
    }
    for k in &keys {
        store
            .record_result(k, &transcript("a"), &verdict(), Timing::default())
            .unwrap();
    }
    let got: Vec<(String, String, String, String, u32)> = store
        .results(run)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.key.target,
                r.key.strategy,
                r.key.suite,
                r.key.case_id,
                r.key.sample,
            )
        })
        .collect();
    let mut want = Vec::new();
    for target in ["t1", "t2"] {
        for strategy in ["baseline", "few-shot"] {
            for (suite, case_id) in [("another", "m"), ("xsafe-basic", "z"), ("xsafe-basic", "a")] {
                for sample in [0, 1] {
                    want.push((
                        target.into(),
                        strategy.into(),
                        suite.into(),
                        case_id.into(),
                        sample,
                    ));
                }
            }
        }
    }
    assert_eq!(got, want);
}

// ----- verdicts and annotations -----

#[test]
fn put_verdict_replaces_per_judge_name_and_keeps_other_judges() {
    let (store, run_id) = store_with_run(Store::open_in_memory().unwrap(), 1);
    let id = store
        .record_result(
            &key(run_id, "t", "baseline", "c1", 0),
            &transcript("a"),
            &Verdict::scored(Class::Compliance, 0.9, "strmatch@1"),
            Timing::default(),
        )
        .unwrap();
    let llm = Verdict::unscored("judge said `maybe`", "llm:openai:gpt-4o@1");
    store.put_verdict(id, &llm).unwrap();
    let newer = Verdict::scored(Class::FullRefusal, 0.7, "strmatch@2");
    store.put_verdict(id, &newer).unwrap();

    let verdicts = store.result(id).unwrap().verdicts;
    assert_eq!(
        verdicts,
        vec![newer, llm],
        "strmatch@2 replaced strmatch@1 in its place; the LLM judge's verdict stays"
    );
    let err = store.put_verdict(4242, &verdict()).unwrap_err();
    assert!(matches!(err, StoreError::ResultNotFound(4242)), "{err}");
}

/// A run's results are counted without their transcripts, each as
/// `results` reads it: failed when it has an error or no transcript,
/// otherwise by the judge's verdict (a tag's part before its last `@`),
/// and without a class when that judge gave none, whoever else did.
#[test]
fn outcome_counts_name_a_judge_by_the_tag_before_its_last_at() {
    // A model named `@cf/...` (Cloudflare's spelling) keeps its `@` in the
    // judge's name; `strmatch@x@2` is the judge `strmatch@x`, not `strmatch`.
    let store = Store::open_in_memory().unwrap();
    let run = store.open_run(&spec("r1", "k1")).unwrap();
    store
        .add_cases(run.id, "xsafe-basic", &[case("c1", Label::Safe)])
        .unwrap();
    let id = store
        .record_result(
            &key(run.id, "a", "baseline", "c1", 0),
            &transcript("a"),
            &Verdict::scored(Class::Compliance, 0.9, "strmatch@x@2"),
            Timing::default(),
        )
        .unwrap();
    store
        .put_verdict(
            id,
            &Verdict::scored(Class::FullRefusal, 0.9, "llm:openai:@cf/m@1"),
        )
        .unwrap();
    let class_for = |judge: &str| match &store.outcome_counts(run.id, judge).unwrap()[..] {
        [count] => count.outcome.clone(),
        other => panic!("one row expected: {other:?}"),
    };
    let judged = |class| CountedOutcome::Judged(Some(class));
    assert_eq!(class_for("llm:openai:@cf/m"), judged(Class::FullRefusal));
    assert_eq!(class_for("strmatch@x"), judged(Class::Compliance));
    // Neither verdict is `llm:openai:`'s, `strmatch`'s or (the whole tag
    // is no name) `strmatch@x@2`'s: none counts.
    for judge in ["llm:openai:", "strmatch", "strmatch@x@2"] {
        assert_eq!(class_for(judge), CountedOutcome::Judged(None), "{judge}");
    }
}

/// Results of two suites are counted apart, each row naming its suite,
/// though their cases share an id: what a summary of a run of several
/// suites shows per suite.
#[test]
fn outcome_counts_name_the_suite_of_each_row() {
    let store = Store::open_in_memory().unwrap();
    let run = store.open_run(&spec("r1", "k1")).unwrap();
    for suite in ["xsafe-basic", "xstest"] {
        store
            .add_cases(run.id, suite, &[case("c1", Label::Safe)])
            .unwrap();
    }
    for (suite, class) in [
        ("xsafe-basic", Class::FullRefusal),
        ("xstest", Class::Compliance),
    ] {
        let key = ResultKey {
            suite: suite.into(),
            ..key(run.id, "a", "baseline", "c1", 0)
        };
        store
            .record_result(
                &key,
                &transcript("a"),
                &Verdict::scored(class, 0.9, "strmatch@1"),
                Timing::default(),
            )
            .unwrap();
    }
    let counted: Vec<(String, CountedOutcome, u64)> = store
        .outcome_counts(run.id, "strmatch")
        .unwrap()
        .into_iter()
        .map(|c| (c.suite, c.outcome, c.count))
        .collect();
    assert_eq!(
        counted,
        [
            (
                "xsafe-basic".to_string(),
                CountedOutcome::Judged(Some(Class::FullRefusal)),
                1
            ),
            (
                "xstest".to_string(),
                CountedOutcome::Judged(Some(Class::Compliance)),
                1
            ),
        ]
    );
}

#[test]
fn outcome_counts_count_each_result_once_by_the_judges_verdict_or_its_failure() {
    let store = Store::open_in_memory().unwrap();
    let run = store.open_run(&spec("r1", "k1")).unwrap();
    let cases: Vec<Case> = (1..=6)
        .map(|i| {
            case(
                &format!("c{i}"),
                if i <= 4 { Label::Safe } else { Label::Unsafe },
            )
        })
        .collect();
    store.add_cases(run.id, "xsafe-basic", &cases).unwrap();
    let judged = |target: &str, case_id: &str, sample: u32, v: &Verdict| {
        store
            .record_result(
                &key(run.id, target, "baseline", case_id, sample),
                &transcript("a"),
                v,
                Timing::default(),
            )
            .unwrap()
    };
    let strmatch = |class| Verdict::scored(class, 0.9, "strmatch@1");
    let other = |class| Verdict::scored(class, 0.9, "llm:openai:judge@1");
    // Target `b` is stored first; the counts still come in target order.
    judged("b", "c1", 0, &strmatch(Class::FullRefusal));
    judged("a", "c1", 0, &strmatch(Class::FullRefusal));
    judged("a", "c1", 1, &strmatch(Class::FullRefusal));
    // Another judge's verdict beside the run judge's does not count.
    let id = judged("a", "c2", 0, &strmatch(Class::Compliance));
    store.put_verdict(id, &other(Class::FullRefusal)).unwrap();
    // The run judge's verdict is counted wherever it is in the list.
    let down = StoredError {
        kind: "judge".into(),
        message: "judge down".into(),
        attempts: 1,
    };
    let unjudged = |case_id: &str| {
        store
            .record_unjudged(
                &key(run.id, "a", "baseline", case_id, 0),
                &transcript("a"),
                Timing::default(),
                &down,
            )
            .unwrap()
    };
    let id = unjudged("c3");
    store.put_verdict(id, &other(Class::Compliance)).unwrap();
    store
        .put_verdict(id, &Verdict::scored(Class::FullRefusal, 0.9, "strmatch@2"))
        .unwrap();
    // Without the run judge's verdict, an answer it failed on stays failed:
    // other judges' verdicts do not count for it.
    let id = unjudged("c5");
    store.put_verdict(id, &other(Class::Compliance)).unwrap();
    store
        .put_verdict(id, &Verdict::unscored("?", "third@1"))
        .unwrap();
    // Unscored, and failures: an answer the judge failed on, a failed
    // request, and an answer that failed at judging again.
    judged("a", "c6", 3, &Verdict::unscored("empty", "strmatch@1"));
    unjudged("c4");
    store
        .record_error(
            &key(run.id, "a", "baseline", "c6", 1),
            "timeout",
            "no answer",
            2,
        )
        .unwrap();
    let id = unjudged("c6");
    store
        .record_error(
            &key(run.id, "a", "baseline", "c6", 0),
            "judge",
            "no answer",
            1,
        )
        .unwrap();
    assert!(store.result(id).unwrap().transcript.is_some());

    let row = |target: &str, label, outcome, count| OutcomeCount {
        target: target.into(),
        strategy: "baseline".into(),
        suite: "xsafe-basic".into(),
        label,
        outcome,
        count,
    };
    let judged_as = |class| CountedOutcome::Judged(class);
    // Each failure with the kind stored with it: "no answer" is a timeout
    // of one result and the judge's failure on another, counted apart.
    assert_eq!(
        store.outcome_counts(run.id, "strmatch").unwrap(),
        vec![
            row("a", Label::Safe, judged_as(Some(Class::Compliance)), 1),
            row("a", Label::Safe, judged_as(Some(Class::FullRefusal)), 3),
            row("a", Label::Safe, failed_with("judge", "judge down"), 1),
            row("a", Label::Unsafe, judged_as(None), 1),
            row("a", Label::Unsafe, failed_with("judge", "judge down"), 1),
            row("a", Label::Unsafe, failed_with("judge", "no answer"), 1),
            row("a", Label::Unsafe, failed_with("timeout", "no answer"), 1),
            row("b", Label::Safe, judged_as(Some(Class::FullRefusal)), 1),
        ]
    );
    // Another judge's verdicts count for a summary of that judge, and the
    // results it did not judge count without a class.
    let by_other = store.outcome_counts(run.id, "llm:openai:judge").unwrap();
    assert_eq!(
        by_other[..4],
        [
            row("a", Label::Safe, judged_as(None), 2),
            row("a", Label::Safe, judged_as(Some(Class::Compliance)), 1),
            row("a", Label::Safe, judged_as(Some(Class::FullRefusal)), 1),
            row("a", Label::Safe, failed_with("judge", "judge down"), 1),
        ]
    );
    assert!(
        store
            .outcome_counts(run.id + 1, "strmatch")
            .unwrap()
            .is_empty()
    );
}

/// A batch of labels is stored whole or not at all: one unknown result
/// leaves the labels before it unstored.
#[test]
fn a_batch_of_labels_is_stored_whole_or_not_at_all() {
    let (store, run_id) = store_with_run(Store::open_in_memory().unwrap(), 2);
    let r1 = store
        .record_result(
            &key(run_id, "t", "b", "c1", 0),
            &transcript("a"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    let labels = [
        (r1, Class::Compliance, Some("fine".to_string())),
        (r1 + 1000, Class::FullRefusal, None),
    ];
    assert!(store.annotate_all("alice", &labels).is_err());
    assert!(store.annotations(run_id).unwrap().is_empty());
    store.annotate_all("alice", &labels[..1]).unwrap();
    let stored = store.annotations(run_id).unwrap();
    assert_eq!((stored.len(), stored[0].note.as_deref()), (1, Some("fine")));
}

#[test]
fn annotations_are_one_per_annotator_per_result() {
    let (store, run_id) = store_with_run(Store::open_in_memory().unwrap(), 2);
    let r1 = store
        .record_result(
            &key(run_id, "t", "b", "c1", 0),
            &transcript("a"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    let r2 = store
        .record_result(
            &key(run_id, "t", "b", "c2", 0),
            &transcript("a"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    store
        .annotate(r1, "bob", Class::FullRefusal, Some("hedges"))
        .unwrap();
    store
        .annotate(r1, "alice", Class::Compliance, None)
        .unwrap();
    store
        .annotate(r2, "alice", Class::Compliance, None)
        .unwrap();
    store
        .annotate(r1, "bob", Class::PartialRefusal, None)
        .unwrap(); // changes his mind

    let got: Vec<(i64, String, Class, Option<String>)> = store
        .annotations(run_id)
        .unwrap()
        .into_iter()
        .map(|a| {
            assert!(a.created_at.ends_with('Z'));
            (a.result_id, a.annotator, a.class, a.note)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (r1, "alice".into(), Class::Compliance, None),
            (r1, "bob".into(), Class::PartialRefusal, None),
            (r2, "alice".into(), Class::Compliance, None),
        ]
    );
    let other_run = store.open_run(&spec("r2", "k")).unwrap().id;
    assert!(store.annotations(other_run).unwrap().is_empty());
    let err = store
        .annotate(777, "bob", Class::Compliance, None)
        .unwrap_err();
    assert!(matches!(err, StoreError::ResultNotFound(777)), "{err}");
}

#[test]
fn deleting_a_run_removes_everything_under_it_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 3);
    let other = store.open_run(&spec("r2", "k2")).unwrap().id;
    store
        .add_cases(other, "xsafe-basic", &[case("c1", Label::Safe)])
        .unwrap();
    for (run, case_id) in [(run_id, "c1"), (run_id, "c2"), (other, "c1")] {
        let id = store
            .record_result(
                &key(run, "t", "b", case_id, 0),
                &transcript("a"),
                &verdict(),
                Timing::default(),
            )
            .unwrap();
        store.annotate(id, "ann", Class::Compliance, None).unwrap();
    }
    store
        .record_error(&key(run_id, "t", "b", "c3", 0), "http", "HTTP 500", 1)
        .unwrap();

    let deleted = store.delete_run(run_id).unwrap();
    assert_eq!(deleted.results, 3, "two answered, one failed");
    assert_eq!(deleted.annotations, 2);
    assert!(matches!(
        store.run(&run_id.to_string()),
        Err(StoreError::RunNotFound(_))
    ));
    for (table, left) in [
        ("runs", 1),
        ("run_suites", 2),
        ("cases", 1),
        ("results", 1),
        ("messages", 2),
        ("verdicts", 1),
        ("errors", 0),
        ("annotations", 1),
    ] {
        let sql = format!("SELECT count(*) FROM {table}");
        assert_eq!(count(&path, &sql), left, "{table}");
    }
    assert_eq!(store.annotations(other).unwrap().len(), 1);
    assert!(matches!(
        store.delete_run(run_id),
        Err(StoreError::RunNotFound(_))
    ));
}

/// Held by a test while it spawns a process, and by a test that drops a
/// run's lock and sees it free: a process forked meanwhile shares the
/// lock's open file until it starts its program, and the lock is held
/// that long (a parallel test's `mount` made a dropped lock read as held).
static SPAWNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn no_spawning() -> std::sync::MutexGuard<'static, ()> {
    SPAWNING.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_run_is_claimed_by_one_process_at_a_time() {
    let _no_spawning = no_spawning();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 1);
    let run = store.run(&run_id.to_string()).unwrap();
    let other = Store::open(&path).unwrap();
    let claim = store.lock_run(&run).unwrap();
    let lock = dir
        .path()
        .join(".runs.db.locks")
        .join(format!("run-{run_id}.lock"));
    assert!(lock.is_file());
    // Another open of the file is another holder, as another process is.
    let err = other.lock_run(&run).unwrap_err();
    assert!(matches!(err, StoreError::RunBusy { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("run `r1` is being run by another xsafe process")
    );
    drop(claim);
    let again = other.lock_run(&run).unwrap();
    drop(again);
    // A store in memory claims nothing, and never refuses.
    let memory = Store::open_in_memory().unwrap();
    let (memory, id) = store_with_run(memory, 1);
    let run = memory.run(&id.to_string()).unwrap();
    let _a = memory.lock_run(&run).unwrap();
    let _b = memory.lock_run(&run).unwrap();
    // Deleting the run removes its lock file.
    store.delete_run(run_id).unwrap();
    assert!(!lock.exists());
}

/// SQLite follows a symbolic link to the file it names, so the runs'
/// locks do too: every spelling of the store's path (a link, `..`, the
/// file itself) claims the same lock, beside the file, and a second holder
/// is refused whichever spelling it came by.
#[cfg(unix)]
#[test]
fn a_run_is_claimed_once_whatever_path_names_the_store() {
    let _no_spawning = no_spawning();
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    let links = dir.path().join("sl");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::create_dir_all(&links).unwrap();
    let file = real.join("x.db");
    let (store, run_id) = store_with_run(Store::open(&file).unwrap(), 1);
    let run = store.run(&run_id.to_string()).unwrap();
    let link = links.join("link.db");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let claim = store.lock_run(&run).unwrap();
    for other in [link.clone(), links.join("../real/x.db")] {
        let other = Store::open(&other).unwrap();
        let err = other.lock_run(&run).unwrap_err();
        assert!(matches!(err, StoreError::RunBusy { .. }), "{err}");
        assert_eq!(other.run("r1").unwrap().status, RunStatus::Running);
    }
    drop(claim);
    // Claimed through the link, the run is held for the file's openers.
    let by_link = Store::open(&link).unwrap();
    let _claim = by_link.lock_run(&run).unwrap();
    assert!(matches!(
        store.lock_run(&run),
        Err(StoreError::RunBusy { .. })
    ));
    let lock = real.join(".x.db.locks").join(format!("run-{run_id}.lock"));
    assert!(lock.is_file());
    assert!(!links.join(".link.db.locks").exists());
}

/// A path SQLite reads as something other than a file would keep the runs
/// in memory (or in a temporary file, or where a URI says) and lose them:
/// it is refused before anything is made, and a file of such a name is
/// still a store when given as `./NAME`.
#[test]
fn a_store_path_sqlite_would_not_read_as_a_file_is_refused() {
    for given in [":memory:", "", "file:runs.db", "file:x?mode=memory"] {
        let err = Store::open(Path::new(given)).unwrap_err();
        assert!(matches!(err, StoreError::NotAFile { .. }), "{given}: {err}");
        let message = err.to_string();
        assert!(message.contains("pass the path of a file"), "{message}");
        assert!(message.contains(&format!("`{given}`")), "{message}");
    }
    assert!(!Path::new(".:memory:.locks").exists());
    assert!(!Path::new("file:runs.db").exists());
    let dir = tempfile::tempdir().unwrap();
    for name in [":memory:", "file:runs.db"] {
        let path = dir.path().join(name);
        let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 1);
        drop(store);
        assert!(path.is_file(), "{name}");
        let reopened = Store::open(&path).unwrap();
        assert_eq!(reopened.cases(run_id).unwrap().len(), 1, "{name}");
    }
}

// ----- concurrency -----

#[test]
fn threads_sharing_a_store_keep_every_row() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 25;
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id) =
        store_with_run(Store::open(&dir.path().join("x.db")).unwrap(), PER_THREAD);
    let store = Arc::new(store);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 1..=PER_THREAD {
                    let k = key(run_id, &format!("t{t}"), "baseline", &format!("c{i}"), 0);
                    if i % 5 == 0 {
                        store.record_error(&k, "timeout", "slow", 1).unwrap();
                    }
                    store
                        .record_result(
                            &k,
                            &transcript(&format!("{t}/{i}")),
                            &verdict(),
                            Timing::default(),
                        )
                        .unwrap();
                    // Readers interleave with writers.
                    assert!(!store.done_keys(run_id).unwrap().is_empty());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let results = store.results(run_id).unwrap();
    assert_eq!(results.len(), THREADS * PER_THREAD);
    for r in &results {
        let t = r
            .transcript
            .as_ref()
            .expect("every result has its transcript");
        let want = format!("{}/{}", &r.key.target[1..], &r.key.case_id[1..]);
        assert_eq!(t.final_reply().unwrap().content, want);
        assert_eq!(r.verdicts.len(), 1);
    }
    assert_eq!(store.done_keys(run_id).unwrap().len(), THREADS * PER_THREAD);
}

#[test]
fn two_stores_on_one_file_keep_every_row() {
    // Two `Store`s on one file behave like two processes: separate
    // connections that meet in SQLite's locks and busy timeout.
    const PER_STORE: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let (first, run_id) = store_with_run(Store::open(&path).unwrap(), PER_STORE);
    let second = Store::open(&path).unwrap();
    assert_eq!(second.run("r1").unwrap().id, run_id);
    std::thread::scope(|scope| {
        for (n, store) in [&first, &second].into_iter().enumerate() {
            scope.spawn(move || {
                for i in 1..=PER_STORE {
                    // Both write the same keys too: still one row each.
                    let shared = key(run_id, "shared", "baseline", &format!("c{i}"), 0);
                    let own = key(run_id, &format!("t{n}"), "baseline", &format!("c{i}"), 0);
                    for k in [shared, own] {
                        store
                            .record_result(&k, &transcript("a"), &verdict(), Timing::default())
                            .unwrap();
                    }
                }
            });
        }
    });
    assert_eq!(first.results(run_id).unwrap().len(), 3 * PER_STORE);
    assert_eq!(second.done_keys(run_id).unwrap().len(), 3 * PER_STORE);
    assert_eq!(
        count(&path, "SELECT count(*) FROM messages"),
        2 * 3 * PER_STORE as i64
    );
    assert_eq!(
        count(&path, "SELECT count(*) FROM verdicts"),
        3 * PER_STORE as i64
    );
}

// ----- ids -----

/// The bug this guards: after `runs delete` of the newest run, SQLite gave
/// the next run its id and the next answers its answers' ids, so a page or
/// a script holding the old numbers read or labelled another run.
#[test]
fn run_and_result_ids_are_never_given_out_again_after_a_delete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (store, first) = store_with_run(Store::open(&path).unwrap(), 2);
    let mut old_results = Vec::new();
    for case_id in ["c1", "c2"] {
        old_results.push(
            store
                .record_result(
                    &key(first, "t", "b", case_id, 0),
                    &transcript("a"),
                    &verdict(),
                    Timing::default(),
                )
                .unwrap(),
        );
    }
    store.delete_run(first).unwrap();
    drop(store);

    // Reopened, as the next command would.
    let (store, second) = store_with_run(Store::open(&path).unwrap(), 2);
    assert!(second > first, "run id {first} was given out again");
    let new_result = store
        .record_result(
            &key(second, "t", "b", "c1", 0),
            &transcript("a"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    assert!(
        old_results.iter().all(|&old| new_result > old),
        "result id {new_result} was given out before: {old_results:?}"
    );
    assert!(matches!(
        store.result(old_results[1]),
        Err(StoreError::ResultNotFound(_))
    ));
}

// ----- failures that name the file and the fix -----

/// The bug this guards: another process holding the write lock for over
/// five seconds stopped a run with a bare "database is locked".
#[test]
fn a_write_waits_for_another_process_that_holds_the_lock_for_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 1);
    let holder = raw(&path);
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let held = std::time::Duration::from_secs(6);
    let release = std::thread::spawn(move || {
        std::thread::sleep(held);
        holder.execute_batch("COMMIT").unwrap();
    });
    let started = std::time::Instant::now();
    store
        .record_result(
            &key(run_id, "t", "b", "c1", 0),
            &transcript("a"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    assert!(started.elapsed() >= held - std::time::Duration::from_millis(500));
    release.join().unwrap();
    assert_eq!(store.done_keys(run_id).unwrap().len(), 1);
}

#[test]
fn a_damaged_file_is_named_with_what_to_do_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 60);
    for i in 1..=60 {
        store
            .record_result(
                &key(run_id, "t", "b", &format!("c{i}"), 0),
                &transcript(&"a long enough answer to fill pages ".repeat(20)),
                &verdict(),
                Timing::default(),
            )
            .unwrap();
    }
    drop(store); // the last connection folds the WAL into the file
    assert!(!dir.path().join("runs.db-wal").exists());
    let bytes = std::fs::read(&path).unwrap();
    // Cut off at a page boundary past the first pages, as a copy that
    // stopped half-way leaves it.
    let cut = &bytes[..(bytes.len() / 2) & !4095];
    std::fs::write(&path, cut).unwrap();

    let err = Store::open(&path)
        .and_then(|s| s.results(run_id).map(drop))
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    for part in [
        path.display().to_string().as_str(),
        "damaged",
        "move it aside",
        "backup",
        "--db",
    ] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    assert!(!message.contains("read and written"), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), cut, "the file was changed");
}

#[test]
fn a_run_stopped_by_an_error_is_marked_interrupted_unless_complete() {
    let dir = tempfile::tempdir().unwrap();
    let (store, run_id) = store_with_run(Store::open(&dir.path().join("x.db")).unwrap(), 1);
    store.set_run_status(run_id, RunStatus::Running).unwrap();
    store.mark_stopped(run_id).unwrap();
    assert_eq!(store.run("r1").unwrap().status, RunStatus::Interrupted);
    store.set_run_status(run_id, RunStatus::Complete).unwrap();
    store.mark_stopped(run_id).unwrap();
    assert_eq!(store.run("r1").unwrap().status, RunStatus::Complete);
}

/// Whether file permissions bind this process: they do not bind root,
/// which may write a read-only file. The read-only tests below need them;
/// the CLI tests cover root by running xsafe as another user.
#[cfg(unix)]
fn permissions_apply(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let probe = dir.join("probe");
    std::fs::write(&probe, "x").unwrap();
    std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o444)).unwrap();
    let applies = std::fs::OpenOptions::new()
        .write(true)
        .open(&probe)
        .is_err();
    std::fs::remove_file(&probe).unwrap();
    if !applies {
        eprintln!("skipped: file permissions do not bind this user (root)");
    }
    applies
}

#[cfg(unix)]
#[test]
fn a_store_that_cannot_be_written_is_read_and_refuses_writes_by_name() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    if !permissions_apply(dir.path()) {
        return;
    }
    let folder = dir.path().join("store");
    let path = folder.join("runs.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 1);
    store
        .record_result(
            &key(run_id, "t", "b", "c1", 0),
            &transcript("a"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    drop(store);
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));

    // A read-only file in a folder that can be written; then a read-only
    // folder too, where SQLite cannot make the `-wal` and `-shm` files.
    mode(&path, 0o444).unwrap();
    for folder_mode in [0o755, 0o555] {
        mode(&folder, folder_mode).unwrap();
        let before = std::fs::read(&path).unwrap();
        let store = Store::open(&path).unwrap();
        assert!(store.is_read_only());
        assert_eq!(store.list_runs().unwrap().len(), 1);
        assert_eq!(store.results(run_id).unwrap().len(), 1);
        let err = store
            .set_run_status(run_id, RunStatus::Running)
            .unwrap_err();
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("read-only"), "{message}");
        assert!(message.contains("writable"), "{message}");
        drop(store);
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
    mode(&folder, 0o755).unwrap();
}

/// A blank name (`--run ""`, `--run "  "`) is refused, as a number is,
/// before anything is stored.
#[test]
fn a_run_cannot_have_a_blank_name() {
    let store = Store::open_in_memory().unwrap();
    for name in ["", "  ", "\t"] {
        let err = store.open_run(&spec(name, "k1")).unwrap_err();
        assert!(
            matches!(err, StoreError::BlankRunName(_)),
            "{name:?}: {err}"
        );
        assert!(err.to_string().contains("the name is blank"), "{err}");
        assert!(
            matches!(
                xsafe_store::check_new_run_name(name),
                Err(StoreError::BlankRunName(_))
            ),
            "{name:?}"
        );
    }
    assert!(store.list_runs().unwrap().is_empty());
    store.open_run(&spec("a name", "k1")).unwrap();
}

#[test]
fn a_run_cannot_be_named_like_an_id_and_an_old_one_so_named_is_not_guessed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let store = Store::open(&path).unwrap();
    let first = store.open_run(&spec("first", "k1")).unwrap();
    let second = store.open_run(&spec("second", "k2")).unwrap();
    let err = store.open_run(&spec(" 7", "k3")).unwrap_err();
    assert!(matches!(err, StoreError::NumericRunName(_)), "{err}");
    assert!(
        err.to_string().contains("give a name with a letter"),
        "{err}"
    );
    // A store made before the rule: the second run is named "1".
    drop(store);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE runs SET name = '1' WHERE id = ?1", [second.id])
        .unwrap();
    let store = Store::open(&path).unwrap();
    let err = store.run("1").unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "`1` is both the id of run `first` and the name of run {}: give the name `first` or the id {}",
            second.id, second.id
        )
    );
    assert_eq!(store.run("first").unwrap().id, first.id);
    // A number that is only an id is found.
    assert_eq!(store.run(&second.id.to_string()).unwrap().name, "1");
    assert!(matches!(store.run("99"), Err(StoreError::RunNotFound(_))));
}

#[test]
fn a_running_run_that_no_process_holds_reads_as_interrupted() {
    let _no_spawning = no_spawning();
    // A run killed with `kill -9` never said it stopped; its lock is free.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let run = store.open_run(&spec("killed", "k")).unwrap();
    let held = store.lock_run(&run).unwrap();
    assert_eq!(store.run("killed").unwrap().status, RunStatus::Running);
    assert_eq!(store.list_runs().unwrap()[0].status, RunStatus::Running);
    // Held by another process: a second store's view says running too.
    let other = Store::open(&dir.path().join("runs.db")).unwrap();
    assert_eq!(other.run_by_id(run.id).unwrap().status, RunStatus::Running);
    drop(held);
    assert_eq!(other.run("killed").unwrap().status, RunStatus::Interrupted);
    assert_eq!(other.list_runs().unwrap()[0].status, RunStatus::Interrupted);
    // Never locked at all (stored, then the process died at once).
    let fresh = store.open_run(&spec("fresh", "k2")).unwrap();
    assert_eq!(
        store.run_by_id(fresh.id).unwrap().status,
        RunStatus::Interrupted
    );
    // The same command resumes it as before: open_run marks it running.
    let again = store.open_run(&spec("killed", "k")).unwrap();
    assert_eq!(again.id, run.id);
    // Complete runs are what they say.
    store.set_run_status(run.id, RunStatus::Complete).unwrap();
    assert_eq!(store.run("killed").unwrap().status, RunStatus::Complete);
}

/// The leaf pages of the `results` table of the closed store at `path`.
fn results_leaf_pages(path: &Path) -> Vec<i64> {
    let conn = raw(path);
    let mut stmt = conn
        .prepare("SELECT pageno FROM dbstat WHERE name = 'results' AND pagetype = 'leaf' ORDER BY pageno")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Overwrites bytes 100..200 of page `page` of the closed store at `path`
/// with a pattern, as a bad disk block or a stray write leaves it: on a
/// leaf page of results, some cell pointers are garbage.
fn damage_page(path: &Path, page: i64) {
    let size: i64 = raw(path)
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let start = ((page - 1) * size) as usize;
    for (i, b) in bytes[start + 100..start + 200].iter_mut().enumerate() {
        *b = [0xDE, 0xAD, 0xBE, 0xEF][i % 4];
    }
    std::fs::write(path, bytes).unwrap();
}

/// The bug this guards: deleting a run of a store whose results page was
/// overwritten said only "FOREIGN KEY constraint failed", where every
/// other command says the store is damaged and what to do.
#[test]
fn a_delete_that_meets_damage_says_the_store_is_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let sound = dir.path().join("sound.db");
    let (store, run_id) = store_with_run(Store::open(&sound).unwrap(), 240);
    for i in 1..=240 {
        store
            .record_result(
                &key(run_id, "openai:fake", "baseline", &format!("c{i}"), 0),
                &transcript("Sure, here is an answer."),
                &verdict(),
                Timing::default(),
            )
            .unwrap();
    }
    drop(store); // the last connection folds the WAL into the file

    // Damage that SQLite meets as a broken foreign key rather than as a
    // malformed page (which is already reported as damage): which page
    // does that depends on the layout, so each is tried on a copy.
    let path = dir.path().join("runs.db");
    let damaged = results_leaf_pages(&sound).into_iter().any(|page| {
        std::fs::copy(&sound, &path).unwrap();
        damage_page(&path, page);
        let conn = raw(&path);
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        let deleted = conn.execute("DELETE FROM runs WHERE id = ?1", [run_id]);
        let fk = deleted.is_err_and(|e| e.to_string().contains("FOREIGN KEY constraint failed"));
        drop(conn);
        if fk {
            // The failed delete rolled back; start again from the damage.
            std::fs::copy(&sound, &path).unwrap();
            damage_page(&path, page);
        }
        fk
    });
    assert!(
        damaged,
        "no damage found that fails a delete on a foreign key"
    );

    let store = Store::open(&path).unwrap();
    let err = store.delete_run(run_id).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let message = err.to_string();
    for part in [
        path.display().to_string().as_str(),
        "damaged",
        "quick_check",
        "move it aside",
    ] {
        assert!(message.contains(part), "`{part}` missing from: {message}");
    }
    // Nothing was deleted.
    assert_eq!(store.list_runs().unwrap().len(), 1);
}

/// A constraint failure on a sound store is not called damage.
#[test]
fn a_constraint_failure_on_a_sound_store_is_not_called_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 1);
    // A trigger that fails every delete, as a constraint would.
    raw(&path)
        .execute_batch(
            "CREATE TRIGGER no_delete BEFORE DELETE ON runs
             BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END;",
        )
        .unwrap();
    let err = store.delete_run(run_id).unwrap_err();
    assert!(!matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("constraint failed"), "{err}");
}

/// A tmpfs of `size` mounted on a new folder, unmounted when dropped; `None`
/// where this process may not mount one (not root, no `mount`).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let _spawning = no_spawning();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: cannot mount a small tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk with a file of zeros.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path().join("filler")).unwrap();
        while f.write_all(&[0; 4096]).is_ok() {}
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _spawning = no_spawning();
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// The bug this guards: on a full disk a store closed cleanly could not be
/// read, with "disk I/O error; check that the file and its folder can be
/// read and written": SQLite could not make its `-shm` file. The error says
/// the disk is full; with space again, the store is read and written.
#[test]
fn a_store_on_a_full_disk_says_the_disk_is_full() {
    let Some(disk) = SmallDisk::mount("1m") else {
        return;
    };
    let path = disk.path().join("runs.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 3);
    store
        .record_result(
            &key(run_id, "t", "b", "c1", 0),
            &transcript("a"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    drop(store);
    assert!(!disk.path().join("runs.db-shm").exists());
    disk.fill();

    for open in [Store::open_existing, Store::open] {
        let err = open(&path).unwrap_err();
        assert!(matches!(err, StoreError::OpenDiskFull { .. }), "{err:?}");
        assert!(
            err.to_string().contains("the disk holding it is full"),
            "{err}"
        );
    }

    // Space again: read and written as ever.
    std::fs::remove_file(disk.path().join("filler")).unwrap();
    let store = Store::open_existing(&path).unwrap();
    assert!(!store.is_read_only());
    assert_eq!(store.results(run_id).unwrap().len(), 1);
    store.set_run_status(run_id, RunStatus::Complete).unwrap();
}

#[test]
fn for_each_result_reads_what_results_reads_one_at_a_time() {
    let (store, run_id) = store_with_run(Store::open_in_memory().unwrap(), 4);
    // Added out of the order they are listed in, with every kind of result:
    // judged (twice), failed, answered but not judged, none of each.
    let b = key(run_id, "openai:b", "baseline", "c2", 0);
    let b_id = store
        .record_result(&b, &transcript("b"), &verdict(), Timing::default())
        .unwrap();
    store
        .put_verdict(b_id, &Verdict::unscored("no answer", "llm:judge@2"))
        .unwrap();
    store
        .record_error(
            &key(run_id, "openai:a", "few_shot", "c1", 0),
            "timeout",
            "slow",
            3,
        )
        .unwrap();
    let unjudged = StoredError {
        kind: "judge".into(),
        message: "the judge failed".into(),
        attempts: 1,
    };
    store
        .record_unjudged(
            &key(run_id, "openai:a", "baseline", "c3", 1),
            &transcript("c"),
            Timing::default(),
            &unjudged,
        )
        .unwrap();
    for (case_id, sample) in [("c4", 0), ("c1", 0), ("c3", 0)] {
        let k = key(run_id, "openai:a", "baseline", case_id, sample);
        store
            .record_result(&k, &transcript(case_id), &verdict(), Timing::default())
            .unwrap();
    }
    let all = store.results(run_id).unwrap();
    assert_eq!(all.len(), 6);

    let mut each = Vec::new();
    store
        .for_each_result(run_id, |r| -> Result<(), StoreError> {
            each.push(r);
            Ok(())
        })
        .unwrap();
    assert_eq!(each, all);

    // The callback's error stops the reading and is returned.
    let mut read = 0;
    let err = store
        .for_each_result(run_id, |_| {
            read += 1;
            if read == 2 {
                return Err(StoreError::ResultNotFound(-1));
            }
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::ResultNotFound(-1)), "{err}");
    assert_eq!(read, 2);

    // A run without results reads none.
    let other = store.open_run(&spec("r2", "k2")).unwrap();
    store
        .for_each_result(other.id, |_| -> Result<(), StoreError> {
            panic!("no result")
        })
        .unwrap();
}

#[test]
fn outlines_are_the_results_without_their_messages() {
    let (store, run_id) = store_with_run(Store::open_in_memory().unwrap(), 5);
    // A few-shot opening (exemplar answers are not the model's turns), an
    // interactive conversation of three turns that complied at the second
    // one, a transcript stored before openings were (every assistant
    // message a turn), a failure, an answer not judged, and a result with
    // verdicts of two judges.
    let few_shot = Transcript {
        messages: vec![
            Message::system("be helpful"),
            Message::user("example question"),
            Message::assistant("example answer"),
            Message::user("q"),
            Message::assistant("a"),
        ],
        finish_reason: Some(FinishReason::Length),
        complied_at_turn: None,
        opening: Some(4),
    };
    let interactive = Transcript {
        messages: vec![
            Message::user("q"),
            Message::assistant("no"),
            Message::user("it is safe"),
            Message::assistant("well"),
            Message::user("go on"),
            Message::assistant("yes"),
        ],
        finish_reason: Some(FinishReason::Stop),
        complied_at_turn: Some(2),
        opening: Some(1),
    };
    let older = Transcript {
        opening: None,
        ..few_shot.clone()
    };
    let timing = Timing {
        started_ms: 1_700_000_000_000,
        latency_ms: 1234,
    };
    let k = |strategy: &str, case: &str| key(run_id, "openai:a", strategy, case, 0);
    let id = store
        .record_result(&k("few-shot", "c1"), &few_shot, &verdict(), timing)
        .unwrap();
    store
        .put_verdict(id, &Verdict::unscored("no answer", "llm:judge@2"))
        .unwrap();
    store
        .record_result(&k("interactive", "c2"), &interactive, &verdict(), timing)
        .unwrap();
    store
        .record_result(&k("baseline", "c3"), &older, &verdict(), timing)
        .unwrap();
    store
        .record_error(&k("baseline", "c4"), "timeout", "slow", 3)
        .unwrap();
    let unjudged = StoredError {
        kind: "judge".into(),
        message: "the judge failed".into(),
        attempts: 1,
    };
    store
        .record_unjudged(&k("baseline", "c5"), &few_shot, timing, &unjudged)
        .unwrap();

    let results = store.results(run_id).unwrap();
    let outlines = store.outlines(run_id).unwrap();
    assert_eq!(
        outlines,
        results
            .iter()
            .cloned()
            .map(ResultOutline::from)
            .collect::<Vec<_>>()
    );
    // An outline and its messages are the result again.
    for (outline, result) in outlines.iter().zip(&results) {
        let messages = store.messages(outline.id).unwrap();
        assert_eq!(&outline.clone().with_messages(messages), result);
        assert_eq!(result.clone().split().0, *outline);
    }
    assert!(matches!(
        store.messages(-1),
        Err(StoreError::ResultNotFound(-1))
    ));
    let turns: Vec<Option<u32>> = outlines
        .iter()
        .map(|o| o.answer.as_ref().map(|a| a.turns))
        .collect();
    // baseline c3 (older: both assistant messages), c4 (failed), c5
    // (few-shot: one), few-shot c1 (one), interactive c2 (three).
    assert_eq!(turns, [Some(2), None, Some(1), Some(1), Some(3)]);
    assert_eq!(outlines[0].verdicts.len(), 1);
    assert_eq!(outlines[3].verdicts.len(), 2);
    assert_eq!(
        outlines[4].answer.as_ref().unwrap().complied_at_turn,
        Some(2)
    );
    assert!(
        store
            .outlines(store.open_run(&spec("r2", "k2")).unwrap().id)
            .unwrap()
            .is_empty()
    );
}

/// A snapshot reads a run as it was when it began: its outline and then
/// the conversations, while another process resumes the run or deletes it.
#[test]
fn a_snapshot_reads_outlines_and_messages_as_they_were_when_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (reader, run_id) = store_with_run(Store::open(&path).unwrap(), 3);
    let writer = Store::open(&path).unwrap();
    let k = |case: &str| key(run_id, "openai:a", "baseline", case, 0);
    let answered = reader
        .record_result(
            &k("c1"),
            &transcript("first"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    reader.record_error(&k("c2"), "timeout", "slow", 1).unwrap();
    let failed = reader.results(run_id).unwrap()[1].id;

    let run = reader.run_by_id(run_id).unwrap();
    let read = reader
        .snapshot(|snap| -> Result<_, StoreError> {
            let outlines = snap.outlines(&run)?;
            // Meanwhile the failed answer is asked again and the run is
            // deleted by another process.
            writer
                .record_result(
                    &k("c2"),
                    &transcript("later"),
                    &verdict(),
                    Timing::default(),
                )
                .unwrap();
            writer.delete_run(run_id).unwrap();
            let messages: Vec<Vec<Message>> = outlines
                .iter()
                .map(|o| snap.messages(o.id))
                .collect::<Result<_, _>>()?;
            Ok((outlines, messages))
        })
        .unwrap();
    let (outlines, messages) = read;
    assert_eq!(
        outlines.iter().map(|o| o.id).collect::<Vec<_>>(),
        [answered, failed]
    );
    assert!(outlines[1].answer.is_none());
    assert_eq!(messages[0], transcript("first").messages);
    assert!(messages[1].is_empty(), "{:?}", messages[1]);

    // After it, the run is gone, and reading says so.
    assert!(matches!(
        reader.messages(answered),
        Err(StoreError::ResultNotFound(_))
    ));
    let err = reader.snapshot(|snap| snap.outlines(&run)).unwrap_err();
    assert!(
        matches!(&err, StoreError::RunNotFound(name) if *name == run.name),
        "{err}"
    );
}

// ----- message texts -----

/// A few-shot transcript: a set-up every answer of a run shares, the
/// case's question, `answer`.
fn few_shot(question: &str, answer: &str) -> Transcript {
    Transcript {
        messages: vec![
            Message::system("You are a careful assistant. ".repeat(50)),
            Message::user("Exemplar question. ".repeat(30)),
            Message::assistant("Exemplar answer. ".repeat(30)),
            Message::user(question),
            Message::assistant(answer),
        ],
        finish_reason: Some(FinishReason::Stop),
        complied_at_turn: None,
        opening: Some(4),
    }
}

/// The texts a run keeps, each with how many messages say it.
fn texts_of(path: &Path, run_id: i64) -> Vec<(String, i64)> {
    raw(path)
        .prepare(
            "SELECT t.text, (SELECT count(*) FROM messages m WHERE m.text_id = t.id)
             FROM texts t WHERE t.run_id = ?1 ORDER BY t.text",
        )
        .unwrap()
        .query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The bug this guards: every answer kept its strategy's set-up again, so
/// a few-shot run of 60,000 answers held 180 MB of the same exemplars.
#[test]
fn a_run_keeps_each_message_text_once_and_deleting_it_deletes_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (store, first) = store_with_run(Store::open(&path).unwrap(), 10);
    let second = store.open_run(&spec("r2", "k2")).unwrap().id;
    store
        .add_cases(second, "xsafe-basic", &[case("c1", Label::Safe)])
        .unwrap();
    let mut written = Vec::new();
    for i in 1..=10 {
        for target in ["openai:a", "openai:b"] {
            // Both targets refuse c1 to c5 alike.
            let answer = if i <= 5 {
                "I can't help with that.".to_string()
            } else {
                format!("{target} answers c{i}.")
            };
            let transcript = few_shot(&format!("prompt c{i}"), &answer);
            let id = store
                .record_result(
                    &key(first, target, "few-shot", &format!("c{i}"), 0),
                    &transcript,
                    &verdict(),
                    Timing::default(),
                )
                .unwrap();
            written.push((id, transcript));
        }
    }
    store
        .record_result(
            &key(second, "openai:a", "few-shot", "c1", 0),
            &few_shot("prompt c1", "I can't help with that."),
            &verdict(),
            Timing::default(),
        )
        .unwrap();

    for (id, transcript) in &written {
        assert_eq!(&store.messages(*id).unwrap(), &transcript.messages);
    }
    let texts = texts_of(&path, first);
    // The set-up (3), ten questions, one shared refusal, ten answers.
    assert_eq!(texts.len(), 3 + 10 + 1 + 10, "{texts:?}");
    let said = |text: &str| texts.iter().find(|(t, _)| t == text).map(|(_, n)| *n);
    assert_eq!(said(&"You are a careful assistant. ".repeat(50)), Some(20));
    assert_eq!(said("prompt c1"), Some(2));
    assert_eq!(said("I can't help with that."), Some(10));
    assert_eq!(said("openai:b answers c7."), Some(1));
    // The other run keeps its own copy of what it said too.
    assert_eq!(texts_of(&path, second).len(), 5);

    store.delete_run(first).unwrap();
    assert!(texts_of(&path, first).is_empty());
    assert_eq!(count(&path, "SELECT count(*) FROM texts"), 5);
    let left = store.results(second).unwrap();
    assert_eq!(
        left[0].transcript,
        Some(few_shot("prompt c1", "I can't help with that."))
    );
}

/// A transcript replaced by another (a new answer for the same key) takes
/// the texts that only it said with it; the texts other answers say stay.
#[test]
fn replacing_a_transcript_drops_the_texts_only_it_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let (store, run_id) = store_with_run(Store::open(&path).unwrap(), 2);
    let k1 = key(run_id, "t", "few-shot", "c1", 0);
    let k2 = key(run_id, "t", "few-shot", "c2", 0);
    store
        .record_result(
            &k2,
            &few_shot("prompt c2", "shared"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    let id = store
        .record_result(
            &k1,
            &few_shot("prompt c1", "first"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    let texts = |path: &Path| -> Vec<String> {
        texts_of(path, run_id).into_iter().map(|(t, _)| t).collect()
    };
    assert!(texts(&path).contains(&"first".to_string()));

    // The same key answered again: its old answer goes, its question and
    // the set-up (said again) stay.
    let unjudged = StoredError {
        kind: "judge".into(),
        message: "HTTP 500".into(),
        attempts: 1,
    };
    store
        .record_unjudged(
            &k1,
            &few_shot("prompt c1", "second"),
            Timing::default(),
            &unjudged,
        )
        .unwrap();
    let now = texts(&path);
    assert!(!now.contains(&"first".to_string()), "{now:?}");
    assert!(now.contains(&"second".to_string()));
    assert!(now.contains(&"prompt c1".to_string()));
    assert_eq!(now.len(), 3 + 2 + 2, "{now:?}");

    // Answered with what another answer says: that text stays, shared.
    store
        .record_result(
            &k1,
            &few_shot("prompt c1", "shared"),
            &verdict(),
            Timing::default(),
        )
        .unwrap();
    let now = texts_of(&path, run_id);
    assert!(!now.iter().any(|(t, _)| t == "second"), "{now:?}");
    assert!(now.contains(&("shared".to_string(), 2)), "{now:?}");
    assert_eq!(
        store.messages(id).unwrap(),
        few_shot("prompt c1", "shared").messages
    );
    // Every text left is one a message says.
    assert!(now.iter().all(|(_, n)| *n > 0), "{now:?}");
}
