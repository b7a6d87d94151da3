//! Strategy files: one TOML file is one strategy.
//!
//! ```toml
//! name = "few-shot"
//! kind = "few-shot"            # baseline | few-shot | contextual | interactive | composition
//! description = "..."
//! k = 4                        # kind-specific settings, see each kind's struct
//! ```

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A strategy file that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// A strategy file cannot be read from disk.
    #[error("cannot read strategy file `{path}`: {error}; check the path")]
    Read {
        /// The file's path as given.
        path: String,
        /// The operating system's reason, as text.
        error: String,
    },
    /// A strategy file, a data file it names, or a composition cannot be used:
    /// bad TOML, a missing or mistyped key, or a setting that makes no sense.
    #[error("strategy file `{file}`{}: {message}", field.as_ref().map(|f| format!(", field `{f}`")).unwrap_or_default())]
    Invalid {
        /// The file at fault as given (a strategy file's path or `builtin:NAME`,
        /// or a data file it names), or the strategy name asked for when the
        /// composition itself is at fault.
        file: String,
        /// The key at fault, e.g. `k` or `exemplars`; `None` when the whole text
        /// (TOML syntax) or the composition is at fault.
        field: Option<String>,
        /// What is wrong and, where it can, what to write instead.
        message: String,
    },
    /// A composition that cannot be built from its parts, such as
    /// `interactive+interactive` or `few-shot+few-shot-nearest`: it is not a
    /// file, so the error names the strategy asked for. (A composition
    /// file's own mistakes are [`SpecError::Invalid`], field `steps`.)
    #[error("strategy `{name}`: {message}")]
    Composition {
        /// The strategy asked for, as its parts were joined (`a+b`).
        name: String,
        /// What is wrong and what to do instead.
        message: String,
    },
    /// A strategy name (or a part of an `a+b` composition) that no built-in
    /// strategy or strategy file has.
    #[error("unknown strategy `{name}`; available: {available}")]
    Unknown {
        /// The unknown name, one part of the composition asked for.
        name: String,
        /// The known names, comma-separated, with a hint on `a+b` and
        /// `--strategy-file`.
        available: String,
    },
    /// The file is valid but needs something this machine lacks (a
    /// sentence encoder not in the cache).
    #[error("strategy file `{file}`, field `{field}`: {message}")]
    Unavailable {
        /// The strategy file as given (a path or `builtin:NAME`).
        file: String,
        /// The key naming what is missing, e.g. `encoder`.
        field: String,
        /// Why the encoder cannot be loaded, as its loader reports it.
        message: String,
    },
}

impl SpecError {
    pub(crate) fn invalid(file: &str, field: &str, message: impl Into<String>) -> SpecError {
        SpecError::Invalid {
            file: file.to_string(),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// An error in a data file (exemplars, contexts, follow-ups) that a
    /// strategy file's `field` names is reported as that field's error, with
    /// the data file and the place in it, so the message says both where
    /// the mistake is and where the path came from.
    pub(crate) fn named_by(self, file: &str, field: &str) -> SpecError {
        let message = match self {
            SpecError::Read { path, error } => format!(
                "cannot read `{path}`: {error}; a relative path is taken from the strategy \
                 file's folder"
            ),
            SpecError::Invalid {
                file: data,
                field: inner,
                message,
            } => format!(
                "data file `{data}`{}: {message}",
                inner.map(|f| format!(", field `{f}`")).unwrap_or_default()
            ),
            other => return other,
        };
        SpecError::invalid(file, field, message)
    }

    /// A TOML error in `text` (the file `file`), with the line and column
    /// it is at.
    ///
    /// An error in a value (a number too large, a bad escape) names its
    /// key, as TOML's own message does not (`u64 value was too large`); an
    /// unknown key gets the closest known one suggested (see
    /// [`with_suggestion`]).
    pub(crate) fn toml(file: &str, text: &str, e: &toml::de::Error) -> SpecError {
        let message = with_suggestion(e.message().trim());
        // TOML's integers are i64: a larger one is an error of the file.
        let hint = if looks_like_json(text) {
            format!("; {JSON_HINT}")
        } else if message.contains("too large") {
            format!("; a TOML integer is at most {}", i64::MAX)
        } else {
            String::new()
        };
        SpecError::Invalid {
            file: file.to_string(),
            field: e.span().and_then(|s| key_of_value_at(text, s.start)),
            message: message + &hint + &e.span().map(|s| at(text, s.start)).unwrap_or_default(),
        }
    }
}

/// The key whose value is at `offset` in a TOML text: the `KEY =` before
/// it on its line, under the header of the table it is in (`type.weapons`,
/// `exemplar.id`); `None` when the offset is not in a value on such a line
/// (a syntax error in a key, a missing value, a line of a multi-line
/// string), so that a message never names a key it is not about.
fn key_of_value_at(text: &str, offset: usize) -> Option<String> {
    let offset = xsafe_core::floor_char_boundary(text, offset);
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = &text[start..end];
    let eq = line.find('=')?;
    let value = text[offset..end].trim_start();
    if start + eq >= offset || value.is_empty() || value.starts_with('#') {
        return None;
    }
    let bare = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let key = line[..eq].trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .unwrap_or(key);
    if !bare(key) {
        return None;
    }
    // The table the line is in: the last header above it.
    let header = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').trim());
    Some(match header {
        Some(h) if bare(h) => format!("{h}.{key}"),
        Some(_) => return None,
        None => key.to_string(),
    })
}

/// What a message about a file that cannot be read as TOML adds when
/// the file looks like JSON ([`looks_like_json`]).
pub const JSON_HINT: &str = "this looks like JSON; xsafe reads TOML here";

/// Whether `text`, refused as TOML, looks like JSON: its first character
/// that is not white space is `{` (no TOML file starts so), or `[`
/// followed by what starts a JSON value (`{`, `"`, `]`, a digit or `-`),
/// not a TOML table's name (`[type]`, `[[exemplar]]`). Strategy files,
/// their data files and `xsafe serve`'s config file say so with
/// [`JSON_HINT`].
pub fn looks_like_json(text: &str) -> bool {
    let text = text.trim_start_matches('\u{feff}').trim_start();
    match text.chars().next() {
        Some('{') => true,
        Some('[') => text[1..]
            .trim_start()
            .starts_with(|c: char| matches!(c, '{' | '"' | ']' | '-') || c.is_ascii_digit()),
        _ => false,
    }
}

/// A serde message in plain words, as messages about strategy and data
/// files give it: an unknown key (`unknown field `descripton`, expected
/// one of `k`, ...`) or value (`unknown variant `nearset`, expected one of
/// `fixed`, ...`) with the closest expected one suggested (see
/// [`closest`]); `expected usize` (or another of Rust's integer types) as
/// `expected a whole number`, with a note that a number in quotes is text.
/// Any other message as it is.
pub(crate) fn with_suggestion(message: &str) -> String {
    let message = whole_numbers(message);
    let Some((what, rest)) = ["field", "variant"]
        .into_iter()
        .find_map(|w| Some((w, message.strip_prefix(&format!("unknown {w} `"))?)))
    else {
        return message;
    };
    let Some((unknown, expected)) = rest.split_once('`') else {
        return message;
    };
    // The expected keys are the rest of the message's quoted words.
    let expected: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match closest(unknown, expected) {
        Some(near) if what == "variant" => format!("{message}; did you mean \"{near}\"?"),
        Some(near) => format!("{message}; did you mean `{near}`?"),
        None => message,
    }
}

/// `message` with `expected usize` (`u32`, `i64`, ...: Rust's names,
/// which a file's author need not know) as `expected a whole number`, and
/// a note when the value was a number written as a string (`k = "3"`).
fn whole_numbers(message: &str) -> String {
    const INTEGERS: [&str; 10] = [
        "usize", "u64", "u32", "u16", "u8", "isize", "i64", "i32", "i16", "i8",
    ];
    let Some(rust) = INTEGERS
        .iter()
        .find(|t| message.ends_with(&format!("expected {t}")))
    else {
        return message.to_string();
    };
    let base = &message[..message.len() - rust.len()];
    let plain = if rust.starts_with('u') {
        "a whole number (0 or more)"
    } else {
        "a whole number"
    };
    // `invalid type: string "3"`: a number in quotes.
    let quoted = message
        .strip_prefix("invalid type: string \"")
        .and_then(|rest| rest.split('"').next())
        .is_some_and(|v| v.trim().parse::<i64>().is_ok());
    let note = if quoted {
        ", written without quotes (`\"3\"` is text, `3` a number)"
    } else {
        ""
    };
    format!("{base}{plain}{note}")
}

/// The key of `candidates` that `key` is most likely a misspelling of: the
/// same but for case and `-` for `_`, or a letter from it (two for keys
/// of 6 letters or more), a swap of two letters counting as one; `None`
/// when none is that close. Keys of one or two letters (`k`) are only
/// suggested for the same but for case, as any letter is one from them.
pub(crate) fn closest<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let folded = key.to_lowercase().replace('-', "_");
    candidates
        .into_iter()
        .map(|c| (typo_distance(&folded, c), c))
        .filter(|(d, c)| {
            *d <= match c.chars().count() {
                0..=2 => 0,
                3..=5 => 1,
                _ => 2,
            }
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The edit distance of two strings in characters, a swap of two
/// neighbouring characters counting as one edit (`nmae` is one from
/// `name`).
fn typo_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// ` (line L, column C)` for a byte offset in `text`, both counted from 1,
/// the column in characters.
pub(crate) fn at(text: &str, offset: usize) -> String {
    let offset = xsafe_core::floor_char_boundary(text, offset);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[start..].chars().count() + 1;
    format!(" (line {line}, column {column})")
}

/// How few-shot picks its exemplars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The same exemplars for every prompt: the bank's first safe exemplar
    /// of each type in turn, and its first unsafe ones.
    #[default]
    Fixed,
    /// The exemplars whose prompts share the most words with the prompt.
    Nearest,
    /// The exemplars whose prompts are nearest to the prompt in meaning, by
    /// the cosine of their sentence embeddings (see `encoder`).
    Embedding,
}

fn builtin() -> String {
    "builtin".into()
}

fn default_k() -> usize {
    4
}

fn default_unsafe() -> usize {
    1
}

fn default_turns() -> usize {
    2
}

/// The most follow-ups an interactive strategy may send after a refusal
/// (its `max_turns`): each is another request to the target, and every
/// one of them is rendered for every prompt type when the file is loaded.
pub const MAX_TURNS: usize = 10;

fn default_true() -> bool {
    true
}

/// `kind = "few-shot"`: exemplar exchanges placed as earlier turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FewShotSpec {
    /// Exemplars per prompt.
    #[serde(default = "default_k")]
    pub k: usize,
    /// How many of the k are unsafe prompts with refusals, to keep the
    /// boundary.
    #[serde(rename = "unsafe", default = "default_unsafe")]
    pub unsafe_count: usize,
    #[serde(default)]
    pub selection: Selection,
    /// With `selection = "embedding"`: the sentence encoder, a known one
    /// (`all-minilm-l6-v2`, the default) or a model directory relative to
    /// this file. A directory is recorded by its files' sha256 too (the
    /// step's `encoder_sha256`), so other weights make another strategy.
    #[serde(default)]
    pub encoder: Option<String>,
    /// `builtin`, or a TOML file of `[[exemplar]]` relative to this file.
    #[serde(default = "builtin")]
    pub exemplars: String,
    /// An optional system text (template) before the exemplars.
    #[serde(default)]
    pub system: Option<String>,
    /// With a system text that uses `topic`: a contexts file (`builtin`, or
    /// a TOML file relative to this file) whose `[detect]` cues the
    /// strategy reads a prompt's type with, as
    /// [`InteractiveSpec::contexts`]. Left out of the definition when not
    /// given, as files written before it was a setting are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contexts: Option<String>,
}

/// `kind = "contextual"`: a system message asking for the most plausible
/// benign reading, plus context matched to the prompt's type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextualSpec {
    /// The system text (template); variables `instructions` (the texts'
    /// `system`), `context` (the type's note, empty if none), `topic`,
    /// `prompt`.
    #[serde(default)]
    pub system: Option<String>,
    /// The user turn (template), variables as above.
    #[serde(default)]
    pub user: Option<String>,
    /// `builtin`, or a TOML file with `system`, `[type]` and `[detect]`.
    #[serde(default = "builtin")]
    pub contexts: String,
    /// Detect the type from the prompt's words when it is not known.
    #[serde(default = "default_true")]
    pub detect: bool,
}

/// `kind = "interactive"`: when the judge says the reply refuses, a
/// clarifying follow-up in the user's voice, up to `max_turns` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractiveSpec {
    /// Follow-ups at most (the conversation has up to max_turns + 1
    /// replies): 1 to [`MAX_TURNS`].
    #[serde(default = "default_turns")]
    pub max_turns: usize,
    /// `builtin`, or a TOML file with `default`, `[type]` and `[second]`.
    #[serde(default = "builtin")]
    pub followups: String,
    /// A contexts file (`builtin`, or a TOML file relative to this file)
    /// whose `[detect]` cues the strategy reads a prompt's type with when
    /// it is not given, or given but no step has a text for it; without
    /// it, the cues of a contextual step of the same strategy, else the
    /// built-in ones (steps naming files of other cues are refused). Only
    /// `[detect]` is read (`system` may be left out). Left out of the
    /// definition when not given, as files written before it was a
    /// setting are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contexts: Option<String>,
}

/// `kind = "composition"`: other strategies applied in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositionSpec {
    /// The strategies, by name, in the order they apply; at least one.
    pub steps: Vec<String>,
    /// Where each step is written (` (line L, column C)`, in the order of
    /// `steps`), for messages about one; empty for a step whose place is
    /// not known.
    #[serde(skip)]
    pub places: Vec<String>,
}

/// The keys every strategy file may have.
const COMMON_KEYS: [&str; 3] = ["name", "kind", "description"];
/// The settings of each kind, as its spec's fields name them.
const FEW_SHOT_KEYS: &[&str] = &[
    "k",
    "unsafe",
    "selection",
    "encoder",
    "exemplars",
    "system",
    "contexts",
];
const CONTEXTUAL_KEYS: &[&str] = &["system", "user", "contexts", "detect"];
/// An interactive file's settings; `contexts` names the file whose
/// `[detect]` cues read a prompt's type (see [`InteractiveSpec::contexts`]).
const INTERACTIVE_KEYS: &[&str] = &["max_turns", "followups", "contexts"];
const COMPOSITION_KEYS: &[&str] = &["steps"];

/// The kinds and their settings.
const KINDS: [(&str, &[&str]); 5] = [
    ("baseline", &[]),
    ("few-shot", FEW_SHOT_KEYS),
    ("contextual", CONTEXTUAL_KEYS),
    ("interactive", INTERACTIVE_KEYS),
    ("composition", COMPOSITION_KEYS),
];

/// "`a`, `b` and `c`".
fn listed(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// What a strategy file says.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// The prompt as it is, with nothing added: what the other strategies are
    /// measured against.
    Baseline,
    /// Exemplar exchanges placed as earlier turns.
    FewShot(FewShotSpec),
    /// A system text asking for the most plausible benign reading, with
    /// context matched to the prompt's type.
    Contextual(ContextualSpec),
    /// Clarifying follow-ups after a reply the judge finds refusing.
    Interactive(InteractiveSpec),
    /// Other strategies, by name, applied in order.
    Composition(CompositionSpec),
}

/// A parsed strategy file.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyFile {
    /// The strategy's name, by which commands and `a+b` compositions refer to
    /// it; never empty and without `+`, `,` or whitespace.
    pub name: String,
    /// What the strategy does, in a sentence or two; empty when the file
    /// gives none.
    pub description: String,
    /// The strategy's kind, with its kind-specific settings.
    pub kind: Kind,
    /// Where it came from (`builtin:NAME` or a path), for messages.
    pub source: String,
    /// The file's path, against which its relative paths are resolved.
    pub path: Option<PathBuf>,
}

impl StrategyFile {
    /// Reads a strategy file from disk.
    pub fn load(path: &Path) -> Result<StrategyFile, SpecError> {
        let text = crate::data::read_text(path)?;
        let mut file = StrategyFile::parse(&text, &path.display().to_string())?;
        file.path = Some(path.to_path_buf());
        Ok(file)
    }

    /// Parses a strategy file's text; `source` names it in messages. CRLF
    /// line endings are read as LF, in the strings too (see
    /// `data::read_text`).
    pub fn parse(text: &str, source: &str) -> Result<StrategyFile, SpecError> {
        let text = &crate::data::unix_lines(text);
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| SpecError::toml(source, text, &e))?;
        // Where a top-level key is written, for messages about it.
        let place = |key: &str| key_position(text, key);
        // The keys as written, in the file's order, before any is taken.
        let mut written: Vec<String> = table.keys().cloned().collect();
        written.sort_by_cached_key(|k| key_offset(text, k).unwrap_or(usize::MAX));
        // A key no kind has that looks like `key`: what a file missing
        // `key` most likely meant by it (`nmae`, `Kind`).
        let misspelt = |key: &str| {
            let any_kind = KINDS.iter().flat_map(|(_, keys)| keys.iter());
            let known: Vec<&str> = COMMON_KEYS.iter().chain(any_kind).copied().collect();
            written
                .iter()
                .find(|w| !known.contains(&w.as_str()) && closest(w, [key]).is_some())
                .map(|w| format!("; the file has `{w}`{}: did you mean `{key}`?", place(w)))
                .unwrap_or_default()
        };
        let mut take_str = |key: &str, required: bool| -> Result<Option<String>, SpecError> {
            match table.remove(key) {
                Some(toml::Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(SpecError::invalid(
                    source,
                    key,
                    format!("must be a string, not {}{}", other.type_str(), place(key)),
                )),
                None if required => Err(SpecError::invalid(
                    source,
                    key,
                    format!("is missing{}", misspelt(key)),
                )),
                None => Ok(None),
            }
        };
        let name = take_str("name", true)?.expect("required");
        let kind = take_str("kind", true)?.expect("required");
        let description = take_str("description", false)?.unwrap_or_default();
        if !is_name(&name) {
            return Err(SpecError::invalid(
                source,
                "name",
                format!(
                    "`{name}` cannot be a strategy name: use letters, digits, dashes, underscores \
                     and dots, beginning with a letter or digit (`+` composes strategies, `,` \
                     lists them){}",
                    place("name")
                ),
            ));
        }
        // A key the kind does not have, first in the file's order: named,
        // with the closest key it may have (common ones too) and the keys
        // it has, before serde's message, which lists the kind's settings
        // only.
        if let Some((_, keys)) = KINDS.iter().find(|(k, _)| *k == kind) {
            let unknown = written
                .iter()
                .find(|w| !COMMON_KEYS.contains(&w.as_str()) && !keys.contains(&w.as_str()));
            if let Some(key) = unknown {
                let all: Vec<&str> = COMMON_KEYS.iter().chain(keys.iter()).copied().collect();
                let near = closest(key, all.iter().copied());
                let elsewhere = KINDS
                    .iter()
                    .filter(|(other, keys)| *other != kind && keys.contains(&key.as_str()))
                    .map(|(other, _)| *other)
                    .collect::<Vec<_>>();
                // "an interactive file", "a contextual file".
                let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                let keys = format!("{article} {kind} file's keys are {}", listed(&all));
                let message = match near {
                    Some(near) => format!(
                        "{kind}: unknown field `{key}`{}; did you mean `{near}`? {}{}",
                        place(key),
                        keys[..1].to_uppercase(),
                        &keys[1..]
                    ),
                    None if kind == "baseline" => {
                        format!("baseline takes no settings{}; {keys}", place(key))
                    }
                    None if !elsewhere.is_empty() => format!(
                        "{kind}: unknown field `{key}`{}: it is a setting of {} strategies, not \
                         of {kind} ones; {keys}",
                        place(key),
                        elsewhere.join(" and ")
                    ),
                    None => format!("{kind}: unknown field `{key}`{}; {keys}", place(key)),
                };
                return Err(SpecError::invalid(source, key, message));
            }
        }
        let rest = toml::Value::Table(table);
        // The key of a bad setting, as serde's own messages do not say it,
        // and where it is written.
        let settings = |e: serde_path_to_error::Error<toml::de::Error>| {
            let path = e.path().to_string();
            let message = with_suggestion(e.inner().message().trim());
            let message = message.as_str();
            let unknown = message
                .strip_prefix("unknown field `")
                .and_then(|rest| rest.split('`').next());
            let field = if !(path.is_empty() || path == "." || path.starts_with('?')) {
                path.as_str()
            } else {
                unknown.unwrap_or("kind")
            };
            let key = field.split(['.', '[']).next().unwrap_or(field);
            SpecError::invalid(source, field, format!("{kind}: {message}{}", place(key)))
        };
        let kind = match kind.as_str() {
            // Any setting is refused above, as a key baseline does not have.
            "baseline" => Kind::Baseline,
            "few-shot" => Kind::FewShot(serde_path_to_error::deserialize(rest).map_err(settings)?),
            "contextual" => {
                Kind::Contextual(serde_path_to_error::deserialize(rest).map_err(settings)?)
            }
            "interactive" => {
                let spec: InteractiveSpec =
                    serde_path_to_error::deserialize(rest).map_err(settings)?;
                if spec.max_turns == 0 {
                    return Err(SpecError::invalid(
                        source,
                        "max_turns",
                        format!(
                            "interactive: max_turns = 0 sends no follow-up, which is baseline \
                             under another name; use 1 or more{}",
                            place("max_turns")
                        ),
                    ));
                }
                if spec.max_turns > MAX_TURNS {
                    return Err(SpecError::invalid(
                        source,
                        "max_turns",
                        format!(
                            "interactive: max_turns = {} is more than {MAX_TURNS}, the most \
                             follow-ups a strategy may send after a refusal (each is another \
                             request to the model); use 1 to {MAX_TURNS}{}",
                            spec.max_turns,
                            place("max_turns")
                        ),
                    ));
                }
                Kind::Interactive(spec)
            }
            "composition" => {
                let mut spec: CompositionSpec =
                    serde_path_to_error::deserialize(rest).map_err(settings)?;
                spec.places = step_places(text, spec.steps.len());
                if let Some((i, step)) =
                    spec.steps.iter().enumerate().find(|(_, s)| s.contains('+'))
                {
                    let parts: Vec<String> = step
                        .split('+')
                        .map(|p| format!("\"{}\"", p.trim()))
                        .collect();
                    return Err(SpecError::invalid(
                        source,
                        "steps",
                        format!(
                            "composition: `{step}`{} is not a strategy name: a step is one \
                             strategy name; list the parts as separate steps: [{}]",
                            spec.places[i],
                            parts.join(", ")
                        ),
                    ));
                }
                if spec.steps.is_empty() {
                    return Err(SpecError::invalid(
                        source,
                        "steps",
                        format!(
                            "composition: steps = [] applies no strategy, which sends the prompt \
                             as it is: baseline under another name; name one or more strategies \
                             in `steps`{}",
                            place("steps")
                        ),
                    ));
                }
                Kind::Composition(spec)
            }
            other => {
                return Err(SpecError::invalid(
                    source,
                    "kind",
                    format!(
                        "unknown kind `{other}`; use baseline, few-shot, contextual, interactive or composition{}",
                        place("kind")
                    ),
                ));
            }
        };
        Ok(StrategyFile {
            name,
            description,
            kind,
            source: source.to_string(),
            path: None,
        })
    }
}

/// Whether `name` can name a strategy: letters, digits, dashes,
/// underscores and dots, beginning with a letter or digit, as the message
/// refusing one says. A name is typed on command lines (`--strategy -x`
/// would read as a flag) and joined with `+` and `,` into compositions and
/// lists, where a `/` would look like a path and a space like two words.
fn is_name(name: &str) -> bool {
    name.chars().next().is_some_and(char::is_alphanumeric)
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// ` (line L, column C)` of a top-level key of a TOML text; empty when
/// the text does not have it (it is a default, or the text is not TOML).
fn key_position(text: &str, key: &str) -> String {
    key_offset(text, key)
        .map(|o| at(text, o))
        .unwrap_or_default()
}

/// Where a top-level key of a TOML text starts, in bytes; `None` when the
/// text does not have it.
fn key_offset(text: &str, key: &str) -> Option<usize> {
    let table = toml::de::DeTable::parse(text).ok()?;
    table
        .get_ref()
        .keys()
        .find(|k| k.get_ref().as_ref() == key)
        .map(|k| k.span().start)
}

/// ` (line L, column C)` of each of the `n` items of a composition's
/// `steps`; empty places when they cannot be read.
fn step_places(text: &str, n: usize) -> Vec<String> {
    #[derive(Deserialize)]
    struct Steps {
        steps: Vec<toml::Spanned<String>>,
    }
    match toml::from_str::<Steps>(text) {
        Ok(s) if s.steps.len() == n => s
            .steps
            .iter()
            .map(|step| at(text, step.span().start))
            .collect(),
        _ => vec![String::new(); n],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind_with_defaults() {
        let f =
            StrategyFile::parse("name = \"fs\"\nkind = \"few-shot\"\nk = 2\n", "t.toml").unwrap();
        assert_eq!(
            f.kind,
            Kind::FewShot(FewShotSpec {
                k: 2,
                unsafe_count: 1,
                selection: Selection::Fixed,
                encoder: None,
                exemplars: "builtin".into(),
                system: None,
                contexts: None
            })
        );
        let f = StrategyFile::parse("name = \"i\"\nkind = \"interactive\"\n", "t.toml").unwrap();
        assert_eq!(
            f.kind,
            Kind::Interactive(InteractiveSpec {
                max_turns: 2,
                followups: "builtin".into(),
                contexts: None
            })
        );
        let f = StrategyFile::parse("name = \"b\"\nkind = \"baseline\"\n", "t.toml").unwrap();
        assert_eq!(f.kind, Kind::Baseline);
    }

    #[test]
    fn bad_files_name_the_file_and_field() {
        let err = |text: &str| StrategyFile::parse(text, "s.toml").unwrap_err().to_string();
        assert_eq!(
            err("kind = \"baseline\""),
            "strategy file `s.toml`, field `name`: is missing"
        );
        assert!(
            err("name = \"x\"\nkind = \"magic\"").contains("field `kind`: unknown kind `magic`")
        );
        // Each setting's error names its key (or the file, for one it does
        // not know).
        for (file, expected) in [
            (
                "kind = \"few-shot\"\nkk = 3",
                &["s.toml", "unknown field `kk`"][..],
            ),
            (
                "kind = \"few-shot\"\nselection = \"random\"",
                &["field `selection`: few-shot: unknown variant `random`"],
            ),
            (
                "kind = \"few-shot\"\nk = \"six\"",
                &["field `k`: few-shot: invalid type: string \"six\""],
            ),
            (
                "kind = \"composition\"\nsteps = [\"a\", 2]",
                &["field `steps[1]`: composition: invalid type"],
            ),
            (
                "kind = \"composition\"",
                &["field `kind`: composition: missing field `steps`"],
            ),
        ] {
            let e = err(&format!("name = \"x\"\n{file}"));
            for part in expected {
                assert!(e.contains(part), "{part} in {e}");
            }
        }
        assert!(err("name = \"a+b\"\nkind = \"baseline\"").contains("cannot be a strategy name"));
        assert!(
            err("name = \"x\"\nkind = \"baseline\"\nk = 1")
                .contains("field `k`: baseline takes no settings")
        );
        assert!(err("name = ").starts_with("strategy file `s.toml`: "));
    }

    /// The keys messages list for each kind are its spec's fields, as
    /// serde's own message about an unknown one lists them.
    #[test]
    fn the_listed_keys_are_each_kinds_fields() {
        fn expected<T: for<'de> Deserialize<'de> + std::fmt::Debug>() -> Vec<String> {
            let table: toml::Table = toml::from_str("zz = 1").unwrap();
            let e = toml::Value::Table(table).try_into::<T>().unwrap_err();
            let message = e.message().to_string();
            let (_, list) = message.split_once("expected").unwrap();
            list.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect()
        }
        for (kind, fields) in [
            ("few-shot", expected::<FewShotSpec>()),
            ("contextual", expected::<ContextualSpec>()),
            ("interactive", expected::<InteractiveSpec>()),
            ("composition", expected::<CompositionSpec>()),
        ] {
            let (_, keys) = KINDS.iter().find(|(k, _)| *k == kind).unwrap();
            assert_eq!(*keys, fields, "{kind}");
        }
    }

    #[test]
    fn misspellings_find_the_closest_key() {
        let keys = ["name", "kind", "description", "k", "max_turns"];
        for (typo, key) in [
            ("nmae", Some("name")),
            ("Kind", Some("kind")),
            ("descripton", Some("description")),
            ("max-turns", Some("max_turns")),
            ("maxturns", Some("max_turns")),
            ("K", Some("k")),
            ("x", None),
            ("kk", None),
            ("colour", None),
        ] {
            assert_eq!(closest(typo, keys), key, "{typo}");
        }
        assert_eq!(
            with_suggestion("unknown field `defualt`, expected one of `default`, `type`, `second`"),
            "unknown field `defualt`, expected one of `default`, `type`, `second`; did you mean \
             `default`?"
        );
        assert_eq!(
            with_suggestion("unknown field `zz`, expected `steps`"),
            "unknown field `zz`, expected `steps`"
        );
        // A value's key, under its table; none where the offset is not in
        // a value.
        let text = "a = 1\n[type]\nweapons = \"x\\q\"\nb =\n";
        assert_eq!(key_of_value_at(text, 4).as_deref(), Some("a"));
        let q = text.find('q').unwrap();
        assert_eq!(key_of_value_at(text, q).as_deref(), Some("type.weapons"));
        assert_eq!(key_of_value_at(text, 0), None);
        assert_eq!(key_of_value_at(text, text.len() - 1), None);
    }

    #[test]
    fn places_are_lines_and_columns_in_characters() {
        let text = "a = 1\nb = \"é\" x\n";
        assert_eq!(at(text, 0), " (line 1, column 1)");
        assert_eq!(at(text, text.find('x').unwrap()), " (line 2, column 9)");
        // Inside a character, or past the end: still a place in the text.
        assert_eq!(at(text, text.find('é').unwrap() + 1), " (line 2, column 6)");
        assert_eq!(at(text, 999), " (line 3, column 1)");
        let e = StrategyFile::parse("name = \"x\"\nkind = \"few-shot\"\nk = \"six\"\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("(line 3, column 1)"), "{e}");
    }
}
