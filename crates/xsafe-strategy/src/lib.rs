//! Strategies: how a prompt is put to a target. A strategy drives the whole
//! conversation for one prompt and returns its transcript, so a multi-turn
//! mitigation fits the same trait as sending the prompt as it is.
//!
//! Strategies are data: each is a TOML file (`strategies/` holds the
//! built-in ones, compiled in) whose texts are minijinja templates, and
//! `a+b` composes any of them in order. A strategy never sees a case's
//! label: it acts the same on safe and unsafe prompts.

mod clarifier;
mod composite;
mod data;
mod spec;
mod steps;
mod text;
mod typing;

pub use composite::Composite;
pub use spec::{JSON_HINT, Kind, MAX_TURNS, SpecError, StrategyFile, looks_like_json};
pub use steps::{
    CONTAINMENT_MIN_WORDS, CONTAINMENT_SIMILARITY, Closest, MEANING_SIMILARITY, Measure,
    NO_FOLLOWUP, OVERLAP_SIMILARITY,
};

use composite::Step;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use xsafe_core::{Strategy, Target};

const BUILTIN: &[(&str, &str)] = &[
    ("baseline", include_str!("../strategies/baseline.toml")),
    ("few-shot", include_str!("../strategies/few-shot.toml")),
    (
        "few-shot-nearest",
        include_str!("../strategies/few-shot-nearest.toml"),
    ),
    (
        "few-shot-embedding",
        include_str!("../strategies/few-shot-embedding.toml"),
    ),
    ("contextual", include_str!("../strategies/contextual.toml")),
    (
        "interactive",
        include_str!("../strategies/interactive.toml"),
    ),
];

pub use xsafe_core::BASELINE;

/// The built-in strategies' names.
pub const STRATEGIES: &[&str] = &[
    "baseline",
    "few-shot",
    "few-shot-nearest",
    "few-shot-embedding",
    "contextual",
    "interactive",
];

/// What building a strategy needs besides its file.
#[derive(Clone, Default)]
pub struct BuildOptions {
    /// A target that writes interactive follow-ups (`--clarifier T`); a
    /// strategy without an interactive step is built as if it were absent.
    pub clarifier: Option<Arc<dyn Target>>,
    /// xsafe's cache, where known sentence encoders are (`selection =
    /// "embedding"`); without it an encoder must be named by its directory.
    pub cache_dir: Option<PathBuf>,
}

/// The strategies a command can name: the built-in ones and those of
/// `--strategy-file`, which add to them or replace one of the same name
/// (not [`BASELINE`]).
#[derive(Debug, Clone)]
pub struct Registry {
    files: BTreeMap<String, StrategyFile>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

impl Registry {
    /// The built-in strategies ([`STRATEGIES`]), before any `--strategy-file`
    /// is added.
    pub fn builtin() -> Registry {
        let files = BUILTIN
            .iter()
            .map(|(name, text)| {
                let file = StrategyFile::parse(text, &format!("builtin:{name}"))
                    .expect("the built-in strategies parse");
                (file.name.clone(), file)
            })
            .collect();
        Registry { files }
    }

    /// Adds a strategy file; returns its name. A file replaces the
    /// built-in strategy of its name, except `baseline`, the unchanged
    /// prompt every other strategy is measured against (`xsafe tune` sets
    /// its floor from it); it cannot take the name of another file already
    /// added, since one name would then mean two strategies.
    pub fn add_file(&mut self, path: &Path) -> Result<String, SpecError> {
        let file = StrategyFile::load(path)?;
        let name = file.name.clone();
        let same_file = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        let taken = match self.files.get(&name) {
            _ if name == BASELINE => Some(
                "the unchanged prompt every strategy is measured against, which a file cannot \
                 replace"
                    .to_string(),
            ),
            Some(known) => match (&known.path, &file.path) {
                (Some(k), Some(f)) if !same_file(k, f) => {
                    Some(format!("also the name of strategy file `{}`", known.source))
                }
                _ => None,
            },
            None => None,
        };
        if let Some(taken) = taken {
            return Err(SpecError::Invalid {
                file: file.source,
                field: Some("name".into()),
                message: format!("`{name}` is {taken}; give this strategy another name"),
            });
        }
        self.files.insert(name.clone(), file);
        Ok(name)
    }

    /// The names of the known strategies, built-in and added, in alphabetical
    /// order; `a+b` compositions are not listed.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The parsed strategy file called `name`; `None` for an unknown name or
    /// an `a+b` composition.
    pub fn file(&self, name: &str) -> Option<&StrategyFile> {
        self.files.get(name)
    }

    /// The strategies the strategy `name` is made of, itself included: the
    /// parts of an `a+b` composition and, for a composition file, its
    /// steps and theirs. Unknown names are left out (building them says
    /// so). A command that runs some strategies can tell with it which of
    /// its `--strategy-file` strategies it never uses.
    pub fn parts(&self, name: &str) -> std::collections::BTreeSet<String> {
        let mut found = std::collections::BTreeSet::new();
        let mut todo: Vec<&str> = name.split('+').map(str::trim).collect();
        while let Some(part) = todo.pop() {
            let Some(file) = self.files.get(part) else {
                continue;
            };
            if !found.insert(part.to_string()) {
                continue;
            }
            if let Kind::Composition(c) = &file.kind {
                todo.extend(c.steps.iter().map(String::as_str));
            }
        }
        found
    }

    /// The known names, for messages about an unknown one.
    fn available(&self) -> String {
        self.names().collect::<Vec<_>>().join(", ")
            + " (or a+b to compose them, or --strategy-file FILE)"
    }

    /// Builds a strategy by name; `a+b+c` composes strategies in order.
    pub fn build(&self, name: &str, options: &BuildOptions) -> Result<Composite, SpecError> {
        let mut steps = Vec::new();
        let mut descriptions = Vec::new();
        let joined = name.split('+').map(str::trim).collect::<Vec<_>>().join("+");
        for part in name.split('+').map(str::trim) {
            self.collect(
                part,
                options,
                &mut steps,
                &mut descriptions,
                &mut Vec::new(),
            )?;
        }
        if let Some(message) = repeated_kind(&steps) {
            return Err(SpecError::Composition {
                name: joined,
                message,
            });
        }
        let typing = composite::typing_of(&steps).map_err(|message| SpecError::Composition {
            name: joined.clone(),
            message,
        })?;
        // Every template with every type the strategy can read a prompt
        // as: which those are depends on all its steps.
        for step in &steps {
            step.check_renders(&typing)?;
        }
        Ok(Composite {
            name: joined,
            description: descriptions.join(" Then: "),
            steps: steps.into(),
            typing: typing.into(),
        })
    }

    /// Adds the steps of the strategy `name` to `steps`, and what it does
    /// to `descriptions`: its file's description, or, for a composition
    /// whose file has none, its steps' descriptions in order. `within` are
    /// the compositions being expanded, outermost first, so that a step
    /// leading back to one of them is refused as the cycle it is.
    fn collect<'a>(
        &'a self,
        name: &'a str,
        options: &BuildOptions,
        steps: &mut Vec<Step>,
        descriptions: &mut Vec<String>,
        within: &mut Vec<&'a str>,
    ) -> Result<(), SpecError> {
        let file = self.files.get(name).ok_or_else(|| SpecError::Unknown {
            name: name.to_string(),
            available: self.available(),
        })?;
        let base = file.path.as_deref();
        let own = (!file.description.is_empty()).then(|| file.description.clone());
        match &file.kind {
            Kind::Baseline => {}
            Kind::FewShot(s) => steps.push(Step::FewShot(steps::FewShot::new(
                name,
                s.clone(),
                &file.source,
                base,
                options.cache_dir.as_deref(),
            )?)),
            Kind::Contextual(s) => steps.push(Step::Contextual(steps::Contextual::new(
                name,
                s.clone(),
                &file.source,
                base,
            )?)),
            Kind::Interactive(s) => steps.push(Step::Interactive(steps::Interactive::new(
                name,
                s.clone(),
                &file.source,
                base,
                options.clarifier.clone(),
            )?)),
            Kind::Composition(c) => {
                if let Some((i, step)) = c
                    .steps
                    .iter()
                    .enumerate()
                    .find(|(_, s)| !self.files.contains_key(s.as_str()))
                {
                    // Its own name is no step it can have (a cycle), and
                    // `a+b` is not one name.
                    let names: Vec<&str> = self.names().filter(|n| *n != name).collect();
                    let near = spec::closest(step, names.iter().copied())
                        .map(|n| format!("did you mean `{n}`? "))
                        .unwrap_or_default();
                    return Err(SpecError::invalid(
                        &file.source,
                        "steps",
                        format!(
                            "unknown strategy `{step}`{}; {near}a step is one of {}, or a \
                             strategy added with --strategy-file FILE",
                            c.places.get(i).map(String::as_str).unwrap_or_default(),
                            names.join(", ")
                        ),
                    ));
                }
                within.push(name);
                if let Some(step) = c.steps.iter().find(|s| within.contains(&s.as_str())) {
                    return Err(SpecError::invalid(
                        &file.source,
                        "steps",
                        self.cycle(name, step, within),
                    ));
                }
                let first = steps.len();
                let mut parts = Vec::new();
                for step in &c.steps {
                    self.collect(step, options, steps, &mut parts, within)?;
                }
                within.pop();
                if let Some(message) = repeated_kind(&steps[first..]) {
                    return Err(SpecError::invalid(&file.source, "steps", message));
                }
                if let Err(message) = composite::typing_of(&steps[first..]) {
                    return Err(SpecError::invalid(&file.source, "steps", message));
                }
                // The file's own words for what it does, when it has them;
                // else what its steps do.
                if own.is_none() {
                    descriptions.extend(parts);
                }
            }
        }
        descriptions.extend(own);
        Ok(())
    }

    /// Why the step `step` of the composition `name` cannot be built: it
    /// leads back to a composition being expanded (`within`), so building
    /// it would never end.
    fn cycle(&self, name: &str, step: &str, within: &[&str]) -> String {
        let shadows = self
            .files
            .get(name)
            .is_some_and(|f| f.path.is_some() && STRATEGIES.contains(&name));
        if step == name && shadows {
            return format!(
                "the step `{step}` is this file's own strategy, not the built-in one: a file named \
                 `{name}` replaces the built-in `{name}`, so the composition would include itself \
                 (a cycle); give the composition another name"
            );
        }
        if step == name {
            return format!(
                "the step `{step}` is this file's own strategy: a composition cannot include \
                 itself (a cycle); remove the step"
            );
        }
        let from = within.iter().position(|w| *w == step).unwrap_or_default();
        let path: Vec<&str> = within[from..].iter().copied().chain([step]).collect();
        format!(
            "the step `{step}` includes this composition again ({}): a cycle; remove one of \
             the steps",
            path.join(" -> ")
        )
    }
}

/// Why steps cannot go together: two of one kind would send the same kind
/// of text twice (or both drive the follow-ups); `None` if they can.
fn repeated_kind(steps: &[Step]) -> Option<String> {
    steps.iter().enumerate().find_map(|(i, a)| {
        let b = steps[i + 1..].iter().find(|b| b.kind() == a.kind())?;
        let which = if a.name() == b.name() {
            format!("`{}` comes twice", a.name())
        } else {
            format!(
                "`{}` and `{}` are both {} steps",
                a.name(),
                b.name(),
                a.kind()
            )
        };
        Some(format!(
            "a strategy can have one {kind} step at most: {which}, which would {}; keep one of \
             them",
            a.twice(),
            kind = a.kind()
        ))
    })
}

/// Builds a built-in strategy (or a composition of them) by name.
pub fn from_name(name: &str) -> Result<Arc<dyn Strategy>, String> {
    Registry::builtin()
        .build(name, &BuildOptions::default())
        .map(|c| Arc::new(c) as Arc<dyn Strategy>)
        .map_err(|e| e.to_string())
}

/// The settings of a step that name a data file, relative to the strategy
/// file (or `builtin`).
const DATA_FILE_SETTINGS: [&str; 3] = ["exemplars", "contexts", "followups"];

/// A strategy's definition without what changes nothing sent: what tells
/// two strategies apart. A run's key (its current version) and `xsafe
/// serve`'s check of a profile against the strategy it builds both compare
/// this, so the two never disagree.
///
/// Left out: the top-level `description`, prose for whoever reads the
/// record (a composition's is its file's own, or its steps' files' when it
/// has none); and the folder of each data file a step's settings name
/// (`exemplars`, `contexts`, `followups`), kept by its name as a step's
/// `file` keeps a strategy file's: the definition holds the data itself
/// (the exemplars, the texts), so `data/bank.toml`, `./bank.toml` and an
/// absolute path to a copy of it send the same. `builtin` stays. Likewise
/// the folder of an `encoder` named by its directory, which the step's
/// definition records by its files' sha256 (`encoder_sha256`): a known
/// encoder's name stays.
///
/// The definition itself records both as they are: the older versions of
/// a run's key hash it whole, as earlier versions of xsafe did, and make
/// the keys of the runs those stored again from it.
pub fn identity(definition: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let mut identity = definition.clone();
    if let Some(top) = identity.as_object_mut() {
        top.remove("description");
    }
    let steps = identity.get_mut("steps").and_then(Value::as_array_mut);
    for step in steps.into_iter().flatten() {
        let hashed_encoder = step.get(steps::ENCODER_FILES).is_some();
        let Some(settings) = step.get_mut("settings").and_then(Value::as_object_mut) else {
            continue;
        };
        let encoder = hashed_encoder.then_some("encoder");
        for field in DATA_FILE_SETTINGS.into_iter().chain(encoder) {
            if let Some(Value::String(setting)) = settings.get_mut(field)
                && setting != "builtin"
                && let Some(name) = Path::new(setting.as_str()).file_name()
            {
                *setting = name.to_string_lossy().into_owned();
            }
        }
    }
    identity
}

/// JSON as TOML, as a tuning profile stores a strategy's definition (and
/// the target's settings): TOML has no null, so a null field or item is
/// left out; an integer past `i64` is kept exactly, as text. `xsafe tune`
/// writes definitions with it and `xsafe serve` compares with it, so the
/// two always agree.
pub fn json_to_toml(v: &serde_json::Value) -> Option<toml::Value> {
    use serde_json::Value;
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None if n.is_u64() => toml::Value::String(n.to_string()),
            None => toml::Value::Float(n.as_f64()?),
        },
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(items) => toml::Value::Array(items.iter().filter_map(json_to_toml).collect()),
        Value::Object(map) => toml::Value::Table(
            map.iter()
                .filter_map(|(k, v)| json_to_toml(v).map(|t| (k.clone(), t)))
                .collect(),
        ),
    })
}
