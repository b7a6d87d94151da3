//! The quotations in an answer or a message, which `attempt` reads for the
//! replies a message prescribes and `language` sets aside as no evidence of
//! an answer's language.

/// The quotations in `text` (between double quotation marks, straight,
/// curly or angle, or single ones that are not an apostrophe inside a
/// word), each with where its opening mark is and where its closing mark
/// ends.
pub(super) fn quotations(text: &str) -> Vec<(usize, &str, usize)> {
    let mut found = Vec::new();
    let mut open: Option<(usize, usize, bool)> = None;
    let mut previous = ' ';
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map_or(' ', |&(_, c)| c);
        let double = match c {
            '"' | '\u{201c}' | '\u{201d}' | '\u{ab}' | '\u{bb}' => Some(true),
            '\'' if !(previous.is_alphanumeric() && next.is_alphanumeric()) => Some(false),
            _ => None,
        };
        if let Some(double) = double {
            match open {
                Some((mark, start, kind)) if kind == double => {
                    found.push((mark, &text[start..i], i + c.len_utf8()));
                    open = None;
                }
                None => open = Some((i, i + c.len_utf8(), double)),
                Some(_) => {}
            }
        }
        previous = c;
    }
    found
}
