//! A provider's refusal (`"content": null, "refusal": "..."`) sent back as
//! the assistant's turn of a follow-up, against a real server on 127.0.0.1:
//! the refusal's text is that turn's content, as `xsafe serve` sends it,
//! never an empty assistant message.

use serde_json::{Value, json};
use std::time::Duration;
use xsafe_core::{ChatRequest, Message, Target};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

const REFUSAL: &str = "PROVIDER REFUSAL TEXT";

fn target(server: &TestServer) -> OpenAiTarget {
    let mut config = OpenAiConfig::new("test-model");
    config.base_urls = vec![format!("{}/v1", server.url())];
    config.api_key_env = "XSAFE_TEST_KEY_THAT_IS_NOT_SET".into();
    config.retry_base = Duration::from_millis(5);
    config.max_retries = 0;
    OpenAiTarget::new(config).unwrap()
}

/// A completion whose message is the provider's refusal, no content.
fn provider_refusal() -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "test-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": null, "refusal": REFUSAL},
            "finish_reason": "stop"
        }]
    })
}

/// The bug this guards: the reply to a provider refusal came back as an
/// assistant message with empty content and the refusal in its own field,
/// and the next request sent `{"role": "assistant", "content": ""}`.
#[tokio::test]
async fn a_provider_refusal_is_the_assistant_turn_of_the_next_request() {
    let server = TestServer::start(|r| {
        if r.json()["messages"].as_array().unwrap().len() == 1 {
            Reply::json(&provider_refusal())
        } else {
            Reply::chat("Fine, here it is.")
        }
    });
    let target = target(&server);
    let first = target
        .chat(&ChatRequest::new(vec![Message::user("Q?")]))
        .await
        .unwrap();
    // What the target returns (and a run stores) is as before: the
    // refusal in its field, the content empty.
    assert_eq!(first.message.content, "");
    assert_eq!(first.message.refusal.as_deref(), Some(REFUSAL));

    let followup = vec![
        Message::user("Q?"),
        first.message.clone(),
        Message::user("I meant the harmless sense."),
    ];
    target
        .chat(&ChatRequest::new(followup.clone()))
        .await
        .unwrap();
    let sent = server.requests()[1].json()["messages"].clone();
    assert_eq!(
        sent,
        json!([
            {"role": "user", "content": "Q?"},
            {"role": "assistant", "content": REFUSAL},
            {"role": "user", "content": "I meant the harmless sense."},
        ])
    );
    // The request itself was not changed: the refusal stays in its field.
    assert_eq!(followup[1].content, "");
    assert_eq!(followup[1].refusal.as_deref(), Some(REFUSAL));

    // A message with content of its own keeps it, refusal or not; a
    // blank content (whitespace) is no answer, and the refusal is sent.
    for (content, expected) in [
        ("Partly: see below.", "Partly: see below."),
        (" \n", REFUSAL),
    ] {
        let mut reply = Message::assistant(content);
        reply.refusal = Some(REFUSAL.into());
        target
            .chat(&ChatRequest::new(vec![
                Message::user("Q?"),
                reply,
                Message::user("And?"),
            ]))
            .await
            .unwrap();
        let last = server.requests().last().unwrap().json();
        assert_eq!(last["messages"][1]["content"], expected, "{content:?}");
    }
}
