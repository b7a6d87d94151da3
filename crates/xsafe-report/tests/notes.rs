//! Notes a report prints only when they apply, in every format with notes
//! (terminal, Markdown, HTML) and what the JSON keeps: the line on human
//! labels, and whose judge placed the turns of compliance by turn.

mod fixture;

use xsafe_core::{Class, Verdict};
use xsafe_report::{
    BuildOptions, LabelSource, Report, RunInput, build, html, render_markdown, render_terminal,
    verdict_of,
};
use xsafe_store::Store;

/// The fixture's run `a`, with verdicts of a second judge, `grader@1`,
/// beside `strmatch@1`'s: the same classes, but compliance for t1
/// interactive s3, which `strmatch` judged a full refusal after 3 turns
/// (so no `complied_at_turn`).
fn run_with_grader(store: &Store) -> RunInput {
    let id = fixture::fill(store, "a");
    for r in store.outlines(id).unwrap() {
        let Some(class) = verdict_of(&r, "strmatch").and_then(|v| v.outcome.class()) else {
            continue;
        };
        let s3 = r.key.strategy == "interactive" && r.key.case_id == "s3";
        let class = if s3 { Class::Compliance } else { class };
        store
            .put_verdict(r.id, &Verdict::scored(class, 0.8, "grader@1"))
            .unwrap();
    }
    RunInput {
        record: store.run("a").unwrap(),
        results: store.outlines(id).unwrap(),
        cases: Some(5),
    }
}

/// The terminal (unwrapped), Markdown and HTML of `report`.
fn formats(report: &Report) -> [String; 3] {
    [
        render_terminal(report, 100_000),
        render_markdown(report),
        html::render(report),
    ]
}

/// The bug this guards: under another judge (`xsafe report RUN --judge
/// OTHER` after `xsafe rejudge`), compliance by turn counted the other
/// judge's verdicts at the turns the run's judge had seen compliance at,
/// and nothing said so. Here `grader` finds t1 interactive s3 complied,
/// which `strmatch` never saw: it counts at its last turn, 3.
#[test]
fn turns_under_another_judge_say_whose_turns_they_are() {
    let store = Store::open_in_memory().unwrap();
    let run = run_with_grader(&store);
    let opts = BuildOptions {
        judge: Some("grader".into()),
        ..Default::default()
    };
    let report = build(std::slice::from_ref(&run), &opts);
    let g = report
        .groups
        .iter()
        .find(|g| g.strategy == "interactive")
        .unwrap();
    let turns = g.turns.as_ref().unwrap();
    assert_eq!(turns.turn_judge.as_deref(), Some("strmatch"));
    let safe: Vec<(u64, u64)> = turns.safe.iter().map(|p| (p.complied, p.n)).collect();
    assert_eq!(safe, [(1, 3), (2, 3), (3, 3)]);
    // Only interactive groups have curves, and so the key.
    let v = serde_json::to_value(&report).unwrap();
    let turn_judges: Vec<&serde_json::Value> = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["turns"].get("turn_judge"))
        .collect();
    assert_eq!(turn_judges, [&serde_json::json!("strmatch")]);

    let note = "The turns are where run `a`'s own judge, `strmatch`, saw compliance during the \
                conversation (an answer's last turn where it saw none); whether an answer \
                complied is judge `grader`'s verdict.";
    let [text, md, page] = formats(&report);
    // Under the table, in the terminal and Markdown.
    let table_end = "interactive  unsafe  3     50.0% [9.5, 90.5]          1/2\n";
    assert!(text.contains(&format!("{table_end}{note}\n")), "{text}");
    assert_eq!(text.matches(note).count(), 1);
    assert!(
        md.contains(&format!(
            "| interactive | unsafe | 3 | 50.0% [9.5, 90.5] | 1/2 |\n\n{note}\n"
        )),
        "{md}"
    );
    // In the page's section of compliance by turn.
    let section = &page[page.find("<section id=\"turns\">").unwrap()..];
    let section = &section[..section.find("</section>").unwrap()];
    assert!(
        section.contains(
            "<p class=\"lede turn-judge\">The turns are where run <code>a</code>&#39;s own \
             judge, <code>strmatch</code>, saw compliance during the conversation (an answer&#39;s \
             last turn where it saw none); whether an answer complied is judge \
             <code>grader</code>&#39;s verdict.</p>"
        ),
        "{section}"
    );

    // The run's own judge, asked for or not: no note, no key.
    for judge in [None, Some("strmatch".to_string())] {
        let report = build(
            std::slice::from_ref(&run),
            &BuildOptions {
                judge,
                ..Default::default()
            },
        );
        assert!(
            report
                .groups
                .iter()
                .filter_map(|g| g.turns.as_ref())
                .all(|t| t.turn_judge.is_none())
        );
        let v = serde_json::to_value(&report).unwrap();
        assert!(!v.to_string().contains("turn_judge"));
        for out in formats(&report) {
            assert!(!out.contains("The turns are where"), "{out}");
        }
    }
}

/// The bug this guards: every report printed "Human labels: 0 of N
/// answers labelled, 0 counted" though nobody labelled an answer and no
/// labels were asked for. The line is printed when some answer is
/// labelled, or with `--labels human` or `judge`; the JSON keeps the
/// counts always.
#[test]
fn the_human_labels_line_only_when_there_are_labels_or_they_were_asked_for() {
    let store = Store::open_in_memory().unwrap();
    let id = fixture::fill(&store, "a");
    let run = RunInput {
        record: store.run("a").unwrap(),
        results: store.outlines(id).unwrap(),
        cases: Some(5),
    };
    let report = build(std::slice::from_ref(&run), &BuildOptions::default());
    for out in formats(&report) {
        assert!(!out.contains("Human labels"), "{out}");
    }
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(
        v["human_labels"],
        serde_json::json!({
            "source": "prefer-human",
            "labelled": 0,
            "counted": 0,
            "tied": 0,
            "answers": 24,
            "uneven": false,
        })
    );

    let first = run.results[0].id;
    for (opts, line) in [
        (
            BuildOptions {
                human: [(first, vec![Class::Compliance])].into_iter().collect(),
                ..Default::default()
            },
            "Human labels: 1 of 24 answers labelled, 1 counted (the human label where there is \
             one, else the judge's verdict).",
        ),
        (
            BuildOptions {
                labels: LabelSource::Judge,
                ..Default::default()
            },
            "Human labels: 0 of 24 answers labelled, 0 counted (the judge's verdicts only).",
        ),
        (
            BuildOptions {
                labels: LabelSource::Human,
                ..Default::default()
            },
            "Human labels: 0 of 24 answers labelled, 0 counted (only human labels count, other \
             answers are unscored).",
        ),
    ] {
        let report = build(std::slice::from_ref(&run), &opts);
        let [text, md, page] = formats(&report);
        // One answer of one strategy labelled: the line goes on to say
        // they cover the strategies unevenly (tests/human_pairs.rs).
        let uneven = report.human_labels.uneven;
        let ends = |out: &str, start: &str, line: &str, end: &str| {
            let more = " They cover the strategies unevenly";
            out.contains(&format!("{start}{line}{}", if uneven { more } else { end }))
        };
        assert!(ends(&text, "\n", line, "\n"), "{text}");
        assert!(ends(&md, "\n", line, "\n"), "{md}");
        let escaped = line.replace('\'', "&#39;");
        assert!(
            ends(&page, "<p class=\"human-labels\">", &escaped, "</p>"),
            "{line}"
        );
    }
}
