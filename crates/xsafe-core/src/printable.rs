//! Text from models and files made safe to print in a terminal table.

/// `text` for one cell or line of terminal output: line breaks, tabs and
/// every other control character are shown as escapes (`\n` for a line
/// feed, `\u{1b}` for an escape), so that a prompt or an answer can neither
/// break a table's rows nor send the terminal commands (clear the screen,
/// set the window title). Unicode line separators and the bidirectional
/// overrides, which would reorder what is shown, are escaped too. Only
/// what is printed is changed; `--json` and stored text stay exact.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.extend(c.escape_unicode())
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_show_as_escapes() {
        assert_eq!(printable("a\r\nb\nc\td"), "a\\r\\nb\\nc\\td");
        assert_eq!(
            printable("x\u{2028}y\u{1b}[2J\u{1b}]0;t\u{7}\u{0}\u{85}"),
            "x\\u{2028}y\\u{1b}[2J\\u{1b}]0;t\\u{7}\\u{0}\\u{85}"
        );
        assert_eq!(printable("abc\u{202e}def"), "abc\\u{202e}def");
        assert_eq!(
            printable("Café, naïve — fine 日本"),
            "Café, naïve — fine 日本"
        );
    }
}
