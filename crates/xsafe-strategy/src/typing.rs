//! How a strategy reads a prompt's type: once per prompt, the same way for
//! every step, so that one conversation never gets a contextual note of
//! one type and a follow-up of another.

use crate::text;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use xsafe_core::Prompt;

/// Cue phrases per type, as a contexts file's `[detect]` gives them.
pub(crate) type Cues = BTreeMap<String, Vec<String>>;

/// How a strategy reads a prompt's type, for all its steps at once.
///
/// A prompt given a type that some step has a text for keeps it; any
/// other prompt gets the type whose cue phrases its words contain most
/// (ties to the first in name order), when the strategy detects types, or
/// none. The cues are those of the contexts file its steps name (a
/// contextual step's `contexts`, or an interactive or few-shot step's),
/// the built-in ones when none does; a contextual step's `detect = false`
/// turns detection off for every step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Typing {
    /// The cue phrases per type.
    pub(crate) cues: Cues,
    /// Whether a type is detected from the prompt's words.
    pub(crate) detect: bool,
    /// The types some step has a text for (a note, a follow-up, exemplars
    /// for a system text's `topic`): a prompt given one keeps it.
    pub(crate) known: BTreeSet<String>,
}

impl Typing {
    /// The prompt's type as the strategy reads it (see [`Typing`]).
    pub(crate) fn topic(&self, prompt: &Prompt) -> Option<String> {
        if let Some(t) = &prompt.topic
            && self.known.contains(t)
        {
            return Some(t.clone());
        }
        if !self.detect {
            return None;
        }
        detected(&prompt.text, &self.cues)
    }

    /// Every value a step's `topic` can take: the known types, those the
    /// cues detect (when it detects), and empty, when neither gives one.
    /// A suite's other types are read as one of these, so checking a
    /// template with each checks every type it can get.
    pub(crate) fn topics(&self) -> Vec<&str> {
        let detected = self
            .detect
            .then_some(&self.cues)
            .into_iter()
            .flat_map(|c| c.keys());
        let mut all: Vec<&str> = self
            .known
            .iter()
            .chain(detected)
            .map(String::as_str)
            .collect();
        all.sort_unstable();
        all.dedup();
        all.push("");
        all
    }

    /// How a step's definition records this reading of types, when it is
    /// not the one the step makes alone (see `Composite::definition`).
    pub(crate) fn record(&self) -> Value {
        json!({
            "detect": self.detect,
            "cues": self.cues,
            "types": self.known,
        })
    }
}

/// The type whose cue phrases `text` contains most, ties to the first in
/// name order; `None` when it contains none. Cues match whole words or
/// phrases of the normalised text.
fn detected(text: &str, cues: &Cues) -> Option<String> {
    let padded = format!(" {} ", text::normalised(text));
    let mut best: Option<(&str, usize)> = None;
    for (kind, phrases) in cues {
        let hits = phrases
            .iter()
            .filter(|p| padded.contains(&format!(" {} ", text::normalised(p))))
            .count();
        if hits > 0 && best.is_none_or(|(_, b)| hits > b) {
            best = Some((kind, hits));
        }
    }
    best.map(|(k, _)| k.to_string())
}

/// What one step brings to the reading of types.
pub(crate) struct Part<'a> {
    /// The step's name, for messages.
    pub(crate) step: &'a str,
    /// The cues of the contexts file it names, and how messages name them
    /// ([`crate::data::cues_named`]).
    pub(crate) cues: Option<(&'a Cues, String)>,
    /// A contextual step's `detect`.
    pub(crate) detect: Option<bool>,
    /// The types it has a text for.
    pub(crate) known: Vec<String>,
}

/// The reading of types of a strategy whose steps bring `parts` (the
/// steps that read a prompt's type); the built-in cues when no step names
/// a contexts file. Steps that name contexts files with other cues are
/// refused: the strategy would read one prompt as two types.
pub(crate) fn of(parts: &[Part], builtin: &Cues) -> Result<Typing, String> {
    let mut named = parts
        .iter()
        .filter_map(|p| p.cues.as_ref().map(|(c, n)| (p.step, *c, n)));
    let first = named.next();
    if let Some((a, cues, these)) = first
        && let Some((b, _, those)) = named.find(|(_, c, _)| *c != cues)
    {
        return Err(format!(
            "`{a}` reads a prompt's type with {these} and `{b}` with {those}, which differ: a \
             strategy reads a prompt's type once, the same way for all its steps; name the same \
             contexts file in both (`builtin` for the built-in cues), or remove `contexts` from \
             the interactive or few-shot step (it then uses the other step's)"
        ));
    }
    Ok(Typing {
        cues: first.map_or_else(|| builtin.clone(), |(_, c, _)| c.clone()),
        detect: parts.iter().filter_map(|p| p.detect).all(|d| d),
        known: parts.iter().flat_map(|p| p.known.iter().cloned()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(text: &str, topic: Option<&str>) -> Prompt {
        Prompt {
            id: "p".into(),
            text: text.into(),
            topic: topic.map(String::from),
        }
    }

    fn cues(pairs: &[(&str, &[&str])]) -> Cues {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn a_known_type_is_kept_and_another_is_detected() {
        let typing = Typing {
            cues: cues(&[("weapons", &["rifle", "hunting"]), ("cooking", &["bake"])]),
            detect: true,
            known: ["weapons".to_string()].into(),
        };
        let read = |text: &str, topic: Option<&str>| typing.topic(&prompt(text, topic));
        assert_eq!(
            read("Anything", Some("weapons")).as_deref(),
            Some("weapons")
        );
        assert_eq!(
            read("A rifle for hunting", Some("discr")).as_deref(),
            Some("weapons")
        );
        assert_eq!(read("How do I bake?", None).as_deref(), Some("cooking"));
        // Whole words only: "rifles" is not "rifle".
        assert_eq!(read("rifles", None), None);
        let off = Typing {
            detect: false,
            ..typing.clone()
        };
        assert_eq!(off.topic(&prompt("A rifle for hunting", None)), None);
        assert_eq!(typing.topics(), ["cooking", "weapons", ""]);
        assert_eq!(off.topics(), ["weapons", ""]);
    }

    #[test]
    fn steps_naming_other_cues_are_refused() {
        let builtin = cues(&[("homonyms", &["kill"])]);
        let mine = cues(&[("weapons", &["rifle"])]);
        fn part<'a>(
            step: &'a str,
            cues: Option<&'a Cues>,
            detect: Option<bool>,
            known: &[&str],
        ) -> Part<'a> {
            Part {
                step,
                cues: cues.map(|c| (c, format!("the cues of `{step}.toml`"))),
                detect,
                known: known.iter().map(|s| s.to_string()).collect(),
            }
        }
        let typing = of(
            &[
                part("ctx", Some(&mine), Some(true), &["weapons"]),
                part("ask", None, None, &["homonyms"]),
            ],
            &builtin,
        )
        .unwrap();
        assert_eq!(typing.cues, mine);
        assert!(typing.detect);
        assert_eq!(
            typing.known.iter().collect::<Vec<_>>(),
            ["homonyms", "weapons"]
        );
        let none = of(&[part("ask", None, None, &[])], &builtin).unwrap();
        assert_eq!(none.cues, builtin);
        let off = of(
            &[
                part("ctx", Some(&mine), Some(false), &[]),
                part("ask", Some(&mine), None, &[]),
            ],
            &builtin,
        )
        .unwrap();
        assert!(!off.detect);
        let e = of(
            &[
                part("ctx", Some(&builtin), Some(true), &[]),
                part("ask", Some(&mine), None, &[]),
            ],
            &builtin,
        )
        .unwrap_err();
        assert!(
            e.starts_with(
                "`ctx` reads a prompt's type with the cues of `ctx.toml` and `ask` with the \
                 cues of `ask.toml`, which differ"
            ),
            "{e}"
        );
    }
}
