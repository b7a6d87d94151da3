//! The OpenAI-compatible target against a real server on 127.0.0.1 that
//! answers as hosted APIs do: a provider's error inside an HTTP 200
//! (OpenRouter), a deployment URL with an `api-version` query and an
//! `api-key` header (Azure OpenAI), rate limits said in `retry-after-ms`
//! or `x-ratelimit-reset-*`, a key quoted back percent-encoded, a
//! website's page at a wrong base URL.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use xsafe_core::{ChatRequest, Message, Target};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, Request, TestServer};

fn target(base_url: &str, tweak: impl FnOnce(&mut OpenAiConfig)) -> OpenAiTarget {
    let mut config = OpenAiConfig::new("test-model");
    config.base_urls = vec![base_url.to_string()];
    config.api_key_env = "XSAFE_TEST_KEY_THAT_IS_NOT_SET".into();
    config.retry_base = Duration::from_millis(5);
    config.max_retries = 3;
    tweak(&mut config);
    OpenAiTarget::new(config).unwrap()
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user(text)])
}

/// A reply with `status`, the headers `(name, value)` and `body`.
fn reply(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
    Reply::Full {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
    }
}

/// OpenRouter's answer when the model's provider failed after the HTTP 200
/// went out: the error in the choice, `content` what came before it.
fn choice_error(content: &str, code: u16) -> Reply {
    Reply::json(&json!({
        "id": "gen-1", "object": "chat.completion", "created": 0, "model": "openai/gpt-4o",
        "choices": [{"index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "error", "native_finish_reason": "error",
            "error": {"code": code, "message": "Upstream provider error: model overloaded",
                "metadata": {"provider_name": "DeepInfra"}}}]
    }))
}

/// A provider's error inside an HTTP 200 is a server error, retried, and
/// stored as a failure when it persists: never an answer, neither an empty
/// one (left unscored) nor its first words ("I'm sorry", judged a full
/// refusal). It was stored as the model's answer.
#[tokio::test]
async fn a_providers_error_inside_a_200_is_retried_and_never_an_answer() {
    for content in ["", "I'm sorry"] {
        let server = TestServer::start(move |_| choice_error(content, 502));
        let err = target(&format!("{}/v1", server.url()), |_| {})
            .chat(&ask("Hi"))
            .await
            .unwrap_err();
        assert_eq!((err.kind(), err.attempts()), ("server_error", 4), "{err}");
        assert_eq!(server.request_count(), 4);
        let text = err.to_string();
        assert!(
            text.contains(
                "the model's provider failed: Upstream provider error: model overloaded (in an \
                 HTTP 200 answer: `choices[0].error`, code 502, provider DeepInfra, \
                 finish_reason \"error\")"
            ),
            "{text}"
        );
    }
    // Once the provider answers, the retry's answer is the answer.
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let server = TestServer::start(move |_| match seen.fetch_add(1, Ordering::SeqCst) {
        0 => choice_error("I'm sorry", 502),
        _ => Reply::chat("Paris."),
    });
    let r = target(&format!("{}/v1", server.url()), |_| {})
        .chat(&ask("Capital of France?"))
        .await
        .unwrap();
    assert_eq!(r.message.content, "Paris.");
    assert_eq!(server.request_count(), 2);
    // A code that is a client error is one, as the HTTP status would be:
    // asked once.
    let server = TestServer::start(|_| choice_error("", 400));
    let err = target(&format!("{}/v1", server.url()), |_| {})
        .chat(&ask("Hi"))
        .await
        .unwrap_err();
    assert_eq!((err.kind(), server.request_count()), ("client_error", 1));
}

/// The deployment this Azure-style server serves, and its API version.
const DEPLOYMENT: &str = "/openai/deployments/gpt4o";
const API_VERSION: &str = "api-version=2024-06-01";
const AZURE_KEY: &str = "az-key-0123456789abcdef";

/// Answers at `DEPLOYMENT/chat/completions?API_VERSION` with the `api-key`
/// header alone, as Azure OpenAI does; 404 at any other path or query,
/// 401 to another key.
fn azure(r: &Request) -> Reply {
    if r.path != format!("{DEPLOYMENT}/chat/completions?{API_VERSION}") {
        return Reply::status(
            404,
            r#"{"error":{"code":"404","message":"Resource not found"}}"#,
        );
    }
    if r.header("api-key") != Some(AZURE_KEY) {
        return Reply::status(
            401,
            r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key."}}"#,
        );
    }
    Reply::chat("Hello from Azure.")
}

/// A base URL with a query (Azure OpenAI's `?api-version=...`) is asked
/// with the path before the query; it was asked with the path after it,
/// and the 404 said to end the URL in /v1. A wrong deployment's 404 says
/// what to check at such a URL.
#[tokio::test]
async fn a_base_url_with_a_query_is_asked_with_the_path_before_it() {
    let server = TestServer::start(azure);
    let with_key = |c: &mut OpenAiConfig| c.headers = vec![("api-key".into(), AZURE_KEY.into())];
    for base in [
        format!("{}{DEPLOYMENT}?{API_VERSION}", server.url()),
        format!("{}{DEPLOYMENT}/?{API_VERSION}", server.url()),
    ] {
        let r = target(&base, with_key).chat(&ask("Hi")).await.unwrap();
        assert_eq!(r.message.content, "Hello from Azure.", "{base}");
    }
    for r in server.requests() {
        assert_eq!(
            r.path,
            format!("{DEPLOYMENT}/chat/completions?{API_VERSION}")
        );
    }
    let wrong = format!("{}/openai/deployments/gpt5?{API_VERSION}", server.url());
    let err = target(&wrong, with_key)
        .chat(&ask("Hi"))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "HTTP 404: Resource not found (POST {}/openai/deployments/gpt5/chat/completions?\
             {API_VERSION}: is the base URL right? For Azure OpenAI it is \
             https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT?api-version=VERSION: \
             check the deployment name, and that the api-version is one the resource serves)",
            server.url()
        )
    );
    let unversioned = format!("{}{DEPLOYMENT}", server.url());
    let err = target(&unversioned, with_key)
        .chat(&ask("Hi"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("check the deployment name, and that the URL ends in ?api-version=VERSION"),
        "{err}"
    );
}

/// The headers of a 429, the cap on waits, and the least wait.
type Case = (&'static [(&'static str, &'static str)], Duration, Duration);

/// A 429 that asks to wait with `retry-after-ms` (Azure OpenAI's, read by
/// OpenAI's SDKs) or only with `x-ratelimit-reset-requests` (OpenAI's) is
/// waited for, as `Retry-After` is; `retry-after-ms` goes first, and no
/// wait is longer than the cap. They were ignored: a window of 30 s ended
/// in stored errors after ~12 s of short backoff.
#[tokio::test]
async fn a_wait_asked_in_milliseconds_or_as_a_reset_time_is_waited_for() {
    let cap = OpenAiConfig::new("m").retry_cap;
    let ms = Duration::from_millis;
    let cases: [Case; 4] = [
        (&[("retry-after-ms", "600")], cap, ms(580)),
        (
            &[
                ("x-ratelimit-reset-requests", "700ms"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-tokens", "17ms"),
            ],
            cap,
            ms(680),
        ),
        // retry-after-ms before Retry-After.
        (
            &[("retry-after-ms", "300"), ("retry-after", "30")],
            cap,
            ms(280),
        ),
        // Six minutes asked, the cap waited.
        (&[("x-ratelimit-reset-requests", "6m0s")], ms(400), ms(380)),
    ];
    for (headers, cap, least) in cases {
        let mut with = vec![("content-type", "application/json")];
        with.extend_from_slice(headers);
        let limited = reply(
            429,
            &with,
            r#"{"error":{"message":"Rate limit reached","code":"rate_limit_exceeded"}}"#,
        );
        let count = Arc::new(AtomicUsize::new(0));
        let server = TestServer::start(move |_| match count.fetch_add(1, Ordering::SeqCst) {
            0 => limited.clone(),
            _ => Reply::chat("fine"),
        });
        let t = target(&format!("{}/v1", server.url()), |c| c.retry_cap = cap);
        let started = Instant::now();
        let r = t.chat(&ask("Hi")).await.unwrap();
        let took = started.elapsed();
        assert_eq!(r.message.content, "fine");
        assert_eq!(server.request_count(), 2);
        // The backoff alone would be ~5 ms.
        assert!(
            (least..Duration::from_secs(3)).contains(&took),
            "{headers:?}: {took:?}"
        );
    }
}

/// A 401 or 403 to a key sent in a header given with `--header` (Azure's
/// `api-key`, `x-api-key`) names that header; it said no key was sent, or
/// that the key from OPENAI_API_KEY was refused. A variable named on
/// purpose is sent beside such headers, and named with them; the default
/// one is not sent beside them (`tests/credentials.rs`).
#[tokio::test]
async fn a_refused_key_header_is_named() {
    let server = TestServer::start(azure);
    let base = format!("{}{DEPLOYMENT}?{API_VERSION}", server.url());
    let err = target(&base, |c| {
        c.headers = vec![("api-key".into(), "az-wrong-key-0123456789".into())];
    })
    .chat(&ask("Hi"))
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "HTTP 401: Access denied due to invalid subscription key. (the server refused the \
         credentials in the header `api-key` given with --header (or in a targets file))"
    );
    let forbidden = TestServer::start(|_| Reply::status(403, r#"{"error":"forbidden"}"#));
    // SAFETY: this variable name is used by this test alone.
    unsafe { std::env::set_var("XSAFE_TEST_KEY_AND_HEADER", "sk-env-0123456789") };
    let err = target(&format!("{}/v1", forbidden.url()), |c| {
        c.api_key_env = "XSAFE_TEST_KEY_AND_HEADER".into();
        c.api_key_required = true;
        c.headers = vec![
            ("X-Api-Key".into(), "hdr-0123456789".into()),
            ("X-Auth-Token".into(), "tok-0123456789".into()),
            ("X-Title".into(), "My app".into()),
        ];
    })
    .chat(&ask("Hi"))
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "HTTP 403: forbidden (the API key from `XSAFE_TEST_KEY_AND_HEADER` or the headers \
         `X-Api-Key`, `X-Auth-Token` given with --header (or in a targets file), both sent, may \
         lack access to this model, or the server refused this request)"
    );
}

/// A key the server quotes back percent-encoded (as a URL or form writes
/// it), in upper- or lower-case hex, is in no error message, as it is
/// raw or JSON-escaped.
#[tokio::test]
async fn a_key_quoted_back_percent_encoded_is_in_no_error_message() {
    const KEY: &str = "sk-ab/cd+ef==XYZ123456789";
    let server = TestServer::start(|r: &Request| {
        let key = r.header("authorization").unwrap_or_default();
        let key = key.strip_prefix("Bearer ").unwrap_or(key);
        let upper = key
            .replace('/', "%2F")
            .replace('+', "%2B")
            .replace('=', "%3D");
        match r.last_user_message().as_str() {
            "401" => Reply::status(
                401,
                json!({"error": {"message": format!("bad key {upper}")}}).to_string(),
            ),
            _ => {
                let lower = key
                    .replace('/', "%2f")
                    .replace('+', "%2b")
                    .replace('=', "%3d");
                Reply::status(500, format!("key={lower} failed"))
            }
        }
    });
    // SAFETY: this variable name is used by this test alone.
    unsafe { std::env::set_var("XSAFE_TEST_PERCENT_KEY", KEY) };
    let t = target(&format!("{}/v1", server.url()), |c| {
        c.api_key_env = "XSAFE_TEST_PERCENT_KEY".into();
        c.max_retries = 1;
    });
    let refused = t.chat(&ask("401")).await.unwrap_err().to_string();
    assert!(
        refused.starts_with("HTTP 401: bad key [API key] (the server refused the API key"),
        "{refused}"
    );
    let failed = format!("{:?}", t.chat(&ask("500")).await.unwrap_err());
    assert!(failed.contains("key=[API key] failed"), "{failed}");
    // The server did quote it, in both cases of hex.
    let quoted = server.requests().len();
    assert_eq!(quoted, 3);
    for text in [&refused, &failed] {
        assert!(
            !text.contains("%2F") && !text.contains("%2f") && !text.contains("XYZ123"),
            "{text}"
        );
    }
}

/// A website's page in an HTTP 200 (a wrong base URL) is said to be one,
/// with its content type and title and the base URL hint a 404 gets, and
/// asked once: it was retried as "body is not JSON".
#[tokio::test]
async fn an_html_page_in_a_200_is_asked_once_and_points_at_the_base_url() {
    const PAGE: &str = "<!DOCTYPE html><html><head><title>OpenRouter</title></head><body>\
                        <p>The unified interface for LLMs</p></body></html>";
    let server = TestServer::start(|r: &Request| match r.path.as_str() {
        // A page served as JSON is still a page.
        "/mislabelled/chat/completions" => reply(
            200,
            &[("content-type", "application/json")],
            "\n<html><body>Sign in</body></html>",
        ),
        _ => reply(200, &[("content-type", "text/html; charset=utf-8")], PAGE),
    });
    let err = target(&server.url(), |_| {})
        .chat(&ask("Hi"))
        .await
        .unwrap_err();
    assert_eq!((err.kind(), err.attempts()), ("invalid_response", 1));
    assert_eq!(
        err.to_string(),
        format!(
            "invalid response: {url}/chat/completions: the server answered with an HTML page \
             (content type `text/html; charset=utf-8`), titled \"OpenRouter\", not a chat \
             completion; it was not sent again (POST {url}/chat/completions: is the base URL \
             right? For most servers it ends in /v1)",
            url = server.url()
        )
    );
    let err = target(&format!("{}/v1", server.url()), |_| {})
        .chat(&ask("Hi"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("is the base URL right? It must be the API's address, not the website's)"),
        "{err}"
    );
    let err = target(&format!("{}/mislabelled", server.url()), |_| {})
        .chat(&ask("Hi"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("(content type `application/json`), beginning \"Sign in\""),
        "{err}"
    );
    assert_eq!(server.request_count(), 3);
}
