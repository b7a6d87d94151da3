//! Killing a run (`kill -9`, Ctrl-C) loses nothing: the same command again
//! resumes where it stopped, without duplicates.

mod common;

use common::{Env, count_rows, keyword_model, wait_for_results};
use std::process::Stdio;
use std::time::Duration;
use xsafe_testkit::TestServer;

const CASES: i64 = 40;

fn args(url: &str) -> Vec<String> {
    [
        "run",
        "--suite",
        "xsafe-basic",
        "--target",
        "openai:slow-model",
        "--base-url",
        url,
        "--limit",
        "40",
        "--concurrency",
        "2",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn kill_9_then_the_same_command_resumes_without_loss_or_duplicates() {
    let env = Env::new();
    let server = TestServer::start(|req| keyword_model(req).slow(Duration::from_millis(100)));
    let url = format!("{}/v1", server.url());
    let mut child = env
        .cmd()
        .args(args(&url))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_results(&env, 6);
    child.kill().unwrap(); // SIGKILL on Unix: no chance to clean up.
    child.wait().unwrap();
    let stored = count_rows(&env.db(), "SELECT count(*) FROM results");
    assert!((6..CASES).contains(&stored), "stored {stored}");
    // Every stored result is whole: it has its messages and its verdict.
    assert_eq!(
        count_rows(
            &env.db(),
            "SELECT count(*) FROM results r WHERE NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.result_id = r.id) OR (SELECT count(*) FROM messages m WHERE m.result_id = r.id) != 2"
        ),
        0
    );
    let asked_before = server.request_count() as i64;

    let out = env.ok(&args(&url).iter().map(String::as_str).collect::<Vec<_>>());
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["done"], CASES);
    assert_eq!(summary["done_before"], stored);
    assert_eq!(summary["status"], "complete");
    // Only what was missing was asked again.
    assert_eq!(server.request_count() as i64 - asked_before, CASES - stored);
    assert_eq!(count_rows(&env.db(), "SELECT count(*) FROM results"), CASES);
    assert_eq!(
        count_rows(
            &env.db(),
            "SELECT count(*) FROM (SELECT DISTINCT target, strategy, suite, case_id, sample FROM results)"
        ),
        CASES
    );
    assert_eq!(
        count_rows(&env.db(), "SELECT count(*) FROM verdicts"),
        CASES
    );
    assert_eq!(
        count_rows(&env.db(), "SELECT count(*) FROM messages"),
        2 * CASES
    );
}

#[test]
fn ctrl_c_stops_cleanly_and_marks_the_run_interrupted() {
    let env = Env::new();
    let server = TestServer::start(|req| keyword_model(req).slow(Duration::from_millis(100)));
    let url = format!("{}/v1", server.url());
    let child = env
        .cmd()
        .args(args(&url))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_results(&env, 4);
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "interrupted");
    let done = summary["done"].as_i64().unwrap();
    assert!(done < CASES);
    assert_eq!(count_rows(&env.db(), "SELECT count(*) FROM results"), done);
    let runs: serde_json::Value =
        serde_json::from_str(&env.ok(&["runs", "list", "--json"])).unwrap();
    assert_eq!(runs[0]["status"], "interrupted");
}

/// The bug this guards: another process holding the store's write lock for
/// more than five seconds stopped the run with "database is locked". The
/// run waits for it and finishes.
#[test]
fn a_run_waits_out_another_process_holding_the_store_for_seconds() {
    let env = Env::new();
    let server = TestServer::start(|req| keyword_model(req).slow(Duration::from_millis(100)));
    let url = format!("{}/v1", server.url());
    let child = env
        .cmd()
        .args(args(&url))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_results(&env, 4);
    let holder = rusqlite::Connection::open(env.db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    std::thread::sleep(Duration::from_secs(6));
    holder.execute_batch("COMMIT").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "complete");
    assert_eq!(count_rows(&env.db(), "SELECT count(*) FROM results"), CASES);
}

/// The bug this guards: a run stopped by a store error stayed `running` in
/// `runs list` with no process running it. Here the store starts refusing
/// verdicts in the middle of the run (a trigger another process adds); the
/// run stops, names the file, and is marked interrupted; once the store
/// accepts writes again the same command finishes it.
#[test]
fn a_run_stopped_by_a_store_error_is_marked_interrupted_and_resumes() {
    let env = Env::new();
    let server = TestServer::start(|req| keyword_model(req).slow(Duration::from_millis(100)));
    let url = format!("{}/v1", server.url());
    let child = env
        .cmd()
        .args(args(&url))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_results(&env, 4);
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON verdicts
         BEGIN SELECT RAISE(ABORT, 'simulated store failure'); END;",
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the run stopped"), "{stderr}");
    assert!(stderr.contains("simulated store failure"), "{stderr}");
    assert!(stderr.contains(&env.db().display().to_string()), "{stderr}");
    let runs: serde_json::Value =
        serde_json::from_str(&env.ok(&["runs", "list", "--json"])).unwrap();
    assert_eq!(runs[0]["status"], "interrupted", "{runs}");

    conn.execute_batch("DROP TRIGGER refuse").unwrap();
    let out = env.ok(&args(&url).iter().map(String::as_str).collect::<Vec<_>>());
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["status"], "complete");
    assert_eq!(summary["done"], CASES);
}
