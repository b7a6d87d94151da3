//! What a report says where a figure cannot be had: a run without
//! `baseline` answers (no reduction, no McNemar test), and an interactive
//! strategy without a scored answer (no compliance by turn). Each format
//! with notes (terminal, Markdown, HTML, and the JSON's `warnings`) says
//! why, and none prints an empty table or chart.

mod fixture;

use fixture::Answer::{self, One, Turns, Unscored};
use xsafe_core::Class::{Compliance as C, FullRefusal as FR};
use xsafe_report::{BuildOptions, LabelSource, Report, RunInput, build, html};
use xsafe_store::{RunSpec, Store};

/// Makes run `name` with `key` and `config`, whose results are `answers`
/// per `(target, strategy)`, one per fixture case in order.
fn make(
    store: &Store,
    name: &str,
    key: &str,
    config: serde_json::Value,
    answers: &[(&str, &str, Vec<Answer>)],
) -> RunInput {
    let run = store
        .open_run(&RunSpec {
            name: name.into(),
            key: key.into(),
            config,
            suites: vec![("mini".into(), "f".repeat(64))],
            seed: 1,
            tool_version: "0.0.0".into(),
        })
        .unwrap();
    store.add_cases(run.id, "mini", &fixture::cases()).unwrap();
    let ids = ["s1", "s2", "s3", "u1", "u2"];
    for (target, strategy, list) in answers {
        for (case, a) in ids.iter().zip(list) {
            let a = match a {
                One(c) => One(*c),
                Turns(n, c, at) => Turns(*n, *c, *at),
                Unscored => Unscored,
                Answer::Error => Answer::Error,
            };
            fixture::record(store, run.id, target, strategy, case, a);
        }
    }
    RunInput {
        record: store.run(name).unwrap(),
        results: store.outlines(run.id).unwrap(),
        cases: Some(5),
    }
}

fn config(strategies: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "judge": {"name": "strmatch", "version": "1"},
        "targets": [{"id": "t1"}],
        "strategies": strategies.iter().map(|s| serde_json::json!({"name": s})).collect::<Vec<_>>(),
        "samples": 1,
    })
}

fn five(c: xsafe_core::Class) -> Vec<Answer> {
    (0..5).map(|_| One(c)).collect()
}

/// Every format's text, for the assertions common to all.
fn texts(report: &Report) -> [(&'static str, String); 3] {
    [
        ("text", xsafe_report::render_terminal(report, 100_000)),
        ("md", xsafe_report::render_markdown(report)),
        ("html", html::render(report)),
    ]
}

const KEY: &str = "0123456789abcdef0123456789abcdef";

#[test]
fn a_run_without_baseline_says_so_and_how_to_get_it() {
    let store = Store::open_in_memory().unwrap();
    // Named as a command without `--run` names it: from its key.
    let run = make(
        &store,
        "run-0123456789ab",
        KEY,
        config(&["contextual", "few-shot"]),
        &[("t1", "contextual", five(C)), ("t1", "few-shot", five(FR))],
    );
    let report = build(&[run], &BuildOptions::default());
    assert!(report.groups.iter().all(|g| g.vs_baseline.is_none()));
    // The JSON's notes are its warnings.
    let warning = report
        .warnings
        .iter()
        .find(|w| w.contains("no `baseline` answers"))
        .unwrap_or_else(|| panic!("{:?}", report.warnings));
    assert!(
        warning.starts_with("run `run-0123456789ab` has no `baseline` answers to compare")
            && warning.contains("`--strategy baseline,contextual,few-shot`")
            && warning.contains("a new run")
            && warning.contains("asks the model only for baseline's")
            && !warning.contains("--run"),
        "{warning}"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert!(
        json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str() == Some(warning.as_str()))
    );

    let [(_, text), (_, md), (_, page)] = texts(&report);
    for (what, out) in [("text", &text), ("md", &md)] {
        // The cells say why there is nothing, and the notes no longer
        // explain figures nobody computed.
        assert!(
            !out.contains("Reduction: (baseline - strategy)"),
            "{what}:\n{out}"
        );
        assert!(
            !out.contains("McNemar b/c: refused under"),
            "{what}:\n{out}"
        );
        assert!(
            out.contains(
                "No strategy is compared with baseline, so there is no reduction or McNemar test"
            ),
            "{what}:\n{out}"
        );
        assert!(out.contains("has no `baseline` answers"), "{what}:\n{out}");
    }
    let safe_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("contextual ") || l.starts_with("few-shot "))
        .collect();
    // Safe table (reduction, McNemar), then unsafe table (McNemar).
    assert_eq!(
        safe_rows
            .iter()
            .map(|l| l.matches("no baseline").count())
            .collect::<Vec<_>>(),
        [2, 2, 1, 1],
        "{text}"
    );
    assert!(md.contains("| no baseline | no baseline |"), "{md}");
    // The page: the warning, cells that say it, and no explanation of
    // figures it does not have.
    assert!(
        page.contains("<li>run <code>run-0123456789ab</code> has no <code>baseline</code> answers"),
        "{page}"
    );
    assert!(page.contains(">no baseline</td>"));
    assert!(page.contains("No strategy is compared with baseline"));
    assert!(!page.contains("McNemar b/c: refused under"));
    assert!(!page.contains("reduction is the drop in safe-prompt refusal"));
}

#[test]
fn a_named_run_needs_another_name_for_its_baseline() {
    let store = Store::open_in_memory().unwrap();
    let run = make(
        &store,
        "mine",
        KEY,
        config(&["few-shot"]),
        &[("t1", "few-shot", five(C))],
    );
    let report = build(&[run], &BuildOptions::default());
    let warning = report
        .warnings
        .iter()
        .find(|w| w.contains("no `baseline` answers"))
        .unwrap();
    assert!(
        warning.contains("`--strategy baseline,few-shot` and another `--run` name"),
        "{warning}"
    );
}

/// A run that asked for baseline and has not stored it yet is resumed by
/// its own command; a baseline whose answers all failed still compares
/// (with no pairs), and needs no warning of its own.
#[test]
fn a_baseline_asked_for_but_missing_is_resumed_and_a_failed_one_has_no_pairs() {
    let store = Store::open_in_memory().unwrap();
    let stopped = make(
        &store,
        "stopped",
        "k-stopped",
        config(&["baseline", "few-shot"]),
        &[("t1", "few-shot", five(C))],
    );
    let failed = make(
        &store,
        "failed",
        "k-failed",
        config(&["baseline", "few-shot"]),
        &[
            ("t1", "baseline", (0..5).map(|_| Answer::Error).collect()),
            ("t1", "few-shot", five(C)),
        ],
    );
    let report = build(&[stopped, failed], &BuildOptions::default());
    let about: Vec<&String> = report
        .warnings
        .iter()
        .filter(|w| w.contains("no `baseline` answers"))
        .collect();
    assert_eq!(about.len(), 1, "{:?}", report.warnings);
    assert!(
        about[0].starts_with("run `stopped` has no `baseline` answers for target `t1` yet")
            && about[0].contains("the same `xsafe run` command resumes the run and asks them")
            && !about[0].contains("new run"),
        "{}",
        about[0]
    );
    let few_shot = |run: &str| {
        report
            .groups
            .iter()
            .find(|g| g.run == run && g.strategy == "few-shot")
            .unwrap()
    };
    assert!(few_shot("stopped").vs_baseline.is_none());
    let vs = few_shot("failed").vs_baseline.as_ref().unwrap();
    assert_eq!(vs.safe.pairs, 0);
    assert!(
        vs.safe
            .note
            .as_deref()
            .unwrap()
            .contains("no case has a scored answer")
    );
    let text = xsafe_report::render_terminal(&report, 100_000);
    // The stopped run's few-shot has no baseline; the failed run's has no
    // pairs. Some strategy is compared, so the notes explain reduction.
    assert!(text.contains("no baseline"), "{text}");
    assert!(text.contains("no pairs"), "{text}");
    assert!(text.contains("Reduction: (baseline - strategy)"), "{text}");
}

/// `--labels human` without a human label on the interactive answers: no
/// curve to draw, and every format says why instead of an empty table.
#[test]
fn an_interactive_strategy_without_scored_answers_has_a_note_not_an_empty_table() {
    let store = Store::open_in_memory().unwrap();
    let interactive = || -> Vec<Answer> {
        vec![
            Turns(2, C, Some(2)),
            Turns(1, C, Some(1)),
            Turns(3, FR, None),
            Turns(3, FR, None),
            Turns(3, C, Some(3)),
        ]
    };
    let run = make(
        &store,
        "i",
        "k-i",
        config(&["baseline", "interactive"]),
        &[
            ("t1", "baseline", five(FR)),
            ("t1", "interactive", interactive()),
        ],
    );
    // With the judge's verdicts, the table and charts are there.
    let judged = build(std::slice::from_ref(&run), &BuildOptions::default());
    let [(_, text), (_, md), (_, page)] = texts(&judged);
    assert!(
        text.contains("i · t1 · compliance by turn\nstrategy"),
        "{text}"
    );
    assert!(md.contains("### i · t1 · compliance by turn"), "{md}");
    assert!(page.contains("chart-lines"));
    assert!(!text.contains("No compliance by turn"));

    // Human labels only, and one label, on a baseline answer: the
    // interactive answers are all unscored.
    let baseline_s1 = run
        .results
        .iter()
        .find(|r| r.key.strategy == "baseline" && r.key.case_id == "s1")
        .unwrap()
        .id;
    let opts = BuildOptions {
        labels: LabelSource::Human,
        human: [(baseline_s1, vec![FR])].into_iter().collect(),
        ..BuildOptions::default()
    };
    let report = build(&[run], &opts);
    let curve = report.groups[1].turns.as_ref().unwrap();
    assert!(curve.safe.iter().chain(&curve.unsafe_).all(|p| p.n == 0));
    let note = "No compliance by turn for `interactive` (run `i`, target `t1`): none of its \
                answers is scored (5 unscored: no human label).";
    let [(_, text), (_, md), (_, page)] = texts(&report);
    for (what, out) in [("text", &text), ("md", &md)] {
        assert!(!out.contains("compliance by turn\n"), "{what}:\n{out}");
        assert!(!out.contains("complied by turn [95% CI]"), "{what}:\n{out}");
        assert!(out.contains(note), "{what}:\n{out}");
    }
    // The page keeps its section, with the note in place of empty charts.
    let section = &page[page.find("<section id=\"turns\">").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(!section.contains("<svg"), "{section}");
    assert!(
        section.contains(
            "No compliance by turn for <code>interactive</code> (run <code>i</code>, target \
             <code>t1</code>): none of its answers is scored (5 unscored: no human label)."
        ),
        "{section}"
    );
}
