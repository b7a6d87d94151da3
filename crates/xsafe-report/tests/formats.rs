//! The CSV and Markdown reports of the fixture run (see `fixture`): the
//! CSV has every figure the other formats show, compliance by turn
//! included, and the Markdown file reads as its text, escaped only where
//! Markdown would read markup.

mod fixture;

use xsafe_report::{BuildOptions, Rate, Report, RunInput, build, render_csv, render_markdown};
use xsafe_store::Store;

fn report() -> Report {
    let store = Store::open_in_memory().unwrap();
    let id = fixture::fill(&store, "a");
    let run = RunInput {
        record: store.run("a").unwrap(),
        results: store.outlines(id).unwrap(),
        cases: Some(store.cases(id).unwrap().len() as u64),
    };
    build(&[run], &BuildOptions::default())
}

/// t1 interactive: safe s1 complied at turn 2, s2 at turn 1, s3 refused
/// after 3 turns; unsafe u1 refused after 3 turns, u2 complied at turn 3.
/// Each turn is a `turn` row with the count and share complied by then,
/// in the columns an `overall` row has compliance in.
#[test]
fn the_csv_has_compliance_by_turn() {
    let text = render_csv(&report()).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().clone();
    // The new column comes last: the others keep their places.
    assert_eq!(header.get(4), Some("scope"));
    assert_eq!(header.get(7), Some("label"));
    assert_eq!(header.iter().next_back(), Some("turn"));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    // 6 groups x (2 overall + 4 type rows), and t1 interactive's 3 turns
    // for each label.
    assert_eq!(rows.len(), 36 + 6);
    let turns: Vec<&csv::StringRecord> =
        rows.iter().filter(|r| &r[col("scope")] == "turn").collect();
    assert_eq!(turns.len(), 6);
    let num = |x: f64| x.to_string();
    let expected = [
        ("safe", 1, 1, 3),
        ("safe", 2, 2, 3),
        ("safe", 3, 2, 3),
        ("unsafe", 1, 0, 2),
        ("unsafe", 2, 0, 2),
        ("unsafe", 3, 1, 2),
    ];
    for (row, (label, turn, k, n)) in turns.iter().zip(expected) {
        let rate = Rate::new(k, n).unwrap();
        for (name, value) in [
            ("run", "a".to_string()),
            ("target", "t1".into()),
            ("strategy", "interactive".into()),
            ("judge", "strmatch".into()),
            ("label", label.into()),
            ("turn", turn.to_string()),
            ("scored", n.to_string()),
            ("compliance", k.to_string()),
            ("compliance_rate", num(rate.rate)),
            ("compliance_low", num(rate.low)),
            ("compliance_high", num(rate.high)),
            ("compliance_effective_n", String::new()),
        ] {
            assert_eq!(&row[col(name)], value, "{name} of {row:?}");
        }
        // No type, no refusal, no comparison for a turn.
        for name in [
            "type",
            "topic",
            "results",
            "refusal",
            "errors",
            "refusal_rate",
            "compliance_incl_partial_rate",
            "pairs",
            "reduction_percent",
            "mcnemar_p",
        ] {
            assert_eq!(&row[col(name)], "", "{name} of {row:?}");
        }
    }
    // The turn rows follow the group's type rows; at the last turn, the
    // overall row's figures.
    let first = rows
        .iter()
        .position(|r| &r[col("scope")] == "turn")
        .unwrap();
    assert_eq!(&rows[first - 1][col("strategy")], "interactive");
    assert_eq!(&rows[first - 1][col("scope")], "type");
    assert_eq!(&rows[first + 6][col("target")], "t2");
    for label in ["safe", "unsafe"] {
        let overall = rows
            .iter()
            .find(|r| {
                &r[col("strategy")] == "interactive"
                    && &r[col("scope")] == "overall"
                    && &r[col("label")] == label
            })
            .unwrap();
        let last = turns.iter().rfind(|r| &r[col("label")] == label).unwrap();
        for name in [
            "scored",
            "compliance",
            "compliance_rate",
            "compliance_low",
            "compliance_high",
        ] {
            assert_eq!(&last[col(name)], &overall[col(name)], "{label} {name}");
        }
    }
    // Other rows have no turn.
    assert!(
        rows.iter()
            .filter(|r| &r[col("scope")] != "turn")
            .all(|r| r[col("turn")].is_empty())
    );
}

/// A strategy with no scored answer at some turn has its turn rows still,
/// with empty rates (n = 0), as a type with no scored answer has.
#[test]
fn a_turn_without_scored_answers_has_empty_rates() {
    let mut report = report();
    let g = report
        .groups
        .iter_mut()
        .find(|g| g.strategy == "interactive")
        .unwrap();
    for p in &mut g.turns.as_mut().unwrap().unsafe_ {
        (p.complied, p.n, p.rate) = (0, 0, None);
    }
    let text = render_csv(&report).unwrap();
    let unsafe_turns: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(",turn,") && l.contains(",unsafe,"))
        .collect();
    assert_eq!(unsafe_turns.len(), 3);
    for l in unsafe_turns {
        assert!(
            l.starts_with("a,t1,interactive,strmatch,turn,,,unsafe,,0,0,"),
            "{l}"
        );
    }
}

/// `p < 0.001` is written as it reads, not as `p &lt; 0.001`; text from
/// runs is escaped where Markdown would read it as markup (a tag, an
/// entity, a table's `|`), and only there.
#[test]
fn markdown_writes_less_than_as_it_is() {
    let mut report = report();
    let g = report
        .groups
        .iter_mut()
        .find(|g| g.target == "t1" && g.strategy == "interactive")
        .unwrap();
    g.vs_baseline
        .as_mut()
        .unwrap()
        .safe
        .mcnemar
        .as_mut()
        .unwrap()
        .p_value = 1e-5;
    g.types[0].kind = "<b>odd</b> | a & b &amp; c < 1".into();
    let md = render_markdown(&report);
    assert!(md.contains(" | 2/0 p < 0.001 | "), "{md}");
    assert!(
        md.contains("| \\<b>odd\\</b> \\| a & b \\&amp; c < 1 | "),
        "{md}"
    );
    for entity in ["&lt;", "&gt;", "&amp;amp;", "&quot;"] {
        assert!(!md.contains(entity), "{entity} in {md}");
    }
    // The terminal says the same.
    let text = xsafe_report::render_terminal(&report, 100_000);
    assert!(text.contains("2/0 p < 0.001"), "{text}");
}
