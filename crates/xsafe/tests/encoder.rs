//! The sentence encoder through the binary: `xsafe model list|pull|import`
//! for it, and the `few-shot-embedding` strategy, which needs it. Pulling
//! and the strategy itself run on the real all-MiniLM-L6-v2 when it is on
//! this machine (`XSAFE_TEST_ENCODER=DIR` or the xsafe cache; CI sets the
//! variable), served from a real
//! HTTP server on 127.0.0.1.

mod common;

use common::Env;
use serde_json::Value;
use std::path::PathBuf;
use xsafe_testkit::{Reply, TestServer};

fn encoder_dir() -> Option<PathBuf> {
    xsafe_testkit::encoder_dir(
        xsafe_embed::models::DEFAULT_ENCODER,
        &xsafe_embed::models::CACHED_FILES,
    )
}

fn listed(env: &Env) -> Value {
    let list: Value = serde_json::from_str(&env.ok(&["model", "list", "--json"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "all-minilm-l6-v2")
        .cloned()
        .expect("the encoder is listed")
}

#[test]
fn without_the_encoder_the_strategy_says_how_to_get_it() {
    let env = Env::new();
    let entry = listed(&env);
    assert_eq!(entry["kind"], "sentence encoder");
    assert!(entry["cached"].is_null());
    assert!(env.ok(&["model", "list"]).contains("sentence encoder"));

    let out = env.run(&[
        "strategies",
        "show",
        "few-shot-embedding",
        "--prompt",
        "Hi?",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("field `encoder`"), "{err}");
    assert!(err.contains("xsafe model pull all-minilm-l6-v2"), "{err}");

    let out = env.run(&["model", "pull", "no-such-model"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("chat models: gemma-3-270m-it")
            && err.contains("sentence encoders: all-minilm-l6-v2"),
        "{err}"
    );
    // A download site out of reach: the error says how to do without it.
    for (name, what) in [
        ("all-minilm-l6-v2", "its files into a directory"),
        ("gemma-3-270m-it", "the GGUF file"),
    ] {
        let err = env.fails(&["model", "pull", name, "--url", &xsafe_testkit::unused_url()]);
        assert!(err.contains("cannot download `http://127.0.0.1:"), "{err}");
        assert!(
            err.contains(&format!(
                "download {what} elsewhere and run `xsafe model import {name} PATH`"
            )),
            "{err}"
        );
    }
    let empty = env.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = env.run(&[
        "model",
        "import",
        "all-minilm-l6-v2",
        empty.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no `config.json`"), "{err}");
}

#[test]
fn a_pulled_encoder_picks_exemplars_by_meaning() {
    let Some(dir) = encoder_dir() else { return };
    let files: Vec<(String, Vec<u8>)> = xsafe_embed::models::CACHED_FILES
        .iter()
        .map(|f| (format!("/mirror/{f}"), std::fs::read(dir.join(f)).unwrap()))
        .collect();
    let server = TestServer::start(move |r| match files.iter().find(|(p, _)| *p == r.path) {
        Some((_, body)) => Reply::bytes(body.clone()),
        None => Reply::status(404, "not found"),
    });
    let env = Env::new();
    let url = format!("{}/mirror", server.url());
    let path = env.ok(&["model", "pull", "all-minilm-l6-v2", "--url", &url]);
    assert_eq!(server.request_count(), 4);
    let cached = PathBuf::from(path.trim());
    assert_eq!(listed(&env)["cached"], cached.to_str().unwrap());

    let shown = env.ok(&[
        "strategies",
        "show",
        "few-shot-embedding",
        "--prompt",
        "Midway through rewriting my branch history the command failed; can I cancel and go back?",
        "--json",
    ]);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    let text = shown.to_string();
    assert!(text.contains("git rebase --abort"), "{text}");

    // Importing the same files again is accepted (they match the pins).
    let again = env.ok(&["model", "import", "all-minilm-l6-v2", dir.to_str().unwrap()]);
    assert_eq!(again.trim(), path.trim());
}
