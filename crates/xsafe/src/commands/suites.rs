//! `xsafe suites list|show|fetch`.

use crate::cli::{Global, SuitesCommand};
use crate::commands::print_json;
use crate::table;
use anyhow::Result;
use std::process::ExitCode;
use xsafe_suite::SuiteSummary;

pub async fn run(global: &Global, cmd: SuitesCommand) -> Result<ExitCode> {
    let cache = global.cache_dir()?;
    match cmd {
        SuitesCommand::List { json } => {
            let mut summaries = Vec::new();
            for suite in xsafe_suite::available(&cache) {
                match suite {
                    Ok(s) => summaries.push(SuiteSummary::of(&s)),
                    // A broken cached file must not hide the others.
                    Err(e) => tracing::warn!("{e}"),
                }
            }
            if json {
                print_json(&summaries)?;
            } else {
                let rows: Vec<Vec<String>> = summaries
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.cases.to_string(),
                            s.safe.to_string(),
                            s.unsafe_.to_string(),
                            s.types.len().to_string(),
                            s.fingerprint[..12].to_string(),
                            s.source.clone(),
                        ]
                    })
                    .collect();
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
