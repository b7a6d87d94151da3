//! The grammar of a confidence the judge states, in its text or in a JSON
//! member: its key, its value and whether it is low.

use super::text::compile;
use regex::Regex;
use std::sync::LazyLock;

/// `(?P<name>body)`, or `(?:body)` when `named` is false: the confidence
/// grammar below is read with its groups (`CONFIDENCE_FORMS`) and found
/// without them inside `DOUBT`, where a group's name may not appear twice.
/// The patterns here are put together with `concat`, never `format!`, so
/// that a regex's braces (`{0,2}`) are never a placeholder's.
fn group(named: bool, name: &str, body: &str) -> String {
    if named {
        ["(?P<", name, ">", body, ")"].concat()
    } else {
        ["(?:", body, ")"].concat()
    }
}

/// What may come before a stated confidence's key in the judge's voice:
/// "with (a)", "I'd put (it at)", "my", "our" ("with a confidence of 0.4",
/// "I'd put my confidence at around 30%", "My confidence: 0.3").
const CONFIDENCE_LEAD: &str = r"(?:with\s+(?:an?\s+)?|(?:i'd|i\s+would|we'd|we\s+would|i|we)\s+(?:put|place|set|rate|estimate)\s+(?:it\s+at\s+)?)?(?:(?:my|our)\s+)?";

/// Words of approximation before a confidence's value: "about 0.3",
/// "~30%", "approximately", "only".
const APPROXIMATELY: &str =
    r"(?:(?:about|around|approximately|approx\.?|roughly|only|just|~|≈)\s*)*";

/// A stated confidence's key: `confidence` or `certainty` (group `key`),
/// with `level`, `score` or `rating` ("Confidence score"), "in this label"
/// ("Confidence in my answer"), and a scale in brackets ("Confidence
/// (0-1)", "Confidence (1-5)"; group `scale`, its top). Spaces and
/// underscores alike, so that a JSON key (`confidence_score`) reads as
/// the text's.
fn confidence_key(named: bool) -> String {
    [
        &group(named, "key", "confidence|certainty")[..],
        r"(?:[\s_-]+(?:level|score|rating|estimate))?",
        r"(?:[\s_]+(?:in|of|about|for)[\s_]+(?:this|my|the|our)[\s_]+(?:label|class|classification|answer|verdict|call|rating|judge?ment|assessment))?",
        r"(?:\s*\(\s*(?:\d+(?:\.\d+)?\s*(?:-|–|to\b)?\s*)?",
        &group(named, "scale", r"\d+(?:\.\d+)?"),
        r"\s*%?\s*\))?",
    ]
    .concat()
}

/// A confidence as a number: a fraction of 1 (group `num`: `0.3`, `.3`,
/// `0,3` with a decimal comma), a percentage (`30%`, `30 percent`; group
/// `pct`) or a ratio (`2/10`, `2 out of 5`; `den`, the whole).
fn confidence_number(named: bool) -> String {
    [
        &group(named, "num", r"\d+(?:[.,]\d+)?|[.,]\d+")[..],
        r"(?:\s*",
        &group(named, "pct", r"%|percent\b"),
        r"|\s*(?:/|out\s+of\b)\s*",
        &group(named, "den", r"\d+(?:[.,]\d+)?"),
        ")?",
    ]
    .concat()
}

/// A stated confidence's value after its key: a word (group `word`: `low`,
/// `very low`, `minimal`, `none`, `uncertain`, `unsure`, `not sure`, `not
/// high`; "Low-moderate" is low) or a `confidence_number`, which a scale
/// may follow ("2 (on a scale of 1-5)"; group `scale_after`, its top) and
/// a gloss that says it is low ("0.3 (low)", "4/10 → low"; group `gloss`).
fn confidence_value(named: bool) -> String {
    [
        "(?:",
        &group(
            named,
            "word",
            r"(?:very\s+|quite\s+|rather\s+|fairly\s+)?(?:low|minimal|none|nil|uncertain|unsure|not\s+(?:sure|certain|confident|high))",
        ),
        r"\b|",
        &confidence_number(named),
        r"(?:\s*\(?\s*(?:on\s+)?(?:a\s+)?scale\s+(?:of\s+|from\s+)?\d+(?:\.\d+)?\s*(?:-|–|to)\s*",
        &group(named, "scale_after", r"\d+(?:\.\d+)?"),
        r"\s*\)?)?",
        r"(?:\s*(?:[(\[,:-]|→|->|–|—)\s*",
        &group(named, "gloss", r"(?:very\s+)?low"),
        r"\s*(?:[)\].,;\n]|$))?)",
    ]
    .concat()
}

/// A confidence the judge states with its key first: "Confidence: low",
/// "confidence: 0.3", "**Confidence level:** 30%", "certainty 2/10",
/// "confidence is 2 out of 5", "Confidence (0-1): 0.3", "Confidence:
/// ~0.3", "with a confidence of about 40%", "My confidence: 0.3",
/// "Confidence in this label: 30%".
pub(super) fn confidence_key_first(named: bool) -> String {
    [
        CONFIDENCE_LEAD,
        &confidence_key(named),
        r"[\s*_`'\x22:=-]*(?:(?:is|of|at|was|would\s+be)\s+)?[*_`'\x22]*",
        APPROXIMATELY,
        &confidence_value(named),
    ]
    .concat()
}

/// A confidence the judge states with its number first: "30%
/// confidence", "(~30% confident)", "I'm only about 30% confident", "with
/// 30% confidence", "0.3 certainty".
pub(super) fn confidence_number_first(named: bool) -> String {
    [
        r"(?:(?:i\s+am|i'm|we\s+are|we're)\s+|with\s+(?:an?\s+)?)?",
        APPROXIMATELY,
        &confidence_number(named),
        r"\s+",
        &group(named, "key", r"confiden(?:ce|t)|certain(?:ty)?|sure"),
        r"\b",
    ]
    .concat()
}

/// The two forms of a stated confidence, with their groups, each read at
/// the start of a text.
static CONFIDENCE_FORMS: LazyLock<[Regex; 2]> = LazyLock::new(|| {
    [confidence_key_first(true), confidence_number_first(true)]
        .map(|form| compile(["^", &form].concat()).expect("the confidence pattern compiles"))
});

/// A `confidence_key` that is the whole of a JSON member's key
/// (`confidence`, `confidence_score`, `certainty_level`, `my_confidence`).
pub(super) static CONFIDENCE_KEY_ALONE: LazyLock<Regex> = LazyLock::new(|| {
    compile([r"^(?:(?:my|our)\s+)?", &confidence_key(false), "$"].concat())
        .expect("the confidence key compiles")
});

/// A confidence the judge states: how it is quoted ("confidence: 0.3")
/// and whether it is low (see `low_level`).
pub(super) struct Confidence {
    pub(super) shown: String,
    pub(super) low: bool,
}

/// The confidence stated at the start of `text` (`CONFIDENCE_FORMS`), if
/// any. The text and JSON paths both read one here: `json_hedge` reads a
/// member as the text "key: value".
pub(super) fn read_confidence(text: &str) -> Option<Confidence> {
    CONFIDENCE_FORMS.iter().find_map(|form| {
        let caps = form.captures(text)?;
        let key = caps.name("key")?;
        let value = caps.name("word").or_else(|| caps.name("num"))?;
        let end = if key.start() > value.start() {
            key.start()
        } else {
            caps.get(0)?.end()
        };
        let word = if key.as_str().starts_with("certain") {
            "certainty"
        } else {
            "confidence"
        };
        let shown = [word, ": ", text[value.start()..end].trim()].concat();
        Some(Confidence {
            shown,
            low: low_level(&caps),
        })
    })
}

/// Whether a stated confidence (`CONFIDENCE_FORMS`' groups) is low: a word
/// of doubt or a gloss saying low, or a number below one half on its scale
/// (a fraction of 1, a percentage, a ratio, or a number on a scale given:
/// "Confidence (1-5): 2"), as a JSON `confidence` below 0.5 is. A number
/// above 1 with no scale given ("confidence: 3", "confidence: 30") is not
/// read as low.
fn low_level(caps: &regex::Captures) -> bool {
    if caps.name("word").is_some() || caps.name("gloss").is_some() {
        return true;
    }
    let number = |name: &str| {
        caps.name(name)
            .and_then(|m| m.as_str().replace(',', ".").parse::<f64>().ok())
    };
    let Some(num) = number("num") else {
        return false;
    };
    let fraction = if caps.name("pct").is_some() {
        num / 100.0
    } else if let Some(whole) = number("den")
        .or_else(|| number("scale"))
        .or_else(|| number("scale_after"))
    {
        if whole <= 0.0 || num > whole {
            return false;
        }
        num / whole
    } else if num <= 1.0 {
        num
    } else {
        return false;
    };
    (0.0..0.5).contains(&fraction)
}
