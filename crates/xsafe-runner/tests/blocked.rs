//! A target the server says every request to will fail the same way
//! until the user changes something (its quota used up, a rate limit that
//! resets later than xsafe waits, a model it does not have) is stopped as
//! one that refuses the key is: asked nothing more once the first such
//! answer comes back, nothing of it stored, the run interrupted with what
//! to do; the same plan resumes it once that is done. A 400 refusing one of
//! the target's settings is each conversation's `config` failure instead.
//! Against models on 127.0.0.1.

mod baseline;

use baseline::suite;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;
use xsafe_core::{Blocker, Suite, Target};
use xsafe_runner::{Cause, RunError, RunPlan, execute};
use xsafe_store::{RunStatus, Store};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

/// `openai:MODEL` at `url`, with at most `concurrency` requests in flight
/// and the default 5 retries (their backoff shortened).
fn target(model: &str, url: &str, concurrency: usize) -> Arc<dyn Target> {
    let mut config = OpenAiConfig::new(model);
    config.base_urls = vec![url.to_string()];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.timeout = Duration::from_secs(30);
    config.max_concurrency = concurrency;
    config.retry_base = Duration::from_millis(5);
    Arc::new(OpenAiTarget::new(config).unwrap())
}

/// Baseline on `suite` for `targets`, named `r`.
fn plan(suite: Suite, targets: Vec<Arc<dyn Target>>) -> RunPlan {
    baseline::plan(suite, targets, Some("r"))
}

const QUOTA: &str = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;

/// A server answering `blocked` (slowly, so that requests are in flight
/// together) until `fixed` is set, then answering.
fn blocking_server(blocked: Reply, fixed: &Arc<AtomicBool>) -> TestServer {
    let fixed = fixed.clone();
    TestServer::start(move |_| {
        if fixed.load(Ordering::Relaxed) {
            Reply::chat("Sure, here is how.")
        } else {
            blocked.clone().slow(Duration::from_millis(20))
        }
    })
}

/// The reviewer's XSTest run with a used-up quota sent 2700 requests in
/// 11 minutes (six per case) and stored 450 failures "to retry". Now the
/// target is asked nothing more once the first 429 `insufficient_quota`
/// comes back: at most one request per place in flight. The other target
/// goes on; nothing refused is stored; the run is interrupted saying to
/// add quota, and the same plan resumes it once there is.
#[tokio::test(flavor = "multi_thread")]
async fn a_used_up_quota_stops_the_target_at_the_first_answer() {
    let fixed = Arc::new(AtomicBool::new(false));
    let quota = blocking_server(Reply::status(429, QUOTA), &fixed);
    let open = TestServer::start(|_| Reply::chat("Sure, here is how."));
    const CONCURRENCY: usize = 4;
    let p = plan(
        suite(40),
        vec![
            target("paid", &format!("{}/v1", quota.url()), CONCURRENCY),
            target("open", &format!("{}/v1", open.url()), 2),
        ],
    );
    let store = Arc::new(Store::open_in_memory().unwrap());
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    let RunError::Refused {
        run,
        refusals,
        others,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((run.as_str(), *others, refusals.len()), ("r", true, 1));
    let r = &refusals[0];
    assert_eq!(
        (r.target.as_str(), &r.cause, r.left),
        (
            "openai:paid",
            &Cause::Blocked {
                status: 429,
                blocker: Blocker::Quota
            },
            40
        )
    );
    assert!(
        quota.request_count() <= CONCURRENCY,
        "{} requests",
        quota.request_count()
    );
    let said = err.to_string();
    assert_eq!(
        said,
        "target `openai:paid` has used up its quota or credit: HTTP 429: You exceeded your \
         current quota, please check your plan and billing details.; its 40 conversations left \
         were not stored, and no more of them asked. Run `r` is interrupted (the other targets \
         went on; their answers are stored): add to the account's quota or credit (its plan \
         and billing details), then run the same command again to resume it"
    );
    let record = store.run("r").unwrap();
    assert_eq!(record.status, RunStatus::Interrupted);
    let stored = store.results(record.id).unwrap();
    assert_eq!(stored.len(), 40, "the open target's, none of the blocked");
    assert!(stored.iter().all(|r| r.key.target == "openai:open"));

    fixed.store(true, Ordering::Relaxed);
    let before = quota.request_count();
    let resumed = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (resumed.status.as_str(), resumed.done, resumed.errors),
        ("complete", 80, 0)
    );
    assert_eq!(quota.request_count() - before, 40);
}

/// A `Retry-After` of an hour (a daily limit) was waited 60 s at a time,
/// six times per case, silently. Now the first such answer stops the
/// target, and the run says when the limit resets, as a time and as the
/// wait the server asked for.
#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_beyond_the_wait_stops_the_target_saying_when_it_resets() {
    let daily = Reply::Full {
        status: 429,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("retry-after".into(), "3724".into()),
        ],
        body: br#"{"error":{"message":"Rate limit reached for requests per day (RPD). Please try again in 1h2m3.5s.","type":"requests","code":"rate_limit_exceeded"}}"#.to_vec(),
    };
    let fixed = Arc::new(AtomicBool::new(false));
    let server = blocking_server(daily, &fixed);
    const CONCURRENCY: usize = 3;
    let p = plan(
        suite(16),
        vec![target("m", &format!("{}/v1", server.url()), CONCURRENCY)],
    );
    let store = Arc::new(Store::open_in_memory().unwrap());
    let started = Instant::now();
    let asked_at = SystemTime::now();
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "not waited out"
    );
    assert!(
        server.request_count() <= CONCURRENCY,
        "{}",
        server.request_count()
    );
    let RunError::Refused {
        refusals, others, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert!(!*others);
    let Some(&Blocker::RateLimit { wait, until }) = refusals[0].cause.blocker() else {
        panic!("{err}");
    };
    assert_eq!(
        (wait, refusals[0].cause.status()),
        (Duration::from_secs(3724), Some(429))
    );
    let ahead = until.duration_since(asked_at).unwrap();
    assert!(
        ahead >= wait && ahead < wait + Duration::from_secs(10),
        "{ahead:?}"
    );
    // The time alone (the date comes before it only past midnight UTC).
    let at = xsafe_core::utc_clock(until, Some(until));
    let said = err.to_string();
    assert!(
        said.starts_with(&format!(
            "target `openai:m` is rate-limited until {} (the server asked to wait 1h2m4s, \
             longer than xsafe waits for a request): HTTP 429: Rate limit reached for requests \
             per day (RPD). Please try again in 1h2m3.5s.; its 16 conversations left were not \
             stored",
            xsafe_core::utc_clock(until, until.checked_sub(wait))
        )) && said.contains("Run `r` is interrupted: wait until ")
            && said.ends_with(&format!(
                "{at}, when the rate limit resets, then run the same command again to resume it"
            )),
        "{said}"
    );
    let record = store.run("r").unwrap();
    assert_eq!(record.status, RunStatus::Interrupted);
    assert!(store.results(record.id).unwrap().is_empty());
}

/// A model the server does not have (404 `model_not_found`) stops the
/// target at once; a run of two targets, the other refusing the key, says
/// what to do about each.
#[tokio::test(flavor = "multi_thread")]
async fn a_model_not_found_stops_the_target_and_each_fix_is_said() {
    let fixed = Arc::new(AtomicBool::new(false));
    let missing = blocking_server(
        Reply::status(
            404,
            r#"{"error":{"message":"The model `gpt-5-turbo` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
        ),
        &fixed,
    );
    let locked = blocking_server(
        Reply::status(401, r#"{"error":{"message":"Incorrect API key provided"}}"#),
        &fixed,
    );
    let p = plan(
        suite(12),
        vec![
            target("gpt-5-turbo", &format!("{}/v1", missing.url()), 2),
            target("locked", &format!("{}/v1", locked.url()), 2),
        ],
    );
    let store = Arc::new(Store::open_in_memory().unwrap());
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert!(missing.request_count() <= 2, "{}", missing.request_count());
    assert!(locked.request_count() <= 2, "{}", locked.request_count());
    let RunError::Refused { refusals, .. } = &err else {
        panic!("{err}");
    };
    let mut by_target: Vec<_> = refusals
        .iter()
        .map(|r| (r.target.as_str(), r.cause.clone(), r.left))
        .collect();
    by_target.sort_by_key(|r| r.0);
    assert_eq!(
        by_target,
        [
            (
                "openai:gpt-5-turbo",
                Cause::Blocked {
                    status: 404,
                    blocker: Blocker::ModelNotFound
                },
                12
            ),
            ("openai:locked", Cause::Unauthorised(401), 12),
        ]
    );
    let said = err.to_string();
    for part in [
        "target `openai:gpt-5-turbo` does not have the model asked for, or the key has no \
         access to it: HTTP 404: The model `gpt-5-turbo` does not exist or you do not have \
         access to it.; its 12 conversations left were not stored",
        "target `openai:locked` refused the requests: HTTP 401: Incorrect API key provided",
        // Each fix once, in the order of the refusals, which came back in
        // either order.
        "give the key access to the model",
        "fix the key (or the credentials given with --header)",
        ", then run the same command again to resume it; if a model's name is wrong, run the \
         command with the right one instead: another target, and so another run, which copies \
         the answers of the others (give it another --run name if the command names one)",
    ] {
        assert!(said.contains(part), "{part}\n{said}");
    }
    assert!(
        store
            .results(store.run("r").unwrap().id)
            .unwrap()
            .is_empty()
    );
}

/// An interactive strategy's clarifier whose quota is used up stops the
/// target's conversations under that strategy only, named the clarifier's;
/// baseline goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_clarifiers_used_up_quota_stops_only_its_strategy() {
    let model = TestServer::start(|_| Reply::chat("I'm sorry, I can't help with that."));
    let fixed = Arc::new(AtomicBool::new(false));
    let clarifier = blocking_server(Reply::status(429, QUOTA), &fixed);
    let options = xsafe_strategy::BuildOptions {
        clarifier: Some(target("c", &format!("{}/v1", clarifier.url()), 2)),
        ..Default::default()
    };
    let interactive = xsafe_strategy::Registry::builtin()
        .build("interactive", &options)
        .unwrap();
    let base = plan(
        suite(10),
        vec![target("m", &format!("{}/v1", model.url()), 2)],
    );
    let p = RunPlan {
        strategies: vec![Arc::new(interactive), base.strategies[0].clone()],
        ..base
    };
    let store = Arc::new(Store::open_in_memory().unwrap());
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    let RunError::Refused {
        refusals, others, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert!(*others, "baseline went on");
    assert_eq!(
        (
            refusals[0].clarifier.clone(),
            refusals[0].cause.blocker().cloned(),
            refusals[0].left
        ),
        (
            Some(("interactive".into(), "openai:c".into())),
            Some(Blocker::Quota),
            10
        )
    );
    assert!(
        clarifier.request_count() <= 2,
        "{}",
        clarifier.request_count()
    );
    assert!(
        err.to_string().starts_with(
            "the clarifier `openai:c` of strategy `interactive` has used up its quota or \
             credit: HTTP 429: You exceeded your current quota"
        ),
        "{err}"
    );
    let stored = store.results(store.run("r").unwrap().id).unwrap();
    assert_eq!(stored.len(), 10, "baseline's");
    assert!(stored.iter().all(|r| r.key.strategy == "baseline"));
}

/// A 400 refusing `--max-tokens` (more than the model takes) is each
/// conversation's failure of kind `config`, asked once each (not retried),
/// and the run goes on to the end rather than stopping: another setting
/// would pass, and the message says which to change.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_setting_is_a_config_failure_of_each_conversation() {
    let server = TestServer::start(|_| {
        Reply::status(
            400,
            r#"{"error":{"message":"max_tokens is too large: 100000. This model supports at most 16384 completion tokens, whereas you provided 100000.","type":"invalid_request_error","param":"max_tokens","code":null}}"#,
        )
    });
    let mut config = OpenAiConfig::new("m");
    config.base_urls = vec![format!("{}/v1", server.url())];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.max_tokens = 100_000;
    config.max_concurrency = 2;
    let p = plan(suite(6), vec![Arc::new(OpenAiTarget::new(config).unwrap())]);
    let store = Arc::new(Store::open_in_memory().unwrap());
    let outcome = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            outcome.status.as_str(),
            outcome.errors,
            server.request_count()
        ),
        ("complete", 6, 6)
    );
    assert_eq!(outcome.error_kinds.get("config"), Some(&6));
    let common = outcome.common_error.unwrap();
    assert_eq!((common.kind.as_str(), common.count), ("config", 6));
    assert!(
        common
            .message
            .starts_with("HTTP 400: max_tokens is too large: 100000.")
            && common
                .message
                .contains("(the model takes no --max-tokens 100000: give a smaller one"),
        "{}",
        common.message
    );
}
