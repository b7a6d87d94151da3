//! The local target on a real GGUF model, when one is on this machine (see
//! `support::model_path`). Without a model the tests print "skipped: no
//! model" and pass, so the crate's tests run anywhere.
//!
//! Everything runs in one test function on purpose: several models decoding
//! at once would fight over the cores and prove nothing more.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use support::model_path;
use xsafe_core::{ChatRequest, FinishReason, Message, Target, TargetError};
use xsafe_local::{LocalOptions, LocalTarget, TemplateSource};

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new(vec![Message::user(text)])
}

/// Loads as the CLI would: a known model's registry template is the
/// fallback for a GGUF without one (the base Gemma GGUF has none).
fn load(path: &Path, mut options: LocalOptions) -> LocalTarget {
    options.fallback_chat_template = xsafe_target::models::known_by_file(path)
        .and_then(|m| m.chat_template)
        .map(str::to_string);
    LocalTarget::load("local:test", path, options).expect("the model loads")
}

/// The model through a symbolic link of another name is the same target
/// as by its own path: the same file name in its settings (which a run's
/// key reads) and the same chat template, the registry's fallback for the
/// base model included (the link was refused for want of a template).
#[cfg(unix)]
#[test]
fn a_real_model_through_a_link_is_the_same_target() {
    let Some(path) = model_path() else {
        eprintln!("skipped: no model");
        return;
    };
    let dir = std::env::temp_dir().join(format!("xsafe-real-link-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("g.gguf");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(path.canonicalize().unwrap(), &link).unwrap();
    let options = || LocalOptions {
        context: 256,
        max_tokens: 64,
        ..Default::default()
    };
    let direct = load(&path, options()).settings();
    let linked = load(&link, options()).settings();
    std::fs::remove_dir_all(&dir).unwrap();
    for field in [
        "model",
        "model_size_bytes",
        "chat_template_source",
        "chat_template",
    ] {
        assert_eq!(linked[field], direct[field], "{field}");
    }
    assert_ne!(linked["model_path"], direct["model_path"]);
}

#[tokio::test]
async fn a_real_model_answers() {
    let Some(path) = model_path() else {
        eprintln!("skipped: no model");
        return;
    };
    eprintln!("model: {}", path.display());

    let target = Arc::new(load(
        &path,
        LocalOptions {
            max_tokens: 32,
            ..Default::default()
        },
    ));
    let info = target.info();
    assert!(info.size_bytes > 0 && info.parameters > 0);
    let settings = target.settings();
    assert_eq!(settings["backend"], "local");
    assert_eq!(settings["model"], info.file_name.as_str());
    assert_eq!(settings["sampler"], "greedy");
    assert_eq!(
        settings["chat_template_source"],
        info.template_source.as_str()
    );
    if info.template_source == TemplateSource::Fallback {
        // Without the registry's fallback, a GGUF without a template is
        // refused with what to do.
        let err = LocalTarget::load("local:test", &path, LocalOptions::default()).unwrap_err();
        assert!(matches!(err, TargetError::Config(_)), "{err:?}");
        assert!(err.to_string().contains("--chat-template"), "{err}");
    }

    // One short prompt gets a non-empty answer.
    let first = target
        .chat(&ask("What is the capital of France?"))
        .await
        .unwrap();
    eprintln!(
        "answer: {:?} ({:?})",
        first.message.content, first.finish_reason
    );
    assert!(!first.message.content.is_empty());
    let usage = first.usage.unwrap();
    assert!(usage.prompt_tokens > 5 && usage.completion_tokens > 0);
    assert!(matches!(
        first.finish_reason,
        Some(FinishReason::Stop | FinishReason::Length)
    ));

    // Greedy decoding is deterministic.
    let again = target
        .chat(&ask("What is the capital of France?"))
        .await
        .unwrap();
    assert_eq!(again.message.content, first.message.content);

    // Eight requests at once all complete, served one after another by the
    // one context: each answer equals the one it gets alone, so nothing
    // leaks from one request's KV cache into the next.
    let other = target
        .chat(&ask("Write one sentence about the sea."))
        .await
        .unwrap();
    let before = target.stats().requests;
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let target = target.clone();
            tokio::spawn(async move {
                let q = if i % 2 == 0 {
                    "What is the capital of France?"
                } else {
                    "Write one sentence about the sea."
                };
                target.chat(&ask(q)).await
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let answer = task.await.unwrap().unwrap();
        let expected = if i % 2 == 0 { &first } else { &other };
        assert_eq!(
            answer.message.content, expected.message.content,
            "request {i}"
        );
    }
    assert_eq!(target.stats().requests, before + 8);
    eprintln!("8 concurrent requests in {:?}", started.elapsed());

    // Sampling is reproducible for every seed, 4294967295 too, which
    // llama.cpp would take as "pick a random seed".
    let sampled = load(
        &path,
        LocalOptions {
            max_tokens: 24,
            temperature: 1.0,
            ..Default::default()
        },
    );
    for seed in [7, u64::from(u32::MAX), 0xFFFF_FFFF_0000_0000] {
        let mut request = ask("Write one sentence about the sea.");
        request.seed = Some(seed);
        let a = sampled.chat(&request).await.unwrap();
        let b = sampled.chat(&request).await.unwrap();
        assert_eq!(a.message.content, b.message.content, "seed {seed}");
    }
    drop(sampled);

    // A stop string cuts the answer where it first appears.
    let full = &other.message.content;
    let words: Vec<&str> = full.split_whitespace().collect();
    if words.len() >= 3 {
        let stop = format!(" {}", words[2]);
        let at = full.find(&stop).unwrap();
        let stopped = load(
            &path,
            LocalOptions {
                max_tokens: 32,
                stop: vec![stop.clone()],
                ..Default::default()
            },
        );
        let r = stopped
            .chat(&ask("Write one sentence about the sea."))
            .await
            .unwrap();
        assert_eq!(r.message.content, full[..at].trim(), "stop {stop:?}");
        assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    }
    drop(target);

    // The token limit marks the answer as cut.
    let short = load(
        &path,
        LocalOptions {
            max_tokens: 4,
            ..Default::default()
        },
    );
    let r = short
        .chat(&ask("Tell me a long story about a dragon."))
        .await
        .unwrap();
    assert_eq!(r.finish_reason, Some(FinishReason::Length));
    assert_eq!(r.usage.unwrap().completion_tokens, 4);
    drop(short);

    // A prompt longer than the context is refused, saying what to do.
    let tiny = load(
        &path,
        LocalOptions {
            context: 64,
            max_tokens: 64,
            ..Default::default()
        },
    );
    let err = tiny
        .chat(&ask(&"many words here ".repeat(200)))
        .await
        .unwrap_err();
    assert!(matches!(err, TargetError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("raise --context"), "{err}");
    // llama.cpp rounds the context up to a multiple of 256, as the
    // target's info (and its warning) says.
    assert_eq!(
        tiny.info().context,
        xsafe_local::CONTEXT_STEP,
        "{:?}",
        tiny.info()
    );
    assert!(
        err.to_string().starts_with("the prompt is ")
            && err
                .to_string()
                .contains("does not fit the context of 256 tokens"),
        "{err}"
    );
    // A conversation past the context is named as one, not as the prompt.
    let err = tiny
        .chat(&ChatRequest::new(vec![
            Message::user("Hi"),
            Message::assistant("many words here ".repeat(200)),
            Message::user("And?"),
        ]))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the conversation of 3 messages"),
        "{err}"
    );
    drop(tiny);

    // A template llama.cpp knows by name replaces the GGUF's; one it does
    // not know is refused at load.
    let chatml = load(
        &path,
        LocalOptions {
            max_tokens: 96,
            chat_template: Some("chatml".into()),
            ..Default::default()
        },
    );
    assert_eq!(chatml.info().template_source, TemplateSource::Option);
    // A model that does not know `<|im_end|>` as a token may write it as
    // text: the answer is cut there rather than run into another turn.
    for question in ["Hello", "What is the capital of France?"] {
        let r = chatml.chat(&ask(question)).await.unwrap();
        eprintln!("chatml: {:?} ({:?})", r.message.content, r.finish_reason);
        assert!(!r.message.content.contains("<|im_end|>"), "{r:?}");
    }
    drop(chatml);
    let err = LocalTarget::load(
        "local:test",
        &path,
        LocalOptions {
            chat_template: Some("no-such-template".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("--chat-template"), "{err}");
    // A name is quoted whole, not as the cut start of a text.
    assert!(
        err.to_string()
            .contains("cannot apply the chat template `no-such-template` ("),
        "{err}"
    );
    // A Jinja template of one's own is not run: the error says so and
    // names the templates that are accepted.
    let err = LocalTarget::load(
        "local:test",
        &path,
        LocalOptions {
            chat_template: Some(
                "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}".into(),
            ),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("does not run Jinja templates")
            && err.contains("chatml, gemma, llama2, llama3")
            && err.contains("--chat-template NAME"),
        "{err}"
    );
}

/// Throughput and memory on the real model: `cargo test -p xsafe-local
/// --release --test real_model -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a test: run it by hand"]
async fn measure_throughput() {
    let Some(path) = model_path() else {
        eprintln!("skipped: no model");
        return;
    };
    let target = load(
        &path,
        LocalOptions {
            max_tokens: 128,
            ..Default::default()
        },
    );
    // Warm up: the first request pages the model in.
    target.chat(&ask("Hello")).await.unwrap();
    let warm = target.stats();
    let context = "Exaggerated safety is when a language model refuses a safe request \
                   because it looks like an unsafe one, for example refusing to explain how \
                   to kill a Python process. ";
    let started = Instant::now();
    for i in 0..5 {
        let prompt = format!(
            "{}Question {i}: explain in a few sentences why this matters for evaluation.",
            context.repeat(4)
        );
        target.chat(&ask(&prompt)).await.unwrap();
    }
    let wall = started.elapsed();
    let s = target.stats();
    let prompt_tokens = s.prompt_tokens - warm.prompt_tokens;
    let prompt_time = s.prompt_time - warm.prompt_time;
    let generated = s.generated_tokens - warm.generated_tokens;
    let generate_time = s.generate_time - warm.generate_time;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: unknown");
    println!(
        "model {} ({} threads): prompt {prompt_tokens} tokens at {:.0} tokens/s, \
         generation {generated} tokens at {:.1} tokens/s, 5 requests in {wall:?}; peak RSS {}",
        target.info().file_name,
        target.info().threads,
        prompt_tokens as f64 / prompt_time.as_secs_f64(),
        generated as f64 / generate_time.as_secs_f64(),
        peak.trim_start_matches("VmHWM:").trim()
    );
}
