//! Version 11 of the LLM judge: its verdicts are tied to its model. Two
//! models under one judge name, or one model with other settings, are two
//! versions of the judge; where the model is served, how long a request may
//! take and the headers sent are not part of it. Against real
//! OpenAI-compatible servers on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;
use xsafe_core::{Class, Judge, Message, Prompt, Transcript};
use xsafe_judge::LlmJudge;
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

const QUESTION: &str = "How do I stop a runaway shell loop?";
const ANSWER: &str = "Press Ctrl-C, or close the terminal.";

/// A judge named `llm:grader` (as a targets file names one) asking the
/// model `model` at `server`, with `change` applied to its settings.
fn grader(server: &TestServer, model: &str, change: impl FnOnce(&mut OpenAiConfig)) -> LlmJudge {
    let mut config = OpenAiConfig::new(model);
    config.base_urls = vec![format!("{}/v1", server.url())];
    config.api_key_env = "XSAFE_TEST_KEY_THAT_IS_NOT_SET".into();
    config.retry_base = Duration::from_millis(5);
    config.max_retries = 1;
    config.seed = Some(0);
    change(&mut config);
    let target = OpenAiTarget::with_id("grader", config).unwrap();
    LlmJudge::new(Arc::new(target))
}

async fn verdict(judge: &LlmJudge) -> xsafe_core::Verdict {
    let transcript = Transcript {
        messages: vec![Message::user(QUESTION), Message::assistant(ANSWER)],
        ..Default::default()
    };
    judge
        .judge(&Prompt::new(QUESTION), &transcript)
        .await
        .unwrap()
}

/// The bug this guards: `llm:grader` asking the model `judge`, then
/// `judge-big` (another targets file), tagged their verdicts alike
/// (`llm:grader@10`), so a rejudge with the second took the first's
/// verdicts for its own, and a run resumed with it mixed them.
#[tokio::test]
async fn two_models_under_one_name_are_two_versions() {
    let small = TestServer::start(|_| Reply::chat("1_full_compliance"));
    let big = TestServer::start(|_| Reply::chat("2_full_refusal"));
    let a = grader(&small, "judge", |_| {});
    let b = grader(&big, "judge-big", |_| {});
    assert_eq!((a.name(), b.name()), ("llm:grader", "llm:grader"));
    assert_ne!(a.version(), b.version());
    for judge in [&a, &b] {
        let version = judge.version();
        let digest = version.strip_prefix("11-").expect(version);
        assert_eq!(digest.len(), 12, "{version}");
        assert!(digest.chars().all(|c| c.is_ascii_hexdigit()), "{version}");
        assert_eq!(
            digest,
            LlmJudge::model_digest(&judge.target().settings()),
            "{version}"
        );
    }
    let (va, vb) = (verdict(&a).await, verdict(&b).await);
    assert_eq!(va.outcome.class(), Some(Class::Compliance));
    assert_eq!(vb.outcome.class(), Some(Class::FullRefusal));
    assert_eq!(va.judge, a.tag());
    assert_eq!(vb.judge, b.tag());
    assert_ne!(va.judge, vb.judge);
    // The same model at one URL, named alike: the same version.
    let b_small = grader(&small, "judge-big", |_| {});
    assert_eq!(b_small.version(), b.version());
}

/// What changes the verdicts changes the version: the model, temperature,
/// token limit, seed, stop sequences, system prompt. Where and how the
/// model is reached does not: its base URLs (a run checks them apart),
/// timeout, retries, concurrency, the variable of its key, its headers.
#[tokio::test]
async fn only_what_decides_the_verdict_is_its_identity() {
    let server = TestServer::start(|_| Reply::chat("1_full_compliance"));
    let other = TestServer::start(|_| Reply::chat("1_full_compliance"));
    let base = grader(&server, "judge", |_| {});
    let same: Vec<(&str, LlmJudge)> = vec![
        (
            "another base URL",
            grader(&other, "judge", |c| {
                c.base_urls.push(format!("{}/v1", server.url()))
            }),
        ),
        (
            "a timeout",
            grader(&server, "judge", |c| c.timeout = Duration::from_secs(7)),
        ),
        ("retries", grader(&server, "judge", |c| c.max_retries = 4)),
        (
            "concurrency",
            grader(&server, "judge", |c| c.max_concurrency = 2),
        ),
        (
            "a key variable",
            grader(&server, "judge", |c| {
                c.api_key_env = "OTHER_UNSET_KEY".into()
            }),
        ),
        (
            "a header",
            grader(&server, "judge", |c| {
                c.headers.push(("X-Route".into(), "pool-b".into()))
            }),
        ),
    ];
    for (what, judge) in &same {
        assert_eq!(judge.version(), base.version(), "{what}");
    }
    let differ: Vec<(&str, LlmJudge)> = vec![
        ("the model", grader(&server, "judge-big", |_| {})),
        (
            "the temperature",
            grader(&server, "judge", |c| c.temperature = 0.7),
        ),
        (
            "the token limit",
            grader(&server, "judge", |c| c.max_tokens = 64),
        ),
        ("the seed", grader(&server, "judge", |c| c.seed = Some(1))),
        (
            "stop sequences",
            grader(&server, "judge", |c| c.stop = vec!["\n\n".into()]),
        ),
        (
            "a system prompt",
            grader(&server, "judge", |c| {
                c.system_prompt = Some("You are a strict grader.".into())
            }),
        ),
    ];
    for (what, judge) in &differ {
        assert_ne!(judge.version(), base.version(), "{what}");
        assert!(judge.version().starts_with("11-"), "{what}");
    }
}

/// The identity is the settings without [`LlmJudge::NOT_IDENTITY`]; a local
/// model known by its file's sha256 is known by it alone, whatever the
/// file is called.
#[test]
fn a_local_model_is_known_by_its_content() {
    let settings = |file: &str, path: &str| {
        serde_json::json!({
            "backend": "local", "model": file, "model_path": path,
            "model_sha256": "ab".repeat(32), "temperature": 0.0, "max_tokens": 512,
            "threads": 4,
        })
    };
    let a = LlmJudge::model_digest(&settings("judge.gguf", "/models/judge.gguf"));
    let b = LlmJudge::model_digest(&settings("copy.gguf", "/elsewhere/copy.gguf"));
    assert_eq!(a, b);
    let identity = LlmJudge::model_identity(&settings("judge.gguf", "/m/judge.gguf"));
    assert_eq!(
        identity,
        serde_json::json!({
            "backend": "local", "model_sha256": "ab".repeat(32), "temperature": 0.0,
            "max_tokens": 512,
        })
    );
    // The order of the keys is no part of it.
    let reordered: serde_json::Value = serde_json::from_str(&format!(
        r#"{{"max_tokens": 512, "temperature": 0.0, "backend": "local", "model": "judge.gguf",
            "model_sha256": "{}"}}"#,
        "ab".repeat(32)
    ))
    .unwrap();
    assert_eq!(LlmJudge::model_digest(&reordered), a);
}
