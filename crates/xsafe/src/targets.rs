//! Building targets from `--target` specs, a `--targets` file and the
//! target flags.

use crate::cli::TargetArgs;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use xsafe_core::Target;
use xsafe_target::{ResolvedTarget, TargetSettings, TargetsFile};

impl TargetArgs {
    /// The settings given as flags, to lay over a targets file's.
    pub fn settings(&self) -> Result<TargetSettings> {
        let headers = parse_headers(&self.headers, "--header")?;
        Ok(TargetSettings {
            backend: None,
            model: None,
            base_url: None,
            base_urls: self.base_url.clone(),
            api_key_env: self.api_key_env.clone(),
            headers,
            temperature: self.temperature,
            max_tokens: self.max_tokens,
            seed: self.target_seed,
            stop: self.stop.clone(),
            system_prompt: self.system_prompt.clone(),
            timeout_secs: self.timeout,
            concurrency: self.concurrency,
            max_retries: self.max_retries,
            chat_template: self.chat_template.clone(),
            threads: self.threads,
            context: self.context,
        })
    }

    /// Every target the flags name, built.
    pub fn build(&self, cache_dir: &Path) -> Result<Vec<Arc<dyn Target>>> {
        let file = self.targets.as_deref().map(TargetsFile::load).transpose()?;
        let cli = self.settings()?;
        self.target
            .iter()
            .map(|spec| {
                let resolved = xsafe_target::resolve(spec, &cli, file.as_ref())?;
                build(&resolved, cache_dir).with_context(|| format!("target `{spec}`"))
            })
            .collect()
    }
}

/// `Name: value` headers from a flag's values.
pub fn parse_headers(values: &[String], flag: &str) -> Result<BTreeMap<String, String>> {
    xsafe_target::parse_headers(values, flag).map_err(anyhow::Error::msg)
}

/// Builds one resolved target with the backend it names.
pub fn build(r: &ResolvedTarget, cache_dir: &Path) -> Result<Arc<dyn Target>> {
    match r.backend.as_str() {
        "openai" => Ok(xsafe_target::build_openai(r)?),
        "local" => build_local(r, cache_dir),
        other => bail!("unknown backend `{other}`"),
    }
}

#[cfg(feature = "local")]
fn build_local(r: &ResolvedTarget, cache_dir: &Path) -> Result<Arc<dyn Target>> {
    use xsafe_target::models;
    let path = models::resolve_local(&r.model, cache_dir)?;
    let known = models::known_by_file(&path);
    if let Some(m) = known
        && !m.instruction_tuned
    {
        tracing::warn!(
            "`{}` is a base model: it continues text rather than answering and refuses nothing, \
             so its figures only demonstrate the pipeline; `xsafe model pull gemma-3-270m-it` or an \
             OpenAI-compatible server gives a real measurement",
            m.name
        );
    }
    let s = &r.settings;
    let ignored = http_only_settings(s);
    if !ignored.is_empty() {
        tracing::warn!(
            "`{}` runs in this process: {} only apply to openai: targets and are ignored",
            r.id,
            ignored.join(", ")
        );
    }
    let defaults = xsafe_local::LocalOptions::default();
    let options = xsafe_local::LocalOptions {
        threads: s.threads,
        context: s.context.unwrap_or(defaults.context),
        max_tokens: s.max_tokens.unwrap_or(defaults.max_tokens),
        temperature: s.temperature.unwrap_or(defaults.temperature),
        seed: s.seed,
        stop: s.stop.clone(),
        system_prompt: s.system_prompt.clone(),
        chat_template: s.chat_template.clone(),
        fallback_chat_template: known.and_then(|m| m.chat_template).map(Into::into),
    };
    Ok(Arc::new(xsafe_local::LocalTarget::load(
        r.id.clone(),
        &path,
        options,
    )?))
}

/// The settings given that only an HTTP target has a use for (flags, or a
/// targets file), so that a local target can say it ignores them.
#[cfg_attr(not(feature = "local"), allow(dead_code))]
fn http_only_settings(s: &TargetSettings) -> Vec<&'static str> {
    [
        (
            s.base_url.is_some() || !s.base_urls.is_empty(),
            "--base-url",
        ),
        (s.api_key_env.is_some(), "--api-key-env"),
        (!s.headers.is_empty(), "--header"),
        (s.timeout_secs.is_some(), "--timeout"),
        (s.concurrency.is_some(), "--concurrency"),
        (s.max_retries.is_some(), "--max-retries"),
    ]
    .into_iter()
    .filter_map(|(given, flag)| given.then_some(flag))
    .collect()
}

#[cfg(not(feature = "local"))]
fn build_local(_r: &ResolvedTarget, _cache_dir: &Path) -> Result<Arc<dyn Target>> {
    bail!(
        "this xsafe was built without the embedded model engine; rebuild with the `local` feature \
         (the default) or point --target at an OpenAI-compatible server"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_target_names_the_http_settings_it_ignores() {
        let none = TargetSettings::default();
        assert!(http_only_settings(&none).is_empty());
        let given = TargetSettings {
            base_urls: vec!["http://127.0.0.1:1/v1".into()],
            timeout_secs: Some(5.0),
            max_retries: Some(0),
            // What a local model uses is not named.
            temperature: Some(0.7),
            threads: Some(2),
            ..Default::default()
        };
        assert_eq!(
            http_only_settings(&given),
            ["--base-url", "--timeout", "--max-retries"]
        );
    }
}
