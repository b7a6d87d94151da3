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

/// The bug this guards: a cached model file cut short was listed as cached
/// by `xsafe model list`, and a run on it said to "give a GGUF model such
/// as those `xsafe model list` names", which named that very file. The
/// list shows it as damaged, and both say to pull the model again.
#[test]
fn a_damaged_cached_model_says_to_pull_it_again() {
    let env = Env::new();
    let models = env.path("cache/models");
    std::fs::create_dir_all(&models).unwrap();
    let whole = xsafe_testkit::tiny_gguf("cut");
    let cached = models.join("gemma-3-270m-q4_k_m.gguf");
    std::fs::write(&cached, &whole[..whole.len() - 1]).unwrap();

    let listed: serde_json::Value =
        serde_json::from_str(&env.ok(&["model", "list", "--json"])).unwrap();
    let base = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "gemma-3-270m")
        .unwrap();
    assert_eq!(base["cached"], serde_json::Value::Null, "{base}");
    assert_eq!(
        base["damaged"],
        format!(
            "the cached file of `gemma-3-270m` (`{}`) is damaged: it has {} bytes where the \
             model has 253113024 (cut short?); `xsafe model pull gemma-3-270m` replaces it",
            cached.display(),
            whole.len() - 1
        )
    );
    // Only a damaged file has the field.
    let it = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "gemma-3-270m-it");
    assert!(it.unwrap().get("damaged").is_none());
    let out = env.run(&["model", "list"]);
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with("gemma-3-270m "))
        .unwrap();
    assert!(
        row.contains("damaged: `xsafe model pull gemma-3-270m` replaces it"),
        "{table}"
    );
    assert!(!row.contains(&cached.display().to_string()), "{table}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is damaged: it has"), "{stderr}");

    // A run on it, by name or as the default, says the same, before it
    // would load it.
    let suite = env.write("one.csv", "id,prompt,type,label\ns1,Hi,t,safe\n");
    for target in ["local:gemma-3-270m", "local:default"] {
        let err = env.fails(&[
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            target,
            "--judge",
            "strmatch",
        ]);
        assert!(
            err.contains(&format!(
                "the cached file of `gemma-3-270m` (`{}`) is damaged: it has {} bytes where the \
                 model has 253113024 (cut short?); run `xsafe model pull gemma-3-270m` again, \
                 which replaces it",
                cached.display(),
                whole.len() - 1
            )) && err.contains("nothing was loaded"),
            "{target}: {err}"
        );
        assert!(!err.contains("give a GGUF model"), "{err}");
    }
}

/// `xsafe run --dry-run` of `suite` on `target`, with a chat template
/// given (a run without one may be refused for want of it first).
fn dry_run_on(env: &Env, suite: &std::path::Path, target: &str) -> String {
    env.fails(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--target",
        target,
        "--chat-template",
        "gemma",
        "--max-tokens",
        "8",
        "--judge",
        "strmatch",
        "--dry-run",
    ])
}

/// The bug this guards: a cached file of another quantisation (the base
/// model's Q4_K_M under the instruction-tuned model's Q8_0 name) or of
/// another size (the demo file with bytes added) was loaded and run under
/// the model's name without a word, though `xsafe model list` shows it
/// `damaged`. `local:` on it, by the model's name, as the default, or by
/// its path in the cache, is refused before anything is loaded, saying to
/// pull the model again. The files are small fakes: only their header and
/// size are read.
#[test]
fn a_cached_file_of_another_quantization_or_size_is_refused() {
    let env = Env::new();
    let models = env.path("cache/models");
    std::fs::create_dir_all(&models).unwrap();
    let suite = env.write("one.csv", "id,prompt,type,label\ns1,Hi,t,safe\n");

    let it = models.join("gemma-3-270m-it-Q8_0.gguf");
    std::fs::write(&it, xsafe_testkit::tiny_gguf_of_type("Gemma 3 270m", 15)).unwrap();
    let by_path = format!("local:{}", it.display());
    for target in ["local:gemma-3-270m-it", "local:default", by_path.as_str()] {
        let err = dry_run_on(&env, &suite, target);
        assert!(
            err.contains(&format!(
                "the cached file of `gemma-3-270m-it` (`{}`) is damaged: it is a Q4_K_M GGUF \
                 (general.name \"Gemma 3 270m\"), where `gemma-3-270m-it` is Q8_0; run `xsafe \
                 model pull gemma-3-270m-it` again, which replaces it (or `xsafe model import \
                 gemma-3-270m-it FILE` with a whole copy); nothing was loaded",
                it.display()
            )),
            "{target}: {err}"
        );
        assert!(!err.contains("cannot load"), "{target}: {err}");
    }
    std::fs::remove_file(&it).unwrap();

    // The demo model's file with 4 KB added (a sparse file: its published
    // size plus 4096, which is not hashed).
    let base = models.join("gemma-3-270m-q4_k_m.gguf");
    std::fs::write(&base, xsafe_testkit::tiny_gguf_of_type("Gemma 3 270m", 15)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&base)
        .unwrap()
        .set_len(253_113_024 + 4096)
        .unwrap();
    for target in ["local:gemma-3-270m", "local:default"] {
        let err = dry_run_on(&env, &suite, target);
        assert!(
            err.contains(&format!(
                "the cached file of `gemma-3-270m` (`{}`) is damaged: it has 253117120 bytes \
                 where the model has 253113024; run `xsafe model pull gemma-3-270m` again",
                base.display()
            )),
            "{target}: {err}"
        );
    }
    assert!(!env.db().exists(), "nothing stored");
}

/// The bug this guards: a file of another quantisation served for the
/// instruction-tuned model (the base model's Q4_K_M for its Q8_0) was
/// pulled and pinned on first use, and the right download was refused
/// after it. It is refused, naming what was served.
#[test]
fn a_first_pull_of_another_quantization_is_refused() {
    let env = Env::new();
    let wrong = xsafe_testkit::tiny_gguf_of_type("Gemma 3 270m", 15);
    let served = wrong.clone();
    let server =
        xsafe_testkit::TestServer::start(move |_| xsafe_testkit::Reply::bytes(served.clone()));
    let url = format!("{}/gemma-3-270m-it-Q8_0.gguf", server.url());
    let err = env.fails(&["model", "pull", "gemma-3-270m-it", "--url", &url]);
    assert!(
        err.contains(&format!(
            "the download from `{url}` is a Q4_K_M GGUF (general.name \"Gemma 3 270m\"), {} \
             bytes, but model `gemma-3-270m-it` is Q8_0 (as `xsafe model list` says), so it is \
             another model's file; nothing was cached or pinned",
            wrong.len()
        )),
        "{err}"
    );
    assert!(!env.path("cache/models/pins.json").exists());
    assert!(!env.path("cache/models/gemma-3-270m-it-Q8_0.gguf").exists());
}
