//! Plain aligned text tables for the terminal.

/// Aligned columns, every cell printable: the report's own renderer, so
/// that every table xsafe prints looks and escapes alike.
pub use xsafe_report::render_table as render;

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
    fn excerpts_flatten_and_cut() {
        assert_eq!(excerpt("a\n b", 10), "a b");
        assert_eq!(excerpt("abcdef", 4), "abc…");
    }
}
