//! Building targets from `--target` specs, a `--targets` file and the
//! target flags.

mod identity;

use crate::cli::TargetArgs;
use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use xsafe_core::{ChatRequest, ChatResponse, Target, TargetError};
use xsafe_runner::RunPlan;
use xsafe_target::{Flags, ResolvedTarget, TargetSettings, TargetsFile};

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

    /// The flags that set a run's target's settings, as its messages name
    /// them ([`Flags::run`]), `--api-key-env` named as its variable
    /// `XSAFE_API_KEY_ENV` when that gave it.
    pub fn flags(&self) -> Flags {
        Flags {
            api_key_env: Some(flag_or_variable(
                "--api-key-env",
                "XSAFE_API_KEY_ENV",
                self.api_key_env.as_deref(),
            )),
            ..Flags::run()
        }
    }

    /// The targets the flags give, in order: each `--target` value (or
    /// `XSAFE_TARGET`'s) split at its commas, but a value `local:PATH` whose
    /// PATH as a whole, commas and all, is an existing file is one target.
    pub fn specs(&self) -> Vec<String> {
        self.parts().into_iter().map(|p| p.spec).collect()
    }

    /// [`TargetArgs::specs`], each with the value it was split from.
    fn parts(&self) -> Vec<Part> {
        let mut parts = Vec::new();
        for value in &self.target {
            let whole_file = value
                .trim()
                .strip_prefix("local:")
                .is_some_and(|path| Path::new(path.trim()).exists());
            if whole_file || !value.contains(',') {
                parts.push(Part {
                    spec: value.clone(),
                    within: None,
                });
            } else {
                parts.extend(value.split(',').map(|spec| Part {
                    spec: spec.trim().to_string(),
                    within: Some(value.clone()),
                }));
            }
        }
        parts
    }

    /// The error of the first `local:` target that is a part of a value
    /// split at its commas and names, by a path or a name, no file that
    /// exists and no known model, as a run gives it (with the hint that
    /// commas separate targets); `None` when there is none. For a command
    /// that takes one target, to say what is wrong with a model file whose
    /// path, with its comma, was mistyped, rather than count two targets.
    pub fn missing_local_part(&self, cache_dir: &Path) -> Option<anyhow::Error> {
        use xsafe_target::models::{DEFAULT_SPEC, known, resolve_local};
        self.parts().into_iter().find_map(|p| {
            p.within.as_ref()?;
            let model = p.spec.trim().strip_prefix("local:")?.trim();
            if model.is_empty()
                || model == DEFAULT_SPEC
                || known(model).is_some()
                || Path::new(model).exists()
            {
                return None;
            }
            let error = resolve_local(model, cache_dir).err()?;
            let error = anyhow::Error::from(error).context(format!("target `{}`", p.spec));
            Some(p.hinted(error))
        })
    }

    /// Every target the flags name, built. The model files of local targets
    /// are found and known by their content (their sha256) before any is
    /// loaded, so that one model given twice (by two names, two paths, a
    /// link or a copy, with the same settings) is refused without loading
    /// it.
    pub fn build(&self, cache_dir: &Path) -> Result<Vec<Arc<dyn Target>>> {
        let file = self.targets.as_deref().map(TargetsFile::load).transpose()?;
        let cli = self.settings()?;
        let (mut resolved, mut files) = (Vec::new(), Vec::new());
        for p in self.parts() {
            let r = xsafe_target::resolve_with(&p.spec, &cli, file.as_ref(), &self.flags())
                .map_err(|e| p.hinted(anyhow::Error::from(e)))?;
            let model = model_file(&r, cache_dir)
                .with_context(|| format!("target `{}`", p.spec))
                .map_err(|e| p.hinted(e))?;
            resolved.push(r);
            files.push(model);
        }
        refuse_one_model_twice(&resolved, &files)?;
        resolved
            .iter()
            .zip(files)
            .map(|(r, f)| build_with(r, f).with_context(|| format!("target `{}`", r.id)))
            .collect()
    }
}

/// One target of a `--target` value: the value, or a part of it between
/// commas.
struct Part {
    spec: String,
    /// The whole value, when `spec` is a part of it.
    within: Option<String>,
}

impl Part {
    /// `error`, about this target, saying, when it is a part of a value
    /// split at its commas, that commas separate targets.
    fn hinted(&self, error: anyhow::Error) -> anyhow::Error {
        match &self.within {
            None => error,
            Some(whole) => anyhow!(
                "{error:#} (`{}` is a part of --target `{whole}`, which names no existing \
                 file as a whole: commas separate targets, so a model file whose name has a \
                 comma is given whole, as `local:PATH` in a --target of its own; check the path)",
                self.spec
            ),
        }
    }
}

/// A local target's model file, found before it is loaded.
struct ModelFile {
    /// The file to load, as resolved (a known model's cached file, or the
    /// path given).
    path: PathBuf,
    /// Its sha256, lower-case hex: what a run knows the model by.
    sha256: String,
}

/// The model file of `r` when it is a local target (and this xsafe runs
/// them), known by its content ([`identity::sha256`]); `None` otherwise.
fn model_file(r: &ResolvedTarget, cache_dir: &Path) -> Result<Option<ModelFile>> {
    if r.backend != "local" || !cfg!(feature = "local") {
        return Ok(None);
    }
    let path = xsafe_target::models::resolve_local(&r.model, cache_dir)?;
    refuse_damaged_cached_file(&path, cache_dir)?;
    let sha256 = identity::sha256(&path, cache_dir)?;
    Ok(Some(ModelFile { path, sha256 }))
}

/// Refuses the cached file of a known model (given by the model's name, as
/// `default`, by its path in the cache, or through a link to it) that
/// cannot be that model, as `xsafe model list` shows it `damaged`: of
/// another size or quantisation, or not a whole GGUF file
/// ([`xsafe_target::models::cached_problem`], which reads the header
/// only). llama.cpp would load another model's file, or one with bytes
/// added, under the model's name without a word.
fn refuse_damaged_cached_file(path: &Path, cache_dir: &Path) -> Result<()> {
    use xsafe_target::models::{MODELS, cache_path, cached_problem};
    let real = canonical(path);
    let Some(model) = MODELS
        .iter()
        .find(|m| canonical(&cache_path(m, cache_dir)) == real)
    else {
        return Ok(());
    };
    let Some(why) = cached_problem(model, &real) else {
        return Ok(());
    };
    let name = model.name;
    bail!(
        "the cached file of `{name}` (`{}`) is damaged: {why}; run `xsafe model pull {name}` \
         again, which replaces it (or `xsafe model import {name} FILE` with a whole copy); \
         nothing was loaded",
        cache_path(model, cache_dir).display()
    )
}

/// Refuses two `local:` targets of one model file's content (by its
/// sha256: one file by two names or paths, a link to it, or a copy) with
/// the same settings, before either is loaded: a run would ask every case
/// twice, and could not tell their results apart. A target of a
/// `--targets` file is known by its name, and may be another setting of a
/// model given otherwise.
fn refuse_one_model_twice(resolved: &[ResolvedTarget], files: &[Option<ModelFile>]) -> Result<()> {
    let local = |i: usize| {
        let named_local = resolved[i].id.trim().starts_with("local:");
        files[i].as_ref().filter(|_| named_local)
    };
    for j in 0..resolved.len() {
        for i in 0..j {
            let (Some(a), Some(b)) = (local(i), local(j)) else {
                continue;
            };
            if a.sha256 != b.sha256 || resolved[i].settings != resolved[j].settings {
                continue;
            }
            let (first, second) = (resolved[i].id.trim(), resolved[j].id.trim());
            if first == second {
                bail!("target `{first}` is given twice; give each target once");
            }
            let (pa, pb) = (canonical(&a.path), canonical(&b.path));
            let files = if pa == pb {
                format!("both load `{}`", pa.display())
            } else {
                format!(
                    "`{}` and `{}` hold the same weights",
                    pa.display(),
                    pb.display()
                )
            };
            bail!(
                "targets `{first}` and `{second}` are one local model: {files} (sha256 {}) and \
                 they have the same settings, so every case would be asked twice; give one of \
                 them (two settings of one model are two named targets of a --targets file); \
                 nothing was loaded",
                a.sha256
            );
        }
    }
    Ok(())
}

/// `path` through its symbolic links, or as it is when it cannot be read.
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// How a message names where the value `given` of a flag came from: the
/// `flag`, or, when the flag's environment `variable` holds that value
/// (clap reads it in the flag's absence; the same value in both is named
/// by the variable, as `--db` is), `VARIABLE (the variable of FLAG)`.
pub fn flag_or_variable(flag: &str, variable: &str, given: Option<&str>) -> String {
    let by_variable = given
        .is_some_and(|given| std::env::var_os(variable).is_some_and(|v| v.to_str() == Some(given)));
    if by_variable {
        format!("{variable} (the variable of {flag})")
    } else {
        flag.to_string()
    }
}

/// `Name: value` headers from a flag's values.
pub fn parse_headers(values: &[String], flag: &str) -> Result<BTreeMap<String, String>> {
    xsafe_target::parse_headers(values, flag).map_err(anyhow::Error::msg)
}

/// Builds one resolved target with the backend it names; a local one
/// records the sha256 of its model file ([`RunPlan::MODEL_SHA256`]).
pub fn build(r: &ResolvedTarget, cache_dir: &Path) -> Result<Arc<dyn Target>> {
    build_with(r, model_file(r, cache_dir)?)
}

/// [`build`], with the model file of a local target found already.
fn build_with(r: &ResolvedTarget, file: Option<ModelFile>) -> Result<Arc<dyn Target>> {
    match r.backend.as_str() {
        "openai" => Ok(xsafe_target::build_openai(r)?),
        "local" => build_local(r, file),
        other => bail!("unknown backend `{other}`"),
    }
}

/// A local model whose settings say the sha256 of its model file
/// ([`RunPlan::MODEL_SHA256`]), which a run knows it by; the rest is the
/// model's.
#[cfg_attr(not(feature = "local"), allow(dead_code))]
struct KnownByContent {
    model: Arc<dyn Target>,
    sha256: String,
}

impl Target for KnownByContent {
    fn id(&self) -> &str {
        self.model.id()
    }

    fn settings(&self) -> serde_json::Value {
        let mut settings = self.model.settings();
        settings[RunPlan::MODEL_SHA256] = serde_json::Value::String(self.sha256.clone());
        settings
    }

    // As `#[async_trait]` writes it, which this crate does not depend on.
    fn chat<'a, 'b, 'c>(
        &'a self,
        request: &'b ChatRequest,
    ) -> Pin<Box<dyn Future<Output = Result<ChatResponse, TargetError>> + Send + 'c>>
    where
        'a: 'c,
        'b: 'c,
        Self: 'c,
    {
        self.model.chat(request)
    }

    fn max_concurrency(&self) -> usize {
        self.model.max_concurrency()
    }
}

#[cfg(feature = "local")]
fn build_local(r: &ResolvedTarget, file: Option<ModelFile>) -> Result<Arc<dyn Target>> {
    let Some(ModelFile { path, sha256 }) = file else {
        bail!("target `{}`: no model file was found for it", r.id);
    };
    let known = known_model(&path, &sha256);
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
    let model = xsafe_local::LocalTarget::load(r.id.clone(), &path, options)?;
    Ok(Arc::new(KnownByContent {
        model: Arc::new(model),
        sha256,
    }))
}

/// The known model the file at `path`, whose sha256 is `sha256`, is: as
/// [`xsafe_target::models::known_by_file`] finds it (by the file's name, or
/// the name of the file a link leads to; else, for a file of a model's
/// published size, by its published sha256), without reading the file
/// through again for its sha256.
#[cfg(feature = "local")]
fn known_model(path: &Path, sha256: &str) -> Option<&'static xsafe_target::models::KnownModel> {
    use xsafe_target::models::{KnownModel, MODELS, known_by_file_in};
    // Without their sha256, the models are found by name only.
    let by_name: Vec<KnownModel> = MODELS
        .iter()
        .map(|m| KnownModel { sha256: None, ..*m })
        .collect();
    if let Some(m) = known_by_file_in(path, &by_name) {
        return MODELS.iter().find(|known| known.name == m.name);
    }
    let size = std::fs::metadata(path).ok()?.len();
    MODELS.iter().find(|m| {
        m.size_bytes == Some(size) && m.sha256.is_some_and(|s| s.eq_ignore_ascii_case(sha256))
    })
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
fn build_local(_r: &ResolvedTarget, _file: Option<ModelFile>) -> Result<Arc<dyn Target>> {
    bail!(
        "this xsafe was built without the embedded model engine; rebuild with the `local` feature \
         (the default) or point --target at an OpenAI-compatible server"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A known model is found as `known_by_file` finds it, by the file's
    /// name or, for a file of its published size under another name, by
    /// the sha256 given (here a sparse file, whose own sha256 is another:
    /// the file is not read through again).
    #[cfg(feature = "local")]
    #[test]
    fn a_known_model_is_found_by_name_or_by_the_sha256_given() {
        let base = xsafe_target::models::known("gemma-3-270m").unwrap();
        let (sha, size) = (base.sha256.unwrap(), base.size_bytes.unwrap());
        let dir = tempfile::tempdir().unwrap();
        let named = dir.path().join(base.file_name);
        std::fs::write(&named, b"short").unwrap();
        assert_eq!(
            known_model(&named, &"0".repeat(64)).map(|m| m.name),
            Some(base.name)
        );
        let copy = dir.path().join("copy.gguf");
        std::fs::File::create(&copy).unwrap().set_len(size).unwrap();
        assert_eq!(known_model(&copy, sha).map(|m| m.name), Some(base.name));
        assert_eq!(known_model(&copy, &"0".repeat(64)), None);
        std::fs::write(&copy, b"short").unwrap();
        assert_eq!(known_model(&copy, sha), None, "another size");
    }

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
