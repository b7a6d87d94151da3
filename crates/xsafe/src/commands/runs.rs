//! `xsafe runs list|show|delete`.

use crate::cli::{Global, ResultFilter, RunsCommand};
use crate::commands::{count, print_json};
use crate::settings::DbOrigin;
use crate::table;
use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeSet;
use std::process::ExitCode;
use xsafe_core::Verdict;
pub(crate) use xsafe_report::{Judged, run_judge, verdict_of};
use xsafe_store::{
    ResultOutline, RunRecord, RunStatus, RunSummary, Store, StoreError, StoredResult, judge_name,
};

pub fn run(global: &Global, cmd: RunsCommand) -> Result<ExitCode> {
    match cmd {
        RunsCommand::List { json } => list(global, json)?,
        RunsCommand::Show { run, filter, json } => {
            show(&*global.open_store()?, &run, &filter, json)?
        }
        RunsCommand::Delete { runs, force } => delete(&*global.open_store()?, &runs, force)?,
        RunsCommand::Compact => compact(global)?,
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
    // A copy of the store made while a run wrote it lists as it was, and
    // only the commands that read its answers met the damage: it is
    // looked for here (every index counted against its table), so that
    // the list is not taken for a sound store's.
    store.check_index_counts()?;
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
    if json {
        return show_json(store, run, filter);
    }
    with_selected(store, run, filter, show_text)
}

/// `runs show` as text: a line per result.
fn show_text(selection: Selection<'_>) -> Result<()> {
    let record = selection.record.clone();
    let judge = selection.judge.clone();
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
    selection.each(|r| {
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
        Ok(())
    })?;
    if !rows.is_empty() {
        out!("{}", render_rows(&rows));
    }
    Ok(())
}

/// A run and the results of it a [`ResultFilter`] keeps, with the judge
/// whose verdicts they are filtered and shown by.
pub(crate) struct Selection<'a> {
    pub record: RunRecord,
    /// The name of the judge whose verdicts select and show the results:
    /// the run's own (see [`run_judge`]), or the one asked for
    /// ([`with_selected_by`]).
    pub judge: String,
    /// Without their messages, which [`Selection::each`] reads a chunk at
    /// a time: a run of any size is held in outline only.
    pub results: Vec<ResultOutline>,
    /// Where the results' messages are read from.
    store: &'a Store,
}

impl Selection<'_> {
    /// Each result selected, whole, in order: its messages read a chunk
    /// of results at a time ([`Store::each_with_messages`]), each chunk in
    /// a read transaction of its own, so that output to a slow reader (a
    /// pipe) holds none while a run writes. The first error, of the store
    /// or of `each`, stops: a result deleted meanwhile (its run deleted by
    /// another process) is an error that says what was written is not
    /// the whole run.
    pub fn each(self, mut each: impl FnMut(&StoredResult) -> Result<()>) -> Result<()> {
        self.store
            .each_with_messages(self.results, |result| each(&result))
    }
}

/// Calls `f` with a run and the results of it `filter` keeps (when that is
/// not all of them, stderr says how many), read in outline in one
/// snapshot of the store: what `f` writes is the run as it was then,
/// whatever is written meanwhile. The snapshot ends before `f` is called;
/// the messages [`Selection::each`] reads after are those of the outlines,
/// as xsafe never replaces a stored conversation.
pub(crate) fn with_selected<T>(
    store: &Store,
    run: &str,
    filter: &ResultFilter,
    f: impl FnOnce(Selection<'_>) -> Result<T>,
) -> Result<T> {
    with_selected_by(store, run, filter, None, f)
}

/// [`with_selected`] by the verdicts of the judge `--judge SPEC` names
/// (as [`counted_judge`] takes it: none of its verdicts is an error naming
/// the judges there are), or the run's own when `judge` is `None`.
pub(crate) fn with_selected_by<T>(
    store: &Store,
    run: &str,
    filter: &ResultFilter,
    judge: Option<&str>,
    f: impl FnOnce(Selection<'_>) -> Result<T>,
) -> Result<T> {
    let record = store.run(run)?;
    let started = Started::of(store, &record, filter)?;
    // The outlines in one snapshot, ended at once: one held while `f`
    // writes to a slow reader would keep the write-ahead log growing by
    // every page a run writes meanwhile (gigabytes, in a long run).
    let all = store.snapshot(|snap| snap.outlines(&record))?;
    let judge = match judge {
        Some(spec) => counted_judge(spec, &[(record.name.as_str(), all.as_slice())])?,
        None => run_judge(&record, &all),
    };
    let stored = all.len();
    let results = filtered(all, filter, &judge, &started)?;
    if results.len() < stored {
        note!(
            "{} of the run's {stored} match",
            count(results.len() as u64, "result")
        );
    }
    f(Selection {
        record,
        judge,
        results,
        store,
    })
}

/// The judges of the verdicts of `runs` (each a run's name and results):
/// their tags (`name@version`) and their names.
fn verdict_judges<'a, R: Judged>(
    runs: &'a [(&str, &[R])],
) -> (BTreeSet<&'a str>, BTreeSet<&'a str>) {
    let tags: BTreeSet<&str> = runs
        .iter()
        .flat_map(|(_, results)| results.iter())
        .flat_map(|r| r.verdicts())
        .map(|v| v.judge.as_str())
        .collect();
    let names = tags.iter().map(|t| judge_name(t)).collect();
    (tags, names)
}

/// Refuses a `--judge` that no answer of `runs` has a verdict of, in any
/// version, saying what to do: a judge xsafe can judge with is answered
/// with the `xsafe rejudge` command that judges the answers with it
/// ([`xsafe_judge::rejudge_command`]: quoted for the shell, a pair
/// `xsafe>llm:T` as `--judge xsafe --escalate-to llm:T`); another name is
/// said not to be a judge, with the judges the runs have verdicts of. So
/// is a name with a threshold at its end ([`threshold_in_name`]). The
/// other cases (a judge with verdicts, one in another version, runs
/// without verdicts) are left to [`counted_judge`].
fn no_verdicts_of<R: Judged>(spec: &str, runs: &[(&str, &[R])]) -> Result<()> {
    let (tags, names) = verdict_judges(runs);
    let name = xsafe_judge::stored_name(spec);
    let unversioned = without_version(spec);
    // Verdicts stored under such a name (by an xsafe that took one) count.
    if unversioned.is_none() && !names.contains(name.as_str()) && !tags.contains(name.as_str()) {
        threshold_in_name(spec, runs, &names)?;
    }
    let counted = names.is_empty()
        || names.contains(name.as_str())
        || tags.contains(name.as_str())
        || unversioned.is_some() && names.contains(judge_name(&name));
    if counted {
        return Ok(());
    }
    let runs_named = runs
        .iter()
        .map(|(run, _)| *run)
        .collect::<Vec<_>>()
        .join(", ");
    let judges = names.iter().copied().collect::<Vec<_>>().join(", ");
    let judge = unversioned.unwrap_or(spec.trim());
    // The version `spec` names, if any, is that of the tag `spec`: its
    // threshold is the pair's.
    let Some(command) = xsafe_judge::rejudge_command(runs[0].0, judge, [spec.trim()]) else {
        bail!(
            "--judge {spec}: `{judge}` is not a judge: xsafe judges with xsafe, \
             xsafe:MODEL.json, strmatch or llm:TARGET (a pair as `--judge xsafe --escalate-to \
             llm:TARGET`); no answer of {runs_named} has a verdict of it. The judges of their \
             verdicts: {judges}"
        )
    };
    let with = if unversioned.is_some() {
        format!("with this xsafe's version of `{}`", judge_name(&name))
    } else {
        "with it".to_string()
    };
    bail!(
        "--judge {spec}: no answer of {runs_named} has a verdict of judge `{name}`; their \
         judges: {judges} (`{command}` judges the answers {with})"
    )
}

/// Refuses a `--judge` with a threshold at the end of its name
/// ([`xsafe_judge::split_threshold`]: `xsafe>llm:T<0.9`, a pair's name and
/// the end of its verdicts' version) as no judge's name, saying which name
/// counts the verdicts and, when no answer of `runs` has one of that
/// judge (`names` are the judges they have verdicts of), the `xsafe
/// rejudge` command that judges them at that threshold. `Ok` for a spec
/// without such a threshold.
fn threshold_in_name<R: Judged>(
    spec: &str,
    runs: &[(&str, &[R])],
    names: &BTreeSet<&str>,
) -> Result<()> {
    let Some((judge, below)) = xsafe_judge::split_threshold(spec) else {
        return Ok(());
    };
    let judged = if names.contains(judge) {
        String::new()
    } else {
        let first = runs[0].0;
        // A pair at the threshold given; one judge has none.
        let command = xsafe_judge::rejudge_command(first, spec, [])
            .or_else(|| xsafe_judge::rejudge_command(first, judge, []));
        let runs = runs
            .iter()
            .map(|(run, _)| *run)
            .collect::<Vec<_>>()
            .join(", ");
        match command {
            Some(command) => format!(
                "; no answer of {runs} has a verdict of it (`{command}` judges the answers \
                 with it)"
            ),
            None => format!("; no answer of {runs} has a verdict of it"),
        }
    };
    bail!(
        "--judge {spec}: `<{below}` at its end is no part of a judge's name: a pair's threshold \
         (its --escalate-below) ends the version of its verdicts' tags, as in \
         `xsafe>llm:TARGET@VERSION<{below}`; count the verdicts of `{judge}` with `--judge {}`\
         {judged}",
        xsafe_judge::shell_word(judge)
    )
}

/// The judge name `--judge SPEC` counts the verdicts of in `runs` (each a
/// run's name and results): SPEC as `--judge` takes it, or a stored
/// `name@version` tag (as `rejudge` prints it). No verdict of it in any of
/// the runs (that have verdicts) is an error naming the judges there are:
/// every answer would count as unjudged.
pub(crate) fn counted_judge<R: Judged>(spec: &str, runs: &[(&str, &[R])]) -> Result<String> {
    no_verdicts_of(spec, runs)?;
    let (tags, names) = verdict_judges(runs);
    let name = xsafe_judge::stored_name(spec);
    // Runs without any verdict (every request failed) have nothing to count.
    if names.is_empty() || names.contains(name.as_str()) {
        return Ok(name);
    }
    if tags.contains(name.as_str()) {
        return Ok(judge_name(&name).to_string());
    }
    // What `no_verdicts_of` leaves: verdicts of the judge in versions
    // other than the one `spec` names.
    let judge = judge_name(&name);
    let unversioned = without_version(spec).unwrap_or(judge);
    let runs = runs
        .iter()
        .map(|(run, _)| *run)
        .collect::<Vec<_>>()
        .join(", ");
    let versions = tags
        .iter()
        .filter(|t| judge_name(t) == judge)
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ");
    anyhow::bail!(
        "--judge {spec}: no answer of {runs} has a verdict of `{name}`; their verdicts of judge \
         `{judge}` are tagged {versions}: pass `--judge {}` to count them",
        xsafe_judge::shell_word(unversioned)
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
    results: Vec<ResultOutline>,
    filter: &ResultFilter,
    judge: &str,
    started: &Started,
) -> Result<Vec<ResultOutline>> {
    let mut seen = Seen::default();
    results.iter().for_each(|r| seen.add(r));
    check_filters(filter, started, Some(&seen))?;
    Ok(results
        .into_iter()
        .filter(|r| keeps(r, filter, judge))
        .collect())
}

/// Names of a run's results, each once.
type Names = BTreeSet<String>;

/// The names of a run's results a filter is checked against, gathered
/// one result at a time (each name once), and the judge of the first
/// verdict, which [`run_judge`] falls back on.
#[derive(Default)]
struct Seen {
    targets: Names,
    strategies: Names,
    types: Names,
    first_judge: Option<String>,
    results: usize,
}

impl Seen {
    /// The names of the results' targets, strategies or types, by the
    /// filter's flag.
    fn names(&self, flag: &str) -> &Names {
        match flag {
            "target" => &self.targets,
            "strategy" => &self.strategies,
            _ => &self.types,
        }
    }

    fn add(&mut self, r: &ResultOutline) {
        let add = |set: &mut Names, name: &str| {
            if !set.contains(name) {
                set.insert(name.to_string());
            }
        };
        add(&mut self.targets, &r.key.target);
        add(&mut self.strategies, &r.key.strategy);
        add(&mut self.types, &r.case.kind);
        if self.first_judge.is_none() {
            self.first_judge = r.verdicts.first().map(|v| judge_name(&v.judge).to_string());
        }
        self.results += 1;
    }
}

/// A filter's name the run was started with but that `seen` (all its
/// results, when known) has no result of, or may have none of.
struct Unstored {
    flag: &'static str,
    wanted: String,
}

impl Unstored {
    /// Whether `seen` (all the run's results) has no result of the name.
    fn holds(&self, seen: &Seen) -> bool {
        !seen.names(self.flag).contains(&self.wanted)
    }

    fn note(&self, started: &Started) {
        note!(
            "--{} `{}`: no conversation of it is stored yet (the run is {})",
            self.flag,
            self.wanted,
            started.status.as_str()
        );
    }
}

/// Checks the target, strategy and type `filter` asks for. One the run was
/// not started with and has no result of (by `seen`, every result of the
/// run) is refused with the ones it has: more likely a misspelling than a
/// question whose answer is "none". One it was started with but has no
/// result of yet keeps none, with a note saying why. Without `seen`, a
/// name the run was started with is returned instead of noted, to be noted
/// if the results turn out to have none of it (see [`Unstored::holds`]);
/// one it was not started with needs `seen`.
fn check_filters(
    filter: &ResultFilter,
    started: &Started,
    seen: Option<&Seen>,
) -> Result<Vec<Unstored>> {
    let mut unstored = Vec::new();
    let checks: [(&'static str, &Option<String>, &[String]); 3] = [
        ("target", &filter.target, &started.targets),
        ("strategy", &filter.strategy, &started.strategies),
        ("type", &filter.kind, &started.types),
    ];
    for (flag, wanted, names) in checks {
        let Some(wanted) = wanted else {
            continue;
        };
        let present = seen.map(|s| s.names(flag));
        if present.is_some_and(|p| p.contains(wanted)) {
            continue;
        }
        if names.contains(wanted) {
            let u = Unstored {
                flag,
                wanted: wanted.clone(),
            };
            match seen {
                Some(_) => u.note(started),
                None => unstored.push(u),
            }
            continue;
        }
        let present =
            present.expect("a name the run was not started with is checked by its results");
        let mut known: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .chain(present.iter().map(String::as_str))
            .collect();
        known.sort_unstable();
        known.dedup();
        anyhow::bail!(
            "--{flag} `{wanted}`: the run has none; it has {}",
            known.join(", ")
        );
    }
    Ok(unstored)
}

/// Whether `filter` keeps `r`, by the verdicts of `judge`.
fn keeps(r: &ResultOutline, filter: &ResultFilter, judge: &str) -> bool {
    let is = |wanted: &Option<String>, value: &str| wanted.as_deref().is_none_or(|w| w == value);
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
}

/// `runs show --json`: the run, its judge and the results `filter` keeps,
/// as [`with_selected`] and [`print_json`] would give them, byte for byte, but
/// written as each result is read: a run of 100,000 results is not held in
/// memory, nor its output. The results are read a first time (without
/// being kept) only when the judge or a filter's check needs all of them
/// before the output starts: a run whose config names no judge, or a
/// filter's name the run was not started with.
fn show_json(store: &Store, run: &str, filter: &ResultFilter) -> Result<()> {
    let record = store.run(run)?;
    let started = Started::of(store, &record, filter)?;
    let unknown = |wanted: &Option<String>, names: &[String]| {
        wanted.as_ref().is_some_and(|w| !names.contains(w))
    };
    let configured = record.config["judge"]["name"].is_string();
    let survey = if !configured
        || unknown(&filter.target, &started.targets)
        || unknown(&filter.strategy, &started.strategies)
        || unknown(&filter.kind, &started.types)
    {
        let mut seen = Seen::default();
        store.for_each_result(record.id, |r| -> Result<()> {
            seen.add(&r.split().0);
            Ok(())
        })?;
        Some(seen)
    } else {
        None
    };
    let judge = match &survey {
        Some(seen) if !configured => seen.first_judge.clone().unwrap_or_default(),
        _ => run_judge::<StoredResult>(&record, &[]),
    };
    let unstored = check_filters(filter, &started, survey.as_ref())?;
    let results = Streamed {
        store,
        run_id: record.id,
        filter,
        judge: &judge,
        seen: Default::default(),
        kept: Default::default(),
        failed: Default::default(),
    };
    let shown = Shown {
        record: &record,
        judge: &judge,
        results: &results,
    };
    let mut out = std::io::BufWriter::new(super::Stdout::lock());
    // A reader gone from the pipe (`| head`) surfaces inside serde_json;
    // as the `io::Error` it is, it ends the command quietly (141), as
    // every other output's does.
    let written = serde_json::to_writer_pretty(&mut out, &shown).map_err(|e| {
        if e.is_io() {
            anyhow::Error::from(std::io::Error::from(e))
        } else {
            anyhow::Error::from(e)
        }
    });
    if let Some(e) = results.failed.take() {
        return Err(e.into());
    }
    written?;
    {
        use std::io::Write as _;
        writeln!(out)?;
        out.flush()?;
    }
    let seen = results.seen.into_inner();
    for u in unstored.iter().filter(|u| u.holds(&seen)) {
        u.note(&started);
    }
    let kept = results.kept.get();
    if kept < seen.results {
        note!(
            "{} of the run's {} match",
            count(kept as u64, "result"),
            seen.results
        );
    }
    Ok(())
}

/// What `runs show --json` prints: the object [`show_json`] writes, its
/// keys in the order a `serde_json` object keeps them (as `json!` made it).
struct Shown<'a> {
    record: &'a RunRecord,
    judge: &'a str,
    results: &'a Streamed<'a>,
}

impl Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let keys = json!({"run": null, "id": null, "judge": null, "results": null});
        let keys = keys.as_object().expect("an object");
        let mut map = s.serialize_map(Some(keys.len()))?;
        for key in keys.keys() {
            match key.as_str() {
                "run" => map.serialize_entry(key, &self.record.name)?,
                "id" => map.serialize_entry(key, &self.record.id)?,
                "judge" => map.serialize_entry(key, self.judge)?,
                _ => map.serialize_entry(key, self.results)?,
            }
        }
        map.end()
    }
}

/// The results of a run that a filter keeps, serialized as an array as
/// they are read from the store, one [`result_json`] at a time; what was
/// seen of them, for the notes after.
struct Streamed<'a> {
    store: &'a Store,
    run_id: i64,
    filter: &'a ResultFilter,
    judge: &'a str,
    seen: std::cell::RefCell<Seen>,
    kept: std::cell::Cell<usize>,
    /// The store's error that stopped the reading, returned as it is
    /// rather than as a serializer's message.
    failed: std::cell::Cell<Option<StoreError>>,
}

impl Serialize for Streamed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        enum Stop<E> {
            Store(StoreError),
            Write(E),
        }
        impl<E> From<StoreError> for Stop<E> {
            fn from(e: StoreError) -> Self {
                Stop::Store(e)
            }
        }
        let mut seq = s.serialize_seq(None)?;
        let mut seen = self.seen.borrow_mut();
        let read = self
            .store
            .for_each_result(self.run_id, |r| -> Result<(), Stop<S::Error>> {
                let (r, messages) = r.split();
                seen.add(&r);
                if keeps(&r, self.filter, self.judge) {
                    self.kept.set(self.kept.get() + 1);
                    seq.serialize_element(&result_json(&r.with_messages(messages)))
                        .map_err(Stop::Write)?;
                }
                Ok(())
            });
        match read {
            Ok(()) => seq.end(),
            Err(Stop::Write(e)) => Err(e),
            Err(Stop::Store(e)) => {
                let message = e.to_string();
                self.failed.set(Some(e));
                Err(S::Error::custom(message))
            }
        }
    }
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
                    xsafe_judge::shell_word(&run.name)
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
    note!(
        "the space the deleted runs took in the store is reused by the next runs; the file does \
         not shrink: `xsafe runs compact` gives that space back to the disk"
    );
    Ok(())
}

/// `runs compact`: gives back to the disk the space deleted runs left in
/// the store ([`Store::compact`]), refused while a process runs a run of
/// it, and says how much.
fn compact(global: &Global) -> Result<()> {
    let store = global.open_store()?;
    let done = store.compact().map_err(|e| match e {
        StoreError::RunBusy { .. } => anyhow::anyhow!(
            "{e}; compacting rewrites the whole store, which waits for no run (nothing was \
             changed)"
        ),
        e => e.into(),
    })?;
    let path = global.db_path()?;
    let freed = done.before.saturating_sub(done.after);
    if done.readers {
        note!(
            "compacted the run store {}; another process is reading it (another xsafe command, \
             an SQL shell), so SQLite shrinks the file when that process is done: {} on disk \
             now (it was {})",
            path.display(),
            size(done.after),
            size(done.before)
        );
    } else if freed > 0 {
        note!(
            "compacted the run store {}: {} on disk, down from {} ({} given back)",
            path.display(),
            size(done.after),
            size(done.before),
            size(freed)
        );
    } else {
        note!(
            "compacted the run store {}: {} on disk; it held no free space to give back",
            path.display(),
            size(done.after)
        );
    }
    if done.page_size != done.page_size_before {
        note!(
            "its pages are now of {} bytes (they were of {}): each answer a run stores writes \
             fewer bytes",
            done.page_size,
            done.page_size_before
        );
    }
    Ok(())
}

/// `bytes` as `12.3 MB` (or `512 bytes`), in the decimal units of file
/// managers and `ls -lh --si`.
fn size(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} bytes"),
        1_000..1_000_000 => format!("{:.1} kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", bytes as f64 / 1e6),
        _ => format!("{:.2} GB", bytes as f64 / 1e9),
    }
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
        (None, Some(t)) => answer_text(t),
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

/// The model's last reply as `runs show` prints it. A provider's refusal,
/// which judges count as a full refusal whatever the content says, is
/// marked: `[provider refusal] TEXT` with the refusal text it sent (the
/// `refusal` field of OpenAI's message, `refusal` in `xsafe export`'s
/// CSV), else `[provider refusal: content_filter]` for a reply stopped by
/// the provider's filter (`finish_reason`); the content, often empty then,
/// follows.
fn answer_text(t: &xsafe_core::Transcript) -> String {
    let Some(reply) = t.final_reply() else {
        return String::new();
    };
    let marker = match (&reply.refusal, &t.finish_reason) {
        (Some(refusal), _) if !refusal.trim().is_empty() => {
            Some(format!("[provider refusal] {}", refusal.trim()))
        }
        (_, Some(f @ xsafe_core::FinishReason::ContentFilter)) => {
            Some(format!("[provider refusal: {}]", f.as_str()))
        }
        (Some(_), _) => Some("[provider refusal]".to_string()),
        _ => None,
    };
    match marker {
        Some(m) if reply.content.trim().is_empty() => m,
        Some(m) => format!("{m} {}", reply.content),
        None => reply.content.clone(),
    }
}

/// A stored verdict as exported and shown: `judge`, `verdict`, `reason`
/// (an unscored verdict's), `confidence`, and a scored verdict's `note`
/// (e.g. that it is a provider's refusal) when it has one.
fn verdict_json(v: &Verdict) -> serde_json::Value {
    let mut json = json!({
        "judge": v.judge,
        "verdict": v.outcome.label(),
        "reason": v.outcome.reason(),
        "confidence": v.confidence,
    });
    if let Some(note) = &v.note {
        json["note"] = json!(note);
    }
    json
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
        "verdicts": r.verdicts.iter().map(verdict_json).collect::<Vec<_>>(),
        "error": r.error.as_ref().map(|e| json!({
            "kind": e.kind, "message": e.message, "attempts": e.attempts,
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xsafe_core::Class;

    /// A result with verdicts of the judges `tags`.
    struct Judgements(Vec<Verdict>);

    impl Judged for Judgements {
        fn verdicts(&self) -> &[Verdict] {
            &self.0
        }
    }

    fn judged(tags: &[&str]) -> Judgements {
        Judgements(
            tags.iter()
                .map(|t| Verdict::scored(Class::Compliance, 0.9, *t))
                .collect(),
        )
    }

    /// A pair's tag ends with its threshold, and counts; its name with a
    /// threshold at its end is no judge's name and is refused, saying which
    /// name counts; verdicts stored under such a name (by an xsafe that
    /// took one as `--escalate-to`) count by it.
    #[test]
    fn a_threshold_counts_at_the_end_of_a_tag_only() {
        let pair = "xsafe>llm:openai:j@4-1a2b>2<0.9";
        let results = [judged(&["strmatch@1", pair])];
        let runs = [("my run", &results[..])];
        assert_eq!(counted_judge(pair, &runs).unwrap(), "xsafe>llm:openai:j");
        assert_eq!(
            counted_judge("xsafe>llm:openai:j", &runs).unwrap(),
            "xsafe>llm:openai:j"
        );
        let err = counted_judge("xsafe>llm:openai:j<0.9", &runs)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with(
                "count the verdicts of `xsafe>llm:openai:j` with `--judge 'xsafe>llm:openai:j'`"
            ),
            "{err}"
        );
        // Another version of the pair: counted by the name, quoted.
        let err = counted_judge("xsafe>llm:openai:j@4-1a2b>2<0.8", &runs)
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("pass `--judge 'xsafe>llm:openai:j'` to count them"),
            "{err}"
        );

        let odd = "xsafe>llm:openai:j<0.95@4-1a2b>2<0.95";
        let results = [judged(&[odd])];
        let runs = [("e1", &results[..])];
        assert_eq!(
            counted_judge("xsafe>llm:openai:j<0.95", &runs).unwrap(),
            "xsafe>llm:openai:j<0.95"
        );
        assert_eq!(
            counted_judge(odd, &runs).unwrap(),
            "xsafe>llm:openai:j<0.95"
        );
    }
}
