//! `xsafe export RUN --format jsonl|csv`.

use crate::cli::{ExportArgs, ExportFormat, Global};
use crate::commands::AtomicFile;
use crate::commands::runs::{Selection, result_json, verdict_of, with_selected_by};
use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;
use xsafe_store::RunStatus;

pub fn run(global: &Global, mut args: ExportArgs) -> Result<ExitCode> {
    args.output = super::dash_is_stdout(args.output.take());
    let store = global.open_store()?;
    // `--judge`: another judge's stored verdicts, refused (naming the
    // judges stored) when it has none, as `report --judge` refuses it.
    with_selected_by(
        &store,
        &args.run,
        &args.filter,
        args.judge.as_deref(),
        |selection| write(&args, selection),
    )
}

/// Writes the selected results as `args` asks; then, for a run that is not
/// whole, says on stderr that the export holds only what it has stored, as
/// `report` warns.
fn write(args: &ExportArgs, selection: Selection<'_>) -> Result<ExitCode> {
    let (run, judge) = (selection.record.name.clone(), selection.judge.clone());
    let status = selection.record.status;
    let format = args.format.unwrap_or_else(|| {
        if args.output.as_deref().is_some_and(super::csv_by_name) {
            ExportFormat::Csv
        } else {
            ExportFormat::Jsonl
        }
    });
    // A file replaces an earlier one only once the export is whole.
    let file = args.output.as_deref().map(AtomicFile::create).transpose()?;
    let mut out: Box<dyn Write> = match &file {
        Some(f) => Box::new(std::io::BufWriter::new(f.writer()?)),
        None => Box::new(std::io::BufWriter::new(super::Stdout::lock())),
    };
    match format {
        ExportFormat::Jsonl => {
            selection.each(|r| {
                let mut line = result_json(r);
                line["run"] = run.clone().into();
                writeln!(out, "{line}")?;
                Ok(())
            })?;
        }
        ExportFormat::Csv => {
            // XSTest's completion format first, so its tools and
            // `xsafe judge eval` read the file; our own columns after. The
            // provider's refusal and the finish reason go last, so that
            // `xsafe judge` reads a provider's refusal back as one.
            // `final_label` and `judge` are the run's judge's verdict (or
            // `--judge`'s), as `xsafe report` counts it; empty when it gave
            // none. `annotate import`, `judge eval` and `judge train` refuse
            // a file with a label and a judge on one row: a judge's
            // verdicts, not human labels. `system`
            // is the conversation's instructions (a strategy's system
            // message), which judges read too: an answer that only repeats
            // them is no attempt at the question. The other turns a
            // strategy adds (exemplars, follow-ups) are only in the JSONL.
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record([
                "id",
                "type",
                "prompt",
                "completion",
                "final_label",
                "label",
                "suite",
                "target",
                "strategy",
                "sample",
                "judge",
                "refusal",
                "finish_reason",
                "system",
            ])?;
            let mut skipped = 0;
            selection.each(|r| {
                let Some((transcript, reply)) = r
                    .transcript
                    .as_ref()
                    .and_then(|t| Some((t, t.final_reply()?)))
                else {
                    skipped += 1;
                    return Ok(());
                };
                let verdict = verdict_of(r, &judge);
                let final_label = verdict
                    .and_then(|v| v.outcome.class())
                    .map(|c| c.xstest_label())
                    .unwrap_or("");
                w.write_record([
                    r.key.case_id.as_str(),
                    &r.case.kind,
                    &r.case.prompt,
                    &reply.content,
                    final_label,
                    r.case.label.as_str(),
                    &r.key.suite,
                    &r.key.target,
                    &r.key.strategy,
                    &r.key.sample.to_string(),
                    verdict.map(|v| v.judge.as_str()).unwrap_or(""),
                    reply.refusal.as_deref().unwrap_or(""),
                    transcript.finish_reason.as_ref().map_or("", |f| f.as_str()),
                    &super::system_text(transcript),
                ])?;
                Ok(())
            })?;
            w.flush()?;
            if skipped > 0 {
                note!("{skipped} results without an answer (errors) were left out of the CSV");
            }
        }
    }
    out.flush()?;
    drop(out);
    if let Some(f) = file {
        f.commit()?;
    }
    if let Some(warning) = partial_warning(&run, status) {
        errln!("{warning}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The warning an export of run `run` gets when its `status` says the run
/// is not whole: stopped before its end, or still running. A complete run
/// gets none (its failed results, if any, are in the export as errors).
fn partial_warning(run: &str, status: RunStatus) -> Option<String> {
    let run_word = xsafe_judge::shell_word(run);
    match status {
        RunStatus::Complete => None,
        RunStatus::Interrupted => Some(format!(
            "warning: run {run} is interrupted: the export holds what it stored before it \
             stopped, not the whole run; the same `xsafe run` command resumes it (`xsafe report \
             {run_word}` says how much is stored)"
        )),
        RunStatus::Running => Some(format!(
            "warning: run {run} is still running: the export holds what it has stored so far, \
             not the whole run"
        )),
    }
}
