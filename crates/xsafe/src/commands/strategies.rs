//! `xsafe strategies list|show`.

use crate::cli::{Global, StrategiesCommand};
use crate::commands::print_json;
use crate::strategies::registry;
use crate::table;
use anyhow::{Result, bail};
use serde_json::json;
use std::process::ExitCode;
use xsafe_core::{Case, Label, Strategy};
use xsafe_strategy::{BuildOptions, Kind, SpecError};

pub fn run(global: &Global, cmd: StrategiesCommand) -> Result<ExitCode> {
    match cmd {
        StrategiesCommand::List {
            strategy_files,
            json,
        } => {
            let registry = registry(&strategy_files)?;
            // A file is checked as `show` and `run` check it, by building its
            // strategy: a misspelt template variable or a composition step
            // that does not exist is an error when the file is loaded, not
            // on first use. Built-in strategies are checked by their tests.
            let options = BuildOptions {
                cache_dir: Some(global.cache_dir()?),
                ..Default::default()
            };
            for name in registry.names() {
                if registry.file(name).is_some_and(|f| f.path.is_some()) {
                    match registry.build(name, &options) {
                        Ok(_) => {}
                        // The file is right; this machine lacks its sentence
                        // encoder, which `show` and `run` will say again.
                        Err(e @ SpecError::Unavailable { .. }) => note!("note: {e}"),
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            let rows: Vec<(String, &str, String, String)> = registry
                .names()
                .map(|name| {
                    let f = registry.file(name).expect("listed names exist");
                    let kind = match &f.kind {
                        Kind::Baseline => "baseline",
                        Kind::FewShot(_) => "few-shot",
                        Kind::Contextual(_) => "contextual",
                        Kind::Interactive(_) => "interactive",
                        Kind::Composition(_) => "composition",
                    };
                    (
                        name.to_string(),
                        kind,
                        f.source.clone(),
                        f.description.clone(),
                    )
                })
                .collect();
            if json {
                let list: Vec<_> = rows
                    .iter()
                    .map(
                        |(n, k, s, d)| json!({"name": n, "kind": k, "source": s, "description": d}),
                    )
                    .collect();
                print_json(&list)?;
            } else {
                let table_rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|(n, k, s, _)| vec![n.clone(), k.to_string(), s.clone()])
                    .collect();
                out!(
                    "{}",
                    table::render(&["name", "kind", "source"], &table_rows)
                );
                outln!(
                    "\nCompose with `+` (e.g. contextual+few-shot); `xsafe strategies show NAME --prompt TEXT` prints what is sent."
                );
            }
        }
        StrategiesCommand::Show {
            name,
            prompt,
            kind,
            strategy_files,
            json,
        } => {
            // A run refuses a case whose prompt is empty (or only
            // whitespace) with these words, so it never sends what this
            // would show.
            if prompt.trim().is_empty() {
                bail!("--prompt: the prompt is empty; write the prompt");
            }
            let options = BuildOptions {
                cache_dir: Some(global.cache_dir()?),
                ..Default::default()
            };
            let strategy = registry(&strategy_files)?.build(&name, &options)?;
            // The prompt as a run makes it from a case of this type, by the
            // same function (`contrast_homonyms` reads as `homonyms`); a
            // case's label never reaches a strategy, so the one here is moot.
            let prompt = Case {
                id: String::new(),
                prompt,
                kind: kind.unwrap_or_default(),
                label: Label::Safe,
                focus: None,
                note: None,
            }
            .to_prompt();
            for note in strategy.type_notes(&prompt) {
                note!("note: {note}");
            }
            // A run gives the type; the proxy gets none, and what it sends
            // is what this prints without --type.
            if strategy.sends_otherwise_untyped(&prompt)? {
                note!(
                    "note: `xsafe serve` sends this prompt another conversation: the proxy gets \
                     no type and reads one from the prompt's words, as this command does without \
                     --type; a run (and tune) sends what is printed here"
                );
            }
            let messages = strategy.opening(&prompt)?;
            let followups = strategy.followups(&prompt)?;
            if json {
                print_json(&json!({
                    "name": strategy.name(),
                    "messages": messages,
                    "followups": followups,
                    "definition": strategy.definition(),
                }))?;
            } else {
                outln!("strategy {}: {}\n", strategy.name(), strategy.description());
                outln!(
                    "first request ({}):",
                    super::count(messages.len() as u64, "message")
                );
                for m in &messages {
                    outln!("\n[{}]\n{}", m.role.as_str(), m.content);
                }
                for (i, f) in followups.iter().enumerate() {
                    outln!("\nif reply {} refuses, the follow-up (user):\n{}", i + 1, f);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
