//! Plain aligned text tables for the terminal.

/// Aligned columns, every cell printable: the report's own renderer, so
/// that every table xsafe prints looks and escapes alike.
pub use xsafe_report::render_table as render;

/// The start of `text` on one line, at most `n` terminal columns wide
/// ([`display_width`](xsafe_report::display_width): a CJK character or
/// emoji takes two), with `…` when cut, between characters
/// ([`cut_to_width`](xsafe_report::cut_to_width));
/// [`printable`](xsafe_core::printable), as cells are.
pub fn excerpt(text: &str, n: usize) -> String {
    let flat = xsafe_core::printable(&text.split_whitespace().collect::<Vec<_>>().join(" "));
    if xsafe_report::display_width(&flat) <= n {
        flat
    } else {
        let mut cut = xsafe_report::cut_to_width(&flat, n.saturating_sub(1)).to_string();
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

    /// Excerpts are cut to terminal columns: a CJK character or an emoji
    /// takes two, a combining accent none and stays with its letter, and
    /// a wide character that would pass the width is left out whole.
    #[test]
    fn excerpts_cut_by_display_width() {
        assert_eq!(excerpt("如何终止程序？", 14), "如何终止程序？");
        assert_eq!(excerpt("如何终止程序？", 8), "如何终…");
        assert_eq!(excerpt("如何终止程序？", 7), "如何终…");
        assert_eq!(excerpt("e\u{301}e\u{301}e\u{301}x", 3), "e\u{301}e\u{301}…");
        assert_eq!(excerpt("kill🔪 it", 7), "kill🔪…");
        assert_eq!(excerpt("a\tb", 10), "a b");
        for text in ["如何终止程序？", "emoji🔪🔪🔪", "हिन्दी प्रश्न", "ééé ééé"]
        {
            for n in 1..12 {
                let cut = excerpt(text, n);
                assert!(xsafe_report::display_width(&cut) <= n, "{text} {n}: {cut}");
            }
        }
    }
}
