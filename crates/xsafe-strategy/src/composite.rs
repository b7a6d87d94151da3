//! A strategy as it runs: its steps in order.

use crate::steps::{Contextual, FewShot, Interactive};
use crate::typing::{self, Typing};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::sync::Arc;
use xsafe_core::{
    ChatRequest, Judge, Message, Prompt, Strategy, StrategyError, Target, Transcript,
};

/// One step of a strategy.
#[derive(Clone)]
pub(crate) enum Step {
    FewShot(FewShot),
    Contextual(Contextual),
    Interactive(Interactive),
}

impl Step {
    /// The step's kind, as a strategy file names it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Step::FewShot(_) => "few-shot",
            Step::Contextual(_) => "contextual",
            Step::Interactive(_) => "interactive",
        }
    }

    /// The name of the strategy the step comes from.
    pub(crate) fn name(&self) -> &str {
        match self {
            Step::FewShot(f) => &f.name,
            Step::Contextual(c) => &c.name,
            Step::Interactive(i) => &i.name,
        }
    }

    /// What a second step of the same kind would do wrong.
    pub(crate) fn twice(&self) -> &'static str {
        match self {
            Step::FewShot(_) => "send exemplar exchanges twice",
            Step::Contextual(_) => "send the instructions twice",
            Step::Interactive(_) => "have two steps follow up the same refusal",
        }
    }

    /// The step's part in reading a prompt's type; `None` for a step that
    /// reads none (a few-shot step whose system text does not use
    /// `topic`).
    pub(crate) fn reading(&self) -> Option<typing::Part<'_>> {
        match self {
            Step::FewShot(f) => f.reading(),
            Step::Contextual(c) => Some(c.reading()),
            Step::Interactive(i) => Some(i.reading()),
        }
    }

    /// How the step read a prompt's type alone, before a strategy read it
    /// once for all its steps; `None` for a step that reads none.
    fn own_typing(&self) -> Option<Typing> {
        match self {
            Step::FewShot(f) => f.own_typing(),
            Step::Contextual(c) => Some(c.own_typing()),
            Step::Interactive(i) => Some(i.own_typing()),
        }
    }

    /// The load check of the step's templates, with every type they can
    /// get as `typing` reads types.
    pub(crate) fn check_renders(&self, typing: &Typing) -> Result<(), crate::SpecError> {
        match self {
            Step::FewShot(f) => f.check_renders(typing),
            Step::Contextual(c) => c.check_renders(typing),
            Step::Interactive(i) => i.check_renders(typing),
        }
    }

    /// Whether the step has a text for the type `topic`, and how a note
    /// says what it lacks when it has none, for [`Composite::type_notes`].
    fn text_for(&self, topic: &str) -> (bool, &'static str) {
        match self {
            Step::FewShot(f) => (f.has_type(topic), "exemplar of"),
            Step::Contextual(c) => (c.has_note(topic), "context note for"),
            Step::Interactive(i) => (i.has_followup(topic), "follow-up for"),
        }
    }

    /// What the step sends for a prompt read as the type `read` (none
    /// when `None`), in words, for [`Composite::type_notes`].
    fn sends_for(&self, read: Option<&str>) -> String {
        let has = |t: &str| self.text_for(t).0;
        match (self, read) {
            (Step::FewShot(_), Some(t)) => format!("its system text's `topic` is `{t}`"),
            (Step::FewShot(_), None) => "its system text's `topic` is empty".into(),
            (Step::Contextual(_), Some(t)) if has(t) => format!("it adds the note for `{t}`"),
            (Step::Contextual(_), _) => "it adds no type note".into(),
            (Step::Interactive(_), Some(t)) if has(t) => {
                format!("it sends the follow-up for `{t}`")
            }
            (Step::Interactive(_), _) => "it sends the default follow-up".into(),
        }
    }
}

/// The reading of types of a strategy of `steps` (see [`Typing`]), or why
/// its steps cannot share one.
pub(crate) fn typing_of(steps: &[Step]) -> Result<Typing, String> {
    let parts: Vec<typing::Part> = steps.iter().filter_map(Step::reading).collect();
    let builtin = crate::data::builtin_contexts();
    typing::of(&parts, (&builtin.detect, &builtin.groups))
}

/// How a note on a type that no step has a text for, and no group stands
/// for, says what the strategy reads instead, when it detects types
/// ([`Composite::type_notes`] for one prompt,
/// [`Composite::unread_types_warning`] for a run's).
const FROM_WORDS: &str = "so it takes the type from the prompt's words";

/// The same, when it does not ([`FROM_WORDS`]).
const NO_DETECTION: &str = "and the strategy does not detect types (detect = false)";

/// A strategy: baseline has no steps; `contextual+few-shot` has two.
///
/// Steps contribute in order. Their system texts join, in step order, into
/// one system message at the start (the target merges its own system prompt
/// with it); their turns (few-shot exemplars) follow in step order; then the
/// user's prompt, as contextual templates may have rewritten it. An
/// interactive step drives the conversation after the first reply.
#[derive(Clone)]
pub struct Composite {
    pub(crate) name: String,
    pub(crate) description: String,
    /// Shared, so that a clone (to embed on the blocking pool) is cheap.
    pub(crate) steps: Arc<[Step]>,
    /// How the strategy reads a prompt's type, once for all its steps.
    pub(crate) typing: Arc<Typing>,
}

impl Composite {
    /// What the strategy does, in prose: its files' descriptions in step
    /// order, joined by "Then:"; empty when none has one.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The messages of the first request for a prompt: exactly what is sent.
    pub fn opening(&self, prompt: &Prompt) -> Result<Vec<Message>, StrategyError> {
        let mut system = Vec::new();
        let mut turns = Vec::new();
        let mut user = prompt.text.clone();
        let topic = self.typing.topic(prompt).unwrap_or_default();
        for step in self.steps.iter() {
            match step {
                Step::FewShot(f) => f.contribute(prompt, &topic, &user, &mut system, &mut turns)?,
                Step::Contextual(c) => c.contribute(&topic, &mut user, &mut system)?,
                Step::Interactive(_) => {}
            }
        }
        // Steps leave out a system text that renders empty; this keeps an
        // empty one from ever making an empty message or a stray "\n\n".
        system.retain(|s: &String| !s.trim().is_empty());
        let mut messages = Vec::with_capacity(turns.len() + 2);
        if !system.is_empty() {
            messages.push(Message::system(system.join("\n\n")));
        }
        messages.extend(turns);
        messages.push(Message::user(user));
        Ok(messages)
    }

    /// [`Composite::opening`], on Tokio's blocking pool when a step embeds
    /// the prompt, so that the encoder does not hold up an async worker (the
    /// proxy's other requests, a run's other cases); inline otherwise.
    pub async fn opening_async(&self, prompt: &Prompt) -> Result<Vec<Message>, StrategyError> {
        let embeds = self
            .steps
            .iter()
            .any(|s| matches!(s, Step::FewShot(f) if f.embeds()));
        if !embeds {
            return self.opening(prompt);
        }
        let this = self.clone();
        let prompt = prompt.clone();
        tokio::task::spawn_blocking(move || this.opening(&prompt))
            .await
            .map_err(|e| StrategyError::Other {
                strategy: self.name.clone(),
                message: format!("choosing the exemplars failed: {e}"),
            })?
    }

    /// [`Strategy::run`] from an opening already made with
    /// [`Composite::opening`] for this prompt (the proxy makes it to merge
    /// into the client's messages), so it is not made twice.
    pub async fn run_from(
        &self,
        prompt: &Prompt,
        mut messages: Vec<Message>,
        target: &dyn Target,
        judge: &dyn Judge,
        seed: Option<u64>,
    ) -> Result<Transcript, StrategyError> {
        let opening = Some(messages.len() as u32);
        let mut request = ChatRequest::new(messages.clone());
        request.seed = seed;
        let response = target.chat(&request).await?;
        messages.push(response.message);
        let mut finish_reason = response.finish_reason;
        let mut complied_at_turn = None;
        if let Some(interactive) = self.interactive() {
            let topic = self.typing.topic(prompt).unwrap_or_default();
            // `turn` counts the model's replies so far; a follow-up asks
            // for the reply of the next turn.
            let mut turn = 1;
            loop {
                let so_far = Transcript {
                    messages: messages.clone(),
                    finish_reason: finish_reason.clone(),
                    complied_at_turn: None,
                    opening,
                };
                let verdict = judge.judge(prompt, &so_far).await?;
                match verdict.outcome.class() {
                    Some(class) if !class.is_refusal() => {
                        complied_at_turn = Some(turn as u32);
                        break;
                    }
                    // A judge that cannot decide stops the conversation:
                    // following up on an answer that may not refuse would
                    // be pressing the model for nothing.
                    None => break,
                    Some(_) if turn > interactive.spec.max_turns => break,
                    Some(_) => {}
                }
                let reply = messages
                    .last()
                    .map(|m| m.said().to_string())
                    .unwrap_or_default();
                let Some(followup) = interactive
                    .followup(prompt, &topic, &reply, turn + 1, seed, judge)
                    .await?
                else {
                    break;
                };
                messages.push(Message::user(followup));
                let mut request = ChatRequest::new(messages.clone());
                request.seed = seed;
                let response = target.chat(&request).await?;
                messages.push(response.message);
                finish_reason = response.finish_reason;
                turn += 1;
            }
        }
        Ok(Transcript {
            messages,
            finish_reason,
            complied_at_turn,
            opening,
        })
    }

    /// Notes on the steps that choose their text by the prompt's type
    /// (contextual notes, interactive follow-ups, a few-shot system text's
    /// `topic`) and have none for this prompt's type, saying how the
    /// strategy reads the prompt instead, as it does in a run: as one of
    /// the types a group lists, when its type is a group's (a note for
    /// every such step); as the type given, when another step has a text
    /// for it; else from the prompt's words, when it detects types. Types
    /// match without regard to ASCII case (see `Typing`). Empty when the
    /// prompt's type is not given or every such step has a text for it.
    pub fn type_notes(&self, prompt: &Prompt) -> Vec<String> {
        let Some(given) = prompt.topic.as_deref() else {
            return Vec::new();
        };
        let read = self.typing.topic(prompt);
        let reading = self.steps.iter().filter(|s| s.reading().is_some());
        if let Some(members) = self.typing.group(given) {
            let listed = quoted(members.iter().map(String::as_str));
            let t = read.as_deref().unwrap_or_default();
            return reading
                .map(|s| {
                    format!(
                        "`{}` reads type `{given}` as one of the types its contexts file's \
                         `[groups]` list for it ({listed}), the one whose cues the prompt's \
                         words contain most (the first when none), as a run does: `{t}`: {}",
                        s.name(),
                        s.sends_for(Some(t))
                    )
                })
                .collect();
        }
        reading
            .filter_map(|s| {
                let (has, what) = s.text_for(given);
                if has {
                    return None;
                }
                let unknown = format!("`{}` has no {what} type `{given}`", s.name());
                let unknown = match s {
                    Step::FewShot(_) => format!("{unknown} for the `topic` of its system text"),
                    _ => unknown,
                };
                let sends = s.sends_for(read.as_deref());
                Some(if let Some(known) = self.typing.known_as(given) {
                    format!(
                        "{unknown}; another step of `{}` has a text for it, so every step reads \
                         the prompt as `{known}`: {sends}",
                        self.name
                    )
                } else if !self.typing.detect {
                    format!("{unknown} {NO_DETECTION}: {sends}")
                } else {
                    match read.as_deref() {
                        Some(t) if s.text_for(t).0 || matches!(s, Step::FewShot(_)) => {
                            format!("{unknown}, {FROM_WORDS}, as a run does: `{t}`")
                        }
                        Some(t) => {
                            format!(
                                "{unknown}, {FROM_WORDS}, as a run does: `{t}`, which has none \
                                 either: {sends}"
                            )
                        }
                        None => {
                            format!(
                                "{unknown}, {FROM_WORDS}, as a run does, and finds none: {sends}"
                            )
                        }
                    }
                })
            })
            .collect()
    }

    /// The types of `prompts` (as a run gives them: `contrast_` left out in
    /// any case, see `Case::topic`) that the strategy does not read as
    /// given, with how many prompts each, in name order: no step has a
    /// text for them (in any case) and no group of its contexts file stands
    /// for them, so it takes their prompts' type from their words (or gives
    /// them none, when it does not detect types). A prompt of no type is
    /// left out. Empty for a strategy
    /// that reads no type (baseline, few-shot without a system text using
    /// `topic`).
    pub fn unread_types(&self, prompts: &[Prompt]) -> Vec<(String, usize)> {
        if !self.steps.iter().any(|s| s.reading().is_some()) {
            return Vec::new();
        }
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for topic in prompts.iter().filter_map(|p| p.topic.as_deref()) {
            if !self.typing.reads_given(topic) {
                *counts.entry(topic).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .map(|(t, n)| (t.to_string(), n))
            .collect()
    }

    /// The warning a run gives about [`Composite::unread_types`] of its
    /// prompts, in the words of [`Composite::type_notes`], naming each type
    /// with how many of `prompts` have it; `None` when there are none.
    pub fn unread_types_warning(&self, prompts: &[Prompt]) -> Option<String> {
        let unread = self.unread_types(prompts);
        if unread.is_empty() {
            return None;
        }
        let types = unread
            .iter()
            .map(|(t, n)| format!("`{t}` ({n} case{})", if *n == 1 { "" } else { "s" }))
            .collect::<Vec<_>>()
            .join(", ");
        let (plural, it, its) = if unread.len() == 1 {
            ("", "it", "its")
        } else {
            ("s", "them", "their")
        };
        let how = if self.typing.detect {
            FROM_WORDS.to_string()
        } else {
            format!("{NO_DETECTION}, so {its} prompts get no type's text")
        };
        Some(format!(
            "strategy `{name}`: no step has a text for type{plural} {types}, and no `[groups]` \
             of its contexts file stands for {it}, {how}; `xsafe strategies show {name} \
             --prompt TEXT --type TYPE` shows what a prompt gets",
            name = self.name,
        ))
    }

    /// For each few-shot step and each measure its leak check uses, the
    /// case of `prompts` most alike to one of its exemplars, and how alike:
    /// how near a suite comes to being refused by [`Strategy::check`].
    /// Empty for a strategy without a few-shot step.
    pub fn closest_exemplars(&self, prompts: &[Prompt]) -> Vec<crate::Closest> {
        self.steps
            .iter()
            .flat_map(|s| match s {
                Step::FewShot(f) => f.closest(prompts),
                _ => Vec::new(),
            })
            .collect()
    }

    /// Whether the proxy (`xsafe serve`), which receives a prompt's text
    /// without its type, sends another conversation for `prompt` than a
    /// run, which gives its type, makes of it: another first request
    /// ([`Composite::opening`]) or other follow-ups ([`Composite::followups`],
    /// from the templates). The two are rendered with the strategy's own
    /// functions when it reads the prompt's type otherwise without it; no
    /// model is asked. False for a prompt of no type, and for a strategy no
    /// step of which reads a type (baseline, few-shot without a system
    /// text using `topic`).
    pub fn sends_otherwise_untyped(&self, prompt: &Prompt) -> Result<bool, StrategyError> {
        if prompt.topic.is_none() || !self.steps.iter().any(|s| s.reading().is_some()) {
            return Ok(false);
        }
        let untyped = Prompt {
            topic: None,
            ..prompt.clone()
        };
        // What is sent depends on the text and the type read alone.
        if self.typing.topic(prompt) == self.typing.topic(&untyped) {
            return Ok(false);
        }
        Ok(self.opening(prompt)? != self.opening(&untyped)?
            || self.followups(prompt)? != self.followups(&untyped)?)
    }

    /// Whether the strategy sends follow-ups after a refusal: an interactive
    /// step with at least one turn. Its follow-up templates are rendered
    /// once for a stand-in prompt, so a template that cannot render fails
    /// here, when a server starts, rather than on a client's request.
    pub fn sends_followups(&self) -> Result<bool, StrategyError> {
        Ok(!self.followups(&Prompt::new("x"))?.is_empty())
    }

    /// Whether the strategy rewrites the prompt's text: a contextual step
    /// with a `user` template. A prompt without text has nothing for it to
    /// rewrite (see [`Composite::opening`]).
    pub fn rewrites_prompt(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s, Step::Contextual(c) if c.has_user_template()))
    }

    /// Whether the strategy has an interactive step (follows up a refusal).
    pub fn is_interactive(&self) -> bool {
        self.interactive().is_some()
    }

    fn interactive(&self) -> Option<&Interactive> {
        self.steps.iter().find_map(|s| match s {
            Step::Interactive(i) => Some(i),
            _ => None,
        })
    }

    /// Interactive strategies: the most follow-ups, and the follow-up that
    /// would go out after a refusal at each turn (without a clarifier
    /// target; with one, the clarifier writes it).
    pub fn followups(&self, prompt: &Prompt) -> Result<Vec<String>, StrategyError> {
        let Some(i) = self.interactive() else {
            return Ok(Vec::new());
        };
        let topic = self.typing.topic(prompt);
        i.turns()
            .map(|turn| {
                let vars = crate::steps::Vars {
                    prompt: &prompt.text,
                    topic: topic.as_deref().unwrap_or_default(),
                    reply: "(the model's refusal)",
                    turn,
                    ..Default::default()
                };
                i.render_followup(&vars).map_err(|e| i.failed(e))
            })
            .collect()
    }
}

#[async_trait]
impl Strategy for Composite {
    fn name(&self) -> &str {
        &self.name
    }

    /// The strategy's steps' definitions, in order, with its name and
    /// description.
    ///
    /// A step whose strategy reads a prompt's type otherwise than xsafe
    /// read it for the step before types were read once per strategy
    /// (another contexts file's cues, detection turned off by a contextual
    /// step, or a type kept as given because another step has a text for
    /// it, or groups, which contexts files did not have: the built-in ones
    /// for an interactive or few-shot step) records the reading as
    /// `typing`: `detect`, the `cues`, the `types` kept as given and the
    /// `groups`, when there are some. It sends something else than a run
    /// made then, which is another strategy, not resumed or served as this
    /// one. A step that reads types as it did records what it always did.
    fn definition(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                let mut definition = match s {
                    Step::FewShot(f) => f.definition(),
                    Step::Contextual(c) => c.definition(),
                    Step::Interactive(i) => i.definition(),
                };
                if s.own_typing().is_some_and(|own| own != *self.typing) {
                    definition["typing"] = self.typing.record();
                }
                definition
            })
            .collect();
        // The description is for whoever reads the record (`show --json`,
        // a profile): it changes nothing sent, and what tells strategies
        // apart by their definitions (a run's key, `serve`'s check of a
        // profile) should leave it out, as the runner's `what_is_sent`
        // does. It stays here because a run's key hashes the whole
        // definition: runs stored with it are found only by a key with it,
        // so leaving it out belongs to the key's next version, with this
        // one kept as a legacy key.
        json!({"name": self.name, "description": self.description, "steps": steps})
    }

    fn check(&self, prompts: &[Prompt]) -> Result<(), StrategyError> {
        for step in self.steps.iter() {
            if let Step::FewShot(f) = step {
                f.check(prompts)?;
            }
        }
        Ok(())
    }

    async fn run(
        &self,
        prompt: &Prompt,
        target: &dyn Target,
        judge: &dyn Judge,
        seed: Option<u64>,
    ) -> Result<Transcript, StrategyError> {
        let opening = self.opening_async(prompt).await?;
        self.run_from(prompt, opening, target, judge, seed).await
    }
}

/// Names as messages quote them: `` `a`, `b` ``.
fn quoted<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
