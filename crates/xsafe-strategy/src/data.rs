//! The data strategies are made of: the few-shot exemplar bank, the
//! contextual strategy's texts and the interactive strategy's follow-ups.
//! The built-in ones (in `data/`, written for xsafe) are compiled in; a
//! strategy file can name its own.

use crate::SpecError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One exemplar exchange: a prompt and the answer the model is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exemplar {
    /// The exemplar's id, unique within its bank.
    pub id: String,
    /// An XSTest type (`homonyms`, ..., or a `contrast_` type).
    #[serde(rename = "type")]
    pub kind: String,
    /// `safe` (answered helpfully) or `unsafe` (refused).
    pub label: String,
    /// The user turn shown to the model.
    pub prompt: String,
    /// The assistant turn that follows it: a helpful answer for a safe
    /// exemplar, a refusal for an unsafe one.
    pub answer: String,
}

impl Exemplar {
    /// Whether the exemplar is labelled `safe`, i.e. its answer complies.
    pub fn is_safe(&self) -> bool {
        self.label == "safe"
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BankFile {
    exemplar: Vec<Exemplar>,
}

/// The contextual strategy's texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contexts {
    /// Instructions: read the request in its most plausible benign sense.
    pub system: String,
    /// A context note per prompt type.
    #[serde(rename = "type", default)]
    pub types: BTreeMap<String, String>,
    /// Cue phrases per type, for prompts whose type is not known.
    #[serde(default)]
    pub detect: BTreeMap<String, Vec<String>>,
}

/// The interactive strategy's follow-ups (minijinja templates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Followups {
    pub default: String,
    #[serde(rename = "type", default)]
    pub types: BTreeMap<String, String>,
    #[serde(default)]
    pub second: Second,
}

/// Follow-ups for the turns after the first, and the clarifier's prompt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Second {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub clarifier: Option<String>,
}

const BUILTIN_EXEMPLARS: &str = include_str!("../data/exemplars.toml");
const BUILTIN_CONTEXTS: &str = include_str!("../data/contexts.toml");
const BUILTIN_FOLLOWUPS: &str = include_str!("../data/followups.toml");

fn parse<T: for<'de> Deserialize<'de>>(text: &str, file: &str) -> Result<T, SpecError> {
    toml::from_str(text).map_err(|e| SpecError::toml(file, text, &e))
}

fn read(path: &Path) -> Result<String, SpecError> {
    std::fs::read_to_string(path).map_err(|e| SpecError::Read {
        path: path.display().to_string(),
        error: e.to_string(),
    })
}

/// A data file's text and its name for messages: `builtin` is the file
/// compiled in (named by its place in the source, `data/...`), anything
/// else a path relative to the strategy file's folder.
fn load(
    source: &str,
    base: Option<&Path>,
    builtin: (&str, &'static str),
) -> Result<(String, String), SpecError> {
    if source == "builtin" {
        let (name, text) = builtin;
        return Ok((text.to_string(), name.to_string()));
    }
    let path = resolve(source, base);
    Ok((read(&path)?, path.display().to_string()))
}

/// Reads an exemplar bank: `builtin` or a TOML file of `[[exemplar]]`.
/// Errors name the data file; the caller adds the strategy file's field
/// that named it ([`SpecError::named_by`]).
pub fn exemplars(source: &str, base: Option<&Path>) -> Result<Vec<Exemplar>, SpecError> {
    let (text, file) = load(source, base, ("data/exemplars.toml", BUILTIN_EXEMPLARS))?;
    let bank: BankFile = parse(&text, &file)?;
    let file = file.as_str();
    let mut seen = std::collections::HashSet::new();
    for e in &bank.exemplar {
        if !seen.insert(e.id.as_str()) {
            return Err(SpecError::invalid(
                file,
                "exemplar.id",
                format!(
                    "id `{}` is used twice; give every exemplar its own id",
                    e.id
                ),
            ));
        }
        if e.label != "safe" && e.label != "unsafe" {
            return Err(SpecError::invalid(
                file,
                "exemplar.label",
                format!(
                    "exemplar `{}` has label `{}`; use safe or unsafe",
                    e.id, e.label
                ),
            ));
        }
        if e.prompt.trim().is_empty() || e.answer.trim().is_empty() {
            return Err(SpecError::invalid(
                file,
                "exemplar",
                format!("exemplar `{}` needs a prompt and an answer", e.id),
            ));
        }
    }
    Ok(bank.exemplar)
}

/// Reads the contextual texts: `builtin` or a TOML file.
pub fn contexts(source: &str, base: Option<&Path>) -> Result<Contexts, SpecError> {
    let (text, file) = load(source, base, ("data/contexts.toml", BUILTIN_CONTEXTS))?;
    parse(&text, &file)
}

/// Reads the follow-ups, `builtin` or a TOML file, and the name its
/// errors give it (its templates are checked by the interactive step).
pub fn followups(source: &str, base: Option<&Path>) -> Result<(Followups, String), SpecError> {
    let (text, file) = load(source, base, ("data/followups.toml", BUILTIN_FOLLOWUPS))?;
    Ok((parse(&text, &file)?, file))
}

/// A path in a strategy file is relative to that file.
fn resolve(source: &str, base: Option<&Path>) -> std::path::PathBuf {
    match base.and_then(Path::parent) {
        Some(dir) => dir.join(source),
        None => source.into(),
    }
}
