//! Target settings, from the command line or a targets file (TOML, several
//! named targets), and the resolution of a `--target` spec into a backend,
//! a model and its settings.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use xsafe_core::TargetError;

/// The backends a target spec may name.
pub const BACKENDS: &[&str] = &["openai", "local"];

/// Everything a target can be told. Every field is optional so that the
/// command line can be laid over a targets file: a flag that was given wins.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSettings {
    /// `openai` or `local` (targets file only; on the command line the
    /// backend is the spec's prefix).
    pub backend: Option<String>,
    /// The model: the name a server is asked for (`openai`), or a known model
    /// name, `default` or a GGUF path (`local`). Required in a targets file.
    pub model: Option<String>,
    /// One base URL, up to `/v1`.
    pub base_url: Option<String>,
    /// Several base URLs serving the same model (replicas); requests go to
    /// the one with the fewest requests outstanding.
    #[serde(default)]
    pub base_urls: Vec<String>,
    /// The environment variable holding the API key (`OPENAI_API_KEY` by
    /// default). The key itself never appears in settings.
    pub api_key_env: Option<String>,
    /// Extra HTTP headers. Their values are sent but never recorded. A
    /// targets file gives them as a table (`headers = { "X-Test" = "1" }`)
    /// or as a list of `Name: value` strings, each read as `--header` reads
    /// its value ([`parse_headers`]): `headers = ["X-Test: 1"]`.
    #[serde(default, deserialize_with = "table_or_list")]
    pub headers: BTreeMap<String, String>,
    /// Sampling temperature (0 by default).
    pub temperature: Option<f64>,
    /// Most tokens per answer (512 by default); a longer answer is cut and
    /// marked as such.
    pub max_tokens: Option<u32>,
    /// The sampling seed of every request to the target, in place of the one
    /// a run gives each request (its seed plus the sample number), so all
    /// samples of a case share it.
    pub seed: Option<u64>,
    /// Stop sequences: generation ends at the first of them. A non-empty list
    /// laid over another replaces it.
    #[serde(default)]
    pub stop: Vec<String>,
    /// The target's own system prompt, sent first in every conversation; a
    /// strategy's system text is joined to it in the same message.
    pub system_prompt: Option<String>,
    /// Seconds one HTTP request may take (120 by default); not used by local
    /// models.
    pub timeout_secs: Option<f64>,
    /// Most requests in flight; for HTTP targets the start of the adaptive
    /// limit as well as its ceiling.
    pub concurrency: Option<usize>,
    /// Retries of a request after a transient failure (e.g. 429, 5xx, a
    /// timeout) before it counts as failed (5 by default); not used by local
    /// models.
    pub max_retries: Option<u32>,
    /// Local models: a chat template (or a name llama.cpp knows) that
    /// replaces the one in the GGUF.
    pub chat_template: Option<String>,
    /// Local models: threads for generation.
    pub threads: Option<usize>,
    /// Local models: context size in tokens.
    pub context: Option<u32>,
}

impl TargetSettings {
    /// Lays `top` over `self`: every value `top` has replaces ours.
    pub fn overlay(&mut self, top: &TargetSettings) {
        macro_rules! take {
            ($($f:ident),*) => {$(
                if top.$f.is_some() { self.$f = top.$f.clone(); }
            )*};
        }
        take!(
            backend,
            model,
            base_url,
            api_key_env,
            temperature,
            max_tokens,
            seed,
            system_prompt,
            timeout_secs,
            concurrency,
            max_retries,
            chat_template,
            threads,
            context
        );
        if !top.base_urls.is_empty() {
            self.base_urls = top.base_urls.clone();
            self.base_url = None;
        } else if top.base_url.is_some() {
            self.base_urls.clear();
        }
        if !top.stop.is_empty() {
            self.stop = top.stop.clone();
        }
        // Header names are case-insensitive: `--header "Authorization: ..."`
        // replaces a file's `authorization`, whatever the spelling.
        for (name, value) in &top.headers {
            self.headers.retain(|k, _| !k.eq_ignore_ascii_case(name));
            self.headers.insert(name.clone(), value.clone());
        }
    }

    /// The base URLs, however they were given, without trailing slashes.
    pub fn urls(&self) -> Vec<String> {
        self.base_url
            .iter()
            .chain(self.base_urls.iter())
            .flat_map(|u| u.split(','))
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect()
    }
}

/// What a malformed header says to write instead.
const HEADER_FORM: &str = "write it as \"Name: value\"";

/// Headers given as `Name: value` strings, as `--header` takes them: each
/// is split at its first colon, and the name and the value are trimmed; a
/// name given twice keeps its last value. `what` names where they were
/// given in the error for one without a colon, which quotes it and says
/// how to write it: ``--header `X-Test 1`: write it as "Name: value"``.
pub fn parse_headers<S: AsRef<str>>(
    values: &[S],
    what: &str,
) -> Result<BTreeMap<String, String>, String> {
    let mut headers = BTreeMap::new();
    for h in values {
        let h = h.as_ref();
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("{what} `{h}`: {HEADER_FORM}"))?;
        headers.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(headers)
}

/// How a targets file's `headers` of one target is read: a table of names
/// and values, or a list of `Name: value` strings (see [`parse_headers`]).
fn table_or_list<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    struct Headers;
    impl<'de> serde::de::Visitor<'de> for Headers {
        type Value = BTreeMap<String, String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(
                "a table of header names and values (headers = { \"X-Test\" = \"1\" }) or a \
                 list of \"Name: value\" strings as --header takes them (headers = \
                 [\"X-Test: 1\"])",
            )
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Self::Value, A::Error> {
            let mut headers = BTreeMap::new();
            while let Some((k, v)) = a.next_entry::<String, String>()? {
                headers.insert(k, v);
            }
            Ok(headers)
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(Item(item)) = a.next_element()? {
                items.push(item);
            }
            // `TargetsFile::parse` names the file and the target in place
            // of this message.
            parse_headers(&items, "headers item").map_err(serde::de::Error::custom)
        }
    }
    d.deserialize_any(Headers)
}

/// One item of a `headers` list: a string, which [`parse_headers`] reads.
struct Item(String);

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = String;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a \"Name: value\" string, as --header takes it")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
                Ok(v.to_string())
            }
        }
        d.deserialize_str(Text).map(Item)
    }
}

/// The error for the first malformed item of a target's `headers` list in
/// a targets file's text, naming the file, the target and the item; `None`
/// when there is none (or the text is not TOML).
fn malformed_header(text: &str, origin: &str) -> Option<TargetError> {
    let file: toml::Table = toml::from_str(text).ok()?;
    let targets = file.get("targets")?.as_table()?;
    targets.iter().find_map(|(name, target)| {
        let items: Vec<&str> = target
            .get("headers")?
            .as_array()?
            .iter()
            .filter_map(toml::Value::as_str)
            .collect();
        let what = format!("targets file `{origin}`, target `{name}`: headers item");
        parse_headers(&items, &what).err().map(TargetError::Config)
    })
}

/// A targets file: `[targets.NAME]` tables of [`TargetSettings`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    /// The targets by name, as `--target NAME` refers to them.
    #[serde(default)]
    pub targets: BTreeMap<String, TargetSettings>,
    /// The file as messages name it (its path, as given to
    /// [`TargetsFile::load`] or as `origin` to [`TargetsFile::parse`]);
    /// empty for a file made otherwise.
    #[serde(skip)]
    pub origin: String,
}

impl TargetsFile {
    /// Reads and checks a targets file; see [`TargetsFile::parse`]. Fails with
    /// [`TargetError::Config`], naming the file, when it cannot be read.
    pub fn load(path: &Path) -> Result<TargetsFile, TargetError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TargetError::Config(format!("targets file `{}`: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a targets file's text, `origin` naming it in messages. Fails
    /// with [`TargetError::Config`] when the TOML is bad or a target names an
    /// unknown backend or no model.
    pub fn parse(text: &str, origin: &str) -> Result<TargetsFile, TargetError> {
        let mut file: TargetsFile = toml::from_str(text).map_err(|e| {
            malformed_header(text, origin)
                .unwrap_or_else(|| TargetError::Config(format!("targets file `{origin}`: {e}")))
        })?;
        for (name, t) in &file.targets {
            let backend = t.backend.as_deref().unwrap_or("openai");
            if !BACKENDS.contains(&backend) {
                return Err(TargetError::Config(format!(
                    "targets file `{origin}`, target `{name}`: unknown backend `{backend}`; use one of {}",
                    BACKENDS.join(", ")
                )));
            }
            if t.model.as_deref().is_none_or(|m| m.trim().is_empty()) {
                return Err(TargetError::Config(format!(
                    "targets file `{origin}`, target `{name}`: `model` is missing; add e.g. model = \"gpt-4o-mini\""
                )));
            }
            if t.system_prompt.as_deref().is_some_and(is_blank) {
                return Err(TargetError::Config(format!(
                    "targets file `{origin}`, target `{name}`: `system_prompt` is empty{}; leave \
                     it out for no system prompt",
                    blank_kind(t.system_prompt.as_deref())
                )));
            }
        }
        file.origin = origin.to_string();
        Ok(file)
    }
}

/// Whether a system prompt says nothing: empty, or only whitespace. Sent,
/// it would be an empty system message, or, joined to a strategy's system
/// text, a stray "\n\n" before it; "no system prompt" is the setting left
/// out.
fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// How a message says a blank system prompt is blank: ` (only whitespace)`
/// for one that is not "".
fn blank_kind(text: Option<&str>) -> &'static str {
    if text.is_some_and(|t| !t.is_empty()) {
        " (only whitespace)"
    } else {
        ""
    }
}

/// The longest a timeout may be: a day.
pub const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// The shortest a timeout may be: a millisecond (less would round to no
/// time at all).
pub const MIN_TIMEOUT_SECS: f64 = 0.001;

/// A timeout in seconds as a duration, or why it cannot be one: it must be
/// a number from [`MIN_TIMEOUT_SECS`] to [`MAX_TIMEOUT_SECS`] (infinity,
/// NaN, 0 and 1e-10 are refused rather than turned into "never" or "at
/// once").
pub fn timeout(secs: f64) -> Result<std::time::Duration, String> {
    if (MIN_TIMEOUT_SECS..=MAX_TIMEOUT_SECS).contains(&secs) {
        Ok(std::time::Duration::from_secs_f64(secs))
    } else {
        Err(format!(
            "give a number of seconds from {MIN_TIMEOUT_SECS} to {MAX_TIMEOUT_SECS}"
        ))
    }
}

/// The highest sampling temperature, as OpenAI's API allows.
pub const MAX_TEMPERATURE: f64 = 2.0;

/// A sampling temperature, or why it cannot be one: a number from 0
/// (greedy) to [`MAX_TEMPERATURE`]. NaN, infinity and negative numbers are
/// refused rather than stored beside answers a local model decoded
/// greedily.
pub fn temperature(t: f64) -> Result<f64, String> {
    if (0.0..=MAX_TEMPERATURE).contains(&t) {
        Ok(t)
    } else {
        Err(format!("give a number from 0 to {MAX_TEMPERATURE}"))
    }
}

/// A `--target` spec resolved into what builds the target.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedTarget {
    /// The target's name in results: the spec as the user gave it.
    pub id: String,
    /// The backend that builds the target, one of [`BACKENDS`].
    pub backend: String,
    /// The model, as the backend takes it (see [`TargetSettings::model`]).
    pub model: String,
    /// The settings to build with: the targets file's, with the command line's
    /// laid over them.
    pub settings: TargetSettings,
    /// Where each setting a message may be about was given (see
    /// [`SettingNames`]), for the target's messages to name what to change.
    pub names: SettingNames,
}

/// The flags that set a target's settings on the command that builds it,
/// as messages name them: a run's target (and its clarifier) takes
/// `--max-tokens` ([`Flags::run`]), an `llm:` judge's model
/// `--judge-max-tokens`. `None` where the command has no flag for the
/// setting (an `llm:` judge's temperature and stop sequences, which only a
/// targets file sets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    /// Sets the sampling temperature (`--temperature`).
    pub temperature: Option<String>,
    /// Sets the most tokens per answer (`--max-tokens`).
    pub max_tokens: Option<String>,
    /// Sets the stop sequences (`--stop`).
    pub stop: Option<String>,
    /// Names the variable of the API key (`--api-key-env`).
    pub api_key_env: Option<String>,
    /// Gives an HTTP header (`--header`).
    pub header: Option<String>,
}

impl Flags {
    /// The flags of `xsafe run`'s targets: `--temperature`, `--max-tokens`,
    /// `--stop`, `--api-key-env` and `--header`.
    pub fn run() -> Flags {
        Flags {
            temperature: Some("--temperature".into()),
            max_tokens: Some("--max-tokens".into()),
            stop: Some("--stop".into()),
            api_key_env: Some("--api-key-env".into()),
            header: Some("--header".into()),
        }
    }
}

/// Where the user gave one setting of a target, and where they may give
/// another, so that a message about it (a 400 that refuses it, a variable
/// it names that is not set) names what to change: the flag of the command
/// that built the target, the target's field in its targets file, or
/// neither (xsafe's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    /// The flag that sets it on the command that built the target
    /// (`--max-tokens`, `--judge-max-tokens`); `None` when the command has
    /// none.
    pub flag: Option<String>,
    /// The targets file (as messages name it) and the target's name in it,
    /// when the target is one of a targets file's.
    pub file: Option<(String, String)>,
    /// Whether the flag gave the value sent.
    pub by_flag: bool,
    /// Whether the targets file gave it (headers may come from both).
    pub by_file: bool,
}

impl Given {
    /// The setting `field` of the target in its targets file, as a message
    /// says it: `` `max_tokens` of target `big` in the targets file `t.toml` ``;
    /// `None` when the target is no file's.
    pub fn in_file(&self, field: &str) -> Option<String> {
        let (path, target) = self.file.as_ref()?;
        Some(if path.is_empty() {
            format!("`{field}` of target `{target}` in a targets file")
        } else {
            format!("`{field}` of target `{target}` in the targets file `{path}`")
        })
    }

    /// Where the value sent was given, as a message says it after "given":
    /// `with --header`, `` in `headers` of target `big` in the targets file
    /// `t.toml` `` (`word` before the file's field: `in`, `as`), both
    /// (joined by "or"), or `None` when neither gave it (xsafe's default).
    pub fn given(&self, field: &str, word: &str) -> Option<String> {
        let flag = self.flag.as_ref().filter(|_| self.by_flag);
        let file = self.in_file(field).filter(|_| self.by_file);
        match (flag, file) {
            (Some(flag), Some(file)) => Some(format!("with {flag} or {word} {file}")),
            (Some(flag), None) => Some(format!("with {flag}")),
            (None, Some(file)) => Some(format!("{word} {file}")),
            (None, None) => None,
        }
    }

    /// How to give the setting `field` another value, as a message says it:
    /// `with --max-tokens`, `` as `max_tokens` of target `big` in the targets
    /// file `t.toml` ``, both (joined by ", or"), or, when the command has
    /// no flag for it (an `llm:` judge's temperature) and the target is no
    /// file's, as a field of a target in a targets file that the judge
    /// names.
    pub fn ways(&self, field: &str) -> String {
        let mut ways = Vec::new();
        if let Some(flag) = &self.flag {
            ways.push(format!("with {flag}"));
        }
        match self.in_file(field) {
            Some(file) => ways.push(format!("as {file}")),
            None if ways.is_empty() => {
                ways.push(format!(
                    "as `{field}` of a target NAME in a --targets file, with --judge llm:NAME"
                ));
            }
            None => {}
        }
        ways.join(", or ")
    }
}

/// Where the settings of a target that a message may be about were given
/// (see [`Given`]): each `None` when not known (a target a program built
/// rather than the command line), and messages then name the flags of
/// `xsafe run`, and a targets file's field, as the places it may have been
/// given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingNames {
    /// The sampling temperature (`temperature`).
    pub temperature: Option<Given>,
    /// The most tokens per answer (`max_tokens`).
    pub max_tokens: Option<Given>,
    /// The stop sequences (`stop`).
    pub stop: Option<Given>,
    /// The variable of the API key (`api_key_env`).
    pub api_key_env: Option<Given>,
    /// The HTTP headers (`headers`).
    pub headers: Option<Given>,
}

impl SettingNames {
    /// Where each setting of `settings` came from: the command line's
    /// settings `cli`, named by `flags`, laid over those of the target
    /// `name` of the targets file `file` (`None` for a target that is no
    /// file's), which the settings are as [`resolve`] lays them.
    pub fn of(
        cli: &TargetSettings,
        flags: &Flags,
        file: Option<(&TargetsFile, &str, &TargetSettings)>,
    ) -> SettingNames {
        let at = file.map(|(f, name, _)| (f.origin.clone(), name.to_string()));
        let own = file.map(|(_, _, own)| own);
        let given = |flag: &Option<String>, by_flag: bool, by_file: bool| {
            Some(Given {
                flag: flag.clone(),
                file: at.clone(),
                by_flag,
                by_file: by_file && own.is_some(),
            })
        };
        let own_has = |has: fn(&TargetSettings) -> bool| own.is_some_and(has);
        // A header of the file's is sent unless a flag gives one of its
        // name (in any case).
        let file_headers = own.is_some_and(|own| {
            own.headers.keys().any(|name| {
                !cli.headers
                    .keys()
                    .any(|flag| flag.eq_ignore_ascii_case(name))
            })
        });
        let (temperature, max_tokens) = (cli.temperature.is_some(), cli.max_tokens.is_some());
        let (stop, api_key_env) = (!cli.stop.is_empty(), cli.api_key_env.is_some());
        SettingNames {
            temperature: given(
                &flags.temperature,
                temperature,
                !temperature && own_has(|s| s.temperature.is_some()),
            ),
            max_tokens: given(
                &flags.max_tokens,
                max_tokens,
                !max_tokens && own_has(|s| s.max_tokens.is_some()),
            ),
            stop: given(&flags.stop, stop, !stop && own_has(|s| !s.stop.is_empty())),
            api_key_env: given(
                &flags.api_key_env,
                api_key_env,
                !api_key_env && own_has(|s| s.api_key_env.is_some()),
            ),
            headers: given(&flags.header, !cli.headers.is_empty(), file_headers),
        }
    }
}

/// Resolves `spec`: a target named in the targets file, or `BACKEND:MODEL`.
/// Settings given on the command line (`cli`) win over the file's. Its
/// messages name the settings as `xsafe run`'s flags (see
/// [`resolve_with`]).
pub fn resolve(
    spec: &str,
    cli: &TargetSettings,
    file: Option<&TargetsFile>,
) -> Result<ResolvedTarget, TargetError> {
    resolve_with(spec, cli, file, &Flags::run())
}

/// [`resolve`], for a command whose flags for the settings `cli` holds are
/// `flags` (an `llm:` judge's `--judge-max-tokens`): the target's messages
/// name them, or the target's fields in the targets file, where the user
/// gave a setting (see [`ResolvedTarget::names`]).
pub fn resolve_with(
    spec: &str,
    cli: &TargetSettings,
    file: Option<&TargetsFile>,
    flags: &Flags,
) -> Result<ResolvedTarget, TargetError> {
    let spec = spec.trim();
    let mut settings = TargetSettings::default();
    let mut own = None;
    let (backend, model) = if let Some(named) = file.and_then(|f| f.targets.get(spec)) {
        settings = named.clone();
        own = file.map(|f| (f, spec, named));
        (
            named.backend.clone().unwrap_or_else(|| "openai".into()),
            named.model.clone().unwrap_or_default(),
        )
    } else if let Some((backend, model)) = spec.split_once(':') {
        if !BACKENDS.contains(&backend) {
            return Err(TargetError::Config(format!(
                "target `{spec}`: unknown backend `{backend}`; available: {}",
                BACKENDS.join(", ")
            )));
        }
        if model.trim().is_empty() {
            return Err(TargetError::Config(format!(
                "target `{spec}`: the model name after `{backend}:` is empty"
            )));
        }
        (backend.to_string(), model.to_string())
    } else {
        let named: Vec<&str> = file
            .map(|f| f.targets.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(TargetError::Config(if named.is_empty() {
            format!(
                "target `{spec}`: write it as BACKEND:MODEL, e.g. `openai:gpt-4o-mini` or `local:gemma-3-270m-it`, or name a target of a --targets file"
            )
        } else {
            format!(
                "target `{spec}` is not in the targets file (it has: {}) and is not BACKEND:MODEL",
                named.join(", ")
            )
        }));
    };
    if cli.system_prompt.as_deref().is_some_and(is_blank) {
        return Err(TargetError::Config(format!(
            "target `{spec}`: --system-prompt is empty{}; leave the flag out for no system \
             prompt",
            blank_kind(cli.system_prompt.as_deref())
        )));
    }
    // A file's own is refused when the file is read (`TargetsFile::parse`);
    // this is for settings made otherwise.
    if settings.system_prompt.as_deref().is_some_and(is_blank) {
        return Err(TargetError::Config(format!(
            "target `{spec}`: system_prompt is empty{} (system_prompt in a targets file); leave \
             it out for no system prompt",
            blank_kind(settings.system_prompt.as_deref())
        )));
    }
    settings.overlay(cli);
    if let Some(secs) = settings.timeout_secs {
        timeout(secs).map_err(|why| {
            TargetError::Config(format!(
                "target `{spec}`: timeout {secs}: {why} (--timeout, or timeout_secs in a targets \
                 file)"
            ))
        })?;
    }
    if let Some(t) = settings.temperature {
        temperature(t).map_err(|why| {
            TargetError::Config(format!(
                "target `{spec}`: temperature {t}: {why} (--temperature, or temperature in a \
                 targets file)"
            ))
        })?;
    }
    let zero = |what: &str, flag: &str, key: &str| {
        TargetError::Config(format!(
            "target `{spec}`: {what} 0 ({flag}, or {key} in a targets file): give 1 or more"
        ))
    };
    if settings.max_tokens == Some(0) {
        return Err(zero("max tokens", "--max-tokens", "max_tokens"));
    }
    if settings.concurrency == Some(0) {
        return Err(zero("concurrency", "--concurrency", "concurrency"));
    }
    Ok(ResolvedTarget {
        id: spec.to_string(),
        backend,
        model,
        settings,
        names: SettingNames::of(cli, flags, own),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_must_be_seconds_above_zero_and_at_most_a_day() {
        let cli = |secs| TargetSettings {
            timeout_secs: Some(secs),
            ..Default::default()
        };
        for bad in [f64::INFINITY, f64::NAN, 0.0, -1.0, 1e20, 1e-10] {
            let err = resolve("openai:m", &cli(bad), None)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("give a number of seconds from 0.001 to 86400")
                    && err.contains("timeout_secs in a targets file"),
                "{bad}: {err}"
            );
        }
        let file = TargetsFile::parse("[targets.t]\nmodel = \"m\"\ntimeout_secs = inf\n", "t.toml")
            .unwrap();
        let err = resolve("t", &TargetSettings::default(), Some(&file)).unwrap_err();
        assert!(
            err.to_string().starts_with("target `t`: timeout inf:"),
            "{err}"
        );
        assert_eq!(timeout(0.5), Ok(std::time::Duration::from_millis(500)));
        assert!(resolve("openai:m", &cli(86_400.0), None).is_ok());
    }

    /// The bugs this guards: a `--header` lost to the file's header of the
    /// same name spelt in another case (an `Authorization` flag sent the
    /// file's token), and zero tokens or zero concurrency went through.
    #[test]
    fn flags_replace_headers_whatever_their_case_and_counts_start_at_one() {
        let file = TargetsFile::parse(
            "[targets.t]\nmodel = \"m\"\nheaders = { authorization = \"Bearer FILE\", x-team = \"a\" }\n",
            "t.toml",
        )
        .unwrap();
        let cli = TargetSettings {
            headers: [
                ("Authorization".to_string(), "Bearer CLI".to_string()),
                ("X-Team".to_string(), "b".to_string()),
            ]
            .into(),
            ..Default::default()
        };
        let r = resolve("t", &cli, Some(&file)).unwrap();
        assert_eq!(
            r.settings.headers,
            [
                ("Authorization".to_string(), "Bearer CLI".to_string()),
                ("X-Team".to_string(), "b".to_string()),
            ]
            .into()
        );
        for (settings, what) in [
            (
                TargetSettings {
                    max_tokens: Some(0),
                    ..Default::default()
                },
                "max tokens 0",
            ),
            (
                TargetSettings {
                    concurrency: Some(0),
                    ..Default::default()
                },
                "concurrency 0",
            ),
        ] {
            let err = resolve("openai:m", &settings, None)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(what) && err.contains("give 1 or more"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_temperature_must_be_from_0_to_2() {
        let cli = |t| TargetSettings {
            temperature: Some(t),
            ..Default::default()
        };
        for bad in [-1.0, f64::NAN, f64::INFINITY, 2.5] {
            let err = resolve("local:m", &cli(bad), None).unwrap_err().to_string();
            assert!(
                err.contains("give a number from 0 to 2")
                    && err.contains("temperature in a targets file"),
                "{bad}: {err}"
            );
        }
        let file = TargetsFile::parse("[targets.t]\nmodel = \"m\"\ntemperature = nan\n", "t.toml")
            .unwrap();
        let err = resolve("t", &TargetSettings::default(), Some(&file)).unwrap_err();
        assert!(
            err.to_string().starts_with("target `t`: temperature NaN:"),
            "{err}"
        );
        for good in [0.0, 0.7, 2.0] {
            assert!(resolve("openai:m", &cli(good), None).is_ok(), "{good}");
        }
    }

    /// Where each setting came from: the flag that was given, else the
    /// file's field, else neither; a file's header a flag of its name
    /// replaced (in any case) is the flag's alone.
    #[test]
    fn names_say_which_layer_gave_each_setting() {
        let file = TargetsFile::parse(
            "[targets.t]\nmodel = \"m\"\nmax_tokens = 9\ntemperature = 0.5\n\
             headers = { authorization = \"Bearer FILE\" }\n",
            "t.toml",
        )
        .unwrap();
        let cli = TargetSettings {
            temperature: Some(1.0),
            headers: [("Authorization".to_string(), "Bearer CLI".to_string())].into(),
            ..Default::default()
        };
        let names = resolve("t", &cli, Some(&file)).unwrap().names;
        let by = |g: Option<Given>| g.map(|g| (g.by_flag, g.by_file)).unwrap();
        assert_eq!(by(names.temperature), (true, false));
        assert_eq!(by(names.max_tokens.clone()), (false, true));
        assert_eq!(by(names.stop), (false, false));
        assert_eq!(by(names.headers), (true, false));
        let tokens = names.max_tokens.unwrap();
        assert_eq!(
            tokens.given("max_tokens", "as").as_deref(),
            Some("as `max_tokens` of target `t` in the targets file `t.toml`")
        );
        assert_eq!(
            tokens.ways("max_tokens"),
            "with --max-tokens, or as `max_tokens` of target `t` in the targets file `t.toml`"
        );
        // A spec that names no target of the file: flags only.
        let names = resolve("openai:m", &cli, Some(&file)).unwrap().names;
        assert_eq!(
            names.max_tokens.unwrap().ways("max_tokens"),
            "with --max-tokens"
        );
    }

    const FILE: &str = r#"
[targets.vllm]
model = "meta-llama/Llama-3.1-8B-Instruct"
base_urls = ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1/"]
headers = { "X-Team" = "safety" }
stop = ["</s>"]
concurrency = 64

[targets.small]
backend = "local"
model = "gemma-3-270m-it"
chat_template = "gemma"
"#;

    #[test]
    fn named_targets_come_from_the_file_and_flags_win() {
        let file = TargetsFile::parse(FILE, "t.toml").unwrap();
        let cli = TargetSettings {
            temperature: Some(0.7),
            concurrency: Some(8),
            ..Default::default()
        };
        let r = resolve("vllm", &cli, Some(&file)).unwrap();
        assert_eq!(r.id, "vllm");
        assert_eq!(r.backend, "openai");
        assert_eq!(r.model, "meta-llama/Llama-3.1-8B-Instruct");
        assert_eq!(
            r.settings.urls(),
            ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"]
        );
        assert_eq!(r.settings.concurrency, Some(8));
        assert_eq!(r.settings.temperature, Some(0.7));
        assert_eq!(r.settings.stop, ["</s>"]);
        assert_eq!(r.settings.headers["X-Team"], "safety");
        let r = resolve("small", &TargetSettings::default(), Some(&file)).unwrap();
        assert_eq!(
            (r.backend.as_str(), r.model.as_str()),
            ("local", "gemma-3-270m-it")
        );
    }

    #[test]
    fn specs_name_a_backend_and_a_model() {
        let r = resolve("openai:gpt-4o-mini", &TargetSettings::default(), None).unwrap();
        assert_eq!(
            (r.backend.as_str(), r.model.as_str()),
            ("openai", "gpt-4o-mini")
        );
        let r = resolve(
            "openai:m",
            &TargetSettings {
                base_url: Some("http://a/v1,http://b/v1".into()),
                ..Default::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(r.settings.urls(), ["http://a/v1", "http://b/v1"]);
        for bad in ["gpt-4o", "magic:m", "openai:"] {
            let err = resolve(bad, &TargetSettings::default(), None).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn bad_files_say_which_target_and_what_to_do() {
        let err = TargetsFile::parse("[targets.a]\nbackend = \"x\"\nmodel = \"m\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.toml") && err.contains("`a`") && err.contains("openai"),
            "{err}"
        );
        let err = TargetsFile::parse("[targets.a]\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`model` is missing"), "{err}");
        let err = TargetsFile::parse("[targets.a]\nmodle = \"m\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("modle"), "{err}");
    }
}
