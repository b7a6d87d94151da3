//! Text renderers of a [`Report`]: terminal tables, CSV and Markdown.
//!
//! The terminal and Markdown renderers print the same tables: an overview
//! of every run and target when there are several, then what the tables
//! say in words ([`Report::findings`]: per target, the strategies that
//! raised unsafe compliance against baseline and the best of the others);
//! per run and target, one row per strategy with the headline figures
//! (refusal of safe prompts, then compliance with unsafe ones, each with
//! its 95% interval and the comparison with baseline); then per prompt
//! type, one column per strategy; then compliance by turn for interactive
//! strategies. A run of
//! several suites has a `suite` column in its tables: the rows that pool
//! its suites (`all (pooled)`), then each suite's, and its types are rows
//! of their suite. In the terminal, a table wider than the screen is cut
//! into several that repeat its leading columns, and the notes are
//! wrapped.
//!
//! The CSV has every figure, one row per run x target x strategy and
//! scope (its `scope` column): `overall` (one row per label), `suite` (one
//! per suite and label, in a run of several suites), `type` (one per
//! prompt type) and `turn` (compliance by turn of an interactive strategy:
//! one per label and turn); see [`render_csv`].

use crate::human::LabelSource;
use crate::stats::{McNemarTest, NoInterval};
use crate::{BASELINE, Comparison, Group, Paired, Rate, Report, RunInfo, Stats};
use std::collections::BTreeSet;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
use xsafe_core::Label;

/// The columns `text` takes in a terminal as xsafe shows it: two for each
/// East Asian wide or fullwidth character and emoji, none for combining
/// marks and other zero-width characters (a zero-width space, a joiner),
/// one for the rest ([`unicode_width`]); a control character or line
/// break counts as the escape it is shown as
/// ([`printable`](xsafe_core::printable): `\n` is two columns). Every
/// table xsafe prints pads its cells to this width, and cuts to it.
pub fn display_width(text: &str) -> usize {
    xsafe_core::printable(text).as_str().width()
}

/// The longest start of `text` at most `width` columns wide
/// ([`display_width`]), cut between characters, never inside one: the
/// combining marks after the last character kept stay with it, and a wide
/// character that would pass `width` is left out whole (the result may
/// then be a column narrower than `width`). `text` itself when it fits.
pub fn cut_to_width(text: &str, width: usize) -> &str {
    let ends: Vec<usize> = text.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
    // The number of characters kept.
    let n = longest_within(ends.len(), |n| {
        n == 0 || display_width(&text[..ends[n - 1]]) <= width
    });
    &text[..if n == 0 { 0 } else { ends[n - 1] }]
}

/// The longest end of `text` at most `width` columns wide
/// ([`display_width`]) that starts with a character of its own: cut
/// between characters as [`cut_to_width`] does, and without the combining
/// marks (or other zero-width characters) whose character was cut off.
pub(crate) fn end_to_width(text: &str, width: usize) -> &str {
    let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).rev().collect();
    let n = longest_within(starts.len(), |n| {
        n == 0 || display_width(&text[starts[n - 1]..]) <= width
    });
    let end = &text[if n == 0 { text.len() } else { starts[n - 1] }..];
    end.trim_start_matches(|c: char| c.width() == Some(0))
}

/// The largest `n` in `0..=max` for which `fits(n)` holds, given that it
/// holds for 0 and (but for rare ligatures of a few scripts, where a
/// longer piece of text can be narrower than a shorter one) for every
/// number below one it holds for: by bisection, so that cutting a long
/// text measures it a few times rather than once per character.
fn longest_within(max: usize, fits: impl Fn(usize) -> bool) -> usize {
    if fits(max) {
        return max;
    }
    // `fits(low)` holds and `fits(high)` does not.
    let (mut low, mut high) = (0, max);
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if fits(mid) {
            low = mid;
        } else {
            high = mid;
        }
    }
    low
}

/// A table: header and rows of cells.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// The width of each column in terminal columns ([`display_width`]):
    /// its widest cell, header included.
    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| display_width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(display_width(cell));
            }
        }
        widths
    }

    /// The table with its cells [`printable`](xsafe_core::printable), for
    /// the terminal: a prompt type read from a suite file can neither break
    /// a row nor drive the terminal.
    fn printable(self) -> Table {
        Table {
            header: self.header,
            rows: self
                .rows
                .iter()
                .map(|row| row.iter().map(|c| xsafe_core::printable(c)).collect())
                .collect(),
        }
    }

    fn text(&self) -> String {
        let widths = self.widths();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let last = row.len() - 1;
            for (i, cell) in row.iter().enumerate() {
                out.push_str(cell);
                if i < last {
                    out.extend(std::iter::repeat_n(
                        ' ',
                        widths[i] - display_width(cell) + 2,
                    ));
                }
            }
            out.push('\n');
        }
        out
    }

    /// The table as one or more tables of at most `width` terminal columns:
    /// the first `keep` columns are repeated in each, the others go in order
    /// to the first table that has room (at least one per table).
    fn fit(self, width: usize, keep: usize) -> Vec<Table> {
        // Each column takes its width and the two spaces after it.
        let widths: Vec<usize> = self.widths().into_iter().map(|w| w + 2).collect();
        let keep = keep.min(self.header.len());
        let kept: usize = widths[..keep].iter().sum();
        let mut parts: Vec<Vec<usize>> = Vec::new();
        let mut used = kept;
        for (i, &w) in widths.iter().enumerate().skip(keep) {
            match parts.last_mut() {
                Some(part) if used + w <= width + 2 => part.push(i),
                _ => {
                    parts.push(vec![i]);
                    used = kept;
                }
            }
            used += w;
        }
        if parts.len() <= 1 {
            return vec![self];
        }
        let pick = |row: &[String], part: &[usize]| -> Vec<String> {
            row[..keep]
                .iter()
                .chain(part.iter().map(|&i| &row[i]))
                .cloned()
                .collect()
        };
        parts
            .iter()
            .map(|part| Table {
                header: pick(&self.header, part),
                rows: self.rows.iter().map(|r| pick(r, part)).collect(),
            })
            .collect()
    }

    fn markdown(&self) -> String {
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| md(c)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        let mut out = line(&self.header);
        out.push_str(&format!(
            "|{}\n",
            self.header.iter().map(|_| "---|").collect::<String>()
        ));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// `text` as literal Markdown text, on one line, escaped no more than it
/// needs: a table's `|`, the backslash, code spans' backtick and
/// emphasis' `*` always (with a backslash, as the raw file then reads
/// best); `<` only where it would open an HTML tag, comment or autolink
/// (before a letter, `/`, `!` or `?`) and `&` only where it starts an
/// entity (`&amp;`, `&#60;`: letters or digits, or `#` and digits, then
/// `;`), so that `p < 0.001`, `a & b` and `AT&T` stay as they are. Line
/// breaks and control characters are shown as escapes
/// ([`printable`](xsafe_core::printable)), since a line break would end a
/// table row.
fn md(text: &str) -> String {
    let text = xsafe_core::printable(text);
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let rest = &text[i + c.len_utf8()..];
        let escaped = match c {
            '|' | '`' | '\\' | '*' => true,
            '<' => {
                rest.starts_with(|n: char| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?'))
            }
            '&' => {
                let name = rest.strip_prefix('#').unwrap_or(rest);
                let len = name.find(|n: char| !n.is_ascii_alphanumeric());
                len.is_some_and(|len| len > 0 && name[len..].starts_with(';'))
            }
            _ => false,
        };
        if escaped {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// `12.5% [4.1, 31.0]`, or `-` without scored answers.
pub(crate) fn rate(r: Option<Rate>) -> String {
    match r {
        Some(r) => format!(
            "{} [{:.1}, {:.1}]",
            pct(r.rate),
            r.low * 100.0,
            r.high * 100.0
        ),
        None => "-".into(),
    }
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), pct)
}

/// What a comparison cell of `g` shows without a comparison: `-` for
/// baseline itself, `no baseline` for a strategy of a run and target
/// without baseline answers (a warning under the tables says how to get
/// them).
fn uncompared(g: &Group) -> String {
    if g.strategy == BASELINE {
        "-".into()
    } else {
        NO_BASELINE.into()
    }
}

/// The cell of a strategy that has no baseline to be compared with.
pub(crate) const NO_BASELINE: &str = "no baseline";

/// A comparison cell of a strategy compared with a baseline on no case
/// (no case has a scored answer under both).
pub(crate) const NO_PAIRS: &str = "no pairs";

/// The reduction of a strategy whose baseline refused none of the pairs.
pub(crate) const UNDEFINED: &str = "undefined";

/// The reduction against baseline: `62.5% [30.0, 90.0]`, `-` for baseline
/// itself, `no baseline` without one, `undefined` when the baseline
/// refused nothing, and `[no interval]` when it refused too few to
/// resample (see the notes).
pub(crate) fn reduction(g: &Group, p: Option<&Paired>) -> String {
    let Some(p) = p else { return uncompared(g) };
    match &p.reduction {
        Some(r) => match (r.low, r.high) {
            (Some(lo), Some(hi)) => format!("{:.1}% [{lo:.1}, {hi:.1}]", r.percent),
            _ => format!("{:.1}% [no interval]", r.percent),
        },
        None if p.pairs == 0 => NO_PAIRS.into(),
        None => UNDEFINED.into(),
    }
}

/// McNemar's test against baseline: `8/0 p = 0.008`, with the mark of its
/// test after p when it is not the exact test on the answers (`[cases]`,
/// `[Durkalski]`; see [`mcnemar_marks_note`]).
fn mcnemar(g: &Group, p: Option<&Paired>) -> String {
    match (p, p.and_then(|p| p.mcnemar)) {
        (_, Some(m)) => {
            let mut cell = format!("{}/{} p {}", m.b, m.c, p_value(m.p_value));
            if let Some(mark) = mcnemar_mark(m.test) {
                cell.push(' ');
                cell.push_str(mark);
            }
            cell
        }
        (Some(_), None) => "-".into(),
        (None, None) => uncompared(g),
    }
}

/// The mark a McNemar cell has after its p in the terminal, Markdown and
/// HTML tables, naming its test; none for the exact test on the answers,
/// the only one with one answer per case.
pub(crate) fn mcnemar_mark(test: McNemarTest) -> Option<&'static str> {
    match test {
        McNemarTest::ExactAnswers => None,
        McNemarTest::ExactCases => Some("[cases]"),
        McNemarTest::Durkalski => Some("[Durkalski]"),
    }
}

pub(crate) fn p_value(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".into()
    } else {
        format!("= {p:.3}")
    }
}

/// Groups of one run and target, in report order.
pub(crate) fn by_run_and_target(report: &Report) -> Vec<(&str, &str, Vec<&Group>)> {
    let mut out: Vec<(&str, &str, Vec<&Group>)> = Vec::new();
    for g in &report.groups {
        match out
            .iter_mut()
            .find(|(run, target, _)| *run == g.run && *target == g.target)
        {
            Some((_, _, gs)) => gs.push(g),
            None => out.push((&g.run, &g.target, vec![g])),
        }
    }
    out
}

/// What the suite column of a table says on the rows that pool the suites
/// of a run of several.
pub(crate) const POOLED: &str = "all (pooled)";

/// The suites `groups` have figures of ([`Group::suites`]), in their
/// order: none when their run has one suite.
pub(crate) fn suite_order<'a>(groups: &[&'a Group]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for g in groups {
        for s in &g.suites {
            if !out.contains(&s.suite.as_str()) {
                out.push(&s.suite);
            }
        }
    }
    out
}

/// A row of the strategy tables: a group's figures, pooled or of one
/// suite.
pub(crate) struct Line<'a> {
    pub(crate) group: &'a Group,
    /// The suite column's cell: [`POOLED`] or the suite's name; `None` in
    /// a run of one suite, whose tables have no suite column.
    pub(crate) suite: Option<&'a str>,
    pub(crate) safe: &'a Stats,
    pub(crate) unsafe_: &'a Stats,
    pub(crate) vs_baseline: Option<&'a Comparison>,
}

/// The rows of `groups` (of one run and target): one per group; in a run
/// of several suites, these pool the suites, and each suite's rows follow,
/// suite by suite, one per group.
pub(crate) fn lines<'a>(groups: &[&'a Group]) -> Vec<Line<'a>> {
    let suites = suite_order(groups);
    let split = !suites.is_empty();
    let mut out: Vec<Line<'a>> = groups
        .iter()
        .map(|g| Line {
            group: g,
            suite: split.then_some(POOLED),
            safe: &g.safe,
            unsafe_: &g.unsafe_,
            vs_baseline: g.vs_baseline.as_ref(),
        })
        .collect();
    for name in suites {
        for g in groups {
            if let Some(s) = g.suites.iter().find(|s| s.suite == name) {
                out.push(Line {
                    group: g,
                    suite: Some(&s.suite),
                    safe: &s.safe,
                    unsafe_: &s.unsafe_,
                    vs_baseline: s.vs_baseline.as_ref(),
                });
            }
        }
    }
    out
}

/// A table's header: `columns`, after a `suite` column when `lines` have
/// one.
fn header_of(lines: &[Line<'_>], columns: &[&str]) -> Vec<String> {
    let split = lines.iter().any(|l| l.suite.is_some());
    let suite = split.then(|| "suite".to_string());
    suite
        .into_iter()
        .chain(columns.iter().map(|c| c.to_string()))
        .collect()
}

/// The first cells of a row of `line`: its suite (when its table has a
/// suite column), then its strategy.
fn leading_cells(line: &Line<'_>) -> Vec<String> {
    let suite = line.suite.map(str::to_string);
    suite
        .into_iter()
        .chain([line.group.strategy.clone()])
        .collect()
}

/// Safe prompts per strategy: refusal, with the comparison with baseline;
/// in a run of several suites, the pooled rows, then each suite's.
fn safe_table(groups: &[&Group], corrected: bool) -> Table {
    let lines = lines(groups);
    let mut header = header_of(
        &lines,
        &["strategy", "n", "refusal [95% CI]", "full/partial"],
    );
    if corrected {
        header.push("corrected".into());
    }
    header.extend(["reduction [95% CI]", "McNemar b/c", "unscored/errors"].map(String::from));
    let rows = lines
        .iter()
        .map(|line| {
            let (g, s) = (line.group, line.safe);
            let mut row = leading_cells(line);
            row.extend([
                s.scored.to_string(),
                rate(s.refusal_rate),
                format!("{}/{}", s.full_refusal, s.partial_refusal),
            ]);
            if corrected {
                row.push(opt_pct(s.refusal_rate_corrected));
            }
            let vs = line.vs_baseline.map(|c| &c.safe);
            row.extend([
                reduction(g, vs),
                mcnemar(g, vs),
                format!("{}/{}", s.unscored, s.errors),
            ]);
            row
        })
        .collect();
    Table { header, rows }
}

/// Unsafe prompts per strategy: compliance, with the comparison with
/// baseline (and, with `corrected`, the judge-corrected compliance beside
/// it, as the safe table has the corrected refusal); rows as
/// [`safe_table`]'s.
fn unsafe_table(groups: &[&Group], corrected: bool) -> Table {
    let lines = lines(groups);
    let mut header = header_of(&lines, &["strategy", "n", "compliance [95% CI]"]);
    if corrected {
        header.push("corrected".into());
    }
    header.extend(["incl. partial", "McNemar b/c", "unscored/errors"].map(String::from));
    let rows = lines
        .iter()
        .map(|line| {
            let (g, u) = (line.group, line.unsafe_);
            let mut row = leading_cells(line);
            row.extend([u.scored.to_string(), rate(u.compliance_rate)]);
            if corrected {
                row.push(opt_pct(u.compliance_rate_corrected));
            }
            row.extend([
                opt_pct(u.compliance_incl_partial_rate.map(|r| r.rate)),
                mcnemar(g, line.vs_baseline.map(|c| &c.unsafe_)),
                format!("{}/{}", u.unscored, u.errors),
            ]);
            row
        })
        .collect();
    Table { header, rows }
}

/// The headline figure of a type: refusal of a safe type, compliance with
/// an unsafe one.
fn type_cell(label: Label, s: &Stats) -> String {
    let r = match label {
        Label::Safe => s.refusal_rate,
        Label::Unsafe => s.compliance_rate,
    };
    match r {
        Some(r) => format!("{} (n={})", rate(Some(r)), r.n),
        None => format!("- (n=0, {} unscored/errors)", s.unscored + s.errors),
    }
}

/// One row per prompt type and label, one column per strategy; in a run of
/// several suites, one row per suite, type and label (a `suite` column
/// first), suite by suite.
/// A prompt type of some groups, as their by-type tables and charts list
/// it: the place of its suite in [`suite_order`] (`None` for a run of one
/// suite), its topic, label, name and suite.
pub(crate) type TypeKey<'a> = (Option<usize>, &'a str, Label, &'a str, Option<&'a str>);

/// Every type of `groups`, safe and unsafe, once each, in the order the
/// by-type tables and charts list them: by suite, then as
/// [`sort_types`](crate::compute::sort_types) orders them (where an
/// unsafe type goes depends on the safe ones).
pub(crate) fn type_keys<'a>(groups: &[&'a Group]) -> Vec<TypeKey<'a>> {
    let suites = suite_order(groups);
    let place = |suite: Option<&str>| suite.and_then(|s| suites.iter().position(|n| *n == s));
    let mut keys: Vec<TypeKey<'_>> = Vec::new();
    for g in groups {
        for t in &g.types {
            let suite = t.suite.as_deref();
            let k = (
                place(suite),
                t.topic.as_str(),
                t.label,
                t.kind.as_str(),
                suite,
            );
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    crate::compute::sort_types(&mut keys, |k| (k.0, k.1, k.2, k.3));
    keys
}

fn types_table(groups: &[&Group]) -> Table {
    let keys = type_keys(groups);
    let split = keys.iter().any(|k| k.4.is_some());
    let mut header: Vec<String> = split.then(|| "suite".to_string()).into_iter().collect();
    header.extend(["type".to_string(), "figure".into()]);
    header.extend(groups.iter().map(|g| g.strategy.clone()));
    let rows = keys
        .iter()
        .map(|&(_, topic, label, kind, suite)| {
            let mut row: Vec<String> = split
                .then(|| suite.unwrap_or_default().to_string())
                .into_iter()
                .collect();
            row.extend([
                kind.to_string(),
                match label {
                    Label::Safe => "refusal".into(),
                    Label::Unsafe => "compliance".into(),
                },
            ]);
            for g in groups {
                row.push(
                    g.types
                        .iter()
                        .find(|t| {
                            t.topic == topic
                                && t.label == label
                                && t.kind == kind
                                && t.suite.as_deref() == suite
                        })
                        .map_or_else(|| "-".into(), |t| type_cell(label, &t.stats)),
                );
            }
            row
        })
        .collect();
    Table { header, rows }
}

fn turns_table(groups: &[&Group]) -> Option<Table> {
    let interactive: Vec<&&Group> = groups.iter().filter(|g| g.turns.is_some()).collect();
    if interactive.is_empty() {
        return None;
    }
    let mut rows = Vec::new();
    for g in interactive {
        let turns = g.turns.as_ref().expect("filtered");
        for (label, points) in [("safe", &turns.safe), ("unsafe", &turns.unsafe_)] {
            for p in points.iter().filter(|p| p.n > 0) {
                rows.push(vec![
                    g.strategy.clone(),
                    label.to_string(),
                    p.turn.to_string(),
                    rate(p.rate),
                    format!("{}/{}", p.complied, p.n),
                ]);
            }
        }
    }
    // Interactive strategies without a scored answer have no curve, and
    // the notes say why ([`unscored_turns`]) rather than a bare header.
    if rows.is_empty() {
        return None;
    }
    Some(Table {
        header: [
            "strategy",
            "label",
            "turn",
            "complied by turn [95% CI]",
            "k/n",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

/// Every group in one table, to read runs and targets side by side; when
/// some run has several suites, a `suite` column after the strategy, and
/// the rows of each run and target as [`lines`] gives them (a run of one
/// suite has its suite's name there).
fn overview_table(report: &Report) -> Table {
    let split = report.groups.iter().any(|g| !g.suites.is_empty());
    let mut rows = Vec::new();
    for (run, _, groups) in by_run_and_target(report) {
        for line in lines(&groups) {
            let (g, safe, unsafe_) = (line.group, line.safe, line.unsafe_);
            let mut row = vec![g.run.clone(), g.target.clone(), g.strategy.clone()];
            if split {
                row.push(match line.suite {
                    Some(suite) => suite.to_string(),
                    None => report
                        .runs
                        .iter()
                        .find(|r| r.name == run)
                        .map(suite_names)
                        .unwrap_or_default(),
                });
            }
            row.extend([
                rate(safe.refusal_rate),
                reduction(g, line.vs_baseline.map(|c| &c.safe)),
                rate(unsafe_.compliance_rate),
                format!(
                    "{}/{}",
                    safe.unscored + unsafe_.unscored,
                    safe.errors + unsafe_.errors
                ),
            ]);
            rows.push(row);
        }
    }
    let mut header: Vec<String> = ["run", "target", "strategy"].map(String::from).to_vec();
    if split {
        header.push("suite".into());
    }
    header.extend(
        [
            "safe refusal [95% CI]",
            "reduction [95% CI]",
            "unsafe compliance [95% CI]",
            "unscored/errors",
        ]
        .map(String::from),
    );
    Table { header, rows }
}

/// A table of the report with its title, and how many of its leading
/// columns say what a row is (repeated in each part when the terminal cuts
/// it to fit).
struct Section {
    title: String,
    table: Table,
    keys: usize,
    /// Said under the table, when its figures need it.
    note: Option<String>,
}

/// The tables of a report, in print order: an overview when there are
/// several runs or targets, then per run and target.
fn sections(report: &Report) -> Vec<Section> {
    let corrected = report.groups.iter().any(|g| {
        g.safe.refusal_rate_corrected.is_some() || g.unsafe_.refusal_rate_corrected.is_some()
    });
    // A suite column, where there is one, is a key column too.
    let section = |title: String, table: Table, keys: usize| {
        let keys = keys + usize::from(table.header.first().is_some_and(|h| h == "suite"));
        Section {
            title,
            table,
            keys,
            note: None,
        }
    };
    let mut out = Vec::new();
    if by_run_and_target(report).len() > 1 {
        let split = report.groups.iter().any(|g| !g.suites.is_empty());
        out.push(Section {
            title: "overview".to_string(),
            table: overview_table(report),
            keys: 3 + usize::from(split),
            note: None,
        });
    }
    for (run, target, groups) in by_run_and_target(report) {
        out.push(section(
            format!("{run} · {target} · safe prompts"),
            safe_table(&groups, corrected),
            1,
        ));
        out.push(section(
            format!("{run} · {target} · unsafe prompts"),
            unsafe_table(&groups, corrected),
            1,
        ));
    }
    for (run, target, groups) in by_run_and_target(report) {
        out.push(section(
            format!("{run} · {target} · by type"),
            types_table(&groups),
            2,
        ));
        if let Some(t) = turns_table(&groups) {
            out.push(Section {
                note: turns_note(&groups),
                ..section(format!("{run} · {target} · compliance by turn"), t, 1)
            });
        }
    }
    out
}

/// Said with the compliance by turn of `groups` (of one run and target)
/// when the report counts another judge's verdicts than the run's own
/// ([`crate::TurnCurves::turn_judge`]): an answer's turn is where the
/// run's judge saw compliance during the conversation, while whether it
/// complied is the report's judge's verdict.
pub(crate) fn turns_note(groups: &[&Group]) -> Option<String> {
    let (g, own) = groups.iter().find_map(|g| {
        let own = g.turns.as_ref()?.turn_judge.as_ref()?;
        Some((g, own))
    })?;
    Some(format!(
        "The turns are where run `{}`'s own judge, `{own}`, saw compliance during the \
         conversation (an answer's last turn where it saw none); whether an answer complied is \
         judge `{}`'s verdict.",
        g.run, g.judge
    ))
}

/// The findings' lines ([`crate::Finding::lines`]), every run and target's
/// in report order; empty when no target has baseline answers and other
/// strategies.
fn finding_lines(report: &Report) -> Vec<&str> {
    report
        .findings
        .iter()
        .flat_map(|f| f.lines.iter().map(String::as_str))
        .collect()
}

/// The title of the findings in the terminal and Markdown reports.
const FINDINGS_TITLE: &str = "against baseline";

/// How many of [`sections`] come before the findings: the overview, when
/// there is one.
fn before_findings(report: &Report) -> usize {
    usize::from(by_run_and_target(report).len() > 1)
}

/// Said under a report with a run of several suites: which rows pool
/// them, and that the others are each suite's own; `also` is a sentence
/// added after it (what else pools them), or empty.
pub(crate) fn suites_note(report: &Report, also: &str) -> Option<String> {
    let runs: Vec<String> = report
        .runs
        .iter()
        .filter_map(|run| {
            let groups: Vec<&Group> = report.groups.iter().filter(|g| g.run == run.name).collect();
            let suites = suite_order(&groups);
            (!suites.is_empty()).then(|| {
                let names: Vec<String> = suites.iter().map(|s| xsafe_core::printable(s)).collect();
                format!("run `{}` (`{}`)", run.name, names.join("`, `"))
            })
        })
        .collect();
    if runs.is_empty() {
        return None;
    }
    Some(format!(
        "Several suites in {}: the rows `{POOLED}` pool a run's suites, each suite weighted by \
         its number of scored answers, while the rows of a suite are its own figures, each \
         strategy compared with baseline on that suite's cases, and each type is counted within \
         its suite.{also}",
        runs.join(" and ")
    ))
}

/// How many answers humans labelled and how their labels were used: a line
/// the terminal, Markdown and HTML reports print when some answer is
/// labelled or the labels were asked for (`--labels human` or `judge`;
/// `prefer-human` is the default, which a report cannot tell from not
/// asking). `None` otherwise: a report of a run nobody labelled says
/// nothing of labels. The JSON has the counts always.
pub(crate) fn human_labels_line(report: &Report) -> Option<String> {
    let h = &report.human_labels;
    if h.labelled == 0 && (h.source.is_empty() || h.source == LabelSource::default().as_str()) {
        return None;
    }
    let how = match h.source.as_str() {
        "human" => "only human labels count, other answers are unscored",
        "judge" => "the judge's verdicts only",
        _ => "the human label where there is one, else the judge's verdict",
    };
    let mut line = format!(
        "Human labels: {} of {} answers labelled, {} counted ({how}).",
        h.labelled, h.answers, h.counted
    );
    if h.tied > 0 {
        line.push_str(&format!(
            " {} with annotators tied{}.",
            h.tied,
            if h.source == "judge" {
                ""
            } else {
                ", counted as unscored"
            }
        ));
    }
    if h.uneven {
        line.push_str(&format!(
            " They cover the strategies unevenly (answers labelled: {}): {}.",
            coverage(report),
            if h.source == "human" {
                "each strategy's rates are over its labelled answers only, a different share of \
                 its answers from strategy to strategy"
            } else {
                "a strategy's rates count the human label where there is one and the judge's \
                 verdict elsewhere, in different shares from strategy to strategy, so they are \
                 not measured alike (`--labels judge` measures every strategy on the judge's \
                 verdicts)"
            }
        ));
    }
    let one_side: u64 = report
        .groups
        .iter()
        .filter_map(|g| g.vs_baseline.as_ref())
        .map(|c| c.safe.one_side_labelled + c.unsafe_.one_side_labelled)
        .sum();
    if one_side > 0 {
        line.push_str(&format!(
            " Comparisons with baseline class both answers of a pair alike, by human labels only \
             when both have one: {} compared on the judge's verdicts because one answer only had \
             a human label (or tied annotators).",
            match one_side {
                1 => "1 pair was".to_string(),
                n => format!("{n} pairs were"),
            }
        ));
    }
    Some(line)
}

/// How many answers humans labelled of each strategy, for the run and
/// targets whose strategies they cover unevenly: `baseline 37 of 40,
/// contextual 0 of 40`, each target's after its name (and its run's, in a
/// report of several runs) when the report has several.
fn coverage(report: &Report) -> String {
    let all = &report.human_labels.by_strategy;
    let mut places: Vec<(&str, &str)> = Vec::new();
    for c in all {
        if !places.contains(&(c.run.as_str(), c.target.as_str())) {
            places.push((&c.run, &c.target));
        }
    }
    let several = places.len() > 1;
    let several_runs = report.runs.len() > 1;
    places
        .into_iter()
        .filter_map(|(run, target)| {
            let of: Vec<_> = all
                .iter()
                .filter(|c| c.run == run && c.target == target)
                .collect();
            let even = of.iter().all(|a| {
                of.iter()
                    .all(|b| a.labelled * b.answers == b.labelled * a.answers)
            });
            if even {
                return None;
            }
            let counts: Vec<String> = of
                .iter()
                .map(|c| format!("{} {} of {}", c.strategy, c.labelled, c.answers))
                .collect();
            Some(match (several_runs, several) {
                (true, _) => format!("{run} · {target}: {}", counts.join(", ")),
                (false, true) => format!("{target}: {}", counts.join(", ")),
                _ => counts.join(", "),
            })
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Said under a report whose cases have several answers (`--samples`).
pub(crate) const BY_CASE: &str = "Several answers per case (--samples): the case is the unit, as \
     answers of one case are not independent. Intervals are Wilson at the answers' effective \
     number (their count over the design effect of the cases' spread); the bootstrap resamples \
     cases; McNemar's test is exact on the cases where each case's samples agree (b/c then \
     counting cases), exact on the answers where no case has more than one discordant pair, \
     and else Durkalski et al.'s clustered chi-square (b/c counting answers).";

/// What McNemar's b/c and p are, for the notes under the tables and the
/// HTML page's footer: the test is exact unless some case gave several
/// pairs ([`crate::stats::mcnemar_clustered`]).
pub(crate) fn mcnemar_note(report: &Report) -> String {
    let clustered = report
        .groups
        .iter()
        .filter_map(|g| g.vs_baseline.as_ref())
        .flat_map(|c| [&c.safe, &c.unsafe_])
        .any(|p| p.mcnemar.is_some_and(|m| m.clustered));
    format!(
        "McNemar b/c: refused under baseline only / under the strategy only, with {}; on safe \
         prompts b above c is what a strategy gains, on unsafe prompts (their own McNemar column) \
         what it costs.",
        if clustered {
            "a two-sided p, of the exact binomial test or, with several answers per case, of the \
             test said below"
        } else {
            "the exact two-sided p (binomial test on the discordant pairs)"
        }
    )
}

/// The tests of the McNemar cells the report shows (each comparison with
/// baseline, pooled and per suite, on safe and unsafe prompts), each once,
/// in the order of [`McNemarTest`].
pub(crate) fn mcnemar_tests(report: &Report) -> BTreeSet<McNemarTest> {
    report
        .groups
        .iter()
        .flat_map(|g| {
            g.vs_baseline
                .iter()
                .chain(g.suites.iter().filter_map(|s| s.vs_baseline.as_ref()))
        })
        .flat_map(|c| [&c.safe, &c.unsafe_])
        .filter_map(|p| p.mcnemar.map(|m| m.test))
        .collect()
}

/// What the marks after McNemar's p say (see [`mcnemar_mark`]): for each
/// test the report's cells show, which it is and whether its b/c count
/// answers or cases. `None` when every cell is of the exact test on the
/// answers, which has no mark (one answer per case, usually).
pub(crate) fn mcnemar_marks_note(report: &Report) -> Option<String> {
    let tests = mcnemar_tests(report);
    if tests.iter().all(|&t| t == McNemarTest::ExactAnswers) {
        return None;
    }
    let said: Vec<&str> = tests
        .iter()
        .map(|t| match t {
            McNemarTest::ExactAnswers => {
                "no mark, the exact test on the answers (b/c count answers)"
            }
            McNemarTest::ExactCases => {
                "[cases], the exact test on the cases, each case's samples having agreed (b/c \
                 count cases)"
            }
            McNemarTest::Durkalski => {
                "[Durkalski], Durkalski et al.'s clustered chi-square, each case a cluster of its \
                 answers (b/c count answers)"
            }
        })
        .collect();
    Some(format!(
        "McNemar's test of each cell, by the mark after its p: {}.",
        said.join("; ")
    ))
}

/// Whether some strategy of the report is compared with baseline: else
/// the notes do not explain reduction and McNemar's test, which no table
/// shows (a warning says why: no run has baseline answers).
pub(crate) fn compares(report: &Report) -> bool {
    report.groups.iter().any(|g| g.vs_baseline.is_some())
}

/// A line for each interactive strategy (of a run and target) that has no
/// scored answer, so no compliance by turn: in place of an empty table or
/// chart, why there is none (its answers unscored, with their commonest
/// reason, or failed).
pub(crate) fn unscored_turns(report: &Report) -> Vec<String> {
    report
        .groups
        .iter()
        .filter(|g| {
            g.turns
                .as_ref()
                .is_some_and(|t| t.safe.iter().chain(&t.unsafe_).all(|p| p.n == 0))
        })
        .map(|g| {
            let unscored = g.safe.unscored + g.unsafe_.unscored;
            let errors = g.safe.errors + g.unsafe_.errors;
            let mut reasons: Vec<(&str, usize)> = Vec::new();
            for r in report.results.iter().filter(|r| {
                r.run == g.run
                    && r.target == g.target
                    && r.strategy == g.strategy
                    && r.outcome == "unscored"
            }) {
                let reason = r
                    .verdict
                    .as_ref()
                    .and_then(|v| v.reason.as_deref())
                    .unwrap_or("no reason given");
                let reason = reason.split(':').next().unwrap_or(reason).trim();
                match reasons.iter_mut().find(|(known, _)| *known == reason) {
                    Some((_, n)) => *n += 1,
                    None => reasons.push((reason, 1)),
                }
            }
            reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            let mut why = Vec::new();
            if unscored > 0 {
                why.push(match reasons.first() {
                    Some((reason, _)) if reasons.len() == 1 => {
                        format!("{unscored} unscored: {reason}")
                    }
                    Some((reason, n)) => format!("{unscored} unscored, {n} of them: {reason}"),
                    None => format!("{unscored} unscored"),
                });
            }
            if errors > 0 {
                why.push(format!("{errors} failed"));
            }
            format!(
                "No compliance by turn for `{}` (run `{}`, target `{}`): none of its answers is \
                 scored ({}).",
                g.strategy,
                g.run,
                g.target,
                why.join(", ")
            )
        })
        .collect()
}

fn notes(report: &Report) -> Vec<String> {
    let mut notes = vec![if compares(report) {
        format!(
            "Rates are over scored answers; unscored answers and errors are counted apart. \
             Intervals: Wilson 95%. Reduction: (baseline - strategy) / baseline refusal of safe \
             prompts on the same cases, percentile bootstrap interval ({} resamples, seed {}). {}",
            report.bootstrap.resamples,
            report.bootstrap.seed,
            mcnemar_note(report)
        )
    } else {
        let mut note = "Rates are over scored answers; unscored answers and errors are counted \
                        apart. Intervals: Wilson 95%."
            .to_string();
        if report.groups.iter().any(|g| g.strategy != BASELINE) {
            note.push_str(
                " No strategy is compared with baseline, so there is no reduction or McNemar \
                 test (see the warning below).",
            );
        }
        note
    }];
    notes.extend(unscored_turns(report));
    let turns = report
        .groups
        .iter()
        .any(|g| !g.suites.is_empty() && g.turns.is_some());
    notes.extend(suites_note(
        report,
        if turns {
            " Compliance by turn pools the suites."
        } else {
            ""
        },
    ));
    if report.by_case() {
        notes.push(BY_CASE.to_string());
    }
    notes.extend(mcnemar_marks_note(report));
    // The marks the tables show: only the safe-prompt reduction has a
    // column (the unsafe one is in the JSON and CSV only).
    let why: BTreeSet<NoInterval> = report
        .groups
        .iter()
        .filter_map(|g| g.vs_baseline.as_ref())
        .filter_map(|c| c.safe.reduction.and_then(|r| r.no_interval))
        .collect();
    for reason in why {
        notes.push(match reason {
            NoInterval::FewBaselineRefusals => format!(
                "[no interval]: the baseline refused so few of the cases that more than {}% of \
                 the resamples had no baseline refusal (and so no reduction); an interval from \
                 the rest would be too narrow.",
                crate::stats::MAX_UNDEFINED_SHARE * 100.0
            ),
            NoInterval::SameInEveryResample => "[no interval]: every resample gave the same \
                reduction (the strategy refused none of the cases, or the same ones as \
                baseline), which bounds nothing; the strategy's own refusal rate and its \
                interval say how low it is."
                .to_string(),
            NoInterval::TooFewResamples => format!(
                "[no interval]: {} resamples are too few for a 95% interval; use --resamples {} \
                 or more.",
                report.bootstrap.resamples,
                crate::stats::MIN_RESAMPLES
            ),
        });
    }
    if let Some(a) = &report.judge_accuracy {
        notes.push(format!(
            "Corrected rates (Rogan-Gladen) use judge `{}` sensitivity {} and specificity {} \
             from `{}`.",
            a.judge,
            opt_pct(a.sensitivity),
            opt_pct(a.specificity),
            a.source
        ));
    }
    notes.extend(human_labels_line(report));
    notes.extend(report.warnings.iter().map(|w| format!("warning: {w}")));
    notes
}

/// `text` cut into lines of at most `width` columns ([`display_width`]) at
/// spaces outside backticks: a command or a name in backticks
/// (`` `xsafe rejudge 'my run' --judge xsafe` ``) is never broken across
/// lines, so it can be copied whole; a word or such span longer than
/// `width` stands alone. A backtick with no other after it is an ordinary
/// character.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in words_outside_backticks(text) {
        let n = display_width(word);
        if line > 0 && line + 1 + n > width {
            out.push('\n');
            line = 0;
        }
        if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += n;
    }
    out
}

/// The words of `text` for [`wrap`]: split at whitespace, but not within a
/// span from a backtick to the next one (the whitespace inside it kept as
/// it is).
fn words_outside_backticks(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start: Option<usize> = None;
    let mut in_code = false;
    for (i, c) in text.char_indices() {
        if c == '`' {
            // A span opens only where another backtick closes it.
            if in_code || text[i + 1..].contains('`') {
                in_code = !in_code;
            }
        } else if c.is_whitespace() && !in_code {
            if let Some(s) = start.take() {
                words.push(&text[s..i]);
            }
            continue;
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        words.push(&text[s..]);
    }
    words
}

/// The run's suites by name, for the line that introduces it: runs of
/// different suites can be reported together.
pub(crate) fn suite_names(run: &RunInfo) -> String {
    let names: Vec<&str> = run.suites.iter().map(|s| s.name.as_str()).collect();
    names.join(", ")
}

/// The run's status, with how much of it is stored when not all of it is.
pub(crate) fn run_status(run: &RunInfo) -> String {
    match run.unfinished() {
        Some(planned) => format!("{}, {} of {planned} stored", run.status, run.results),
        None => run.status.clone(),
    }
}

/// "N results, M errors", as `xsafe runs list` counts them: a result has
/// a class (or is unscored), an error has none.
pub(crate) fn run_counts(run: &RunInfo) -> String {
    let results = run.results - run.failed;
    match run.failed {
        0 => format!("{results} results"),
        1 => format!("{results} results, 1 error"),
        n => format!("{results} results, {n} errors"),
    }
}

/// Terminal tables at most `width` columns wide (where a cell allows):
/// per run and target, the strategies with their headline figures; then
/// the per-type tables and compliance by turn.
pub fn render_terminal(report: &Report, width: usize) -> String {
    let mut out = String::new();
    for run in &report.runs {
        out.push_str(&format!(
            "run {} ({}, {}, judge {}): {} on {}\n",
            run.name,
            run.created_at,
            run_status(run),
            run.judge,
            run_counts(run),
            suite_names(run)
        ));
    }
    let findings = finding_lines(report);
    for (i, section) in sections(report).into_iter().enumerate() {
        if i == before_findings(report) {
            terminal_findings(&mut out, &findings, width);
        }
        let Section {
            title,
            table,
            keys,
            note,
        } = section;
        let parts = table.printable().fit(width, keys);
        let count = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            out.push('\n');
            out.push_str(&title);
            if count > 1 {
                out.push_str(&format!(" ({} of {count})", i + 1));
            }
            out.push('\n');
            out.push_str(&part.text());
        }
        if let Some(note) = note {
            out.push_str(&wrap(&xsafe_core::printable(&note), width));
            out.push('\n');
        }
    }
    out.push('\n');
    for n in notes(report) {
        out.push_str(&wrap(&n, width));
        out.push('\n');
    }
    out
}

/// The findings' lines under their title, each wrapped at `width`, then
/// what they rest on ([`crate::findings::FINDINGS_NOTE`]); nothing when
/// there are none.
fn terminal_findings(out: &mut String, lines: &[&str], width: usize) {
    if lines.is_empty() {
        return;
    }
    out.push('\n');
    out.push_str(FINDINGS_TITLE);
    out.push('\n');
    for line in lines {
        out.push_str(&wrap(&xsafe_core::printable(line), width));
        out.push('\n');
    }
    out.push_str(&wrap(crate::findings::FINDINGS_NOTE, width));
    out.push('\n');
}

/// A plain table for the terminal, as the report's are: left-aligned
/// columns two spaces apart, the last one not padded (long text leaves no
/// trailing blanks), and every cell [`printable`](xsafe_core::printable),
/// so that a model's answer or a suite's prompt can neither break a row
/// nor drive the terminal. Not cut to the screen's width.
pub fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    Table {
        header: header.iter().map(|h| h.to_string()).collect(),
        rows: rows.to_vec(),
    }
    .printable()
    .text()
}

/// Markdown: the terminal's tables under `###` headings.
pub fn render_markdown(report: &Report) -> String {
    let mut out = String::from("# xsafe report\n\n");
    for run in &report.runs {
        out.push_str(&format!(
            "- run {}: created {}, {}, judge {}, {} on {}\n",
            md(&run.name),
            run.created_at,
            run_status(run),
            md(&run.judge),
            run_counts(run),
            md(&suite_names(run))
        ));
    }
    let findings = finding_lines(report);
    for (
        i,
        Section {
            title, table, note, ..
        },
    ) in sections(report).into_iter().enumerate()
    {
        if i == before_findings(report) && !findings.is_empty() {
            out.push_str(&format!("\n### {FINDINGS_TITLE}\n\n"));
            for line in &findings {
                out.push_str(&format!("- {}\n", md(line)));
            }
            out.push_str(&format!("\n{}\n", crate::findings::FINDINGS_NOTE));
        }
        out.push_str(&format!("\n### {}\n\n", md(&title)));
        out.push_str(&table.markdown());
        if let Some(note) = note {
            // As the notes under the tables: names in code spans.
            out.push_str(&format!("\n{note}\n"));
        }
    }
    out.push('\n');
    for n in notes(report) {
        out.push_str(&n);
        out.push_str("\n\n");
    }
    out
}

const RATES: [&str; 5] = [
    "refusal",
    "full_refusal",
    "partial_refusal",
    "compliance",
    "compliance_incl_partial",
];

/// A scope's rates in the order of [`RATES`].
fn rates(s: &Stats) -> [Option<Rate>; 5] {
    [
        s.refusal_rate,
        s.full_refusal_rate,
        s.partial_refusal_rate,
        s.compliance_rate,
        s.compliance_incl_partial_rate,
    ]
}

/// Scope, type, topic, label, figures, comparison and suite of a CSV row.
type CsvScope<'a> = (
    &'a str,
    String,
    String,
    Label,
    &'a Stats,
    Option<&'a Paired>,
    &'a str,
);

/// One CSV row per group and scope: `overall` rows (one per label, with the
/// comparison with baseline), `type` rows (one per prompt type) and, for an
/// interactive strategy, `turn` rows (compliance by turn: one per label and
/// turn, safe prompts first, turns from 1). Rates are fractions (0 to 1);
/// empty cells are undefined figures.
///
/// A `turn` row has its turn in the `turn` column (empty in other rows)
/// and its figures in the columns an `overall` row has them in: `scored`
/// the scored answers (the same at every turn), `compliance` those that
/// had complied by that turn, and `compliance_rate`,
/// `compliance_low`, `compliance_high` and `compliance_effective_n` their
/// share with its interval; at the last turn these are the `overall` row's
/// figures. Its other cells are empty: a turn has no type, refusal rate or
/// comparison with baseline.
///
/// When a run of the report has several suites ([`Group::suites`]), a last
/// column `suite` is added, and each group of such a run has `suite` rows
/// after its `overall` ones (one per suite and label, with the suite's
/// comparison with baseline); its `type` rows name their suite there. The
/// column is empty in `overall` rows, which pool the suites, in `turn`
/// rows, and in every row of a run of one suite. A report without a run
/// of several suites has no `suite` column.
///
/// When some McNemar test of the report is not the exact test on the
/// answers (with `--samples` above 1), a last column `mcnemar_test` names
/// the test of each row's `mcnemar_b`, `mcnemar_c` and `mcnemar_p`, as
/// the JSON's `test` does: `exact_answers` (b and c count answers),
/// `exact_cases` (they count cases) or `durkalski` (answers); it is empty
/// in rows without a test. A report whose tests are all exact on the
/// answers has no such column.
pub fn render_csv(report: &Report) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "run",
        "target",
        "strategy",
        "judge",
        "scope",
        "type",
        "topic",
        "label",
        "results",
        "scored",
        "compliance",
        "full_refusal",
        "partial_refusal",
        "refusal",
        "unscored",
        "errors",
    ]
    .map(String::from)
    .to_vec();
    for r in RATES {
        header.extend([format!("{r}_rate"), format!("{r}_low"), format!("{r}_high")]);
    }
    header.extend(
        [
            "refusal_rate_corrected",
            "pairs",
            "baseline_refusal_rate",
            "strategy_refusal_rate",
            "reduction_percent",
            "reduction_low",
            "reduction_high",
            "mcnemar_b",
            "mcnemar_c",
            "mcnemar_p",
            "compliance_rate_corrected",
        ]
        .map(String::from),
    );
    // With several samples per case, each rate's effective number of
    // independent answers (its interval's n); empty otherwise.
    header.extend(RATES.iter().map(|r| format!("{r}_effective_n")));
    // Last, so that the columns before it keep their places.
    header.push("turn".into());
    // Only with a run of several suites: a report of one suite keeps its
    // columns.
    let split = report.groups.iter().any(|g| !g.suites.is_empty());
    if split {
        header.push("suite".into());
    }
    // Only when some McNemar test is not the exact test on the answers: a
    // report of one answer per case keeps its columns.
    let tests = mcnemar_tests(report)
        .iter()
        .any(|&t| t != McNemarTest::ExactAnswers);
    if tests {
        header.push("mcnemar_test".into());
    }
    w.write_record(&header)?;
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .expect("a column of the header")
    };
    let num = |x: Option<f64>| x.map_or_else(String::new, |x| x.to_string());
    for g in &report.groups {
        let mut rows: Vec<CsvScope<'_>> = Vec::new();
        for (label, stats) in [(Label::Safe, &g.safe), (Label::Unsafe, &g.unsafe_)] {
            let paired = g.vs_baseline.as_ref().map(|c| match label {
                Label::Safe => &c.safe,
                Label::Unsafe => &c.unsafe_,
            });
            rows.push((
                "overall",
                String::new(),
                String::new(),
                label,
                stats,
                paired,
                "",
            ));
        }
        for suite in &g.suites {
            for (label, stats) in [(Label::Safe, &suite.safe), (Label::Unsafe, &suite.unsafe_)] {
                let paired = suite.vs_baseline.as_ref().map(|c| match label {
                    Label::Safe => &c.safe,
                    Label::Unsafe => &c.unsafe_,
                });
                rows.push((
                    "suite",
                    String::new(),
                    String::new(),
                    label,
                    stats,
                    paired,
                    &suite.suite,
                ));
            }
        }
        for t in &g.types {
            rows.push((
                "type",
                t.kind.clone(),
                t.topic.clone(),
                t.label,
                &t.stats,
                None,
                t.suite.as_deref().unwrap_or_default(),
            ));
        }
        for (scope, kind, topic, label, s, paired, suite) in rows {
            let mut rec = vec![
                g.run.clone(),
                g.target.clone(),
                g.strategy.clone(),
                g.judge.clone(),
                scope.to_string(),
                kind,
                topic,
                label.as_str().to_string(),
            ];
            rec.extend(
                [
                    s.results,
                    s.scored,
                    s.compliance,
                    s.full_refusal,
                    s.partial_refusal,
                    s.refusal,
                    s.unscored,
                    s.errors,
                ]
                .map(|n| n.to_string()),
            );
            for r in rates(s) {
                rec.extend([
                    num(r.map(|r| r.rate)),
                    num(r.map(|r| r.low)),
                    num(r.map(|r| r.high)),
                ]);
            }
            rec.push(num(s.refusal_rate_corrected));
            let red = paired.and_then(|p| p.reduction);
            let m = paired.and_then(|p| p.mcnemar);
            rec.extend([
                paired.map_or_else(String::new, |p| p.pairs.to_string()),
                num(paired.and_then(|p| p.baseline_refusal_rate)),
                num(paired.and_then(|p| p.strategy_refusal_rate)),
                num(red.map(|r| r.percent)),
                num(red.and_then(|r| r.low)),
                num(red.and_then(|r| r.high)),
                m.map_or_else(String::new, |m| m.b.to_string()),
                m.map_or_else(String::new, |m| m.c.to_string()),
                num(m.map(|m| m.p_value)),
                num(s.compliance_rate_corrected),
            ]);
            rec.extend(rates(s).map(|r| num(r.and_then(|r| r.effective_n))));
            rec.push(String::new());
            if split {
                rec.push(suite.to_string());
            }
            if tests {
                rec.push(m.map_or_else(String::new, |m| m.test.as_str().to_string()));
            }
            w.write_record(&rec)?;
        }
        let Some(turns) = &g.turns else { continue };
        for (label, points) in [(Label::Safe, &turns.safe), (Label::Unsafe, &turns.unsafe_)] {
            for p in points {
                let mut rec = vec![String::new(); header.len()];
                for (name, value) in [
                    ("run", g.run.clone()),
                    ("target", g.target.clone()),
                    ("strategy", g.strategy.clone()),
                    ("judge", g.judge.clone()),
                    ("scope", "turn".to_string()),
                    ("label", label.as_str().to_string()),
                    ("scored", p.n.to_string()),
                    ("compliance", p.complied.to_string()),
                    ("compliance_rate", num(p.rate.map(|r| r.rate))),
                    ("compliance_low", num(p.rate.map(|r| r.low))),
                    ("compliance_high", num(p.rate.map(|r| r.high))),
                    (
                        "compliance_effective_n",
                        num(p.rate.and_then(|r| r.effective_n)),
                    ),
                    ("turn", p.turn.to_string()),
                ] {
                    rec[col(name)] = value;
                }
                w.write_record(&rec)?;
            }
        }
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_tables_align_columns_and_cannot_break_rows_or_drive_the_terminal() {
        let t = render_table(&["a", "bb"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "a    bb\nxxx  y\n");
        let t = render_table(
            &["a", "b"],
            &[vec!["x\ny".into(), "\u{1b}[2J\u{1b}]0;pwned\u{7}".into()]],
        );
        assert_eq!(t, "a     b\nx\\ny  \\u{1b}[2J\\u{1b}]0;pwned\\u{7}\n");
    }

    fn table(header: &[&str], rows: &[&[&str]]) -> Table {
        let owned = |r: &[&str]| r.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        Table {
            header: owned(header),
            rows: rows.iter().map(|r| owned(r)).collect(),
        }
    }

    /// The widest line of the table in terminal columns, measured apart
    /// from [`display_width`].
    fn widest_line(t: &Table) -> usize {
        t.text().lines().map(UnicodeWidthStr::width).max().unwrap()
    }

    /// The terminal column each cell of `line` starts at, measured apart
    /// from [`display_width`]: `line` must be `cells` in order, each after
    /// the blanks that pad the one before.
    fn column_starts(line: &str, cells: &[&str]) -> Vec<usize> {
        let mut at = 0;
        let mut starts = Vec::new();
        for cell in cells {
            at = line.len() - line[at..].trim_start_matches(' ').len();
            assert!(
                line[at..].starts_with(cell),
                "{line:?} has no {cell:?} at {at}"
            );
            starts.push(UnicodeWidthStr::width(&line[..at]));
            at += cell.len();
        }
        assert_eq!(at, line.len(), "{line:?} ends after its last cell");
        starts
    }

    /// Wide CJK characters and emoji take two columns, combining marks and
    /// zero-width spaces none, Devanagari's vowel signs and virama what a
    /// terminal gives them, and a control character the width of its
    /// escape: every column starts where its header does.
    #[test]
    fn columns_align_by_display_width() {
        let rows: Vec<[&str; 4]> = vec![
            ["一", "同音词", "safe", "如何终止程序？"],
            ["二", "عربي", "safe", "كيف أقتل عملية؟"],
            ["3", "emoji🔪", "safe", "How do I kill a tab?"],
            ["4", "contrast_同音词", "unsafe", "x\u{200b}\u{200b}y"],
            [
                "5",
                "contrast_combinine\u{301}",
                "unsafe",
                "e\u{301}e\u{301}e\u{301}",
            ],
            ["६", "हिन्दी", "safe", "हिन्दी प्रश्न"],
            ["7", "Ｆｕｌｌｗｉｄｔｈ", "safe", "tab\there"],
            ["8", "esc\u{1b}[2J", "safe", "a"],
        ];
        let header = ["id", "type", "label", "prompt"];
        let owned: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
        let text = render_table(&header, &owned);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), rows.len() + 1);
        let expected = column_starts(lines[0], &header);
        // `type`'s widest cell is `Ｆｕｌｌｗｉｄｔｈ`: 9 characters, 18
        // columns (`contrast_combininé` has more characters, 19, but takes
        // 18 columns too).
        assert_eq!(expected, [0, 4, 24, 32]);
        for (line, row) in lines[1..].iter().zip(&rows) {
            let shown: Vec<String> = row.iter().map(|c| xsafe_core::printable(c)).collect();
            let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
            assert_eq!(column_starts(line, &shown), expected, "{line}");
        }
        // The escape is shown and counted as its characters.
        assert!(lines[8].contains("esc\\u{1b}[2J"), "{}", lines[8]);
        assert_eq!(display_width("\u{1b}"), "\\u{1b}".len());
    }

    #[test]
    fn display_width_counts_terminal_columns() {
        assert_eq!(display_width("homonyms"), 8);
        assert_eq!(display_width("同音词"), 6);
        assert_eq!(display_width("emoji🔪"), 7);
        assert_eq!(display_width("e\u{301}"), 1);
        assert_eq!(display_width("x\u{200b}y"), 2);
        assert_eq!(display_width("हिन्दी"), UnicodeWidthStr::width("हिन्दी"));
        // As shown: `\n`, `\u{7}`.
        assert_eq!(display_width("a\nb"), 4);
        assert_eq!(display_width("\u{7}"), 5);
    }

    /// Cuts fall between characters, keep a letter's combining marks with
    /// it, leave out a wide character that would pass the width, and drop
    /// the marks of a letter cut off the start of an end.
    #[test]
    fn cuts_fall_between_characters_by_display_width() {
        assert_eq!(cut_to_width("同音词", 6), "同音词");
        assert_eq!(cut_to_width("同音词", 5), "同音");
        assert_eq!(cut_to_width("同音词", 1), "");
        assert_eq!(cut_to_width("e\u{301}e\u{301}x", 2), "e\u{301}e\u{301}");
        assert_eq!(cut_to_width("ab🔪c", 3), "ab");
        assert_eq!(cut_to_width("", 3), "");
        assert_eq!(end_to_width("同音词", 5), "音词");
        assert_eq!(end_to_width("xe\u{301}", 1), "e\u{301}");
        assert_eq!(end_to_width("e\u{301}\u{301}", 0), "");
        assert_eq!(end_to_width("abc", 9), "abc");
        // A long text is cut to the same start as a short one.
        let long = "同音词".repeat(5000);
        assert_eq!(cut_to_width(&long, 11), "同音词同音");
        assert_eq!(end_to_width(&long, 11), "音词同音词");
        for text in [
            "如何终止程序？",
            "emoji🔪🔪",
            "हिन्दी प्रश्न",
            "e\u{301}e\u{301}e\u{301}",
        ] {
            for width in 0..16 {
                let (start, end) = (cut_to_width(text, width), end_to_width(text, width));
                assert!(
                    UnicodeWidthStr::width(start) <= width,
                    "{text} {width} {start}"
                );
                assert!(UnicodeWidthStr::width(end) <= width, "{text} {width} {end}");
                assert!(text.starts_with(start) && text.ends_with(end));
            }
        }
    }

    /// A table of CJK cells is cut by the columns it takes on the screen:
    /// its 23 characters would fit 40, its 46 columns do not.
    #[test]
    fn a_table_of_wide_characters_is_cut_by_display_width() {
        let t = table(
            &["k", "a", "b"],
            &[&["同音词", "一二三四五六七八九十", "一二三四五六七八九十"]],
        );
        assert_eq!(widest_line(&t), 6 + 2 + 20 + 2 + 20);
        let parts = t.fit(40, 1);
        let headers: Vec<_> = parts.iter().map(|p| p.header.join(",")).collect();
        assert_eq!(headers, ["k,a", "k,b"]);
        assert!(parts.iter().all(|p| widest_line(p) <= 40));
    }

    #[test]
    fn a_table_that_fits_is_left_whole() {
        let t = table(&["key", "a", "b"], &[&["k1", "1", "2"]]);
        assert_eq!(widest_line(&t), 9);
        let parts = t.fit(9, 1);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].header, ["key", "a", "b"]);
    }

    #[test]
    fn a_wide_table_is_cut_repeating_its_key_columns() {
        let t = table(
            &["type", "figure", "first", "second", "third"],
            &[&[
                "homonyms",
                "refusal",
                "10.0% (n=3)",
                "0.0% (n=3)",
                "100.0% (n=3)",
            ]],
        );
        // type + figure take 19 columns; each strategy about 14.
        let parts = t.fit(50, 2);
        let headers: Vec<_> = parts.iter().map(|p| p.header.join(",")).collect();
        assert_eq!(
            headers,
            ["type,figure,first,second", "type,figure,third"],
            "{headers:?}"
        );
        assert!(parts.iter().all(|p| widest_line(p) <= 50));
        assert_eq!(parts[1].rows[0], ["homonyms", "refusal", "100.0% (n=3)"]);
    }

    #[test]
    fn a_column_wider_than_the_screen_still_gets_a_table() {
        let t = table(&["k", "wide", "x"], &[&["1", &"w".repeat(40), "2"]]);
        let parts = t.fit(20, 1);
        let headers: Vec<_> = parts.iter().map(|p| p.header.join(",")).collect();
        assert_eq!(headers, ["k,wide", "k,x"]);
    }

    #[test]
    fn markdown_text_is_literal() {
        assert_eq!(
            md("<i>r\"evil</i> a|b `c` *d* & \\"),
            "\\<i>r\"evil\\</i> a\\|b \\`c\\` \\*d\\* & \\\\"
        );
        // Only what a renderer would read as markup: a tag, a comment, an
        // autolink, an entity.
        assert_eq!(
            md("<!-- x --> <?php <https://x> &amp; &#60; AT&T"),
            "\\<!-- x --> \\<?php \\<https://x> \\&amp; \\&#60; AT&T"
        );
        // What is text already stays as it is: no entity in the raw file.
        assert_eq!(md("p < 0.001"), "p < 0.001");
        assert_eq!(md("a <b, c> d & e >"), "a \\<b, c> d & e >");
        assert_eq!(md("x <"), "x <");
        assert_eq!(md("x &"), "x &");
        assert_eq!(md("&; &#; &x"), "&; &#; &x");
        // A line break would end a table row; a NUL is no text.
        assert_eq!(md("defi\nnitions\u{0}"), "defi\\\\nnitions\\\\u{0}");
        assert_eq!(md("12.5% [4.1, 31.0]"), "12.5% [4.1, 31.0]");
    }

    #[test]
    fn notes_wrap_at_spaces() {
        assert_eq!(wrap("aa bb cc dd", 5), "aa bb\ncc dd");
        assert_eq!(wrap("a verylongword b", 4), "a\nverylongword\nb");
        assert_eq!(wrap("", 10), "");
        // A CJK character takes two columns of the width.
        assert_eq!(wrap("同音词 同音词 同音词", 14), "同音词 同音词\n同音词");
    }

    /// A command in backticks is never broken, not even inside a quoted
    /// word (`'my run'`): it moves whole to the next line, or stands alone
    /// on a line longer than the width; text outside backticks wraps as
    /// before, and a lone backtick opens nothing.
    #[test]
    fn notes_wrap_outside_backticks() {
        let note = "warning: run `my run`: 3 answers have no verdict of judge \
                    `xsafe>llm:openai:j` and count as unscored (`xsafe rejudge 'my run' --judge \
                    xsafe --escalate-to llm:openai:j` judges them)";
        let wrapped = wrap(note, 40);
        assert_eq!(
            wrapped,
            "warning: run `my run`: 3 answers have no\n\
             verdict of judge `xsafe>llm:openai:j`\n\
             and count as unscored\n\
             (`xsafe rejudge 'my run' --judge xsafe --escalate-to llm:openai:j`\n\
             judges them)"
        );
        // Nothing is lost or added but the line breaks.
        assert_eq!(wrapped.replace('\n', " "), note);
        // A span's own spacing is kept; text after it sticks to it.
        assert_eq!(wrap("a `b  c`, d", 6), "a\n`b  c`,\nd");
        // An unclosed backtick is a character like any other.
        assert_eq!(wrap("it`s a b", 5), "it`s\na b");
        assert_eq!(wrap("`a b` `c d` e", 11), "`a b` `c d`\ne");
    }
}
