//! Strategies: how a prompt is put to a target. A strategy drives the whole
//! conversation for one prompt and returns its transcript, so a multi-turn
//! mitigation fits the same trait as sending the prompt as it is.

use async_trait::async_trait;
use std::sync::Arc;
use xsafe_core::{
    ChatRequest, Judge, Message, Prompt, Strategy, StrategyError, Target, Transcript,
};

/// The strategies `--strategy` can name.
pub const STRATEGIES: &[&str] = &["baseline"];

/// Builds a strategy by name.
pub fn from_name(name: &str) -> Result<Arc<dyn Strategy>, String> {
    match name {
        "baseline" => Ok(Arc::new(Baseline)),
        other => Err(format!(
            "unknown strategy `{other}`; available: {}",
            STRATEGIES.join(", ")
        )),
    }
}

/// The prompt as it is (the target adds its own system prompt, if any).
#[derive(Debug, Clone, Copy, Default)]
pub struct Baseline;

#[async_trait]
impl Strategy for Baseline {
    fn name(&self) -> &str {
        "baseline"
    }

    fn definition(&self) -> serde_json::Value {
        serde_json::json!({"name": "baseline", "messages": ["user: {prompt}"]})
    }

    async fn run(
        &self,
        prompt: &Prompt,
        target: &dyn Target,
        _judge: &dyn Judge,
        seed: Option<u64>,
    ) -> Result<Transcript, StrategyError> {
        let mut request = ChatRequest::new(vec![Message::user(prompt.text.clone())]);
        request.seed = seed;
        let response = target.chat(&request).await?;
        let mut messages = request.messages;
        messages.push(response.message);
        Ok(Transcript {
            messages,
            finish_reason: response.finish_reason,
            complied_at_turn: None,
        })
    }
}
