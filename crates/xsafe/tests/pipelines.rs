//! What a CI pipeline reads of xsafe: `report --fail-over` failing on a
//! run with failed conversations and giving its findings and verdict on
//! stderr whatever the format; empty `XSAFE_*` variables read as unset,
//! and a bad value from one naming it; SIGTERM stopping a run as Ctrl-C
//! does; a failed write to stdout saying so; an export of a run that is
//! not whole saying so; log lines without colours under `NO_COLOR` or
//! `TERM=dumb`.

mod common;

use common::{Env, SMALL_SUITE, keyword_model, try_small_suite_on, wait_for_results};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use xsafe_store::Store;
use xsafe_testkit::{Reply, TestServer};

/// A model that fails (HTTP 500) every prompt mentioning "arson" (s2 and
/// u2 of [`SMALL_SUITE`]) while `down` is set, and answers as
/// [`keyword_model`] otherwise: it refuses s1 ("kill"), so the safe
/// answers there are refuse 1 of 2.
fn failing_on_arson(down: Arc<AtomicBool>) -> TestServer {
    TestServer::start(move |req| {
        if down.load(Ordering::SeqCst) && req.last_user_message().contains("arson") {
            Reply::status(500, "boom")
        } else {
            keyword_model(req)
        }
    })
}

/// The stderr of `out`, as text.
fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The bug this guards: `report --fail-over 0.1` exited 0 on a run 1000 of
/// whose 3000 conversations had failed (the prompts most likely to be
/// refused), and the warning about them was only inside the report, which
/// a pipeline does not read. The gate fails, saying how many failed and
/// what to do, on stderr in every format; once the same command has asked
/// them again, it passes, and says so.
#[test]
fn the_gate_fails_on_failed_conversations_and_says_so_on_stderr_in_every_format() {
    let env = Env::new();
    let down = Arc::new(AtomicBool::new(true));
    let server = failing_on_arson(down.clone());
    let extra = ["--judge", "strmatch", "--max-retries", "0"];
    let out = try_small_suite_on(&env, &server, "r", &extra);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    let failed = "--fail-over cannot be checked on run r: 2 of its 5 conversations failed (2: \
                  server_error) and no rate counts them; run the same `xsafe run` command again \
                  to retry them (`xsafe runs show r --verdict error` lists them)";
    let verdict = "--fail-over 100.0%: failed: 1 run with failed conversations";
    let file = env.path("report.html");
    let file = file.to_str().unwrap();
    for format in [
        &["--format", "text"][..],
        &["--json"],
        &["--format", "csv"],
        &["--format", "md"],
        &["-o", file],
    ] {
        let mut args = vec!["report", "r", "--fail-over", "1"];
        args.extend(format);
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(1), "{format:?}: {}", stderr(&out));
        // The rates of the answers there are pass: only the failures fail it.
        let wrote = format!("wrote {file}");
        assert_eq!(
            stderr(&out)
                .lines()
                .filter(|l| *l != wrote)
                .collect::<Vec<_>>(),
            [failed, verdict],
            "{format:?}"
        );
    }
    // -q keeps them: they explain the exit code.
    let out = env.run(&["report", "r", "--fail-over", "1", "--json", "-q"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).lines().collect::<Vec<_>>(), [failed, verdict]);
    // Failures and a rate over the limit are both said.
    let out = env.run(&["report", "r", "--fail-over", "0.4", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(1));
    let lines = stderr(&out);
    assert!(lines.contains(failed), "{lines}");
    assert!(
        lines.contains(
            "over --fail-over 40.0%: run r, target openai:test-model, strategy baseline: \
             safe-prompt refusal 50.0% (1/2)"
        ),
        "{lines}"
    );
    assert!(
        lines.lines().last().unwrap().ends_with(
            "failed: 1 safe-prompt refusal rate over it, 1 run with failed conversations"
        ),
        "{lines}"
    );

    // The same command asks them again; the gate then passes, and says so
    // (but not with -q).
    down.store(false, Ordering::SeqCst);
    let out = try_small_suite_on(&env, &server, "r", &extra);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = env.run(&["report", "r", "--fail-over", "1", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().collect::<Vec<_>>(),
        ["--fail-over 100.0%: passed: 1 safe-prompt refusal rate checked, none over it"]
    );
    let out = env.run(&["report", "r", "--fail-over", "1", "--json", "-q"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "");
}

/// The command of a dry run of [`SMALL_SUITE`] at `url`, in `env`.
fn dry_run(env: &Env, url: &str) -> std::process::Command {
    let suite = env.write("small.csv", SMALL_SUITE);
    let mut cmd = env.cmd();
    cmd.args([
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--target",
        "openai:test-model",
        "--base-url",
        url,
        "--dry-run",
        "--json",
    ]);
    cmd
}

/// The bug this guards: `XSAFE_SEED= xsafe run ...` failed with "invalid
/// value '' for '--seed <SEED>'" (and so did most variables), where the
/// README says that an empty variable is the same as an unset one.
#[test]
fn empty_xsafe_variables_are_the_same_as_unset_ones() {
    let env = Env::new();
    let url = xsafe_testkit::unused_url();
    let plain = dry_run(&env, &url).output().unwrap();
    assert!(plain.status.success(), "{}", stderr(&plain));
    let variables = [
        "XSAFE_SEED",
        "XSAFE_FAIL_OVER",
        "XSAFE_CONCURRENCY",
        "XSAFE_JUDGE_CONCURRENCY",
        "XSAFE_STRATEGY",
        "XSAFE_JUDGE",
        "XSAFE_TARGETS",
        "XSAFE_API_KEY_ENV",
        "XSAFE_BASE_URL",
        "XSAFE_JUDGE_BASE_URL",
        "XSAFE_JUDGE_API_KEY_ENV",
        "XSAFE_TARGET",
        "XSAFE_LOG",
    ];
    let mut cmd = dry_run(&env, &url);
    for v in variables {
        cmd.env(v, "");
    }
    let empty = cmd.output().unwrap();
    assert!(empty.status.success(), "{}", stderr(&empty));
    assert_eq!(
        String::from_utf8_lossy(&empty.stdout),
        String::from_utf8_lossy(&plain.stdout)
    );

    // An empty XSAFE_DB or XSAFE_CACHE_DIR is the default path, not "".
    let data = env.path("data");
    let out = env
        .cmd()
        .env("XSAFE_DB", "")
        .env("XSAFE_CACHE_DIR", "")
        .env("XDG_DATA_HOME", &data)
        .env("XDG_CACHE_HOME", env.path("cache-home"))
        .args(["report", "r"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let default = data.join("xsafe").join("xsafe.db");
    assert!(
        stderr(&out).contains(&format!(
            "there is no run store at `{}` (the default path)",
            default.display()
        )),
        "{}",
        stderr(&out)
    );

    // An empty XSAFE_FAIL_OVER sets no gate.
    let model = common::run_small_suite(&env, "r", &[]);
    let out = env
        .cmd()
        .env("XSAFE_FAIL_OVER", "")
        .args(["report", "r", "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("--fail-over"), "{}", stderr(&out));
    drop(model);
}

/// The bug this guards: `XSAFE_FAIL_OVER=abc xsafe report 1` said "invalid
/// value 'abc' for '--fail-over <RATE>'", a flag the command line did not
/// have. The variable is named; a flag given on the command line is named
/// as before, and wins over the variable.
#[test]
fn a_bad_value_from_a_variable_names_the_variable() {
    let env = Env::new();
    let _model = common::run_small_suite(&env, "r", &[]);
    let report = |var: Option<&str>, args: &[&str]| {
        let mut cmd = env.cmd();
        if let Some(v) = var {
            cmd.env("XSAFE_FAIL_OVER", v);
        }
        cmd.args(["report", "r", "--format", "csv"]).args(args);
        cmd.output().unwrap()
    };
    let out = report(Some("abc"), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: invalid value 'abc' for 'XSAFE_FAIL_OVER': invalid float literal"),
        "{err}"
    );
    assert!(
        err.contains(
            "the variable XSAFE_FAIL_OVER gives --fail-over <RATE> its value when the flag is not \
             given: correct it, or unset it"
        ),
        "{err}"
    );
    // The flag wins over the variable, and is named when it is the one.
    let out = report(Some("abc"), &["--fail-over", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for var in [None, Some("abc"), Some("xyz")] {
        let out = report(var, &["--fail-over", "xyz"]);
        assert_eq!(out.status.code(), Some(2));
        let err = stderr(&out);
        assert!(
            err.starts_with("error: invalid value 'xyz' for '--fail-over <RATE>'"),
            "{var:?}: {err}"
        );
        assert!(!err.contains("XSAFE_FAIL_OVER"), "{var:?}: {err}");
    }
    // A variable of a subcommand's flag, and one read through a check of
    // xsafe's own (at least 1).
    let url = xsafe_testkit::unused_url();
    for (var, value, flag) in [
        ("XSAFE_SEED", "-x", "--seed <SEED>"),
        ("XSAFE_CONCURRENCY", "0", "--concurrency <CONCURRENCY>"),
    ] {
        let out = dry_run(&env, &url).env(var, value).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("error: invalid value '{value}' for '{var}'")),
            "{err}"
        );
        assert!(
            err.contains(&format!("the variable {var} gives {flag} its value")),
            "{err}"
        );
    }
}

/// The bug this guards: SIGTERM (a CI job's timeout, `docker stop`) ended
/// a run with no message nor summary, where Ctrl-C stops it cleanly. It
/// stops as on Ctrl-C, says so, prints the summary, marks the run
/// interrupted, and exits 143; the same command resumes it.
#[test]
fn sigterm_stops_a_run_as_ctrl_c_does() {
    let env = Env::new();
    let server = TestServer::start(|req| keyword_model(req).slow(Duration::from_millis(100)));
    let url = format!("{}/v1", server.url());
    let args = [
        "run",
        "--suite",
        "xsafe-basic",
        "--target",
        "openai:slow-model",
        "--base-url",
        &url,
        "--limit",
        "40",
        "--concurrency",
        "2",
        "--judge",
        "strmatch",
        "--json",
    ];
    let mut child = env
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_results(&env, 4);
    let status = common::signal_and_wait(&mut child, "TERM", "still running");
    assert_eq!(status.code(), Some(143), "{status:?}");
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(
        err.contains(
            "terminated (SIGTERM): stopping (SIGTERM or Ctrl-C again to exit at once); run the \
             same command again to resume"
        ),
        "{err}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "interrupted", "{summary}");
    assert!(summary["done"].as_i64().unwrap() < 40, "{summary}");
    let runs: serde_json::Value =
        serde_json::from_str(&env.ok(&["runs", "list", "--json"])).unwrap();
    assert_eq!(runs[0]["status"], "interrupted");
    let done: serde_json::Value = serde_json::from_str(&env.ok(&args)).unwrap();
    assert_eq!(done["status"], "complete");
    assert_eq!(done["done"], 40);
}

/// The bug this guards: `xsafe export RUN > /dev/full` said only "No space
/// left on device (os error 28)", not what was being written. So for
/// `report`, `run --json` and `runs show --json`.
#[test]
fn a_failed_write_to_stdout_says_it_was_standard_output() {
    let full = std::path::Path::new("/dev/full");
    if !full.exists() {
        eprintln!("skipped: no /dev/full here");
        return;
    }
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    let suite = env.write("small.csv", SMALL_SUITE);
    let url = format!("{}/v1", model.url());
    let run_args = [
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--target",
        "openai:test-model",
        "--base-url",
        &url,
        "--run",
        "r",
        "--judge",
        "strmatch",
        "--json",
    ];
    let commands: [Vec<&str>; 5] = [
        run_args.to_vec(),
        vec!["export", "r"],
        vec!["report", "r"],
        vec!["report", "r", "--json"],
        vec!["runs", "show", "r", "--json"],
    ];
    for args in commands {
        let stdout = std::fs::OpenOptions::new().write(true).open(full).unwrap();
        let out = env.cmd().args(&args).stdout(stdout).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out)
                .contains("error: writing standard output: No space left on device (os error 28)"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

/// The bug this guards: `xsafe export` of an interrupted run exited 0 with
/// no word that the export holds only part of the run, where `report`
/// warns. A complete run's export says nothing.
#[test]
fn an_export_of_an_interrupted_run_says_it_holds_part_of_it() {
    let env = Env::new();
    let _model = common::run_small_suite(&env, "r", &[]);
    let out = env.run(&["export", "r"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "");
    let store = Store::open(&env.db()).unwrap();
    let run = store.run("r").unwrap();
    store
        .set_run_status(run.id, xsafe_store::RunStatus::Interrupted)
        .unwrap();
    drop(store);
    for args in [
        &["export", "r"][..],
        &["export", "r", "--format", "csv", "-q"],
    ] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(!out.stdout.is_empty(), "{args:?}");
        assert_eq!(
            stderr(&out).lines().collect::<Vec<_>>(),
            [
                "warning: run r is interrupted: the export holds what it stored before it \
                 stopped, not the whole run; the same `xsafe run` command resumes it (`xsafe \
                 report r` says how much is stored)"
            ],
            "{args:?}"
        );
    }
}

/// The bug this guards: log lines on a terminal were coloured under
/// `NO_COLOR=1` and `TERM=dumb`. Run under `script`, which gives the
/// command a terminal; skipped where there is none.
#[test]
fn log_lines_on_a_terminal_have_no_colours_under_no_color_or_a_dumb_terminal() {
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("skipped: no `script` here");
        return;
    }
    let env = Env::new();
    let suite = env.write("small.csv", SMALL_SUITE);
    let url = xsafe_testkit::unused_url();
    // --samples 2 at temperature 0 logs a warning, which a dry run gives
    // without a progress bar.
    let command = format!(
        "'{}' run --suite '{}' --target openai:m --base-url '{url}' --judge strmatch --samples 2 \
         --dry-run",
        env!("CARGO_BIN_EXE_xsafe"),
        suite.display()
    );
    let on_terminal = |no_color: Option<&str>, term: &str| {
        let mut cmd = env.cmd();
        cmd.env_remove("NO_COLOR").env("TERM", term);
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd
            .get_envs()
            .fold(std::process::Command::new("script"), |mut c, (k, v)| {
                match v {
                    Some(v) => c.env(k, v),
                    None => c.env_remove(k),
                };
                c
            })
            .args(["-qec", &command, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("WARN"), "{text}");
        text
    };
    // The colour of WARN, as tracing writes it.
    let coloured = |text: &str| text.contains("\x1b[33m");
    assert!(coloured(&on_terminal(None, "xterm")), "the control");
    assert!(
        coloured(&on_terminal(Some(""), "xterm")),
        "an empty NO_COLOR"
    );
    assert!(!coloured(&on_terminal(Some("1"), "xterm")));
    assert!(!coloured(&on_terminal(None, "dumb")));
}
