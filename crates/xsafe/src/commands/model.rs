//! `xsafe model pull|import|list`: the GGUF models that `local:` targets
//! run, kept in the cache (`CACHE/models`).

use crate::cli::Global;
use crate::commands::print_json;
use crate::table;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use xsafe_target::models::{self, KnownModel};

#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Download a known model into the cache and check its sha256
    Pull {
        /// A model name from `xsafe model list`
        name: String,
        /// Download from this URL instead of the model's public location (a mirror)
        #[arg(long, env = "XSAFE_MODEL_URL", value_name = "URL")]
        url: Option<String>,
    },
    /// Put a GGUF file that is already on disk into the cache as a known model, after
    /// checking its sha256
    Import {
        /// A model name from `xsafe model list`
        name: String,
        /// The GGUF file; it is copied, not moved
        file: PathBuf,
    },
    /// The known models and where they are cached
    List {
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
            let pulled = models::pull(&name, url.as_deref(), &cache, &progress).await;
            bar.finish_and_clear();
            let path = pulled?;
            done("pulled", &name, &path);
        }
        ModelCommand::Import { name, file } => {
            // Hashing and copying a few hundred MB blocks for a second or two.
            let path = tokio::task::spawn_blocking(move || {
                models::import(&name, &file, &cache).map(|p| (name, p))
            })
            .await?;
            let (name, path) = path?;
            done("imported", &name, &path);
        }
        ModelCommand::List { json } => {
            let listed = models::cached(&cache);
            if json {
                let rows: Vec<serde_json::Value> = listed
                    .iter()
                    .map(|(m, path)| {
                        serde_json::json!({
                            "name": m.name,
                            "instruction_tuned": m.instruction_tuned,
                            "cached": path,
                            "url": m.url,
                            "sha256": m.sha256,
                            "description": m.description,
                        })
                    })
                    .collect();
                print_json(&rows)?;
            } else {
                let rows: Vec<Vec<String>> = listed
                    .iter()
                    .map(|(m, path)| {
                        vec![
                            m.name.to_string(),
                            if m.instruction_tuned { "yes" } else { "no" }.to_string(),
                            path.as_ref()
                                .map_or("not cached".to_string(), |p| p.display().to_string()),
                            m.description.to_string(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table::render(
                        &["name", "instruction-tuned", "cached", "description"],
                        &rows
                    )
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The path on stdout (for scripts), what happened on stderr.
fn done(what: &str, name: &str, path: &std::path::Path) {
    println!("{}", path.display());
    eprintln!("{what} `{name}` into {}", path.display());
    if models::known(name).is_some_and(|m: &KnownModel| !m.instruction_tuned) {
        eprintln!(
            "note: `{name}` is a base model: it continues the prompt rather than answering, \
             so it refuses nothing and its numbers only demonstrate the pipeline; for a real \
             measurement use an instruction-tuned model (`xsafe model pull gemma-3-270m-it`) \
             or an OpenAI-compatible server"
        );
    }
}

fn draw_target(quiet: bool) -> ProgressDrawTarget {
    if quiet {
        ProgressDrawTarget::hidden()
    } else {
        // indicatif draws nothing when stderr is not a terminal.
        ProgressDrawTarget::stderr()
    }
}
