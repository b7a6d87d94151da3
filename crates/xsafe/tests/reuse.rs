//! `xsafe run` copies the answers another stored run got to the same
//! question asked the same way (same case, target settings, strategy and
//! seed) instead of asking the model, says so in a note, and `--no-reuse`
//! asks the model instead.

mod common;

use common::{Env, SMALL_SUITE, keyword_model, try_small_suite_on};
use std::process::Output;
use xsafe_testkit::TestServer;

/// Runs [`SMALL_SUITE`] on `model` as run `name`, judged by strmatch, with
/// `extra` arguments; insists on success and returns the summary (JSON)
/// and what the command wrote to stderr.
fn run(env: &Env, model: &TestServer, name: &str, extra: &[&str]) -> (serde_json::Value, String) {
    let mut args = vec!["--judge", "strmatch", "--json"];
    args.extend(extra);
    let out: Output = try_small_suite_on(env, model, name, &args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "xsafe run {name} failed with {:?}\n{stderr}",
        out.status.code()
    );
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

/// The summary's group of `strategy`.
fn group<'a>(summary: &'a serde_json::Value, strategy: &str) -> &'a serde_json::Value {
    summary["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["strategy"] == strategy)
        .unwrap()
}

#[test]
fn adding_a_strategy_asks_the_model_only_for_it() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    let (first, said) = run(&env, &model, "first", &[]);
    assert_eq!(first["done"], 5);
    assert!(!said.contains("reused"), "{said}");
    assert_eq!(model.request_count(), 5);

    // A dry run says what would be copied, and from which run.
    let out = try_small_suite_on(
        &env,
        &model,
        "second",
        &["--strategy", "baseline,few-shot", "--dry-run"],
    );
    assert!(out.status.success());
    let dry = String::from_utf8_lossy(&out.stdout);
    assert!(
        dry.contains(
            "10 conversations, 0 stored, 5 to copy from first (same target, strategy, case and \
             seed), 5 to ask"
        ),
        "{dry}"
    );
    assert!(dry.contains("to copy"), "{dry}");

    let (second, said) = run(&env, &model, "second", &["--strategy", "baseline,few-shot"]);
    assert_eq!(
        (second["done"].as_u64(), second["errors"].as_u64()),
        (Some(10), Some(0))
    );
    assert_eq!(model.request_count(), 10, "only the few-shot conversations");
    assert!(
        said.contains(
            "reused 5 answers of first (same target, strategy, case and seed) instead of asking \
             the model; --no-reuse asks it"
        ),
        "{said}"
    );
    assert_eq!(group(&second, "baseline"), group(&first, "baseline"));
    // The copies are the first run's answers and verdicts.
    let export = |run: &str| {
        let out = env.ok(&["export", run, "--format", "jsonl", "--strategy", "baseline"]);
        out.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                let v = v.as_object_mut().unwrap();
                v.remove("run");
                v.remove("run_id");
                serde_json::Value::Object(v.clone())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(export("second"), export("first"));

    // Quiet: the same copies, no note.
    let (_, said) = run(
        &env,
        &model,
        "third",
        &["--strategy", "baseline,few-shot", "--quiet"],
    );
    assert!(!said.contains("reused"), "{said}");
    assert_eq!(model.request_count(), 10);

    // --no-reuse asks the model for every conversation not stored.
    let (fourth, said) = run(&env, &model, "fourth", &["--no-reuse"]);
    assert_eq!(fourth["done"], 5);
    assert!(!said.contains("reused"), "{said}");
    assert_eq!(model.request_count(), 15);

    // The source deleted, the copies stay.
    env.ok(&["runs", "delete", "first"]);
    let (again, said) = run(&env, &model, "second", &["--strategy", "baseline,few-shot"]);
    assert_eq!(
        (again["done_before"].as_u64(), again["done"].as_u64()),
        (Some(10), Some(10))
    );
    assert!(!said.contains("reused"), "{said}");
    assert_eq!(model.request_count(), 15);
}

/// `xsafe tune` then `xsafe run` of the same suite, target and seed: the
/// run copies the baseline answers tuning got on both parts of the suite.
#[test]
fn a_run_after_tune_copies_its_answers() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    let suite = env.write("small.csv", SMALL_SUITE);
    let url = format!("{}/v1", model.url());
    let profile = env.path("profile.toml");
    let tune = env.run(&[
        "tune",
        "--suite",
        suite.to_str().unwrap(),
        "--target",
        "openai:test-model",
        "--base-url",
        &url,
        "--judge",
        "strmatch",
        "--strategy",
        "baseline,few-shot",
        "--output",
        profile.to_str().unwrap(),
    ]);
    assert!(
        tune.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&tune.stderr)
    );
    let asked = model.request_count();
    assert!(asked > 0);

    let (summary, said) = run(&env, &model, "after-tune", &[]);
    assert_eq!(summary["done"], 5);
    assert_eq!(model.request_count(), asked, "every baseline answer copied");
    assert!(said.contains("reused 5 answers of run-"), "{said}");
}
