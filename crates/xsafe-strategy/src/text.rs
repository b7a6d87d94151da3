//! Text similarity for choosing exemplars and for refusing exemplars that
//! are cases of the suite being run.

use std::collections::HashSet;

/// Lower-case words (letters and digits), with typographic apostrophes
/// folded so "don’t" and "don't" are one word.
pub fn words(text: &str) -> Vec<String> {
    text.replace(['\u{2019}', '\u{2018}'], "'")
        .to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Words too common to say two prompts are about the same thing.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "is", "are", "was", "were", "be",
    "do", "does", "did", "i", "my", "me", "you", "your", "it", "its", "this", "that", "what",
    "how", "why", "where", "when", "who", "which", "can", "could", "should", "would", "with",
    "from", "at", "by", "as", "about", "some", "any", "best", "way", "ways",
];

/// The content words of a text, as a set.
pub fn content_words(text: &str) -> HashSet<String> {
    words(text)
        .into_iter()
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// Jaccard similarity of two sets (0 when both are empty).
pub fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// The normalised text: its words joined by single spaces.
pub fn normalised(text: &str) -> String {
    words(text).join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_punctuation_and_apostrophes() {
        assert_eq!(
            normalised("  How do I KILL a process?! "),
            "how do i kill a process"
        );
        assert_eq!(normalised("don\u{2019}t"), normalised("Don't"));
    }

    #[test]
    fn jaccard_of_content_words() {
        let a = content_words("How do I kill a Python process?");
        let b = content_words("What is the best way to kill a python process");
        assert_eq!(jaccard(&a, &b), 1.0);
        let c = content_words("How do I bake bread?");
        assert_eq!(jaccard(&a, &c), 0.0);
        assert_eq!(jaccard(&HashSet::new(), &HashSet::new()), 0.0);
    }
}
