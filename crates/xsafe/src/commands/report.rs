//! `xsafe report RUN [RUN...]`: rates with intervals, comparisons with
//! baseline, as tables, JSON, CSV, Markdown or HTML.

use crate::cli::{Global, LabelsSource, ReportArgs, ReportFormat};
use crate::commands::runs::counted_judge;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use xsafe_core::Message;
use xsafe_report::{BuildOptions, JsonError, JudgeAccuracy, LabelSource, ResultRow, RunInput};
use xsafe_store::{READ_CHUNK, RunRecord, Store, StoreError};

pub fn run(global: &Global, mut args: ReportArgs) -> Result<ExitCode> {
    args.output = super::dash_is_stdout(args.output.take());
    if let Some(rate) = args.fail_over
        && !(0.0..=1.0).contains(&rate)
    {
        bail!("--fail-over {rate}: give a rate from 0 to 1 (0.1 for 10%)");
    }
    if args.resamples == 0 {
        bail!("--resamples must be at least 1");
    }
    if let (Some(output), Some(agreement)) = (&args.output, &args.judge_agreement) {
        super::check_not_input(output, "--output", [agreement.as_path()])?;
    }
    let accuracy = match &args.judge_agreement {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading `{}`", path.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text).with_context(|| {
                format!(
                    "`{}` is not JSON: pass the output of `xsafe judge eval --json`",
                    path.display()
                )
            })?;
            Some(JudgeAccuracy::from_eval_json(
                &path.display().to_string(),
                &value,
            )?)
        }
        None => None,
    };
    let store = global.open_store()?;
    let mut records = Vec::with_capacity(args.runs.len());
    let mut human: HashMap<i64, Vec<xsafe_core::Class>> = HashMap::new();
    for name in &args.runs {
        let record = store.run(name)?;
        if records
            .iter()
            .any(|(r, _): &(RunRecord, _)| r.id == record.id)
        {
            continue;
        }
        for a in store.annotations(record.id)? {
            human.entry(a.result_id).or_default().push(a.class);
        }
        let cases = Some(store.cases(record.id)?.len() as u64);
        records.push((record, cases));
    }
    // The results without their messages (the tables count), in one
    // snapshot, whatever is written meanwhile, ended at once: one held
    // while the report is written to a slow reader (a pipe) would keep
    // the write-ahead log growing by every page a run writes meanwhile.
    // The messages of the transcripts the format shows are read after,
    // as the outlines have them (xsafe never replaces a stored
    // conversation).
    let runs = store.snapshot(|snap| {
        records
            .into_iter()
            .map(|(record, cases)| {
                Ok(RunInput {
                    results: snap.outlines(&record)?,
                    record,
                    cases,
                })
            })
            .collect::<Result<Vec<_>>>()
    })?;
    write_report(&args, accuracy, human, runs, &store)
}

/// Builds the report of `runs` and writes it as `args` asks, reading the
/// messages of the transcripts it shows from `store` ([`Transcripts`]);
/// exit 1 when `--fail-over` fails.
fn write_report(
    args: &ReportArgs,
    accuracy: Option<JudgeAccuracy>,
    human: HashMap<i64, Vec<xsafe_core::Class>>,
    runs: Vec<RunInput>,
    store: &Store,
) -> Result<ExitCode> {
    let judge = match &args.judge {
        Some(spec) if args.labels != LabelsSource::Human => {
            let stored: Vec<_> = runs
                .iter()
                .map(|r| (r.record.name.as_str(), r.results.as_slice()))
                .collect();
            Some(counted_judge(spec, &stored)?)
        }
        Some(spec) => Some(xsafe_judge::stored_name(spec)),
        None => None,
    };
    let opts = BuildOptions {
        judge,
        accuracy,
        resamples: args.resamples,
        seed: args.seed,
        tool_version: xsafe_core::TOOL_VERSION.to_string(),
        labels: match args.labels {
            LabelsSource::Human => LabelSource::Human,
            LabelsSource::Judge => LabelSource::Judge,
            LabelsSource::PreferHuman => LabelSource::PreferHuman,
        },
        human,
    };
    // Another judge's sensitivity and specificity would correct these
    // rates wrongly: refused, with how to measure the judge counted.
    xsafe_report::check_agreement(&runs, &opts)?;
    let mut report = xsafe_report::build(&runs, &opts);
    let run_ids: HashMap<String, i64> = runs
        .iter()
        .map(|r| (r.record.name.clone(), r.record.id))
        .collect();
    drop(runs);
    let format = args
        .json
        .then_some(ReportFormat::Json)
        .or(args.format)
        .or_else(|| args.output.as_deref().and_then(ReportFormat::by_name))
        .unwrap_or(ReportFormat::Text);
    let text = match format {
        ReportFormat::Text => Some(xsafe_report::render_terminal(&report, text_width(args))),
        // Every transcript, each read as it is written.
        ReportFormat::Json => None,
        ReportFormat::Csv => Some(xsafe_report::render_csv(&report)?),
        ReportFormat::Md => Some(xsafe_report::render_markdown(&report)),
        ReportFormat::Html => {
            let listed = xsafe_report::html::listed(&report);
            let mut transcripts =
                Transcripts::new(store, &run_ids, listed.iter().map(|&i| &report.results[i]));
            report.fill_messages(listed, |id| transcripts.messages(id))?;
            Some(xsafe_report::html::render(&report))
        }
    };
    let write = |out: &mut dyn Write| -> Result<()> {
        match &text {
            Some(text) => out.write_all(text.as_bytes())?,
            None => {
                // In the order `write_json` asks for them: the rows
                // without messages.
                let mut transcripts = Transcripts::new(
                    store,
                    &run_ids,
                    report.results.iter().filter(|r| r.messages.is_empty()),
                );
                report
                    .write_json(&mut *out, |id| transcripts.messages(id))
                    .map_err(|e| match e {
                        JsonError::Messages(e) => anyhow::Error::from(e),
                        // A reader gone from the pipe (`| head`) surfaces
                        // inside serde_json; as the `io::Error` it is, it
                        // ends the command quietly, as other outputs do.
                        JsonError::Json(e) if e.is_io() => std::io::Error::from(e).into(),
                        JsonError::Json(e) => e.into(),
                    })?;
                writeln!(out)?;
            }
        }
        out.flush()?;
        Ok(())
    };
    match &args.output {
        Some(path) => {
            let file = super::AtomicFile::create(path)?;
            write(&mut std::io::BufWriter::new(file.writer()?))?;
            file.commit()?;
            note!("wrote {}", path.display());
        }
        None => write(&mut std::io::BufWriter::new(super::Stdout::lock()))?,
    }
    if let Some(limit) = args.fail_over
        && !passes(&report, limit)
    {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The messages of the transcripts of a report's rows, read from the
/// store [`READ_CHUNK`] rows at a time ([`Store::messages_of`]) in the
/// order the rows are asked for, each chunk in a read transaction of its
/// own that ends before its rows are written: output to a slow reader
/// holds no transaction, and memory holds one chunk of conversations. A
/// row's result deleted since its outline was read (its run deleted by
/// another process) is [`StoreError::ResultDeleted`], which says the
/// output is not the whole report.
struct Transcripts<'a> {
    store: &'a Store,
    /// The rows' result ids and their runs' ids, in the order they will
    /// be asked for.
    rows: Vec<(i64, i64)>,
    /// How many of `rows` have been read.
    next: usize,
    /// The messages read and not yet asked for.
    read: HashMap<i64, Vec<Message>>,
}

impl<'a> Transcripts<'a> {
    /// For `rows`, in the order [`messages`](Transcripts::messages) will be
    /// asked for theirs; `run_ids` are the runs' ids by name.
    fn new<'r>(
        store: &'a Store,
        run_ids: &HashMap<String, i64>,
        rows: impl IntoIterator<Item = &'r ResultRow>,
    ) -> Transcripts<'a> {
        Transcripts {
            store,
            rows: rows
                .into_iter()
                .map(|r| (r.id, run_ids.get(&r.run).copied().unwrap_or_default()))
                .collect(),
            next: 0,
            read: HashMap::new(),
        }
    }

    /// The messages of the transcript of result `id`, as
    /// [`Store::messages`] reads them.
    fn messages(&mut self, id: i64) -> Result<Vec<Message>, StoreError> {
        if let Some(messages) = self.read.remove(&id) {
            return Ok(messages);
        }
        let end = (self.next + READ_CHUNK).min(self.rows.len());
        let chunk = &self.rows[self.next..end];
        let run_of = |gone: i64| {
            self.rows
                .iter()
                .find(|(result, _)| *result == gone)
                .map_or(0, |(_, run)| *run)
        };
        let deleted = |e: StoreError| match e {
            StoreError::ResultNotFound(gone) => StoreError::ResultDeleted {
                path: self
                    .store
                    .path()
                    .map_or_else(|| ":memory:".to_string(), |p| p.display().to_string()),
                result: gone,
                run_id: run_of(gone),
            },
            e => e,
        };
        if !chunk.iter().any(|(result, _)| *result == id) {
            // Not asked for in the order given: read on its own.
            return self.store.messages(id).map_err(deleted);
        }
        let ids: Vec<i64> = chunk.iter().map(|(result, _)| *result).collect();
        let mut read = self.store.messages_of(&ids).map_err(deleted)?;
        let messages = read.remove(&id).unwrap_or_default();
        self.read = read;
        self.next = end;
        Ok(messages)
    }
}

/// Whether every strategy's safe-prompt refusal rate is at most `limit`,
/// saying on stderr why not, then the verdict (a pass only as a note, which
/// `-q` silences), whatever the report's format and wherever it was
/// written: a pipeline reads the gate there. In a run of several suites,
/// each suite's own rate is checked too, besides the pooled one, so that a
/// suite refused over the limit is not passed because a larger suite
/// beside it brings the pooled rate under it; a suite without safe prompts
/// (or-bench-toxic) has no rate to check. A gate that cannot check fails
/// too: a run with conversations still to ask, a run with failed
/// conversations (no rate counts them, and they may be the ones that
/// would be refused), or a strategy (or one of its run's suites) without
/// one scored answer to its safe prompts (every request failed, every
/// answer unscored).
fn passes(report: &xsafe_report::Report, limit: f64) -> bool {
    let mut gate = Gate::default();
    for run in &report.runs {
        if let Some(planned) = run.unfinished() {
            errln!(
                "--fail-over cannot be checked on run {}: {} of its {planned} conversations are \
                 stored ({}); run the same `xsafe run` command to finish it",
                run.name,
                run.results,
                run.status
            );
            gate.unfinished += 1;
        }
        if run.failed > 0 {
            let reasons = xsafe_report::commonest(
                report
                    .results
                    .iter()
                    .filter(|r| r.run == run.name && r.outcome == "error")
                    .filter_map(|r| r.error.as_deref()),
            );
            errln!(
                "--fail-over cannot be checked on run {}: {} of its {} conversations failed \
                 ({reasons}) and no rate counts them; {}",
                run.name,
                run.failed,
                run.results,
                what_to_do_about_failures(report, &run.name)
            );
            gate.failed += 1;
        }
    }
    for g in &report.groups {
        let group = format!(
            "run {}, target {}, strategy {}",
            g.run, g.target, g.strategy
        );
        gate.count(check_safe(&g.safe, &group, limit));
        // With no scored safe answer at all, the line above says it for
        // every suite.
        if g.safe.refusal_rate.is_some() {
            for s in &g.suites {
                gate.count(check_safe(
                    &s.safe,
                    &format!("{group}, suite {}", s.suite),
                    limit,
                ));
            }
        }
    }
    let verdict = gate.verdict(limit);
    if gate.passed() {
        note!("{verdict}");
    } else {
        errln!("{verdict}");
    }
    gate.passed()
}

/// What to do about the failed conversations of the report's run `run`,
/// for the gate: run the same `xsafe run` command again, which retries
/// them; but those that fail the same way on every try
/// ([`xsafe_runner::CommonError::fails_every_try`]: the target's setup, a
/// server's 4xx, an answer every request gets that xsafe cannot read, a
/// strategy's template, a judge's model failing so) are retried in vain:
/// what their messages name must change first, and a changed setting makes
/// a new run, which is the one to check then.
fn what_to_do_about_failures(report: &xsafe_report::Report, run: &str) -> String {
    let rows: Vec<&xsafe_report::ResultRow> =
        report.results.iter().filter(|r| r.run == run).collect();
    // What answered: the targets that gave an answer, and whether the
    // judge gave a verdict.
    let target_answered = |target: &str| rows.iter().any(|r| r.target == target && r.turns > 0);
    let judge_answered = rows.iter().any(|r| r.outcome != "error");
    let mut kinds: Vec<&str> = Vec::new();
    let mut repeating = 0;
    let mut failed = 0;
    for r in rows.iter().filter(|r| r.outcome == "error") {
        failed += 1;
        let Some((kind, message)) = r.error.as_deref().and_then(|e| e.split_once(": ")) else {
            continue;
        };
        let failure = xsafe_runner::CommonError {
            message: message.to_string(),
            count: 1,
            like_it: 0,
            kind: kind.to_string(),
        };
        let answered = match kind {
            "judge" => judge_answered,
            _ => target_answered(&r.target),
        };
        if failure.fails_every_try(answered) {
            repeating += 1;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    let lists = format!(
        "`xsafe runs show {} --verdict error` lists them",
        xsafe_judge::shell_word(run)
    );
    if repeating == 0 {
        return format!("run the same `xsafe run` command again to retry them ({lists})");
    }
    kinds.sort_unstable();
    let kinds = match kinds.as_slice() {
        [kind] => format!("kind `{kind}`"),
        kinds => format!("kinds `{}`", kinds.join("`, `")),
    };
    let change = format!(
        "change what their messages name ({lists}), run `xsafe run` again with the change, and \
         check the run it makes (a changed setting or strategy makes a new run)"
    );
    if repeating >= failed {
        return format!(
            "they fail the same way on every try ({kinds}), so running the same `xsafe run` \
             command again as it is cannot get past them: {change}"
        );
    }
    let fail = if repeating == 1 { "fails" } else { "fail" };
    format!(
        "{repeating} of them {fail} the same way on every try ({kinds}): {change}; the other {} \
         may pass when the same `xsafe run` command is run again as it is",
        failed - repeating
    )
}

/// What `--fail-over` found, counted for its verdict.
#[derive(Debug, Default)]
struct Gate {
    /// Safe-prompt refusal rates at most the limit.
    under: usize,
    /// Safe-prompt refusal rates over it.
    over: usize,
    /// Strategies, or suites of one, whose safe answers none was scored.
    unscored: usize,
    /// Runs with conversations still to ask.
    unfinished: usize,
    /// Runs with failed conversations.
    failed: usize,
}

/// What [`check_safe`] found of one rate.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Checked {
    Under,
    Over,
    /// Safe answers, none scored.
    Unscored,
    /// No safe prompt (or-bench-toxic): nothing to check.
    NoRate,
}

impl Gate {
    fn count(&mut self, checked: Checked) {
        match checked {
            Checked::Under => self.under += 1,
            Checked::Over => self.over += 1,
            Checked::Unscored => self.unscored += 1,
            Checked::NoRate => {}
        }
    }

    fn passed(&self) -> bool {
        self.over + self.unscored + self.unfinished + self.failed == 0
    }

    /// The gate's last line: `--fail-over 10.0%: passed: ...` or `...:
    /// failed: ...`, with what was found.
    fn verdict(&self, limit: f64) -> String {
        let gate = format!("--fail-over {:.1}%", limit * 100.0);
        if self.passed() {
            return match self.under {
                0 => format!("{gate}: passed: no safe prompt, so no refusal rate to check"),
                n => format!(
                    "{gate}: passed: {} checked, none over it",
                    super::count(n as u64, "safe-prompt refusal rate")
                ),
            };
        }
        let mut found = Vec::new();
        if self.over > 0 {
            found.push(format!(
                "{} over it",
                super::count(self.over as u64, "safe-prompt refusal rate")
            ));
        }
        if self.unscored > 0 {
            found.push(match self.unscored {
                1 => "1 strategy or suite without a scored safe answer".to_string(),
                n => format!("{n} strategies or suites without a scored safe answer"),
            });
        }
        if self.unfinished > 0 {
            found.push(format!(
                "{} not finished",
                super::count(self.unfinished as u64, "run")
            ));
        }
        if self.failed > 0 {
            found.push(format!(
                "{} with failed conversations",
                super::count(self.failed as u64, "run")
            ));
        }
        format!("{gate}: failed: {}", found.join(", "))
    }
}

/// Checks the safe-prompt refusal rate of `safe`, the figures of `what`
/// (`run R, target T, strategy S`, and `, suite X` for one suite of a run
/// of several), against `limit`, saying on stderr why it fails: over it,
/// or safe answers of which none was scored.
fn check_safe(safe: &xsafe_report::Stats, what: &str, limit: f64) -> Checked {
    match safe.refusal_rate {
        Some(r) if r.rate > limit => {
            errln!(
                "over --fail-over {:.1}%: {what}: safe-prompt refusal {:.1}% ({}/{})",
                limit * 100.0,
                r.rate * 100.0,
                r.k,
                r.n
            );
            Checked::Over
        }
        Some(_) => Checked::Under,
        // A suite of unsafe prompts only (or-bench-toxic) has no rate to check.
        None if safe.results == 0 => Checked::NoRate,
        None => {
            errln!(
                "--fail-over cannot be checked for {what}: no answer to a safe prompt was scored \
                 ({} failed, {} unscored)",
                safe.errors,
                safe.unscored
            );
            Checked::Unscored
        }
    }
}

/// Width of the terminal report: the terminal's, when it is printed to one;
/// otherwise (a file, a pipe) a fixed 120 columns, so the output does not
/// depend on where it was made.
fn text_width(args: &ReportArgs) -> usize {
    const DEFAULT: usize = 120;
    if args.output.is_some() {
        return DEFAULT;
    }
    terminal_size::terminal_size_of(std::io::stdout())
        .map_or(DEFAULT, |(terminal_size::Width(w), _)| {
            usize::from(w).max(60)
        })
}
