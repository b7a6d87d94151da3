//! `xsafe serve`: the OpenAI-compatible proxy that applies a profile's
//! strategy in front of a model; `xsafe serve hash-key` for its config.

use crate::cli::{Global, HashKeyArgs, ServeAction, ServeArgs, ServeCommand};
use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use xsafe_core::Strategy;
use xsafe_server::{Profile, Proxy, ProxyOptions, Secret, ServerConfig};
use xsafe_strategy::{Registry, StrategyFile};

pub async fn run(global: &Global, cmd: ServeCommand) -> Result<ExitCode> {
    match cmd.action {
        Some(ServeAction::HashKey(args)) => hash_key(args),
        None => serve(global, cmd.args).await,
    }
}

fn hash_key(args: HashKeyArgs) -> Result<ExitCode> {
    let key = if args.generate {
        let mut bytes = [0u8; 24];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .context("reading /dev/urandom for a new key")?;
        let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("xsk-{key}")
    } else {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the key from stdin")?;
        let key = text.trim_end_matches(['\n', '\r']).to_string();
        if key.trim().is_empty() {
            bail!(
                "no key on stdin: pipe one in (`printf %s KEY | xsafe serve hash-key`) or pass --generate"
            );
        }
        key
    };
    if args.generate {
        // On stderr, so `>> serve.toml` stores the hash only.
        errln!("the new key (give it to the client; it is not stored anywhere): {key}");
    }
    // Written by the TOML serializer: a name with `\` or `"` stays TOML.
    let entry = toml::toml! {
        name = (args.name.as_str())
        sha256 = (xsafe_server::hash_key(&key))
    };
    out!("[[keys]]\n{entry}");
    Ok(ExitCode::SUCCESS)
}

async fn serve(global: &Global, args: ServeArgs) -> Result<ExitCode> {
    let config = match &args.config {
        Some(path) => ServerConfig::load(path)?,
        None => ServerConfig::default(),
    };
    let profile_path = args
        .profile
        .clone()
        .or(config.profile.clone())
        .ok_or_else(|| anyhow!("--profile FILE is required (or `profile` in --config)"))?;
    let upstream = args
        .upstream
        .clone()
        .or(config.upstream.clone())
        .ok_or_else(|| anyhow!("--upstream URL is required (or `upstream` in --config)"))?;
    if let Some(why) = not_a_url(&upstream, global.cache_dir().ok().as_deref()) {
        let given_by = match (&args.upstream, &args.config) {
            (None, Some(config)) => {
                format!("`upstream` in the config file `{}`:", config.display())
            }
            _ => "--upstream".to_string(),
        };
        bail!("{given_by} {why}");
    }
    let listen = args
        .listen
        .clone()
        .or(config.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let named_key_env = args
        .upstream_key_env
        .clone()
        .or(config.upstream_key_env.clone());
    let key_env = named_key_env
        .clone()
        .unwrap_or_else(|| "OPENAI_API_KEY".to_string());
    let timeout = match args.timeout.or(config.timeout_secs) {
        Some(secs) => xsafe_target::timeout(secs).map_err(|why| {
            anyhow!("timeout {secs} (--timeout, or timeout_secs in --config): {why}")
        })?,
        None => xsafe_server::DEFAULT_TIMEOUT,
    };
    let upstream_retries = args
        .upstream_retries
        .or(config.upstream_retries)
        .unwrap_or(xsafe_server::DEFAULT_UPSTREAM_RETRIES);
    let max_body_bytes = args
        .max_body_bytes
        .or(config.max_body_bytes)
        .unwrap_or(xsafe_server::DEFAULT_MAX_BODY_BYTES);
    let max_connections = args.max_connections.or(config.max_connections);
    let keys = config.key_hashes();
    if args.no_auth && !keys.is_empty() {
        bail!("--no-auth: the config file has client keys; remove them to serve without keys");
    }

    // Where the profile's path came from, for a file that cannot be read:
    // the message says it is the profile, and which setting to fix.
    let profile = Profile::load(&profile_path).map_err(|e| match e {
        xsafe_server::ConfigError::Read { path, source, .. } => {
            let given_by = match (&args.profile, &args.config) {
                (Some(_), _) if std::env::var_os("XSAFE_PROFILE").is_some() => {
                    "--profile, or XSAFE_PROFILE".to_string()
                }
                (Some(_), _) => "--profile".to_string(),
                (None, Some(config)) => {
                    format!("`profile` in the config file `{}`", config.display())
                }
                (None, None) => "--profile".to_string(),
            };
            anyhow!(
                "cannot read the profile `{}` ({given_by}): {source}",
                path.display()
            )
        }
        other => other.into(),
    })?;
    if !profile.check_heldout()? {
        tracing::warn!(
            "profile `{}` has no held-out check (written by an xsafe before tune checked its \
             choice on the held-out part); `xsafe tune` again checks it",
            profile_path.display()
        );
    }
    let unapplied = profile.unapplied_settings();
    if !unapplied.is_empty() {
        tracing::warn!(
            "the profile was tuned with {}, which the proxy does not add: it passes on each \
             client's own messages and settings, so the tuned rates hold for clients that send \
             the same",
            unapplied.join(" and ")
        );
    }
    // Counted by tune; a profile written before it counted says nothing.
    if let Some(warning) = profile.sent_otherwise_warning() {
        tracing::warn!("{warning}");
    }
    let registry = registry(
        args.config.as_deref(),
        &config.strategy_files,
        &args.strategy_files,
    )?;
    let options = xsafe_strategy::BuildOptions {
        cache_dir: Some(global.cache_dir()?),
        ..Default::default()
    };
    let strategy = profile.build_strategy(&registry, &options)?;
    let interactive = strategy.sends_followups().map_err(|e| anyhow!("{e}"))?;
    // A judge named by the flag or the config file, with where, for a
    // refusal to name the setting to fix.
    let config_judge = args
        .config
        .as_ref()
        .map(|path| format!("`judge` in the config file `{}`", path.display()))
        .unwrap_or_default();
    let chosen_judge = match (args.judge.as_deref(), config.judge.as_deref()) {
        (Some(name), _) => Some((name, "--judge")),
        (None, Some(name)) => Some((name, config_judge.as_str())),
        (None, None) => None,
    };
    let judge = if interactive {
        let judge = profile.build_judge_from(chosen_judge)?;
        // Warned, not refused: the built-in judge's version changes with
        // xsafe releases, and the profile still works; its rates may not.
        if let Some(warning) = profile.judge_version_mismatch(judge.as_ref()) {
            tracing::warn!("{warning}");
        }
        Some(judge)
    } else {
        if let Some((name, given_by)) = chosen_judge {
            // A misspelt judge is refused here too, not when a later
            // profile makes it matter.
            profile.build_judge_from(Some((name, given_by)))?;
            tracing::warn!(
                "the judge `{name}` is not used: the profile's strategy `{}` sends no follow-ups, \
                 so the proxy judges nothing",
                profile.strategy
            );
        }
        None
    };
    let upstream_headers = config.upstream_headers()?;
    // A variable named on purpose beside an `Authorization` header (or a
    // user name and password in the URL) would be left out without a word:
    // refused, naming both, as targets refuse it.
    if let Some(var) = &named_key_env {
        let in_config = |field: &str| match &args.config {
            Some(path) => format!("`{field}` in the config file `{}`", path.display()),
            None => format!("`{field}` in the config file"),
        };
        let named_by = match &args.upstream_key_env {
            Some(_) => "--upstream-key-env".to_string(),
            None => in_config("upstream_key_env"),
        };
        let upstream_by = match &args.upstream {
            Some(_) => "--upstream".to_string(),
            None => in_config("upstream"),
        };
        let headers_in = format!("in {}", in_config("upstream_headers"));
        ProxyOptions::refuse_named_key_beside_credentials(
            (var, &named_by),
            (&upstream_headers, &headers_in),
            (&upstream, &upstream_by),
        )?;
    }
    // A header of `upstream_headers` that carries a credential of the
    // upstream's (Azure's `api-key`) is what it is asked with: the key of
    // the default variable, which nobody named, is not sent beside it (it
    // is the user's OpenAI key, and the upstream another provider's).
    let own_credentials = upstream_headers
        .iter()
        .any(|(name, _)| xsafe_target::server_credential_header(name));
    let upstream_key = std::env::var(&key_env)
        .ok()
        .filter(|k| !k.is_empty() && (named_key_env.is_some() || !own_credentials))
        .map(Secret);
    // An `Authorization` header given in the config file is sent in place
    // of the key: no key is needed then.
    let header_auth = upstream_headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
    if upstream_key.is_none() && named_key_env.is_some() && !header_auth {
        bail!(
            "the upstream's API key variable `{key_env}` (--upstream-key-env, or \
             `upstream_key_env` in the config file) is not set or is empty; export it, or \
             leave the setting out for an upstream that needs no key"
        );
    }
    let options = ProxyOptions {
        upstream: upstream.clone(),
        upstream_key,
        upstream_key_env: Some(key_env.clone()),
        upstream_headers,
        keys,
        allow_anonymous: args.no_auth,
        max_body_bytes,
        timeout,
        upstream_retries,
        max_connections,
        connect_timeout: xsafe_server::DEFAULT_CONNECT_TIMEOUT,
    };
    let proxy = Arc::new(Proxy::new(options, strategy, judge.clone())?);
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on `{listen}`: {e}; choose another address or port with --listen"
        )
    })?;
    let addr = listener.local_addr()?;
    // Before the start line: a signal sent on seeing it stops the server
    // gracefully (see `shutdown_signal`).
    let shutdown = xsafe_server::shutdown_signal();
    note!(
        "serving profile {} (strategy {}{}) on http://{addr}/v1 in front of {}; Ctrl-C \
         stops after the requests in flight",
        profile_path.display(),
        proxy.strategy().name(),
        judge
            .map(|j| format!(", judged by {}", j.tag()))
            .unwrap_or_default(),
        xsafe_target::without_userinfo(&upstream),
    );
    if args.no_auth {
        // Said even under -q: it is what makes the proxy an open relay.
        errln!("warning: --no-auth: anyone who can reach {addr} can use the upstream");
    }
    let stopped = xsafe_server::serve(listener, proxy, shutdown)
        .await
        .context("serving")?;
    if stopped.cut > 0 {
        // Said even under -q, as the warning before it: requests were lost,
        // and the exit code says so to a supervisor or a script.
        errln!(
            "stopped without {} still open (exit code 2)",
            match stopped.cut {
                1 => "1 connection".to_string(),
                n => format!("{n} connections"),
            }
        );
        return Ok(ExitCode::from(2));
    }
    note!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Why `upstream` cannot be the proxy's upstream when it is no http:// or
/// https:// URL, said for someone who gave a `--target` spec
/// (`local:default`, `openai:MODEL`) there: the proxy passes requests on to
/// an HTTP server and runs no model itself, so a local model must first be
/// served by an OpenAI-compatible server, such as llama.cpp's
/// `llama-server`, given the same GGUF (its path in `cache`, when the spec
/// names a cached model). `None` for a URL, whose other faults the proxy
/// names.
fn not_a_url(upstream: &str, cache: Option<&Path>) -> Option<String> {
    let given = upstream.trim();
    if given.starts_with("http://") || given.starts_with("https://") {
        return None;
    }
    let shown = xsafe_target::without_userinfo(given);
    let head = format!(
        "`{shown}` is not an http:// or https:// URL: `xsafe serve` passes requests on to an \
         OpenAI-compatible HTTP server, given by its base URL (such as \
         `http://127.0.0.1:8000/v1`), and runs no model itself"
    );
    let Some(spec) = given.strip_prefix("local:") else {
        if let Some(model) = given.strip_prefix("openai:") {
            return Some(format!(
                "{head}; `{shown}` names a --target of `xsafe run`: give the URL of the server \
                 that serves `{model}` (its --base-url)"
            ));
        }
        return Some(head);
    };
    let file = cache
        .and_then(|cache| xsafe_target::models::resolve_local(spec, cache).ok())
        .map(|path| xsafe_judge::shell_word(&path.display().to_string()));
    let (model, which) = match &file {
        Some(path) => (path.as_str(), ""),
        None => (
            "MODEL.gguf",
            " (the GGUF file: `xsafe model list` shows where each known model is cached)",
        ),
    };
    Some(format!(
        "{head}; a local model must be served by an OpenAI-compatible server first, such as \
         llama.cpp's `llama-server -m {model} --port 8081`{which}, then passed as `--upstream \
         http://127.0.0.1:8081/v1`"
    ))
}

/// The built-in strategies and those of the strategy files: the config
/// file's `strategy_files` (at `config`, already resolved against its
/// folder), then the `--strategy-file`s. A file given in both is read once;
/// two files that define one name are refused, naming where each was given,
/// since one name would mean two strategies. A config file's strategy file
/// that cannot be used is named with the setting that gave it.
fn registry(config: Option<&Path>, listed: &[PathBuf], flags: &[PathBuf]) -> Result<Registry> {
    let in_config = config
        .map(|c| format!("`strategy_files` in the config file `{}`", c.display()))
        .unwrap_or_default();
    let given = listed
        .iter()
        .map(|f| (f, in_config.as_str()))
        .chain(flags.iter().map(|f| (f, "--strategy-file")));
    let mut registry = Registry::builtin();
    // Each name added, with its file and where that was given.
    let mut added: BTreeMap<String, (&PathBuf, &str)> = BTreeMap::new();
    for (file, given_by) in given {
        match registry.add_file(file) {
            Ok(name) => {
                added.entry(name).or_insert((file, given_by));
            }
            Err(e) => {
                if let Ok(parsed) = StrategyFile::load(file)
                    && let Some((first, first_by)) = added.get(&parsed.name)
                {
                    bail!(
                        "two strategy files define the strategy `{}`: `{}` ({first_by}) and \
                         `{}` ({given_by}); one name cannot mean two strategies: give only the \
                         one the profile was tuned with",
                        parsed.name,
                        first.display(),
                        file.display()
                    );
                }
                if given_by == "--strategy-file" {
                    return Err(e.into());
                }
                bail!("{given_by}: {e}");
            }
        }
    }
    Ok(registry)
}
