//! `xsafe tune` with `--strategy-file`: a file whose strategy the
//! `--strategies` list leaves out is warned about, as `xsafe run` warns;
//! a few-shot file whose exemplars are cases of the suite is refused,
//! naming the strategy once. Neither asks the model anything.

mod common;

use common::Env;
use std::path::Path;

/// A suite of `n` safe and `n` unsafe prompts in XSTest's format.
fn suite_csv(n: usize) -> String {
    let mut csv = String::from("id,prompt,type,label,focus,note\n");
    for i in 0..n {
        csv.push_str(&format!(
            "s{i},How can I zorblax the homonyms gadget number {i},homonyms,safe,,\n"
        ));
        csv.push_str(&format!(
            "u{i},Tell me how to wreck the gadget number {i} for good,contrast_homonyms,unsafe,,\n"
        ));
    }
    csv
}

fn tune(suite: &Path, output: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "tune",
        "--suite",
        suite.to_str().unwrap(),
        "--target",
        "openai:m",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--judge",
        "strmatch",
        "--output",
        output.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The bug this guards: `tune --strategy-file ctx.toml --strategies
/// contextual` silently compared no strategy of the file (a dry run
/// showed nothing either), where `run` warns in the same case.
#[test]
fn a_file_whose_strategy_the_list_leaves_out_is_warned_about() {
    let env = Env::new();
    let suite = env.write("suite.csv", suite_csv(8));
    let out = env.path("p.toml");
    let ctx = env.write(
        "ctx.toml",
        "name = \"ctx\"\nkind = \"contextual\"\nsystem = \"Be kind.\"\n",
    );
    let ctx = ctx.display().to_string();
    let stderr = |extra: &[&str]| {
        let mut args = tune(&suite, &out, &["--dry-run", "--strategy-file", &ctx]);
        args.extend(extra.iter().map(|s| s.to_string()));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let res = env.run(&argv);
        assert!(
            res.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        String::from_utf8_lossy(&res.stderr).into_owned()
    };
    let left_out = stderr(&["--strategies", "contextual"]);
    assert!(
        left_out.contains(&format!(
            "this tune leaves out `ctx` (--strategy-file {ctx}): with --strategies, tune \
             compares only the strategies it names (here `contextual`; and baseline)"
        )) && left_out.contains("use --strategies contextual,ctx"),
        "{left_out}"
    );
    // Baseline named, it is not added again ("here `baseline`, `contextual`;
    // and baseline" repeated it).
    let named = stderr(&["--strategies", "baseline,contextual"]);
    assert!(
        named.contains(
            "compares only the strategies it names (here `baseline`, `contextual`), not every \
             file's"
        ) && named.contains("use --strategies baseline,contextual,ctx")
            && !named.contains("and baseline"),
        "{named}"
    );
    // Named, alone or as a step, or every strategy compared: no warning.
    for extra in [
        &["--strategies", "contextual,ctx"][..],
        &["--strategies", "ctx+interactive"],
        &[],
    ] {
        let quiet = stderr(extra);
        assert!(!quiet.contains("leaves out"), "{extra:?}: {quiet}");
    }
    assert!(!out.exists());
}

/// The bug this guards: the leak check's error named the strategy twice
/// (`error: strategy fs-leak: strategy fs-leak: 1 case(s) ...`), and said
/// "the suite being run" though tune checks every case of the suite.
#[test]
fn a_few_shot_file_with_a_case_for_an_exemplar_is_refused_naming_it_once() {
    let env = Env::new();
    let suite = env.write("suite.csv", suite_csv(8));
    let out = env.path("p.toml");
    env.write(
        "bank.toml",
        "[[exemplar]]\nid = \"copy\"\ntype = \"homonyms\"\nlabel = \"safe\"\n\
         prompt = \"How can I zorblax the homonyms gadget number 3\"\nanswer = \"Like so.\"\n",
    );
    let fs = env.write(
        "fs.toml",
        "name = \"fs-leak\"\nkind = \"few-shot\"\nk = 1\nunsafe = 0\nexemplars = \"bank.toml\"\n",
    );
    let args = tune(
        &suite,
        &out,
        &[
            "--strategy-file",
            fs.to_str().unwrap(),
            "--strategies",
            "fs-leak",
            "--dry-run",
        ],
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = env.fails(&argv);
    assert!(
        err.contains(
            "error: strategy `fs-leak`: 8 case(s) of the suite (also cases --types/--limit leave \
             out) are few-shot exemplars of `bank.toml`"
        ) && err.matches("fs-leak").count() == 1
            && err.contains("exemplar `copy` ~ case `s3` (the same text)")
            && err.contains("leave it out of --strategies"),
        "{err}"
    );
    assert!(!out.exists());
}
