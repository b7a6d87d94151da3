use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// Whether a case should be answered (`safe`) or refused (`unsafe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A prompt a model should answer: refusing it is over-refusal.
    Safe,
    /// A prompt a model should refuse: a mitigation must not make the model
    /// answer it.
    Unsafe,
}

impl Label {
    /// The label as suites and the store spell it: `safe` or `unsafe`.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Safe => "safe",
            Label::Unsafe => "unsafe",
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text is not a [`Label`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseLabelError {
    /// Neither `safe` nor `unsafe`, nor a synonym of one.
    #[error("unknown label `{0}`: use `safe` or `unsafe`")]
    Unknown(String),
    /// `0`, `1`, `true` or `false`: a yes or a no, which means safe or
    /// unsafe only once it is known what was asked (`is_safe` or
    /// `is_harmful`), and the text alone does not say.
    #[error(
        "the label `{0}` says yes or no but not to what, so it could mean safe as well as \
         unsafe: use `safe` or `unsafe`, or, in a suite file, name the label column for what \
         yes means (e.g. `is_safe` or `is_harmful`)"
    )]
    YesOrNo(String),
}

impl FromStr for Label {
    type Err = ParseLabelError;

    /// Accepts `safe`/`unsafe` and the synonyms other benchmarks use
    /// (`benign`/`harmless`, `harmful`/`toxic`), in any case.
    ///
    /// `0`/`1` and `false`/`true` are refused: whether `1` is safe depends
    /// on the question it answers, and reading it as "is harmful" once
    /// inverted every label of a suite whose column was `is_safe`. Where a
    /// column's name says what yes means, the suite reader maps them itself.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "safe" | "benign" | "harmless" => Ok(Label::Safe),
            "unsafe" | "harmful" | "toxic" => Ok(Label::Unsafe),
            "0" | "1" | "false" | "true" => Err(ParseLabelError::YesOrNo(s.to_string())),
            _ => Err(ParseLabelError::Unknown(s.to_string())),
        }
    }
}

/// One prompt of a suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Unique within its suite.
    pub id: String,
    /// The text of the prompt, as the suite gives it.
    pub prompt: String,
    /// The prompt type as the suite names it (`homonyms`, `contrast_homonyms`...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the case should be answered or refused. Never shown to
    /// strategies or judges (see [`Prompt`]).
    pub label: Label,
    /// The word that makes a safe prompt look unsafe (`kill` in "kill a process").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus: Option<String>,
    /// A free-text remark from the suite's `note` column, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Case {
    /// The topic of the case without anything that would reveal its label:
    /// XSTest names unsafe types `contrast_<topic>` (see [`Case::topic_of`]).
    pub fn topic(&self) -> &str {
        Case::topic_of(&self.kind)
    }

    /// The topic of a case of type `kind`: the type without a `contrast_`
    /// prefix, which is stripped in any case (`CONTRAST_homonyms` is
    /// `homonyms`), as suites label a type starting with it unsafe in any
    /// case. The rest keeps its case: `Contrast_Homonyms` is `Homonyms`.
    pub fn topic_of(kind: &str) -> &str {
        const PREFIX: &str = "contrast_";
        match kind.get(..PREFIX.len()) {
            Some(prefix) if prefix.eq_ignore_ascii_case(PREFIX) => &kind[PREFIX.len()..],
            _ => kind,
        }
    }

    /// What a strategy may see of this case.
    pub fn to_prompt(&self) -> Prompt {
        Prompt {
            id: self.id.clone(),
            text: self.prompt.clone(),
            topic: Some(self.topic().to_string()).filter(|t| !t.is_empty()),
        }
    }
}

/// The part of a case that strategies and judges see.
///
/// It carries no label on purpose: a mitigation must act the same on safe and
/// unsafe prompts, or its gains on safe prompts would say nothing about what
/// it costs on unsafe ones. The topic is the type with any `contrast_` prefix
/// removed for the same reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// The id of the case it comes from; empty when there is no case, as for
    /// prompts the proxy receives.
    pub id: String,
    /// What the user asks: the case's prompt, or the message the proxy
    /// received.
    pub text: String,
    /// The case's type without any `contrast_` prefix, in any case (see
    /// [`Case::topic_of`]); `None` when unknown (the proxy, answer files) or
    /// empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

impl Prompt {
    /// A prompt with no known topic, as the proxy receives them.
    pub fn new(text: impl Into<String>) -> Self {
        Prompt {
            id: String::new(),
            text: text.into(),
            topic: None,
        }
    }
}

/// A named set of cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suite {
    /// The name runs and reports show: a built-in suite's name, or the one
    /// given when loading, else the file name without its extension.
    pub name: String,
    /// Where the suite came from: `built-in`, a file path, or a fetched name.
    pub source: String,
    /// The cases in the order the suite lists them; their ids are unique.
    pub cases: Vec<Case>,
}

impl Suite {
    /// The sha256 of the suite's canonical content, in hex.
    ///
    /// Canonical content is one JSON object per case (fixed key order,
    /// absent focus and note as empty strings), sorted by id, joined by
    /// newlines. The name and source are left out so that a suite loaded
    /// from a copied or renamed file has the same fingerprint, and the file's
    /// order and formatting do not matter.
    pub fn fingerprint(&self) -> String {
        let mut cases: Vec<&Case> = self.cases.iter().collect();
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        let mut hasher = Sha256::new();
        for case in cases {
            let line = serde_json::json!([
                case.id,
                case.prompt,
                case.kind,
                case.label.as_str(),
                case.focus.as_deref().unwrap_or(""),
                case.note.as_deref().unwrap_or(""),
            ]);
            hasher.update(line.to_string().as_bytes());
            hasher.update(b"\n");
        }
        hex::encode(hasher.finalize())
    }

    /// How many cases carry `label`.
    pub fn count(&self, label: Label) -> usize {
        self.cases.iter().filter(|c| c.label == label).count()
    }

    /// The distinct types in order of first appearance.
    pub fn types(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for case in &self.cases {
            if !seen.contains(&case.kind.as_str()) {
                seen.push(case.kind.as_str());
            }
        }
        seen
    }

    /// The case with this id, or `None` when the suite has none.
    pub fn case(&self, id: &str) -> Option<&Case> {
        self.cases.iter().find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, prompt: &str, kind: &str, label: Label) -> Case {
        Case {
            id: id.into(),
            prompt: prompt.into(),
            kind: kind.into(),
            label,
            focus: None,
            note: None,
        }
    }

    #[test]
    fn topic_hides_the_contrast_prefix() {
        let c = case("1", "p", "contrast_homonyms", Label::Unsafe);
        assert_eq!(c.topic(), "homonyms");
        assert_eq!(c.to_prompt().topic.as_deref(), Some("homonyms"));
        let c = case("2", "p", "homonyms", Label::Safe);
        assert_eq!(c.topic(), "homonyms");
    }

    /// The bug this guards: suites label `CONTRAST_homonyms` unsafe (a type
    /// starting with `contrast_` in any case), but its topic kept the
    /// prefix, which told strategies the label and kept it apart from
    /// `homonyms` in reports. The prefix goes in any case; the rest keeps
    /// its case, and a type that only starts like the prefix is kept.
    #[test]
    fn topic_hides_the_contrast_prefix_in_any_case() {
        for (kind, topic) in [
            ("CONTRAST_homonyms", "homonyms"),
            ("Contrast_homonyms", "homonyms"),
            ("cOnTrAsT_Homonyms", "Homonyms"),
            ("CONTRAST_", ""),
            ("contrast", "contrast"),
            ("contrasts_x", "contrasts_x"),
            ("x_contrast_y", "x_contrast_y"),
            ("Homonyms", "Homonyms"),
            ("contrast_同音词", "同音词"),
            ("同音词", "同音词"),
            ("", ""),
        ] {
            assert_eq!(Case::topic_of(kind), topic, "{kind}");
            let c = case("1", "p", kind, Label::Unsafe);
            assert_eq!(c.topic(), topic, "{kind}");
            let shown = c.to_prompt().topic;
            assert_eq!(shown.as_deref(), Some(topic).filter(|t| !t.is_empty()));
        }
    }

    #[test]
    fn fingerprint_ignores_order_and_name_but_not_content() {
        let a = Suite {
            name: "a".into(),
            source: "x".into(),
            cases: vec![
                case("1", "p1", "t", Label::Safe),
                case("2", "p2", "t", Label::Unsafe),
            ],
        };
        let mut b = a.clone();
        b.name = "b".into();
        b.cases.reverse();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 64);
        b.cases[0].label = Label::Safe;
        assert_ne!(a.fingerprint(), b.fingerprint());
        let mut c = a.clone();
        c.cases[0].focus = Some("kill".into());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn labels_parse_common_spellings() {
        for (text, label) in [
            ("Safe", Label::Safe),
            ("benign", Label::Safe),
            ("HARMLESS", Label::Safe),
            ("unsafe", Label::Unsafe),
            (" harmful ", Label::Unsafe),
            ("toxic", Label::Unsafe),
        ] {
            assert_eq!(text.parse::<Label>(), Ok(label), "{text:?}");
        }
        let err = "maybe".parse::<Label>().unwrap_err();
        assert_eq!(err, ParseLabelError::Unknown("maybe".into()));
        assert!(err.to_string().contains("use `safe` or `unsafe`"), "{err}");
    }

    /// `1` once parsed as unsafe ("is harmful"), which inverted a suite
    /// whose column meant "is safe": a yes or a no is no label by itself.
    #[test]
    fn yes_or_no_is_refused_with_a_way_out() {
        for text in ["1", "0", "true", "FALSE", " 1 "] {
            let err = text.parse::<Label>().unwrap_err();
            assert_eq!(err, ParseLabelError::YesOrNo(text.into()), "{text:?}");
            let msg = err.to_string();
            for part in [
                format!("`{text}`"),
                "could mean safe as well as unsafe".into(),
                "use `safe` or `unsafe`".into(),
                "name the label column".into(),
                "`is_safe` or `is_harmful`".into(),
            ] {
                assert!(msg.contains(&part), "{part} in {msg}");
            }
        }
    }
}
