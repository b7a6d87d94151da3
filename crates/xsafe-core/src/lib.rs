//! The shared vocabulary of xsafe: what a case, a suite, a message, a
//! transcript and a verdict are, and the three traits every capability plugs
//! into ([`Target`], [`Strategy`], [`Judge`]).
//!
//! This crate does no I/O so that any other crate can depend on it without
//! cycles: an LLM judge uses a target, the proxy uses strategies and targets,
//! and the runner uses all three.

mod bounds;
mod case;
mod chat;
mod diff;
mod error;
mod json;
mod printable;
mod sample;
mod system;
mod traits;
mod verdict;

pub use bounds::{ceil_char_boundary, floor_char_boundary};
pub use case::{Case, Label, ParseLabelError, Prompt, Suite};
pub use chat::{
    ChatRequest, ChatResponse, FinishReason, Message, Role, Transcript, Usage, append_tool_calls,
    split_think,
};
pub use diff::{Difference, differences, shown};
pub use error::{Blocker, JudgeError, StrategyError, TargetError, duration_said, utc_clock};
pub use json::{json_from_slice_lossy, json_without_lone_surrogates};
pub use printable::printable;
pub use sample::{SplitMix64, stratified_sample};
pub use system::{
    SYSTEM_PROMPT_JOIN, begins_with_system_prompt, transcript_with_system_prompt,
    with_system_prompt,
};
pub use traits::{BASELINE, Judge, Strategy, Target};
pub use verdict::{Class, Outcome, ParseOutcomeError, Verdict};

/// The version of the xsafe tools, recorded with every run.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
