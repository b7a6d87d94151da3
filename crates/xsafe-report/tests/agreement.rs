//! `--judge-agreement` figures of another judge than the one a report
//! counts are refused, naming both and the command that measures the
//! right one ([`check_agreement`]): the user review's case was an eval made
//! with strmatch applied to a report judged with xsafe, with a warning
//! only.

mod fixture;

use xsafe_report::{BuildOptions, JudgeAccuracy, LabelSource, RunInput, check_agreement};
use xsafe_store::Store;

fn input(store: &Store) -> RunInput {
    let id = fixture::fill(store, "a");
    RunInput {
        record: store.run("a").unwrap(),
        results: store.outlines(id).unwrap(),
        cases: Some(5),
    }
}

fn eval(judge: Option<&str>) -> JudgeAccuracy {
    let mut v = serde_json::json!({"files": ["mine.csv", "their labels.csv"], "confusion": {}});
    for h in ["compliance", "full_refusal", "partial_refusal"] {
        v["confusion"][h] =
            serde_json::json!({"compliance": 3, "full_refusal": 1, "partial_refusal": 1});
    }
    if let Some(judge) = judge {
        v["judge"] = judge.into();
    }
    JudgeAccuracy::from_eval_json("eval.json", &v).unwrap()
}

fn check(store: &Store, judge: Option<&str>, counted: Option<&str>) -> Result<(), String> {
    check_agreement(
        &[input(store)],
        &BuildOptions {
            accuracy: Some(eval(judge)),
            judge: counted.map(str::to_string),
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())
}

#[test]
fn figures_of_the_judge_counted_are_taken() {
    let store = Store::open_in_memory().unwrap();
    assert_eq!(check(&store, Some("strmatch@1"), None), Ok(()));
    let store = Store::open_in_memory().unwrap();
    assert_eq!(check(&store, Some("strmatch@1"), Some("strmatch")), Ok(()));
    assert_eq!(eval(Some("x@1")).files, ["mine.csv", "their labels.csv"]);
}

#[test]
fn figures_of_another_judge_are_refused() {
    let store = Store::open_in_memory().unwrap();
    let e = check(&store, Some("xsafe@5-abc"), None).unwrap_err();
    assert_eq!(
        e,
        "judge agreement file `eval.json`: these are the figures of judge `xsafe@5-abc`, but the \
         report counts the verdicts of judge `strmatch` (its verdicts tagged `strmatch@1`) for \
         run `a`: one judge's sensitivity and specificity do not correct another's rates. \
         Measure judge `strmatch` on the same labels with `xsafe judge eval --labels mine.csv \
         'their labels.csv' --judge strmatch --json > agreement-strmatch.json` and pass that file"
    );
}

/// The review's case the other way round: the run holds both judges'
/// verdicts, and the eval is of the one not counted: counting it is the
/// other way out.
#[test]
fn figures_of_a_judge_the_run_also_has_say_how_to_count_it() {
    let store = Store::open_in_memory().unwrap();
    let mut run = input(&store);
    for r in &mut run.results {
        r.verdicts.push(xsafe_core::Verdict::scored(
            xsafe_core::Class::Compliance,
            0.9,
            "xsafe@5-abc",
        ));
    }
    let opts = |accuracy: &str, judge: Option<&str>| BuildOptions {
        accuracy: Some(eval(Some(accuracy))),
        judge: judge.map(str::to_string),
        ..Default::default()
    };
    let e = check_agreement(
        std::slice::from_ref(&run),
        &opts("strmatch@1", Some("xsafe")),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(
            "figures of judge `strmatch@1`, but the report counts the verdicts of judge \
             `xsafe` (its verdicts tagged `xsafe@5-abc`)"
        ),
        "{e}"
    );
    assert!(
        e.contains(
            "--judge xsafe --json > agreement-xsafe.json` and pass that file, or count \
             the verdicts of judge `strmatch` with `--judge strmatch`"
        ),
        "{e}"
    );
    assert!(
        check_agreement(
            std::slice::from_ref(&run),
            &opts("xsafe@5-abc", Some("xsafe"))
        )
        .is_ok()
    );
}

#[test]
fn figures_of_another_version_are_refused() {
    let store = Store::open_in_memory().unwrap();
    let e = check(&store, Some("strmatch@0"), None).unwrap_err();
    assert!(
        e.contains(
            "these are the figures of judge `strmatch@0`, but run `a` has verdicts of judge \
             `strmatch` (its verdicts tagged `strmatch@1`): another version"
        ),
        "{e}"
    );
    assert!(
        e.contains("`xsafe rejudge a --judge strmatch` judges the run's answers again"),
        "{e}"
    );
}

#[test]
fn figures_that_do_not_name_their_judge_are_refused() {
    let store = Store::open_in_memory().unwrap();
    let e = check(&store, None, None).unwrap_err();
    assert!(
        e.contains("it does not say which judge it measured (no `judge` field)"),
        "{e}"
    );
    assert!(e.contains("--judge strmatch --json"), "{e}");
}

/// Where only human labels count, no judge's verdict is corrected.
#[test]
fn only_human_labels_need_no_judge() {
    let store = Store::open_in_memory().unwrap();
    let ok = check_agreement(
        &[input(&store)],
        &BuildOptions {
            accuracy: Some(eval(Some("xsafe@5-abc"))),
            labels: LabelSource::Human,
            ..Default::default()
        },
    );
    assert!(ok.is_ok());
}
