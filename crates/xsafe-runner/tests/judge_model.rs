//! An `llm:` judge's verdicts are tied to its model: a run is not resumed
//! with another model (or other settings of it) under the same judge name,
//! which would mix two judges' verdicts in one run; the refusal names both
//! models and what to do. Against real servers on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use xsafe_core::Target;
use xsafe_runner::{RunError, RunPlan, execute};
use xsafe_store::Store;
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

mod common;
use common::suite;

/// `id` asking `model` at `url`, without retries.
fn openai(id: &str, url: &str, model: &str) -> Arc<OpenAiTarget> {
    let mut config = OpenAiConfig::new(model);
    config.base_urls = vec![url.to_string()];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.timeout = Duration::from_secs(30);
    config.max_retries = 0;
    Arc::new(OpenAiTarget::with_id(id, config).unwrap())
}

/// The run `r` of [`suite`] on `model_url`, judged by `llm:grader` (a
/// target named as a targets file names one) asking `judge_model` at
/// `judge_url`.
fn plan(model_url: &str, judge_url: &str, judge_model: &str) -> RunPlan {
    let judge = openai("grader", judge_url, judge_model);
    RunPlan {
        suites: vec![suite()],
        targets: vec![openai("openai:m", model_url, "m")],
        strategies: vec![xsafe_strategy::from_name("baseline").unwrap()],
        judge: Arc::new(xsafe_judge::LlmJudge::new(judge.clone())),
        judge_targets: vec![judge as Arc<dyn Target>],
        samples: 1,
        seed: 0,
        limit: None,
        types: Vec::new(),
        name: Some("r".into()),
        reuse: true,
        server_moved: false,
    }
}

/// The bug this guards: `xsafe run --run r8 --judge llm:grader --targets
/// tgg1.toml` left answers unjudged (the judge's server failed on them);
/// the same command with `tgg2.toml` (the same URL, `model = "judge-big"`)
/// resumed silently and judged them with the other model, all verdicts
/// tagged `llm:grader@10`. The run refuses that judge, naming both models
/// and what to do, before anything is asked; with its own judge it is
/// resumed as before.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_is_not_resumed_with_another_model_under_its_judges_name() {
    let model = TestServer::start(|_| Reply::chat("Use `kill PID` in a terminal."));
    // Both models at one URL: `judge` fails on the answers of case 1 until
    // it is fixed, `judge-big` calls everything a refusal.
    let fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let up = fixed.clone();
    let judge = TestServer::start(move |r| {
        let body = r.json();
        if body["model"] == "judge-big" {
            return Reply::chat("2_full_refusal");
        }
        let asked = r.last_user_message();
        if asked.contains("process number 1") && !up.load(std::sync::atomic::Ordering::SeqCst) {
            Reply::status(500, r#"{"error":{"message":"judge overloaded"}}"#)
        } else {
            Reply::chat("1_full_compliance")
        }
    });
    let (model_url, judge_url) = (format!("{}/v1", model.url()), format!("{}/v1", judge.url()));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let small = plan(&model_url, &judge_url, "judge");
    let first = execute(store.clone(), &small, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!((first.done, first.errors), (2, 1));
    let asked = judge.request_count();

    let big = plan(&model_url, &judge_url, "judge-big");
    assert_eq!(big.judge.name(), small.judge.name());
    let err = execute(store.clone(), &big, CancellationToken::new(), |_| {})
        .await
        .expect_err("refused");
    let RunError::Changed { ref changes, .. } = err else {
        panic!("{err}");
    };
    assert_eq!(changes.judge.as_deref(), Some(big.judge.tag().as_str()));
    assert_eq!(
        err.to_string(),
        format!(
            "run `r` already exists with other settings: the judge `llm:grader` asks another \
             model than the run's verdicts were given by: model `judge-big`, was `judge`. To \
             resume run `r`, give the judge it was made with (the same model and settings: its \
             verdicts and this judge's would be mixed in one run); for a run of these settings, \
             pass a new --run name; to judge the run's stored answers with this judge instead, \
             `xsafe rejudge r --judge llm:grader` with this command's judge settings"
        )
    );
    assert_eq!(
        judge.request_count(),
        asked,
        "nothing asked of either model"
    );
    assert_eq!(model.request_count(), 3);

    // Other settings of the same model: named too.
    let mut warmer = plan(&model_url, &judge_url, "judge");
    let hot = {
        let mut config = OpenAiConfig::new("judge");
        config.base_urls = vec![judge_url.clone()];
        config.api_key_env = "XSAFE_TEST_NO_KEY".into();
        config.max_retries = 0;
        config.temperature = 0.7;
        Arc::new(OpenAiTarget::with_id("grader", config).unwrap())
    };
    warmer.judge = Arc::new(xsafe_judge::LlmJudge::new(hot.clone()));
    warmer.judge_targets = vec![hot as Arc<dyn Target>];
    let err = execute(store.clone(), &warmer, CancellationToken::new(), |_| {})
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains(
            "the judge `llm:grader` asks its model with other settings than the run's verdicts \
             were given by: temperature 0.7, was 0.0."
        ),
        "{err}"
    );
    assert_eq!(judge.request_count(), asked);

    // With its own judge, fixed, the run is resumed: the answer left
    // unjudged is judged by `judge`, and every verdict is its.
    fixed.store(true, std::sync::atomic::Ordering::SeqCst);
    let resumed = execute(store.clone(), &small, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!((resumed.done, resumed.errors), (3, 0));
    assert_eq!(resumed.groups[0].counts.safe_refused, 0);
    assert_eq!(model.request_count(), 3, "the model is not asked again");
    for r in store.results(first.run_id).unwrap() {
        let tags: Vec<&str> = r.verdicts.iter().map(|v| v.judge.as_str()).collect();
        assert_eq!(tags, [small.judge.tag().as_str()]);
    }
    // The run records the models' settings its verdicts are tied to.
    let record = store.run("r").unwrap();
    assert_eq!(record.config["judge"]["models"]["grader"]["model"], "judge");
    assert!(record.config["judge"]["models"]["grader"]["base_urls"].is_null());
}

/// The bug this guards: a pair's verdicts did not say which judge gave
/// them, nor did the run's summary say how many answers went to the
/// second. The summary counts them from the verdicts' notes, which say so.
#[tokio::test(flavor = "multi_thread")]
async fn a_runs_summary_says_how_many_answers_a_pair_escalated() {
    // The answer to case 2 is empty: no reader would score it, and it is
    // not escalated; at a threshold of 1 the two others are.
    let model = TestServer::start(|r| {
        if r.last_user_message().contains("number 2") {
            Reply::chat("")
        } else {
            Reply::chat("Use `kill PID` in a terminal.")
        }
    });
    let judge = TestServer::start(|_| Reply::chat("1_full_compliance"));
    let llm = openai("openai:judge", &format!("{}/v1", judge.url()), "judge");
    let pair = xsafe_judge::Cascade::new(
        xsafe_judge::from_name("xsafe").unwrap(),
        Arc::new(xsafe_judge::LlmJudge::new(llm.clone())),
        1.0,
    )
    .unwrap();
    let p = RunPlan {
        judge: Arc::new(pair),
        judge_targets: vec![llm as Arc<dyn Target>],
        ..plan(
            &format!("{}/v1", model.url()),
            "http://127.0.0.1:9/v1",
            "judge",
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let outcome = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(judge.request_count(), 2);
    assert_eq!(
        outcome.escalated,
        Some(xsafe_runner::Escalated {
            to: "llm:openai:judge".into(),
            answers: 2,
            of: 3
        })
    );
    assert_eq!(
        outcome.escalated_line().unwrap(),
        "2 of 3 answers were escalated to llm:openai:judge (the first judge was less sure of \
         them than the threshold, or could not read them); their verdicts say so in their \
         reason\n"
    );
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(
        json["escalated"],
        serde_json::json!({"to": "llm:openai:judge", "answers": 2, "of": 3})
    );
    for r in store.results(outcome.run_id).unwrap() {
        let v = &r.verdicts[0];
        let escalated = r.case.id != "2";
        assert_eq!(xsafe_judge::Cascade::escalated(v), escalated, "{v:?}");
        if escalated {
            let note = v.note.as_deref().unwrap();
            assert!(
                note.starts_with("escalated: xsafe gave ")
                    && note.ends_with("; llm:openai:judge judged it"),
                "{note}"
            );
        }
    }
    // One judge: no such count.
    let one = plan(
        &format!("{}/v1", model.url()),
        &format!("{}/v1", judge.url()),
        "judge",
    );
    let one = RunPlan {
        name: Some("one".into()),
        ..one
    };
    let outcome = execute(store.clone(), &one, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (&outcome.escalated, outcome.escalated_line()),
        (&None, None)
    );
}
