//! Text renderers of a [`Report`]: terminal tables, CSV and Markdown.

use crate::Report;

/// Terminal tables.
pub fn render_terminal(report: &Report) -> String {
    format!("{} groups\n", report.groups.len())
}

/// One CSV row per group x type.
pub fn render_csv(report: &Report) -> Result<String, csv::Error> {
    let _ = report;
    Ok(String::new())
}

/// Markdown tables.
pub fn render_markdown(report: &Report) -> String {
    format!("{} groups\n", report.groups.len())
}
