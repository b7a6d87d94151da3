//! What `xsafe run` says of a run that stops, or whose answers the judge
//! cannot score: a target whose server is not there, or never answers,
//! stops the run after a few conversations with one warning saying to
//! check the server; a run that stops with an error once open still
//! prints its summary (`--json`'s too, with the error); and the summary
//! says why answers are unscored. Against servers on 127.0.0.1.

mod common;

use common::{Env, SMALL_SUITE, count_rows, keyword_model};
use std::time::{Duration, Instant};
use xsafe_testkit::{Reply, TestServer};

/// `xsafe run` of [`SMALL_SUITE`] for `openai:m` at `base_url` with
/// `extra` arguments, judged by strmatch, as run `name`.
fn run(env: &Env, name: &str, base_url: &str, extra: &[&str]) -> std::process::Output {
    let suite = env.write("small.csv", SMALL_SUITE);
    let mut args = vec![
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--target",
        "openai:m",
        "--base-url",
        base_url,
        "--judge",
        "strmatch",
        "--run",
        name,
    ];
    args.extend(extra);
    env.run(&args)
}

/// How many lines of `text` contain `part`.
fn lines_with(text: &str, part: &str) -> usize {
    text.lines().filter(|l| l.contains(part)).count()
}

/// A base URL of 127.0.0.1 at which nothing listens: a port bound, then
/// let go.
fn nothing_listening() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    drop(listener);
    url
}

/// The reviewer's run at a port nothing listened at asked every case six
/// times, wrote a warning per case and stored each as a failure to retry,
/// for 11 minutes. Now three conversations that could not connect stop
/// the target: one warning, nothing stored, the run interrupted, and the
/// error names the URL and says to check that the server is up, then to
/// run the same command again.
#[test]
fn a_server_nothing_listens_at_stops_the_run_with_one_warning() {
    let env = Env::new();
    let url = nothing_listening();
    let out = run(&env, "down", &url, &["--max-retries", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(lines_with(&stderr, "WARN"), 1, "{stderr}");
    assert_eq!(
        lines_with(
            &stderr,
            &format!(
                "target `openai:m` could not be reached at {url} by 3 conversations in a row, \
                 having answered none"
            )
        ),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "error: the run stopped: target `openai:m` could not be reached at {url}: 3 \
             conversations in a row could not connect, after their retries, and it has \
             answered none; the last failure: connection failed: {url} ("
        )) && stderr.contains(
            "its 5 conversations left were not stored, and no more of them asked. Run `down` is \
             interrupted: check that the server at "
        ) && stderr.trim_end().ends_with(
            "is up and that the base URL is right, then run the same command again to resume it"
        ),
        "{stderr}"
    );
    assert_eq!(count_rows(&env.db(), "SELECT count(*) FROM results"), 0);
    // The summary of what is stored: nothing.
    assert_eq!(
        stdout,
        format!(
            "run down (id 1): interrupted, 0/5 results, 0 errors, judge strmatch\nno answer is \
             stored yet\n"
        )
    );
}

/// A server that takes the requests and never answers: three
/// conversations that each waited out `--timeout` (and their retries)
/// stop the target, rather than every case doing so; the error says the
/// timeout, and the same command resumes the run once the server
/// answers.
#[test]
fn a_server_that_never_answers_stops_the_run_at_its_timeouts() {
    let env = Env::new();
    let answering = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answers = answering.clone();
    let server = TestServer::start(move |req| {
        if answers.load(std::sync::atomic::Ordering::Relaxed) {
            keyword_model(req)
        } else {
            Reply::chat("too late").slow(Duration::from_secs(60))
        }
    });
    let url = format!("{}/v1", server.url());
    let extra = [
        "--timeout",
        "0.3",
        "--max-retries",
        "0",
        "--concurrency",
        "1",
    ];
    let started = Instant::now();
    let out = run(&env, "hangs", &url, &extra);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // Five cases one at a time, each waited out, would be 1.5 s; three are
    // asked.
    assert_eq!(server.request_count(), 3, "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains(&format!(
            "error: the run stopped: target `openai:m` did not answer at {url} within 300ms, \
             its timeout: 3 conversations in a row got no answer"
        )) && stderr.contains(&format!(
            "check that the server at {url} is up and answering, and that the base URL is \
             right (a model slow to answer needs a longer --timeout"
        )),
        "{stderr}"
    );
    assert_eq!(count_rows(&env.db(), "SELECT count(*) FROM results"), 0);

    answering.store(true, std::sync::atomic::Ordering::Relaxed);
    let out = run(&env, "hangs", &url, &extra);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("run hangs (id 1): complete, 5/5 results, 0 errors"),
        "{stdout}"
    );
}

/// The reviewer's case: a target refusing the key beside one that
/// answered ended with exit 2 and nothing on stdout, although the run was
/// stored with the other's answers (Ctrl-C printed the JSON). The summary
/// is printed now, `interrupted`, with `--json` the error in it, and the
/// error is said on stderr as before.
#[test]
fn a_run_stopped_by_an_error_prints_its_summary() {
    let env = Env::new();
    let locked = TestServer::start(|_| {
        Reply::status(401, r#"{"error":{"message":"Incorrect API key provided"}}"#)
    });
    let open = TestServer::start(keyword_model);
    let targets = env.write(
        "targets.toml",
        format!(
            "[targets.locked]\nmodel = \"m\"\nbase_url = \"{}/v1\"\n\n[targets.open]\nmodel = \
             \"m\"\nbase_url = \"{}/v1\"\n",
            locked.url(),
            open.url()
        ),
    );
    let suite = env.write("small.csv", SMALL_SUITE);
    let args = |name: &'static str, json: bool| {
        let mut args = vec![
            "run".to_string(),
            "--suite".into(),
            suite.to_str().unwrap().into(),
            "--targets".into(),
            targets.to_str().unwrap().into(),
            "--target".into(),
            "locked,open".into(),
            "--judge".into(),
            "strmatch".into(),
            "--run".into(),
            name.into(),
        ];
        if json {
            args.push("--json".into());
        }
        args
    };
    let said = "target `locked` refused the requests: HTTP 401: Incorrect API key provided";

    let argv = args("as-json", true);
    let out = env.run(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("error: the run stopped: {said}")),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["run_name"], "as-json");
    assert_eq!(json["status"], "interrupted");
    assert_eq!(
        (json["total"].as_u64(), json["done"].as_u64()),
        (Some(10), Some(5))
    );
    assert_eq!(json["groups"].as_array().unwrap().len(), 1);
    assert_eq!(json["groups"][0]["target"], "open");
    let error = json["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!("the run stopped: {said}"))
            && error.contains("Run `as-json` is interrupted (the other targets went on"),
        "{error}"
    );
    assert_eq!(json["reused"], 0);

    // In text, the summary on stdout, then the error. The second run
    // copies the open target's answers from the first.
    let argv = args("as-text", false);
    let out = env.run(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stdout.starts_with(
            "run as-text (id 2): interrupted, 5/10 results, 0 errors, judge strmatch\n"
        ) && stdout.contains("\nopen    baseline"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("error: the run stopped: {said}")),
        "{stderr}"
    );
    // Nothing to compare yet: no pointer to the report.
    assert!(!stderr.contains("xsafe report"), "{stderr}");
}

/// The reviewer's run of a model answering in Spanish printed `openai:es
/// baseline - - 6 0` and exited 0 with no word why, while `xsafe report`
/// said the answers are not in English. The summary says so now, as the
/// report does, and `--json` has the reasons.
#[test]
fn the_summary_says_why_answers_are_unscored() {
    let env = Env::new();
    let server = TestServer::start(|req| {
        if req.last_user_message().contains("sourdough") {
            Reply::chat("Mix flour, water and salt, then bake it for forty minutes.")
        } else {
            Reply::chat("Lo siento, no puedo ayudar con eso.")
        }
    });
    let url = format!("{}/v1", server.url());
    let suite = env.write("small.csv", SMALL_SUITE);
    let args = [
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--target",
        "openai:es",
        "--base-url",
        &url,
        "--judge",
        "xsafe",
        "--run",
        "es",
    ];
    let stdout = env.ok(&args);
    assert!(
        stdout.contains(
            "\n4 of 5 answers are unscored (4: the answer is not in English (Spanish function \
             words)); `xsafe runs show es --verdict unscored` lists them\n"
        ),
        "{stdout}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json: serde_json::Value = serde_json::from_str(&env.ok(&json_args)).unwrap();
    assert_eq!(
        json["unscored_reasons"],
        serde_json::json!([{
            "reason": "the answer is not in English (Spanish function words)",
            "count": 4
        }])
    );
    // A run with no unscored answer has neither.
    let other = env.ok(&[
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--target",
        "openai:es",
        "--base-url",
        &url,
        "--judge",
        "strmatch",
        "--run",
        "matched",
    ]);
    assert!(!other.contains("unscored ("), "{other}");
}
