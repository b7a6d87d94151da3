//! What `xsafe run --json` says of the answers it copied from other runs
//! (`reused`, `reused_from`), and a strategy file that sends what a
//! built-in sends: one strategy with it (refused beside it, its answers
//! copied), whatever the file's name.

mod common;

use common::{Env, keyword_model, try_small_suite_on};
use serde_json::{Value, json};
use xsafe_testkit::TestServer;

/// Runs the small suite on `model` as run `name`, judged by strmatch, with
/// `extra` arguments; insists on success and returns the JSON summary and
/// what the command wrote to stderr.
fn run(env: &Env, model: &TestServer, name: &str, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["--judge", "strmatch", "--json"];
    args.extend(extra);
    let out = try_small_suite_on(env, model, name, &args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "xsafe run {name} failed with {:?}\n{stderr}",
        out.status.code()
    );
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

/// The summary's `reused` and `reused_from`.
fn copies(summary: &Value) -> (Value, Value) {
    (summary["reused"].clone(), summary["reused_from"].clone())
}

#[test]
fn the_json_summary_says_what_was_copied_and_from_which_runs() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    let (first, _) = run(&env, &model, "first", &[]);
    assert_eq!(first["done"], 5);
    assert_eq!(copies(&first), (json!(0), json!([])), "nothing to copy");

    let (second, said) = run(
        &env,
        &model,
        "second",
        &["--strategy", "baseline,few-shot", "--quiet"],
    );
    assert_eq!(
        (&second["done"], &second["errors"]),
        (&json!(10), &json!(0))
    );
    assert_eq!(
        copies(&second),
        (json!(5), json!([{"run": "first", "answers": 5}])),
        "{second:#}"
    );
    // Quiet, the note is not written: the summary is what says so.
    assert!(!said.contains("reused"), "{said}");
    assert_eq!(model.request_count(), 10);

    // Copied from two runs: each with its count, newest first.
    let (third, _) = run(
        &env,
        &model,
        "third",
        &["--strategy", "baseline,few-shot,contextual"],
    );
    assert_eq!(third["reused"], 10, "{third:#}");
    let from = third["reused_from"].as_array().unwrap();
    let total: u64 = from.iter().map(|f| f["answers"].as_u64().unwrap()).sum();
    assert_eq!(total, 10, "{third:#}");
    assert_eq!(from[0]["run"], "second", "{third:#}");
    assert_eq!(model.request_count(), 15);

    // Resumed with everything stored, this invocation copies nothing: the
    // copies of the first are in `done_before`.
    let (again, _) = run(&env, &model, "second", &["--strategy", "baseline,few-shot"]);
    assert_eq!(again["done_before"], 10);
    assert_eq!(copies(&again), (json!(0), json!([])));
    assert_eq!(model.request_count(), 15);
}

#[test]
fn a_strategy_file_of_a_builtins_settings_is_that_strategy() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    let fs2 = env.write("fs2.toml", "name = \"fs2\"\nkind = \"few-shot\"\n");
    let k3 = env.write(
        "fs-k3.toml",
        "name = \"fs-k3\"\nkind = \"few-shot\"\nk = 3\n",
    );
    let (fs2, k3) = (fs2.to_str().unwrap(), k3.to_str().unwrap());

    // Beside the built-in it sends the same as, refused, naming both.
    let out = try_small_suite_on(
        &env,
        &model,
        "both",
        &["--strategy", "few-shot,fs2", "--strategy-file", fs2],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("strategies `few-shot` and `fs2` are one strategy"),
        "{err}"
    );
    assert_eq!(model.request_count(), 0);

    let (builtin, _) = run(&env, &model, "builtin", &["--strategy", "few-shot"]);
    assert_eq!(builtin["done"], 5);
    assert_eq!(model.request_count(), 5);

    // Its answers are the built-in's: copied, nothing asked.
    let (file, _) = run(
        &env,
        &model,
        "file",
        &["--strategy", "fs2", "--strategy-file", fs2],
    );
    assert_eq!((&file["done"], &file["errors"]), (&json!(5), &json!(0)));
    assert_eq!(
        copies(&file),
        (json!(5), json!([{"run": "builtin", "answers": 5}]))
    );
    assert_eq!(model.request_count(), 5);

    // Another setting is another strategy: accepted beside it, and asked.
    let out = try_small_suite_on(
        &env,
        &model,
        "k3",
        &[
            "--strategy",
            "few-shot,fs-k3",
            "--strategy-file",
            k3,
            "--dry-run",
            "--json",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let dry: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((&dry["total"], &dry["reused"]), (&json!(10), &json!(5)));
    let (k3_run, _) = run(
        &env,
        &model,
        "k3-only",
        &["--strategy", "fs-k3", "--strategy-file", k3],
    );
    assert_eq!(k3_run["done"], 5);
    assert_eq!(copies(&k3_run), (json!(0), json!([])));
    assert_eq!(model.request_count(), 10);
}
