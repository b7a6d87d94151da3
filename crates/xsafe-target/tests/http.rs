//! The OpenAI-compatible target against a real server on 127.0.0.1 that
//! answers slowly, with 429s and 500s, drops connections or sends broken JSON.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use xsafe_core::{ChatRequest, Message, Target, TargetError};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

fn target(server_url: &str, tweak: impl FnOnce(&mut OpenAiConfig)) -> OpenAiTarget {
    let mut config = OpenAiConfig::new("test-model");
    config.base_urls = vec![format!("{server_url}/v1")];
    config.api_key_env = "XSAFE_TEST_KEY_THAT_IS_NOT_SET".into();
    config.retry_base = Duration::from_millis(5);
    config.max_retries = 3;
    tweak(&mut config);
    OpenAiTarget::new(config).unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user(text)])
}

/// A handler that fails `n` times with `failure`, then answers.
fn fail_then_answer(n: usize, failure: Reply) -> impl Fn(&xsafe_testkit::Request) -> Reply {
    let count = Arc::new(AtomicUsize::new(0));
    move |_| {
        if count.fetch_add(1, Ordering::SeqCst) < n {
            failure.clone()
        } else {
            Reply::chat("fine")
        }
    }
}

/// `--target-seed` must reach the server in a run, where every request
/// carries the run's per-sample seed; without it that seed is sent.
#[tokio::test]
async fn the_seed_sent_is_the_targets_else_the_requests() {
    let server = TestServer::start(|_| Reply::chat("ok"));
    let seeded = target(&server.url(), |c| c.seed = Some(9));
    let plain = target(&server.url(), |_| {});
    let mut with_seed = ask("Hi");
    with_seed.seed = Some(3);
    for (t, request) in [
        (&seeded, &with_seed),
        (&seeded, &ask("Hi")),
        (&plain, &with_seed),
        (&plain, &ask("Hi")),
    ] {
        t.chat(request).await.unwrap();
    }
    let seeds: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.json()["seed"].clone())
        .collect();
    assert_eq!(
        seeds,
        [9.into(), 9.into(), 3.into(), serde_json::Value::Null]
    );
}

#[tokio::test]
async fn sends_the_openai_schema_and_reads_the_answer() {
    let server = TestServer::start(|_| Reply::chat("Hello there"));
    let t = target(&server.url(), |c| {
        c.system_prompt = Some("Be brief.".into());
        c.seed = Some(9);
    });
    let mut req = ChatRequest::new(vec![Message::system("Read kindly."), Message::user("Hi")]);
    req.seed = Some(3);
    let reply = t.chat(&req).await.unwrap();
    assert_eq!(reply.message.content, "Hello there");
    let sent = &server.requests()[0];
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.path, "/v1/chat/completions");
    let body = sent.json();
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["max_tokens"], 512);
    assert_eq!(
        body["seed"], 9,
        "the target's own seed wins over the request's"
    );
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "one merged system message: {messages:?}");
    assert_eq!(messages[0]["content"], "Be brief.\n\nRead kindly.");
    assert_eq!(messages[1]["content"], "Hi");
    assert!(sent.header("authorization").is_none());
}

#[tokio::test]
async fn reasoning_before_a_closing_think_tag_is_not_the_answer() {
    // A reasoning model whose chat template opens `<think>` in the prompt,
    // served without a reasoning parser, answers `...</think>answer`.
    let server = TestServer::start(|_| {
        Reply::chat(
            "This might be harmful; I'm sorry, but I can't... no, it is safe.\n</think>\n\nRun `kill PID`.",
        )
    });
    let reply = target(&server.url(), |_| {})
        .chat(&ask("Hi"))
        .await
        .unwrap();
    assert_eq!(reply.message.content, "Run `kill PID`.");
    assert!(
        reply
            .message
            .reasoning
            .as_deref()
            .unwrap()
            .starts_with("This might be harmful"),
        "{:?}",
        reply.message.reasoning
    );
}

#[tokio::test]
async fn sends_the_api_key_from_the_named_variable() {
    let server = TestServer::start(|_| Reply::chat("ok"));
    // SAFETY: this variable name is used by this test alone.
    unsafe { std::env::set_var("XSAFE_TEST_API_KEY_1", "sk-test-123") };
    let t = target(&server.url(), |c| {
        c.api_key_env = "XSAFE_TEST_API_KEY_1".into()
    });
    t.chat(&ask("Hi")).await.unwrap();
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer sk-test-123")
    );
    assert!(!t.settings().to_string().contains("sk-test-123"));
}

/// A variable named on purpose must hold a key; a 401 says whether a key
/// was sent, and from which variable.
#[tokio::test]
async fn a_missing_or_refused_api_key_is_named() {
    let mut config = OpenAiConfig::new("test-model");
    config.api_key_env = "XSAFE_TEST_KEY_THAT_IS_NOT_SET".into();
    config.api_key_required = true;
    let err = OpenAiTarget::new(config)
        .err()
        .expect("an unset named variable");
    let text = err.to_string();
    assert!(
        text.contains(
            "`XSAFE_TEST_KEY_THAT_IS_NOT_SET` (named by --api-key-env, by --judge-api-key-env"
        ),
        "{text}"
    );
    assert!(text.contains("is not set or is empty"), "{text}");

    let server = TestServer::start(|_| Reply::status(401, r#"{"error":{"message":"bad key"}}"#));
    let err = target(&server.url(), |_| {})
        .chat(&ask("Hi"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad key (no API key was sent: `XSAFE_TEST_KEY_THAT_IS_NOT_SET` is not set"),
        "{err}"
    );
    // The same target serves `run` and an `llm:` judge, whose flag is
    // --judge-api-key-env: the hint names each for its command.
    assert!(
        err.contains(
            "name the variable that holds it with --api-key-env, with --judge-api-key-env \
             for an llm: judge, or with `api_key_env` in a targets file)"
        ),
        "{err}"
    );
    // SAFETY: this variable name is used by this test alone.
    unsafe { std::env::set_var("XSAFE_TEST_API_KEY_2", "sk-wrong") };
    let t = target(&server.url(), |c| {
        c.api_key_env = "XSAFE_TEST_API_KEY_2".into();
        c.api_key_required = true;
    });
    let err = t.chat(&ask("Hi")).await.unwrap_err().to_string();
    assert!(
        err.contains("bad key (the server refused the API key from `XSAFE_TEST_API_KEY_2`)"),
        "{err}"
    );
    assert!(!err.contains("sk-wrong"), "{err}");
}

/// OpenAI's reasoning models refuse `max_tokens` and take the limit as
/// `max_completion_tokens`, and only their default temperature: the first
/// is adapted to once for the target, the second said plainly.
#[tokio::test]
async fn a_server_that_wants_max_completion_tokens_gets_it() {
    let server = TestServer::start(|r| {
        let body = r.json();
        if body.get("max_tokens").is_some() {
            Reply::status(
                400,
                r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#,
            )
        } else if body["temperature"] != 1.0 {
            Reply::status(
                400,
                r#"{"error":{"message":"Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported.","type":"invalid_request_error","param":"temperature","code":"unsupported_value"}}"#,
            )
        } else {
            Reply::chat("fine")
        }
    });
    let t = target(&server.url(), |c| c.temperature = 1.0);
    assert_eq!(t.chat(&ask("Hi")).await.unwrap().message.content, "fine");
    let sent: Vec<_> = server.requests().iter().map(|r| r.json()).collect();
    assert_eq!(sent.len(), 2, "asked again at once, not as a retry");
    assert_eq!(sent[0]["max_tokens"], 512);
    assert_eq!(sent[1]["max_completion_tokens"], 512);
    assert!(sent[1].get("max_tokens").is_none());
    // From then on the limit goes under its new name straight away.
    t.chat(&ask("Again")).await.unwrap();
    assert_eq!(server.request_count(), 3);
    assert_eq!(server.requests()[2].json()["max_completion_tokens"], 512);

    // A temperature the model does not take is not retried; the error says
    // which flag to change.
    let t = target(&server.url(), |_| {});
    let err = t.chat(&ask("Hi")).await.unwrap_err().to_string();
    assert!(
        err.contains("Only the default (1) value is supported")
            && err.contains("the model takes no --temperature 0"),
        "{err}"
    );
    assert_eq!(server.request_count(), 5, "one refusal of each, no retry");
}

/// A parameter refused for its value is not renamed: `max_tokens` too
/// large is the server's answer, passed on once.
#[tokio::test]
async fn a_max_tokens_too_large_is_the_servers_answer() {
    let server = TestServer::start(|_| {
        Reply::status(
            400,
            r#"{"error":{"message":"max_tokens is too large: 100000. This model supports at most 16384 completion tokens.","type":"invalid_request_error","param":"max_tokens","code":"invalid_value"}}"#,
        )
    });
    let t = target(&server.url(), |c| c.max_tokens = 100_000);
    let err = t.chat(&ask("Hi")).await.unwrap_err().to_string();
    assert!(err.contains("max_tokens is too large"), "{err}");
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn retries_rate_limits_and_server_errors() {
    for failure in [
        Reply::rate_limited(None),
        Reply::rate_limited(Some(0)),
        Reply::status(500, "{}"),
        Reply::status(503, "upstream busy"),
        Reply::Drop,
        Reply::status(200, "{\"choices\": [tru"),
        Reply::Truncated(Box::new(Reply::chat("cut"))),
    ] {
        let server = TestServer::start(fail_then_answer(2, failure.clone()));
        let t = target(&server.url(), |_| {});
        let reply = t.chat(&ask("Hi")).await;
        assert_eq!(
            reply.map(|r| r.message.content),
            Ok("fine".to_string()),
            "{failure:?}"
        );
        assert_eq!(server.request_count(), 3);
    }
}

#[tokio::test]
async fn honours_retry_after() {
    let server = TestServer::start(fail_then_answer(1, Reply::rate_limited(Some(1))));
    let t = target(&server.url(), |_| {});
    let started = std::time::Instant::now();
    t.chat(&ask("Hi")).await.unwrap();
    // The backoff alone would be ~5 ms; Retry-After asks for a second.
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn gives_up_after_the_last_retry_with_the_reason() {
    let server = TestServer::start(|_| Reply::status(500, r#"{"error":{"message":"boom"}}"#));
    let t = target(&server.url(), |_| {});
    let err = t.chat(&ask("Hi")).await.unwrap_err();
    assert_eq!(err.attempts(), 4);
    assert_eq!(err.kind(), "server_error");
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = TestServer::start(|_| Reply::status(401, r#"{"error":{"message":"bad key"}}"#));
    let t = target(&server.url(), |_| {});
    let err = t.chat(&ask("Hi")).await.unwrap_err();
    assert!(
        matches!(err, TargetError::Status { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(server.request_count(), 1);
}

/// A 404 at a base URL without `/v1` says to check it; behind `/v1` a 404
/// is the server's own word (e.g. an unknown model), passed on alone. An
/// HTML error page is reduced to its text.
#[tokio::test]
async fn a_path_the_server_does_not_serve_points_at_the_base_url() {
    let server = TestServer::start(|r| {
        if r.path == "/v1/chat/completions" {
            Reply::status(
                404,
                r#"{"error":{"message":"model `test-model` not found"}}"#,
            )
        } else {
            Reply::status(
                404,
                "<html><body><h1>404 Not Found</h1><hr>nginx</body></html>",
            )
        }
    });
    let t = target(&server.url(), |c| c.base_urls = vec![server.url()]);
    let err = t.chat(&ask("Hi")).await.unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "HTTP 404: 404 Not Found nginx (POST {}/chat/completions: is the base URL right? \
             For most servers it ends in /v1)",
            server.url()
        )
    );
    let t = target(&server.url(), |_| {});
    let err = t.chat(&ask("Hi")).await.unwrap_err().to_string();
    assert_eq!(err, "HTTP 404: model `test-model` not found");
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried() {
    let server = TestServer::start(fail_then_answer(
        1,
        Reply::chat("late").slow(Duration::from_secs(3)),
    ));
    let t = target(&server.url(), |c| c.timeout = Duration::from_millis(300));
    let reply = t.chat(&ask("Hi")).await.unwrap();
    assert_eq!(reply.message.content, "fine");
}

#[tokio::test]
async fn a_server_that_is_down_is_a_connection_error() {
    let t = target(&xsafe_testkit::unused_url(), |c| c.max_retries = 1);
    let err = t.chat(&ask("Hi")).await.unwrap_err();
    assert_eq!(err.kind(), "connection");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}

#[tokio::test]
async fn sends_extra_headers_and_stop_but_records_neither_value() {
    let server = TestServer::start(|_| Reply::chat("ok"));
    let t = target(&server.url(), |c| {
        c.headers = vec![("X-Secret-Team".into(), "s3cr3t".into())];
        c.stop = vec!["\nUser:".into()];
    });
    t.chat(&ask("Hi")).await.unwrap();
    let sent = &server.requests()[0];
    assert_eq!(sent.header("x-secret-team"), Some("s3cr3t"));
    assert_eq!(sent.json()["stop"][0], "\nUser:");
    let settings = t.settings().to_string();
    assert!(
        settings.contains("X-Secret-Team") && !settings.contains("s3cr3t"),
        "{settings}"
    );
}

#[tokio::test]
async fn replicas_share_the_load_by_outstanding_requests() {
    // One replica is slow: least-outstanding sends most requests to the fast one.
    let slow = TestServer::start(|_| Reply::chat("slow").slow(Duration::from_millis(300)));
    let fast = TestServer::start(|_| Reply::chat("fast").slow(Duration::from_millis(10)));
    let mut config = OpenAiConfig::new("m");
    config.base_urls = vec![format!("{}/v1", slow.url()), format!("{}/v1/", fast.url())];
    config.api_key_env = "XSAFE_TEST_KEY_THAT_IS_NOT_SET".into();
    let t = Arc::new(OpenAiTarget::new(config).unwrap());
    let mut tasks = Vec::new();
    for i in 0..40 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(i * 10)).await;
            t.chat(&ask("Hi")).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(slow.request_count() + fast.request_count(), 40);
    assert!(slow.request_count() >= 1, "every replica is used");
    assert!(
        fast.request_count() >= 3 * slow.request_count(),
        "slow {} fast {}",
        slow.request_count(),
        fast.request_count()
    );
    assert!(t.outstanding().iter().all(|(_, n)| *n == 0));
}

#[tokio::test]
async fn a_failing_replica_rests_and_its_requests_go_to_the_others() {
    // A replica that fails at once always had the fewest outstanding
    // requests: it drew most of them, retries included, and cases failed
    // while a healthy replica was free.
    let broken = TestServer::start(|_| Reply::status(500, "boom"));
    let healthy = TestServer::start(|_| Reply::chat("fine").slow(Duration::from_millis(30)));
    let mut config = OpenAiConfig::new("m");
    config.base_urls = vec![
        format!("{}/v1", broken.url()),
        format!("{}/v1", healthy.url()),
    ];
    config.api_key_env = "XSAFE_TEST_KEY_THAT_IS_NOT_SET".into();
    config.retry_base = Duration::from_millis(5);
    config.max_retries = 2;
    let t = Arc::new(OpenAiTarget::new(config).unwrap());
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move { t.chat(&ask("Hi")).await }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().message.content, "fine");
    }
    // It rests a second after its first failure: the requests in flight
    // then may reach it, later ones do not.
    assert!(
        broken.request_count() <= 10,
        "broken {} healthy {}",
        broken.request_count(),
        healthy.request_count()
    );
    assert_eq!(healthy.request_count(), 40);
}

#[tokio::test]
async fn credentials_in_a_base_url_are_never_shown_or_recorded() {
    let server = TestServer::start(|_| Reply::status(500, "boom"));
    let with_secret = server.url().replace("http://", "http://user:URLPASS789@");
    let t = target(&with_secret, |c| c.max_retries = 0);
    let err = t.chat(&ask("Hi")).await.unwrap_err().to_string();
    assert!(!err.contains("URLPASS789"), "{err}");
    let settings = t.settings().to_string();
    assert!(
        !settings.contains("URLPASS789") && settings.contains("<redacted>@127.0.0.1"),
        "{settings}"
    );
    assert!(
        t.outstanding()
            .iter()
            .all(|(u, _)| !u.contains("URLPASS789"))
    );
    // Nobody listening: the connection error names the server, not the secret.
    let down = xsafe_testkit::unused_url().replace("http://", "http://user:URLPASS789@");
    let t = target(&down, |c| c.max_retries = 0);
    let err = t.chat(&ask("Hi")).await.unwrap_err().to_string();
    assert!(
        !err.contains("URLPASS789") && err.contains("<redacted>@"),
        "{err}"
    );
    assert_eq!(
        xsafe_target::without_userinfo("https://a:b@host:1/v1?x=@y"),
        "https://<redacted>@host:1/v1?x=@y"
    );
}

#[tokio::test]
async fn credentials_in_the_url_are_sent_in_place_of_the_api_key_and_a_bad_key_is_named() {
    let server = TestServer::start(|_| Reply::chat("ok"));
    // SAFETY: these variable names are used by this test alone.
    unsafe { std::env::set_var("XSAFE_TEST_API_KEY_URL", "sk-envkey") };
    let with_user = server.url().replace("http://", "http://alice:pw@");
    let t = target(&with_user, |c| {
        c.api_key_env = "XSAFE_TEST_API_KEY_URL".into();
    });
    t.chat(&ask("Hi")).await.unwrap();
    let sent = server.requests()[0]
        .header("authorization")
        .unwrap()
        .to_string();
    assert!(
        sent.starts_with("Basic "),
        "one Authorization, the URL's: {sent}"
    );
    unsafe { std::env::set_var("XSAFE_TEST_API_KEY_NL", "sk-abc\n") };
    let mut config = OpenAiConfig::new("m");
    config.base_urls = vec![format!("{}/v1", server.url())];
    config.api_key_env = "XSAFE_TEST_API_KEY_NL".into();
    let err = OpenAiTarget::new(config).err().unwrap().to_string();
    assert!(
        err.contains("the API key in `XSAFE_TEST_API_KEY_NL` is not a valid HTTP header value"),
        "{err}"
    );
}

/// An `Authorization` header is sent in place of the key of the default
/// variable; beside a variable named on purpose, it is refused: one of the
/// two would be dropped.
#[tokio::test]
async fn an_authorization_header_is_sent_in_place_of_the_api_key() {
    let server = TestServer::start(|_| Reply::status(401, "no"));
    // SAFETY: this variable name is used by this test alone.
    unsafe { std::env::set_var("XSAFE_TEST_API_KEY_HEADER", "envkey") };
    let mut config = OpenAiConfig::new("test-model");
    config.base_urls = vec![format!("{}/v1", server.url())];
    config.api_key_env = "XSAFE_TEST_API_KEY_HEADER".into();
    config.api_key_required = true;
    config.headers = vec![("Authorization".into(), "Bearer hdrkey".into())];
    let err = OpenAiTarget::new(config).err().unwrap().to_string();
    assert!(
        err.contains("would both be sent as the `Authorization` header: give one of them"),
        "{err}"
    );
    let t = target(&server.url(), |c| {
        c.api_key_env = "XSAFE_TEST_API_KEY_HEADER".into();
        c.headers = vec![("Authorization".into(), "Bearer hdrkey".into())];
    });
    let err = t.chat(&ask("Hi")).await.unwrap_err().to_string();
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer hdrkey")
    );
    assert!(
        err.contains("refused the credentials given with --header Authorization"),
        "{err}"
    );
}

#[tokio::test]
async fn repeated_429s_shrink_concurrency_and_it_grows_back() {
    use std::sync::Mutex;
    use std::time::Instant;
    // The server takes two requests at a time: more than two arriving within
    // one answer's time (50 ms) get a 429.
    let overloaded = Arc::new(AtomicUsize::new(0));
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = overloaded.clone();
    let server = TestServer::start(move |_| {
        let now = Instant::now();
        let mut a = arrivals.lock().unwrap();
        a.retain(|t| now.duration_since(*t) < Duration::from_millis(50));
        if a.len() >= 2 {
            seen.fetch_add(1, Ordering::SeqCst);
            return Reply::rate_limited(None);
        }
        a.push(now);
        Reply::chat("ok").slow(Duration::from_millis(50))
    });
    let t = Arc::new(target(&server.url(), |c| {
        c.max_concurrency = 16;
        c.max_retries = 50;
        c.retry_base = Duration::from_millis(20);
        c.overload_cooldown = Duration::from_millis(50);
    }));
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move { t.chat(&ask("Hi")).await }));
    }
    for task in tasks {
        assert!(task.await.unwrap().is_ok(), "every request completes");
    }
    assert!(overloaded.load(Ordering::SeqCst) > 0);
    let low = t.current_concurrency();
    assert!(low < 16, "the limit shrank to {low}");
    // Without 429s it grows back.
    for _ in 0..20 {
        t.chat(&ask("Hi")).await.unwrap();
    }
    assert!(t.current_concurrency() > low, "grew back from {low}");
}

/// `count` cases at once, each of which must be answered.
async fn answer_all(t: &Arc<OpenAiTarget>, count: usize) {
    let mut tasks = Vec::new();
    for _ in 0..count {
        let t = t.clone();
        tasks.push(tokio::spawn(async move { t.chat(&ask("Hi")).await }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().message.content, "fine");
    }
}

/// A replica that answers 200 with a body that is no completion fails as
/// one that answers 500 does: it rests, and retries go to the others. It
/// fails at once, so it always had the fewest outstanding requests and
/// drew every retry while the healthy replica was busy.
#[tokio::test]
async fn a_replica_answering_broken_completions_rests() {
    for broken_body in [
        &b"{\"choices\": [tru"[..],
        br#"{"error":{"message":"busy"}}"#,
    ] {
        let broken = TestServer::start(move |_| Reply::status(200, broken_body));
        let healthy = TestServer::start(|_| Reply::chat("fine").slow(Duration::from_millis(50)));
        let t = Arc::new(target(&healthy.url(), |c| {
            c.base_urls = vec![
                format!("{}/v1", broken.url()),
                format!("{}/v1", healthy.url()),
            ];
            c.max_retries = 2;
        }));
        answer_all(&t, 16).await;
        assert_eq!(healthy.request_count(), 16);
        // Only first attempts sent before its first failure reach it: at
        // most one per case.
        assert!(
            broken.request_count() <= 16,
            "broken {}",
            broken.request_count()
        );
    }
}

/// A replica that says `Retry-After` rests at least that long, and the
/// retry goes at once to another replica rather than waiting for it.
#[tokio::test]
async fn a_retry_after_rests_its_replica_and_the_retry_goes_elsewhere() {
    let limited = TestServer::start(|_| Reply::rate_limited(Some(3600)));
    let healthy = TestServer::start(|_| Reply::chat("fine").slow(Duration::from_millis(20)));
    let t = Arc::new(target(&healthy.url(), |c| {
        c.base_urls = vec![
            format!("{}/v1", limited.url()),
            format!("{}/v1", healthy.url()),
        ];
        c.max_concurrency = 4;
        c.retry_cap = Duration::from_secs(3600);
    }));
    // Waiting for the Retry-After would take an hour.
    tokio::time::timeout(Duration::from_secs(120), async {
        answer_all(&t, 12).await;
        // Later cases, one at a time, all go to the healthy replica.
        for _ in 0..4 {
            t.chat(&ask("Hi")).await.unwrap();
        }
    })
    .await
    .expect("the retries did not wait for the Retry-After");
    assert_eq!(healthy.request_count(), 16);
    // Only requests sent before its 429 came back reach it.
    assert!(
        limited.request_count() <= 4,
        "limited {}",
        limited.request_count()
    );
}

/// `Retry-After: 0` (or a date already past) does not make the retries
/// back to back: each waits at least the exponential backoff.
#[tokio::test]
async fn a_retry_after_of_zero_still_backs_off() {
    let past = "Wed, 21 Oct 2015 07:28:00 GMT";
    for value in ["0", past] {
        let server = TestServer::start(move |_| Reply::Full {
            status: 429,
            headers: vec![("retry-after".into(), value.into())],
            body: b"{}".to_vec(),
        });
        let t = target(&server.url(), |c| {
            c.retry_base = Duration::from_millis(200);
            c.max_retries = 2;
        });
        let started = std::time::Instant::now();
        let err = t.chat(&ask("Hi")).await.unwrap_err();
        assert_eq!(err.attempts(), 3);
        // At least half of 200 ms and of 400 ms (the jitter's least).
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{value}: {:?}",
            started.elapsed()
        );
    }
}

/// A server that takes one request at a time and answers 429 to any
/// other: the limit settles at one rather than swinging between one and
/// more, so most requests are answered and every case completes.
#[tokio::test]
async fn the_limit_settles_on_a_server_that_takes_one_request_at_a_time() {
    use std::sync::Mutex;
    use std::time::Instant;
    // When the request being answered ends; one that arrives before then
    // is refused.
    let busy_until: Arc<Mutex<Option<Instant>>> = Arc::default();
    let refused = Arc::new(AtomicUsize::new(0));
    let seen = refused.clone();
    let answer = Duration::from_millis(20);
    let server = TestServer::start(move |_| {
        let now = Instant::now();
        let mut busy = busy_until.lock().unwrap();
        if busy.is_some_and(|until| until > now) {
            seen.fetch_add(1, Ordering::SeqCst);
            return Reply::rate_limited(None);
        }
        *busy = Some(now + answer);
        Reply::chat("fine").slow(answer)
    });
    let t = Arc::new(target(&server.url(), |c| {
        c.max_concurrency = 8;
        c.max_retries = 30;
        c.retry_base = Duration::from_millis(10);
        c.retry_cap = Duration::from_millis(200);
        c.overload_cooldown = Duration::from_millis(500);
    }));
    let cases = 60;
    answer_all(&t, cases).await;
    let refused = refused.load(Ordering::SeqCst);
    // The first burst is refused (7 of 8, then a few while the limit
    // halves to one); after that, a 429 at most per cooldown as it probes
    // for two.
    assert!(refused <= cases / 2, "{refused} 429s for {cases} answers");
    assert_eq!(server.request_count(), cases + refused);
}

/// Two replicas under `--concurrency 8`: one takes a single request at a
/// time and answers 429 to any other, the other takes any load. The 429s
/// lower the overloaded replica's own limit, to one, and not the healthy
/// replica's, which keeps the rest of the eight in flight. (With one limit
/// for the whole target, they lowered it to one for both.)
#[tokio::test]
async fn an_overloaded_replica_does_not_slow_the_healthy_one() {
    use std::sync::Mutex;
    let answer = Duration::from_millis(50);
    let refused = Arc::new(AtomicUsize::new(0));
    let seen = refused.clone();
    let overloaded = TestServer::start_with_load(move |_, load| {
        if load > 1 {
            seen.fetch_add(1, Ordering::SeqCst);
            return Reply::rate_limited(None);
        }
        Reply::chat("fine").slow(answer)
    });
    // How many requests the healthy server was answering as each arrived
    // (itself included), in order of arrival.
    let loads: Arc<Mutex<Vec<usize>>> = Arc::default();
    let record = loads.clone();
    let healthy = TestServer::start_with_load(move |_, load| {
        record.lock().unwrap().push(load);
        Reply::chat("fine").slow(answer)
    });
    let t = Arc::new(target(&healthy.url(), |c| {
        c.base_urls = vec![
            format!("{}/v1", overloaded.url()),
            format!("{}/v1", healthy.url()),
        ];
        c.max_concurrency = 8;
        c.max_retries = 20;
        // A limit that fell stays down: what is counted below does not
        // depend on when a cooldown ends.
        c.overload_cooldown = Duration::from_secs(3600);
    }));
    // Rounds of cases until one in which the overloaded replica answered
    // and refused nothing: it is sent one request at a time.
    let mut settled = None;
    for _ in 0..10 {
        let refused_before = refused.load(Ordering::SeqCst);
        let answered_before = overloaded.request_count() - refused_before;
        let loads_before = loads.lock().unwrap().len();
        answer_all(&t, 100).await;
        let refused_now = refused.load(Ordering::SeqCst) - refused_before;
        let answered = overloaded.request_count() - refused_before - refused_now - answered_before;
        if refused_now == 0 && answered > 0 {
            let peak = loads.lock().unwrap()[loads_before..]
                .iter()
                .copied()
                .max()
                .unwrap_or(0);
            settled = Some((answered, peak));
            break;
        }
    }
    let Some((answered, peak)) = settled else {
        panic!(
            "the overloaded replica never settled: {} refused in all",
            refused.load(Ordering::SeqCst)
        );
    };
    assert!(
        refused.load(Ordering::SeqCst) > 0,
        "it was overloaded first"
    );
    // The eight in flight less the overloaded replica's one.
    assert!(
        peak >= 7,
        "the healthy replica had at most {peak} in flight once the other \
         settled (which answered {answered})"
    );
    assert_eq!(t.current_concurrency(), 8);
    assert!(t.outstanding().iter().all(|(_, n)| *n == 0));
}

/// Each replica reports its own limit, and the target the sum of them, at
/// most its maximum.
#[tokio::test]
async fn each_replica_reports_its_own_limit() {
    let limited = TestServer::start(|_| Reply::rate_limited(None));
    let healthy = TestServer::start(|_| Reply::chat("fine"));
    let t = target(&healthy.url(), |c| {
        c.base_urls = vec![
            format!("{}/v1", limited.url()),
            format!("{}/v1", healthy.url()),
        ];
        c.max_concurrency = 4;
        c.overload_cooldown = Duration::from_secs(3600);
    });
    // Neither has anything outstanding: the first request goes to the
    // first replica, and its retry, at once, to the other.
    assert_eq!(t.chat(&ask("Hi")).await.unwrap().message.content, "fine");
    assert_eq!((limited.request_count(), healthy.request_count()), (1, 1));
    let limits: Vec<usize> = t
        .replica_concurrency()
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    // One request in flight, refused: that replica gets one at a time.
    assert_eq!(limits, [1, 4]);
    assert_eq!(t.current_concurrency(), 4, "the sum, at most the maximum");
    assert_eq!(
        t.replica_concurrency()[0].0,
        format!("{}/v1", limited.url())
    );
}

/// A replica resting after a failure, while the other is at its own limit:
/// a request that found neither to take goes to the resting one as soon as
/// its rest is over, not when the other's request is answered (from a
/// slow model, a minute later). The busy replica holds its answer until
/// the test releases it, so the order of events is certain.
#[tokio::test]
async fn a_waiting_request_takes_a_replica_once_its_rest_is_over() {
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    // Refuses `overload` with a 429 and holds `hold` until released.
    let busy = TestServer::start(move |r| match r.last_user_message().as_str() {
        "overload" => Reply::rate_limited(None),
        "hold" => {
            arrived_tx.send(()).unwrap();
            // Bounded only so that a failing test cannot hang here.
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(60));
            Reply::chat("busy")
        }
        _ => Reply::chat("busy"),
    });
    let resting = TestServer::start(|r| match r.last_user_message().as_str() {
        "fail" => Reply::status(500, "boom"),
        _ => Reply::chat("resting"),
    });
    // Declared after the servers, so dropped before them: a failing test
    // frees the answer held rather than waiting for it.
    let release = release_tx;
    let t = Arc::new(target(&busy.url(), |c| {
        c.base_urls = vec![
            format!("{}/v1", busy.url()),
            format!("{}/v1", resting.url()),
        ];
        c.max_concurrency = 4;
        c.max_retries = 0;
        // The busy replica's limit, once lowered to one, stays there.
        c.overload_cooldown = Duration::from_secs(3600);
    }));
    let answer = |t: &Arc<OpenAiTarget>, text: &'static str| {
        let t = t.clone();
        tokio::spawn(async move { t.chat(&ask(text)).await.map(|r| r.message.content) })
    };
    // Ties go round the replicas from the first. The first request finds
    // both free: the busy replica refuses it, which lowers its limit to
    // one and rests it; the second goes to the other.
    assert!(answer(&t, "overload").await.unwrap().is_err());
    assert_eq!(answer(&t, "warm").await.unwrap().unwrap(), "resting");
    assert_eq!(t.replica_concurrency()[0].1, 1);
    // Once the busy replica's rest of a second is over (slept past it: a
    // longer sleep only makes it surer), a tie again: the busy replica
    // takes the third, and holds it at its limit of one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let held = answer(&t, "hold");
    tokio::time::timeout(Duration::from_secs(30), arrived.recv())
        .await
        .expect("the busy replica got the request to hold")
        .unwrap();
    // The fourth can go only to the other replica, which fails it and
    // rests for a second.
    assert!(answer(&t, "fail").await.unwrap().is_err());
    assert_eq!(resting.request_count(), 2);
    // The fifth finds one replica resting and the other at its limit.
    let waiting = answer(&t, "Hi");
    let answered = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the request waited for the busy replica's answer, not the rest's end")
        .unwrap()
        .unwrap();
    assert_eq!(answered, "resting");
    assert!(
        !held.is_finished(),
        "the busy replica still holds its answer"
    );
    assert_eq!(busy.in_flight(), 1);
    release.send(()).unwrap();
    assert_eq!(held.await.unwrap().unwrap(), "busy");
    assert_eq!((busy.request_count(), resting.request_count()), (2, 3));
}
