//! `xsafe report RUN [RUN...]`: rates with intervals, comparisons with
//! baseline, as tables, JSON, CSV, Markdown or HTML.

use crate::cli::{Global, LabelsSource, ReportArgs, ReportFormat};
use crate::commands::runs::counted_judge;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use xsafe_report::{BuildOptions, JsonError, JudgeAccuracy, LabelSource, RunInput};
use xsafe_store::{RunRecord, Snapshot};

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
    // The results without their messages (the tables count), then the
    // messages of the transcripts the format shows, read as the outlines
    // have them: in one snapshot, whatever is written meanwhile.
    store.snapshot(|snap| {
        let runs = records
            .into_iter()
            .map(|(record, cases)| {
                Ok(RunInput {
                    results: snap.outlines(&record)?,
                    record,
                    cases,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        write_report(&args, accuracy, human, runs, snap)
    })
}

/// Builds the report of `runs` and writes it as `args` asks, reading the
/// messages of the transcripts it shows from `snap`; exit 1 when
/// `--fail-over` fails.
fn write_report(
    args: &ReportArgs,
    accuracy: Option<JudgeAccuracy>,
    human: HashMap<i64, Vec<xsafe_core::Class>>,
    runs: Vec<RunInput>,
    snap: &Snapshot<'_>,
) -> Result<ExitCode> {
    let judge = match &args.judge {
        Some(spec) if args.labels != LabelsSource::Human => {
            let stored: Vec<_> = runs
                .iter()
                .map(|r| (r.record.name.as_str(), r.results.as_slice()))
                .collect();
            no_verdicts_of(spec, &stored)?;
            Some(counted_judge(spec, &stored)?)
        }
        Some(spec) => Some(xsafe_judge::stored_name(spec)),
        None => None,
    };
    let mut report = xsafe_report::build(
        &runs,
        &BuildOptions {
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
        },
    );
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
            report.fill_messages(xsafe_report::html::listed(&report), |id| snap.messages(id))?;
            Some(xsafe_report::html::render(&report))
        }
    };
    let write = |out: &mut dyn Write| -> Result<()> {
        match &text {
            Some(text) => out.write_all(text.as_bytes())?,
            None => {
                report
                    .write_json(&mut *out, |id| snap.messages(id))
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
        None => write(&mut std::io::BufWriter::new(std::io::stdout().lock()))?,
    }
    if let Some(limit) = args.fail_over
        && !passes(&report, limit)
    {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether every strategy's safe-prompt refusal rate is at most `limit`,
/// saying on stderr why not. A gate that cannot check fails too: a run
/// with conversations still to ask, or a strategy without one scored
/// answer to its safe prompts (every request failed, every answer unscored).
fn passes(report: &xsafe_report::Report, limit: f64) -> bool {
    let mut pass = true;
    for run in &report.runs {
        if let Some(planned) = run.unfinished() {
            errln!(
                "--fail-over cannot be checked on run {}: {} of its {planned} conversations are \
                 stored ({}); run the same `xsafe run` command to finish it",
                run.name,
                run.results,
                run.status
            );
            pass = false;
        }
    }
    for g in &report.groups {
        match g.safe.refusal_rate {
            Some(r) if r.rate > limit => {
                errln!(
                    "over --fail-over {:.1}%: run {}, target {}, strategy {}: safe-prompt refusal \
                     {:.1}% ({}/{})",
                    limit * 100.0,
                    g.run,
                    g.target,
                    g.strategy,
                    r.rate * 100.0,
                    r.k,
                    r.n
                );
                pass = false;
            }
            // A suite of unsafe prompts only (or-bench-toxic) has no rate to check.
            Some(_) => {}
            None if g.safe.results == 0 => {}
            None => {
                errln!(
                    "--fail-over cannot be checked for run {}, target {}, strategy {}: no answer \
                     to a safe prompt was scored ({} failed, {} unscored)",
                    g.run,
                    g.target,
                    g.strategy,
                    g.safe.errors,
                    g.safe.unscored
                );
                pass = false;
            }
        }
    }
    pass
}

/// Refuses a `--judge` that no answer of `runs` has a verdict of, in any
/// version, saying what to do: a judge xsafe can judge with is answered
/// with the `xsafe rejudge` command that judges the answers with it, its
/// words quoted for the shell where they need it (`xsafe>llm:T`, a pair,
/// as `--judge xsafe --escalate-to llm:T`); another name is said not to be
/// a judge, with the judges the runs have verdicts of. The other cases
/// (a judge with verdicts, one in another version, runs without verdicts)
/// are left to [`counted_judge`].
fn no_verdicts_of<R: xsafe_report::Judged>(spec: &str, runs: &[(&str, &[R])]) -> Result<()> {
    use xsafe_store::judge_name;
    let tags: std::collections::BTreeSet<&str> = runs
        .iter()
        .flat_map(|(_, results)| results.iter())
        .flat_map(|r| r.verdicts())
        .map(|v| v.judge.as_str())
        .collect();
    let names: std::collections::BTreeSet<&str> = tags.iter().map(|t| judge_name(t)).collect();
    let name = xsafe_judge::stored_name(spec);
    let unversioned = without_version(spec);
    let counted = names.is_empty()
        || names.contains(name.as_str())
        || tags.contains(name.as_str())
        || unversioned.is_some() && names.contains(judge_name(&name));
    if counted {
        return Ok(());
    }
    let first = shell_word(runs[0].0);
    let runs = runs
        .iter()
        .map(|(run, _)| *run)
        .collect::<Vec<_>>()
        .join(", ");
    let judges = names.iter().copied().collect::<Vec<_>>().join(", ");
    let (judge, version) = match unversioned {
        Some(judge) => (judge, spec.trim()[judge.len() + 1..].to_string()),
        None => (spec.trim(), String::new()),
    };
    let Some(flags) = rejudge_flags(judge, &version) else {
        bail!(
            "--judge {spec}: `{judge}` is not a judge: xsafe judges with xsafe, \
             xsafe:MODEL.json, strmatch or llm:TARGET (a pair as `--judge xsafe --escalate-to \
             llm:TARGET`); no answer of {runs} has a verdict of it. The judges of their \
             verdicts: {judges}"
        )
    };
    let with = if unversioned.is_some() {
        format!("with this xsafe's version of `{}`", judge_name(&name))
    } else {
        "with it".to_string()
    };
    bail!(
        "--judge {spec}: no answer of {runs} has a verdict of judge `{name}`; their judges: \
         {judges} (`xsafe rejudge {first} {flags}` judges the answers {with})"
    )
}

/// The judge of a `name@version` tag as `--judge` takes it, as
/// `counted_judge` reads it: `None` for a spec that names no version (a
/// version starts with a digit).
fn without_version(spec: &str) -> Option<&str> {
    let (judge, version) = spec.trim().rsplit_once('@')?;
    version
        .starts_with(|c: char| c.is_ascii_digit())
        .then_some(judge)
}

/// The flags of `xsafe rejudge` that judge with the judge named `judge` (as
/// verdicts name it), each word quoted for the shell where it needs it:
/// `--judge J`, or for a pair `J>J2` (whose tag's version ends with the
/// threshold, `<0.9`) `--judge J --escalate-to J2` and the threshold when
/// it is not the default. `None` for a name that is no judge xsafe can
/// build: not `xsafe`, `strmatch`, `xsafe:FILE` or `llm:TARGET`, or a pair
/// whose first judge is not the classifier (the only one that escalates).
fn rejudge_flags(judge: &str, version: &str) -> Option<String> {
    let one = |j: &str| {
        j == "xsafe"
            || j == "strmatch"
            || j.strip_prefix("xsafe:")
                .is_some_and(|f| !f.trim().is_empty())
            || j.strip_prefix("llm:").is_some_and(|t| !t.trim().is_empty())
    };
    let Some((first, second)) = judge.split_once('>') else {
        return one(judge).then(|| format!("--judge {}", shell_word(judge)));
    };
    let escalates = first == "xsafe" || first.starts_with("xsafe:");
    if !(escalates && one(first) && one(second)) {
        return None;
    }
    let mut flags = format!(
        "--judge {} --escalate-to {}",
        shell_word(first),
        shell_word(second)
    );
    if let Some((_, below)) = version.rsplit_once('<')
        && below.parse::<f64>().is_ok_and(|b| b != 0.95)
    {
        flags.push_str(&format!(" --escalate-below {below}"));
    }
    Some(flags)
}

/// `word` as one word of a POSIX shell command: as it is when it has only
/// characters no shell reads specially, else in single quotes (a quote in
/// it written `'\''`), so that `xsafe>llm:T` is not a redirection.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-+=.,:/@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
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
