//! One model or one strategy under two names is one: `xsafe run` refuses two
//! names of a strategy that send the same messages (asking every case twice
//! to compare a strategy with itself), and every name of a local model file
//! (`local:default`, `local:NAME`, its path, a symbolic link to it) is the
//! same run, with the same chat template. The local part runs on the real
//! Gemma 3 270M base model when it is on this machine (`XSAFE_TEST_GGUF`,
//! else the xsafe cache), and passes without it; `--dry-run` loads the model
//! but asks it nothing.

mod common;

use common::Env;
use std::path::PathBuf;

/// `xsafe run --dry-run` of `strategies` on the built-in suite.
fn dry_run(strategies: &str) -> [&str; 12] {
    [
        "run",
        "--suite",
        "xsafe-basic",
        "--limit",
        "3",
        "--target",
        "openai:m",
        "--judge",
        "strmatch",
        "--strategy",
        strategies,
        "--dry-run",
    ]
}

/// The bug this guards: `contextual+few-shot` and `few-shot+contextual`
/// print the same messages in `xsafe strategies show`, yet a run planned
/// both, asking every case twice.
#[test]
fn two_orders_of_steps_that_send_the_same_are_refused() {
    let env = Env::new();
    let err = env.fails(&dry_run("contextual+few-shot,few-shot+contextual"));
    assert!(
        err.contains("strategies `contextual+few-shot` and `few-shot+contextual` are one strategy")
            && err.contains("give one of them"),
        "{err}"
    );
    let err = env.fails(&dry_run(
        "baseline,contextual+interactive,interactive+contextual",
    ));
    assert!(err.contains("are one strategy"), "{err}");
    // Each alone plans its cases once.
    let out = env.ok(&dry_run("baseline,few-shot+contextual"));
    assert!(out.contains("6 conversations"), "{out}");
}

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

/// The bug this guards: `local:default` and `local:gemma-3-270m` load one
/// cached file with the same settings, yet were two runs (switching names
/// asked every case of a slow local model again); and the same file through
/// a symbolic link `m1/g.gguf` was refused for want of a chat template,
/// which by name it got from the registry.
#[cfg(unix)]
#[test]
fn every_name_of_a_local_model_file_is_one_run() {
    let Some(model) = base_model() else { return };
    let model = model.canonicalize().unwrap();
    let env = Env::new();
    let models = env.path("cache").join("models");
    std::fs::create_dir_all(&models).unwrap();
    let base = xsafe_target::models::known("gemma-3-270m").unwrap();
    std::os::unix::fs::symlink(&model, models.join(base.file_name)).unwrap();
    std::fs::create_dir_all(env.path("m1")).unwrap();
    let link = env.path("m1").join("g.gguf");
    std::os::unix::fs::symlink(&model, &link).unwrap();

    let plan = |target: &str| {
        let out = env.ok(&[
            "run",
            "--suite",
            "xsafe-basic",
            "--limit",
            "3",
            "--target",
            target,
            "--judge",
            "strmatch",
            "--dry-run",
            "--json",
        ]);
        let preview: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(preview["run_id"], serde_json::Value::Null, "{target}");
        preview["run_name"].as_str().unwrap().to_string()
    };
    let by_default = plan("local:default");
    for target in [
        "local:gemma-3-270m".to_string(),
        format!("local:{}", model.display()),
        format!("local:{}", link.display()),
    ] {
        assert_eq!(plan(&target), by_default, "{target}");
    }
}
