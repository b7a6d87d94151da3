//! The commands xsafe suggests name a run as a shell reads it: a run named
//! `my run&x` (a space, and `&`, which would run the command in the
//! background and start another) is quoted in `xsafe run`'s closing note
//! and in the report's warnings (terminal, Markdown, HTML), never cut
//! across lines in the terminal. Against runs made on a model served on
//! 127.0.0.1.

mod common;

use common::{Env, keyword_model, try_small_suite_on};
use xsafe_testkit::TestServer;

const RUN: &str = "my run&x";
const QUOTED: &str = "'my run&x'";

#[test]
fn suggested_commands_quote_the_run_name() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    let out = try_small_suite_on(&env, &model, RUN, &["--judge", "strmatch"]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "`xsafe report {QUOTED}` (`--format html -o report.html` for charts)"
        )),
        "{stderr}"
    );

    // Without human labels every answer is unscored: the warning says
    // which command labels them.
    let hint = format!("`xsafe annotate {QUOTED}` labels them");
    let text = env.ok(&["report", RUN, "--labels", "human"]);
    assert!(
        text.lines().any(|l| l.contains(&hint)),
        "the command is missing or cut:\n{text}"
    );
    let md = env.ok(&["report", RUN, "--labels", "human", "--format", "md"]);
    assert!(md.contains(&hint), "{md}");

    // A run whose labels would go with it names it quoted too.
    let labels = env.write("l.csv", "id,final_label\ns1,2_full_refusal\n");
    env.ok(&["annotate", "import", RUN, labels.to_str().unwrap()]);
    let err = env.fails(&["runs", "delete", RUN]);
    assert!(
        err.contains(&format!(
            "`xsafe annotate export {QUOTED}` keeps them in a file"
        )),
        "{err}"
    );
    // `annotate stats` of a run without labels says how to label it.
    env.ok(&["runs", "delete", RUN, "--force"]);
    let out = try_small_suite_on(&env, &model, RUN, &["--judge", "strmatch"]);
    assert!(out.status.success(), "{out:?}");
    let stats = env.ok(&["annotate", "stats", RUN]);
    assert!(
        stats.contains(&format!(
            "`xsafe annotate {QUOTED}`, or import labels with `xsafe annotate import {QUOTED} \
             FILE`"
        )),
        "{stats}"
    );
}
