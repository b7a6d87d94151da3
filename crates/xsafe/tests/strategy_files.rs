//! `xsafe run` with strategy files of one's own.

mod common;

use common::{Env, SMALL_SUITE, keyword_model};
use xsafe_testkit::TestServer;

/// The bug this guards: `xsafe run --strategy-file mine.toml` without
/// `--strategy` ran baseline only (the default of `--strategy`), silently,
/// while `xsafe tune` compares every file's strategy. The run says which
/// file strategies it leaves out and how to add them; one it uses, by
/// name or as a step of a composition, is not warned about.
#[test]
fn a_run_says_which_strategy_files_it_leaves_out() {
    let env = Env::new();
    let server = TestServer::start(keyword_model);
    let url = format!("{}/v1", server.url());
    let suite = env.write("small.csv", SMALL_SUITE);
    let mine = env.write(
        "mine.toml",
        "name = \"mine\"\nkind = \"contextual\"\nuser = \"Please answer: {{ prompt }}\"\n",
    );
    let combo = env.write(
        "combo.toml",
        "name = \"combo\"\nkind = \"composition\"\nsteps = [\"mine\", \"few-shot\"]\n",
    );
    let stderr = |run: &str, extra: &[&str]| {
        let mut args = vec![
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            "openai:test-model",
            "--base-url",
            &url,
            "--judge",
            "strmatch",
            "--run",
            run,
            "--strategy-file",
            mine.to_str().unwrap(),
        ];
        args.extend(extra);
        let out = env.run(&args);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let warned = stderr("r1", &[]);
    assert!(
        warned.contains(&format!(
            "this run leaves out `mine` (--strategy-file {})",
            mine.display()
        )) && warned.contains("--strategy baseline,mine"),
        "{warned}"
    );
    for (run, extra) in [
        ("r2", &["--strategy", "baseline,mine"][..]),
        ("r3", &["--strategy", "mine+interactive"]),
        (
            "r4",
            &[
                "--strategy",
                "combo",
                "--strategy-file",
                combo.to_str().unwrap(),
            ],
        ),
    ] {
        let quiet = stderr(run, extra);
        assert!(!quiet.contains("leaves out"), "{run}: {quiet}");
    }
    let one = stderr(
        "r5",
        &[
            "--strategy",
            "contextual",
            "--strategy-file",
            combo.to_str().unwrap(),
        ],
    );
    assert!(
        one.contains("leaves out `mine`")
            && one.contains("`combo`")
            && one.contains("--strategy contextual,mine,combo"),
        "{one}"
    );
}

/// A contextual strategy whose user template fails for the prompts that
/// ask what a word means (`What does ...`: the suite's one `definitions`
/// case) and for no other: the load check renders it with a prompt of its
/// own for every type, so only the run sees the prompt's words and fails.
const FAILS_ON_DEFINITIONS: &str = "name = \"odd\"\nkind = \"contextual\"\n\
     user = \"{% if 'What does' in prompt %}{{ topic.missing }}{% endif %}{{ prompt }}\"\n";

/// The bug this guards: a template's error is deterministic, yet the
/// summary said "run the same command again to retry them", which fails
/// the same way every time. It says to fix the strategy first, and that
/// the fixed strategy makes a new run (another `--run` name when the run
/// was named); beside a model's failures, which a retry may get past, it
/// says both.
#[test]
fn a_strategys_own_errors_say_to_fix_the_strategy() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let env = Env::new();
    let broken = Arc::new(AtomicBool::new(true));
    let flag = broken.clone();
    let server = TestServer::start(move |req| {
        if flag.load(Ordering::SeqCst) && req.last_user_message().contains("sourdough") {
            xsafe_testkit::Reply::status(500, r#"{"error":{"message":"model crashed"}}"#)
        } else {
            keyword_model(req)
        }
    });
    let url = format!("{}/v1", server.url());
    let suite = env.write("small.csv", SMALL_SUITE);
    let odd = env.write("odd.toml", FAILS_ON_DEFINITIONS);
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            "openai:test-model",
            "--base-url",
            &url,
            "--judge",
            "strmatch",
            "--max-retries",
            "0",
            "--strategy",
            "odd",
            "--strategy-file",
            odd.to_str().unwrap(),
        ];
        args.extend(extra);
        env.run(&args)
    };
    let stdout = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let fix = "fix the strategy (its file), then run the same command again: the fixed \
               strategy makes a new run, which asks its cases again (the other strategies' \
               answers are copied)";

    // The strategy's error and the model's: both said.
    let first = run(&[]);
    assert_eq!(first.status.code(), Some(2));
    let said = stdout(&first);
    assert!(
        said.contains("2 results failed")
            && said.contains(&format!(
                "1 of them is a template error of the strategy, which fails on every try: {fix}; \
                 the other 1 may pass when the same command is run again as it is"
            )),
        "{said}"
    );
    assert_eq!(
        server.request_count(),
        4,
        "the failing prompt is never sent"
    );

    // The model is back: the same command retries both, and only the
    // strategy's error is left, which a retry cannot get past.
    broken.store(false, Ordering::SeqCst);
    let second = run(&[]);
    assert_eq!(second.status.code(), Some(2));
    let said = stdout(&second);
    assert!(
        said.contains(&format!(
            "1 result failed; all: strategy `odd`: strategy file `{}`, field `user`: template \
             error for a prompt of type `definitions`",
            odd.display()
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "; the strategy's template failed on them as it will on every try: {fix}\n"
        )) && !said.contains("; run the same command again to retry them"),
        "{said}"
    );
    assert_eq!(server.request_count(), 5);
    // As JSON, the summary says the failures are the strategy's.
    let json = run(&["--json"]);
    let outcome: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(outcome["error_kinds"], serde_json::json!({"template": 1}));
    assert_eq!(outcome["common_error"]["kind"], "template");
    let err = String::from_utf8_lossy(&json.stderr);
    assert!(err.contains(fix), "{err}");

    // Named by --run, the fixed strategy's run needs another name.
    let named = run(&["--run", "mine"]);
    assert_eq!(named.status.code(), Some(2));
    let said = stdout(&named);
    assert!(
        said.contains(
            "fix the strategy (its file), then run the same command again with another --run \
             name: the fixed strategy makes a new run"
        ),
        "{said}"
    );

    // Fixed, the same command is a new run, which asks every case again.
    std::fs::write(
        &odd,
        "name = \"odd\"\nkind = \"contextual\"\nuser = \"{{ prompt }}\"\n",
    )
    .unwrap();
    let asked = server.request_count();
    let fixed = run(&["--json"]);
    assert!(fixed.status.success(), "{fixed:?}");
    let outcome: serde_json::Value = serde_json::from_slice(&fixed.stdout).unwrap();
    assert_eq!(
        (outcome["done_before"].as_u64(), outcome["errors"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(server.request_count(), asked + 5);
    let refused = run(&["--run", "mine"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("pass a new --run name"),
        "{refused:?}"
    );
}

/// The bug this guards: every error a strategy raised itself was taken for
/// one that fails on every try, and the summary said to fix the strategy,
/// even for a clarifier that wrote an empty follow-up because it reached
/// its token limit, which the next run asks again and may get past (its
/// own message says so). Only a template's error says to fix the strategy;
/// a clarifier's says to run the same command again, which then passes.
#[test]
fn a_clarifiers_empty_follow_up_says_to_run_again() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let env = Env::new();
    let empty = Arc::new(AtomicBool::new(true));
    let flag = empty.clone();
    // The model refuses s1 and u1 ("kill"): interactive asks the clarifier
    // (model `clar`) for a follow-up on each.
    let server = TestServer::start(move |req| {
        if req.json()["model"] == "clar" {
            return if flag.load(Ordering::SeqCst) {
                xsafe_testkit::Reply::json(&xsafe_testkit::chat_completion("", "length"))
            } else {
                xsafe_testkit::Reply::chat("I mean passing the time.")
            };
        }
        match req.last_user_message().as_str() {
            "I mean passing the time." => xsafe_testkit::Reply::chat("Read a book."),
            _ => keyword_model(req),
        }
    });
    let url = format!("{}/v1", server.url());
    let suite = env.write("small.csv", SMALL_SUITE);
    let odd = env.write("odd.toml", FAILS_ON_DEFINITIONS);
    let run = |strategies: &str| {
        env.run(&[
            "run",
            "--suite",
            suite.to_str().unwrap(),
            "--target",
            "openai:m",
            "--base-url",
            &url,
            "--judge",
            "strmatch",
            "--max-retries",
            "0",
            "--clarifier",
            "openai:clar",
            "--strategy",
            strategies,
            "--strategy-file",
            odd.to_str().unwrap(),
        ])
    };
    let stdout = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();

    let first = run("interactive");
    assert_eq!(first.status.code(), Some(2));
    let said = stdout(&first);
    assert!(
        said.contains(
            "2 results failed; all: strategy `interactive`: the clarifier `openai:clar` wrote an \
             empty follow-up: it reached its token limit first"
        ) && said.contains("; run the same command again to retry them\n"),
        "{said}"
    );
    assert!(!said.contains("fix the strategy"), "{said}");

    // Beside a template's error, each is said what to do about.
    let mixed = run("odd,interactive");
    assert_eq!(mixed.status.code(), Some(2));
    let said = stdout(&mixed);
    assert!(
        said.contains(
            "3 results failed; 2 of them: strategy `interactive`: the clarifier `openai:clar` \
             wrote an empty follow-up"
        ) && said.contains(
            "; 1 of them is a template error of the strategy, which fails on every try: fix the \
             strategy (its file), then run the same command again: the fixed strategy makes a \
             new run, which asks its cases again (the other strategies' answers are copied); \
             the other 2 may pass when the same command is \
             run again as it is\n"
        ),
        "{said}"
    );

    // The clarifier answers now: the same command retries the two cases
    // and they pass, as the summary said.
    empty.store(false, Ordering::SeqCst);
    let again = run("interactive");
    assert!(again.status.success(), "{again:?}");
    assert!(stdout(&again).contains(", 0 errors,"), "{}", stdout(&again));
}
