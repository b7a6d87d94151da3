//! Plain aligned text tables for the terminal.

/// Left-aligned columns separated by two spaces; the last column is not
/// padded so long text does not leave trailing blanks. Cells are printed
/// as [`printable`](xsafe_core::printable) makes them: a model's answer or
/// a suite's prompt can neither break a row nor drive the terminal.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|c| xsafe_core::printable(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = widths[i] - cell.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for row in &rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// The first `n` characters of `text` on one line, with `…` when cut;
/// [`printable`](xsafe_core::printable), as cells are.
pub fn excerpt(text: &str, n: usize) -> String {
    let flat = xsafe_core::printable(&text.split_whitespace().collect::<Vec<_>>().join(" "));
    if flat.chars().count() <= n {
        flat
    } else {
        let mut cut: String = flat.chars().take(n.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let t = render(&["a", "bb"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "a    bb\nxxx  y\n");
    }

    #[test]
    fn cells_cannot_break_rows_or_drive_the_terminal() {
        let t = render(
            &["a", "b"],
            &[vec!["x\ny".into(), "\u{1b}[2J\u{1b}]0;pwned\u{7}".into()]],
        );
        assert_eq!(t, "a     b\nx\\ny  \\u{1b}[2J\\u{1b}]0;pwned\\u{7}\n");
    }

    #[test]
    fn excerpts_flatten_and_cut() {
        assert_eq!(excerpt("a\n b", 10), "a b");
        assert_eq!(excerpt("abcdef", 4), "abc…");
    }
}
