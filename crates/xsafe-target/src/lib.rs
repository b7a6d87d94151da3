//! Targets: the models xsafe tests. A target turns a list of messages into a
//! reply; this crate provides the OpenAI-compatible HTTP target (vLLM,
//! Ollama, llama.cpp's server, hosted APIs) and the registry that builds a
//! target from a spec such as `openai:gpt-4o-mini`.

mod openai;

pub use openai::{OpenAiConfig, OpenAiTarget};

use std::sync::Arc;
use xsafe_core::{Target, TargetError};

/// The backends a target spec may name.
pub const BACKENDS: &[&str] = &["openai"];

/// Settings given on the command line that apply to whichever backend the
/// spec names.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub seed: Option<u64>,
    pub system_prompt: Option<String>,
    pub timeout_secs: Option<f64>,
    pub max_concurrency: Option<usize>,
    pub max_retries: Option<u32>,
}

/// Builds a target from `backend:model`.
pub fn from_spec(spec: &str, options: &TargetOptions) -> Result<Arc<dyn Target>, TargetError> {
    let (backend, model) = spec.split_once(':').ok_or_else(|| {
        TargetError::Config(format!(
            "target `{spec}`: write it as BACKEND:MODEL, e.g. `openai:gpt-4o-mini` (backends: {})",
            BACKENDS.join(", ")
        ))
    })?;
    if model.trim().is_empty() {
        return Err(TargetError::Config(format!(
            "target `{spec}`: the model name after `{backend}:` is empty"
        )));
    }
    match backend {
        "openai" => {
            let mut config = OpenAiConfig::new(model);
            config.apply(options);
            Ok(Arc::new(OpenAiTarget::new(config)?))
        }
        other => Err(TargetError::Config(format!(
            "target `{spec}`: unknown backend `{other}`; available: {}",
            BACKENDS.join(", ")
        ))),
    }
}
