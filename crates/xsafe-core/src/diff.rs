//! Where two JSON values differ, as commands name what changed: the
//! setting of a stored run a command would change, or the strategy a
//! profile was tuned with that this xsafe builds otherwise.

use serde_json::Value;
use std::collections::BTreeSet;

/// One place where two values differ, as `xsafe run` names a setting that
/// changed since a run was made, and `xsafe serve` a strategy that changed
/// since its profile was tuned: where, and both values as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The place, as a path of keys and indices: `temperature`,
    /// `steps[0].settings.k`; empty when the values themselves differ.
    pub path: String,
    /// The first value there (what a command gives now), shortened: a
    /// string in backticks, `not set` for an absent field or null, `none`
    /// for an empty list; a long string shows where it departs from the
    /// other.
    pub now: String,
    /// The second value there (what was recorded), shown likewise.
    pub was: String,
}

impl std::fmt::Display for Difference {
    /// `steps[0].settings.k 3, was 4`; `it 3, was 4` at the top.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.path.is_empty() {
            "it"
        } else {
            &self.path
        };
        write!(f, "{name} {}, was {}", self.now, self.was)
    }
}

/// The places where `now` and `was` differ, in the order of their paths
/// (keys in alphabetical order, list items in theirs): `temperature 0.7,
/// was 0`, `steps[0].settings.k 3, was 4`. A field absent on one side is
/// `null` there; lists of different lengths differ as wholes. Empty when
/// the two are equal.
pub fn differences(now: &Value, was: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    differences_below(now, was, "", &mut out);
    out
}

/// [`differences`] below `path`, added to `out`.
fn differences_below(now: &Value, was: &Value, path: &str, out: &mut Vec<Difference>) {
    let at = |key: &str| match path {
        "" => key.to_string(),
        _ => format!("{path}.{key}"),
    };
    match (now, was) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let (x, y) = (
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                );
                differences_below(x, y, &at(key), out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences_below(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ if now == was => {}
        (Value::String(a), Value::String(b)) => {
            let (now, was) = shown_apart(a, b);
            out.push(Difference {
                path: path.to_string(),
                now,
                was,
            });
        }
        _ => out.push(Difference {
            path: path.to_string(),
            now: shown(now),
            was: shown(was),
        }),
    }
}

/// The most characters a value is shown with.
const MOST: usize = 60;

/// A value as a difference shows it, shortened: a string in backticks,
/// `not set` for null, `none` for an empty list, at most 60 characters.
pub fn shown(value: &Value) -> String {
    let text = match value {
        Value::Null => return "not set".to_string(),
        Value::String(s) => format!("`{s}`"),
        Value::Array(items) if items.is_empty() => return "none".to_string(),
        other => other.to_string(),
    };
    match text.char_indices().nth(MOST) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// Two different strings as a difference shows them: as [`shown`] does
/// when both are shown whole or they part early enough to be seen there;
/// else each from a few characters before the first one where they part,
/// after `...`, so that two long texts that differ near their ends do not
/// look the same.
fn shown_apart(a: &str, b: &str) -> (String, String) {
    /// The characters shown on each side of the first one that differs.
    const AROUND: usize = 20;
    let same = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    // `shown` puts a backtick on each side of the text.
    let whole = |s: &str| s.chars().count() + 2 <= MOST;
    if 1 + same + AROUND <= MOST || (whole(a) && whole(b)) {
        return (shown(&Value::from(a)), shown(&Value::from(b)));
    }
    let from = |s: &str| {
        let start = s
            .char_indices()
            .nth(same - AROUND)
            .map_or(s.len(), |(i, _)| i);
        format!("...{}", shown(&Value::from(&s[start..])))
    };
    (from(a), from(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_name_each_place_with_both_values() {
        let out = differences(
            &json!({"temperature": 0.7, "model": "m", "stop": ["a"], "max_tokens": 10}),
            &json!({"temperature": 0.0, "model": "m", "stop": ["b"]}),
        );
        assert_eq!(
            out.iter().map(Difference::to_string).collect::<Vec<_>>(),
            [
                "max_tokens 10, was not set",
                "stop[0] `a`, was `b`",
                "temperature 0.7, was 0.0",
            ]
        );
        let long = "x".repeat(100);
        assert_eq!(shown(&json!(long)).len(), 63);
    }

    /// The bug this guards: two long texts that part after the first 60
    /// characters were both shown as those 60 characters, alike, so a
    /// difference was named without being seen.
    #[test]
    fn long_texts_are_shown_from_where_they_part() {
        let head = "Note: hunting and sport shooting are legal in many places, ";
        let (now, was) = (
            format!("{head}with a licence!"),
            format!("{head}with a licence."),
        );
        let out = differences(&json!({"t": now}), &json!({"t": was}));
        assert_eq!(
            out,
            [Difference {
                path: "t".into(),
                now: "...`aces, with a licence!`".into(),
                was: "...`aces, with a licence.`".into(),
            }]
        );
        // Parting early, they are shown from their start.
        let out = differences(&json!(format!("A{head}")), &json!(format!("B{head}")));
        assert!(out[0].now.starts_with("`ANote") && out[0].now.ends_with("..."));
        assert_eq!(out[0].to_string().split(", was ").count(), 2);
        assert_eq!(out[0].path, "");
        // Short enough to be shown whole, they are, wherever they part.
        let short = "Note ({{ topic }}): words have many senses";
        let out = differences(&json!(format!("{short}!")), &json!(format!("{short}.")));
        assert_eq!(out[0].now, format!("`{short}!`"));
        assert_eq!(out[0].was, format!("`{short}.`"));
        // One a prefix of the other.
        let out = differences(&json!(head), &json!(format!("{head}and more")));
        assert_eq!(out[0].now, "...`gal in many places, `");
        assert_eq!(out[0].was, "...`gal in many places, and more`");
    }
}
