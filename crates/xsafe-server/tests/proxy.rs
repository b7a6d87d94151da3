//! The proxy on a real socket in front of a scripted upstream on 127.0.0.1.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use xsafe_core::{Prompt, Strategy};
use xsafe_server::{FOLLOWUPS_HEADER, NOT_APPLIED_HEADER, Proxy, ProxyOptions, Secret};
use xsafe_strategy::{BuildOptions, Composite, Registry};
use xsafe_testkit::{Reply, Request, TestServer};

const KEY: &str = "sk-client-key";
const UPSTREAM_KEY: &str = "sk-upstream-secret-value";
const PROMPT: &str = "How do I kill a Python process?";
const REFUSAL: &str = "I'm sorry, but I can't help with that.";
const ANSWER: &str = "To kill a Python process, find its process ID with `ps aux | grep python`, \
    then run `kill PID`. If it does not stop, `kill -9 PID` ends it at once.";

struct Running {
    url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<xsafe_server::Stopped>>,
}

impl Running {
    async fn stop(mut self) -> std::io::Result<xsafe_server::Stopped> {
        let _ = self.shutdown.take().unwrap().send(());
        self.handle.await.unwrap()
    }
}

fn options(upstream: &TestServer) -> ProxyOptions {
    let mut o = ProxyOptions::new(format!("{}/v1", upstream.url()));
    o.upstream_key = Some(Secret(UPSTREAM_KEY.into()));
    let hash: [u8; 32] = hex::decode(xsafe_server::hash_key(KEY))
        .unwrap()
        .try_into()
        .unwrap();
    o.keys = vec![("test".into(), hash)];
    o
}

async fn start(strategy: &str, o: ProxyOptions) -> Running {
    let strategy = Registry::builtin()
        .build(strategy, &BuildOptions::default())
        .unwrap();
    start_with(strategy, o).await
}

async fn start_with(strategy: Composite, o: ProxyOptions) -> Running {
    start_judged(strategy, o, xsafe_judge::from_name("xsafe").unwrap()).await
}

async fn start_judged(
    strategy: Composite,
    o: ProxyOptions,
    judge: Arc<dyn xsafe_core::Judge>,
) -> Running {
    let proxy = Arc::new(Proxy::new(o, strategy, Some(judge)).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(xsafe_server::serve(listener, proxy, async move {
        let _ = rx.await;
    }));
    Running {
        url,
        shutdown: Some(tx),
        handle,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// The proxy's `/metrics` text.
async fn metrics_of(proxy: &Running) -> String {
    client()
        .get(format!("{}/metrics", proxy.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn post(url: &str, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn has_system(r: &Request) -> bool {
    r.json()["messages"][0]["role"] == "system"
}

fn user_turns(r: &Request) -> usize {
    r.json()["messages"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["role"] == "user").count())
        .unwrap_or(0)
}

/// Answers only when a system message is present.
fn refuse_without_system(r: &Request) -> Reply {
    if has_system(r) {
        Reply::chat(ANSWER)
    } else {
        Reply::chat(REFUSAL)
    }
}

/// Answers only after a follow-up.
fn refuse_first(r: &Request) -> Reply {
    if user_turns(r) > 1 {
        Reply::chat(ANSWER)
    } else {
        Reply::chat(REFUSAL)
    }
}

/// The messages a strategy opens with for `PROMPT`, as the upstream gets them.
fn opening_of(strategy: &Composite) -> Vec<Value> {
    strategy
        .opening(&Prompt::new(PROMPT))
        .unwrap()
        .iter()
        .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
        .collect()
}

fn opening(strategy: &str) -> Vec<Value> {
    opening_of(
        &Registry::builtin()
            .build(strategy, &BuildOptions::default())
            .unwrap(),
    )
}

#[tokio::test]
async fn contextual_merges_the_system_message_and_passes_parameters_through() {
    let upstream = TestServer::start(refuse_without_system);
    let proxy = start("contextual", options(&upstream)).await;
    let body = json!({
        "model": "m",
        "temperature": 0.3,
        "max_tokens": 77,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "some_vendor_field": {"x": [1, 2]},
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": PROMPT}
        ]
    });
    let r = post(&proxy.url, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "0");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], ANSWER);
    assert_eq!(answer["xsafe"]["strategy"], "contextual");
    assert_eq!(answer["xsafe"]["followups"], 0);

    let sent = upstream.requests();
    assert_eq!(sent.len(), 1);
    let got = sent[0].json();
    let strategy_system = opening("contextual")[0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!strategy_system.is_empty());
    assert_eq!(
        got["messages"],
        json!([
            {"role": "system", "content": format!("You are terse.\n\n{strategy_system}")},
            {"role": "user", "content": PROMPT}
        ])
    );
    for field in [
        "model",
        "temperature",
        "max_tokens",
        "tools",
        "some_vendor_field",
    ] {
        assert_eq!(got[field], body[field], "{field}");
    }
    // The upstream gets the proxy's upstream key, never the client's.
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {UPSTREAM_KEY}").as_str())
    );
    proxy.stop().await.unwrap();
}

/// The system prompt the parity test serves and runs with.
const SYSTEM_PROMPT: &str = "You are ACME's support bot.";

/// Builds `name` from the builtin strategies and, for the others, these
/// files: `fs-system` (a few-shot step with a system text of its own) and
/// compositions of it with contextual, and with interactive.
fn with_system_texts(dir: &std::path::Path, name: &str) -> Composite {
    let mut registry = Registry::builtin();
    for (file, text) in [
        (
            "fs-system.toml",
            "name = \"fs-system\"\nkind = \"few-shot\"\nk = 2\nunsafe = 1\n\
             selection = \"fixed\"\nexemplars = \"builtin\"\n\
             system = \"Answer as in the earlier turns.\"\n",
        ),
        (
            "ctx-fs.toml",
            "name = \"ctx-fs\"\nkind = \"composition\"\nsteps = [\"contextual\", \"fs-system\"]\n",
        ),
        (
            "ctx-fs-int.toml",
            "name = \"ctx-fs-int\"\nkind = \"composition\"\n\
             steps = [\"contextual\", \"fs-system\", \"interactive\"]\n",
        ),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        registry.add_file(&path).unwrap();
    }
    registry.build(name, &BuildOptions::default()).unwrap()
}

/// Refuses until the conversation holds its refusal: answers a follow-up,
/// whatever exemplar turns come before it.
fn refuse_until_followed_up(r: &Request) -> Reply {
    let followed_up = r.json()["messages"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["content"] == REFUSAL));
    Reply::chat(if followed_up { ANSWER } else { REFUSAL })
}

/// The messages of every request `upstream` got.
fn messages_sent(upstream: &TestServer) -> Vec<Value> {
    upstream
        .requests()
        .iter()
        .map(|r| r.json()["messages"].clone())
        .collect()
}

/// The bug this guards: a run put the target's system prompt first and the
/// strategy's system text after it (`"{system_prompt}\n\n{strategy}"`, as
/// `OpenAiTarget` sends it), while the proxy put the strategy's text before
/// the client's system message; the profile's rates were measured with the
/// run's order. Now `xsafe run` with `--system-prompt` and the proxy given
/// that prompt as the client's system message send the upstream the same
/// messages, for every strategy with a system text (contextual's, a
/// few-shot step's own, both composed) and without one, in the first
/// request and in an interactive strategy's follow-up; a client without a
/// system message gets what a run without a system prompt sends. The run
/// is the real one: the strategy run through the OpenAI target against an
/// upstream on 127.0.0.1.
#[tokio::test]
async fn the_proxy_sends_what_a_run_sends_for_the_same_system_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let judge = xsafe_judge::from_name("xsafe").unwrap();
    for name in [
        "contextual",
        "fs-system",
        "ctx-fs",
        "ctx-fs-int",
        "few-shot",
        "baseline",
        "interactive",
    ] {
        let strategy = with_system_texts(dir.path(), name);
        for system in [Some(SYSTEM_PROMPT), None] {
            let what = format!("{name}, system prompt {system:?}");
            // The run: `xsafe run --system-prompt ...` sends this.
            let run_upstream = TestServer::start(refuse_until_followed_up);
            let mut config = xsafe_target::OpenAiConfig::new("m");
            config.base_urls = vec![format!("{}/v1", run_upstream.url())];
            config.api_key_env = "XSAFE_TEST_KEY_THAT_IS_NOT_SET".into();
            config.system_prompt = system.map(str::to_string);
            let target = xsafe_target::OpenAiTarget::new(config).unwrap();
            strategy
                .run(&Prompt::new(PROMPT), &target, judge.as_ref(), None)
                .await
                .unwrap();
            let run = messages_sent(&run_upstream);

            // The proxy, the client sending the prompt as its system message.
            let upstream = TestServer::start(refuse_until_followed_up);
            let proxy = start_with(strategy.clone(), options(&upstream)).await;
            let mut messages = vec![json!({"role": "user", "content": PROMPT})];
            if let Some(system) = system {
                messages.insert(0, json!({"role": "system", "content": system}));
            }
            let r = post(&proxy.url, &json!({"model": "m", "messages": messages})).await;
            assert_eq!(r.status(), 200, "{what}");
            assert_eq!(messages_sent(&upstream), run, "{what}");
            proxy.stop().await.unwrap();

            let interactive = strategy.is_interactive();
            assert_eq!(run.len(), if interactive { 2 } else { 1 }, "{what}");
            // Where the strategy has a system text, it follows the prompt.
            let opening = opening_of(&strategy);
            if opening[0]["role"] == "system" {
                let text = opening[0]["content"].as_str().unwrap();
                let expected = match system {
                    Some(system) => format!("{system}\n\n{text}"),
                    None => text.to_string(),
                };
                assert_eq!(run[0][0]["content"], expected, "{what}");
            }
        }
    }
}

/// A client's system message of parts: the strategy's text goes at the end
/// of its last text part, after a blank line, so a server that joins the
/// parts (vLLM with a line break) renders what a run sends with the joined
/// text as its system prompt; the parts' other fields are kept.
#[tokio::test]
async fn a_system_message_of_parts_gets_the_strategys_text_after_its_text() {
    let strategy_text = opening("contextual")[0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let proxy = start("contextual", options(&upstream)).await;
    let parts = json!([
        {"type": "text", "text": "You are ACME's support bot."},
        {"type": "text", "text": "Answer in English.", "cache_control": {"type": "ephemeral"}}
    ]);
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [
            {"role": "developer", "content": parts},
            {"role": "user", "content": PROMPT}
        ]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = upstream.requests()[0].json();
    let system = &sent["messages"][0];
    assert_eq!(
        *system,
        json!({"role": "developer", "content": [
            {"type": "text", "text": "You are ACME's support bot."},
            {"type": "text", "text": format!("Answer in English.\n\n{strategy_text}"),
                "cache_control": {"type": "ephemeral"}}
        ]})
    );
    let joined: Vec<&str> = system["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        joined.join("\n"),
        format!("You are ACME's support bot.\nAnswer in English.\n\n{strategy_text}")
    );
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn few_shot_inserts_exemplars_before_the_conversation() {
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let proxy = start("few-shot", options(&upstream)).await;
    let conversation = vec![
        json!({"role": "user", "content": "Hi", "name": "bob"}),
        json!({"role": "assistant", "content": "Hello!"}),
        json!({"role": "user", "content": PROMPT}),
    ];
    let r = post(
        &proxy.url,
        &json!({"model": "m", "seed": 7, "messages": conversation}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let got = upstream.requests()[0].json();
    let opening = opening("few-shot");
    assert!(opening.len() > 2, "few-shot sends exemplar turns");
    let mut expected: Vec<Value> = opening[..opening.len() - 1].to_vec();
    expected.extend(conversation);
    assert_eq!(got["messages"], Value::Array(expected));
    assert_eq!(got["seed"], 7);
    proxy.stop().await.unwrap();
}

/// Exemplars chosen by meaning: the proxy embeds the prompt (on the
/// blocking pool) and sends what the strategy's opening gives for it. Needs
/// the real all-MiniLM-L6-v2 (`XSAFE_TEST_ENCODER` or xsafe's cache).
#[tokio::test]
async fn few_shot_by_meaning_sends_the_exemplars_nearest_the_prompt() {
    let Some(encoder) = xsafe_testkit::encoder_dir(
        xsafe_embed::models::DEFAULT_ENCODER,
        &xsafe_embed::models::CACHED_FILES,
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("near.toml");
    let spec = format!(
        "name = \"near\"\nkind = \"few-shot\"\nk = 3\nunsafe = 1\nselection = \"embedding\"\nencoder = \"{}\"\n",
        encoder.display()
    );
    std::fs::write(&file, spec).unwrap();
    let mut registry = Registry::builtin();
    registry.add_file(&file).unwrap();
    let strategy = registry.build("near", &BuildOptions::default()).unwrap();
    let expected = opening_of(&strategy);
    assert_eq!(expected.len(), 7, "three exemplar pairs and the prompt");

    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let proxy = start_with(strategy, options(&upstream)).await;
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        upstream.requests()[0].json()["messages"],
        Value::Array(expected)
    );
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn interactive_follows_up_on_a_refusal_and_reports_it_outside_the_content() {
    let upstream = TestServer::start(refuse_first);
    let proxy = start("interactive", options(&upstream)).await;
    let body = json!({"model": "m", "temperature": 0.5, "messages": [{"role": "user", "content": PROMPT}]});
    let r = post(&proxy.url, &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], ANSWER);
    assert_eq!(answer["xsafe"]["followups"], 1);
    assert_eq!(answer["xsafe"]["complied_at_turn"], 2);
    assert_eq!(answer["xsafe"]["usage"]["total_tokens"], 30);
    let sent = upstream.requests();
    assert_eq!(sent.len(), 2);
    let second = sent[1].json();
    let m = second["messages"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m[0], json!({"role": "user", "content": PROMPT}));
    assert_eq!(m[1], json!({"role": "assistant", "content": REFUSAL}));
    assert_eq!(m[2]["role"], "user");
    assert!(!m[2]["content"].as_str().unwrap().is_empty());
    assert_eq!(second["temperature"], 0.5);
    assert_eq!(second["model"], "m");

    // A model that keeps refusing gets max_turns (2) follow-ups, then the
    // client gets the refusal.
    let stubborn = TestServer::start(|_| Reply::chat(REFUSAL));
    let proxy2 = start("interactive", options(&stubborn)).await;
    let r = post(&proxy2.url, &body).await;
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "2");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], REFUSAL);
    assert_eq!(stubborn.request_count(), 3);

    let metrics = metrics_of(&proxy2).await;
    assert!(
        metrics.contains("xsafe_proxy_refusals_detected_total 3\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("xsafe_proxy_followups_sent_total 2\n"),
        "{metrics}"
    );
    proxy.stop().await.unwrap();
    proxy2.stop().await.unwrap();
}

fn sse_body() -> String {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    format!(
        "{}{}{}data: [DONE]\n\n",
        chunk(json!({"role": "assistant", "content": "Sure"}), Value::Null),
        chunk(json!({"content": ", here."}), Value::Null),
        chunk(json!({}), json!("stop"))
    )
}

/// The content of every delta of an event stream, joined; and whether it
/// ended with `[DONE]`.
fn read_events(text: &str) -> (String, bool, Vec<Value>) {
    let mut content = String::new();
    let mut done = false;
    let mut events = Vec::new();
    for line in text.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let v: Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            content.push_str(c);
        }
        events.push(v);
    }
    (content, done, events)
}

#[tokio::test]
async fn streaming_passes_events_through() {
    let upstream = TestServer::start(|_| Reply::Full {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
        body: sse_body().into_bytes(),
    });
    let proxy = start("contextual", options(&upstream)).await;
    let r = post(&proxy.url, &STREAMED).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(r.text().await.unwrap(), sse_body());
    let got = upstream.requests()[0].json();
    assert_eq!(got["stream"], true);
    assert_eq!(got["messages"][0]["role"], "system");
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn streaming_with_interactive_holds_the_reply_until_judged() {
    let upstream = TestServer::start(refuse_first);
    let proxy = start("interactive", options(&upstream)).await;
    let r = post(
        &proxy.url,
        &json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (content, done, events) = read_events(&r.text().await.unwrap());
    assert_eq!(content, ANSWER);
    assert!(done);
    assert_eq!(events.last().unwrap()["usage"]["total_tokens"], 15);
    assert_eq!(events.last().unwrap()["xsafe"]["followups"], 1);
    assert!(
        events
            .iter()
            .any(|e| e["choices"][0]["finish_reason"] == "stop")
    );
    // The upstream was asked without streaming, so the judge sees it all.
    for r in upstream.requests() {
        assert!(r.json().get("stream").is_none());
        assert!(r.json().get("stream_options").is_none());
    }
    proxy.stop().await.unwrap();
}

/// A completion answering `content` without `usage`, as an upstream that
/// does not count tokens sends it.
fn chat_without_usage(content: &str) -> Reply {
    let mut completion = xsafe_testkit::chat_completion(content, "stop");
    completion.as_object_mut().unwrap().remove("usage");
    Reply::json(&completion)
}

/// The bug this guards: an upstream that sent no `usage` got interactive
/// answers reporting 0 tokens (`xsafe.usage` all zeros, in a stream too,
/// beside the upstream's own `usage: null`): unknown is not zero. No
/// answer reporting usage, `xsafe.usage` is null; some not reporting it,
/// it sums those that did and says how many did not.
#[tokio::test]
async fn interactive_usage_is_null_when_no_upstream_answer_reported_it() {
    // Three answers (the refusal and two follow-ups), none with usage.
    let upstream = TestServer::start(|_| chat_without_usage(REFUSAL));
    let proxy = start("interactive", options(&upstream)).await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    let answer: Value = post(&proxy.url, &body).await.json().await.unwrap();
    assert_eq!(upstream.request_count(), 3);
    assert_eq!(answer["xsafe"]["followups"], 2);
    assert!(answer["xsafe"]["usage"].is_null(), "{answer}");
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (content, done, events) =
        read_events(&post(&proxy.url, &streamed).await.text().await.unwrap());
    assert!(done && content == REFUSAL);
    let extensions: Vec<&Value> = events.iter().filter_map(|e| e.get("xsafe")).collect();
    assert!(!extensions.is_empty());
    for extension in extensions {
        assert!(extension["usage"].is_null(), "{extension}");
    }
    proxy.stop().await.unwrap();

    // The first answer with usage, the follow-ups' without: its tokens,
    // and the two answers left out.
    let upstream = TestServer::start(|r| {
        if user_turns(r) > 1 {
            chat_without_usage(REFUSAL)
        } else {
            Reply::chat(REFUSAL)
        }
    });
    let proxy = start("interactive", options(&upstream)).await;
    let answer: Value = post(&proxy.url, &body).await.json().await.unwrap();
    assert_eq!(upstream.request_count(), 3);
    assert_eq!(
        answer["xsafe"]["usage"],
        json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "unreported_answers": 2})
    );
    proxy.stop().await.unwrap();

    // Every answer with usage: the sums alone.
    let upstream = TestServer::start(|_| Reply::chat(REFUSAL));
    let proxy = start("interactive", options(&upstream)).await;
    let answer: Value = post(&proxy.url, &body).await.json().await.unwrap();
    assert_eq!(
        answer["xsafe"]["usage"],
        json!({"prompt_tokens": 30, "completion_tokens": 15, "total_tokens": 45})
    );
    proxy.stop().await.unwrap();
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(body["error"]["type"].is_string(), "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    (status, body)
}

#[tokio::test]
async fn clients_need_a_key_from_the_config() {
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let proxy = start("baseline", options(&upstream)).await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let url = format!("{}/v1/chat/completions", proxy.url);
    let none = client().post(&url).json(&body).send().await.unwrap();
    assert_eq!(error_of(none).await.0, 401);
    let wrong = client()
        .post(&url)
        .bearer_auth("sk-wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(wrong).await;
    assert_eq!(status, 401);
    assert_eq!(err["error"]["code"], "invalid_api_key");
    let right = post(&proxy.url, &body).await;
    assert_eq!(right.status(), 200);
    assert_eq!(
        upstream.request_count(),
        1,
        "refused requests never reach the upstream"
    );

    let metrics = client()
        .get(format!("{}/metrics", proxy.url))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 401);
    let health = client()
        .get(format!("{}/healthz", proxy.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn models_are_forwarded() {
    let upstream = TestServer::start(|r| {
        assert_eq!(r.path, "/v1/models");
        Reply::json(&json!({"object": "list", "data": [{"id": "m", "object": "model"}]}))
    });
    let proxy = start("baseline", options(&upstream)).await;
    let r = client()
        .get(format!("{}/v1/models", proxy.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"][0]["id"], "m");
    proxy.stop().await.unwrap();
}

/// The warnings and errors logged on this thread while it lives: what the
/// proxy's operator reads. A `#[tokio::test]` runs the proxy's tasks on
/// its one thread, so they log here.
///
/// One collector is the global default for the whole test binary and keeps
/// an event when its thread is capturing. A subscriber set per thread
/// (`set_default`) missed events now and then: a callsite first reached on
/// another test's thread, while no subscriber wanted it, could be cached
/// as unwanted before this thread's subscriber was counted.
struct Logs {
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

/// What the thread captures: its lines, and the least severe level kept.
type Capture = (Arc<std::sync::Mutex<Vec<String>>>, tracing::Level);

thread_local! {
    static CAPTURING: std::cell::RefCell<Option<Capture>> =
        const { std::cell::RefCell::new(None) };
}

impl Logs {
    /// Captures this thread's warnings and errors.
    fn capture() -> Logs {
        Logs::capture_from(tracing::Level::WARN)
    }

    /// Captures this thread's lines at `level` and more severe (`INFO`
    /// at most).
    fn capture_from(level: tracing::Level) -> Logs {
        static GLOBAL: std::sync::Once = std::sync::Once::new();
        GLOBAL.call_once(|| {
            tracing::subscriber::set_global_default(Collector)
                .expect("no other global subscriber in this test binary");
        });
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        CAPTURING.with(|c| *c.borrow_mut() = Some((lines.clone(), level)));
        Logs { lines }
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        CAPTURING.with(|c| c.borrow_mut().take());
    }
}

/// Keeps each line at the level captured (see [`Logs::capture_from`]) in
/// the capture of the thread it is logged on, if that thread is capturing.
struct Collector;

impl tracing::Subscriber for Collector {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::INFO
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Line(String);
        impl tracing::field::Visit for Line {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        CAPTURING.with(|c| {
            if let Some((lines, level)) = c.borrow().as_ref()
                && event.metadata().level() <= level
            {
                let mut line = Line(String::new());
                event.record(&mut line);
                lines.lock().unwrap().push(line.0);
            }
        });
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// An upstream that refuses the proxy's credentials is the operator's to
/// fix: the client gets a 502 saying only that; the operator's log says
/// whether the proxy sent a key and from which variable. The variable's
/// name and the upstream's words (which may quote part of the key) stay
/// off the client.
#[tokio::test]
async fn refused_credentials_tell_the_client_to_ask_the_operator_and_the_log_why() {
    let upstream =
        TestServer::start(|_| Reply::status(401, r#"{"error":{"message":"invalid api key"}}"#));
    for (key, expected) in [
        (
            None,
            "invalid api key (the proxy sent no API key: `TEAM_KEY` was not set when `xsafe serve` started",
        ),
        (
            Some(Secret(UPSTREAM_KEY.into())),
            "invalid api key (the upstream refused the proxy's API key, from `TEAM_KEY`)",
        ),
    ] {
        let logs = Logs::capture();
        let mut o = options(&upstream);
        o.upstream_key = key;
        o.upstream_key_env = Some("TEAM_KEY".into());
        let proxy = start("baseline", o).await;
        let ask = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let (status, err) = error_of(post(&proxy.url, &ask).await).await;
        assert_eq!(status, 502);
        assert_eq!(err["error"]["code"], "upstream_error");
        assert_eq!(
            err["error"]["message"],
            "the upstream server refused the proxy's credentials (HTTP 401); the proxy's \
             operator can fix this"
        );
        proxy.stop().await.unwrap();
        let log = logs.text();
        assert!(log.contains(expected), "{log}");
        assert!(!log.contains(UPSTREAM_KEY), "{log}");
    }
}

/// An upstream that sleeps 1.5 s per answer and refuses the first time.
fn slow_refuse_first(r: &Request) -> Reply {
    refuse_first(r).slow(Duration::from_millis(1500))
}

/// The timeout bounds the whole client request: the first reply and the
/// follow-up share it, so two answers of 1.5 s do not fit in 2.5 s even
/// though each would. The time running out during the follow-up gets the
/// client the reply before it (see
/// `a_follow_up_the_upstream_fails_answers_with_the_reply_before_it`),
/// streaming or not, with `followup_failed` saying the time ran out, as
/// soon as the time is spent rather than when the upstream is done; a
/// first reply that does not come in time is a 504 before any event.
#[tokio::test]
async fn the_timeout_bounds_every_turn_of_an_interactive_request_together() {
    let upstream = TestServer::start(slow_refuse_first);
    let mut o = options(&upstream);
    o.timeout = Duration::from_millis(2500);
    o.upstream_retries = 0;
    let proxy = start("interactive", o).await;
    let plain = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    let mut streaming = plain.clone();
    streaming["stream"] = json!(true);
    let (plain, streaming) = tokio::join!(post(&proxy.url, &plain), post(&proxy.url, &streaming));
    for (r, stream) in [(plain, false), (streaming, true)] {
        assert_eq!(r.status(), 200, "stream {stream}");
        assert_eq!(should_retry(&r), None);
        assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1");
        let (content, xsafe) = interactive_answer(r, stream).await;
        assert_eq!(content, REFUSAL);
        let failed = xsafe["followup_failed"].as_str().unwrap_or_default();
        assert!(
            failed.contains("did not answer within 2.5 s") && !failed.contains("reply came"),
            "{xsafe}"
        );
        assert!(xsafe["verdict"].to_string().contains("full_refusal"));
    }
    // Each got its first reply in time and ran out during the follow-up.
    assert_eq!(upstream.request_count(), 4);
    let metrics = metrics_of(&proxy).await;
    assert!(
        metrics.contains("xsafe_proxy_errors_total{kind=\"followup_failed\"} 2\n"),
        "{metrics}"
    );
    assert!(!metrics.contains("kind=\"upstream_timeout\""), "{metrics}");
    // The follow-ups were sent, though no answer came in time.
    assert!(
        metrics.contains("xsafe_proxy_followups_sent_total 2\n"),
        "{metrics}"
    );
    proxy.stop().await.unwrap();

    // A follow-up that would take 20 s: the client is answered at the
    // deadline, not when the upstream is done.
    let stalling = TestServer::start(|r| {
        if user_turns(r) > 1 {
            Reply::chat(ANSWER).slow(Duration::from_secs(20))
        } else {
            Reply::chat(REFUSAL)
        }
    });
    let mut o = options(&stalling);
    o.timeout = Duration::from_secs(2);
    let proxy = start("interactive", o).await;
    let asked = std::time::Instant::now();
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (content, _) = interactive_answer(r, false).await;
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(content, REFUSAL);
    proxy.stop().await.unwrap();

    // A first reply that does not come in time has nothing to fall back
    // on: a 504, streaming or not.
    let slow = TestServer::start(|_| Reply::chat(REFUSAL).slow(Duration::from_secs(3)));
    let mut o = options(&slow);
    o.timeout = Duration::from_millis(1500);
    let proxy = start("interactive", o).await;
    for stream in [false, true] {
        let body = json!({"model": "m", "stream": stream,
            "messages": [{"role": "user", "content": PROMPT}]});
        let r = post(&proxy.url, &body).await;
        assert_eq!(should_retry(&r).as_deref(), Some("false"));
        let (status, err) = error_of(r).await;
        assert_eq!(status, 504, "{err}");
        assert_eq!(err["error"]["code"], "upstream_timeout");
    }
    proxy.stop().await.unwrap();

    // With time for both turns the same upstream is followed up to an answer.
    let mut o = options(&upstream);
    o.timeout = Duration::from_secs(30);
    let proxy = start("interactive", o).await;
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1");
    proxy.stop().await.unwrap();
}

/// The `xsafe` judge, taking `delay` over every verdict after the first.
struct SlowAfterFirst {
    inner: Arc<dyn xsafe_core::Judge>,
    delay: Duration,
    judged: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl xsafe_core::Judge for SlowAfterFirst {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn version(&self) -> &str {
        self.inner.version()
    }

    async fn judge(
        &self,
        prompt: &Prompt,
        transcript: &xsafe_core::Transcript,
    ) -> Result<xsafe_core::Verdict, xsafe_core::JudgeError> {
        if self
            .judged
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            > 0
        {
            tokio::time::sleep(self.delay).await;
        }
        self.inner.judge(prompt, transcript).await
    }
}

/// The time running out after the follow-up's reply came, while it was
/// judged: the client gets that reply (the last it has), marked
/// `followup_failed` with what happened, and no verdict, the last one
/// given being the reply's before it.
#[tokio::test]
async fn the_time_running_out_while_a_follow_ups_reply_is_judged_answers_with_that_reply() {
    let upstream = TestServer::start(refuse_first);
    let mut o = options(&upstream);
    o.timeout = Duration::from_millis(1500);
    let judge = Arc::new(SlowAfterFirst {
        inner: xsafe_judge::from_name("xsafe").unwrap(),
        delay: Duration::from_secs(20),
        judged: Default::default(),
    });
    let strategy = Registry::builtin()
        .build("interactive", &BuildOptions::default())
        .unwrap();
    let proxy = start_judged(strategy, o, judge).await;
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1");
    let (content, xsafe) = interactive_answer(r, false).await;
    assert_eq!(content, ANSWER);
    let failed = xsafe["followup_failed"].as_str().unwrap_or_default();
    assert!(
        failed.contains("(1.5 s") && failed.contains("after the follow-up's reply came"),
        "{xsafe}"
    );
    assert_eq!(xsafe["verdict"], Value::Null, "{xsafe}");
    assert_eq!(
        metric(&proxy, "xsafe_proxy_errors_total{kind=\"followup_failed\"}").await,
        "1"
    );
    proxy.stop().await.unwrap();
}

/// A 429 the proxy passes on (its retries spent, or the wait asked for
/// longer than the timeout) keeps the upstream's `Retry-After`, in seconds
/// or as a date, so the client backs off as long as the upstream asked.
#[tokio::test]
async fn an_upstream_429_reaches_the_client_with_its_retry_after() {
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    let retry_after = |r: &reqwest::Response| {
        r.headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string())
    };

    // Retried once after the second asked for, then passed on.
    let upstream = TestServer::start(|_| Reply::rate_limited(Some(1)));
    let mut o = options(&upstream);
    o.upstream_retries = 1;
    let proxy = start("contextual", o).await;
    let r = post(&proxy.url, &ask).await;
    assert_eq!(retry_after(&r).as_deref(), Some("1"));
    let (status, err) = error_of(r).await;
    assert_eq!(status, 429);
    assert_eq!(err["error"]["type"], "rate_limit_error");
    assert_eq!(upstream.request_count(), 2);
    proxy.stop().await.unwrap();

    // A wait longer than the timeout: passed on at once, with the wait.
    let upstream = TestServer::start(|_| Reply::rate_limited(Some(30)));
    let mut o = options(&upstream);
    o.timeout = Duration::from_secs(5);
    let proxy = start("contextual", o).await;
    let r = post(&proxy.url, &ask).await;
    assert_eq!(retry_after(&r).as_deref(), Some("30"));
    assert_eq!(r.status(), 429);
    assert_eq!(upstream.request_count(), 1);
    proxy.stop().await.unwrap();

    // A date is passed on as it came; the wait it asks for, counted from
    // now, is as long as the timeout: not waited, no retry.
    const DATE: &str = "Wed, 21 Oct 2099 07:28:00 GMT";
    let upstream = TestServer::start(|_| Reply::Full {
        status: 429,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("retry-after".into(), DATE.into()),
        ],
        body: br#"{"error":{"message":"slow down"}}"#.to_vec(),
    });
    let proxy = start("contextual", options(&upstream)).await;
    let r = post(&proxy.url, &ask).await;
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r).as_deref(), Some(DATE));
    assert_eq!(upstream.request_count(), 1);
    proxy.stop().await.unwrap();

    // A 429 on an interactive strategy's follow-up is passed on the same way.
    let upstream = TestServer::start(|r| {
        if user_turns(r) > 1 {
            Reply::rate_limited(Some(30))
        } else {
            Reply::chat(REFUSAL)
        }
    });
    let mut o = options(&upstream);
    o.timeout = Duration::from_secs(5);
    let proxy = start("interactive", o).await;
    let r = post(&proxy.url, &ask).await;
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r).as_deref(), Some("30"));
    assert_eq!(upstream.request_count(), 2);
    proxy.stop().await.unwrap();

    // A 5xx is the proxy's 502, with the upstream's Retry-After all the
    // same: a wait too long for the timeout is not waited, and the client
    // is told it, as for a 429 (its SDK would otherwise send the request
    // again at once); after the proxy's own retries, as for a 429, the
    // client is told not to send it again.
    let upstream = TestServer::start(|r| Reply::Full {
        status: 503,
        headers: vec![(
            "retry-after".into(),
            if r.last_user_message() == "long" {
                "30"
            } else {
                "0"
            }
            .into(),
        )],
        body: br#"{"error":{"message":"overloaded"}}"#.to_vec(),
    });
    let mut o = options(&upstream);
    o.timeout = Duration::from_secs(5);
    let proxy = start("contextual", o).await;
    let long = json!({"model": "m", "messages": [{"role": "user", "content": "long"}]});
    for stream in [false, true] {
        let mut body = long.clone();
        body["stream"] = json!(stream);
        let before = upstream.request_count();
        let r = post(&proxy.url, &body).await;
        assert_eq!(r.status(), 502, "stream {stream}");
        assert_eq!(retry_after(&r).as_deref(), Some("30"), "stream {stream}");
        assert_eq!(should_retry(&r), None, "stream {stream}");
        assert_eq!(upstream.request_count(), before + 1, "not retried");
    }
    let r = post(&proxy.url, &ask).await;
    assert_eq!(r.status(), 502);
    assert_eq!(retry_after(&r).as_deref(), Some("0"));
    assert_eq!(should_retry(&r).as_deref(), Some("false"));
    proxy.stop().await.unwrap();
}

/// An upstream 429 that asks for its wait in `retry-after-ms` only (as
/// Azure OpenAI does) is retried after that wait, not after the proxy's
/// own backoff (0.25 s); passed on once the retries are spent, the client
/// is told the wait in `Retry-After`'s whole seconds, rounded up. A 5xx
/// asking so for a wait too long for the timeout is passed on at once,
/// with that wait.
#[tokio::test]
async fn an_upstream_429_asking_in_retry_after_ms_is_retried_after_that_wait() {
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    let upstream = TestServer::start(|r| Reply::Full {
        status: if r.last_user_message() == "down" {
            503
        } else {
            429
        },
        headers: vec![
            ("content-type".into(), "application/json".into()),
            (
                "retry-after-ms".into(),
                if r.last_user_message() == "down" {
                    "30000"
                } else {
                    "1500"
                }
                .into(),
            ),
        ],
        body: br#"{"error":{"message":"slow down"}}"#.to_vec(),
    });
    let mut o = options(&upstream);
    o.upstream_retries = 1;
    o.timeout = Duration::from_secs(20);
    let proxy = start("contextual", o).await;
    let started = std::time::Instant::now();
    let r = post(&proxy.url, &ask).await;
    let took = started.elapsed();
    assert_eq!(r.status(), 429);
    assert_eq!(upstream.request_count(), 2);
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(10),
        "took {took:?}"
    );
    assert_eq!(
        r.headers().get("retry-after").map(|v| v.to_str().unwrap()),
        Some("2")
    );
    assert_eq!(should_retry(&r).as_deref(), Some("false"));
    assert_eq!(
        metric(&proxy, "xsafe_proxy_upstream_retries_total").await,
        "1"
    );

    let down = json!({"model": "m", "messages": [{"role": "user", "content": "down"}]});
    let started = std::time::Instant::now();
    let r = post(&proxy.url, &down).await;
    assert!(started.elapsed() < Duration::from_secs(10), "waited");
    assert_eq!(r.status(), 502);
    assert_eq!(upstream.request_count(), 3, "not retried");
    assert_eq!(
        r.headers().get("retry-after").map(|v| v.to_str().unwrap()),
        Some("30")
    );
    proxy.stop().await.unwrap();
}

/// An upstream 429 that says only when its rate limit resets (OpenAI's
/// `x-ratelimit-reset-requests`), later than `--timeout` allows, is not
/// waited: it is passed on at once, with that wait as its `Retry-After`
/// and the rate-limit header itself, and the client may send it again
/// once the wait is over (no `x-should-retry: false`).
#[tokio::test]
async fn an_upstream_429_whose_limit_resets_after_the_timeout_is_passed_on_with_that_wait() {
    let upstream = TestServer::start(|_| Reply::Full {
        status: 429,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-ratelimit-reset-requests".into(), "40s".into()),
        ],
        body: br#"{"error":{"message":"rate limit reached"}}"#.to_vec(),
    });
    let mut o = options(&upstream);
    o.timeout = Duration::from_secs(10);
    let proxy = start("contextual", o).await;
    let started = std::time::Instant::now();
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5), "waited");
    assert_eq!(upstream.request_count(), 1, "not retried");
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.headers().get("retry-after").map(|v| v.to_str().unwrap()),
        Some("40")
    );
    assert_eq!(r.headers()["x-ratelimit-reset-requests"], "40s");
    assert_eq!(should_retry(&r), None);
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn failures_are_openai_errors_with_the_right_status() {
    let upstream = TestServer::start(|r| match r.last_user_message().as_str() {
        "fail" => Reply::status(500, r#"{"error":{"message":"boom"}}"#),
        "slow" => Reply::chat(ANSWER).slow(Duration::from_secs(3)),
        "bad model" => Reply::status(404, r#"{"error":{"message":"no such model"}}"#),
        "error as 200" => Reply::json(&json!({"error": {"message": "hidden error"}})),
        _ => Reply::chat(ANSWER),
    });
    let mut o = options(&upstream);
    o.timeout = Duration::from_millis(300);
    o.upstream_retries = 0;
    let proxy = start("contextual", o).await;
    let url = format!("{}/v1/chat/completions", proxy.url);
    let ask = |text: &str| json!({"model": "m", "messages": [{"role": "user", "content": text}]});

    // An error some servers send with HTTP 200 is no answer: a 502 quoting
    // it, for a plain request and a streaming one alike.
    for stream in [false, true] {
        let mut body = ask("error as 200");
        body["stream"] = json!(stream);
        let (status, err) = error_of(post(&proxy.url, &body).await).await;
        assert_eq!(status, 502, "stream {stream}: {err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no `choices`; the server said: hidden error"),
            "{err}"
        );
    }

    let (status, err) = error_of(post(&proxy.url, &ask("fail")).await).await;
    assert_eq!(status, 502);
    assert!(err["error"]["message"].as_str().unwrap().contains("boom"));
    assert!(!err.to_string().contains(UPSTREAM_KEY));

    let (status, err) = error_of(post(&proxy.url, &ask("slow")).await).await;
    assert_eq!(status, 504);
    assert_eq!(err["error"]["code"], "upstream_timeout");

    let (status, err) = error_of(post(&proxy.url, &ask("bad model")).await).await;
    assert_eq!(status, 404);
    // Behind /v1 a 404 is the upstream's own word.
    assert!(!err.to_string().contains("base URL"), "{err}");

    let malformed = client()
        .post(&url)
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{\"model\": \"m\", \"messages\": [")
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(malformed).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "invalid_json");

    let wrong_type = post(&proxy.url, &json!({"model": "m", "messages": "hi"})).await;
    assert_eq!(error_of(wrong_type).await.0, 400);

    let huge = format!(
        "{{\"model\":\"m\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "a".repeat(1_100_000)
    );
    let r = client()
        .post(&url)
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(r).await;
    assert_eq!(status, 413);
    assert_eq!(err["error"]["code"], "request_too_large");

    // Unknown routes and methods answer in the same shape.
    let r = client()
        .get(format!("{}/v2/x", proxy.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 404);

    let metrics = metrics_of(&proxy).await;
    for line in [
        "xsafe_proxy_requests_total{status=\"502\"} 3",
        "xsafe_proxy_requests_total{status=\"504\"} 1",
        "xsafe_proxy_requests_total{status=\"413\"} 1",
        "xsafe_proxy_errors_total{kind=\"upstream_timeout\"} 1",
        "xsafe_proxy_errors_total{kind=\"upstream_error\"} 3",
        "xsafe_proxy_errors_total{kind=\"invalid_json\"} 1",
        "xsafe_proxy_errors_total{kind=\"request_too_large\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    // Every upstream request has its latency, the one that timed out too.
    for line in [
        "xsafe_proxy_upstream_requests_total{outcome=\"ok\"} 2\n",
        "xsafe_proxy_upstream_requests_total{outcome=\"status\"} 2\n",
        "xsafe_proxy_upstream_requests_total{outcome=\"timeout\"} 1\n",
        "xsafe_proxy_upstream_latency_seconds_count 5\n",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    assert!(!metrics.contains(UPSTREAM_KEY));
    proxy.stop().await.unwrap();
}

/// An upstream URL without `/v1`, at a server that serves the API below it:
/// the operator's log says which URL was asked and what to check; the
/// client gets the upstream's answer without the upstream's URL.
#[tokio::test]
async fn an_upstream_url_without_v1_is_named_in_the_log() {
    let upstream = TestServer::start(|_| {
        Reply::status(404, "<html><body><h1>404 Not Found</h1></body></html>")
    });
    let logs = Logs::capture();
    let mut o = options(&upstream);
    o.upstream = upstream.url();
    o.upstream_retries = 0;
    let proxy = start("baseline", o).await;
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let (status, err) = error_of(post(&proxy.url, &ask).await).await;
    assert_eq!(status, 404);
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.ends_with("HTTP 404: 404 Not Found"), "{message}");
    assert!(!message.contains(&upstream.url()), "{message}");
    proxy.stop().await.unwrap();
    let log = logs.text();
    assert!(
        log.contains(&format!(
            "404 Not Found (POST {}/chat/completions: is the base URL right? For most servers \
             it ends in /v1)",
            upstream.url()
        )),
        "{log}"
    );
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let upstream = TestServer::start(|_| Reply::chat(ANSWER).slow(Duration::from_millis(700)));
    let proxy = start("baseline", options(&upstream)).await;
    let url = proxy.url.clone();
    let in_flight = tokio::spawn(async move {
        post(
            &url,
            &json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
    });
    // Wait until the request reached the upstream, then stop the proxy.
    while upstream.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let url = proxy.url.clone();
    proxy.stop().await.unwrap();
    let r = in_flight.await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], ANSWER);
    // Stopped: new connections are refused.
    assert!(client().get(format!("{url}/healthz")).send().await.is_err());
}

/// A client that stops sending its body gets a 408 at the request's
/// timeout; one that never finishes its headers does not hold a shutdown
/// past the timeout and the grace (both held it as long as they stayed).
#[tokio::test]
async fn a_client_that_stops_sending_holds_neither_its_request_nor_the_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let mut o = options(&upstream);
    o.timeout = Duration::from_millis(500);
    let proxy = start("baseline", o).await;
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"mo"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stalled.read(&mut answer))
        .await
        .expect("answered at the timeout")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    // Headers begun and never finished, then the shutdown.
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped = tokio::time::timeout(
        Duration::from_secs(10) + xsafe_server::SHUTDOWN_GRACE,
        proxy.stop(),
    )
    .await;
    assert!(
        stopped.is_ok(),
        "the shutdown waited for the half-sent request"
    );
    drop(half);
}

/// A client that opens a connection and never finishes its headers, or
/// sends nothing at all, is disconnected at the request timeout instead of
/// holding a connection (and a file descriptor) for as long as it likes.
#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected_at_the_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let mut o = options(&upstream);
    o.timeout = Duration::from_millis(300);
    let proxy = start("baseline", o).await;
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    for stream in [&mut half, &mut silent] {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the proxy closed the connection");
        // Closed (end of stream or reset), with no request answered.
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    // The proxy still serves others, and a kept-alive client reconnects.
    let r = client()
        .get(format!("{}/healthz", proxy.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = client()
        .get(format!("{}/healthz", proxy.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    proxy.stop().await.unwrap();
}

/// One upstream URL, a key that can be sent, and credentials never shown.
#[test]
fn an_upstream_list_or_an_unsendable_key_is_refused_and_credentials_are_not_shown() {
    let strategy = || {
        Registry::builtin()
            .build("baseline", &BuildOptions::default())
            .unwrap()
    };
    let err = |o: ProxyOptions| Proxy::new(o, strategy(), None).err().unwrap().to_string();
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let mut o = options(&upstream);
    o.upstream = format!("{0}/v1,{0}/v2", upstream.url());
    assert!(err(o).contains("the proxy takes one upstream URL"));
    let mut o = options(&upstream);
    o.upstream_key = Some(Secret("sk-abc\n".into()));
    o.upstream_key_env = Some("UPSTREAM_KEY_VAR".into());
    assert!(
        err(o).contains("the upstream's API key in `UPSTREAM_KEY_VAR` is not a valid HTTP header")
    );
    let mut o = options(&upstream);
    o.upstream = "ftp://alice:s3cretpw@host/v1".into();
    let e = err(o);
    assert!(
        !e.contains("s3cretpw") && e.contains("<redacted>@host"),
        "{e}"
    );
}

/// A small seeded generator, so a failing case can be replayed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn odd_value(rng: &mut SplitMix) -> Value {
    match rng.below(9) {
        0 => Value::Null,
        1 => json!(rng.next()),
        2 => json!(-1.5e300),
        3 => json!(true),
        4 => json!("x".repeat(rng.below(5000))),
        5 => json!([1, "a", null]),
        6 => json!({"role": 5}),
        7 => json!([{"role": "user", "content": 12}]),
        _ => json!([{"role": "user", "content": [1, 2]}]),
    }
}

/// A body that is almost a chat request, broken somewhere.
fn malformed(rng: &mut SplitMix) -> Vec<u8> {
    let valid = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    match rng.below(7) {
        0 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
        1 => {
            let text = valid.to_string();
            let cut = rng.below(text.len());
            text.as_bytes()[..cut].to_vec()
        }
        2 => {
            let mut body = valid.clone();
            let field = ["model", "messages", "stream", "stream_options"][rng.below(4)];
            body[field] = odd_value(rng);
            body.to_string().into_bytes()
        }
        3 => {
            let mut body = valid.clone();
            body["messages"][0][["role", "content"][rng.below(2)]] = odd_value(rng);
            body.to_string().into_bytes()
        }
        4 => {
            let depth = 1 + rng.below(100_000);
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }
        5 => {
            let mut bytes = valid.to_string().into_bytes();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(bytes.len());
                bytes[i] = rng.next() as u8;
            }
            bytes
        }
        _ => odd_value(rng).to_string().into_bytes(),
    }
}

#[tokio::test]
async fn malformed_bodies_get_json_errors_and_the_server_keeps_serving() {
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let proxy = start("contextual", options(&upstream)).await;
    let url = format!("{}/v1/chat/completions", proxy.url);
    let http = client();
    let mut rng = SplitMix(42);
    for i in 0..400 {
        let body = malformed(&mut rng);
        let r = http
            .post(&url)
            .bearer_auth(KEY)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("case {i}: the proxy dropped the connection: {e}"));
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        if status == 200 {
            // A mutation can leave the request valid.
            continue;
        }
        assert!(
            (400..500).contains(&status),
            "case {i}: status {status} for {:?}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        );
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("case {i}: not JSON: {text}"));
        assert!(v["error"]["message"].is_string(), "case {i}: {text}");
        assert!(!text.contains(UPSTREAM_KEY));
    }
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": "still there?"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    proxy.stop().await.unwrap();
}

/// JSON without its nulls, as TOML (which has none) keeps it.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|x| !x.is_null())
                .map(without_nulls)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn load_profile(dir: &std::path::Path, definition: &Value) -> xsafe_server::Profile {
    let file =
        json!({"choice": {"strategy": "interactive", "definition": without_nulls(definition)}});
    let path = dir.join("p.toml");
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();
    xsafe_server::Profile::load(&path).unwrap()
}

#[test]
fn a_profile_tuned_with_a_clarifier_is_refused_by_name() {
    let dir = std::env::temp_dir().join(format!("xsafe-server-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let registry = Registry::builtin();
    let definition = registry
        .build("interactive", &BuildOptions::default())
        .unwrap()
        .definition();
    assert!(
        load_profile(&dir, &definition)
            .build_strategy(&registry, &Default::default())
            .is_ok()
    );
    let mut clarified = definition.clone();
    clarified["steps"][0]["clarifier"] = json!({"id": "openai:c", "settings": {"model": "c"}});
    let Err(err) = load_profile(&dir, &clarified).build_strategy(&registry, &Default::default())
    else {
        panic!("a clarifier profile was accepted");
    };
    assert!(err.to_string().contains("--clarifier"), "{err}");
    let mut edited = definition;
    edited["steps"][0]["max_turns"] = json!(5);
    let Err(err) = load_profile(&dir, &edited).build_strategy(&registry, &Default::default())
    else {
        panic!("an edited profile was accepted");
    };
    assert!(err.to_string().contains("steps[0].max_turns"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A profile of few-shot-nearest's first way of picking cannot be served,
/// and no strategy file could bring that way back: only tuning again can.
#[test]
fn a_profile_of_an_earlier_nearest_selection_is_sent_to_tune_again() {
    let dir = std::env::temp_dir().join(format!("xsafe-server-nearest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let registry = Registry::builtin();
    let mut definition = registry
        .build("few-shot-nearest", &BuildOptions::default())
        .unwrap()
        .definition();
    definition["steps"][0]
        .as_object_mut()
        .unwrap()
        .remove("selection_version");
    let file = json!({"choice": {"strategy": "few-shot-nearest", "definition": without_nulls(&definition)}});
    let path = dir.join("p.toml");
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();
    let profile = xsafe_server::Profile::load(&path).unwrap();
    let Err(err) = profile.build_strategy(&registry, &Default::default()) else {
        panic!("a profile of the earlier picking was accepted");
    };
    let err = err.to_string();
    assert!(
        err.contains("selection_version") && err.ends_with("run `xsafe tune` again"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_refused_while_it_arrives() {
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let mut o = options(&upstream);
    o.max_body_bytes = 10_000;
    let proxy = start("baseline", o).await;
    // No content-length: the limit is enforced on the bytes as they come.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![b' '; 1000])).collect();
    let r = client()
        .post(format!("{}/v1/chat/completions", proxy.url))
        .bearer_auth(KEY)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 413);
    assert_eq!(upstream.request_count(), 0);
    proxy.stop().await.unwrap();
}

/// Refuses the first request; answers a follow-up with `failure`.
fn failing_followups(failure: fn() -> Reply) -> impl Fn(&Request) -> Reply {
    move |r| {
        if user_turns(r) > 1 {
            failure()
        } else {
            Reply::chat(REFUSAL)
        }
    }
}

/// The proxy's answer to an interactive request, streamed or not: its
/// content and its `xsafe` extension field.
async fn interactive_answer(r: reqwest::Response, stream: bool) -> (String, Value) {
    if stream {
        let (content, done, events) = read_events(&r.text().await.unwrap());
        assert!(done);
        (content, events.last().unwrap()["xsafe"].clone())
    } else {
        let answer: Value = r.json().await.unwrap();
        let content = answer["choices"][0]["message"]["content"].as_str();
        (content.unwrap().to_string(), answer["xsafe"].clone())
    }
}

/// The bug this guards: a follow-up the upstream failed (a 5xx after the
/// proxy's retries, a connection it closed, an answer broken off or no
/// completion) made the proxy answer 502 with `x-should-retry: false`,
/// throwing away the reply it had, while a follow-up the upstream refused
/// with a 4xx got the client that reply. Now a failed follow-up gets the
/// client the reply before it too, streamed or not: a 200, the follow-up
/// counted in the header, `followup_failed` in the extension field saying
/// what went wrong (not `followup_rejected`), a warning in the log, and
/// `followup_failed` in the errors metric; every attempt is still counted.
#[tokio::test]
async fn a_follow_up_the_upstream_fails_answers_with_the_reply_before_it() {
    fn down() -> Reply {
        Reply::status(503, r#"{"error":{"message":"overloaded"}}"#)
    }
    fn dropped() -> Reply {
        Reply::Drop
    }
    fn error_as_200() -> Reply {
        Reply::json(&json!({"error": {"message": "hidden error"}}))
    }
    fn broken_off() -> Reply {
        Reply::Truncated(Box::new(Reply::chat(ANSWER)))
    }
    // Each failure, what the marker says, and the follow-up's attempts.
    for (failure, said, attempts) in [
        (down as fn() -> Reply, "HTTP 503: overloaded", 3),
        (dropped, "closed the connection before answering", 3),
        (error_as_200, "hidden error", 1),
        (broken_off, "broke off", 1),
    ] {
        let upstream = TestServer::start(failing_followups(failure));
        let logs = Logs::capture();
        let proxy = start("interactive", options(&upstream)).await;
        for stream in [false, true] {
            let what = format!("{said}, stream {stream}");
            let body = json!({"model": "m", "stream": stream,
                "messages": [{"role": "user", "content": PROMPT}]});
            let r = post(&proxy.url, &body).await;
            assert_eq!(r.status(), 200, "{what}");
            assert_eq!(should_retry(&r), None, "{what}");
            assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1", "{what}");
            let (content, xsafe) = interactive_answer(r, stream).await;
            assert_eq!(content, REFUSAL, "{what}");
            let failed = xsafe["followup_failed"].as_str().unwrap_or_default();
            assert!(failed.contains(said), "{what}: {xsafe}");
            assert_eq!(xsafe["followup_rejected"], Value::Null, "{what}");
            assert_eq!(xsafe["followups"], 1, "{what}");
            assert_eq!(xsafe["complied_at_turn"], Value::Null, "{what}");
            // The verdict is the reply's the client gets.
            let verdict = xsafe["verdict"].to_string();
            assert!(verdict.contains("full_refusal"), "{what}: {verdict}");
        }
        // Per request: the reply, then the follow-up and its retries.
        assert_eq!(upstream.request_count(), 2 * (1 + attempts), "{said}");
        let metrics = metrics_of(&proxy).await;
        for line in [
            "xsafe_proxy_requests_total{status=\"200\"} 2\n".to_string(),
            "xsafe_proxy_errors_total{kind=\"followup_failed\"} 2\n".to_string(),
            "xsafe_proxy_followups_sent_total 2\n".to_string(),
            format!(
                "xsafe_proxy_upstream_latency_seconds_count {}\n",
                2 * (1 + attempts)
            ),
        ] {
            assert!(
                metrics.contains(&line),
                "{said}: {line} missing from\n{metrics}"
            );
        }
        assert!(!metrics.contains("kind=\"followup_rejected\""), "{metrics}");
        assert!(!metrics.contains("status=\"502\""), "{metrics}");
        proxy.stop().await.unwrap();
        let log = logs.text();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("a follow-up failed; answering with the reply before it"))
            .collect();
        assert_eq!(lines.len(), 2, "{said}: {log}");
        for line in lines {
            assert!(line.contains(said), "{said}: {line}");
            // As every failure is logged: the client and the time taken.
            for field in [
                "client=test ",
                "status=200 ",
                "code=\"followup_failed\" ",
                "ms=",
            ] {
                assert!(line.contains(field), "{said}: {field} in {line}");
            }
        }
    }
}

/// Only a follow-up's failure leaves the client a reply: the first request
/// failing the same way is the client's 502, with `x-should-retry: false`
/// after the proxy's retries. A follow-up refused for the proxy's own key
/// (401, 403) is the 502 a first request gets too: the operator's to fix,
/// and the next request would fail on its first turn anyway; a 429 on a
/// follow-up is passed on with its `Retry-After` (see
/// `an_upstream_429_reaches_the_client_with_its_retry_after`).
#[tokio::test]
async fn a_first_request_failing_or_the_proxys_key_refused_on_a_follow_up_is_still_an_error() {
    let upstream = TestServer::start(|r| match r.last_user_message().as_str() {
        "down" => Reply::status(503, r#"{"error":{"message":"overloaded"}}"#),
        _ if user_turns(r) == 1 => Reply::chat(REFUSAL),
        _ if r.json()["model"] == "forbidden" => {
            Reply::status(403, r#"{"error":{"message":"forbidden"}}"#)
        }
        _ => Reply::status(401, r#"{"error":{"message":"invalid api key"}}"#),
    });
    let proxy = start("interactive", options(&upstream)).await;
    for (model, text, status) in [
        ("m", "down", 502),
        ("m", PROMPT, 502),
        ("forbidden", PROMPT, 502),
    ] {
        for stream in [false, true] {
            let what = format!("{model}, {text}, stream {stream}");
            let body = json!({"model": model, "stream": stream,
                "messages": [{"role": "user", "content": text}]});
            let r = post(&proxy.url, &body).await;
            assert_eq!(should_retry(&r).as_deref(), Some("false"), "{what}");
            let (got, err) = error_of(r).await;
            assert_eq!(got, status, "{what}: {err}");
            assert_eq!(err["error"]["code"], "upstream_error", "{what}");
        }
    }
    let metrics = metrics_of(&proxy).await;
    assert!(!metrics.contains("kind=\"followup_failed\""), "{metrics}");
    proxy.stop().await.unwrap();
}

/// Answers `failures` times with `failure`, then with the answer.
fn failing(failures: usize, failure: fn() -> Reply) -> impl Fn(&Request) -> Reply {
    failing_before(failures, failure, || Reply::chat(ANSWER))
}

/// Answers `failures` times with `failure`, then with `then`.
fn failing_before(
    failures: usize,
    failure: fn() -> Reply,
    then: fn() -> Reply,
) -> impl Fn(&Request) -> Reply {
    let seen = std::sync::atomic::AtomicUsize::new(0);
    move |_| {
        if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < failures {
            failure()
        } else {
            then()
        }
    }
}

/// One metric's value.
async fn metric(proxy: &Running, name: &str) -> String {
    let text = metrics_of(proxy).await;
    text.lines()
        .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn transient_upstream_failures_are_retried_before_the_client_sees_them() {
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    let busy = || Reply::rate_limited(Some(0));
    let down = || Reply::status(503, r#"{"error":{"message":"overloaded"}}"#);

    // Two failures, two retries: the client gets the answer.
    let upstream = TestServer::start(failing(2, down));
    let proxy = start("contextual", options(&upstream)).await;
    let r = post(&proxy.url, &ask).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], ANSWER);
    assert_eq!(upstream.request_count(), 3);
    assert_eq!(
        metric(&proxy, "xsafe_proxy_upstream_retries_total").await,
        "2"
    );
    proxy.stop().await.unwrap();

    // Three 429s with two retries: the client gets the 429.
    let upstream = TestServer::start(failing(3, busy));
    let proxy = start("contextual", options(&upstream)).await;
    let (status, err) = error_of(post(&proxy.url, &ask).await).await;
    assert_eq!(status, 429);
    assert_eq!(err["error"]["type"], "rate_limit_error");
    assert_eq!(upstream.request_count(), 3);
    proxy.stop().await.unwrap();

    // A wait the upstream asks for that does not fit in the timeout is
    // not waited: the 429 goes back at once.
    let upstream = TestServer::start(failing(1, || Reply::rate_limited(Some(30))));
    let mut o = options(&upstream);
    o.timeout = Duration::from_secs(5);
    let proxy = start("contextual", o).await;
    let (status, _) = error_of(post(&proxy.url, &ask).await).await;
    assert_eq!(status, 429);
    assert_eq!(upstream.request_count(), 1);
    proxy.stop().await.unwrap();

    // A request the upstream rejects is not sent again.
    let upstream = TestServer::start(failing(1, || {
        Reply::status(400, r#"{"error":{"message":"bad parameter"}}"#)
    }));
    let proxy = start("contextual", options(&upstream)).await;
    let (status, _) = error_of(post(&proxy.url, &ask).await).await;
    assert_eq!(status, 400);
    assert_eq!(upstream.request_count(), 1);
    assert_eq!(
        metric(&proxy, "xsafe_proxy_upstream_retries_total").await,
        "0"
    );
    proxy.stop().await.unwrap();

    // No upstream at all: retried, then a 502.
    let gone = TestServer::start(|_| Reply::chat(ANSWER));
    let mut o = options(&gone);
    drop(gone);
    o.upstream_retries = 1;
    let proxy = start("contextual", o).await;
    let (status, err) = error_of(post(&proxy.url, &ask).await).await;
    assert_eq!(status, 502);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach")
    );
    assert_eq!(
        metric(&proxy, "xsafe_proxy_upstream_retries_total").await,
        "1"
    );
    // Both attempts are counted, with the time they took to fail.
    assert_eq!(
        metric(
            &proxy,
            "xsafe_proxy_upstream_requests_total{outcome=\"connection\"}"
        )
        .await,
        "2"
    );
    assert_eq!(
        metric(&proxy, "xsafe_proxy_upstream_latency_seconds_count").await,
        "2"
    );
    proxy.stop().await.unwrap();
}

/// A server that ignores `stream` and answers one JSON completion: the
/// streaming client gets it as events, ending with `[DONE]`. Any other
/// answer that is not an event stream (a proxy's HTML page with 200) is a
/// 502 naming it, never a success.
#[tokio::test]
async fn a_stream_answered_without_events_is_sent_as_events_or_refused() {
    let upstream = TestServer::start(|r| match r.json()["model"].as_str() {
        Some("html") => Reply::Full {
            status: 200,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: b"<html><body><h1>Welcome to nginx!</h1></body></html>".to_vec(),
        },
        _ => Reply::chat(ANSWER),
    });
    let proxy = start("contextual", options(&upstream)).await;
    let ask = |model: &str| {
        json!({"model": model, "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": PROMPT}]})
    };

    let r = post(&proxy.url, &ask("m")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "0");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (content, done, events) = read_events(&r.text().await.unwrap());
    assert_eq!(content, ANSWER);
    assert!(done);
    assert!(
        events
            .iter()
            .any(|e| e["choices"][0]["finish_reason"] == "stop")
    );
    assert_eq!(events.last().unwrap()["usage"]["total_tokens"], 15);
    assert_eq!(events.last().unwrap()["xsafe"]["strategy"], "contextual");
    assert_eq!(upstream.requests()[0].json()["stream"], true);

    let (status, err) = error_of(post(&proxy.url, &ask("html")).await).await;
    assert_eq!(status, 502, "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("`text/html`"), "{message}");
    assert!(message.contains("Welcome to nginx!"), "{message}");
    proxy.stop().await.unwrap();
}

/// An upstream that accepts a stream and then stalls, holding the
/// connection open after its first event.
async fn stalling_stream_upstream() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let handle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // The head and the JSON body, whose closing brace ends it.
        while !request.ends_with(b"}") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0);
            request.extend_from_slice(&buf[..n]);
        }
        let event = "data: {\"object\":\"chat.completion.chunk\",\"choices\":[]}\n\n";
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
             transfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
            event.len()
        );
        socket.write_all(head.as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    (url, handle)
}

/// A stream that fails after its 200 was sent (the upstream closing it in
/// the middle of an event, or stalling past the timeout) is counted among
/// the errors as `upstream_stream`; its 200 stays what the client got.
#[tokio::test]
async fn a_stream_that_fails_midway_is_counted_as_an_error() {
    let ask = json!({"model": "m", "stream": true,
        "messages": [{"role": "user", "content": PROMPT}]});
    let upstream = TestServer::start(|_| {
        Reply::Truncated(Box::new(Reply::Full {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: sse_body().into_bytes(),
        }))
    });
    let proxy = start("contextual", options(&upstream)).await;
    let r = post(&proxy.url, &ask).await;
    assert_eq!(r.status(), 200);
    if let Ok(text) = r.text().await {
        assert!(!text.contains("[DONE]"), "{text}");
    }
    let metrics = metrics_of(&proxy).await;
    for line in [
        "xsafe_proxy_requests_total{status=\"200\"} 1\n",
        "xsafe_proxy_errors_total{kind=\"upstream_stream\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    proxy.stop().await.unwrap();

    let (url, stalling) = stalling_stream_upstream().await;
    let mut o = ProxyOptions::new(url);
    o.keys = options(&upstream).keys;
    o.timeout = Duration::from_millis(500);
    let proxy = start("contextual", o).await;
    let r = post(&proxy.url, &ask).await;
    assert_eq!(r.status(), 200);
    if let Ok(text) = r.text().await {
        assert!(!text.contains("[DONE]"), "{text}");
    }
    assert_eq!(
        metric(&proxy, "xsafe_proxy_errors_total{kind=\"upstream_stream\"}").await,
        "1"
    );
    stalling.abort();
    proxy.stop().await.unwrap();
}

/// A follow-up the proxy sent that the upstream refuses with a 4xx (the
/// longer conversation past the model's context) does not fail the
/// client's valid request: it gets the reply before the follow-up, with
/// the follow-up sent in the header and its refusal in the extension
/// field, streaming or not; the refusal is counted and not sent again.
#[tokio::test]
async fn a_follow_up_the_upstream_rejects_answers_with_the_reply_before_it() {
    const TOO_LONG: &str = "This model's maximum context length is 4096 tokens.";
    let upstream = TestServer::start(|r| {
        if user_turns(r) > 1 {
            Reply::status(
                400,
                json!({"error": {"message": TOO_LONG, "code": "context_length_exceeded"}})
                    .to_string(),
            )
        } else {
            Reply::chat(REFUSAL)
        }
    });
    let logs = Logs::capture();
    let proxy = start("interactive", options(&upstream)).await;
    let plain = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    let r = post(&proxy.url, &plain).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], REFUSAL);
    assert_eq!(answer["xsafe"]["followups"], 1);
    assert_eq!(answer["xsafe"]["complied_at_turn"], Value::Null);
    // The verdict is the reply's the client gets.
    let verdict = answer["xsafe"]["verdict"].to_string();
    assert!(verdict.contains("full_refusal"), "{verdict}");
    let rejected = answer["xsafe"]["followup_rejected"].as_str().unwrap();
    assert!(rejected.contains("HTTP 400"), "{rejected}");
    assert!(rejected.contains(TOO_LONG), "{rejected}");
    // The reply and the follow-up, which is not sent again.
    assert_eq!(upstream.request_count(), 2);

    let mut streaming = plain.clone();
    streaming["stream"] = json!(true);
    let r = post(&proxy.url, &streaming).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1");
    let (content, done, events) = read_events(&r.text().await.unwrap());
    assert_eq!(content, REFUSAL);
    assert!(done);
    assert!(
        events.last().unwrap()["xsafe"]["followup_rejected"]
            .as_str()
            .unwrap()
            .contains(TOO_LONG)
    );

    let metrics = metrics_of(&proxy).await;
    for line in [
        "xsafe_proxy_requests_total{status=\"200\"} 2\n",
        "xsafe_proxy_errors_total{kind=\"followup_rejected\"} 2\n",
        "xsafe_proxy_followups_sent_total 2\n",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    proxy.stop().await.unwrap();
    // Logged as every failure is: the client and the time taken.
    let log = logs.text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("the upstream refused a follow-up"))
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    for line in lines {
        assert!(line.contains(TOO_LONG), "{line}");
        for field in [
            "client=test ",
            "status=200 ",
            "code=\"followup_rejected\" ",
            "ms=",
        ] {
            assert!(line.contains(field), "{field} in {line}");
        }
    }
}

/// The proxy holds at most `max_connections` connections. With the cap
/// taken by clients that send nothing (each may stay for the header
/// timeout), the next client is not accepted, let alone served, until one
/// of them closes; then it is. Reaching the cap is logged once, not for
/// every client that waits, and the proxy answers as before once the idle
/// clients are gone.
#[tokio::test]
async fn at_the_connection_cap_the_next_client_waits_until_a_connection_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    const CAP: usize = 4;
    const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let logs = Logs::capture();
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let mut o = options(&upstream);
    o.max_connections = std::num::NonZeroUsize::new(CAP);
    let proxy = start("baseline", o).await;
    let addr = proxy.url.trim_start_matches("http://").to_string();
    // Connected in turn, so the listen queue hands them to the proxy in
    // this order: the idle ones first.
    let mut idle = Vec::new();
    for _ in 0..CAP {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut waiting = TcpStream::connect(&addr).await.unwrap();
    waiting.write_all(HEALTHZ).await.unwrap();
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a client beyond the cap was answered: {early:?}"
    );
    // One idle client leaves: its slot goes to the one waiting.
    drop(idle.pop());
    let n = tokio::time::timeout(Duration::from_secs(10), waiting.read(&mut buf))
        .await
        .expect("served once a connection closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // At the cap again (the served client keeps its connection): the next
    // one waits too, and that is not logged again.
    let mut next = TcpStream::connect(&addr).await.unwrap();
    next.write_all(HEALTHZ).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(300), next.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a client beyond the cap was answered: {early:?}"
    );
    drop(waiting);
    let n = tokio::time::timeout(Duration::from_secs(10), next.read(&mut buf))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    // The idle clients gone, requests are answered as before.
    drop(idle);
    drop(next);
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], ANSWER);
    proxy.stop().await.unwrap();
    let log = logs.text();
    assert_eq!(
        log.matches("holding as many connections as the cap allows")
            .count(),
        1,
        "{log}"
    );
    assert!(log.contains(&format!("max_connections={CAP}")), "{log}");
}

/// An upstream on 127.0.0.1 that answers every request with a 200 event
/// stream made of `pieces`, each written as its own chunk after a pause,
/// then ends the body properly and closes the connection: a clean end,
/// whatever the pieces hold.
async fn chunked_stream_upstream(pieces: &'static [&'static str]) -> String {
    stream_upstream(pieces, true).await
}

/// [`chunked_stream_upstream`], but when `end` is false the body is never
/// ended: after the pieces the connection stays open and silent.
async fn stream_upstream(pieces: &'static [&'static str], end: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                // The request's head, then as much body as it declares.
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    let n = socket.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the request ended in its head");
                    request.extend_from_slice(&buf[..n]);
                };
                let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                while request.len() < head_end + length {
                    let n = socket.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the request ended in its body");
                    request.extend_from_slice(&buf[..n]);
                }
                socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                          transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
                    )
                    .await
                    .unwrap();
                for piece in pieces {
                    let chunk = format!("{:x}\r\n{piece}\r\n", piece.len());
                    socket.write_all(chunk.as_bytes()).await.unwrap();
                    socket.flush().await.unwrap();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if !end {
                    // Silent until the client goes away.
                    let _ = socket.read(&mut buf).await;
                    return;
                }
                socket.write_all(b"0\r\n\r\n").await.unwrap();
                socket.shutdown().await.unwrap();
            });
        }
    });
    url
}

const FIRST_EVENT: &str = "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\
    \"delta\":{\"role\":\"assistant\",\"content\":\"Sure\"},\"finish_reason\":null}]}\n\n";
const SECOND_EVENT: &str = "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\
    \"delta\":{\"content\":\", here\"},\"finish_reason\":null}]}\n\n";

/// A streaming request for `PROMPT`.
static STREAMED: std::sync::LazyLock<Value> = std::sync::LazyLock::new(
    || json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": PROMPT}]}),
);

/// A proxy without client keys' options for the upstream at `url`.
fn options_for(url: String) -> ProxyOptions {
    let mut o = ProxyOptions::new(url);
    o.allow_anonymous = true;
    o
}

/// A stream the upstream ends cleanly (its chunked body complete, the
/// connection closed normally) without `data: [DONE]` was cut short: the
/// client gets the events that came and then an error, not a body that
/// looks whole, and it is counted as `upstream_stream` and logged.
#[tokio::test]
async fn a_stream_that_ends_without_done_is_an_error_for_the_client_and_counted() {
    use futures::StreamExt;
    const PIECES: &[&str] = &[FIRST_EVENT, SECOND_EVENT];
    let logs = Logs::capture();
    let url = chunked_stream_upstream(PIECES).await;
    let proxy = start("contextual", options_for(url)).await;
    let r = post(&proxy.url, &STREAMED).await;
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let mut received = Vec::new();
    let mut error = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => received.extend_from_slice(&bytes),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert_eq!(String::from_utf8_lossy(&received), PIECES.concat());
    assert!(
        error.is_some(),
        "the client's stream ended as if it were whole"
    );
    let metrics = metrics_of(&proxy).await;
    for line in [
        "xsafe_proxy_requests_total{status=\"200\"} 1\n",
        "xsafe_proxy_errors_total{kind=\"upstream_stream\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    proxy.stop().await.unwrap();
    let log = logs.text();
    assert!(
        log.contains("the upstream ended the stream in the middle of an answer"),
        "{log}"
    );
}

/// After `[DONE]` the client's body ends, although the upstream keeps the
/// stream open and silent: the answer is whole, nothing is counted as
/// failed (the client waited for the upstream's stall timeout, then got an
/// error for a complete answer).
#[tokio::test]
async fn the_body_ends_at_done_whatever_the_upstream_does_after() {
    const PIECES: &[&str] = &[FIRST_EVENT, SECOND_EVENT, "data: [DONE]\n\n"];
    let url = stream_upstream(PIECES, false).await;
    let mut o = options_for(url);
    o.timeout = Duration::from_secs(2);
    let proxy = start("contextual", o).await;
    let r = post(&proxy.url, &STREAMED).await;
    assert_eq!(r.status(), 200);
    let body = r.text().await.expect("the body ends at [DONE], whole");
    assert_eq!(body, PIECES.concat());
    let metrics = metrics_of(&proxy).await;
    assert!(
        !metrics.contains("kind=\"upstream_stream\""),
        "a whole answer counted as failed:\n{metrics}"
    );
    proxy.stop().await.unwrap();
}

/// A server that never sends `[DONE]` (some do not) but ends after a
/// choice's finish reason sent a whole answer: the client gets it with the
/// `[DONE]` OpenAI's clients expect, and nothing is counted as failed. One
/// whose `[DONE]` line comes without its blank line, the stream then left
/// open, gets that line added, so the client does not drop the event.
#[tokio::test]
async fn streams_without_done_or_its_blank_line_end_whole() {
    const LAST_EVENT: &str = "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\
        \"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    const FINISHED: &[&str] = &[FIRST_EVENT, LAST_EVENT];
    const BARE_DONE: &[&str] = &[FIRST_EVENT, "data: [DONE]\n"];
    for (pieces, end, added) in [
        (FINISHED, true, "\ndata: [DONE]\n\n"),
        (BARE_DONE, false, "\n"),
    ] {
        let url = stream_upstream(pieces, end).await;
        let mut o = options_for(url);
        o.timeout = Duration::from_secs(2);
        let proxy = start("contextual", o).await;
        let r = post(&proxy.url, &STREAMED).await;
        assert_eq!(r.status(), 200);
        let body = r.text().await.expect("a whole body");
        assert_eq!(body, format!("{}{added}", pieces.concat()));
        let metrics = metrics_of(&proxy).await;
        assert!(
            !metrics.contains("kind=\"upstream_stream\""),
            "{pieces:?} counted as failed:\n{metrics}"
        );
        proxy.stop().await.unwrap();
    }
}

/// A stream that does end with `[DONE]`, the event split across two
/// writes (`data: [DO` then `NE]`) or written without the space, is
/// passed on whole and not counted as a failure.
#[tokio::test]
async fn a_done_split_across_writes_ends_the_stream_normally() {
    const SPLIT: &[&str] = &[FIRST_EVENT, SECOND_EVENT, "data: [DO", "NE]\n\n"];
    const NO_SPACE: &[&str] = &[FIRST_EVENT, "data:[DONE]\n\n"];
    for pieces in [SPLIT, NO_SPACE] {
        let url = chunked_stream_upstream(pieces).await;
        let proxy = start("contextual", options_for(url)).await;
        let r = post(&proxy.url, &STREAMED).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), pieces.concat());
        let metrics = metrics_of(&proxy).await;
        assert!(
            !metrics.contains("kind=\"upstream_stream\""),
            "{pieces:?} counted as failed:\n{metrics}"
        );
        assert!(
            metrics.contains("xsafe_proxy_requests_total{status=\"200\"} 1\n"),
            "{metrics}"
        );
        proxy.stop().await.unwrap();
    }
}

/// An upstream that answers `n` choices, as OpenAI does: choice 0 is
/// `first`, the others `rest`, and every choice of a follow-up (a second
/// user turn) complies. An `n` that is no count of choices gets the 400
/// OpenAI answers; a request with `stream` gets the choices as events.
fn choices_upstream(first: &'static str, rest: &'static str) -> impl Fn(&Request) -> Reply {
    move |r| {
        let body = r.json();
        let n = match &body["n"] {
            Value::Null => 1,
            v => match v.as_u64() {
                Some(n) if n >= 1 => n,
                _ => {
                    return Reply::status(
                        400,
                        json!({"error": {"message": format!("{v} is not a valid value for `n`"),
                            "type": "invalid_request_error", "param": "n",
                            "code": "invalid_value"}})
                        .to_string(),
                    );
                }
            },
        };
        let followed_up = user_turns(r) > 1;
        let content = |i: u64| match i {
            _ if followed_up => ANSWER,
            0 => first,
            _ => rest,
        };
        if body["stream"] == true {
            let mut events = String::new();
            for i in 0..n {
                for (delta, finish) in [
                    (
                        json!({"role": "assistant", "content": content(i)}),
                        Value::Null,
                    ),
                    (json!({}), json!("stop")),
                ] {
                    events.push_str(&format!(
                        "data: {}\n\n",
                        json!({"id": "c", "object": "chat.completion.chunk", "created": 0,
                            "model": "m",
                            "choices": [{"index": i, "delta": delta, "finish_reason": finish}]})
                    ));
                }
            }
            events.push_str("data: [DONE]\n\n");
            return Reply::Full {
                status: 200,
                headers: vec![("content-type".into(), "text/event-stream".into())],
                body: events.into_bytes(),
            };
        }
        let choices: Vec<Value> = (0..n)
            .map(|i| {
                json!({"index": i, "message": {"role": "assistant", "content": content(i)},
                    "finish_reason": "stop"})
            })
            .collect();
        Reply::json(
            &json!({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
            "choices": choices,
            "usage": {"prompt_tokens": 10, "completion_tokens": 5 * n, "total_tokens": 10 + 5 * n}}),
        )
    }
}

/// The content of each choice of an event stream, by index.
fn choice_contents(events: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        for c in e["choices"].as_array().into_iter().flatten() {
            let i = c["index"].as_u64().unwrap() as usize;
            if out.len() <= i {
                out.resize(i + 1, String::new());
            }
            if let Some(text) = c["delta"]["content"].as_str() {
                out[i].push_str(text);
            }
        }
    }
    out
}

/// An interactive strategy judges one answer and follows up on it: with
/// `n` > 1 the other choices would reach the client unjudged (a refusal in
/// choice 1 unmitigated while the `xsafe` field says the model complied),
/// or a compliant choice 1 would be thrown away for answers to a follow-up
/// on choice 0's refusal. So such a request is refused with the 400 an
/// OpenAI SDK raises as `BadRequestError` (param `n`), streaming or not,
/// before the upstream is asked; `n` = 1, absent or `null` is answered as
/// ever, and goes upstream as it came.
#[tokio::test]
async fn interactive_refuses_more_than_one_choice_before_asking_the_upstream() {
    let ask = |n: Option<Value>, stream: bool| {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
        if let Some(n) = n {
            body["n"] = n;
        }
        if stream {
            body["stream"] = json!(true);
        }
        body
    };
    // Choice 0 complies and choice 1 refuses, and the other way round.
    for (first, rest) in [(ANSWER, REFUSAL), (REFUSAL, ANSWER)] {
        let upstream = TestServer::start(choices_upstream(first, rest));
        let proxy = start("interactive", options(&upstream)).await;
        for stream in [false, true] {
            for n in [2, 3] {
                let r = post(&proxy.url, &ask(Some(json!(n)), stream)).await;
                let (status, err) = error_of(r).await;
                assert_eq!(status, 400, "n {n}, stream {stream}: {err}");
                assert_eq!(err["error"]["type"], "invalid_request_error");
                assert_eq!(err["error"]["param"], "n");
                assert_eq!(err["error"]["code"], "unsupported_value");
                let message = err["error"]["message"].as_str().unwrap();
                for part in [
                    "`interactive`",
                    "is interactive",
                    "one answer at a time",
                    "n = 1",
                    &format!("send {n} requests"),
                ] {
                    assert!(message.contains(part), "{part:?} not in {message}");
                }
            }
            // What is no count of choices is refused too: a lenient
            // upstream might read `"2"` or `2.0` as two.
            for n in [
                json!(0),
                json!(-1),
                json!(1.5),
                json!(2.0),
                json!("2"),
                json!(true),
                json!([1]),
            ] {
                let r = post(&proxy.url, &ask(Some(n.clone()), stream)).await;
                let (status, err) = error_of(r).await;
                assert_eq!(status, 400, "n {n}, stream {stream}: {err}");
                assert_eq!(err["error"]["param"], "n", "{err}");
                assert_eq!(err["error"]["code"], "invalid_request", "{err}");
                let message = err["error"]["message"].as_str().unwrap();
                assert!(message.contains("positive integer"), "{message}");
                assert!(message.contains("is interactive"), "{message}");
            }
        }
        assert_eq!(upstream.request_count(), 0, "the upstream was asked");
        let metrics = metrics_of(&proxy).await;
        for line in [
            "xsafe_proxy_requests_total{status=\"400\"} 18\n",
            "xsafe_proxy_errors_total{kind=\"unsupported_value\"} 4\n",
            "xsafe_proxy_errors_total{kind=\"invalid_request\"} 14\n",
            "xsafe_proxy_refusals_detected_total 0\n",
        ] {
            assert!(metrics.contains(line), "{line} missing from\n{metrics}");
        }

        // One choice, however it is asked for, is judged and followed up as
        // before; `n` goes upstream as the client sent it.
        for n in [None, Some(Value::Null), Some(json!(1))] {
            for stream in [false, true] {
                let before = upstream.request_count();
                let r = post(&proxy.url, &ask(n.clone(), stream)).await;
                assert_eq!(r.status(), 200, "n {n:?}, stream {stream}");
                let followups = usize::from(first == REFUSAL);
                assert_eq!(
                    r.headers()[FOLLOWUPS_HEADER],
                    followups.to_string().as_str()
                );
                let (contents, ext) = if stream {
                    let (_, done, events) = read_events(&r.text().await.unwrap());
                    assert!(done);
                    let ext = events.last().unwrap()["xsafe"].clone();
                    (choice_contents(&events), ext)
                } else {
                    let answer: Value = r.json().await.unwrap();
                    let contents = answer["choices"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["message"]["content"].as_str().unwrap().to_string())
                        .collect();
                    (contents, answer["xsafe"].clone())
                };
                assert_eq!(contents, [ANSWER], "n {n:?}, stream {stream}");
                assert_eq!(ext["followups"], followups);
                assert_eq!(ext["complied_at_turn"], followups + 1);
                let sent = upstream.requests();
                assert_eq!(sent.len() - before, followups + 1);
                for r in &sent[before..] {
                    assert_eq!(r.json().get("n"), n.as_ref(), "n {n:?}");
                }
            }
        }
        proxy.stop().await.unwrap();
    }
}

/// A conversation an interactive strategy does not follow up (its last
/// message is not the user's) is passed through like any other strategy's,
/// `n` included; so is every request of a strategy that is not
/// interactive, streaming or not, and an `n` the upstream refuses reaches
/// the client as the upstream's 400, with its `code` and `param`.
#[tokio::test]
async fn n_passes_through_where_nothing_is_followed_up() {
    let upstream = TestServer::start(choices_upstream(ANSWER, REFUSAL));
    let interactive = start("interactive", options(&upstream)).await;
    let prefilled = json!({"model": "m", "n": 2, "messages": [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": "Sure:"}
    ]});
    let r = post(&interactive.url, &prefilled).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["choices"].as_array().unwrap().len(), 2);
    assert_eq!(answer["choices"][1]["message"]["content"], REFUSAL);
    assert_eq!(upstream.requests()[0].json()["n"], 2);
    interactive.stop().await.unwrap();

    let upstream = TestServer::start(choices_upstream(ANSWER, REFUSAL));
    let contextual = start("contextual", options(&upstream)).await;
    let ask = json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": PROMPT}]});
    let r = post(&contextual.url, &ask).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "0");
    let answer: Value = r.json().await.unwrap();
    let contents: Vec<&str> = answer["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, [ANSWER, REFUSAL]);

    let mut streaming = ask.clone();
    streaming["stream"] = json!(true);
    let r = post(&contextual.url, &streaming).await;
    assert_eq!(r.status(), 200);
    let (_, done, events) = read_events(&r.text().await.unwrap());
    assert!(done);
    assert_eq!(choice_contents(&events), [ANSWER, REFUSAL]);

    let mut zero = ask.clone();
    zero["n"] = json!(0);
    let (status, err) = error_of(post(&contextual.url, &zero).await).await;
    assert_eq!(status, 400);
    // The upstream's own code and field at fault reach the client.
    assert_eq!(err["error"]["code"], "invalid_value");
    assert_eq!(err["error"]["param"], "n");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a valid value for `n`"),
        "{err}"
    );
    // The proxy's metric still counts it as the upstream's refusal.
    assert_eq!(
        metric(
            &contextual,
            "xsafe_proxy_errors_total{kind=\"upstream_rejected\"}"
        )
        .await,
        "1"
    );

    let sent = upstream.requests();
    assert_eq!(sent.len(), 3);
    for (r, n) in sent.iter().zip([2, 2, 0]) {
        assert_eq!(r.json()["n"], n);
    }
    contextual.stop().await.unwrap();
}

/// The header the OpenAI SDKs obey over their own retry rules.
fn should_retry(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("x-should-retry")
        .map(|v| v.to_str().unwrap().to_string())
}

/// An answer the proxy gives after retrying the upstream itself, or after
/// spending the request's time, tells the client not to retry
/// (`x-should-retry: false`): an SDK's own retries (two by default) would
/// send the upstream three times the proxy's retries and make the client
/// wait up to three times the timeout, for the same answer. So does a 502
/// for the upstream refusing the proxy's key, which only the operator can
/// fix. Failures the proxy did not retry, and errors about the client's
/// request, leave the decision to the client.
#[tokio::test]
async fn answers_after_the_proxys_own_retries_tell_the_client_not_to_retry() {
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});

    // Always 429: three upstream requests, then a 429 the client should
    // not send again.
    let upstream = TestServer::start(|_| Reply::rate_limited(Some(0)));
    let proxy = start("contextual", options(&upstream)).await;
    let r = post(&proxy.url, &ask).await;
    assert_eq!(should_retry(&r).as_deref(), Some("false"));
    assert_eq!(error_of(r).await.0, 429);
    assert_eq!(upstream.request_count(), 3);
    proxy.stop().await.unwrap();

    // Always 503, streaming or not, the first request of an interactive
    // strategy too: a 502 after the retries. (On a follow-up the client
    // gets the reply before it: see
    // `a_follow_up_the_upstream_fails_answers_with_the_reply_before_it`.)
    let upstream = TestServer::start(|r| {
        if r.last_user_message() == "down" {
            Reply::status(503, r#"{"error":{"message":"overloaded"}}"#)
        } else {
            Reply::chat(REFUSAL)
        }
    });
    for strategy in ["contextual", "interactive"] {
        let proxy = start(strategy, options(&upstream)).await;
        for stream in [false, true] {
            let body = json!({"model": "m", "stream": stream,
                "messages": [{"role": "user", "content": "down"}]});
            let r = post(&proxy.url, &body).await;
            assert_eq!(
                should_retry(&r).as_deref(),
                Some("false"),
                "{strategy}, stream {stream}"
            );
            assert_eq!(error_of(r).await.0, 502, "{strategy}, stream {stream}");
        }
        proxy.stop().await.unwrap();
    }

    // No upstream at all, retried once.
    let gone = TestServer::start(|_| Reply::chat(ANSWER));
    let mut o = options(&gone);
    drop(gone);
    o.upstream_retries = 1;
    let proxy = start("contextual", o).await;
    let r = post(&proxy.url, &ask).await;
    assert_eq!(should_retry(&r).as_deref(), Some("false"));
    assert_eq!(error_of(r).await.0, 502);
    proxy.stop().await.unwrap();

    // The request's time spent: a 504, retried or not; and the upstream
    // refusing the proxy's key.
    let upstream = TestServer::start(|r| match r.last_user_message().as_str() {
        "slow" => Reply::chat(ANSWER).slow(Duration::from_secs(2)),
        "key" => Reply::status(401, r#"{"error":{"message":"invalid api key"}}"#),
        "bad" => Reply::status(400, r#"{"error":{"message":"bad parameter"}}"#),
        "conflict" => Reply::status(409, r#"{"error":{"message":"try again"}}"#),
        "error as 200" => Reply::json(&json!({"error": {"message": "hidden error"}})),
        "once" => Reply::status(503, r#"{"error":{"message":"overloaded"}}"#),
        _ => Reply::rate_limited(Some(30)),
    });
    let mut o = options(&upstream);
    o.timeout = Duration::from_millis(400);
    o.upstream_retries = 0;
    let proxy = start("contextual", o).await;
    let say = |text: &str| json!({"model": "m", "messages": [{"role": "user", "content": text}]});
    for (text, status, retry) in [
        ("slow", 504, Some("false")),
        ("key", 502, Some("false")),
        // Not retried by the proxy: the client's to decide, with what the
        // upstream asked (a 429's wait the proxy had no time for is one
        // the client can wait).
        ("once", 502, None),
        ("error as 200", 502, None),
        ("wait", 429, None),
        ("conflict", 409, None),
        // About the client's request: sent again, it fails the same way,
        // and no SDK retries it.
        ("bad", 400, None),
    ] {
        let r = post(&proxy.url, &say(text)).await;
        assert_eq!(should_retry(&r).as_deref(), retry, "{text}");
        assert_eq!(error_of(r).await.0, status, "{text}");
    }
    let r = client()
        .post(format!("{}/v1/chat/completions", proxy.url))
        .bearer_auth(KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(should_retry(&r), None);
    assert_eq!(error_of(r).await.0, 400);
    let r = client()
        .post(format!("{}/v1/chat/completions", proxy.url))
        .json(&say("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(should_retry(&r), None);
    assert_eq!(error_of(r).await.0, 401);
    // A success says nothing.
    let ok = TestServer::start(|_| Reply::chat(ANSWER));
    let fine = start("contextual", options(&ok)).await;
    let r = post(&fine.url, &ask).await;
    assert_eq!(r.status(), 200);
    assert_eq!(should_retry(&r), None);
    fine.stop().await.unwrap();
    proxy.stop().await.unwrap();

    // A wait that does not fit after a retry: the proxy did retry.
    let upstream = TestServer::start(failing_then(1, || {
        Reply::status(503, r#"{"error":{"message":"overloaded"}}"#)
    }));
    let mut o = options(&upstream);
    o.timeout = Duration::from_secs(5);
    let proxy = start("contextual", o).await;
    let r = post(&proxy.url, &ask).await;
    assert_eq!(r.status(), 429);
    assert_eq!(should_retry(&r).as_deref(), Some("false"));
    assert_eq!(upstream.request_count(), 2);
    proxy.stop().await.unwrap();
}

/// Answers `failures` times with `failure`, then with a 429 asking for
/// 30 s.
fn failing_then(failures: usize, failure: fn() -> Reply) -> impl Fn(&Request) -> Reply {
    failing_before(failures, failure, || Reply::rate_limited(Some(30)))
}

/// `reply` with the headers an OpenAI upstream sends beside its answer:
/// the request id `id` and rate limits the client may see, and others
/// (its organization, a cookie, a hop-by-hop header) it should not.
fn with_upstream_headers(reply: Reply, id: &str) -> Reply {
    let Reply::Full {
        status,
        mut headers,
        body,
    } = reply
    else {
        unreachable!()
    };
    for (name, value) in [
        ("x-request-id", id),
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-remaining-tokens", "29000"),
        ("x-ratelimit-reset-requests", "120ms"),
        ("openai-organization", "org-operator"),
        ("set-cookie", "__cf_bm=upstream; path=/"),
        ("keep-alive", "timeout=5"),
        ("connection", "keep-alive, x-ratelimit-private"),
        ("x-ratelimit-private", "hop"),
    ] {
        headers.push((name.into(), value.into()));
    }
    Reply::Full {
        status,
        headers,
        body,
    }
}

/// Checks that `r` carries the upstream's request id `id` and rate limits
/// and none of its other headers.
fn assert_upstream_headers(r: &reqwest::Response, id: &str, what: &str) {
    let h = r.headers();
    let get = |name: &str| h.get(name).map(|v| v.to_str().unwrap());
    assert_eq!(get("x-request-id"), Some(id), "{what}: {h:?}");
    assert_eq!(get("x-ratelimit-limit-requests"), Some("500"), "{what}");
    assert_eq!(get("x-ratelimit-remaining-tokens"), Some("29000"), "{what}");
    assert_eq!(get("x-ratelimit-reset-requests"), Some("120ms"), "{what}");
    for name in [
        "openai-organization",
        "set-cookie",
        "keep-alive",
        "x-ratelimit-private",
    ] {
        assert_eq!(get(name), None, "{what}: {name} passed on");
    }
    assert_ne!(get("connection"), Some("keep-alive, x-ratelimit-private"));
}

/// The upstream's `x-request-id` (the SDK's `_request_id`) and its
/// `x-ratelimit-*` headers reach the client on a success, streamed or
/// not; an answer an interactive strategy made of several upstream
/// requests carries those of the last one.
#[tokio::test]
async fn the_upstreams_request_id_and_rate_limits_reach_the_client() {
    let upstream = TestServer::start(|r| {
        if r.method == "GET" {
            let list = json!({"object": "list", "data": [{"id": "m", "object": "model"}]});
            return with_upstream_headers(Reply::json(&list), "req_models");
        }
        let turn = user_turns(r);
        let id = format!("req_{turn}");
        if r.json()["stream"] == true && r.json()["model"] == "events" {
            return with_upstream_headers(
                Reply::Full {
                    status: 200,
                    headers: vec![("content-type".into(), "text/event-stream".into())],
                    body: sse_body().into_bytes(),
                },
                &id,
            );
        }
        with_upstream_headers(refuse_first(r), &id)
    });
    let contextual = start("contextual", options(&upstream)).await;
    let interactive = start("interactive", options(&upstream)).await;
    for (proxy, strategy, model, stream, id) in [
        (&contextual, "contextual", "m", false, "req_1"),
        (&contextual, "contextual", "events", true, "req_1"),
        // A stream the upstream answered with one JSON completion.
        (&contextual, "contextual", "m", true, "req_1"),
        // The refusal, then the follow-up's answer: the latter's.
        (&interactive, "interactive", "m", false, "req_2"),
        (&interactive, "interactive", "m", true, "req_2"),
    ] {
        let what = format!("{strategy}, {model}, stream {stream}");
        let body = json!({"model": model, "stream": stream,
            "messages": [{"role": "user", "content": PROMPT}]});
        let r = post(&proxy.url, &body).await;
        assert_eq!(r.status(), 200, "{what}");
        assert_upstream_headers(&r, id, &what);
        // The proxy's own headers are still its own.
        let expected_type = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(expected_type),
            "{what}"
        );
        let length = r
            .headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap().parse::<usize>().unwrap());
        let text = r.text().await.unwrap();
        if let Some(length) = length {
            assert_eq!(length, text.len(), "{what}");
        }
    }
    let r = client()
        .get(format!("{}/v1/models", contextual.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_upstream_headers(&r, "req_models", "models");
    contextual.stop().await.unwrap();
    interactive.stop().await.unwrap();
}

/// `GET /v1/models/{id}` (an SDK's `models.retrieve`) answers the model's
/// entry in the upstream's list, as the upstream wrote it, ids with a
/// slash included; an id not in the list is OpenAI's 404.
#[tokio::test]
async fn a_model_is_answered_by_its_id() {
    let upstream = TestServer::start(|r| {
        assert_eq!(r.path, "/v1/models");
        Reply::json(&json!({"object": "list", "data": [
            {"id": "m", "object": "model", "created": 1, "owned_by": "me"},
            {"id": "org/model-7b", "object": "model", "created": 2, "owned_by": "org",
                "max_model_len": 4096}
        ]}))
    });
    let proxy = start("baseline", options(&upstream)).await;
    let get = |path: &str| {
        client()
            .get(format!("{}/v1/models/{path}", proxy.url))
            .bearer_auth(KEY)
            .send()
    };
    let r = get("m").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"id": "m", "object": "model", "created": 1, "owned_by": "me"})
    );
    for path in ["org/model-7b", "org%2Fmodel-7b"] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["id"], "org/model-7b", "{path}");
        assert_eq!(v["max_model_len"], 4096, "{path}");
    }
    let (status, err) = error_of(get("gpt-nope").await.unwrap()).await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["type"], "invalid_request_error");
    assert_eq!(err["error"]["code"], "model_not_found");
    assert_eq!(err["error"]["param"], "model");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gpt-nope"),
        "{err}"
    );
    let r = client()
        .get(format!("{}/v1/models/m", proxy.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);
    assert_eq!(upstream.request_count(), 4);
    proxy.stop().await.unwrap();

    // An upstream whose list is not one is a 502, as for a broken answer.
    let broken = TestServer::start(|_| Reply::json(&json!({"models": ["m"]})));
    let proxy = start("baseline", options(&broken)).await;
    let r = client()
        .get(format!("{}/v1/models/m", proxy.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 502);
    proxy.stop().await.unwrap();
}

/// `reply` (a chat completion) with token log probabilities for its
/// choice, as an upstream asked for `logprobs` gives them.
fn with_logprobs(reply: Reply) -> Reply {
    let Reply::Full { body, .. } = reply else {
        unreachable!()
    };
    let mut v: Value = serde_json::from_slice(&body).unwrap();
    let token = v["choices"][0]["message"]["content"].as_str().unwrap()[..2].to_string();
    v["choices"][0]["logprobs"] = logprobs_of(&token);
    Reply::json(&v)
}

fn logprobs_of(token: &str) -> Value {
    json!({"content": [{"token": token, "logprob": -0.25, "bytes": token.as_bytes(),
        "top_logprobs": []}], "refusal": null})
}

/// An interactive strategy's answer streamed as events keeps the choice's
/// `logprobs`, as the answer sent whole does: those of the reply the
/// client gets.
#[tokio::test]
async fn interactive_events_keep_the_logprobs() {
    let upstream = TestServer::start(|r| with_logprobs(refuse_first(r)));
    let proxy = start("interactive", options(&upstream)).await;
    for stream in [false, true] {
        let body = json!({"model": "m", "stream": stream, "logprobs": true,
            "messages": [{"role": "user", "content": PROMPT}]});
        let r = post(&proxy.url, &body).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1");
        let expected = logprobs_of(&ANSWER[..2]);
        if stream {
            let (content, done, events) = read_events(&r.text().await.unwrap());
            assert_eq!(content, ANSWER);
            assert!(done);
            let with: Vec<&Value> = events
                .iter()
                .filter_map(|e| e["choices"][0].get("logprobs"))
                .filter(|l| !l.is_null())
                .collect();
            assert_eq!(with, [&expected], "{events:?}");
        } else {
            let answer: Value = r.json().await.unwrap();
            assert_eq!(answer["choices"][0]["logprobs"], expected);
        }
    }
    for r in upstream.requests() {
        assert_eq!(r.json()["logprobs"], true);
    }
    proxy.stop().await.unwrap();
}

/// A completion with no choices, as some upstreams answer a prompt their
/// filter blocked (with HTTP 200).
fn no_choices() -> Value {
    json!({"id": "chatcmpl-empty", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [], "prompt_filter_results": [{"prompt_index": 0, "blocked": true}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 0, "total_tokens": 7}})
}

/// An upstream answer with `"choices": []` is passed through by an
/// interactive strategy as by the others: there is nothing to judge or to
/// follow up, and no reason to turn the upstream's answer into a 502. A
/// follow-up answered so gets the client the reply before it, as a
/// follow-up the upstream refuses does.
#[tokio::test]
async fn interactive_passes_an_answer_without_choices_through() {
    let upstream = TestServer::start(|_| Reply::json(&no_choices()));
    let contextual = start("contextual", options(&upstream)).await;
    let interactive = start("interactive", options(&upstream)).await;
    for stream in [false, true] {
        let body = json!({"model": "m", "stream": stream,
            "messages": [{"role": "user", "content": PROMPT}]});
        for (proxy, strategy) in [(&contextual, "contextual"), (&interactive, "interactive")] {
            let r = post(&proxy.url, &body).await;
            assert_eq!(r.status(), 200, "{strategy}, stream {stream}");
            assert_eq!(r.headers()[FOLLOWUPS_HEADER], "0");
            if stream {
                let (content, done, events) = read_events(&r.text().await.unwrap());
                assert_eq!(content, "");
                assert!(done);
                assert!(
                    events
                        .iter()
                        .all(|e| e["choices"].as_array().is_some_and(Vec::is_empty)),
                    "{events:?}"
                );
                assert_eq!(events.last().unwrap()["xsafe"]["strategy"], strategy);
                assert_eq!(
                    events[0]["prompt_filter_results"],
                    no_choices()["prompt_filter_results"],
                    "{strategy}"
                );
            } else {
                let answer: Value = r.json().await.unwrap();
                assert_eq!(answer["choices"], json!([]), "{strategy}");
                assert_eq!(
                    answer["prompt_filter_results"],
                    no_choices()["prompt_filter_results"]
                );
                assert_eq!(answer["xsafe"]["followups"], 0);
                if strategy == "interactive" {
                    assert_eq!(answer["xsafe"]["verdict"], Value::Null);
                    assert_eq!(answer["xsafe"]["usage"]["prompt_tokens"], 7);
                }
            }
        }
    }
    // One upstream request each: nothing was followed up.
    assert_eq!(upstream.request_count(), 4);
    assert_eq!(
        metric(&interactive, "xsafe_proxy_refusals_detected_total").await,
        "0"
    );
    contextual.stop().await.unwrap();
    interactive.stop().await.unwrap();

    // A follow-up answered with no choices.
    let upstream = TestServer::start(|r| {
        if user_turns(r) > 1 {
            Reply::json(&no_choices())
        } else {
            Reply::chat(REFUSAL)
        }
    });
    let proxy = start("interactive", options(&upstream)).await;
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], REFUSAL);
    assert!(
        answer["xsafe"]["followup_rejected"]
            .as_str()
            .unwrap()
            .contains("no choices"),
        "{answer}"
    );
    assert_eq!(answer["xsafe"]["usage"]["prompt_tokens"], 17);
    assert_eq!(upstream.request_count(), 2);
    assert_eq!(
        metric(
            &proxy,
            "xsafe_proxy_errors_total{kind=\"followup_rejected\"}"
        )
        .await,
        "1"
    );
    proxy.stop().await.unwrap();
}

/// An address on 127.0.0.1 where no connection is ever made, as at an
/// upstream host that is down or behind a firewall that drops packets: a
/// listener with a backlog of none and a connection queued on it that is
/// never accepted. Linux drops every further handshake's SYN, so a client
/// waits for its connect timeout. Keep it while the address is used.
struct Unconnectable {
    /// The address as an upstream's base URL.
    url: String,
    _listener: tokio::net::TcpListener,
    _queued: Vec<tokio::net::TcpStream>,
}

/// An [`Unconnectable`] address; `None` where the system completes the
/// handshake all the same.
async fn unconnectable() -> Option<Unconnectable> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    for _ in 0..8 {
        let connect = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(Duration::from_millis(500), connect).await {
            Ok(Ok(stream)) => queued.push(stream),
            Ok(Err(_)) => return None,
            Err(_) => {
                return Some(Unconnectable {
                    url: format!("http://{addr}/v1"),
                    _listener: listener,
                    _queued: queued,
                });
            }
        }
    }
    None
}

/// A connection the upstream does not take within the proxy's connect
/// timeout (10 s, or the request's time when that is shorter) fails as a
/// refused one does: it is sent again while the request has time for it,
/// and then answered 502 "cannot reach", which the client may retry. It is
/// no 504 10 s into an 11 s timeout, telling the client that the request's
/// time was spent (and not to retry) with a second of it left. A connect
/// timeout that does end the request's time is the 504.
#[tokio::test]
async fn a_connection_not_made_in_time_is_retried_and_not_a_timeout() {
    let Some(down) = unconnectable().await else {
        // Linux drops a handshake to a full listen queue; elsewhere the
        // test has no address that never connects.
        if cfg!(target_os = "linux") {
            panic!("a connection to a full listen queue was made");
        }
        eprintln!("skipped: this system completes every handshake on 127.0.0.1");
        return;
    };
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    let proxy = |retries: u32, timeout: Duration| {
        let mut o = options_for(down.url.clone());
        o.upstream_retries = retries;
        o.timeout = timeout;
        o.connect_timeout = Duration::from_secs(1);
        start("contextual", o)
    };
    // 1.5 s: the connect timeout is 1 s, and half a second is left after it.
    let once = proxy(0, Duration::from_millis(1500)).await;
    let twice = proxy(1, Duration::from_millis(1500)).await;
    let short = proxy(2, Duration::from_millis(500)).await;
    let timed = |proxy: &Running| {
        let url = proxy.url.clone();
        let ask = ask.clone();
        async move {
            let started = std::time::Instant::now();
            let r = post(&url, &ask).await;
            (started.elapsed(), r)
        }
    };
    let ((once_took, r_once), (twice_took, r_twice), (short_took, r_short)) =
        tokio::join!(timed(&once), timed(&twice), timed(&short));

    // Not retried: a 502 at the connect timeout, the client's to retry.
    assert_eq!(should_retry(&r_once), None);
    let (status, err) = error_of(r_once).await;
    assert_eq!(status, 502, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{err}"
    );
    assert!(once_took < Duration::from_millis(1500), "{once_took:?}");
    let metrics = metrics_of(&once).await;
    assert!(
        metrics.contains("xsafe_proxy_upstream_requests_total{outcome=\"connection\"} 1\n"),
        "{metrics}"
    );
    assert!(!metrics.contains("outcome=\"timeout\""), "{metrics}");

    // Retried once: the second attempt runs out the request's time.
    assert_eq!(should_retry(&r_twice).as_deref(), Some("false"));
    assert_eq!(error_of(r_twice).await.0, 504);
    assert!(twice_took >= Duration::from_millis(1500), "{twice_took:?}");
    assert_eq!(
        metric(&twice, "xsafe_proxy_upstream_retries_total").await,
        "1"
    );
    for outcome in ["connection", "timeout"] {
        assert_eq!(
            metric(
                &twice,
                &format!("xsafe_proxy_upstream_requests_total{{outcome=\"{outcome}\"}}")
            )
            .await,
            "1",
            "{outcome}"
        );
    }

    // A connect timeout as long as the request's time: that time is spent.
    assert_eq!(should_retry(&r_short).as_deref(), Some("false"));
    assert_eq!(error_of(r_short).await.0, 504);
    assert!(short_took < Duration::from_secs(3), "{short_took:?}");
    assert_eq!(
        metric(&short, "xsafe_proxy_upstream_retries_total").await,
        "0"
    );
    for proxy in [once, twice, short] {
        proxy.stop().await.unwrap();
    }
}

/// An answer the proxy sent the request again for, and that then fails
/// (its body broken off, or a body that is no completion), came after the
/// proxy's own retries all the same: the client is told not to retry
/// (`x-should-retry: false`), streaming or not, whatever the strategy, and
/// on the model routes; its SDK's retries would repeat the proxy's.
#[tokio::test]
async fn an_answer_that_fails_after_the_proxys_retries_tells_the_client_not_to_retry() {
    fn down() -> Reply {
        Reply::status(503, r#"{"error":{"message":"overloaded"}}"#)
    }
    fn error_as_200() -> Reply {
        Reply::json(&json!({"error": {"message": "hidden error"}}))
    }
    fn broken_off() -> Reply {
        Reply::Truncated(Box::new(Reply::chat(ANSWER)))
    }
    fn not_a_list() -> Reply {
        Reply::json(&json!({"models": ["m"]}))
    }
    for (then, answer) in [
        (error_as_200 as fn() -> Reply, "error as 200"),
        (broken_off, "broken off"),
    ] {
        for strategy in ["contextual", "interactive"] {
            for stream in [false, true] {
                let what = format!("{answer}, {strategy}, stream {stream}");
                let upstream = TestServer::start(failing_before(1, down, then));
                let proxy = start(strategy, options(&upstream)).await;
                let body = json!({"model": "m", "stream": stream,
                    "messages": [{"role": "user", "content": PROMPT}]});
                let r = post(&proxy.url, &body).await;
                assert_eq!(should_retry(&r).as_deref(), Some("false"), "{what}");
                assert_eq!(error_of(r).await.0, 502, "{what}");
                assert_eq!(upstream.request_count(), 2, "{what}");
                proxy.stop().await.unwrap();
            }
        }
    }
    for (path, then) in [
        ("models", broken_off as fn() -> Reply),
        ("models/m", not_a_list),
    ] {
        let upstream = TestServer::start(failing_before(1, down, then));
        let proxy = start("contextual", options(&upstream)).await;
        let r = client()
            .get(format!("{}/v1/{path}", proxy.url))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(should_retry(&r).as_deref(), Some("false"), "{path}");
        assert_eq!(error_of(r).await.0, 502, "{path}");
        assert_eq!(upstream.request_count(), 2, "{path}");
        proxy.stop().await.unwrap();
    }
}

/// The client's answer to an upstream's error status carries the
/// upstream's `x-request-id` (openai-python's `APIStatusError.request_id`,
/// the id to quote to the upstream's provider) and its `x-ratelimit-*`
/// headers (on a 429 a client needs them most, to pace itself), those of
/// the last attempt after retries, and none of its other headers; streamed
/// or not, an interactive strategy's follow-up too.
#[tokio::test]
async fn an_upstream_error_carries_its_request_id_and_rate_limits() {
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let upstream = TestServer::start(move |r| {
        let attempt = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let reply = match r.last_user_message().as_str() {
            _ if user_turns(r) > 1 => Reply::rate_limited(Some(30)),
            "busy" => Reply::rate_limited(Some(30)),
            "bad" => Reply::status(400, r#"{"error":{"message":"bad parameter"}}"#),
            "down" => Reply::status(503, r#"{"error":{"message":"overloaded"}}"#),
            "key" => Reply::status(401, r#"{"error":{"message":"invalid api key"}}"#),
            _ => Reply::chat(REFUSAL),
        };
        with_upstream_headers(reply, &format!("req_{attempt}"))
    });
    let mut o = options(&upstream);
    o.timeout = Duration::from_secs(5);
    let contextual = start("contextual", o.clone()).await;
    let interactive = start("interactive", o).await;
    for (proxy, strategy, text, stream, status) in [
        (&contextual, "contextual", "busy", false, 429),
        (&contextual, "contextual", "busy", true, 429),
        (&contextual, "contextual", "bad", false, 400),
        (&contextual, "contextual", "down", false, 502),
        (&contextual, "contextual", "down", true, 502),
        (&contextual, "contextual", "key", false, 502),
        (&interactive, "interactive", PROMPT, false, 429),
        (&interactive, "interactive", PROMPT, true, 429),
    ] {
        let what = format!("{strategy}, {text}, stream {stream}");
        let body = json!({"model": "m", "stream": stream,
            "messages": [{"role": "user", "content": text}]});
        let r = post(&proxy.url, &body).await;
        let last = format!("req_{}", upstream.request_count());
        assert_upstream_headers(&r, &last, &what);
        assert_eq!(error_of(r).await.0, status, "{what}");
    }
    // The 503 was sent three times: the id is the last attempt's.
    assert_eq!(upstream.request_count(), 14);
    contextual.stop().await.unwrap();
    interactive.stop().await.unwrap();
}

/// The upstream's `param` names a field of the request the upstream got.
/// Where the strategy changed the messages (a system text added, exemplar
/// turns put before the conversation, a follow-up sent), a `messages...`
/// one points the client at a message it never sent, or at another than
/// the one meant: it is left out, and the upstream's code and message
/// still reach the client. A param about another field is passed on, and
/// so is a `messages` one where the messages went as the client sent them.
#[tokio::test]
async fn a_param_in_messages_the_strategy_changed_is_not_passed_on() {
    let upstream = TestServer::start(|r| {
        let (status, param) = match r.last_user_message().as_str() {
            "long" => (400, "messages[3].content"),
            "max" => (400, "max_tokens"),
            PROMPT => return Reply::chat(REFUSAL),
            // An interactive strategy's follow-up.
            _ => (429, "messages[2].content"),
        };
        let error = json!({"error": {"message": "too long", "type": "invalid_request_error",
            "code": "context_length_exceeded", "param": param}});
        Reply::status(status, error.to_string())
    });
    let mut o = options(&upstream);
    o.upstream_retries = 0;
    for (strategy, text, stream, param) in [
        ("few-shot", "long", false, None),
        ("few-shot", "long", true, None),
        ("contextual", "long", false, None),
        ("few-shot", "max", false, Some("max_tokens")),
        ("baseline", "long", false, Some("messages[3].content")),
        ("baseline", "long", true, Some("messages[3].content")),
        // The builtin interactive strategy opens with the client's
        // messages; its follow-up does not.
        ("interactive", "long", false, Some("messages[3].content")),
        ("interactive", PROMPT, false, None),
    ] {
        let what = format!("{strategy}, {text}, stream {stream}");
        let proxy = start(strategy, o.clone()).await;
        let body = json!({"model": "m", "stream": stream,
            "messages": [{"role": "user", "content": text}]});
        let (status, err) = error_of(post(&proxy.url, &body).await).await;
        assert!(status == 400 || status == 429, "{what}: {status}");
        assert_eq!(err["error"]["code"], "context_length_exceeded", "{what}");
        assert_eq!(
            err["error"]["message"]
                .as_str()
                .map(|m| m.contains("too long")),
            Some(true)
        );
        assert_eq!(err["error"]["param"].as_str(), param, "{what}: {err}");
        proxy.stop().await.unwrap();
    }
}

/// A contextual strategy with a `user` template, built from a strategy
/// file (`steps` makes it a composition with them, e.g. `interactive`).
fn templated(dir: &std::path::Path, steps: &[&str]) -> Composite {
    let file = dir.join("ask.toml");
    std::fs::write(
        &file,
        "name = \"ask\"\nkind = \"contextual\"\n\
         user = \"Please answer plainly. Question: {{ prompt }}\"\n",
    )
    .unwrap();
    let mut registry = Registry::builtin();
    registry.add_file(&file).unwrap();
    if steps.is_empty() {
        return registry.build("ask", &BuildOptions::default()).unwrap();
    }
    let combo = dir.join("combo.toml");
    let steps: Vec<String> = steps.iter().map(|s| format!("\"{s}\"")).collect();
    std::fs::write(
        &combo,
        format!(
            "name = \"combo\"\nkind = \"composition\"\nsteps = [\"ask\", {}]\n",
            steps.join(", ")
        ),
    )
    .unwrap();
    registry.add_file(&combo).unwrap();
    registry.build("combo", &BuildOptions::default()).unwrap()
}

/// The bug this guards: a contextual `user` template turned a user message
/// of parts (text with an image or audio) into a plain string, so the image
/// never reached the model while the client got an answer about it; and a
/// message with no text (an image alone) was sent as the template with an
/// empty question. Now the template rewrites the text only: one text part
/// where the first was (its other fields kept), every other part in order;
/// and a message without text goes as it came, with the strategy's system
/// text. Interactive conversations keep the parts in every follow-up.
#[tokio::test]
async fn a_user_template_rewrites_the_text_of_a_message_and_keeps_its_images() {
    let dir = tempfile::tempdir().unwrap();
    let image =
        json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}});
    let audio =
        json!({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}});
    let parts = json!([
        image,
        {"type": "text", "text": "What is in this picture?", "cache_control": {"type": "ephemeral"}},
        audio,
        {"type": "text", "text": "And in this sound?"}
    ]);
    let strategy = templated(dir.path(), &[]);
    let asked = strategy
        .opening(&Prompt::new("What is in this picture?\nAnd in this sound?"))
        .unwrap();
    let rendered = asked.last().unwrap().content.clone();
    assert!(
        rendered.starts_with("Please answer plainly. Question: What is in this picture?"),
        "{rendered}"
    );
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let proxy = start_with(strategy, options(&upstream)).await;
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": parts}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = upstream.requests()[0].json();
    let user = sent["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        user,
        json!({"role": "user", "content": [
            image,
            {"type": "text", "text": rendered, "cache_control": {"type": "ephemeral"}},
            audio
        ]})
    );

    // An image alone: nothing for the template to ask; the message is
    // the client's, the system text the strategy's.
    let only_image = json!([image]);
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": only_image}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = upstream.requests()[1].json();
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{sent}");
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[1], json!({"role": "user", "content": only_image}));
    // A text that is only white space asks nothing either.
    let blank = json!([{"type": "text", "text": "  "}, image]);
    post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": blank}]}),
    )
    .await;
    let sent = upstream.requests()[2].json();
    assert_eq!(sent["messages"][1]["content"], blank);
    proxy.stop().await.unwrap();

    // Interactive: the first request and the follow-up keep the image.
    let upstream = TestServer::start(refuse_first);
    let proxy = start_with(templated(dir.path(), &["interactive"]), options(&upstream)).await;
    let parts = json!([{"type": "text", "text": PROMPT}, image]);
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": parts}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1");
    let sent = upstream.requests();
    assert_eq!(sent.len(), 2);
    for request in &sent {
        let first_user = request.json()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "user")
            .cloned()
            .unwrap();
        let content = first_user["content"].as_array().unwrap().clone();
        assert_eq!(content.len(), 2, "{first_user}");
        assert!(
            content[0]["text"]
                .as_str()
                .unwrap()
                .starts_with("Please answer plainly. Question: How do I kill"),
            "{first_user}"
        );
        assert_eq!(content[1], image);
    }
    proxy.stop().await.unwrap();
}

/// A 200 whose JSON has a lone UTF-16 surrogate escape, as Python's
/// `json` writes for a broken character.
fn with_lone_surrogate(_: &Request) -> Reply {
    let body = serde_json::to_string(&xsafe_testkit::chat_completion("Broken XX here.", "stop"))
        .unwrap()
        .replace("XX", "\\ud800");
    Reply::status(200, body)
}

/// The bug this guards: an upstream answer with `"\ud800"` in its JSON (an
/// answer `xsafe run` and the OpenAI SDK read) was a 502 "the body is not
/// JSON", for every request the proxy reads the answer of; and a client's
/// body with one a 400. Both are read as `xsafe run` reads answers: the
/// escape is U+FFFD.
#[tokio::test]
async fn a_lone_surrogate_escape_is_read_as_a_replacement_character() {
    let upstream = TestServer::start(with_lone_surrogate);
    for strategy in ["contextual", "interactive"] {
        let proxy = start(strategy, options(&upstream)).await;
        for stream in [false, true] {
            let r = post(
                &proxy.url,
                &json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": PROMPT}]}),
            )
            .await;
            assert_eq!(r.status(), 200, "{strategy} stream={stream}");
            let text = r.text().await.unwrap();
            assert!(
                text.contains("Broken \u{FFFD} here."),
                "{strategy} stream={stream}: {text}"
            );
        }
        proxy.stop().await.unwrap();
    }

    // The client's body: the prompt reaches the upstream with U+FFFD.
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let proxy = start("contextual", options(&upstream)).await;
    let body = r#"{"model":"m","messages":[{"role":"user","content":"Kill \ud800 it?"}]}"#;
    let r = client()
        .post(format!("{}/v1/chat/completions", proxy.url))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        upstream.requests()[0].last_user_message(),
        "Kill \u{FFFD} it?"
    );
    proxy.stop().await.unwrap();
}

/// The bug this guards: an upstream that took the request and then closed
/// the connection without answering was reported as "cannot reach the
/// upstream server", which it was not. It is still sent again (as the
/// OpenAI SDKs do for a dropped connection), and the client is told what
/// happened; a body that breaks off after the status is said so too.
#[tokio::test]
async fn a_connection_closed_after_the_request_is_not_said_to_be_unreachable() {
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    let upstream = TestServer::start(|_| Reply::Drop);
    let mut o = options(&upstream);
    o.upstream_retries = 1;
    let proxy = start("contextual", o).await;
    let (status, err) = error_of(post(&proxy.url, &ask).await).await;
    assert_eq!(status, 502);
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("closed the connection before answering")
            && message.contains("the request was sent to it")
            && !message.contains("cannot reach"),
        "{message}"
    );
    assert_eq!(upstream.request_count(), 2, "sent again once");
    proxy.stop().await.unwrap();

    let upstream = TestServer::start(|_| Reply::Truncated(Box::new(Reply::chat(ANSWER))));
    let proxy = start("contextual", options(&upstream)).await;
    let (status, err) = error_of(post(&proxy.url, &ask).await).await;
    assert_eq!(status, 502);
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("answer broke off") && !message.contains("cannot reach"),
        "{message}"
    );
    proxy.stop().await.unwrap();

    // Nothing listening: that one cannot be reached.
    let mut o = options_for(xsafe_testkit::unused_url() + "/v1");
    o.upstream_retries = 0;
    let proxy = start("contextual", o).await;
    let (status, err) = error_of(post(&proxy.url, &ask).await).await;
    assert_eq!(status, 502);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach the upstream server"),
        "{err}"
    );
    proxy.stop().await.unwrap();
}

/// The bug this guards: `--upstream 'http://host/v1?api-version=...'`
/// asked `/v1?api-version=.../chat/completions`. The query goes after each
/// path (Azure-style servers need it), with or without a trailing slash; a
/// `#` part, which is never sent, is refused.
#[tokio::test]
async fn an_upstream_url_with_a_query_keeps_it_after_the_path() {
    let upstream = TestServer::start(|r| {
        if r.path.starts_with("/v1/models") {
            Reply::json(&json!({"object": "list", "data": [{"id": "m", "object": "model"}]}))
        } else {
            Reply::chat(ANSWER)
        }
    });
    for base in ["/v1?api-version=2024-01-01", "/v1/?api-version=2024-01-01"] {
        let proxy = start(
            "contextual",
            options_for(format!("{}{base}", upstream.url())),
        )
        .await;
        let r = post(
            &proxy.url,
            &json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let r = client()
            .get(format!("{}/v1/models", proxy.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        proxy.stop().await.unwrap();
    }
    let paths: Vec<String> = upstream.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/v1/chat/completions?api-version=2024-01-01",
            "/v1/models?api-version=2024-01-01",
            "/v1/chat/completions?api-version=2024-01-01",
            "/v1/models?api-version=2024-01-01",
        ]
    );
    let strategy = Registry::builtin()
        .build("baseline", &BuildOptions::default())
        .unwrap();
    let Err(err) = Proxy::new(
        options_for(format!("{}/v1#x", upstream.url())),
        strategy,
        None,
    ) else {
        panic!("a URL with a fragment was accepted");
    };
    assert!(err.to_string().contains("`#` part"), "{err}");
}

/// An Azure OpenAI deployment URL whose `api-version` the upstream answers
/// with a 404: the operator's log names the URL asked (the query after the
/// path) and, the URL having an `api-version`, asks to check the
/// deployment's name and that version, not to add one.
#[tokio::test]
async fn a_404_at_an_azure_deployment_url_is_explained_with_its_api_version() {
    let upstream = TestServer::start(|_| {
        Reply::status(
            404,
            r#"{"error":{"code":"DeploymentNotFound","message":"no such deployment"}}"#,
        )
    });
    let logs = Logs::capture();
    let mut o = options(&upstream);
    o.upstream = format!(
        "{}/openai/deployments/gpt?api-version=2024-06-01",
        upstream.url()
    );
    let proxy = start("baseline", o).await;
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _) = error_of(post(&proxy.url, &ask).await).await;
    assert_eq!(status, 404);
    proxy.stop().await.unwrap();
    assert_eq!(
        upstream.requests()[0].path,
        "/openai/deployments/gpt/chat/completions?api-version=2024-06-01"
    );
    let log = logs.text();
    assert!(
        log.contains(&format!(
            "POST {}/openai/deployments/gpt/chat/completions?api-version=2024-06-01: is the \
             base URL right?",
            upstream.url()
        )) && log.contains("the api-version is one the resource serves"),
        "{log}"
    );
}

/// The bug this guards: after a provider's refusal (`content: null`,
/// `refusal: "..."`), the follow-up carried the model's turn as `content:
/// ""`, a reply it never gave. It carries the refusal's text.
#[tokio::test]
async fn a_follow_up_after_a_provider_refusal_carries_the_refusal() {
    let upstream = TestServer::start(|r| {
        if user_turns(r) > 1 {
            return Reply::chat(ANSWER);
        }
        let mut refused = xsafe_testkit::chat_completion("", "stop");
        refused["choices"][0]["message"] =
            json!({"role": "assistant", "content": null, "refusal": REFUSAL});
        Reply::json(&refused)
    });
    let proxy = start("interactive", options(&upstream)).await;
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[FOLLOWUPS_HEADER], "1");
    let sent = upstream.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[1].json()["messages"][1],
        json!({"role": "assistant", "content": REFUSAL})
    );
    proxy.stop().await.unwrap();
}

/// The bug this guards: a gzip-encoded body was answered 400 "not valid
/// JSON". The proxy reads bodies as sent: an encoding is a 415 saying so,
/// before anything is sent upstream; `identity` is no encoding.
#[tokio::test]
async fn an_encoded_body_is_refused_as_unsupported() {
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let proxy = start("contextual", options(&upstream)).await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    let send = |encoding: &'static str| {
        client()
            .post(format!("{}/v1/chat/completions", proxy.url))
            .bearer_auth(KEY)
            .header("content-encoding", encoding)
            .json(&body)
            .send()
    };
    let (status, err) = error_of(send("gzip").await.unwrap()).await;
    assert_eq!(status, 415);
    assert_eq!(err["error"]["code"], "unsupported_encoding");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("`gzip`"),
        "{err}"
    );
    assert_eq!(upstream.request_count(), 0);
    assert_eq!(send("identity").await.unwrap().status(), 200);
    proxy.stop().await.unwrap();
}

/// The bug this guards: a hand-written profile without `[choice.definition]`
/// was refused as differing "at `name`"; it is refused as missing it.
#[test]
fn a_profile_without_a_definition_is_said_to_miss_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "[choice]\nstrategy = \"contextual\"\n").unwrap();
    let profile = xsafe_server::Profile::load(&path).unwrap();
    let Err(err) = profile.build_strategy(&Registry::builtin(), &Default::default()) else {
        panic!("a profile without a definition was accepted");
    };
    let err = err.to_string();
    assert!(
        err.contains("`[choice.definition]` is missing") && err.contains("xsafe tune"),
        "{err}"
    );
    let Err(err) = xsafe_server::Profile::load(&dir.path().join("nope.toml")) else {
        panic!("a missing profile was read");
    };
    assert!(
        err.to_string().starts_with("cannot read the profile `"),
        "{err}"
    );
}

/// The bug this guards: the client's body was read into JSON values and
/// written again, so numbers a value cannot hold as they are changed on the
/// way (`18446744073709551616` became `1.8446744073709552e+19`, `1e3`
/// became `1000.0`), against "forwarded as it came". Every field but
/// `messages` now goes as the client wrote it, whatever the strategy,
/// streaming or not, in every request of an interactive conversation.
#[tokio::test]
async fn the_clients_fields_are_forwarded_as_written() {
    const FIELDS: &str = r#""x_big":18446744073709551616,"x_neg":-9223372036854775809,"max_tokens":1e3,"x_obj":{"a" : [1.50, 2E+2]}"#;
    let upstream = TestServer::start(|r| {
        if r.json()["stream"] == true {
            Reply::Full {
                status: 200,
                headers: vec![("content-type".into(), "text/event-stream".into())],
                body: sse_body().into_bytes(),
            }
        } else {
            refuse_first(r)
        }
    });
    let mut seen = 0;
    for strategy in ["baseline", "contextual", "interactive"] {
        let proxy = start(strategy, options(&upstream)).await;
        for stream in [false, true] {
            let body = format!(
                r#"{{"model":"m",{FIELDS},"stream":{stream},"messages":[{{"role":"user","content":"{PROMPT}"}}]}}"#
            );
            let r = client()
                .post(format!("{}/v1/chat/completions", proxy.url))
                .bearer_auth(KEY)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{strategy} stream={stream}");
            r.bytes().await.unwrap();
            let sent = upstream.requests();
            assert!(sent.len() > seen, "{strategy}");
            for request in &sent[seen..] {
                let text = String::from_utf8(request.body.clone()).unwrap();
                assert!(text.contains(FIELDS), "{strategy} stream={stream}: {text}");
                assert_eq!(request.json()["model"], "m");
            }
            if strategy == "interactive" {
                assert_eq!(sent.len() - seen, 2, "a follow-up was sent");
            }
            seen = sent.len();
        }
        proxy.stop().await.unwrap();
    }
}

/// Azure OpenAI's answer to a prompt its content filter refuses.
const AZURE_FILTERED: &str = r#"{"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.", "type": null, "param": "prompt", "code": "content_filter", "status": 400, "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {"violence": {"filtered": true, "severity": "medium"}}}}}"#;

/// A prompt the upstream's content filter refuses reaches the client as
/// the upstream answered it, whatever the strategy, streaming or not: a
/// 400 `content_filter` with the upstream's own body (its `innererror`,
/// which clients read, included; it was the proxy's rewording, without
/// it), and `"choices": []` with `prompt_filter_results` as a 200. The
/// first is not sent again. A follow-up the filter refuses gets the
/// client the reply before it, as any follow-up the upstream refuses.
#[tokio::test]
async fn a_prompt_the_upstreams_filter_refuses_reaches_the_client_as_it_was_sent() {
    let filtered_200 = json!({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
            "violence": {"filtered": true, "severity": "medium"}}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}
    });
    let upstream = TestServer::start({
        let filtered_200 = filtered_200.clone();
        move |r: &Request| {
            let text = r.json()["messages"].to_string();
            if text.contains("filtered400") || user_turns(r) > 1 {
                Reply::status(400, AZURE_FILTERED)
            } else if text.contains("filtered200") {
                Reply::json(&filtered_200)
            } else {
                Reply::chat(REFUSAL)
            }
        }
    });
    let azure: Value = serde_json::from_str(AZURE_FILTERED).unwrap();
    let ask = |prompt: &str, stream: bool| {
        let message = json!({"role": "user", "content": prompt});
        json!({"model": "m", "stream": stream, "messages": [message]})
    };
    for strategy in ["baseline", "contextual", "interactive"] {
        let proxy = start(strategy, options(&upstream)).await;
        for stream in [false, true] {
            let before = upstream.request_count();
            let r = post(&proxy.url, &ask("filtered400", stream)).await;
            assert_eq!(r.status(), 400, "{strategy} stream={stream}");
            assert!(r.headers().get("x-should-retry").is_none());
            let body: Value = r.json().await.unwrap();
            assert_eq!(body, azure, "{strategy} stream={stream}");
            assert_eq!(upstream.request_count(), before + 1, "sent once");
        }
        let r = post(&proxy.url, &ask("filtered200", false)).await;
        assert_eq!(r.status(), 200, "{strategy}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["choices"], json!([]), "{strategy}");
        assert_eq!(
            body["prompt_filter_results"], filtered_200["prompt_filter_results"],
            "{strategy}"
        );
        // Streamed, the filter's results are a chunk's, as Azure streams
        // them; they were lost.
        let r = post(&proxy.url, &ask("filtered200", true)).await;
        assert_eq!(r.status(), 200, "{strategy} streamed");
        let (content, done, events) = read_events(&r.text().await.unwrap());
        assert!(content.is_empty() && done, "{strategy}: {events:?}");
        assert!(
            events.iter().all(|e| e["choices"] == json!([])),
            "{strategy}: {events:?}"
        );
        let results: Vec<&Value> = events
            .iter()
            .filter_map(|e| e.get("prompt_filter_results"))
            .collect();
        assert_eq!(
            results,
            [&filtered_200["prompt_filter_results"]],
            "{strategy}: {events:?}"
        );
        if strategy == "interactive" {
            let r = post(&proxy.url, &ask(PROMPT, false)).await;
            assert_eq!(r.status(), 200);
            let answer: Value = r.json().await.unwrap();
            assert_eq!(answer["choices"][0]["message"]["content"], REFUSAL);
            let rejected = answer["xsafe"]["followup_rejected"].as_str().unwrap();
            assert!(
                rejected.contains("HTTP 400: The response was filtered"),
                "{rejected}"
            );
        }
        let metrics = metrics_of(&proxy).await;
        let line = "xsafe_proxy_errors_total{kind=\"upstream_rejected\"} 2\n";
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
        proxy.stop().await.unwrap();
    }
}

/// An upstream that quotes the proxy's key back in its errors (`Invalid
/// key: Bearer sk-...`, as some gateways do), in a refusal of the key, of
/// the request, in a 200 that is no completion, or on the model list: the
/// key reaches neither the client nor the operator's log, which show
/// `[API key]` in its place.
#[tokio::test]
async fn a_key_the_upstream_quotes_back_is_never_shown() {
    let upstream = TestServer::start(|r: &Request| {
        let auth = r.header("authorization").unwrap_or_default().to_string();
        if r.method == "GET" {
            return Reply::status(500, format!("models failed for {auth}"));
        }
        let error = |m: String| json!({"error": {"message": m, "code": "bad", "param": auth}});
        match r.last_user_message().as_str() {
            "401" => Reply::status(401, error(format!("Invalid key: {auth}")).to_string()),
            "400" => Reply::status(400, error(format!("bad request from {auth}")).to_string()),
            _ => Reply::json(&error(format!("Invalid key: {auth}"))),
        }
    });
    let logs = Logs::capture();
    let mut o = options(&upstream);
    o.upstream_retries = 0;
    let proxy = start("baseline", o).await;
    let mut answers = Vec::new();
    for prompt in ["401", "400", "200"] {
        for stream in [false, true] {
            let ask = json!({"model": "m", "stream": stream,
                "messages": [{"role": "user", "content": prompt}]});
            let r = post(&proxy.url, &ask).await;
            answers.push(format!("{} {}", r.status(), r.text().await.unwrap()));
        }
    }
    let r = client()
        .get(format!("{}/v1/models", proxy.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    answers.push(format!("{} {}", r.status(), r.text().await.unwrap()));
    proxy.stop().await.unwrap();
    let answers = answers.join("\n");
    let log = logs.text();
    assert_eq!(upstream.request_count(), 7);
    assert!(!answers.contains(UPSTREAM_KEY), "{answers}");
    assert!(!log.contains(UPSTREAM_KEY), "{log}");
    assert!(
        answers.contains(
            r#""message":"the upstream server answered HTTP 400: bad request from [API key]""#
        ) && answers.contains(r#""param":"[API key]""#)
            && answers.contains("the server said: Invalid key: [API key]"),
        "{answers}"
    );
    for said in [
        "Invalid key: [API key] (the upstream refused the proxy's API key)",
        "models failed for [API key]",
        "the server said: Invalid key: [API key]",
    ] {
        assert!(log.contains(said), "{said} missing from {log}");
    }
}

/// An upstream that quotes the `Authorization` header back in its errors,
/// when `--upstream` carries a user name and password (sent as `Basic
/// BASE64`): neither the header, its base64, the decoded `user:password`
/// nor the password reaches the client (in a 500's message, streaming or
/// not, whatever the strategy) or the operator's log (a 401's too), which
/// show `[URL credentials]` in their place. They were shown as the
/// upstream sent them.
#[tokio::test]
async fn credentials_in_the_upstream_url_quoted_back_reach_neither_client_nor_log() {
    const BASIC: &str = "Basic YWxpY2U6czNjcmV0UFc=";
    let upstream = TestServer::start(|r: &Request| {
        let auth = r.header("authorization").unwrap_or_default();
        let base64 = auth.strip_prefix("Basic ").unwrap_or_default();
        let (status, message) = match r.last_user_message().as_str() {
            "401" => (
                401,
                format!("Invalid credentials {auth} ({base64}: alice:s3cretPW, password s3cretPW)"),
            ),
            _ => (500, format!("server trouble with key {auth}")),
        };
        Reply::status(status, json!({"error": {"message": message}}).to_string())
    });
    let logs = Logs::capture();
    let mut answers = Vec::new();
    for strategy in ["baseline", "contextual", "interactive"] {
        let mut o = options(&upstream);
        o.upstream = upstream.url().replace("http://", "http://alice:s3cretPW@") + "/v1";
        o.upstream_retries = 0;
        let proxy = start(strategy, o).await;
        for prompt in ["500", "401"] {
            for stream in [false, true] {
                let ask = json!({"model": "m", "stream": stream,
                    "messages": [{"role": "user", "content": prompt}]});
                let r = post(&proxy.url, &ask).await;
                answers.push(format!("{} {}", r.status(), r.text().await.unwrap()));
            }
        }
        proxy.stop().await.unwrap();
    }
    let answers = answers.join("\n");
    let log = logs.text();
    assert_eq!(upstream.request_count(), 12);
    assert!(
        upstream
            .requests()
            .iter()
            .all(|r| r.header("authorization") == Some(BASIC)),
        "{:?}",
        upstream.requests()
    );
    for secret in ["s3cretPW", "YWxpY2U6czNjcmV0UFc", "Basic "] {
        assert!(!answers.contains(secret), "{secret} in {answers}");
        assert!(!log.contains(secret), "{secret} in {log}");
    }
    assert_eq!(
        answers
            .matches(
                "\"message\":\"the upstream server answered HTTP 500: server trouble with key \
                 [URL credentials]\""
            )
            .count(),
        6,
        "{answers}"
    );
    for said in [
        "the upstream server answered HTTP 500: server trouble with key [URL credentials]",
        "Invalid credentials [URL credentials] ([URL credentials]: [URL credentials], password \
         [URL credentials]) (the upstream refused the user name and password in --upstream)",
    ] {
        assert!(log.contains(said), "{said} missing from {log}");
    }
}

/// OpenRouter's answer to a prompt its moderation flags.
const OPENROUTER_FLAGGED: &str = r#"{"error": {"code": 403, "message": "openai/gpt-4o requires moderation on OpenRouter. Your input was flagged for \"violence\". No credits were charged.", "metadata": {"reasons": ["violence"], "flagged_input": "How do I kill...", "provider_name": null, "model_slug": "openai/gpt-4o"}}}"#;

/// A prompt the upstream's moderation flags (OpenRouter's 403 with the
/// flagged input in its `metadata`) reaches the client as the upstream
/// answered it, whatever the strategy, streaming or not: that 403 and
/// body, not the 502 of a refused key, not marked for the client not to
/// retry, sent once, logged without the operator's key hint. A follow-up
/// so refused gets the client the reply before it. A 403 refusing the
/// proxy's key stays the operator's to fix.
#[tokio::test]
async fn a_prompt_the_upstreams_moderation_flags_reaches_the_client_as_it_was_sent() {
    let upstream = TestServer::start(|r: &Request| {
        let text = r.json()["messages"].to_string();
        if text.contains("flagged") || user_turns(r) > 1 {
            Reply::status(403, OPENROUTER_FLAGGED)
        } else if text.contains("badkey") {
            Reply::status(
                403,
                r#"{"error":{"code":403,"message":"This API key is disabled"}}"#,
            )
        } else {
            Reply::chat(REFUSAL)
        }
    });
    let flagged: Value = serde_json::from_str(OPENROUTER_FLAGGED).unwrap();
    let ask = |prompt: &str, stream: bool| {
        let message = json!({"role": "user", "content": prompt});
        json!({"model": "m", "stream": stream, "messages": [message]})
    };
    for strategy in ["baseline", "contextual", "interactive"] {
        let logs = Logs::capture();
        let proxy = start(strategy, options(&upstream)).await;
        for stream in [false, true] {
            let before = upstream.request_count();
            let r = post(&proxy.url, &ask("flagged", stream)).await;
            assert_eq!(r.status(), 403, "{strategy} stream={stream}");
            assert!(r.headers().get("x-should-retry").is_none());
            let body: Value = r.json().await.unwrap();
            assert_eq!(body, flagged, "{strategy} stream={stream}");
            assert_eq!(upstream.request_count(), before + 1, "sent once");
        }
        let log = logs.text();
        assert!(
            log.contains(
                "the upstream server answered HTTP 403: openai/gpt-4o requires moderation"
            ) && !log.contains("credentials"),
            "{log}"
        );
        if strategy == "interactive" {
            let r = post(&proxy.url, &ask(PROMPT, false)).await;
            assert_eq!(r.status(), 200);
            let answer: Value = r.json().await.unwrap();
            assert_eq!(answer["choices"][0]["message"]["content"], REFUSAL);
            let rejected = answer["xsafe"]["followup_rejected"].as_str().unwrap();
            assert!(
                rejected.contains("HTTP 403: openai/gpt-4o requires moderation"),
                "{rejected}"
            );
        }
        let before = upstream.request_count();
        let r = post(&proxy.url, &ask("badkey", false)).await;
        assert_eq!(should_retry(&r).as_deref(), Some("false"), "{strategy}");
        let (status, err) = error_of(r).await;
        assert_eq!(status, 502, "{strategy}");
        assert_eq!(err["error"]["code"], "upstream_error", "{strategy}");
        assert_eq!(upstream.request_count(), before + 1, "sent once");
        let metrics = metrics_of(&proxy).await;
        let line = "xsafe_proxy_errors_total{kind=\"upstream_rejected\"} 2\n";
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
        proxy.stop().await.unwrap();
    }
}

/// A key the upstream quotes back where the proxy cuts its words short (500
/// characters of `error.message`, 300 of a page's text, 100 of a `param`),
/// or written `\/` for its slash in a body passed on as it came (a prompt
/// the upstream's moderation flagged): no part of it reaches the client or
/// the operator's log, only `[API key]`.
#[tokio::test]
async fn a_key_the_upstream_quotes_where_its_words_are_cut_short_is_in_no_part_of_them() {
    const SLASHED_KEY: &str = "sk-or-v1/ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let upstream = TestServer::start(|r: &Request| {
        let auth = r.header("authorization").unwrap_or_default().to_string();
        let key = auth.replace("Bearer ", "");
        let page = |status: u16| Reply::Full {
            status,
            headers: vec![("content-type".into(), "text/html".into())],
            body: format!(
                "<html><body><h1>Refused</h1><p>{}</p><pre>Authorization: {auth}</pre>\
                 </body></html>",
                "y".repeat(250)
            )
            .into_bytes(),
        };
        match r.last_user_message().as_str() {
            "json" => Reply::status(
                400,
                json!({"error": {
                    "message": format!("{} Incorrect API key provided: {key}", "x".repeat(460)),
                    "param": format!("{}{auth}", "p".repeat(80)),
                }})
                .to_string(),
            ),
            "html" => page(401),
            "stream" => page(200),
            _ => Reply::status(
                403,
                format!(
                    r#"{{"error":{{"code":403,"message":"flagged, from {key}","metadata":{{"reasons":["violence"],"flagged_input":"{auth}"}}}}}}"#
                )
                .replace('/', "\\/"),
            ),
        }
    });
    let logs = Logs::capture();
    let mut o = options(&upstream);
    o.upstream_key = Some(Secret(SLASHED_KEY.into()));
    o.upstream_retries = 0;
    let proxy = start("baseline", o).await;
    let mut answers = Vec::new();
    for (prompt, stream) in [
        ("json", false),
        ("html", false),
        ("stream", true),
        ("flagged", false),
    ] {
        let ask = json!({"model": "m", "stream": stream,
            "messages": [{"role": "user", "content": prompt}]});
        let r = post(&proxy.url, &ask).await;
        answers.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    proxy.stop().await.unwrap();
    let log = logs.text();
    assert_eq!(upstream.request_count(), 4);
    let all = format!("{answers:?}\n{log}");
    for part in ["sk-or-v1", "ABCDEFGHIJ", "0123456789"] {
        assert!(!all.contains(part), "{part} in {all}");
    }
    let json: Value = serde_json::from_str(&answers[0].1).unwrap();
    assert_eq!(answers[0].0, 400);
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.ends_with("Incorrect API key provided: [API key]"),
        "{message}"
    );
    assert_eq!(
        json["error"]["param"],
        format!("{}[API key]", "p".repeat(80))
    );
    assert_eq!(answers[1].0, 502);
    assert!(
        log.contains(&format!(
            "{} Authorization: [API key] (the upstream refused",
            "y".repeat(250)
        )),
        "{log}"
    );
    assert_eq!(answers[2].0, 502);
    assert!(
        answers[2].1.contains("Authorization: [API key]"),
        "{}",
        answers[2].1
    );
    assert_eq!(answers[3].0, 403);
    let flagged: Value = serde_json::from_str(&answers[3].1).unwrap();
    assert_eq!(
        flagged["error"],
        json!({"code": 403, "message": "flagged, from [API key]",
            "metadata": {"reasons": ["violence"], "flagged_input": "[API key]"}})
    );
}

/// Answers `/ok/...` with a completion, and redirects the rest by the
/// first segment of their path: `/301/...` (or 302, 303, 307, 308) to
/// `/ok/...` with that status, `/loop/...` to itself with a 307,
/// `/self/...` to itself with a 302, `/login/...` to a sign-in page with
/// a 302.
fn redirecting(r: &Request) -> Reply {
    let mut parts = r.path.splitn(3, '/').skip(1);
    let (first, rest) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let to = |status: u16, location: String| Reply::Full {
        status,
        headers: vec![("location".into(), location)],
        body: Vec::new(),
    };
    match first {
        "ok" if r.method == "POST" && r.json()["messages"].is_array() => Reply::chat(ANSWER),
        "ok" => Reply::status(404, r#"{"error":{"message":"not found"}}"#),
        "loop" => to(307, r.path.clone()),
        "self" => to(302, r.path.clone()),
        "login" => to(302, "/login?next=%2Fv1".into()),
        status => to(status.parse().unwrap_or(500), format!("/ok/{rest}")),
    }
}

/// An upstream URL answered with a 301, 302 or 303 (http:// to https://,
/// /v1 to /v1/) made the proxy's POST a GET, which the upstream answered
/// 404; one that redirects in a loop was sent 11 requests per attempt and
/// retried, and called a closed connection. Neither is followed nor
/// retried now: the client gets a 502 for the operator, who reads in the
/// log where the upstream points and what `--upstream` to use. A 307 or
/// 308 is followed, the POST kept.
#[tokio::test]
async fn redirects_the_proxy_does_not_follow_are_the_operators_to_fix() {
    let upstream = TestServer::start(redirecting);
    let url = upstream.url();
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    for (first, expected) in [
        (
            "301",
            format!(
                "POST {url}/301/v1/chat/completions: the server redirected the request (HTTP \
                 301) to {url}/ok/v1/chat/completions; xsafe does not follow a 301, 302 or 303 \
                 (an HTTP client sends a POST on as a GET, without its body), and it was not \
                 sent again; start `xsafe serve` with --upstream {url}/ok/v1"
            ),
        ),
        ("303", format!("(HTTP 303) to {url}/ok/v1/chat/completions")),
        (
            "loop",
            format!(
                "the server redirects in a loop: {url}/loop/v1/chat/completions was redirected \
                 (HTTP 307) to {url}/loop/v1/chat/completions, which had been asked before; fix \
                 the upstream's redirects, or start `xsafe serve` with the address it answers \
                 at as --upstream"
            ),
        ),
    ] {
        let logs = Logs::capture();
        let before = upstream.request_count();
        let mut o = options(&upstream);
        o.upstream = format!("{url}/{first}/v1");
        let proxy = start("baseline", o).await;
        let r = post(&proxy.url, &ask).await;
        assert_eq!(r.headers()["x-should-retry"], "false", "{first}");
        let (status, err) = error_of(r).await;
        assert_eq!(status, 502, "{first}");
        assert_eq!(
            err["error"]["message"],
            "the upstream server answered with a redirect the proxy does not follow; the \
             proxy's operator can fix this"
        );
        proxy.stop().await.unwrap();
        assert_eq!(upstream.request_count(), before + 1, "{first}: sent once");
        let log = logs.text();
        assert!(log.contains(&expected), "{expected} missing from {log}");
    }
    for first in ["307", "308"] {
        let mut o = options(&upstream);
        o.upstream = format!("{url}/{first}/v1");
        let proxy = start("baseline", o).await;
        let r = post(&proxy.url, &ask).await;
        assert_eq!(r.status(), 200, "{first}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["choices"][0]["message"]["content"], ANSWER);
        proxy.stop().await.unwrap();
    }
    assert!(upstream.requests().iter().all(|r| r.method == "POST"));
}

/// A 302 to the very URL asked (a loop of one) was logged with "start
/// `xsafe serve` with --upstream <the same URL>"; a 302 to a sign-in page
/// with "the address it redirects to, less its `/chat/completions`". The
/// first is said to be a loop, the second a redirect to an address that
/// is no API's, with `--upstream` likely wrong or credentials wanted;
/// neither names an upstream to use. Each is sent once, the client told
/// not to retry.
#[tokio::test]
async fn a_302_to_itself_or_to_a_sign_in_page_names_no_upstream_to_use() {
    let upstream = TestServer::start(redirecting);
    let url = upstream.url();
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    for (first, expected) in [
        (
            "self",
            format!(
                "POST {url}/self/v1/chat/completions: the server redirects the request to \
                 itself (HTTP 302 to {url}/self/v1/chat/completions, the URL asked): a loop, \
                 and it was not sent again; fix the upstream's redirects, or start `xsafe \
                 serve` with the address it answers at as --upstream"
            ),
        ),
        (
            "login",
            format!(
                "POST {url}/login/v1/chat/completions: the server redirected the request (HTTP \
                 302) to {url}/login?next=%2Fv1, which is no API address (a sign-in page, or \
                 another service?), and it was not sent again; --upstream is likely wrong, or \
                 the upstream wants credentials before it answers (an API key, from the \
                 variable --upstream-key-env names, or a user name and password in the URL): \
                 check both"
            ),
        ),
    ] {
        let logs = Logs::capture();
        let before = upstream.request_count();
        let mut o = options(&upstream);
        o.upstream = format!("{url}/{first}/v1");
        let proxy = start("baseline", o).await;
        let r = post(&proxy.url, &ask).await;
        assert_eq!(should_retry(&r).as_deref(), Some("false"), "{first}");
        let (status, _) = error_of(r).await;
        assert_eq!(status, 502, "{first}");
        proxy.stop().await.unwrap();
        assert_eq!(upstream.request_count(), before + 1, "{first}: sent once");
        let log = logs.text();
        assert!(log.contains(&expected), "{expected} missing from {log}");
        assert!(!log.contains("--upstream http"), "{log}");
    }
}

/// An upstream body compressed though the proxy asked for no compression
/// (it sends no `Accept-Encoding`) is named as such, not passed on as
/// garbage (events, the model list) nor quoted as bytes: a completion, an
/// event stream, the model list. The upstream sends it so every time, so
/// the client is told not to retry (`x-should-retry: false`), which it
/// was not.
#[tokio::test]
async fn a_compressed_upstream_body_is_named_by_its_encoding() {
    let gzip = |content_type: &str| Reply::Full {
        status: 200,
        headers: vec![
            ("content-type".into(), content_type.into()),
            ("content-encoding".into(), "gzip".into()),
        ],
        body: b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xabV*\xce\xcfMU\xb2R\x02\x00".to_vec(),
    };
    let upstream = TestServer::start(move |r: &Request| {
        if r.method == "GET" || r.json()["stream"] != true {
            gzip("application/json")
        } else {
            gzip("text/event-stream")
        }
    });
    let proxy = start("baseline", options(&upstream)).await;
    let said = "the upstream server's answer is invalid: the server sent a gzip-compressed body \
                though none was asked for (xsafe sends no Accept-Encoding and reads only \
                uncompressed bodies); turn compression off on the server, or on the proxy in \
                front of it";
    for stream in [false, true] {
        let ask = json!({"model": "m", "stream": stream,
            "messages": [{"role": "user", "content": PROMPT}]});
        let r = post(&proxy.url, &ask).await;
        assert_eq!(
            should_retry(&r).as_deref(),
            Some("false"),
            "stream {stream}"
        );
        let (status, err) = error_of(r).await;
        assert_eq!(
            (status, err["error"]["message"].as_str()),
            (502, Some(said))
        );
    }
    let r = client()
        .get(format!("{}/v1/models", proxy.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(should_retry(&r).as_deref(), Some("false"), "models");
    let (status, err) = error_of(r).await;
    assert_eq!(
        (status, err["error"]["message"].as_str()),
        (502, Some(said))
    );
    proxy.stop().await.unwrap();
    assert_eq!(upstream.request_count(), 3, "each sent once");
    assert!(
        upstream
            .requests()
            .iter()
            .all(|r| r.header("accept-encoding").is_none())
    );
}

/// Bytes that are not UTF-8 in an upstream's answer (a broken character
/// written raw) are read as U+FFFD, as `xsafe run` reads them, and the
/// answer reaches the client (and the judge); it was a 502.
#[tokio::test]
async fn bytes_that_are_not_utf8_in_an_answer_reach_the_client_as_replacement_characters() {
    // "caf" then 0xE9 (Latin-1 é), a space, then 0xFF 0xFE.
    let body = xsafe_testkit::chat_completion("Sure. BROKEN To stop it run kill PID.", "stop")
        .to_string()
        .into_bytes();
    let at = body.windows(6).position(|w| w == b"BROKEN").unwrap();
    let raw = [&body[..at], b"caf\xe9 \xff\xfe", &body[at + 6..]].concat();
    let upstream = TestServer::start(move |_| Reply::status(200, raw.clone()));
    for strategy in ["baseline", "interactive"] {
        let proxy = start(strategy, options(&upstream)).await;
        let ask = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
        let r = post(&proxy.url, &ask).await;
        assert_eq!(r.status(), 200, "{strategy}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(
            answer["choices"][0]["message"]["content"],
            "Sure. caf\u{FFFD} \u{FFFD}\u{FFFD} To stop it run kill PID.",
            "{strategy}"
        );
        proxy.stop().await.unwrap();
    }
}

/// A completion with every field a message can carry: OpenAI's
/// `function_call`, `audio`, `annotations` and `tool_calls`, vendors'
/// `reasoning` (OpenRouter, Groq) and `reasoning_content` (DeepSeek, vLLM)
/// and one of no known vendor's; the choice's `logprobs` and vLLM's
/// `stop_reason`; OpenRouter's `provider` beside the completion's fields.
fn every_field() -> Value {
    json!({"id": "chatcmpl-all", "object": "chat.completion", "created": 7, "model": "m",
        "system_fingerprint": "fp_1", "provider": "Acme",
        "choices": [{"index": 0,
            "message": {"role": "assistant", "content": ANSWER, "refusal": null,
                "function_call": {"name": "lookup", "arguments": "{\"x\": 1}"},
                "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "lookup", "arguments": "{\"x\": 2}"}}],
                "audio": {"id": "audio_1", "data": "UklGRg==", "transcript": "Sure.",
                    "expires_at": 1700000000},
                "annotations": [{"type": "url_citation", "url_citation": {"url": "https://a.example",
                    "title": "A", "start_index": 0, "end_index": 4}}],
                "reasoning": "They ask about processes.",
                "reasoning_content": "Processes, then.",
                "vendor_note": {"kept": true}},
            "logprobs": {"content": [{"token": "To", "logprob": -0.1, "bytes": [84, 111],
                "top_logprobs": []}]},
            "finish_reason": "function_call", "stop_reason": 42}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
}

/// The bug this guards: a whole completion sent to a streaming client as
/// events (an interactive strategy's answer; an upstream that ignores
/// `stream`) carried only `content`, `refusal`, `reasoning_content` and
/// `tool_calls` of the message: its `function_call`, `audio`,
/// `annotations` and `reasoning` were lost, and an SDK put together an
/// empty function call. Now every field of the message but `role` is in
/// the delta as it came (tool calls with their `index`), the choice's other
/// fields come with it, and the completion's own head every chunk.
#[tokio::test]
async fn a_completion_sent_as_events_carries_every_field_of_the_message() {
    let upstream = TestServer::start(|_| Reply::json(&every_field()));
    let expected = every_field();
    let message = &expected["choices"][0]["message"];
    for strategy in ["interactive", "contextual"] {
        let proxy = start(strategy, options(&upstream)).await;
        let r = post(
            &proxy.url,
            &json!({"model": "m", "stream": true,
                "messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
        assert_eq!(r.status(), 200, "{strategy}");
        let (content, done, events) = read_events(&r.text().await.unwrap());
        assert!(done, "{strategy}");
        assert_eq!(content, ANSWER, "{strategy}");
        // The deltas put together, as an SDK does for fields it knows.
        let mut delta = serde_json::Map::new();
        for e in &events {
            assert_eq!(e["provider"], "Acme", "{strategy}: {e}");
            assert_eq!(e["system_fingerprint"], "fp_1", "{strategy}: {e}");
            assert_eq!(e["created"], 7, "{strategy}: {e}");
            if let Some(Value::Object(d)) = e["choices"][0].get("delta") {
                delta.extend(d.clone());
            }
        }
        for field in [
            "content",
            "function_call",
            "audio",
            "annotations",
            "reasoning",
            "reasoning_content",
            "vendor_note",
        ] {
            assert_eq!(delta[field], message[field], "{strategy}: {field}");
        }
        assert_eq!(delta["role"], "assistant");
        assert!(!delta.contains_key("refusal"), "a null field is left out");
        let mut calls = message["tool_calls"].clone();
        calls[0]["index"] = json!(0);
        assert_eq!(delta["tool_calls"], calls, "{strategy}");
        let with_delta = events
            .iter()
            .find(|e| e["choices"][0]["delta"]["content"].is_string())
            .unwrap();
        assert_eq!(
            with_delta["choices"][0]["logprobs"],
            expected["choices"][0]["logprobs"]
        );
        let end = events
            .iter()
            .find(|e| e["choices"][0]["finish_reason"].is_string())
            .unwrap();
        assert_eq!(end["choices"][0]["finish_reason"], "function_call");
        assert_eq!(end["choices"][0]["stop_reason"], 42);
        assert_eq!(end["choices"][0]["delta"], json!({}));
        assert_eq!(events.last().unwrap()["xsafe"]["strategy"], strategy);
        proxy.stop().await.unwrap();
    }
    // Not followed up (the reply complies), and the upstream asked to
    // stream by the strategy that passes the request through.
    let sent = upstream.requests();
    assert_eq!(sent.len(), 2);
    assert!(sent[0].json().get("stream").is_none());
    assert_eq!(sent[1].json()["stream"], true);
}

/// An image, as a user message's part.
fn image_part() -> Value {
    json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}})
}

/// The bug this guards: an interactive strategy judged the reply to a user
/// message without text (an image alone, no content, `null`) and followed
/// it up quoting an empty question (`... in its ordinary, harmless sense:
/// ""`). A message without text has no question: it is not followed up, the
/// reply is the upstream's first, and the `xsafe` field (and, for a stream
/// passed through, the `x-xsafe-not-applied` header) says what was not
/// applied and why, and what was; `n` is not refused, the strategy judging
/// nothing.
#[tokio::test]
async fn a_user_message_without_text_is_not_followed_up() {
    let upstream = TestServer::start(|_| Reply::chat(REFUSAL));
    let proxy = start("interactive", options(&upstream)).await;
    let users = [
        json!({"role": "user", "content": [image_part()]}),
        json!({"role": "user"}),
        json!({"role": "user", "content": null}),
        json!({"role": "user", "content": [{"type": "text", "text": " "}, image_part()]}),
    ];
    let mut asked = 0;
    for user in &users {
        for stream in [false, true] {
            let body = json!({"model": "m", "stream": stream, "n": 2, "messages": [user]});
            let r = post(&proxy.url, &body).await;
            asked += 1;
            assert_eq!(r.status(), 200, "{user}, stream {stream}");
            assert_eq!(r.headers()[FOLLOWUPS_HEADER], "0");
            let header = r.headers()[NOT_APPLIED_HEADER]
                .to_str()
                .unwrap()
                .to_string();
            assert_eq!(
                header,
                "the last user message has no text, so there is no question: not applied: \
                 the follow-ups (the reply was not judged)"
            );
            let xsafe = if stream {
                // The upstream answered JSON: the stream is made of it.
                let (content, done, events) = read_events(&r.text().await.unwrap());
                assert!(done);
                assert_eq!(content, REFUSAL);
                events.last().unwrap()["xsafe"].clone()
            } else {
                let answer: Value = r.json().await.unwrap();
                assert_eq!(answer["choices"][0]["message"]["content"], REFUSAL);
                answer["xsafe"].clone()
            };
            assert_eq!(xsafe["not_applied"], header.as_str(), "{user}");
            assert_eq!(xsafe["followups"], 0);
            assert!(xsafe.get("verdict").is_none(), "not judged: {xsafe}");
            let sent = upstream.requests().last().unwrap().json();
            assert_eq!(sent["messages"], json!([user]), "as it came");
            assert_eq!(sent["n"], 2);
            assert_eq!(sent["stream"], json!(stream));
        }
    }
    assert_eq!(upstream.request_count(), asked, "one request each");
    assert_eq!(
        metric(&proxy, "xsafe_proxy_followups_sent_total").await,
        "0"
    );
    proxy.stop().await.unwrap();

    // A `user` template has no question to ask either; the system text
    // still applies, and says so.
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_with(templated(dir.path(), &["interactive"]), options(&upstream)).await;
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": [image_part()]}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["xsafe"]["not_applied"],
        "the last user message has no text, so there is no question: not applied: the \
         follow-ups (the reply was not judged), the contextual `user` template; applied: the \
         system text"
    );
    let sent = upstream.requests().last().unwrap().json();
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(
        sent["messages"][1],
        json!({"role": "user", "content": [image_part()]})
    );
    // With a question, all of it applies, and nothing is said.
    let r = post(
        &proxy.url,
        &json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get(NOT_APPLIED_HEADER).is_none());
    let answer: Value = r.json().await.unwrap();
    assert!(answer["xsafe"].get("not_applied").is_none(), "{answer}");
    assert_eq!(answer["xsafe"]["followups"], 2, "refused every time");
    proxy.stop().await.unwrap();
}

/// The bug this guards: a conversation without a user message (a system
/// message alone, asking for a haiku) was refused with a 400 under every
/// strategy, baseline too. Now baseline passes it through as it came, and
/// a strategy applies what needs no question, its system text (after the
/// client's, as always), and none of what does: exemplar turns, which
/// would end the conversation on an answer of their own, and follow-ups
/// (`n` is not refused). The `xsafe` field says what was not applied.
#[tokio::test]
async fn a_conversation_without_a_user_message_gets_what_needs_no_question() {
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let dir = tempfile::tempdir().unwrap();
    let haiku = json!([{"role": "system", "content": "Write a haiku about the sea."}]);
    // Contextual's system text for no question: no type note.
    let contextual_text = Registry::builtin()
        .build("contextual", &BuildOptions::default())
        .unwrap()
        .opening(&Prompt::new(""))
        .unwrap()[0]
        .content
        .clone();
    let no_question =
        "the conversation has no user message, so there is no question: not applied: ";
    for (strategy, said) in [
        ("baseline", None),
        ("contextual", None),
        ("few-shot", Some("the few-shot exemplars".to_string())),
        (
            "interactive",
            Some("the follow-ups (the reply was not judged)".to_string()),
        ),
        (
            "ctx-fs-int",
            Some(
                "the follow-ups (the reply was not judged), the few-shot exemplars; applied: \
                 the system text"
                    .to_string(),
            ),
        ),
    ] {
        let proxy = start_with(with_system_texts(dir.path(), strategy), options(&upstream)).await;
        for stream in [false, true] {
            let body = json!({"model": "m", "n": 2, "stream": stream, "messages": haiku});
            let r = post(&proxy.url, &body).await;
            assert_eq!(r.status(), 200, "{strategy}");
            let header = r
                .headers()
                .get(NOT_APPLIED_HEADER)
                .map(|v| v.to_str().unwrap().to_string());
            let xsafe = if stream {
                let (content, done, events) = read_events(&r.text().await.unwrap());
                assert!(done);
                assert_eq!(content, ANSWER);
                events.last().unwrap()["xsafe"].clone()
            } else {
                let answer: Value = r.json().await.unwrap();
                assert_eq!(answer["choices"][0]["message"]["content"], ANSWER);
                answer["xsafe"].clone()
            };
            let expected = said.as_ref().map(|s| format!("{no_question}{s}"));
            assert_eq!(header, expected, "{strategy}");
            assert_eq!(
                xsafe.get("not_applied").and_then(Value::as_str),
                expected.as_deref(),
                "{strategy}"
            );
            let sent = upstream.requests().last().unwrap().json();
            let messages = sent["messages"].as_array().unwrap();
            assert_eq!(messages.len(), 1, "{strategy}: {sent}");
            let system = messages[0]["content"].as_str().unwrap();
            match strategy {
                "baseline" | "few-shot" | "interactive" => {
                    assert_eq!(sent["messages"], haiku, "{strategy}")
                }
                "contextual" => assert_eq!(
                    system,
                    format!("Write a haiku about the sea.\n\n{contextual_text}")
                ),
                _ => {
                    assert!(
                        system.starts_with("Write a haiku about the sea.\n\n")
                            && system.ends_with("Answer as in the earlier turns."),
                        "{system}"
                    )
                }
            }
            assert_eq!(sent["n"], 2);
        }
        proxy.stop().await.unwrap();
    }
    // One request each: nothing followed up.
    assert_eq!(upstream.request_count(), 10);
}

/// A request's answer, read off a raw connection: the status, the headers
/// (names in lower case) and the body, by its `Content-Length`. `None` when
/// the connection ended first.
async fn read_answer(
    stream: &mut tokio::net::TcpStream,
) -> Option<(u16, Vec<(String, String)>, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some((status, headers, body))
}

/// The bug this guards: an answer given without reading the request's body
/// (a 401 for a wrong key, a 404 for a route the proxy does not serve, a
/// 405) left it unread, and hyper then closed the kept-alive connection
/// without saying so: an SDK sending its next request on it failed with a
/// broken pipe or a reset (a few in a hundred, depending on whether the
/// body had arrived when the answer went). The body is sent here after the
/// headers, a moment later, as a client may; the answer must come without
/// `Connection: close`, and the next request on the same connection must be
/// answered. A body over the limit is not read: its 413 says
/// `Connection: close`, and the proxy closes the connection.
#[tokio::test]
async fn an_answer_that_did_not_need_the_body_keeps_the_connection_usable() {
    use tokio::io::AsyncWriteExt;
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let mut o = options(&upstream);
    o.max_body_bytes = 200_000;
    let proxy = start("contextual", o).await;
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let chat = |content: &str| {
        json!({"model": "m", "messages": [{"role": "user", "content": content}]}).to_string()
    };
    let request = |method: &str, path: &str, key: &str, body: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
    };
    let pad = "y".repeat(100_000);
    for (method, path, key, status) in [
        ("POST", "/v1/chat/completions", "wrong", 401),
        ("POST", "/v1/completions", KEY, 404),
        ("POST", "/v1/models", KEY, 405),
        ("GET", "/v1/models/x/y/../z", "wrong", 401),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        for round in 0..3 {
            let body = chat(&pad);
            stream
                .write_all(request(method, path, key, &body).as_bytes())
                .await
                .unwrap();
            // The answer may be on its way before the body is.
            tokio::time::sleep(Duration::from_millis(30)).await;
            stream.write_all(body.as_bytes()).await.unwrap();
            let (got, headers, _) = read_answer(&mut stream)
                .await
                .unwrap_or_else(|| panic!("{method} {path}: no answer in round {round}"));
            assert_eq!(got, status, "{method} {path}");
            assert!(
                !headers
                    .iter()
                    .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close")),
                "{method} {path}: {headers:?}"
            );
            // The next request on the same connection is answered.
            let body = chat(PROMPT);
            let next = request("POST", "/v1/chat/completions", KEY, &body) + &body;
            stream.write_all(next.as_bytes()).await.unwrap_or_else(|e| {
                panic!("{method} {path}: the connection was closed after the answer: {e}")
            });
            let (got, _, answer) = read_answer(&mut stream)
                .await
                .unwrap_or_else(|| panic!("{method} {path}: connection closed after it"));
            assert_eq!(
                got,
                200,
                "{method} {path}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
    }

    // A body over the limit is not waited for: the answer says close, and
    // the connection is closed after it.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = chat(&"y".repeat(300_000));
    stream
        .write_all(request("POST", "/v1/chat/completions", KEY, &body).as_bytes())
        .await
        .unwrap();
    let (got, headers, _) = read_answer(&mut stream).await.unwrap();
    assert_eq!(got, 413);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close")),
        "{headers:?}"
    );
    assert!(read_answer(&mut stream).await.is_none(), "closed");
    // A wrong key with such a body: not read either, and said so.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(request("POST", "/v1/chat/completions", "wrong", &body).as_bytes())
        .await
        .unwrap();
    let (got, headers, _) = read_answer(&mut stream).await.unwrap();
    assert_eq!(got, 401);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close")),
        "{headers:?}"
    );
    proxy.stop().await.unwrap();
    assert_eq!(upstream.request_count(), 12);
}

/// A chat request for `body` written whole on a connection of its own,
/// for a client that then goes away: the connection.
async fn send_alone(proxy: &Running, body: &Value) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = proxy.url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.to_string();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    socket
}

/// The value of the metric `name` once it is `value`, waiting for it (at
/// most 20 s: what is counted when a client goes away is counted when the
/// proxy notices, not when the client's socket closes).
async fn metric_becomes(proxy: &Running, name: &str, value: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = metrics_of(proxy).await;
        let now = text
            .lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()));
        if now.as_deref() == Some(value) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} is {now:?}, not {value}, in\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (at most 20 s) until `upstream` has received `n` requests.
async fn requests_reach(upstream: &TestServer, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while upstream.request_count() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream got no request {n}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The bug this guards: the model list, a model, an unknown path (404) and
/// a method a route does not take (405) were counted in the requests
/// metric but never logged. Every counted request is logged as a chat
/// completion is: a success at info, a failure as a warning, each with the
/// client's name, the status and how long it took.
#[tokio::test]
async fn every_counted_api_request_is_logged() {
    let logs = Logs::capture_from(tracing::Level::INFO);
    let upstream = TestServer::start(|r| {
        if r.path.starts_with("/v1/models") {
            Reply::json(&json!({"object": "list", "data": [{"id": "m", "object": "model"}]}))
        } else {
            Reply::chat(ANSWER)
        }
    });
    let proxy = start("contextual", options(&upstream)).await;
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post(&proxy.url, &ask).await.status(), 200);
    for (path, status) in [
        ("/v1/models", 200),
        ("/v1/models/m", 200),
        ("/v1/nonexist", 404),
        ("/v1/chat/completions", 405),
    ] {
        let r = client()
            .get(format!("{}{path}", proxy.url))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{path}");
    }
    let metrics = metrics_of(&proxy).await;
    proxy.stop().await.unwrap();
    assert!(
        metrics.contains("xsafe_proxy_requests_total{status=\"200\"} 3"),
        "{metrics}"
    );
    let log = logs.text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("status=")).collect();
    assert_eq!(lines.len(), 5, "one line for each request counted: {log}");
    for (what, status) in [
        ("chat completion", 200),
        ("model list", 200),
        ("model", 200),
        ("no such route", 404),
        ("method not allowed", 405),
    ] {
        assert!(
            lines.iter().any(|l| l.contains(&format!("message={what}"))
                && l.contains(&format!("status={status} "))
                && l.contains("ms=")),
            "{what} in {log}"
        );
    }
    // The routes that check the key name the client whose key it was; a
    // 404 or a 405 checks none (`-`).
    let named = lines.iter().filter(|l| l.contains("client=test ")).count();
    assert_eq!(named, 3, "{log}");
}

/// A client that closes its connection while the proxy waits on the
/// upstream (plain, streaming, or during an interactive strategy's
/// follow-up) was invisible: hyper dropped the request's handling, and
/// with it the code that counts and logs it. It is counted as a 499
/// `client_closed` in the requests and errors metrics, its upstream
/// request as `cancelled`, and logged with the client's name and the time
/// it took. A body cut short by the client's hang-up is the same 499, not
/// a 400 for an unreadable body.
#[tokio::test]
async fn a_client_that_goes_away_before_its_answer_is_counted_and_logged_as_499() {
    use tokio::io::AsyncWriteExt;
    let logs = Logs::capture();
    let slow = Duration::from_secs(5);
    let upstream = TestServer::start(move |r| {
        // The interactive strategy's follow-up is the slow one.
        if user_turns(r) > 1 || r.last_user_message() == "slow" {
            Reply::chat(ANSWER).slow(slow)
        } else {
            Reply::chat(REFUSAL)
        }
    });
    let slow_ask = |stream: bool| {
        json!({"model": "m", "stream": stream,
            "messages": [{"role": "user", "content": "slow"}]})
    };
    let proxy = start("contextual", options(&upstream)).await;
    for (n, stream) in [(1, false), (2, true)] {
        let socket = send_alone(&proxy, &slow_ask(stream)).await;
        requests_reach(&upstream, n).await;
        drop(socket);
        let count = n.to_string();
        metric_becomes(&proxy, "xsafe_proxy_requests_total{status=\"499\"}", &count).await;
        metric_becomes(
            &proxy,
            "xsafe_proxy_errors_total{kind=\"client_closed\"}",
            &count,
        )
        .await;
        metric_becomes(
            &proxy,
            "xsafe_proxy_upstream_requests_total{outcome=\"cancelled\"}",
            &count,
        )
        .await;
    }
    let log = logs.text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("code=\"client_closed\""))
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    for line in lines {
        for field in ["client=test ", "status=499 ", "ms="] {
            assert!(line.contains(field), "{field} in {line}");
        }
        assert!(!line.contains("slow"), "the prompt is not logged: {line}");
    }
    proxy.stop().await.unwrap();

    // During an interactive strategy's follow-up.
    let proxy = start("interactive", options(&upstream)).await;
    let before = upstream.request_count();
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    let socket = send_alone(&proxy, &ask).await;
    requests_reach(&upstream, before + 2).await;
    drop(socket);
    metric_becomes(&proxy, "xsafe_proxy_requests_total{status=\"499\"}", "1").await;
    metric_becomes(
        &proxy,
        "xsafe_proxy_upstream_requests_total{outcome=\"cancelled\"}",
        "1",
    )
    .await;
    assert_eq!(
        metric(
            &proxy,
            "xsafe_proxy_upstream_requests_total{outcome=\"ok\"}"
        )
        .await,
        "1"
    );
    assert_eq!(
        metric(&proxy, "xsafe_proxy_followups_sent_total").await,
        "1"
    );
    proxy.stop().await.unwrap();

    // A body the client stops sending and hangs up on.
    let proxy = start("contextual", options(&upstream)).await;
    let addr = proxy.url.trim_start_matches("http://").to_string();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    socket
        .write_all(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"mo"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(socket);
    metric_becomes(&proxy, "xsafe_proxy_requests_total{status=\"499\"}", "1").await;
    let metrics = metrics_of(&proxy).await;
    assert!(!metrics.contains("status=\"400\""), "{metrics}");
    assert!(!metrics.contains("unreadable_body"), "{metrics}");
    // A body whose chunked framing is broken is still the client's 400.
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    socket
        .write_all(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
                 Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
                 2\r\n{{}}\r\nzz\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (status, _, body) = read_answer(&mut socket).await.expect("answered");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unreadable_body"), "{body}");
    assert_eq!(
        metric(&proxy, "xsafe_proxy_errors_total{kind=\"unreadable_body\"}").await,
        "1"
    );
    proxy.stop().await.unwrap();
}

/// An upstream that streams events as fast as its client takes them and
/// never ends; the handle resolves once a write fails, when the proxy has
/// closed the connection, with how many bytes it had written by then.
async fn endless_stream_upstream() -> (String, tokio::sync::oneshot::Receiver<usize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let (closed, closed_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.ends_with(b"}") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0);
            request.extend_from_slice(&buf[..n]);
        }
        socket
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                  transfer-encoding: chunked\r\n\r\n",
            )
            .await
            .unwrap();
        let text = "x".repeat(4000);
        let event = format!(
            "data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\
             \"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
        );
        let chunk = format!("{:x}\r\n{event}\r\n", event.len());
        let mut written = 0;
        while socket.write_all(chunk.as_bytes()).await.is_ok() {
            written += chunk.len();
        }
        let _ = closed.send(written);
    });
    (url, closed_rx)
}

/// A streaming client that stops reading held its upstream request open
/// for as long as it stayed connected: `--timeout` watched the upstream
/// only. Once it has accepted nothing for the timeout its connection is
/// closed, and the upstream's with it; counted as `client_stalled` and
/// logged with the client's name.
#[tokio::test]
async fn a_streaming_client_that_stops_reading_is_disconnected_with_its_upstream() {
    use tokio::io::AsyncWriteExt;
    let logs = Logs::capture();
    let (url, closed) = endless_stream_upstream().await;
    let mut o = ProxyOptions::new(url);
    o.keys = options(&TestServer::start(|_| Reply::chat(ANSWER))).keys;
    o.timeout = Duration::from_secs(1);
    let proxy = start("contextual", o).await;
    let addr: std::net::SocketAddr = proxy.url.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut client = socket.connect(addr).await.unwrap();
    let body = STREAMED.to_string();
    client
        .write_all(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // Never read: the upstream's connection is closed all the same.
    let written = tokio::time::timeout(Duration::from_secs(60), closed)
        .await
        .expect("the upstream's connection was closed")
        .unwrap();
    assert!(written > 0);
    metric_becomes(
        &proxy,
        "xsafe_proxy_errors_total{kind=\"client_stalled\"}",
        "1",
    )
    .await;
    // Its 200 was sent: no 499 beside it.
    assert_eq!(
        metric(&proxy, "xsafe_proxy_requests_total{status=\"200\"}").await,
        "1"
    );
    let log = logs.text();
    let line = log
        .lines()
        .find(|l| l.contains("code=\"client_stalled\""))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("client=test "), "{line}");
    assert!(
        line.contains("accepted none of the stream for 1 s"),
        "{line}"
    );
    drop(client);
    proxy.stop().await.unwrap();
}

/// Failures are logged as successes are, with the client's name and the
/// time taken: a 429 and a 502 passed on, a 400 of the proxy's own, a
/// stream the upstream broke off after it started; a 401 has no client
/// name to give. Never the prompt, the client's key or the upstream's.
#[tokio::test]
async fn failed_requests_are_logged_with_the_client_and_the_time() {
    let logs = Logs::capture();
    let upstream = TestServer::start(|r| match r.last_user_message().as_str() {
        "busy" => Reply::rate_limited(Some(30)),
        "down" => Reply::status(500, r#"{"error":{"message":"boom"}}"#),
        _ => Reply::Truncated(Box::new(Reply::Full {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: sse_body().into_bytes(),
        })),
    });
    let mut o = options(&upstream);
    o.upstream_retries = 0;
    let proxy = start("contextual", o).await;
    let say = |text: &str, stream: bool| {
        json!({"model": "m", "stream": stream,
            "messages": [{"role": "user", "content": text}]})
    };
    assert_eq!(post(&proxy.url, &say("busy", false)).await.status(), 429);
    assert_eq!(post(&proxy.url, &say("down", false)).await.status(), 502);
    let r = client()
        .post(format!("{}/v1/chat/completions", proxy.url))
        .bearer_auth(KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = post(&proxy.url, &say(PROMPT, true)).await;
    assert_eq!(r.status(), 200);
    let _ = r.text().await;
    let r = client()
        .post(format!("{}/v1/chat/completions", proxy.url))
        .bearer_auth("wrong")
        .json(&say("hi", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    proxy.stop().await.unwrap();
    let log = logs.text();
    for (status, code) in [
        ("429", "upstream_rejected"),
        ("502", "upstream_error"),
        ("400", "invalid_json"),
        ("200", "upstream_stream"),
    ] {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("code=\"{code}\"")))
            .unwrap_or_else(|| panic!("no {code} in {log}"));
        for field in [
            "client=test ".to_string(),
            format!("status={status} "),
            "ms=".to_string(),
        ] {
            assert!(line.contains(&field), "{field} in {line}");
        }
    }
    let line = log
        .lines()
        .find(|l| l.contains("code=\"invalid_api_key\""))
        .unwrap_or_else(|| panic!("no 401 in {log}"));
    assert!(line.contains("client=- "), "{line}");
    for secret in [PROMPT, KEY, UPSTREAM_KEY] {
        assert!(!log.contains(secret), "{secret} in {log}");
    }
}

/// `/healthz` probes and `/metrics` scrapes are not API requests: the
/// requests metric counts only paths under `/v1/` (a 404 there too), so
/// that probes do not dilute its error ratio.
#[tokio::test]
async fn probes_and_scrapes_are_not_counted_as_requests() {
    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let proxy = start("contextual", options(&upstream)).await;
    for _ in 0..5 {
        let r = client()
            .get(format!("{}/healthz", proxy.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        metrics_of(&proxy).await;
    }
    let metrics = metrics_of(&proxy).await;
    assert!(
        !metrics.contains("xsafe_proxy_requests_total{"),
        "{metrics}"
    );
    assert!(
        metrics.contains("# HELP xsafe_proxy_requests_total API requests (paths under /v1/;"),
        "{metrics}"
    );
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post(&proxy.url, &ask).await.status(), 200);
    let r = client()
        .get(format!("{}/v1/embeddings", proxy.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let metrics = metrics_of(&proxy).await;
    for line in [
        "xsafe_proxy_requests_total{status=\"200\"} 1\n",
        "xsafe_proxy_requests_total{status=\"404\"} 1\n",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    proxy.stop().await.unwrap();
}

/// A stop that cannot wait for every request (a steady stream outlasting
/// `--timeout` and the grace) says how many connections it cut, in words
/// about the proxy's requests (their upstream requests), not the
/// annotation page's, and reports the count so that `xsafe serve` exits
/// non-zero; a clean stop reports none.
#[tokio::test]
async fn a_stop_that_cuts_requests_says_how_many() {
    use futures::StreamExt;
    const EVENTS: &[&str] = &[FIRST_EVENT; 400];
    let logs = Logs::capture();
    let mut o = options_for(chunked_stream_upstream(EVENTS).await);
    o.timeout = Duration::from_millis(500);
    let proxy = start("contextual", o).await;
    let r = post(&proxy.url, &STREAMED).await;
    assert_eq!(r.status(), 200);
    let reading = tokio::spawn(async move {
        let mut body = r.bytes_stream();
        while let Some(Ok(_)) = body.next().await {}
    });
    let stopped = tokio::time::timeout(
        Duration::from_secs(30) + xsafe_server::SHUTDOWN_GRACE,
        proxy.stop(),
    )
    .await
    .expect("stopped after the drain time")
    .unwrap();
    assert_eq!(stopped.cut, 1);
    let log = logs.text();
    assert!(
        log.contains("stopping without the 1 connection still open after 5.5 s"),
        "{log}"
    );
    assert!(
        log.contains("each upstream request under way is cancelled"),
        "{log}"
    );
    // Nothing said in the plural of the one connection.
    assert!(!log.contains("their clients"), "{log}");
    assert!(!log.contains("run store"), "{log}");
    reading.abort();

    let upstream = TestServer::start(|_| Reply::chat(ANSWER));
    let proxy = start("contextual", options(&upstream)).await;
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post(&proxy.url, &ask).await.status(), 200);
    assert_eq!(proxy.stop().await.unwrap().cut, 0);
}

/// `max_body_bytes = 0` (or `--max-body-bytes 0`) would answer every
/// request 413: refused at start.
#[test]
fn a_body_limit_of_zero_is_refused() {
    let mut o = ProxyOptions::new("http://127.0.0.1:9/v1");
    o.allow_anonymous = true;
    o.max_body_bytes = 0;
    let strategy = Registry::builtin()
        .build("baseline", &BuildOptions::default())
        .unwrap();
    let Err(e) = Proxy::new(o, strategy, None) else {
        panic!("a body limit of 0 was accepted");
    };
    let message = e.to_string();
    assert!(message.contains("--max-body-bytes 0"), "{message}");
    assert!(message.contains("413"), "{message}");
}

/// An upstream that answers 401 quoting the headers it got, unless the
/// `api-key` header is `right-azure-key-123`.
fn wants_api_key(r: &Request) -> Reply {
    if r.header("api-key") == Some("right-azure-key-123") {
        return Reply::chat(ANSWER);
    }
    let said = format!(
        "bad key {} / {}",
        r.header("api-key").unwrap_or("-"),
        r.header("authorization").unwrap_or("-")
    );
    Reply::status(401, json!({"error": {"message": said}}).to_string())
}

/// The bug this guards: a configured header whose name does not look like
/// a credential's (`X-Custom`, `OpenAI-Organization`, `X-Title`) had its
/// value reach the client's answer and the log when the upstream quoted
/// its request's headers back. Every configured value long enough to be
/// told from a word (8 characters) is `[header value]` there, whatever
/// the name; a shorter one is left.
#[tokio::test]
async fn configured_header_values_the_upstream_quotes_back_are_never_shown() {
    let logs = Logs::capture();
    let upstream = TestServer::start(|r| {
        let said: Vec<String> = r.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        Reply::status(
            400,
            json!({"error": {"message": said.join("; "), "param": said.join("; ")}}).to_string(),
        )
    });
    let header = |name: &str, value: &str| (name.to_string(), Secret(value.to_string()));
    let mut o = options(&upstream);
    o.upstream_headers = vec![
        header("X-Custom", "custom-value-VAL1"),
        header("OpenAI-Organization", "org-VAL2-0123"),
        header("X-Title", "My VAL3 App"),
        header("X-Short", "VAL4"),
    ];
    let proxy = start("contextual", o).await;
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let (status, err) = error_of(post(&proxy.url, &ask).await).await;
    assert_eq!(status, 400);
    proxy.stop().await.unwrap();
    let sent = upstream.requests().pop().unwrap();
    assert_eq!(sent.header("x-custom"), Some("custom-value-VAL1"));
    let err = err.to_string();
    let log = logs.text();
    for secret in ["VAL1", "VAL2", "VAL3"] {
        assert!(!err.contains(secret), "{secret} in {err}");
        assert!(!log.contains(secret), "{secret} in {log}");
    }
    assert!(err.contains("x-custom: [header value]"), "{err}");
    assert!(err.contains("x-title: [header value]"), "{err}");
    assert!(
        err.contains("x-short: VAL4"),
        "a short value is left: {err}"
    );
}

/// `upstream_headers` go with every upstream request (chat and models),
/// their values never in the log even when the upstream quotes them back;
/// an `Authorization` among them is sent in place of the bearer key; one
/// the proxy sets itself, or that cannot be sent, is refused at start
/// naming it and not its value.
#[tokio::test]
async fn upstream_headers_are_sent_and_never_shown() {
    let logs = Logs::capture();
    let upstream = TestServer::start(wants_api_key);
    let header = |name: &str, value: &str| (name.to_string(), Secret(value.to_string()));
    let mut o = options(&upstream);
    o.upstream_headers = vec![
        header("api-key", "right-azure-key-123"),
        header("HTTP-Referer", "https://example.com/app"),
    ];
    let proxy = start("contextual", o).await;
    let ask = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(post(&proxy.url, &ask).await.status(), 200);
    let r = client()
        .get(format!("{}/v1/models", proxy.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let _ = r.text().await;
    for sent in upstream.requests() {
        assert_eq!(sent.header("api-key"), Some("right-azure-key-123"));
        assert_eq!(sent.header("http-referer"), Some("https://example.com/app"));
        assert_eq!(
            sent.header("authorization"),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str())
        );
    }
    proxy.stop().await.unwrap();

    // A wrong one quoted back, and an Authorization in place of the key.
    let mut o = options(&upstream);
    o.upstream_headers = vec![
        header("api-key", "wrong-azure-key-456"),
        header("Authorization", "Token custom-credential-789"),
    ];
    let proxy = start("contextual", o).await;
    let (status, err) = error_of(post(&proxy.url, &ask).await).await;
    assert_eq!(status, 502);
    let sent = upstream.requests().pop().unwrap();
    assert_eq!(
        sent.header("authorization"),
        Some("Token custom-credential-789")
    );
    proxy.stop().await.unwrap();
    let log = logs.text();
    for secret in ["wrong-azure-key-456", "custom-credential-789", UPSTREAM_KEY] {
        assert!(!log.contains(secret), "{secret} in {log}");
        assert!(!err.to_string().contains(secret), "{secret} in {err}");
    }
    assert!(log.contains("[header value]"), "{log}");
    assert!(
        log.contains("the `Authorization` header of `upstream_headers`"),
        "{log}"
    );

    let strategy = || {
        Registry::builtin()
            .build("baseline", &BuildOptions::default())
            .unwrap()
    };
    for (name, value, said) in [
        ("Content-Length", "5", "the proxy's own to send"),
        (
            "Accept-Encoding",
            "gzip",
            "the proxy reads answers uncompressed",
        ),
        ("bad name", "x", "not a valid HTTP header name"),
        (
            "X-Key",
            "hidden-text\nX-Other: 1",
            "not a valid HTTP header value",
        ),
    ] {
        let mut o = options(&upstream);
        o.upstream_headers = vec![header(name, value)];
        let Err(e) = Proxy::new(o, strategy(), None) else {
            panic!("{name} was accepted");
        };
        let message = e.to_string();
        assert!(message.contains(said), "{message}");
        assert!(message.contains(name), "{message}");
        assert!(!message.contains("hidden-text"), "{message}");
    }
}
