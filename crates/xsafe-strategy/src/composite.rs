//! A strategy as it runs: its steps in order.

use crate::steps::{Contextual, FewShot, Interactive};
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
}

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
        for step in self.steps.iter() {
            match step {
                Step::FewShot(f) => f.contribute(prompt, &user, &mut system, &mut turns)?,
                Step::Contextual(c) => c.contribute(prompt, &mut user, &mut system)?,
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
            // `turn` counts the model's replies so far.
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
                    .followup(prompt, &reply, turn, seed, judge)
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
    /// (contextual notes, interactive follow-ups) and have none for this
    /// prompt's type: each takes the type from the prompt's words instead,
    /// as it does in a run. Empty when the prompt's type is not given or
    /// every such step knows it.
    pub fn type_notes(&self, prompt: &Prompt) -> Vec<String> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Contextual(c) => c.type_note(prompt),
                Step::Interactive(i) => i.type_note(prompt),
                Step::FewShot(f) => f.type_note(prompt),
            })
            .collect()
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

    /// Whether the strategy sends follow-ups after a refusal: an interactive
    /// step with at least one turn. Its follow-up templates are rendered
    /// once for a stand-in prompt, so a template that cannot render fails
    /// here, when a server starts, rather than on a client's request.
    pub fn sends_followups(&self) -> Result<bool, StrategyError> {
        Ok(!self.followups(&Prompt::new("x"))?.is_empty())
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
        let topic = i.topic(prompt);
        (1..=i.spec.max_turns)
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

    fn definition(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| match s {
                Step::FewShot(f) => f.definition(),
                Step::Contextual(c) => c.definition(),
                Step::Interactive(i) => i.definition(),
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
