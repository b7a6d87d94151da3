//! What the proxy reads at start: the profile `xsafe tune` wrote, the
//! server's config file, and the client keys (stored as SHA-256 hashes).

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use xsafe_core::{Judge, Strategy};
use xsafe_strategy::{BuildOptions, Composite, Registry};

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

/// The server's config file (TOML). Flags override it.
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
    /// Client keys, as SHA-256 hashes.
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
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
    /// Reads the config file at `path`; a relative `profile` is taken from the
    /// file's directory. Fails when the file cannot be read, is not valid TOML,
    /// has an unknown setting, or holds a key whose `sha256` is not 64 hex digits.
    pub fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            what: "config file",
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: ServerConfig = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if let Some(p) = config.profile.as_mut()
            && p.is_relative()
            && let Some(dir) = path.parent()
        {
            *p = dir.join(&*p);
        }
        for key in &config.keys {
            if parse_hash(&key.sha256).is_none() {
                return Err(ConfigError::Invalid {
                    path: path.to_path_buf(),
                    message: format!(
                        "key `{}`: `sha256` must be 64 hex digits (`xsafe serve hash-key` makes one)",
                        key.name
                    ),
                });
            }
        }
        Ok(config)
    }

    /// The keys as `(name, hash)` pairs.
    pub fn key_hashes(&self) -> Vec<(String, [u8; 32])> {
        self.keys
            .iter()
            .filter_map(|k| parse_hash(&k.sha256).map(|h| (k.name.clone(), h)))
            .collect()
    }
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
    /// The target tuning measured.
    pub target: Option<String>,
    /// The settings that target was measured with (`[profile.target_settings]`).
    pub target_settings: Option<toml::Value>,
    /// Whether the choice held on the held-out part (`[heldout] check`:
    /// `passed` or `failed`), with tune's reason; `None` for a profile
    /// written before tune checked it.
    pub heldout_check: Option<(String, String)>,
}

#[derive(Deserialize)]
struct ProfileFile {
    #[serde(default)]
    profile: ProfileHeader,
    choice: ProfileChoice,
    heldout: Option<HeldoutCheck>,
}

#[derive(Deserialize)]
struct HeldoutCheck {
    check: Option<String>,
    #[serde(default)]
    check_reason: String,
}

#[derive(Default, Deserialize)]
struct ProfileHeader {
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
            message: format!("{e} (a profile is what `xsafe tune` writes)"),
        })?;
        Ok(Profile {
            path: path.to_path_buf(),
            strategy: file.choice.strategy,
            definition: file
                .choice
                .definition
                .unwrap_or_else(|| toml::Value::Table(Default::default())),
            judge: file.profile.judge,
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
    /// which change nothing sent.
    pub fn build_strategy(
        &self,
        registry: &Registry,
        options: &BuildOptions,
    ) -> Result<Composite, ConfigError> {
        let strategy = registry
            .build(&self.strategy, options)
            .map_err(|e| ConfigError::Other(format!("profile `{}`: {e}", self.path.display())))?;
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
        let built = identity(&strategy.definition());
        // A profile's definition is the JSON one as TOML (`json_to_toml`):
        // read back as JSON, it is what `identity` reads.
        let tuned = identity(&serde_json::to_value(&self.definition).unwrap_or_default());
        if let Some(at) = difference(&built, &tuned, String::new()) {
            if at.contains("clarifier") {
                return Err(ConfigError::Other(format!(
                    "profile `{}`: the strategy was tuned with --clarifier (a model wrote the \
                     follow-ups); the proxy writes follow-ups from the strategy's templates only, \
                     so it would serve something else than was measured: tune without --clarifier",
                    self.path.display()
                )));
            }
            // A way of picking this xsafe no longer has (few-shot-nearest's
            // first or second) cannot come back from a strategy file.
            let fix = if at.contains("selection_version") {
                "run `xsafe tune` again"
            } else {
                "run `xsafe tune` again, or pass the profile's strategy as a --strategy-file"
            };
            return Err(ConfigError::Other(format!(
                "profile `{}`: the strategy `{}` this xsafe builds differs from the one the profile \
                 was tuned with (first difference at `{}`); {fix}",
                self.path.display(),
                self.strategy,
                if at.is_empty() { "the top" } else { &at }
            )));
        }
        Ok(strategy)
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

/// A strategy's definition without what changes nothing sent
/// ([`xsafe_strategy::identity`]: its description, which is a composition
/// file's own, or its steps' files' when it has none; the folders of its
/// data files), as TOML: a strategy file whose description alone was
/// edited since tuning, or whose data file was moved to another folder, is
/// still the strategy tuned, as it is still the same run to `xsafe run`'s
/// key.
fn identity(definition: &serde_json::Value) -> toml::Value {
    xsafe_strategy::json_to_toml(&xsafe_strategy::identity(definition))
        .unwrap_or_else(|| toml::Value::Table(Default::default()))
}

/// The path of the first place where two values differ.
fn difference(a: &toml::Value, b: &toml::Value, path: String) -> Option<String> {
    use toml::Value as T;
    match (a, b) {
        (T::Table(x), T::Table(y)) => {
            for key in x.keys().chain(y.keys()) {
                let sub = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = difference(p, q, sub) {
                            return Some(d);
                        }
                    }
                    _ => return Some(sub),
                }
            }
            None
        }
        (T::Array(x), T::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path} (length {} vs {})", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (p, q))| difference(p, q, format!("{path}[{i}]")))
        }
        _ => (a != b).then_some(path),
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
            target: None,
            target_settings: None,
            heldout_check: None,
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
            target: None,
            target_settings: None,
            heldout_check: None,
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
            target: None,
            target_settings: Some(toml::from_str(settings).unwrap()),
            heldout_check: None,
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
            target: None,
            target_settings: None,
            heldout_check: None,
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

    #[test]
    fn differences_name_the_path() {
        let a: toml::Value = toml::from_str("x = 1\n[t]\nk = [1, 2]\n").unwrap();
        let b: toml::Value = toml::from_str("x = 1\n[t]\nk = [1, 3]\n").unwrap();
        assert_eq!(difference(&a, &b, String::new()).as_deref(), Some("t.k[1]"));
        assert_eq!(difference(&a, &a, String::new()), None);
    }
}
