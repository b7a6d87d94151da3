//! The text primitives the parser of judge outputs reads with: patterns
//! compiled with ASCII word boundaries, the output normalized, cut at a
//! character boundary, its quotations of the judged answer found, and how
//! far around a label it is read.

use regex::Regex;
use std::ops::Range;
use std::sync::LazyLock;

/// Compiles `pattern` with its `\b` as ASCII word boundaries
/// (`(?-u:\b)`): the words the patterns look for are ASCII, and a Unicode
/// word boundary on non-ASCII text (Chinese, curly quotes, accented
/// letters) sends the regex crate to its slow engine, which took seconds on
/// an output of a few megabytes.
pub(super) fn compile(pattern: impl AsRef<str>) -> Result<Regex, regex::Error> {
    let pattern = pattern.as_ref();
    let mut out = String::with_capacity(pattern.len() + 64);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push_str("(?-u:\\b)"),
            Some(next) => {
                out.push(c);
                out.push(next);
            }
            None => out.push(c),
        }
    }
    Regex::new(&out)
}

/// A line that introduces a quotation of the judged answer on the next
/// line ("The assistant replied:", "The assistant's answer:").
static INTRODUCES_A_QUOTE: LazyLock<Regex> = LazyLock::new(|| {
    compile(r#"(?m)\b(?:says|said|replies|replied|reply|response|writes|wrote|responds|responded|answers|answered|states|stated|reads|following|(?:(?:assistant|model|ai|chatbot|bot)'s|its|their)\s+(?:final\s+)?answer)[\s*_`'"]*:[\s*_`'"]*$"#)
        .expect("the quote-introduction pattern compiles")
});

/// How far back (bytes) from a label its clause is read, at most: a clause
/// with no break for longer is read from there, so that an output of one
/// long line is parsed in linear time.
pub(super) const LOOK_BACK: usize = 400;
/// How far after a label (bytes) is read for a denial or a question.
pub(super) const LOOK_AHEAD: usize = 200;

/// Whether `at` is inside one of `ranges` (sorted, not overlapping).
pub(super) fn within(ranges: &[Range<usize>], at: usize) -> bool {
    let i = ranges.partition_point(|r| r.start <= at);
    i > 0 && ranges[i - 1].end > at
}

/// `ranges` sorted, overlapping ones joined.
pub(super) fn merged(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Where the output quotes the judged answer rather than speaking for the
/// judge: between quotation marks closed on their line, or the prompt's
/// `<<<` and `>>>` (or a longer fence, `<<<<` to `>>>>`), a block quote's
/// lines (`> ...`), and the line after one that introduces a quotation
/// ("The assistant replied:").
pub(super) fn quotations(text: &str) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut open: Option<usize> = None;
    for (i, c) in text.char_indices() {
        match c {
            '"' => match open.take() {
                Some(o) => ranges.push(o..i + 1),
                None => open = Some(i),
            },
            '\u{201c}' => {
                open.get_or_insert(i);
            }
            '\u{201d}' => {
                if let Some(o) = open.take() {
                    ranges.push(o..i + c.len_utf8());
                }
            }
            '\n' => open = None,
            _ => {}
        }
    }
    // The prompt's fence, as long as it was (`<<<<` to `>>>>` around an
    // answer holding `>>>`).
    let mut from = 0;
    while let Some(o) = text[from..].find("<<<").map(|i| from + i) {
        let n = text[o..].len() - text[o..].trim_start_matches('<').len();
        let close = ">".repeat(n);
        from = text[o + n..]
            .find(&close)
            .map_or(text.len(), |i| o + n + i + n);
        ranges.push(o..from);
    }
    let mut start = 0;
    for line in text.split('\n') {
        if line.trim_start().starts_with('>') {
            ranges.push(start..start + line.len());
        }
        start += line.len() + 1;
    }
    for m in INTRODUCES_A_QUOTE.find_iter(text) {
        let from = m.end() + text[m.end()..].len() - text[m.end()..].trim_start_matches('\n').len();
        let to = text[from..].find('\n').map_or(text.len(), |i| from + i);
        ranges.push(from..to);
    }
    merged(ranges)
}

/// The last word of `text` (letters, digits, apostrophes).
pub(super) fn last_word(text: &str) -> &str {
    text.trim_end()
        .rsplit(|c: char| !(c.is_alphanumeric() || c == '\''))
        .next()
        .unwrap_or("")
}

/// The lowercased output with curly apostrophes straight, `\_` as `_`, runs of
/// whitespace other than line breaks as one space, and the hyphens U+2010
/// and U+2011, and an en or figure dash between two letters or digits
/// ("full–refusal"), as `-`.
pub(super) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let c = match c {
            '\n' => {
                space = false;
                '\n'
            }
            c if c.is_whitespace() => {
                space = true;
                continue;
            }
            '\u{2018}' | '\u{2019}' => '\'',
            // LaTeX's escaped underscore: `\boxed{2\_full\_refusal}`.
            '\\' if chars.peek() == Some(&'_') => {
                chars.next();
                '_'
            }
            '\u{2010}' | '\u{2011}' => '-',
            '\u{2012}' | '\u{2013}'
                if !space
                    && out.chars().next_back().is_some_and(char::is_alphanumeric)
                    && chars.peek().is_some_and(|n| n.is_alphanumeric()) =>
            {
                '-'
            }
            c => c,
        };
        if space && c != '\n' && !out.is_empty() && !out.ends_with('\n') {
            out.push(' ');
        }
        space = false;
        out.push(c);
    }
    out
}

/// At most the first `max` bytes of `text`, cut at a character boundary.
pub(super) fn head(text: &str, max: usize) -> &str {
    &text[..xsafe_core::floor_char_boundary(text, max)]
}
