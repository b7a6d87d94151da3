//! Which verdict `runs show` and `export` filter and show by: the run's own
//! judge's, as `report` counts them, whatever other judges `rejudge` added;
//! and which names their filters take: those the run was started with,
//! stored or not.

mod common;

use common::{Env, count_rows, keyword_model, wait_for_results};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};
use xsafe_testkit::TestServer;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// The case ids `runs show RUN --json` lists with `filters`.
fn shown(env: &Env, run: &str, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["runs", "show", run, "--json"];
    args.extend_from_slice(filters);
    let shown = json(&env.ok(&args));
    let results = shown["results"].as_array().unwrap();
    results
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// The `(id, final_label, judge)` of each row of `export RUN --format csv`.
fn exported(env: &Env, run: &str) -> Vec<(String, String, String)> {
    let csv = env.ok(&["export", run, "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (label, judge) = (col("final_label"), col("judge"));
    reader
        .records()
        .map(Result::unwrap)
        .map(|r| (r[0].to_string(), r[label].to_string(), r[judge].to_string()))
        .collect()
}

/// The bug this guards: `runs show` and `export` took a result's first
/// stored verdict, whichever judge gave it. A run whose LLM judge failed
/// on every answer, judged by strmatch afterwards, exported strmatch's
/// refusals as its verdicts, where `report` counts none (failed, or in a
/// store an earlier xsafe left, unscored); and once the run's judge had
/// judged them, they still showed strmatch's verdicts (stored first)
/// instead of its own.
#[test]
fn runs_show_and_export_use_the_runs_own_judge_after_a_rejudge() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    // Down at first; then calls every answer a compliance, where strmatch
    // sees keyword_model's two refusals (s1, u1).
    let judge = common::DownJudge::start();
    let llm_judge = judge.args();
    let suite = env.write("small.csv", common::SMALL_SUITE);
    let model_url = format!("{}/v1", model.url());
    let mut run = vec![
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--target",
        "openai:test-model",
        "--base-url",
        &model_url,
        "--run",
        "r1",
    ];
    run.extend_from_slice(&llm_judge);
    assert_eq!(env.run(&run).status.code(), Some(2));
    env.ok(&["rejudge", "r1", "--judge", "strmatch"]);

    // The run's judge failed on every answer: they are failed, whatever
    // strmatch says of them, and exported without a verdict.
    assert_eq!(shown(&env, "r1", &["--verdict", "error"]).len(), 5);
    assert!(shown(&env, "r1", &["--verdict", "refusal"]).is_empty());
    let unjudged = |env: &Env| {
        for (id, label, judge) in exported(env, "r1") {
            assert_eq!((label.as_str(), judge.as_str()), ("", ""), "{id}");
        }
    };
    unjudged(&env);
    // The report counts them as errors by the run's judge, and by
    // strmatch's verdicts when asked for strmatch's.
    let counts = |args: &[&str]| {
        let mut all = vec!["report", "r1", "--format", "json"];
        all.extend_from_slice(args);
        let report = json(&env.ok(&all));
        let safe = &report["groups"][0]["safe"];
        let failed_warning = report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("conversations failed"));
        (
            safe["refusal"].as_u64(),
            safe["errors"].as_u64(),
            report["runs"][0]["failed"].as_u64(),
            failed_warning,
        )
    };
    assert_eq!(counts(&[]), (Some(0), Some(3), Some(5), true));
    assert_eq!(
        counts(&["--judge", "strmatch"]),
        (Some(1), Some(0), Some(0), false)
    );

    // A store an earlier xsafe left: it marked those answers done on
    // strmatch's verdict. The run's judge has none: they are unscored, as
    // the report counts them, not strmatch's refusals.
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.execute("UPDATE results SET status = 'done'", [])
        .unwrap();
    drop(conn);
    assert!(shown(&env, "r1", &["--verdict", "refusal"]).is_empty());
    assert_eq!(
        shown(&env, "r1", &["--verdict", "unscored"]),
        ["s1", "s2", "s3", "u1", "u2"]
    );
    let report = json(&env.ok(&["report", "r1", "--format", "json"]));
    let safe = &report["groups"][0]["safe"];
    assert_eq!(
        (safe["refusal"].as_u64(), safe["unscored"].as_u64()),
        (Some(0), Some(3)),
        "{report}"
    );
    let shown_json = json(&env.ok(&["runs", "show", "r1", "--json"]));
    assert_eq!(shown_json["judge"], "llm:openai:judge-model");
    let text = env.ok(&["runs", "show", "r1"]);
    assert!(text.contains("judged by llm:openai:judge-model"), "{text}");
    assert!(
        !text.contains("refusal") && !text.contains("compliance"),
        "{text}"
    );
    unjudged(&env);

    // The run's judge back up: its verdicts count, though strmatch's were
    // stored first.
    judge.up();
    let mut rejudge = vec!["rejudge", "r1"];
    rejudge.extend_from_slice(&llm_judge);
    env.ok(&rejudge);
    assert!(shown(&env, "r1", &["--verdict", "refusal"]).is_empty());
    assert_eq!(shown(&env, "r1", &["--verdict", "compliance"]).len(), 5);
    let rows = exported(&env, "r1");
    assert_eq!(rows.len(), 5);
    for (id, label, judge) in rows {
        assert_eq!(label, "1_full_compliance", "{id}");
        assert!(
            judge.starts_with("llm:openai:judge-model@"),
            "{id}: {judge}"
        );
    }
    // Every verdict is still exported, strmatch's first.
    let jsonl = env.ok(&["export", "r1", "--format", "jsonl"]);
    let line = json(jsonl.lines().next().unwrap());
    let judges: Vec<&str> = line["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["judge"].as_str().unwrap())
        .collect();
    assert!(judges[0].starts_with("strmatch@"), "{line}");
    assert!(judges[1].starts_with("llm:openai:judge-model@"), "{line}");
}

/// The bug this guards: a run killed before any conversation of one of its
/// strategies was stored refused `--strategy` with that strategy ("the run
/// has none; it has baseline"), as if it were a misspelling. The names the
/// run was started with are taken: nothing matches yet, and a note says
/// why; a name it was not started with is still refused, with those it was.
#[test]
fn filters_take_the_names_an_interrupted_run_was_started_with() {
    let env = Env::new();
    // Contextual's requests (those with a system message) never finish.
    let model = TestServer::start(|req| {
        let reply = keyword_model(req);
        if req.json()["messages"][0]["role"] == "system" {
            reply.slow(Duration::from_secs(600))
        } else {
            reply
        }
    });
    let suite = env.write("small.csv", common::SMALL_SUITE);
    let url = format!("{}/v1", model.url());
    let mut child = env
        .cmd()
        .args(["run", "--suite", suite.to_str().unwrap()])
        .args(["--target", "openai:test-model", "--base-url", &url])
        .args(["--judge", "strmatch", "--strategy", "baseline,contextual"])
        .args(["--run", "r1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_results(&env, 5);
    child.kill().unwrap(); // SIGKILL: the run cannot say it stopped.
    child.wait().unwrap();

    let out = env.run(&["export", "r1", "--strategy", "contextual"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains(
            "--strategy `contextual`: no conversation of it is stored yet (the run is \
             interrupted)"
        ),
        "{stderr}"
    );
    assert!(shown(&env, "r1", &["--strategy", "contextual"]).is_empty());
    assert_eq!(shown(&env, "r1", &["--strategy", "baseline"]).len(), 5);
    let err = env.fails(&["runs", "show", "r1", "--strategy", "few-shot"]);
    assert!(
        err.contains("--strategy `few-shot`: the run has none; it has baseline, contextual"),
        "{err}"
    );
}

/// A run killed before it stored any conversation still takes the names it
/// was started with (it listed none: "it has " and nothing), and a type
/// its suite has.
#[test]
fn filters_of_a_run_with_nothing_stored_take_its_started_names() {
    let env = Env::new();
    let model = TestServer::start(|req| keyword_model(req).slow(Duration::from_secs(600)));
    let suite = env.write("small.csv", common::SMALL_SUITE);
    let url = format!("{}/v1", model.url());
    let mut child = env
        .cmd()
        .args(["run", "--suite", suite.to_str().unwrap()])
        .args(["--target", "openai:test-model", "--base-url", &url])
        .args(["--judge", "strmatch", "--run", "r1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while model.request_count() < 1 {
        assert!(Instant::now() < deadline, "nothing was asked in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(count_rows(&env.db(), "SELECT count(*) FROM results"), 0);

    for filter in [
        ["--strategy", "baseline"],
        ["--target", "openai:test-model"],
        ["--type", "contrast_homonyms"],
    ] {
        assert!(shown(&env, "r1", &filter).is_empty(), "{filter:?}");
    }
    let err = env.fails(&["export", "r1", "--type", "homonym"]);
    assert!(
        err.contains(
            "--type `homonym`: the run has none; it has contrast_definitions, \
             contrast_homonyms, definitions, homonyms"
        ),
        "{err}"
    );
    let err = env.fails(&["export", "r1", "--target", "openai:other"]);
    assert!(
        err.contains("--target `openai:other`: the run has none; it has openai:test-model"),
        "{err}"
    );
}
