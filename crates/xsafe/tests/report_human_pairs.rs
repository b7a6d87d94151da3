//! `xsafe report` with human labels on one strategy's answers only, end to
//! end against a model served on 127.0.0.1 that answers alike under every
//! strategy (the user review's case); `export --judge`, the stored
//! verdicts of another judge; and a report's JSON keeps the run's own
//! judge beside the one it counts.

mod common;
#[path = "../../xsafe-report/tests/fixture/mod.rs"]
mod fixture;

use common::{Env, run_small_suite_on};
use serde_json::Value;
use xsafe_store::Store;
use xsafe_testkit::{Reply, TestServer};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Refuses the prompts about killing, answers the rest, the same words
/// whatever the strategy sent with the prompt.
fn same_answers() -> TestServer {
    TestServer::start(|req| {
        if req.last_user_message().contains("kill") {
            Reply::chat("I'm sorry, but I can't help with that.")
        } else {
            Reply::chat("Sure, here is how to go about it.")
        }
    })
}

/// Human labels on baseline's answers only, disagreeing with the judge on
/// s2 and s3 (refusals where strmatch saw compliance): the comparison with
/// contextual, whose answers are the same, shows no difference (`--labels
/// judge` shows none either), and the report says how the labels cover the
/// strategies and how many pairs were compared on the judge's verdicts.
#[test]
fn labels_on_baseline_only_make_no_difference_with_contextual() {
    let env = Env::new();
    let model = same_answers();
    run_small_suite_on(
        &env,
        &model,
        "r1",
        &["--judge", "strmatch", "--strategy", "baseline,contextual"],
    );
    let labels = env.write(
        "labels.csv",
        "id,strategy,final_label\ns1,baseline,2\ns2,baseline,2\ns3,baseline,2\nu1,baseline,2\n\
         u2,baseline,1\n",
    );
    env.ok(&[
        "annotate",
        "import",
        "r1",
        labels.to_str().unwrap(),
        "--annotator",
        "alice",
    ]);
    let v = json(&env.ok(&["report", "r1", "--format", "json"]));
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups[0]["strategy"], "baseline");
    // The rates keep the human labels: baseline refuses every safe prompt.
    assert_eq!(groups[0]["safe"]["refusal"], 3);
    assert_eq!(groups[1]["safe"]["refusal"], 1);
    let safe = &groups[1]["vs_baseline"]["safe"];
    assert_eq!(safe["mcnemar"]["b"], 0, "{safe}");
    assert_eq!(safe["mcnemar"]["c"], 0, "{safe}");
    assert_eq!(safe["reduction"]["percent"], 0.0, "{safe}");
    assert_eq!(safe["one_side_labelled"], 3);
    assert_eq!(groups[1]["vs_baseline"]["unsafe"]["one_side_labelled"], 2);
    let h = &v["human_labels"];
    assert_eq!(h["uneven"], true);
    assert_eq!(h["by_strategy"][0]["strategy"], "baseline");
    assert_eq!(h["by_strategy"][0]["labelled"], 5);
    assert_eq!(h["by_strategy"][1]["labelled"], 0);
    let judge = json(&env.ok(&["report", "r1", "--labels", "judge", "--format", "json"]));
    assert_eq!(
        judge["groups"][1]["vs_baseline"]["safe"]["mcnemar"],
        safe["mcnemar"]
    );
    // Said beside the human-labels line, whole on a wide terminal's line.
    let text = env.ok(&["report", "r1", "--format", "md"]);
    let line = text
        .lines()
        .find(|l| l.contains("Human labels:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(
            "They cover the strategies unevenly (answers labelled: baseline 5 of 5, contextual 0 \
             of 5)"
        ) && line.contains("5 pairs were compared on the judge's verdicts because one answer only had a human label"),
        "{line}"
    );
}

/// An environment whose store holds the fixture run `a` (strmatch@1
/// verdicts), with verdicts of `xsafe@3` on t1's baseline answers: s1, s2
/// and s3 compliance, u1 and u2 full refusal.
fn two_judges() -> Env {
    let env = Env::new();
    let store = Store::open(&env.db()).unwrap();
    fixture::fill(&store, "a");
    let run = store.run("a").unwrap();
    for r in store.results(run.id).unwrap() {
        if r.key.target == "t1" && r.key.strategy == "baseline" {
            let class = if r.key.case_id.starts_with('s') {
                xsafe_core::Class::Compliance
            } else {
                xsafe_core::Class::FullRefusal
            };
            store
                .put_verdict(r.id, &xsafe_core::Verdict::scored(class, 0.8, "xsafe@3"))
                .unwrap();
        }
    }
    env
}

fn csv_rows(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().clone();
    r.records()
        .map(|row| {
            let row = row.unwrap();
            header
                .iter()
                .zip(row.iter())
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect()
        })
        .collect()
}

/// `export --judge J` writes J's stored verdicts as the CSV's final_label
/// and judge, and filters `--verdict` by them, as `report --judge J`
/// counts them; a judge with no verdict stored is refused, naming the
/// judges there are.
#[test]
fn export_writes_the_verdicts_of_the_judge_asked_for() {
    let env = two_judges();
    let base = [
        "--target",
        "t1",
        "--strategy",
        "baseline",
        "--format",
        "csv",
    ];
    let own = csv_rows(&env.ok(&[&["export", "a"][..], &base].concat()));
    let other = csv_rows(&env.ok(&[&["export", "a", "--judge", "xsafe"][..], &base].concat()));
    assert_eq!(own.len(), 5);
    assert!(own.iter().all(|r| r["judge"] == "strmatch@1"));
    assert!(other.iter().all(|r| r["judge"] == "xsafe@3"), "{other:?}");
    let labels: Vec<(&str, &str)> = other
        .iter()
        .map(|r| (r["id"].as_str(), r["final_label"].as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("s1", "1_full_compliance"),
            ("s2", "1_full_compliance"),
            ("s3", "1_full_compliance"),
            ("u1", "2_full_refusal"),
            ("u2", "2_full_refusal"),
        ]
    );
    // strmatch refused s1, s2, s3 and u1; xsafe only u1 and u2.
    let refused = |judge: &[&str]| -> Vec<String> {
        let args = [
            &["export", "a"][..],
            judge,
            &base,
            &["--verdict", "refusal"],
        ]
        .concat();
        csv_rows(&env.ok(&args))
            .iter()
            .map(|r| r["id"].clone())
            .collect()
    };
    assert_eq!(refused(&[]), ["s1", "s2", "s3", "u1"]);
    assert_eq!(refused(&["--judge", "xsafe"]), ["u1", "u2"]);
    // Where the judge gave no verdict (t2's answers), the cells are empty
    // and --verdict unscored finds them, as report counts them.
    let t2 = csv_rows(&env.ok(&[
        "export", "a", "--judge", "xsafe", "--target", "t2", "--format", "csv",
    ]));
    assert!(
        t2.iter()
            .all(|r| r["judge"].is_empty() && r["final_label"].is_empty())
    );
    let err = env.fails(&["export", "a", "--judge", "llm:openai:judge-model"]);
    assert!(
        err.contains("no answer of a has a verdict of judge `llm:openai:judge-model`")
            && err.contains("strmatch, xsafe"),
        "{err}"
    );
}

/// The bug this guards: with `--judge xsafe`, `runs[].judge` became
/// `xsafe` and the run's own judge was given nowhere.
#[test]
fn a_report_under_another_judge_keeps_the_runs_own() {
    let env = two_judges();
    let v = json(&env.ok(&["report", "a", "--judge", "xsafe", "--format", "json"]));
    assert_eq!(v["judge"], "xsafe");
    assert_eq!(v["runs"][0]["judge"], "xsafe");
    assert_eq!(v["runs"][0]["run_judge"], "strmatch");
    let own = json(&env.ok(&["report", "a", "--format", "json"]));
    assert_eq!(own["runs"][0]["judge"], "strmatch");
    assert_eq!(own["runs"][0]["run_judge"], "strmatch");
}
