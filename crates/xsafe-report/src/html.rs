//! The HTML report: one self-contained page that makes no network request.
//!
//! The page has a run summary table (each strategy against baseline on
//! safe prompts, its gain: reduction and McNemar's test; and on unsafe
//! prompts, its cost: McNemar's test; `undefined` and `no pairs` where the
//! terminal says so, with why in the tooltip) followed by what it says in
//! words ([`Report::findings`]), refusal (safe prompts) and compliance
//! (unsafe prompts) per type as bars with Wilson intervals, one chart per
//! run x target; the trade-off chart (safe-prompt refusal against
//! unsafe-prompt compliance, one point per strategy per target; points at
//! one place are drawn side by side around it and named together);
//! cumulative compliance by turn when a strategy is interactive; and the
//! transcripts, collapsed, with filters on run, target, strategy, type,
//! label and verdict plus a text search. At most [`TRANSCRIPT_ROWS`]
//! transcripts are listed (the ones that go against their prompt's label
//! first; the page says how many it leaves out), and what a strategy sends
//! before the prompt (system text, exemplars), the same for many cases, is
//! written once above the list, each row pointing to it. Charts are SVG
//! drawn here (the `svg` module); styles and the filter script are inline, and a
//! Content-Security-Policy forbids the page any request, so a prompt or an
//! answer that holds markup can neither run nor fetch anything (all text
//! from runs is escaped besides). Printed, the tables fit the page and
//! headings stay with what follows them (`@media print`).
//!
//! Filters work on `data-*` attributes of each transcript
//! (`data-run`, `data-target`, `data-strategy`, `data-type`, `data-label`,
//! `data-verdict`, and `data-suite` when a run has several suites), so they
//! stay a few lines of script and are easy to test.
//!
//! A run of several suites has, beside its pooled figures, each suite's:
//! summary rows (a `suite` column: `all (pooled)`, then each suite), per
//! suite bars and per suite types in the charts by type, and a suite
//! filter on the transcripts.

mod svg;

use crate::{Group, McNemarTest, Rate, Report, ResultRow, Stats, VerdictInfo};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use svg::{Bar, BarGroup, Frame, LinePoint, Point, Series, escape, pct};
use xsafe_core::Label;

const CSS: &str = include_str!("html/page.css");
const JS: &str = include_str!("html/page.js");

/// Transcript prompts are cut to this many characters in a collapsed row.
const PROMPT_PREVIEW: usize = 180;

/// Renders the report as one self-contained HTML page, listing at most
/// [`TRANSCRIPT_ROWS`] transcripts: those of [`listed`], whose messages
/// the report must hold ([`Report::fill_messages`]).
pub fn render(report: &Report) -> String {
    render_rows(report, TRANSCRIPT_ROWS)
}

/// The rows of `report.results` (their indices, in order) that
/// [`render`] lists, the only ones whose messages it shows.
pub fn listed(report: &Report) -> Vec<usize> {
    chosen(&report.results, TRANSCRIPT_ROWS)
}

/// Renders the report as one self-contained HTML page, listing at most
/// `rows` transcripts; its tables and charts count every result. The
/// listed rows (all of them up to `rows`) need their messages.
pub fn render_rows(report: &Report, rows: usize) -> String {
    let mut out = String::with_capacity(16_384 + report.results.len().min(rows) * 1_024);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; \
         base-uri 'none'; form-action 'none'\">\n",
    );
    // Errors of the page's script are kept where a test (or a curious
    // reader with the console open) can find them.
    out.push_str(
        "<script>window.xsafeErrors=[];window.addEventListener('error',function(e){\
         window.xsafeErrors.push(String(e.message));});</script>\n",
    );
    let _ = writeln!(out, "<title>{}</title>", escape(&page_title(report)));
    let _ = write!(out, "<style>\n{CSS}</style>\n</head>\n<body>\n");
    header(&mut out, report);
    let multi_run = report.runs.len() > 1;
    summary(&mut out, report, multi_run);
    per_type(&mut out, report);
    tradeoff(&mut out, report, multi_run);
    turns(&mut out, report, multi_run);
    transcripts(&mut out, report, rows);
    let mut case_notes = if report.by_case() {
        format!(" {}", escape(crate::render::BY_CASE))
    } else {
        String::new()
    };
    if let Some(marks) = crate::render::mcnemar_marks_note(report) {
        case_notes.push(' ');
        case_notes.push_str(&escape(&marks));
    }
    // Reduction and McNemar's test are explained only where some strategy
    // has them: else the warnings say why none has.
    let compared = if crate::render::compares(report) {
        format!(
            " (bootstrap 95%, {} resamples, for reductions). {}",
            report.bootstrap.resamples,
            escape(&crate::render::mcnemar_note(report))
        )
    } else {
        ".".to_string()
    };
    let _ = writeln!(
        out,
        "<footer><p>Written by xsafe {}. Rates are over scored answers; \
         intervals are Wilson 95%{compared}{case_notes}</p></footer>",
        escape(&report.tool_version),
    );
    let _ = write!(out, "<script>\n{JS}</script>\n</body>\n</html>\n");
    out
}

fn page_title(report: &Report) -> String {
    let names: Vec<&str> = report.runs.iter().map(|r| r.name.as_str()).collect();
    if names.is_empty() {
        "xsafe report".to_string()
    } else {
        format!("xsafe report: {}", names.join(", "))
    }
}

fn header(out: &mut String, report: &Report) {
    let _ = write!(
        out,
        "<header><h1>{}</h1>\n<nav><a href=\"#summary\">Summary</a> \
         <a href=\"#types\">By type</a> <a href=\"#tradeoff\">Trade-off</a>",
        escape(&page_title(report))
    );
    if report.groups.iter().any(|g| g.turns.is_some()) {
        out.push_str(" <a href=\"#turns\">By turn</a>");
    }
    out.push_str(" <a href=\"#transcripts\">Transcripts</a></nav></header>\n<main>\n");
    out.push_str("<section id=\"runs\"><h2>Runs</h2><div class=\"table-wrap\"><table class=\"runs\"><thead><tr><th>run</th><th>created</th><th>status</th><th>suites</th><th>targets</th><th>strategies</th><th>judge</th><th class=\"num\">results</th><th class=\"num\">errors</th></tr></thead><tbody>\n");
    for r in &report.runs {
        let suites: Vec<String> = r
            .suites
            .iter()
            .map(|s| {
                format!(
                    "<span title=\"{}\">{}</span>",
                    escape(&s.fingerprint),
                    escape(&s.name)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&r.name),
            escape(&r.created_at),
            escape(&crate::render::run_status(r)),
            suites.join(", "),
            escape(&r.targets.join(", ")),
            escape(&r.strategies.join(", ")),
            escape(&r.judge),
            r.results - r.failed,
            r.failed
        );
    }
    out.push_str("</tbody></table></div>\n");
    if let Some(j) = &report.judge {
        let _ = writeln!(
            out,
            "<p>Verdicts of the judge <code>{}</code>.</p>",
            escape(j)
        );
    }
    if let Some(a) = &report.judge_accuracy {
        let _ = writeln!(
            out,
            "<p>Corrected rates use the judge <code>{}</code>'s sensitivity {} and specificity {} \
             for refusal (from <code>{}</code>: {} human refusals, {} human compliances).</p>",
            escape(&a.judge),
            a.sensitivity.map_or("n/a".into(), pct),
            a.specificity.map_or("n/a".into(), pct),
            escape(&a.source),
            a.human_refusals,
            a.human_compliances
        );
    }
    if !report.warnings.is_empty() {
        out.push_str("<ul class=\"warnings\">");
        for w in &report.warnings {
            let _ = write!(out, "<li>{}</li>", inline_code(w));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

/// Text that writes names and commands as Markdown code spans (`` `custom3`
/// ``), as the report's warnings do, as HTML: escaped, each span in
/// `<code>`. A backtick without its pair stays as it is.
fn inline_code(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    // Backticks that open or close a span: all of them but an odd last.
    let paired = (parts.len() - 1) / 2 * 2;
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in parts.iter().enumerate() {
        if i > paired {
            out.push('`');
        }
        if i % 2 == 1 && i < paired {
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

/// `12.5% [5.0–20.1]` with `k/n` in the tooltip.
fn rate_cell(rate: Option<&Rate>) -> String {
    match rate {
        Some(r) => format!(
            "<td class=\"num\" title=\"{} of {}\">{} <span class=\"ci\">[{:.1}–{:.1}]</span></td>",
            r.k,
            r.n,
            pct(r.rate),
            r.low * 100.0,
            r.high * 100.0
        ),
        None => "<td class=\"num na\">–</td>".to_string(),
    }
}

fn group_name(g: &Group, multi_run: bool) -> String {
    if multi_run {
        format!("{} · {}", g.run, g.target)
    } else {
        g.target.clone()
    }
}

fn summary(out: &mut String, report: &Report, multi_run: bool) {
    let corrected = report.judge_accuracy.is_some();
    out.push_str(
        "<section id=\"summary\"><h2>Summary</h2>\n<p class=\"lede\">Refusal on safe prompts \
         should be low; compliance on unsafe prompts should be low too. ",
    );
    if crate::render::compares(report) {
        // Cases, in a cell of the exact test on the cases (its mark says
        // so; the footer explains the marks).
        let counts = if crate::render::mcnemar_tests(report).contains(&McNemarTest::ExactCases) {
            "answers (cases, in a cell marked [cases])"
        } else {
            "answers"
        };
        let _ = writeln!(
            out,
            "Against baseline on the same cases: reduction is the drop in safe-prompt refusal; \
             McNemar b/c counts {counts} refused under baseline only (b) and under the strategy \
             only (c), with the test's p. On safe prompts a b above c is what a strategy gains; \
             on unsafe prompts it is what the strategy costs (unsafe prompts it no longer \
             refuses).</p>",
        );
    } else if report.groups.iter().any(|g| g.strategy != crate::BASELINE) {
        out.push_str(
            "No strategy is compared with baseline: no run here has <code>baseline</code> \
             answers to compare it with (see the warnings above), so there is no reduction or \
             McNemar test.</p>\n",
        );
    } else {
        out.push_str("</p>\n");
    }
    if let Some(line) = crate::render::human_labels_line(report) {
        let _ = write!(out, "<p class=\"human-labels\">{}</p>", escape(&line));
    }
    // A run of several suites: its rows pooled, then each suite's.
    let split = report.groups.iter().any(|g| !g.suites.is_empty());
    let turns = report
        .groups
        .iter()
        .any(|g| !g.suites.is_empty() && g.turns.is_some());
    let also = if turns {
        " The trade-off chart and compliance by turn pool the suites."
    } else {
        " The trade-off chart pools the suites."
    };
    if let Some(note) = crate::render::suites_note(report, also) {
        let _ = write!(out, "<p class=\"suites\">{}</p>", inline_code(&note));
    }
    out.push_str("<div class=\"table-wrap\"><table class=\"summary\"><thead><tr>");
    if multi_run {
        out.push_str("<th rowspan=\"2\">run</th>");
    }
    let corrected_th = if corrected {
        "<th class=\"num\">corrected</th>"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "<th rowspan=\"2\">target</th><th rowspan=\"2\">strategy</th>{}\
         <th colspan=\"{}\" class=\"grp\">safe prompts</th>\
         <th colspan=\"2\" class=\"grp vs\">vs baseline (safe)</th>\
         <th colspan=\"{}\" class=\"grp\">unsafe prompts</th>\
         <th class=\"grp vs\">vs baseline (unsafe)</th>\
         <th rowspan=\"2\" class=\"num\">unscored/ errors</th></tr><tr>\
         <th class=\"num\">scored</th><th class=\"num\">refusal</th><th class=\"num\">full</th><th class=\"num\">partial</th>{corrected_th}\
         <th class=\"num vs\">reduction</th><th class=\"num\">McNemar b/c</th>\
         <th class=\"num\">scored</th><th class=\"num\">compliance</th><th class=\"num\">incl. partial</th>{corrected_th}\
         <th class=\"num vs\">McNemar b/c</th></tr></thead><tbody>",
        if split {
            "<th rowspan=\"2\">suite</th>"
        } else {
            ""
        },
        if corrected { 5 } else { 4 },
        if corrected { 4 } else { 3 },
    );
    let lines = run_targets(report).into_iter().flat_map(|(run, target)| {
        let groups: Vec<&Group> = report
            .groups
            .iter()
            .filter(|g| g.run == run && g.target == target)
            .collect();
        crate::render::lines(&groups)
    });
    for line in lines {
        let (g, safe, unsafe_) = (line.group, line.safe, line.unsafe_);
        // The suite cell: `all (pooled)` or the suite of a run of several;
        // a run of one suite names it.
        let suite = split.then(|| {
            line.suite.map_or_else(
                || {
                    let run = report.runs.iter().find(|r| r.name == g.run);
                    run.map(crate::render::suite_names).unwrap_or_default()
                },
                str::to_string,
            )
        });
        let _ = write!(
            out,
            "<tr data-run=\"{}\" data-target=\"{}\" data-strategy=\"{}\"{}>",
            escape(&g.run),
            escape(&g.target),
            escape(&g.strategy),
            suite
                .as_ref()
                .map(|s| format!(" data-suite=\"{}\"", escape(s)))
                .unwrap_or_default()
        );
        if multi_run {
            let _ = write!(out, "<td>{}</td>", escape(&g.run));
        }
        let _ = write!(
            out,
            "<td>{}</td><td>{}</td>{}<td class=\"num\">{}</td>{}{}{}",
            escape(&g.target),
            escape(&g.strategy),
            suite
                .as_ref()
                .map(|s| format!("<td>{}</td>", escape(s)))
                .unwrap_or_default(),
            safe.scored,
            rate_cell(safe.refusal_rate.as_ref()),
            rate_cell(safe.full_refusal_rate.as_ref()),
            rate_cell(safe.partial_refusal_rate.as_ref()),
        );
        if corrected {
            let _ = write!(
                out,
                "<td class=\"num\">{}</td>",
                safe.refusal_rate_corrected.map_or("–".into(), pct)
            );
        }
        match line.vs_baseline {
            Some(c) => {
                let _ = write!(
                    out,
                    "{}{}",
                    reduction_cell(&c.safe),
                    mcnemar_cell(&c.safe, "")
                );
            }
            None => {
                let cell = uncompared(g);
                let _ = write!(
                    out,
                    "<td class=\"num na vs\"{cell}<td class=\"num na\"{cell}"
                );
            }
        }
        let _ = write!(
            out,
            "<td class=\"num\">{}</td>{}{}",
            unsafe_.scored,
            rate_cell(unsafe_.compliance_rate.as_ref()),
            rate_cell(unsafe_.compliance_incl_partial_rate.as_ref()),
        );
        if corrected {
            let _ = write!(
                out,
                "<td class=\"num\">{}</td>",
                unsafe_.compliance_rate_corrected.map_or("–".into(), pct)
            );
        }
        match line.vs_baseline {
            Some(c) => out.push_str(&mcnemar_cell(&c.unsafe_, " vs")),
            None => {
                let _ = write!(out, "<td class=\"num na vs\"{}", uncompared(g));
            }
        }
        let (unscored, errors) = (
            safe.unscored + unsafe_.unscored,
            safe.errors + unsafe_.errors,
        );
        let _ = writeln!(
            out,
            "<td class=\"num\" title=\"{unscored} unscored, {errors} errors (failed requests)\">\
             {unscored}/{errors}</td></tr>"
        );
    }
    out.push_str("</tbody></table></div>\n");
    findings(out, report);
    out.push_str("</section>\n");
}

/// The findings' lines ([`crate::Finding::lines`]) after the summary
/// table, as the terminal prints them after its overview, then what they
/// rest on; nothing when there are none.
fn findings(out: &mut String, report: &Report) {
    let lines: Vec<&String> = report.findings.iter().flat_map(|f| &f.lines).collect();
    if lines.is_empty() {
        return;
    }
    out.push_str("<div class=\"findings\"><h3>Against baseline</h3><ul>");
    for line in lines {
        let _ = write!(out, "<li>{}</li>", escape(line));
    }
    let _ = writeln!(
        out,
        "</ul><p class=\"lede\">{}</p></div>",
        inline_code(crate::findings::FINDINGS_NOTE)
    );
}

/// The end of a comparison cell of `g`, which has no comparison: `–` for
/// baseline itself, `no baseline` for a strategy of a run and target
/// without baseline answers (the warnings say how to get them).
fn uncompared(g: &Group) -> String {
    if g.strategy == crate::BASELINE {
        " title=\"baseline itself\">–</td>".to_string()
    } else {
        format!(
            " title=\"no baseline answers in run {} for target {} to compare with\">{}</td>",
            escape(&g.run),
            escape(&g.target),
            crate::render::NO_BASELINE
        )
    }
}

/// The cell of the reduction in refusal against baseline: the reduction
/// with its interval, or `[no interval]` (why, in the tooltip); without a
/// reduction, the word the terminal and Markdown write, `undefined` (the
/// baseline refused none of the pairs) or `no pairs`, with why in the
/// tooltip.
fn reduction_cell(p: &crate::Paired) -> String {
    match &p.reduction {
        Some(r) => match (r.low, r.high) {
            (Some(lo), Some(hi)) => format!(
                "<td class=\"num vs\">{:.1}% <span class=\"ci\">[{lo:.1}–{hi:.1}]</span></td>",
                r.percent
            ),
            _ => format!(
                "<td class=\"num vs\">{:.1}% <span class=\"ci\" title=\"{}\">[no interval]</span></td>",
                r.percent,
                match r.no_interval {
                    Some(crate::stats::NoInterval::SameInEveryResample) =>
                        "every resample gave the same reduction, which bounds nothing",
                    Some(crate::stats::NoInterval::TooFewResamples) =>
                        "too few resamples for a 95% interval",
                    _ => "the baseline refused too few of the cases to resample",
                }
            ),
        },
        None => {
            let (word, why) = if p.pairs == 0 {
                (
                    crate::render::NO_PAIRS,
                    "no case has a scored answer under both strategies",
                )
            } else {
                (
                    crate::render::UNDEFINED,
                    "baseline refused none of the paired cases",
                )
            };
            format!(
                "<td class=\"num na vs\" title=\"{}\">{word}</td>",
                escape(p.note.as_deref().unwrap_or(why))
            )
        }
    }
}

/// McNemar's test against baseline as the terminal prints it (`8/0`, then
/// `p = 0.046` and the mark of a test other than the exact one on the
/// answers), with what b and c are and which test it was in the tooltip;
/// `no pairs` without pairs (why, in the tooltip). `class` is added to the
/// cell's classes.
fn mcnemar_cell(p: &crate::Paired, class: &str) -> String {
    let Some(m) = p.mcnemar else {
        return format!(
            "<td class=\"num na{class}\" title=\"{}\">{}</td>",
            escape(
                p.note
                    .as_deref()
                    .unwrap_or("no case has a scored answer under both strategies")
            ),
            crate::render::NO_PAIRS
        );
    };
    let test = match m.test {
        McNemarTest::ExactAnswers => "exact two-sided test",
        McNemarTest::ExactCases => {
            "exact two-sided test on the cases, each case's samples having agreed: b and c count \
             cases"
        }
        McNemarTest::Durkalski => {
            "Durkalski et al.'s clustered chi-square, each case a cluster of its answers: b and \
             c count answers"
        }
    };
    let mark = crate::render::mcnemar_mark(m.test)
        .map(|mark| format!(" {mark}"))
        .unwrap_or_default();
    format!(
        "<td class=\"num mcnemar{class}\" title=\"b = {}: refused under baseline only; c = {}: \
         refused under the strategy only; {} pairs; {test}\">{}/{} <span class=\"ci\">p {}{mark}</span></td>",
        m.b,
        m.c,
        p.pairs,
        m.b,
        m.c,
        p_value(m.p_value)
    )
}

/// `= 0.046` or `&lt; 0.001`, as the terminal writes p.
fn p_value(p: f64) -> String {
    if p < 0.001 {
        "&lt; 0.001".to_string()
    } else {
        format!("= {p:.3}")
    }
}

/// `(run, target)` pairs in report order.
fn run_targets(report: &Report) -> Vec<(&str, &str)> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for g in &report.groups {
        let key = (g.run.as_str(), g.target.as_str());
        if !seen.contains(&key) {
            seen.push(key);
        }
    }
    seen
}

fn stats_note(s: &Stats, what: &str) -> String {
    let k = if what == "refused" {
        s.refusal
    } else {
        s.compliance
    };
    let mut note = format!("{k} of {} {what}", s.scored);
    if s.unscored > 0 || s.errors > 0 {
        let _ = write!(note, "; {} unscored, {} errors", s.unscored, s.errors);
    }
    note
}

fn bar(series: &str, rate: Option<&Rate>, note: String) -> Bar {
    let (value, lo, hi) = rate.map_or((f64::NAN, f64::NAN, f64::NAN), |r| (r.rate, r.low, r.high));
    Bar {
        series: series.to_string(),
        value,
        lo,
        hi,
        note,
    }
}

/// Picks the safe or unsafe figures of a group.
type StatOf = fn(&Group) -> &Stats;
/// Picks the rate a chart shows.
type RateOf = fn(&Stats) -> Option<&Rate>;

/// Strategies in report order: each has one colour on the whole page.
fn strategies(report: &Report) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for g in &report.groups {
        if !out.contains(&g.strategy) {
            out.push(g.strategy.clone());
        }
    }
    out
}

fn per_type(out: &mut String, report: &Report) {
    out.push_str("<section id=\"types\"><h2>By prompt type</h2>\n");
    let strategies = strategies(report);
    if report.groups.is_empty() {
        out.push_str("<p>No results.</p>");
    }
    let multi_run = report.runs.len() > 1;
    for (run, target) in run_targets(report) {
        let groups: Vec<&Group> = report
            .groups
            .iter()
            .filter(|g| g.run == run && g.target == target)
            .collect();
        let heading = if multi_run {
            format!("{run} · {target}")
        } else {
            target.to_string()
        };
        // Every type of these groups, in the by-type tables' order.
        let suites = crate::render::suite_order(&groups);
        let types = crate::render::type_keys(&groups);
        let _ = writeln!(
            out,
            "<div class=\"chart-block\" data-run=\"{}\" data-target=\"{}\"><h3>{}</h3>",
            escape(run),
            escape(target),
            escape(&heading)
        );
        for label in [Label::Safe, Label::Unsafe] {
            let (all, stat, rate_of, what): (&str, StatOf, RateOf, &str) = match label {
                Label::Safe => (
                    "all safe prompts",
                    |g| &g.safe,
                    |s| s.refusal_rate.as_ref(),
                    "refused",
                ),
                Label::Unsafe => (
                    "all unsafe prompts",
                    |g| &g.unsafe_,
                    |s| s.compliance_rate.as_ref(),
                    "complied",
                ),
            };
            if groups.iter().all(|g| stat(g).results == 0) {
                continue;
            }
            // Types by suite in a run of several suites (`None` else), in
            // the by-type tables' order.
            let kinds: Vec<(Option<&str>, &str)> = types
                .iter()
                .filter(|t| t.2 == label)
                .map(|t| (t.4, t.3))
                .collect();
            let pooled = if suites.is_empty() {
                all.to_string()
            } else {
                format!("{all} (pooled)")
            };
            let mut bar_groups = vec![BarGroup {
                label: pooled,
                bars: groups
                    .iter()
                    .map(|g| bar(&g.strategy, rate_of(stat(g)), stats_note(stat(g), what)))
                    .collect(),
            }];
            // Each suite's own figures, then its types.
            for suite in suites.iter().map(|s| Some(*s)).chain([None]) {
                if let Some(name) = suite {
                    bar_groups.push(BarGroup {
                        label: format!("{name}: {all}"),
                        bars: groups
                            .iter()
                            .map(|g| match g.suites.iter().find(|s| s.suite == name) {
                                Some(s) => {
                                    let stats = if label == Label::Safe {
                                        &s.safe
                                    } else {
                                        &s.unsafe_
                                    };
                                    bar(&g.strategy, rate_of(stats), stats_note(stats, what))
                                }
                                None => bar(&g.strategy, None, "no prompts of this suite".into()),
                            })
                            .collect(),
                    });
                }
                for &(_, kind) in kinds.iter().filter(|k| k.0 == suite) {
                    bar_groups.push(BarGroup {
                        label: suite.map_or_else(|| kind.to_string(), |s| format!("{s} · {kind}")),
                        bars: groups
                            .iter()
                            .map(|g| {
                                let of_kind = |t: &&crate::TypeStats| {
                                    t.label == label
                                        && t.kind == kind
                                        && t.suite.as_deref() == suite
                                };
                                match g.types.iter().find(of_kind) {
                                    Some(t) => bar(
                                        &g.strategy,
                                        rate_of(&t.stats),
                                        stats_note(&t.stats, what),
                                    ),
                                    None => {
                                        bar(&g.strategy, None, "no prompts of this type".into())
                                    }
                                }
                            })
                            .collect(),
                    });
                }
            }
            let (title, axis) = match label {
                Label::Safe => (
                    format!("Refusal on safe prompts by type: {heading}"),
                    "refusal rate (full or partial), safe prompts",
                ),
                Label::Unsafe => (
                    format!("Compliance on unsafe prompts by type: {heading}"),
                    "full compliance rate, unsafe prompts",
                ),
            };
            let description = format!(
                "{title}. Horizontal bars, one per strategy for each prompt type, with 95% intervals."
            );
            let _ = writeln!(
                out,
                "<figure class=\"chart-fig\" data-label=\"{}\">{}<figcaption>{}</figcaption></figure>",
                label.as_str(),
                svg::bars_with_intervals(
                    &Frame {
                        title: &title,
                        description: &description,
                        palette: &strategies,
                    },
                    axis,
                    &bar_groups
                ),
                escape(&title)
            );
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
}

fn tradeoff(out: &mut String, report: &Report, multi_run: bool) {
    out.push_str("<section id=\"tradeoff\"><h2>Trade-off</h2>\n");
    let points: Vec<Point> = report
        .groups
        .iter()
        .map(|g| {
            let (x, x_lo, x_hi) = g
                .unsafe_
                .compliance_rate
                .map_or((f64::NAN, f64::NAN, f64::NAN), |r| (r.rate, r.low, r.high));
            let (y, y_lo, y_hi) = g
                .safe
                .refusal_rate
                .map_or((f64::NAN, f64::NAN, f64::NAN), |r| (r.rate, r.low, r.high));
            Point {
                series: g.strategy.clone(),
                group: group_name(g, multi_run),
                x,
                x_lo,
                x_hi,
                y,
                y_lo,
                y_hi,
            }
        })
        .collect();
    if points.iter().any(|p| p.x.is_finite() && p.y.is_finite()) {
        let title = "Safe-prompt refusal against unsafe-prompt compliance";
        let description = "Scatter plot, one point per strategy per target: x is the full compliance rate on unsafe prompts, y the refusal rate on safe prompts, with 95% intervals; colour is the strategy, shape the target.";
        let _ = writeln!(
            out,
            "<figure class=\"chart-fig\">{}<figcaption>{}. Colour: strategy; shape: target. Lower left is better.</figcaption></figure>",
            svg::scatter(
                &Frame {
                    title,
                    description,
                    palette: &strategies(report),
                },
                "full compliance on unsafe prompts",
                "refusal on safe prompts",
                &points
            ),
            escape(title)
        );
    } else {
        out.push_str("<p class=\"empty\">A trade-off needs both safe and unsafe prompts with scored answers; these runs lack one of them.</p>\n");
    }
    out.push_str("</section>\n");
}

fn turns(out: &mut String, report: &Report, multi_run: bool) {
    let interactive: Vec<&Group> = report.groups.iter().filter(|g| g.turns.is_some()).collect();
    if interactive.is_empty() {
        return;
    }
    // Colours are the strategies', as in every other chart of the page.
    let palette = strategies(report);
    out.push_str("<section id=\"turns\"><h2>Compliance by turn</h2>\n<p class=\"lede\">Interactive strategies: the share of scored answers that had complied by each turn (the first reply is turn 1), with 95% intervals.</p>\n");
    for note in crate::render::unscored_turns(report) {
        let _ = writeln!(out, "<p class=\"empty\">{}</p>", inline_code(&note));
    }
    // Under another judge than a run's own, whose judge placed the turns:
    // one note per run and target that says so, each said once.
    let mut said: Vec<String> = Vec::new();
    for (run, target) in run_targets(report) {
        let groups: Vec<&Group> = interactive
            .iter()
            .copied()
            .filter(|g| g.run == run && g.target == target)
            .collect();
        if let Some(note) = crate::render::turns_note(&groups).filter(|n| !said.contains(n)) {
            let _ = writeln!(
                out,
                "<p class=\"lede turn-judge\">{}</p>",
                inline_code(&note)
            );
            said.push(note);
        }
    }
    // Lines of several targets (or runs) differ by marker and dash.
    let mut drawn: Vec<String> = interactive
        .iter()
        .map(|g| group_name(g, multi_run))
        .collect();
    drawn.sort();
    drawn.dedup();
    let shapes = match (drawn.len() > 1, multi_run) {
        (false, _) => None,
        (true, false) => Some("target"),
        (true, true) => Some("run and target"),
    };
    for label in [Label::Safe, Label::Unsafe] {
        let series: Vec<Series> = interactive
            .iter()
            .filter_map(|g| {
                let curve = g.turns.as_ref()?;
                let points = match label {
                    Label::Safe => &curve.safe,
                    Label::Unsafe => &curve.unsafe_,
                };
                // A strategy without a scored answer has no line; the
                // section says why ([`crate::render::unscored_turns`]).
                points.iter().any(|p| p.n > 0).then(|| Series {
                    series: g.strategy.clone(),
                    group: group_name(g, multi_run),
                    points: points
                        .iter()
                        .map(|p| {
                            let (y, lo, hi) = p.rate.map_or((f64::NAN, f64::NAN, f64::NAN), |r| {
                                (r.rate, r.low, r.high)
                            });
                            LinePoint {
                                x: p.turn,
                                y,
                                lo,
                                hi,
                                note: format!("{} of {} complied", p.complied, p.n),
                            }
                        })
                        .collect(),
                })
            })
            .collect();
        if series.is_empty() {
            continue;
        }
        let title = format!("Cumulative compliance by turn, {} prompts", label.as_str());
        let description = format!(
            "{title}. Line chart, one line per target and interactive strategy; x is the turn, y \
             the share complied by then, with 95% intervals; colour is the strategy{}.",
            shapes.map_or(String::new(), |s| format!(", marker and dash the {s}"))
        );
        let _ = writeln!(
            out,
            "<figure class=\"chart-fig\" data-label=\"{}\">{}<figcaption>{}.{}</figcaption></figure>",
            label.as_str(),
            svg::lines(
                &Frame {
                    title: &title,
                    description: &description,
                    palette: &palette,
                },
                "turn",
                "complied by this turn",
                &series
            ),
            escape(&title),
            shapes.map_or(String::new(), |s| format!(
                " Colour: strategy; marker and dash: {s}."
            ))
        );
    }
    out.push_str("</section>\n");
}

/// Distinct values in first-seen order (sorted for types).
fn distinct<'a>(
    rows: impl IntoIterator<Item = &'a ResultRow>,
    f: impl Fn(&'a ResultRow) -> &'a str,
) -> Vec<&'a str> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for r in rows {
        let v = f(r);
        if seen.insert(v) {
            out.push(v);
        }
    }
    out
}

fn select(out: &mut String, key: &str, label: &str, values: &[&str]) {
    let _ = write!(
        out,
        "<label>{label} <select data-filter=\"{key}\" id=\"filter-{key}\"><option value=\"\">all</option>"
    );
    for v in values {
        let _ = write!(
            out,
            "<option value=\"{}\">{}</option>",
            escape(v),
            escape(v)
        );
    }
    out.push_str("</select></label>\n");
}

fn outcome_text(outcome: &str) -> &str {
    match outcome {
        "compliance" => "compliance",
        "full_refusal" => "full refusal",
        "partial_refusal" => "partial refusal",
        "unscored" => "unscored",
        "error" => "error",
        other => other,
    }
}

fn preview(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > PROMPT_PREVIEW {
        let mut s: String = one_line.chars().take(PROMPT_PREVIEW - 1).collect();
        s.push('…');
        s
    } else {
        one_line
    }
}

/// How many transcripts the page lists at most ([`render`]); a run of more
/// results lists the ones a reader needs first (answers against the
/// prompt's label, then unscored answers, failed requests and the rest,
/// in turn from each strategy), and the page says how many it leaves out
/// and that `xsafe export RUN` has them all.
pub const TRANSCRIPT_ROWS: usize = 2_000;

/// Which transcripts a row of the page gets, by their index in `rows`, in
/// the report's order: all of them up to `cap`; past it, first the answers
/// that go against the prompt's label (safe prompts refused, unsafe prompts
/// complied with), then unscored answers, then failed requests, then the
/// rest; within each of these, taken in turn from every run x target x
/// strategy so that none fills the page alone.
fn chosen(rows: &[ResultRow], cap: usize) -> Vec<usize> {
    if rows.len() <= cap {
        return (0..rows.len()).collect();
    }
    let tier = |r: &ResultRow| -> u8 {
        match (r.label, r.outcome.as_str()) {
            (Label::Safe, "full_refusal" | "partial_refusal") | (Label::Unsafe, "compliance") => 0,
            (_, "unscored") => 1,
            (_, "error") => 2,
            _ => 3,
        }
    };
    let mut taken: HashMap<(u8, &str, &str, &str), usize> = HashMap::new();
    let mut keyed: Vec<(u8, usize, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let t = tier(r);
            let n = taken
                .entry((t, &r.run, &r.target, &r.strategy))
                .or_default();
            *n += 1;
            (t, *n, i)
        })
        .collect();
    keyed.sort_unstable();
    let mut picked: Vec<usize> = keyed[..cap].iter().map(|k| k.2).collect();
    picked.sort_unstable();
    picked
}

/// The messages a strategy sent before the case's prompt (system text,
/// few-shot exemplars): the opening without its last message.
fn opening_of(r: &ResultRow) -> &[xsafe_core::Message] {
    let end = r.opening.map_or(0, |o| o.saturating_sub(1) as usize);
    &r.messages[..end.min(r.messages.len())]
}

/// What tells two openings apart.
type OpeningKey<'a> = (
    &'a str,
    Vec<(&'a str, &'a str, Option<&'a str>, Option<&'a str>)>,
);

fn opening_key(r: &ResultRow) -> Option<OpeningKey<'_>> {
    let messages = opening_of(r);
    if messages.is_empty() {
        return None;
    }
    Some((
        &r.strategy,
        messages
            .iter()
            .map(|m| {
                (
                    m.role.as_str(),
                    m.content.as_str(),
                    m.reasoning.as_deref(),
                    m.refusal.as_deref(),
                )
            })
            .collect(),
    ))
}

/// Openings the page writes once, above the list, rather than in every
/// row: those a strategy sent before more than one listed prompt
/// (compared message by message, so a row whose opening differs keeps its
/// own), in the order the listed rows first use them, with how many
/// listed rows use each. Values: the opening's number, its first row, its
/// rows. Only the listed rows are read: the others need not hold their
/// messages.
fn shared_openings<'a>(
    rows: &'a [ResultRow],
    picked: &[usize],
) -> (HashMap<OpeningKey<'a>, usize>, Vec<(usize, usize)>) {
    let mut uses: HashMap<OpeningKey<'a>, usize> = HashMap::new();
    for &i in picked {
        if let Some(key) = opening_key(&rows[i]) {
            *uses.entry(key).or_default() += 1;
        }
    }
    let mut numbers: HashMap<OpeningKey<'a>, usize> = HashMap::new();
    let mut listed: Vec<(usize, usize)> = Vec::new();
    for &i in picked {
        let Some(key) = opening_key(&rows[i]) else {
            continue;
        };
        if uses[&key] < 2 {
            continue;
        }
        let n = *numbers.entry(key).or_insert_with(|| {
            listed.push((i, 0));
            listed.len()
        });
        listed[n - 1].1 += 1;
    }
    (numbers, listed)
}

fn transcripts(out: &mut String, report: &Report, cap: usize) {
    let all = &report.results;
    let picked = chosen(all, cap);
    let listed: Vec<&ResultRow> = picked.iter().map(|&i| &all[i]).collect();
    out.push_str("<section id=\"transcripts\"><h2>Transcripts</h2>\n");
    if listed.len() < all.len() {
        let runs = distinct(all, |r| &r.run);
        let export = match runs.as_slice() {
            [one] => format!(
                "<code>xsafe export {}</code>",
                escape(&xsafe_judge::shell_word(one))
            ),
            _ => "<code>xsafe export RUN</code> (for each run)".to_string(),
        };
        let _ = writeln!(
            out,
            "<p class=\"capped\" id=\"rows-capped\">This page lists {} of the {} transcripts \
             (at most {cap}): first the answers that go against the prompt's label (safe prompts \
             refused, unsafe prompts complied with), then unscored answers, failed requests and \
             the rest, from every strategy in turn. The tables and charts above count all {}. \
             {export} writes every transcript.</p>",
            listed.len(),
            all.len(),
            all.len(),
        );
    }
    out.push_str("<form class=\"filters\" id=\"filters\" onsubmit=\"return false\">\n");
    let runs = distinct(listed.iter().copied(), |r| &r.run);
    if runs.len() > 1 {
        select(out, "run", "run", &runs);
    }
    let targets = distinct(listed.iter().copied(), |r| &r.target);
    if targets.len() > 1 {
        select(out, "target", "target", &targets);
    }
    // A run of several suites: a type is of its suite, and rows name it.
    let by_suite = report.groups.iter().any(|g| !g.suites.is_empty());
    if by_suite {
        select(
            out,
            "suite",
            "suite",
            &distinct(listed.iter().copied(), |r| &r.suite),
        );
    }
    select(
        out,
        "strategy",
        "strategy",
        &distinct(listed.iter().copied(), |r| &r.strategy),
    );
    let mut types = distinct(listed.iter().copied(), |r| &r.kind);
    types.sort_unstable();
    select(out, "type", "type", &types);
    select(
        out,
        "label",
        "label",
        &distinct(listed.iter().copied(), |r| r.label.as_str()),
    );
    let mut verdicts = distinct(listed.iter().copied(), |r| &r.outcome);
    let order = [
        "compliance",
        "full_refusal",
        "partial_refusal",
        "unscored",
        "error",
    ];
    verdicts.sort_by_key(|v| order.iter().position(|o| o == v).unwrap_or(order.len()));
    select(out, "verdict", "verdict", &verdicts);
    let of_all = if listed.len() < all.len() {
        format!(" (of {} results)", all.len())
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "<label class=\"search\">text <input type=\"search\" id=\"filter-text\" placeholder=\"search prompts and answers\" autocomplete=\"off\"></label>\n\
         <button type=\"button\" id=\"filter-reset\">reset</button>\n\
         <span class=\"count\"><span id=\"shown-count\">{n}</span> of {n} shown{of_all}</span>\n</form>\n\
         <noscript><p>Filters need JavaScript; every transcript {this} is listed below.</p></noscript>\n\
         <p id=\"no-match\" class=\"empty\" hidden>No transcript matches these filters.</p>\n",
        n = listed.len(),
        this = if of_all.is_empty() {
            ""
        } else {
            "this page lists"
        },
    );
    let (numbers, openings) = shared_openings(all, &picked);
    if !openings.is_empty() {
        let _ = writeln!(
            out,
            "<details class=\"openings\" id=\"openings\"><summary>What the strategies send before the prompt \
             (system text, exemplars): {} opening{}, written once here rather than in every transcript</summary>",
            openings.len(),
            if openings.len() == 1 { "" } else { "s" }
        );
        for (n, &(first, uses)) in openings.iter().enumerate() {
            let r = &all[first];
            let _ = write!(
                out,
                "<div class=\"opening\" id=\"opening-{}\" data-strategy=\"{}\"><h3>{} <span class=\"meta\">\
                 opening {}: {} messages, before the prompt of {uses} listed transcripts</span></h3><ol class=\"messages\">",
                n + 1,
                escape(&r.strategy),
                escape(&r.strategy),
                n + 1,
                opening_of(r).len(),
            );
            for m in opening_of(r) {
                message(out, m, m.role != xsafe_core::Role::System);
            }
            out.push_str("</ol></div>\n");
        }
        out.push_str("</details>\n");
    }
    out.push_str("<div id=\"transcript-list\">\n");
    // Whether the page covers several runs, not only the listed rows: a
    // capped list may hold one run's rows alone, which must still say so.
    let multi_run = report.runs.len() > 1;
    // Answers per case (`--samples`: the highest sample stored, counted
    // from 1), to say which of them a row is.
    let mut samples: HashMap<(&str, &str, &str, &str, &str), u32> = HashMap::new();
    for r in all {
        let n = samples
            .entry((&r.run, &r.target, &r.strategy, &r.suite, &r.case_id))
            .or_default();
        *n = (*n).max(r.sample + 1);
    }
    for r in listed {
        let of = samples[&(
            r.run.as_str(),
            r.target.as_str(),
            r.strategy.as_str(),
            r.suite.as_str(),
            r.case_id.as_str(),
        )];
        let shared = opening_key(r).and_then(|k| numbers.get(&k).copied());
        transcript(out, r, multi_run, of, shared, by_suite);
    }
    out.push_str("</div></section>\n</main>\n");
}

/// The case as `xsafe runs show` and the annotation page write it: its id,
/// then `#N` for sample N (from 0, as stored) when it is not the first.
fn case_label(r: &ResultRow) -> String {
    if r.sample > 0 {
        format!("{}#{}", r.case_id, r.sample)
    } else {
        r.case_id.clone()
    }
}

/// A verdict as the transcript shows it: the class, then where it came
/// from. A judge's verdict of a class has its confidence; a human label has
/// none (it is no estimate), nor has an unscored answer (the reason says
/// why). Beside a human label, or the lack of one, stands the judge's
/// verdict of the same answer when there is one.
fn verdict_text(v: &VerdictInfo, judge: Option<&VerdictInfo>) -> String {
    let scored = |v: &VerdictInfo| v.label != "unscored";
    let mut text = escape(outcome_text(&v.label));
    if v.judge == "human" {
        if scored(v) {
            text.push_str(" · human label");
        }
    } else if scored(v) {
        let _ = write!(
            text,
            " · confidence {:.2} · {}",
            v.confidence,
            escape(&v.judge)
        );
    } else {
        let _ = write!(text, " · {}", escape(&v.judge));
    }
    if let Some(reason) = &v.reason {
        let _ = write!(text, " · {}", inline_code(reason));
    }
    if let Some(j) = judge {
        let _ = write!(
            text,
            " <span class=\"judge-verdict\">(judge {}: {}{}{})</span>",
            escape(&j.judge),
            escape(outcome_text(&j.label)),
            j.reason
                .as_deref()
                .map(|reason| format!(" · {}", inline_code(reason)))
                .unwrap_or_default(),
            if scored(j) {
                format!(", confidence {:.2}", j.confidence)
            } else {
                String::new()
            }
        );
    }
    text
}

/// One transcript; `of` is how many answers its case has under its run,
/// target and strategy (`--samples`).
/// `shared`: the number of the opening the page lists above, when this
/// row's is one of them. `by_suite`: the page has a suite filter, which
/// reads the row's `data-suite`.
fn transcript(
    out: &mut String,
    r: &ResultRow,
    multi_run: bool,
    of: u32,
    shared: Option<usize>,
    by_suite: bool,
) {
    let sample = if of > 1 || r.sample > 0 {
        format!(" <span class=\"sample\">{}</span>", escape(&case_label(r)))
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "<details class=\"transcript\" data-id=\"{}\" data-run=\"{}\" data-target=\"{}\" data-strategy=\"{}\"{} \
         data-type=\"{}\" data-label=\"{}\" data-verdict=\"{}\"><summary>\
         <span class=\"badge v-{}\">{}</span> <span class=\"lab lab-{}\">{}</span>{sample} \
         <span class=\"meta\">{} · {} · {}{}</span> <span class=\"prompt\">{}</span></summary>\n<div class=\"body\">",
        r.id,
        escape(&r.run),
        escape(&r.target),
        escape(&r.strategy),
        if by_suite {
            format!(" data-suite=\"{}\"", escape(&r.suite))
        } else {
            String::new()
        },
        escape(&r.kind),
        r.label.as_str(),
        escape(&r.outcome),
        escape(&r.outcome),
        escape(outcome_text(&r.outcome)),
        r.label.as_str(),
        r.label.as_str(),
        escape(&r.kind),
        escape(&r.strategy),
        escape(&r.target),
        if multi_run {
            format!(" · {}", escape(&r.run))
        } else {
            String::new()
        },
        escape(&preview(&r.prompt))
    );
    let _ = write!(
        out,
        "<dl class=\"facts\"><dt>case</dt><dd>{} / {}</dd>",
        escape(&r.suite),
        escape(&case_label(r)),
    );
    if of > 1 || r.sample > 0 {
        let _ = write!(
            out,
            "<dt>sample</dt><dd>#{}: answer {} of {of} to this case</dd>",
            r.sample,
            r.sample + 1,
        );
    }
    let _ = write!(
        out,
        "<dt>target</dt><dd>{}</dd><dt>run</dt><dd>{}</dd>",
        escape(&r.target),
        escape(&r.run)
    );
    match &r.verdict {
        Some(v) => {
            let _ = write!(
                out,
                "<dt>verdict</dt><dd class=\"verdict\">{}</dd>",
                verdict_text(v, r.judge_verdict.as_ref())
            );
        }
        None => out.push_str("<dt>verdict</dt><dd class=\"verdict\">none</dd>"),
    }
    if r.turns > 1 || r.complied_at_turn.is_some() {
        let _ = write!(
            out,
            "<dt>turns</dt><dd>{}{}</dd>",
            r.turns,
            r.complied_at_turn
                .map(|t| format!(", complied at turn {t}"))
                .unwrap_or_default()
        );
    }
    if let Some(e) = &r.error {
        let _ = write!(out, "<dt>error</dt><dd class=\"error\">{}</dd>", escape(e));
    }
    out.push_str("</dl>\n<ol class=\"messages\">");
    if r.messages.is_empty() {
        let _ = write!(
            out,
            "<li class=\"msg role-user\"><span class=\"role\">prompt</span><div class=\"text\">{}</div></li>",
            escape(&r.prompt)
        );
    }
    // Few-shot exemplars: the turns the strategy placed before the prompt
    // (the opening's last message), shown as examples, not as the model's;
    // when the page lists them once above (`shared`), a line points there.
    let exemplars_end = opening_of(r).len();
    if let Some(n) = shared {
        let _ = write!(
            out,
            "<li class=\"msg shared\"><span class=\"role\">strategy</span><div class=\"text\">\
             {exemplars_end} messages {} sent before this prompt: \
             <a href=\"#opening-{n}\">opening {n}</a>, written once above the transcripts</div></li>",
            escape(&r.strategy)
        );
    } else {
        for m in opening_of(r) {
            message(out, m, m.role != xsafe_core::Role::System);
        }
    }
    for m in &r.messages[exemplars_end..] {
        message(out, m, false);
    }
    out.push_str("</ol></div></details>\n");
}

/// One message of a transcript; an exemplar is a turn the strategy wrote
/// as an example, not the model's.
fn message(out: &mut String, m: &xsafe_core::Message, exemplar: bool) {
    let role = m.role.as_str();
    let (class, label) = if exemplar {
        (" exemplar", format!("example {role}"))
    } else {
        ("", role.to_string())
    };
    let _ = write!(
        out,
        "<li class=\"msg role-{role}{class}\"><span class=\"role\">{label}</span><div class=\"text\">{}</div>",
        escape(&m.content)
    );
    if let Some(reasoning) = &m.reasoning {
        let _ = write!(
            out,
            "<details class=\"reasoning\"><summary>reasoning</summary><div class=\"text\">{}</div></details>",
            escape(reasoning)
        );
    }
    if let Some(refusal) = &m.refusal {
        let _ = write!(
            out,
            "<div class=\"text refusal\"><span class=\"role\">refusal field</span> {}</div>",
            escape(refusal)
        );
    }
    out.push_str("</li>");
}
