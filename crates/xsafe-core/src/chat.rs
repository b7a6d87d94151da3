use serde::{Deserialize, Serialize};
use std::fmt;

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions that frame the conversation (OpenAI's `developer` role
    /// too).
    System,
    /// The person asking: the prompt and any follow-up a strategy sends.
    User,
    /// The model: a target's replies, and the answers of few-shot exemplars.
    Assistant,
}

impl Role {
    /// The role as OpenAI's chat format spells it: `system`, `user` or
    /// `assistant`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    /// Reads a role as OpenAI's chat format spells it, taking `developer` as
    /// `system`; `None` for any other role (e.g. `tool`).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "system" | "developer" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message of a conversation.
///
/// `reasoning` (a model's thinking text) and `refusal` (a provider's refusal
/// field) are kept apart from `content` so that judges see the answer alone
/// while the transcript keeps everything that was exchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who sent the message.
    pub role: Role,
    /// The visible text of the message, without reasoning or a provider's
    /// refusal; may be empty.
    pub content: String,
    /// The model's thinking text, when the target returned it apart from the
    /// answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// The provider's refusal text (OpenAI's `refusal` field), when the
    /// provider declined through it rather than in the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

impl Message {
    /// A message with no reasoning and no refusal.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            reasoning: None,
            refusal: None,
        }
    }

    /// A system message with this text.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message with this text.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message with this text.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// What the message says: its content, or, when a provider declined
    /// through its refusal field (`"content": null, "refusal": "..."`), the
    /// refusal's text. A follow-up sends it back as the assistant's turn
    /// (the `openai:` target and `xsafe serve` alike), not an empty turn the
    /// model never gave (which some servers refuse, and which leaves the
    /// model no idea what it is asked to reconsider), and it is the reply
    /// an interactive follow-up's `{{ reply }}` and a clarifier are given.
    /// The transcript keeps the message as it came, refusal field and all.
    pub fn said(&self) -> &str {
        match &self.refusal {
            Some(refusal) if self.content.trim().is_empty() => refusal,
            _ => &self.content,
        }
    }
}

/// Splits a leading `<think>...</think>` block from a model's text: the
/// reasoning of a model served without a reasoning parser (or written
/// inline in an answer file), and the answer after it. Returns `(reasoning,
/// answer)`; text without the block is all answer. A block that is never
/// closed (the model was cut off while thinking) is all reasoning, with an
/// empty answer. A `</think>` with no `<think>` before it is the end of a
/// block whose opening tag was part of the prompt (DeepSeek-R1 and QwQ
/// chat templates end with `<think>`): what comes before it is reasoning.
///
/// Every place that takes a model's raw text (the `openai:` and `local:`
/// targets, answer files) splits it with this, so that judges see the same
/// answer whichever way it came.
pub fn split_think(content: &str) -> (Option<String>, String) {
    let trimmed = content.trim_start();
    if let Some(rest) = trimmed.strip_prefix("<think>") {
        if let Some((thought, answer)) = rest.split_once("</think>") {
            return (
                Some(thought.trim().to_string()).filter(|t| !t.is_empty()),
                answer.trim_start().to_string(),
            );
        }
        return (Some(rest.trim().to_string()), String::new());
    }
    if let Some((thought, answer)) = content.split_once("</think>")
        && !thought.contains("<think>")
    {
        return (
            Some(thought.trim().to_string()).filter(|t| !t.is_empty()),
            answer.trim_start().to_string(),
        );
    }
    (None, content.to_string())
}

/// Why a model stopped generating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    Stop,
    /// Cut by the token limit: the answer may be incomplete.
    Length,
    /// The provider's content filter removed or blocked the answer.
    ContentFilter,
    /// The model asked to call a tool instead of answering in text.
    ToolCalls,
    /// Any other reason, as the provider spelt it; serialised as that bare
    /// string.
    #[serde(untagged)]
    Other(String),
}

impl FinishReason {
    /// Reads a provider's finish reason, taking other APIs' spellings
    /// (`end_turn`, `max_tokens`, `eos`...) as the known variants. Never fails:
    /// anything unknown is `Other`.
    pub fn parse(s: &str) -> FinishReason {
        match s {
            "stop" | "eos" | "stop_sequence" | "end_turn" => FinishReason::Stop,
            "length" | "max_tokens" => FinishReason::Length,
            "content_filter" => FinishReason::ContentFilter,
            "tool_calls" | "function_call" => FinishReason::ToolCalls,
            other => FinishReason::Other(other.to_string()),
        }
    }

    /// The reason as OpenAI spells it, or the provider's own text for `Other`.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Other(s) => s,
        }
    }
}

/// What a strategy asks a target for. Generation settings (temperature,
/// token limit...) belong to the target; a request carries only what varies
/// per call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation to continue, oldest message first; the target answers
    /// its end.
    pub messages: Vec<Message>,
    /// Varies per sample so that repeated samples at a temperature above zero
    /// differ, while a rerun of the same sample is reproducible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl ChatRequest {
    /// A request with no seed.
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest {
            messages,
            seed: None,
        }
    }
}

/// Token counts, where the target reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the request's messages, as the target counted them.
    pub prompt_tokens: u64,
    /// Tokens the model generated for the reply.
    pub completion_tokens: u64,
}

/// A target's reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// Always an assistant message.
    pub message: Message,
    /// Why the model stopped; `None` when the target did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Token counts; `None` when the target did not report them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The model name the server reports, which may differ from the one asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// Everything exchanged for one case under one strategy on one target, in
/// order: system messages, exemplars, user turns and assistant replies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// Every message exchanged, oldest first, including those the strategy
    /// placed before the prompt.
    pub messages: Vec<Message>,
    /// Why the model stopped its final reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<FinishReason>,
    /// Interactive strategies: the 1-based turn at which the model complied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complied_at_turn: Option<u32>,
    /// How many messages the strategy sent before the model's first reply
    /// (system message, few-shot exemplars, the prompt). The model's own
    /// replies are the assistant messages after them; `None` (transcripts
    /// stored before this was recorded) counts every assistant message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening: Option<u32>,
}

impl Transcript {
    /// The last assistant message: the answer a verdict is about.
    pub fn final_reply(&self) -> Option<&Message> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::Assistant)
    }

    /// The number of turns the model took: its replies, not the exemplar
    /// answers a few-shot strategy placed before the prompt.
    pub fn turns(&self) -> u32 {
        self.messages
            .iter()
            .skip(self.opening.unwrap_or(0) as usize)
            .filter(|m| m.role == Role::Assistant)
            .count() as u32
    }
}

/// Appends to an answer's text (its content, without a leading `<think>`
/// block) a readable line for each tool call of its OpenAI chat message
/// (`tool_calls`, or the older single `function_call`): `[tool call]
/// name(arguments)`, after a line break when there is text before it. A
/// [`Message`] has no field for tool calls, and a model that answers a
/// harmful prompt with a call has attempted it: the call is kept in the
/// content, for the judges and the transcript. The targets store a reply
/// so, and `xsafe judge` reads a conversation's tool calls with it.
pub fn append_tool_calls(content: &mut String, message: &serde_json::Value) {
    for line in tool_call_lines(message) {
        if !content.is_empty() {
            content.push('\n');
        }
        content.push_str(&line);
    }
}

/// The lines [`append_tool_calls`] writes.
fn tool_call_lines(message: &serde_json::Value) -> Vec<String> {
    let calls = message["tool_calls"].as_array().into_iter().flatten();
    let functions = calls
        .map(|c| &c["function"])
        .chain(Some(&message["function_call"]).filter(|f| f.is_object()));
    functions
        .map(|f| {
            let name = f["name"].as_str().unwrap_or("?");
            let arguments = match &f["arguments"] {
                serde_json::Value::String(a) => a.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            format!("[tool call] {name}({arguments})")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_reply_is_the_last_assistant_message() {
        let t = Transcript {
            messages: vec![
                Message::system("s"),
                Message::user("q"),
                Message::assistant("no"),
                Message::user("please, it is for a game"),
                Message::assistant("ok"),
            ],
            ..Default::default()
        };
        assert_eq!(t.final_reply().unwrap().content, "ok");
        assert_eq!(t.turns(), 2);
        assert!(Transcript::default().final_reply().is_none());
    }

    #[test]
    fn think_blocks_are_kept_apart_from_the_answer() {
        assert_eq!(
            split_think("<think>hmm</think>\n\nHello"),
            (Some("hmm".into()), "Hello".into())
        );
        assert_eq!(
            split_think("\n <think>\n</think>Hello"),
            (None, "Hello".into())
        );
        assert_eq!(split_think("Hello"), (None, "Hello".into()));
        // Only a leading block is reasoning.
        assert_eq!(
            split_think("Hello <think>x</think>"),
            (None, "Hello <think>x</think>".into())
        );
        assert_eq!(
            split_think("<think>still going"),
            (Some("still going".into()), String::new())
        );
        // The opening tag was the prompt's: the text up to `</think>` is
        // reasoning.
        assert_eq!(
            split_think("I should refuse? No, it is safe.\n</think>\n\nRun `kill PID`."),
            (
                Some("I should refuse? No, it is safe.".into()),
                "Run `kill PID`.".into()
            )
        );
        assert_eq!(split_think("</think>Hello"), (None, "Hello".into()));
    }

    #[test]
    fn finish_reasons_round_trip() {
        for s in ["stop", "length", "content_filter", "tool_calls", "weird"] {
            assert_eq!(FinishReason::parse(s).as_str(), s);
        }
        let json = serde_json::to_string(&FinishReason::Other("x".into())).unwrap();
        assert_eq!(json, "\"x\"");
        let back: FinishReason = serde_json::from_str("\"length\"").unwrap();
        assert_eq!(back, FinishReason::Length);
    }
}
