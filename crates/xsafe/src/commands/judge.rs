//! `xsafe judge FILE`: verdicts for a file of prompt/answer pairs, and
//! `xsafe judge eval`: a judge's agreement with human labels.
//!
//! A judge that fails on an answer (its model failing after retries) does
//! not stop the command: the answer is reported as an error, counted, and
//! the command exits with 2 once everything else is written. But an `llm:`
//! judge whose model fails as every request would until the user changes
//! something (a quota used up, a key refused, a server down;
//! [`xsafe_runner::JudgeFailures`] says which, as a run says it) stops it
//! at that answer, sending nothing more, and the command fails saying what
//! to do: `judge FILE` keeps what it keeps when it stops on a row it
//! cannot read (see [`kept_output`]), `judge eval` gives no figures.

use crate::cli::{
    Global, JudgeCommand, JudgeEvalArgs, JudgeFileArgs, JudgeSubcommand, VerdictFormat,
};
use crate::commands::{AtomicFile, print_json, progress_bar};
use crate::table;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;
use xsafe_core::{Class, Outcome, Verdict};
use xsafe_judge::classifier::TrainingSource;
use xsafe_judge::labels::{Answer, FileKind, LabelledAnswer, LabelsError, RUN_FIELDS};
use xsafe_judge::metrics::{self, Agreement, ConfidenceBand};

pub async fn run(global: &Global, cmd: JudgeCommand) -> Result<ExitCode> {
    match cmd.command {
        Some(JudgeSubcommand::Eval(args)) => eval(global, args).await,
        Some(JudgeSubcommand::Train(args)) => super::judge_train::run(args),
        None => judge_file(global, cmd.file).await,
    }
}

/// How many answers `xsafe judge FILE` holds at once: it judges a chunk,
/// writes its verdicts, and reads the next, so that a file of any size
/// takes the memory of a chunk.
const CHUNK: usize = 1024;

/// The name standard input (`-`) has in messages and in each verdict's
/// `source`.
const STDIN: &str = "<stdin>";

/// Whether `path` is `-`, standard input (a file of that name is `./-`).
fn is_stdin(path: &std::path::Path) -> bool {
    path.as_os_str() == "-"
}

async fn judge_file(global: &Global, mut args: JudgeFileArgs) -> Result<ExitCode> {
    args.output = super::dash_is_stdout(args.output.take());
    let paths = std::mem::take(&mut args.file);
    assert!(!paths.is_empty(), "clap requires FILE without a subcommand");
    if paths.iter().filter(|p| is_stdin(p)).count() > 1 {
        anyhow::bail!(
            "`-` (standard input) is given more than once; it can be read only once (a file \
             named `-` is `./-`)"
        );
    }
    let files = || paths.iter().map(|p| p.as_path()).filter(|p| !is_stdin(p));
    if let Some(output) = &args.output {
        super::check_not_input(output, "--output", files())?;
    }
    // Every row of every file is checked before any is judged (an `llm:`
    // judge costs money per answer), a row at a time; they are read again
    // to judge. A pipe (`-`, `/dev/stdin`, `<(...)`) cannot be read twice:
    // it is read whole.
    let mut inputs = Vec::with_capacity(paths.len());
    for path in &paths {
        inputs.push(AnswersToJudge::open(path)?);
    }
    let total: usize = inputs.iter().map(AnswersToJudge::answers).sum();
    for (path, input) in paths.iter().zip(&inputs) {
        let failed = input.failed();
        if failed == 0 {
            continue;
        }
        let of = if paths.len() > 1 {
            format!(" of {}", input.name(path))
        } else {
            String::new()
        };
        note!(
            "{}{of} without an answer (results that failed, with an `error`) left out",
            super::count(failed as u64, "line")
        );
    }
    // The fields of a run (`xsafe export`'s target, strategy, sample,
    // suite) that some file has: the verdicts carry them through.
    let run_fields = inputs
        .iter()
        .map(AnswersToJudge::run_fields)
        .fold([false; 4], |a, b| std::array::from_fn(|i| a[i] | b[i]));
    // XSTest's `type`, where some file has it: written back, last.
    let has_type = inputs.iter().any(AnswersToJudge::has_type);
    let columns = Columns {
        run_fields,
        has_type,
    };
    let judge = args
        .judge
        .build(args.targets.as_deref(), &global.cache_dir()?)?;
    // The files are read again from here on, in turn; as checked, or an
    // error.
    let mut answers: Box<dyn Iterator<Item = Result<Answer, LabelsError>> + '_> =
        Box::new(inputs.iter_mut().flat_map(AnswersToJudge::read));
    let format = args.format.unwrap_or_else(|| {
        if args.output.as_deref().is_some_and(super::csv_by_name) {
            VerdictFormat::Csv
        } else {
            VerdictFormat::Jsonl
        }
    });
    // A file replaces an earlier one only once every answer is written.
    // Whether a failure leaves an earlier output as it was, or writes none.
    let replaces = args.output.as_deref().is_some_and(|o| o.exists());
    let file = args.output.as_deref().map(AtomicFile::create).transpose()?;
    let out: Box<dyn Write> = match &file {
        Some(f) => Box::new(std::io::BufWriter::new(f.writer()?)),
        None => Box::new(std::io::BufWriter::new(super::Stdout::lock())),
    };
    let mut writer = VerdictWriter::new(out, format, columns)?;
    let tag = judge.judge.tag();
    let bar = progress_bar(global.quiet, total as u64, &format!("judging with {tag}"));
    let mut counts = Counts::default();
    let mut written = 0u64;
    // What stopped the judge, with the answer it stopped at, when its
    // model failed as every request would.
    let mut failures = xsafe_runner::JudgeFailures::new(&*judge.judge, &judge.targets, false);
    let mut stopped = None;
    let mut chunk = Vec::with_capacity(CHUNK.min(total));
    loop {
        chunk.clear();
        for answer in answers.by_ref().take(CHUNK) {
            match answer {
                Ok(a) => chunk.push(a),
                Err(e) => {
                    bar.finish_and_clear();
                    let written = kept_output(args.output.as_deref(), replaces, writer, written)?;
                    anyhow::bail!("{e}; {written}");
                }
            }
        }
        if chunk.is_empty() {
            break;
        }
        // The conversations move to the judge: the rows written keep only
        // the answers' other fields, and a chunk of long transcripts is not
        // held twice.
        let items = chunk
            .iter_mut()
            .map(|a| (a.to_prompt(), a.take_transcript()))
            .collect();
        let judged_chunk = judge
            .judge_each(items, |i, result| {
                bar.inc(1);
                let a = &chunk[i];
                if let Some(stop) = failures.count(&result) {
                    stopped = Some((stop, a.source.clone()));
                    // Ends the judging: the requests in flight are dropped.
                    anyhow::bail!("the judge stopped");
                }
                written += 1;
                let row = match &result {
                    Ok(v) => {
                        counts.add(v);
                        VerdictRow::of(
                            a,
                            v.outcome.label(),
                            Some(v.confidence),
                            v.reason().map(String::from),
                            &v.judge,
                            columns,
                        )
                    }
                    Err(e) => {
                        counts.errors += 1;
                        tracing::warn!(answer = %a.source, error = %e, "the judge failed");
                        VerdictRow::of(a, "error", None, Some(e.to_string()), &tag, columns)
                    }
                };
                writer.write(&row)
            })
            .await;
        if let (Err(_), Some((stop, source))) = (&judged_chunk, &stopped) {
            bar.finish_and_clear();
            let written = kept_output(args.output.as_deref(), replaces, writer, written)?;
            anyhow::bail!(
                "{}; judging stopped at the answer of {source}, sending nothing more to it: \
                 {written}. {}, then run the command again",
                stop.said(),
                super::rejudge::capitalised(&stop.fix())
            );
        }
        judged_chunk?;
    }
    bar.finish_and_clear();
    writer.finish()?;
    if let Some(f) = file {
        f.commit()?;
    }
    note!("{}", counts.line(total, &tag));
    Ok(counts.exit_code())
}

/// What the reader of `xsafe judge FILE`'s output (`output`, stdout when
/// `None`) has got when the command stops before its end, having written
/// the verdicts of `written` answers with `writer`: stdout (or a FIFO,
/// written through) has them, flushed here; a file is not replaced
/// (`replaces`: it was there before) nor written, as it is replaced only
/// once every answer is written.
fn kept_output(
    output: Option<&std::path::Path>,
    replaces: bool,
    writer: VerdictWriter,
    written: u64,
) -> Result<String> {
    let through = |p: &std::path::Path| std::fs::metadata(p).is_ok_and(|m| !m.is_file());
    Ok(match output {
        Some(output) if !through(output) => {
            if replaces {
                format!("`{}` is left as it was", output.display())
            } else {
                format!("`{}` was not written", output.display())
            }
        }
        output => {
            writer.finish()?;
            let to = output.map_or("stdout".into(), |o| format!("`{}`", o.display()));
            format!(
                "the verdicts of the first {} were written to {to}",
                super::count(written, "answer")
            )
        }
    })
}

/// The answers of a file of `xsafe judge FILE`: checked a row at a time,
/// to be read again to judge; or, from a pipe, which cannot be read twice,
/// read whole.
enum AnswersToJudge {
    Checked(Box<xsafe_judge::labels::CheckedAnswers>),
    Whole(xsafe_judge::labels::AnswerFile),
}

impl AnswersToJudge {
    /// The answers of `path`, checked: `-` is standard input, read whole,
    /// as a path that is no regular file (a pipe) is.
    fn open(path: &std::path::Path) -> Result<AnswersToJudge, LabelsError> {
        if is_stdin(path) {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes).map_err(
                |error| LabelsError::Read {
                    kind: FileKind::Answers,
                    path: path.to_path_buf(),
                    error,
                },
            )?;
            return Ok(AnswersToJudge::Whole(xsafe_judge::labels::parse_answers(
                &bytes, STDIN,
            )?));
        }
        Ok(if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            AnswersToJudge::Checked(Box::new(xsafe_judge::labels::check_answers(path)?))
        } else {
            AnswersToJudge::Whole(xsafe_judge::labels::load_answers(path)?)
        })
    }

    /// The file as messages name it.
    fn name(&self, path: &std::path::Path) -> String {
        if is_stdin(path) {
            STDIN.to_string()
        } else {
            path.display().to_string()
        }
    }

    fn answers(&self) -> usize {
        match self {
            AnswersToJudge::Checked(c) => c.answers(),
            AnswersToJudge::Whole(w) => w.answers.len(),
        }
    }

    fn failed(&self) -> usize {
        match self {
            AnswersToJudge::Checked(c) => c.failed(),
            AnswersToJudge::Whole(w) => w.failed,
        }
    }

    /// Which of [`RUN_FIELDS`] the file has, in that order.
    fn run_fields(&self) -> [bool; 4] {
        match self {
            AnswersToJudge::Checked(c) => c.run_fields(),
            AnswersToJudge::Whole(w) => w.run_fields,
        }
    }

    /// Whether the file has a `type` field.
    fn has_type(&self) -> bool {
        match self {
            AnswersToJudge::Checked(c) => c.has_type(),
            AnswersToJudge::Whole(w) => w.has_type,
        }
    }

    /// The answers, read again (or handed over, for a file read whole);
    /// an error, then nothing, when the file is no longer as checked.
    fn read(&mut self) -> Box<dyn Iterator<Item = Result<Answer, LabelsError>> + '_> {
        match self {
            AnswersToJudge::Checked(c) => match c.read() {
                Ok(rows) => Box::new(rows),
                Err(e) => Box::new(std::iter::once(Err(e))),
            },
            AnswersToJudge::Whole(w) => {
                Box::new(std::mem::take(&mut w.answers).into_iter().map(Ok))
            }
        }
    }
}

/// The columns of `xsafe judge FILE`'s output that some input has: which
/// of [`RUN_FIELDS`], and `type`.
#[derive(Debug, Clone, Copy)]
struct Columns {
    run_fields: [bool; 4],
    has_type: bool,
}

/// One line of `xsafe judge FILE`'s output: the verdict's fields, then
/// where the answer is in the input (`FILE:LINE`, the line its row starts
/// on), then, when the input has them, the run's fields of an `xsafe
/// export` (which rows of one case differ by), [`RUN_FIELDS`], then
/// XSTest's `type`: the columns after `source`, each where some input has
/// it, each added after the others so that those keep their places.
#[derive(Serialize)]
struct VerdictRow<'a> {
    id: Option<&'a str>,
    prompt: &'a str,
    answer: &'a str,
    /// compliance, full_refusal, partial_refusal, unscored, or error.
    verdict: &'a str,
    confidence: Option<f64>,
    reason: Option<String>,
    judge: &'a str,
    source: &'a str,
    /// `None` when no input file has the field; `Some(None)` (`null`) when
    /// this row's has no value.
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    strategy: Option<Option<&'a str>>,
    /// A number when it is one (as `xsafe export` writes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    sample: Option<Option<serde_json::Value>>,
    /// A run of several suites may repeat a case's id in each.
    #[serde(skip_serializing_if = "Option::is_none")]
    suite: Option<Option<&'a str>>,
    /// XSTest's prompt type (`homonyms`), as the input gave it.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<Option<&'a str>>,
}

impl<'a> VerdictRow<'a> {
    fn of(
        a: &'a Answer,
        verdict: &'a str,
        confidence: Option<f64>,
        reason: Option<String>,
        judge: &'a str,
        columns: Columns,
    ) -> Self {
        let values = a.run.each_ref().map(Option::as_deref);
        let field = |i: usize| columns.run_fields[i].then_some(values[i]);
        VerdictRow {
            id: a.id.as_deref(),
            prompt: &a.prompt,
            answer: &a.answer,
            verdict,
            confidence,
            reason,
            judge,
            source: &a.source,
            target: field(0),
            strategy: field(1),
            sample: field(2).map(|s| s.map(sample_value)),
            suite: field(3),
            kind: columns.has_type.then_some(a.kind.as_deref()),
        }
    }
}

/// A sample as JSON: its number when the text is one, written as such
/// (`0`, not `00`); else the text.
fn sample_value(text: &str) -> serde_json::Value {
    match text.parse::<u64>() {
        Ok(n) if n.to_string() == text => n.into(),
        _ => text.into(),
    }
}

enum VerdictWriter {
    Jsonl(Box<dyn Write>),
    Csv(Box<csv::Writer<Box<dyn Write>>>),
}

impl VerdictWriter {
    /// A writer of `format`; a CSV's header has the columns of
    /// [`VerdictRow`], those of the run's fields and `type` only where
    /// `columns` says an input has them.
    fn new(out: Box<dyn Write>, format: VerdictFormat, columns: Columns) -> Result<Self> {
        Ok(match format {
            VerdictFormat::Jsonl => VerdictWriter::Jsonl(out),
            VerdictFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                let run = RUN_FIELDS
                    .iter()
                    .zip(columns.run_fields)
                    .chain([(&"type", columns.has_type)])
                    .filter(|(_, has)| *has)
                    .map(|(f, _)| *f);
                let header = [
                    "id",
                    "prompt",
                    "answer",
                    "verdict",
                    "confidence",
                    "reason",
                    "judge",
                    "source",
                ];
                w.write_record(header.into_iter().chain(run))?;
                VerdictWriter::Csv(Box::new(w))
            }
        })
    }

    fn write(&mut self, row: &VerdictRow) -> Result<()> {
        match self {
            VerdictWriter::Jsonl(out) => writeln!(out, "{}", serde_json::to_string(row)?)?,
            VerdictWriter::Csv(w) => {
                let confidence = row.confidence.map(|c| c.to_string()).unwrap_or_default();
                let sample = row.sample.as_ref().map(|s| match s {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(v) => v.to_string(),
                    None => String::new(),
                });
                let run = [
                    row.target.map(|t| t.unwrap_or_default()),
                    row.strategy.map(|s| s.unwrap_or_default()),
                    sample.as_deref(),
                    row.suite.map(|s| s.unwrap_or_default()),
                    row.kind.map(|k| k.unwrap_or_default()),
                ];
                let fields = [
                    row.id.unwrap_or_default(),
                    row.prompt,
                    row.answer,
                    row.verdict,
                    &confidence,
                    row.reason.as_deref().unwrap_or_default(),
                    row.judge,
                    row.source,
                ];
                w.write_record(fields.into_iter().chain(run.into_iter().flatten()))?
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<()> {
        match self {
            VerdictWriter::Jsonl(mut out) => out.flush()?,
            VerdictWriter::Csv(mut w) => w.flush()?,
        }
        Ok(())
    }
}

/// Verdicts by outcome, for the summary on stderr.
#[derive(Default)]
struct Counts {
    classes: [u64; 3],
    unscored: u64,
    errors: u64,
    /// The verdicts a pair's second judge gave ([`xsafe_judge::Cascade::escalated`]).
    escalated: u64,
}

impl Counts {
    fn add(&mut self, verdict: &Verdict) {
        match verdict.outcome.class() {
            Some(c) => self.classes[Class::ALL.iter().position(|&k| k == c).unwrap()] += 1,
            None => self.unscored += 1,
        }
        self.escalated += u64::from(xsafe_judge::Cascade::escalated(verdict));
    }

    fn line(&self, total: usize, tag: &str) -> String {
        let mut line = format!(
            "judged {} with {tag}: {} compliance, {} full_refusal, {} partial_refusal, {} unscored",
            super::count(total as u64, "answer"),
            self.classes[0],
            self.classes[1],
            self.classes[2],
            self.unscored
        );
        if let Some(second) = second_judge(tag) {
            line.push_str(&format!(
                "; {} escalated to {second} (their `reason` says so)",
                self.escalated
            ));
        }
        if self.errors > 0 {
            line.push_str(&format!(
                ", {} (the judge failed; see the warnings above and run again)",
                super::count(self.errors, "error")
            ));
        }
        line
    }

    fn exit_code(&self) -> ExitCode {
        if self.errors > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// The second judge of the pair whose tag is `tag` (`llm:openai:j` of
/// `xsafe>llm:openai:j@11-...>11-...<0.95`); `None` for one judge.
fn second_judge(tag: &str) -> Option<&str> {
    let name = tag.rsplit_once('@').map_or(tag, |(name, _)| name);
    name.split_once('>').map(|(_, second)| second)
}

/// What `xsafe judge eval --json` prints.
#[derive(Serialize)]
struct EvalReport {
    judge: String,
    files: Vec<String>,
    /// The label files (of `files`) that are byte for byte files the judge
    /// was trained on, as its weights record them: the figures on their
    /// answers are in-sample, how well the judge fits its training data,
    /// not its accuracy on new answers. Empty when none is.
    in_sample: Vec<String>,
    /// Rows of the files without a `final_label`, left out of every figure.
    unlabelled: u64,
    #[serde(flatten)]
    agreement: Agreement,
    /// Agreement on the answers judged with at least each level of
    /// confidence: what is left to the judge when the rest is reviewed.
    by_confidence: Vec<ConfidenceBand>,
    /// Agreement per label file, when there are several (XSTest's files are
    /// one model each): how the judge does on each model's answers.
    by_file: Vec<GroupAgreement>,
    /// Agreement per prompt type, when the files give types (XSTest's
    /// `type` column): where the judge and the humans part.
    by_type: Vec<GroupAgreement>,
    /// Unscored answers by the kind of reason (the reason up to its first
    /// colon), most first: why the judge could not decide.
    unscored_reasons: Vec<ReasonCount>,
    /// Answers the judge failed on; they are in no other figure.
    errors: u64,
    /// For a pair of judges (`--escalate-to`): how many answers its second
    /// judge judged, the first being less sure of them than
    /// `--escalate-below` or unable to read them; absent for one judge.
    #[serde(skip_serializing_if = "Option::is_none")]
    escalated: Option<u64>,
    /// Wall time of the judging alone (not of reading the files).
    seconds: f64,
    answers_per_second: Option<f64>,
}

/// How many unscored answers give one kind of reason.
#[derive(Serialize)]
struct ReasonCount {
    reason: String,
    answers: u64,
}

/// The unscored verdicts' reasons, each cut at its first colon (what
/// follows quotes the answer or the judge's output), counted, most first
/// and then by text.
fn unscored_reasons(judged: &[(usize, Verdict)]) -> Vec<ReasonCount> {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, v) in judged {
        if let Some(reason) = v.outcome.reason() {
            let kind = reason.split(':').next().unwrap_or(reason).trim();
            *counts.entry(kind).or_default() += 1;
        }
    }
    let mut out: Vec<ReasonCount> = counts
        .into_iter()
        .map(|(reason, answers)| ReasonCount {
            reason: reason.to_string(),
            answers,
        })
        .collect();
    out.sort_by_key(|r| std::cmp::Reverse(r.answers));
    out
}

/// Agreement on a group of the answers: one prompt type, or one file.
#[derive(Serialize)]
struct GroupAgreement {
    #[serde(flatten)]
    group: Group,
    /// Answers judged (scored or unscored): the judge's errors left out.
    n: u64,
    unscored: u64,
    /// Answers of the group the judge failed on; in no figure.
    errors: u64,
    accuracy_3class: Option<f64>,
    accuracy_binary: Option<f64>,
    kappa: Option<f64>,
    /// For a label file: whether the judge was trained on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    in_sample: Option<bool>,
}

/// What a group is; in JSON, `"type": ...` or `"file": ...`.
#[derive(Serialize)]
enum Group {
    #[serde(rename = "type")]
    Type(String),
    #[serde(rename = "file")]
    File(String),
}

impl Group {
    fn name(&self) -> &str {
        match self {
            Group::Type(name) | Group::File(name) => name,
        }
    }
}

/// Agreement per group: `key` says each answer's (by its index), the
/// groups come in the order of their keys, and `group` names each (and
/// says, for a label file, whether the judge was trained on it).
fn by_group<K: Ord>(
    answers: &[LabelledAnswer],
    judged: &[(usize, Verdict)],
    failed: &[usize],
    key: impl Fn(usize) -> K,
    group: impl Fn(K) -> (Group, Option<bool>),
) -> Vec<GroupAgreement> {
    // The pairs judged, and how many answers the judge failed on.
    type Judged<'v> = (Vec<(Class, &'v Outcome)>, u64);
    let mut groups: BTreeMap<K, Judged> = BTreeMap::new();
    for (i, v) in judged {
        let pair = (answers[*i].label, &v.outcome);
        groups.entry(key(*i)).or_default().0.push(pair);
    }
    for i in failed {
        groups.entry(key(*i)).or_default().1 += 1;
    }
    groups
        .into_iter()
        .map(|(key, (pairs, errors))| {
            let a = metrics::agreement(pairs);
            let (group, in_sample) = group(key);
            GroupAgreement {
                group,
                n: a.n,
                unscored: a.unscored,
                errors,
                accuracy_3class: a.accuracy_3class,
                accuracy_binary: a.accuracy_binary,
                kappa: a.kappa,
                in_sample,
            }
        })
        .collect()
}

/// Agreement per type, sorted by type; answers without a type are
/// `(none)`. Empty when no answer has a type.
fn by_type(
    answers: &[LabelledAnswer],
    judged: &[(usize, Verdict)],
    failed: &[usize],
) -> Vec<GroupAgreement> {
    if answers.iter().all(|a| a.kind.is_none()) {
        return Vec::new();
    }
    let kind = |i: usize| answers[i].kind.as_deref().unwrap_or("(none)");
    by_group(answers, judged, failed, kind, |k| {
        (Group::Type(k.to_string()), None)
    })
}

/// One line of `judge eval --disagreements`.
#[derive(Serialize)]
struct Disagreement<'a> {
    /// `file:line` of the labelled answer.
    source: &'a str,
    id: Option<&'a str>,
    #[serde(rename = "type")]
    kind: Option<&'a str>,
    prompt: &'a str,
    answer: &'a str,
    human: &'static str,
    verdict: &'static str,
    confidence: f64,
    reason: Option<&'a str>,
}

/// The answers whose verdict is not the human label, in the order of the
/// label files, as CSV or JSONL, and how many there are.
fn disagreements(
    csv: bool,
    answers: &[LabelledAnswer],
    judged: &[(usize, Verdict)],
) -> Result<(Vec<u8>, usize)> {
    let mut rows: Vec<(usize, Disagreement)> = judged
        .iter()
        .filter(|(i, v)| v.outcome.class() != Some(answers[*i].label))
        .map(|(i, v)| {
            let a = &answers[*i];
            let row = Disagreement {
                source: &a.source,
                id: a.id.as_deref(),
                kind: a.kind.as_deref(),
                prompt: &a.prompt,
                answer: &a.answer,
                human: a.label.as_str(),
                verdict: v.outcome.label(),
                confidence: v.confidence,
                reason: v.reason(),
            };
            (*i, row)
        })
        .collect();
    rows.sort_by_key(|(i, _)| *i);
    let mut bytes = Vec::new();
    if csv {
        let mut w = csv::Writer::from_writer(&mut bytes);
        for (_, row) in &rows {
            w.serialize(row)?;
        }
        w.flush()?;
    } else {
        for (_, row) in &rows {
            serde_json::to_writer(&mut bytes, row)?;
            bytes.push(b'\n');
        }
    }
    Ok((bytes, rows.len()))
}

async fn eval(global: &Global, args: JudgeEvalArgs) -> Result<ExitCode> {
    labels_given_once(&args.labels)?;
    let mut answers = Vec::new();
    // The label file of each answer, for the figures by file.
    let mut file_of = Vec::new();
    let mut unlabelled = Vec::new();
    // The SHA-256 of each label file, to find those the judge was trained on.
    let mut digests = Vec::new();
    for (f, path) in args.labels.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|error| LabelsError::Read {
            kind: FileKind::Labels,
            path: path.clone(),
            error,
        })?;
        digests.push(xsafe_judge::provenance::file_sha256(&bytes));
        // With each row's finish reason: a provider's refusal is one for
        // the judge measured too.
        let labelled = xsafe_judge::labels::parse_labels(&bytes, &path.display().to_string())?;
        file_of.extend(std::iter::repeat_n(f, labelled.answers.len()));
        answers.extend(labelled.answers);
        unlabelled.extend(labelled.unlabelled);
    }
    note_unlabelled(&unlabelled);
    let judge = args
        .judge
        .build(args.targets.as_deref(), &global.cache_dir()?)?;
    let trained = training_sources(&args.judge)?;
    // (label file, the training source it is, whether of the shipped
    // weights) for each file the judge was trained on.
    let in_sample: Vec<(usize, &TrainingSource, bool)> = digests
        .iter()
        .enumerate()
        .filter_map(|(f, d)| {
            trained.iter().find_map(|t| {
                let source = xsafe_judge::provenance::trained_on(&t.sources, d)?;
                Some((f, source, t.shipped))
            })
        })
        .collect();
    if let Some(path) = &args.disagreements {
        super::check_not_input(
            path,
            "--disagreements",
            args.labels.iter().map(std::path::PathBuf::as_path),
        )?;
        super::check_writable(path)?;
    }
    let tag = judge.judge.tag();
    let items = answers
        .iter()
        .map(|a| (a.to_prompt(), a.to_transcript()))
        .collect();
    let bar = progress_bar(
        global.quiet,
        answers.len() as u64,
        &format!("judging with {tag}"),
    );
    // (answer index, verdict) of every answer the judge did not fail on.
    let mut judged: Vec<(usize, Verdict)> = Vec::with_capacity(answers.len());
    // The answers the judge failed on, by index.
    let mut failed: Vec<usize> = Vec::new();
    let started = Instant::now();
    // What stopped the judge, with the answer it stopped at, when its
    // model failed as every request would.
    let mut failures = xsafe_runner::JudgeFailures::new(&*judge.judge, &judge.targets, false);
    let mut stopped = None;
    let judged_all = judge
        .judge_each(items, |i, result| {
            bar.inc(1);
            if let Some(stop) = failures.count(&result) {
                stopped = Some((stop, answers[i].source.clone()));
                // Ends the judging: the requests in flight are dropped.
                anyhow::bail!("the judge stopped");
            }
            match result {
                Ok(v) => judged.push((i, v)),
                Err(e) => {
                    failed.push(i);
                    tracing::warn!(answer = %answers[i].source, error = %e, "the judge failed");
                }
            }
            Ok(())
        })
        .await;
    if let (Err(_), Some((stop, source))) = (&judged_all, &stopped) {
        bar.finish_and_clear();
        let written = match &args.disagreements {
            Some(path) => format!(", and `{}` was not written", path.display()),
            None => String::new(),
        };
        anyhow::bail!(
            "{}; judging stopped at the answer of {source}, sending nothing more to it, with {} \
             of {} judged: no figures are given, as they would be of those alone{written}. {}, \
             then run the command again",
            stop.said(),
            judged.len() + failed.len(),
            super::count(answers.len() as u64, "answer"),
            super::rejudge::capitalised(&stop.fix())
        );
    }
    judged_all?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let errors = failed.len() as u64;
    let scored: Vec<(Class, Class, f64)> = judged
        .iter()
        .filter_map(|(i, v)| {
            let label = answers[*i].label;
            v.outcome.class().map(|c| (label, c, v.confidence))
        })
        .collect();
    let files: Vec<String> = args
        .labels
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let by_file = match files.len() {
        1 => Vec::new(),
        _ => by_group(
            &answers,
            &judged,
            &failed,
            |i| file_of[i],
            |f| {
                let trained = in_sample.iter().any(|(g, ..)| *g == f);
                (Group::File(files[f].clone()), Some(trained))
            },
        ),
    };
    warn_in_sample(&tag, &files, &in_sample);
    let escalated = second_judge(&tag).map(|_| {
        judged
            .iter()
            .filter(|(_, v)| xsafe_judge::Cascade::escalated(v))
            .count() as u64
    });
    let report = EvalReport {
        judge: tag,
        in_sample: in_sample.iter().map(|(f, ..)| files[*f].clone()).collect(),
        files,
        unlabelled: unlabelled.len() as u64,
        by_file,
        agreement: metrics::agreement(judged.iter().map(|(i, v)| (answers[*i].label, &v.outcome))),
        by_confidence: metrics::by_confidence(&scored, &metrics::CONFIDENCE_LEVELS),
        by_type: by_type(&answers, &judged, &failed),
        unscored_reasons: unscored_reasons(&judged),
        errors,
        escalated,
        seconds,
        answers_per_second: (seconds > 0.0).then(|| answers.len() as f64 / seconds),
    };
    if let Some(path) = &args.disagreements {
        let (bytes, n) = disagreements(super::csv_by_name(path), &answers, &judged)?;
        super::write_atomically(path, &bytes)?;
        note!(
            "wrote the {} whose verdict is not the human label to {}",
            super::count(n as u64, "answer"),
            path.display()
        );
    }
    if args.json {
        print_json(&report)?;
    } else {
        out!("{}", render_eval(&report));
    }
    if errors > 0 {
        errln!(
            "the judge failed on {}, which are left out of every figure; see the warnings above \
             and run again",
            super::count(errors, "answer")
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses a label file given twice to `--labels` (`judge eval`, `judge
/// train`), by one spelling of its path or two (`f.csv ./f.csv`, a link to
/// it): its answers would be counted twice, as if they were more.
pub(crate) fn labels_given_once(paths: &[std::path::PathBuf]) -> Result<()> {
    let Some((i, j)) = super::file_given_twice(paths.iter().map(|p| p.as_path())) else {
        return Ok(());
    };
    let (first, second) = (paths[i].display(), paths[j].display());
    let also = if paths[i] == paths[j] {
        String::new()
    } else {
        format!(", also as `{second}`")
    };
    anyhow::bail!(
        "label file `{first}` is given twice to --labels{also}; give each file once (its answers \
         would be counted twice)"
    )
}

/// Says which rows of the label files have no `final_label` and so are
/// left out (an `xsafe export` leaves it empty where the run's judge gave
/// no verdict).
pub(crate) fn note_unlabelled(rows: &[String]) {
    if rows.is_empty() {
        return;
    }
    let shown: Vec<&str> = rows.iter().take(3).map(String::as_str).collect();
    let more = if rows.len() > shown.len() {
        ", ..."
    } else {
        ""
    };
    note!(
        "{} without a final_label left out ({}{more})",
        super::count(rows.len() as u64, "row"),
        shown.join(", ")
    );
}

/// What one judge of `--judge` and `--escalate-to` was trained on, as its
/// weights record it.
struct Trained {
    /// The shipped `xsafe` judge's weights (else an `xsafe:FILE` judge's).
    shipped: bool,
    sources: Vec<TrainingSource>,
}

/// The files the judge `--judge` names was trained on, and those of the
/// judge `--escalate-to` names, as their weights record them.
fn training_sources(args: &crate::cli::JudgeArgs) -> Result<Vec<Trained>> {
    let mut trained = Vec::new();
    for spec in std::iter::once(&args.judge).chain(&args.escalate_to) {
        trained.push(Trained {
            shipped: spec.trim() == "xsafe",
            sources: xsafe_judge::provenance::training_sources(spec).map_err(anyhow::Error::msg)?,
        });
    }
    Ok(trained)
}

/// Says on stderr which label files trained the judge: figures on them
/// are in-sample (the shipped judge gets 99.9% on XSTest's development
/// answers, which it was trained on, and 81-95% on each held out), and
/// where to measure it instead: for the shipped judge, the held-out figures
/// published; for weights of the user's own (`xsafe:FILE`), answers they
/// hold out of its training.
fn warn_in_sample(judge: &str, files: &[String], in_sample: &[(usize, &TrainingSource, bool)]) {
    if in_sample.is_empty() {
        return;
    }
    let named: Vec<String> = in_sample
        .iter()
        .map(|(f, source, _)| {
            let file = &files[*f];
            let base = std::path::Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy());
            if base.as_deref() == Some(source.name.as_str()) {
                file.clone()
            } else {
                format!("{file} (trained on as {})", source.name)
            }
        })
        .collect();
    let rest = if in_sample.len() < files.len() {
        " (the figures by label file of the others are held out)"
    } else {
        ""
    };
    let mut measure = Vec::new();
    if in_sample.iter().any(|(.., shipped)| *shipped) {
        measure.push(
            "for the shipped judge, the held-out figures (leave one model out, from \
             scripts/judge-dev.sh) are in README.md and crates/xsafe-judge/corpus/README.md",
        );
    }
    if in_sample.iter().any(|(.., shipped)| !*shipped) {
        measure.push(
            "for weights of your own (xsafe:FILE), keep some labelled answers out of `xsafe \
             judge train --labels` and measure the judge on those with `xsafe judge eval`: \
             that measurement is its accuracy on new answers",
        );
    }
    errln!(
        "warning: these answers trained the judge {judge}: {}; the figures on them are \
         in-sample, how well it fits its training data, not its accuracy on new answers{rest}. \
         Measure it on answers it was not trained on; {}",
        named.join(", "),
        measure.join("; ")
    );
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{:.1}%", 100.0 * x))
}

fn num(x: Option<f64>) -> String {
    x.map_or("-".into(), |x| format!("{x:.3}"))
}

fn render_eval(r: &EvalReport) -> String {
    let a = &r.agreement;
    // Every answer read, then, when the judge failed on some, how many it
    // judged (the `n` of the figures) and how many it failed on.
    let judged = if r.errors > 0 {
        format!(
            ": {} judged, {} (the judge failed on them; they are in no figure)",
            a.n,
            super::count(r.errors, "error")
        )
    } else {
        String::new()
    };
    let mut out = format!(
        "judge {} on {} ({}){judged}\n",
        r.judge,
        super::count(a.n + r.errors, "answer"),
        r.files.join(", ")
    );
    if !r.in_sample.is_empty() {
        out.push_str(&format!(
            "in-sample: the judge was trained on {}; these figures are not its accuracy on new \
             answers\n",
            r.in_sample.join(", ")
        ));
    }
    if let (Some(n), Some(second)) = (r.escalated, second_judge(&r.judge)) {
        out.push_str(&format!(
            "escalated: {n} of the {} judged went to {second} (the first judge was less sure of \
             them than --escalate-below, or could not read them)\n",
            super::count(a.n, "answer")
        ));
    }
    out.push_str(&table::render(
        &["figure", "value"],
        &[
            vec!["n".into(), a.n.to_string()],
            vec!["unscored".into(), a.unscored.to_string()],
            vec!["errors".into(), r.errors.to_string()],
            vec!["accuracy (3 classes)".into(), pct(a.accuracy_3class)],
            vec!["accuracy (binary)".into(), pct(a.accuracy_binary)],
            vec!["kappa".into(), num(a.kappa)],
            vec!["kappa (binary)".into(), num(a.kappa_binary)],
            vec![
                "answers/second".into(),
                r.answers_per_second
                    .map_or("-".into(), |x| format!("{x:.1}")),
            ],
        ],
    ));
    if !r.unscored_reasons.is_empty() {
        out.push_str("\nunscored, by reason (`--disagreements FILE` lists the answers)\n");
        let rows: Vec<Vec<String>> = r
            .unscored_reasons
            .iter()
            .map(|u| vec![u.reason.clone(), u.answers.to_string()])
            .collect();
        out.push_str(&table::render(&["reason", "answers"], &rows));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = a
        .per_class
        .iter()
        .map(|c| {
            vec![
                c.class.to_string(),
                c.support.to_string(),
                c.predicted.to_string(),
                num(c.precision),
                num(c.recall),
                num(c.f1),
            ]
        })
        .collect();
    out.push_str(&table::render(
        &["class", "human", "judge", "precision", "recall", "f1"],
        &rows,
    ));
    out.push_str("\nconfusion (rows: human, columns: judge; scored answers)\n");
    let rows: Vec<Vec<String>> = Class::ALL
        .iter()
        .zip(&a.confusion)
        .map(|(c, row)| {
            std::iter::once(c.to_string())
                .chain(row.iter().map(u64::to_string))
                .collect()
        })
        .collect();
    out.push_str(&table::render(
        &["", "compliance", "full_refusal", "partial_refusal"],
        &rows,
    ));
    // A judge that is always equally sure (strmatch) has nothing to show.
    let all_or_none = |b: &ConfidenceBand| b.answers == 0 || b.answers == a.scored;
    if !r.by_confidence.iter().all(all_or_none) {
        out.push_str(
            "\nagreement by judge confidence (label the answers below a level by hand; \
             the judge's labels on the rest agree this often)\n",
        );
        let rows: Vec<Vec<String>> = r
            .by_confidence
            .iter()
            .map(|b| {
                vec![
                    format!(">= {}", b.min_confidence),
                    b.answers.to_string(),
                    pct(b.share),
                    pct(b.accuracy_3class),
                    pct(b.accuracy_binary),
                ]
            })
            .collect();
        out.push_str(&table::render(
            &["confidence", "answers", "share", "3 classes", "binary"],
            &rows,
        ));
    }
    for (title, column, groups) in [
        ("label file", "file", &r.by_file),
        ("prompt type", "type", &r.by_type),
    ] {
        if groups.is_empty() {
            continue;
        }
        out.push_str(&format!("\nagreement by {title}\n"));
        let rows: Vec<Vec<String>> = groups
            .iter()
            .map(|g| {
                let trained = if g.in_sample == Some(true) {
                    " (in-sample)"
                } else {
                    ""
                };
                let mut row = vec![
                    format!("{}{trained}", g.group.name()),
                    g.n.to_string(),
                    g.unscored.to_string(),
                ];
                if r.errors > 0 {
                    row.push(g.errors.to_string());
                }
                row.extend([
                    pct(g.accuracy_3class),
                    pct(g.accuracy_binary),
                    g.kappa.map_or_else(|| "-".into(), |k| format!("{k:.3}")),
                ]);
                row
            })
            .collect();
        // The errors column when the judge failed on some answers: the
        // answers column counts those it judged.
        let mut header = vec![column, "answers", "unscored"];
        if r.errors > 0 {
            header.push("errors");
        }
        header.extend(["3 classes", "binary", "kappa"]);
        out.push_str(&table::render(&header, &rows));
    }
    out
}
