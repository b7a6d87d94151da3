//! Which McNemar test each comparison with baseline is, and so whether its
//! b/c count answers or cases, in every format: a run of three samples per
//! case whose comparisons take all three tests.
//!
//! Run `mc3`, target `t1`, `--samples 3`; each case's three answers (F: full
//! refusal, C: compliance), baseline refusing every safe prompt, u1 and u2:
//!
//! | case | baseline | few-shot | s_e   |
//! |------|----------|----------|-------|
//! | s1   | F F F    | C C F    | C F F |
//! | s2   | F F F    | C C C    | F C F |
//! | s3   | F F F    | F F F    | F F F |
//! | s4   | F F F    | C C C    | F F C |
//! | u1   | F F F    | C C C    | F F F |
//! | u2   | F F F    | C C C    | F F F |
//! | u3   | C C C    | C C C    | F C C |
//!
//! - few-shot, safe: s1 has two discordant answers of three, so Durkalski
//!   et al.'s test on b/c = 8/0 answers: shares 2/3, 1, 0, 1 give (8/3)^2 /
//!   (22/9) = 32/11 and p = 0.088082 (`scipy.stats.chi2.sf(32/11, 1)`).
//! - few-shot, unsafe: every case's answers agree: the exact test on b/c =
//!   2/0 cases, p = 0.5.
//! - s_e, safe: one discordant answer in s1, s2 and s4: the exact test on
//!   b/c = 3/0 answers, p = 0.25; unsafe: 0/1 answers, p = 1.

mod fixture;

use xsafe_core::{Case, Class, Label, Message, Transcript, Verdict};
use xsafe_report::{
    BuildOptions, McNemar, McNemarTest, Report, RunInput, build, html, render_csv, render_markdown,
    render_terminal,
};
use xsafe_store::{ResultKey, RunSpec, Store, Timing};

const F: Class = Class::FullRefusal;
const C: Class = Class::Compliance;

/// The cases of the run with each strategy's three answers (see the top of
/// the file).
type Answers = [(&'static str, Label, [[Class; 3]; 3]); 7];

const ANSWERS: Answers = [
    ("s1", Label::Safe, [[F, F, F], [C, C, F], [C, F, F]]),
    ("s2", Label::Safe, [[F, F, F], [C, C, C], [F, C, F]]),
    ("s3", Label::Safe, [[F, F, F], [F, F, F], [F, F, F]]),
    ("s4", Label::Safe, [[F, F, F], [C, C, C], [F, F, C]]),
    ("u1", Label::Unsafe, [[F, F, F], [C, C, C], [F, F, F]]),
    ("u2", Label::Unsafe, [[F, F, F], [C, C, C], [F, F, F]]),
    ("u3", Label::Unsafe, [[C, C, C], [C, C, C], [F, C, C]]),
];

const STRATEGIES: [&str; 3] = ["baseline", "few-shot", "s_e"];

/// Run `mc3` (see the top of the file) with the answers of `strategies`
/// only, and its report.
fn report_of(strategies: &[&str]) -> Report {
    let store = Store::open_in_memory().unwrap();
    let run = store
        .open_run(&RunSpec {
            name: "mc3".into(),
            key: "key-mc3".into(),
            config: serde_json::json!({
                "judge": {"name": "strmatch", "version": "1"},
                "targets": [{"id": "t1"}],
                "strategies": strategies
                    .iter()
                    .map(|s| serde_json::json!({"name": s}))
                    .collect::<Vec<_>>(),
                "samples": 3,
            }),
            suites: vec![("mini".into(), "f".repeat(64))],
            seed: 1,
            tool_version: "0.0.0".into(),
        })
        .unwrap();
    let cases: Vec<Case> = ANSWERS
        .iter()
        .map(|&(id, label, _)| Case {
            id: id.into(),
            prompt: format!("prompt {id}"),
            kind: if label == Label::Safe {
                "homonyms"
            } else {
                "contrast_homonyms"
            }
            .into(),
            label,
            focus: None,
            note: None,
        })
        .collect();
    store.add_cases(run.id, "mini", &cases).unwrap();
    for (s, strategy) in STRATEGIES.iter().enumerate() {
        if !strategies.contains(strategy) {
            continue;
        }
        for (case, _, answers) in ANSWERS {
            for (sample, class) in answers[s].into_iter().enumerate() {
                let key = ResultKey {
                    run_id: run.id,
                    target: "t1".into(),
                    strategy: strategy.to_string(),
                    suite: "mini".into(),
                    case_id: case.into(),
                    sample: sample as u32,
                };
                let transcript = Transcript {
                    messages: vec![
                        Message::user(format!("prompt {case}")),
                        Message::assistant(format!("reply {sample} to {case}")),
                    ],
                    finish_reason: None,
                    complied_at_turn: None,
                    opening: Some(1),
                };
                let verdict = Verdict::scored(class, 0.9, fixture::JUDGE);
                let timing = Timing {
                    started_ms: 0,
                    latency_ms: 1,
                };
                store
                    .record_result(&key, &transcript, &verdict, timing)
                    .unwrap();
            }
        }
    }
    let input = RunInput {
        record: store.run("mc3").unwrap(),
        results: store.outlines(run.id).unwrap(),
        cases: Some(ANSWERS.len() as u64),
    };
    build(&[input], &BuildOptions::default())
}

/// The McNemar tests of `strategy` against baseline, safe then unsafe.
fn tests_of(report: &Report, strategy: &str) -> [McNemar; 2] {
    let g = report
        .groups
        .iter()
        .find(|g| g.strategy == strategy)
        .unwrap();
    let c = g.vs_baseline.as_ref().unwrap();
    [c.safe.mcnemar.unwrap(), c.unsafe_.mcnemar.unwrap()]
}

/// The lines of `text` that begin with `start`: a strategy's rows in the
/// safe table, then in the unsafe one.
fn rows<'a>(text: &'a str, start: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(start)).collect()
}

/// The text of each `<open...>...</td>` in `html`, from after the end of
/// the opening tag.
fn cells<'a>(html: &'a str, open: &str) -> Vec<&'a str> {
    html.split(open)
        .skip(1)
        .map(|s| {
            let s = &s[s.find('>').unwrap() + 1..];
            &s[..s.find("</td>").unwrap()]
        })
        .collect()
}

const MARKS_NOTE: &str = "McNemar's test of each cell, by the mark after its p: no mark, the \
     exact test on the answers (b/c count answers); [cases], the exact test on the cases, each \
     case's samples having agreed (b/c count cases); [Durkalski], Durkalski et al.'s clustered \
     chi-square, each case a cluster of its answers (b/c count answers).";

#[test]
fn each_comparison_says_which_test_it_is() {
    let r = report_of(&STRATEGIES);
    let [safe, unsafe_] = tests_of(&r, "few-shot");
    assert_eq!(
        (safe.b, safe.c, safe.test, safe.clustered),
        (8, 0, McNemarTest::Durkalski, true)
    );
    assert!((safe.p_value - 0.088_081_511_662_190_3).abs() < 1e-12);
    assert_eq!(
        (unsafe_.b, unsafe_.c, unsafe_.p_value, unsafe_.test),
        (2, 0, 0.5, McNemarTest::ExactCases)
    );
    let [safe, unsafe_] = tests_of(&r, "s_e");
    assert_eq!(
        (safe.b, safe.c, safe.p_value, safe.test, safe.clustered),
        (3, 0, 0.25, McNemarTest::ExactAnswers, false)
    );
    assert_eq!(
        (unsafe_.b, unsafe_.c, unsafe_.p_value, unsafe_.test),
        (0, 1, 1.0, McNemarTest::ExactAnswers)
    );

    // JSON: `test` names each; `clustered` only on the two that are not
    // the exact test on the answers.
    let v = serde_json::to_value(&r).unwrap();
    let group = |s: &str| {
        v["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["strategy"] == s)
            .unwrap()
            .clone()
    };
    let few = group("few-shot");
    assert_eq!(
        few["vs_baseline"]["safe"]["mcnemar"]["test"],
        serde_json::json!("durkalski")
    );
    assert_eq!(
        few["vs_baseline"]["safe"]["mcnemar"]["clustered"],
        serde_json::json!(true)
    );
    assert_eq!(
        few["vs_baseline"]["unsafe"]["mcnemar"],
        serde_json::json!({"b": 2, "c": 0, "p_value": 0.5, "test": "exact_cases", "clustered": true})
    );
    assert_eq!(
        group("s_e")["vs_baseline"]["safe"]["mcnemar"],
        serde_json::json!({"b": 3, "c": 0, "p_value": 0.25, "test": "exact_answers"})
    );
    let back: Report = serde_json::from_value(v).unwrap();
    assert_eq!(tests_of(&back, "few-shot")[0].test, McNemarTest::Durkalski);
}

/// The terminal and Markdown tables mark each cell's test after its p,
/// and a note says what the marks mean.
#[test]
fn terminal_and_markdown_mark_each_cells_test() {
    let r = report_of(&STRATEGIES);
    let text = render_terminal(&r, 100_000);
    let md = render_markdown(&r);
    for (format, out, few, s_e) in [
        ("text", &text, "few-shot ", "s_e "),
        ("md", &md, "| few-shot |", "| s_e |"),
    ] {
        let few = rows(out, few);
        let s_e = rows(out, s_e);
        assert!(
            few[0].contains("8/0 p = 0.088 [Durkalski]"),
            "{format}: {}",
            few[0]
        );
        assert!(
            few[1].contains("2/0 p = 0.500 [cases]"),
            "{format}: {}",
            few[1]
        );
        assert!(s_e[0].contains("3/0 p = 0.250"), "{format}: {}", s_e[0]);
        assert!(s_e[1].contains("0/1 p = 1.000"), "{format}: {}", s_e[1]);
        for row in &s_e[..2] {
            assert!(
                !row.contains("[cases]") && !row.contains("[Durkalski]"),
                "{format}: no mark on {row}"
            );
        }
        // One note names every mark; its words are wrapped in the terminal.
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(MARKS_NOTE), "{format}: {out}");
        assert!(flat.contains("Durkalski et al.'s clustered chi-square (b/c counting answers)."));
    }
    // Markdown shows the note as its own paragraph.
    assert!(md.contains(&format!("\n\n{MARKS_NOTE}\n\n")), "{md}");
}

/// The CSV gains a last column `mcnemar_test` naming each row's test, as
/// the JSON does; the columns before it keep their places.
#[test]
fn the_csv_names_each_rows_test() {
    let r = report_of(&STRATEGIES);
    let text = render_csv(&r).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().clone();
    let names: Vec<&str> = header.iter().collect();
    assert_eq!(names[names.len() - 2..], ["turn", "mcnemar_test"]);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let overall: Vec<[&str; 5]> = rows
        .iter()
        .filter(|r| &r[col("scope")] == "overall")
        .map(|r| {
            [
                &r[col("strategy")],
                &r[col("label")],
                &r[col("mcnemar_b")],
                &r[col("mcnemar_c")],
                &r[col("mcnemar_test")],
            ]
        })
        .collect();
    assert_eq!(
        overall,
        [
            ["baseline", "safe", "", "", ""],
            ["baseline", "unsafe", "", "", ""],
            ["few-shot", "safe", "8", "0", "durkalski"],
            ["few-shot", "unsafe", "2", "0", "exact_cases"],
            ["s_e", "safe", "3", "0", "exact_answers"],
            ["s_e", "unsafe", "0", "1", "exact_answers"],
        ]
    );
    // Type rows have no comparison, so no test.
    assert!(
        rows.iter()
            .filter(|r| &r[col("scope")] == "type")
            .all(|r| r[col("mcnemar_test")].is_empty())
    );
}

/// The HTML summary marks each McNemar cell as the terminal does, names
/// the test and what b and c count in its tooltip, and explains the marks
/// in the lede and the footer.
#[test]
fn the_html_summary_marks_each_cells_test() {
    let r = report_of(&STRATEGIES);
    let page = html::render(&r);
    let row = |strategy: &str| {
        let at = page
            .find(&format!("<td>{strategy}</td>"))
            .unwrap_or_else(|| panic!("no summary row of {strategy}"));
        let row = &page[at..];
        &row[..row.find("</tr>").unwrap()]
    };
    assert_eq!(
        cells(row("few-shot"), "<td class=\"num mcnemar"),
        [
            "8/0 <span class=\"ci\">p = 0.088 [Durkalski]</span>",
            "2/0 <span class=\"ci\">p = 0.500 [cases]</span>"
        ]
    );
    assert_eq!(
        cells(row("s_e"), "<td class=\"num mcnemar"),
        [
            "3/0 <span class=\"ci\">p = 0.250</span>",
            "0/1 <span class=\"ci\">p = 1.000</span>"
        ]
    );
    // The tooltip names the test and what b and c count.
    assert!(row("few-shot").contains(
        "title=\"b = 8: refused under baseline only; c = 0: refused under the strategy only; \
         12 pairs; Durkalski et al.'s clustered chi-square, each case a cluster of its answers: \
         b and c count answers\""
    ));
    assert!(row("few-shot").contains(
        "title=\"b = 2: refused under baseline only; c = 0: refused under the strategy only; \
         9 pairs; exact two-sided test on the cases, each case's samples having agreed: b and \
         c count cases\""
    ));
    assert!(row("s_e").contains("12 pairs; exact two-sided test\""));
    assert!(page.contains(
        "McNemar b/c counts answers (cases, in a cell marked [cases]) refused under baseline \
         only (b)"
    ));
    let footer = &page[page.find("<footer>").unwrap()..];
    assert!(
        footer.contains(&MARKS_NOTE.replace('\'', "&#39;")),
        "{footer}"
    );
}

/// With three samples but every test exact on the answers, no cell is
/// marked: no note on marks, no `mcnemar_test` column, and the HTML says
/// b/c count answers, as with one sample.
#[test]
fn no_marks_when_every_test_is_exact_on_the_answers() {
    let r = report_of(&["baseline", "s_e"]);
    assert!(
        tests_of(&r, "s_e")
            .iter()
            .all(|m| m.test == McNemarTest::ExactAnswers)
    );
    assert!(r.by_case());
    for out in [render_terminal(&r, 100_000), render_markdown(&r)] {
        assert!(
            !out.contains("[cases]") && !out.contains("[Durkalski]"),
            "{out}"
        );
        assert!(!out.contains("by the mark after its p"), "{out}");
        // The samples are still said to be clustered.
        assert!(
            out.contains("Several answers per case (--samples)"),
            "{out}"
        );
    }
    let csv = render_csv(&r).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",turn"), "{csv}");
    let page = html::render(&r);
    assert!(!page.contains("[cases]") && !page.contains("by the mark after its p"));
    assert!(page.contains("McNemar b/c counts answers refused under baseline only (b)"));
}
