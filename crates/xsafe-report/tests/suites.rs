//! A run of two suites that share a prompt type (`privacy`) and case ids:
//! each suite's figures beside the pooled ones, types counted within their
//! suite, in every format; and a report of one suite as it was.
//!
//! Run `two` was given `--suite xstest,or-bench` (in that order; the store
//! lists or-bench's results first, by name). Verdicts are `strmatch@1`.
//!
//! xstest: s1, s2 `privacy` (safe), s3 `homonyms` (safe), u1
//! `contrast_privacy` (unsafe).
//! or-bench: s1 to s4 `privacy` (safe), u1, u2 `contrast_privacy` (unsafe).
//!
//! target `t1`:
//! - baseline: xstest s1 FR, s2 FR, s3 PR, u1 FR; or-bench s1 C, s2 C,
//!   s3 C, s4 FR, u1 C, u2 FR
//! - contextual: xstest s1 C, s2 FR, s3 C, u1 FR; or-bench s1 to s4 C,
//!   u1 C, u2 an error
//!
//! target `t2` (stopped before or-bench): baseline xstest s1 C, s2 FR,
//! s3 C, u1 C.

mod fixture;

use xsafe_core::{Case, Class, Label, Message, Transcript, Verdict};
use xsafe_report::stats::bootstrap_reduction_clustered;
use xsafe_report::{
    BuildOptions, Comparison, Group, Rate, Report, RunInput, SuiteStats, build, render_csv,
    render_markdown, render_terminal,
};
use xsafe_store::{ResultKey, RunSpec, RunStatus, Store, Timing};

/// What one result is: an answer judged as a class, or a failed request.
#[derive(Clone, Copy)]
enum A {
    Is(Class),
    Error,
}

const C: A = A::Is(Class::Compliance);
const FR: A = A::Is(Class::FullRefusal);
const PR: A = A::Is(Class::PartialRefusal);

fn case(id: &str, kind: &str, label: Label) -> Case {
    Case {
        id: id.into(),
        prompt: format!("prompt {id} ({kind})"),
        kind: kind.into(),
        label,
        focus: None,
        note: None,
    }
}

fn xstest() -> Vec<Case> {
    vec![
        case("s1", "privacy", Label::Safe),
        case("s2", "privacy", Label::Safe),
        case("s3", "homonyms", Label::Safe),
        case("u1", "contrast_privacy", Label::Unsafe),
    ]
}

fn or_bench() -> Vec<Case> {
    vec![
        case("s1", "privacy", Label::Safe),
        case("s2", "privacy", Label::Safe),
        case("s3", "privacy", Label::Safe),
        case("s4", "privacy", Label::Safe),
        case("u1", "contrast_privacy", Label::Unsafe),
        case("u2", "contrast_privacy", Label::Unsafe),
    ]
}

fn record(store: &Store, run_id: i64, at: (&str, &str, &str), case: &str, a: A) {
    let (target, strategy, suite) = at;
    let key = ResultKey {
        run_id,
        target: target.into(),
        strategy: strategy.into(),
        suite: suite.into(),
        case_id: case.into(),
        sample: 0,
    };
    let timing = Timing {
        started_ms: 0,
        latency_ms: 1,
    };
    match a {
        A::Is(class) => {
            let transcript = Transcript {
                messages: vec![
                    Message::user(format!("prompt {case}")),
                    Message::assistant(format!("reply to {suite}:{case}")),
                ],
                finish_reason: None,
                complied_at_turn: None,
                opening: Some(1),
            };
            let verdict = Verdict::scored(class, 0.9, fixture::JUDGE);
            store
                .record_result(&key, &transcript, &verdict, timing)
                .unwrap();
        }
        A::Error => store
            .record_error(&key, "server_error", "HTTP 500", 3)
            .unwrap(),
    }
}

/// Creates run `two` (see the top of the file) in `store`.
fn fill_two_suites(store: &Store) {
    let run = store
        .open_run(&RunSpec {
            name: "two".into(),
            key: "key-two".into(),
            config: serde_json::json!({"judge": {"name": "strmatch", "version": "1"}}),
            suites: vec![
                ("xstest".into(), "a".repeat(64)),
                ("or-bench".into(), "b".repeat(64)),
            ],
            seed: 1,
            tool_version: "0.0.0".into(),
        })
        .unwrap();
    store.add_cases(run.id, "xstest", &xstest()).unwrap();
    store.add_cases(run.id, "or-bench", &or_bench()).unwrap();
    let answers: [(&str, &str, &str, &[A]); 5] = [
        ("t1", "baseline", "xstest", &[FR, FR, PR, FR]),
        ("t1", "baseline", "or-bench", &[C, C, C, FR, C, FR]),
        ("t1", "contextual", "xstest", &[C, FR, C, FR]),
        ("t1", "contextual", "or-bench", &[C, C, C, C, C, A::Error]),
        ("t2", "baseline", "xstest", &[C, FR, C, C]),
    ];
    for (target, strategy, suite, answers) in answers {
        let cases = if suite == "xstest" {
            xstest()
        } else {
            or_bench()
        };
        for (c, &a) in cases.iter().zip(answers) {
            record(store, run.id, (target, strategy, suite), &c.id, a);
        }
    }
}

/// The report of the runs `names` of `store`, with the run's time, status
/// and versions as the CLI's snapshot tests filter them.
fn report_of(store: &Store, names: &[&str]) -> Report {
    let runs: Vec<RunInput> = names
        .iter()
        .map(|name| {
            let mut record = store.run(name).unwrap();
            record.created_at = "[time]".into();
            record.tool_version = "[version]".into();
            record.status = RunStatus::Interrupted;
            let results = store.outlines(record.id).unwrap();
            let cases = Some(store.cases(record.id).unwrap().len() as u64);
            RunInput {
                record,
                results,
                cases,
            }
        })
        .collect();
    build(
        &runs,
        &BuildOptions {
            tool_version: "[version]".into(),
            ..BuildOptions::default()
        },
    )
}

fn two_suites() -> (Store, Report) {
    let store = Store::open_in_memory().unwrap();
    fill_two_suites(&store);
    let report = report_of(&store, &["two"]);
    (store, report)
}

fn group<'a>(r: &'a Report, target: &str, strategy: &str) -> &'a Group {
    r.groups
        .iter()
        .find(|g| g.target == target && g.strategy == strategy)
        .unwrap_or_else(|| panic!("no group {target} {strategy}"))
}

fn suite<'a>(g: &'a Group, name: &str) -> &'a SuiteStats {
    g.suites
        .iter()
        .find(|s| s.suite == name)
        .unwrap_or_else(|| panic!("no suite {name} in {} {}", g.target, g.strategy))
}

/// The reduction, McNemar's b and c and p of a comparison's safe prompts,
/// with its pairs and both refusal rates.
fn safe_paired(c: &Comparison) -> (u64, Option<f64>, Option<f64>, u64, u64, f64) {
    let m = c.safe.mcnemar.unwrap();
    (
        c.safe.pairs,
        c.safe.baseline_refusal_rate,
        c.safe.strategy_refusal_rate,
        m.b,
        m.c,
        m.p_value,
    )
}

#[test]
fn each_suite_has_its_own_rates_beside_the_pooled_ones() {
    let (_store, r) = two_suites();
    let base = group(&r, "t1", "baseline");
    // In the order the run was given its suites, not the store's.
    let names: Vec<&str> = base.suites.iter().map(|s| s.suite.as_str()).collect();
    assert_eq!(names, ["xstest", "or-bench"]);

    // Pooled: 4 of 7 safe prompts refused (3 full, 1 partial), 1 of 3
    // unsafe ones complied with.
    let s = &base.safe;
    assert_eq!(
        (s.results, s.scored, s.full_refusal, s.partial_refusal),
        (7, 7, 3, 1)
    );
    assert_eq!(s.refusal_rate, Rate::new(4, 7));
    assert_eq!(base.unsafe_.compliance_rate, Rate::new(1, 3));

    // xstest: 3 of 3 refused (2 full, 1 partial); 0 of 1 complied with.
    let x = suite(base, "xstest");
    assert_eq!((x.safe.results, x.safe.scored), (3, 3));
    assert_eq!(
        (x.safe.full_refusal, x.safe.partial_refusal, x.safe.refusal),
        (2, 1, 3)
    );
    assert_eq!(x.safe.refusal_rate, Rate::new(3, 3));
    assert_eq!(x.safe.full_refusal_rate, Rate::new(2, 3));
    assert_eq!(x.safe.partial_refusal_rate, Rate::new(1, 3));
    assert_eq!((x.unsafe_.scored, x.unsafe_.compliance), (1, 0));
    assert_eq!(x.unsafe_.compliance_rate, Rate::new(0, 1));
    // or-bench: 1 of 4 refused; 1 of 2 complied with.
    let o = suite(base, "or-bench");
    assert_eq!((o.safe.scored, o.safe.refusal), (4, 1));
    assert_eq!(o.safe.refusal_rate, Rate::new(1, 4));
    assert_eq!(o.unsafe_.compliance_rate, Rate::new(1, 2));
    assert_eq!(o.unsafe_.compliance_incl_partial_rate, Rate::new(1, 2));
    // Baseline is compared with nothing, in any suite.
    assert!(base.vs_baseline.is_none());
    assert!(base.suites.iter().all(|s| s.vs_baseline.is_none()));

    // contextual: xstest 1 of 3 refused, or-bench none of 4; of the
    // unsafe prompts, or-bench's u2 failed: 1 of 1 scored complied with.
    let ctx = group(&r, "t1", "contextual");
    assert_eq!(ctx.safe.refusal_rate, Rate::new(1, 7));
    assert_eq!(suite(ctx, "xstest").safe.refusal_rate, Rate::new(1, 3));
    assert_eq!(suite(ctx, "or-bench").safe.refusal_rate, Rate::new(0, 4));
    let ou = &suite(ctx, "or-bench").unsafe_;
    assert_eq!((ou.results, ou.scored, ou.errors), (2, 1, 1));
    assert_eq!(ou.compliance_rate, Rate::new(1, 1));
    assert_eq!(ctx.unsafe_.compliance_rate, Rate::new(1, 2));
    assert_eq!(ctx.unsafe_.errors, 1);
}

#[test]
fn each_suite_is_compared_with_baseline_on_its_own_cases() {
    let (_store, r) = two_suites();
    let ctx = group(&r, "t1", "contextual");
    let opts = BuildOptions::default();
    let reduction = |cases: &[&[(bool, bool)]]| {
        bootstrap_reduction_clustered(cases, opts.resamples, opts.seed).unwrap()
    };
    // Pooled: 7 pairs, refused under baseline only in xstest s1 and s3
    // and or-bench s4 (the cases share ids: the suite tells them apart).
    let pooled = ctx.vs_baseline.as_ref().unwrap();
    assert_eq!(
        safe_paired(pooled),
        (7, Some(4.0 / 7.0), Some(1.0 / 7.0), 3, 0, 0.25)
    );
    // (4/7 - 1/7) / (4/7)
    assert!((pooled.safe.reduction.unwrap().percent - 75.0).abs() < 1e-9);

    // xstest alone: s1 and s3 refused under baseline only, s2 under both.
    let x = suite(ctx, "xstest").vs_baseline.as_ref().unwrap();
    assert_eq!(safe_paired(x), (3, Some(1.0), Some(1.0 / 3.0), 2, 0, 0.5));
    let expected = reduction(&[&[(true, false)], &[(true, true)], &[(true, false)]]);
    assert_eq!(x.safe.reduction, Some(expected));
    assert!((expected.percent - 200.0 / 3.0).abs() < 1e-9);
    // or-bench alone: s4 refused under baseline only.
    let o = suite(ctx, "or-bench").vs_baseline.as_ref().unwrap();
    assert_eq!(safe_paired(o), (4, Some(0.25), Some(0.0), 1, 0, 1.0));
    let not_refused: &[(bool, bool)] = &[(false, false)];
    let expected = reduction(&[not_refused, not_refused, not_refused, &[(true, false)]]);
    assert_eq!(o.safe.reduction, Some(expected));
    assert_eq!(expected.percent, 100.0);
    // Unsafe prompts: xstest's u1 refused under both; or-bench's u1
    // complied with under both, its u2 failed under contextual (no pair).
    let x = suite(ctx, "xstest").vs_baseline.as_ref().unwrap();
    assert_eq!(x.unsafe_.pairs, 1);
    assert_eq!(x.unsafe_.baseline_refusal_rate, Some(1.0));
    let o = suite(ctx, "or-bench").vs_baseline.as_ref().unwrap();
    assert_eq!(o.unsafe_.pairs, 1);
    assert_eq!(o.unsafe_.baseline_refusal_rate, Some(0.0));
    assert_eq!(pooled.unsafe_.pairs, 2);
}

#[test]
fn a_type_name_of_two_suites_is_two_types() {
    let (_store, r) = two_suites();
    let base = group(&r, "t1", "baseline");
    let types: Vec<(Option<&str>, &str, Label, u64, u64)> = base
        .types
        .iter()
        .map(|t| {
            (
                t.suite.as_deref(),
                t.kind.as_str(),
                t.label,
                t.stats.scored,
                t.stats.refusal,
            )
        })
        .collect();
    // By suite in the run's order, then topic, safe before unsafe.
    assert_eq!(
        types,
        [
            (Some("xstest"), "homonyms", Label::Safe, 1, 1),
            (Some("xstest"), "privacy", Label::Safe, 2, 2),
            (Some("xstest"), "contrast_privacy", Label::Unsafe, 1, 1),
            (Some("or-bench"), "privacy", Label::Safe, 4, 1),
            (Some("or-bench"), "contrast_privacy", Label::Unsafe, 2, 1),
        ]
    );
    let privacy = |suite: &str| {
        base.types
            .iter()
            .find(|t| t.suite.as_deref() == Some(suite) && t.kind == "privacy")
            .unwrap()
    };
    assert_eq!(privacy("xstest").stats.refusal_rate, Rate::new(2, 2));
    assert_eq!(privacy("or-bench").stats.refusal_rate, Rate::new(1, 4));
    assert_eq!(privacy("or-bench").topic, "privacy");

    // A target whose run stopped before the second suite has it with no
    // results, and no rate.
    let t2 = group(&r, "t2", "baseline");
    let o = suite(t2, "or-bench");
    assert_eq!((o.safe.results, o.unsafe_.results), (0, 0));
    assert_eq!(
        (o.safe.refusal_rate, o.unsafe_.compliance_rate),
        (None, None)
    );
    assert_eq!(suite(t2, "xstest").safe.refusal_rate, Rate::new(1, 3));
    assert!(
        t2.types
            .iter()
            .all(|t| t.suite.as_deref() == Some("xstest"))
    );
}

#[test]
fn the_json_has_each_suite_and_each_types_suite() {
    let (_store, r) = two_suites();
    let v = serde_json::to_value(&r).unwrap();
    let g = &v["groups"][1];
    assert_eq!(
        (&g["target"], &g["strategy"]),
        (&"t1".into(), &"contextual".into())
    );
    let suites = g["suites"].as_array().unwrap();
    assert_eq!(suites.len(), 2);
    assert_eq!(suites[0]["suite"], "xstest");
    assert_eq!(suites[0]["safe"]["scored"], 3);
    assert_eq!(suites[0]["safe"]["refusal_rate"]["k"], 1);
    assert_eq!(suites[1]["unsafe"]["compliance_rate"]["n"], 1);
    assert_eq!(suites[1]["unsafe"]["errors"], 1);
    assert_eq!(suites[0]["vs_baseline"]["safe"]["mcnemar"]["b"], 2);
    assert_eq!(suites[1]["vs_baseline"]["safe"]["pairs"], 4);
    let t = &g["types"][3];
    assert_eq!(
        (&t["suite"], &t["type"]),
        (&"or-bench".into(), &"privacy".into())
    );
    assert_eq!(t["scored"], 4);
    // Read back as it was written.
    let back: Report = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

/// The lines of the table titled `title` in a terminal or Markdown
/// report.
fn table<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    let start = text
        .find(&format!("{title}\n"))
        .unwrap_or_else(|| panic!("no table {title} in\n{text}"));
    let rest = &text[start..];
    rest[..rest.find("\n\n").unwrap_or(rest.len())]
        .lines()
        .skip(1)
        .collect()
}

#[test]
fn the_tables_have_pooled_rows_then_each_suites() {
    let (_store, r) = two_suites();
    let text = render_terminal(&r, 200);
    // Reductions as `each_suite_is_compared_with_baseline_on_its_own_cases`
    // checks them; b/c: refused under baseline only / contextual only.
    assert_eq!(
        table(&text, "two · t1 · safe prompts"),
        [
            "suite         strategy    n  refusal [95% CI]      full/partial  reduction [95% CI]    \
             McNemar b/c    unscored/errors",
            "all (pooled)  baseline    7  57.1% [25.0, 84.2]    3/1           -                     \
             -              0/0",
            "all (pooled)  contextual  7  14.3% [2.6, 51.3]     1/0           75.0% [25.0, 100.0]   \
             3/0 p = 0.250  0/0",
            "xstest        baseline    3  100.0% [43.9, 100.0]  2/1           -                     \
             -              0/0",
            "xstest        contextual  3  33.3% [6.1, 79.2]     1/0           66.7% [0.0, 100.0]    \
             2/0 p = 0.500  0/0",
            "or-bench      baseline    4  25.0% [4.6, 69.9]     1/0           -                     \
             -              0/0",
            "or-bench      contextual  4  0.0% [0.0, 49.0]      0/0           100.0% [no interval]  \
             1/0 p = 1.000  0/0",
        ]
    );
    let unsafe_ = table(&text, "two · t1 · unsafe prompts");
    assert_eq!(
        unsafe_[0],
        "suite         strategy    n  compliance [95% CI]   incl. partial  McNemar b/c    \
         unscored/errors"
    );
    assert_eq!(
        unsafe_[6],
        "or-bench      contextual  1  100.0% [20.7, 100.0]  100.0%         0/0 p = 1.000  0/1"
    );
    assert_eq!(
        table(&text, "two · t1 · by type"),
        [
            "suite     type              figure      baseline                    contextual",
            "xstest    homonyms          refusal     100.0% [20.7, 100.0] (n=1)  0.0% [0.0, 79.3] (n=1)",
            "xstest    privacy           refusal     100.0% [34.2, 100.0] (n=2)  50.0% [9.5, 90.5] (n=2)",
            "xstest    contrast_privacy  compliance  0.0% [0.0, 79.3] (n=1)      0.0% [0.0, 79.3] (n=1)",
            "or-bench  privacy           refusal     25.0% [4.6, 69.9] (n=4)     0.0% [0.0, 49.0] (n=4)",
            "or-bench  contrast_privacy  compliance  50.0% [9.5, 90.5] (n=2)     100.0% [20.7, 100.0] (n=1)",
        ]
    );
    // The stopped target: or-bench without results.
    let t2 = table(&text, "two · t2 · safe prompts");
    assert_eq!(t2.len(), 4, "{t2:?}");
    assert!(
        t2[3].starts_with("or-bench      baseline  0  -  "),
        "{t2:?}"
    );
    // The overview (two targets) has the suites too.
    let overview = table(&text, "overview");
    assert!(overview[0].starts_with("run  target  strategy    suite         safe refusal"));
    assert_eq!(overview.len(), 1 + 6 + 3, "{overview:?}");
    assert!(overview[6].starts_with("two  t1      contextual  or-bench      0.0% [0.0, 49.0]"));
    // The notes say what pools the suites (wrapped to the screen).
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains(
        "Several suites in run `two` (`xstest`, `or-bench`): the rows `all (pooled)` pool a \
         run's suites, each suite weighted by its number of scored answers, while the rows of a \
         suite are its own figures, each strategy compared with baseline on that suite's cases, \
         and each type is counted within its suite. warning:"
    ));
    // Nobody labelled an answer, nor were labels asked for.
    assert!(!text.contains("Human labels"), "{text}");

    // Cut to a narrow screen, the parts repeat the suite with the strategy.
    let narrow = render_terminal(&r, 60);
    let parts = narrow.matches("two · t1 · safe prompts (").count();
    assert!(parts > 1, "{narrow}");
    for part in 1..=parts {
        let lines = table(
            &narrow,
            &format!("two · t1 · safe prompts ({part} of {parts})"),
        );
        assert!(
            lines[0].starts_with("suite         strategy  "),
            "{lines:?}"
        );
        assert!(
            lines[3].starts_with("xstest        baseline  "),
            "{lines:?}"
        );
    }

    // Markdown: the same tables.
    let md = render_markdown(&r);
    assert!(md.contains(
        "| suite | strategy | n | refusal [95% CI] | full/partial | reduction [95% CI] | \
         McNemar b/c | unscored/errors |\n"
    ));
    assert!(md.contains(
        "| or-bench | privacy | refusal | 25.0% [4.6, 69.9] (n=4) | 0.0% [0.0, 49.0] (n=4) |\n"
    ));
    assert!(md.contains("Several suites in run `two`"));
}

#[test]
fn the_csv_has_suite_rows_and_a_suite_column() {
    let (_store, r) = two_suites();
    let text = render_csv(&r).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    // Last, after `turn`: the other columns keep their places.
    let names: Vec<&str> = header.iter().collect();
    assert_eq!(names[names.len() - 2..], ["turn", "suite"]);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let of = |target: &str, strategy: &str, scope: &str| -> Vec<&csv::StringRecord> {
        rows.iter()
            .filter(|r| {
                &r[col("target")] == target
                    && &r[col("strategy")] == strategy
                    && &r[col("scope")] == scope
            })
            .collect()
    };
    // Per group: 2 overall rows, 2 suites x 2 labels, then its types.
    assert_eq!(of("t1", "contextual", "overall").len(), 2);
    let suites = of("t1", "contextual", "suite");
    let cells: Vec<(&str, &str, &str, &str, &str, &str)> = suites
        .iter()
        .map(|r| {
            (
                &r[col("suite")],
                &r[col("label")],
                &r[col("scored")],
                &r[col("refusal")],
                &r[col("compliance")],
                &r[col("pairs")],
            )
        })
        .collect();
    assert_eq!(
        cells,
        [
            ("xstest", "safe", "3", "1", "2", "3"),
            ("xstest", "unsafe", "1", "1", "0", "1"),
            ("or-bench", "safe", "4", "0", "4", "4"),
            ("or-bench", "unsafe", "1", "0", "1", "1"),
        ]
    );
    let x = suites[0];
    let rate = Rate::new(1, 3).unwrap();
    assert_eq!(&x[col("refusal_rate")], rate.rate.to_string());
    assert_eq!(&x[col("refusal_low")], rate.low.to_string());
    assert_eq!(&x[col("refusal_high")], rate.high.to_string());
    assert_eq!((&x[col("mcnemar_b")], &x[col("mcnemar_p")]), ("2", "0.5"));
    // Pooled rows have no suite.
    assert!(
        of("t1", "contextual", "overall")
            .iter()
            .all(|r| r[col("suite")].is_empty())
    );
    let types: Vec<(&str, &str, &str)> = of("t1", "baseline", "type")
        .iter()
        .map(|r| (&r[col("suite")], &r[col("type")], &r[col("scored")]))
        .collect();
    assert_eq!(
        types,
        [
            ("xstest", "homonyms", "1"),
            ("xstest", "privacy", "2"),
            ("xstest", "contrast_privacy", "1"),
            ("or-bench", "privacy", "4"),
            ("or-bench", "contrast_privacy", "2"),
        ]
    );
}

#[test]
fn the_html_page_has_each_suite() {
    let (store, mut r) = two_suites();
    let rows = 0..r.results.len();
    r.fill_messages(rows, |id| store.messages(id)).unwrap();
    let html = xsafe_report::html::render(&r);
    assert!(html.contains("<th rowspan=\"2\">strategy</th><th rowspan=\"2\">suite</th>"));
    let row = |suite: &str| {
        let start = html
            .find(&format!(
                "<tr data-run=\"two\" data-target=\"t1\" data-strategy=\"contextual\" \
                 data-suite=\"{suite}\">"
            ))
            .unwrap_or_else(|| panic!("no summary row of {suite}"));
        &html[start..start + html[start..].find("</tr>").unwrap()]
    };
    assert!(row("all (pooled)").contains("<td>all (pooled)</td><td class=\"num\">7</td>"));
    assert!(row("xstest").contains("<td>xstest</td><td class=\"num\">3</td>"));
    assert!(
        row("xstest").contains("title=\"1 of 3\">33.3%"),
        "{}",
        row("xstest")
    );
    assert!(
        row("or-bench").contains("title=\"0 of 4\">0.0%"),
        "{}",
        row("or-bench")
    );
    assert!(html.contains("<p class=\"suites\">Several suites in run <code>two</code>"));
    // Bars per suite, and per suite and type.
    for label in [
        "all safe prompts (pooled)",
        "xstest: all safe prompts",
        "or-bench: all unsafe prompts",
        "xstest · privacy",
        "or-bench · privacy",
    ] {
        assert!(html.contains(&format!(">{label}<")), "no bar group {label}");
    }
    // Transcripts can be filtered by suite.
    assert!(html.contains("<select data-filter=\"suite\" id=\"filter-suite\">"));
    // or-bench's 6 cases under baseline and contextual of t1.
    assert_eq!(
        html.matches(" data-suite=\"or-bench\" data-type=").count(),
        12
    );
}

/// A report of one suite (the fixture's run `a`) is as it was: the CLI's
/// snapshots of it, written before reports had figures per suite, are
/// still what every text format gives, and the JSON has no new key.
#[test]
fn one_suite_reports_are_unchanged() {
    let store = Store::open_in_memory().unwrap();
    fixture::fill(&store, "a");
    let mut r = report_of(&store, &["a"]);
    assert!(r.groups.iter().all(|g| g.suites.is_empty()));
    assert!(
        r.groups
            .iter()
            .flat_map(|g| &g.types)
            .all(|t| t.suite.is_none())
    );
    let snapshot = |name: &str| {
        let path = format!(
            "{}/../xsafe/tests/snapshots/report__report_{name}.snap",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        // After the header between its two `---` lines.
        let body = text.splitn(3, "---\n").nth(2).unwrap();
        body.trim_end().to_string()
    };
    assert_eq!(render_terminal(&r, 120).trim_end(), snapshot("text"));
    assert_eq!(render_markdown(&r).trim_end(), snapshot("md"));
    assert_eq!(render_csv(&r).unwrap().trim_end(), snapshot("csv"));
    let rows = 0..r.results.len();
    r.fill_messages(rows, |id| store.messages(id)).unwrap();
    assert_eq!(serde_json::to_string_pretty(&r).unwrap(), snapshot("json"));
    let v = serde_json::to_value(&r).unwrap();
    let keys = |o: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = o.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&v["groups"][0]),
        [
            "interactive",
            "judge",
            "run",
            "run_id",
            "safe",
            "strategy",
            "target",
            "turns",
            "types",
            "unsafe",
            "vs_baseline"
        ]
    );
    assert!(!keys(&v["groups"][0]["types"][0]).contains(&"suite".to_string()));
    // Runs of one suite each, side by side, are not split either.
    fill_two_suites(&store);
    let both = report_of(&store, &["a", "two"]);
    assert!(
        both.groups
            .iter()
            .filter(|g| g.run == "a")
            .all(|g| g.suites.is_empty())
    );
    let text = render_terminal(&both, 250);
    assert!(
        text.contains("\na · t1 · safe prompts\nstrategy     n  "),
        "{text}"
    );
    // In the overview, a run of one suite names it.
    let overview = table(&text, "overview");
    assert!(
        overview[1].starts_with("a    t1      baseline     mini  "),
        "{overview:?}"
    );
}
