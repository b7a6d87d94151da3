//! What the proxy reads at start: the profile `xsafe tune` wrote, the
//! server's config file, and the client keys (stored as SHA-256 hashes).

use crate::upstream::Secret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use xsafe_core::{Judge, Strategy};
use xsafe_strategy::{BuildOptions, Composite, Registry, SpecError};

/// Why the proxy cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A config file or profile cannot be read.
    #[error("cannot read the {what} `{path}`: {source}")]
    Read {
        /// What the file is: `profile` or `config file`.
        what: &'static str,
        /// The file that could not be read.
        path: PathBuf,
        /// Why reading it failed.
        source: std::io::Error,
    },
    /// A config file or profile is not valid TOML, lacks a required
    /// setting, has an unknown one, or holds a malformed key hash.
    #[error("`{path}` is not valid: {message}")]
    Invalid {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong with it, as the TOML parser or the check says.
        message: String,
    },
    /// Any other reason the proxy cannot start, e.g. a profile whose strategy
    /// differs from the one tuned, an interactive strategy without a judge, or
    /// no client keys; the message says which and what to do.
    #[error("{0}")]
    Other(String),
}

/// The server's config file (TOML). Flags override it; its strategy files
/// and `--strategy-file`s are read together.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The profile to serve, relative to the config file.
    pub profile: Option<PathBuf>,
    /// The upstream's base URL, ending in `/v1` as in `--base-url`.
    pub upstream: Option<String>,
    /// The address and port to listen on, as `--listen` takes them (e.g.
    /// `127.0.0.1:8080`).
    pub listen: Option<String>,
    /// The environment variable that holds the upstream's API key.
    pub upstream_key_env: Option<String>,
    /// Seconds one client request may take (its arrival, and the
    /// upstream's answer with retries and follow-ups), as `--timeout`.
    pub timeout_secs: Option<f64>,
    /// How many times a request the upstream failed (429, 5xx, no
    /// connection) is sent again, as `--upstream-retries`.
    pub upstream_retries: Option<u32>,
    /// The largest request body accepted, in bytes (larger ones get 413), as
    /// `--max-body-bytes`.
    pub max_body_bytes: Option<usize>,
    /// The most client connections held at once, as `--max-connections`;
    /// unset, it follows from the open-file limit.
    pub max_connections: Option<NonZeroUsize>,
    /// Overrides the profile's judge (interactive strategies).
    pub judge: Option<String>,
    /// Strategy files, relative to the config file, for a profile whose
    /// strategy is not built in; read with the `--strategy-file`s, as if
    /// they were given first.
    #[serde(default)]
    pub strategy_files: Vec<PathBuf>,
    /// Headers sent with every upstream request, by name: an Azure-style
    /// `api-key`, a provider's attribution headers (`HTTP-Referer`,
    /// `X-Title`). A value is given as it is sent, or read from an
    /// environment variable at start (`{ env = "AZURE_KEY" }`), so that a
    /// secret stays out of the file. One named `Authorization` is sent in
    /// place of the bearer key.
    #[serde(default)]
    pub upstream_headers: BTreeMap<String, UpstreamHeader>,
    /// Client keys, as SHA-256 hashes.
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
    /// The file this was read from, for the messages about it.
    #[serde(skip)]
    file: Option<PathBuf>,
}

/// The value of one of [`ServerConfig::upstream_headers`]. Its `Debug`
/// output never shows a value.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
pub enum UpstreamHeader {
    /// The value, as it is sent.
    Value(String),
    /// The environment variable whose value is sent, read at start.
    Env {
        /// The variable's name.
        env: String,
    },
}

impl std::fmt::Debug for UpstreamHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamHeader::Value(_) => f.write_str("Value(<redacted>)"),
            UpstreamHeader::Env { env } => f.debug_struct("Env").field("env", env).finish(),
        }
    }
}

/// One client key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Who holds the key; logged instead of the key.
    pub name: String,
    /// The key's SHA-256, in hex.
    pub sha256: String,
}

impl ServerConfig {
    /// Reads the config file at `path`; a relative `profile` or strategy
    /// file is taken from the file's directory. Fails when the file cannot
    /// be read, is not valid TOML, has an unknown setting, holds a key
    /// whose `sha256` is not 64 hex digits or two keys of one `name`, sets
    /// `max_body_bytes = 0` (every request would be refused), or names an
    /// upstream header that cannot be sent (or that the proxy sets itself)
    /// or that is named as a top-level setting (written below
    /// `[upstream_headers]`, which TOML reads as a header).
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            what: "config file",
            path: path.to_path_buf(),
            source,
        })?;
        if let Some(setting) = setting_in_upstream_headers(&text) {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                message: format!(
                    "`upstream_headers`: `{setting}` is a top-level setting, but it is written \
                     below the `[upstream_headers]` header, and every line below a table's header belongs \
                     to that table (here it would be sent upstream as a header, and the setting \
                     not applied): put the top-level settings ({}) before the first table \
                     (`[upstream_headers]`, `[[keys]]`)",
                    settings_list()
                ),
            });
        }
        let mut config: ServerConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: if looks_like_profile(&text) {
                "this is not a config file of `xsafe serve` but looks like a profile written by \
                 `xsafe tune` (it has a `[choice]` or a `[profile]` table): give it with \
                 --profile (or as `profile = \"PATH\"` in the config file), and the config \
                 file with --config"
                    .to_string()
            } else if xsafe_strategy::looks_like_json(&text) {
                format!(
                    "{}; {}",
                    e.to_string().trim_end(),
                    xsafe_strategy::JSON_HINT
                )
            } else if let Some(setting) = setting_in_a_key(e.message()) {
                format!(
                    "{}; `{setting}` is a top-level setting, but it is written below a \
                     `[[keys]]` header, and every line below a table's header belongs to that \
                     table (here to a client key, which has only `name` and `sha256`): put the \
                     top-level settings ({}) before the first `[[keys]]` table (`xsafe serve \
                     hash-key ... >> FILE` adds one at the end of the file)",
                    e.to_string().trim_end(),
                    settings_list()
                )
            } else {
                e.to_string()
            },
        })?;
        let files = config.strategy_files.iter_mut();
        for p in config.profile.iter_mut().chain(files) {
            if p.is_relative()
                && let Some(dir) = path.parent()
            {
                *p = dir.join(&*p);
            }
        }
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        for (i, key) in config.keys.iter().enumerate() {
            if parse_hash(&key.sha256).is_none() {
                return Err(invalid(format!(
                    "key `{}`: `sha256` must be 64 hex digits (`xsafe serve hash-key` makes one)",
                    key.name
                )));
            }
            if config.keys[..i].iter().any(|k| k.name == key.name) {
                return Err(invalid(format!(
                    "two `[[keys]]` are named `{}`: the log names each request's client by its \
                     key's name, so each key needs a name of its own; rename one",
                    key.name
                )));
            }
        }
        if config.max_body_bytes == Some(0) {
            return Err(invalid(
                "`max_body_bytes = 0` would refuse every request with 413: give the largest \
                 request body to accept, in bytes (1048576 by default), or leave the line out"
                    .into(),
            ));
        }
        for (i, (name, value)) in config.upstream_headers.iter().enumerate() {
            let field = format!("`upstream_headers`: the header `{name}`");
            // Header names are the same in any case: both would be sent.
            if let Some(other) = config
                .upstream_headers
                .keys()
                .take(i)
                .find(|other| other.trim().eq_ignore_ascii_case(name.trim()))
            {
                return Err(invalid(format!(
                    "`upstream_headers`: the headers `{other}` and `{name}` are the same header \
                     (names are the same in any case), and both would be sent: keep one"
                )));
            }
            let Ok(header) = reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()) else {
                return Err(invalid(format!(
                    "{field} is not a valid HTTP header name (letters, digits and `-`, say)"
                )));
            };
            if let Some(why) = crate::proxy::proxys_own_header(header.as_str()) {
                return Err(invalid(format!(
                    "{field} is the proxy's own to send ({why}): leave it out"
                )));
            }
            match value {
                UpstreamHeader::Value(v) if reqwest::header::HeaderValue::from_str(v).is_err() => {
                    return Err(invalid(format!(
                        "{field} has a value that is not a valid HTTP header value (a line \
                         break or another control character in it?)"
                    )));
                }
                UpstreamHeader::Env { env } if env.trim().is_empty() => {
                    return Err(invalid(format!(
                        "{field}: `env` must name the environment variable holding its value"
                    )));
                }
                _ => {}
            }
        }
        config.file = Some(path.to_path_buf());
        Ok(config)
    }

    /// The upstream headers as they are sent, `(name, value)`, a value
    /// given as `{ env = "VAR" }` read from `VAR` now. Fails, naming the
    /// header and the variable (never a value), when a variable is not set
    /// or is empty.
    pub fn upstream_headers(&self) -> Result<Vec<(String, Secret)>, ConfigError> {
        let mut headers = Vec::with_capacity(self.upstream_headers.len());
        for (name, value) in &self.upstream_headers {
            let value = match value {
                UpstreamHeader::Value(v) => v.clone(),
                UpstreamHeader::Env { env } => std::env::var(env.trim())
                    .ok()
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| {
                        let file = self
                            .file
                            .as_deref()
                            .map(|f| format!(" in the config file `{}`", f.display()))
                            .unwrap_or_default();
                        ConfigError::Other(format!(
                            "`upstream_headers`{file}: the header `{name}` takes its value from \
                             the environment variable `{env}`, which is not set or is empty; \
                             export it, or remove the header"
                        ))
                    })?,
            };
            headers.push((name.trim().to_string(), Secret(value)));
        }
        Ok(headers)
    }

    /// The keys as `(name, hash)` pairs.
    pub fn key_hashes(&self) -> Vec<(String, [u8; 32])> {
        self.keys
            .iter()
            .filter_map(|k| parse_hash(&k.sha256).map(|h| (k.name.clone(), h)))
            .collect()
    }
}

/// Whether `text`, refused as a config file of `xsafe serve`, is TOML that
/// looks like a profile `xsafe tune` wrote: a `[choice]` table, or a
/// `[profile]` table (a config file's `profile` is a path).
fn looks_like_profile(text: &str) -> bool {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return false;
    };
    table.get("choice").is_some_and(toml::Value::is_table)
        || table.get("profile").is_some_and(toml::Value::is_table)
}

/// The top-level settings of a serve config file ([`ServerConfig`]'s
/// fields).
const TOP_LEVEL: [&str; 12] = [
    "profile",
    "upstream",
    "listen",
    "upstream_key_env",
    "timeout_secs",
    "upstream_retries",
    "max_body_bytes",
    "max_connections",
    "judge",
    "strategy_files",
    "upstream_headers",
    "keys",
];

/// The top-level settings written as a line (not a table), quoted and
/// joined, for the messages saying where they go.
fn settings_list() -> String {
    TOP_LEVEL
        .iter()
        .filter(|s| **s != "keys" && **s != "upstream_headers")
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The top-level setting `text` has as a header of its
/// `[upstream_headers]` table: a setting written below that table's
/// header, which TOML reads as the table's (a header sent upstream).
fn setting_in_upstream_headers(text: &str) -> Option<&'static str> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let headers = table.get("upstream_headers")?.as_table()?;
    TOP_LEVEL
        .iter()
        .find(|setting| headers.contains_key(**setting))
        .copied()
}

/// The top-level setting a TOML parse error's `message` finds unknown in
/// a `[[keys]]` entry (`unknown field `listen`, expected `name` or
/// `sha256``): a setting written below a key appended to the file, which
/// TOML reads as the key's.
fn setting_in_a_key(message: &str) -> Option<&str> {
    let rest = message.trim().strip_prefix("unknown field `")?;
    let (unknown, expected) = rest.split_once('`')?;
    let in_a_key = expected.trim() == ", expected `name` or `sha256`";
    (in_a_key && TOP_LEVEL.contains(&unknown)).then_some(unknown)
}

/// The settings of a serve config file that `text` has, quoted, when it
/// reads as one and not as a profile (no `[choice]`): a config file given
/// as the profile by mistake.
fn serve_config_settings(text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    if table.contains_key("choice") {
        return None;
    }
    let found: Vec<String> = TOP_LEVEL
        .iter()
        .filter(|name| match table.get(**name) {
            // A profile's `[profile]` is a table; a config file's a path.
            Some(v) if **name == "profile" => v.is_str(),
            Some(_) => true,
            None => false,
        })
        .map(|name| format!("`{name}`"))
        .collect();
    (!found.is_empty()).then(|| found.join(", "))
}

fn parse_hash(hex_text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_text.trim()).ok()?;
    bytes.try_into().ok()
}

/// The SHA-256 of a client key, in hex: what the config file stores.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The parts of a profile the proxy uses.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The profile file it was read from, named in error messages.
    pub path: PathBuf,
    /// The chosen strategy's name, e.g. `contextual+few-shot`.
    pub strategy: String,
    /// Its definition as tuning recorded it.
    pub definition: toml::Value,
    /// The judge tuning used, `name@version`.
    pub judge: Option<String>,
    /// The version of xsafe that tuned it (`[profile] xsafe_version`),
    /// named when its built-in strategy is not this xsafe's.
    pub xsafe_version: Option<String>,
    /// The target tuning measured.
    pub target: Option<String>,
    /// The settings that target was measured with (`[profile.target_settings]`).
    pub target_settings: Option<toml::Value>,
    /// Whether the choice held on the held-out part (`[heldout] check`:
    /// `passed` or `failed`), with tune's reason; `None` for a profile
    /// written before tune checked it.
    pub heldout_check: Option<(String, String)>,
    /// How many of the conversations tune measured on its calibration
    /// and held-out parts the proxy sends otherwise, as it gets no
    /// prompt's type (`proxy_differs_safe`, `proxy_differs_unsafe` of
    /// `[calibration]` and `[heldout]`); `None` for a profile written
    /// before tune counted them.
    pub sent_otherwise: Option<[SentOtherwise; 2]>,
}

/// Of one part of a tune (calibration or held-out), how many prompts the
/// proxy sends another conversation for than tune measured, since it gets
/// no prompt's type and reads one from the prompt's words
/// ([`xsafe_strategy::Composite::sends_otherwise_untyped`]), safe and
/// unsafe apart, out of how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SentOtherwise {
    /// Safe prompts sent otherwise.
    pub safe: usize,
    /// The part's safe prompts.
    pub safe_cases: usize,
    /// Unsafe prompts sent otherwise.
    pub unsafe_: usize,
    /// The part's unsafe prompts.
    pub unsafe_cases: usize,
}

impl SentOtherwise {
    /// Prompts sent otherwise, safe and unsafe.
    pub fn differ(&self) -> usize {
        self.safe + self.unsafe_
    }

    /// The part's prompts.
    pub fn cases(&self) -> usize {
        self.safe_cases + self.unsafe_cases
    }
}

/// What `xsafe tune` (writing the profile) and `xsafe serve` (starting
/// with it) say when the proxy sends some of the conversations tune
/// measured otherwise (`parts`: the calibration and the held-out part's
/// counts): which, and what the tuned rates then describe. `None` when it
/// sends them all as measured.
pub fn sent_otherwise_warning(strategy: &str, parts: &[SentOtherwise; 2]) -> Option<String> {
    let differ: usize = parts.iter().map(SentOtherwise::differ).sum();
    if differ == 0 {
        return None;
    }
    let cases: usize = parts.iter().map(SentOtherwise::cases).sum();
    let counts: Vec<String> = parts
        .iter()
        .zip(["calibration", "held-out"])
        .map(|(p, part)| {
            format!(
                "{} of {} safe and {} of {} unsafe {part} prompts",
                p.safe, p.safe_cases, p.unsafe_, p.unsafe_cases
            )
        })
        .collect();
    Some(format!(
        "the proxy sends another conversation than tune measured for {}: tune gave the \
         strategy `{strategy}` each prompt's type from the suite, but the proxy gets no type \
         and reads one from the prompt's words (the `[detect]` cues of its contexts file), \
         which for these prompts finds none or another, with other texts (a context note, a \
         follow-up); so the tuned rates describe conversations the proxy will send for only {} \
         of {cases} prompts. `xsafe strategies show {strategy} --prompt TEXT` without --type \
         shows what the proxy sends for a prompt; cues that find the types of your prompts (or \
         a strategy that reads no type) make the two agree",
        counts.join(", and "),
        cases - differ,
    ))
}

#[derive(Deserialize)]
struct ProfileFile {
    #[serde(default)]
    profile: ProfileHeader,
    choice: ProfileChoice,
    calibration: Option<PartCounts>,
    heldout: Option<HeldoutCheck>,
}

#[derive(Deserialize)]
struct HeldoutCheck {
    check: Option<String>,
    #[serde(default)]
    check_reason: String,
    #[serde(flatten)]
    counts: PartCounts,
}

/// A part's counts of prompts, as tune writes them in `[calibration]`
/// and `[heldout]`.
#[derive(Deserialize)]
struct PartCounts {
    safe_cases: Option<usize>,
    unsafe_cases: Option<usize>,
    proxy_differs_safe: Option<usize>,
    proxy_differs_unsafe: Option<usize>,
}

impl PartCounts {
    fn sent_otherwise(&self) -> Option<SentOtherwise> {
        Some(SentOtherwise {
            safe: self.proxy_differs_safe?,
            safe_cases: self.safe_cases?,
            unsafe_: self.proxy_differs_unsafe?,
            unsafe_cases: self.unsafe_cases?,
        })
    }
}

#[derive(Default, Deserialize)]
struct ProfileHeader {
    xsafe_version: Option<String>,
    target: Option<String>,
    judge: Option<String>,
    target_settings: Option<toml::Value>,
}

#[derive(Deserialize)]
struct ProfileChoice {
    strategy: String,
    definition: Option<toml::Value>,
}

impl Profile {
    /// Reads the profile `xsafe tune` wrote at `path`. Fails when the file
    /// cannot be read or is not a profile (no `[choice]` table with a
    /// `strategy`); a profile without a recorded definition gets an empty one.
    pub fn load(path: &Path) -> Result<Profile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            what: "profile",
            path: path.to_path_buf(),
            source,
        })?;
        let file: ProfileFile = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: match serve_config_settings(&text) {
                Some(settings) => format!(
                    "this is not a profile but a config file of `xsafe serve` (it sets \
                     {settings}): give it with --config, and the profile `xsafe tune` wrote with \
                     --profile (or as `profile` in the config file)"
                ),
                None => format!("{e} (a profile is what `xsafe tune` writes)"),
            },
        })?;
        let sent_otherwise = file
            .calibration
            .as_ref()
            .and_then(PartCounts::sent_otherwise)
            .zip(
                file.heldout
                    .as_ref()
                    .and_then(|h| h.counts.sent_otherwise()),
            )
            .map(|(c, h)| [c, h]);
        Ok(Profile {
            sent_otherwise,
            path: path.to_path_buf(),
            strategy: file.choice.strategy,
            definition: file
                .choice
                .definition
                .unwrap_or_else(|| toml::Value::Table(Default::default())),
            judge: file.profile.judge,
            xsafe_version: file.profile.xsafe_version,
            target: file.profile.target,
            target_settings: file.profile.target_settings,
            heldout_check: file
                .heldout
                .and_then(|h| h.check.map(|c| (c, h.check_reason))),
        })
    }

    /// Refuses a profile whose choice failed tune's held-out check: on
    /// prompts it was not chosen on, it let through unsafe prompts baseline
    /// refused, or refused more safe prompts than baseline, beyond noise
    /// (the gain did not hold). `Ok(false)` for a profile written before the check, which
    /// the caller may warn about.
    pub fn check_heldout(&self) -> Result<bool, ConfigError> {
        match &self.heldout_check {
            Some((check, reason)) if check == "failed" => Err(ConfigError::Other(format!(
                "profile `{}`: its strategy `{}` failed tune's held-out check ({reason}); serving \
                 it would serve what the check caught: tune again (a larger suite, or without \
                 that strategy)",
                self.path.display(),
                self.strategy
            ))),
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }

    /// What to say at start-up when the proxy sends some of the
    /// conversations tune measured otherwise, as it gets no prompt's type
    /// (see [`sent_otherwise_warning`]); `None` when it sends them all as
    /// measured, or the profile does not say (written before tune counted
    /// them).
    pub fn sent_otherwise_warning(&self) -> Option<String> {
        let parts = self.sent_otherwise.as_ref()?;
        sent_otherwise_warning(&self.strategy, parts)
            .map(|w| format!("profile `{}`: {w}", self.path.display()))
    }

    /// What tuning measured with that the proxy does not apply: the target's
    /// own system prompt and a temperature above 0. The proxy passes on each
    /// client's messages and settings, so the profile's rates hold for
    /// clients that send the same; empty when nothing needs saying.
    pub fn unapplied_settings(&self) -> Vec<String> {
        let Some(settings) = &self.target_settings else {
            return Vec::new();
        };
        let mut said = Vec::new();
        if let Some(prompt) = settings.get("system_prompt").and_then(|v| v.as_str()) {
            let shown: String = prompt.chars().take(60).collect();
            let cut = if shown.len() < prompt.len() {
                "..."
            } else {
                ""
            };
            said.push(format!("the system prompt \"{shown}{cut}\""));
        }
        let temperature = settings.get("temperature").and_then(|v| v.as_float());
        if let Some(t) = temperature.filter(|t| *t > 0.0) {
            said.push(format!("temperature {t}"));
        }
        said
    }

    /// Builds the profile's strategy by name and checks that it is the one
    /// tuning measured: a strategy whose texts or exemplars changed since
    /// is another strategy, and serving it would serve unmeasured behaviour.
    /// Both are compared as [`xsafe_strategy::identity`] reads them, as a
    /// run's key is: without the description and the data files' folders,
    /// which change nothing sent. Strategies `registry` does not have are
    /// refused naming, all at once, the strategy files the profile records
    /// them from; one that differs, naming the first difference with both
    /// values, the strategy file it was built from, if any, and what can
    /// serve the profile: for a built-in this xsafe's texts differ from,
    /// tuning again or the xsafe version that tuned it (no strategy file
    /// is a built-in); for a file replacing the built-in the profile was
    /// tuned with, removing that file; for the built-in serving a step the
    /// profile records from a file, passing that file.
    pub fn build_strategy(
        &self,
        registry: &Registry,
        options: &BuildOptions,
    ) -> Result<Composite, ConfigError> {
        // Every strategy file it lacks is named at once, before building
        // stops at the first (or, for a composition file's step, says the
        // step is unknown without the file the profile records).
        if let Some(lacking) = self.lacking(None, registry) {
            return Err(ConfigError::Other(lacking));
        }
        let strategy = registry.build(&self.strategy, options).map_err(|e| {
            ConfigError::Other(match e {
                SpecError::Unknown { name, .. } => {
                    self.lacking(Some(&name), registry).unwrap_or_else(|| {
                        format!(
                            "profile `{}`: unknown strategy `{name}`",
                            self.path.display()
                        )
                    })
                }
                e => format!("profile `{}`: {e}", self.path.display()),
            })
        })?;
        // A profile written by hand without the definition has nothing to
        // compare with: said so, not as a difference at its first field.
        if self.definition.as_table().is_some_and(|t| t.is_empty()) {
            return Err(ConfigError::Other(format!(
                "profile `{}`: `[choice.definition]` is missing: it records the strategy `{}` as \
                 it was tuned (its texts and exemplars), so that serve can check it serves the \
                 same; `xsafe tune` writes it (`xsafe strategies show {} --json` prints this \
                 xsafe's definition)",
                self.path.display(),
                self.strategy,
                self.strategy
            )));
        }
        let built = strategy.definition();
        // A profile's definition is the JSON one as TOML (`json_to_toml`):
        // read back as JSON, it is what `identity` reads.
        let tuned = serde_json::to_value(&self.definition).unwrap_or_default();
        if let Some(why) = unservable(&tuned) {
            return Err(ConfigError::Other(format!(
                "profile `{}`: {why}",
                self.path.display()
            )));
        }
        let differences = xsafe_core::differences(&identity(&built), &identity(&tuned));
        if differences.is_empty() {
            return Ok(strategy);
        }
        // A difference in the steps' names (another order, a step more or
        // fewer) is the composition's own: its file, which the profile
        // does not record, changed, not a step's.
        if let Some(why) = self.steps_changed(registry, &built, &tuned) {
            return Err(ConfigError::Other(why));
        }
        // A way of working this xsafe no longer has (few-shot-nearest's
        // `selection_version`, interactive's `turn_version`) cannot come
        // back from a strategy file: that difference is the one to name.
        let versioned = differences.iter().find(|d| {
            d.path
                .rsplit('.')
                .next()
                .is_some_and(|k| k.ends_with("_version"))
        });
        let shown = versioned.unwrap_or(&differences[0]);
        // The steps the difference is in: its own, or, for a difference
        // outside the steps, all of them; each as `(its name, the file the
        // profile records it from)`.
        let count = |d: &serde_json::Value| d["steps"].as_array().map_or(0, Vec::len);
        let steps: Vec<usize> = match step_index(&shown.path) {
            Some(i) => vec![i],
            None => (0..count(&built).max(count(&tuned))).collect(),
        };
        let steps: Vec<(&str, Option<&str>)> = steps
            .into_iter()
            .map(|i| {
                let name = built["steps"][i]["name"].as_str();
                let name = name.or(tuned["steps"][i]["name"].as_str());
                (name.unwrap_or_default(), tuned["steps"][i]["file"].as_str())
            })
            .collect();
        // The strategy file `registry` has the step from, if not built in.
        let file_of = |name: &str| {
            registry
                .file(name)
                .filter(|file| file.path.is_some())
                .map(|file| file.source.as_str())
        };
        let built_in = |recorded: Option<&str>| recorded.is_some_and(|f| f.starts_with("builtin:"));
        // The strategy files the difference comes from: the differing
        // step's, or, for a difference outside the steps, all of them (a
        // composition's own file too).
        let from_files: Vec<&str> = match step_index(&shown.path) {
            Some(_) => steps.iter().filter_map(|(name, _)| file_of(name)).collect(),
            None => registry
                .parts(&self.strategy)
                .iter()
                .filter_map(|name| file_of(name))
                .collect(),
        };
        let files = quoted_list(&from_files);
        let gives = if from_files.is_empty() || versioned.is_some() {
            "this xsafe builds".to_string()
        } else if from_files.len() == 1 {
            format!("the strategy file {files} gives")
        } else {
            format!("the strategy files {files} give")
        };
        // A built-in strategy's texts are this xsafe's: no strategy file
        // is one (its name is `builtin:NAME`, its data `builtin`), so a
        // profile tuned with another xsafe's is served by that xsafe, or
        // tuned again.
        let tuned_by = match self.xsafe_version.as_deref() {
            Some(v) if v == env!("CARGO_PKG_VERSION") => {
                format!(" (another build of xsafe {v}, as its `[profile] xsafe_version` says)")
            }
            Some(v) => format!(
                " (xsafe {v}, as its `[profile] xsafe_version` says; this is {})",
                env!("CARGO_PKG_VERSION")
            ),
            None => String::new(),
        };
        let other_xsafe = |what: String| {
            format!(
                "{what}: tune again with this xsafe, or serve the profile with the xsafe version \
                 it was tuned with{tuned_by}"
            )
        };
        // A file replacing the built-in the profile was tuned with.
        let replacing = steps.iter().find_map(|(name, recorded)| {
            Some((name, file_of(name).filter(|_| built_in(*recorded))?))
        });
        // The built-in serving a step the profile records from a file
        // (which replaced the built-in when it was tuned).
        let replaced = steps.iter().find_map(|(name, recorded)| {
            let recorded = recorded.filter(|f| !f.starts_with("builtin:"))?;
            file_of(name).is_none().then_some((name, recorded))
        });
        let fix = if versioned.is_some() {
            "this xsafe works otherwise than the one that tuned the profile, and no strategy \
             file brings that back: run `xsafe tune` again"
                .to_string()
        } else if let Some((name, file)) = replacing {
            format!(
                "the profile was tuned with the built-in `{name}`, which the strategy file \
                 `{file}` replaces: remove that --strategy-file (or its entry in the config \
                 file's `strategy_files`) to serve the built-in one"
            )
        } else if let Some((name, file)) = replaced {
            format!(
                "the profile records `{name}` from the strategy file `{file}`, which replaced \
                 the built-in `{name}` when it was tuned: pass that file with --strategy-file, \
                 or list it in `strategy_files` in the config file (--config)"
            )
        } else if let Some((name, _)) = steps.iter().find(|(_, recorded)| built_in(*recorded)) {
            other_xsafe(format!(
                "this xsafe's built-in `{name}` is not the one the profile was tuned with"
            ))
        } else if from_files.is_empty() {
            other_xsafe("this xsafe builds another strategy than the one tuned".to_string())
        } else if shown.path.ends_with(".file") {
            format!(
                "a strategy file's name is part of the strategy tuned, as it is of a run's key: \
                 serve it from a file named {}, as it was tuned, or tune again with {files} and \
                 serve the new profile",
                shown.was
            )
        } else {
            let (it, them) = match from_files.len() {
                1 => ("it", "it"),
                _ => ("one", "them"),
            };
            format!(
                "{files} (or a data file {it} names) is not as it was when the profile was \
                 tuned: serve the files it was tuned with, or tune again with {them} and serve \
                 the new profile"
            )
        };
        let at = if shown.path.is_empty() {
            "the top"
        } else {
            &shown.path
        };
        let more = match differences.len() {
            1 => String::new(),
            2 => " (and 1 more difference)".to_string(),
            n => format!(" (and {} more differences)", n - 1),
        };
        Err(ConfigError::Other(format!(
            "profile `{}`: the strategy `{}` differs from the one the profile was tuned with at \
             `{at}`, where the profile records {} and {gives} {}{more}; {fix}",
            self.path.display(),
            self.strategy,
            shown.was,
            shown.now,
        )))
    }

    /// Why the strategy `registry` builds (`built`, its definition) is not
    /// the one the profile was tuned with (`tuned`), when their steps'
    /// names differ (another order, a step more or fewer): the file of a
    /// composition among its parts changed, which the profile does not
    /// record by name (it records the steps), so the steps' own files are
    /// not to blame. Names the composition files and shows both lists of
    /// steps. `None` when the names agree, or when no composition file is
    /// among its parts (the difference is then a step's: see the caller).
    fn steps_changed(
        &self,
        registry: &Registry,
        built: &serde_json::Value,
        tuned: &serde_json::Value,
    ) -> Option<String> {
        let names = |d: &serde_json::Value| -> Vec<String> {
            d["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s["name"].as_str().unwrap_or("?").to_string())
                .collect()
        };
        let (now, was) = (names(built), names(tuned));
        if now == was {
            return None;
        }
        let compositions: Vec<&str> = registry
            .parts(&self.strategy)
            .iter()
            .filter_map(|name| registry.file(name))
            .filter(|f| f.path.is_some() && matches!(f.kind, xsafe_strategy::Kind::Composition(_)))
            .map(|f| f.source.as_str())
            .collect();
        if compositions.is_empty() {
            return None;
        }
        let listed = |steps: &[String]| match steps {
            [] => "none".to_string(),
            _ => steps
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let (file, gives, which, it) = match compositions.as_slice() {
            [one] => (
                format!("the composition file `{one}`"),
                "gives",
                "the composition file",
                "it",
            ),
            several => (
                format!("the composition files {}", quoted_list(several)),
                "give",
                "one of the composition files",
                "them",
            ),
        };
        let what = if now.len() != was.len() {
            "a step added or removed"
        } else {
            let mut a = now.clone();
            let mut b = was.clone();
            a.sort();
            b.sort();
            if a == b {
                "the steps' order"
            } else {
                "another step"
            }
        };
        Some(format!(
            "profile `{}`: the strategy `{}` differs from the one the profile was tuned with in \
             its steps: the profile records the steps {} and {file} now {gives} {} ({what}); \
             {which} changed since the profile was tuned (the steps' own files are not at \
             fault): serve {it} as {it} was, or tune again with {it} and serve the new profile",
            self.path.display(),
            self.strategy,
            listed(&was),
            listed(&now),
        ))
    }

    /// Why the profile's strategy cannot be built, if `registry` lacks a
    /// strategy it needs: its name's parts (those of an `a+b`), the steps
    /// the profile records from files, or `missing`, the one building
    /// found unknown (a step of a composition in a composition). Names
    /// them all at once, with the strategy file the profile records each
    /// from (a step's `file`), or, for a composition (whose own file the
    /// profile does not record), that it is one; and where to give them.
    /// `None` when `registry` has them all.
    fn lacking(&self, missing: Option<&str>, registry: &Registry) -> Option<String> {
        let steps = self.definition.get("steps").and_then(|s| s.as_array());
        // `(step name, its strategy file)` of the steps from files.
        let recorded: Vec<(&str, Option<&str>)> = steps
            .into_iter()
            .flatten()
            .filter_map(|step| {
                let name = step.get("name")?.as_str()?;
                let file = step.get("file").and_then(|f| f.as_str());
                (!file.is_some_and(|f| f.starts_with("builtin:"))).then_some((name, file))
            })
            .collect();
        // `None` for a strategy the profile does not record as a step (a
        // composition); `Some(None)` for one recorded without its file.
        let recorded_as = |name: &str| {
            recorded
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, file)| *file)
        };
        // What `registry` lacks: the strategy's parts, the steps the
        // profile records from files (a composition's), and `missing`,
        // should it be neither (a step of a composition in a composition);
        // each with whether it is a part.
        let parts: Vec<&str> = self.strategy.split('+').map(str::trim).collect();
        let mut lacking: Vec<(&str, bool)> = Vec::new();
        let candidates = parts
            .iter()
            .copied()
            .chain(recorded.iter().map(|(n, _)| *n));
        for name in candidates.chain(missing) {
            if registry.file(name).is_none() && !lacking.iter().any(|(n, _)| *n == name) {
                lacking.push((name, parts.contains(&name)));
            }
        }
        if lacking.is_empty() {
            return None;
        }
        let top: Vec<&str> = lacking
            .iter()
            .filter(|(_, p)| *p)
            .map(|(n, _)| *n)
            .collect();
        let below: Vec<&str> = lacking
            .iter()
            .filter(|(_, p)| !*p)
            .map(|(n, _)| *n)
            .collect();
        // "which is" or "are", "records it" or "them".
        let is = |n: usize| {
            if n == 1 {
                ("is", "it")
            } else {
                ("are", "them")
            }
        };
        let whose = match (top.as_slice(), below.as_slice()) {
            ([only], _) if parts.len() == 1 => format!("its strategy `{only}` is not built in"),
            ([], steps) => format!(
                "its strategy `{}` has the step{} {}, which {} not built in",
                self.strategy,
                plural(steps.len()),
                quoted_list(steps),
                is(steps.len()).0
            ),
            (top, _) => format!(
                "its strategy `{}` has the part{} {}, which {} not built in",
                self.strategy,
                plural(top.len()),
                quoted_list(top),
                is(top.len()).0
            ),
        };
        let given: Vec<&str> = registry
            .names()
            .filter(|name| registry.file(name).is_some_and(|f| f.path.is_some()))
            .collect();
        let given = if given.is_empty() {
            ", and no strategy file was given".to_string()
        } else {
            format!(
                ", nor in the strategy files given (which define {})",
                quoted_list(&given)
            )
        };
        // What the profile says of them, and what to pass.
        let (recorded, pass) = match lacking
            .iter()
            .map(|(name, _)| recorded_as(name).flatten())
            .collect::<Option<Vec<&str>>>()
        {
            // Every one recorded with its file.
            Some(files) => {
                let (_, it) = is(files.len());
                let (s, that) = match files.len() {
                    1 => ("", "that file"),
                    _ => ("s", "those files"),
                };
                (
                    vec![format!(
                        "the profile records {it} from the strategy file{s} {}",
                        quoted_list(&files)
                    )],
                    vec![that.to_string()],
                )
            }
            None => {
                let (mut said, mut pass) = (Vec::new(), Vec::new());
                let mut compositions = Vec::new();
                for name in &top {
                    match recorded_as(name) {
                        Some(Some(file)) => {
                            said.push(format!(
                                "the profile records `{name}` from the strategy file `{file}`"
                            ));
                            pass.push(format!("`{file}`"));
                        }
                        Some(None) if lacking.len() == 1 => {
                            said.push(
                                "the profile does not record its strategy file's name".to_string(),
                            );
                            pass.push(format!("the strategy file that defines `{name}`"));
                        }
                        Some(None) => {
                            said.push(format!(
                                "the profile does not record the name of the strategy file of \
                                 `{name}`"
                            ));
                            pass.push(format!("the strategy file that defines `{name}`"));
                        }
                        None => {
                            compositions.push(*name);
                            pass.push(format!("the composition file that defines `{name}`"));
                        }
                    }
                }
                // The steps lacking, with their files.
                let (steps, files): (Vec<String>, Vec<String>) = below
                    .iter()
                    .map(|name| match recorded_as(name).flatten() {
                        Some(file) => (format!("`{file}` (step `{name}`)"), format!("`{file}`")),
                        None => {
                            let unnamed = format!("the file of step `{name}`");
                            (unnamed.clone(), unnamed)
                        }
                    })
                    .unzip();
                pass.extend(files);
                let steps = match steps.len() {
                    0 => String::new(),
                    1 => format!("its step not built in comes from {}", steps[0]),
                    _ => format!("its steps not built in come from {}", joined(&steps)),
                };
                let whose_files = match compositions.as_slice() {
                    [] => None,
                    [only] if *only == self.strategy => Some(
                        "it is a composition, whose own file the profile does not record by name \
                         (it records its steps)"
                            .to_string(),
                    ),
                    [one] => Some(format!(
                        "`{one}` is a composition, whose own file the profile does not record \
                         by name (it records its steps)"
                    )),
                    several => Some(format!(
                        "{} are compositions, whose own files the profile does not record by \
                         name (it records their steps)",
                        quoted_list(several)
                    )),
                };
                match (whose_files, steps.is_empty()) {
                    (Some(c), false) => said.push(format!("{c}, and {steps}")),
                    (Some(c), true) => said.push(c),
                    (None, false) => said.push(steps),
                    (None, true) => {}
                }
                (said, pass)
            }
        };
        let them = match pass.as_slice() {
            [one] if one != "those files" => "it",
            _ => "them",
        };
        Some(format!(
            "profile `{}`: {whose}{given}; {}: pass {} with --strategy-file (repeatable), or \
             list {them} in `strategy_files` in the config file (--config)",
            self.path.display(),
            recorded.join("; "),
            joined(&pass),
        ))
    }

    /// The judge for interactive strategies: `judge` when given (by
    /// `--judge`), else the one the profile was tuned with (its name
    /// without `@version`). See [`Profile::build_judge_from`].
    pub fn build_judge(&self, judge: Option<&str>) -> Result<Arc<dyn Judge>, ConfigError> {
        self.build_judge_from(judge.map(|j| (j, "--judge")))
    }

    /// The judge for interactive strategies: `judge`'s name when given,
    /// with where it was given (`--judge`, the config file's `judge`), else
    /// the one the profile was tuned with (its name without `@version`). A
    /// judge the proxy cannot use is refused naming where it came from
    /// (the flag, the config file's field, or the profile's `[profile]
    /// judge`) and the judges it can: local ones only.
    pub fn build_judge_from(
        &self,
        judge: Option<(&str, &str)>,
    ) -> Result<Arc<dyn Judge>, ConfigError> {
        let (name, given_by) = match judge {
            Some((j, by)) => (j.trim().to_string(), by.to_string()),
            None => match self.judge.as_deref() {
                Some(j) => (
                    j.trim()
                        .rsplit_once('@')
                        .map_or(j.trim(), |(name, _)| name)
                        .to_string(),
                    format!(
                        "the profile `{}` (`[profile] judge = \"{}\"`)",
                        self.path.display(),
                        j.escape_debug()
                    ),
                ),
                None => (
                    xsafe_judge::DEFAULT_JUDGE.to_string(),
                    "the default".to_string(),
                ),
            },
        };
        const LOCAL: &str = "xsafe, xsafe:MODEL.json or strmatch";
        if let Some((first, _)) = name.split_once('>') {
            return Err(ConfigError::Other(format!(
                "the judge `{name}`, from {given_by}, escalates unsure verdicts to a second; the \
                 proxy judges replies with one local judge ({LOCAL}): pass --judge {first}"
            )));
        }
        if name.starts_with("llm:") {
            return Err(ConfigError::Other(format!(
                "the judge `{name}`, from {given_by}, is a model; the proxy judges replies with a \
                 local judge only ({LOCAL}): pass --judge xsafe"
            )));
        }
        if !(name == "xsafe" || name == "strmatch" || name.starts_with("xsafe:")) {
            return Err(ConfigError::Other(format!(
                "unknown judge `{name}`, from {given_by}; the proxy judges replies with a local \
                 judge: {LOCAL}"
            )));
        }
        xsafe_judge::from_name(&name)
            .map_err(|e| ConfigError::Other(format!("the judge `{name}`, from {given_by}: {e}")))
    }

    /// When `judge` is the profile's judge by name but of another version,
    /// what the operator should know: the profile's rates were measured with
    /// the other version, whose verdicts (and so the follow-ups sent) may
    /// differ. `None` when the versions agree, when the profile names no
    /// version, or when `judge` is another judge altogether (a `--judge` of
    /// another name is the operator's choice). Not a refusal: the built-in
    /// judge's version changes with xsafe releases.
    pub fn judge_version_mismatch(&self, judge: &dyn Judge) -> Option<String> {
        let (name, version) = self.judge.as_deref()?.trim().rsplit_once('@')?;
        if name != judge.name() || version == judge.version() {
            return None;
        }
        Some(format!(
            "profile `{}`: its rates were measured with the judge `{name}@{version}`, and the \
             proxy judges replies with `{}` (another version of `{name}`, which may decide some \
             replies, and so the follow-ups sent, differently); run `xsafe tune` again to measure \
             the profile with this version",
            self.path.display(),
            judge.tag()
        ))
    }
}

/// Why `xsafe serve` cannot serve the strategy of `definition` (as
/// [`Strategy::definition`] gives it, or a profile records it), with what
/// to do: one of its steps writes its follow-ups with a model
/// (`--clarifier`), and the proxy writes them from the strategy's
/// templates only. `None` when it can. `xsafe tune` warns with it when it
/// chooses such a strategy, and `serve` refuses such a profile with it,
/// so the two give one reason.
pub fn unservable(definition: &serde_json::Value) -> Option<String> {
    let steps = definition.get("steps")?.as_array()?;
    let clarifier = steps
        .iter()
        .filter_map(|s| s.get("clarifier"))
        .find(|c| !c.is_null())?;
    let which = clarifier
        .get("id")
        .and_then(|id| id.as_str())
        .map(|id| format!(" `{id}`"))
        .unwrap_or_default();
    Some(format!(
        "the strategy was tuned with --clarifier{which} (a model wrote its follow-ups); the \
         proxy writes follow-ups from the strategy's templates only, so it would serve \
         something else than was measured: tune without --clarifier to get a profile the \
         proxy can serve"
    ))
}

/// A strategy's definition without what changes nothing sent
/// ([`xsafe_strategy::identity`]: its description, which is a composition
/// file's own, or its steps' files' when it has none; the folders of its
/// data files), as a profile stores it (TOML, read back as JSON): a
/// strategy file whose description alone was edited since tuning, or whose
/// data file was moved to another folder, is still the strategy tuned, as
/// it is still the same run to `xsafe run`'s key.
fn identity(definition: &serde_json::Value) -> serde_json::Value {
    xsafe_strategy::json_to_toml(&xsafe_strategy::identity(definition))
        .and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or_default()
}

/// The step a difference's path is in: 0 for `steps[0].texts.system`.
fn step_index(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("steps[")?;
    rest[..rest.find(']')?].parse().ok()
}

/// `s` for more than one, as in "the parts".
fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Names in backticks, [`joined`]: `` `a`, `b` and `c` ``.
fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    joined(&quoted)
}

/// Items joined as a sentence lists them: `a`, `a and b`, `a, b and c`.
fn joined(items: &[String]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hashes_are_sha256_hex() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(parse_hash(&hash_key("x")).is_some());
        assert!(parse_hash("abcd").is_none());
    }

    /// A profile `p.toml` of the interactive strategy, tuned with `judge`.
    fn profile(judge: &str) -> Profile {
        Profile {
            path: "p.toml".into(),
            strategy: "interactive".into(),
            definition: toml::Value::Table(Default::default()),
            judge: Some(judge.into()),
            xsafe_version: None,
            target: None,
            target_settings: None,
            heldout_check: None,
            sent_otherwise: None,
        }
    }

    #[test]
    fn the_profiles_judge_is_rebuilt_or_refused_with_what_to_pass() {
        let built = profile("strmatch@1").build_judge(None).unwrap();
        assert_eq!(built.name(), "strmatch");
        let err = |judge: &str| profile(judge).build_judge(None).err().unwrap().to_string();
        let escalating = err("xsafe>strmatch@2-e4bd5b89060a>1<0.95");
        assert!(
            escalating.contains("`xsafe>strmatch`") && escalating.contains("--judge xsafe"),
            "{escalating}"
        );
        assert!(err("llm:openai:m@2").contains("pass --judge xsafe"));
        // An explicit --judge is taken as it is.
        let chosen = profile("xsafe>strmatch@1>1<1").build_judge(Some("strmatch"));
        assert_eq!(chosen.unwrap().name(), "strmatch");
    }

    /// The bug this guards: a judge the proxy cannot use was refused without
    /// saying where it came from (the profile, the config file, the flag),
    /// offering `llm:TARGET`, which the proxy refuses.
    #[test]
    fn a_judge_that_cannot_be_used_is_refused_naming_where_it_came_from() {
        let err = |p: &Profile, chosen: Option<(&str, &str)>| {
            p.build_judge_from(chosen).err().unwrap().to_string()
        };
        let from_profile = err(&profile("bogus@1"), None);
        assert!(
            from_profile.contains("unknown judge `bogus`")
                && from_profile.contains("the profile `p.toml` (`[profile] judge = \"bogus@1\"`)")
                && from_profile.contains("xsafe, xsafe:MODEL.json or strmatch")
                && !from_profile.contains("llm:"),
            "{from_profile}"
        );
        let from_config = err(
            &profile("xsafe@1"),
            Some(("nope", "`judge` in the config file `serve.toml`")),
        );
        assert!(
            from_config
                .contains("unknown judge `nope`, from `judge` in the config file `serve.toml`"),
            "{from_config}"
        );
        let model = err(&profile("llm:openai:m@2"), None);
        assert!(
            model.contains("`llm:openai:m`, from the profile `p.toml`")
                && model.contains("pass --judge xsafe"),
            "{model}"
        );
        let flag = err(&profile("xsafe@1"), Some(("llm:openai:m", "--judge")));
        assert!(flag.contains("from --judge"), "{flag}");
        let weights = err(
            &profile("xsafe@1"),
            Some(("xsafe:/nonexistent/w.json", "--judge")),
        );
        assert!(
            weights.starts_with("the judge `xsafe:/nonexistent/w.json`, from --judge: "),
            "{weights}"
        );
    }

    #[test]
    fn another_version_of_the_profiles_judge_is_named_with_both_versions() {
        let profile = |judge: Option<&str>| Profile {
            path: "p.toml".into(),
            strategy: "interactive".into(),
            definition: toml::Value::Table(Default::default()),
            judge: judge.map(str::to_string),
            xsafe_version: None,
            target: None,
            target_settings: None,
            heldout_check: None,
            sent_otherwise: None,
        };
        let xsafe = xsafe_judge::from_name("xsafe").unwrap();
        let current = xsafe.tag();
        let said = profile(Some("xsafe@1-0000deadbeef"))
            .judge_version_mismatch(xsafe.as_ref())
            .expect("another version is named");
        assert!(
            said.contains("`xsafe@1-0000deadbeef`")
                && said.contains(&format!("`{current}`"))
                && said.contains("xsafe tune"),
            "{said}"
        );
        // The same version, no version recorded, or no judge recorded.
        for same in [Some(current.as_str()), Some("xsafe"), None] {
            assert_eq!(profile(same).judge_version_mismatch(xsafe.as_ref()), None);
        }
        // Another judge than the profile's is the operator's choice.
        let strmatch = xsafe_judge::from_name("strmatch").unwrap();
        assert_eq!(
            profile(Some("xsafe@1-0000deadbeef")).judge_version_mismatch(strmatch.as_ref()),
            None
        );
        assert!(
            profile(Some("strmatch@0"))
                .judge_version_mismatch(strmatch.as_ref())
                .is_some()
        );
    }

    #[test]
    fn the_settings_the_proxy_does_not_apply_are_named() {
        let profile = |settings: &str| Profile {
            path: "p.toml".into(),
            strategy: "baseline".into(),
            definition: toml::Value::Table(Default::default()),
            judge: None,
            xsafe_version: None,
            target: None,
            target_settings: Some(toml::from_str(settings).unwrap()),
            heldout_check: None,
            sent_otherwise: None,
        };
        assert!(
            profile("temperature = 0.0\nmax_tokens = 512")
                .unapplied_settings()
                .is_empty()
        );
        let long = "x".repeat(70);
        let said =
            profile(&format!("temperature = 0.7\nsystem_prompt = \"{long}\"")).unapplied_settings();
        assert_eq!(
            said,
            [
                format!("the system prompt \"{}...\"", "x".repeat(60)),
                "temperature 0.7".to_string()
            ]
        );
    }

    /// The profile tuned with the strategy `name` of the strategy files
    /// `files` (`(file name, text)`), as `xsafe tune` records it.
    fn tuned_with(dir: &Path, files: &[(&str, String)], name: &str) -> (Profile, Registry) {
        let mut registry = Registry::builtin();
        for (file, text) in files {
            let path = dir.join(file);
            std::fs::write(&path, text).unwrap();
            registry.add_file(&path).unwrap();
        }
        let built = registry.build(name, &BuildOptions::default()).unwrap();
        let profile = Profile {
            path: "p.toml".into(),
            strategy: name.into(),
            definition: xsafe_strategy::json_to_toml(&built.definition()).unwrap(),
            judge: None,
            xsafe_version: None,
            target: None,
            target_settings: None,
            heldout_check: None,
            sent_otherwise: None,
        };
        (profile, registry)
    }

    /// The bug this guards: a strategy file whose description alone was
    /// edited since tuning (which changes nothing sent) was refused as
    /// another strategy than the one tuned; a composition whose step's file
    /// had its description edited too. Its texts edited, it still is.
    #[test]
    fn a_profile_whose_description_differs_is_served_and_other_texts_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let mine = |description: &str, user: &str| {
            format!(
                "name = \"mine\"\nkind = \"contextual\"\ndescription = \"{description}\"\n\
                 user = \"{user}\"\n"
            )
        };
        let combo = "name = \"combo\"\nkind = \"composition\"\nsteps = [\"mine\", \"few-shot\"]\n";
        for name in ["mine", "combo"] {
            let files = [
                ("mine.toml", mine("Asks politely.", "Please: {{ prompt }}")),
                ("combo.toml", combo.to_string()),
            ];
            let (profile, _) = tuned_with(dir.path(), &files, name);
            assert!(profile.definition.get("description").is_some());
            let served = |files: &[(&str, String)]| {
                let (_, registry) = tuned_with(dir.path(), files, name);
                profile.build_strategy(&registry, &BuildOptions::default())
            };
            let described = [
                (
                    "mine.toml",
                    mine("Asks the question as a user would.", "Please: {{ prompt }}"),
                ),
                ("combo.toml", combo.to_string()),
            ];
            assert!(served(&described).is_ok(), "{name}");
            let rewritten = [
                ("mine.toml", mine("Asks politely.", "Kindly: {{ prompt }}")),
                ("combo.toml", combo.to_string()),
            ];
            let err = served(&rewritten).err().expect("another text is refused");
            assert!(
                err.to_string()
                    .contains("differs from the one the profile was tuned with")
                    && err.to_string().contains("steps[0]"),
                "{name}: {err}"
            );
        }
        // A profile without a description (as written by hand) is served
        // too.
        let files = [("mine.toml", mine("Asks politely.", "Please: {{ prompt }}"))];
        let (mut profile, registry) = tuned_with(dir.path(), &files, "mine");
        profile
            .definition
            .as_table_mut()
            .unwrap()
            .remove("description");
        assert!(
            profile
                .build_strategy(&registry, &BuildOptions::default())
                .is_ok()
        );
    }

    /// The bug this guards: a profile records a data file's setting as the
    /// strategy file writes it (`data/bank.toml`), as `xsafe tune` did
    /// before and does again; for a while it recorded the name only
    /// (`bank.toml`), and comparing definitions whole refused a profile
    /// tuned by the other. Both are served, as is the data file moved to
    /// another folder (as a run's key reads them: `xsafe_strategy::identity`);
    /// other exemplars are not.
    #[test]
    fn a_data_files_folder_does_not_refuse_a_profile() {
        let dir = tempfile::tempdir().unwrap();
        let bank = |answer: &str| {
            format!(
                "[[exemplar]]\nid = \"a\"\ntype = \"homonyms\"\nlabel = \"safe\"\n\
                 prompt = \"How do I purge a queue?\"\nanswer = \"{answer}\"\n"
            )
        };
        for (file, answer) in [
            ("data/bank.toml", "Call purge."),
            ("moved/bank.toml", "Call purge."),
            ("other/bank.toml", "Call drain."),
        ] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bank(answer)).unwrap();
        }
        let shots = |exemplars: &str| {
            [(
                "shots.toml",
                format!(
                    "name = \"shots\"\nkind = \"few-shot\"\ndescription = \"Mine.\"\nk = 1\n\
                     unsafe = 0\nexemplars = \"{exemplars}\"\n"
                ),
            )]
        };
        let (profile, _) = tuned_with(dir.path(), &shots("data/bank.toml"), "shots");
        assert_eq!(
            profile.definition["steps"][0]["settings"]["exemplars"].as_str(),
            Some("data/bank.toml")
        );
        let served = |profile: &Profile, exemplars: &str| {
            let (_, registry) = tuned_with(dir.path(), &shots(exemplars), "shots");
            profile.build_strategy(&registry, &BuildOptions::default())
        };
        // As the version that recorded a data file by its name tuned it.
        let mut by_name = profile.clone();
        by_name.definition["steps"][0]["settings"]["exemplars"] = "bank.toml".into();
        for tuned in [&profile, &by_name] {
            for exemplars in ["data/bank.toml", "./data/bank.toml", "moved/bank.toml"] {
                assert!(served(tuned, exemplars).is_ok(), "{exemplars}");
            }
            let err = served(tuned, "other/bank.toml")
                .err()
                .expect("other exemplars are refused");
            assert!(
                err.to_string()
                    .contains("differs from the one the profile was tuned with")
                    && err.to_string().contains("steps[0].exemplars"),
                "{err}"
            );
        }
    }

    /// `strategy_files`, like `profile`, are read relative to the config
    /// file's folder; an absolute one is kept.
    #[test]
    fn strategy_files_are_relative_to_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir(&conf).unwrap();
        let path = conf.join("serve.toml");
        std::fs::write(
            &path,
            "profile = \"p.toml\"\nstrategy_files = [\"s/a.toml\", \"/abs/b.toml\"]\n",
        )
        .unwrap();
        let config = ServerConfig::load(&path).unwrap();
        assert_eq!(config.profile, Some(conf.join("p.toml")));
        assert_eq!(
            config.strategy_files,
            [conf.join("s/a.toml"), PathBuf::from("/abs/b.toml")]
        );
        // Without the key, none.
        std::fs::write(&path, "profile = \"p.toml\"\n").unwrap();
        assert!(ServerConfig::load(&path).unwrap().strategy_files.is_empty());
        // `strategy_file`, as `--strategy-file` is spelt, is no setting.
        std::fs::write(&path, "strategy_file = \"s/a.toml\"\n").unwrap();
        let err = ServerConfig::load(&path).err().unwrap().to_string();
        assert!(err.contains("`strategy_files`"), "{err}");
    }

    const HASH: &str = "2a3896b4f8324b4cd83b86bddfcd973c644f298d4cfa7169648fa72015c321ef";

    /// `max_body_bytes = 0` made every request a 413, and two keys of one
    /// name made the log unable to tell their clients apart: both are
    /// refused at start, naming the file, the setting and the fix.
    #[test]
    fn a_zero_body_limit_or_two_keys_of_one_name_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        let key = |name: &str| format!("[[keys]]\nname = \"{name}\"\nsha256 = \"{HASH}\"\n");
        std::fs::write(&path, format!("max_body_bytes = 0\n{}", key("app"))).unwrap();
        let err = ServerConfig::load(&path).err().unwrap().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("`max_body_bytes = 0`"), "{err}");
        assert!(err.contains("leave the line out"), "{err}");
        std::fs::write(&path, format!("{}{}", key("app"), key("app"))).unwrap();
        let err = ServerConfig::load(&path).err().unwrap().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("two `[[keys]]` are named `app`"), "{err}");
        assert!(err.contains("rename one"), "{err}");
        std::fs::write(
            &path,
            format!("max_body_bytes = 1\n{}{}", key("app"), key("ci")),
        )
        .unwrap();
        let config = ServerConfig::load(&path).unwrap();
        assert_eq!(config.key_hashes().len(), 2);
    }

    /// `upstream_headers`: a value as written or from a variable read at
    /// start; a variable not set, a header the proxy sends itself, or a
    /// name or value that cannot be sent is refused naming the header,
    /// never showing a value (nor does `Debug`).
    #[test]
    fn upstream_headers_are_read_as_written_or_from_a_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(
            &path,
            "[upstream_headers]\n\"X-Title\" = \"my app\"\n\"api-key\" = { env = \"PATH\" }\n",
        )
        .unwrap();
        let config = ServerConfig::load(&path).unwrap();
        let headers = config.upstream_headers().unwrap();
        let value = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.0.clone())
        };
        assert_eq!(value("X-Title").as_deref(), Some("my app"));
        assert_eq!(value("api-key"), std::env::var("PATH").ok());
        let shown = format!("{config:?}");
        assert!(!shown.contains("my app"), "{shown}");
        assert!(shown.contains("PATH"), "{shown}");

        const UNSET: &str = "XSAFE_TEST_VARIABLE_NEVER_SET_7";
        std::fs::write(
            &path,
            format!("[upstream_headers]\n\"api-key\" = {{ env = \"{UNSET}\" }}\n"),
        )
        .unwrap();
        let err = ServerConfig::load(&path)
            .unwrap()
            .upstream_headers()
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("`api-key`"), "{err}");
        assert!(err.contains(UNSET), "{err}");
        assert!(err.contains("export it"), "{err}");

        for (entry, said) in [
            ("\"Host\" = \"example.com\"", "the proxy's own to send"),
            ("\"bad name\" = \"x\"", "not a valid HTTP header name"),
            (
                "\"X-Key\" = \"secret-one\\nX-Other: 1\"",
                "not a valid HTTP header value",
            ),
            (
                "\"X-Key\" = { env = \"\" }",
                "`env` must name the environment variable",
            ),
            (
                "\"api-key\" = \"secret-one\"\n\"API-Key\" = \"secret-one\"",
                "the headers `API-Key` and `api-key` are the same header",
            ),
        ] {
            std::fs::write(&path, format!("[upstream_headers]\n{entry}\n")).unwrap();
            let err = ServerConfig::load(&path).err().unwrap().to_string();
            assert!(err.contains(&path.display().to_string()), "{entry}: {err}");
            assert!(err.contains("`upstream_headers`"), "{entry}: {err}");
            assert!(err.contains(said), "{entry}: {err}");
            assert!(!err.contains("secret-one"), "{entry}: {err}");
        }
    }

    /// A top-level setting written below `[upstream_headers]` belongs to
    /// that table: `listen = "..."` there was sent upstream as a header
    /// named `listen`, and the proxy listened elsewhere. A header named
    /// as a top-level setting is refused at start, naming the setting and
    /// where it goes; one whose value is no header's (a number, a list)
    /// says the same rather than TOML's "did not match any variant".
    #[test]
    fn a_setting_written_below_upstream_headers_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        for (setting, line) in [
            ("listen", "listen = \"127.0.0.1:9000\""),
            ("upstream", "upstream = \"https://llm.example/v1\""),
            ("upstream_key_env", "upstream_key_env = \"MY_KEY\""),
            ("timeout_secs", "timeout_secs = 30"),
            ("strategy_files", "strategy_files = [\"mine.json\"]"),
        ] {
            std::fs::write(
                &path,
                format!(
                    "[upstream_headers]\n\"X-Title\" = \"my app\"\n{line}\n\
                     [[keys]]\nname = \"app\"\nsha256 = \"{HASH}\"\n"
                ),
            )
            .unwrap();
            let err = ServerConfig::load(&path).err().unwrap().to_string();
            assert!(err.contains(&path.display().to_string()), "{line}: {err}");
            assert!(err.contains("`upstream_headers`"), "{line}: {err}");
            assert!(
                err.contains(&format!("`{setting}` is a top-level setting")),
                "{line}: {err}"
            );
            assert!(
                err.contains("before the first table (`[upstream_headers]`, `[[keys]]`)"),
                "{line}: {err}"
            );
        }
        // The same settings before the table are applied; a header of
        // another name below it is still a header.
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\n[upstream_headers]\n\"X-Listen\" = \"yes\"\n",
        )
        .unwrap();
        let config = ServerConfig::load(&path).unwrap();
        assert_eq!(config.listen.as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(
            config.upstream_headers.keys().collect::<Vec<_>>(),
            ["X-Listen"]
        );
    }

    /// A profile given as the config file was refused with TOML's "unknown
    /// field `calibration`, expected one of `profile`, `upstream`...": it
    /// is named for what it is, with where it goes.
    #[test]
    fn a_profile_given_as_the_config_file_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profile.toml");
        std::fs::write(
            &path,
            "[profile]\nxsafe_version = \"0.1.0\"\ntarget = \"openai:m\"\n\
             [calibration]\nshare = 0.5\n[choice]\nstrategy = \"contextual\"\n",
        )
        .unwrap();
        let err = ServerConfig::load(&path).err().unwrap().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(
            err.contains("looks like a profile written by `xsafe tune`"),
            "{err}"
        );
        assert!(err.contains("--profile"), "{err}");
        assert!(!err.contains("unknown field"), "{err}");
        // A config file with a typo is still told the field.
        std::fs::write(&path, "upstreem = \"http://127.0.0.1:8000/v1\"\n").unwrap();
        let err = ServerConfig::load(&path).err().unwrap().to_string();
        assert!(err.contains("unknown field `upstreem`"), "{err}");
        assert!(!err.contains("xsafe tune"), "{err}");
    }

    /// A serve config file given as the profile was refused as "expected
    /// struct ProfileHeader", a type of the code's: it is named for what
    /// it is, with where each file goes.
    #[test]
    fn a_serve_config_given_as_the_profile_is_named_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(
            &path,
            format!(
                "profile = \"p.toml\"\nupstream = \"http://127.0.0.1:8000/v1\"\n\
                 [[keys]]\nname = \"app\"\nsha256 = \"{HASH}\"\n"
            ),
        )
        .unwrap();
        let err = Profile::load(&path).err().unwrap().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(
            err.contains("not a profile but a config file of `xsafe serve`"),
            "{err}"
        );
        assert!(err.contains("`profile`, `upstream`, `keys`"), "{err}");
        assert!(err.contains("--config"), "{err}");
        assert!(!err.contains("ProfileHeader"), "{err}");
        // Another file that is no profile keeps the parser's words.
        std::fs::write(&path, "[choice]\nstrategy = 3\n").unwrap();
        let err = Profile::load(&path).err().unwrap().to_string();
        assert!(
            err.contains("a profile is what `xsafe tune` writes"),
            "{err}"
        );
    }

    /// The bug this guards: a profile whose strategy is not built in, served
    /// without its strategy file, was refused as `unknown strategy mine;
    /// available: ...`, not naming the file the profile records it from
    /// nor where to give it.
    #[test]
    fn an_unknown_strategy_names_the_file_the_profile_records() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            (
                "mine.toml",
                "name = \"mine\"\nkind = \"contextual\"\nuser = \"Please: {{ prompt }}\"\n"
                    .to_string(),
            ),
            (
                "combo.toml",
                "name = \"combo\"\nkind = \"composition\"\nsteps = [\"mine\", \"few-shot\"]\n"
                    .to_string(),
            ),
        ];
        let refused = |name: &str, given: &[(&str, String)]| {
            let (profile, _) = tuned_with(dir.path(), &files, name);
            let (_, registry) = tuned_with(dir.path(), given, "baseline");
            let err = profile.build_strategy(&registry, &BuildOptions::default());
            err.err()
                .expect("an unknown strategy is refused")
                .to_string()
        };
        let mine = refused("mine", &[]);
        assert_eq!(
            mine,
            "profile `p.toml`: its strategy `mine` is not built in, and no strategy file was \
             given; the profile records it from the strategy file `mine.toml`: pass that file \
             with --strategy-file (repeatable), or list it in `strategy_files` in the config \
             file (--config)"
        );
        // A composition file is not recorded by name: its steps' files are,
        // the built-in step left out.
        let combo = refused("combo", &[]);
        assert!(
            combo.contains("its strategy `combo` is not built in")
                && combo.contains("its step not built in comes from `mine.toml` (step `mine`)")
                && combo.contains(
                    "pass the composition file that defines `combo` and `mine.toml` with"
                )
                && combo.contains("list them in `strategy_files`")
                && !combo.contains("few-shot"),
            "{combo}"
        );
        // Its step given, the composition file alone is asked for.
        let combo = refused("combo", &files[..1]);
        assert!(
            combo.contains("nor in the strategy files given (which define `mine`)")
                && combo.contains("pass the composition file that defines `combo` with")
                && !combo.contains("mine.toml"),
            "{combo}"
        );
        // A part of an `a+b` composition.
        let plus = refused("mine+few-shot", &[]);
        assert!(
            plus.contains(
                "its strategy `mine+few-shot` has the part `mine`, which is not built in"
            ) && plus.contains("from the strategy file `mine.toml`"),
            "{plus}"
        );
        // A composition file given without its step: the step is named.
        let step = refused("combo", &files[1..]);
        assert!(
            step.contains("its strategy `combo` has the step `mine`, which is not built in")
                && step.contains(
                    "the profile records it from the strategy file `mine.toml`: pass that file"
                ),
            "{step}"
        );
    }

    /// The bug this guards: a profile of `myctx+myint`, served with
    /// neither file, was refused naming `myctx.toml` only; given that, it
    /// named `myint.toml`. Every file it lacks is named at once.
    #[test]
    fn every_strategy_file_a_profile_lacks_is_named_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, kind: &str| {
            (
                format!("{name}.toml"),
                format!("name = \"{name}\"\nkind = \"{kind}\"\n"),
            )
        };
        let files = [
            file("myctx", "contextual"),
            file("myint", "interactive"),
            file("mine", "interactive"),
            (
                "combo.toml".to_string(),
                "name = \"combo\"\nkind = \"composition\"\nsteps = [\"few-shot\", \"mine\"]\n"
                    .to_string(),
            ),
        ];
        let files: Vec<(&str, String)> =
            files.iter().map(|(f, t)| (f.as_str(), t.clone())).collect();
        let refused = |name: &str, given: &[(&str, String)]| {
            let (profile, _) = tuned_with(dir.path(), &files, name);
            let (_, registry) = tuned_with(dir.path(), given, "baseline");
            let err = profile.build_strategy(&registry, &BuildOptions::default());
            err.err()
                .expect("an unknown strategy is refused")
                .to_string()
        };
        assert_eq!(
            refused("myctx+myint", &[]),
            "profile `p.toml`: its strategy `myctx+myint` has the parts `myctx` and `myint`, \
             which are not built in, and no strategy file was given; the profile records them \
             from the strategy files `myctx.toml` and `myint.toml`: pass those files with \
             --strategy-file (repeatable), or list them in `strategy_files` in the config file \
             (--config)"
        );
        // One given: the other alone.
        let other = refused("myctx+myint", &files[..1]);
        assert!(
            other.contains("has the part `myint`, which is not built in, nor in the strategy files given (which define `myctx`)")
                && other.contains("records it from the strategy file `myint.toml`: pass that file")
                && !other.contains("myctx.toml"),
            "{other}"
        );
        // A part from a file and a composition with its step: all three.
        let mixed = refused("myctx+combo", &[]);
        assert!(
            mixed.contains("has the parts `myctx` and `combo`, which are not built in")
                && mixed.contains("the profile records `myctx` from the strategy file `myctx.toml`; `combo` is a composition, whose own file the profile does not record by name (it records its steps), and its step not built in comes from `mine.toml` (step `mine`)")
                && mixed.contains("pass `myctx.toml`, the composition file that defines `combo` and `mine.toml` with --strategy-file")
                && mixed.contains("list them"),
            "{mixed}"
        );
    }

    /// The bug this guards: a strategy that differs from the profile's was
    /// refused naming where (`first difference at steps[0]...`) but not the
    /// two values, as `xsafe run` shows them, and advised passing a
    /// --strategy-file when one had been passed.
    #[test]
    fn a_difference_shows_both_values_and_the_file_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let mine =
            |user: &str| format!("name = \"mine\"\nkind = \"contextual\"\nuser = \"{user}\"\n");
        let (profile, _) = tuned_with(
            dir.path(),
            &[("mine.toml", mine("Please: {{ prompt }}"))],
            "mine",
        );
        let refused = |files: &[(&str, String)]| {
            let (_, registry) = tuned_with(dir.path(), files, "mine");
            let err = profile.build_strategy(&registry, &BuildOptions::default());
            err.err().expect("another strategy is refused").to_string()
        };
        let file = dir.path().join("mine.toml").display().to_string();
        let edited = refused(&[("mine.toml", mine("Kindly: {{ prompt }}"))]);
        assert_eq!(
            edited,
            format!(
                "profile `p.toml`: the strategy `mine` differs from the one the profile was \
                 tuned with at `steps[0].settings.user`, where the profile records `Please: {{{{ \
                 prompt }}}}` and the strategy file `{file}` gives `Kindly: {{{{ prompt }}}}`; \
                 `{file}` (or a data file it names) is not as it was when the profile was tuned: serve the files it was tuned with, or tune again \
                 with it and serve the new profile"
            )
        );
        // A renamed copy: the file's name is what differs.
        let renamed = refused(&[("mine-renamed.toml", mine("Please: {{ prompt }}"))]);
        assert!(
            renamed.contains(
                "at `steps[0].file`, where the profile records `mine.toml` and the strategy file"
            ) && renamed.contains("gives `mine-renamed.toml`")
                && renamed.contains("serve it from a file named `mine.toml`")
                && !renamed.contains("pass the profile's strategy"),
            "{renamed}"
        );
    }

    /// The bug this guards: a profile tuned with a built-in strategy whose
    /// texts this xsafe no longer has was refused advising to "pass the
    /// profile's strategy as a --strategy-file", which can never serve it
    /// (a file's step records its file's name, not `builtin:NAME`, and its
    /// data files by their paths, not `builtin`); a file replacing the
    /// built-in the profile was tuned with was refused advising to serve it
    /// "from a file named `builtin:contextual`". A built-in that differs is
    /// this xsafe's: tune again, or serve with the xsafe that tuned it; a
    /// file replacing it is to be removed. A way of working this xsafe no
    /// longer has (`selection_version`) is named first, whatever else
    /// differs: no file brings it back.
    #[test]
    fn a_built_in_or_versioned_difference_says_what_can_fix_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut profile, registry) = tuned_with(dir.path(), &[], "contextual");
        let system = profile.definition["steps"][0]["texts"]["system"]
            .as_str()
            .unwrap()
            .to_string();
        profile.definition["steps"][0]["texts"]["system"] = format!("OLD {system}").into();
        profile.xsafe_version = Some("0.0.9".into());
        let refused = |profile: &Profile, registry: &Registry| {
            profile
                .build_strategy(registry, &BuildOptions::default())
                .err()
                .expect("another strategy is refused")
                .to_string()
        };
        let err = refused(&profile, &registry);
        assert!(
            err.contains("at `steps[0].texts.system`, where the profile records `OLD ")
                && err.contains("and this xsafe builds `")
                && err.ends_with(&format!(
                    "; this xsafe's built-in `contextual` is not the one the profile was tuned \
                     with: tune again with this xsafe, or serve the profile with the xsafe \
                     version it was tuned with (xsafe 0.0.9, as its `[profile] xsafe_version` \
                     says; this is {})",
                    env!("CARGO_PKG_VERSION")
                ))
                && !err.contains("--strategy-file"),
            "{err}"
        );
        // Tuned by another build of this version (between releases).
        let mut same = profile.clone();
        same.xsafe_version = Some(env!("CARGO_PKG_VERSION").into());
        let err = refused(&same, &registry);
        assert!(
            err.ends_with(&format!(
                "it was tuned with (another build of xsafe {}, as its `[profile] xsafe_version` \
                 says)",
                env!("CARGO_PKG_VERSION")
            )),
            "{err}"
        );
        // Following the old advice, a file of the profile's texts: refused
        // as replacing the built-in, whatever the file is named.
        let text = "name = \"contextual\"\nkind = \"contextual\"\n";
        for file in ["contextual.toml", "builtin:contextual"] {
            let (_, given) = tuned_with(dir.path(), &[(file, text.to_string())], "contextual");
            let err = refused(&profile, &given);
            let path = dir.path().join(file).display().to_string();
            assert!(
                err.ends_with(&format!(
                    "; the profile was tuned with the built-in `contextual`, which the \
                     strategy file `{path}` replaces: remove that --strategy-file (or its \
                     entry in the config file's `strategy_files`) to serve the built-in one"
                )) && !err.contains("named `builtin:contextual`"),
                "{file}: {err}"
            );
        }
        // The same for a profile of this xsafe's built-in.
        let (unchanged, _) = tuned_with(dir.path(), &[], "contextual");
        let (_, given) = tuned_with(
            dir.path(),
            &[("contextual.toml", text.to_string())],
            "contextual",
        );
        let err = refused(&unchanged, &given);
        assert!(
            err.contains("at `steps[0].file`, where the profile records `builtin:contextual`")
                && err.contains("which the strategy file `")
                && err.contains("remove that --strategy-file")
                && !err.contains("serve it from a file named"),
            "{err}"
        );
        // The other way round: a profile tuned with a file that replaced
        // the built-in, served without it.
        let (from_file, _) = tuned_with(
            dir.path(),
            &[("contextual.toml", text.to_string())],
            "contextual",
        );
        let err = refused(&from_file, &Registry::builtin());
        assert!(
            err.contains("at `steps[0].file`, where the profile records `contextual.toml` and this xsafe builds `builtin:contextual`")
                && err.ends_with(
                    "; the profile records `contextual` from the strategy file \
                     `contextual.toml`, which replaced the built-in `contextual` when it was \
                     tuned: pass that file with --strategy-file, or list it in \
                     `strategy_files` in the config file (--config)"
                ),
            "{err}"
        );
        let (mut profile, registry) = tuned_with(dir.path(), &[], "few-shot-nearest");
        let step = &mut profile.definition["steps"][0];
        step["selection_version"] = 1.into();
        step["settings"]["k"] = 99.into();
        let err = profile
            .build_strategy(&registry, &BuildOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("at `steps[0].selection_version`, where the profile records 1")
                && err.contains("(and 1 more difference)")
                && err.contains("no strategy file brings that back: run `xsafe tune` again")
                && !err.contains("--strategy-file"),
            "{err}"
        );
    }
}
