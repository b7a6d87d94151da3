use crate::{
    ChatRequest, ChatResponse, JudgeError, Prompt, StrategyError, TargetError, Transcript, Verdict,
};
use async_trait::async_trait;

/// The model under test: a backend plus model name and generation settings.
///
/// A target retries what is worth retrying itself (only it knows, for
/// example, what a `Retry-After` header means), so an error it returns is
/// final for that request.
#[async_trait]
pub trait Target: Send + Sync {
    /// The target's name as the user gave it, e.g. `openai:gpt-4o-mini`.
    fn id(&self) -> &str;

    /// The settings that shape its answers (model, temperature, token limit,
    /// system prompt...), recorded with every run. Never includes secrets.
    fn settings(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Sends one request and returns the model's reply. An error is final for
    /// this request: whatever was worth retrying has been retried.
    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, TargetError>;

    /// How many requests the runner may have in flight at once.
    fn max_concurrency(&self) -> usize {
        4
    }
}

/// The name of the strategy that sends the prompt unchanged: the reference
/// every other strategy of a run is compared with, which no strategy file
/// may replace.
pub const BASELINE: &str = "baseline";

/// A mitigation: drives the conversation for one prompt on one target.
///
/// The strategy gets a [`Prompt`], never a case's label, and the judge, so an
/// interactive strategy can decide whether to follow up.
#[async_trait]
pub trait Strategy: Send + Sync {
    /// The strategy's name, e.g. `baseline` or `contextual+few-shot`.
    fn name(&self) -> &str;

    /// The full definition (templates, exemplars, settings), recorded with
    /// every run so that results can be reproduced.
    fn definition(&self) -> serde_json::Value {
        serde_json::Value::Null
    }

    /// Refuses to run on a suite whose prompts the strategy would leak into
    /// the conversation (a few-shot exemplar that is itself one of the
    /// cases). Called with every case's prompt before a run starts.
    fn check(&self, _prompts: &[Prompt]) -> Result<(), StrategyError> {
        Ok(())
    }

    /// Runs the strategy. `seed` varies per sample and should be passed on
    /// to the target.
    async fn run(
        &self,
        prompt: &Prompt,
        target: &dyn Target,
        judge: &dyn Judge,
        seed: Option<u64>,
    ) -> Result<Transcript, StrategyError>;
}

/// Turns a transcript into a verdict about its final reply.
#[async_trait]
pub trait Judge: Send + Sync {
    /// The judge's name, e.g. `strmatch` or `llm:openai:gpt-4o`.
    fn name(&self) -> &str;

    /// Bumped whenever the judge's decisions may change, so stored verdicts
    /// say which judge made them.
    fn version(&self) -> &str {
        "1"
    }

    /// The verdict on the final reply of `transcript` to `prompt`. An error
    /// means the judge could not run (e.g. its model failed); an answer it
    /// cannot decide on is an `unscored` verdict instead.
    async fn judge(&self, prompt: &Prompt, transcript: &Transcript) -> Result<Verdict, JudgeError>;

    /// `name@version`, the form stored with verdicts.
    fn tag(&self) -> String {
        format!("{}@{}", self.name(), self.version())
    }

    /// How many answers the judge may have in judging at once when that
    /// waits on something other than this process (an LLM judge's model,
    /// slower, perhaps, than the model judged): a runner that bounds the
    /// answers between receipt and storage leaves room for as many more,
    /// so that judging keeps its own pace. 0 for a judge that decides on
    /// the spot.
    fn max_concurrency(&self) -> usize {
        0
    }
}
