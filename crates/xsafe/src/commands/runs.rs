//! `xsafe runs list|show|delete`.

use crate::cli::{Global, ResultFilter, RunsCommand};
use crate::commands::{count, print_json};
use crate::settings::DbOrigin;
use crate::table;
use anyhow::Result;
use serde::Serialize;
use serde_json::json;
use std::process::ExitCode;
pub(crate) use xsafe_report::{run_judge, verdict_of};
use xsafe_store::{RunRecord, RunStatus, RunSummary, Store, StoreError, StoredResult, judge_name};

pub fn run(global: &Global, cmd: RunsCommand) -> Result<ExitCode> {
    match cmd {
        RunsCommand::List { json } => list(global, json)?,
        RunsCommand::Show { run, filter, json } => {
            show(&*global.open_store()?, &run, &filter, json)?
        }
        RunsCommand::Delete { runs, force } => delete(&*global.open_store()?, &runs, force)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Every run, newest first, with what it measured. Before the first run
/// there is no store at the default path, and no run to list: that is
/// said, and nothing is created. A path given with `--db` or `XSAFE_DB`
/// that names no store is more likely mistyped, and is refused.
fn list(global: &Global, json: bool) -> Result<()> {
    let store = match global.existing_store()? {
        Some(store) => store,
        // Only a `--db` given on this command line is a path typed now,
        // a typo to point out; XSAFE_DB is set once for a whole session or
        // CI job, often before its first run, like the default path.
        None if global.db_origin() != DbOrigin::Flag => {
            if json {
                print_json(&json!([]))?;
            } else {
                note!(
                    "no runs yet (there is no run store at {} yet); start one with `xsafe run`",
                    global.db_path()?.display()
                );
            }
            return Ok(());
        }
        None => anyhow::bail!(global.no_store_message()),
    };
    let runs = store.list_runs()?;
    let measured = runs
        .iter()
        .map(|r| store.run_by_id(r.id).map(|record| Measured::of(&record)))
        .collect::<Result<Vec<_>, _>>()?;
    if json {
        let rows: Vec<_> = runs
            .iter()
            .zip(&measured)
            .map(|(summary, measured)| ListedRun { summary, measured })
            .collect();
        print_json(&rows)?;
    } else if runs.is_empty() {
        note!(
            "no runs yet in {}; start one with `xsafe run`",
            global.db_path()?.display()
        );
    } else {
        // Long lists (tune's seven strategies) are cut; --json has all.
        let list = |names: &[String]| table::excerpt(&names.join(","), 40);
        let rows: Vec<Vec<String>> = runs
            .iter()
            .zip(&measured)
            .map(|(r, m)| {
                vec![
                    r.id.to_string(),
                    r.name.clone(),
                    r.created_at.clone(),
                    r.status.as_str().to_string(),
                    list(&m.suites),
                    list(&m.targets),
                    list(&m.strategies),
                    r.cases.to_string(),
                    r.results.to_string(),
                    r.errors.to_string(),
                ]
            })
            .collect();
        let header = [
            "id",
            "name",
            "created",
            "status",
            "suites",
            "targets",
            "strategies",
            "cases",
            "results",
            "errors",
        ];
        out!("{}", table::render(&header, &rows));
    }
    Ok(())
}

/// One line per result of a run, or of the results `filter` keeps, with
/// the verdict of the run's own judge.
fn show(store: &Store, run: &str, filter: &ResultFilter, json: bool) -> Result<()> {
    let Selection {
        record,
        judge,
        results,
    } = selected(store, run, filter)?;
    if json {
        let rows: Vec<_> = results.iter().map(result_json).collect();
        print_json(&json!({
            "run": record.name,
            "id": record.id,
            "judge": judge,
            "results": rows,
        }))?;
    } else {
        // Which judge's verdicts the column shows, when the run says.
        let judged_by = if judge.is_empty() {
            String::new()
        } else {
            format!(", judged by {judge}")
        };
        outln!(
            "run {} (id {}), {}, created {}{judged_by}",
            record.name,
            record.id,
            record.status.as_str(),
            record.created_at
        );
        let mut group: Option<(String, String)> = None;
        let mut rows = Vec::new();
        for r in &results {
            let this = (r.key.target.clone(), r.key.strategy.clone());
            if group.as_ref() != Some(&this) {
                if !rows.is_empty() {
                    out!("{}", render_rows(&rows));
                    rows.clear();
                }
                outln!("\n== {} / {}", this.0, this.1);
                group = Some(this);
            }
            rows.push(result_row(r, &judge, record.suites.len() > 1));
        }
        if !rows.is_empty() {
            out!("{}", render_rows(&rows));
        }
    }
    Ok(())
}

/// A run and the results of it a [`ResultFilter`] keeps, with the judge
/// whose verdicts they are filtered and shown by.
pub(crate) struct Selection {
    pub record: RunRecord,
    /// The name of the run's own judge (see [`run_judge`]).
    pub judge: String,
    pub results: Vec<StoredResult>,
}

/// A run and the results of it `filter` keeps; when that is not all of
/// them, stderr says how many.
pub(crate) fn selected(store: &Store, run: &str, filter: &ResultFilter) -> Result<Selection> {
    let record = store.run(run)?;
    let all = store.results(record.id)?;
    let judge = run_judge(&record, &all);
    let started = Started::of(store, &record, filter)?;
    let stored = all.len();
    let results = filtered(all, filter, &judge, &started)?;
    if results.len() < stored {
        note!(
            "{} of the run's {stored} match",
            count(results.len() as u64, "result")
        );
    }
    Ok(Selection {
        record,
        judge,
        results,
    })
}

/// The judge name `--judge SPEC` counts the verdicts of in `runs` (each a
/// run's name and results): SPEC as `--judge` takes it, or a stored
/// `name@version` tag (as `rejudge` prints it). No verdict of it in any of
/// the runs (that have verdicts) is an error naming the judges there are:
/// every answer would count as unjudged.
pub(crate) fn counted_judge(spec: &str, runs: &[(&str, &[StoredResult])]) -> Result<String> {
    let tags: std::collections::BTreeSet<&str> = runs
        .iter()
        .flat_map(|(_, results)| results.iter())
        .flat_map(|r| &r.verdicts)
        .map(|v| v.judge.as_str())
        .collect();
    let names: std::collections::BTreeSet<&str> = tags.iter().map(|t| judge_name(t)).collect();
    let name = xsafe_judge::stored_name(spec);
    // Runs without any verdict (every request failed) have nothing to count.
    if names.is_empty() || names.contains(name.as_str()) {
        return Ok(name);
    }
    if tags.contains(name.as_str()) {
        return Ok(judge_name(&name).to_string());
    }
    let runs = runs.iter().map(|(run, _)| *run).collect::<Vec<_>>();
    let first = runs[0];
    let runs = runs.join(", ");
    let judges = names.iter().copied().collect::<Vec<_>>().join(", ");
    // `rejudge` takes a judge, not a version of one: it judges with this
    // xsafe's version.
    let Some(unversioned) = without_version(spec) else {
        anyhow::bail!(
            "--judge {spec}: no answer of {runs} has a verdict of judge `{name}`; their judges: \
             {judges} (`xsafe rejudge {first} --judge {spec}` judges the answers with it)"
        )
    };
    let judge = judge_name(&name);
    if names.contains(judge) {
        let versions = tags
            .iter()
            .filter(|t| judge_name(t) == judge)
            .map(|t| format!("`{t}`"))
            .collect::<Vec<_>>()
            .join(", ");
        anyhow::bail!(
            "--judge {spec}: no answer of {runs} has a verdict of `{name}`; their verdicts of \
             judge `{judge}` are tagged {versions}: pass `--judge {unversioned}` to count them"
        )
    }
    anyhow::bail!(
        "--judge {spec}: no answer of {runs} has a verdict of judge `{name}`; their judges: \
         {judges} (`xsafe rejudge {first} --judge {unversioned}` judges the answers with this \
         xsafe's version of `{judge}`)"
    )
}

/// The judge of a `name@version` tag as `--judge` takes it (`strmatch` of
/// `strmatch@1`, `xsafe` of `xsafe@4-1a2b`); `None` for a spec that names
/// no version. A version starts with a digit, so that a name with an `@`
/// of its own is not cut.
fn without_version(spec: &str) -> Option<&str> {
    let (judge, version) = spec.trim().rsplit_once('@')?;
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then_some(judge)
}

/// The names a run was started with, which a filter may ask for even when
/// no result of them is stored yet (a run interrupted early): targets and
/// strategies from its recorded config, prompt types from its cases (stored
/// as it starts; read only when `--type` asks, since that reads every case).
struct Started {
    targets: Vec<String>,
    strategies: Vec<String>,
    types: Vec<String>,
    status: RunStatus,
}

impl Started {
    fn of(store: &Store, record: &RunRecord, filter: &ResultFilter) -> Result<Started> {
        let Measured {
            targets,
            strategies,
            ..
        } = Measured::of(record);
        let mut types: Vec<String> = match filter.kind {
            Some(_) => store.cases(record.id)?,
            None => Vec::new(),
        }
        .into_iter()
        .map(|(_, case)| case.kind)
        .collect();
        types.sort_unstable();
        types.dedup();
        Ok(Started {
            targets,
            strategies,
            types,
            status: record.status,
        })
    }
}

/// The results `filter` keeps, by the verdicts of `judge`. A target,
/// strategy or type the run was not started with and has no result of is
/// refused with the ones it has: more likely a misspelling than a question
/// whose answer is "none". One it was started with but has no result of
/// yet keeps none, with a note saying why.
fn filtered(
    results: Vec<StoredResult>,
    filter: &ResultFilter,
    judge: &str,
    started: &Started,
) -> Result<Vec<StoredResult>> {
    let check =
        |flag: &str, wanted: &Option<String>, names: &[String], of: fn(&StoredResult) -> &str| {
            let Some(wanted) = wanted else {
                return Ok(());
            };
            if results.iter().any(|r| of(r) == wanted) {
                return Ok(());
            }
            if names.contains(wanted) {
                note!(
                    "--{flag} `{wanted}`: no conversation of it is stored yet (the run is {})",
                    started.status.as_str()
                );
                return Ok(());
            }
            let mut known: Vec<&str> = names
                .iter()
                .map(String::as_str)
                .chain(results.iter().map(of))
                .collect();
            known.sort_unstable();
            known.dedup();
            Err(anyhow::anyhow!(
                "--{flag} `{wanted}`: the run has none; it has {}",
                known.join(", ")
            ))
        };
    check("target", &filter.target, &started.targets, |r| {
        &r.key.target
    })?;
    check("strategy", &filter.strategy, &started.strategies, |r| {
        &r.key.strategy
    })?;
    check("type", &filter.kind, &started.types, |r| &r.case.kind)?;
    let keep = |r: &StoredResult| {
        let is =
            |wanted: &Option<String>, value: &str| wanted.as_deref().is_none_or(|w| w == value);
        // An answer the judge has no verdict for counts as unscored, as in
        // `xsafe report`.
        let verdict = match (&r.error, verdict_of(r, judge)) {
            (Some(_), _) => "error",
            (None, Some(v)) => v.outcome.label(),
            (None, None) => "unscored",
        };
        is(&filter.target, &r.key.target)
            && is(&filter.strategy, &r.key.strategy)
            && is(&filter.kind, &r.case.kind)
            && is(&filter.label, r.case.label.as_str())
            && match filter.verdict.as_deref() {
                Some("refusal") => matches!(verdict, "full_refusal" | "partial_refusal"),
                wanted => wanted.is_none_or(|w| w == verdict),
            }
    };
    Ok(results.into_iter().filter(keep).collect())
}

/// Deletes the runs after checking them all, so that a refused one leaves
/// every run in place. Human labels are work that cannot be asked again,
/// and a run another xsafe is running would fail under it: both need
/// `--force`. The runs are claimed until deleted, so none starts meanwhile.
fn delete(store: &Store, names: &[String], force: bool) -> Result<()> {
    let mut runs = Vec::new();
    for name in names {
        let run = store.run(name)?;
        if !runs.iter().any(|r: &RunRecord| r.id == run.id) {
            runs.push(run);
        }
    }
    let mut claims = Vec::new();
    if !force {
        for run in &runs {
            claims.push(store.lock_run(run).map_err(|e| match e {
                StoreError::RunBusy { .. } => {
                    anyhow::anyhow!("{e}; or add --force to delete it anyway (nothing was deleted)")
                }
                e => e.into(),
            })?);
            let labels = store.annotations(run.id)?.len();
            if labels > 0 {
                anyhow::bail!(
                    "run `{}` has {}; `xsafe annotate export {}` keeps them in a file; add \
                     --force to delete the run anyway (nothing was deleted)",
                    run.name,
                    count(labels as u64, "human label"),
                    run.name
                );
            }
        }
    }
    for run in runs {
        let deleted = store.delete_run(run.id)?;
        note!(
            "deleted run `{}` (id {}): {}, {}",
            run.name,
            run.id,
            count(deleted.results, "result"),
            count(deleted.annotations, "human label")
        );
    }
    // The claims end here, with their runs gone.
    drop(claims);
    Ok(())
}

/// A line of `runs list --json`: the store's counts and what was measured.
#[derive(Serialize)]
struct ListedRun<'a> {
    #[serde(flatten)]
    summary: &'a RunSummary,
    #[serde(flatten)]
    measured: &'a Measured,
}

/// What a run measured, by name, from what it recorded: a derived run
/// name says nothing of it.
#[derive(Serialize)]
struct Measured {
    suites: Vec<String>,
    targets: Vec<String>,
    strategies: Vec<String>,
}

impl Measured {
    fn of(run: &RunRecord) -> Measured {
        let names = |list: &str, field: &str| -> Vec<String> {
            let items = run.config[list].as_array().into_iter().flatten();
            items
                .filter_map(|item| item[field].as_str().map(String::from))
                .collect()
        };
        Measured {
            suites: run.suites.iter().map(|(name, _)| name.clone()).collect(),
            targets: names("targets", "id"),
            strategies: names("strategies", "name"),
        }
    }
}

fn render_rows(rows: &[Vec<String>]) -> String {
    table::render(&["case", "type", "label", "verdict", "answer"], rows)
}

/// The verdict of `judge` on `r` as `runs show` prints it: its class, or
/// `error:KIND`, or `-` when that judge gave none; ` (cut)` marks an answer
/// cut by the token limit.
fn verdict_label(r: &StoredResult, judge: &str) -> String {
    let label = match (&r.error, verdict_of(r, judge)) {
        (Some(e), _) => format!("error:{}", e.kind),
        (None, Some(v)) => v.outcome.label().to_string(),
        (None, None) => "-".to_string(),
    };
    let cut = r
        .transcript
        .as_ref()
        .is_some_and(|t| t.finish_reason == Some(xsafe_core::FinishReason::Length));
    // An answer cut by the token limit may have been judged on its start only.
    if cut { format!("{label} (cut)") } else { label }
}

/// One line of `runs show`: the case (`SUITE:ID` in a run of several
/// suites, whose case ids may repeat; `#N` for sample N), its type, label,
/// verdict (`judge`'s) and the answer's first words.
fn result_row(r: &StoredResult, judge: &str, with_suite: bool) -> Vec<String> {
    let mut case = r.key.case_id.clone();
    if with_suite {
        case = format!("{}:{case}", r.key.suite);
    }
    if r.key.sample > 0 {
        case = format!("{case}#{}", r.key.sample);
    }
    let answer = match (&r.error, &r.transcript) {
        (Some(e), _) => e.message.clone(),
        (None, Some(t)) => t
            .final_reply()
            .map(|m| m.content.clone())
            .unwrap_or_default(),
        (None, None) => String::new(),
    };
    vec![
        case,
        r.case.kind.clone(),
        r.case.label.to_string(),
        verdict_label(r, judge),
        table::excerpt(&answer, 60),
    ]
}

/// One result with everything stored about it, as exported and shown.
pub fn result_json(r: &StoredResult) -> serde_json::Value {
    json!({
        "target": r.key.target,
        "strategy": r.key.strategy,
        "suite": r.key.suite,
        "id": r.key.case_id,
        "sample": r.key.sample,
        "type": r.case.kind,
        "label": r.case.label,
        "prompt": r.case.prompt,
        "messages": r.transcript.as_ref().map(|t| &t.messages),
        "finish_reason": r.transcript.as_ref().and_then(|t| t.finish_reason.as_ref()),
        "complied_at_turn": r.transcript.as_ref().and_then(|t| t.complied_at_turn),
        "verdicts": r.verdicts.iter().map(|v| json!({
            "judge": v.judge,
            "verdict": v.outcome.label(),
            "reason": v.outcome.reason(),
            "confidence": v.confidence,
        })).collect::<Vec<_>>(),
        "error": r.error.as_ref().map(|e| json!({
            "kind": e.kind, "message": e.message, "attempts": e.attempts,
        })),
    })
}
