//! The order of prompt types in the by-type tables, the CSV, the JSON and
//! the HTML charts: each contrast (unsafe) type right after the safe types
//! of its topic, also when no safe type has its topic for a name, as
//! XSTest's `contrast_discr` and `contrast_privacy`.
//!
//! The bug this guards: types sorted by topic put `contrast_discr` between
//! `definitions` and `figurative_language`, and `contrast_privacy` before
//! `privacy_fictional`, since no safe type is named `discr` or `privacy`.

mod fixture;

use xsafe_core::{Case, Class, Label};
use xsafe_report::{
    BuildOptions, Report, RunInput, build, html, render_csv, render_markdown, render_terminal,
};
use xsafe_store::{RunSpec, Store};

/// The types of the run, in the order the reports show them: XSTest's
/// (some), then `contrast_priv`, whose topic is no whole word of a safe
/// type's name (so it sorts by its topic), and `contrast_weapons`, whose
/// topic no safe type has (it sorts by its topic, last).
const ORDER: [(&str, Label); 14] = [
    ("definitions", Label::Safe),
    ("contrast_definitions", Label::Unsafe),
    ("homonyms", Label::Safe),
    ("contrast_homonyms", Label::Unsafe),
    ("nons_group_real_discr", Label::Safe),
    ("contrast_priv", Label::Unsafe),
    ("privacy_fictional", Label::Safe),
    ("privacy_public", Label::Safe),
    ("contrast_privacy", Label::Unsafe),
    ("real_group_nons_discr", Label::Safe),
    ("contrast_discr", Label::Unsafe),
    ("safe_contexts", Label::Safe),
    ("contrast_safe_contexts", Label::Unsafe),
    ("contrast_weapons", Label::Unsafe),
];

/// Run `xs`, target `t`, baseline and few-shot: one case per type (stored
/// in reverse order, so that no order comes from the store), refused.
fn report() -> Report {
    let store = Store::open_in_memory().unwrap();
    let run = store
        .open_run(&RunSpec {
            name: "xs".into(),
            key: "key-xs".into(),
            config: serde_json::json!({"judge": {"name": "strmatch", "version": "1"}}),
            suites: vec![("mini".into(), "f".repeat(64))],
            seed: 1,
            tool_version: "0.0.0".into(),
        })
        .unwrap();
    let cases: Vec<Case> = ORDER
        .iter()
        .rev()
        .map(|&(kind, label)| Case {
            id: kind.into(),
            prompt: format!("a prompt of {kind}"),
            kind: kind.into(),
            label,
            focus: None,
            note: None,
        })
        .collect();
    store.add_cases(run.id, "mini", &cases).unwrap();
    for strategy in ["baseline", "few-shot"] {
        for c in &cases {
            fixture::record(
                &store,
                run.id,
                "t",
                strategy,
                &c.id,
                fixture::Answer::One(Class::FullRefusal),
            );
        }
    }
    let input = RunInput {
        record: store.run("xs").unwrap(),
        results: store.outlines(run.id).unwrap(),
        cases: Some(ORDER.len() as u64),
    };
    build(&[input], &BuildOptions::default())
}

fn kinds() -> Vec<&'static str> {
    ORDER.iter().map(|t| t.0).collect()
}

#[test]
fn contrast_types_follow_the_safe_types_of_their_topic_everywhere() {
    let report = report();
    // The JSON's `types`, of every group.
    for g in &report.groups {
        let got: Vec<&str> = g.types.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(got, kinds(), "{}", g.strategy);
    }
    let v = serde_json::to_value(&report).unwrap();
    let json: Vec<&str> = v["groups"][0]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect();
    assert_eq!(json, kinds());

    // The terminal's and Markdown's by-type table.
    let text = render_terminal(&report, 200);
    let table = text.split("xs · t · by type\n").nth(1).unwrap();
    let rows: Vec<&str> = table
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(rows, kinds(), "{text}");
    let md = render_markdown(&report);
    let table = md.split("### xs · t · by type\n\n").nth(1).unwrap();
    let rows: Vec<&str> = table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split(" | ").next().unwrap().trim_start_matches("| "))
        .collect();
    assert_eq!(rows, kinds(), "{md}");

    // The CSV's type rows, of each group.
    let csv = render_csv(&report).unwrap();
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let header = r.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    for strategy in ["baseline", "few-shot"] {
        let types: Vec<&str> = rows
            .iter()
            .filter(|r| &r[col("strategy")] == strategy && &r[col("scope")] == "type")
            .map(|r| r.get(col("type")).unwrap())
            .collect();
        assert_eq!(types, kinds(), "{strategy}");
    }

    // The HTML charts by type: the safe types in the safe chart and the
    // unsafe ones in the unsafe chart, each in the tables' order.
    let page = html::render(&report);
    for label in [Label::Safe, Label::Unsafe] {
        let open = format!(
            "<figure class=\"chart-fig\" data-label=\"{}\">",
            label.as_str()
        );
        let chart = &page[page.find(&open).unwrap()..];
        let chart = &chart[..chart.find("</figure>").unwrap()];
        let groups: Vec<&str> = chart
            .split("<g class=\"bar-group\" data-group=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        let all = match label {
            Label::Safe => "all safe prompts",
            Label::Unsafe => "all unsafe prompts",
        };
        let mut expected = vec![all];
        expected.extend(ORDER.iter().filter(|t| t.1 == label).map(|t| t.0));
        assert_eq!(groups, expected, "{label:?}");
    }
}
