//! What the report says in words after its overview (`Report::findings`):
//! per target with baseline, the strategies that raised unsafe compliance
//! and the best of the others, in every format.
//!
//! Run `study`, suite `mini`: safe prompts s01..s20 (`homonyms`), unsafe
//! u01..u20 (`contrast_homonyms`). FR: full refusal, PR: partial refusal,
//! C: compliance; a strategy answers C where nothing else is said.
//!
//! target `a`: baseline refuses s01..s10 (50%) and every unsafe prompt;
//! - `raises`: refuses nothing: unsafe compliance 0% to 100%, McNemar 20/0;
//! - `half`: refuses no safe prompt, PR to u01..u10 and FR to the rest:
//!   full compliance stays 0% (McNemar 0/0), compliance incl. partial goes
//!   from 0.0% [0.0, 16.1] to 50.0% [29.9, 70.1], the intervals apart;
//! - `helps`: FR to s01, s02 (10%) and every unsafe prompt: McNemar 8/0,
//!   p = 2/2^8 = 0.008, the best (`raises` and `half` refuse fewer safe
//!   prompts but raised unsafe compliance).
//!
//! target `b`: baseline FR to s01..s04 (20%); `slight` FR to s01..s03
//! (15%): McNemar 1/0, p = 1, so nothing beats baseline significantly.
//!
//! target `c`: baseline FR to s01..s10 (50%); `x` FR to s11..s13 (15%):
//! McNemar 10/3, p = 2 (1 + 13 + 78 + 286) / 2^13 = 0.092, not
//! significant; `y` FR to s01..s04 (20%): 6/0, p = 0.031. `x` is the best
//! and not significant, while `y` beats baseline.
//!
//! target `d`: `few-shot` alone, no baseline: no finding.

mod fixture;

use fixture::{Answer, record};
use xsafe_core::{Case, Class, Label};
use xsafe_report::{BuildOptions, Report, RunInput, build, html, render_markdown, render_terminal};
use xsafe_store::{RunSpec, Store};

use Class::{Compliance as C, FullRefusal as FR, PartialRefusal as PR};

/// Safe and unsafe prompts of the run, each.
const N: u32 = 20;

/// How `strategy` of `target` answers prompt `i` (from 1) of `label`.
fn answer(target: &str, strategy: &str, label: Label, i: u32) -> Class {
    let refuse = |yes: bool| if yes { FR } else { C };
    match (target, strategy, label) {
        ("a", "baseline", Label::Safe) | ("c", "baseline", Label::Safe) => refuse(i <= 10),
        ("a", "half", Label::Unsafe) => {
            if i <= 10 {
                PR
            } else {
                FR
            }
        }
        ("a", "helps", Label::Safe) => refuse(i <= 2),
        ("a", "raises" | "half", _) => C,
        ("b", "baseline", Label::Safe) | ("c", "y", Label::Safe) => refuse(i <= 4),
        ("b", "slight", Label::Safe) => refuse(i <= 3),
        ("c", "x", Label::Safe) => refuse((11..=13).contains(&i)),
        ("d", _, Label::Safe) => C,
        (_, _, Label::Unsafe) => FR,
        other => panic!("no plan for {other:?}"),
    }
}

const GROUPS: [(&str, &str); 10] = [
    ("a", "baseline"),
    ("a", "half"),
    ("a", "helps"),
    ("a", "raises"),
    ("b", "baseline"),
    ("b", "slight"),
    ("c", "baseline"),
    ("c", "x"),
    ("c", "y"),
    ("d", "few-shot"),
];

fn id(label: Label, i: u32) -> String {
    match label {
        Label::Safe => format!("s{i:02}"),
        Label::Unsafe => format!("u{i:02}"),
    }
}

/// Stores run `name` as the top of the file says.
fn fill(store: &Store, name: &str) -> RunInput {
    let run = store
        .open_run(&RunSpec {
            name: name.into(),
            key: format!("key-{name}"),
            config: serde_json::json!({"judge": {"name": "strmatch", "version": "1"}}),
            suites: vec![("mini".into(), "f".repeat(64))],
            seed: 1,
            tool_version: "0.0.0".into(),
        })
        .unwrap();
    let mut cases = Vec::new();
    for label in [Label::Safe, Label::Unsafe] {
        for i in 1..=N {
            cases.push(Case {
                id: id(label, i),
                prompt: format!("prompt {}", id(label, i)),
                kind: match label {
                    Label::Safe => "homonyms",
                    Label::Unsafe => "contrast_homonyms",
                }
                .into(),
                label,
                focus: None,
                note: None,
            });
        }
    }
    store.add_cases(run.id, "mini", &cases).unwrap();
    for (target, strategy) in GROUPS {
        for label in [Label::Safe, Label::Unsafe] {
            for i in 1..=N {
                let class = answer(target, strategy, label, i);
                record(
                    store,
                    run.id,
                    target,
                    strategy,
                    &id(label, i),
                    Answer::One(class),
                );
            }
        }
    }
    RunInput {
        record: store.run(name).unwrap(),
        results: store.outlines(run.id).unwrap(),
        cases: Some(u64::from(2 * N)),
    }
}

fn report_of(names: &[&str]) -> Report {
    let store = Store::open_in_memory().unwrap();
    let runs: Vec<RunInput> = names.iter().map(|n| fill(&store, n)).collect();
    build(&runs, &BuildOptions::default())
}

/// The reduction of `strategy` of `target` as the tables write it.
fn reduction(report: &Report, target: &str, strategy: &str) -> String {
    let g = report
        .groups
        .iter()
        .find(|g| g.target == target && g.strategy == strategy)
        .unwrap();
    let r = g.vs_baseline.as_ref().unwrap().safe.reduction.unwrap();
    format!(
        "{:.1}% [{:.1}, {:.1}]",
        r.percent,
        r.low.unwrap(),
        r.high.unwrap()
    )
}

/// The lines of every finding, in order.
fn lines(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .flat_map(|f| f.lines.clone())
        .collect()
}

const NOTE: &str = "Significant: p < 0.05 by the tables' McNemar tests (for compliance incl. \
    partial, 95% intervals apart). The best strategy is chosen here on the same prompts it is \
    measured on; `xsafe tune` chooses on one part of a suite and checks its choice on held-out \
    prompts.";

#[test]
fn each_target_says_what_rose_and_which_strategy_is_best() {
    let report = report_of(&["study"]);
    let expected = [
        "a: half raised partial compliance on unsafe prompts: incl. partial from 0.0% [0.0, \
         16.1] to 50.0% [29.9, 70.1] (95% intervals apart); full compliance did not rise \
         significantly (McNemar 0/0, p = 1.000)."
            .to_string(),
        "a: raises raised unsafe compliance from 0.0% to 100.0% (McNemar 20/0, p < 0.001).".into(),
        format!(
            "a: best is helps (the lowest safe refusal of the strategies that did not raise \
             unsafe compliance): 10.0% against baseline's 50.0%, reduction {}, significant \
             (McNemar 8/0, p = 0.008).",
            reduction(&report, "a", "helps")
        ),
        "b: no strategy beats baseline significantly on safe refusal without raising unsafe \
         compliance."
            .into(),
        format!(
            "c: best is x (the lowest safe refusal of the strategies that did not raise unsafe \
             compliance): 15.0% against baseline's 50.0%, reduction {}, not significant \
             (McNemar 10/3, p = 0.092).",
            reduction(&report, "c", "x")
        ),
    ];
    assert_eq!(lines(&report), expected);
    assert!(reduction(&report, "a", "helps").starts_with("80.0% ["));
    assert!(reduction(&report, "c", "x").starts_with("70.0% ["));
    // `d` has no baseline: no finding.
    let targets: Vec<&str> = report.findings.iter().map(|f| f.target.as_str()).collect();
    assert_eq!(targets, ["a", "b", "c"]);

    // The JSON has them as additive keys, the schema unchanged.
    assert_eq!(report.schema, 1);
    let v = serde_json::to_value(&report).unwrap();
    let f = &v["findings"];
    assert_eq!(
        f[0]["raised"],
        serde_json::json!([
            {"strategy": "half", "figure": "compliance_incl_partial"},
            {"strategy": "raises", "figure": "compliance"},
        ])
    );
    assert_eq!(
        f[1],
        serde_json::json!({
            "run": "study",
            "target": "b",
            "raised": [],
            "best": null,
            "best_significant": false,
            "beats_baseline": false,
            "lines": [expected[3]],
        })
    );
    for (i, best, significant, beats) in [(0, "helps", true, true), (2, "x", false, true)] {
        assert_eq!(f[i]["best"], best);
        assert_eq!(f[i]["best_significant"], significant);
        assert_eq!(f[i]["beats_baseline"], beats);
        assert_eq!(f[i]["run"], "study");
    }
    let back: Report = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(back, report);
    // A report written before findings reads back without them.
    let mut old = v;
    old.as_object_mut().unwrap().remove("findings");
    let old: Report = serde_json::from_value(old).unwrap();
    assert!(old.findings.is_empty());

    // The terminal: after the overview, before the first target's tables,
    // with the note once.
    let text = render_terminal(&report, 100_000);
    let blocks: Vec<&str> = text.split("\n\n").collect();
    let at = blocks
        .iter()
        .position(|b| b.starts_with("overview\n"))
        .unwrap();
    let mut said = vec!["against baseline"];
    said.extend(expected.iter().map(String::as_str));
    said.push(NOTE);
    assert_eq!(blocks[at + 1], said.join("\n"), "{text}");
    assert!(
        blocks[at + 2].starts_with("study · a · safe prompts\n"),
        "{text}"
    );
    assert_eq!(text.matches("`xsafe tune`").count(), 1);

    // Markdown: a list under its heading, between the same tables.
    let md = render_markdown(&report);
    let mut list = String::from("### against baseline\n\n");
    for line in &expected {
        list.push_str(&format!("- {line}\n"));
    }
    list.push_str(&format!("\n{NOTE}\n"));
    let overview = md.find("### overview").unwrap();
    let found = md.find(&list).unwrap_or_else(|| panic!("{md}"));
    let first = md.find("### study · a · safe prompts").unwrap();
    assert!(overview < found && found < first);

    // HTML: after the summary table, in its section.
    let page = html::render(&report);
    let start = page.find("<div class=\"findings\">").unwrap();
    let table_end = page.find("</tbody></table></div>").unwrap();
    let section_end = page[start..].find("</section>").unwrap() + start;
    assert!(table_end < start && section_end < page.find("<section id=\"types\">").unwrap());
    let items: Vec<String> = page[start..section_end]
        .split("<li>")
        .skip(1)
        .map(|s| s[..s.find("</li>").unwrap()].to_string())
        .collect();
    let escaped: Vec<String> = expected
        .iter()
        .map(|l| l.replace('<', "&lt;").replace('\'', "&#39;"))
        .collect();
    assert_eq!(items, escaped);
    assert!(
        page[start..section_end].contains("<code>xsafe tune</code> chooses on one part"),
        "{}",
        &page[start..section_end]
    );
}

/// With several runs each line names its run and target, as the tables'
/// titles do.
#[test]
fn several_runs_name_the_run_too() {
    let report = report_of(&["one", "two"]);
    let keys: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.run.as_str(), f.target.as_str()))
        .collect();
    assert_eq!(
        keys,
        [
            ("one", "a"),
            ("one", "b"),
            ("one", "c"),
            ("two", "a"),
            ("two", "b"),
            ("two", "c")
        ]
    );
    let all = lines(&report);
    assert!(
        all[0].starts_with("one · a: half raised partial compliance"),
        "{all:?}"
    );
    assert!(
        all.last().unwrap().starts_with("two · c: best is x "),
        "{all:?}"
    );
}

/// A report without a target with baseline and another strategy says
/// nothing: no title, no note.
#[test]
fn no_findings_without_a_strategy_to_compare() {
    let store = Store::open_in_memory().unwrap();
    let mut run = fill(&store, "study");
    run.results
        .retain(|r| r.key.target == "d" || r.key.strategy == "baseline");
    let report = build(&[run], &BuildOptions::default());
    assert!(report.findings.is_empty());
    let text = render_terminal(&report, 120);
    assert!(
        !text.contains("against baseline\n") && !text.contains("xsafe tune"),
        "{text}"
    );
    assert!(!render_markdown(&report).contains("### against baseline"));
    assert!(!html::render(&report).contains("class=\"findings\""));
}
