//! A target that does not answer at all (nothing listens at its base URL,
//! or its server never answers within the timeout) and has answered
//! nothing is stopped as one that refuses the key is: once
//! [`UNANSWERED_IN_A_ROW`] conversations in a row got no answer, it is
//! asked nothing more, nothing of it is stored, and the run is interrupted
//! saying to check that the server is up, then to run the same command
//! again. A target that has answered keeps its failures stored. Against
//! servers on 127.0.0.1.

mod baseline;

use baseline::suite;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use xsafe_core::{Suite, Target};
use xsafe_runner::{Cause, Event, RunError, RunPlan, UNANSWERED_IN_A_ROW, execute};
use xsafe_store::{RunStatus, Store};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

/// `openai:MODEL` at `url`, with at most `concurrency` requests in flight,
/// `retries` retries (their backoff shortened) and a `timeout`.
fn target(
    model: &str,
    url: &str,
    concurrency: usize,
    retries: u32,
    timeout: Duration,
) -> Arc<dyn Target> {
    let mut config = OpenAiConfig::new(model);
    config.base_urls = vec![url.to_string()];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.timeout = timeout;
    config.max_concurrency = concurrency;
    config.max_retries = retries;
    config.retry_base = Duration::from_millis(5);
    config.retry_cap = Duration::from_millis(20);
    Arc::new(OpenAiTarget::new(config).unwrap())
}

/// Baseline on `suite` for `targets`, named `r`.
fn plan(suite: Suite, targets: Vec<Arc<dyn Target>>) -> RunPlan {
    baseline::plan(suite, targets, Some("r"))
}

/// A base URL of 127.0.0.1 at which nothing listens: a port bound, then
/// let go.
fn nothing_listening() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// The results stored, by target, as [`Event::Stored`] says them.
type StoredBy = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// An event handler that records each stored result's outcome by target.
fn recording() -> (StoredBy, impl Fn(Event) + Send + Sync + 'static) {
    let stored: StoredBy = Arc::default();
    let seen = stored.clone();
    (stored, move |event| {
        if let Event::Stored { key, outcome, .. } = event {
            seen.lock()
                .unwrap()
                .entry(key.target)
                .or_default()
                .push(outcome);
        }
    })
}

/// The reviewer's run at a port nothing listened at took 11 minutes, six
/// attempts for each of 446 cases, each stored as a failure "to retry".
/// Now the target is stopped once [`UNANSWERED_IN_A_ROW`] conversations in
/// a row could not connect: nothing of it is stored, the other target goes
/// on, and the run is interrupted, naming the URL and saying to check
/// that the server is up.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_nothing_listens_at_stops_the_target_and_stores_nothing_of_it() {
    let down = nothing_listening();
    let open = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let p = plan(
        suite(30),
        vec![
            target("down", &down, 2, 5, Duration::from_secs(30)),
            target(
                "open",
                &format!("{}/v1", open.url()),
                2,
                5,
                Duration::from_secs(30),
            ),
        ],
    );
    let store = Arc::new(Store::open_in_memory().unwrap());
    let (stored, on_event) = recording();
    let started = Instant::now();
    let err = execute(store.clone(), &p, CancellationToken::new(), on_event)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
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
        (r.target.as_str(), &r.cause, r.clarifier.clone(), r.left),
        (
            "openai:down",
            &Cause::Unanswered {
                timeout: None,
                urls: vec![down.clone()],
            },
            None,
            30
        )
    );
    assert_eq!(r.cause.status(), None);
    let said = err.to_string();
    for part in [
        format!(
            "target `openai:down` could not be reached at {down}: {UNANSWERED_IN_A_ROW} \
             conversations in a row could not connect, after their retries, and it has \
             answered none; the last failure: connection failed: {down} ("
        ),
        "(gave up after 6 attempts); its 30 conversations left were not stored, and no more \
         of them asked"
            .to_string(),
        format!(
            "Run `r` is interrupted (the other targets went on; their answers are stored): \
             check that the server at {down} is up and that the base URL is right, then run \
             the same command again to resume it"
        ),
    ] {
        assert!(said.contains(&part), "{part}\n{said}");
    }
    let record = store.run("r").unwrap();
    assert_eq!(record.status, RunStatus::Interrupted);
    let results = store.results(record.id).unwrap();
    assert_eq!(results.len(), 30, "the open target's, none of the down one");
    assert!(results.iter().all(|r| r.key.target == "openai:open"));
    let stored = stored.lock().unwrap();
    assert_eq!(stored.get("openai:down"), None);
    assert_eq!(stored["openai:open"].len(), 30);
}

/// A server that takes every request and never answers cost six timeouts
/// per case. Now the target is stopped once [`UNANSWERED_IN_A_ROW`]
/// conversations in a row timed out, its requests in flight then dropped:
/// about the time of one conversation's attempts, whatever the number of
/// cases. The run says the timeout it waited; the same plan resumes it
/// once the server answers.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_stops_the_target_at_its_timeouts() {
    let answering = Arc::new(AtomicBool::new(false));
    let answers = answering.clone();
    let server = TestServer::start(move |_| {
        if answers.load(Ordering::Relaxed) {
            Reply::chat("Sure, here is how.")
        } else {
            Reply::chat("too late").slow(Duration::from_secs(60))
        }
    });
    const CONCURRENCY: usize = 4;
    let url = format!("{}/v1", server.url());
    let timeout = Duration::from_millis(300);
    let p = plan(
        suite(40),
        vec![target("hangs", &url, CONCURRENCY, 1, timeout)],
    );
    let store = Arc::new(Store::open_in_memory().unwrap());
    let started = Instant::now();
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    // 40 cases of two attempts of 300 ms took 12 s at four at once.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // Four conversations at once, and one more after each of the first two
    // that got no answer, in flight when the third stopped the target: two
    // attempts each.
    let most = (CONCURRENCY + UNANSWERED_IN_A_ROW as usize - 1) * 2;
    assert!(
        server.request_count() <= most,
        "{} requests",
        server.request_count()
    );
    let RunError::Refused {
        refusals, others, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert!(!*others);
    assert_eq!(
        (&refusals[0].cause, refusals[0].left),
        (
            &Cause::Unanswered {
                timeout: Some(timeout),
                urls: vec![url.clone()],
            },
            40
        )
    );
    let said = err.to_string();
    assert!(
        said.starts_with(&format!(
            "target `openai:hangs` did not answer at {url} within 300ms, its timeout: 3 \
             conversations in a row got no answer, after their retries, and it has answered \
             none; the last failure: no answer within 300ms (gave up after 2 attempts); its 40 \
             conversations left were not stored"
        )) && said.ends_with(&format!(
            "Run `r` is interrupted: check that the server at {url} is up and answering, and \
             that the base URL is right (a model slow to answer needs a longer --timeout, or \
             `timeout_secs` in a targets file), then run the same command again to resume it"
        )),
        "{said}"
    );
    let record = store.run("r").unwrap();
    assert_eq!(record.status, RunStatus::Interrupted);
    assert!(store.results(record.id).unwrap().is_empty());

    answering.store(true, Ordering::Relaxed);
    let resumed = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (
            resumed.run_id,
            resumed.status.as_str(),
            resumed.done,
            resumed.errors
        ),
        (record.id, "complete", 40, 0)
    );
}

/// A target that has answered keeps today's way: its failures to answer
/// are stored, for the next run to ask again, and the run goes on to the
/// end, whether it answered in this invocation or in an earlier one.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_answered_stores_its_failures_to_answer() {
    let answering = Arc::new(AtomicBool::new(true));
    let answers = answering.clone();
    let server = TestServer::start(move |req| {
        // Case 0 only, and only while answering; the rest hang up.
        if answers.load(Ordering::Relaxed) && req.last_user_message().contains("number 0?") {
            Reply::chat("Sure, here is how.")
        } else {
            Reply::Drop
        }
    });
    let p = plan(
        suite(8),
        vec![target(
            "m",
            &format!("{}/v1", server.url()),
            1,
            0,
            Duration::from_secs(30),
        )],
    );
    let store = Arc::new(Store::open_in_memory().unwrap());
    let first = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (first.status.as_str(), first.done, first.errors),
        ("complete", 1, 7)
    );
    assert_eq!(first.error_kinds.get("connection"), Some(&7));
    assert_eq!(server.request_count(), 8);

    // Nothing answers now, but the run has an answer of the target stored.
    answering.store(false, Ordering::Relaxed);
    let again = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (again.status.as_str(), again.done, again.errors),
        ("complete", 1, 7)
    );
    assert_eq!(server.request_count(), 15, "each failure asked again");
}

/// Fewer failures to answer in a row than stop a target are stored as the
/// failures they are: those before the target's first answer once it
/// comes (nothing is lost while they wait to be told from a server that
/// is down), and those at the end of a run that has no more
/// conversations.
#[tokio::test(flavor = "multi_thread")]
async fn failures_to_answer_that_stop_nothing_are_stored() {
    let asked = Arc::new(AtomicUsize::new(0));
    let count = asked.clone();
    let server = TestServer::start(move |_| {
        // The first two requests hang up; the others are answered.
        if count.fetch_add(1, Ordering::SeqCst) < 2 {
            Reply::Drop
        } else {
            Reply::chat("Sure, here is how.")
        }
    });
    let p = plan(
        suite(6),
        vec![target(
            "m",
            &format!("{}/v1", server.url()),
            1,
            0,
            Duration::from_secs(30),
        )],
    );
    let store = Arc::new(Store::open_in_memory().unwrap());
    let (stored, on_event) = recording();
    let outcome = execute(store.clone(), &p, CancellationToken::new(), on_event)
        .await
        .unwrap();
    assert_eq!(
        (outcome.status.as_str(), outcome.done, outcome.errors),
        ("complete", 4, 2)
    );
    let results = store.results(outcome.run_id).unwrap();
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.error.is_some())
        .map(|r| r.key.case_id.as_str())
        .collect();
    assert_eq!(failed, ["0", "1"]);
    // Each stored once, and said so.
    let mut outcomes = stored.lock().unwrap()["openai:m"].clone();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            "compliance",
            "compliance",
            "compliance",
            "compliance",
            "error:connection",
            "error:connection"
        ]
    );

    // A run of two conversations at a port nothing listens at: two
    // failures, fewer than stop it, stored at the end.
    let down = nothing_listening();
    let p = RunPlan {
        name: Some("two".into()),
        ..plan(
            suite(2),
            vec![target("down", &down, 2, 0, Duration::from_secs(30))],
        )
    };
    let outcome = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (outcome.status.as_str(), outcome.done, outcome.errors),
        ("complete", 0, 2)
    );
    assert_eq!(outcome.error_kinds.get("connection"), Some(&2));
}

/// An interactive strategy's clarifier at a port nothing listens at stops
/// the target's conversations under that strategy only, named the
/// clarifier's, with the clarifier's URL; baseline goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_clarifier_that_cannot_be_reached_stops_only_its_strategy() {
    let model = TestServer::start(|_| Reply::chat("I'm sorry, I can't help with that."));
    let down = nothing_listening();
    let options = xsafe_strategy::BuildOptions {
        clarifier: Some(target("c", &down, 2, 0, Duration::from_secs(30))),
        ..Default::default()
    };
    let interactive = xsafe_strategy::Registry::builtin()
        .build("interactive", &options)
        .unwrap();
    let base = plan(
        suite(10),
        vec![target(
            "m",
            &format!("{}/v1", model.url()),
            2,
            0,
            Duration::from_secs(30),
        )],
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
            refusals[0].cause.clone(),
            refusals[0].left
        ),
        (
            Some(("interactive".into(), "openai:c".into())),
            Cause::Unanswered {
                timeout: None,
                urls: vec![down.clone()],
            },
            10
        )
    );
    assert!(
        err.to_string().starts_with(&format!(
            "the clarifier `openai:c` of strategy `interactive` could not be reached at {down}: \
             3 conversations in a row could not connect"
        )),
        "{err}"
    );
    let stored = store.results(store.run("r").unwrap().id).unwrap();
    assert_eq!(stored.len(), 10, "baseline's");
    assert!(stored.iter().all(|r| r.key.strategy == "baseline"));
}

/// A server that hangs kept the run going long after the target was
/// stopped: a conversation that started as an earlier one of the row came
/// back (a held one gives back its permit before the row stops the
/// target) ran its whole retries, one timeout after another, for nothing
/// stored. At the defaults (a timeout of 120 s, five retries) the run went
/// on for 12 minutes after the stop. Now the conversations in flight when
/// the target is stopped for getting no answer are dropped at once: the
/// server gets no request after the stop but the ones then in flight, and
/// the run returns at the stop.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_stopped_for_no_answer_drops_its_conversations_in_flight() {
    let arrived: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let arrivals = arrived.clone();
    // The first case's requests fail at once (the connection closed with
    // no answer), the others' hang: the first conversation is held at
    // once, and the one started then comes back a moment after the second,
    // which started another: in flight when the third stops the target.
    let server = TestServer::start(move |request| {
        arrivals.lock().unwrap().push(Instant::now());
        if request.last_user_message().ends_with("number 0?") {
            Reply::Drop
        } else {
            Reply::chat("too late").slow(Duration::from_secs(60))
        }
    });
    const ATTEMPTS: u32 = 3;
    let url = format!("{}/v1", server.url());
    let timeout = Duration::from_millis(800);
    let p = plan(
        suite(20),
        vec![target("hangs", &url, 2, ATTEMPTS - 1, timeout)],
    );
    let store = Arc::new(Store::open_in_memory().unwrap());
    let started = Instant::now();
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    let took = started.elapsed();
    // The stop comes after the attempts of the third conversation, about
    // 2.4 s; the fourth, in flight then, ran its own to 4.8 s, its last
    // two requests at 3.2 and 4 s.
    let stop = timeout * ATTEMPTS;
    assert!(took < stop + timeout, "{took:?}");
    let RunError::Refused { refusals, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        (&refusals[0].cause, refusals[0].left),
        (
            &Cause::Unanswered {
                timeout: Some(timeout),
                urls: vec![url.clone()],
            },
            20
        )
    );
    // The attempts of the three conversations of the row, and the first
    // request of the fourth, in flight at the stop (unless it was dropped
    // before it was sent).
    let arrived = arrived.lock().unwrap().clone();
    let row = 3 * ATTEMPTS as usize;
    assert!((row..=row + 1).contains(&arrived.len()), "{arrived:?}");
    // None after the stop: the fourth's retries came a timeout later.
    let last = arrived.iter().max().unwrap().duration_since(started);
    assert!(last < stop + timeout / 2, "the last request at {last:?}");
    let record = store.run("r").unwrap();
    assert_eq!(record.status, RunStatus::Interrupted);
    assert!(store.results(record.id).unwrap().is_empty());
}
