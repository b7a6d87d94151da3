//! The HTML page as text: self-contained, escaped, with the charts and
//! transcripts the report asks for. The browser test (`browser.rs`) checks
//! the same page rendered.

mod html_support;

use html_support::{HOSTILE, HOSTILE_TYPE, big_report, report};
use xsafe_report::html::render;

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn page_is_self_contained() {
    let html = render(&report());
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    let lower = html.to_lowercase();
    for forbidden in [
        "http://", "https://", "//cdn", "<link", "@import", "url(", "<iframe", "<img", "<object",
        "<embed", " src=\"",
    ] {
        assert!(!lower.contains(forbidden), "page contains `{forbidden}`");
    }
    // Links only within the page.
    for href in html.split("href=\"").skip(1) {
        assert!(
            href.starts_with('#'),
            "external link: {}",
            &href[..40.min(href.len())]
        );
    }
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none';"));
}

#[test]
fn text_from_runs_is_escaped() {
    let html = render(&report());
    // Exactly the page's own two scripts.
    assert_eq!(count(&html, "<script"), 2);
    assert!(!html.contains("<img"));
    assert!(!html.contains("window.pwned=2\">"));
    assert!(html.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"));
    assert!(html.contains("onerror=&quot;window.pwned=2&quot;"));
    assert!(html.contains("&#39;q&#39;"));
    assert!(html.contains("&amp;amp;"));
    // The element structure is intact despite closing tags in the data.
    for tag in [
        "details", "summary", "svg", "style", "section", "table", "select",
    ] {
        assert_eq!(
            count(&html, &format!("<{tag}")) - count(&html, &format!("<{tag}-")),
            count(&html, &format!("</{tag}>")),
            "<{tag}> opened and closed a different number of times"
        );
    }
    assert_eq!(count(&html, "<!--"), 0);
    assert_eq!(count(&html, "</textarea>"), 0);
    // The hostile type is an option and a data attribute, escaped alike.
    assert!(html.contains("<option value=\"odd&quot;type&lt;b&gt;&amp;\">"));
    assert!(html.contains("data-type=\"odd&quot;type&lt;b&gt;&amp;\""));
    let _ = HOSTILE_TYPE;
    let _ = HOSTILE;
}

#[test]
fn page_has_every_section_and_chart() {
    let report = report();
    let html = render(&report);
    // For looking at the page by hand.
    if let Ok(path) = std::env::var("XSAFE_HTML_OUT") {
        std::fs::write(path, &html).unwrap();
    }
    for id in [
        "runs",
        "summary",
        "types",
        "tradeoff",
        "turns",
        "transcripts",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    // Per run x target: safe and unsafe bars; one trade-off; by turn for
    // safe and unsafe prompts (t1 · interactive).
    assert_eq!(count(&html, "class=\"chart chart-bars\""), 4);
    assert_eq!(count(&html, "class=\"chart chart-scatter\""), 1);
    assert_eq!(count(&html, "class=\"chart chart-lines\""), 2);
    assert_eq!(count(&html, "<svg "), 7);
    // Every chart has a title and an aria-label and scales by its viewBox.
    for svg in html.split("<svg ").skip(1) {
        let open = &svg[..svg.find('>').unwrap()];
        assert!(open.contains("viewBox=\"0 0 760 "), "{open}");
        assert!(open.contains("role=\"img\" aria-label=\""), "{open}");
        assert!(svg[open.len()..].starts_with("><title>"), "{open}");
    }
    // Summary: one row per group.
    let summary = &html[html.find("<table class=\"summary\"").unwrap()..];
    let summary = &summary[..summary.find("</table>").unwrap()];
    assert_eq!(count(summary, "<tr data-run="), report.groups.len());
    // Trade-off: t1 contextual has only errors and no point.
    assert_eq!(count(&html, "class=\"point\""), 5);
    assert_eq!(count(&html, "class=\"line\""), 2);
    // Transcripts: every result, collapsed.
    assert_eq!(count(&html, "<details class=\"transcript\""), 30);
    assert!(!html.contains("<details class=\"transcript\" open"));
    for key in ["strategy", "type", "label", "verdict", "target"] {
        assert!(
            html.contains(&format!("data-filter=\"{key}\"")),
            "filter {key}"
        );
    }
    // One run: no run filter.
    assert!(!html.contains("data-filter=\"run\""));
}

#[test]
fn no_turn_chart_without_interactive_data() {
    let mut report = report();
    for g in &mut report.groups {
        g.turns = None;
    }
    let html = render(&report);
    assert!(!html.contains("id=\"turns\""));
    assert!(!html.contains("chart-lines"));
    assert!(!html.contains("href=\"#turns\""));
}

#[test]
fn empty_report_renders() {
    let mut report = report();
    report.groups.clear();
    report.results.clear();
    let html = render(&report);
    assert!(html.contains("No results."));
    assert!(html.contains("<span id=\"shown-count\">0</span> of 0"));
    assert!(!html.contains("NaN"));
}

#[test]
fn big_reports_stay_light() {
    let n = 5000;
    let html = xsafe_report::html::render_rows(&big_report(n), n);
    assert_eq!(count(&html, "<details class=\"transcript\""), n);
    // No per-row chart, and a modest size per row.
    assert_eq!(count(&html, "<svg "), 7);
    let per_row = html.len() / n;
    assert!(per_row < 2500, "{per_row} bytes per transcript");
}

#[test]
fn several_runs_side_by_side() {
    let report = html_support::two_runs();
    let html = render(&report);
    if let Ok(path) = std::env::var("XSAFE_HTML_OUT_RUNS") {
        std::fs::write(path, &html).unwrap();
    }
    // Run column and run filter; a shape per run x target in the
    // trade-off chart, a bar chart pair per run x target.
    assert!(html.contains("<th rowspan=\"2\">run</th>"));
    assert!(html.contains("data-filter=\"run\""));
    assert_eq!(count(&html, "class=\"chart chart-bars\""), 8);
    assert_eq!(count(&html, "class=\"point\""), 10);
    for name in ["r1 · t1", "r1 · t2", "r2 · t1", "r2 · t2"] {
        assert!(html.contains(&format!("data-series=\"{name}\"")), "{name}");
    }
    assert_eq!(count(&html, "<details class=\"transcript\""), 60);
}

#[test]
fn few_shot_exemplars_are_shown_as_examples() {
    use xsafe_core::Message;
    let mut report = report();
    let row = &mut report.results[0];
    row.messages = vec![
        Message::system("Be helpful."),
        Message::user("EXAMPLE-Q"),
        Message::assistant("EXAMPLE-A"),
        Message::user("THE-PROMPT"),
        Message::assistant("THE-REPLY"),
    ];
    row.opening = Some(4);
    let html = render(&report);
    assert_eq!(count(&html, "<span class=\"role\">example user</span>"), 1);
    assert_eq!(
        count(&html, "<span class=\"role\">example assistant</span>"),
        1
    );
    let prompt_at = html.find("THE-PROMPT").unwrap();
    let li = html[..prompt_at].rfind("<li").unwrap();
    assert!(
        !html[li..prompt_at].contains("exemplar"),
        "the prompt is not an example"
    );
}

/// When some answer is labelled, or labels were asked for, the page says
/// how many answers humans labelled; a run nobody labelled, reported as
/// by default, has no such line.
#[test]
fn the_page_says_how_many_answers_humans_labelled() {
    use xsafe_report::{BuildOptions, LabelSource};
    assert_eq!(count(&render(&report()), "class=\"human-labels\""), 0);
    let store = xsafe_store::Store::open_in_memory().unwrap();
    html_support::fill(&store, "r1");
    let first = html_support::report_of(&store, &["r1"]).results[0].id;
    let labelled = BuildOptions {
        human: [(first, vec![xsafe_core::Class::Compliance])]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let asked = BuildOptions {
        labels: LabelSource::Human,
        ..Default::default()
    };
    for (opts, said) in [
        (
            labelled,
            "Human labels: 1 of 24 answers labelled, 1 counted (the human label where there is \
             one, else the judge&#39;s verdict).",
        ),
        (
            asked,
            "Human labels: 0 of 24 answers labelled, 0 counted (only human labels count, other \
             answers are unscored).",
        ),
    ] {
        let html = render(&html_support::report_with(&store, &["r1"], &opts));
        assert_eq!(
            count(&html, &format!("<p class=\"human-labels\">{said}")),
            1,
            "{said}"
        );
        // One answer of one strategy labelled: they cover the strategies
        // unevenly, which the line goes on to say.
        let uneven = html.contains(&format!(
            "{said} They cover the strategies unevenly (answers labelled: t1: baseline 1 of"
        ));
        assert_eq!(uneven, said.contains("1 of 24"), "{html}");
        // Above the summary table, not inside its head (a browser moves it).
        let line = html.find("<p class=\"human-labels\">").unwrap();
        let table = html.find("<table class=\"summary\">").unwrap();
        assert!(line < table && !html[line..table].contains("<tr>"));
    }
}

/// The `<tr>` of a group in the summary table.
fn summary_row<'a>(html: &'a str, target: &str, strategy: &str) -> &'a str {
    let open =
        format!("<tr data-run=\"r1\" data-target=\"{target}\" data-strategy=\"{strategy}\">");
    let row = &html[html.find(&open).unwrap_or_else(|| panic!("no row {open}"))..];
    &row[..row.find("</tr>").unwrap()]
}

/// The text of each element opened by `open` (up to its first `close`).
fn texts<'a>(html: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    html.split(open)
        .skip(1)
        .map(|s| {
            let s = &s[s.find('>').unwrap() + 1..];
            &s[..s.find(close).unwrap()]
        })
        .collect()
}

/// The cost of a strategy, McNemar's test on unsafe prompts, is in the
/// summary beside the gain on safe ones, with the terminal's figures
/// (`a · t2 · few-shot`: `0/3 p = 0.250` safe, `0/2 p = 0.500` unsafe).
#[test]
fn the_summary_compares_unsafe_prompts_with_baseline_too() {
    let html = render(&report());
    let head = &html[html.find("<table class=\"summary\">").unwrap()..];
    let head = &head[..head.find("</thead>").unwrap()];
    let groups: Vec<&str> = texts(head, "class=\"grp", "</th>");
    assert_eq!(
        groups,
        [
            "safe prompts",
            "vs baseline (safe)",
            "unsafe prompts",
            "vs baseline (unsafe)"
        ]
    );
    let row = summary_row(&html, "t2", "few-shot");
    assert_eq!(
        texts(row, "<td class=\"num mcnemar", "</td>"),
        [
            "0/3 <span class=\"ci\">p = 0.250</span>",
            "0/2 <span class=\"ci\">p = 0.500</span>"
        ]
    );
    // b and c are said in words in the tooltip.
    assert!(row.contains(
        "title=\"b = 0: refused under baseline only; c = 2: refused under the strategy only; \
         2 pairs; exact two-sided test\""
    ));
    let row = summary_row(&html, "t1", "interactive");
    assert_eq!(
        texts(row, "<td class=\"num mcnemar", "</td>"),
        [
            "2/0 <span class=\"ci\">p = 0.500</span>",
            "0/0 <span class=\"ci\">p = 1.000</span>"
        ]
    );
    // Baseline and a strategy without pairs: no test, the same number of
    // cells as the header.
    let cells = |row: &str| row.matches("<td").count();
    let contextual = summary_row(&html, "t1", "contextual");
    assert_eq!(cells(contextual), cells(row));
    assert_eq!(cells(summary_row(&html, "t1", "baseline")), cells(row));
    // Every header cell but the four over two columns or more heads one.
    assert_eq!(
        head.matches("<th ").count() - 4,
        cells(row),
        "header and rows"
    );
    // The footer says what the test is.
    assert!(html.contains("exact two-sided p (binomial test on the discordant pairs)"));
}

/// Printed, tables fit the page instead of being cut by their scrolling
/// box, headings stay with what follows them and charts are not split.
#[test]
fn the_page_has_print_rules() {
    let html = render(&report());
    let print = &html[html.find("@media print {").expect("print rules")..];
    let print = &print[..print.find("\n}\n").unwrap()];
    for rule in [
        ".table-wrap { overflow: visible;",
        "h2, h3, .lede, .human-labels { break-after: avoid;",
        "thead { display: table-header-group; }",
        "nav, .filters, #no-match { display: none !important; }",
    ] {
        assert!(print.contains(rule), "missing `{rule}` in {print}");
    }
    let avoid = print
        .lines()
        .find(|l| l.contains("break-inside: avoid"))
        .expect("break-inside");
    for what in ["tr", ".chart-fig", "svg.chart"] {
        assert!(avoid.contains(what), "{what} in {avoid}");
    }
}

/// Lines of compliance by turn take their strategy's colour, as bars and
/// points do; runs and targets differ by dash and marker, with a legend.
#[test]
fn turn_lines_are_coloured_by_strategy_and_told_apart_by_dash() {
    let html = render(&html_support::two_runs());
    let bars = &html[html.find("<section id=\"types\">").unwrap()..];
    let fill = |series: &str| -> String {
        let bar = &bars[bars
            .find(&format!(
                "class=\"bar\" data-group=\"all safe prompts\" data-series=\"{series}\""
            ))
            .unwrap()..];
        let f = &bar[bar.find("fill=\"").unwrap() + 6..];
        f[..f.find('"').unwrap()].to_string()
    };
    let interactive = fill("interactive");
    assert_ne!(interactive, fill("baseline"));
    let turns = &html[html.find("<section id=\"turns\">").unwrap()..];
    let turns = &turns[..turns.find("</section>").unwrap()];
    let lines: Vec<&str> = turns
        .split("<polyline ")
        .skip(1)
        .map(|l| &l[..l.find("/>").unwrap()])
        .collect();
    // Safe and unsafe charts, r1 · t1 and r2 · t1 in each.
    assert_eq!(lines.len(), 4);
    for l in &lines {
        assert!(l.contains("data-series=\"interactive\""), "{l}");
        assert!(l.contains(&format!("stroke=\"{interactive}\"")), "{l}");
    }
    assert!(lines[0].contains("data-group=\"r1 · t1\"") && !lines[0].contains("dasharray"));
    assert!(lines[1].contains("data-group=\"r2 · t1\"") && lines[1].contains("stroke-dasharray"));
    for name in ["interactive", "r1 · t1", "r2 · t1"] {
        assert_eq!(
            turns
                .matches(&format!("class=\"legend-item\" data-series=\"{name}\""))
                .count(),
            2,
            "{name}"
        );
    }
    // Each point with its interval (t1 interactive: 3 turns).
    assert_eq!(turns.matches("class=\"line-point\"").count(), 12);
    assert_eq!(turns.matches("<path class=\"ci\"").count(), 12);
    assert!(turns.contains("Colour: strategy; marker and dash: run and target."));
}

/// Long type names that differ at their end keep it in the bar charts: two
/// types never read the same, and the full name is in the tooltip.
#[test]
fn long_type_names_stay_apart_in_the_bar_charts() {
    const QUESTIONS: &str = "customer_service_refund_policy_questions_about_orders";
    const COMPLAINTS: &str = "customer_service_refund_policy_complaints_about_orders";
    let mut report = report();
    for g in &mut report.groups {
        for t in &mut g.types {
            match t.kind.as_str() {
                "homonyms" => t.kind = QUESTIONS.into(),
                "definitions" => t.kind = COMPLAINTS.into(),
                _ => {}
            }
        }
    }
    let html = render(&report);
    let labels = texts(&html, "<text class=\"group-label\"", "</text>");
    let drawn: Vec<(&str, &str)> = labels
        .iter()
        .map(|l| {
            let full = &l[l.find("<title>").unwrap() + 7..l.find("</title>").unwrap()];
            (full, &l[l.find("</title>").unwrap() + 8..])
        })
        .collect();
    assert!(drawn.iter().any(|(full, _)| *full == QUESTIONS));
    assert!(drawn.iter().any(|(full, _)| *full == COMPLAINTS));
    for (full, shown) in &drawn {
        for (other, other_shown) in &drawn {
            assert!(
                full == other || shown != other_shown,
                "`{full}` and `{other}` both read `{shown}`"
            );
        }
        if full.len() > 40 {
            assert!(shown.contains('…'), "{shown}");
            assert_eq!(
                shown.rsplit('…').next().unwrap(),
                &full[full.len() - shown.rsplit('…').next().unwrap().len()..],
                "the end of `{full}` is kept"
            );
        }
    }
}

/// Warnings write names and commands as Markdown code spans: the page
/// shows them as code, escaped, without the backticks.
#[test]
fn warnings_show_code_spans_as_code() {
    let mut report = report();
    report.warnings = vec![
        "run `custom3`: 914 of 960 answers are unscored; `xsafe annotate custom3` labels them"
            .into(),
        "a `<b>&` span, and a lone ` backtick".into(),
    ];
    let html = render(&report);
    let list = &html[html.find("<ul class=\"warnings\">").unwrap()..];
    let list = &list[..list.find("</ul>").unwrap()];
    assert_eq!(
        texts(list, "<li", "</li>"),
        [
            "run <code>custom3</code>: 914 of 960 answers are unscored; \
             <code>xsafe annotate custom3</code> labels them",
            "a <code>&lt;b&gt;&amp;</code> span, and a lone ` backtick"
        ]
    );
}

/// With several samples per case the collapsed rows differ: each says
/// which answer of its case it is, as `runs show` and the annotation page
/// write it (`s1#1`: sample 1, the second answer; nothing for sample 0).
#[test]
fn rows_of_several_samples_say_which_sample_they_are() {
    let mut report = report();
    let first = report.results[0].clone();
    assert_eq!((first.case_id.as_str(), first.sample), ("s1", 0));
    for sample in [1, 2] {
        let mut r = first.clone();
        r.id = 1000 + i64::from(sample);
        r.sample = sample;
        report.results.insert(sample as usize, r);
    }
    let html = render(&report);
    let summaries = texts(&html, "<details class=\"transcript\"", "</summary>");
    let samples: Vec<&str> = summaries[..4]
        .iter()
        .map(|s| {
            texts(s, "<span class=\"sample\"", "</span>")
                .first()
                .copied()
                .unwrap_or("")
        })
        .collect();
    assert_eq!(samples, ["s1", "s1#1", "s1#2", ""]);
    let facts = texts(&html, "<dl class=\"facts\"", "</dl>");
    assert!(
        facts[1].contains("<dt>case</dt><dd>mini / s1#1</dd>"),
        "{}",
        facts[1]
    );
    assert!(
        facts[1].contains("<dt>sample</dt><dd>#1: answer 2 of 3 to this case</dd>"),
        "{}",
        facts[1]
    );
    assert!(facts[0].contains("#0: answer 1 of 3 to this case"));
    // One answer per case: no sample line.
    assert!(!facts[3].contains("<dt>sample</dt>"), "{}", facts[3]);
    assert!(!html.contains("(sample 0)"));
}

/// A human label has no confidence to show; the judge's verdict of the
/// same answer stands beside it, and beside the lack of one.
#[test]
fn human_labels_show_the_judges_verdict_beside_them() {
    use xsafe_core::Class;
    use xsafe_report::{BuildOptions, LabelSource};
    let store = xsafe_store::Store::open_in_memory().unwrap();
    html_support::fill(&store, "r1");
    let plain = html_support::report_of(&store, &["r1"]);
    // t1 baseline s1 (judge: full refusal) labelled compliance; s2 tied.
    let (s1, s2) = (plain.results[0].id, plain.results[1].id);
    let human = [
        (s1, vec![Class::Compliance]),
        (s2, vec![Class::Compliance, Class::FullRefusal]),
    ]
    .into_iter()
    .collect();
    let report = html_support::report_with(
        &store,
        &["r1"],
        &BuildOptions {
            labels: LabelSource::Human,
            human,
            ..Default::default()
        },
    );
    let html = render(&report);
    let verdicts = texts(&html, "<dd class=\"verdict\"", "</dd>");
    assert_eq!(
        verdicts[0],
        "compliance · human label <span class=\"judge-verdict\">(judge strmatch@1: full refusal, \
         confidence 0.90)</span>"
    );
    assert_eq!(
        verdicts[1],
        "unscored · annotators disagree <span class=\"judge-verdict\">(judge strmatch@1: full \
         refusal, confidence 0.90)</span>"
    );
    assert_eq!(
        verdicts[2],
        "unscored · no human label <span class=\"judge-verdict\">(judge strmatch@1: partial \
         refusal, confidence 0.90)</span>"
    );
    assert!(!html.contains("confidence 1.00") && !html.contains("confidence 0.00"));
    // The JSON keeps the human label's fields and adds the judge's verdict.
    assert_eq!(report.results[0].verdict.as_ref().unwrap().judge, "human");
    assert_eq!(
        report.results[0].judge_verdict.as_ref().unwrap().label,
        "full_refusal"
    );
    // The judge's own verdicts keep their confidence, with nothing beside.
    let html = render(&plain);
    let verdicts = texts(&html, "<dd class=\"verdict\"", "</dd>");
    assert_eq!(verdicts[0], "full refusal · confidence 0.90 · strmatch@1");
    assert!(plain.results.iter().all(|r| r.judge_verdict.is_none()));
}

#[test]
fn big_runs_list_at_most_the_cap_and_say_so() {
    use xsafe_core::Label;
    use xsafe_report::html::{TRANSCRIPT_ROWS, render_rows};
    let n = 5000;
    let report = html_support::with_openings(n);
    let html = render(&report);
    let all = render_rows(&report, usize::MAX);
    eprintln!(
        "{n} results: {} bytes listing {TRANSCRIPT_ROWS}, {} bytes listing all",
        html.len(),
        all.len()
    );
    assert_eq!(
        count(&html, "<details class=\"transcript\""),
        TRANSCRIPT_ROWS
    );
    assert_eq!(count(&all, "<details class=\"transcript\""), n);
    assert!(html.contains(&format!(
        "This page lists {TRANSCRIPT_ROWS} of the {n} transcripts"
    )));
    assert!(html.contains("<code>xsafe export r1</code> writes every transcript"));
    // A run name a shell would split is quoted in the command.
    let mut spaced = report.clone();
    for r in &mut spaced.results {
        r.run = "my run".into();
    }
    assert!(
        render(&spaced)
            .contains("<code>xsafe export &#39;my run&#39;</code> writes every transcript")
    );
    assert!(html.contains(&format!(
        "<span id=\"shown-count\">{TRANSCRIPT_ROWS}</span> of {TRANSCRIPT_ROWS} shown (of {n} results)"
    )));
    assert!(!all.contains("rows-capped"));
    // Tables and charts count every result: the page up to the
    // transcripts is the same however many rows it lists.
    let head = |h: &str| h[..h.find("<section id=\"transcripts\">").unwrap()].to_string();
    assert_eq!(head(&html), head(&all));
    // The answers against their prompt's label come first, then unscored
    // answers, then failed requests, then the rest: with room for 2,500
    // rows, all of the first two, part of the failures, none of the rest.
    let html = render_rows(&report, 2500);
    let listed = |label: Option<Label>, verdict: &str| {
        let in_report = report
            .results
            .iter()
            .filter(|r| label.is_none_or(|l| r.label == l) && r.outcome == verdict)
            .count();
        let needle = match label {
            Some(l) => format!("data-label=\"{}\" data-verdict=\"{verdict}\"", l.as_str()),
            None => format!("data-verdict=\"{verdict}\""),
        };
        (in_report, count(&html, &needle))
    };
    let mut first = 0;
    for (label, verdict) in [
        (Some(Label::Safe), "full_refusal"),
        (Some(Label::Safe), "partial_refusal"),
        (Some(Label::Unsafe), "compliance"),
        (None, "unscored"),
    ] {
        let (in_report, shown) = listed(label, verdict);
        assert_eq!(shown, in_report, "{verdict} on {label:?} prompts");
        first += in_report;
    }
    let (errors, shown) = listed(None, "error");
    assert_eq!(first + shown, 2500, "{first} + {shown}");
    assert!(shown < errors);
    // Failures are taken in turn from each strategy: contextual (all
    // failures) has no more than its share of them.
    let contextual = count(&html, "data-strategy=\"contextual\" data-type");
    assert!(
        contextual > 0 && contextual < shown,
        "{contextual} of {shown}"
    );
    assert_eq!(listed(Some(Label::Unsafe), "full_refusal").1, 0);
    // A smaller run lists everything and says nothing of a cap.
    let small = render(&report_small());
    assert!(!small.contains("rows-capped"));
}

fn report_small() -> xsafe_report::Report {
    report()
}

#[test]
fn strategy_openings_are_written_once_not_per_row() {
    use xsafe_report::html::render_rows;
    let mut report = html_support::with_openings(300);
    let with_opening = report
        .results
        .iter()
        .filter(|r| r.opening.is_some_and(|o| o > 1))
        .count();
    assert!(with_opening > 50, "{with_opening}");
    // One row whose system text differs keeps its own opening.
    let odd = report
        .results
        .iter_mut()
        .find(|r| r.strategy == "few-shot" && r.opening.is_some_and(|o| o > 1))
        .unwrap();
    odd.messages[0].content = "ODD-SYSTEM".into();
    let html = render_rows(&report, 300);
    for strategy in ["few-shot", "interactive"] {
        for text in [
            format!("SYSTEM-OF-{strategy}"),
            format!("EXAMPLE-Q0-OF-{strategy}"),
            format!("EXAMPLE-A2-OF-{strategy}"),
        ] {
            // Once in the openings, once more for the odd row's exemplars.
            let expected = if strategy == "few-shot" && !text.starts_with("SYSTEM") {
                2
            } else {
                1
            };
            assert_eq!(count(&html, &text), expected, "{text}");
        }
    }
    assert_eq!(count(&html, "<div class=\"opening\""), 2);
    assert_eq!(count(&html, "class=\"msg shared\""), with_opening - 1);
    let odd_at = html.find("ODD-SYSTEM").unwrap();
    assert!(odd_at > html.find("<div id=\"transcript-list\">").unwrap());
    assert_eq!(count(&html, "ODD-SYSTEM"), 1);
    // Each row keeps its own prompt and the model's reply.
    assert_eq!(count(&html, "<span class=\"role\">assistant</span>"), {
        report
            .results
            .iter()
            .flat_map(|r| r.messages[crate_opening(r)..].iter())
            .filter(|m| m.role == xsafe_core::Role::Assistant)
            .count()
    });
    // The openings are collapsed, above the list, and the rows link to them.
    assert!(html.contains("<details class=\"openings\" id=\"openings\"><summary>"));
    assert!(html.find("id=\"openings\"").unwrap() < html.find("id=\"transcript-list\"").unwrap());
    assert!(html.contains("<a href=\"#opening-1\">opening 1</a>"));
}

fn crate_opening(r: &xsafe_report::ResultRow) -> usize {
    r.opening
        .map_or(0, |o| o.saturating_sub(1) as usize)
        .min(r.messages.len())
}

/// The page reads the messages of the rows it lists and no others, so a
/// report of a large run needs only theirs (`Report::fill_messages` with
/// `html::listed`): the same page with every other row's messages gone.
#[test]
fn the_page_needs_only_the_listed_rows_messages() {
    let full = html_support::with_openings(5000);
    let listed = xsafe_report::html::listed(&full);
    assert_eq!(listed.len(), xsafe_report::html::TRANSCRIPT_ROWS);
    let mut bare = full.clone();
    for r in &mut bare.results {
        r.messages.clear();
    }
    bare.fill_messages(listed, |id| {
        let row = full.results.iter().find(|r| r.id == id).unwrap();
        Ok::<_, ()>(row.messages.clone())
    })
    .unwrap();
    assert_eq!(render(&bare), render(&full));
    // A small run lists every row.
    let small = report_small();
    assert_eq!(
        xsafe_report::html::listed(&small),
        (0..small.results.len()).collect::<Vec<_>>()
    );
}

/// Where the terminal and Markdown write `undefined` (t2: baseline refused
/// none of the safe prompts) and `no pairs` (t1 contextual: every request
/// failed), the summary writes the same words, with why in the tooltip.
#[test]
fn the_summary_says_undefined_and_no_pairs_in_words() {
    let html = render(&report());
    let row = summary_row(&html, "t2", "few-shot");
    assert_eq!(
        texts(row, "<td class=\"num na vs\"", "</td>"),
        ["undefined"],
        "{row}"
    );
    assert!(
        row.contains(
            "<td class=\"num na vs\" title=\"baseline refused none of the paired cases: \
             undefined\">undefined</td>"
        ),
        "{row}"
    );
    let row = summary_row(&html, "t1", "contextual");
    // The reduction and both McNemar cells; its rates are `–`, as the
    // terminal's are `-`.
    let why = "title=\"no case has a scored answer under both strategies\"";
    assert_eq!(
        texts(row, why, "</td>"),
        ["no pairs", "no pairs", "no pairs"],
        "{row}"
    );
    assert!(row.contains(&format!("<td class=\"num na vs\" {why}>no pairs</td>")));
    assert!(row.contains(&format!("<td class=\"num na\" {why}>no pairs</td>")));
}

/// Points of the trade-off chart at one place (here t2 few-shot given
/// t2 baseline's rates, and in two runs of the same results every point
/// of one run at the place of the other's) are drawn side by side and
/// named together, their data and tooltips exact.
#[test]
fn points_at_one_place_in_the_tradeoff_chart_are_drawn_apart_and_named() {
    let mut report = report();
    let baseline = report
        .groups
        .iter()
        .find(|g| g.target == "t2" && g.strategy == "baseline")
        .unwrap()
        .clone();
    let few_shot = report
        .groups
        .iter_mut()
        .find(|g| g.target == "t2" && g.strategy == "few-shot")
        .unwrap();
    few_shot.safe.refusal_rate = baseline.safe.refusal_rate;
    few_shot.unsafe_.compliance_rate = baseline.unsafe_.compliance_rate;
    let html = render(&report);
    let chart = &html[html.find("<section id=\"tradeoff\">").unwrap()..];
    let chart = &chart[..chart.find("</section>").unwrap()];
    assert_eq!(count(chart, "class=\"point\""), 5);
    let marks: Vec<&str> = chart
        .split("<g class=\"point-mark\">")
        .skip(1)
        .filter(|m| m.contains("data-group=\"t2\""))
        .map(|m| &m[..m.find("</g>").unwrap()])
        .collect();
    assert_eq!(marks.len(), 2);
    let at = |m: &str, name: &str| -> String {
        let v = &m[m.find(&format!(" {name}=\"")).unwrap() + name.len() + 3..];
        v[..v.find('"').unwrap()].to_string()
    };
    for m in &marks {
        assert_eq!(at(m, "data-coincident"), "2", "{m}");
        // t2 baseline: complies with every unsafe prompt, refuses no safe one.
        assert_eq!(
            (at(m, "data-x"), at(m, "data-y")),
            ("1.0000".into(), "0.0000".into())
        );
        assert!(m.contains(": x 100.0% ("), "{m}");
    }
    // Two marks (t2's are squares) at two places.
    assert_ne!(
        (at(marks[0], "x"), at(marks[0], "y")),
        (at(marks[1], "x"), at(marks[1], "y"))
    );
    assert!(marks[0].contains("at the place of t2 · few-shot, drawn beside it"));
    assert!(marks[1].contains("at the place of t2 · baseline, drawn beside it"));
    assert_eq!(count(chart, "class=\"coincident-label\""), 1);
    assert!(chart.contains(
        "<title>Same place: t2 · baseline, t2 · few-shot</title>t2 · baseline, t2 · few-shot</text>"
    ));
    assert!(chart.contains("2 points share a place"));
    // Two runs of the same results: every point has a twin.
    let html = render(&html_support::two_runs());
    assert_eq!(count(&html, "data-coincident=\"2\""), 10);
    assert_eq!(count(&html, "class=\"coincident-label\""), 5);
    assert!(html.contains(">r1 · t1 · baseline, r2 · t1 · baseline</text>"));
}
