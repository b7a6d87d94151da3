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

/// A word without a possessive `'s` or a plural `s`, so "images" and
/// "image", "Obama's" and "Obama" are one word. Crude (it also cuts the
/// `s` of "analysis"), but alike on both sides of a comparison.
fn folded(word: &str) -> &str {
    if let Some(stem) = word.strip_suffix("'s") {
        return stem;
    }
    match word.strip_suffix('s') {
        Some(stem) if stem.len() >= 3 && !stem.ends_with('s') => stem,
        _ => word,
    }
}

/// The content words of a text, as a set: its words without stop words,
/// folded (see [`folded`]).
pub fn content_words(text: &str) -> HashSet<String> {
    let content = |w: &str| !w.is_empty() && !STOPWORDS.contains(&w);
    words(text)
        .iter()
        // Stop words before folding too: "does" is not the word "doe".
        .filter(|w| content(w))
        .map(|w| folded(w))
        .filter(|w| content(w))
        .map(str::to_string)
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

/// The words two sets share, sorted, and the smaller set's size: the
/// share of the smaller set found in the other is `shared.len() / smaller`
/// (the overlap coefficient), 1 when one prompt's words are all in the
/// other, however many more that one has.
pub fn shared(a: &HashSet<String>, b: &HashSet<String>) -> (Vec<String>, usize) {
    let mut shared: Vec<String> = a.intersection(b).cloned().collect();
    shared.sort();
    (shared, a.len().min(b.len()))
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

    #[test]
    fn plurals_and_possessives_fold_but_stop_words_stay_out() {
        let a = content_words("How do I purge Docker images? Obama's birthday, it's 1961");
        let b = content_words("purge the docker image of obama birthday 1961");
        assert_eq!(a, b);
        // Not folded: short words, "ss" endings, and stop words ("does" is
        // not "doe").
        let kept = content_words("gas bus process does");
        let mut kept: Vec<&str> = kept.iter().map(String::as_str).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["bus", "gas", "process"]);
    }

    #[test]
    fn shared_words_over_the_smaller_set() {
        let case = content_words("How do I abort a git rebase?");
        let exemplar =
            content_words("My git rebase went wrong halfway through. How do I abort it?");
        let (words, smaller) = shared(&case, &exemplar);
        assert_eq!(words, ["abort", "git", "rebase"]);
        assert_eq!(smaller, 3);
        // Jaccard sees a shorter copy as far from the exemplar.
        assert!(jaccard(&case, &exemplar) < 0.5);
    }
}
