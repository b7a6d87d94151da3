//! SVG charts drawn from plain numbers, for the HTML report.
//!
//! Every chart is a self-contained `<svg>` element with a `viewBox` (so CSS
//! can scale it to its container's width), a `<title>` and an `aria-label`.
//! Rates are fractions in `0..=1` and are drawn as percentages on fixed
//! 0–100% axes, so charts of different runs compare at a glance. Colours
//! come from the Okabe–Ito palette, which stays distinguishable under the
//! common forms of colour blindness; points of different groups also differ
//! by shape, and lines by dash.
//! Every mark carries a `class` and `data-*` attributes, so tests (and the
//! page's script) can find them without parsing geometry.

use crate::render::{cut_to_width, display_width, end_to_width};
use std::fmt::Write as _;

/// The Okabe–Ito colour-blind-safe palette, in the order series get them
/// (yellow last: it is the weakest on white).
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442",
];

/// Width of every chart in `viewBox` units; the page scales it.
const WIDTH: f64 = 760.0;
const FONT: f64 = 12.0;
/// Rough advance of one column of text at [`FONT`] (a Latin letter; a
/// wide CJK character or emoji takes two: [`display_width`]), for layout
/// without a font.
const CHAR_W: f64 = 6.6;
/// Columns of a bar group's label ([`display_width`]) drawn before it is
/// cut (in the middle, see [`short`]): most prompt type names fit whole.
const MAX_LABEL_CHARS: usize = 40;

/// Escapes text for HTML and SVG content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newlines are not
            // allowed in XML; model output sometimes has them.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The colour of the `i`-th series.
pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Formats a fraction as a percentage with one decimal.
pub fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}%", x * 100.0)
    } else {
        "n/a".to_string()
    }
}

fn clamp01(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Shortens a label for drawing by cutting out its middle, so that the
/// start and the end (where names of one family differ:
/// `..._questions`, `..._complaints`) both stay; the full text stays in
/// the `<title>`. `max` counts columns ([`display_width`]: a CJK character
/// takes two), and the cuts fall between characters
/// ([`cut_to_width`]).
fn short(label: &str, max: usize) -> String {
    if display_width(label) <= max {
        return label.to_string();
    }
    let kept = max.saturating_sub(1).max(2);
    // A little more of the start, which says what family the name is of.
    let tail = kept * 2 / 5;
    let head = kept - tail;
    let mut s = cut_to_width(label, head).to_string();
    s.push('…');
    s.push_str(end_to_width(label, tail));
    s
}

/// [`short`] of each label, at most `max` columns where that keeps
/// different labels apart: a label that would read like another one (cut
/// to the same text) is given more columns until it does not, up to
/// its whole text.
fn distinct_short(labels: &[&str], max: usize) -> Vec<String> {
    let mut budget = vec![max; labels.len()];
    loop {
        let shorts: Vec<String> = labels
            .iter()
            .zip(&budget)
            .map(|(l, &b)| short(l, b))
            .collect();
        let mut changed = false;
        for i in 0..labels.len() {
            let clash = (0..labels.len())
                .any(|j| j != i && labels[j] != labels[i] && shorts[j] == shorts[i]);
            if clash && shorts[i] != labels[i] {
                budget[i] += 1;
                changed = true;
            }
        }
        if !changed {
            return shorts;
        }
    }
}

/// The estimated width of `label` drawn at [`FONT`]: [`CHAR_W`] per column
/// ([`display_width`]), so a wide CJK character or emoji counts twice.
fn text_width(label: &str) -> f64 {
    display_width(label) as f64 * CHAR_W
}

/// One bar: a rate and its interval, as fractions.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The series (e.g. the strategy); bars of one series share a colour.
    pub series: String,
    /// The rate; not finite means "no data" and draws no bar.
    pub value: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
    /// Extra text for the tooltip (e.g. `12 of 40`).
    pub note: String,
}

/// A group of bars side by side (e.g. one prompt type).
#[derive(Debug, Clone, PartialEq)]
pub struct BarGroup {
    /// The group's name, written left of its bars (shortened when long, in
    /// full in the tooltip).
    pub label: String,
    /// One bar per series, drawn top to bottom in this order.
    pub bars: Vec<Bar>,
}

/// A chart's title and the description read by screen readers.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<'a> {
    /// Shown as the chart's `<title>` and used as its id's stem.
    pub title: &'a str,
    /// The `aria-label`: what the chart shows, in a sentence.
    pub description: &'a str,
    /// Every series of the page in order, so a series has the same colour
    /// in every chart; series not listed get the colours after these.
    pub palette: &'a [String],
}

impl Frame<'_> {
    /// The series present, in palette order then first-seen order.
    fn order<'s>(&self, names: impl Iterator<Item = &'s str>) -> Vec<&'s str> {
        let mut seen = series_order(names);
        seen.sort_by_key(|s| {
            self.palette
                .iter()
                .position(|p| p == s)
                .unwrap_or(usize::MAX)
        });
        seen
    }

    /// The colour of a series present in `order`.
    fn colour_of(&self, order: &[&str], name: &str) -> &'static str {
        match self.palette.iter().position(|p| p == name) {
            Some(i) => colour(i),
            None => {
                let extra = order
                    .iter()
                    .filter(|s| !self.palette.iter().any(|p| p == *s))
                    .position(|s| *s == name)
                    .unwrap_or(0);
                colour(self.palette.len() + extra)
            }
        }
    }
}

fn open_svg(out: &mut String, frame: &Frame, kind: &str, height: f64) {
    let _ = write!(
        out,
        "<svg class=\"chart chart-{kind}\" \
         viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"{}\" \
         font-size=\"{FONT}\" font-family=\"system-ui, sans-serif\">\
         <title>{}</title>",
        escape(frame.description),
        escape(frame.title),
    );
}

/// Series names in first-seen order, for colours and the legend.
fn series_order<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for n in names {
        if !seen.contains(&n) {
            seen.push(n);
        }
    }
    seen
}

/// One entry of a legend: a swatch (a marker, on a short line when
/// `dash` is given) and the name it stands for.
struct Key<'a> {
    name: String,
    colour: &'a str,
    shape: Shape,
    /// Draws the swatch as a line with this `stroke-dasharray` (`""`:
    /// solid) through the marker, for line charts.
    dash: Option<&'static str>,
}

impl<'a> Key<'a> {
    fn new(name: impl Into<String>, colour: &'a str, shape: Shape) -> Self {
        Key {
            name: name.into(),
            colour,
            shape,
            dash: None,
        }
    }
}

/// Draws a legend of coloured swatches from `x`, `y`, wrapping at the
/// chart's width; returns the height used.
fn legend(out: &mut String, items: &[Key<'_>], x0: f64, y0: f64) -> f64 {
    if items.is_empty() {
        return 0.0;
    }
    let mut x = x0;
    let mut y = y0;
    let line = FONT + 8.0;
    out.push_str("<g class=\"legend\">");
    for key in items {
        let label = short(&key.name, 40);
        let swatch = if key.dash.is_some() { 26.0 } else { 18.0 };
        let w = swatch + text_width(&label) + 16.0;
        if x + w > WIDTH - 8.0 && x > x0 {
            x = x0;
            y += line;
        }
        let _ = write!(
            out,
            "<g class=\"legend-item\" data-series=\"{}\"><title>{}</title>",
            escape(&key.name),
            escape(&key.name)
        );
        let cx = match key.dash {
            Some(dash) => {
                let _ = write!(
                    out,
                    "<line x1=\"{x:.1}\" y1=\"{cy:.1}\" x2=\"{:.1}\" y2=\"{cy:.1}\" stroke=\"{}\" \
                     stroke-width=\"2\" stroke-dasharray=\"{dash}\"/>",
                    x + 22.0,
                    key.colour,
                    cy = y - 4.0
                );
                x + 11.0
            }
            None => x + 6.0,
        };
        key.shape.draw(out, cx, y - 4.0, 4.5, key.colour, "");
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            x + swatch - 2.0,
            y,
            escape(&label)
        );
        x += w;
    }
    out.push_str("</g>");
    y - y0 + line
}

/// Marker shapes, so points differ by more than colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A filled circle: the marker of the first group of points, and the
    /// swatch of the scatter plot's and line chart's colour legends.
    Circle,
    /// A filled square: the marker of the second group, and the swatch of
    /// the bar chart's legend.
    Square,
    /// A square standing on a corner: the marker of the third group.
    Diamond,
    /// A triangle pointing up: the marker of the fourth group.
    Triangle,
}

impl Shape {
    const ALL: [Shape; 4] = [
        Shape::Circle,
        Shape::Square,
        Shape::Diamond,
        Shape::Triangle,
    ];

    /// The `i`-th shape, cycling.
    pub fn nth(i: usize) -> Shape {
        Self::ALL[i % Self::ALL.len()]
    }

    fn draw(self, out: &mut String, x: f64, y: f64, r: f64, fill: &str, attrs: &str) {
        match self {
            Shape::Circle => {
                let _ = write!(
                    out,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r:.1}\" fill=\"{fill}\"{attrs}/>"
                );
            }
            Shape::Square => {
                let s = r * 0.9;
                let _ = write!(
                    out,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"{attrs}/>",
                    x - s,
                    y - s,
                    2.0 * s,
                    2.0 * s
                );
            }
            Shape::Diamond => {
                let s = r * 1.25;
                let _ = write!(
                    out,
                    "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{fill}\"{attrs}/>",
                    x,
                    y - s,
                    x + s,
                    y,
                    x,
                    y + s,
                    x - s,
                    y
                );
            }
            Shape::Triangle => {
                let s = r * 1.3;
                let _ = write!(
                    out,
                    "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{fill}\"{attrs}/>",
                    x,
                    y - s,
                    x + s * 0.9,
                    y + s * 0.6,
                    x - s * 0.9,
                    y + s * 0.6
                );
            }
        }
    }
}

/// Vertical grid lines and labels at 0, 25, 50, 75 and 100% for a
/// horizontal axis spanning `x0..x1`, labels under `y1`.
fn x_percent_axis(out: &mut String, x0: f64, x1: f64, y0: f64, y1: f64) {
    out.push_str("<g class=\"axis axis-x\">");
    for i in 0..=4 {
        let f = i as f64 / 4.0;
        let x = x0 + f * (x1 - x0);
        let _ = write!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{y0:.1}\" x2=\"{x:.1}\" y2=\"{y1:.1}\" stroke=\"#ddd\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}%</text>",
            y1 + FONT + 4.0,
            i * 25
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{x0:.1}\" y1=\"{y1:.1}\" x2=\"{x1:.1}\" y2=\"{y1:.1}\" stroke=\"#555\"/></g>"
    );
}

/// Horizontal grid lines and labels at 0–100% for a vertical axis spanning
/// `y1` (0%) up to `y0` (100%), labels left of `x0`.
fn y_percent_axis(out: &mut String, x0: f64, x1: f64, y0: f64, y1: f64) {
    out.push_str("<g class=\"axis axis-y\">");
    for i in 0..=4 {
        let f = i as f64 / 4.0;
        let y = y1 - f * (y1 - y0);
        let _ = write!(
            out,
            "<line x1=\"{x0:.1}\" y1=\"{y:.1}\" x2=\"{x1:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}%</text>",
            x0 - 6.0,
            y + FONT / 3.0,
            i * 25
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{x0:.1}\" y1=\"{y0:.1}\" x2=\"{x0:.1}\" y2=\"{y1:.1}\" stroke=\"#555\"/></g>"
    );
}

fn axis_title_x(out: &mut String, text: &str, x0: f64, x1: f64, y: f64) {
    let _ = write!(
        out,
        "<text class=\"axis-title\" x=\"{:.1}\" y=\"{y:.1}\" text-anchor=\"middle\">{}</text>",
        (x0 + x1) / 2.0,
        escape(text)
    );
}

fn axis_title_y(out: &mut String, text: &str, x: f64, y0: f64, y1: f64) {
    let cy = (y0 + y1) / 2.0;
    let _ = write!(
        out,
        "<text class=\"axis-title\" x=\"{x:.1}\" y=\"{cy:.1}\" text-anchor=\"middle\" \
         transform=\"rotate(-90 {x:.1} {cy:.1})\">{}</text>",
        escape(text)
    );
}

/// Horizontal grouped bars with interval whiskers: one row of bars per
/// group (e.g. prompt type), one bar per series (e.g. strategy) in a
/// group, the axis from 0 to 100%.
///
/// Each bar is a `<rect class="bar">` with `data-group`, `data-series` and
/// `data-value`; a bar without data (value not finite) is drawn as the
/// text "no data" with `class="bar-missing"`.
pub fn bars_with_intervals(frame: &Frame, axis_title: &str, groups: &[BarGroup]) -> String {
    let series = frame.order(
        groups
            .iter()
            .flat_map(|g| g.bars.iter().map(|b| b.series.as_str())),
    );
    let bar_h = 12.0;
    let bar_gap = 2.0;
    let group_gap = 10.0;
    let names: Vec<&str> = groups.iter().map(|g| g.label.as_str()).collect();
    let labels = distinct_short(&names, MAX_LABEL_CHARS);
    let left = 12.0
        + labels
            .iter()
            .map(|l| text_width(l))
            // A floor that most type names fit, so charts stacked on the
            // page share their left edge.
            .fold(150.0_f64, f64::max);
    let right = WIDTH - 24.0;
    let top = 12.0;
    let rows: f64 = groups
        .iter()
        .map(|g| g.bars.len().max(1) as f64 * (bar_h + bar_gap) - bar_gap + group_gap)
        .sum();
    let plot_bottom = top + rows.max(bar_h + group_gap);
    let mut body = String::new();
    x_percent_axis(&mut body, left, right, top, plot_bottom);
    let scale = |v: f64| left + clamp01(v) * (right - left);
    let mut y = top + group_gap / 2.0;
    for (g, label) in groups.iter().zip(&labels) {
        let n = g.bars.len().max(1) as f64;
        let group_h = n * (bar_h + bar_gap) - bar_gap;
        let _ = write!(
            body,
            "<g class=\"bar-group\" data-group=\"{}\"><text class=\"group-label\" x=\"{:.1}\" \
             y=\"{:.1}\" text-anchor=\"end\"><title>{}</title>{}</text>",
            escape(&g.label),
            left - 6.0,
            y + group_h / 2.0 + FONT / 3.0,
            escape(&g.label),
            escape(label)
        );
        for b in &g.bars {
            let tip = format!(
                "{} · {}: {} (95% interval {} to {}){}{}",
                g.label,
                b.series,
                pct(b.value),
                pct(b.lo),
                pct(b.hi),
                if b.note.is_empty() { "" } else { "; " },
                b.note
            );
            if b.value.is_finite() {
                // A rate of 0 still shows a sliver, so it reads as 0
                // rather than as missing.
                let w = (scale(b.value) - left).max(1.5);
                let _ = write!(
                    body,
                    "<rect class=\"bar\" data-group=\"{}\" data-series=\"{}\" data-value=\"{:.4}\" \
                     x=\"{left:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h:.1}\" \
                     fill=\"{}\"><title>{}</title></rect>",
                    escape(&g.label),
                    escape(&b.series),
                    b.value,
                    frame.colour_of(&series, &b.series),
                    escape(&tip)
                );
                if b.lo.is_finite() && b.hi.is_finite() {
                    let (x1, x2) = (scale(b.lo), scale(b.hi));
                    let cy = y + bar_h / 2.0;
                    let _ = write!(
                        body,
                        "<path class=\"ci\" d=\"M{x1:.1} {cy:.1}H{x2:.1}M{x1:.1} {:.1}V{:.1}M{x2:.1} {:.1}V{:.1}\" \
                         stroke=\"#222\" stroke-width=\"1.2\" fill=\"none\"/>",
                        cy - 4.0,
                        cy + 4.0,
                        cy - 4.0,
                        cy + 4.0
                    );
                }
            } else {
                let _ = write!(
                    body,
                    "<text class=\"bar-missing\" data-group=\"{}\" data-series=\"{}\" x=\"{:.1}\" \
                     y=\"{:.1}\" fill=\"#666\" font-style=\"italic\"><title>{}</title>no data</text>",
                    escape(&g.label),
                    escape(&b.series),
                    left + 4.0,
                    y + bar_h - 2.0,
                    escape(&tip)
                );
            }
            y += bar_h + bar_gap;
        }
        if g.bars.is_empty() {
            y += bar_h + bar_gap;
        }
        y += group_gap - bar_gap;
        body.push_str("</g>");
    }
    axis_title_x(
        &mut body,
        axis_title,
        left,
        right,
        plot_bottom + 2.0 * FONT + 8.0,
    );
    let items: Vec<Key<'_>> = series
        .iter()
        .map(|s| Key::new(*s, frame.colour_of(&series, s), Shape::Square))
        .collect();
    let legend_y = plot_bottom + 3.0 * FONT + 22.0;
    let mut legend_svg = String::new();
    let legend_h = legend(&mut legend_svg, &items, left, legend_y);
    let height = legend_y + legend_h;
    let mut out = String::new();
    open_svg(&mut out, frame, "bars", height);
    out.push_str(&body);
    out.push_str(&legend_svg);
    out.push_str("</svg>");
    out
}

/// One point of the trade-off chart, with its intervals.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Colour key (e.g. the strategy).
    pub series: String,
    /// Shape key (e.g. the target).
    pub group: String,
    /// Horizontal position as a fraction, 0 to 1 (in the report, full
    /// compliance on unsafe prompts); not finite leaves the point out.
    pub x: f64,
    /// Lower end of the horizontal interval, as a fraction; the whisker is
    /// drawn only when both ends are finite.
    pub x_lo: f64,
    /// Upper end of the horizontal interval, as a fraction.
    pub x_hi: f64,
    /// Vertical position as a fraction, 0 to 1 (in the report, refusal on
    /// safe prompts); not finite leaves the point out.
    pub y: f64,
    /// Lower end of the vertical interval, as a fraction; the whisker is
    /// drawn only when both ends are finite.
    pub y_lo: f64,
    /// Upper end of the vertical interval, as a fraction.
    pub y_hi: f64,
}

/// Marks of the scatter plot whose centres are nearer than this, in
/// `viewBox` units (about half a percentage point across the chart, under
/// one up it), would mostly hide each other.
const SAME_PLACE: f64 = 3.0;

/// The radius of a scatter plot's marks.
const POINT_R: f64 = 6.0;

/// The points of `at` (drawn centres, in order) in sets whose marks would
/// hide each other: each point joins the first set whose first point is
/// nearer than [`SAME_PLACE`], so the sets do not depend on anything but
/// the order of the points.
fn same_places(at: &[(f64, f64)]) -> Vec<Vec<usize>> {
    let mut sets: Vec<Vec<usize>> = Vec::new();
    for (i, &(x, y)) in at.iter().enumerate() {
        match sets.iter_mut().find(|set| {
            let (fx, fy) = at[set[0]];
            (x - fx).hypot(y - fy) < SAME_PLACE
        }) {
            Some(set) => set.push(i),
            None => sets.push(vec![i]),
        }
    }
    sets
}

/// How far the marks of a set of `n` points at one place are drawn from
/// it: on a circle just wide enough that neighbours do not touch.
fn spread_radius(n: usize) -> f64 {
    if n < 2 {
        0.0
    } else {
        (POINT_R + 1.0) / (std::f64::consts::PI / n as f64).sin()
    }
}

/// Where the `i`-th of `n` marks at one place is drawn, from that place:
/// around it, the first to the left, the others in turn.
fn spread(i: usize, n: usize) -> (f64, f64) {
    if n < 2 {
        return (0.0, 0.0);
    }
    let r = spread_radius(n);
    let angle = std::f64::consts::PI + std::f64::consts::TAU * i as f64 / n as f64;
    (r * angle.cos(), r * angle.sin())
}

/// A rectangle of the chart: left, top, right, bottom.
type Area = (f64, f64, f64, f64);

/// Where a label goes, and what of it is drawn.
struct PlacedLabel {
    x: f64,
    y: f64,
    anchor: &'static str,
    /// The text, cut in the middle to fit beside the place.
    shown: String,
    area: Area,
}

/// The label of the points at `at`, whose marks reach `reach` from it:
/// diagonally beside them, toward the middle of the chart first, above
/// then below; the first such place (then each a line further up or down)
/// that stays inside `plot` and clear of the labels already drawn
/// (`taken`). Nowhere free, the first place.
fn place_label(text: &str, at: (f64, f64), reach: f64, plot: Area, taken: &[Area]) -> PlacedLabel {
    let (cx, cy) = at;
    let (left, top, right, bottom) = plot;
    let sides: [(f64, &'static str); 2] = if cx <= (left + right) / 2.0 {
        [(cx + reach, "start"), (cx - reach, "end")]
    } else {
        [(cx - reach, "end"), (cx + reach, "start")]
    };
    let line = FONT + 4.0;
    let mut first = None;
    for k in 0..=12 {
        let lift = f64::from(k) * line;
        for &(x, anchor) in &sides {
            // As much of the names as fits between the label's start and
            // the chart's edge (all of them in its title).
            let room = match anchor {
                "start" => WIDTH - 8.0 - x,
                _ => x - left,
            };
            let shown = short(text, ((room / CHAR_W) as usize).clamp(12, 60));
            let w = text_width(&shown);
            for y in [cy - reach - lift, cy + reach + FONT + lift] {
                let (x0, x1) = match anchor {
                    "start" => (x, x + w),
                    _ => (x - w, x),
                };
                let area = (x0, y - FONT, x1, y + 3.0);
                let label = PlacedLabel {
                    x,
                    y,
                    anchor,
                    shown: shown.clone(),
                    area,
                };
                let inside =
                    x0 >= left && x1 <= WIDTH - 4.0 && area.1 >= top - 4.0 && area.3 <= bottom;
                let clear = taken
                    .iter()
                    .all(|t| t.2 <= x0 || x1 <= t.0 || t.3 <= area.1 || area.3 <= t.1);
                if inside && clear {
                    return label;
                }
                first.get_or_insert(label);
            }
        }
    }
    first.expect("at least one place tried")
}

/// A scatter plot on 0–100% axes with interval crosses: colour by
/// `series`, shape by `group`. Each point is drawn with
/// `class="point"` and `data-series`, `data-group`, `data-x`, `data-y`;
/// points whose coordinates are not both finite are left out (and the
/// count of those is said under the chart).
///
/// Points at the same place (equal rates, or near enough that their marks
/// would hide each other) are drawn side by side on a small circle around
/// it, each mark with `data-coincident` (how many share the place); the
/// place itself is marked by a dot (`class="coincident-at"`) and their
/// intervals, and a label beside it (`class="coincident-label"`) names
/// them all. Their `data-x`, `data-y` and tooltips keep their exact
/// values, and a note under the chart says so.
pub fn scatter(frame: &Frame, x_title: &str, y_title: &str, points: &[Point]) -> String {
    let series = frame.order(points.iter().map(|p| p.series.as_str()));
    let groups = series_order(points.iter().map(|p| p.group.as_str()));
    let left = 64.0;
    let right = WIDTH - 24.0;
    let top = 16.0;
    let bottom = top + 380.0;
    let sx = |v: f64| left + clamp01(v) * (right - left);
    let sy = |v: f64| bottom - clamp01(v) * (bottom - top);
    let mut body = String::new();
    x_percent_axis(&mut body, left, right, top, bottom);
    y_percent_axis(&mut body, left, right, top, bottom);
    axis_title_x(&mut body, x_title, left, right, bottom + 2.0 * FONT + 8.0);
    axis_title_y(&mut body, y_title, 18.0, top, bottom);
    let drawn: Vec<&Point> = points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    let missing = points.len() - drawn.len();
    let at: Vec<(f64, f64)> = drawn.iter().map(|p| (sx(p.x), sy(p.y))).collect();
    let places = same_places(&at);
    // Each drawn point's place (its index in `places`) and rank there.
    let mut place_of = vec![(0, 0); drawn.len()];
    for (k, set) in places.iter().enumerate() {
        for (rank, &i) in set.iter().enumerate() {
            place_of[i] = (k, rank);
        }
    }
    // How a point is named where it is not told apart by its mark alone.
    let name = |p: &Point| {
        if groups.len() > 1 {
            format!("{} · {}", p.group, p.series)
        } else {
            p.series.clone()
        }
    };
    for (i, p) in drawn.iter().enumerate() {
        let gi = groups.iter().position(|g| *g == p.group).unwrap_or(0);
        let (cx, cy) = at[i];
        let (k, rank) = place_of[i];
        let set = &places[k];
        let mut tip = format!(
            "{} · {}: x {} ({} to {}), y {} ({} to {})",
            p.group,
            p.series,
            pct(p.x),
            pct(p.x_lo),
            pct(p.x_hi),
            pct(p.y),
            pct(p.y_lo),
            pct(p.y_hi)
        );
        if set.len() > 1 {
            let others: Vec<String> = set
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| name(drawn[j]))
                .collect();
            let _ = write!(
                tip,
                "; at the place of {}, drawn beside {}",
                others.join(", "),
                if others.len() == 1 { "it" } else { "them" }
            );
        }
        let _ = write!(
            body,
            "<g class=\"point-mark\"><title>{}</title>",
            escape(&tip)
        );
        let c = frame.colour_of(&series, &p.series);
        // The intervals at the point's own place, its mark beside it when
        // it shares the place.
        if p.x_lo.is_finite() && p.x_hi.is_finite() {
            let _ = write!(
                body,
                "<path class=\"ci\" d=\"M{:.1} {cy:.1}H{:.1}\" stroke=\"{c}\" stroke-opacity=\"0.6\"/>",
                sx(p.x_lo),
                sx(p.x_hi)
            );
        }
        if p.y_lo.is_finite() && p.y_hi.is_finite() {
            let _ = write!(
                body,
                "<path class=\"ci\" d=\"M{cx:.1} {:.1}V{:.1}\" stroke=\"{c}\" stroke-opacity=\"0.6\"/>",
                sy(p.y_lo),
                sy(p.y_hi)
            );
        }
        let coincident = if set.len() > 1 {
            format!(" data-coincident=\"{}\"", set.len())
        } else {
            String::new()
        };
        let attrs = format!(
            " class=\"point\" data-series=\"{}\" data-group=\"{}\" data-x=\"{:.4}\" data-y=\"{:.4}\" stroke=\"#fff\" stroke-width=\"1\"{coincident}",
            escape(&p.series),
            escape(&p.group),
            p.x,
            p.y
        );
        let (dx, dy) = spread(rank, set.len());
        Shape::nth(gi).draw(&mut body, cx + dx, cy + dy, POINT_R, c, &attrs);
        body.push_str("</g>");
    }
    let mut shared = 0;
    // The areas of the labels drawn, which the next keeps clear of.
    let mut taken: Vec<Area> = Vec::new();
    for set in places.iter().filter(|set| set.len() > 1) {
        shared += set.len();
        let (cx, cy) = at[set[0]];
        let names: Vec<String> = set.iter().map(|&i| name(drawn[i])).collect();
        let text = names.join(", ");
        let reach = spread_radius(set.len()) + POINT_R + 4.0;
        let label = place_label(&text, (cx, cy), reach, (left, top, right, bottom), &taken);
        taken.push(label.area);
        let PlacedLabel { x, y, anchor, .. } = label;
        let _ = write!(
            body,
            "<circle class=\"coincident-at\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"1.5\" fill=\"#222\"/>\
             <text class=\"coincident-label\" data-count=\"{}\" x=\"{x:.1}\" y=\"{y:.1}\" \
             text-anchor=\"{anchor}\" fill=\"#222\" stroke=\"#fff\" stroke-width=\"3\" \
             paint-order=\"stroke\"><title>{}</title>{}</text>",
            set.len(),
            escape(&format!("Same place: {text}")),
            escape(&label.shown)
        );
    }
    let mut y = bottom + 3.0 * FONT + 22.0;
    if missing > 0 {
        let _ = write!(
            body,
            "<text class=\"note\" x=\"{left:.1}\" y=\"{y:.1}\" fill=\"#666\">{missing} point(s) without data on both axes are not drawn.</text>"
        );
        y += FONT + 8.0;
    }
    if shared > 0 {
        let _ = write!(
            body,
            "<text class=\"note\" x=\"{left:.1}\" y=\"{y:.1}\" fill=\"#666\">{shared} points share a \
             place: drawn side by side around it (the dot) and named; exact values in tooltips.</text>"
        );
        y += FONT + 8.0;
    }
    let colour_items: Vec<Key<'_>> = series
        .iter()
        .map(|s| Key::new(*s, frame.colour_of(&series, s), Shape::Circle))
        .collect();
    y += legend(&mut body, &colour_items, left, y);
    if groups.len() > 1 {
        let shape_items: Vec<Key<'_>> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| Key::new(*g, "#555", Shape::nth(i)))
            .collect();
        y += legend(&mut body, &shape_items, left, y);
    }
    let mut out = String::new();
    open_svg(&mut out, frame, "scatter", y);
    out.push_str(&body);
    out.push_str("</svg>");
    out
}

/// Line dashes, by group, so lines of one colour differ by more than
/// their markers: solid, dashed, dotted, dash-dot.
const DASHES: [&str; 4] = ["", "7 4", "2 3", "9 3 2 3"];

/// One point of a line: a rate at an integer x, with its interval.
#[derive(Debug, Clone, PartialEq)]
pub struct LinePoint {
    /// The x value (e.g. the turn).
    pub x: u32,
    /// The rate, as a fraction; not finite leaves the point out.
    pub y: f64,
    /// Lower end of the interval; the whisker is drawn only when both ends
    /// are finite.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
    /// Extra text for the tooltip (e.g. `12 of 40`).
    pub note: String,
}

/// One line of a line chart: integer x (e.g. the turn) against a rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Colour key (e.g. the strategy): the key of its colour in
    /// [`Frame::palette`], as in the page's other charts, and the line's
    /// `data-series`.
    pub series: String,
    /// Marker and dash key (e.g. the target): lines of one group share a
    /// marker shape and a dash; the line's `data-group`.
    pub group: String,
    /// Drawn in the order given.
    pub points: Vec<LinePoint>,
}

/// Lines on a 0–100% y axis against integer x from the smallest to the
/// largest x given, each point with its interval as a whisker: colour by
/// `series`, marker shape and dash by `group` (with a legend of each when
/// there are several groups). Each line is a `<polyline class="line">`
/// with `data-series` and `data-group`; each point a mark of class
/// `line-point` with `data-x` and `data-y`. Lines of a turn are set a few
/// units apart so that their whiskers do not hide each other.
pub fn lines(frame: &Frame, x_title: &str, y_title: &str, series: &[Series]) -> String {
    let max_x = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.x))
        .max()
        .unwrap_or(1)
        .max(2);
    let min_x = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.x))
        .min()
        .unwrap_or(1)
        .min(max_x - 1);
    let left = 64.0;
    let right = WIDTH - 24.0;
    let top = 16.0;
    let bottom = top + 260.0;
    // The first and last turns a little inside the axes, so that lines set
    // to their side stay off them.
    let pad = 16.0;
    let step = (right - left - 2.0 * pad) / f64::from(max_x - min_x);
    let sx = |v: u32| left + pad + f64::from(v - min_x) * step;
    let sy = |v: f64| bottom - clamp01(v) * (bottom - top);
    let mut body = String::new();
    y_percent_axis(&mut body, left, right, top, bottom);
    body.push_str("<g class=\"axis axis-x\">");
    for x in min_x..=max_x {
        let px = sx(x);
        let _ = write!(
            body,
            "<line x1=\"{px:.1}\" y1=\"{bottom:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#555\"/>\
             <text class=\"tick\" x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{x}</text>",
            bottom + 4.0,
            bottom + FONT + 4.0
        );
    }
    let _ = write!(
        body,
        "<line x1=\"{left:.1}\" y1=\"{bottom:.1}\" x2=\"{right:.1}\" y2=\"{bottom:.1}\" stroke=\"#555\"/></g>"
    );
    axis_title_x(&mut body, x_title, left, right, bottom + 2.0 * FONT + 8.0);
    axis_title_y(&mut body, y_title, 18.0, top, bottom);
    let names = frame.order(series.iter().map(|s| s.series.as_str()));
    let groups = series_order(series.iter().map(|s| s.group.as_str()));
    // Each line a little to the side of the turn, centred on it, at most a
    // fifth of the way to the next turn.
    let spread = (6.0 * (series.len().max(1) - 1) as f64).min(step / 5.0);
    let offset = |i: usize| match series.len() {
        0 | 1 => 0.0,
        n => -spread / 2.0 + spread * i as f64 / (n - 1) as f64,
    };
    for (i, s) in series.iter().enumerate() {
        let c = frame.colour_of(&names, &s.series);
        let gi = groups.iter().position(|g| *g == s.group).unwrap_or(0);
        let (shape, dash) = (Shape::nth(gi), DASHES[gi % DASHES.len()]);
        let dx = offset(i);
        let pts: Vec<&LinePoint> = s.points.iter().filter(|p| p.y.is_finite()).collect();
        let coords: Vec<String> = pts
            .iter()
            .map(|p| format!("{:.1},{:.1}", sx(p.x) + dx, sy(p.y)))
            .collect();
        let name = if groups.len() > 1 {
            format!("{} · {}", s.group, s.series)
        } else {
            s.series.clone()
        };
        let _ = write!(
            body,
            "<g class=\"line-series\" data-series=\"{}\" data-group=\"{}\"><title>{}</title>\
             <polyline class=\"line\" data-series=\"{}\" data-group=\"{}\" points=\"{}\" fill=\"none\" \
             stroke=\"{c}\" stroke-width=\"2\"{}/>",
            escape(&s.series),
            escape(&s.group),
            escape(&name),
            escape(&s.series),
            escape(&s.group),
            coords.join(" "),
            if dash.is_empty() {
                String::new()
            } else {
                format!(" stroke-dasharray=\"{dash}\"")
            }
        );
        for p in pts {
            let (px, py) = (sx(p.x) + dx, sy(p.y));
            let tip = format!(
                "{name} · turn {}: {} (95% interval {} to {}){}{}",
                p.x,
                pct(p.y),
                pct(p.lo),
                pct(p.hi),
                if p.note.is_empty() { "" } else { "; " },
                p.note
            );
            let _ = write!(
                body,
                "<g class=\"point-mark\"><title>{}</title>",
                escape(&tip)
            );
            if p.lo.is_finite() && p.hi.is_finite() {
                let (y1, y2) = (sy(p.lo), sy(p.hi));
                let _ = write!(
                    body,
                    "<path class=\"ci\" d=\"M{px:.1} {y1:.1}V{y2:.1}M{:.1} {y1:.1}H{:.1}M{:.1} {y2:.1}H{:.1}\" \
                     stroke=\"{c}\" stroke-width=\"1.2\" stroke-opacity=\"0.75\" fill=\"none\"/>",
                    px - 3.0,
                    px + 3.0,
                    px - 3.0,
                    px + 3.0
                );
            }
            let attrs = format!(
                " class=\"line-point\" data-series=\"{}\" data-group=\"{}\" data-x=\"{}\" data-y=\"{:.4}\" \
                 stroke=\"#fff\" stroke-width=\"1\"",
                escape(&s.series),
                escape(&s.group),
                p.x,
                p.y
            );
            shape.draw(&mut body, px, py, 4.5, c, &attrs);
            body.push_str("</g>");
        }
        body.push_str("</g>");
    }
    let items: Vec<Key<'_>> = names
        .iter()
        .map(|s| Key {
            dash: Some(""),
            ..Key::new(*s, frame.colour_of(&names, s), Shape::Circle)
        })
        .collect();
    let mut y = bottom + 3.0 * FONT + 22.0;
    y += legend(&mut body, &items, left, y);
    if groups.len() > 1 {
        let group_items: Vec<Key<'_>> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| Key {
                dash: Some(DASHES[i % DASHES.len()]),
                ..Key::new(*g, "#555", Shape::nth(i))
            })
            .collect();
        y += legend(&mut body, &group_items, left, y);
    }
    let mut out = String::new();
    open_svg(&mut out, frame, "lines", y);
    out.push_str(&body);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "<script>alert('x')</script> & \"q\" </svg>";

    fn frame() -> Frame<'static> {
        Frame {
            title: "T <&>",
            description: "D \"quoted\"",
            palette: &[],
        }
    }

    fn bar(series: &str, v: f64) -> Bar {
        Bar {
            series: series.into(),
            value: v,
            lo: v - 0.1,
            hi: v + 0.1,
            note: "3 of 10".into(),
        }
    }

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("a\u{0}b"), "a\u{FFFD}b");
    }

    #[test]
    fn bars_have_one_rect_per_finite_value_and_escape_labels() {
        let groups = vec![
            BarGroup {
                label: HOSTILE.into(),
                bars: vec![bar("baseline", 0.5), bar(HOSTILE, 0.25)],
            },
            BarGroup {
                label: "homonyms".into(),
                bars: vec![bar("baseline", 1.0), bar(HOSTILE, f64::NAN)],
            },
        ];
        let svg = bars_with_intervals(&frame(), "refusal", &groups);
        assert_eq!(svg.matches("class=\"bar\"").count(), 3);
        assert_eq!(svg.matches("class=\"bar-missing\"").count(), 1);
        assert_eq!(svg.matches("class=\"ci\"").count(), 3);
        assert!(!svg.contains("<script"));
        assert!(!svg.contains("</svg> "));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("</svg>").count(), 1);
        assert!(svg.contains("viewBox=\"0 0 760 "));
        assert!(svg.contains("<title>T &lt;&amp;&gt;</title>"));
        assert!(svg.contains("aria-label=\"D &quot;quoted&quot;\""));
        for t in ["0%", "25%", "50%", "75%", "100%"] {
            assert!(svg.contains(&format!(">{t}</text>")), "{t}");
        }
        // Two series, two legend entries, distinct colours.
        assert_eq!(svg.matches("class=\"legend-item\"").count(), 2);
        assert!(svg.contains(PALETTE[0]) && svg.contains(PALETTE[1]));
    }

    #[test]
    fn bar_width_is_proportional_and_clamped() {
        let groups = vec![BarGroup {
            label: "g".into(),
            bars: vec![
                Bar {
                    series: "s".into(),
                    value: 1.7,
                    lo: -1.0,
                    hi: 2.0,
                    note: String::new(),
                },
                bar("t", 0.0),
            ],
        }];
        let svg = bars_with_intervals(&frame(), "x", &groups);
        let widths: Vec<f64> = svg
            .split("class=\"bar\"")
            .skip(1)
            .map(|s| {
                let w = s.split("width=\"").nth(1).unwrap();
                w[..w.find('"').unwrap()].parse().unwrap()
            })
            .collect();
        assert_eq!(widths.len(), 2);
        assert_eq!(widths[1], 1.5, "a zero rate draws a sliver");
        assert!(widths[0] > 0.0 && widths[0] < WIDTH);
    }

    #[test]
    fn scatter_draws_one_mark_per_finite_point_with_shapes_per_group() {
        let p = |s: &str, g: &str, x: f64, y: f64| Point {
            series: s.into(),
            group: g.into(),
            x,
            x_lo: x - 0.05,
            x_hi: x + 0.05,
            y,
            y_lo: y - 0.05,
            y_hi: y + 0.05,
        };
        let points = vec![
            p("baseline", "model-a", 0.1, 0.4),
            p("few-shot", "model-a", 0.2, 0.1),
            p("baseline", HOSTILE, 0.05, 0.6),
            p("few-shot", HOSTILE, f64::NAN, 0.3),
        ];
        let svg = scatter(&frame(), "unsafe compliance", "safe refusal", &points);
        assert_eq!(svg.matches("class=\"point\"").count(), 3);
        assert!(svg.contains("<circle"));
        assert!(svg.contains("<rect"), "second group drawn as squares");
        assert!(svg.contains("1 point(s) without data"));
        assert!(!svg.contains("<script"));
        // Colour legend (2) and shape legend (2).
        assert_eq!(svg.matches("class=\"legend-item\"").count(), 4);
    }

    /// The value of attribute `name` in `mark` (up to its closing quote).
    fn attr<'a>(mark: &'a str, name: &str) -> &'a str {
        let v = &mark[mark.find(&format!(" {name}=\"")).unwrap() + name.len() + 3..];
        &v[..v.find('"').unwrap()]
    }

    /// Points at one place (equal rates) would hide each other: they are
    /// drawn side by side around it and named together, their data and
    /// tooltips exact; a point near but not at the place stays put.
    #[test]
    fn scatter_sets_points_at_one_place_side_by_side_and_names_them() {
        let p = |s: &str, x: f64, y: f64| Point {
            series: s.into(),
            group: "model-a".into(),
            x,
            x_lo: x - 0.1,
            x_hi: x + 0.1,
            y,
            y_lo: y - 0.1,
            y_hi: y + 0.1,
        };
        let points = vec![
            p("baseline", 0.25, 0.5),
            p("few-shot", 0.6, 0.2),
            p("contextual", 0.25, 0.5),
            p("interactive", 0.25 + 1e-6, 0.5),
            p("alone", 0.3, 0.5),
        ];
        let svg = scatter(&frame(), "x", "y", &points);
        assert_eq!(svg, scatter(&frame(), "x", "y", &points), "deterministic");
        let marks: Vec<&str> = svg
            .split("<g class=\"point-mark\">")
            .skip(1)
            .map(|m| &m[..m.find("</g>").unwrap()])
            .collect();
        assert_eq!(marks.len(), 5);
        let centre = |m: &str| -> (f64, f64) {
            (
                attr(m, "cx").parse().unwrap(),
                attr(m, "cy").parse().unwrap(),
            )
        };
        // Where 25% and 50% are drawn.
        let (left, right, top, bottom) = (64.0, WIDTH - 24.0, 16.0, 396.0);
        let at = (left + 0.25 * (right - left), bottom - 0.5 * (bottom - top));
        let shared = [marks[0], marks[2], marks[3]];
        for m in shared {
            assert_eq!(attr(m, "data-coincident"), "3", "{m}");
            // Beside the place, not on it, and apart from each other.
            let (x, y) = centre(m);
            let d = (x - at.0).hypot(y - at.1);
            assert!(d > POINT_R && d < 4.0 * POINT_R, "{d}");
        }
        for (i, a) in shared.iter().enumerate() {
            for b in &shared[i + 1..] {
                let ((ax, ay), (bx, by)) = (centre(a), centre(b));
                assert!((ax - bx).hypot(ay - by) >= 2.0 * POINT_R, "{a} {b}");
            }
        }
        // The exact values stay in the data and the tooltip, and the
        // intervals are drawn at the place itself.
        assert_eq!(
            (attr(marks[0], "data-x"), attr(marks[0], "data-y")),
            ("0.2500", "0.5000")
        );
        assert!(marks[0].contains(
            "<title>model-a · baseline: x 25.0% (15.0% to 35.0%), y 50.0% (40.0% to 60.0%); \
             at the place of contextual, interactive, drawn beside them</title>"
        ));
        assert!(marks[0].contains(&format!(
            "d=\"M{:.1} {:.1}H",
            left + 0.15 * (right - left),
            at.1
        )));
        // Points elsewhere are drawn where they are, as before.
        for m in [marks[1], marks[4]] {
            assert!(!m.contains("data-coincident"), "{m}");
        }
        assert_eq!(centre(marks[4]).0, left + 0.3 * (right - left));
        // One dot at the place, one label naming all three, one note.
        assert_eq!(svg.matches("class=\"coincident-at\"").count(), 1);
        assert!(svg.contains(&format!(
            "class=\"coincident-at\" cx=\"{:.1}\" cy=\"{:.1}\"",
            at.0, at.1
        )));
        let labels: Vec<&str> = svg
            .split("class=\"coincident-label\"")
            .skip(1)
            .map(|l| &l[l.find("</title>").unwrap() + 8..l.find("</text>").unwrap()])
            .collect();
        assert_eq!(labels, ["baseline, contextual, interactive"]);
        assert!(svg.contains("<title>Same place: baseline, contextual, interactive</title>"));
        assert!(svg.contains("3 points share a place"));
        // With several groups, a label names each point's group too (in
        // full in its title, cut in the middle where it would leave the
        // chart).
        let mut two = points.clone();
        two[2].group = "model-b".into();
        let svg = scatter(&frame(), "x", "y", &two);
        let all = "model-a · baseline, model-b · contextual, model-a · interactive";
        assert!(svg.contains(&format!("<title>Same place: {all}</title>")));
        let label = &svg[svg.find("class=\"coincident-label\"").unwrap()..];
        let label = &label[label.find("</title>").unwrap() + 8..label.find("</text>").unwrap()];
        let x: f64 = attr(
            &svg[svg.find("class=\"coincident-label\"").unwrap() - 1..],
            "x",
        )
        .parse()
        .unwrap();
        assert!(
            label.contains('…') && label.starts_with("model-a · baseline"),
            "{label}"
        );
        assert!(x + text_width(label) <= WIDTH, "{x} {label}");
        // None at one place: no label, no note.
        let apart = scatter(&frame(), "x", "y", &points[..2]);
        assert!(!apart.contains("coincident") && !apart.contains("share a place"));
    }

    /// Labels of two places keep clear of each other and of the chart's
    /// edges: at the lower right corner, one goes above the other.
    #[test]
    fn labels_of_places_keep_clear_of_each_other() {
        let plot = (64.0, 16.0, WIDTH - 24.0, 396.0);
        let text = "r1 · t2 · baseline, r2 · t2 · baseline";
        let reach = spread_radius(2) + POINT_R + 4.0;
        let a = place_label(text, (400.0, 396.0), reach, plot, &[]);
        assert_eq!((a.anchor, a.y), ("start", 396.0 - reach));
        assert_eq!(a.x, 400.0 + reach);
        let b = place_label(text, (plot.2, 396.0), reach, plot, &[a.area]);
        let overlap = |p: Area, q: Area| !(p.2 <= q.0 || q.2 <= p.0 || p.3 <= q.1 || q.3 <= p.1);
        assert!(!overlap(a.area, b.area), "{:?} {:?}", a.area, b.area);
        assert!(b.y < a.y && b.anchor == "end" && b.shown == text);
        assert!(b.area.0 >= plot.0 && b.area.2 <= WIDTH && b.area.1 >= plot.1);
    }

    #[test]
    fn same_places_group_marks_that_would_hide_each_other() {
        let at = [
            (10.0, 10.0),
            (50.0, 50.0),
            (11.0, 11.0),
            (10.0, 14.0),
            (50.0, 50.0),
        ];
        assert_eq!(same_places(&at), [vec![0, 2], vec![1, 4], vec![3]]);
        assert_eq!(spread(0, 1), (0.0, 0.0));
        // Two: left and right, just apart.
        let (a, b) = (spread(0, 2), spread(1, 2));
        assert!(a.0 < 0.0 && b.0 > 0.0 && a.1.abs() < 1e-9 && b.1.abs() < 1e-9);
        assert!((b.0 - a.0 - 2.0 * (POINT_R + 1.0)).abs() < 1e-9);
        // Many: neighbours never touch.
        for n in 2..10 {
            for i in 0..n {
                let (p, q) = (spread(i, n), spread((i + 1) % n, n));
                assert!((p.0 - q.0).hypot(p.1 - q.1) >= 2.0 * POINT_R, "{n}");
            }
        }
    }

    fn line(series: &str, group: &str, points: &[(u32, f64)]) -> Series {
        Series {
            series: series.into(),
            group: group.into(),
            points: points
                .iter()
                .map(|&(x, y)| LinePoint {
                    x,
                    y,
                    lo: y - 0.1,
                    hi: y + 0.1,
                    note: "2 of 5".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn lines_draw_each_series_and_point() {
        let series = vec![
            line("interactive", "t1", &[(1, 0.2), (2, 0.5), (3, 0.6)]),
            line(HOSTILE, "t1", &[(1, 0.1), (2, f64::NAN)]),
        ];
        let svg = lines(&frame(), "turn", "cumulative compliance", &series);
        assert_eq!(svg.matches("class=\"line\"").count(), 2);
        assert_eq!(svg.matches("class=\"line-point\"").count(), 4);
        // Every point has its interval.
        assert_eq!(svg.matches("class=\"ci\"").count(), 4);
        assert!(svg.contains("(95% interval 10.0% to 30.0%); 2 of 5"));
        assert!(svg.contains(">3</text>"));
        assert!(!svg.contains("<script"));
        // One group: a colour legend only, solid lines.
        assert_eq!(svg.matches("class=\"legend-item\"").count(), 2);
        assert!(!svg.contains("stroke-dasharray=\"7"));
    }

    /// Lines are coloured by strategy as in the page's other charts, and
    /// targets told apart by marker and dash, each with a legend entry.
    #[test]
    fn lines_colour_by_series_and_mark_groups_by_shape_and_dash() {
        let palette = vec![
            "baseline".to_string(),
            "contextual".to_string(),
            "interactive".to_string(),
        ];
        let f = Frame {
            palette: &palette,
            ..frame()
        };
        let series = vec![
            line("interactive", "model-a", &[(1, 0.2), (2, 0.5)]),
            line("interactive", "model-b", &[(1, 0.3), (2, 0.4)]),
            line("contextual", "model-b", &[(1, 0.1), (2, 0.2)]),
        ];
        let svg = lines(&f, "turn", "complied", &series);
        let polylines: Vec<&str> = svg
            .split("<polyline ")
            .skip(1)
            .map(|p| &p[..p.find("/>").unwrap()])
            .collect();
        assert_eq!(polylines.len(), 3);
        // interactive is the third strategy of the page: its colour, on
        // both targets; never baseline's.
        assert!(polylines[0].contains(&format!("stroke=\"{}\"", PALETTE[2])));
        assert!(polylines[1].contains(&format!("stroke=\"{}\"", PALETTE[2])));
        assert!(polylines[2].contains(&format!("stroke=\"{}\"", PALETTE[1])));
        assert!(!svg.contains(&format!("stroke=\"{}\"", PALETTE[0])));
        // The first target solid, the second dashed, with its own marker.
        assert!(!polylines[0].contains("stroke-dasharray"));
        assert!(polylines[1].contains(&format!("stroke-dasharray=\"{}\"", DASHES[1])));
        assert!(polylines[2].contains(&format!("stroke-dasharray=\"{}\"", DASHES[1])));
        assert!(polylines[1].contains("data-group=\"model-b\""));
        let marks = |group: &str| -> Vec<&str> {
            svg.split("class=\"line-point\"")
                .skip(1)
                .map(|m| &m[..m.find('>').unwrap()])
                .filter(|m| m.contains(&format!("data-group=\"{group}\"")))
                .collect()
        };
        assert_eq!(marks("model-a").len(), 2);
        assert_eq!(marks("model-b").len(), 4);
        assert!(svg.contains("<circle"), "first target: circles");
        assert!(svg.contains("<rect"), "second target: squares");
        // Legend: two strategies, two targets.
        assert_eq!(svg.matches("class=\"legend-item\"").count(), 4);
        for name in ["interactive", "contextual", "model-a", "model-b"] {
            assert!(
                svg.contains(&format!("class=\"legend-item\" data-series=\"{name}\"")),
                "{name}"
            );
        }
    }

    /// Long names of one family differ at their end: the cut keeps it,
    /// and two names never read the same.
    #[test]
    fn long_labels_are_cut_in_the_middle_and_stay_apart() {
        let q = "contrast_customer_service_refund_policy_questions";
        let c = "contrast_customer_service_refund_policy_complaints";
        assert_eq!(short("homonyms", 40), "homonyms");
        let cut = short(q, 40);
        assert_eq!(cut.chars().count(), 40);
        assert!(cut.starts_with("contrast_customer") && cut.ends_with("_questions"));
        assert!(short(c, 40).ends_with("_complaints"));
        let labels = distinct_short(&[q, c, "homonyms", q], 40);
        assert_eq!(
            labels,
            [short(q, 40), short(c, 40), "homonyms".into(), short(q, 40)]
        );
        // Names that differ only in the middle get more characters until
        // they read differently.
        let a = "a_family_of_very_long_names_that_goes_ALPHA_on_and_ends_the_same_way";
        let b = "a_family_of_very_long_names_that_goes_BETA_on_and_ends_the_same_way";
        assert_eq!(short(a, 40), short(b, 40));
        let labels = distinct_short(&[a, b], 40);
        assert_ne!(labels[0], labels[1], "{labels:?}");
        assert!(labels[0].contains('…') || labels[0] == a);
        // Drawn: two different labels, each with its full name in a title.
        let groups: Vec<BarGroup> = [q, c]
            .iter()
            .map(|l| BarGroup {
                label: l.to_string(),
                bars: vec![bar("baseline", 0.5)],
            })
            .collect();
        let svg = bars_with_intervals(&frame(), "x", &groups);
        let drawn: Vec<&str> = svg
            .split("class=\"group-label\"")
            .skip(1)
            .map(|t| {
                let t = &t[t.find("</title>").unwrap() + 8..];
                &t[..t.find("</text>").unwrap()]
            })
            .collect();
        assert_eq!(drawn.len(), 2);
        assert_ne!(drawn[0], drawn[1]);
        assert!(svg.contains(&format!("<title>{q}</title>")));
        assert!(svg.contains(&format!("<title>{c}</title>")));
    }

    /// A wide character is estimated at two columns: a CJK label is about
    /// twice as wide as a Latin one of as many characters, a long one is
    /// cut to the columns a Latin one is (between characters), and drawn
    /// left of the bars it starts inside the chart.
    #[test]
    fn wide_labels_are_measured_and_cut_by_display_width() {
        let narrow = "homonyms_and_polysemy";
        let wide = "同音词和一词多义的安全提示类型名称很长很长";
        assert_eq!(narrow.chars().count(), wide.chars().count());
        let ratio = text_width(wide) / text_width(narrow);
        assert!((1.9..=2.1).contains(&ratio), "{ratio}");
        assert_eq!(text_width("emoji🔪"), text_width("emoji:-)") - CHAR_W);
        assert_eq!(text_width("combininǵ"), text_width("combining"));
        let cut = short(wide, MAX_LABEL_CHARS);
        assert_eq!(cut, "同音词和一词多义的安全提…型名称很长很长");
        assert!(unicode_width::UnicodeWidthStr::width(cut.as_str()) <= MAX_LABEL_CHARS);
        let contrast = format!("contrast_{wide}");
        let groups: Vec<BarGroup> = [wide, &contrast, "homonyms"]
            .iter()
            .map(|l| BarGroup {
                label: l.to_string(),
                bars: vec![bar("baseline", 0.5)],
            })
            .collect();
        let svg = bars_with_intervals(&frame(), "x", &groups);
        let labels: Vec<(f64, &str)> = svg
            .split("<text class=\"group-label\"")
            .skip(1)
            .map(|t| {
                let x = attr(t, "x").parse().unwrap();
                let t = &t[t.find("</title>").unwrap() + 8..];
                (x, &t[..t.find("</text>").unwrap()])
            })
            .collect();
        assert_eq!(labels.len(), 3);
        for (x, label) in &labels {
            // Measured apart from `display_width`: each column CHAR_W.
            let w = unicode_width::UnicodeWidthStr::width(*label) as f64 * CHAR_W;
            assert!(x - w >= 0.0, "{label} starts at {}", x - w);
        }
        // The bars keep most of the chart: the labels take what 40 Latin
        // characters would.
        let left: f64 = attr(&svg[svg.find("<rect class=\"bar\"").unwrap()..], "x")
            .parse()
            .unwrap();
        assert!(left <= 12.0 + (MAX_LABEL_CHARS as f64) * CHAR_W, "{left}");
    }

    #[test]
    fn a_series_keeps_its_colour_across_charts() {
        let palette = vec!["baseline".to_string(), "few-shot".to_string()];
        let f = Frame {
            palette: &palette,
            ..frame()
        };
        // few-shot alone, and after an unknown series: always palette[1].
        let one = bars_with_intervals(
            &f,
            "x",
            &[BarGroup {
                label: "g".into(),
                bars: vec![bar("few-shot", 0.5)],
            }],
        );
        assert!(one.contains(&format!("fill=\"{}\"", PALETTE[1])));
        assert!(!one.contains(&format!("fill=\"{}\"", PALETTE[0])));
        let two = scatter(
            &f,
            "x",
            "y",
            &[
                Point {
                    series: "other".into(),
                    group: "t".into(),
                    x: 0.1,
                    x_lo: 0.0,
                    x_hi: 0.2,
                    y: 0.1,
                    y_lo: 0.0,
                    y_hi: 0.2,
                },
                Point {
                    series: "few-shot".into(),
                    group: "t".into(),
                    x: 0.3,
                    x_lo: 0.2,
                    x_hi: 0.4,
                    y: 0.3,
                    y_lo: 0.2,
                    y_hi: 0.4,
                },
            ],
        );
        assert!(two.contains(&format!(
            "fill=\"{}\" class=\"point\" data-series=\"few-shot\"",
            PALETTE[1]
        )));
        assert!(two.contains(&format!(
            "fill=\"{}\" class=\"point\" data-series=\"other\"",
            PALETTE[2]
        )));
    }

    #[test]
    fn empty_inputs_still_make_valid_charts() {
        for svg in [
            bars_with_intervals(&frame(), "x", &[]),
            scatter(&frame(), "x", "y", &[]),
            lines(&frame(), "x", "y", &[]),
        ] {
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
            assert!(!svg.contains("NaN") && !svg.contains("inf"));
        }
    }
}
