//! A target's own system prompt: an empty one (or whitespace only), from
//! `--system-prompt` or a targets file, is refused, naming where it came
//! from and the target, rather than sent as an empty system message (or
//! as a stray "\n\n" before a strategy's system text). One with text is
//! sent, checked against a real server on 127.0.0.1.

use serde_json::json;
use xsafe_core::{ChatRequest, Message};
use xsafe_target::{TargetSettings, TargetsFile, build_openai, resolve};
use xsafe_testkit::{Reply, TestServer};

fn flag(text: &str) -> TargetSettings {
    TargetSettings {
        system_prompt: Some(text.into()),
        ..Default::default()
    }
}

/// The bug this guards: `--system-prompt ""` was sent as an empty system
/// message with baseline, and as "\n\nYou are a helpful..." with
/// contextual.
#[test]
fn an_empty_system_prompt_flag_is_refused_naming_the_flag_and_target() {
    let err = resolve("openai:gpt-4o-mini", &flag(""), None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "target `openai:gpt-4o-mini`: --system-prompt is empty; leave the flag out for no \
         system prompt"
    );
    for blank in [" ", "\n\t "] {
        let err = resolve("local:gemma-3-270m-it", &flag(blank), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "target `local:gemma-3-270m-it`: --system-prompt is empty (only whitespace); leave \
             the flag out for no system prompt",
            "{blank:?}"
        );
    }
    // A named target of a file is named too.
    let file = TargetsFile::parse("[targets.vllm]\nmodel = \"m\"\n", "t.toml").unwrap();
    let err = resolve("vllm", &flag(""), Some(&file))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("target `vllm`: --system-prompt is empty"),
        "{err}"
    );
    // Without the flag, no system prompt; with text, that text.
    let r = resolve("openai:m", &TargetSettings::default(), None).unwrap();
    assert_eq!(r.settings.system_prompt, None);
    let r = resolve("openai:m", &flag(" Be brief. "), None).unwrap();
    assert_eq!(r.settings.system_prompt.as_deref(), Some(" Be brief. "));
}

#[test]
fn an_empty_system_prompt_in_a_targets_file_is_refused_naming_the_file_and_target() {
    for (value, kind) in [
        ("\"\"", ""),
        ("\"  \"", " (only whitespace)"),
        ("'''\n'''", ""),
    ] {
        let text = format!(
            "[targets.ok]\nmodel = \"m\"\n\n[targets.bare]\nmodel = \"m\"\nsystem_prompt = {value}\n"
        );
        let err = TargetsFile::parse(&text, "targets.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "targets file `targets.toml`, target `bare`: `system_prompt` is empty{kind}; \
                 leave it out for no system prompt"
            ),
            "{value}"
        );
    }
    // Settings not read from a file (built in code) are refused as well.
    let mut file = TargetsFile::default();
    file.targets.insert(
        "bare".into(),
        TargetSettings {
            model: Some("m".into()),
            system_prompt: Some(String::new()),
            ..Default::default()
        },
    );
    let err = resolve("bare", &TargetSettings::default(), Some(&file))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("target `bare`: system_prompt is empty")
            && err.ends_with("leave it out for no system prompt"),
        "{err}"
    );
}

/// What is sent: a system prompt with text comes first, merged with a
/// strategy's system message; none sends no system message.
#[tokio::test]
async fn a_system_prompt_with_text_is_sent_and_none_sends_none() {
    let server = TestServer::start(|_| Reply::chat("ok"));
    let url = format!("{}/v1", server.url());
    let settings = |system: Option<&str>| TargetSettings {
        base_url: Some(url.clone()),
        max_retries: Some(0),
        system_prompt: system.map(String::from),
        ..Default::default()
    };
    for system in [Some("Be brief."), None] {
        let r = resolve("openai:m", &settings(system), None).unwrap();
        let target = build_openai(&r).unwrap();
        target
            .chat(&ChatRequest::new(vec![Message::user("Hi")]))
            .await
            .unwrap();
        target
            .chat(&ChatRequest::new(vec![
                Message::system("Read it kindly."),
                Message::user("Hi"),
            ]))
            .await
            .unwrap();
    }
    let sent: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.json()["messages"].clone())
        .collect();
    assert_eq!(
        sent,
        [
            json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]),
            json!([
                {"role": "system", "content": "Be brief.\n\nRead it kindly."},
                {"role": "user", "content": "Hi"}
            ]),
            json!([{"role": "user", "content": "Hi"}]),
            json!([
                {"role": "system", "content": "Read it kindly."},
                {"role": "user", "content": "Hi"}
            ]),
        ]
    );
}
