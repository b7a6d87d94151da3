//! What each kind of strategy adds to a conversation.

use crate::clarifier::{self, Reading};
use crate::data::{self, Contexts, Exemplar, Followups};
use crate::spec::{ContextualSpec, FewShotSpec, InteractiveSpec, Selection, SpecError};
use crate::text;
use crate::typing::{self, Cues, Groups, Typing};
use minijinja::{Environment, UndefinedBehavior, context};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};
use xsafe_core::{
    Case, ChatRequest, FinishReason, Judge, Message, Prompt, StrategyError, Target, Transcript,
};

/// Templates render strictly: a misspelt variable is an error, not "".
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(false);
    env
});

/// The variables every template can use.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Vars<'a> {
    /// The prompt (or the user turn as earlier steps left it).
    pub prompt: &'a str,
    /// The prompt's type, known or detected; empty if neither.
    pub topic: &'a str,
    /// Contextual: the type's context note; empty if none.
    pub context: &'a str,
    /// Contextual: the instructions of the contexts file.
    pub instructions: &'a str,
    /// Interactive: the model's last reply (the refusal).
    pub reply: &'a str,
    /// Interactive: the turn whose reply the follow-up asks for, as reports
    /// and `complied_at_turn` count turns: the prompt is turn 1, so the
    /// first follow-up is turn 2, the second turn 3.
    pub turn: usize,
}

/// A template rendered with `vars`, trimmed. A text without `{` has no
/// tag, variable or comment to render (line statements are off), so it is
/// itself: a contexts file's long texts, rendered for every prompt, are not
/// compiled each time.
pub(crate) fn render(template: &str, vars: &Vars) -> Result<String, minijinja::Error> {
    if !template.contains('{') {
        return Ok(template.trim().to_string());
    }
    TEMPLATES
        .render_str(
            template,
            context! { ..minijinja::Value::from_serialize(vars) },
        )
        .map(|s| s.trim().to_string())
}

/// The names of [`Vars`]' fields, for messages.
const VAR_NAMES: [&str; 6] = [
    "prompt",
    "topic",
    "context",
    "instructions",
    "reply",
    "turn",
];

/// The variables each kind of step fills; the others would always be
/// empty there, so a template of that kind may not use them.
const FEW_SHOT_VARS: &[&str] = &["prompt", "topic"];
const CONTEXTUAL_VARS: &[&str] = &["prompt", "topic", "context", "instructions"];
const INTERACTIVE_VARS: &[&str] = &["prompt", "topic", "reply", "turn"];
/// The texts of a contexts file (its instructions and notes), which become
/// a contextual template's `instructions` and `context`.
const CONTEXTS_VARS: &[&str] = &["prompt", "topic"];

/// The `kind` of [`check_template`] for the texts of a contexts file.
const CONTEXTS_FILE: &str = "contexts-file";

/// The variables of a template other than minijinja's globals, sorted.
fn variables(template: &minijinja::Template) -> Vec<String> {
    let mut used: Vec<String> = template
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !TEMPLATES.globals().any(|(g, _)| g == v))
        .collect();
    used.sort();
    used
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How messages name what fills a template of `kind`, and such a template.
fn filled_by(kind: &str) -> (String, String) {
    match kind {
        CONTEXTS_FILE => (
            "a contextual step, for the texts of its contexts file,".into(),
            "a contexts file's text".into(),
        ),
        "interactive" => (
            "an interactive step".into(),
            "an interactive template".into(),
        ),
        k => (format!("a {k} step"), format!("a {k} template")),
    }
}

/// Checks a template compiles, so a mistake is reported when the strategy
/// is loaded rather than on the first prompt; a misspelt variable is named,
/// and so is one that a step of this `kind` (`few-shot`, ...) does not
/// fill (`allowed` are those it does), which would always be empty. What
/// it renders to is checked by each step with every type its `topic` can
/// be ([`check_renders`]).
fn check_template(
    template: &str,
    file: &str,
    field: &str,
    kind: &str,
    allowed: &[&str],
) -> Result<(), SpecError> {
    let invalid =
        |e: minijinja::Error| SpecError::invalid(file, field, format!("template error: {e}"));
    let compiled = TEMPLATES.template_from_str(template).map_err(invalid)?;
    let used = variables(&compiled);
    let (known, unknown): (Vec<String>, Vec<String>) = used
        .into_iter()
        .partition(|v| VAR_NAMES.contains(&v.as_str()));
    let (step, templates) = filled_by(kind);
    if !unknown.is_empty() {
        return Err(SpecError::invalid(
            file,
            field,
            format!(
                "unknown template variable {}; the variables are {} ({templates} can use {})",
                quoted(&unknown),
                VAR_NAMES.join(", "),
                allowed.join(", ")
            ),
        ));
    }
    let unfilled: Vec<String> = known
        .into_iter()
        .filter(|v| !allowed.contains(&v.as_str()))
        .collect();
    if !unfilled.is_empty() {
        return Err(SpecError::invalid(
            file,
            field,
            format!(
                "{step} does not fill the template variable {} (it would always be empty); {templates} can use {}",
                quoted(&unfilled),
                allowed.join(", ")
            ),
        ));
    }
    Ok(())
}

/// What a template must render to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// Anything, empty too: a system text that renders empty adds nothing.
    Anything,
    /// Some text: it is a message of its own (a user turn, a follow-up, a
    /// clarifier's instructions), and an empty one would be sent as it is,
    /// its reply judged as if it answered something.
    Text,
    /// Text with the prompt in it: a contextual `user` template is the
    /// user turn, which without the prompt never asks the question. Only
    /// the load check can tell, rendering with [`PROMPT_SENTINEL`]; a run
    /// checks for [`Needs::Text`], as a template may change the prompt's
    /// text (`{{ prompt | upper }}`).
    Prompt,
}

/// The prompt the load check renders with: digits only, so that it comes
/// through a filter that changes letters or spaces (`upper`, `title`,
/// `replace(" ", "_")`) as it went in, and is found in the output.
const PROMPT_SENTINEL: &str = "5038174296";

/// How a message says which prompts a check or a run rendered for.
fn for_type(topic: &str) -> String {
    if topic.is_empty() {
        "for a prompt of no known type (none given, none detected)".to_string()
    } else {
        format!("for a prompt of type `{topic}`")
    }
}

/// Renders `template` as `needs` says it must render; an error names the
/// file and field the template is in and `when` it failed (the prompt's
/// type, the turn), since a template that fails for one type only is
/// found by its type.
fn render_as(
    template: &str,
    vars: &Vars,
    needs: Needs,
    file: &str,
    field: &str,
    when: &str,
) -> Result<String, SpecError> {
    let failed = |message: String| SpecError::invalid(file, field, message);
    let text = render(template, vars).map_err(|e| failed(format!("template error {when}: {e}")))?;
    if needs != Needs::Anything && text.is_empty() {
        return Err(failed(format!(
            "the template renders empty {when}, which would send an empty message (and judge \
             the reply to it); make it send text for every prompt"
        )));
    }
    if needs == Needs::Prompt && vars.prompt == PROMPT_SENTINEL && !text.contains(PROMPT_SENTINEL) {
        return Err(failed(format!(
            "the user turn leaves out the prompt {when}: it is the template's text, so without \
             `{{{{ prompt }}}}` the model is never asked the question; put `{{{{ prompt }}}}` in \
             it for every type"
        )));
    }
    Ok(text)
}

/// The load check of a template: it renders as `needs` says with every
/// prompt type in `topics` (the values its `topic` can take), the rest of
/// the variables from `vars`.
fn check_renders<'a>(
    template: &str,
    vars: &Vars,
    topics: impl IntoIterator<Item = &'a str>,
    needs: Needs,
    file: &str,
    field: &str,
) -> Result<(), SpecError> {
    for topic in topics {
        let vars = Vars {
            topic,
            ..vars.clone()
        };
        render_as(template, &vars, needs, file, field, &for_type(topic))?;
    }
    Ok(())
}

/// A template that cannot render for a prompt at run time (one the load
/// check could not see: it depends on the prompt's words, or on the
/// model's reply), as the case's error: where the template is, for which
/// type, and that running again fails the same way until it is fixed. A
/// [`StrategyError::Template`], stored as kind `template`, so that the
/// summary says to fix the strategy rather than to retry.
fn failed_at_run_time(strategy: &str, e: SpecError) -> StrategyError {
    StrategyError::Template {
        strategy: strategy.to_string(),
        message: format!(
            "{e}; fix the template (running the same command again fails the same way until it \
             is fixed)"
        ),
    }
}

/// What a step's definition records as its `file`: `builtin:NAME` for a
/// built-in strategy, else the strategy file's name without its folder.
///
/// The definition is what a run's key and a profile's check compare, and
/// it holds everything the file says that changes what is sent (settings,
/// texts, exemplars); how its path was typed (`ctx.toml`, `./ctx.toml`, an
/// absolute path) or the folder it lies in changes nothing, so it must not
/// make another run or refuse a profile. A bare file name records as it
/// did before, so runs started that way keep their keys.
fn recorded_file(source: &str, path: Option<&Path>) -> String {
    match path.and_then(Path::file_name) {
        Some(name) => name.to_string_lossy().into_owned(),
        None => source.to_string(),
    }
}

/// Few-shot: exemplar exchanges as earlier turns.
#[derive(Debug, Clone)]
pub struct FewShot {
    pub(crate) name: String,
    spec: FewShotSpec,
    bank: Vec<Exemplar>,
    file: String,
    /// The strategy file as given (a path or `builtin:NAME`), for messages.
    source: String,
    /// With `selection = "embedding"`: the encoder and the bank's prompt
    /// vectors, in bank order.
    embedding: Option<Arc<Embedded>>,
    /// Whether the `system` text uses `topic`: only then does the step read
    /// a prompt's type.
    uses_topic: bool,
    /// The `[detect]` cues and `[groups]` of the contexts file `contexts`
    /// names, and the file's name.
    cues: Option<(Cues, Groups, String)>,
}

/// A few-shot bank embedded by a sentence encoder.
struct Embedded {
    encoder: xsafe_embed::Encoder,
    vectors: Vec<Vec<f32>>,
    /// An encoder named by its directory: the sha256 of its files
    /// ([`xsafe_embed::fingerprint`]), which the definition records. A known
    /// encoder is known by its name: its files are pinned.
    files: Option<BTreeMap<String, String>>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("encoder", &self.encoder)
            .field("vectors", &self.vectors.len())
            .finish()
    }
}

/// Loads the encoder `spec` names and embeds the prompt of every exemplar.
fn embed_bank(
    bank: &[Exemplar],
    spec: &str,
    source: &str,
    base: Option<&Path>,
    cache_dir: Option<&Path>,
) -> Result<Embedded, SpecError> {
    let failed = |e: xsafe_embed::EmbedError| SpecError::Unavailable {
        file: source.to_string(),
        field: "encoder".into(),
        message: e.to_string(),
    };
    let dir = xsafe_embed::models::resolve(spec, base.and_then(Path::parent), cache_dir)
        .map_err(failed)?;
    let encoder = xsafe_embed::Encoder::load(&dir).map_err(failed)?;
    // After loading, so a directory that is no encoder is refused as such.
    let files = match xsafe_embed::models::known(spec) {
        Some(_) => None,
        None => Some(xsafe_embed::fingerprint(&dir).map_err(failed)?),
    };
    let vectors = bank.iter().map(|e| encoder.embed(&e.prompt)).collect();
    Ok(Embedded {
        encoder,
        vectors,
        files,
    })
}

/// Embeds every prompt, on as many threads as the machine has cores: a
/// thousand prompts take about twenty seconds on one.
fn embed_all(encoder: &xsafe_embed::Encoder, prompts: &[Prompt]) -> Vec<Vec<f32>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(prompts.len())
        .max(1);
    let chunk = prompts.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let parts: Vec<_> = prompts
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|p| encoder.embed(&p.text))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// Runs `f`, which may take seconds, first telling a multi-threaded Tokio
/// runtime whose worker calls it, so that its other tasks move to other
/// threads meanwhile (a run checks its strategies from async code).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// An exemplar at or above this content-word Jaccard similarity to a case
/// (or with the same normalised text) is taken to be that case.
pub const OVERLAP_SIMILARITY: f64 = 0.6;

/// An exemplar is also taken to be a case when at least this share of the
/// content words of the shorter of the two is in the other (and the shorter
/// has at least [`CONTAINMENT_MIN_WORDS`]): a shorter or reworded copy,
/// such as "How do I abort a git rebase?" of "My git rebase went wrong
/// halfway through. How do I abort it?", which Jaccard finds far apart
/// (0.5). On the built-in bank, no prompt of XSTest or xsafe-basic comes
/// above 0.6 (`tests/leakage.rs`).
pub const CONTAINMENT_SIMILARITY: f64 = 0.75;

/// The fewest content words the shorter prompt needs for
/// [`CONTAINMENT_SIMILARITY`] to apply: one or two shared words say little.
pub const CONTAINMENT_MIN_WORDS: usize = 3;

/// With `selection = "embedding"`, an exemplar is also taken to be a case
/// at or above this cosine of their sentence embeddings. Measured with
/// all-MiniLM-L6-v2 and the built-in bank: the most alike prompt of XSTest
/// is at 0.69, of xsafe-basic at 0.66, while rewordings of exemplars (a
/// shorter copy, synonyms, another order) come at 0.76 to 0.99, most above
/// 0.85; questions on an exemplar's topic in other words, which is what the
/// selection is for, stay near 0.6.
pub const MEANING_SIMILARITY: f64 = 0.8;

/// A measure by which few-shot's leak check compares the cases of a suite
/// with its exemplars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// The Jaccard similarity of their content words; 1 for the same
    /// normalised text.
    Jaccard,
    /// The share of the shorter prompt's content words that the other has;
    /// counted only when the shorter has [`CONTAINMENT_MIN_WORDS`] or more.
    Containment,
    /// The cosine of their sentence embeddings (`selection = "embedding"`).
    Meaning,
}

impl Measure {
    /// The score at or above which a case is taken to be the exemplar.
    pub fn threshold(self) -> f64 {
        match self {
            Measure::Jaccard => OVERLAP_SIMILARITY,
            Measure::Containment => CONTAINMENT_SIMILARITY,
            Measure::Meaning => MEANING_SIMILARITY,
        }
    }
}

/// The most alike case and exemplar of a few-shot step by one measure:
/// how near a suite comes to what the leak check refuses.
#[derive(Debug, Clone, PartialEq)]
pub struct Closest {
    /// The few-shot step (its strategy's name).
    pub step: String,
    /// The measure.
    pub measure: Measure,
    /// The score; the check refuses at [`Measure::threshold`] or above.
    pub score: f64,
    /// The exemplar's id.
    pub exemplar: String,
    /// The case's id.
    pub case: String,
    /// The case's prompt.
    pub prompt: String,
}

/// How alike one case is to one exemplar, by each measure.
struct Likeness<'a> {
    exemplar: &'a Exemplar,
    case: &'a Prompt,
    same_text: bool,
    jaccard: f64,
    /// The content words they share, and how many the shorter has.
    shared: Vec<String>,
    smaller: usize,
    cosine: Option<f64>,
}

impl Likeness<'_> {
    fn score(&self, measure: Measure) -> Option<f64> {
        match measure {
            Measure::Jaccard if self.same_text => Some(1.0),
            Measure::Jaccard => Some(self.jaccard),
            Measure::Containment => (self.smaller >= CONTAINMENT_MIN_WORDS)
                .then(|| self.shared.len() as f64 / self.smaller as f64),
            Measure::Meaning => self.cosine,
        }
    }

    fn reaches(&self, measure: Measure) -> bool {
        self.score(measure)
            .is_some_and(|s| s >= measure.threshold())
    }

    /// Why the case is taken to be the exemplar, if it is.
    fn leak(&self) -> Option<String> {
        let why = if self.same_text {
            "the same text".to_string()
        } else if self.reaches(Measure::Jaccard) {
            format!("content-word Jaccard {:.2}", self.jaccard)
        } else if self.reaches(Measure::Containment) {
            format!(
                "{} of the shorter's {} content words shared: {}",
                self.shared.len(),
                self.smaller,
                self.shared.join(", ")
            )
        } else if self.reaches(Measure::Meaning) {
            format!("cosine of meaning {:.2}", self.cosine.unwrap_or_default())
        } else {
            return None;
        };
        Some(format!(
            "exemplar `{}` ~ case `{}` ({why}): \"{}\" / \"{}\"",
            self.exemplar.id,
            self.case.id,
            self.exemplar.prompt.trim(),
            self.case.text.trim()
        ))
    }
}

impl FewShot {
    pub(crate) fn new(
        name: &str,
        spec: FewShotSpec,
        source: &str,
        base: Option<&Path>,
        cache_dir: Option<&Path>,
    ) -> Result<Self, SpecError> {
        let bank =
            data::exemplars(&spec.exemplars, base).map_err(|e| e.named_by(source, "exemplars"))?;
        let safe = bank.iter().filter(|e| e.is_safe()).count();
        let unsafe_ = bank.len() - safe;
        // `unsafe` is 1 when the file leaves it out, which the file's
        // author may not know: said, with what to change.
        let default = if spec.unsafe_count == 1 {
            " (`unsafe` is 1 when the file does not set it)"
        } else {
            ""
        };
        if spec.k == 0 || spec.unsafe_count > spec.k {
            return Err(SpecError::invalid(
                source,
                "k",
                format!(
                    "k = {} with unsafe = {}{default}: k must be at least 1 and at least `unsafe`",
                    spec.k, spec.unsafe_count
                ),
            ));
        }
        if spec.k - spec.unsafe_count > safe || spec.unsafe_count > unsafe_ {
            let fix = if spec.unsafe_count > unsafe_ && unsafe_ == 0 {
                "; set `unsafe = 0` to show safe exemplars only, or add unsafe exemplars (label \
                 `unsafe`) to the bank"
            } else {
                "; lower k or `unsafe`, or add exemplars to the bank"
            };
            return Err(SpecError::invalid(
                source,
                "k",
                format!(
                    "the exemplar bank `{}` has {safe} safe and {unsafe_} unsafe exemplars, fewer \
                     than k = {} with unsafe = {}{default} needs ({} safe and {} unsafe){fix}",
                    spec.exemplars,
                    spec.k,
                    spec.unsafe_count,
                    spec.k - spec.unsafe_count,
                    spec.unsafe_count
                ),
            ));
        }
        let mut uses_topic = false;
        if let Some(t) = &spec.system {
            check_template(t, source, "system", "few-shot", FEW_SHOT_VARS)?;
            uses_topic = TEMPLATES
                .template_from_str(t)
                .is_ok_and(|t| variables(&t).iter().any(|v| v == "topic"));
        }
        let cues = match &spec.contexts {
            Some(_) if !uses_topic => {
                return Err(SpecError::invalid(
                    source,
                    "contexts",
                    "a few-shot step reads a prompt's type only for the `topic` of its system \
                     text, and this one has no system text using `topic`; remove `contexts`",
                ));
            }
            Some(contexts) => {
                Some(data::cues(contexts, base).map_err(|e| e.named_by(source, "contexts"))?)
            }
            None => None,
        };
        let embedding = match (spec.selection, &spec.encoder) {
            (Selection::Embedding, encoder) => {
                let encoder = encoder
                    .as_deref()
                    .unwrap_or(xsafe_embed::models::DEFAULT_ENCODER);
                Some(Arc::new(embed_bank(
                    &bank, encoder, source, base, cache_dir,
                )?))
            }
            (_, Some(_)) => {
                return Err(SpecError::invalid(
                    source,
                    "encoder",
                    "an encoder is only used with selection = \"embedding\"; set that, or remove `encoder`",
                ));
            }
            (_, None) => None,
        };
        Ok(FewShot {
            name: name.to_string(),
            spec,
            bank,
            file: recorded_file(source, base),
            source: source.to_string(),
            embedding,
            uses_topic,
            cues,
        })
    }

    /// The load check of the system text: it renders with every type its
    /// `topic` can be as the strategy reads types (always empty when it
    /// does not use `topic`).
    pub(crate) fn check_renders(&self, typing: &Typing) -> Result<(), SpecError> {
        let Some(t) = &self.spec.system else {
            return Ok(());
        };
        let topics = if self.uses_topic {
            typing.topics()
        } else {
            vec![""]
        };
        let vars = Vars {
            prompt: PROMPT_SENTINEL,
            ..Default::default()
        };
        check_renders(t, &vars, topics, Needs::Anything, &self.source, "system")
    }

    /// The step's part in reading a prompt's type (`None` when its system
    /// text does not use `topic`): the contexts file it names, and the
    /// types it has exemplars of.
    pub(crate) fn reading(&self) -> Option<typing::Part<'_>> {
        self.uses_topic.then(|| typing::Part {
            step: &self.name,
            cues: self.cues.as_ref().map(|(c, g, f)| {
                let source = self.spec.contexts.as_deref().unwrap_or("builtin");
                (c, g, data::cues_named(source, f))
            }),
            detect: None,
            known: self.types(),
        })
    }

    /// The types the bank has exemplars of, as a case's type is read
    /// (`contrast_` left out, in any case: see [`Case::topic_of`]).
    fn types(&self) -> Vec<String> {
        let mut types: Vec<String> = self
            .bank
            .iter()
            .map(|e| Case::topic_of(&e.kind).to_string())
            .collect();
        types.sort_unstable();
        types.dedup();
        types
    }

    /// How xsafe read a prompt's type for the step before a strategy read
    /// it once for all its steps (and before a few-shot step could name a
    /// contexts file, or contexts files had groups): with the built-in
    /// cues, no groups, always detecting, a given type kept when the bank
    /// has exemplars of it. `None` when it reads none. A definition records
    /// any other reading (see `Composite::definition`), the cues of a file
    /// `contexts` names too, and the built-in groups.
    pub(crate) fn own_typing(&self) -> Option<Typing> {
        self.uses_topic.then(|| Typing {
            cues: data::builtin_contexts().detect.clone(),
            groups: Groups::new(),
            detect: true,
            known: self.types().into_iter().collect(),
        })
    }

    /// Whether choosing the exemplars runs a sentence encoder.
    pub(crate) fn embeds(&self) -> bool {
        self.embedding.is_some()
    }

    /// Whether the bank has exemplars of a prompt type (safe, or unsafe of
    /// its `contrast_` type), matched without regard to ASCII case.
    pub(crate) fn has_type(&self, topic: &str) -> bool {
        self.bank
            .iter()
            .any(|e| Case::topic_of(&e.kind).eq_ignore_ascii_case(topic))
    }

    /// The exemplars this strategy can ever show: the fixed ones, or the
    /// whole bank when it picks the nearest.
    fn usable(&self) -> Vec<&Exemplar> {
        match self.spec.selection {
            Selection::Fixed => self.select(None),
            Selection::Nearest | Selection::Embedding => self.bank.iter().collect(),
        }
    }

    /// The exemplars for a prompt, in the order they are shown: the safe
    /// ones with the unsafe ones in the middle, so neither a refusal nor a
    /// compliance is always the last thing the model saw.
    fn select(&self, prompt: Option<&str>) -> Vec<&Exemplar> {
        let k_safe = self.spec.k - self.spec.unsafe_count;
        // Word overlap or meaning, one score per exemplar of the bank.
        let scores: Option<Vec<f64>> = match (self.spec.selection, prompt) {
            (Selection::Nearest, Some(p)) => {
                let words = text::content_words(p);
                let score = |e: &Exemplar| text::jaccard(&words, &text::content_words(&e.prompt));
                Some(self.bank.iter().map(score).collect())
            }
            (Selection::Embedding, Some(p)) => self.embedding.as_ref().map(|e| {
                let v = e.encoder.embed(p);
                let score = |w: &Vec<f32>| f64::from(xsafe_embed::cosine(&v, w));
                e.vectors.iter().map(score).collect()
            }),
            _ => None,
        };
        let pick = |safe: bool, n: usize| -> Vec<&Exemplar> {
            let pool = (0..self.bank.len()).filter(|&i| self.bank[i].is_safe() == safe);
            // Plain few-shot's order: each type in turn.
            let order = round_robin_by_type(&self.bank, pool.collect());
            let Some(scores) = &scores else {
                return order.into_iter().take(n).map(|i| &self.bank[i]).collect();
            };
            // The exemplars that resemble the prompt, most alike first, ties
            // in plain few-shot's order; the places left go to the others
            // in that order too, so a prompt that shares nothing with the
            // bank gets plain few-shot's exemplars, not whichever ids sort
            // first.
            let mut alike: Vec<(usize, usize)> = order
                .iter()
                .copied()
                .enumerate()
                .filter(|&(_, i)| scores[i] > 0.0)
                .collect();
            alike.sort_by(|a, b| scores[b.1].total_cmp(&scores[a.1]).then(a.0.cmp(&b.0)));
            alike.truncate(n);
            let fill = order
                .iter()
                .filter(|&&i| scores[i] <= 0.0)
                .take(n - alike.len());
            // Shown: the fill first, then the alike ones from least to most
            // alike, so the nearest is the last before the prompt.
            fill.map(|&i| &self.bank[i])
                .chain(alike.iter().rev().map(|&(_, i)| &self.bank[i]))
                .collect()
        };
        let safe = pick(true, k_safe);
        let unsafe_ = pick(false, self.spec.unsafe_count);
        let half = safe.len().div_ceil(2);
        let mut shown = safe[..half].to_vec();
        shown.extend(unsafe_);
        shown.extend(&safe[half..]);
        shown
    }

    /// Adds the step's system text and exemplars for `prompt`, the prompt
    /// of type `topic` (as the strategy reads it) whose user turn earlier
    /// steps left as `user`.
    pub(crate) fn contribute(
        &self,
        prompt: &Prompt,
        topic: &str,
        user: &str,
        system: &mut Vec<String>,
        turns: &mut Vec<Message>,
    ) -> Result<(), StrategyError> {
        if let Some(t) = &self.spec.system {
            let topic = if self.uses_topic { topic } else { "" };
            let vars = Vars {
                prompt: user,
                topic,
                ..Default::default()
            };
            let text = render_as(
                t,
                &vars,
                Needs::Anything,
                &self.source,
                "system",
                &for_type(topic),
            )
            .map_err(|e| failed_at_run_time(&self.name, e))?;
            // A text that renders empty (an `if` that does not hold) adds
            // no system text, as a contextual step's does not.
            if !text.is_empty() {
                system.push(text);
            }
        }
        for e in self.select(Some(&prompt.text)) {
            turns.push(Message::user(e.prompt.trim()));
            turns.push(Message::assistant(e.answer.trim()));
        }
        Ok(())
    }

    /// Every usable exemplar against every case, by each measure (meaning
    /// only with `selection = "embedding"`, from the vectors the selection
    /// uses).
    fn likenesses<'a>(&'a self, prompts: &'a [Prompt]) -> Vec<Likeness<'a>> {
        blocking(|| {
            let cases: Vec<(String, std::collections::HashSet<String>)> = prompts
                .iter()
                .map(|p| (text::normalised(&p.text), text::content_words(&p.text)))
                .collect();
            let vectors = self
                .embedding
                .as_ref()
                .map(|e| (e, embed_all(&e.encoder, prompts)));
            let usable = self.usable();
            let mut out = Vec::with_capacity(usable.len() * prompts.len());
            for (i, e) in self.bank.iter().enumerate() {
                if !usable.iter().any(|u| std::ptr::eq(*u, e)) {
                    continue;
                }
                let norm = text::normalised(&e.prompt);
                let words = text::content_words(&e.prompt);
                for (j, (p, (case_norm, case_words))) in prompts.iter().zip(&cases).enumerate() {
                    let (shared, smaller) = text::shared(&words, case_words);
                    out.push(Likeness {
                        exemplar: e,
                        case: p,
                        same_text: *case_norm == norm,
                        jaccard: text::jaccard(&words, case_words),
                        shared,
                        smaller,
                        cosine: vectors.as_ref().map(|(embedded, cases)| {
                            f64::from(xsafe_embed::cosine(&embedded.vectors[i], &cases[j]))
                        }),
                    });
                }
            }
            out
        })
    }

    /// The measures this step's check uses.
    fn measures(&self) -> Vec<Measure> {
        let mut measures = vec![Measure::Jaccard, Measure::Containment];
        if self.embedding.is_some() {
            measures.push(Measure::Meaning);
        }
        measures
    }

    /// For each measure the check uses, the case and exemplar most alike
    /// by it.
    pub(crate) fn closest(&self, prompts: &[Prompt]) -> Vec<Closest> {
        let likenesses = self.likenesses(prompts);
        self.measures()
            .into_iter()
            .filter_map(|measure| {
                let (score, l) = likenesses
                    .iter()
                    .filter_map(|l| l.score(measure).map(|s| (s, l)))
                    .max_by(|a, b| a.0.total_cmp(&b.0))?;
                Some(Closest {
                    step: self.name.clone(),
                    measure,
                    score,
                    exemplar: l.exemplar.id.clone(),
                    case: l.case.id.clone(),
                    prompt: l.case.text.clone(),
                })
            })
            .collect()
    }

    /// Refuses a suite one of whose cases is a usable exemplar, or a
    /// shorter or reworded copy of one.
    pub(crate) fn check(&self, prompts: &[Prompt]) -> Result<(), StrategyError> {
        let mut leaks: Vec<String> = self
            .likenesses(prompts)
            .iter()
            .filter_map(Likeness::leak)
            .collect();
        if leaks.is_empty() {
            return Ok(());
        }
        let n = leaks.len();
        if n > 10 {
            leaks.truncate(10);
            leaks.push(format!("... and {} more", n - 10));
        }
        let meaning = if self.embedding.is_some() {
            format!(", or a cosine of meaning >= {MEANING_SIMILARITY}")
        } else {
            String::new()
        };
        // The built-in bank is compiled in: it cannot be edited, so the
        // fixes are the suite's, another bank's, or fewer exemplars shown.
        let (bank, fix) = if self.spec.exemplars == "builtin" {
            let fixed = match self.spec.selection {
                Selection::Fixed => "",
                Selection::Nearest | Selection::Embedding => {
                    ", or one that picks fixed exemplars (`selection = \"fixed\"`, as the \
                     built-in `few-shot` does): it shows, and is checked for, its k exemplars \
                     only"
                }
            };
            (
                "the built-in bank (`exemplars = \"builtin\"`)".to_string(),
                format!(
                    "xsafe's built-in bank cannot be edited: remove those cases from the suite, \
                     or run a few-shot strategy file of your own with another bank \
                     (`exemplars = \"FILE\"`, a TOML file of `[[exemplar]]`){fixed}"
                ),
            )
        } else {
            (
                format!("`{}`", self.spec.exemplars),
                "remove them from the bank or from the suite, or run another bank".to_string(),
            )
        };
        Err(StrategyError::Other {
            strategy: self.name.clone(),
            message: format!(
                "{n} case(s) of the suite (also cases --types/--limit leave out) are few-shot exemplars of {bank} or rewordings of them (content-word Jaccard >= {OVERLAP_SIMILARITY}, or at least {:.0}% of the content words of the shorter prompt, when it has {CONTAINMENT_MIN_WORDS} or more, in the other{meaning}), which would show the model the answer; {fix}:\n  {}",
                CONTAINMENT_SIMILARITY * 100.0,
                leaks.join("\n  ")
            ),
        })
    }

    /// The step's definition. Its settings are recorded as written, a data
    /// file by the path the strategy file gives (`data/bank.toml`), as
    /// earlier versions of xsafe recorded them: the keys of runs they
    /// stored are made again from this definition, so what it records
    /// must not change without a new key version. What tells two
    /// strategies apart leaves the data file's folder out
    /// ([`crate::identity`]).
    pub(crate) fn definition(&self) -> Value {
        let mut definition = json!({
            "kind": "few-shot",
            "name": self.name,
            "file": self.file,
            "settings": self.spec,
            "exemplars": self.usable(),
        });
        // How `nearest` picks changed (2: places no exemplar shares a word
        // for are filled in plain few-shot's order, plurals fold; 3:
        // function words such as "without", "into" or "their" are not
        // shared words): a run or profile of an earlier way is another
        // strategy, not resumed or served as this one.
        if self.spec.selection == Selection::Nearest {
            definition["selection_version"] = json!(NEAREST_VERSION);
        }
        // An encoder named by its directory is known by its files: other
        // weights under the same name pick other exemplars, so they make
        // another strategy (another run, a profile that does not match).
        if let Some(files) = self.embedding.as_ref().and_then(|e| e.files.as_ref()) {
            definition[ENCODER_FILES] = json!(files);
        }
        definition
    }
}

/// The field of a few-shot step's definition that holds the sha256 of
/// each file of an encoder named by its directory.
pub(crate) const ENCODER_FILES: &str = "encoder_sha256";

/// The version of `selection = "nearest"`'s picking, in its definition:
/// 1 (recorded by its absence) broke ties by exemplar id, 2 filled the
/// places left in plain few-shot's order, 3 counts no function word
/// ("without", "their", "get": the stop words of `text`) as shared.
const NEAREST_VERSION: u32 = 3;

/// Bank indices reordered so each type comes up in turn: the first of each
/// type (in the order types first appear), then the second, ...
fn round_robin_by_type(bank: &[Exemplar], pool: Vec<usize>) -> Vec<usize> {
    let mut types: Vec<&str> = Vec::new();
    for &i in &pool {
        if !types.contains(&bank[i].kind.as_str()) {
            types.push(&bank[i].kind);
        }
    }
    let mut queues: Vec<std::collections::VecDeque<usize>> = types
        .iter()
        .map(|t| {
            pool.iter()
                .copied()
                .filter(|&i| bank[i].kind == *t)
                .collect()
        })
        .collect();
    let mut out = Vec::with_capacity(pool.len());
    while out.len() < pool.len() {
        for q in &mut queues {
            if let Some(i) = q.pop_front() {
                out.push(i);
            }
        }
    }
    out
}

/// The default contextual system template.
pub const CONTEXTUAL_SYSTEM: &str =
    "{{ instructions }}{% if context %}\n\n{{ context }}{% endif %}";

/// Contextual: instructions and a type-matched context note.
#[derive(Debug, Clone)]
pub struct Contextual {
    pub(crate) name: String,
    spec: ContextualSpec,
    texts: Contexts,
    file: String,
    /// The strategy file as given (a path or `builtin:NAME`), and the
    /// contexts file's name, for messages.
    source: String,
    data_file: String,
}

impl Contextual {
    pub(crate) fn new(
        name: &str,
        spec: ContextualSpec,
        source: &str,
        base: Option<&Path>,
    ) -> Result<Self, SpecError> {
        let named = |e: SpecError| e.named_by(source, "contexts");
        let (texts, data_file) = data::contexts(&spec.contexts, base).map_err(named)?;
        // The contexts file's texts are templates too (of `prompt` and
        // `topic`), as the follow-ups file's are.
        check_template(
            &texts.system,
            &data_file,
            "system",
            CONTEXTS_FILE,
            CONTEXTS_VARS,
        )
        .map_err(named)?;
        for (t, text) in &texts.types {
            check_template(
                text,
                &data_file,
                &format!("type.{t}"),
                CONTEXTS_FILE,
                CONTEXTS_VARS,
            )
            .map_err(named)?;
        }
        check_template(
            spec.system.as_deref().unwrap_or(CONTEXTUAL_SYSTEM),
            source,
            "system",
            "contextual",
            CONTEXTUAL_VARS,
        )?;
        if let Some(u) = &spec.user {
            check_template(u, source, "user", "contextual", CONTEXTUAL_VARS)?;
            let has_prompt = TEMPLATES
                .template_from_str(u)
                .is_ok_and(|t| variables(&t).iter().any(|v| v == "prompt"));
            if !has_prompt {
                return Err(SpecError::invalid(
                    source,
                    "user",
                    "the template has no `{{ prompt }}`: the user turn is the template's text, so \
                     the model would never be asked the question; put `{{ prompt }}` where the \
                     question goes",
                ));
            }
        }
        Ok(Contextual {
            name: name.to_string(),
            spec,
            texts,
            file: recorded_file(source, base),
            source: source.to_string(),
            data_file,
        })
    }

    /// The load check: every template with every type its `topic` can be
    /// as the strategy reads types. An error, an empty user turn or one
    /// without the prompt for some type is found now, not in a run that
    /// reports figures for prompts never sent.
    pub(crate) fn check_renders(&self, typing: &Typing) -> Result<(), SpecError> {
        for topic in typing.topics() {
            self.messages(PROMPT_SENTINEL, topic, Some(Needs::Prompt))
                .map_err(|(e, in_data)| {
                    if in_data {
                        e.named_by(&self.source, "contexts")
                    } else {
                        e
                    }
                })?;
        }
        Ok(())
    }

    /// The step's part in reading a prompt's type: its contexts file's
    /// cues and groups, its `detect`, and the types it has a note for.
    pub(crate) fn reading(&self) -> typing::Part<'_> {
        typing::Part {
            step: &self.name,
            cues: Some((
                &self.texts.detect,
                &self.texts.groups,
                data::cues_named(&self.spec.contexts, &self.data_file),
            )),
            detect: Some(self.spec.detect),
            known: self.texts.types.keys().cloned().collect(),
        }
    }

    /// How the step reads a prompt's type alone, as xsafe always read it
    /// for the step: with its contexts file's cues and groups (which its
    /// definition records with its texts), the cues when `detect` is on, a
    /// given type kept when it has a note for it.
    pub(crate) fn own_typing(&self) -> Typing {
        Typing {
            cues: self.texts.detect.clone(),
            groups: self.texts.groups.clone(),
            detect: self.spec.detect,
            known: self.texts.types.keys().cloned().collect(),
        }
    }

    /// Whether the step has a context note for the type `topic` (matched
    /// without regard to ASCII case, see [`typing::entry`]).
    pub(crate) fn has_note(&self, topic: &str) -> bool {
        typing::entry(&self.texts.types, topic).is_some()
    }

    /// The system text and the user turn for `prompt` (the user turn as
    /// earlier steps left it) of type `topic`: the contexts file's texts
    /// rendered, then the templates with them. The user turn is `None`
    /// without a `user` template, or when `user_needs` is `None` (the
    /// prompt stays as it is). An error says whether it is in the contexts
    /// file (`true`), to be named by the strategy file's `contexts`, or in
    /// the strategy file.
    fn messages(
        &self,
        prompt: &str,
        topic: &str,
        user_needs: Option<Needs>,
    ) -> Result<(String, Option<String>), (SpecError, bool)> {
        let when = for_type(topic);
        let data = |template: &str, field: &str| {
            let vars = Vars {
                prompt,
                topic,
                ..Default::default()
            };
            render_as(
                template,
                &vars,
                Needs::Anything,
                &self.data_file,
                field,
                &when,
            )
            .map_err(|e| (e, true))
        };
        let instructions = data(&self.texts.system, "system")?;
        let context = match typing::entry(&self.texts.types, topic) {
            Some((kind, note)) => data(note, &format!("type.{kind}"))?,
            None => String::new(),
        };
        let vars = Vars {
            prompt,
            topic,
            context: &context,
            instructions: &instructions,
            ..Default::default()
        };
        let own = |template: &str, field: &str, needs: Needs| {
            render_as(template, &vars, needs, &self.source, field, &when).map_err(|e| (e, false))
        };
        let template = self.spec.system.as_deref().unwrap_or(CONTEXTUAL_SYSTEM);
        let system = own(template, "system", Needs::Anything)?;
        let user = match (&self.spec.user, user_needs) {
            (Some(t), Some(needs)) => Some(own(t, "user", needs)?),
            _ => None,
        };
        Ok((system, user))
    }

    /// Adds the step's system text for a prompt of type `topic` (as the
    /// strategy reads it), and rewrites its user turn (`user`, as earlier
    /// steps left it) with the `user` template.
    pub(crate) fn contribute(
        &self,
        topic: &str,
        user: &mut String,
        system: &mut Vec<String>,
    ) -> Result<(), StrategyError> {
        // A prompt without text (through `xsafe serve`, a user message of
        // only an image or audio) gives the `user` template no question to
        // ask: rendered, it would replace the user's turn with one that
        // asks nothing. The turn stays as it is; the system text is added.
        let user_needs = (!user.trim().is_empty()).then_some(Needs::Text);
        let (text, turn) = self
            .messages(user, topic, user_needs)
            .map_err(|(e, in_data)| {
                let e = if in_data {
                    e.named_by(&self.source, "contexts")
                } else {
                    e
                };
                failed_at_run_time(&self.name, e)
            })?;
        if !text.is_empty() {
            system.push(text);
        }
        if let Some(turn) = turn {
            *user = turn;
        }
        Ok(())
    }

    /// Whether the step has a `user` template, which rewrites the prompt's
    /// text (a prompt without text it leaves as it is).
    pub(crate) fn has_user_template(&self) -> bool {
        self.spec.user.is_some()
    }

    /// The step's definition, its settings as written (see
    /// [`FewShot::definition`]).
    pub(crate) fn definition(&self) -> Value {
        json!({
            "kind": "contextual",
            "name": self.name,
            "file": self.file,
            "settings": self.spec,
            "texts": self.texts,
        })
    }
}

/// What a clarifier target answers when the prompt has no harmless reading
/// to clarify; the conversation then ends with the refusal.
pub const NO_FOLLOWUP: &str = "NO_FOLLOWUP";

/// Interactive: type-aware follow-ups while the judge says the reply
/// refuses.
#[derive(Clone)]
pub struct Interactive {
    pub(crate) name: String,
    pub(crate) spec: InteractiveSpec,
    texts: Followups,
    /// The `[detect]` cues and `[groups]` of the contexts file `contexts`
    /// names, and the file's name.
    cues: Option<(Cues, Groups, String)>,
    clarifier: Option<Arc<dyn Target>>,
    file: String,
    /// The strategy file as given (a path or `builtin:NAME`), and the
    /// follow-ups file's name, for messages.
    source: String,
    data_file: String,
}

/// The model's reply the load check renders follow-ups with: a refusal, as
/// every follow-up answers one.
const REFUSAL_SAMPLE: &str = "I'm sorry, but I can't help with that.";

impl Interactive {
    pub(crate) fn new(
        name: &str,
        spec: InteractiveSpec,
        source: &str,
        base: Option<&Path>,
        clarifier: Option<Arc<dyn Target>>,
    ) -> Result<Self, SpecError> {
        let named = |e: SpecError| e.named_by(source, "followups");
        let (texts, data_file) = data::followups(&spec.followups, base).map_err(named)?;
        // The templates are in the follow-ups file: errors name its field
        // and the strategy file's field that names the file.
        let check = |template: &str, field: &str| {
            check_template(template, &data_file, field, "interactive", INTERACTIVE_VARS)
                .map_err(named)
        };
        check(&texts.default, "default")?;
        for (t, text) in &texts.types {
            check(text, &format!("type.{t}"))?;
        }
        if let Some(t) = &texts.second.default {
            check(t, "second.default")?;
        }
        if clarifier.is_some() && texts.second.clarifier.is_none() {
            return Err(named(SpecError::invalid(
                &data_file,
                "second.clarifier",
                "a clarifier target was given but the follow-ups have no clarifier prompt",
            )));
        }
        if let Some(t) = &texts.second.clarifier {
            check(t, "second.clarifier")?;
        }
        let cues = match &spec.contexts {
            Some(contexts) => {
                Some(data::cues(contexts, base).map_err(|e| e.named_by(source, "contexts"))?)
            }
            None => None,
        };
        Ok(Interactive {
            name: name.to_string(),
            spec,
            texts,
            cues,
            clarifier,
            file: recorded_file(source, base),
            source: source.to_string(),
            data_file,
        })
    }

    /// The turns of the follow-ups the step can send (see [`Vars::turn`]):
    /// 2 for the first, up to `max_turns + 1`.
    pub(crate) fn turns(&self) -> std::ops::RangeInclusive<usize> {
        2..=self.spec.max_turns + 1
    }

    /// The load check: every follow-up it can send, for every type its
    /// `topic` can be as the strategy reads types and every turn. One that
    /// fails or renders empty for some type or turn is found now, not by a
    /// run that would send an empty message and judge the reply to it.
    pub(crate) fn check_renders(&self, typing: &Typing) -> Result<(), SpecError> {
        let named = |e: SpecError| e.named_by(&self.source, "followups");
        for topic in typing.topics() {
            // Every turn: a file's `max_turns` is at most `MAX_TURNS`.
            for turn in self.turns() {
                let vars = Vars {
                    prompt: PROMPT_SENTINEL,
                    topic,
                    reply: REFUSAL_SAMPLE,
                    turn,
                    ..Default::default()
                };
                self.render_followup(&vars).map_err(named)?;
                if self.clarifier.is_some() {
                    self.render_clarifier(&vars).map_err(named)?;
                }
            }
        }
        Ok(())
    }

    /// The step's part in reading a prompt's type: the contexts file it
    /// names, and the types it has a follow-up for.
    pub(crate) fn reading(&self) -> typing::Part<'_> {
        typing::Part {
            step: &self.name,
            cues: self.cues.as_ref().map(|(c, g, f)| {
                let source = self.spec.contexts.as_deref().unwrap_or("builtin");
                (c, g, data::cues_named(source, f))
            }),
            detect: None,
            known: self.texts.types.keys().cloned().collect(),
        }
    }

    /// How xsafe read a prompt's type for the step before a strategy read
    /// it once for all its steps (and before an interactive step could
    /// name a contexts file, or contexts files had groups): with the
    /// built-in cues, no groups, always detecting, a given type kept when
    /// it has a follow-up for it. A definition records any other reading
    /// (see `Composite::definition`), the cues of a file `contexts` names
    /// too, and the built-in groups.
    pub(crate) fn own_typing(&self) -> Typing {
        Typing {
            cues: data::builtin_contexts().detect.clone(),
            groups: Groups::new(),
            detect: true,
            known: self.texts.types.keys().cloned().collect(),
        }
    }

    /// Whether the step has a follow-up for the type `topic` (matched
    /// without regard to ASCII case, see [`typing::entry`]).
    pub(crate) fn has_followup(&self, topic: &str) -> bool {
        typing::entry(&self.texts.types, topic).is_some()
    }

    /// The follow-up template for a turn (see [`Vars::turn`]: 2 for the
    /// first follow-up) and prompt type, and the follow-ups file's field
    /// it is: `[second].default`, when the file has one, from the second
    /// follow-up on.
    fn template(&self, turn: usize, topic: Option<&str>) -> (String, &str) {
        if turn >= 3
            && let Some(t) = &self.texts.second.default
        {
            return ("second.default".into(), t);
        }
        match topic.and_then(|t| typing::entry(&self.texts.types, t)) {
            Some((t, text)) => (format!("type.{t}"), text),
            None => ("default".into(), &self.texts.default),
        }
    }

    /// The follow-up for `vars` (its `topic` and `turn`) from the
    /// templates; an error names the follow-ups file, its field, the type
    /// and the turn (the caller adds the strategy file's `followups`).
    pub(crate) fn render_followup(&self, vars: &Vars) -> Result<String, SpecError> {
        let topic = Some(vars.topic).filter(|t| !t.is_empty());
        let (field, template) = self.template(vars.turn, topic);
        let when = format!("at turn {} {}", vars.turn, for_type(vars.topic));
        render_as(template, vars, Needs::Text, &self.data_file, &field, &when)
    }

    /// The clarifier's instructions for `vars`, as [`Interactive::render_followup`].
    fn render_clarifier(&self, vars: &Vars) -> Result<String, SpecError> {
        let template = self
            .texts
            .second
            .clarifier
            .as_deref()
            .expect("checked when built");
        let when = format!("at turn {} {}", vars.turn, for_type(vars.topic));
        render_as(
            template,
            vars,
            Needs::Text,
            &self.data_file,
            "second.clarifier",
            &when,
        )
    }

    /// A follow-up template's error in a run, as the case's error.
    pub(crate) fn failed(&self, e: SpecError) -> StrategyError {
        failed_at_run_time(&self.name, e.named_by(&self.source, "followups"))
    }

    /// The user's next message after a refusal (`reply`), asking for the
    /// reply of turn `turn` (see [`Vars::turn`]) for `prompt`, of type
    /// `topic` as the strategy reads it; or `None` when the refusal
    /// stands: the clarifier finds no harmless reading to clarify (it
    /// answers [`NO_FOLLOWUP`]) or declines to write a follow-up at all
    /// (see [`crate::clarifier`]); `judge` decides a clarifier reply whose
    /// words do not.
    pub(crate) async fn followup(
        &self,
        prompt: &Prompt,
        topic: &str,
        reply: &str,
        turn: usize,
        seed: Option<u64>,
        judge: &dyn Judge,
    ) -> Result<Option<String>, StrategyError> {
        let vars = Vars {
            prompt: &prompt.text,
            topic,
            reply,
            turn,
            ..Default::default()
        };
        let Some(clarifier) = &self.clarifier else {
            return self
                .render_followup(&vars)
                .map(Some)
                .map_err(|e| self.failed(e));
        };
        let ask = self.render_clarifier(&vars).map_err(|e| self.failed(e))?;
        let mut request = ChatRequest::new(vec![Message::user(ask.clone())]);
        request.seed = seed;
        let response = clarifier.chat(&request).await?;
        // The provider declined for the clarifier: a refusal like any other.
        if response.message.refusal.is_some()
            || response.finish_reason == Some(FinishReason::ContentFilter)
        {
            return Ok(None);
        }
        let text = response.message.content.trim().to_string();
        if text.is_empty() {
            // Not a refusal the clarifier made, but a clarifier that could
            // not answer: ending the conversation would pass it off as the
            // model's refusal, so the case fails and the next run asks again.
            let hint = if response.finish_reason == Some(FinishReason::Length) {
                ": it reached its token limit first (raise `max_tokens`, with --max-tokens or \
                 in the targets file; a reasoning model spends tokens on its reasoning first)"
            } else {
                "; check that the clarifier is a chat model that answers its instructions"
            };
            return Err(StrategyError::Other {
                strategy: self.name.clone(),
                message: format!(
                    "the clarifier `{}` wrote an empty follow-up{hint}",
                    clarifier.id()
                ),
            });
        }
        // The answer its instructions ask for when there is nothing to clarify.
        let bare = text.trim_matches(|c: char| !c.is_alphanumeric() && c != '_');
        if bare.eq_ignore_ascii_case(NO_FOLLOWUP) {
            return Ok(None);
        }
        match clarifier::read(&text) {
            Reading::Declines => return Ok(None),
            Reading::Followup => return Ok(Some(text)),
            Reading::Unclear => {}
        }
        // The clarifier's reply, judged as the answer to its own request: a
        // judge that cannot call it compliance keeps the refusal, as the
        // conversation stops when it cannot decide on the model's reply.
        let asked = Prompt {
            id: prompt.id.clone(),
            text: ask.clone(),
            topic: None,
        };
        let transcript = Transcript {
            messages: vec![Message::user(ask), response.message],
            finish_reason: response.finish_reason,
            complied_at_turn: None,
            opening: Some(1),
        };
        let verdict = judge.judge(&asked, &transcript).await?;
        Ok(match verdict.outcome.class() {
            Some(class) if !class.is_refusal() => Some(text),
            _ => None,
        })
    }

    /// The step's definition, its settings as written (see
    /// [`FewShot::definition`]).
    ///
    /// A step with a follow-up template that uses `turn` records
    /// `turn_version` ([`TURN_VERSION`]): `turn` counts otherwise than it
    /// did, so a run or profile made when it did is another strategy, not
    /// resumed or served as this one. Other steps record what they always
    /// did.
    pub(crate) fn definition(&self) -> Value {
        let mut definition = json!({
            "kind": "interactive",
            "name": self.name,
            "file": self.file,
            "settings": self.spec,
            "followups": self.texts,
            "clarifier": self.clarifier.as_ref().map(|c| json!({"id": c.id(), "settings": c.settings()})),
        });
        if self.uses_turn() {
            definition["turn_version"] = json!(TURN_VERSION);
        }
        definition
    }

    /// Whether a follow-up template (or the clarifier's) uses `turn`.
    fn uses_turn(&self) -> bool {
        let texts = &self.texts;
        let templates = std::iter::once(&texts.default)
            .chain(texts.types.values())
            .chain(&texts.second.default)
            .chain(&texts.second.clarifier);
        templates.filter(|t| t.contains('{')).any(|t| {
            TEMPLATES
                .template_from_str(t)
                .is_ok_and(|t| variables(&t).iter().any(|v| v == "turn"))
        })
    }
}

/// How an interactive template's `turn` counts, in the definition of a
/// step whose templates use it (`turn_version`): 1 (recorded by its
/// absence) was the follow-up's number, 1 for the first; 2 is the turn
/// whose reply it asks for, 2 for the first follow-up, as reports and
/// `complied_at_turn` count turns.
const TURN_VERSION: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_names_in_messages_are_the_template_variables() {
        let vars = serde_json::to_value(Vars::default()).unwrap();
        let mut fields: Vec<&str> = vars
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut names = VAR_NAMES.to_vec();
        fields.sort_unstable();
        names.sort_unstable();
        assert_eq!(fields, names);
    }

    #[test]
    fn a_template_may_use_minijinja_globals_but_not_unknown_names() {
        check_template(
            "{% for i in range(turn) %}{{ prompt }}{% endfor %}",
            "f",
            "user",
            "interactive",
            INTERACTIVE_VARS,
        )
        .unwrap();
        let e = check_template(
            "{{ promt }} {{ zz }}",
            "f",
            "user",
            "few-shot",
            FEW_SHOT_VARS,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown template variable `promt`, `zz`"),
            "{e}"
        );
    }

    #[test]
    fn a_template_may_not_use_a_variable_its_kind_leaves_empty() {
        let e = check_template(
            "{{ instructions }} {{ prompt }} {{ context }}",
            "f.toml",
            "system",
            "few-shot",
            FEW_SHOT_VARS,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "strategy file `f.toml`, field `system`: a few-shot step does not fill the template \
             variable `context`, `instructions` (it would always be empty); a few-shot template \
             can use prompt, topic"
        );
        for (kind, vars, unfilled, step) in [
            ("contextual", CONTEXTUAL_VARS, "reply", "a contextual step"),
            (
                "interactive",
                INTERACTIVE_VARS,
                "context",
                "an interactive step",
            ),
            (
                CONTEXTS_FILE,
                CONTEXTS_VARS,
                "instructions",
                "a contextual step, for the texts of its contexts file,",
            ),
        ] {
            let template = format!("{{{{ topic }}}} {{{{ {unfilled} }}}}");
            let e = check_template(&template, "f", "user", kind, vars).unwrap_err();
            assert!(
                e.to_string().contains(&format!(
                    "{step} does not fill the template variable `{unfilled}`"
                )),
                "{e}"
            );
        }
        // Every kind fills `prompt` and `topic`.
        for vars in [
            FEW_SHOT_VARS,
            CONTEXTUAL_VARS,
            INTERACTIVE_VARS,
            CONTEXTS_VARS,
        ] {
            assert!(vars.starts_with(&["prompt", "topic"]));
            assert!(vars.iter().all(|v| VAR_NAMES.contains(v)));
        }
    }
}
