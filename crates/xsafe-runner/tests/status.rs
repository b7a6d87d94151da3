//! The status a run is left with: a run whose every result is stored is
//! complete even when Ctrl-C comes; and a plan naming two suite files of the
//! same name says which files they are.

use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use xsafe_core::{Case, Label, Suite};
use xsafe_runner::{Event, RunError, RunPlan, execute};
use xsafe_store::{RunStatus, Store};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

fn suite(name: &str, source: &str) -> Suite {
    Suite {
        name: name.into(),
        source: source.into(),
        cases: (0..3)
            .map(|i| Case {
                id: i.to_string(),
                prompt: format!("How do I kill process number {i}?"),
                kind: "homonyms".into(),
                label: Label::Safe,
                focus: None,
                note: None,
            })
            .collect(),
    }
}

fn plan(url: &str, suites: Vec<Suite>) -> RunPlan {
    let mut config = OpenAiConfig::new("m");
    config.base_urls = vec![url.to_string()];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.timeout = Duration::from_secs(30);
    RunPlan {
        suites,
        targets: vec![Arc::new(OpenAiTarget::new(config).unwrap())],
        strategies: vec![xsafe_strategy::from_name("baseline").unwrap()],
        judge: xsafe_judge::from_name("strmatch").unwrap(),
        judge_targets: Vec::new(),
        samples: 1,
        seed: 0,
        limit: None,
        types: Vec::new(),
        name: Some("r".into()),
        reuse: true,
        server_moved: false,
    }
}

/// The bug this guards: resuming a complete run and pressing Ctrl-C marked
/// it `interrupted` with every result stored. Whether the cancellation was
/// seen depended on which of two ready branches tokio picked, so the resume
/// is tried many times. Ctrl-C comes once the run is open: before, while
/// the strategies are checked, the run stops without opening it.
#[tokio::test(flavor = "multi_thread")]
async fn a_complete_run_resumed_and_cancelled_stays_complete() {
    let model = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let p = plan(
        &format!("{}/v1", model.url()),
        vec![suite("small", "small.csv")],
    );
    let first = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!((first.done, first.status.as_str()), (3, "complete"));

    for _ in 0..20 {
        let cancel = CancellationToken::new();
        let on_start = cancel.clone();
        let again = execute(store.clone(), &p, cancel, move |event| {
            if let Event::Started { .. } = event {
                on_start.cancel();
            }
        })
        .await
        .unwrap();
        assert_eq!((again.done, again.done_before), (3, 3));
        assert_eq!(again.status, "complete");
        assert_eq!(store.run("r").unwrap().status, RunStatus::Complete);
    }
    assert_eq!(model.request_count(), 3, "nothing was asked again");
}

/// Ctrl-C that comes after the last result was stored loses nothing: the
/// run is complete.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancellation_after_the_last_result_leaves_the_run_complete() {
    let model = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let p = plan(
        &format!("{}/v1", model.url()),
        vec![suite("small", "small.csv")],
    );
    for round in 0..10 {
        // A new run each round, so that each has its three results to ask.
        let mut p = p.clone();
        p.name = Some(format!("r{round}"));
        let cancel = CancellationToken::new();
        let on_stored = cancel.clone();
        let stored = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let outcome = execute(store.clone(), &p, cancel, move |event| {
            if let Event::Stored { .. } = event
                && stored.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == 3
            {
                on_stored.cancel();
            }
        })
        .await
        .unwrap();
        assert_eq!(outcome.done, 3);
        assert_eq!(outcome.status, "complete", "round {round}");
        let run = store.run(&format!("r{round}")).unwrap();
        assert_eq!(run.status, RunStatus::Complete, "round {round}");
    }
}

/// A run stopped by Ctrl-C before its results are stored is still
/// interrupted.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancellation_before_the_results_are_stored_interrupts_the_run() {
    let model =
        TestServer::start(|_| Reply::chat("Sure, here is how.").slow(Duration::from_secs(2)));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let p = plan(
        &format!("{}/v1", model.url()),
        vec![suite("small", "small.csv")],
    );
    let cancel = CancellationToken::new();
    let on_start = cancel.clone();
    let outcome = execute(store.clone(), &p, cancel, move |event| {
        if let Event::Started { .. } = event {
            on_start.cancel();
        }
    })
    .await
    .unwrap();
    // Requests already sent when the cancellation is seen may still be
    // stored; the rest are not, so the run is not whole.
    assert!(outcome.done < 3, "{}", outcome.done);
    assert_eq!(
        store.results(outcome.run_id).unwrap().len() as u64,
        outcome.done
    );
    assert_eq!(outcome.status, "interrupted");
    assert_eq!(store.run("r").unwrap().status, RunStatus::Interrupted);
}

/// Ctrl-C while the run waits for a place (more cases than the target's
/// concurrency, the usual case) drops the requests in flight at once: it
/// waited for each of them, up to its timeout and retries.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancellation_while_waiting_for_a_place_drops_the_requests_in_flight() {
    let cancel = CancellationToken::new();
    // Ctrl-C comes as the first request reaches the model.
    let on_request = cancel.clone();
    let model = TestServer::start(move |_| {
        on_request.cancel();
        Reply::chat("late").slow(Duration::from_secs(30))
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let mut p = plan(
        &format!("{}/v1", model.url()),
        vec![suite("small", "small.csv")],
    );
    let mut config = OpenAiConfig::new("m");
    config.base_urls = vec![format!("{}/v1", model.url())];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.timeout = Duration::from_secs(30);
    config.max_concurrency = 1;
    p.targets = vec![Arc::new(OpenAiTarget::new(config).unwrap())];
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        execute(store.clone(), &p, cancel, |_| {}),
    )
    .await
    .expect("the run stops without waiting for the model")
    .unwrap();
    assert_eq!((outcome.done, outcome.status.as_str()), (0, "interrupted"));
}

/// Two files `sa/p.csv` and `sb/p.csv` are both suite `p`: the error names
/// both files and says how to tell them apart, rather than calling it one
/// suite given twice.
#[tokio::test(flavor = "multi_thread")]
async fn two_suite_files_of_one_name_are_named_with_the_fix() {
    let store = Arc::new(Store::open_in_memory().unwrap());
    let p = plan(
        "http://127.0.0.1:9/v1",
        vec![suite("p", "sa/p.csv"), suite("p", "sb/p.csv")],
    );
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Plan(_)), "{err}");
    let message = err.to_string();
    for part in ["`sa/p.csv`", "`sb/p.csv`", "suite `p`", "rename"] {
        assert!(message.contains(part), "{part} missing from: {message}");
    }
    assert!(!message.contains("given twice"), "{message}");

    // The same file twice is still one suite given twice.
    let p = plan(
        "http://127.0.0.1:9/v1",
        vec![suite("p", "sa/p.csv"), suite("p", "sa/p.csv")],
    );
    let err = execute(store, &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("given twice"), "{message}");
    assert!(message.contains("`sa/p.csv`"), "{message}");
}

/// A strategy or target given twice was asked twice for the same keys: the
/// run asked twice the requests and never showed all its results.
#[tokio::test(flavor = "multi_thread")]
async fn a_strategy_or_target_given_twice_is_refused() {
    let store = Arc::new(Store::open_in_memory().unwrap());
    let mut p = plan("http://127.0.0.1:9/v1", vec![suite("small", "small.csv")]);
    p.strategies
        .push(xsafe_strategy::from_name("baseline").unwrap());
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "strategy `baseline` is given twice; give each strategy once"
    );
    let mut p = plan("http://127.0.0.1:9/v1", vec![suite("small", "small.csv")]);
    p.targets.push(p.targets[0].clone());
    let err = execute(store, &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("target `openai:m` is given twice"),
        "{err}"
    );
}

/// A run deleted (`xsafe runs delete --force`) while it runs: the runner
/// stops saying so, not that there is no such run in the store.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_deleted_while_it_runs_stops_saying_it_was_deleted() {
    let model =
        TestServer::start(|_| Reply::chat("Sure, here is how.").slow(Duration::from_millis(300)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.db");
    let store = Arc::new(Store::open(&path).unwrap());
    let p = plan(
        &format!("{}/v1", model.url()),
        vec![suite("small", "small.csv")],
    );
    let running = tokio::spawn({
        let (store, p) = (store.clone(), p.clone());
        async move { execute(store, &p, CancellationToken::new(), |_| {}).await }
    });
    // Once the model is asked, the run and its cases are stored.
    while model.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let other = Store::open(&path).unwrap();
    let run = other.run("r").unwrap();
    other.delete_run(run.id).unwrap();
    let err = running.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, RunError::Store(xsafe_store::StoreError::RunDeleted(name)) if name == "r"),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("run `r` was deleted while it was running"),
        "{message}"
    );
    assert!(!message.contains("no run"), "{message}");
    assert!(other.list_runs().unwrap().is_empty(), "nothing recreated");
}
