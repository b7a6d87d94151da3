//! What `xsafe run` says when its target cannot answer: a target stopped
//! (a key refused, a quota used up) is said to be once, not once per
//! request in flight, and the run's error says what to do; a long wait for
//! a rate limit is said once; and failures that the same request meets
//! again (a setting the server refuses, a 4xx) are not advised to be
//! retried as they are. Against servers on 127.0.0.1.

mod common;

use common::{Env, SMALL_SUITE, count_rows, keyword_model};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use xsafe_testkit::{Reply, TestServer};

/// `xsafe run` of [`SMALL_SUITE`] at `server` with `extra` arguments,
/// judged by strmatch, as run `name`.
fn run(env: &Env, server: &TestServer, name: &str, extra: &[&str]) -> std::process::Output {
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

/// The reviewer's case: six requests in flight when a 401 came back made
/// six identical warnings that the target is asked nothing more. Said once
/// now, for a key refused as for a quota used up, and the run's error
/// says what to do.
#[test]
fn a_stopped_target_is_said_once() {
    let quota = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
    for (reply, said) in [
        (
            Reply::status(401, r#"{"error":{"message":"Incorrect API key provided"}}"#),
            "Run `stopped` is interrupted: fix the key (or the credentials given with --header), \
             then run the same command again to resume it",
        ),
        (
            Reply::status(429, quota),
            "Run `stopped` is interrupted: add to the account's quota or credit (its plan and \
             billing details), then run the same command again to resume it",
        ),
    ] {
        let env = Env::new();
        // Slow enough that all five are in flight when the first comes back.
        let server = TestServer::start(move |_| reply.clone().slow(Duration::from_millis(200)));
        let out = run(&env, &server, "stopped", &["--concurrency", "5"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(server.request_count() <= 5, "{}", server.request_count());
        assert_eq!(
            lines_with(&stderr, "is asked nothing more in this run"),
            1,
            "{stderr}"
        );
        assert!(stderr.contains(said), "{said}\n{stderr}");
        assert!(!stderr.contains("retry them"), "{stderr}");
        assert_eq!(count_rows(&env.db(), "SELECT count(*) FROM results"), 0);
    }
}

/// A wait of seconds for a rate limit is said, once for the requests that
/// wait together, rather than leaving the progress still with no word.
/// Every request of the first second is limited (each asked to wait 5 s);
/// their retries, and the requests sent meanwhile, come after it.
#[test]
fn a_long_wait_for_a_rate_limit_is_said_once() {
    let env = Env::new();
    let started = std::time::Instant::now();
    let limited = Arc::new(AtomicUsize::new(0));
    let count = limited.clone();
    let server = TestServer::start(move |req| {
        if started.elapsed() < Duration::from_secs(1) {
            count.fetch_add(1, Ordering::SeqCst);
            Reply::rate_limited(Some(5))
        } else {
            keyword_model(req)
        }
    });
    let out = run(&env, &server, "waited", &["--concurrency", "3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(limited.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        lines_with(
            &stderr,
            "target `openai:m` is rate-limited: its requests wait 5s, as the server asked, \
             before it is asked again"
        ),
        1,
        "{stderr}"
    );
    assert_eq!(server.request_count(), 5 + limited.load(Ordering::SeqCst));
}

/// A 400 refusing `--max-tokens` as more than the model takes: each case
/// fails as the target's setup (kind `config`), asked once, and the summary
/// says to change the setting the message names, not to run the command
/// again as it is.
#[test]
fn a_refused_setting_says_to_change_it() {
    let env = Env::new();
    let server = TestServer::start(|_| {
        Reply::status(
            400,
            r#"{"error":{"message":"max_tokens is too large: 100000. This model supports at most 16384 completion tokens, whereas you provided 100000.","type":"invalid_request_error","param":"max_tokens","code":null}}"#,
        )
    });
    let out = run(&env, &server, "tokens", &["--max-tokens", "100000"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert_eq!(server.request_count(), 5, "asked once each");
    assert!(
        stdout.contains(
            "5 results failed; all: HTTP 400: max_tokens is too large: 100000. This model \
             supports at most 16384 completion tokens, whereas you provided 100000. (the model \
             takes no --max-tokens 100000: give a smaller one, at most the limit the message \
             names)"
        ) && stdout.contains(
            "the target's setup failed on them (kind `config`) as it will on every try: change \
             what the message names, where it says it was given (a flag, or a target's field in \
             its targets file)"
        ) && !stdout.contains("retry them"),
        "{stdout}"
    );
}

/// Prompts a gateway's guardrail blocks (HTTP 403 after the target has
/// answered others) fail the same way on every try: the summary says so,
/// beside failures a retry may get past.
#[test]
fn a_servers_4xx_is_not_advised_to_be_retried_as_it_is() {
    let env = Env::new();
    let server = TestServer::start(|req| {
        let prompt = req.last_user_message();
        if prompt.contains("arson") {
            Reply::status(
                403,
                r#"{"error":{"message":"Request blocked by the gateway's content guardrail"}}"#,
            )
        } else if prompt.contains("sourdough") {
            Reply::status(500, r#"{"error":{"message":"model crashed"}}"#)
        } else {
            keyword_model(req)
        }
    });
    let out = run(&env, &server, "guarded", &["--max-retries", "0"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains(
            "2 of them are requests the server refused (kind `client_error`, an HTTP 4xx), as \
             it will on every try: change what the message names (a target setting, the base \
             URL, the key's access), then run the same command again (with another --run name \
             when a target setting changed); a prompt the server itself refuses (a guardrail's block) is refused again; the other 1 may pass when \
             the same command is run again as it is"
        ),
        "{stdout}"
    );
}
