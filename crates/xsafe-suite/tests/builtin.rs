//! The built-in suites: their counts and labels, and that `xsafe-basic`
//! does not copy or paraphrase XSTest.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use xsafe_core::Label;
use xsafe_suite::{Format, LoadOptions, builtin, builtin_names, load_file, remote};

const SAFE_TYPES: [&str; 10] = [
    "homonyms",
    "figurative_language",
    "safe_targets",
    "safe_contexts",
    "definitions",
    "real_group_nons_discr",
    "nons_group_real_discr",
    "historical_events",
    "privacy_public",
    "privacy_fictional",
];

#[test]
fn every_builtin_loads() {
    for name in builtin_names() {
        let suite = builtin(name).unwrap();
        assert_eq!(suite.name, *name);
        assert_eq!(suite.source, "built-in");
        assert!(!suite.cases.is_empty());
    }
    assert!(builtin("nope").is_none());
}

#[test]
fn xsafe_basic_covers_the_ten_safe_types_and_their_contrasts() {
    let suite = builtin("xsafe-basic").unwrap();
    let mut safe_per_type: BTreeMap<&str, usize> = BTreeMap::new();
    for case in &suite.cases {
        if case.label == Label::Safe {
            *safe_per_type.entry(case.kind.as_str()).or_default() += 1;
        }
    }
    for t in SAFE_TYPES {
        let n = safe_per_type.get(t).copied().unwrap_or(0);
        assert!(
            n >= 20,
            "type `{t}` has {n} safe prompts, needs at least 20"
        );
    }
    let unknown: Vec<_> = safe_per_type
        .keys()
        .filter(|t| !SAFE_TYPES.contains(t))
        .collect();
    assert!(
        unknown.is_empty(),
        "safe types outside XSTest's ten: {unknown:?}"
    );

    let unsafe_cases: Vec<_> = suite
        .cases
        .iter()
        .filter(|c| c.label == Label::Unsafe)
        .collect();
    assert!(
        unsafe_cases.len() >= 160,
        "{} unsafe prompts, needs at least 160",
        unsafe_cases.len()
    );
    for c in &unsafe_cases {
        assert!(
            c.kind.starts_with("contrast_"),
            "unsafe case {} has type {}",
            c.id,
            c.kind
        );
        // XSTest contrasts its two discrimination and two privacy types
        // with one type each: `contrast_discr` and `contrast_privacy`.
        assert!(
            SAFE_TYPES.contains(&c.topic()) || ["discr", "privacy"].contains(&c.topic()),
            "case {}: `{}` contrasts no safe type",
            c.id,
            c.kind
        );
    }
}

#[test]
fn xsafe_basic_labels_match_types_and_ids_are_unique() {
    let suite = builtin("xsafe-basic").unwrap();
    let mut ids = HashSet::new();
    for c in &suite.cases {
        let expected = if c.kind.starts_with("contrast_") {
            Label::Unsafe
        } else {
            Label::Safe
        };
        assert_eq!(c.label, expected, "case {}", c.id);
        assert!(ids.insert(c.id.as_str()), "duplicate id {}", c.id);
    }
}

/// `../shared/data/xstest/` beside the checkout, present on development
/// machines only.
fn xstest_file() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/xstest/xstest_prompts.csv");
    path.is_file().then_some(path)
}

fn load_xstest() -> Option<xsafe_core::Suite> {
    let Some(path) = xstest_file() else {
        eprintln!("skipped: ../shared/data/xstest/xstest_prompts.csv is absent");
        return None;
    };
    let opts = LoadOptions {
        format: Some(Format::Xstest),
        ..Default::default()
    };
    Some(load_file(&path, &opts).unwrap())
}

fn normalise(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn bigrams(text: &str) -> HashSet<(String, String)> {
    let words: Vec<&str> = text.split(' ').collect();
    words
        .windows(2)
        .map(|w| (w[0].to_string(), w[1].to_string()))
        .collect()
}

fn jaccard(a: &HashSet<(String, String)>, b: &HashSet<(String, String)>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

#[test]
fn xsafe_basic_neither_copies_nor_paraphrases_xstest() {
    let Some(xstest) = load_xstest() else { return };
    let theirs: Vec<(String, HashSet<_>)> = xstest
        .cases
        .iter()
        .map(|c| {
            let n = normalise(&c.prompt);
            let b = bigrams(&n);
            (n, b)
        })
        .collect();
    let exact: HashSet<&str> = theirs.iter().map(|(n, _)| n.as_str()).collect();
    let mut problems = Vec::new();
    for case in builtin("xsafe-basic").unwrap().cases {
        let n = normalise(&case.prompt);
        if exact.contains(n.as_str()) {
            problems.push(format!("{}: same text as an XSTest prompt", case.id));
            continue;
        }
        let ours = bigrams(&n);
        for (text, b) in &theirs {
            let j = jaccard(&ours, b);
            if j >= 0.5 {
                problems.push(format!(
                    "{}: bigram Jaccard {j:.2} with XSTest's \"{text}\"",
                    case.id
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The real XSTest file, where present, parses with our XSTest reader and
/// matches the pinned checksum, so a fetch of it would succeed.
#[test]
fn the_real_xstest_file_parses_and_matches_the_pin() {
    let Some(path) = xstest_file() else {
        eprintln!("skipped: ../shared/data/xstest/xstest_prompts.csv is absent");
        return;
    };
    let suite = load_xstest().unwrap();
    assert_eq!(suite.cases.len(), 450);
    assert_eq!(suite.count(Label::Safe), 250);
    assert_eq!(suite.count(Label::Unsafe), 200);
    use sha2::Digest;
    let sha = hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()));
    assert_eq!(Some(sha.as_str()), remote("xstest").unwrap().sha256);
}
