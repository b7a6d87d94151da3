//! What each kind of strategy adds to a conversation.

use crate::clarifier::{self, Reading};
use crate::data::{self, Contexts, Exemplar, Followups};
use crate::spec::{ContextualSpec, FewShotSpec, InteractiveSpec, Selection, SpecError};
use crate::text;
use minijinja::{Environment, UndefinedBehavior, context};
use serde::Serialize;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, LazyLock};
use xsafe_core::{
    ChatRequest, FinishReason, Judge, Message, Prompt, StrategyError, Target, Transcript,
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
    /// Interactive: the follow-up's number, from 1.
    pub turn: usize,
}

pub(crate) fn render(template: &str, vars: &Vars) -> Result<String, minijinja::Error> {
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

/// Checks a template renders, so a mistake is reported when the strategy
/// is loaded rather than on the first prompt; a misspelt variable is named.
fn check_template(template: &str, file: &str, field: &str) -> Result<(), SpecError> {
    let invalid =
        |e: minijinja::Error| SpecError::invalid(file, field, format!("template error: {e}"));
    let compiled = TEMPLATES.template_from_str(template).map_err(invalid)?;
    let mut unknown: Vec<String> = compiled
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !VAR_NAMES.contains(&v.as_str()) && !TEMPLATES.globals().any(|(g, _)| g == v))
        .collect();
    if !unknown.is_empty() {
        unknown.sort();
        let list = unknown
            .iter()
            .map(|v| format!("`{v}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(SpecError::invalid(
            file,
            field,
            format!(
                "unknown template variable {list}; the variables are {}",
                VAR_NAMES.join(", ")
            ),
        ));
    }
    let sample = Vars {
        prompt: "p",
        topic: "homonyms",
        context: "c",
        instructions: "i",
        reply: "r",
        turn: 1,
    };
    compiled
        .render(context! { ..minijinja::Value::from_serialize(&sample) })
        .map(|_| ())
        .map_err(invalid)
}

fn template_error(strategy: &str, e: minijinja::Error) -> StrategyError {
    StrategyError::Other {
        strategy: strategy.to_string(),
        message: format!("template error: {e}"),
    }
}

/// The type a prompt is about: the known one if the texts have a note for
/// it, else the type whose cue phrases the prompt contains most (ties to
/// the first in name order), else none.
///
/// A suite's unsafe-only type names (`discr`, `privacy` from XSTest's
/// `contrast_discr`, `contrast_privacy`) have no notes, so those prompts are
/// detected from their words like any prompt of unknown type.
pub(crate) fn topic_of(
    prompt: &Prompt,
    known: impl Fn(&str) -> bool,
    cues: &std::collections::BTreeMap<String, Vec<String>>,
    detect: bool,
) -> Option<String> {
    if let Some(t) = &prompt.topic
        && known(t)
    {
        return Some(t.clone());
    }
    if !detect {
        return None;
    }
    let padded = format!(" {} ", text::normalised(&prompt.text));
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
    /// With `selection = "embedding"`: the encoder and the bank's prompt
    /// vectors, in bank order.
    embedding: Option<Arc<Embedded>>,
}

/// A few-shot bank embedded by a sentence encoder.
struct Embedded {
    encoder: xsafe_embed::Encoder,
    vectors: Vec<Vec<f32>>,
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
    let vectors = bank.iter().map(|e| encoder.embed(&e.prompt)).collect();
    Ok(Embedded { encoder, vectors })
}

/// Exemplars at or above this content-word Jaccard similarity to a case are
/// taken to be that case.
pub const OVERLAP_SIMILARITY: f64 = 0.6;

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
        if spec.k == 0 || spec.unsafe_count > spec.k {
            return Err(SpecError::invalid(
                source,
                "k",
                format!(
                    "k = {} with unsafe = {}: k must be at least 1 and at least `unsafe`",
                    spec.k, spec.unsafe_count
                ),
            ));
        }
        if spec.k - spec.unsafe_count > safe || spec.unsafe_count > unsafe_ {
            return Err(SpecError::invalid(
                source,
                "k",
                format!(
                    "the exemplar bank `{}` has {safe} safe and {unsafe_} unsafe exemplars, fewer than k = {} with unsafe = {} needs",
                    spec.exemplars, spec.k, spec.unsafe_count
                ),
            ));
        }
        if let Some(t) = &spec.system {
            check_template(t, source, "system")?;
        }
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
            embedding,
        })
    }

    /// Whether choosing the exemplars runs a sentence encoder.
    pub(crate) fn embeds(&self) -> bool {
        self.embedding.is_some()
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
            let pool = self
                .bank
                .iter()
                .enumerate()
                .filter(|(_, e)| e.is_safe() == safe);
            match &scores {
                Some(scores) => {
                    let mut scored: Vec<(f64, &Exemplar)> =
                        pool.map(|(i, e)| (scores[i], e)).collect();
                    // Most similar first, ties by id; then shown least similar first.
                    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
                    let mut chosen: Vec<&Exemplar> =
                        scored.into_iter().take(n).map(|(_, e)| e).collect();
                    chosen.reverse();
                    chosen
                }
                None => round_robin_by_type(pool.map(|(_, e)| e).collect())
                    .into_iter()
                    .take(n)
                    .collect(),
            }
        };
        let safe = pick(true, k_safe);
        let unsafe_ = pick(false, self.spec.unsafe_count);
        let half = safe.len().div_ceil(2);
        let mut shown = safe[..half].to_vec();
        shown.extend(unsafe_);
        shown.extend(&safe[half..]);
        shown
    }

    pub(crate) fn contribute(
        &self,
        prompt: &Prompt,
        user: &str,
        system: &mut Vec<String>,
        turns: &mut Vec<Message>,
    ) -> Result<(), StrategyError> {
        if let Some(t) = &self.spec.system {
            let vars = Vars {
                prompt: user,
                ..Default::default()
            };
            system.push(render(t, &vars).map_err(|e| template_error(&self.name, e))?);
        }
        for e in self.select(Some(&prompt.text)) {
            turns.push(Message::user(e.prompt.trim()));
            turns.push(Message::assistant(e.answer.trim()));
        }
        Ok(())
    }

    /// Refuses a suite one of whose cases is a usable exemplar.
    pub(crate) fn check(&self, prompts: &[Prompt]) -> Result<(), StrategyError> {
        let cases: Vec<(&Prompt, String, std::collections::HashSet<String>)> = prompts
            .iter()
            .map(|p| (p, text::normalised(&p.text), text::content_words(&p.text)))
            .collect();
        let mut overlaps = Vec::new();
        for e in self.usable() {
            let norm = text::normalised(&e.prompt);
            let words = text::content_words(&e.prompt);
            for (p, case_norm, case_words) in &cases {
                let similarity = if *case_norm == norm {
                    1.0
                } else {
                    text::jaccard(&words, case_words)
                };
                if similarity >= OVERLAP_SIMILARITY {
                    overlaps.push(format!(
                        "exemplar `{}` ~ case `{}` ({similarity:.2}): \"{}\" / \"{}\"",
                        e.id,
                        p.id,
                        e.prompt.trim(),
                        p.text.trim()
                    ));
                }
            }
        }
        if overlaps.is_empty() {
            return Ok(());
        }
        let n = overlaps.len();
        overlaps.truncate(10);
        Err(StrategyError::Other {
            strategy: self.name.clone(),
            message: format!(
                "{n} few-shot exemplar(s) of `{}` are cases of the suite being run (content-word similarity >= {OVERLAP_SIMILARITY}), which would show the model the answer; remove them from the bank or run another bank:\n  {}",
                self.spec.exemplars,
                overlaps.join("\n  ")
            ),
        })
    }

    pub(crate) fn definition(&self) -> Value {
        json!({
            "kind": "few-shot",
            "name": self.name,
            "file": self.file,
            "settings": self.spec,
            "exemplars": self.usable(),
        })
    }
}

/// The bank's exemplars reordered so each type comes up in turn: the first
/// of each type (in the order types first appear), then the second, ...
fn round_robin_by_type(pool: Vec<&Exemplar>) -> Vec<&Exemplar> {
    let mut types: Vec<&str> = Vec::new();
    for e in &pool {
        if !types.contains(&e.kind.as_str()) {
            types.push(&e.kind);
        }
    }
    let mut queues: Vec<std::collections::VecDeque<&Exemplar>> = types
        .iter()
        .map(|t| pool.iter().copied().filter(|e| e.kind == *t).collect())
        .collect();
    let mut out = Vec::with_capacity(pool.len());
    while out.len() < pool.len() {
        for q in &mut queues {
            if let Some(e) = q.pop_front() {
                out.push(e);
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
}

impl Contextual {
    pub(crate) fn new(
        name: &str,
        spec: ContextualSpec,
        source: &str,
        base: Option<&Path>,
    ) -> Result<Self, SpecError> {
        let texts =
            data::contexts(&spec.contexts, base).map_err(|e| e.named_by(source, "contexts"))?;
        check_template(
            spec.system.as_deref().unwrap_or(CONTEXTUAL_SYSTEM),
            source,
            "system",
        )?;
        if let Some(u) = &spec.user {
            check_template(u, source, "user")?;
        }
        Ok(Contextual {
            name: name.to_string(),
            spec,
            texts,
            file: recorded_file(source, base),
        })
    }

    pub(crate) fn topic(&self, prompt: &Prompt) -> Option<String> {
        topic_of(
            prompt,
            |t| self.texts.types.contains_key(t),
            &self.texts.detect,
            self.spec.detect,
        )
    }

    /// A note when the prompt's type is one this step has no note for, and
    /// so what it reads the prompt as (see [`Composite::type_notes`]).
    ///
    /// [`Composite::type_notes`]: crate::Composite::type_notes
    pub(crate) fn type_note(&self, prompt: &Prompt) -> Option<String> {
        let given = prompt.topic.as_deref()?;
        if self.texts.types.contains_key(given) {
            return None;
        }
        let unknown = format!("`{}` has no context note for type `{given}`", self.name);
        Some(if !self.spec.detect {
            format!("{unknown} and does not detect types (detect = false): it adds no type note")
        } else {
            let read = "so it takes the type from the prompt's words, as a run does";
            match self.topic(prompt) {
                Some(t) if self.texts.types.contains_key(&t) => {
                    format!("{unknown}, {read}: `{t}`")
                }
                Some(t) => format!(
                    "{unknown}, {read}: `{t}`, which has no note either: it adds no type note"
                ),
                None => format!("{unknown}, {read}, and finds none: it adds no type note"),
            }
        })
    }

    pub(crate) fn contribute(
        &self,
        prompt: &Prompt,
        user: &mut String,
        system: &mut Vec<String>,
    ) -> Result<(), StrategyError> {
        let topic = self.topic(prompt).unwrap_or_default();
        let context = self
            .texts
            .types
            .get(&topic)
            .map(|s| s.trim())
            .unwrap_or_default();
        let vars = Vars {
            prompt: user,
            topic: &topic,
            context,
            instructions: self.texts.system.trim(),
            ..Default::default()
        };
        let template = self.spec.system.as_deref().unwrap_or(CONTEXTUAL_SYSTEM);
        let text = render(template, &vars).map_err(|e| template_error(&self.name, e))?;
        if !text.is_empty() {
            system.push(text);
        }
        if let Some(t) = &self.spec.user {
            *user = render(t, &vars).map_err(|e| template_error(&self.name, e))?;
        }
        Ok(())
    }

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
    cues: Contexts,
    clarifier: Option<Arc<dyn Target>>,
    file: String,
}

impl Interactive {
    pub(crate) fn new(
        name: &str,
        spec: InteractiveSpec,
        source: &str,
        base: Option<&Path>,
        clarifier: Option<Arc<dyn Target>>,
    ) -> Result<Self, SpecError> {
        let texts =
            data::followups(&spec.followups, base).map_err(|e| e.named_by(source, "followups"))?;
        check_template(&texts.default, source, "followups.default")?;
        for (t, text) in &texts.types {
            check_template(text, source, &format!("followups.type.{t}"))?;
        }
        if let Some(t) = &texts.second.default {
            check_template(t, source, "followups.second.default")?;
        }
        if clarifier.is_some() && texts.second.clarifier.is_none() {
            return Err(SpecError::invalid(
                source,
                "followups.second.clarifier",
                "a clarifier target was given but the follow-ups have no clarifier prompt",
            ));
        }
        if let Some(t) = &texts.second.clarifier {
            check_template(t, source, "followups.second.clarifier")?;
        }
        Ok(Interactive {
            name: name.to_string(),
            spec,
            texts,
            // Types are detected with the contextual strategy's cues.
            cues: data::contexts("builtin", None)?,
            clarifier,
            file: recorded_file(source, base),
        })
    }

    /// The follow-up template for a turn (1-based) and prompt type.
    pub(crate) fn template(&self, turn: usize, topic: Option<&str>) -> &str {
        if turn >= 2
            && let Some(t) = &self.texts.second.default
        {
            return t;
        }
        topic
            .and_then(|t| self.texts.types.get(t))
            .unwrap_or(&self.texts.default)
    }

    pub(crate) fn topic(&self, prompt: &Prompt) -> Option<String> {
        topic_of(
            prompt,
            |t| self.texts.types.contains_key(t),
            &self.cues.detect,
            true,
        )
    }

    /// As [`Contextual::type_note`], for the follow-ups.
    pub(crate) fn type_note(&self, prompt: &Prompt) -> Option<String> {
        let given = prompt.topic.as_deref()?;
        if self.texts.types.contains_key(given) {
            return None;
        }
        let unknown = format!("`{}` has no follow-up for type `{given}`", self.name);
        let read = "so it takes the type from the prompt's words, as a run does";
        Some(match self.topic(prompt) {
            Some(t) if self.texts.types.contains_key(&t) => format!("{unknown}, {read}: `{t}`"),
            Some(t) => format!(
                "{unknown}, {read}: `{t}`, which has none either: it sends the default follow-up"
            ),
            None => format!("{unknown}, {read}, and finds none: it sends the default follow-up"),
        })
    }

    /// The user's next message after a refusal, or `None` when the refusal
    /// stands: the clarifier finds no harmless reading to clarify (it
    /// answers [`NO_FOLLOWUP`]) or declines to write a follow-up at all
    /// (see [`crate::clarifier`]); `judge` decides a clarifier reply whose
    /// words do not.
    pub(crate) async fn followup(
        &self,
        prompt: &Prompt,
        reply: &str,
        turn: usize,
        seed: Option<u64>,
        judge: &dyn Judge,
    ) -> Result<Option<String>, StrategyError> {
        let topic = self.topic(prompt);
        let vars = Vars {
            prompt: &prompt.text,
            topic: topic.as_deref().unwrap_or_default(),
            reply,
            turn,
            ..Default::default()
        };
        let Some(clarifier) = &self.clarifier else {
            return render(self.template(turn, topic.as_deref()), &vars)
                .map(Some)
                .map_err(|e| template_error(&self.name, e));
        };
        let instructions = self
            .texts
            .second
            .clarifier
            .as_deref()
            .expect("checked when built");
        let ask = render(instructions, &vars).map_err(|e| template_error(&self.name, e))?;
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

    pub(crate) fn definition(&self) -> Value {
        json!({
            "kind": "interactive",
            "name": self.name,
            "file": self.file,
            "settings": self.spec,
            "followups": self.texts,
            "clarifier": self.clarifier.as_ref().map(|c| json!({"id": c.id(), "settings": c.settings()})),
        })
    }
}

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
        )
        .unwrap();
        let e = check_template("{{ promt }} {{ zz }}", "f", "user").unwrap_err();
        assert!(
            e.to_string()
                .contains("unknown template variable `promt`, `zz`"),
            "{e}"
        );
    }
}
