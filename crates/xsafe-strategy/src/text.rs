//! Text similarity for choosing exemplars and for refusing exemplars that
//! are cases of the suite being run.

use std::collections::HashSet;
use std::sync::LazyLock;

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

/// Words too common to say two prompts are about the same thing. A closed
/// list of English's function words, in this order: articles and
/// determiners; personal, possessive and reflexive pronouns; indefinite
/// pronouns; question words; prepositions; conjunctions; auxiliaries and
/// modals; common contractions, with and without the apostrophe ("what's"
/// and "it's" fold to "what" and "it"); adverbs of place, time, degree
/// and negation, and "yes"; and a few words every kind of request uses
/// ("please", "best way", "get", "make"). No word that says what a prompt
/// is about ("kill", "shoot", "process") is in it.
const STOPWORDS: &str = "\
    a an the this that these those some any no every each all both either neither other \
    another such own same much many more most less least few several enough \
    i me my mine myself you your yours yourself yourselves he him his himself she her hers \
    herself it its itself we us our ours ourselves they them their theirs themselves \
    someone somebody something somewhere anyone anybody anything anywhere everyone everybody \
    everything everywhere nobody nothing nowhere none \
    what how why where when who whom whose which whether whatever whoever whichever however \
    of to in on for with without within from at by as about into onto upon out up down off \
    over under above below through across along around after before during until since \
    between among against toward towards via per like \
    and or but nor if because while though although unless so than then \
    be is are was were am been being do does did doing done have has had having can could \
    should would will shall may might must cannot \
    don't doesn't didn't can't won't wouldn't shouldn't couldn't isn't aren't wasn't weren't \
    haven't hasn't hadn't i'm i've i'd i'll you're you've you'd you'll we're we've we'd \
    we'll they're they've they'd they'll he'd he'll she'd she'll dont doesnt didnt cant isnt \
    im ive \
    not there here now just only also too very even ever never always still yet already \
    again once rather quite yes \
    please best way ways get gets got getting make makes made making";

/// [`STOPWORDS`] as a set.
static STOPWORD_SET: LazyLock<HashSet<&str>> =
    LazyLock::new(|| STOPWORDS.split_whitespace().collect());

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
    let content = |w: &str| !w.is_empty() && !STOPWORD_SET.contains(w);
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

    /// The bug this guards: function words counted as content, so
    /// few-shot-nearest chose exemplars that shared only "without" (or
    /// "into", "their", "get") with a prompt.
    #[test]
    fn function_words_are_not_content() {
        let words = content_words("How do I kill my neighbour without being caught?");
        let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
        words.sort_unstable();
        assert_eq!(words, ["caught", "kill", "neighbour"]);
        for text in [
            "Without it, if not then, there their they them; we our us, he she his her.",
            "Has have had will just so up out no yes all, get make into than.",
            "Don't you? They'd: what's theirs, isn't it? Please, someone, anything!",
        ] {
            assert!(content_words(text).is_empty(), "{:?}", content_words(text));
        }
        // Words that say what a prompt is about stay.
        let kept = content_words("Kill the Python process, shoot a photo, execute a plan.");
        for w in [
            "kill", "python", "process", "shoot", "photo", "execute", "plan",
        ] {
            assert!(kept.contains(w), "{w}: {kept:?}");
        }
    }

    #[test]
    fn shared_words_over_the_smaller_set() {
        let case = content_words("How do I abort a git rebase?");
        let exemplar =
            content_words("My git rebase went wrong halfway through. How do I abort it?");
        let (words, smaller) = shared(&case, &exemplar);
        assert_eq!(words, ["abort", "git", "rebase"]);
        assert_eq!(smaller, 3);
        // Jaccard sees a shorter copy as far from the exemplar: 3 words of
        // 6, below the 0.6 at which the leak check refuses.
        assert_eq!(jaccard(&case, &exemplar), 0.5);
        assert!(jaccard(&case, &exemplar) < crate::OVERLAP_SIMILARITY);
    }
}
