//! `xsafe suites list|show|fetch`.

use crate::cli::{Global, SuitesCommand};
use crate::commands::{count, print_json};
use crate::table;
use anyhow::Result;
use serde::Serialize;
use std::process::ExitCode;
use xsafe_suite::{SuiteError, SuiteSummary};

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
            // A broken cached file is listed with its error: it must
            // neither hide the others nor be hidden by `-q` or `--json`.
            // The error is said there only; the log gets one short line,
            // for a reader of `--json` who sees only stderr.
            let listed: Vec<Listed> = xsafe_suite::available(&cache)
                .into_iter()
                .map(|a| match a.suite {
                    Ok(s) => Listed::Usable {
                        summary: SuiteSummary::of(&s),
                        warning: xsafe_suite::remote(a.name)
                            .and_then(|r| r.unpinned_warning(&cache)),
                    },
                    Err(e) => {
                        tracing::warn!("{}", unusable_line(a.name, &e));
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
                anyhow::bail!("{}", no_such_type(&suite.name, k, &suite.types()));
            }
            let cases: Vec<_> = suite
                .cases
                .iter()
                .filter(|c| kind.as_ref().is_none_or(|k| &c.kind == k))
                .collect();
            if json {
                print_json(&cases)?;
            } else {
                outln!(
                    "{}",
                    show_header(&SuiteSummary::of(&suite), kind.as_deref(), cases.len())
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
                "fetched `{name}` into {}: {}, fingerprint {}",
                path.display(),
                count(suite.cases.len() as u64, "case"),
                suite.fingerprint()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The line `suites show` starts with: the suite's counts and fingerprint,
/// and, with `--type`, how many of its cases are of that type (the rows
/// shown below it).
fn show_header(summary: &SuiteSummary, kind: Option<&str>, shown: usize) -> String {
    let of_type = match kind {
        Some(kind) => format!("; {} of type `{kind}` below", count(shown as u64, "case")),
        None => String::new(),
    };
    format!(
        "{}: {} ({} safe, {} unsafe), fingerprint {}{of_type}",
        summary.name,
        count(summary.cases as u64, "case"),
        summary.safe,
        summary.unsafe_,
        summary.fingerprint
    )
}

/// The error of `suites show --type` for a type the suite does not have,
/// with those it has (its one type said as such).
fn no_such_type(suite: &str, kind: &str, types: &[&str]) -> String {
    let has = match types {
        [one] => format!("its only type is `{one}`"),
        _ => format!("its types are: {}", types.join(", ")),
    };
    format!("suite `{suite}` has no type `{kind}`; {has}")
}

/// The one line `suites list` logs of a fetched suite it lists as
/// unusable, whose entry holds the whole error: which suite, which file
/// and what to do, without the checksums.
fn unusable_line(name: &str, e: &SuiteError) -> String {
    let fetch = format!("fetch it again with `xsafe suites fetch {name}`");
    match e {
        SuiteError::CacheChanged { path, .. } => format!(
            "suite `{name}` is listed as unusable: its cached copy `{}` was changed after it was \
             fetched; {fetch}",
            path.display()
        ),
        SuiteError::Invalid { file, .. } => format!(
            "suite `{name}` is listed as unusable: its cached copy `{file}` is damaged; {fetch}"
        ),
        _ => format!("suite `{name}` is listed as unusable; its entry says why"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_type_is_told_with_the_types_there_are() {
        assert_eq!(
            no_such_type("s", "x", &["homonyms"]),
            "suite `s` has no type `x`; its only type is `homonyms`"
        );
        assert_eq!(
            no_such_type("s", "x", &["a", "b"]),
            "suite `s` has no type `x`; its types are: a, b"
        );
    }

    fn summary(cases: usize, safe: usize) -> SuiteSummary {
        SuiteSummary {
            name: "s".into(),
            source: "s.csv".into(),
            cases,
            safe,
            unsafe_: cases - safe,
            types: vec!["t".into()],
            fingerprint: "f".into(),
        }
    }

    #[test]
    fn the_show_header_counts_one_case_in_the_singular() {
        assert_eq!(
            show_header(&summary(1, 1), None, 1),
            "s: 1 case (1 safe, 0 unsafe), fingerprint f"
        );
        assert_eq!(
            show_header(&summary(2, 1), None, 2),
            "s: 2 cases (1 safe, 1 unsafe), fingerprint f"
        );
        assert_eq!(
            show_header(&summary(3, 2), Some("t"), 1),
            "s: 3 cases (2 safe, 1 unsafe), fingerprint f; 1 case of type `t` below"
        );
        assert_eq!(
            show_header(&summary(3, 2), Some("t"), 2),
            "s: 3 cases (2 safe, 1 unsafe), fingerprint f; 2 cases of type `t` below"
        );
    }
}
