//! Character boundaries near a byte offset, for bounded windows of text
//! and positions in it (what std has as `str::floor_char_boundary` and
//! `ceil_char_boundary` from Rust 1.91; the workspace builds with 1.89).

/// The largest character boundary of `text` at or before `at` (the text's
/// length if `at` is past it).
pub fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The smallest character boundary of `text` at or after `at` (the text's
/// length if `at` is past it).
pub fn ceil_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_round_down_and_up_inside_a_character() {
        let text = "héllo";
        assert_eq!(floor_char_boundary(text, 2), 1);
        assert_eq!(ceil_char_boundary(text, 2), 3);
        assert_eq!(floor_char_boundary(text, 3), 3);
        assert_eq!(ceil_char_boundary(text, 0), 0);
        assert_eq!(floor_char_boundary(text, 99), text.len());
        assert_eq!(ceil_char_boundary(text, 99), text.len());
    }
}
