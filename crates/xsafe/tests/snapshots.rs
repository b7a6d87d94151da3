//! Snapshots of what the CLI prints, with volatile fields (times, ports,
//! paths) filtered out.

mod common;

use common::{Env, SMALL_SUITE, keyword_model, run_small_suite_on};
use xsafe_testkit::TestServer;

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", "[time]");
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    s.add_filter(r"[0-9a-f]{64}", "[sha256]");
    // The xsafe judge's version names its weights, which retraining changes.
    s.add_filter(r"xsafe@\d+-[0-9a-f]{12}", "xsafe@[weights]");
    s.add_filter(r"/tmp/\.tmp\w+", "[tmp]");
    s
}

fn run_small(env: &Env, server: &TestServer, json: bool) -> String {
    run_small_suite_on(env, server, "snap", if json { &["--json"] } else { &[] })
}

#[test]
fn run_summary() {
    let env = Env::new();
    let server = TestServer::start(keyword_model);
    settings().bind(|| {
        insta::assert_snapshot!("run_summary_text", run_small(&env, &server, false));
        insta::assert_snapshot!("run_summary_json", run_small(&env, &server, true));
    });
}

#[test]
fn runs_list_and_show() {
    let env = Env::new();
    let server = TestServer::start(keyword_model);
    run_small(&env, &server, true);
    settings().bind(|| {
        insta::assert_snapshot!("runs_list", env.ok(&["runs", "list"]));
        insta::assert_snapshot!("runs_show", env.ok(&["runs", "show", "snap"]));
        insta::assert_snapshot!("export_csv", env.ok(&["export", "snap", "--format", "csv"]));
    });
}

#[test]
fn suites_show_a_file() {
    let env = Env::new();
    let suite = env.write("small.csv", SMALL_SUITE);
    settings().bind(|| {
        insta::assert_snapshot!(
            "suites_show_file",
            env.ok(&["suites", "show", suite.to_str().unwrap()])
        );
    });
}
