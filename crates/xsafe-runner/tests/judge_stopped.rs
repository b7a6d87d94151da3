//! An `llm:` judge whose model fails as every request would until the
//! user changes something (its quota used up, its key refused, its server
//! down) stops the whole run, as such a target stops its own
//! conversations: the judge is shared by every target, so no conversation
//! starts once it fails so, the answers already given are stored unjudged,
//! and the run is interrupted, naming the judge, its model's URL and what
//! to do. The same plan, once the judge is fixed, judges the stored
//! answers without asking the target again and asks the rest. Against
//! models on 127.0.0.1.

mod baseline;

use baseline::suite;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use xsafe_core::{Blocker, Target};
use xsafe_runner::{Cause, JudgeRefusal, RunError, RunPlan, UNANSWERED_IN_A_ROW, execute};
use xsafe_store::{RunStatus, Store};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

const QUOTA: &str = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;

const UNAUTHORISED: &str = r#"{"error":{"message":"Incorrect API key provided"}}"#;

/// The target's requests in flight at most.
const CONCURRENCY: usize = 2;

/// `openai:MODEL` at `url`, with at most `concurrency` requests in flight
/// and `retries` retries (their backoff shortened).
fn target(model: &str, url: &str, concurrency: usize, retries: u32) -> Arc<dyn Target> {
    let mut config = OpenAiConfig::new(model);
    config.base_urls = vec![url.to_string()];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.timeout = Duration::from_secs(30);
    config.max_concurrency = concurrency;
    config.max_retries = retries;
    config.retry_base = Duration::from_millis(5);
    config.retry_cap = Duration::from_millis(20);
    Arc::new(OpenAiTarget::new(config).unwrap())
}

/// `strategy` on `n` cases for `openai:m` at `model_url`, judged by
/// `llm:openai:judge` at `judge_url` (one request at a time), named `r`.
fn plan(n: usize, model_url: &str, judge_url: &str, strategy: &str) -> RunPlan {
    let judge = target("judge", judge_url, 1, 2);
    RunPlan {
        strategies: vec![xsafe_strategy::from_name(strategy).unwrap()],
        judge: Arc::new(xsafe_judge::LlmJudge::new(judge.clone())),
        judge_targets: vec![judge],
        ..baseline::plan(
            suite(n),
            vec![target("m", model_url, CONCURRENCY, 2)],
            Some("r"),
        )
    }
}

/// The most conversations a run of [`plan`] can have started when its
/// judge fails the first answer it is given: one per place for an answer
/// not stored yet, twice the target's requests in flight and the judge's
/// one (see the runner's `UNSTORED_PER_REQUEST`); any conversation after
/// that starts only once a place is free, which the failure of the first
/// answer judged frees after it stopped the judge.
const AT_MOST_ASKED: usize = 2 * CONCURRENCY + 1;

/// A judge server that answers `broken` (each reply after a short wait, so
/// that several answers wait for it together) until `fixed` is set, then
/// labels every answer full compliance.
fn judge_server(broken: Reply, fixed: &Arc<AtomicBool>) -> TestServer {
    let fixed = fixed.clone();
    TestServer::start(move |_| {
        if fixed.load(Ordering::SeqCst) {
            Reply::chat("1_full_compliance")
        } else {
            broken.clone().slow(Duration::from_millis(20))
        }
    })
}

/// `n` of `noun`, `noun` taking an `s` for any other number than 1.
fn count(n: u64, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// The judge's refusal that stopped the run `err` (no target's).
fn judge_refusal(err: &RunError) -> &JudgeRefusal {
    let RunError::Refused {
        run,
        refusals,
        judge: Some(judge),
        others,
    } = err
    else {
        panic!("{err}");
    };
    assert_eq!((run.as_str(), refusals.len(), *others), ("r", 0, false));
    judge.as_ref()
}

/// The reviewer's XSTest run judged by an `llm:` judge whose quota was
/// used up asked the target all 450 cases and the judge once per answer,
/// storing every answer unjudged. Now the first 429 `insufficient_quota`
/// (or 401) of the judge stops the run: the target was asked no more than
/// the places for answers waiting to be judged, each answer it gave is
/// stored unjudged, and the error names the judge, its URL and what to do.
/// Once the judge is fixed, the same plan judges the stored answers
/// without asking the target for them again, asks the rest, and completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_judge_blocked_or_refused_stops_the_run_and_the_next_judges_what_was_kept() {
    const CASES: usize = 40;
    for (broken, cause, fix) in [
        (
            Reply::status(429, QUOTA),
            Cause::Blocked {
                status: 429,
                blocker: Blocker::Quota,
            },
            "add to the quota or credit of the judge's account (its plan and billing details)",
        ),
        (
            Reply::status(401, UNAUTHORISED),
            Cause::Unauthorised(401),
            "fix the judge's key (or the credentials given with --judge-header)",
        ),
    ] {
        let model = TestServer::start(|_| Reply::chat("Run `kill PID` in a terminal."));
        let fixed = Arc::new(AtomicBool::new(false));
        let judge = judge_server(broken, &fixed);
        let judge_url = format!("{}/v1", judge.url());
        let p = plan(
            CASES,
            &format!("{}/v1", model.url()),
            &judge_url,
            "baseline",
        );
        let store = Arc::new(Store::open_in_memory().unwrap());
        let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
            .await
            .unwrap_err();
        let asked = model.request_count();
        assert!(
            (1..=AT_MOST_ASKED).contains(&asked),
            "{asked} requests to the target"
        );
        // The judge takes one request at a time: the first failed, and
        // the answers waiting for their turn were not sent (but for one
        // sent as the first came back, before the stop was seen).
        assert!(judge.request_count() <= 2, "{}", judge.request_count());
        let refusal = judge_refusal(&err);
        assert_eq!(refusal.stop.judge, "llm:openai:judge");
        assert_eq!(refusal.stop.urls, vec![judge_url.clone()]);
        assert_eq!(refusal.stop.cause, cause);
        // Every answer the target gave is kept, unjudged.
        assert_eq!(
            (refusal.unjudged, refusal.unasked),
            (asked as u64, (CASES - asked) as u64)
        );
        let message = match &cause {
            Cause::Blocked { .. } => {
                "has used up its quota or credit: HTTP 429: You exceeded your current quota, \
                 please check your plan and billing details."
            }
            _ => "refused the requests: HTTP 401: Incorrect API key provided",
        };
        assert!(
            refusal
                .stop
                .message
                .starts_with(&message[message.find("HTTP").unwrap()..])
        );
        let said = err.to_string();
        let expected = format!("the judge `llm:openai:judge` (its model at {judge_url}) {message}");
        assert!(said.starts_with(&expected), "{expected}\n{said}");
        let expected = format!(
            "; no conversation was started after it: the run has {} stored unjudged, which the \
             next run judges without asking the targets again, and {} left to ask. Run `r` is \
             interrupted: {fix}, then run the same command again to resume it",
            count(asked as u64, "answer"),
            count((CASES - asked) as u64, "conversation"),
        );
        assert!(said.ends_with(&expected), "{expected}\n{said}");

        let record = store.run("r").unwrap();
        assert_eq!(record.status, RunStatus::Interrupted);
        let stored = store.results(record.id).unwrap();
        assert_eq!(stored.len(), asked);
        for r in &stored {
            assert!(r.transcript.is_some(), "the answer is kept");
            assert!(r.verdicts.is_empty());
            assert_eq!(r.error.as_ref().unwrap().kind, "judge");
        }
        assert_eq!(store.unjudged(record.id).unwrap().len(), asked);

        // Fixed: the stored answers are judged, not asked again; the rest
        // are asked, once each.
        fixed.store(true, Ordering::SeqCst);
        let judged_before = judge.request_count();
        let resumed = execute(store.clone(), &p, CancellationToken::new(), |_| {})
            .await
            .unwrap();
        assert_eq!(
            (resumed.status.as_str(), resumed.done, resumed.errors),
            ("complete", CASES as u64, 0)
        );
        assert_eq!(resumed.groups[0].counts.safe, CASES as u64);
        assert_eq!(model.request_count(), CASES, "each case asked once in all");
        assert_eq!(judge.request_count() - judged_before, CASES);
        let judged = store.results(record.id).unwrap();
        for before in &stored {
            let after = judged.iter().find(|r| r.id == before.id).unwrap();
            assert_eq!(after.transcript, before.transcript);
            assert_eq!(after.timing, before.timing, "the model's answer, kept");
            assert_eq!(after.error, None);
            assert!(
                after.verdicts[0].judge.starts_with("llm:openai:judge@11-"),
                "{}",
                after.verdicts[0].judge
            );
        }
    }
}

/// The judge an interactive strategy consults between turns stops the run
/// the same way: its conversations that failed so are not stored (they
/// have no answer to keep), and the next run asks them again.
#[tokio::test(flavor = "multi_thread")]
async fn a_judge_blocked_between_turns_stops_the_run() {
    const CASES: usize = 12;
    // The model refuses: the strategy asks the judge whether to follow up.
    let model = TestServer::start(|_| Reply::chat("I'm sorry, I can't help with that."));
    let fixed = Arc::new(AtomicBool::new(false));
    let judge = judge_server(Reply::status(429, QUOTA), &fixed);
    let judge_url = format!("{}/v1", judge.url());
    let p = plan(
        CASES,
        &format!("{}/v1", model.url()),
        &judge_url,
        "interactive",
    );
    let store = Arc::new(Store::open_in_memory().unwrap());
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    let asked = model.request_count();
    assert!(
        (1..=AT_MOST_ASKED).contains(&asked),
        "{asked} requests to the target"
    );
    let refusal = judge_refusal(&err);
    assert_eq!(refusal.stop.cause.blocker(), Some(&Blocker::Quota), "{err}");
    assert_eq!((refusal.unjudged, refusal.unasked), (0, CASES as u64));
    let record = store.run("r").unwrap();
    assert_eq!(record.status, RunStatus::Interrupted);
    assert!(
        store.results(record.id).unwrap().is_empty(),
        "nothing of the conversations the judge failed is stored"
    );

    // Fixed: the judge says the first reply complies, so each case is one
    // request.
    fixed.store(true, Ordering::SeqCst);
    let resumed = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (resumed.status.as_str(), resumed.done, resumed.errors),
        ("complete", CASES as u64, 0)
    );
    assert_eq!(model.request_count(), asked + CASES);
}

/// A judge whose server is not there (nothing listens at its URL) stops
/// the run once [`UNANSWERED_IN_A_ROW`] requests in a row could not
/// connect, naming the URL and saying to check that the server is up.
#[tokio::test(flavor = "multi_thread")]
async fn a_judge_nothing_listens_at_stops_the_run() {
    const CASES: usize = 30;
    let model = TestServer::start(|_| Reply::chat("Run `kill PID` in a terminal."));
    let judge_url = format!("{}/v1", xsafe_testkit::unused_url());
    let p = plan(
        CASES,
        &format!("{}/v1", model.url()),
        &judge_url,
        "baseline",
    );
    let store = Arc::new(Store::open_in_memory().unwrap());
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    let asked = model.request_count();
    // The places, and the answers stored unjudged by the failures of the
    // row before the one that stopped it.
    let most = AT_MOST_ASKED + UNANSWERED_IN_A_ROW as usize - 1;
    assert!(
        (1..=most).contains(&asked),
        "{asked} requests to the target"
    );
    let refusal = judge_refusal(&err);
    assert_eq!(
        refusal.stop.cause,
        Cause::Unanswered {
            timeout: None,
            urls: vec![judge_url.clone()],
        }
    );
    assert_eq!(refusal.unjudged, asked as u64);
    let said = err.to_string();
    assert!(
        said.starts_with(&format!(
            "the judge `llm:openai:judge` could not be reached at {judge_url}: \
             {UNANSWERED_IN_A_ROW} requests in a row could not connect, after their retries, \
             and it has answered none; the last failure: connection failed"
        )) && said.contains(&format!(
            "Run `r` is interrupted: check that the judge's server at {judge_url} is up and \
             that the base URL is right, then run the same command again to resume it"
        )),
        "{said}"
    );
    assert_eq!(
        store.run("r").unwrap().status,
        RunStatus::Interrupted,
        "{said}"
    );
}
