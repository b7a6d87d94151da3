//! What the commands advise about failures that fail the same way on
//! every try: an answer every request gets that xsafe cannot read, a
//! setting an `llm:` judge's model refuses, a request the server refuses.
//! `xsafe run`'s summary (and `--json`'s line on stderr), `report
//! --fail-over` and `rejudge` say what to change, never to run the same
//! command again as it is; failures a retry may get past are still advised
//! to be retried. Against servers on 127.0.0.1.

mod common;

use common::{Env, SMALL_SUITE, keyword_model};
use xsafe_testkit::{Reply, TestServer};

/// OpenAI's 400 for a token limit above the model's most.
const TOO_MANY_TOKENS: &str = r#"{"error":{"message":"max_tokens is too large: 100000. This model supports at most 16384 completion tokens, whereas you provided 100000.","type":"invalid_request_error","param":"max_tokens","code":null}}"#;

/// What `xsafe run` advises about answers every request gets that xsafe
/// cannot read.
const UNREADABLE: &str = "the server answered them in a shape xsafe cannot read (kind \
                          `invalid_response`), as it will on every try: change what the message \
                          names (the base URL, when it is a website's or another API's address; \
                          the server's compression), then run the same command again";

/// `xsafe run` of [`SMALL_SUITE`] at `server`, judged by strmatch (unless
/// `extra` gives a judge), with `extra` arguments.
fn run(env: &Env, server: &TestServer, extra: &[&str]) -> std::process::Output {
    let suite = env.write("small.csv", SMALL_SUITE);
    let url = format!("{}/v1", server.url());
    let mut args = vec![
        "run",
        "--suite",
        suite.to_str().unwrap(),
        "--target",
        "openai:m",
        "--base-url",
        &url,
    ];
    if !extra.contains(&"--judge") {
        args.extend(["--judge", "strmatch"]);
    }
    args.extend(extra);
    env.run(&args)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The bug this guards: a base URL that answers every request with a web
/// page (a sign-in page, the website's address), or with JSON that is no
/// chat completion (another API's address), was advised "run the same
/// command again to retry them", which gets the same answers. The summary
/// says what to change, whether the target did not ask again (a web page)
/// or gave up after its retries (no answer of the target was readable);
/// `--json` says which failures fail every try. Beside answers the target
/// did give, an unreadable one is retried as before.
#[test]
fn answers_every_request_gets_that_cannot_be_read_say_what_to_change() {
    let page = TestServer::start(|_| Reply::Full {
        status: 200,
        headers: vec![("content-type".into(), "text/html".into())],
        body: b"<html><body><h1>Sign in</h1></body></html>".to_vec(),
    });
    let other_api = TestServer::start(|_| Reply::json(&serde_json::json!({"result": "ok"})));
    for (server, retries) in [(&page, "2"), (&other_api, "1")] {
        let env = Env::new();
        let out = run(&env, server, &["--max-retries", retries]);
        assert_eq!(out.status.code(), Some(2));
        let said = stdout(&out);
        assert!(
            said.contains("5 results failed; all: invalid response: ")
                && said.contains(&format!("; {UNREADABLE}\n"))
                && !said.contains("retry them")
                && !said.contains("may pass"),
            "{said}"
        );
        let json = run(&env, server, &["--max-retries", retries, "--json"]);
        let outcome: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
        assert_eq!(
            outcome["fail_every_try"],
            serde_json::json!({"invalid_response": 5})
        );
        let err = stderr(&json);
        assert!(err.contains(UNREADABLE), "{err}");
    }
    // The web page is not asked again; the other API's JSON is, once.
    assert_eq!(page.request_count(), 10);
    assert_eq!(other_api.request_count(), 20);

    // Garbled for two prompts, answered for the others: retried.
    let env = Env::new();
    let flaky = TestServer::start(|req| {
        if req.last_user_message().contains("arson") {
            Reply::json(&serde_json::json!({"result": "ok"}))
        } else {
            keyword_model(req)
        }
    });
    let out = run(&env, &flaky, &["--max-retries", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let said = stdout(&out);
    assert!(
        said.contains("2 results failed; all: invalid response: ")
            && said.contains("; run the same command again to retry them\n"),
        "{said}"
    );
}

/// The bug this guards: an `llm:` judge whose model refuses one of its
/// settings (`--judge-max-tokens` above the model's most) failed on every
/// answer, and `xsafe run`, `report --fail-over` and `rejudge` each said
/// to run the same command again, which the model refuses again. Each says
/// to change the judge's setting the message names; the message names the
/// judge's flag.
#[test]
fn a_setting_the_judges_model_refuses_is_not_advised_to_be_retried_as_it_is() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    let judge = TestServer::start(|_| Reply::status(400, TOO_MANY_TOKENS));
    let judge_url = format!("{}/v1", judge.url());
    let judge_args = [
        "--judge",
        "llm:openai:judge-model",
        "--judge-base-url",
        &judge_url,
        "--judge-max-tokens",
        "100000",
    ];
    let out = run(&env, &model, &[&judge_args[..], &["--run", "j"]].concat());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.contains("5 results failed; all: judge's model failed: HTTP 400: ")
            && said.contains("(the model takes no --judge-max-tokens 100000")
            && said.contains(
                "; the judge's model failed on them (kind `judge`) as it will on every try: \
                 change the judge's setting the message names, where it says it was given (a \
                 --judge-* flag, or a field of the judge's target in its targets file), then \
                 run the same command again (with another --run name when a setting of the \
                 judge changed)\n"
            )
            && !said.contains("retry them"),
        "{said}"
    );

    let out = env.run(&["report", "j", "--fail-over", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "--fail-over cannot be checked on run j: 5 of its 5 conversations failed (5: judge) \
             and no rate counts them; they fail the same way on every try (kind `judge`), so \
             running the same `xsafe run` command again as it is cannot get past them: change \
             what their messages name (`xsafe runs show j --verdict error` lists them), run \
             `xsafe run` again with the change, and check the run it makes (a changed setting \
             or strategy makes a new run)\n"
        ),
        "{err}"
    );

    let out = env.run(&[&["rejudge", "j"][..], &judge_args].concat());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let change = "its model will fail on them the same way on every try: change what the \
                  message names (the judge's setting, where it says it was given: a --judge-* \
                  flag, or a field of the judge's target in its targets file; the warnings \
                  above say it), then run the same command again";
    let (said, err) = (stdout(&out), stderr(&out));
    assert!(
        said.contains(&format!(
            "unjudged: 5 answers without a verdict of this judge (it failed on them); {change}\n"
        )),
        "{said}"
    );
    assert!(
        err.contains(&format!("the judge failed on 5 answers; {change}\n")),
        "{err}"
    );
    assert!(!format!("{said}{err}").contains("to judge them"));
}

/// `report --fail-over` on a run whose failures are of both sorts: a
/// request the server refuses (a guardrail's 403), which fails every try,
/// and a server's error, which may pass. Each is said what to do about;
/// with the server's errors alone, the advice to retry is as it was.
#[test]
fn the_gate_says_which_failures_fail_every_try() {
    let env = Env::new();
    let server = TestServer::start(|req| {
        let prompt = req.last_user_message();
        if prompt.contains("sourdough") {
            Reply::status(
                403,
                r#"{"error":{"message":"Request blocked by the gateway's content guardrail"}}"#,
            )
        } else if prompt.contains("arson") {
            Reply::status(500, r#"{"error":{"message":"model crashed"}}"#)
        } else {
            keyword_model(req)
        }
    });
    let out = run(&env, &server, &["--max-retries", "0", "--run", "r"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.run(&["report", "r", "--fail-over", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "--fail-over cannot be checked on run r: 3 of its 5 conversations failed (2: \
             server_error; 1: client_error) and no rate counts them; 1 of them fails the same \
             way on every try (kind `client_error`): change what their messages name (`xsafe \
             runs show r --verdict error` lists them), run `xsafe run` again with the change, \
             and check the run it makes (a changed setting or strategy makes a new run); the \
             other 2 may pass when the same `xsafe run` command is run again as it is\n"
        ),
        "{err}"
    );
}
