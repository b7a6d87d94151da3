//! Targets: the models xsafe tests. A target turns a list of messages into a
//! reply; this crate provides the OpenAI-compatible HTTP target (vLLM,
//! Ollama, llama.cpp's server, hosted APIs) and the registry that builds a
//! target from a spec such as `openai:gpt-4o-mini`.

mod gguf;
mod limit;
pub mod models;
mod openai;
mod secrets;
mod settings;

pub use limit::{AdaptiveLimit, MemberLoad, Permit};
pub use openai::{
    OpenAiConfig, OpenAiTarget, Redirect, asked_wait_of, base_url_hint, bearer, encoding_said,
    endpoint, error_message, json_lossy, parse_chat_completion, prompt_filtered, redirect_failure,
    redirect_policy, retry_after, server_said, unasked_encoding, without_credentials,
    without_userinfo,
};
pub use secrets::{Secrets, server_credential_header};
pub use settings::{
    BACKENDS, Flags, Given, MAX_TEMPERATURE, MAX_TIMEOUT_SECS, MIN_TIMEOUT_SECS, ResolvedTarget,
    SettingNames, TargetSettings, TargetsFile, parse_headers, resolve, resolve_with, temperature,
    timeout,
};

use std::sync::Arc;
use xsafe_core::{Target, TargetError};

/// Builds an HTTP target from a resolved spec. `local` targets are built by
/// the `xsafe-local` crate, which carries the model engine.
pub fn build_openai(r: &ResolvedTarget) -> Result<Arc<dyn Target>, TargetError> {
    let mut config = OpenAiConfig::from_settings(&r.model, &r.settings);
    config.names = r.names.clone();
    Ok(Arc::new(OpenAiTarget::with_id(r.id.clone(), config)?))
}
