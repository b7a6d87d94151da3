//! Answers that say every request to the target will fail the same way
//! until the user changes something (a quota used up, a rate limit that
//! resets later than xsafe waits, a model the server does not have) are
//! blocked at the first, not retried; a 400 refusing one of the target's
//! settings is the target's setup, not retried either. Against a real
//! server on 127.0.0.1.

use std::time::{Duration, Instant, SystemTime};
use xsafe_core::{Blocker, ChatRequest, Message, Target, TargetError};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

/// `openai:test-model` at `urls` (each up to `/v1`), retrying 5 times.
fn target(urls: &[String], tweak: impl FnOnce(&mut OpenAiConfig)) -> OpenAiTarget {
    let mut config = OpenAiConfig::new("test-model");
    config.base_urls = urls.to_vec();
    config.api_key_env = "XSAFE_TEST_KEY_THAT_IS_NOT_SET".into();
    config.retry_base = Duration::from_millis(5);
    config.max_retries = 5;
    tweak(&mut config);
    OpenAiTarget::new(config).unwrap()
}

fn ask() -> ChatRequest {
    ChatRequest::new(vec![Message::user("Hi")])
}

/// The error of the one request asked of a server that answers every
/// request with `reply`, and how many requests it got.
async fn error_of(reply: Reply, tweak: impl FnOnce(&mut OpenAiConfig)) -> (TargetError, usize) {
    let server = TestServer::start(move |_| reply.clone());
    let t = target(&[format!("{}/v1", server.url())], tweak);
    let err = t.chat(&ask()).await.unwrap_err();
    (err, server.request_count())
}

/// OpenAI's 429 for a quota used up, and a 402, never pass on a retry:
/// asked once, not six times.
#[tokio::test]
async fn a_quota_used_up_is_asked_once() {
    let quota = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
    for reply in [
        Reply::status(429, quota),
        Reply::status(402, r#"{"error":{"message":"Insufficient credits"}}"#),
        Reply::status(402, "Payment Required"),
    ] {
        let (err, asked) = error_of(reply.clone(), |_| {}).await;
        assert!(
            matches!(
                &err,
                TargetError::Blocked {
                    blocker: Blocker::Quota,
                    ..
                }
            ),
            "{reply:?}: {err:?}"
        );
        assert_eq!((err.kind(), err.is_transient(), asked), ("quota", false, 1));
    }
    let (err, _) = error_of(Reply::status(429, quota), |_| {}).await;
    assert_eq!(
        err.to_string(),
        "HTTP 429: You exceeded your current quota, please check your plan and billing details."
    );
    // A rate limit of the same status is still retried.
    let (err, asked) = error_of(Reply::rate_limited(None), |c| c.max_retries = 2).await;
    assert_eq!((err.kind(), err.attempts(), asked), ("rate_limited", 3, 3));
}

/// OpenRouter's answer when the credit ran out after the HTTP 200 went
/// out: a 402 in `choices[0].error`, blocked as the HTTP 402 is (asked
/// once, a quota), not a client error for every case.
#[tokio::test]
async fn a_402_inside_a_200_blocks_as_the_http_402_does() {
    for code in [serde_json::json!(402), serde_json::json!("402")] {
        let body = serde_json::json!({
            "id": "gen-1", "object": "chat.completion", "model": "openai/gpt-4o",
            "choices": [{"index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "error",
                "error": {"code": code, "message": "Insufficient credits. Add more using https://openrouter.ai/settings/credits"}}]
        });
        let (err, asked) = error_of(Reply::json(&body), |_| {}).await;
        assert!(
            matches!(
                &err,
                TargetError::Blocked {
                    status: 402,
                    blocker: Blocker::Quota,
                    ..
                }
            ),
            "{code}: {err:?}"
        );
        assert_eq!((err.kind(), err.is_transient(), asked), ("quota", false, 1));
        assert!(
            err.to_string().contains(
                "Insufficient credits. Add more using https://openrouter.ai/settings/credits (in \
                 an HTTP 200 answer: `choices[0].error`, code 402"
            ),
            "{err}"
        );
    }
    // A model not found, said in a 404 choice error, blocks too.
    let body = serde_json::json!({"choices": [{"index": 0, "finish_reason": "error",
        "message": {"role": "assistant", "content": ""},
        "error": {"code": 404, "message": "The model `x` does not exist."}}]});
    let (err, asked) = error_of(Reply::json(&body), |_| {}).await;
    assert_eq!((err.kind(), asked), ("model_not_found", 1), "{err}");
}

/// A model the server does not have, said by OpenAI's code, Azure's, or a
/// 404 whose message says so (vLLM's, Ollama's): asked once. A 404 that
/// names no model (a wrong path) stays the server's error.
#[tokio::test]
async fn a_model_not_found_is_asked_once() {
    for body in [
        r#"{"error":{"message":"The model `gpt-5-turbo` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
        r#"{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}"#,
        r#"{"error":{"message":"The model `x` does not exist.","type":"NotFoundError","param":"model","code":404}}"#,
        r#"{"error":"model 'llama9' not found, try pulling it first"}"#,
    ] {
        let (err, asked) = error_of(Reply::status(404, body), |_| {}).await;
        assert!(
            matches!(
                &err,
                TargetError::Blocked {
                    status: 404,
                    blocker: Blocker::ModelNotFound,
                    ..
                }
            ),
            "{body}: {err:?}"
        );
        assert_eq!((err.kind(), asked), ("model_not_found", 1), "{body}");
    }
    let (err, _) = error_of(
        Reply::status(
            400,
            r#"{"error":{"message":"invalid model ID","code":"model_not_found"}}"#,
        ),
        |_| {},
    )
    .await;
    assert_eq!(err.kind(), "model_not_found");
    let (err, asked) = error_of(Reply::status(404, "404 page not found"), |_| {}).await;
    assert!(
        matches!(err, TargetError::Status { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!((err.kind(), asked), ("client_error", 1));
}

/// A `Retry-After` longer than xsafe waits between two attempts (a daily
/// limit's hour) is not waited out 60 s at a time: the first answer blocks
/// the target, saying when the limit resets. One within the cap is waited
/// and retried as before.
#[tokio::test]
async fn a_retry_after_beyond_the_cap_blocks_at_once() {
    let daily = Reply::Full {
        status: 429,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("retry-after".into(), "3724".into()),
        ],
        body: br#"{"error":{"message":"Rate limit reached on requests per day (RPD): Limit 1000, Used 1000, Requested 1. Please try again in 1h2m3.5s.","type":"requests","code":"rate_limit_exceeded"}}"#.to_vec(),
    };
    let started = Instant::now();
    let before = SystemTime::now();
    let (err, asked) = error_of(daily.clone(), |_| {}).await;
    assert!(started.elapsed() < Duration::from_secs(5), "not waited");
    assert_eq!(
        (err.kind(), err.is_transient(), asked),
        ("rate_limited", false, 1)
    );
    let TargetError::Blocked {
        status: 429,
        blocker: Blocker::RateLimit { wait, until },
        message,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*wait, Duration::from_secs(3724));
    let from_then = until.duration_since(before).unwrap();
    assert!(
        from_then >= *wait && from_then < *wait + Duration::from_secs(5),
        "{from_then:?}"
    );
    assert!(
        message.contains("Please try again in 1h2m3.5s"),
        "{message}"
    );

    // Within a larger cap, it is waited for, as any other.
    let (err, asked) = error_of(Reply::rate_limited(Some(1)), |c| {
        c.max_retries = 1;
        c.retry_cap = Duration::from_secs(3724);
    })
    .await;
    assert_eq!((err.kind(), err.attempts(), asked), ("rate_limited", 2, 2));
    // Longer than one wait but within what the retries left wait in all
    // (here 5 x 300 ms): waited for, the cap at a time, and answered.
    let once = std::sync::atomic::AtomicBool::new(true);
    let server = TestServer::start(move |_| {
        if once.swap(false, std::sync::atomic::Ordering::SeqCst) {
            Reply::rate_limited(Some(1))
        } else {
            Reply::chat("fine")
        }
    });
    let t = target(&[format!("{}/v1", server.url())], |c| {
        c.retry_cap = Duration::from_millis(300);
    });
    assert_eq!(t.chat(&ask()).await.unwrap().message.content, "fine");
    // A server that keeps asking for a second: blocked once the retries
    // left wait less in all (3 x 300 ms), at the third attempt.
    let (err, asked) = error_of(Reply::rate_limited(Some(1)), |c| {
        c.retry_cap = Duration::from_millis(300);
    })
    .await;
    assert_eq!((err.is_transient(), err.attempts(), asked), (false, 3, 3));
    // Beyond it at once with fewer retries.
    let (err, asked) = error_of(Reply::rate_limited(Some(1)), |c| {
        c.retry_cap = Duration::from_millis(300);
        c.max_retries = 3;
    })
    .await;
    assert_eq!((err.is_transient(), asked), (false, 1), "{err}");
    // A reset time alone (OpenAI's `x-ratelimit-reset-*`) says when the
    // limit is whole again, not when a request may pass: waited, the cap
    // at a time, never blocked.
    let reset = Reply::Full {
        status: 429,
        headers: vec![
            ("x-ratelimit-reset-requests".into(), "1h0m0s".into()),
            ("x-ratelimit-remaining-requests".into(), "0".into()),
        ],
        body: br#"{"error":{"message":"Rate limit reached"}}"#.to_vec(),
    };
    let (err, asked) = error_of(reset, |c| {
        c.retry_cap = Duration::from_millis(50);
        c.max_retries = 2;
    })
    .await;
    assert_eq!((err.kind(), err.attempts(), asked), ("rate_limited", 3, 3));
    assert!(err.is_transient() || matches!(err, TargetError::Exhausted { .. }));
}

/// With another replica to ask, a replica's long `Retry-After` only rests
/// it: the retry goes to the other, which answers.
#[tokio::test]
async fn a_replica_beyond_the_cap_leaves_the_others_to_answer() {
    let limited = TestServer::start(|_| Reply::rate_limited(Some(3724)));
    let healthy = TestServer::start(|_| Reply::chat("fine"));
    let t = target(
        &[
            format!("{}/v1", limited.url()),
            format!("{}/v1", healthy.url()),
        ],
        |_| {},
    );
    for _ in 0..4 {
        let reply = tokio::time::timeout(Duration::from_secs(30), t.chat(&ask()))
            .await
            .expect("not waited out");
        assert_eq!(reply.unwrap().message.content, "fine");
    }
    assert!(limited.request_count() <= 1, "{}", limited.request_count());
    // Both replicas say so: blocked, once the second said it too.
    let other = TestServer::start(|_| Reply::rate_limited(Some(3724)));
    let t = target(
        &[
            format!("{}/v1", limited.url()),
            format!("{}/v1", other.url()),
        ],
        |_| {},
    );
    let err = t.chat(&ask()).await.unwrap_err();
    assert_eq!((err.attempts(), err.is_transient()), (2, false), "{err}");
    let TargetError::Exhausted { last, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        matches!(
            **last,
            TargetError::Blocked {
                blocker: Blocker::RateLimit { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

/// A 400 refusing a setting every request sends (`--max-tokens` above the
/// model's most, a temperature or stop sequences it does not take) is the
/// target's setup (`config`), not retried, and says which flag to change;
/// one about the prompt is not.
#[tokio::test]
async fn a_refused_setting_is_the_targets_setup() {
    let cases = [
        (
            r#"{"error":{"message":"max_tokens is too large: 100000. This model supports at most 16384 completion tokens, whereas you provided 100000.","type":"invalid_request_error","param":"max_tokens","code":null}}"#,
            "the model takes no --max-tokens 100000: give a smaller one, at most the limit the \
             message names",
        ),
        (
            r#"{"error":{"message":"'max_tokens' or 'max_completion_tokens' is too large: 100000. This model's maximum context length is 4096 tokens and your request has 9 input tokens (100000 > 4096 - 9).","type":"BadRequestError","param":null,"code":400}}"#,
            "the model takes no --max-tokens 100000",
        ),
        (
            r#"{"error":{"message":"Unsupported value: 'temperature' does not support 0 with this model. Only the default (1) value is supported.","type":"invalid_request_error","param":"temperature","code":"unsupported_value"}}"#,
            "the model takes no --temperature 0; run with the one it names, e.g. --temperature 1",
        ),
        (
            r#"{"error":{"message":"Unsupported parameter: 'stop' is not supported with this model.","type":"invalid_request_error","param":"stop","code":"unsupported_parameter"}}"#,
            "run without --stop",
        ),
    ];
    for (body, hint) in cases {
        let (err, asked) = error_of(Reply::status(400, body), |c| {
            c.max_tokens = 100_000;
            c.stop = vec!["END".into()];
        })
        .await;
        assert_eq!((err.kind(), asked), ("config", 1), "{body}: {err}");
        let said = err.to_string();
        assert!(said.starts_with("HTTP 400: "), "{said}");
        assert!(said.contains(hint), "{hint}: {said}");
    }
    let (err, _) = error_of(
        Reply::status(
            400,
            r#"{"error":{"message":"This model's maximum context length is 8 tokens","param":"messages","code":"context_length_exceeded"}}"#,
        ),
        |_| {},
    )
    .await;
    assert!(
        matches!(err, TargetError::Status { status: 400, .. }),
        "{err:?}"
    );
}

/// The reviewer's case: of a target's two replicas, one refused the key
/// (its own was another, or expired) and the run stopped saying "refused
/// the requests: HTTP 401: Incorrect API key provided", with no word of
/// which server to fix. A target of several replicas names the one that
/// answered so, without the credentials in its URL; a quota used up
/// likewise. A target of one names none: its URL is the one given.
#[tokio::test]
async fn a_refusal_of_one_replica_names_it() {
    let refusing = TestServer::start(|_| {
        Reply::status(401, r#"{"error":{"message":"Incorrect API key provided"}}"#)
    });
    let quota = TestServer::start(|_| {
        Reply::status(
            429,
            r#"{"error":{"message":"You exceeded your current quota","code":"insufficient_quota"}}"#,
        )
    });
    let healthy = TestServer::start(|_| Reply::chat("fine"));
    for (bad, kind) in [(&refusing, "client_error"), (&quota, "quota")] {
        let with_user =
            format!("{}/v1", bad.url()).replace("http://", "http://alice:secret-pw-0123@");
        // As every message shows a base URL: without its credentials.
        let shown = xsafe_target::without_userinfo(&with_user);
        assert!(shown.ends_with(&format!("@{}/v1", bad.addr())), "{shown}");
        let t = target(&[with_user, format!("{}/v1", healthy.url())], |_| {});
        // The replicas take turns: within two requests, one goes to it.
        let mut errors = Vec::new();
        for _ in 0..2 {
            if let Err(e) = t.chat(&ask()).await {
                errors.push(e);
            }
        }
        let [err] = errors.as_slice() else {
            panic!("{kind}: {errors:?}");
        };
        assert_eq!((err.kind(), err.attempts()), (kind, 1), "{err}");
        let said = err.to_string();
        let status = if kind == "quota" { 429 } else { 401 };
        assert!(
            said.starts_with(&format!("HTTP {status}: the replica {shown} answered: ")),
            "{said}"
        );
        assert!(
            !said.contains("secret-pw") && !said.contains("alice"),
            "{said}"
        );
    }
    // One base URL: as before.
    let t = target(&[format!("{}/v1", refusing.url())], |_| {});
    let said = t.chat(&ask()).await.unwrap_err().to_string();
    assert!(
        said.starts_with("HTTP 401: Incorrect API key provided"),
        "{said}"
    );
}
