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
    let html = render(&big_report(n));
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

#[test]
fn the_page_says_how_many_answers_humans_labelled() {
    let html = render(&report());
    assert_eq!(count(&html, "<p class=\"human-labels\">Human labels: "), 1);
    // Above the summary table, not inside its head (a browser moves it).
    let line = html.find("<p class=\"human-labels\">").unwrap();
    let table = html.find("<table class=\"summary\">").unwrap();
    assert!(line < table && !html[line..table].contains("<tr>"));
}
