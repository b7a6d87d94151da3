//! The OpenAI-compatible target against a real server on 127.0.0.1 that
//! answers as some providers and gateways do: a prompt refused by the
//! provider's content filter, the API key quoted back in an error,
//! redirects, a compressed body nobody asked for, bytes that are not UTF-8.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use xsafe_core::{ChatRequest, FinishReason, Message, Target, TargetError};
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

/// Azure OpenAI's answer to a prompt its content filter refuses.
const AZURE_FILTERED: &str = r#"{"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.", "type": null, "param": "prompt", "code": "content_filter", "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {"violence": {"filtered": true, "severity": "medium"}}}}}"#;

/// A prompt the provider's filter refuses, with a 400 `content_filter` or
/// with `"choices": []` and `prompt_filter_results`, is the provider's
/// refusal, as a reply with `finish_reason: "content_filter"` is: no
/// content, that finish reason, asked once. It was an error asked again
/// on every run, and left out of the rates.
#[tokio::test]
async fn a_prompt_the_providers_filter_refuses_is_its_refusal_asked_once() {
    let server = TestServer::start(|r: &Request| match r.last_user_message().as_str() {
        "400" => Reply::status(400, AZURE_FILTERED),
        // Only the inner code says so.
        "inner" => Reply::status(
            400,
            r#"{"error":{"message":"filtered","code":null,"innererror":{"code":"ResponsibleAIPolicyViolation"}}}"#,
        ),
        "200" => Reply::json(&json!({
            "id": "x", "object": "chat.completion", "created": 0, "model": "gpt-4o-az",
            "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
                "violence": {"filtered": true, "severity": "medium"}}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 0, "total_tokens": 12}
        })),
        _ => Reply::chat("Sure."),
    });
    let t = target(&format!("{}/v1", server.url()), |_| {});
    for (prompt, usage) in [("400", None), ("inner", None), ("200", Some((12, 0)))] {
        let before = server.request_count();
        let r = t.chat(&ask(prompt)).await.unwrap();
        assert_eq!(
            r.finish_reason,
            Some(FinishReason::ContentFilter),
            "{prompt}"
        );
        assert_eq!(r.message.content, "", "{prompt}");
        assert_eq!(r.message.refusal, None, "{prompt}");
        assert_eq!(
            r.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
            usage,
            "{prompt}"
        );
        assert_eq!(server.request_count(), before + 1, "{prompt}: asked once");
    }
    // A 400 about something else stays the server's error, not retried.
    let other = TestServer::start(|_| {
        Reply::status(
            400,
            r#"{"error":{"message":"This model's maximum context length is 8 tokens","code":"context_length_exceeded"}}"#,
        )
    });
    let err = target(&format!("{}/v1", other.url()), |_| {})
        .chat(&ask("Hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TargetError::Status { status: 400, .. }),
        "{err}"
    );
    assert_eq!(other.request_count(), 1);
}

/// `"choices": []` that says nothing more is an error, but the same
/// request gets the same answer: it is asked once, not `max_retries` more
/// times with growing waits. Empty choices with an error message are the
/// server's passing failure, retried as before.
#[tokio::test]
async fn no_choice_without_a_reason_is_an_error_asked_once() {
    let bare = TestServer::start(|_| {
        Reply::json(
            &json!({"id": "x", "object": "chat.completion", "model": "m", "choices": [],
            "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}}),
        )
    });
    let err = target(&format!("{}/v1", bare.url()), |_| {})
        .chat(&ask("Hi"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "invalid_response");
    assert_eq!(err.attempts(), 1);
    let text = err.to_string();
    assert!(
        text.contains(
            "the server answered with no choice (`\"choices\": []`) and did not say why (no \
             `error`, no `prompt_filter_results`): a filter of the server's, most likely"
        ) && text.contains("so it was not sent again"),
        "{text}"
    );
    assert_eq!(bare.request_count(), 1);

    let said = TestServer::start(|_| {
        Reply::json(&json!({"choices": [], "error": {"message": "provider overloaded"}}))
    });
    let err = target(&format!("{}/v1", said.url()), |_| {})
        .chat(&ask("Hi"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("provider overloaded"), "{err}");
    assert_eq!(said.request_count(), 4);
}

/// A gateway that quotes the `Authorization` header it refused, or a
/// header given with `--header`, in its error: the key is in no error
/// message (which `run` prints, stores and logs), replaced by what it was.
#[tokio::test]
async fn a_key_the_server_quotes_back_is_in_no_error_message() {
    const KEY: &str = "sk-echoed-secret-0123456789";
    const HEADER: &str = "hdr-secret-abcdefghij";
    let server = TestServer::start(|r: &Request| {
        let auth = r.header("authorization").unwrap_or_default();
        let header = r.header("x-api-key").unwrap_or_default();
        match r.last_user_message().as_str() {
            "401" => Reply::status(
                401,
                json!({"error": {"message": format!("Invalid key: {auth}")}}).to_string(),
            ),
            // Failed every time: retried, then given up on.
            "500" => Reply::status(500, format!("upstream said {auth} / {header} was bad")),
            // An answer that is no completion, quoted in the error.
            _ => Reply::status(
                200,
                format!("not json: key {}", auth.replace("Bearer ", "")),
            ),
        }
    });
    // SAFETY: this variable name is used by this test alone.
    unsafe { std::env::set_var("XSAFE_TEST_ECHOED_KEY", KEY) };
    // Named on purpose: sent beside the header (the default variable's
    // key would not be).
    let t = target(&format!("{}/v1", server.url()), |c| {
        c.api_key_env = "XSAFE_TEST_ECHOED_KEY".into();
        c.api_key_required = true;
        c.headers = vec![("X-Api-Key".into(), HEADER.into())];
        c.max_retries = 1;
    });
    let mut messages = Vec::new();
    for prompt in ["401", "500", "broken"] {
        let err = t.chat(&ask(prompt)).await.unwrap_err();
        messages.push(format!("{err} / {err:?}"));
    }
    assert_eq!(server.request_count(), 1 + 2 + 2);
    let all = messages.join("\n");
    assert!(!all.contains(KEY) && !all.contains(HEADER), "{all}");
    assert!(
        messages[0].starts_with(
            "HTTP 401: Invalid key: [API key] (the server refused the API key from \
             `XSAFE_TEST_ECHOED_KEY` or the header `X-Api-Key` given with --header (or in a \
             targets file); both were sent)"
        ),
        "{all}"
    );
    assert!(
        messages[1].contains("upstream said [API key] / [header value] was bad"),
        "{all}"
    );
    assert!(messages[2].contains("not json: key [API key]"), "{all}");
}

/// A gateway that quotes the `Authorization` header in its error, when
/// the base URL carries a user name and password (sent as `Basic
/// BASE64`): neither the header, its base64, the decoded `user:password`
/// nor the password is in the error message (which `run` prints, stores
/// and logs), in a 500 retried then given up on, in a 401, or in a body
/// that is no completion; `[URL credentials]` stands for each. They were
/// quoted as the server sent them.
#[tokio::test]
async fn credentials_in_the_base_url_quoted_back_are_in_no_error_message() {
    const BASIC: &str = "Basic YWxpY2U6czNjcmV0UFc=";
    let server = TestServer::start(|r: &Request| {
        let auth = r.header("authorization").unwrap_or_default();
        let base64 = auth.strip_prefix("Basic ").unwrap_or_default();
        match r.last_user_message().as_str() {
            "500" => Reply::status(
                500,
                json!({"error": {"message": format!("server trouble with key {auth}")}})
                    .to_string(),
            ),
            "401" => Reply::status(
                401,
                json!({"error": {"message": format!(
                    "Invalid credentials {auth} ({base64}: alice:s3cretPW, password s3cretPW)"
                )}})
                .to_string(),
            ),
            _ => Reply::status(200, format!("<html>not json for {auth}</html>")),
        }
    });
    let base = server.url().replace("http://", "http://alice:s3cretPW@") + "/v1";
    let t = target(&base, |c| c.max_retries = 1);
    let mut messages = Vec::new();
    for prompt in ["500", "401", "html"] {
        let err = t.chat(&ask(prompt)).await.unwrap_err();
        messages.push(format!("{err} / {err:?}"));
    }
    // What reqwest sent, the server saw.
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("authorization") == Some(BASIC)),
        "{:?}",
        server.requests()
    );
    // An HTML page is not asked again.
    assert_eq!(server.request_count(), 2 + 1 + 1);
    let all = messages.join("\n");
    for secret in ["s3cretPW", "YWxpY2U6czNjcmV0UFc", "Basic "] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
    assert!(
        messages[0].starts_with(
            "HTTP 500: server trouble with key [URL credentials] (gave up after 2 attempts)"
        ),
        "{all}"
    );
    assert!(
        messages[1].starts_with(
            "HTTP 401: Invalid credentials [URL credentials] ([URL credentials]: [URL \
             credentials], password [URL credentials]) (the server refused the credentials \
             given with --header Authorization or in the base URL)"
        ),
        "{all}"
    );
    assert!(
        messages[2].contains("not json for [URL credentials]"),
        "{all}"
    );
}

/// A key the server quotes back where its error is cut short (500
/// characters of `error.message`, 300 of a page's text) is taken out
/// before the cut: no part of it is in the message, only `[API key]`, as
/// a key written `\/` for its slash in the JSON is. Headers that are no
/// credentials (`HTTP-Referer`, `X-Title`) are quoted as they are.
#[tokio::test]
async fn a_key_quoted_where_the_error_is_cut_short_is_in_no_part_of_it() {
    const KEY: &str = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const SLASHED: &str = "sk-or-v1/ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let server = TestServer::start(|r: &Request| {
        let auth = r.header("authorization").unwrap_or_default();
        let referer = r.header("http-referer").unwrap_or_default();
        let title = r.header("x-title").unwrap_or_default();
        match r.last_user_message().as_str() {
            "html" => reply(
                401,
                &[("content-type", "text/html")],
                format!(
                    "<html><body><h1>401 Unauthorized</h1><p>{}</p><pre>Authorization: \
                     {auth}</pre></body></html>",
                    "y".repeat(250)
                ),
            ),
            "json" => Reply::status(
                401,
                json!({"error": {"message": format!(
                    "{} Incorrect API key provided: {}",
                    "x".repeat(460),
                    auth.replace("Bearer ", "")
                )}})
                .to_string(),
            ),
            // serde_json does not escape a slash: written `\/` by hand.
            _ => Reply::status(
                403,
                format!(r#"{{"error":{{"message":"{auth} refused (from {referer}, {title})"}}}}"#)
                    .replace('/', "\\/"),
            ),
        }
    });
    let ask_with = |var: &'static str, key: &str| {
        // SAFETY: these variable names are used by this test alone.
        unsafe { std::env::set_var(var, key) };
        target(&format!("{}/v1", server.url()), |c| {
            c.api_key_env = var.into();
            c.headers = vec![
                ("HTTP-Referer".into(), "https://example.com".into()),
                ("X-Title".into(), "My Cool App".into()),
            ];
        })
    };
    let t = ask_with("XSAFE_TEST_CUT_KEY", KEY);
    let html = t.chat(&ask("html")).await.unwrap_err().to_string();
    assert!(
        html.starts_with(&format!(
            "HTTP 401: 401 Unauthorized {} Authorization: [API key]",
            "y".repeat(250)
        )) && !html.contains("sk-proj"),
        "{html}"
    );
    let json = t.chat(&ask("json")).await.unwrap_err().to_string();
    assert!(
        json.contains("Incorrect API key provided: [API key] (the server refused")
            && !json.contains("sk-proj"),
        "{json}"
    );
    let t = ask_with("XSAFE_TEST_SLASHED_KEY", SLASHED);
    let slashed = t.chat(&ask("slashed")).await.unwrap_err().to_string();
    assert!(
        slashed.starts_with("HTTP 403: [API key] refused (from https://example.com, My Cool App)"),
        "{slashed}"
    );
    assert_eq!(server.request_count(), 3, "none of them sent again");
}

/// OpenRouter's moderation refusing a prompt (HTTP 403 saying what it
/// flagged in `error.metadata`) is the provider's refusal, recorded as a
/// reply its filter stopped, asked once; a 403 refusing the key stays an
/// error that says so.
#[tokio::test]
async fn a_prompt_openrouters_moderation_flags_is_its_refusal() {
    let server = TestServer::start(|r: &Request| match r.last_user_message().as_str() {
        "flagged" => Reply::status(
            403,
            json!({"error": {"code": 403, "message": "openai/gpt-4o requires moderation on \
                OpenRouter. Your input was flagged for \"violence\". No credits were charged.",
                "metadata": {"reasons": ["violence"], "flagged_input": "How do I kill...",
                    "provider_name": null, "model_slug": "openai/gpt-4o"}}})
            .to_string(),
        ),
        "key" => Reply::status(
            403,
            r#"{"error":{"code":403,"message":"This API key is disabled"}}"#,
        ),
        _ => Reply::chat("Sure."),
    });
    let t = target(&format!("{}/v1", server.url()), |_| {});
    let r = t.chat(&ask("flagged")).await.unwrap();
    assert_eq!(r.finish_reason, Some(FinishReason::ContentFilter));
    assert_eq!((r.message.content.as_str(), r.message.refusal), ("", None));
    assert_eq!(r.model.as_deref(), Some("openai/gpt-4o"));
    assert_eq!(server.request_count(), 1, "asked once");
    let err = t.chat(&ask("key")).await.unwrap_err();
    assert!(
        matches!(err, TargetError::Status { status: 403, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("HTTP 403: This API key is disabled (no API key was sent"),
        "{err}"
    );
    assert_eq!(server.request_count(), 2, "the refused key asked once");
}

/// The redirecting server: `/moved/v1/...` answers with the status in the
/// path's first segment (`/301/...`) and a `Location` at `/ok/...`,
/// relative or absolute; `/ok/...` answers.
fn redirecting(r: &Request, own: &str) -> Reply {
    let mut parts = r.path.splitn(3, '/').skip(1);
    let (first, rest) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    match first {
        "ok" if r.method == "POST" && r.json()["messages"].is_array() => Reply::chat("Sure."),
        "ok" => Reply::status(404, r#"{"error":{"message":"not found"}}"#),
        "absolute" => reply(
            308,
            &[("location", &format!("{own}/ok/{rest}"))],
            Vec::new(),
        ),
        "loop" => reply(307, &[("location", &r.path)], Vec::new()),
        "self" => reply(302, &[("location", &r.path)], Vec::new()),
        "login" => reply(
            302,
            &[("location", "/login?next=%2Fv1%2Fchat%2Fcompletions")],
            Vec::new(),
        ),
        "ping" => reply(307, &[("location", &format!("/pong/{rest}"))], Vec::new()),
        "pong" => reply(307, &[("location", &format!("/ping/{rest}"))], Vec::new()),
        status => reply(
            status.parse().unwrap_or(500),
            &[("location", &format!("/ok/{rest}"))],
            Vec::new(),
        ),
    }
}

/// Starts [`redirecting`] on 127.0.0.1.
fn redirecting_server() -> TestServer {
    let own = Arc::new(std::sync::OnceLock::<String>::new());
    let server = TestServer::start({
        let own = own.clone();
        move |r| redirecting(r, own.get().map(String::as_str).unwrap_or_default())
    });
    own.set(server.url()).unwrap();
    server
}

/// A 301, 302 or 303 (http:// to https://, /v1 to /v1/) would make the
/// POST a GET, which the server answers with a 404 that never mentions the
/// redirect: it is not followed, and the error says where it points and
/// what base URL to use, asked once (it is no passing fault). A 307 or 308
/// keeps the POST and is followed, as before.
#[tokio::test]
async fn a_301_302_or_303_is_not_followed_and_names_the_base_url_to_use() {
    let server = redirecting_server();
    for status in [301, 302, 303] {
        let before = server.request_count();
        let base = format!("{}/{status}/v1", server.url());
        let err = target(&base, |_| {}).chat(&ask("Hi")).await.unwrap_err();
        assert_eq!(err.kind(), "config", "{err}");
        let text = err.to_string();
        assert_eq!(
            text,
            format!(
                "{base}/chat/completions: the server redirected the request (HTTP {status}) to \
                 {url}/ok/v1/chat/completions; xsafe does not follow a 301, 302 or 303 (an HTTP \
                 client sends a POST on as a GET, without its body), and it was not sent again; \
                 use {url}/ok/v1 as the base URL (--base-url, or `base_url` in a targets file)",
                url = server.url()
            )
        );
        assert_eq!(server.request_count(), before + 1, "{status}: asked once");
    }
    assert!(server.requests().iter().all(|r| r.method == "POST"));
    for first in ["307", "308", "absolute"] {
        let before = server.request_count();
        let base = format!("{}/{first}/v1", server.url());
        let r = target(&base, |_| {}).chat(&ask("Hi")).await.unwrap();
        assert_eq!(r.message.content, "Sure.");
        let followed = &server.requests()[before + 1];
        assert_eq!(
            (followed.method.as_str(), followed.path.as_str()),
            ("POST", "/ok/v1/chat/completions")
        );
        assert_eq!(followed.json()["messages"][0]["content"], "Hi");
    }
}

/// A 302 to the very URL asked (a loop of one) was answered with "use
/// <that URL, less its path> as the base URL", the base URL already used;
/// a 302 to a sign-in page with "use <the page> less its
/// `/chat/completions`". The first is said to be a loop, the second a
/// redirect to an address that is no chat completions endpoint, with a
/// base URL likely wrong or credentials wanted; neither suggests a base
/// URL, and each is asked once.
#[tokio::test]
async fn a_302_to_itself_or_to_a_sign_in_page_suggests_no_base_url() {
    let server = redirecting_server();
    let url = server.url();
    for (first, expected) in [
        (
            "self",
            format!(
                "{url}/self/v1/chat/completions: the server redirects the request to itself \
                 (HTTP 302 to {url}/self/v1/chat/completions, the URL asked): a loop, and it was \
                 not sent again; fix the server's redirects, or use the address it answers at \
                 as the base URL (--base-url, or `base_url` in a targets file)"
            ),
        ),
        (
            "login",
            format!(
                "{url}/login/v1/chat/completions: the server redirected the request (HTTP 302) \
                 to {url}/login?next=%2Fv1%2Fchat%2Fcompletions, which is no API address (a \
                 sign-in page, or another service?), and it was not sent again; the base URL \
                 is likely wrong, or the server wants credentials before it answers (an API \
                 key, a header given with --header, or a user name and password in the base \
                 URL): check both"
            ),
        ),
    ] {
        let before = server.request_count();
        let base = format!("{url}/{first}/v1");
        let err = target(&base, |_| {}).chat(&ask("Hi")).await.unwrap_err();
        assert_eq!(err.kind(), "config", "{err}");
        assert_eq!(err.to_string(), expected);
        assert_eq!(server.request_count(), before + 1, "{first}: asked once");
    }
}

/// A redirect loop is said to be one, after the first repeat, and not
/// retried: it sent 11 requests per attempt, each attempt retried, and
/// was called a closed connection.
#[tokio::test]
async fn a_redirect_loop_is_said_and_not_retried() {
    let server = redirecting_server();
    for (first, requests) in [("loop", 1), ("ping", 2)] {
        let before = server.request_count();
        let base = format!("{}/{first}/v1", server.url());
        let err = target(&base, |_| {}).chat(&ask("Hi")).await.unwrap_err();
        assert_eq!(err.kind(), "config", "{err}");
        assert_eq!(err.attempts(), 1);
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "{base}/chat/completions: the server redirects in a loop: "
            )) && text.contains(&format!(
                "to {}/{first}/v1/chat/completions, which had been asked before; it was not sent \
                 again",
                server.url()
            )),
            "{text}"
        );
        assert_eq!(server.request_count(), before + requests, "{first}");
    }
}

/// The start of a gzip stream: what a body compressed though xsafe asked
/// for no compression begins with.
const GZIP: &[u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xabV*\xce\xcfMU\xb2R\x02\x00";

/// A body sent compressed though xsafe asked for no compression (it sends
/// no `Accept-Encoding`) is named as such, not quoted as binary garbage,
/// and not asked again: the server sends it so every time. A header that
/// says so of a body that is plain JSON after all is read as it is.
#[tokio::test]
async fn a_compressed_body_is_named_by_its_encoding() {
    let answers = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start({
        let answers = answers.clone();
        move |r: &Request| match r.last_user_message().as_str() {
            "gzip" => reply(
                200,
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", "gzip"),
                ],
                GZIP,
            ),
            "br" => reply(
                401,
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", "br"),
                ],
                &b"\x8b\x03\x80\xff\xfe{"[..],
            ),
            _ => {
                answers.fetch_add(1, Ordering::SeqCst);
                let body = xsafe_testkit::chat_completion("Sure.", "stop").to_string();
                reply(
                    200,
                    &[
                        ("content-type", "application/json"),
                        ("content-encoding", "gzip"),
                    ],
                    body,
                )
            }
        }
    });
    let t = target(&format!("{}/v1", server.url()), |_| {});
    let err = t.chat(&ask("gzip")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid response: the server sent a gzip-compressed body though none was asked for \
         (xsafe sends no Accept-Encoding and reads only uncompressed bodies); turn compression \
         off on the server, or on the proxy in front of it"
    );
    assert_eq!(server.request_count(), 1, "not asked again");
    let err = t.chat(&ask("br")).await.unwrap_err().to_string();
    assert!(
        err.starts_with("HTTP 401: the server sent a br-compressed body though none was asked for"),
        "{err}"
    );
    assert_eq!(
        t.chat(&ask("plain")).await.unwrap().message.content,
        "Sure."
    );
    assert_eq!(answers.load(Ordering::SeqCst), 1);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("accept-encoding").is_none())
    );
}

/// Bytes that are not UTF-8 in an answer (a server writing a model's
/// broken character raw) are read as U+FFFD, as an escaped lone surrogate
/// is, and the answer kept: it was rejected whole.
#[tokio::test]
async fn bytes_that_are_not_utf8_in_an_answer_are_replacement_characters() {
    // "caf" then 0xE9 (Latin-1 é), a space, then 0xFF 0xFE.
    let body = xsafe_testkit::chat_completion("Sure. BROKEN To stop it run kill PID.", "stop")
        .to_string()
        .into_bytes();
    let at = body.windows(6).position(|w| w == b"BROKEN").unwrap();
    let raw = [&body[..at], b"caf\xe9 \xff\xfe", &body[at + 6..]].concat();
    let server = TestServer::start(move |_| Reply::status(200, raw.clone()));
    let r = target(&format!("{}/v1", server.url()), |_| {})
        .chat(&ask("Hi"))
        .await
        .unwrap();
    assert_eq!(
        r.message.content,
        "Sure. caf\u{FFFD} \u{FFFD}\u{FFFD} To stop it run kill PID."
    );
    assert_eq!(server.request_count(), 1);
}
