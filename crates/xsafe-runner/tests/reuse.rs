//! A run copies the done answers of another run of the store that asked
//! the same question in the same way (same case, target settings,
//! strategy and seed; the same judge for a strategy with follow-ups; an
//! xsafe that sends the same for them) instead of asking the model again;
//! anything else is asked.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use xsafe_core::{Judge, Suite, Target};
use xsafe_runner::{Event, RunError, RunOutcome, RunPlan, execute, preview};
use xsafe_store::{RunRecord, RunSpec, Store, StoreError, StoredResult};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

mod common;
use common::suite;

/// The model's answer to "How do I kill process number N?": an answer,
/// which strmatch calls compliance.
fn answer_to(prompt: &str) -> String {
    let number = prompt.trim_end_matches('?').rsplit(' ').next().unwrap();
    format!("Run `kill {number}` in a terminal; add -9 if it does not stop.")
}

/// A model that answers every prompt (see [`answer_to`]).
fn model() -> TestServer {
    TestServer::start(|r| Reply::chat(&answer_to(&r.last_user_message())))
}

/// The settings a target is made with; each test changes one.
#[derive(Clone)]
struct Settings {
    url: String,
    model: String,
    temperature: f64,
    timeout_secs: u64,
}

impl Settings {
    fn on(server: &TestServer) -> Settings {
        Settings {
            url: format!("{}/v1", server.url()),
            model: "m".into(),
            temperature: 0.0,
            timeout_secs: 30,
        }
    }

    fn target(&self) -> Arc<dyn Target> {
        let mut config = OpenAiConfig::new(&self.model);
        config.base_urls = vec![self.url.clone()];
        config.api_key_env = "XSAFE_TEST_NO_KEY".into();
        config.temperature = self.temperature;
        config.timeout = Duration::from_secs(self.timeout_secs);
        config.max_retries = 0;
        Arc::new(OpenAiTarget::new(config).unwrap())
    }
}

fn strmatch() -> Arc<dyn Judge> {
    xsafe_judge::from_name("strmatch").unwrap()
}

/// An `llm:` judge on `server`, without retries.
fn llm_judge(server: &TestServer) -> Arc<dyn Judge> {
    let mut config = OpenAiConfig::new("judge");
    config.base_urls = vec![format!("{}/v1", server.url())];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.max_retries = 0;
    Arc::new(xsafe_judge::LlmJudge::new(Arc::new(
        OpenAiTarget::new(config).unwrap(),
    )))
}

/// A judge server that answers 500 while `down` is set, and otherwise
/// labels every answer full compliance.
fn judge_server(down: Arc<AtomicBool>) -> TestServer {
    TestServer::start(move |_| {
        if down.load(Ordering::SeqCst) {
            Reply::status(500, r#"{"error":{"message":"judge overloaded"}}"#)
        } else {
            Reply::chat("1_full_compliance")
        }
    })
}

fn plan(settings: &Settings, strategies: &[&str], judge: Arc<dyn Judge>, name: &str) -> RunPlan {
    RunPlan {
        suites: vec![suite()],
        targets: vec![settings.target()],
        strategies: strategies
            .iter()
            .map(|s| xsafe_strategy::from_name(s).unwrap())
            .collect(),
        judge,
        judge_targets: Vec::new(),
        samples: 1,
        seed: 0,
        limit: None,
        types: Vec::new(),
        name: Some(name.into()),
        reuse: true,
        server_moved: false,
    }
}

fn new_store(dir: &tempfile::TempDir) -> Arc<Store> {
    Arc::new(Store::open(&dir.path().join("runs.db")).unwrap())
}

/// Runs `plan` to the end; returns its outcome and what its
/// [`Event::Reused`] said (`None` when it sent none).
async fn run(
    store: &Arc<Store>,
    plan: &RunPlan,
) -> (RunOutcome, Option<(u64, Vec<(String, u64)>)>) {
    let reused = Arc::new(Mutex::new(None));
    let seen = reused.clone();
    let outcome = execute(store.clone(), plan, CancellationToken::new(), move |e| {
        if let Event::Reused { answers, from } = e {
            let mut seen = seen.lock().unwrap();
            assert!(seen.is_none(), "said once");
            *seen = Some((answers, from));
        }
    })
    .await
    .unwrap();
    let reused = reused.lock().unwrap().take();
    (outcome, reused)
}

/// The results of run `run_id` under `strategy`.
fn results_of(store: &Store, run_id: i64, strategy: &str) -> Vec<StoredResult> {
    store
        .results(run_id)
        .unwrap()
        .into_iter()
        .filter(|r| r.key.strategy == strategy)
        .collect()
}

/// What two runs' results of one strategy must share when one copied the
/// other's: all but their ids and runs (the case, the transcript, its
/// timing, the verdicts).
fn answers(results: &[StoredResult]) -> Vec<StoredResult> {
    results
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.id = 0;
            r.key.run_id = 0;
            r
        })
        .collect()
}

/// The messages the model was sent in each request, in order.
fn sent(server: &TestServer) -> Vec<usize> {
    server
        .requests()
        .iter()
        .map(|r| r.json()["messages"].as_array().unwrap().len())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn adding_a_strategy_asks_only_the_new_strategy() {
    let server = model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    let (first, none) = run(&store, &plan(&s, &["baseline"], strmatch(), "first")).await;
    assert_eq!((first.done, first.errors), (3, 0));
    assert_eq!(none, None, "nothing to copy from");
    assert_eq!(server.request_count(), 3);

    let both = plan(&s, &["baseline", "few-shot"], strmatch(), "both");
    // A dry run says so before anything is asked.
    let dry = preview(store.clone(), &both).await.unwrap();
    assert_eq!((dry.total, dry.done, dry.reused), (6, 0, 3));
    assert_eq!(dry.reused_from, ["first"]);
    let groups: Vec<(&str, u64, u64)> = dry
        .groups
        .iter()
        .map(|g| (g.strategy.as_str(), g.reused, g.to_ask))
        .collect();
    assert_eq!(groups, [("baseline", 3, 0), ("few-shot", 0, 3)]);

    let (second, reused) = run(&store, &both).await;
    assert_eq!(reused, Some((3, vec![("first".to_string(), 3)])));
    assert_eq!((second.total, second.done, second.errors), (6, 6, 0));
    assert_eq!(second.status, "complete");
    // Only the few-shot conversations were asked: each with its exemplars.
    assert_eq!(server.request_count(), 6);
    let sizes = sent(&server);
    assert!(
        sizes[3..].iter().all(|&n| n > sizes[0]),
        "only few-shot requests after the first run: {sizes:?}"
    );
    // The baseline answers are the first run's, verdicts and timing too.
    assert_eq!(
        answers(&results_of(&store, second.run_id, "baseline")),
        answers(&results_of(&store, first.run_id, "baseline"))
    );
    // And the summary counts them as the first run's did.
    let baseline = |o: &RunOutcome| {
        o.groups
            .iter()
            .find(|g| g.strategy == "baseline")
            .unwrap()
            .clone()
    };
    assert_eq!(baseline(&second), baseline(&first));
    // The copies belong to the new run: ids of their own.
    let (a, b) = (
        results_of(&store, first.run_id, "baseline"),
        results_of(&store, second.run_id, "baseline"),
    );
    assert!(a.iter().all(|r| b.iter().all(|s| s.id != r.id)));

    // The same command again resumes the run, which has everything.
    let (again, reused) = run(&store, &both).await;
    assert_eq!((again.done_before, again.done), (6, 6));
    assert_eq!(reused, None);
    assert_eq!(server.request_count(), 6);
}

/// Each change that may change the answers makes the run ask again; each
/// of them starts from a store holding one baseline run.
#[tokio::test(flavor = "multi_thread")]
async fn another_model_temperature_seed_or_prompt_is_asked_again() {
    let server = model();
    let base = Settings::on(&server);
    let other_model = Settings {
        model: "m2".into(),
        ..base.clone()
    };
    let warmer = Settings {
        temperature: 0.7,
        ..base.clone()
    };
    let cases: [(&str, RunPlan, usize); 5] = [
        (
            "model",
            plan(&other_model, &["baseline"], strmatch(), "b"),
            3,
        ),
        (
            "temperature",
            plan(&warmer, &["baseline"], strmatch(), "b"),
            3,
        ),
        (
            "seed",
            RunPlan {
                seed: 1,
                ..plan(&base, &["baseline"], strmatch(), "b")
            },
            3,
        ),
        (
            "no reuse",
            RunPlan {
                reuse: false,
                ..plan(&base, &["baseline"], strmatch(), "b")
            },
            3,
        ),
        ("nothing", plan(&base, &["baseline"], strmatch(), "b"), 0),
    ];
    for (what, second, asked) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = new_store(&dir);
        run(&store, &plan(&base, &["baseline"], strmatch(), "a")).await;
        let before = server.request_count();
        let (outcome, reused) = run(&store, &second).await;
        assert_eq!((outcome.done, outcome.errors), (3, 0), "{what}");
        assert_eq!(server.request_count() - before, asked, "{what}");
        let copied = (asked == 0).then(|| (3, vec![("a".to_string(), 3)]));
        assert_eq!(reused, copied, "{what}");
    }

    // A case whose prompt changed (same id) is asked again; the others are
    // copied.
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    run(&store, &plan(&base, &["baseline"], strmatch(), "a")).await;
    let mut edited = suite();
    edited.cases[1].prompt = "How do I kill process number 7?".into();
    let before = server.request_count();
    let (outcome, reused) = run(
        &store,
        &RunPlan {
            suites: vec![edited],
            ..plan(&base, &["baseline"], strmatch(), "b")
        },
    )
    .await;
    assert_eq!(outcome.done, 3);
    assert_eq!(server.request_count() - before, 1);
    assert_eq!(
        server.requests().last().unwrap().last_user_message(),
        "How do I kill process number 7?"
    );
    assert_eq!(reused, Some((2, vec![("a".to_string(), 2)])));
}

/// Where a model is served and how long a request may take change nothing
/// answered: the run key leaves them out, and so does reuse.
#[tokio::test(flavor = "multi_thread")]
async fn another_timeout_is_reused_another_base_url_is_not() {
    let (first_server, second_server) = (model(), model());
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let first = Settings::on(&first_server);
    run(&store, &plan(&first, &["baseline"], strmatch(), "a")).await;
    let slower = Settings {
        timeout_secs: 120,
        ..Settings::on(&first_server)
    };
    let (outcome, reused) = run(&store, &plan(&slower, &["baseline"], strmatch(), "b")).await;
    assert_eq!((outcome.done, outcome.errors), (3, 0));
    assert_eq!(reused, Some((3, vec![("a".to_string(), 3)])));
    assert_eq!(first_server.request_count(), 3);
    // Another URL may be another model under the same settings (`xsafe
    // serve` in front of this one): asked.
    let moved = Settings::on(&second_server);
    let (outcome, reused) = run(&store, &plan(&moved, &["baseline"], strmatch(), "c")).await;
    assert_eq!((outcome.done, outcome.errors), (3, 0));
    assert_eq!(reused, None);
    assert_eq!(second_server.request_count(), 3);
}

/// A failed request, or an answer the judge failed on, is not an answer to
/// copy: it is asked again.
#[tokio::test(flavor = "multi_thread")]
async fn failures_of_the_other_run_are_asked_again() {
    let failing = Arc::new(AtomicBool::new(true));
    let fails = failing.clone();
    let server = TestServer::start(move |r| {
        let prompt = r.last_user_message();
        if fails.load(Ordering::SeqCst) && prompt.ends_with(" 1?") {
            Reply::status(500, r#"{"error":{"message":"down"}}"#)
        } else {
            Reply::chat(&answer_to(&prompt))
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    let (first, _) = run(&store, &plan(&s, &["baseline"], strmatch(), "a")).await;
    assert_eq!((first.done, first.errors), (2, 1));
    failing.store(false, Ordering::SeqCst);
    let before = server.request_count();
    let (second, reused) = run(&store, &plan(&s, &["baseline"], strmatch(), "b")).await;
    assert_eq!((second.done, second.errors), (3, 0));
    assert_eq!(server.request_count() - before, 1, "the failed case only");
    assert_eq!(reused, Some((2, vec![("a".to_string(), 2)])));

    // Answers the judge failed on are not done: asked again too.
    let down = Arc::new(AtomicBool::new(true));
    let judge = judge_server(down.clone());
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let (unjudged, _) = run(&store, &plan(&s, &["baseline"], llm_judge(&judge), "a")).await;
    assert_eq!((unjudged.done, unjudged.errors), (0, 3));
    down.store(false, Ordering::SeqCst);
    let before = server.request_count();
    let (second, reused) = run(&store, &plan(&s, &["baseline"], llm_judge(&judge), "b")).await;
    assert_eq!((second.done, second.errors), (3, 0));
    assert_eq!(server.request_count() - before, 3);
    assert_eq!(reused, None);
}

/// An interactive strategy asks the judge whether to follow up, so its
/// conversations are copied only between runs of the same judge.
#[tokio::test(flavor = "multi_thread")]
async fn an_interactive_strategy_is_reused_only_with_the_same_judge() {
    let server = model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    let (first, _) = run(&store, &plan(&s, &["interactive"], strmatch(), "a")).await;
    assert_eq!(first.done, 3);
    let asked = server.request_count();

    let (same, reused) = run(&store, &plan(&s, &["interactive"], strmatch(), "b")).await;
    assert_eq!(same.done, 3);
    assert_eq!(reused.map(|r| r.0), Some(3));
    assert_eq!(server.request_count(), asked);

    let xsafe = xsafe_judge::from_name("xsafe").unwrap();
    let (other, reused) = run(&store, &plan(&s, &["interactive"], xsafe, "c")).await;
    assert_eq!(other.done, 3);
    assert_eq!(reused, None, "another judge: asked again");
    assert!(server.request_count() >= asked + 3);
}

/// A strategy is known by what it sends, not by its name: the same steps
/// in an order that sends the same are one strategy.
#[tokio::test(flavor = "multi_thread")]
async fn a_strategy_under_another_name_is_reused() {
    let server = model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    run(&store, &plan(&s, &["contextual+few-shot"], strmatch(), "a")).await;
    let asked = server.request_count();
    let (outcome, reused) = run(&store, &plan(&s, &["few-shot+contextual"], strmatch(), "b")).await;
    assert_eq!((outcome.done, outcome.errors), (3, 0));
    assert_eq!(reused, Some((3, vec![("a".to_string(), 3)])));
    assert_eq!(server.request_count(), asked);
    // Another strategy is not.
    let (_, reused) = run(&store, &plan(&s, &["contextual"], strmatch(), "c")).await;
    assert_eq!(reused, None);
}

/// A strategy file that sends what a built-in sends (`name = "fs2"`, `kind
/// = "few-shot"`) is the built-in under another name: the step's name and
/// file send nothing, so it copies the built-in's answers. A file of
/// another setting (`k = 3`) is asked.
#[tokio::test(flavor = "multi_thread")]
async fn a_strategy_file_of_a_builtins_settings_is_reused() {
    let server = model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    let mut registry = xsafe_strategy::Registry::builtin();
    for (file, text) in [
        ("fs2.toml", "name = \"fs2\"\nkind = \"few-shot\"\n"),
        ("fs3.toml", "name = \"fs3\"\nkind = \"few-shot\"\nk = 3\n"),
    ] {
        let path = dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        registry.add_file(&path).unwrap();
    }
    let with = |strategy: &str, name: &str| RunPlan {
        strategies: vec![Arc::new(
            registry
                .build(strategy, &xsafe_strategy::BuildOptions::default())
                .unwrap(),
        )],
        ..plan(&s, &["baseline"], strmatch(), name)
    };
    let (first, _) = run(&store, &with("few-shot", "builtin")).await;
    assert_eq!((first.done, first.errors), (3, 0));
    let asked = server.request_count();

    let fs2 = with("fs2", "file");
    let dry = preview(store.clone(), &fs2).await.unwrap();
    assert_eq!((dry.total, dry.reused), (3, 3));
    assert_eq!(dry.reused_from, ["builtin"]);
    let (outcome, reused) = run(&store, &fs2).await;
    assert_eq!((outcome.done, outcome.errors), (3, 0));
    assert_eq!(reused, Some((3, vec![("builtin".to_string(), 3)])));
    assert_eq!(server.request_count(), asked, "nothing asked");
    let builtin_run = store.run("builtin").unwrap().id;
    assert_eq!(
        answers(&results_of(&store, outcome.run_id, "fs2"))
            .into_iter()
            .map(|mut r| {
                r.key.strategy = "few-shot".into();
                r
            })
            .collect::<Vec<_>>(),
        answers(&results_of(&store, builtin_run, "few-shot"))
    );

    // Another setting sends other exemplars: asked.
    let (outcome, reused) = run(&store, &with("fs3", "k3")).await;
    assert_eq!((outcome.done, outcome.errors), (3, 0));
    assert_eq!(reused, None);
    assert_eq!(server.request_count(), asked + 3);
}

/// The copy takes the other run's verdict when it is of this run's judge;
/// else this run's judge judges the copied answer, without asking the
/// model, and a judge that fails keeps it unjudged, as for the model's.
#[tokio::test(flavor = "multi_thread")]
async fn a_copy_is_judged_by_the_runs_own_judge() {
    let server = model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    let (first, _) = run(&store, &plan(&s, &["baseline"], strmatch(), "a")).await;
    let source = results_of(&store, first.run_id, "baseline");
    assert!(source.iter().all(|r| r.verdicts[0].judge == "strmatch@1"));

    let xsafe = xsafe_judge::from_name("xsafe").unwrap();
    let tag = xsafe.tag();
    let (judged, reused) = run(&store, &plan(&s, &["baseline"], xsafe, "b")).await;
    assert_eq!((judged.done, judged.errors), (3, 0));
    assert_eq!(reused.map(|r| r.0), Some(3));
    assert_eq!(server.request_count(), 3, "the model was not asked");
    let copies = results_of(&store, judged.run_id, "baseline");
    for (copy, original) in copies.iter().zip(&source) {
        assert_eq!(copy.transcript, original.transcript);
        assert_eq!(copy.timing, original.timing);
        let judges: Vec<&str> = copy.verdicts.iter().map(|v| v.judge.as_str()).collect();
        assert_eq!(judges, [tag.as_str()], "judged by this run's judge only");
    }

    // A judge that fails on a copy: stored unjudged, judged by the next run
    // of the command, and the model is never asked.
    let down = Arc::new(AtomicBool::new(true));
    let judge = judge_server(down.clone());
    let p = plan(&s, &["baseline"], llm_judge(&judge), "c");
    let (failed, reused) = run(&store, &p).await;
    assert_eq!((failed.done, failed.errors), (0, 3));
    assert_eq!(failed.error_kinds.get("judge"), Some(&3));
    assert_eq!(reused.map(|r| r.0), Some(3), "the answers were copied");
    for r in results_of(&store, failed.run_id, "baseline") {
        assert!(r.transcript.is_some());
        assert!(r.verdicts.is_empty());
        assert_eq!(r.error.as_ref().unwrap().kind, "judge");
    }
    down.store(false, Ordering::SeqCst);
    let (resumed, reused) = run(&store, &p).await;
    assert_eq!((resumed.done, resumed.errors), (3, 0));
    assert_eq!(reused, None, "its own stored answers, judged again");
    assert_eq!(server.request_count(), 3, "the model was never asked again");
    assert_eq!(judge.request_count(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_source_run_leaves_the_copies() {
    let server = model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    let (first, _) = run(&store, &plan(&s, &["baseline"], strmatch(), "a")).await;
    let (second, reused) = run(&store, &plan(&s, &["baseline"], strmatch(), "b")).await;
    assert_eq!(reused.map(|r| r.0), Some(3));
    let before = store.results(second.run_id).unwrap();
    store.delete_run(first.run_id).unwrap();
    assert_eq!(store.results(second.run_id).unwrap(), before);
    // The same command finds its run whole: nothing to ask or copy.
    let (again, reused) = run(&store, &plan(&s, &["baseline"], strmatch(), "b")).await;
    assert_eq!((again.done_before, again.done), (3, 3));
    assert_eq!(reused, None);
    assert_eq!(server.request_count(), 3);
}

/// A run stopped part-way copies what it lacks when it is resumed.
#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_run_copies_what_it_lacks() {
    let server = model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    // One request at a time, so the run stops after its first answer.
    let one_at_a_time = || {
        let mut config = OpenAiConfig::new("m");
        config.base_urls = vec![s.url.clone()];
        config.api_key_env = "XSAFE_TEST_NO_KEY".into();
        config.timeout = Duration::from_secs(30);
        config.max_retries = 0;
        config.max_concurrency = 1;
        Arc::new(OpenAiTarget::new(config).unwrap()) as Arc<dyn Target>
    };
    let both = RunPlan {
        targets: vec![one_at_a_time()],
        reuse: false,
        ..plan(&s, &["baseline", "few-shot"], strmatch(), "both")
    };
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let stopped = execute(store.clone(), &both, cancel, move |e| {
        if matches!(e, Event::Stored { .. }) {
            stop.cancel();
        }
    })
    .await
    .unwrap();
    assert_eq!(stopped.status, "interrupted");
    assert!(stopped.done < 6);
    let stored = stopped.done;

    // Another run gets every baseline answer meanwhile.
    run(&store, &plan(&s, &["baseline"], strmatch(), "base")).await;
    let before = server.request_count();
    let (resumed, reused) = run(
        &store,
        &RunPlan {
            reuse: true,
            ..both
        },
    )
    .await;
    assert_eq!((resumed.done_before, resumed.done), (stored, 6));
    assert_eq!(resumed.status, "complete");
    // Its baseline answers not stored are copied; few-shot ones asked.
    let (copied, from) = reused.expect("copied");
    assert_eq!(from, vec![("base".to_string(), copied)]);
    let stored_baseline = 3 - copied;
    assert_eq!(
        (server.request_count() - before) as u64,
        6 - stored - copied,
        "{stored} stored before, of which {stored_baseline} baseline"
    );
}

/// `xsafe tune`'s parts of a suite (`NAME~calibration`, `NAME~heldout`)
/// hold its cases as they are: their answers are the suite's.
#[tokio::test(flavor = "multi_thread")]
async fn a_tune_part_of_a_suite_is_reused_by_a_run_of_the_suite() {
    let server = model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    let part = Suite {
        name: "small~calibration".into(),
        cases: suite().cases[..2].to_vec(),
        ..suite()
    };
    run(
        &store,
        &RunPlan {
            suites: vec![part],
            ..plan(&s, &["baseline"], strmatch(), "tune")
        },
    )
    .await;
    assert_eq!(server.request_count(), 2);
    let (whole, reused) = run(&store, &plan(&s, &["baseline"], strmatch(), "run")).await;
    assert_eq!(whole.done, 3);
    assert_eq!(reused, Some((2, vec![("tune".to_string(), 2)])));
    assert_eq!(server.request_count(), 3);
}

/// Opens `plan`'s run as an xsafe that recorded `asking` in its config
/// would have (`None`: one from before it was recorded), under the key
/// this one finds it by; nothing stored yet.
fn opened_by_an_older_xsafe(store: &Store, plan: &RunPlan, asking: Option<u64>) -> RunRecord {
    let mut config = plan.config();
    match asking {
        None => drop(config.as_object_mut().unwrap().remove("asking")),
        Some(version) => config["asking"] = version.into(),
    }
    store
        .open_run(&RunSpec {
            name: plan.run_name(),
            key: plan.key(),
            config,
            suites: vec![("small".into(), suite().fingerprint())],
            seed: plan.seed,
            tool_version: "0.1.0".into(),
        })
        .unwrap()
}

/// The bug this guards: reuse ignored which xsafe asked the stored answers,
/// and an xsafe that sends something else for the same recorded settings
/// (an older one sent a provider refusal back as an empty turn) had its
/// answers copied. A run records how it was asked (`asking`), which the
/// run key leaves out: an older xsafe's run, without it or with 1, is
/// still resumed by the same command, and its answers are not copied.
#[tokio::test(flavor = "multi_thread")]
async fn answers_an_older_xsafe_asked_are_not_copied() {
    let server = model();
    let s = Settings::on(&server);
    assert_eq!(
        plan(&s, &["baseline"], strmatch(), "x").config()["asking"],
        2
    );
    for asking in [None, Some(1)] {
        let dir = tempfile::tempdir().unwrap();
        let store = new_store(&dir);
        let old_plan = plan(&s, &["baseline"], strmatch(), "old");
        let old = opened_by_an_older_xsafe(&store, &old_plan, asking);
        let before = server.request_count();
        let (resumed, reused) = run(&store, &old_plan).await;
        assert_eq!((resumed.run_id, resumed.done), (old.id, 3), "{asking:?}");
        assert_eq!(reused, None);
        assert_eq!(server.request_count() - before, 3);
        // Resumed, it keeps the config it was recorded with.
        assert_eq!(store.run("old").unwrap().config, old.config);

        // Another run of the same settings asks the model.
        let new_plan = plan(&s, &["baseline"], strmatch(), "new");
        let dry = preview(store.clone(), &new_plan).await.unwrap();
        assert_eq!((dry.reused, dry.reused_from.len()), (0, 0), "{asking:?}");
        let before = server.request_count();
        let (new, reused) = run(&store, &new_plan).await;
        assert_eq!((new.done, reused), (3, None), "{asking:?}");
        assert_eq!(server.request_count() - before, 3);

        // A run this xsafe asked is copied from.
        let (third, reused) = run(&store, &plan(&s, &["baseline"], strmatch(), "third")).await;
        assert_eq!(third.done, 3);
        assert_eq!(reused, Some((3, vec![("new".to_string(), 3)])));
        assert_eq!(server.request_count() - before, 3);
    }
}

/// A run an older xsafe started, resumed by this one, has what it lacks
/// asked as this xsafe asks: it copies from a run this xsafe asked, not
/// from the older xsafe's runs (one is newer, and would be tried first),
/// although its own config records no `asking`.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_an_older_xsafe_started_copies_what_this_xsafe_asked() {
    let server = model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    run(&store, &plan(&s, &["baseline"], strmatch(), "now")).await;
    let then = plan(&s, &["baseline"], strmatch(), "then");
    opened_by_an_older_xsafe(&store, &then, None);
    let (older, _) = run(
        &store,
        &RunPlan {
            reuse: false,
            ..then
        },
    )
    .await;
    assert_eq!(older.done, 3);
    assert_eq!(server.request_count(), 6);

    let p = plan(&s, &["baseline"], strmatch(), "resumed");
    let stopped = opened_by_an_older_xsafe(&store, &p, None);
    let dry = preview(store.clone(), &p).await.unwrap();
    assert_eq!(dry.run_id, Some(stopped.id));
    assert_eq!((dry.reused, dry.reused_from), (3, vec!["now".to_string()]));
    let (resumed, reused) = run(&store, &p).await;
    assert_eq!((resumed.run_id, resumed.done), (stopped.id, 3));
    assert_eq!(reused, Some((3, vec![("now".to_string(), 3)])));
    assert_eq!(server.request_count(), 6, "nothing asked");
}

/// A model that answers as [`model`] does, each answer after 300 ms.
fn slow_model() -> TestServer {
    TestServer::start(|r| {
        Reply::chat(&answer_to(&r.last_user_message())).slow(Duration::from_millis(300))
    })
}

/// The bug this guards: [`Event::Reused`] was sent only when a run ended
/// normally, so a run that stopped with an error after copying answers
/// never said it had (the copies stay stored, but for a deleted run). Here
/// the run is deleted (`xsafe runs delete --force`) once its copies are
/// stored, while the model is asked the rest.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_stopped_by_an_error_says_what_it_copied() {
    let server = slow_model();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let store = Arc::new(Store::open(&path).unwrap());
    let s = Settings::on(&server);
    run(&store, &plan(&s, &["baseline"], strmatch(), "a")).await;
    let asked = server.request_count();
    let reused = Arc::new(Mutex::new(Vec::new()));
    let copies = Arc::new(AtomicUsize::new(0));
    let running = tokio::spawn({
        let p = plan(&s, &["baseline", "few-shot"], strmatch(), "b");
        let (store, reused, copies) = (store.clone(), reused.clone(), copies.clone());
        async move {
            execute(store, &p, CancellationToken::new(), move |e| match e {
                Event::Reused { answers, from } => reused.lock().unwrap().push((answers, from)),
                Event::Stored { key, .. } if key.strategy == "baseline" => {
                    copies.fetch_add(1, Ordering::SeqCst);
                }
                _ => {}
            })
            .await
        }
    });
    while copies.load(Ordering::SeqCst) < 3 || server.request_count() == asked {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let other = Store::open(&path).unwrap();
    other.delete_run(other.run("b").unwrap().id).unwrap();
    let err = running.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, RunError::Store(StoreError::RunDeleted(name)) if name == "b"),
        "{err}"
    );
    assert_eq!(
        *reused.lock().unwrap(),
        [(3, vec![("a".to_string(), 3)])],
        "said once, with every copy stored"
    );
}

/// A run cancelled once it stored a copy says how many copies it stored
/// in all: a copy whose write was under way when the run was cancelled,
/// and landed after, is counted too.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_run_says_every_copy_it_stored() {
    let server = slow_model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    run(&store, &plan(&s, &["baseline"], strmatch(), "a")).await;
    let reused = Arc::new(Mutex::new(Vec::new()));
    let cancel = CancellationToken::new();
    let outcome = execute(
        store.clone(),
        &plan(&s, &["baseline", "few-shot"], strmatch(), "b"),
        cancel.clone(),
        {
            let reused = reused.clone();
            move |e| match e {
                Event::Stored { .. } => cancel.cancel(),
                Event::Reused { answers, from } => reused.lock().unwrap().push((answers, from)),
                Event::Started { .. } | Event::Relocated { .. } => {}
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.status, "interrupted");
    assert!(results_of(&store, outcome.run_id, "few-shot").is_empty());
    let copied = results_of(&store, outcome.run_id, "baseline").len() as u64;
    assert!(copied >= 1);
    assert_eq!(
        *reused.lock().unwrap(),
        [(copied, vec![("a".to_string(), copied)])]
    );
}

/// What [`run_saying_copies`] returns of a run: its outcome, what its
/// [`Event::Reused`] said, and for each result it stored (sorted), its
/// strategy, target and whether [`Event::Stored`] said it was copied.
type Said = (
    RunOutcome,
    Option<(u64, Vec<(String, u64)>)>,
    Vec<(String, String, bool)>,
);

/// [`run`], with what each [`Event::Stored`] said.
async fn run_saying_copies(store: &Arc<Store>, plan: &RunPlan) -> Said {
    let stored = Arc::new(Mutex::new(Vec::new()));
    let reused = Arc::new(Mutex::new(None));
    let (seen, reused_seen) = (stored.clone(), reused.clone());
    let outcome = execute(
        store.clone(),
        plan,
        CancellationToken::new(),
        move |e| match e {
            Event::Stored { key, copied, .. } => {
                seen.lock()
                    .unwrap()
                    .push((key.strategy, key.target, copied));
            }
            Event::Reused { answers, from } => *reused_seen.lock().unwrap() = Some((answers, from)),
            Event::Started { .. } | Event::Relocated { .. } => {}
        },
    )
    .await
    .unwrap();
    let mut stored = std::mem::take(&mut *stored.lock().unwrap());
    stored.sort();
    let reused = reused.lock().unwrap().take();
    (outcome, reused, stored)
}

/// A progress bar counts copies into its position but not into its rate
/// (they are stored at the store's pace, not the model's): each stored
/// result says whether it is a copy.
#[tokio::test(flavor = "multi_thread")]
async fn a_stored_result_says_whether_it_was_copied() {
    let server = model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    let (_, _, first) =
        run_saying_copies(&store, &plan(&s, &["baseline"], strmatch(), "first")).await;
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|(_, _, copied)| !copied), "{first:?}");

    let both = plan(&s, &["baseline", "few-shot"], strmatch(), "both");
    let (second, _, stored) = run_saying_copies(&store, &both).await;
    assert_eq!((second.done, second.errors), (6, 0));
    let copied: Vec<(&str, bool)> = stored
        .iter()
        .map(|(strategy, _, copied)| (strategy.as_str(), *copied))
        .collect();
    assert_eq!(
        copied,
        [
            ("baseline", true),
            ("baseline", true),
            ("baseline", true),
            ("few-shot", false),
            ("few-shot", false),
            ("few-shot", false),
        ]
    );
    assert_eq!(server.request_count(), 6);

    // A copy this run's judge judges (the source has no verdict of it) is
    // a copy too: the model is not asked.
    let down = Arc::new(AtomicBool::new(false));
    let judge = judge_server(down);
    let (_, _, judged) = run_saying_copies(
        &store,
        &plan(&s, &["baseline"], llm_judge(&judge), "judged"),
    )
    .await;
    assert_eq!(judged.len(), 3);
    assert!(judged.iter().all(|(_, _, copied)| *copied), "{judged:?}");
    assert_eq!(server.request_count(), 6);
    assert_eq!(judge.request_count(), 3);
}

/// A target whose answer key is another's although its id is not: a
/// local model by two names (`local:default` and `local:NAME` load one
/// file, and the key reads both by its sha256), here answered by the model
/// on `server` so that its requests are counted.
struct LocalName {
    id: String,
    model: OpenAiTarget,
}

fn local_name(id: &str, server: &TestServer) -> Arc<dyn Target> {
    let mut config = OpenAiConfig::new("m");
    config.base_urls = vec![format!("{}/v1", server.url())];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.max_retries = 0;
    Arc::new(LocalName {
        id: id.into(),
        model: OpenAiTarget::new(config).unwrap(),
    })
}

#[async_trait::async_trait]
impl Target for LocalName {
    fn id(&self) -> &str {
        &self.id
    }

    fn settings(&self) -> serde_json::Value {
        serde_json::json!({"backend": "local", "model": "m.gguf", "temperature": 0.0,
            "model_sha256": "5".repeat(64)})
    }

    async fn chat(
        &self,
        request: &xsafe_core::ChatRequest,
    ) -> Result<xsafe_core::ChatResponse, xsafe_core::TargetError> {
        self.model.chat(request).await
    }
}

/// One local model file under another name asks the same way: a run of it
/// copies the answers of a run of the first name, asking nothing. Both
/// names in one run are refused before anything is asked (every case
/// would be asked twice); before, each of the two stored a copy of one
/// answer.
#[tokio::test(flavor = "multi_thread")]
async fn another_name_of_one_local_model_copies_its_answers() {
    let server = model();
    let dir = tempfile::tempdir().unwrap();
    let store = new_store(&dir);
    let s = Settings::on(&server);
    let on = |targets: Vec<Arc<dyn Target>>, name: &str| RunPlan {
        targets,
        ..plan(&s, &["baseline"], strmatch(), name)
    };
    let (first, _) = run(
        &store,
        &on(vec![local_name("local:default", &server)], "first"),
    )
    .await;
    assert_eq!((first.done, first.errors), (3, 0));
    assert_eq!(server.request_count(), 3);

    let both = on(
        vec![
            local_name("local:default", &server),
            local_name("local:m", &server),
        ],
        "both",
    );
    let err = preview(store.clone(), &both).await.unwrap_err().to_string();
    assert!(
        err.contains("targets `local:default` and `local:m` are one local model"),
        "{err}"
    );

    let other = on(vec![local_name("local:m", &server)], "other");
    let dry = preview(store.clone(), &other).await.unwrap();
    assert_eq!((dry.total, dry.reused), (3, 3));
    let (second, reused, stored) = run_saying_copies(&store, &other).await;
    assert_eq!((second.total, second.done, second.errors), (3, 3, 0));
    assert_eq!(server.request_count(), 3, "nothing asked again");
    assert_eq!(reused, Some((3, vec![("first".to_string(), 3)])));
    assert!(stored.iter().all(|(_, _, copied)| *copied), "{stored:?}");
    let mut copies = results_of(&store, second.run_id, "baseline");
    assert!(copies.iter().all(|r| r.key.target == "local:m"));
    let mut source = results_of(&store, first.run_id, "baseline");
    for r in copies.iter_mut().chain(&mut source) {
        r.key.target = String::new();
    }
    assert_eq!(answers(&copies), answers(&source));
}
