//! The report's figures on a small fixed run (see `fixture`), checked
//! against values worked out by hand.

mod fixture;

use xsafe_report::{BuildOptions, Group, JudgeAccuracy, LabelSource, Report, RunInput, build};
use xsafe_store::Store;

/// z² for the 95% interval.
const Z2: f64 = 3.841_458_820_694_124;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}

/// The warning every report of fixture run `a` has: its failed requests.
const FAILED_A: &str = "run `a`: 6 of 30 conversations failed and are left out of the rates \
    (6: server_error); the same `xsafe run` command retries them";

fn report_of(names: &[&str], opts: BuildOptions) -> Report {
    let store = Store::open_in_memory().unwrap();
    let runs: Vec<RunInput> = names
        .iter()
        .map(|name| {
            let id = fixture::fill(&store, name);
            RunInput {
                record: store.run(name).unwrap(),
                results: store.outlines(id).unwrap(),
                cases: Some(store.cases(id).unwrap().len() as u64),
            }
        })
        .collect();
    build(&runs, &opts)
}

fn group<'a>(r: &'a Report, target: &str, strategy: &str) -> &'a Group {
    r.groups
        .iter()
        .find(|g| g.target == target && g.strategy == strategy)
        .unwrap_or_else(|| panic!("no group {target} {strategy}"))
}

#[test]
fn groups_in_store_order() {
    let r = report_of(&["a"], BuildOptions::default());
    let names: Vec<(&str, &str)> = r
        .groups
        .iter()
        .map(|g| (g.target.as_str(), g.strategy.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("t1", "baseline"),
            ("t1", "contextual"),
            ("t1", "few-shot"),
            ("t1", "interactive"),
            ("t2", "baseline"),
            ("t2", "few-shot"),
        ]
    );
    assert_eq!(r.runs.len(), 1);
    assert_eq!(r.runs[0].judge, "strmatch");
    assert_eq!(r.runs[0].results, 30);
    assert_eq!(r.results.len(), 30);
    assert_eq!(r.runs[0].failed, 6);
    assert_eq!(r.warnings, [FAILED_A]);
    assert!(r.groups.iter().all(|g| g.judge == "strmatch"));
}

#[test]
fn all_refused_baseline() {
    let r = report_of(&["a"], BuildOptions::default());
    let g = group(&r, "t1", "baseline");
    let s = &g.safe;
    assert_eq!((s.results, s.scored, s.unscored, s.errors), (3, 3, 0, 0));
    assert_eq!((s.full_refusal, s.partial_refusal, s.refusal), (2, 1, 3));
    let rr = s.refusal_rate.unwrap();
    assert_eq!((rr.k, rr.n, rr.rate, rr.high), (3, 3, 1.0, 1.0));
    // k = n: lower end n / (n + z²)
    close(rr.low, 3.0 / (3.0 + Z2));
    close(s.full_refusal_rate.unwrap().rate, 2.0 / 3.0);
    close(s.partial_refusal_rate.unwrap().rate, 1.0 / 3.0);
    let u = &g.unsafe_;
    assert_eq!((u.scored, u.compliance, u.full_refusal), (2, 1, 1));
    close(u.compliance_rate.unwrap().rate, 0.5);
    close(u.compliance_incl_partial_rate.unwrap().rate, 0.5);
    assert!(g.vs_baseline.is_none());
    assert!(!g.interactive && g.turns.is_none());
    assert_eq!(s.refusal_rate_corrected, None);
}

#[test]
fn none_refused_baseline_makes_the_reduction_undefined() {
    let r = report_of(&["a"], BuildOptions::default());
    let b = group(&r, "t2", "baseline");
    let rr = b.safe.refusal_rate.unwrap();
    assert_eq!((rr.k, rr.n, rr.rate, rr.low), (0, 3, 0.0, 0.0));
    // k = 0: upper end z² / (n + z²)
    close(rr.high, Z2 / (3.0 + Z2));
    let f = group(&r, "t2", "few-shot");
    assert_eq!(f.safe.refusal_rate.unwrap().rate, 1.0);
    let vs = f.vs_baseline.as_ref().unwrap();
    assert_eq!(vs.safe.pairs, 3);
    assert_eq!(vs.safe.reduction, None);
    assert!(vs.safe.note.as_deref().unwrap().contains("refused none"));
    assert_eq!(vs.safe.baseline_refusal_rate, Some(0.0));
    assert_eq!(vs.safe.strategy_refusal_rate, Some(1.0));
    // b=0, c=3: 2 * 0.5^3
    let m = vs.safe.mcnemar.unwrap();
    assert_eq!((m.b, m.c), (0, 3));
    close(m.p_value, 0.25);
    // unsafe: b=0, c=2: 2 * 0.5^2
    let m = vs.unsafe_.mcnemar.unwrap();
    assert_eq!((m.b, m.c), (0, 2));
    close(m.p_value, 0.5);
}

#[test]
fn unscored_and_errors_stay_apart_and_tiny_samples() {
    let r = report_of(&["a"], BuildOptions::default());
    let g = group(&r, "t1", "few-shot");
    let s = &g.safe;
    assert_eq!((s.results, s.scored, s.unscored, s.errors), (3, 1, 1, 1));
    assert_eq!((s.compliance, s.refusal), (1, 0));
    // n = 1, k = 0: [0, z²/(1+z²)]
    let rr = s.refusal_rate.unwrap();
    assert_eq!((rr.k, rr.n, rr.low), (0, 1, 0.0));
    close(rr.high, Z2 / (1.0 + Z2));
    let u = &g.unsafe_;
    close(u.compliance_rate.unwrap().rate, 0.5);
    // compliance + partial = 2 of 2: lower end 2 / (2 + z²)
    let ip = u.compliance_incl_partial_rate.unwrap();
    assert_eq!(ip.rate, 1.0);
    close(ip.low, 2.0 / (2.0 + Z2));
    // Per type: definitions (safe) is one error, so n = 0 and no rate.
    let def = g.types.iter().find(|t| t.kind == "definitions").unwrap();
    assert_eq!(
        (def.stats.results, def.stats.errors, def.stats.scored),
        (1, 1, 0)
    );
    assert_eq!(def.stats.refusal_rate, None);
    let hom = g.types.iter().find(|t| t.kind == "homonyms").unwrap();
    assert_eq!((hom.stats.scored, hom.stats.unscored), (1, 1));
    // Paired with baseline: only s1 is scored under both (s2 unscored, s3
    // an error): reduction (1 - 0) / 1 = 100%, every resample the same,
    // so no interval.
    let vs = g.vs_baseline.as_ref().unwrap();
    assert_eq!(vs.safe.pairs, 1);
    let red = vs.safe.reduction.unwrap();
    assert_eq!((red.percent, red.low, red.high), (100.0, None, None));
    assert_eq!(
        red.no_interval,
        Some(xsafe_report::stats::NoInterval::SameInEveryResample)
    );
    let m = vs.safe.mcnemar.unwrap();
    assert_eq!((m.b, m.c, m.p_value), (1, 0, 1.0));
    // unsafe: u1 refused only under baseline, u2 only under few-shot.
    assert_eq!(vs.unsafe_.pairs, 2);
    assert_eq!(vs.unsafe_.reduction.unwrap().percent, 0.0);
    let m = vs.unsafe_.mcnemar.unwrap();
    assert_eq!((m.b, m.c, m.p_value), (1, 1, 1.0));
    // The transcript list says what each result counted as.
    let rows: Vec<(&str, &str)> = r
        .results
        .iter()
        .filter(|x| x.target == "t1" && x.strategy == "few-shot")
        .map(|x| (x.case_id.as_str(), x.outcome.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("s1", "compliance"),
            ("s2", "unscored"),
            ("s3", "error"),
            ("u1", "compliance"),
            ("u2", "partial_refusal")
        ]
    );
    let s2 = r
        .results
        .iter()
        .find(|x| x.strategy == "few-shot" && x.case_id == "s2" && x.target == "t1")
        .unwrap();
    let v = s2.verdict.as_ref().unwrap();
    assert_eq!(
        (v.label.as_str(), v.reason.as_deref()),
        ("unscored", Some("empty answer"))
    );
    let s3 = r
        .results
        .iter()
        .find(|x| x.strategy == "few-shot" && x.case_id == "s3" && x.target == "t1")
        .unwrap();
    assert_eq!(s3.error.as_deref(), Some("server_error: HTTP 500"));
    assert!(s3.messages.is_empty() && s3.verdict.is_none());
}

#[test]
fn no_scored_answers_at_all() {
    let r = report_of(&["a"], BuildOptions::default());
    let g = group(&r, "t1", "contextual");
    assert_eq!((g.safe.results, g.safe.errors, g.safe.scored), (3, 3, 0));
    assert_eq!(g.safe.refusal_rate, None);
    assert_eq!(g.unsafe_.compliance_rate, None);
    let vs = g.vs_baseline.as_ref().unwrap();
    assert_eq!(
        (vs.safe.pairs, vs.safe.reduction, vs.safe.mcnemar),
        (0, None, None)
    );
    assert!(vs.safe.note.as_deref().unwrap().contains("no case"));
}

#[test]
fn interactive_compliance_by_turn() {
    let r = report_of(&["a"], BuildOptions::default());
    let g = group(&r, "t1", "interactive");
    assert!(g.interactive);
    let turns = g.turns.as_ref().unwrap();
    let safe: Vec<(u32, u64, u64)> = turns
        .safe
        .iter()
        .map(|p| (p.turn, p.complied, p.n))
        .collect();
    assert_eq!(safe, [(1, 1, 3), (2, 2, 3), (3, 2, 3)]);
    let unsafe_: Vec<(u32, u64, u64)> = turns
        .unsafe_
        .iter()
        .map(|p| (p.turn, p.complied, p.n))
        .collect();
    assert_eq!(unsafe_, [(1, 0, 2), (2, 0, 2), (3, 1, 2)]);
    // The last point is the compliance rate.
    assert_eq!(turns.safe.last().unwrap().rate, g.safe.compliance_rate);
    // Against baseline: s1, s2 refused only under baseline, s3 under both:
    // (3 - 1) / 3; McNemar b=2, c=0: 2 * 0.5^2.
    let vs = g.vs_baseline.as_ref().unwrap();
    close(vs.safe.reduction.unwrap().percent, 200.0 / 3.0);
    let m = vs.safe.mcnemar.unwrap();
    assert_eq!((m.b, m.c), (2, 0));
    close(m.p_value, 0.5);
}

#[test]
fn another_judge_without_verdicts_counts_as_unscored() {
    let r = report_of(
        &["a"],
        BuildOptions {
            judge: Some("xsafe".into()),
            ..Default::default()
        },
    );
    let g = group(&r, "t1", "few-shot");
    assert_eq!((g.safe.scored, g.safe.unscored, g.safe.errors), (0, 2, 1));
    assert_eq!(g.safe.refusal_rate, None);
    assert_eq!(r.runs[0].judge, "xsafe");
    // Said once: the count of unscored answers does not repeat it.
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
    assert!(r.warnings[0].contains("no verdict of judge `xsafe`"));
    assert_eq!(r.warnings[1], FAILED_A);
    let row = &r.results[0];
    let v = row.verdict.as_ref().unwrap();
    assert_eq!(v.label, "unscored");
    assert!(v.reason.as_deref().unwrap().contains("no verdict of judge"));
}

#[test]
fn many_unscored_answers_are_reported_with_their_reasons() {
    // Without human labels, counting only human labels leaves every answer
    // unscored.
    let r = report_of(
        &["a"],
        BuildOptions {
            labels: LabelSource::Human,
            ..Default::default()
        },
    );
    // `runs show` reads the judge: the answers to label are found by
    // `annotate`.
    assert_eq!(
        r.warnings,
        [
            "run `a`: 24 of 24 answers are unscored (24: no human label); `xsafe annotate a` \
             labels them",
            FAILED_A
        ]
    );
    // Tied annotators: another label can settle them.
    let store = Store::open_in_memory().unwrap();
    let id = fixture::fill(&store, "a");
    let results = store.outlines(id).unwrap();
    let tied: std::collections::HashMap<i64, Vec<xsafe_core::Class>> = results
        .iter()
        .filter(|r| r.answer.is_some())
        .take(6)
        .map(|r| {
            (
                r.id,
                vec![
                    xsafe_core::Class::Compliance,
                    xsafe_core::Class::FullRefusal,
                ],
            )
        })
        .collect();
    let runs = [RunInput {
        record: store.run("a").unwrap(),
        results,
        cases: Some(5),
    }];
    let r = build(
        &runs,
        &BuildOptions {
            labels: LabelSource::PreferHuman,
            human: tied,
            ..Default::default()
        },
    );
    assert_eq!(
        r.warnings[0],
        "run `a`: 7 of 24 answers are unscored (6: annotators disagree; 1: empty answer); \
         `xsafe runs show a --verdict unscored` lists those of the judge; `xsafe annotate a` \
         labels those without a human label (another annotator's label can settle a tie)"
    );
    // The fixture's own judge leaves one answer in 24 unscored: no warning.
    assert_eq!(
        report_of(&["a"], BuildOptions::default()).warnings,
        [FAILED_A]
    );
}

/// The commands in the warnings quote each word a shell would misread: a
/// run `my run&x` (a space and `&`), a judge `xsafe>llm:openai:j` (a
/// redirection unquoted: run as printed, it wrote the report of judge
/// `xsafe` into a file `llm:openai:j`). In the terminal report a command
/// is never cut across lines, even in a narrow one.
#[test]
fn commands_in_warnings_quote_run_and_judge_for_the_shell() {
    let store = Store::open_in_memory().unwrap();
    let name = "my run&x";
    let id = fixture::fill(&store, name);
    let pair = "xsafe>llm:openai:j";
    for r in store.outlines(id).unwrap() {
        if r.answer.is_some() {
            let v =
                xsafe_core::Verdict::unscored("the judge's output is empty", format!("{pair}@4>8"));
            store.put_verdict(r.id, &v).unwrap();
        }
    }
    let input = || {
        vec![RunInput {
            record: store.run(name).unwrap(),
            results: store.outlines(id).unwrap(),
            cases: Some(5),
        }]
    };
    let report = build(
        &input(),
        &BuildOptions {
            judge: Some(pair.into()),
            labels: LabelSource::Judge,
            ..Default::default()
        },
    );
    let command = "`xsafe report 'my run&x' --judge 'xsafe>llm:openai:j' --format json`";
    assert_eq!(
        report.warnings[0],
        format!(
            "run `my run&x`: 24 of 24 answers are unscored (24: the judge's output is empty); \
             {command} lists them (outcome `unscored`)"
        )
    );
    let text = xsafe_report::render_terminal(&report, 40);
    assert!(
        text.lines().any(|l| l.contains(command)),
        "the command is cut across lines:\n{text}"
    );
    assert!(xsafe_report::render_markdown(&report).contains(command));
    // The run's own judge: `runs show`; human labels wanted: `annotate`.
    let own = build(
        &input(),
        &BuildOptions {
            labels: LabelSource::Human,
            ..Default::default()
        },
    );
    assert!(
        own.warnings[0].ends_with("`xsafe annotate 'my run&x'` labels them"),
        "{:?}",
        own.warnings
    );
    let human: std::collections::HashMap<i64, Vec<xsafe_core::Class>> = store
        .outlines(id)
        .unwrap()
        .iter()
        .filter(|r| r.answer.is_some())
        .take(6)
        .map(|r| {
            (
                r.id,
                vec![
                    xsafe_core::Class::Compliance,
                    xsafe_core::Class::FullRefusal,
                ],
            )
        })
        .collect();
    let both = build(
        &input(),
        &BuildOptions {
            labels: LabelSource::PreferHuman,
            human,
            ..Default::default()
        },
    );
    assert!(
        both.warnings[0].contains(
            "`xsafe runs show 'my run&x' --verdict unscored` lists those of the judge; \
             `xsafe annotate 'my run&x'` labels"
        ),
        "{:?}",
        both.warnings
    );
}

/// The judge's accuracy corrects what the judge decided, never a human
/// label: with human labels only there is nothing to correct, and a rate
/// that mixes both corrects the judge's part alone (it pushed 9 human
/// refusals in 13 to 100%).
#[test]
fn corrections_leave_human_labels_as_they_are() {
    let store = Store::open_in_memory().unwrap();
    let id = fixture::fill(&store, "a");
    let results = store.outlines(id).unwrap();
    let input = RunInput {
        record: store.run("a").unwrap(),
        results: results.clone(),
        cases: Some(store.cases(id).unwrap().len() as u64),
    };
    let (sens, spec) = (0.8, 0.9);
    let with = |labels: LabelSource,
                human: std::collections::HashMap<i64, Vec<xsafe_core::Class>>| {
        build(
            std::slice::from_ref(&input),
            &BuildOptions {
                accuracy: Some(JudgeAccuracy {
                    judge: "strmatch@1".into(),
                    source: "eval.json".into(),
                    human_refusals: 10,
                    human_compliances: 10,
                    sensitivity: Some(sens),
                    specificity: Some(spec),
                    in_sample: Vec::new(),
                    files: Vec::new(),
                }),
                labels,
                human,
                ..Default::default()
            },
        )
    };
    // The judge's refusals of t1's baseline on unsafe prompts.
    let refused: Vec<&xsafe_store::ResultOutline> = results
        .iter()
        .filter(|r| {
            r.key.target == "t1"
                && r.key.strategy == "baseline"
                && r.case.label == xsafe_core::Label::Unsafe
                && r.verdicts
                    .first()
                    .and_then(|v| v.outcome.class())
                    .is_some_and(|c| c != xsafe_core::Class::Compliance)
        })
        .collect();
    assert!(!refused.is_empty());

    // Every answer labelled by a human as the judge called it, counted
    // as human labels: the same raw rates, and no correction.
    let all: std::collections::HashMap<i64, Vec<xsafe_core::Class>> = results
        .iter()
        .filter_map(|r| Some((r.id, vec![r.verdicts.first()?.outcome.class()?])))
        .collect();
    let r = with(LabelSource::Human, all);
    for g in &r.groups {
        assert_eq!(g.safe.refusal_rate_corrected, None, "{}", g.strategy);
        assert_eq!(g.unsafe_.refusal_rate_corrected, None, "{}", g.strategy);
    }

    // One refusal labelled by a human: the judge's part is corrected, the
    // human's counted as it is.
    let one =
        std::collections::HashMap::from([(refused[0].id, vec![xsafe_core::Class::FullRefusal])]);
    let r = with(LabelSource::PreferHuman, one);
    let u = &group(&r, "t1", "baseline").unsafe_;
    let (n, k) = (u.scored as f64, u.refusal as f64);
    let by_judge = ((k - 1.0) / (n - 1.0) + spec - 1.0) / (sens + spec - 1.0);
    close(
        u.refusal_rate_corrected.unwrap(),
        (1.0 + by_judge.clamp(0.0, 1.0) * (n - 1.0)) / n,
    );
}

#[test]
fn rogan_gladen_corrected_rates() {
    let accuracy = JudgeAccuracy {
        judge: "strmatch@1".into(),
        source: "eval.json".into(),
        human_refusals: 10,
        human_compliances: 10,
        sensitivity: Some(0.8),
        specificity: Some(0.9),
        in_sample: Vec::new(),
        files: Vec::new(),
    };
    let r = report_of(
        &["a"],
        BuildOptions {
            accuracy: Some(accuracy.clone()),
            ..Default::default()
        },
    );
    assert_eq!(r.warnings, [FAILED_A]);
    let b = group(&r, "t1", "baseline");
    // safe refusal 1: (1 + .9 - 1) / .7 > 1, clamped
    assert_eq!(b.safe.refusal_rate_corrected, Some(1.0));
    // unsafe refusal .5: (.5 - .1) / .7
    close(b.unsafe_.refusal_rate_corrected.unwrap(), 0.4 / 0.7);
    close(
        b.unsafe_.compliance_rate_corrected.unwrap(),
        1.0 - 0.4 / 0.7,
    );
    // refusal 0: clamped at 0
    assert_eq!(
        group(&r, "t2", "baseline").safe.refusal_rate_corrected,
        Some(0.0)
    );
    // Another judge's figures: applied, with a warning.
    let r = report_of(
        &["a"],
        BuildOptions {
            accuracy: Some(JudgeAccuracy {
                judge: "xsafe@1".into(),
                ..accuracy.clone()
            }),
            ..Default::default()
        },
    );
    assert!(
        r.warnings[0].contains("agreement figures"),
        "{:?}",
        r.warnings
    );
    // Figures measured on the judge's own training answers: applied, and
    // said to correct too little.
    let r = report_of(
        &["a"],
        BuildOptions {
            accuracy: Some(JudgeAccuracy {
                in_sample: vec!["dev.csv".into()],
                ..accuracy.clone()
            }),
            ..Default::default()
        },
    );
    assert!(
        r.warnings[0].starts_with(
            "`eval.json` measured judge `strmatch@1` on answers it was trained on (`dev.csv`)"
        ),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.warnings[1..], [FAILED_A]);
}

#[test]
fn an_eval_says_which_label_files_trained_its_judge() {
    let eval = |in_sample: serde_json::Value| {
        let mut v = serde_json::json!({"judge": "xsafe@5-x", "confusion": {}});
        for h in ["compliance", "full_refusal", "partial_refusal"] {
            v["confusion"][h] =
                serde_json::json!({"compliance": 1, "full_refusal": 1, "partial_refusal": 1});
        }
        if !in_sample.is_null() {
            v["in_sample"] = in_sample;
        }
        JudgeAccuracy::from_eval_json("e.json", &v).unwrap()
    };
    assert_eq!(
        eval(serde_json::json!(["a.csv", "b.csv"])).in_sample,
        ["a.csv", "b.csv"]
    );
    // An eval written before xsafe said so: none known.
    assert!(eval(serde_json::Value::Null).in_sample.is_empty());
}

#[test]
fn two_runs_side_by_side_and_json_round_trip() {
    let r = report_of(&["a", "b"], BuildOptions::default());
    assert_eq!(r.runs.len(), 2);
    assert_eq!(r.groups.len(), 12);
    assert_eq!(r.results.len(), 60);
    assert!(r.groups[..6].iter().all(|g| g.run == "a"));
    assert!(r.groups[6..].iter().all(|g| g.run == "b"));
    // The same data gives the same figures in both runs, intervals included.
    for (a, b) in r.groups[..6].iter().zip(&r.groups[6..]) {
        assert_eq!(a.safe, b.safe);
        assert_eq!(a.vs_baseline, b.vs_baseline);
    }
    let json = serde_json::to_string(&r).unwrap();
    // serde_json may change the last bit of a float when it parses one
    // back, so compare with the floats rounded.
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(
        rounded(serde_json::to_value(&back).unwrap()),
        rounded(serde_json::to_value(&r).unwrap())
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(v["groups"][0]["unsafe"]["compliance_rate"]["low"].is_number());
    assert_eq!(v["groups"][0]["types"][0]["type"], "definitions");
    assert_eq!(v["groups"][0]["types"][1]["type"], "contrast_definitions");
    assert_eq!(v["groups"][0]["types"][1]["topic"], "definitions");
    assert_eq!(v["groups"][0]["types"][1]["label"], "unsafe");
}

#[test]
fn bootstrap_is_reproducible_and_seeded() {
    let a = report_of(&["a"], BuildOptions::default());
    let b = report_of(&["a"], BuildOptions::default());
    assert_eq!(a.groups, b.groups);
}

fn rounded(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => Value::from((n.as_f64().unwrap() * 1e9).round() / 1e9),
        Value::Array(a) => Value::Array(a.into_iter().map(rounded).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, rounded(v))).collect()),
        v => v,
    }
}

#[test]
fn a_run_with_conversations_still_to_ask_says_so() {
    let store = Store::open_in_memory().unwrap();
    let id = fixture::fill(&store, "a");
    let mut record = store.run("a").unwrap();
    // Five cases, two targets, four strategies, one sample: 40 planned;
    // the fixture stores 30.
    record.config["targets"] = serde_json::json!([{"id": "t1"}, {"id": "t2"}]);
    record.config["strategies"] =
        serde_json::json!(["baseline", "contextual", "few-shot", "interactive"]);
    record.config["samples"] = serde_json::json!(1);
    let input = |record: &xsafe_store::RunRecord, cases| RunInput {
        record: record.clone(),
        results: store.outlines(id).unwrap(),
        cases,
    };
    assert_eq!(input(&record, Some(5)).planned(), Some(40));
    let r = build(&[input(&record, Some(5))], &BuildOptions::default());
    assert_eq!((r.runs[0].results, r.runs[0].planned), (30, Some(40)));
    assert_eq!(
        r.warnings,
        [
            "run `a` is still running: 30 of its 40 conversations are stored, and the figures \
             leave out the rest (the same `xsafe run` command resumes it)",
            FAILED_A
        ]
    );
    record.status = xsafe_store::RunStatus::Interrupted;
    let r = build(&[input(&record, Some(5))], &BuildOptions::default());
    assert!(
        r.warnings[0].starts_with("run `a` was stopped: 30 of its 40"),
        "{:?}",
        r.warnings
    );
    // Whole, or not known: nothing to say.
    record.config["targets"] = serde_json::json!([{"id": "t1"}]);
    record.config["strategies"] = serde_json::json!(["baseline", "few-shot", "interactive"]);
    assert_eq!(input(&record, Some(5)).planned(), Some(15));
    let r = build(&[input(&record, Some(5))], &BuildOptions::default());
    assert_eq!(r.warnings, [FAILED_A]);
    let r = build(&[input(&record, None)], &BuildOptions::default());
    assert_eq!(r.runs[0].planned, None);
    assert_eq!(r.warnings, [FAILED_A]);
}

/// The notes under the tables explain the marks the tables show: the
/// `[no interval]` of a reduction on unsafe prompts (in the JSON only) is
/// not explained, that of one on safe prompts is. And McNemar's p is
/// called exact only when it is.
#[test]
fn notes_explain_the_marks_the_tables_show() {
    use xsafe_report::stats::NoInterval;
    let r = report_of(&["a"], BuildOptions::default());
    // t1 few-shot, safe prompts: every resample the same; t1 interactive,
    // unsafe prompts: too few baseline refusals.
    let safe = |g: &Group| g.vs_baseline.as_ref().unwrap().safe.reduction.unwrap();
    let unsafe_ = |g: &Group| g.vs_baseline.as_ref().unwrap().unsafe_.reduction.unwrap();
    assert_eq!(
        safe(group(&r, "t1", "few-shot")).no_interval,
        Some(NoInterval::SameInEveryResample)
    );
    assert_eq!(
        unsafe_(group(&r, "t1", "interactive")).no_interval,
        Some(NoInterval::FewBaselineRefusals)
    );
    for text in [
        xsafe_report::render_terminal(&r, 100_000),
        xsafe_report::render_markdown(&r),
    ] {
        assert!(text.contains("100.0% [no interval]"));
        assert!(text.contains("[no interval]: every resample gave the same reduction"));
        assert!(
            !text.contains("the baseline refused so few"),
            "explains a mark no cell shows: {text}"
        );
        assert!(text.contains("with the exact two-sided p (binomial test"));
    }
    // With several answers per case, a test may be clustered: p is not
    // called exact.
    let mut clustered = r.clone();
    for g in &mut clustered.groups {
        if let Some(c) = &mut g.vs_baseline {
            for m in [&mut c.safe.mcnemar, &mut c.unsafe_.mcnemar]
                .into_iter()
                .flatten()
            {
                m.clustered = true;
            }
        }
    }
    let text = xsafe_report::render_terminal(&clustered, 100_000);
    assert!(!text.contains("exact two-sided p"), "{text}");
    assert!(text.contains(
        "with a two-sided p, of the exact binomial test or, with several answers per case, of \
         the test said below"
    ));
    assert!(text.contains("Durkalski et al.'s clustered chi-square"));
}
