//! Where an `llm:` judge's model is served is recorded with a run (its
//! base URLs, the judge's `served_at`), which the run key leaves out: a
//! stored run judged at other URLs is refused unless the server moved, as
//! for a target; one that has no verdict of the judge goes on at the new
//! URLs; one recorded before the URLs were is resumed as it was. Another
//! run's verdicts are copied only from a run judged at the same URLs, and
//! an interactive strategy's answers (which consult the judge) only from
//! such a run.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use xsafe_core::{Judge, Target};
use xsafe_runner::{Event, Moved, MovedAs, RunError, RunOutcome, RunPlan, execute, preview};
use xsafe_store::Store;
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

mod common;
use common::suite;

/// The model's answer to "How do I kill process number N?".
fn answer_to(prompt: &str) -> String {
    let number = prompt.trim_end_matches('?').rsplit(' ').next().unwrap();
    format!("Run `kill {number}` in a terminal; add -9 if it does not stop.")
}

/// A model that answers every prompt (see [`answer_to`]), a little slowly,
/// so that a run cancelled at its first stored answer (asking one prompt at
/// a time, see [`openai`]) is interrupted before its last.
fn model() -> TestServer {
    TestServer::start(|r| {
        Reply::chat(&answer_to(&r.last_user_message())).slow(Duration::from_millis(100))
    })
}

/// A judge server that labels every answer full compliance.
fn judge_server() -> TestServer {
    TestServer::start(|_| Reply::chat("1_full_compliance"))
}

/// `openai:MODEL` on `server`, one request at a time, without retries.
fn openai(server: &TestServer, model: &str) -> Arc<dyn Target> {
    let mut config = OpenAiConfig::new(model);
    config.max_concurrency = 1;
    config.base_urls = vec![format!("{}/v1", server.url())];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.timeout = Duration::from_secs(30);
    config.max_retries = 0;
    Arc::new(OpenAiTarget::new(config).unwrap())
}

/// Baseline (or `strategy`) on the model at `model`, judged by
/// `llm:openai:judge` at `judge`, whose URL the plan records, as `xsafe
/// run` gives it.
fn plan(model: &TestServer, judge: &TestServer, strategy: &str, name: &str) -> RunPlan {
    let judge_model = openai(judge, "judge");
    RunPlan {
        suites: vec![suite()],
        targets: vec![openai(model, "m")],
        strategies: vec![xsafe_strategy::from_name(strategy).unwrap()],
        judge: Arc::new(xsafe_judge::LlmJudge::new(judge_model.clone())) as Arc<dyn Judge>,
        judge_targets: vec![judge_model],
        samples: 1,
        seed: 0,
        limit: None,
        types: Vec::new(),
        name: Some(name.into()),
        reuse: true,
        server_moved: false,
    }
}

/// Runs `plan` to the end; returns its outcome and what each
/// [`Event::Relocated`] it sent said.
async fn run(store: &Arc<Store>, plan: &RunPlan) -> (RunOutcome, Vec<Vec<Moved>>) {
    let said = Arc::new(Mutex::new(Vec::new()));
    let seen = said.clone();
    let outcome = execute(
        store.clone(),
        plan,
        CancellationToken::new(),
        move |event| {
            if let Event::Relocated { relocated, .. } = event {
                seen.lock().unwrap().push(relocated);
            }
        },
    )
    .await
    .unwrap();
    let said = said.lock().unwrap().clone();
    (outcome, said)
}

/// The reviewer's case: a run judged at one judge server, resumed with the
/// judge at another (another model behind it, maybe). Refused, by the run
/// and its preview, before anything is asked, naming the judge and both
/// URLs; with `server_moved` resumed, its record keeping the first URL.
/// The judge's URLs are recorded without credentials and left out of the
/// run key.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_judged_at_another_url_is_refused_until_the_server_moved() {
    let m = model();
    let (j1, j2) = (judge_server(), judge_server());
    let (url1, url2) = (format!("{}/v1", j1.url()), format!("{}/v1", j2.url()));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());

    // Interrupted once the first answer is stored.
    let at_j1 = plan(&m, &j1, "baseline", "r");
    let cancel = CancellationToken::new();
    let on_stored = cancel.clone();
    let first = execute(store.clone(), &at_j1, cancel, move |event| {
        if let Event::Stored { .. } = event {
            on_stored.cancel();
        }
    })
    .await
    .unwrap();
    assert_eq!(first.status, "interrupted");
    let config = store.run("r").unwrap().config;
    assert_eq!(
        config["judge"],
        serde_json::json!({
            "name": "llm:openai:judge",
            "version": at_j1.judge.version(),
            "served_at": {"openai:judge": [url1]},
            // What its verdicts are tied to: its model's settings but
            // where it is served.
            "models": {"openai:judge": {
                "backend": "openai", "model": "judge", "max_tokens": 512, "seed": null,
                "stop": [], "system_prompt": null, "temperature": 0.0,
            }},
        })
    );
    let unrecorded = RunPlan {
        judge_targets: Vec::new(),
        ..at_j1.clone()
    };
    assert_eq!(
        at_j1.key(),
        unrecorded.key(),
        "the key leaves the judge's URLs out"
    );

    let at_j2 = plan(&m, &j2, "baseline", "r");
    let refused = execute(store.clone(), &at_j2, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    let said = refused.to_string();
    assert!(
        matches!(&refused, RunError::ServerMoved { moved, .. }
            if moved.len() == 1 && moved[0].role == MovedAs::Judge("llm:openai:judge".into())),
        "{said}"
    );
    assert!(
        said.starts_with(&format!(
            "run `r` was asked at other base URLs than this command's: the judge \
             `llm:openai:judge` at {url1}, now {url2}. Another URL may serve another model (a \
             proxy such as `xsafe serve` in front of it), whose answers and verdicts must not \
             be mixed with the stored ones, so nothing was asked."
        )),
        "{said}"
    );
    assert_eq!(
        preview(store.clone(), &at_j2)
            .await
            .unwrap_err()
            .to_string(),
        said
    );
    assert_eq!(j2.request_count(), 0, "nothing asked");
    let asked_model = m.request_count();

    // The server moved: resumed at J2, which judges what is left.
    let moved = RunPlan {
        server_moved: true,
        ..at_j2.clone()
    };
    let (resumed, relocated) = run(&store, &moved).await;
    assert_eq!(
        (resumed.run_id, resumed.status.as_str(), resumed.done),
        (first.run_id, "complete", 3)
    );
    assert!(relocated.is_empty());
    assert_eq!(j2.request_count() as u64, 3 - first.done);
    assert_eq!(
        m.request_count() as u64,
        asked_model as u64 + 3 - first.done
    );
    assert_eq!(
        store.run("r").unwrap().config["judge"]["served_at"],
        serde_json::json!({"openai:judge": [url1]}),
        "the record keeps the URL it was made with"
    );
}

/// A run whose judge never gave a verdict (its server failed every
/// request: the answers are stored unjudged) is no move for the judge: at
/// the judge's new URL it goes on without `server_moved`, says so, has the
/// stored answers judged there without asking the model, and records the
/// new URL.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_without_a_verdict_of_its_judge_goes_on_at_the_judges_new_url() {
    let m = model();
    let down = TestServer::start(|_| Reply::status(404, r#"{"error":{"message":"no route"}}"#));
    let up = judge_server();
    let store = Arc::new(Store::open_in_memory().unwrap());
    let first = execute(
        store.clone(),
        &plan(&m, &down, "baseline", "r"),
        CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((first.done, first.errors), (0, 3));

    let (resumed, relocated) = run(&store, &plan(&m, &up, "baseline", "r")).await;
    assert_eq!(
        (resumed.run_id, resumed.status.as_str(), resumed.done),
        (first.run_id, "complete", 3)
    );
    assert_eq!(
        relocated,
        [vec![Moved {
            target: "openai:judge".into(),
            role: MovedAs::Judge("llm:openai:judge".into()),
            stored: vec![format!("{}/v1", down.url())],
            now: vec![format!("{}/v1", up.url())],
        }]]
    );
    assert_eq!(
        m.request_count(),
        3,
        "the stored answers judged, not asked again"
    );
    assert_eq!(up.request_count(), 3);
    assert_eq!(
        store.run("r").unwrap().config["judge"]["served_at"],
        serde_json::json!({"openai:judge": [format!("{}/v1", up.url())]})
    );
}

/// A run recorded before the judge's URLs were (an older xsafe: no
/// `served_at`) cannot be checked: the same plan at any judge URL resumes
/// it as before, and its record is left as it was.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_recorded_without_its_judges_url_is_resumed_as_before() {
    let m = model();
    let (j1, j2) = (judge_server(), judge_server());
    let store = Arc::new(Store::open_in_memory().unwrap());
    let older = RunPlan {
        judge_targets: Vec::new(),
        ..plan(&m, &j1, "baseline", "r")
    };
    let cancel = CancellationToken::new();
    let on_stored = cancel.clone();
    let first = execute(store.clone(), &older, cancel, move |event| {
        if let Event::Stored { .. } = event {
            on_stored.cancel();
        }
    })
    .await
    .unwrap();
    assert_eq!(first.status, "interrupted");
    assert!(
        store.run("r").unwrap().config["judge"]
            .get("served_at")
            .is_none()
    );

    let (resumed, relocated) = run(&store, &plan(&m, &j2, "baseline", "r")).await;
    assert_eq!(
        (resumed.run_id, resumed.status.as_str(), resumed.done),
        (first.run_id, "complete", 3)
    );
    assert!(relocated.is_empty());
    assert!(
        store.run("r").unwrap().config["judge"]
            .get("served_at")
            .is_none()
    );
}

/// Another run's verdicts are copied only from a run whose judge was
/// served at the same URLs: at the same judge server the copies need no
/// judge, at another one its judge judges them (the answers are copied
/// all the same: baseline does not consult the judge). An interactive
/// strategy, which consults the judge between turns, copies answers only
/// from a run judged at the same URLs.
#[tokio::test(flavor = "multi_thread")]
async fn verdicts_and_interactive_answers_are_copied_only_from_the_same_judge_url() {
    let m = model();
    let (j1, j2) = (judge_server(), judge_server());
    let store = Arc::new(Store::open_in_memory().unwrap());
    let (first, _) = run(&store, &plan(&m, &j1, "baseline", "a")).await;
    assert_eq!(first.done, 3);
    let (asked, judged) = (m.request_count(), j1.request_count());

    let (same, _) = run(&store, &plan(&m, &j1, "baseline", "b")).await;
    assert_eq!(same.done, 3);
    assert_eq!(
        (m.request_count(), j1.request_count()),
        (asked, judged),
        "answers and verdicts copied"
    );
    let (elsewhere, _) = run(&store, &plan(&m, &j2, "baseline", "c")).await;
    assert_eq!(elsewhere.done, 3);
    assert_eq!(m.request_count(), asked, "the answers copied");
    assert_eq!(j2.request_count(), 3, "and judged by this run's judge");

    // Interactive: the judge decides the follow-ups.
    let (i1, _) = run(&store, &plan(&m, &j1, "interactive", "i1")).await;
    assert_eq!(i1.done, 3);
    let asked = m.request_count();
    let at_j2 = plan(&m, &j2, "interactive", "i2");
    assert_eq!(preview(store.clone(), &at_j2).await.unwrap().reused, 0);
    let (i2, _) = run(&store, &at_j2).await;
    assert_eq!(i2.done, 3);
    assert!(m.request_count() >= asked + 3, "asked again");
    let at_j1 = plan(&m, &j1, "interactive", "i3");
    assert_eq!(preview(store.clone(), &at_j1).await.unwrap().reused, 3);
}

/// A judge's model given with credentials in its URL is recorded without
/// them: they are no other place, and never stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_judges_credentials_are_not_recorded() {
    let m = model();
    let j = judge_server();
    let mut config = OpenAiConfig::new("judge");
    config.base_urls = vec![format!("{}/v1", j.url()).replace("http://", "http://alice:s3cret@")];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    let judge_model: Arc<dyn Target> = Arc::new(OpenAiTarget::new(config).unwrap());
    let p = RunPlan {
        judge: Arc::new(xsafe_judge::LlmJudge::new(judge_model.clone())),
        judge_targets: vec![judge_model],
        ..plan(&m, &j, "baseline", "r")
    };
    let (outcome, _) = run(&store_in_memory(), &p).await;
    assert_eq!(outcome.done, 3);
    let served = &p.config()["judge"]["served_at"];
    assert_eq!(
        *served,
        serde_json::json!({"openai:judge": [format!("{}/v1", j.url())]})
    );
    assert!(!p.config().to_string().contains("s3cret"));
    // And the plan without credentials is the same place.
    let plain = plan(&m, &j, "baseline", "r");
    assert_eq!(plain.config()["judge"], p.config()["judge"]);
}

fn store_in_memory() -> Arc<Store> {
    Arc::new(Store::open_in_memory().unwrap())
}
