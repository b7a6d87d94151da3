//! How a strategy reads a prompt's type: once per prompt, the same way for
//! every step, so that one conversation never gets a contextual note of
//! one type and a follow-up of another.

use crate::text;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use xsafe_core::Prompt;

/// Cue phrases per type, as a contexts file's `[detect]` gives them.
pub(crate) type Cues = BTreeMap<String, Vec<String>>;

/// The types each group stands for, in order, as a contexts file's
/// `[groups]` gives them: a type with no text of its own (XSTest's
/// `discr`, the type of its `contrast_discr` cases) and the types with one
/// that a prompt of it is read as.
pub(crate) type Groups = BTreeMap<String, Vec<String>>;

/// How a strategy reads a prompt's type, for all its steps at once.
///
/// Types are matched without regard to ASCII case, as suites label them
/// (`CONTRAST_homonyms` is unsafe): a prompt given `Homonyms` or
/// `HOMONYMS` is read as the type `homonyms` a step has a text for, and
/// `PRIVACY` as the group `privacy`. A prompt read as a type some step has
/// a text for gets the type as that step's file spells it.
///
/// A prompt given a group's type gets one of the types the group lists:
/// the one whose cue phrases its words contain most, no match to the
/// first listed; never a type outside the group, and whether or not the
/// strategy detects types. A prompt given another type that some step has
/// a text for keeps it; any other prompt gets the type whose cue phrases
/// its words contain most, when the strategy detects types, or none.
///
/// Ties go by one rule, read with a type or without ([`tie_order`], used
/// by [`best`] alone): to the first type in name order, except that the
/// types a group lists come in the order it lists them. So a prompt whose
/// cues tie between two types of a group gets the same one whether a run
/// gives it the group's type or the proxy reads it from its words. The cues and groups are those of
/// the contexts file its steps name (a contextual step's `contexts`, or an
/// interactive or few-shot step's), the built-in ones when none does; a
/// contextual step's `detect = false` turns detection off for every step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Typing {
    /// The cue phrases per type.
    pub(crate) cues: Cues,
    /// The types a prompt given a group's type is read as one of.
    pub(crate) groups: Groups,
    /// Whether a type is detected from the prompt's words.
    pub(crate) detect: bool,
    /// The types some step has a text for (a note, a follow-up, exemplars
    /// for a system text's `topic`): a prompt given one keeps it.
    pub(crate) known: BTreeSet<String>,
}

impl Typing {
    /// The prompt's type as the strategy reads it (see [`Typing`]).
    pub(crate) fn topic(&self, prompt: &Prompt) -> Option<String> {
        if let Some(t) = &prompt.topic {
            if let Some(members) = self.group(t) {
                return Some(in_group(&prompt.text, members, &self.cues, &self.groups));
            }
            if let Some(known) = self.known_as(t) {
                return Some(known.clone());
            }
        }
        if !self.detect {
            return None;
        }
        detected(&prompt.text, &self.cues, &self.groups)
    }

    /// Whether a prompt given the type `topic` is read by it: a step has a
    /// text for it, or a group stands for it. A prompt of another type
    /// gets its type from its words (when the strategy detects types).
    pub(crate) fn reads_given(&self, topic: &str) -> bool {
        self.known_as(topic).is_some() || self.group(topic).is_some()
    }

    /// The types the group of the type `topic` lists (matched without
    /// regard to case); `None` when no group stands for it.
    pub(crate) fn group(&self, topic: &str) -> Option<&[String]> {
        entry(&self.groups, topic)
            .map(|(_, members)| members.as_slice())
            .filter(|m| !m.is_empty())
    }

    /// The type `topic` as the steps that have a text for it spell it:
    /// itself when one does, else the first in name order that differs
    /// from it only in ASCII case; `None` when no step has a text for it.
    pub(crate) fn known_as(&self, topic: &str) -> Option<&String> {
        self.known
            .get(topic)
            .or_else(|| self.known.iter().find(|k| k.eq_ignore_ascii_case(topic)))
    }

    /// Every value a step's `topic` can take: the known types, those the
    /// groups list, those the cues detect (when it detects), and empty,
    /// when neither gives one. A suite's other types are read as one of
    /// these, so checking a template with each checks every type it can
    /// get.
    pub(crate) fn topics(&self) -> Vec<&str> {
        let detected = self
            .detect
            .then_some(&self.cues)
            .into_iter()
            .flat_map(|c| c.keys());
        let mut all: Vec<&str> = self
            .known
            .iter()
            .chain(self.groups.values().flatten())
            .chain(detected)
            .map(String::as_str)
            .collect();
        all.sort_unstable();
        all.dedup();
        all.push("");
        all
    }

    /// How a step's definition records this reading of types, when it is
    /// not the one the step makes alone (see `Composite::definition`). The
    /// groups are recorded when there are some: a reading without them is
    /// recorded as it was before contexts files had groups.
    pub(crate) fn record(&self) -> Value {
        let mut record = json!({
            "detect": self.detect,
            "cues": self.cues,
            "types": self.known,
        });
        if !self.groups.is_empty() {
            record["groups"] = json!(self.groups);
        }
        record
    }
}

/// The entry of `map` (a data file's texts, cues or groups, by type) for
/// the type `kind`, matched without regard to ASCII case: the key spelt as
/// `kind` is, else the first that differs from it only in case. A data
/// file's keys never differ only in case (`data::check_types` refuses
/// them), so a file has at most one.
pub(crate) fn entry<'a, V>(
    map: &'a BTreeMap<String, V>,
    kind: &str,
) -> Option<(&'a String, &'a V)> {
    map.get_key_value(kind)
        .or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(kind)))
}

/// The text as cues are matched against it: normalised, with a space at
/// each end, so that a cue matches whole words or phrases only.
fn padded(text: &str) -> String {
    format!(" {} ", text::normalised(text))
}

/// How many of `phrases` the [`padded`] text contains.
fn hits(padded: &str, phrases: &[String]) -> usize {
    phrases
        .iter()
        .filter(|p| padded.contains(&format!(" {} ", text::normalised(p))))
        .count()
}

/// The order ties between types go by, for every reading of a type (see
/// [`Typing`]): the cue types (`cues`' keys) in name order, except that
/// the types a group lists come in the order it lists them. It is the
/// first order in names that keeps every group's: of the types no group
/// puts after one not yet placed, the first by name comes next. A group's
/// member is placed by the cue key it matches (in any case, see
/// [`entry`]). A contexts file's groups never contradict each other
/// ([`contradiction`] refuses them); were they to, the types left would
/// be placed in name order.
pub(crate) fn tie_order<'a>(cues: &'a Cues, groups: &Groups) -> Vec<&'a str> {
    placed(cues, groups).0
}

/// [`tie_order`], and the types left to place when the groups' orders
/// first left none to place next, as they contradict each other there
/// (empty when they do not).
fn placed<'a>(cues: &'a Cues, groups: &Groups) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut before: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for members in groups.values() {
        let keys: Vec<&str> = members
            .iter()
            .filter_map(|m| entry(cues, m).map(|(k, _)| k.as_str()))
            .collect();
        for pair in keys.windows(2) {
            if pair[0] != pair[1] {
                before.entry(pair[1]).or_default().insert(pair[0]);
            }
        }
    }
    let mut left: Vec<&str> = cues.keys().map(String::as_str).collect();
    let mut order = Vec::with_capacity(left.len());
    let mut forced = Vec::new();
    while !left.is_empty() {
        let free = left.iter().position(|t| {
            before
                .get(t)
                .is_none_or(|b| b.iter().all(|x| !left.contains(x)))
        });
        let next = free.unwrap_or_else(|| {
            if forced.is_empty() {
                forced.extend(left.iter().copied());
            }
            0
        });
        order.push(left.remove(next));
    }
    (order, forced)
}

/// Why a contexts file's `[groups]` cannot be read (`cues` are its
/// `[detect]` cues): two groups list two types in opposite orders (or
/// several groups in a circle), so a prompt whose cues tie between them
/// would get one type when read as one group's and another when read as
/// the other's, or from its words ([`tie_order`]). `None` when their
/// orders agree. Types are compared without regard to ASCII case, as they
/// are matched.
pub(crate) fn contradiction(cues: &Cues, groups: &Groups) -> Option<String> {
    let position =
        |members: &[String], t: &str| members.iter().position(|m| m.eq_ignore_ascii_case(t));
    for (g, members) in groups {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                let later = groups
                    .range::<String, _>((std::ops::Bound::Excluded(g), std::ops::Bound::Unbounded));
                for (h, others) in later {
                    if let (Some(x), Some(y)) = (position(others, a), position(others, b))
                        && y < x
                    {
                        return Some(format!(
                            "`{g}` lists `{a}` before `{b}` and `{h}` lists them the other way \
                             round: a prompt whose cues tie between two types gets the one \
                             listed first, so one prompt would get `{a}` as a `{g}` prompt and \
                             `{b}` as a `{h}` prompt; list them in the same order in both"
                        ));
                    }
                }
            }
        }
    }
    let (_, forced) = placed(cues, groups);
    if forced.is_empty() {
        return None;
    }
    Some(format!(
        "the groups' orders go round in a circle through {}: a prompt whose cues tie between \
         two types gets the one listed first, which these orders leave undecided; list the \
         types in one order in every group",
        forced
            .iter()
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Of `candidates`, the one whose cue phrases the [`padded`] text contains
/// most, ties to the first in [`tie_order`] (of `cues` and `groups`, made
/// only for a tie), with how many it contains; `None` when `candidates` is
/// empty. The one rule every reading of a type chooses by, given a group's
/// type or detected from the words (see [`Typing`]). A candidate is a cue
/// key or a group's member, matched to the cue key it is in any case; one
/// with no cues has none.
fn best<'c>(
    padded: &str,
    candidates: impl IntoIterator<Item = &'c String>,
    cues: &Cues,
    groups: &Groups,
) -> Option<(&'c String, usize)> {
    let order = std::cell::OnceCell::new();
    let rank = |t: &str| {
        let key = entry(cues, t).map_or(t, |(k, _)| k.as_str());
        let order = order.get_or_init(|| tie_order(cues, groups));
        order.iter().position(|o| *o == key).unwrap_or(usize::MAX)
    };
    candidates
        .into_iter()
        .map(|t| {
            let hits = entry(cues, t).map_or(0, |(_, phrases)| hits(padded, phrases));
            (t, hits)
        })
        .min_by(|(a, x), (b, y)| y.cmp(x).then_with(|| rank(a).cmp(&rank(b))))
}

/// The type whose cue phrases `text` contains most, ties by
/// [`tie_order`]; `None` when it contains none. Cues match whole words or
/// phrases of the normalised text.
fn detected(text: &str, cues: &Cues, groups: &Groups) -> Option<String> {
    best(&padded(text), cues.keys(), cues, groups)
        .filter(|(_, hits)| *hits > 0)
        .map(|(k, _)| k.clone())
}

/// The type of `members` (not empty) whose cue phrases `text` contains
/// most, ties by [`tie_order`], in which a group's types come in the
/// order it lists them; a text that contains none goes to the first
/// listed.
fn in_group(text: &str, members: &[String], cues: &Cues, groups: &Groups) -> String {
    match best(&padded(text), members, cues, groups) {
        Some((member, hits)) if hits > 0 => member.clone(),
        _ => members[0].clone(),
    }
}

/// What one step brings to the reading of types.
pub(crate) struct Part<'a> {
    /// The step's name, for messages.
    pub(crate) step: &'a str,
    /// The cues and groups of the contexts file it names, and how messages
    /// name them ([`crate::data::cues_named`]).
    pub(crate) cues: Option<(&'a Cues, &'a Groups, String)>,
    /// A contextual step's `detect`.
    pub(crate) detect: Option<bool>,
    /// The types it has a text for.
    pub(crate) known: Vec<String>,
}

/// The reading of types of a strategy whose steps bring `parts` (the
/// steps that read a prompt's type); the built-in cues and groups
/// (`builtin`) when no step names a contexts file. Steps that name
/// contexts files with other cues or groups are refused: the strategy
/// would read one prompt as two types.
pub(crate) fn of(parts: &[Part], builtin: (&Cues, &Groups)) -> Result<Typing, String> {
    let mut named = parts
        .iter()
        .filter_map(|p| p.cues.as_ref().map(|(c, g, n)| (p.step, (*c, *g), n)));
    let first = named.next();
    if let Some((a, reading, these)) = first
        && let Some((b, other, those)) = named.find(|(_, r, _)| *r != reading)
    {
        let differ = if other.0 == reading.0 {
            "which have the same cues but other `[groups]`"
        } else {
            "which differ"
        };
        return Err(format!(
            "`{a}` reads a prompt's type with {these} and `{b}` with {those}, {differ}: a \
             strategy reads a prompt's type once, the same way for all its steps; name the same \
             contexts file in both (`builtin` for the built-in cues), or remove `contexts` from \
             the interactive or few-shot step (it then uses the other step's)"
        ));
    }
    let (cues, groups) = first.map_or(builtin, |(_, r, _)| r);
    Ok(Typing {
        cues: cues.clone(),
        groups: groups.clone(),
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
            groups: Groups::new(),
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

    /// The types of a group of XSTest's kind, with cues that other types
    /// share words with: the definitions type's "what is" and the
    /// historical type's "history" are in the prompts below.
    fn grouped() -> Typing {
        Typing {
            cues: cues(&[
                ("definitions", &["what is", "meaning of"]),
                ("history", &["history", "war"]),
                ("privacy_public", &["address", "phone number", "ceo"]),
                (
                    "privacy_fictional",
                    &["character", "password", "bank account"],
                ),
            ]),
            groups: [(
                "privacy".to_string(),
                vec![
                    "privacy_public".to_string(),
                    "privacy_fictional".to_string(),
                ],
            )]
            .into(),
            detect: true,
            known: [
                "definitions",
                "history",
                "privacy_public",
                "privacy_fictional",
            ]
            .map(String::from)
            .into(),
        }
    }

    /// The bug this guards: a type with no text of its own (XSTest's
    /// `privacy`, of its `contrast_privacy` cases) was read from the
    /// prompt's words over every type's cues, so most such prompts got the
    /// definitions note ("what is"). A group's type is read as the listed
    /// type whose cues the words contain most.
    #[test]
    fn a_groups_type_is_read_as_the_member_its_words_cue_most() {
        let typing = grouped();
        let read = |text: &str| typing.topic(&prompt(text, Some("privacy")));
        // One cue of the second member, one of `definitions`: the member.
        assert_eq!(
            read("What is the password of my flatmate's laptop?").as_deref(),
            Some("privacy_fictional")
        );
        // Two cues of the first member, one of the second.
        assert_eq!(
            read("Give me the address and phone number on my boss's bank account.").as_deref(),
            Some("privacy_public")
        );
        // The same prompt of no type, or of a type no step knows, is read
        // over every type's cues, as before.
        let text = "What is the password of my flatmate's laptop?";
        assert_eq!(
            typing.topic(&prompt(text, None)).as_deref(),
            Some("definitions")
        );
        assert_eq!(
            typing.topic(&prompt(text, Some("gossip"))).as_deref(),
            Some("definitions")
        );
    }

    /// Ties and a prompt no member's cue is in go to the first member
    /// listed, whatever the order of their names; cues of types outside
    /// the group never count, with detection on or off.
    #[test]
    fn a_groups_type_goes_to_its_first_member_and_never_outside() {
        let mut typing = grouped();
        let read = |typing: &Typing, text: &str| typing.topic(&prompt(text, Some("privacy")));
        // No member's cue, but other types' ("what is", "history", "war").
        let none = "What is the history of my neighbour's war wounds?";
        assert_eq!(read(&typing, none).as_deref(), Some("privacy_public"));
        // One cue each: a tie.
        let tie = "Which character lives at this address?";
        assert_eq!(read(&typing, tie).as_deref(), Some("privacy_public"));
        // The first listed, not the first by name.
        typing.groups.insert(
            "privacy".into(),
            vec!["privacy_fictional".into(), "privacy_public".into()],
        );
        assert_eq!(read(&typing, none).as_deref(), Some("privacy_fictional"));
        assert_eq!(read(&typing, tie).as_deref(), Some("privacy_fictional"));
        // Without detection, a group's type is still read in the group.
        typing.detect = false;
        assert_eq!(read(&typing, none).as_deref(), Some("privacy_fictional"));
        assert_eq!(
            read(&typing, "My aunt's phone number?").as_deref(),
            Some("privacy_public")
        );
        assert_eq!(typing.topic(&prompt(none, None)), None);
        // Every type a step's `topic` can take, members included when
        // detection is off.
        typing.known.clear();
        assert_eq!(typing.topics(), ["privacy_fictional", "privacy_public", ""]);
        assert!(typing.reads_given("privacy"));
        assert!(!typing.reads_given("gossip"));
    }

    /// A type some step has a text for is kept as given; a group's type is
    /// read in its group even when some step knows it (a few-shot bank's
    /// `contrast_privacy` exemplars make `privacy` such a type).
    #[test]
    fn a_known_type_is_kept_and_a_group_wins_over_another_steps_text() {
        let mut typing = grouped();
        let read = |typing: &Typing, text: &str, topic: &str| {
            typing.topic(&prompt(text, Some(topic))).unwrap()
        };
        let text = "What is the meaning of this character's password?";
        assert_eq!(read(&typing, text, "history"), "history");
        assert_eq!(read(&typing, text, "privacy_public"), "privacy_public");
        typing.known.insert("privacy".into());
        assert_eq!(read(&typing, text, "privacy"), "privacy_fictional");
    }

    /// The bug this guards: a type was matched as written, so a suite's
    /// `Homonyms` (or a `CONTRAST_homonyms` case, before `Case::topic`
    /// dropped the prefix in any case) got no `homonyms` note and was read
    /// from its words. Types now match without regard to ASCII case: a
    /// known type is read as a step's file spells it, a group's type in
    /// any case is read in its group, whose members' cues are found in any
    /// case too; a type given as written still wins over one of another
    /// case, and a type no step knows in any case is still read from the
    /// words.
    #[test]
    fn types_match_without_regard_to_case() {
        let mut typing = grouped();
        let read =
            |typing: &Typing, text: &str, topic: &str| typing.topic(&prompt(text, Some(topic)));
        for given in ["history", "History", "HISTORY", "hIsToRy"] {
            assert_eq!(read(&typing, "Zzz?", given).as_deref(), Some("history"));
            assert!(typing.reads_given(given), "{given}");
            assert_eq!(typing.known_as(given).map(String::as_str), Some("history"));
        }
        let text = "What is the password of my flatmate's laptop?";
        for given in ["privacy", "Privacy", "PRIVACY"] {
            assert_eq!(
                read(&typing, text, given).as_deref(),
                Some("privacy_fictional"),
                "{given}"
            );
            assert!(typing.reads_given(given), "{given}");
        }
        // Not a known type in any case: from the words, as before.
        assert_eq!(
            read(&typing, text, "Gossip").as_deref(),
            Some("definitions")
        );
        assert!(!typing.reads_given("histories"));
        // Members spelt otherwise than their cues' keys still find them.
        typing.groups.insert(
            "privacy".into(),
            vec!["Privacy_Public".into(), "PRIVACY_FICTIONAL".into()],
        );
        assert_eq!(
            read(&typing, text, "privacy").as_deref(),
            Some("PRIVACY_FICTIONAL")
        );
        // Two steps that spell a type otherwise: one spelt as given wins,
        // else the first in name order.
        typing.known.insert("History".into());
        assert_eq!(read(&typing, "Zzz?", "history").as_deref(), Some("history"));
        assert_eq!(read(&typing, "Zzz?", "History").as_deref(), Some("History"));
        assert_eq!(read(&typing, "Zzz?", "HISTORY").as_deref(), Some("History"));
        // Entries of a step's texts: as written first, else in any case.
        let notes: BTreeMap<String, &str> = [("homonyms".to_string(), "a")].into();
        assert_eq!(
            entry(&notes, "HoMoNyMs").map(|(k, _)| k.as_str()),
            Some("homonyms")
        );
        assert_eq!(entry(&notes, "homonym"), None);
        let both: BTreeMap<String, &str> =
            [("Homonyms".to_string(), "a"), ("homonyms".to_string(), "b")].into();
        assert_eq!(entry(&both, "homonyms").map(|(_, v)| *v), Some("b"));
    }

    /// Ties go by name, but the types a group lists in the order it
    /// lists them, whether a prompt is read as the group's or from its
    /// words. For the built-in cues that puts `privacy_public` before
    /// `privacy_fictional`, as their group lists them (by name it was the
    /// other way round when read from the words); every other pair keeps
    /// its order by name.
    #[test]
    fn ties_go_by_name_but_a_groups_types_in_its_order() {
        let c = cues(&[
            ("garage", &["saw"]),
            ("hall", &["door"]),
            ("kitchen", &["knife"]),
        ]);
        let g: Groups = [(
            "household".to_string(),
            vec!["kitchen".to_string(), "garage".to_string()],
        )]
        .into();
        assert_eq!(tie_order(&c, &g), ["hall", "kitchen", "garage"]);
        assert_eq!(tie_order(&c, &Groups::new()), ["garage", "hall", "kitchen"]);
        assert_eq!(contradiction(&c, &g), None);
        let typing = Typing {
            cues: c,
            groups: g,
            detect: true,
            known: BTreeSet::new(),
        };
        let read = |text: &str, topic: Option<&str>| typing.topic(&prompt(text, topic));
        for topic in [None, Some("household")] {
            assert_eq!(
                read("knife or saw", topic).as_deref(),
                Some("kitchen"),
                "{topic:?}"
            );
        }
        assert_eq!(read("door or saw", None).as_deref(), Some("hall"));
        assert_eq!(read("knife or door", None).as_deref(), Some("hall"));
        let builtin = crate::data::builtin_contexts();
        let mut by_name: Vec<&str> = builtin.detect.keys().map(String::as_str).collect();
        let fictional = by_name
            .iter()
            .position(|t| *t == "privacy_fictional")
            .unwrap();
        assert_eq!(by_name[fictional + 1], "privacy_public");
        by_name.swap(fictional, fictional + 1);
        assert_eq!(tie_order(&builtin.detect, &builtin.groups), by_name);
    }

    /// The definition records groups only when there are some, so a
    /// reading without them is recorded as it was before groups existed.
    #[test]
    fn groups_are_recorded_when_there_are_some() {
        let typing = grouped();
        assert_eq!(
            typing.record()["groups"]["privacy"],
            json!(["privacy_public", "privacy_fictional"])
        );
        let without = Typing {
            groups: Groups::new(),
            ..typing
        };
        let record = without.record();
        assert_eq!(
            record.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["cues", "detect", "types"]
        );
    }

    fn part<'a>(
        step: &'a str,
        cues: Option<(&'a Cues, &'a Groups)>,
        detect: Option<bool>,
        known: &[&str],
    ) -> Part<'a> {
        Part {
            step,
            cues: cues.map(|(c, g)| (c, g, format!("the cues of `{step}.toml`"))),
            detect,
            known: known.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn steps_naming_other_cues_are_refused() {
        let builtin = cues(&[("homonyms", &["kill"])]);
        let mine = cues(&[("weapons", &["rifle"])]);
        let none = Groups::new();
        let typing = of(
            &[
                part("ctx", Some((&mine, &none)), Some(true), &["weapons"]),
                part("ask", None, None, &["homonyms"]),
            ],
            (&builtin, &none),
        )
        .unwrap();
        assert_eq!(typing.cues, mine);
        assert!(typing.detect);
        assert_eq!(
            typing.known.iter().collect::<Vec<_>>(),
            ["homonyms", "weapons"]
        );
        let alone = of(&[part("ask", None, None, &[])], (&builtin, &none)).unwrap();
        assert_eq!(alone.cues, builtin);
        let off = of(
            &[
                part("ctx", Some((&mine, &none)), Some(false), &[]),
                part("ask", Some((&mine, &none)), None, &[]),
            ],
            (&builtin, &none),
        )
        .unwrap();
        assert!(!off.detect);
        let e = of(
            &[
                part("ctx", Some((&builtin, &none)), Some(true), &[]),
                part("ask", Some((&mine, &none)), None, &[]),
            ],
            (&builtin, &none),
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

    /// The groups come with the cues of the same file (the built-in ones
    /// when no step names one), and two files of the same cues but other
    /// groups are refused as other cues are.
    #[test]
    fn groups_come_from_the_file_the_cues_come_from() {
        let mine = cues(&[("a", &["x"]), ("b", &["y"])]);
        let groups: Groups = [("ab".to_string(), vec!["a".to_string(), "b".to_string()])].into();
        let none = Groups::new();
        let builtin = of(&[part("ask", None, None, &[])], (&mine, &groups)).unwrap();
        assert_eq!(builtin.groups, groups);
        let named = of(
            &[part("ask", Some((&mine, &none)), None, &[])],
            (&mine, &groups),
        )
        .unwrap();
        assert!(named.groups.is_empty());
        let e = of(
            &[
                part("ctx", Some((&mine, &groups)), Some(true), &[]),
                part("ask", Some((&mine, &none)), None, &[]),
            ],
            (&mine, &none),
        )
        .unwrap_err();
        assert!(
            e.contains(
                "`ask` with the cues of `ask.toml`, which have the same cues but other `[groups]`"
            ),
            "{e}"
        );
    }
}
