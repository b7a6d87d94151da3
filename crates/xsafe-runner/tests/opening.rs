//! Which stored run a plan may open, against models on 127.0.0.1: not one
//! asked at other base URLs unless the server moved (credentials in a URL,
//! in clear or redacted, are no move, nor is a URL the run never got an
//! answer from), and not one of the plan's name made with other settings,
//! whose differences are named; and a target that refuses the key (HTTP
//! 401, or 403 to every request before it ever answered) is asked nothing
//! more, while a 403 to one prompt is stored as its failure.

mod baseline;

use baseline::{plan, suite};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use xsafe_core::Target;
use xsafe_runner::{Event, Moved, MovedAs, RunError, RunPlan, execute, preview, relocated_note};
use xsafe_store::{RunStatus, Store};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

/// `openai:MODEL` at `url`, with at most `concurrency` requests in flight.
fn target(model: &str, url: &str, concurrency: usize) -> Arc<dyn Target> {
    let mut config = OpenAiConfig::new(model);
    config.base_urls = vec![url.to_string()];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.timeout = Duration::from_secs(30);
    config.max_concurrency = concurrency;
    Arc::new(OpenAiTarget::new(config).unwrap())
}

/// The answers stored in run `run_id`, by case id.
fn answers(store: &Store, run_id: i64) -> Vec<(String, String)> {
    let mut answers: Vec<(String, String)> = store
        .results(run_id)
        .unwrap()
        .into_iter()
        .filter_map(|r| {
            let reply = r.transcript?.final_reply()?.content.clone();
            Some((r.key.case_id, reply))
        })
        .collect();
    answers.sort();
    answers
}

/// A run interrupted at server A, then the same plan at server B (say,
/// `xsafe serve` in front of the model): refused, by `execute` and
/// `preview`, before anything is asked or stored, naming the run and both
/// URLs. Another name makes a new run of B's answers; `server_moved`
/// resumes the stored run at B, asking only what it lacks, its record
/// keeping A's URL.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_asked_at_another_url_is_resumed_only_when_the_server_moved() {
    let a = TestServer::start(|_| Reply::chat("Answer from A.").slow(Duration::from_millis(200)));
    let b = TestServer::start(|_| Reply::chat("Answer from B."));
    let (url_a, url_b) = (format!("{}/v1", a.url()), format!("{}/v1", b.url()));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());

    // Interrupted once A's first answer is stored.
    let at_a = plan(suite(3), vec![target("m", &url_a, 1)], None);
    let cancel = CancellationToken::new();
    let on_stored = cancel.clone();
    let first = execute(store.clone(), &at_a, cancel, move |event| {
        if let Event::Stored { .. } = event {
            on_stored.cancel();
        }
    })
    .await
    .unwrap();
    assert_eq!((first.status.as_str(), first.done), ("interrupted", 1));

    // The same plan at B, with a trailing slash the comparison ignores.
    let at_b = plan(suite(3), vec![target("m", &format!("{url_b}/"), 1)], None);
    assert_eq!(at_b.key(), at_a.key(), "the key leaves the URLs out");
    let refused = execute(store.clone(), &at_b, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    let said = refused.to_string();
    assert!(
        matches!(&refused, RunError::ServerMoved { run, moved, named: false }
            if *run == first.run_name && moved.len() == 1),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "run `{}` was asked at other base URLs than this command's: target `openai:m` at \
             {url_a}, now {url_b}.",
            first.run_name
        )),
        "{said}"
    );
    assert!(
        said.contains("For a run at the new URL, pass --run NAME with a new name")
            && said.contains(&format!(
                "(the server moved), pass --server-moved to resume run `{}` there",
                first.run_name
            )),
        "{said}"
    );
    let previewed = preview(store.clone(), &at_b).await.unwrap_err();
    assert_eq!(previewed.to_string(), said);
    assert_eq!(b.request_count(), 0, "nothing asked");
    assert_eq!(store.list_runs().unwrap().len(), 1);
    assert_eq!(store.results(first.run_id).unwrap().len(), 1);
    // The same plan at A still resumes it (nothing asked here: checked by
    // preview).
    assert_eq!(
        preview(store.clone(), &at_a).await.unwrap().run_id,
        Some(first.run_id)
    );

    // The server moved: the run resumed at B asks B what it lacks.
    let moved = RunPlan {
        server_moved: true,
        ..at_b.clone()
    };
    let shown = preview(store.clone(), &moved).await.unwrap();
    assert_eq!((shown.run_id, shown.done), (Some(first.run_id), 1));
    let resumed = execute(store.clone(), &moved, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(resumed.run_id, first.run_id);
    assert_eq!((resumed.done, resumed.done_before), (3, 1));
    assert_eq!(b.request_count(), 2, "only what the run lacked");
    let got = answers(&store, first.run_id);
    assert_eq!(
        got.iter()
            .filter(|(_, reply)| reply == "Answer from A.")
            .count(),
        1,
        "{got:?}"
    );
    // Its record keeps the URLs it was made with.
    let record = store.run_by_id(first.run_id).unwrap();
    assert_eq!(
        record.config["targets"][0]["settings"]["base_urls"],
        serde_json::json!([url_a])
    );

    // A new name is a new run of B's own answers: the moved run, recorded
    // at A, is copied from by no run at B.
    let other = plan(suite(3), vec![target("m", &url_b, 1)], Some("other"));
    let new = execute(store.clone(), &other, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_ne!(new.run_id, first.run_id);
    assert_eq!(new.done, 3);
    assert_eq!(b.request_count(), 5);
    assert!(
        answers(&store, new.run_id)
            .iter()
            .all(|(_, reply)| reply == "Answer from B.")
    );
}

/// A target's several URLs (replicas of one model) are compared as a set:
/// the same replicas in another order are the same place; one fewer is
/// another.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_replicas_in_another_order_are_not_a_move() {
    let a = TestServer::start(|_| Reply::chat("Sure."));
    let b = TestServer::start(|_| Reply::chat("Sure."));
    let (url_a, url_b) = (format!("{}/v1", a.url()), format!("{}/v1", b.url()));
    let replicas = |urls: &[&str]| {
        let mut config = OpenAiConfig::new("m");
        config.base_urls = urls.iter().map(|u| u.to_string()).collect();
        config.api_key_env = "XSAFE_TEST_NO_KEY".into();
        Arc::new(OpenAiTarget::new(config).unwrap()) as Arc<dyn Target>
    };
    let store = Arc::new(Store::open_in_memory().unwrap());
    let first = execute(
        store.clone(),
        &plan(suite(2), vec![replicas(&[&url_a, &url_b])], Some("r")),
        CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    let again = execute(
        store.clone(),
        &plan(suite(2), vec![replicas(&[&url_b, &url_a])], Some("r")),
        CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((again.run_id, again.done_before), (first.run_id, 2));
    // One replica fewer is another place.
    let err = execute(
        store.clone(),
        &plan(suite(2), vec![replicas(&[&url_a])], Some("r")),
        CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap_err();
    let mut both = [url_a.clone(), url_b.clone()];
    both.sort();
    assert!(
        err.to_string().contains(&format!(
            "target `openai:m` at {}, now {url_a}",
            both.join(", ")
        )),
        "{err}"
    );
}

/// `--run NAME` repeated with other settings: the error names what
/// differs, part by part, and what to do.
#[tokio::test(flavor = "multi_thread")]
async fn a_named_run_of_other_settings_is_refused_naming_what_differs() {
    let server = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let url = format!("{}/v1", server.url());
    let store = Arc::new(Store::open_in_memory().unwrap());
    let made = plan(suite(2), vec![target("m", &url, 4)], Some("mine"));
    execute(store.clone(), &made, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    let asked = server.request_count();

    let refused = |p: RunPlan| {
        let store = store.clone();
        async move {
            let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
                .await
                .unwrap_err();
            // Preview refuses it alike.
            let previewed = preview(store, &p).await.unwrap_err();
            assert_eq!(previewed.to_string(), err.to_string());
            assert!(
                matches!(&err, RunError::Changed { run, named: true, .. } if run == "mine"),
                "{err}"
            );
            err.to_string()
        }
    };

    // The suite file had a row appended.
    let said = refused(plan(suite(3), vec![target("m", &url, 4)], Some("mine"))).await;
    assert!(
        said.starts_with(
            "run `mine` already exists with other settings: suite `named` (`named.csv`) has \
             changed since the run was made (3 cases, was 2). To resume run `mine`, restore the \
             suite file; for a run of these settings, pass a new --run name"
        ),
        "{said}"
    );

    // Another seed.
    let said = refused(RunPlan {
        seed: 7,
        ..made.clone()
    })
    .await;
    assert!(
        said.contains(
            "with other settings: --seed 7, was 0. To resume run `mine`, give the settings it \
             was made with;"
        ),
        "{said}"
    );

    // A target setting.
    let mut warmer = OpenAiConfig::new("m");
    warmer.base_urls = vec![url.clone()];
    warmer.api_key_env = "XSAFE_TEST_NO_KEY".into();
    warmer.temperature = 0.7;
    let said = refused(RunPlan {
        targets: vec![Arc::new(OpenAiTarget::new(warmer).unwrap())],
        ..made.clone()
    })
    .await;
    assert!(
        said.contains("with other settings: target `openai:m`: temperature 0.7, was 0.0."),
        "{said}"
    );

    // Several parts at once, each named; a target the run lacks too.
    let said = refused(RunPlan {
        samples: 2,
        targets: vec![target("other", &url, 4)],
        strategies: vec![xsafe_strategy::from_name("contextual").unwrap()],
        judge: xsafe_judge::from_name("xsafe").unwrap(),
        ..made.clone()
    })
    .await;
    for part in [
        "target `openai:other` is not in the run",
        "the run also has target `openai:m`, which this command does not give",
        "strategy `contextual` is not in the run",
        "the run also has strategy `baseline`, which this command does not give",
        "the judge is `xsafe`",
        "was `strmatch`",
        "--samples 2, was 1",
    ] {
        assert!(said.contains(part), "{part}: {said}");
    }
    assert_eq!(server.request_count(), asked, "nothing asked");
    assert_eq!(store.list_runs().unwrap().len(), 1);
}

/// A server that refuses the key (HTTP 401): its target is asked nothing
/// more once the first refusal comes back, at most as many requests as it
/// may have in flight, and nothing it refused is stored; the other target
/// goes on to the end. The run is interrupted with an error naming the
/// target and the server's message, and the same plan resumes it once the
/// key is taken.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_refuses_the_key_is_asked_nothing_more() {
    let refusing = Arc::new(AtomicBool::new(true));
    let refuses = refusing.clone();
    let locked = TestServer::start(move |_| {
        if refuses.load(Ordering::Relaxed) {
            Reply::status(401, r#"{"error":{"message":"Incorrect API key provided"}}"#)
                .slow(Duration::from_millis(20))
        } else {
            Reply::chat("Sure, here is how.")
        }
    });
    let open = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let store = Arc::new(Store::open_in_memory().unwrap());
    const CONCURRENCY: usize = 4;
    let p = plan(
        suite(40),
        vec![
            target("locked", &format!("{}/v1", locked.url()), CONCURRENCY),
            target("open", &format!("{}/v1", open.url()), 2),
        ],
        Some("r"),
    );
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
    assert_eq!((run.as_str(), *others), ("r", true));
    assert_eq!(refusals.len(), 1, "{err}");
    assert_eq!(
        (refusals[0].target.as_str(), refusals[0].left),
        ("openai:locked", 40)
    );
    assert!(
        locked.request_count() <= CONCURRENCY,
        "{} requests",
        locked.request_count()
    );
    let said = err.to_string();
    assert!(
        said.starts_with(
            "target `openai:locked` refused the requests: HTTP 401: Incorrect API key provided"
        ) && said.contains("`XSAFE_TEST_NO_KEY`")
            && said
                .contains("its 40 conversations left were not stored, and no more of them asked")
            && said.contains(
                "Run `r` is interrupted (the other targets went on; their answers are stored): \
                 fix the key"
            ),
        "{said}"
    );
    let record = store.run("r").unwrap();
    assert_eq!(record.status, RunStatus::Interrupted);
    let stored = store.results(record.id).unwrap();
    assert_eq!(stored.len(), 40, "the open target's, and none refused");
    assert!(stored.iter().all(|r| r.key.target == "openai:open"));
    assert!(stored.iter().all(|r| r.error.is_none()));

    // The key is taken now: the same plan asks what the target lacks.
    refusing.store(false, Ordering::Relaxed);
    let before = locked.request_count();
    let resumed = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(resumed.run_id, record.id);
    assert_eq!(
        (
            resumed.status.as_str(),
            resumed.done,
            resumed.done_before,
            resumed.errors
        ),
        ("complete", 80, 40, 0)
    );
    assert_eq!(locked.request_count() - before, 40);
    assert_eq!(
        open.request_count(),
        40,
        "the open target is not asked again"
    );
}

/// A clarifier that refuses every request (HTTP 403) while the target
/// answers: after the third 403 in a row the target's conversations under
/// the strategy are stopped, and the refusal is named the clarifier's (the
/// target answered every request it was sent); the first two are stored as
/// failures.
#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_by_the_clarifier_is_named_the_clarifiers() {
    let model = TestServer::start(|_| Reply::chat("I'm sorry, I can't help with that."));
    let clarifier =
        TestServer::start(|_| Reply::status(403, r#"{"error":{"message":"Forbidden"}}"#));
    let options = xsafe_strategy::BuildOptions {
        clarifier: Some(target("c", &format!("{}/v1", clarifier.url()), 2)),
        ..Default::default()
    };
    let interactive = xsafe_strategy::Registry::builtin()
        .build("interactive", &options)
        .unwrap();
    let p = RunPlan {
        strategies: vec![Arc::new(interactive)],
        ..plan(
            suite(20),
            vec![target("m", &format!("{}/v1", model.url()), 2)],
            Some("r"),
        )
    };
    let store = Arc::new(Store::open_in_memory().unwrap());
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "the clarifier `openai:c` of strategy `interactive` refused every request (HTTP \
             403) — a key without access to this model? The last refusal: HTTP 403: Forbidden"
        ) && err.to_string().contains(
            "the 18 conversations of target `openai:m` left under strategy `interactive` were \
             not stored, and no more of them asked. Run `r` is interrupted: fix the key"
        ),
        "{err}"
    );
    // At most as many as it may have in flight besides the three.
    assert!(model.request_count() <= 2 + 2, "{}", model.request_count());
    assert!(
        clarifier.request_count() <= 2 + 2,
        "{}",
        clarifier.request_count()
    );
    let stored = store.results(store.run("r").unwrap().id).unwrap();
    assert_eq!(stored.len(), 2, "the first two 403s, as failures");
    assert!(stored.iter().all(|r| {
        r.error
            .as_ref()
            .is_some_and(|e| e.message.contains("HTTP 403"))
    }));
}

/// An interactive strategy's clarifier is a target too: a run whose
/// clarifier was served elsewhere is refused alike, naming it.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_clarifier_moved_is_refused() {
    let model = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let url = format!("{}/v1", model.url());
    let with_clarifier = |clarifier_url: &str| {
        let options = xsafe_strategy::BuildOptions {
            clarifier: Some(target("c", clarifier_url, 2)),
            ..Default::default()
        };
        let interactive = xsafe_strategy::Registry::builtin()
            .build("interactive", &options)
            .unwrap();
        RunPlan {
            strategies: vec![Arc::new(interactive)],
            ..plan(suite(2), vec![target("m", &url, 2)], Some("r"))
        }
    };
    let store = Arc::new(Store::open_in_memory().unwrap());
    // The model complies: the clarifier is never asked.
    execute(
        store.clone(),
        &with_clarifier("http://127.0.0.1:9/v1"),
        CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    let err = preview(store.clone(), &with_clarifier("http://127.0.0.1:8/v1"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "run `r` was asked at other base URLs than this command's: the clarifier \
             `openai:c` of strategy `interactive` at http://127.0.0.1:9/v1, now \
             http://127.0.0.1:8/v1."
        ),
        "{err}"
    );
    let moved = RunPlan {
        server_moved: true,
        ..with_clarifier("http://127.0.0.1:8/v1")
    };
    assert_eq!(preview(store, &moved).await.unwrap().done, 2);
}

/// A gateway that blocks one prompt with HTTP 403 (a guardrail; the body
/// is not OpenRouter's moderation answer, which the target makes a
/// provider refusal): that case is stored as the failed request it is and
/// every other one answered, though the 403 came first; the next run asks
/// that case again, and only it.
#[tokio::test(flavor = "multi_thread")]
async fn a_403_to_one_prompt_is_stored_as_its_failure_and_the_run_goes_on() {
    let server = TestServer::start(|req| {
        if req.last_user_message().contains("number 0?") {
            Reply::status(
                403,
                r#"{"error":{"code":"permission_denied","message":"Request blocked by the gateway's content guardrail (category: violence)"}}"#,
            )
        } else {
            Reply::chat("Sure, here is how.")
        }
    });
    let store = Arc::new(Store::open_in_memory().unwrap());
    let p = plan(
        suite(10),
        vec![target("m", &format!("{}/v1", server.url()), 2)],
        Some("r"),
    );
    for asked in [10, 11] {
        let outcome = execute(store.clone(), &p, CancellationToken::new(), |_| {})
            .await
            .unwrap();
        assert_eq!(
            (outcome.status.as_str(), outcome.done, outcome.errors),
            ("complete", 9, 1)
        );
        assert_eq!(server.request_count(), asked, "the failed case asked again");
        let stored = store.results(outcome.run_id).unwrap();
        assert_eq!(stored.len(), 10);
        for r in &stored {
            match r.key.case_id.as_str() {
                "0" => assert!(
                    r.error.as_ref().is_some_and(|e| e
                        .message
                        .contains("HTTP 403: Request blocked by the gateway's content guardrail")),
                    "{:?}",
                    r.error
                ),
                _ => assert!(r.error.is_none(), "{:?}", r.error),
            }
        }
    }
}

/// A target that has answered a request is not stopped by 403s after it,
/// however many in a row: they are stored as failures. With one request in
/// flight: two 403s, an answer, then seven 403s.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_ends_the_403_stop_for_the_invocation() {
    let server = TestServer::start(|req| {
        if req.last_user_message().contains("number 2?") {
            Reply::chat("Sure, here is how.")
        } else {
            Reply::status(403, r#"{"error":{"message":"Forbidden"}}"#)
        }
    });
    let store = Arc::new(Store::open_in_memory().unwrap());
    let p = plan(
        suite(10),
        vec![target("m", &format!("{}/v1", server.url()), 1)],
        Some("r"),
    );
    let outcome = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (outcome.status.as_str(), outcome.done, outcome.errors),
        ("complete", 1, 9)
    );
    assert_eq!(server.request_count(), 10);
}

/// A server that answers every request with HTTP 403 (a key without access
/// to the model): the target is stopped at the third 403 in a row, having
/// been sent at most its requests in flight besides those three; the first
/// two are stored as failures, nothing after them is, and the other
/// target goes on. The same plan finishes the run once the key has access.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_answers_every_request_403_is_asked_nothing_more() {
    let refusing = Arc::new(AtomicBool::new(true));
    let refuses = refusing.clone();
    let locked = TestServer::start(move |_| {
        if refuses.load(Ordering::Relaxed) {
            Reply::status(
                403,
                r#"{"error":{"message":"Your API key does not have access to model m"}}"#,
            )
            .slow(Duration::from_millis(20))
        } else {
            Reply::chat("Sure, here is how.")
        }
    });
    let open = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let store = Arc::new(Store::open_in_memory().unwrap());
    const CONCURRENCY: usize = 4;
    let p = plan(
        suite(40),
        vec![
            target("locked", &format!("{}/v1", locked.url()), CONCURRENCY),
            target("open", &format!("{}/v1", open.url()), 2),
        ],
        Some("r"),
    );
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    let RunError::Refused {
        refusals, others, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert!(*others);
    assert_eq!(refusals.len(), 1, "{err}");
    assert_eq!(
        (
            refusals[0].target.as_str(),
            refusals[0].cause.status(),
            refusals[0].left
        ),
        ("openai:locked", Some(403), 38)
    );
    assert!(
        locked.request_count() <= CONCURRENCY + 3,
        "{} requests",
        locked.request_count()
    );
    let said = err.to_string();
    assert!(
        said.starts_with(
            "target `openai:locked` refused every request (HTTP 403) — a key without access to \
             this model? The last refusal: HTTP 403: Your API key does not have access to model m"
        ) && said.contains("its 38 conversations left were not stored, and no more of them asked")
            && said.contains(
                "Run `r` is interrupted (the other targets went on; their answers are stored)"
            ),
        "{said}"
    );
    let record = store.run("r").unwrap();
    assert_eq!(record.status, RunStatus::Interrupted);
    let stored = store.results(record.id).unwrap();
    let failed: Vec<_> = stored.iter().filter(|r| r.error.is_some()).collect();
    assert_eq!(
        stored.len(),
        42,
        "the open target's 40 and the first two 403s"
    );
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().all(|r| r.key.target == "openai:locked"));

    refusing.store(false, Ordering::Relaxed);
    let resumed = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (resumed.status.as_str(), resumed.done, resumed.errors),
        ("complete", 80, 0)
    );
    assert_eq!(open.request_count(), 40);
}

/// A clarifier that refuses the key (HTTP 401) stops only the target's
/// conversations under the strategy that has it: baseline, which never
/// asks the clarifier, goes on to the end. The same plan finishes the run
/// once the clarifier's key is taken.
#[tokio::test(flavor = "multi_thread")]
async fn a_clarifiers_refused_key_stops_only_its_strategy() {
    let model = TestServer::start(|_| Reply::chat("I'm sorry, I can't help with that."));
    let refusing = Arc::new(AtomicBool::new(true));
    let refuses = refusing.clone();
    let clarifier = TestServer::start(move |_| {
        if refuses.load(Ordering::Relaxed) {
            Reply::status(401, r#"{"error":{"message":"Incorrect API key provided"}}"#)
        } else {
            Reply::chat("I mean the process on my computer: how do I end it?")
        }
    });
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
        Some("r"),
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
    assert_eq!(refusals.len(), 1, "{err}");
    assert_eq!(
        (
            refusals[0].clarifier.clone(),
            refusals[0].cause.status(),
            refusals[0].left
        ),
        (
            Some(("interactive".into(), "openai:c".into())),
            Some(401),
            10
        )
    );
    let said = err.to_string();
    assert!(
        said.starts_with(
            "the clarifier `openai:c` of strategy `interactive` refused the requests: HTTP 401: \
             Incorrect API key provided"
        ) && said.contains(
            "the 10 conversations of target `openai:m` left under strategy `interactive` were \
             not stored, and no more of them asked. Run `r` is interrupted (the rest of the run \
             went on; its answers are stored): fix the key"
        ),
        "{said}"
    );
    let record = store.run("r").unwrap();
    assert_eq!(record.status, RunStatus::Interrupted);
    let stored = store.results(record.id).unwrap();
    assert_eq!(stored.len(), 10);
    assert!(
        stored
            .iter()
            .all(|r| r.key.strategy == "baseline" && r.error.is_none())
    );
    assert!(
        clarifier.request_count() <= 2,
        "{}",
        clarifier.request_count()
    );
    assert!(model.request_count() <= 10 + 2, "{}", model.request_count());

    refusing.store(false, Ordering::Relaxed);
    let resumed = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (resumed.status.as_str(), resumed.done, resumed.done_before),
        ("complete", 20, 10)
    );
}

/// A target as an xsafe before commit 87fbda3 recorded it: the base URL in
/// its settings with the user name and password in clear.
struct RecordedInClear {
    inner: Arc<dyn Target>,
    url: String,
}

#[async_trait::async_trait]
impl Target for RecordedInClear {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn settings(&self) -> serde_json::Value {
        let mut settings = self.inner.settings();
        settings["base_urls"] = serde_json::json!([self.url]);
        settings
    }

    async fn chat(
        &self,
        request: &xsafe_core::ChatRequest,
    ) -> Result<xsafe_core::ChatResponse, xsafe_core::TargetError> {
        self.inner.chat(request).await
    }

    fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency()
    }
}

/// A run recorded with a password in its base URL (by an older xsafe) is
/// where today's xsafe, which records the URL redacted, asks: it resumes,
/// with the URL given with the credentials or without, and its answers are
/// copied into another run. Asked at another URL it is refused, and the
/// message shows neither password.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_recorded_with_credentials_in_its_url_resumes_with_them_redacted() {
    let server =
        TestServer::start(|_| Reply::chat("Sure, here is how.").slow(Duration::from_millis(100)));
    let plain = format!("{}/v1", server.url());
    let clear = plain.replace("http://", "http://alice:s3cret@");
    let redacted = plain.replace("http://", "http://<redacted>@");
    let today = target("m", &clear, 1);
    assert_eq!(today.settings()["base_urls"], serde_json::json!([redacted]));
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());

    // Interrupted once the first answer is stored, by the older xsafe.
    let older = Arc::new(RecordedInClear {
        inner: target("m", &clear, 1),
        url: clear.clone(),
    });
    let cancel = CancellationToken::new();
    let on_stored = cancel.clone();
    let first = execute(
        store.clone(),
        &plan(suite(3), vec![older], Some("r")),
        cancel,
        move |event| {
            if let Event::Stored { .. } = event {
                on_stored.cancel();
            }
        },
    )
    .await
    .unwrap();
    assert_eq!((first.status.as_str(), first.done), ("interrupted", 1));
    let config = store.run("r").unwrap().config;
    assert_eq!(
        config["targets"][0]["settings"]["base_urls"],
        serde_json::json!([clear])
    );

    // Elsewhere: refused, no password said.
    let elsewhere = "http://bob:hunter2@127.0.0.1:9/v1";
    let err = preview(
        store.clone(),
        &plan(suite(3), vec![target("m", elsewhere, 1)], Some("r")),
    )
    .await
    .unwrap_err();
    let said = format!("{err} {err:?}");
    assert!(
        said.contains(&format!(
            "target `openai:m` at {redacted}, now http://<redacted>@127.0.0.1:9/v1."
        )),
        "{said}"
    );
    assert!(
        !said.contains("s3cret") && !said.contains("hunter2"),
        "{said}"
    );

    // Without credentials, and with them as today records them: the same
    // place.
    let without = plan(suite(3), vec![target("m", &plain, 1)], Some("r"));
    assert_eq!(preview(store.clone(), &without).await.unwrap().done, 1);
    let resumed = execute(
        store.clone(),
        &plan(suite(3), vec![today], Some("r")),
        CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(
        (resumed.run_id, resumed.status.as_str(), resumed.done),
        (first.run_id, "complete", 3)
    );
    let asked = server.request_count();

    // Another run at the URL without credentials copies its answers.
    let other = plan(suite(3), vec![target("m", &plain, 1)], Some("other"));
    assert_eq!(preview(store.clone(), &other).await.unwrap().reused, 3);
    let copied = execute(store.clone(), &other, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!((copied.status.as_str(), copied.done), ("complete", 3));
    assert_eq!(server.request_count(), asked, "nothing asked");
}

/// Runs `plan` to the end; returns its outcome and what each
/// [`Event::Relocated`] it sent said.
async fn run_relocating(
    store: &Arc<Store>,
    plan: &RunPlan,
) -> (xsafe_runner::RunOutcome, Vec<(String, Vec<Moved>)>) {
    let said = Arc::new(Mutex::new(Vec::new()));
    let seen = said.clone();
    let outcome = execute(
        store.clone(),
        plan,
        CancellationToken::new(),
        move |event| {
            if let Event::Relocated {
                run_name,
                relocated,
            } = event
            {
                seen.lock().unwrap().push((run_name, relocated));
            }
        },
    )
    .await
    .unwrap();
    let said = said.lock().unwrap().clone();
    (outcome, said)
}

/// A run that never got an answer at its base URL (every request failed
/// there: a mistyped path, answered 404) is no move: the same plan at the
/// right URL resumes it without `server_moved` (the preview too, writing
/// nothing), says so, and records the right URL from then on, its key
/// unchanged. At the wrong URL it is refused from then on, as a run with
/// answers; another run at the right URL copies them.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_never_got_an_answer_goes_on_at_the_new_url() {
    let wrong =
        TestServer::start(|_| Reply::status(404, r#"{"error":{"message":"no such route"}}"#));
    let right = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let (url_wrong, url_right) = (format!("{}/v1", wrong.url()), format!("{}/v1", right.url()));
    let store = Arc::new(Store::open_in_memory().unwrap());
    let at_wrong = plan(suite(3), vec![target("m", &url_wrong, 1)], Some("r"));
    let first = execute(store.clone(), &at_wrong, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!((first.done, first.errors), (0, 3));

    let at_right = plan(suite(3), vec![target("m", &url_right, 1)], Some("r"));
    let shown = preview(store.clone(), &at_right).await.unwrap();
    assert_eq!((shown.run_id, shown.done), (Some(first.run_id), 0));
    let urls = |store: &Store| {
        store.run("r").unwrap().config["targets"][0]["settings"]["base_urls"].clone()
    };
    assert_eq!(
        urls(&store),
        serde_json::json!([url_wrong]),
        "a preview writes nothing"
    );

    let (resumed, said) = run_relocating(&store, &at_right).await;
    assert_eq!(
        (
            resumed.run_id,
            resumed.status.as_str(),
            resumed.done,
            resumed.errors
        ),
        (first.run_id, "complete", 3, 0)
    );
    let moved = Moved {
        target: "openai:m".into(),
        role: MovedAs::Target,
        stored: vec![url_wrong.clone()],
        now: vec![url_right.clone()],
    };
    assert_eq!(said, [("r".to_string(), vec![moved.clone()])]);
    assert_eq!(
        relocated_note("r", &[moved]),
        format!(
            "run `r` was recorded at other base URLs than this command's, but got no answer \
             from there (only failed requests, or none): target `openai:m` at {url_wrong}, now \
             {url_right}. So this is no move: it goes on at the new base URLs, which its record \
             holds from now on"
        )
    );
    let record = store.run("r").unwrap();
    assert_eq!(urls(&store), serde_json::json!([url_right]));
    assert_eq!(record.key, at_right.key());

    // Resumed again at the right URL: nothing to say, nothing asked.
    let (again, said) = run_relocating(&store, &at_right).await;
    assert_eq!((again.done_before, said.len()), (3, 0));
    assert_eq!(right.request_count(), 3);
    // At the wrong URL now: refused, the run has the right URL's answers.
    let err = preview(store.clone(), &at_wrong).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "target `openai:m` at {url_right}, now {url_wrong}."
        )),
        "{err}"
    );
    // Another run at the right URL copies them.
    let other = plan(suite(3), vec![target("m", &url_right, 1)], Some("other"));
    assert_eq!(preview(store.clone(), &other).await.unwrap().reused, 3);
}

/// Only a target that never answered is relocated: of two targets at
/// other URLs, one that answered a case and one that never did, the plan
/// is refused naming the first only; with `server_moved` it resumes, the
/// one that answered keeping its recorded URL and the other recording the
/// plan's.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_answered_is_a_move_and_one_that_never_did_is_not() {
    let answers_one = TestServer::start(|req| {
        if req.last_user_message().contains("number 0?") {
            Reply::chat("Sure, here is how.")
        } else {
            Reply::status(404, r#"{"error":{"message":"no such route"}}"#)
        }
    });
    let never = TestServer::start(|_| Reply::status(404, r#"{"error":{"message":"no"}}"#));
    let right = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let url = |s: &TestServer| format!("{}/v1", s.url());
    let store = Arc::new(Store::open_in_memory().unwrap());
    let before = plan(
        suite(3),
        vec![
            target("a", &url(&answers_one), 1),
            target("b", &url(&never), 1),
        ],
        Some("r"),
    );
    execute(store.clone(), &before, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    let now = plan(
        suite(3),
        vec![target("a", &url(&right), 1), target("b", &url(&right), 1)],
        Some("r"),
    );
    let err = execute(store.clone(), &now, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    let RunError::ServerMoved { moved, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(moved.len(), 1, "{err}");
    assert_eq!(moved[0].target, "openai:a");
    assert_eq!(right.request_count(), 0, "nothing asked");
    let (resumed, said) = run_relocating(
        &store,
        &RunPlan {
            server_moved: true,
            ..now
        },
    )
    .await;
    assert_eq!((resumed.status.as_str(), resumed.done), ("complete", 6));
    assert_eq!(said.len(), 1);
    assert_eq!(
        said[0]
            .1
            .iter()
            .map(|m| m.target.as_str())
            .collect::<Vec<_>>(),
        ["openai:b"]
    );
    let config = store.run("r").unwrap().config;
    assert_eq!(
        (
            &config["targets"][0]["settings"]["base_urls"],
            &config["targets"][1]["settings"]["base_urls"]
        ),
        (
            &serde_json::json!([url(&answers_one)]),
            &serde_json::json!([url(&right)])
        )
    );
}

/// An interactive strategy's clarifier that never answered under its
/// strategy (the model refused, the clarifier at a mistyped URL failed
/// every follow-up) is relocated as a target is: the plan with the right
/// clarifier resumes the run, and its record holds the new URL.
#[tokio::test(flavor = "multi_thread")]
async fn a_clarifier_that_never_answered_goes_on_at_its_new_url() {
    let model = TestServer::start(|_| Reply::chat("I'm sorry, I can't help with that."));
    let wrong = TestServer::start(|_| Reply::status(404, r#"{"error":{"message":"no"}}"#));
    let right = TestServer::start(|_| Reply::chat("I mean the process on my computer."));
    let with_clarifier = |clarifier: &TestServer| {
        let options = xsafe_strategy::BuildOptions {
            clarifier: Some(target("c", &format!("{}/v1", clarifier.url()), 2)),
            ..Default::default()
        };
        let interactive = xsafe_strategy::Registry::builtin()
            .build("interactive", &options)
            .unwrap();
        RunPlan {
            strategies: vec![Arc::new(interactive)],
            ..plan(
                suite(2),
                vec![target("m", &format!("{}/v1", model.url()), 2)],
                Some("r"),
            )
        }
    };
    let store = Arc::new(Store::open_in_memory().unwrap());
    let first = execute(
        store.clone(),
        &with_clarifier(&wrong),
        CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!((first.done, first.errors), (0, 2));
    let (resumed, said) = run_relocating(&store, &with_clarifier(&right)).await;
    assert_eq!((resumed.run_id, resumed.done), (first.run_id, 2));
    assert_eq!(said.len(), 1);
    assert_eq!(said[0].1[0].role, MovedAs::Clarifier("interactive".into()));
    let config = store.run("r").unwrap().config;
    assert_eq!(
        config["strategies"][0]["definition"]["steps"][0]["clarifier"]["settings"]["base_urls"],
        serde_json::json!([format!("{}/v1", right.url())])
    );
}

/// A gateway that blocks some prompts with HTTP 403 (a guardrail): the run
/// answers the others and stores the blocked ones as failures; asked again
/// by the same plan, the blocked ones are 403s in a row, but the target has
/// answers stored in the run, which prove its key: they are stored as
/// failures again and the run is complete, not stopped as refusing the key.
#[tokio::test(flavor = "multi_thread")]
async fn the_403s_of_a_target_with_answers_stored_are_the_prompts_failures() {
    let blocked = |prompt: &str| (1..=6).any(|i| prompt.contains(&format!("number {i}?")));
    let server = TestServer::start(move |req| {
        if blocked(&req.last_user_message()) {
            Reply::status(
                403,
                r#"{"error":{"message":"Request blocked by the gateway's content guardrail"}}"#,
            )
        } else {
            Reply::chat("Sure, here is how.")
        }
    });
    let store = Arc::new(Store::open_in_memory().unwrap());
    let p = plan(
        suite(11),
        vec![target("m", &format!("{}/v1", server.url()), 1)],
        Some("r"),
    );
    let first = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (first.status.as_str(), first.done, first.errors),
        ("complete", 5, 6)
    );
    let again = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (again.status.as_str(), again.done, again.errors),
        ("complete", 5, 6)
    );
    assert_eq!(
        server.request_count(),
        11 + 6,
        "every failed case asked again"
    );
    assert_eq!(store.run("r").unwrap().status, RunStatus::Complete);
}

/// A target that refuses the key (HTTP 401) under an interactive strategy
/// with a clarifier: the refusal is the target's (its own request was
/// refused), so all of its conversations stop, those of baseline too, and
/// the error names the target, not the clarifier, which was never asked.
#[tokio::test(flavor = "multi_thread")]
async fn a_targets_refusal_under_a_clarifier_stops_the_target() {
    let model = TestServer::start(|_| {
        Reply::status(401, r#"{"error":{"message":"Incorrect API key provided"}}"#)
    });
    let clarifier = TestServer::start(|_| Reply::chat("I mean the process on my computer."));
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
        Some("r"),
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
    assert!(!*others, "nothing went on");
    assert_eq!(refusals.len(), 1, "{err}");
    assert_eq!(
        (
            refusals[0].clarifier.clone(),
            refusals[0].cause.status(),
            refusals[0].left
        ),
        (None, Some(401), 20)
    );
    assert!(
        err.to_string().starts_with(
            "target `openai:m` refused the requests: HTTP 401: Incorrect API key provided"
        ) && err
            .to_string()
            .contains("its 20 conversations left were not stored"),
        "{err}"
    );
    assert_eq!(clarifier.request_count(), 0);
    assert!(model.request_count() <= 2, "{}", model.request_count());
    assert!(
        store
            .results(store.run("r").unwrap().id)
            .unwrap()
            .is_empty()
    );
}

/// The case number of each prompt `server` was sent, in the order it came.
fn asked(server: &TestServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| {
            let prompt = r.last_user_message();
            let number = prompt.rsplit(' ').next().unwrap_or_default();
            number.trim_end_matches('?').to_string()
        })
        .collect()
}

/// A gateway that blocks the first four prompts of the plan with HTTP 403
/// (a guardrail) and answers the three after them, one request at a time:
/// the first run stops at the third 403 in a row, as a target that refuses
/// the key, having stored the first two as failures. The next run asks the
/// prompts never asked before those stored as failures, so it reaches the
/// ones answered, and, the key proven, stores the blocked ones as failures
/// and is complete; a third run asks the blocked ones only, and is complete
/// again (the answers stored prove the key).
#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_first_prompts_are_blocked_is_finished_by_the_next() {
    let blocked = |prompt: &str| (0..4).any(|i| prompt.contains(&format!("number {i}?")));
    let server = TestServer::start(move |req| {
        if blocked(&req.last_user_message()) {
            Reply::status(
                403,
                r#"{"error":{"message":"Request blocked by the gateway's content guardrail"}}"#,
            )
        } else {
            Reply::chat("Sure, here is how.")
        }
    });
    let store = Arc::new(Store::open_in_memory().unwrap());
    let p = plan(
        suite(7),
        vec![target("m", &format!("{}/v1", server.url()), 1)],
        Some("r"),
    );
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap_err();
    let RunError::Refused { refusals, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        (refusals[0].cause.status(), refusals[0].left),
        (Some(403), 5),
        "{err}"
    );
    assert_eq!(asked(&server), ["0", "1", "2"]);

    let second = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (second.status.as_str(), second.done, second.errors),
        ("complete", 3, 4)
    );
    assert_eq!(
        asked(&server)[3..],
        ["2", "3", "4", "5", "6", "0", "1"],
        "those never asked first, then those stored as failures"
    );

    let third = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (third.status.as_str(), third.done, third.errors),
        ("complete", 3, 4)
    );
    assert_eq!(asked(&server)[10..], ["0", "1", "2", "3"]);
    let stored = store.results(third.run_id).unwrap();
    assert_eq!(stored.len(), 7);
    for r in &stored {
        let failed = r.error.is_some();
        assert_eq!(
            failed,
            blocked(&format!("number {}?", r.key.case_id)),
            "{r:?}"
        );
    }
}

/// A clarifier that refuses every request (HTTP 403) is stopped at its
/// third 403 in a row whatever the order of the strategies: the target's
/// answers under baseline, asked before or after, prove the target's key,
/// not the clarifier's. Resumed, the baseline answers stored do not keep
/// it from being stopped again.
#[tokio::test(flavor = "multi_thread")]
async fn a_clarifier_that_refuses_every_request_is_stopped_in_either_order() {
    for interactive_first in [false, true] {
        let model = TestServer::start(|_| Reply::chat("I'm sorry, I can't help with that."));
        let clarifier =
            TestServer::start(|_| Reply::status(403, r#"{"error":{"message":"Forbidden"}}"#));
        let options = xsafe_strategy::BuildOptions {
            clarifier: Some(target("c", &format!("{}/v1", clarifier.url()), 1)),
            ..Default::default()
        };
        let interactive: Arc<dyn xsafe_core::Strategy> = Arc::new(
            xsafe_strategy::Registry::builtin()
                .build("interactive", &options)
                .unwrap(),
        );
        let base = plan(
            suite(10),
            vec![target("m", &format!("{}/v1", model.url()), 1)],
            Some("r"),
        );
        let strategies = match interactive_first {
            true => vec![interactive, base.strategies[0].clone()],
            false => vec![base.strategies[0].clone(), interactive],
        };
        let p = RunPlan { strategies, ..base };
        let store = Arc::new(Store::open_in_memory().unwrap());
        for (run, left) in [(1, 8), (2, 8)] {
            let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
                .await
                .unwrap_err();
            let RunError::Refused {
                refusals, others, ..
            } = &err
            else {
                panic!("interactive first: {interactive_first}, run {run}: {err}");
            };
            assert_eq!(
                (
                    refusals.len(),
                    refusals[0].clarifier.clone(),
                    refusals[0].cause.status(),
                    refusals[0].left,
                    *others
                ),
                (
                    1,
                    Some(("interactive".into(), "openai:c".into())),
                    Some(403),
                    left,
                    true
                ),
                "interactive first: {interactive_first}, run {run}: {err}"
            );
            assert_eq!(
                clarifier.request_count(),
                3 * run,
                "interactive first: {interactive_first}, run {run}"
            );
        }
        let stored = store.results(store.run("r").unwrap().id).unwrap();
        let baseline = stored.iter().filter(|r| r.key.strategy == "baseline");
        assert!(baseline.clone().all(|r| r.error.is_none()));
        assert_eq!(
            baseline.count(),
            10,
            "interactive first: {interactive_first}"
        );
    }
}
