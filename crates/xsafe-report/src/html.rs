//! The HTML report: one self-contained page.

use crate::Report;

/// Renders the report as one self-contained HTML page.
pub fn render(report: &Report) -> String {
    let json = serde_json::to_string(report)
        .unwrap_or_default()
        .replace("</", "<\\/");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>xsafe report</title>\n</head>\n<body>\n<h1>xsafe report</h1>\n\
         <p>{} groups, {} results.</p>\n\
         <script type=\"application/json\" id=\"report\">{}</script>\n</body>\n</html>\n",
        report.groups.len(),
        report.results.len(),
        json
    )
}
