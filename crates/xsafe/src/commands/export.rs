//! `xsafe export RUN --format jsonl|csv`.

use crate::cli::{ExportArgs, ExportFormat, Global};
use crate::commands::AtomicFile;
use crate::commands::runs::{Selection, result_json, verdict_of, with_selected};
use anyhow::Result;
use std::io::Write;
use std::process::ExitCode;

pub fn run(global: &Global, mut args: ExportArgs) -> Result<ExitCode> {
    args.output = super::dash_is_stdout(args.output.take());
    let store = global.open_store()?;
    with_selected(&store, &args.run, &args.filter, |selection| {
        write(&args, selection)
    })
}

/// Writes the selected results as `args` asks.
fn write(args: &ExportArgs, selection: Selection<'_>) -> Result<ExitCode> {
    let (run, judge) = (selection.record.name.clone(), selection.judge.clone());
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
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
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
            // `final_label` and `judge` are the run's judge's verdict, as
            // `xsafe report` counts it; empty when it gave none. `system`
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
    Ok(ExitCode::SUCCESS)
}
