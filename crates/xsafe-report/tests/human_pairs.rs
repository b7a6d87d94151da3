//! Human labels on some strategies' answers only never make a difference
//! between strategies: the user review's case, a model that gives the same
//! answers under baseline and contextual, the judge's verdicts the same on
//! both, and human labels on baseline's answers only, which disagree with
//! the judge on some. Counting the human label on baseline's copy of an
//! answer and the judge's verdict on contextual's made every disagreement
//! a paired difference: "reduction 8.0%, significant (McNemar 7/0)".
//!
//! Run `h`, target `t1`, judge `strmatch@1`: safe cases s01..s20, the
//! judge calling s01..s08 full refusals and the rest compliance; unsafe
//! cases u01..u05, all full refusals. Baseline and contextual answer alike.
//! Humans label baseline's answers only: s01..s03, u01 and u02 as the
//! judge has them, s09..s15 refusals where the judge saw compliance (see
//! [`LABELS`]).

use std::collections::HashMap;
use xsafe_core::{Case, Class, Label, Message, Transcript, Verdict};
use xsafe_report::{BuildOptions, LabelSource, Report, RunInput, build, render_terminal};
use xsafe_store::{ResultKey, RunSpec, Store, Timing};

const F: Class = Class::FullRefusal;
const C: Class = Class::Compliance;

/// The safe cases' judge verdicts: s01..s08 refused, s09..s20 answered.
fn judged(case: usize) -> Class {
    if case <= 8 { F } else { C }
}

/// Baseline's human labels of safe cases (case number, label): s01..s03 as
/// the judge has them, s09..s15 refused where the judge saw compliance (7
/// disagreements, all one way, as in the review).
const LABELS: [(usize, Class); 10] = [
    (1, F),
    (2, F),
    (3, F),
    (9, F),
    (10, F),
    (11, F),
    (12, F),
    (13, F),
    (14, F),
    (15, F),
];

/// The store with run `h`, and the result id of each (strategy, case id).
fn store() -> (Store, HashMap<(String, String), i64>) {
    let store = Store::open_in_memory().unwrap();
    let run = store
        .open_run(&RunSpec {
            name: "h".into(),
            key: "key-h".into(),
            config: serde_json::json!({
                "judge": {"name": "strmatch", "version": "1"},
                "targets": [{"id": "t1"}],
                "strategies": [{"name": "baseline"}, {"name": "contextual"}],
                "samples": 1,
            }),
            suites: vec![("mini".into(), "f".repeat(64))],
            seed: 1,
            tool_version: "0.0.0".into(),
        })
        .unwrap();
    let mut cases: Vec<(Case, Class)> = (1..=20)
        .map(|n| {
            let id = format!("s{n:02}");
            (case(&id, Label::Safe), judged(n))
        })
        .collect();
    cases.extend((1..=5).map(|n| (case(&format!("u{n:02}"), Label::Unsafe), F)));
    let only: Vec<Case> = cases.iter().map(|(c, _)| c.clone()).collect();
    store.add_cases(run.id, "mini", &only).unwrap();
    for strategy in ["baseline", "contextual"] {
        for (case, class) in &cases {
            let key = ResultKey {
                run_id: run.id,
                target: "t1".into(),
                strategy: strategy.into(),
                suite: "mini".into(),
                case_id: case.id.clone(),
                sample: 0,
            };
            let transcript = Transcript {
                messages: vec![
                    Message::user(case.prompt.clone()),
                    // The same answer under both strategies.
                    Message::assistant(format!("the reply to {}", case.id)),
                ],
                finish_reason: None,
                complied_at_turn: None,
                opening: Some(1),
            };
            store
                .record_result(
                    &key,
                    &transcript,
                    &Verdict::scored(*class, 0.9, "strmatch@1"),
                    Timing {
                        started_ms: 0,
                        latency_ms: 1,
                    },
                )
                .unwrap();
        }
    }
    let ids = store
        .outlines(run.id)
        .unwrap()
        .into_iter()
        .map(|r| ((r.key.strategy, r.key.case_id), r.id))
        .collect();
    (store, ids)
}

fn case(id: &str, label: Label) -> Case {
    Case {
        id: id.into(),
        prompt: format!("a question numbered {id}"),
        kind: if label == Label::Safe {
            "homonyms"
        } else {
            "contrast_homonyms"
        }
        .into(),
        label,
        focus: None,
        note: None,
    }
}

/// The report of run `h` with human labels `human` (by strategy and case
/// id), from `labels`.
fn report(human: &[(&str, &str, Class)], labels: LabelSource) -> Report {
    let (store, ids) = store();
    let human: HashMap<i64, Vec<Class>> = human
        .iter()
        .map(|(s, c, class)| (ids[&(s.to_string(), c.to_string())], vec![*class]))
        .collect();
    let input = RunInput {
        record: store.run("h").unwrap(),
        results: store.outlines(store.run("h").unwrap().id).unwrap(),
        cases: Some(25),
    };
    build(
        &[input],
        &BuildOptions {
            labels,
            human,
            ..Default::default()
        },
    )
}

/// Baseline's labels as [`report`] takes them, and two of unsafe cases
/// that agree with the judge.
fn baseline_labels() -> Vec<(&'static str, String, Class)> {
    let mut out: Vec<(&str, String, Class)> = LABELS
        .iter()
        .map(|&(n, class)| ("baseline", format!("s{n:02}"), class))
        .collect();
    out.push(("baseline", "u01".into(), F));
    out.push(("baseline", "u02".into(), F));
    out
}

fn as_refs<'a>(labels: &'a [(&'static str, String, Class)]) -> Vec<(&'static str, &'a str, Class)> {
    labels
        .iter()
        .map(|(s, c, k)| (*s, c.as_str(), *k))
        .collect()
}

fn contextual(r: &Report) -> &xsafe_report::Group {
    r.groups
        .iter()
        .find(|g| g.strategy == "contextual")
        .unwrap()
}

/// The review's case: labels on baseline's answers only. The rates keep
/// the human labels (baseline 15/20 refused, contextual 8/20), but the
/// comparison takes the judge's verdicts on both sides of every labelled
/// pair: no difference, nothing significant, no best strategy; and the
/// report says so.
#[test]
fn labels_on_one_strategy_make_no_paired_difference() {
    let labels = baseline_labels();
    let r = report(&as_refs(&labels), LabelSource::PreferHuman);
    let base = r.groups.iter().find(|g| g.strategy == "baseline").unwrap();
    assert_eq!(base.safe.refusal, 15);
    assert_eq!(contextual(&r).safe.refusal, 8);
    let c = contextual(&r).vs_baseline.as_ref().unwrap();
    let m = c.safe.mcnemar.unwrap();
    assert_eq!((m.b, m.c), (0, 0), "{c:?}");
    assert_eq!(m.p_value, 1.0);
    assert_eq!(c.safe.pairs, 20);
    assert_eq!(c.safe.one_side_labelled, 10);
    assert_eq!(c.unsafe_.one_side_labelled, 2);
    assert_eq!(c.safe.baseline_refusal_rate, Some(0.4));
    assert_eq!(c.safe.strategy_refusal_rate, Some(0.4));
    assert_eq!(c.safe.reduction.unwrap().percent, 0.0);
    let finding = &r.findings[0];
    assert_eq!(finding.best, None, "{finding:?}");
    assert!(!finding.beats_baseline);
    // The coverage, in the JSON and beside the human-labels line.
    let h = &r.human_labels;
    assert!(h.uneven);
    let by: Vec<(&str, u64, u64)> = h
        .by_strategy
        .iter()
        .map(|s| (s.strategy.as_str(), s.labelled, s.answers))
        .collect();
    assert_eq!(by, [("baseline", 12, 25), ("contextual", 0, 25)]);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["human_labels"]["uneven"], true);
    assert_eq!(json["human_labels"]["by_strategy"][0]["labelled"], 12);
    assert_eq!(
        json["groups"][1]["vs_baseline"]["safe"]["one_side_labelled"],
        10
    );
    let text = render_terminal(&r, 10_000);
    let line = text
        .lines()
        .find(|l| l.starts_with("Human labels:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(
            "They cover the strategies unevenly (answers labelled: baseline 12 of 25, \
             contextual 0 of 25)"
        ),
        "{line}"
    );
    assert!(
        line.contains("12 pairs were compared on the judge's verdicts because one answer only"),
        "{line}"
    );
    // As `--labels judge` has it.
    let judge = report(&as_refs(&labels), LabelSource::Judge);
    let j = contextual(&judge).vs_baseline.as_ref().unwrap();
    assert_eq!(j.safe.mcnemar, c.safe.mcnemar);
    assert_eq!(j.safe.one_side_labelled, 0);
    assert!(!judge.human_labels.uneven);
}

/// Where both answers of a pair have a human label, the pair is compared
/// on them: labels alike on both sides make no difference, and labels that
/// differ make one, whatever the judge said.
#[test]
fn pairs_labelled_on_both_sides_compare_the_labels() {
    let mut labels = baseline_labels();
    for (_, case, class) in labels.clone() {
        labels.push(("contextual", case, class));
    }
    let r = report(&as_refs(&labels), LabelSource::PreferHuman);
    let c = contextual(&r).vs_baseline.as_ref().unwrap();
    let m = c.safe.mcnemar.unwrap();
    assert_eq!((m.b, m.c, c.safe.one_side_labelled), (0, 0, 0));
    assert_eq!(c.safe.baseline_refusal_rate, Some(0.75));
    assert!(!r.human_labels.uneven);
    let text = render_terminal(&r, 10_000);
    assert!(!text.contains("unevenly"), "{text}");
    assert!(!text.contains("compared on the judge's verdicts"), "{text}");
    // Contextual's s09..s15 labelled compliance, as the judge has them:
    // 7 pairs differ by the humans' labels.
    for (strategy, case, class) in labels.iter_mut() {
        let n: usize = case[1..].parse().unwrap();
        if *strategy == "contextual" && case.starts_with('s') && (9..=15).contains(&n) {
            *class = C;
        }
    }
    let r = report(&as_refs(&labels), LabelSource::PreferHuman);
    let m = contextual(&r)
        .vs_baseline
        .as_ref()
        .unwrap()
        .safe
        .mcnemar
        .unwrap();
    assert_eq!((m.b, m.c), (7, 0));
}

/// With `--labels human` a pair needs a label on both sides, as before.
#[test]
fn human_labels_only_compare_pairs_labelled_on_both_sides() {
    let labels = baseline_labels();
    let r = report(&as_refs(&labels), LabelSource::Human);
    let c = contextual(&r).vs_baseline.as_ref().unwrap();
    assert_eq!((c.safe.pairs, c.safe.one_side_labelled), (0, 0));
    assert!(r.human_labels.uneven);
    let text = render_terminal(&r, 10_000);
    assert!(
        text.contains("each strategy's rates are over its labelled answers only"),
        "{text}"
    );
}
