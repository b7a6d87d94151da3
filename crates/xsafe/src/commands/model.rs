//! `xsafe model pull|import|list`: the GGUF models that `local:` targets
//! run, and the sentence encoders few-shot can pick exemplars with, kept in
//! the cache (`CACHE/models`).

use crate::cli::Global;
use crate::commands::print_json;
use crate::table;
use anyhow::{Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use xsafe_core::TargetError;
use xsafe_target::models::{self, KnownModel};

#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Download a known model into the cache and check its sha256
    Pull {
        /// A model name from `xsafe model list`
        name: String,
        /// Download from this URL instead of the model's public location: a GGUF file, or a
        /// folder (a mirror) holding the model under its usual file name; for an encoder, the
        /// URL its files are under. A file of another known model is refused
        #[arg(long, env = "XSAFE_MODEL_URL", value_name = "URL")]
        url: Option<String>,
    },
    /// Put a model that is already on disk into the cache as a known model, after checking its
    /// sha256
    Import {
        /// A model name from `xsafe model list`
        name: String,
        /// The GGUF file, or for an encoder the directory holding config.json, tokenizer.json,
        /// model.safetensors and sentence_bert_config.json; copied, not moved
        file: PathBuf,
    },
    /// The known models and where they are cached
    List {
        /// Print JSON: one object per model
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(global: &Global, cmd: ModelCommand) -> Result<ExitCode> {
    let cache = global.cache_dir()?;
    match cmd {
        ModelCommand::Pull { name, url } => {
            let bar = ProgressBar::with_draw_target(None, draw_target(global.quiet));
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar.set_message(format!("downloading {name}"));
            let shown = bar.clone();
            let progress = move |received: u64, total: Option<u64>| {
                if let Some(total) = total {
                    shown.set_length(total);
                }
                shown.set_position(received);
            };
            // Where the download site is out of reach (no network, a
            // firewall), say the two ways around it.
            let offline = |what: &str| {
                format!(
                    "; where that site cannot be reached, point --url (XSAFE_MODEL_URL) at a \
                     mirror, or download {what} elsewhere and run `xsafe model import {name} PATH`"
                )
            };
            let pulled = match xsafe_embed::models::known(&name) {
                Some(encoder) => {
                    xsafe_embed::models::pull(encoder, url.as_deref(), &cache, &progress)
                        .await
                        .map_err(|e| match e {
                            xsafe_embed::EmbedError::Fetch(
                                ref f @ xsafe_fetch::FetchError::Download { .. },
                            ) => anyhow::anyhow!("{f}{}", offline("its files into a directory")),
                            other => other.into(),
                        })
                }
                None => {
                    known_somewhere(&name)?;
                    models::pull(&name, url.as_deref(), &cache, &progress)
                        .await
                        .map_err(|e| match e {
                            TargetError::Connection(_) | TargetError::Status { .. } => {
                                anyhow::anyhow!("{e}{}", offline("the GGUF file"))
                            }
                            other => other.into(),
                        })
                }
            };
            bar.finish_and_clear();
            let path = pulled?;
            done("pulled", &name, &path)?;
        }
        ModelCommand::Import { name, file } => {
            // Hashing and copying a few hundred MB blocks for a second or two.
            known_somewhere(&name)?;
            let path = tokio::task::spawn_blocking(move || {
                let imported = match xsafe_embed::models::known(&name) {
                    Some(encoder) => xsafe_embed::models::import(encoder, &file, &cache)
                        .map_err(anyhow::Error::from),
                    None => models::import(&name, &file, &cache).map_err(anyhow::Error::from),
                };
                imported.map(|p| (name, p))
            })
            .await?;
            let (name, path) = path?;
            done("imported", &name, &path)?;
        }
        ModelCommand::List { json } => {
            tidy(&cache);
            let listed = list(&cache);
            if json {
                print_json(&listed)?;
            } else {
                let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
                let rows: Vec<Vec<String>> = listed
                    .iter()
                    .map(|m| {
                        let cached = match (m["cached"].as_str(), m["damaged"].as_str()) {
                            (Some(path), _) => path.to_string(),
                            (None, Some(_)) => format!(
                                "damaged: `xsafe model pull {}` replaces it",
                                text(&m["name"])
                            ),
                            (None, None) => "not cached".to_string(),
                        };
                        vec![
                            text(&m["name"]),
                            text(&m["kind"]),
                            cached,
                            text(&m["description"]),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table::render(&["name", "kind", "cached", "description"], &rows)
                );
                for m in &listed {
                    if let Some(why) = m["damaged"].as_str() {
                        note!("{why}");
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every known model and encoder with where it is cached (`null` when it
/// is not), as `xsafe model list --json` prints them. A chat model's file
/// that is in the cache but damaged (see [`damaged`]) is not cached: its
/// `damaged` says why and what to do, where other rows have none.
fn list(cache: &std::path::Path) -> Vec<serde_json::Value> {
    let mut rows: Vec<serde_json::Value> = models::cached(cache)
        .iter()
        .map(|(m, path)| {
            let kind = if m.instruction_tuned {
                "chat model (instruction-tuned)"
            } else {
                "chat model (base)"
            };
            let damaged = path.as_deref().and_then(|p| damaged(m, p));
            let mut row = serde_json::json!({
                "name": m.name,
                "kind": kind,
                "instruction_tuned": m.instruction_tuned,
                "cached": if damaged.is_some() { None } else { path.as_deref() },
                "url": m.url,
                "sha256": m.sha256,
                "description": m.description,
            });
            if let Some(why) = damaged {
                row["damaged"] = why.into();
            }
            row
        })
        .collect();
    for e in xsafe_embed::models::ENCODERS {
        let cached = xsafe_embed::models::is_cached(e, cache)
            .then(|| xsafe_embed::models::cache_path(e, cache));
        rows.push(serde_json::json!({
            "name": e.name,
            "kind": "sentence encoder",
            "instruction_tuned": null,
            "cached": cached,
            "url": e.base_url,
            "sha256": xsafe_embed::models::CACHED_FILES.iter().zip(e.sha256)
                .map(|(f, sha)| (f.to_string(), serde_json::Value::from(sha)))
                .collect::<serde_json::Map<_, _>>(),
            "description": e.description,
        }));
    }
    rows
}

/// What is wrong with the cached file `path` of `model`, and what to do:
/// a file of another size than the model's, one that is not a whole GGUF
/// (cut short), or of another quantisation
/// ([`models::cached_problem`]), which `local:` could not run or would
/// run as another model; `None` for a whole file (it is not hashed).
fn damaged(model: &KnownModel, path: &std::path::Path) -> Option<String> {
    let why = models::cached_problem(model, path)?;
    Some(format!(
        "the cached file of `{}` (`{}`) is damaged: {why}; `xsafe model pull {}` replaces it",
        model.name,
        path.display(),
        model.name
    ))
}

/// Removes what interrupted commands left in the model cache and nothing
/// would use: temporary copies of a stopped `model import` that no running
/// command holds, and partial downloads of models cached since (imported,
/// or pulled from another URL). `pull` and `import` do the same for the
/// model they handle.
fn tidy(cache: &std::path::Path) {
    xsafe_fetch::remove_stale_temporaries(&models::models_dir(cache));
    for (model, path) in models::cached(cache) {
        // A damaged copy is no reason to drop a download that replaces it.
        if path.is_some_and(|p| models::cached_problem(model, &p).is_none()) {
            xsafe_fetch::discard_partial(&models::cache_path(model, cache));
        }
    }
    for e in xsafe_embed::models::ENCODERS {
        let dir = xsafe_embed::models::cache_path(e, cache);
        xsafe_fetch::remove_stale_temporaries(&dir);
        for file in xsafe_embed::models::CACHED_FILES {
            if dir.join(file).is_file() {
                xsafe_fetch::discard_partial(&dir.join(file));
            }
        }
    }
}

/// Refuses a name that is neither a chat model nor an encoder, naming both.
fn known_somewhere(name: &str) -> Result<()> {
    if models::known(name).is_some() || xsafe_embed::models::known(name).is_some() {
        return Ok(());
    }
    let chat: Vec<&str> = models::MODELS.iter().map(|m| m.name).collect();
    let encoders: Vec<&str> = xsafe_embed::models::ENCODERS
        .iter()
        .map(|e| e.name)
        .collect();
    bail!(
        "unknown model `{name}`; chat models: {}; sentence encoders: {}",
        chat.join(", "),
        encoders.join(", ")
    )
}

/// The path on stdout (for scripts), what happened on stderr.
fn done(what: &str, name: &str, path: &std::path::Path) -> anyhow::Result<()> {
    outln!("{}", path.display());
    note!("{what} `{name}` into {}", path.display());
    if models::known(name).is_some_and(|m: &KnownModel| !m.instruction_tuned) {
        note!(
            "note: `{name}` is a base model: it continues the prompt rather than answering, \
             so it refuses nothing and its numbers only demonstrate the pipeline; for a real \
             measurement use an instruction-tuned model (`xsafe model pull gemma-3-270m-it`) \
             or an OpenAI-compatible server"
        );
    }
    Ok(())
}

fn draw_target(quiet: bool) -> ProgressDrawTarget {
    if quiet {
        ProgressDrawTarget::hidden()
    } else {
        // indicatif draws nothing when stderr is not a terminal.
        ProgressDrawTarget::stderr()
    }
}
