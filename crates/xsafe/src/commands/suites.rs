//! `xsafe suites list|show|fetch`.

use crate::cli::{Global, SuitesCommand};
use crate::commands::print_json;
use crate::table;
use anyhow::Result;
use serde::Serialize;
use std::process::ExitCode;
use xsafe_suite::SuiteSummary;

/// One line of `suites list`: a suite, or one that cannot be used (a
/// fetched copy changed or damaged after its fetch) with why, so that
/// neither the table nor `--json` leaves it out.
#[derive(Serialize)]
#[serde(untagged)]
enum Listed {
    Usable {
        #[serde(flatten)]
        summary: SuiteSummary,
        /// Why a fetched copy is used unchecked (pinned on first use, but
        /// its download did not say its length): it may be cut short.
        #[serde(skip_serializing_if = "Option::is_none")]
        warning: Option<String>,
    },
    Unusable {
        name: &'static str,
        error: String,
    },
}

impl Listed {
    /// The table's cells: name, cases, safe, unsafe, types, fingerprint,
    /// source (for an unusable suite, its error).
    fn row(&self) -> Vec<String> {
        match self {
            Listed::Usable {
                summary: s,
                warning,
            } => vec![
                s.name.clone(),
                s.cases.to_string(),
                s.safe.to_string(),
                s.unsafe_.to_string(),
                s.types.len().to_string(),
                s.fingerprint[..12].to_string(),
                match warning {
                    Some(_) => format!("{} (unpinned: may be cut short)", s.source),
                    None => s.source.clone(),
                },
            ],
            Listed::Unusable { name, error } => {
                let mut row = vec![name.to_string()];
                row.extend(std::iter::repeat_n("-".to_string(), 5));
                row.push(format!("unusable: {error}"));
                row
            }
        }
    }
}

pub async fn run(global: &Global, cmd: SuitesCommand) -> Result<ExitCode> {
    let cache = global.cache_dir()?;
    match cmd {
        SuitesCommand::List { json } => {
            // A broken cached file is listed with its error (and logged):
            // it must neither hide the others nor be hidden by `-q` or
            // `--json`.
            let listed: Vec<Listed> = xsafe_suite::available(&cache)
                .into_iter()
                .map(|a| match a.suite {
                    Ok(s) => Listed::Usable {
                        summary: SuiteSummary::of(&s),
                        warning: xsafe_suite::remote(a.name)
                            .and_then(|r| r.unpinned_warning(&cache)),
                    },
                    Err(e) => {
                        tracing::warn!("{e}");
                        Listed::Unusable {
                            name: a.name,
                            error: e.to_string(),
                        }
                    }
                })
                .collect();
            if json {
                print_json(&listed)?;
            } else {
                let rows: Vec<Vec<String>> = listed.iter().map(Listed::row).collect();
                out!(
                    "{}",
                    table::render(
                        &[
                            "name",
                            "cases",
                            "safe",
                            "unsafe",
                            "types",
                            "fingerprint",
                            "source"
                        ],
                        &rows
                    )
                );
            }
        }
        SuitesCommand::Show {
            name,
            kind,
            file,
            json,
        } => {
            let suite = xsafe_suite::resolve(&name, &cache, &file.load_options()?)?;
            if let Some(k) = &kind
                && !suite.cases.iter().any(|c| &c.kind == k)
            {
                anyhow::bail!(
                    "suite `{}` has no type `{k}`; its types are: {}",
                    suite.name,
                    suite.types().join(", ")
                );
            }
            let cases: Vec<_> = suite
                .cases
                .iter()
                .filter(|c| kind.as_ref().is_none_or(|k| &c.kind == k))
                .collect();
            if json {
                print_json(&cases)?;
            } else {
                let summary = SuiteSummary::of(&suite);
                outln!(
                    "{}: {} cases ({} safe, {} unsafe), fingerprint {}",
                    summary.name,
                    summary.cases,
                    summary.safe,
                    summary.unsafe_,
                    summary.fingerprint
                );
                let rows: Vec<Vec<String>> = cases
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.clone(),
                            c.kind.clone(),
                            c.label.to_string(),
                            c.prompt.clone(),
                        ]
                    })
                    .collect();
                out!(
                    "{}",
                    table::render(&["id", "type", "label", "prompt"], &rows)
                );
            }
        }
        SuitesCommand::Fetch { name, base_url } => {
            let path = xsafe_suite::fetch(&name, base_url.as_deref(), &cache).await?;
            let suite = xsafe_suite::resolve(&name, &cache, &Default::default())?;
            note!(
                "fetched `{name}` into {}: {} cases, fingerprint {}",
                path.display(),
                suite.cases.len(),
                suite.fingerprint()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
