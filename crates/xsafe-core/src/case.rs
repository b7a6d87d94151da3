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

/// A label that is neither `safe` nor `unsafe` (nor a known synonym).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown label `{0}`: use `safe` or `unsafe`")]
pub struct ParseLabelError(pub String);

impl FromStr for Label {
    type Err = ParseLabelError;

    /// Accepts `safe`/`unsafe` and the spellings other benchmarks use
    /// (`benign`/`harmful`, `0`/`1`, `false`/`true` for "is harmful").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "safe" | "benign" | "harmless" | "0" | "false" => Ok(Label::Safe),
            "unsafe" | "harmful" | "toxic" | "1" | "true" => Ok(Label::Unsafe),
            _ => Err(ParseLabelError(s.to_string())),
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
    /// XSTest names unsafe types `contrast_<topic>`.
    pub fn topic(&self) -> &str {
        self.kind.strip_prefix("contrast_").unwrap_or(&self.kind)
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
    /// The case's type without any `contrast_` prefix; `None` when unknown (the
    /// proxy, answer files) or empty.
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
        assert_eq!("Safe".parse::<Label>(), Ok(Label::Safe));
        assert_eq!(" harmful ".parse::<Label>(), Ok(Label::Unsafe));
        assert_eq!("1".parse::<Label>(), Ok(Label::Unsafe));
        assert!("maybe".parse::<Label>().is_err());
    }
}
