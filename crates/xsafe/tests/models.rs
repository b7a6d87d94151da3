//! `xsafe model pull` and local models through the binary: a mirror URL
//! set for one model is not taken for another, a local judge can be given
//! a chat template, and temperatures are checked. The judge runs on the
//! real Gemma 3 270M base model when it is on this machine
//! (`XSAFE_TEST_GGUF`, else the xsafe cache), and passes without it.

mod common;

use common::Env;
use std::path::PathBuf;

/// The demo model (a GGUF without a chat template), if this machine has it.
fn base_model() -> Option<PathBuf> {
    let found = std::env::var_os("XSAFE_TEST_GGUF")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            let base = xsafe_target::models::known("gemma-3-270m")?;
            Some(xsafe_testkit::models_dir()?.join(base.file_name))
        })
        .filter(|p| p.is_file());
    if found.is_none() {
        eprintln!("skipped: no model (set XSAFE_TEST_GGUF, or run scripts/install-demo-model.sh)");
    }
    found
}

#[test]
fn a_model_url_naming_another_models_file_is_refused() {
    let env = Env::new();
    let base = format!("{}/gemma-3-270m-q4_k_m.gguf", xsafe_testkit::unused_url());
    let out = env
        .cmd()
        .env("XSAFE_MODEL_URL", &base)
        .args(["model", "pull", "gemma-3-270m-it"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is the file of model `gemma-3-270m`, not of `gemma-3-270m-it`"),
        "{err}"
    );
    assert!(!env.path("cache/models/pins.json").exists());
}

/// The bug this guards: importing the base model's file as the
/// instruction-tuned model asked whether --url or XSAFE_MODEL_URL named
/// another model's file; import takes no URL.
#[test]
fn importing_another_models_file_does_not_ask_about_a_url() {
    let Some(base) = base_model() else {
        return;
    };
    let env = Env::new();
    let err = env.fails(&["model", "import", "gemma-3-270m-it", base.to_str().unwrap()]);
    assert!(
        err.contains("is model `gemma-3-270m`")
            && err.contains("not `gemma-3-270m-it`; nothing was cached or pinned"),
        "{err}"
    );
    assert!(
        !err.contains("--url") && !err.contains("XSAFE_MODEL_URL"),
        "{err}"
    );
    assert!(!env.path("cache/models/pins.json").exists());
}

#[test]
fn temperatures_must_be_from_0_to_2() {
    let env = Env::new();
    for bad in ["-1", "nan", "inf", "2.5", "warm"] {
        let flag = format!("--temperature={bad}");
        let err = env.fails(&[
            "run",
            "--suite",
            "xsafe-basic",
            "--target",
            "openai:m",
            &flag,
        ]);
        assert!(err.contains("--temperature"), "{bad}: {err}");
        assert!(
            err.contains("give a number from 0 to 2") || err.contains("is not a number"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_local_judge_takes_a_chat_template() {
    let Some(model) = base_model() else {
        return;
    };
    let env = Env::new();
    // A file xsafe does not know, so no template is chosen for it: a link
    // or a copy of the known model would be known by its file or checksum,
    // so a copy with a byte more (which llama.cpp still loads).
    let plain = env.path("plain.gguf");
    let mut bytes = std::fs::read(&model).unwrap();
    bytes.push(0);
    std::fs::write(&plain, bytes).unwrap();
    let judge = format!("llm:local:{}", plain.display());
    let answers = env.write(
        "answers.csv",
        "prompt,answer\nHow do I kill a process?,Run kill.\n",
    );
    let answers = answers.to_str().unwrap();
    let err = env.fails(&["judge", answers, "--judge", &judge]);
    assert!(
        err.contains("has no chat template") && err.contains("--judge-chat-template"),
        "{err}"
    );
    let out = env.ok(&[
        "judge",
        answers,
        "--judge",
        &judge,
        "--judge-chat-template",
        "gemma",
        "--judge-max-tokens",
        "8",
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
}
