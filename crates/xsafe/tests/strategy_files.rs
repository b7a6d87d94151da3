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
