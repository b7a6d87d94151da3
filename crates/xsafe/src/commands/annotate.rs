//! `xsafe annotate RUN`: the labelling page; `annotate stats` (agreement
//! between annotators and with the judge), `annotate export` and `annotate
//! import` (XSTest-format CSVs of the labels, or JSONL with the same keys).
//! `annotate export --unlabelled` writes the answers still to label, in the
//! same columns with an empty final_label, which `import` reads back; an
//! import refuses a file of a judge's verdicts (an `xsafe export`).

use crate::cli::{
    AnnotateCommand, AnnotateExportArgs, AnnotateImportArgs, AnnotateServeArgs, AnnotateStatsArgs,
    AnnotateSubcommand, ExportFormat, Global,
};
use crate::commands::runs::{counted_judge, run_judge, verdict_of};
use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use xsafe_core::{Class, Outcome};
use xsafe_judge::metrics::{self, Agreement};
use xsafe_report::{HumanLabel, majority};
use xsafe_server::annotate::AnnotateState;
use xsafe_store::{Annotation, ResultOutline, Snapshot, Store};
use xsafe_suite::table::{self, Example};

pub async fn run(global: &Global, cmd: AnnotateCommand) -> Result<ExitCode> {
    match cmd.command {
        Some(AnnotateSubcommand::Stats(args)) => stats(global, args),
        Some(AnnotateSubcommand::Export(args)) => export(global, args),
        Some(AnnotateSubcommand::Import(args)) => import(global, args),
        None => serve(global, cmd.serve).await,
    }
}

/// The annotator's name: `--annotator`, trimmed; else `XSAFE_ANNOTATOR`,
/// else `$USER`, else `annotator`. An empty or blank variable is as if it
/// were unset, as every variable of xsafe's is (which is why the variable
/// is read here, not by clap, which would hand it over as the flag); a
/// blank `--annotator` is refused rather than stored under a name nobody
/// chose (the labels of everyone who did so would mix under it), and so is
/// a name [`check_annotator`] refuses.
pub fn annotator_name(given: Option<&str>) -> Result<String> {
    if let Some(name) = given {
        let name = name.trim();
        if name.is_empty() {
            bail!(
                "--annotator is empty: give the name your labels are stored under, such as \
                 --annotator alice (without the flag, $XSAFE_ANNOTATOR, else $USER)"
            );
        }
        check_annotator(name, "--annotator")?;
        return Ok(name.to_string());
    }
    let variable = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .map(|value| (value, format!("${name}")))
    };
    match variable("XSAFE_ANNOTATOR").or_else(|| variable("USER")) {
        Some((name, from)) => {
            check_annotator(&name, &from)?;
            Ok(name)
        }
        None => Ok("annotator".to_string()),
    }
}

/// Refuses an annotator's name with `;` or `,` (the majority rows of
/// `annotate export` list their annotators as `alice;bob`, which such a
/// name would make ambiguous) or a control character (a line break in a
/// name splits the lines that name it); `from` says where the name came
/// from (`--annotator`, `$USER`).
fn check_annotator(name: &str, from: &str) -> Result<()> {
    let Some(bad) = name
        .chars()
        .find(|c| matches!(c, ';' | ',') || c.is_control())
    else {
        return Ok(());
    };
    let what = match bad {
        ';' | ',' => format!("`{bad}`"),
        c => format!("a control character ({})", c.escape_default()),
    };
    let like: String = name
        .chars()
        .map(|c| {
            if matches!(c, ';' | ',') || c.is_control() {
                '-'
            } else {
                c
            }
        })
        .collect();
    let fix = if from == "--annotator" {
        format!("such as --annotator {like}")
    } else {
        format!("with --annotator, such as --annotator {like}")
    };
    bail!(
        "annotator name {:?} (from {from}) has {what}: a name cannot contain `;`, `,` or control \
         characters (`xsafe annotate export` lists the annotators of an answer as `alice;bob`); \
         give another name, {fix}",
        name
    )
}

async fn serve(global: &Global, args: AnnotateServeArgs) -> Result<ExitCode> {
    let store = global.open_store()?;
    let run = args
        .run
        .as_deref()
        .ok_or_else(|| anyhow!("give the run to label: xsafe annotate RUN"))?;
    if !(0.0..=1.0).contains(&args.low_confidence) {
        bail!(
            "--low-confidence {}: give a confidence from 0 to 1, such as 0.9",
            args.low_confidence
        );
    }
    let annotator = annotator_name(args.annotator.as_deref())?;
    let record = store.run(run)?;
    // Every label is written as it is made: a store that cannot be
    // written would fail each one, behind a page that looks ready.
    store.check_writable()?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on `{}`: {e}; choose another address or port with --listen",
                args.listen
            )
        })?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        // The page has no password: on such an address, every machine that
        // can reach this one reads the run's transcripts and labels them
        // under this name.
        errln!(
            "warning: listening on {addr}, which is not a loopback address: anyone who can reach \
             this machine on port {port} can read every transcript of run `{}` and label its \
             answers as `{annotator}` (the page has no password); --listen 127.0.0.1:{port} \
             keeps it to this machine",
            record.name,
            port = addr.port()
        );
    }
    // Before the start line: a signal sent on seeing it stops the server
    // gracefully (see `shutdown_signal`). A label being saved then still
    // gets its answer, which may wait on a store another process writes.
    let signal = xsafe_server::shutdown_signal();
    let shutdown = async move {
        signal.await;
        note!("stopping: letting the labels being saved finish (Ctrl-C again to stop at once)");
    };
    let review = review_line(&store.outlines(record.id)?, args.low_confidence);
    let state = Arc::new(
        AnnotateState::new(store, record.id, annotator.clone())
            .with_low_confidence(args.low_confidence),
    );
    // The URL goes to stdout (for scripts); the rest to stderr.
    outln!("http://{addr}/");
    note!(
        "labelling run `{}` as `{annotator}` on http://{addr}/ (every label is saved when it is \
         made); Ctrl-C stops",
        record.name
    );
    if record.status == xsafe_store::RunStatus::Running {
        note!(
            "run `{}` is still running: the page loads its new answers as they come",
            record.name
        );
    }
    if let Some(line) = review {
        note!("{line}");
    }
    xsafe_server::annotate::serve(listener, state, shutdown)
        .await
        .context("serving the annotation page")?;
    note!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// What the page's review filters hold, for the line `annotate` prints when
/// it starts: the answers a judge scored below `threshold` and those it
/// failed on ("only low judge confidence"), and apart from them those it
/// left unscored, which have no confidence ("only unscored by the judge").
/// `None` for a run without answers yet.
fn review_line(results: &[ResultOutline], threshold: f64) -> Option<String> {
    let c = xsafe_server::annotate::review_counts(results, threshold);
    if c.answers == 0 {
        return None;
    }
    Some(format!(
        "{} to label: {} scored by the judge with a confidence below {threshold} and {} it \
         failed on (the filter \"only low judge confidence\"); {} it left unscored, such as \
         empty answers, with no confidence to compare (the filter \"only unscored by the \
         judge\")",
        super::count(c.answers as u64, "answer"),
        c.scored_below,
        c.without_verdict,
        c.unscored
    ))
}

/// Each result's labels, by annotator.
fn labels_by_result(annotations: &[Annotation]) -> HashMap<i64, BTreeMap<String, Class>> {
    let mut map: HashMap<i64, BTreeMap<String, Class>> = HashMap::new();
    for a in annotations {
        map.entry(a.result_id)
            .or_default()
            .insert(a.annotator.clone(), a.class);
    }
    map
}

fn index(c: Class) -> usize {
    Class::ALL.iter().position(|&k| k == c).unwrap_or(0)
}

fn stats(global: &Global, args: AnnotateStatsArgs) -> Result<ExitCode> {
    let store = global.open_store()?;
    let record = store.run(&args.run)?;
    let results = store.outlines(record.id)?;
    let annotations = store.annotations(record.id)?;
    let judge = match args.judge.as_deref() {
        Some(spec) => counted_judge(spec, &[(record.name.as_str(), &results)])?,
        None => run_judge(&record, &results),
    };
    let by_result = labels_by_result(&annotations);
    let annotators: BTreeSet<String> = annotations.iter().map(|a| a.annotator.clone()).collect();
    let annotators: Vec<String> = annotators.into_iter().collect();

    // Between every pair of annotators, on the answers both labelled.
    let mut pairs = Vec::new();
    for (i, a) in annotators.iter().enumerate() {
        for b in &annotators[i + 1..] {
            let mut confusion = [[0u64; 3]; 3];
            for labels in by_result.values() {
                if let (Some(&x), Some(&y)) = (labels.get(a), labels.get(b)) {
                    confusion[index(x)][index(y)] += 1;
                }
            }
            pairs.push((a.clone(), b.clone(), metrics::from_confusion(confusion, 0)));
        }
    }

    // The judge against each annotator, and against the majority label.
    let verdict =
        |r: &ResultOutline| -> Option<Outcome> { verdict_of(r, &judge).map(|v| v.outcome.clone()) };
    let mut judge_vs = Vec::new();
    for a in &annotators {
        let pairs = results.iter().filter_map(|r| {
            let human = *by_result.get(&r.id)?.get(a)?;
            Some((human, verdict(r)?))
        });
        judge_vs.push((a.clone(), metrics::agreement(pairs)));
    }
    let mut ties = 0u64;
    let mut majority_pairs = Vec::new();
    for r in &results {
        let Some(labels) = by_result.get(&r.id) else {
            continue;
        };
        let labels: Vec<Class> = labels.values().copied().collect();
        match majority(&labels) {
            Some(HumanLabel::Agreed(c)) => {
                if let Some(o) = verdict(r) {
                    majority_pairs.push((c, o));
                }
            }
            Some(HumanLabel::Tied) => ties += 1,
            None => {}
        }
    }
    let judge_vs_majority = metrics::agreement(majority_pairs);
    let labelled = by_result.len();
    // The answers there are to label, as the page counts them: a request
    // that failed has none, and is counted apart.
    let answers = results.iter().filter(|r| r.answer.is_some()).count();
    let failed_requests = results.len() - answers;
    let unjudged = results
        .iter()
        .filter(|r| by_result.contains_key(&r.id) && verdict(r).is_none())
        .count();
    if unjudged > 0 {
        // Zeros against the humans would read as a judge that agrees with
        // nobody; say they are missing verdicts, and how to get them.
        note!(
            "{unjudged} of the {labelled} labelled answers have no verdict of judge `{judge}` and \
             are left out of its agreement{}",
            // Quoted for the shell, a pair as `--judge J --escalate-to J2`.
            xsafe_judge::rejudge_command(
                &record.name,
                &judge,
                results
                    .iter()
                    .flat_map(|r| &r.verdicts)
                    .map(|v| v.judge.as_str()),
            )
            .map(|command| format!(" (`{command}` judges them)"))
            .unwrap_or_default()
        );
    }

    if args.json {
        let pair_json = |a: &Agreement| -> Result<Value> { Ok(serde_json::to_value(a)?) };
        let out = json!({
            "run": record.name,
            "judge": judge,
            "results": results.len(),
            "answers": answers,
            "failed_requests": failed_requests,
            "labelled": labelled,
            "annotators": annotators.iter().map(|a| json!({
                "name": a,
                "labelled": annotations.iter().filter(|x| &x.annotator == a).count(),
            })).collect::<Vec<_>>(),
            "pairs": pairs.iter().map(|(a, b, m)| Ok(json!({
                "a": a, "b": b, "agreement": pair_json(m)?,
            }))).collect::<Result<Vec<_>>>()?,
            "judge_vs_annotators": judge_vs.iter().map(|(a, m)| Ok(json!({
                "annotator": a, "agreement": pair_json(m)?,
            }))).collect::<Result<Vec<_>>>()?,
            "judge_vs_majority": {
                "ties": ties,
                "agreement": pair_json(&judge_vs_majority)?,
            },
        });
        crate::commands::print_json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }

    let mut out = String::new();
    out.push_str(&format!(
        "run {}: {labelled} of {} labelled by {}{}\n",
        record.name,
        super::count(answers as u64, "answer"),
        super::count(annotators.len() as u64, "annotator"),
        match failed_requests {
            0 => String::new(),
            1 => " (and 1 request that failed: no answer to label)".to_string(),
            n => format!(" (and {n} requests that failed: no answer to label)"),
        }
    ));
    if annotators.is_empty() {
        out.push_str(&format!(
            "label them on a local page with `xsafe annotate {}`, or import labels with \
             `xsafe annotate import {} FILE`\n",
            xsafe_judge::shell_word(&record.name),
            xsafe_judge::shell_word(&record.name)
        ));
    }
    for a in &annotators {
        let n = annotations.iter().filter(|x| &x.annotator == a).count();
        out.push_str(&format!("  {a}: {n}\n"));
    }
    for (a, b, m) in &pairs {
        out.push_str(&format!(
            "\n{a} vs {b} (rows {a}, columns {b}):\n{}",
            describe(m)
        ));
    }
    for (a, m) in &judge_vs {
        out.push_str(&format!(
            "\njudge {judge} vs {a} (rows {a}, columns the judge):\n{}",
            describe(m)
        ));
    }
    if annotators.len() > 1 {
        out.push_str(&format!(
            "\njudge {judge} vs the annotators' majority ({ties} tied answers left out):\n{}",
            describe(&judge_vs_majority)
        ));
    }
    out!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
}

fn num(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{v:.3}"))
}

/// Raw agreement, kappa and the confusion matrix of one comparison. `n`
/// is every answer compared, those the judge left unscored included, as
/// `xsafe judge eval` and `--json` count it; when some are unscored,
/// `scored` says how many the agreement, kappa and matrix are over.
fn describe(m: &Agreement) -> String {
    let mut s = format!("  n {}", m.n);
    if m.unscored > 0 {
        s.push_str(&format!(
            "  scored {} ({} unscored by the judge)",
            m.scored, m.unscored
        ));
    }
    s.push_str(&format!(
        "  agreement {}  kappa {}  (refusal or not: agreement {}, kappa {})",
        pct(m.accuracy_3class),
        num(m.kappa),
        pct(m.accuracy_binary),
        num(m.kappa_binary)
    ));
    s.push('\n');
    let names: Vec<&str> = Class::ALL.iter().map(|c| c.as_str()).collect();
    let w = names.iter().map(|n| n.len()).max().unwrap_or(0);
    s.push_str(&format!("  {:w$}", ""));
    for n in &names {
        s.push_str(&format!("  {n:>w$}"));
    }
    s.push('\n');
    for (i, n) in names.iter().enumerate() {
        s.push_str(&format!("  {n:w$}"));
        for c in m.confusion[i] {
            s.push_str(&format!("  {c:>w$}"));
        }
        s.push('\n');
    }
    s
}

/// XSTest's completion columns, ours after them; then the provider's
/// refusal, the finish reason and the conversation's system message (as
/// `xsafe export` writes them), so that `judge eval` and `judge train` read
/// a provider's refusal as one rather than as an empty answer, and an
/// answer that only repeats a strategy's instructions as such; last, in a
/// majority export, the labels and notes of the annotators outside the
/// majority (see [`other_labels`]), which import does not read.
const EXPORT_HEADER: [&str; 16] = [
    "id",
    "type",
    "prompt",
    "completion",
    "final_label",
    "annotator",
    "note",
    "label",
    "target",
    "strategy",
    "suite",
    "sample",
    "refusal",
    "finish_reason",
    "system",
    "other_labels",
];

fn export(global: &Global, mut args: AnnotateExportArgs) -> Result<ExitCode> {
    args.output = super::dash_is_stdout(args.output.take());
    let store = global.open_store()?;
    let record = store.run(&args.run)?;
    let annotations = store.annotations(record.id)?;
    // An annotator who has labelled nothing yet has every answer still to
    // label.
    if let Some(name) = &args.annotator
        && !args.unlabelled
        && !annotations.iter().any(|a| &a.annotator == name)
    {
        let known: BTreeSet<&str> = annotations.iter().map(|a| a.annotator.as_str()).collect();
        bail!(
            "run `{}` has no labels by `{name}` (annotators: {})",
            record.name,
            if known.is_empty() {
                "none yet".to_string()
            } else {
                known.into_iter().collect::<Vec<_>>().join(", ")
            }
        );
    }
    let mut by_result: HashMap<i64, Vec<&Annotation>> = HashMap::new();
    for a in &annotations {
        if args.annotator.as_ref().is_none_or(|n| n == &a.annotator) {
            by_result.entry(a.result_id).or_default().push(a);
        }
    }
    // In outline, in one snapshot ended at once (one held while a slow
    // reader takes the rows would keep the write-ahead log growing by
    // every page a run writes meanwhile); then the conversations of the
    // answers written only, as the outline has them.
    let mut results = store.snapshot(|snap| snap.outlines(&record))?;
    if args.unlabelled {
        results.retain(|r| r.answer.is_some() && !by_result.contains_key(&r.id));
        if let Some(n) = args.cases {
            results = of_cases_drawn(results, n, record.seed);
        }
    } else {
        results.retain(|r| by_result.contains_key(&r.id));
    }
    write_labels(&args, &by_result, results, &store)
}

/// Of `results`, those of `n` of their cases (suite and case id) drawn at
/// random from `seed` (all of them when there are fewer), each case with
/// every one of its results, in the store's order.
fn of_cases_drawn(results: Vec<ResultOutline>, n: usize, seed: u64) -> Vec<ResultOutline> {
    let mut cases: Vec<(&str, &str)> = Vec::new();
    for r in &results {
        let case = (r.key.suite.as_str(), r.key.case_id.as_str());
        if !cases.contains(&case) {
            cases.push(case);
        }
    }
    cases.sort_unstable();
    xsafe_core::SplitMix64::new(seed).shuffle(&mut cases);
    let drawn: BTreeSet<(String, String)> = cases
        .into_iter()
        .take(n)
        .map(|(suite, case)| (suite.to_string(), case.to_string()))
        .collect();
    results
        .into_iter()
        .filter(|r| drawn.contains(&(r.key.suite.clone(), r.key.case_id.clone())))
        .collect()
}

/// The format `annotate export` writes: `--format`, else JSONL for an
/// `--output` ending in `.jsonl` or `.json` (the names `import` and `judge
/// eval` read as JSONL), else CSV (stdout too).
fn export_format(args: &AnnotateExportArgs) -> ExportFormat {
    args.format.unwrap_or_else(|| {
        let jsonl = args.output.as_deref().is_some_and(|path| {
            path.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("json"))
        });
        if jsonl {
            ExportFormat::Jsonl
        } else {
            ExportFormat::Csv
        }
    })
}

/// Where the rows of an export go: an XSTest-format CSV, or JSONL with one
/// object per answer, its keys the CSV's columns in the same order, each
/// value the CSV's text but for `sample` (a number) and `other_labels` (a
/// JSON array, `[]` for none).
enum LabelsOut<'w> {
    Csv(Box<csv::Writer<&'w mut dyn Write>>),
    Jsonl(&'w mut dyn Write),
}

impl LabelsOut<'_> {
    /// Writes the CSV's header (JSONL has none).
    fn header(&mut self) -> Result<()> {
        if let LabelsOut::Csv(w) = self {
            w.write_record(EXPORT_HEADER)?;
        }
        Ok(())
    }

    /// Writes one answer: `cells` are the columns of [`EXPORT_HEADER`] but
    /// the last, `others` the labels outside the majority.
    fn row(&mut self, cells: [&str; 15], sample: u32, others: Vec<Value>) -> Result<()> {
        match self {
            LabelsOut::Csv(w) => {
                let others = if others.is_empty() {
                    String::new()
                } else {
                    Value::Array(others).to_string()
                };
                let mut record: Vec<&str> = cells.to_vec();
                record.push(&others);
                w.write_record(record)?;
            }
            LabelsOut::Jsonl(w) => {
                // By hand, so that the keys keep the CSV's order.
                let mut line = String::from("{");
                for (key, cell) in EXPORT_HEADER.iter().zip(cells) {
                    let value = if *key == "sample" {
                        Value::from(sample)
                    } else {
                        Value::from(cell)
                    };
                    line.push_str(&format!("{}:{value},", Value::from(*key)));
                }
                line.push_str(&format!("\"other_labels\":{}}}", Value::Array(others)));
                writeln!(w, "{line}")?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        match self {
            LabelsOut::Csv(w) => w.flush()?,
            LabelsOut::Jsonl(w) => w.flush()?,
        }
        Ok(())
    }
}

/// Writes the labelled answers of `results` (`by_result`: their labels) as
/// an XSTest-format CSV or as JSONL ([`export_format`]), reading their
/// conversations from `store` a chunk of results at a time
/// ([`Store::each_with_messages`]), each chunk in a read transaction of
/// its own that ends before its rows are written. A result deleted since
/// its outline was read (its run deleted by another process) is an error
/// saying so, and a labels file is then left as it was.
fn write_labels(
    args: &AnnotateExportArgs,
    by_result: &HashMap<i64, Vec<&Annotation>>,
    results: Vec<ResultOutline>,
    store: &Store,
) -> Result<ExitCode> {
    // A labels file is replaced only once the export is whole.
    let file = args
        .output
        .as_deref()
        .map(super::AtomicFile::create)
        .transpose()?;
    let mut out: Box<dyn Write> = match &file {
        Some(f) => Box::new(std::io::BufWriter::new(f.writer()?)),
        None => Box::new(std::io::BufWriter::new(super::Stdout::lock())),
    };
    let mut w = match export_format(args) {
        ExportFormat::Csv => LabelsOut::Csv(Box::new(csv::Writer::from_writer(&mut *out))),
        ExportFormat::Jsonl => LabelsOut::Jsonl(&mut *out),
    };
    w.header()?;
    let (mut rows, mut ties) = (0u64, 0u64);
    store.each_with_messages(results, |r| -> Result<()> {
        let Some((transcript, reply)) = r
            .transcript
            .as_ref()
            .and_then(|t| Some((t, t.final_reply()?)))
        else {
            return Ok(());
        };
        // The answers without a label (all of them, with --unlabelled)
        // are written as the labelled ones are, final_label left to fill
        // in.
        let (label, who, notes, others) = if args.unlabelled {
            ("", String::new(), String::new(), Vec::new())
        } else {
            let Some(labels) = by_result.get(&r.id) else {
                return Ok(());
            };
            let classes: Vec<Class> = labels.iter().map(|a| a.class).collect();
            let class = match majority(&classes) {
                Some(HumanLabel::Agreed(c)) => c,
                Some(HumanLabel::Tied) => {
                    ties += 1;
                    return Ok(());
                }
                None => return Ok(()),
            };
            let chosen: Vec<&&Annotation> = labels.iter().filter(|a| a.class == class).collect();
            // Empty with --annotator: `labels` are that annotator's alone.
            let others = other_labels(labels.iter().copied().filter(|a| a.class != class));
            let who: Vec<&str> = chosen.iter().map(|a| a.annotator.as_str()).collect();
            let notes: Vec<&str> = chosen.iter().filter_map(|a| a.note.as_deref()).collect();
            (
                class.xstest_label(),
                who.join(";"),
                notes.join("; "),
                others,
            )
        };
        w.row(
            [
                r.key.case_id.as_str(),
                &r.case.kind,
                &r.case.prompt,
                &reply.content,
                label,
                &who,
                &notes,
                r.case.label.as_str(),
                &r.key.target,
                &r.key.strategy,
                &r.key.suite,
                &r.key.sample.to_string(),
                reply.refusal.as_deref().unwrap_or(""),
                transcript.finish_reason.as_ref().map_or("", |f| f.as_str()),
                &super::system_text(transcript),
            ],
            r.key.sample,
            others,
        )?;
        rows += 1;
        Ok(())
    })?;
    w.flush()?;
    drop(w);
    out.flush()?;
    drop(out);
    if let Some(f) = file {
        f.commit()?;
    }
    if args.unlabelled {
        note!(
            "{} to label written, final_label empty (1_full_compliance, 2_full_refusal or \
             3_partial_refusal); `xsafe annotate import {} FILE` reads them back",
            super::count(rows, "answer"),
            xsafe_judge::shell_word(&args.run)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut msg = format!("{} written", super::count(rows, "labelled answer"));
    if ties > 0 {
        msg.push_str(&format!(
            "; {ties} left out because their annotators are tied (pass --annotator NAME)"
        ));
    }
    note!("{msg}");
    Ok(ExitCode::SUCCESS)
}

/// The `other_labels` of a majority row: the annotators whose label is not
/// the majority's, each with their label and note (`[{"annotator":
/// "carol", "label": "2_full_refusal", "note": "..."}]`, `note` null for
/// none), which keeps any note whole; none when every annotator chose the
/// majority's label. A CSV has them as the JSON text of the array (an
/// empty cell for none), JSONL as the array itself.
fn other_labels<'a>(others: impl Iterator<Item = &'a Annotation>) -> Vec<Value> {
    others
        .map(|a| {
            json!({
                "annotator": a.annotator,
                "label": a.class.xstest_label(),
                "note": a.note,
            })
        })
        .collect()
}

/// One row of an imported label file.
struct Row {
    line: u64,
    id: Option<String>,
    target: Option<String>,
    strategy: Option<String>,
    suite: Option<String>,
    sample: Option<String>,
    prompt: Option<String>,
    /// The answer's text where the row gives one: `Some("")` is an empty
    /// answer (a cell left empty in a file with a completion column, as
    /// `annotate export` writes an empty answer or a provider's refusal),
    /// which matches only an empty answer; `None` where the file has no
    /// such column (or a JSONL line no such key, or `null`).
    completion: Option<String>,
    /// The provider's refusal, as `completion` (checked with it, where the
    /// file has a `refusal` column): `Some("")` is an answer without one.
    refusal: Option<String>,
    class: Class,
    note: Option<String>,
}

/// An imported label file: its labelled rows, and which of the columns
/// that find an answer it has.
struct LabelFile {
    rows: Vec<Row>,
    /// Rows with an empty `final_label`, skipped.
    unlabelled: usize,
    has_id: bool,
    has_prompt: bool,
    has_completion: bool,
    jsonl: bool,
}

/// The columns an import reads (the answer's column by the names `judge
/// eval` reads it by, `completion` first, the name suggested), for a
/// column of the file that looks like one of them misspelt.
/// `final_label` first: the one a file must have.
const READ_COLUMNS: [&[&str]; 10] = [
    &["final_label"],
    &["id"],
    &["prompt"],
    &["completion", "answer", "response"],
    &["refusal"],
    &["note"],
    &["target"],
    &["strategy"],
    &["suite"],
    &["sample"],
];

/// The other columns of an export, which the file may have and an import
/// does not read: never taken for a misspelling.
const EXPORT_OTHERS: [&str; 6] = [
    "type",
    "annotator",
    "label",
    "finish_reason",
    "system",
    "other_labels",
];

/// Refuses a column that no field reads but looks like the misspelt name
/// of one the file has no column for: its values would be left unread
/// without a word (the labels, or the completions that check each label
/// is for this answer). The check and its words are those of `judge eval`
/// and `judge train` ([`xsafe_judge::labels::misspelt_field`]), with the
/// columns an import reads.
fn misspelt_columns(t: &table::Table, file: &str, jsonl: bool) -> Result<()> {
    let Some(misspelt) =
        xsafe_judge::labels::misspelt_field(t, &READ_COLUMNS, &EXPORT_OTHERS, jsonl)
    else {
        return Ok(());
    };
    let where_ = if jsonl {
        String::new()
    } else {
        format!(" line {}", t.header_line)
    };
    bail!("`{file}`{where_}: {misspelt}; nothing was imported")
}

/// Reads a label file, CSV or JSONL (as `judge eval --labels` does: a
/// `.jsonl` or `.json` file, or one whose first character is `{`), with
/// the reader suites and label files share (a BOM, CRLF, tab or
/// semicolon separators; errors with file, line and column). Rows with an
/// empty `final_label` are skipped: not labelled yet; a file whose every
/// label is empty, or with a header and no rows, is refused, as `judge
/// eval` refuses it.
fn read_rows(path: &Path) -> Result<LabelFile> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{file}`"))?;
    const EXAMPLE: Example = Example {
        header: "id,type,prompt,completion,final_label",
        row: "labelled answer",
        object: r#"{"id": "...", "final_label": "1_full_compliance"}"#,
    };
    let jsonl = xsafe_judge::labels::is_jsonl(path, &bytes);
    let t = if jsonl {
        table::read_jsonl(&bytes, &file, &EXAMPLE)?
    } else {
        table::read_csv(&bytes, &file, &EXAMPLE)?
    };
    if t.rows.is_empty() {
        bail!(
            "`{file}` has a header but no rows: nothing to import; write one labelled answer per \
             line below the header (as `xsafe annotate export` writes them)"
        );
    }
    let Some(label_col) = t.find("final_label") else {
        misspelt_columns(&t, &file, jsonl)?;
        bail!(
            "`{file}` has no final_label column (it has: {}): give an XSTest-format CSV (id, \
             type, prompt, completion, final_label), e.g. one written by `xsafe annotate export`",
            t.columns.join(", ")
        );
    };
    misspelt_columns(&t, &file, jsonl)?;
    // An `xsafe export` of a run's verdicts: a judge's, not an annotator's.
    xsafe_judge::labels::refuse_judge_verdicts(&t, jsonl)
        .map_err(|e| anyhow!("{e}; nothing was imported"))?;
    let col = |name: &str| t.find(name);
    let (id, target, strategy, suite, sample) = (
        col("id"),
        col("target"),
        col("strategy"),
        col("suite"),
        col("sample"),
    );
    // One answer column: of two (`answer` and `completion`), which one the
    // labels are of would be a guess.
    let (prompt, completion, refusal, note) = (
        col("prompt"),
        xsafe_judge::labels::answer_column(&t)?,
        col("refusal"),
        col("note"),
    );
    if id.is_none() && (prompt.is_none() || completion.is_none()) {
        bail!("`{file}`: give an id column, or prompt and completion columns, to find each answer");
    }
    let mut rows = Vec::new();
    let mut unlabelled = 0;
    for record in &t.rows {
        // A JSONL id, sample or label may be a number; every other field
        // is text.
        let text = |c: Option<usize>, numbers: bool| -> Result<Option<String>> {
            let Some(c) = c else { return Ok(None) };
            let accepted: &[table::JsonKind] = if numbers {
                &[table::JsonKind::Number]
            } else {
                &[]
            };
            Ok(t.text_or(record, c, accepted)?
                .map(|s| s.trim().to_string()))
        };
        let nonempty = |c: Option<usize>, numbers: bool| -> Result<Option<String>> {
            Ok(text(c, numbers)?.filter(|s| !s.is_empty()))
        };
        // An answer's text: an empty CSV cell is an empty answer; in JSONL
        // a missing key or `null` gives none.
        let given = |c: Option<usize>| -> Result<Option<String>> {
            match text(c, false)? {
                Some(s) => Ok(Some(s)),
                None if !jsonl && c.is_some() => Ok(Some(String::new())),
                None => Ok(None),
            }
        };
        let Some(raw) = nonempty(Some(label_col), true)? else {
            unlabelled += 1;
            continue;
        };
        let line = record.cell_lines[label_col];
        // The labels `judge eval` and `judge train` read, and no others.
        let class: Class = xsafe_judge::labels::parse_label(&raw)
            .map_err(|message| anyhow!("`{file}` line {line}, final_label: {message}"))?;
        let completion = given(completion)?;
        rows.push(Row {
            line: record.line,
            id: nonempty(id, true)?,
            target: nonempty(target, false)?,
            strategy: nonempty(strategy, false)?,
            suite: nonempty(suite, false)?,
            sample: nonempty(sample, true)?,
            prompt: nonempty(prompt, false)?,
            // The refusal is part of the answer the completion gives.
            refusal: if completion.is_some() {
                given(refusal)?
            } else {
                None
            },
            completion,
            class,
            note: nonempty(note, false)?,
        });
    }
    if rows.is_empty() {
        bail!(
            "`{file}` has no label: the final_label of every one of its {} is empty, so there is \
             nothing to import; label the answers (1_full_compliance, 2_full_refusal or \
             3_partial_refusal), or check that this is the file you meant",
            super::count(unlabelled as u64, "row")
        );
    }
    Ok(LabelFile {
        rows,
        unlabelled,
        has_id: id.is_some(),
        has_prompt: prompt.is_some(),
        has_completion: completion.is_some(),
        jsonl,
    })
}

/// A stored answer as an import compares it with a row: its final reply's
/// text and its provider's refusal (empty when it has none).
#[derive(Clone)]
struct Reply {
    content: String,
    refusal: String,
}

/// The final answers of a run's results, read from the store as they are
/// asked for, each once: an import compares a few answers per row, and a
/// run's transcripts (exemplars and all) are never held at once.
struct Replies<'s, 'a> {
    snapshot: &'s Snapshot<'a>,
    read: std::cell::RefCell<HashMap<i64, Option<Reply>>>,
}

impl Replies<'_, '_> {
    /// The final answer of `r`, if it has one.
    fn of(&self, r: &ResultOutline) -> Result<Option<Reply>> {
        if r.answer.is_none() {
            return Ok(None);
        }
        if let Some(reply) = self.read.borrow().get(&r.id) {
            return Ok(reply.clone());
        }
        let transcript = xsafe_core::Transcript {
            messages: self.snapshot.messages(r.id)?,
            ..Default::default()
        };
        let reply = transcript.final_reply().map(|m| Reply {
            content: m.content.clone(),
            refusal: m.refusal.clone().unwrap_or_default(),
        });
        self.read.borrow_mut().insert(r.id, reply.clone());
        Ok(reply)
    }
}

/// A text as an import compares it: trimmed, with CRLF and lone CR line
/// ends as LF (a CSV edited on Windows keeps its labels' answers, and the
/// CSV reader reads a lone CR in a cell, which an answer may have, as LF).
fn same(text: &str) -> String {
    text.trim().replace("\r\n", "\n").replace('\r', "\n")
}

fn import(global: &Global, args: AnnotateImportArgs) -> Result<ExitCode> {
    let annotator = annotator_name(args.annotator.as_deref())?;
    let store = global.open_store()?;
    let record = store.run(&args.run)?;
    let rows = read_rows(&args.file)?;
    let file = args.file.display().to_string();
    // The run in outline, and the answers compared read from the same
    // snapshot (a run resumed meanwhile is read as it was).
    let labels = store.snapshot(|snapshot| labels_of_rows(snapshot, &record, &rows, &file))?;
    // A row without a note keeps the note the annotator wrote before (on
    // the page, or in an earlier import): a file without a note column, or
    // with the cell left empty, has nothing to say about it.
    let mut notes: HashMap<i64, String> = store
        .annotations(record.id)?
        .into_iter()
        .filter(|a| a.annotator == annotator)
        .filter_map(|a| Some((a.result_id, a.note?)))
        .collect();
    let writes: Vec<(i64, Class, Option<String>)> = labels
        .into_iter()
        .map(|l| {
            let note = l
                .note
                .map(|(n, _)| n)
                .or_else(|| notes.remove(&l.result_id));
            (l.result_id, l.class, note)
        })
        .collect();
    // One transaction: a store that fails half-way keeps none of the file.
    store
        .annotate_all(&annotator, &writes)
        .with_context(|| format!("importing `{file}` (nothing was imported)"))?;
    let skipped = match rows.unlabelled {
        0 => String::new(),
        n => format!(
            " ({} with an empty final_label left out)",
            super::count(n as u64, "row")
        ),
    };
    note!(
        "{} by `{annotator}` imported from {} of `{file}` into run `{}`{skipped}",
        super::count(writes.len() as u64, "label"),
        super::count(rows.rows.len() as u64, "row"),
        record.name
    );
    Ok(ExitCode::SUCCESS)
}

/// The label each of the file's rows gives, found among the run's answers
/// in `snapshot`; an error (naming the file's line) when a row finds no
/// answer, several where it must find one, an error instead of an answer,
/// or labels an answer another row labels otherwise: then nothing is
/// imported.
fn labels_of_rows(
    snapshot: &Snapshot<'_>,
    record: &xsafe_store::RunRecord,
    rows: &LabelFile,
    file: &str,
) -> Result<Vec<Label>> {
    let results = snapshot.outlines(record)?;
    let replies = Replies {
        snapshot,
        read: Default::default(),
    };
    matched_labels(&results, &replies, record, rows, file)
}

/// Why a row's text may find no answer, for messages: an empty completion
/// finds only an empty answer (and, where the file has a refusal column,
/// one with the same refusal, as `annotate export` writes a provider's);
/// empty otherwise.
fn empty_completion(row: &Row) -> &'static str {
    match (row.completion.as_deref(), row.refusal.as_deref()) {
        (Some(""), Some("")) => {
            " (its completion and refusal are empty, which matches only an empty answer that no \
             provider refused)"
        }
        (Some(""), Some(_)) => {
            " (its completion is empty, which matches only an answer with no text and this \
             refusal)"
        }
        (Some(""), None) => " (its completion is empty, which matches only an empty answer)",
        _ => "",
    }
}

/// [`labels_of_rows`] over the run's `results`, their answers read through
/// `replies`.
fn matched_labels<'r>(
    results: &'r [ResultOutline],
    replies: &Replies<'_, '_>,
    record: &xsafe_store::RunRecord,
    file_rows: &LabelFile,
    file: &str,
) -> Result<Vec<Label>> {
    // Looked up by case id, or by prompt for a file without ids: one pass
    // over the run, not one per row.
    let mut by_case: HashMap<&str, Vec<&ResultOutline>> = HashMap::new();
    let mut by_prompt: HashMap<String, Vec<&ResultOutline>> = HashMap::new();
    for r in results {
        by_case.entry(r.key.case_id.as_str()).or_default().push(r);
        by_prompt.entry(same(&r.case.prompt)).or_default().push(r);
    }
    // Find every row's answers before writing anything, so a bad file
    // changes nothing. Each answer gets one label, from the first row that
    // finds it; rows finding it again must agree with that one.
    let mut labels: Vec<Label> = Vec::new();
    let mut label_of: HashMap<i64, usize> = HashMap::new();
    let (column, columns) = if file_rows.jsonl {
        ("key", "keys")
    } else {
        ("column", "columns")
    };
    for row in &file_rows.rows {
        // Where the row gives the answer's text, the answer must have it:
        // an empty completion is an empty answer's (a provider's refusal
        // with the refusal's text, where the file has a refusal column).
        let same_text = |r: &ResultOutline| -> Result<bool> {
            if row
                .prompt
                .as_ref()
                .is_some_and(|p| same(p) != same(&r.case.prompt))
            {
                return Ok(false);
            }
            let Some(c) = &row.completion else {
                return Ok(true);
            };
            Ok(replies.of(r)?.is_some_and(|a| {
                same(&a.content) == same(c)
                    && row
                        .refusal
                        .as_ref()
                        .is_none_or(|refusal| same(&a.refusal) == same(refusal))
            }))
        };
        let with_same_text = |found: Vec<&'r ResultOutline>| -> Result<Vec<&'r ResultOutline>> {
            let mut kept = Vec::new();
            for r in found {
                if same_text(r)? {
                    kept.push(r);
                }
            }
            Ok(kept)
        };
        let matched: Vec<&ResultOutline> = match &row.id {
            Some(id) => {
                let by_key: Vec<&ResultOutline> = by_case
                    .get(id.as_str())
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|r| row.target.as_ref().is_none_or(|t| t == &r.key.target))
                    .filter(|r| row.strategy.as_ref().is_none_or(|s| s == &r.key.strategy))
                    .filter(|r| row.suite.as_ref().is_none_or(|s| s == &r.key.suite))
                    .filter(|r| {
                        row.sample
                            .as_ref()
                            .is_none_or(|s| is_sample(s, r.key.sample))
                    })
                    .collect();
                if by_key.is_empty() {
                    bail!(
                        "`{file}` line {}: run `{}` has no answer to case `{id}`{}; nothing was \
                         imported",
                        row.line,
                        record.name,
                        where_(row)
                    );
                }
                if by_key.len() > 1 && row.completion.is_none() {
                    // Say what the row lacks: the file may have the column
                    // (a JSONL line without the key, `null`).
                    let completion = if file_rows.has_completion {
                        format!("a completion on this line (the file's {column} has none here)")
                    } else {
                        format!("a completion {column}")
                    };
                    bail!(
                        "`{file}` line {}: run `{}` has {} answers to case `{id}`{}; add the \
                         target, strategy, suite and sample {columns} (as `xsafe annotate \
                         export` writes them) or {completion}; nothing was imported",
                        row.line,
                        record.name,
                        by_key.len(),
                        where_(row)
                    );
                }
                // A label is about an answer: where the file gives the text,
                // it must be the stored answer's, even when the id alone
                // finds one (labels of another run's answers would land on
                // this run's answers to the same cases).
                let by_text = with_same_text(by_key.clone())?;
                if by_text.is_empty() {
                    let answers = match by_key.len() {
                        1 => format!("run `{}`'s answer", record.name),
                        n => format!("any of run `{}`'s {n} answers", record.name),
                    };
                    let Some((nearest, mismatch)) = nearest(row, &by_key, replies)? else {
                        // Every answer is an error: no text to compare.
                        let fields = if row.refusal.is_some() {
                            "prompt, completion or refusal"
                        } else {
                            "prompt or completion"
                        };
                        bail!(
                            "`{file}` line {}: the {fields} of this row is not that of {answers} \
                             to case `{id}`{}{}: the label is for another answer (another \
                             run's?); nothing was imported",
                            row.line,
                            where_(row),
                            empty_completion(row)
                        );
                    };
                    let which = if by_key.len() > 1 {
                        format!("; of them, the nearest is {}", answer_key(nearest))
                    } else {
                        String::new()
                    };
                    bail!(
                        "`{file}` line {}: the {} of this row {} {answers} to case \
                         `{id}`{}{}{which}: {}; nothing was imported",
                        row.line,
                        mismatch.fields.join(" and "),
                        if mismatch.fields.len() == 1 {
                            "is not that of"
                        } else {
                            "are not those of"
                        },
                        where_(row),
                        empty_completion(row),
                        mismatch.explained()
                    );
                }
                // The same case id in two suites of the run is two cases:
                // a completion both answers have does not say which.
                let prompts: BTreeSet<String> =
                    by_text.iter().map(|r| same(&r.case.prompt)).collect();
                if prompts.len() > 1 {
                    let suites: BTreeSet<&str> =
                        by_text.iter().map(|r| r.key.suite.as_str()).collect();
                    bail!(
                        "`{file}` line {}: case `{id}` is in {} suites of run `{}` ({}), with \
                         other prompts, and this row{} matches its answer in each: which one the \
                         label is for cannot be told; add a suite {column} (as `xsafe annotate \
                         export` writes it) or a prompt {column}; nothing was imported",
                        row.line,
                        suites.len(),
                        record.name,
                        suites
                            .iter()
                            .map(|s| format!("`{s}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        where_(row)
                    );
                }
                by_text
            }
            None => {
                // Without an id, the prompt and completion alone find the
                // answer: both are needed (the prompt alone names every
                // strategy's and sample's answer to it).
                if row.prompt.is_none() || row.completion.is_none() {
                    let give = "give the case id of the answer the label is for (as `xsafe \
                                annotate export` writes it)";
                    if !(file_rows.has_prompt && file_rows.has_completion) {
                        bail!(
                            "`{file}` line {}: the id is empty: {give}; nothing was imported",
                            row.line
                        );
                    }
                    let missing = match (&row.prompt, &row.completion) {
                        (None, None) => "prompt and completion",
                        (None, _) => "prompt",
                        _ => "completion",
                    };
                    let id = if file_rows.has_id {
                        "the id is empty"
                    } else {
                        "the file has no id"
                    };
                    bail!(
                        "`{file}` line {}: {id}, and the row has no {missing} to find its \
                         answer by: {give}, or its {missing}; nothing was imported",
                        row.line
                    );
                }
                let prompt = row.prompt.as_deref().map(same).unwrap_or_default();
                let by_text = with_same_text(
                    by_prompt
                        .get(&prompt)
                        .into_iter()
                        .flatten()
                        .copied()
                        .collect(),
                )?;
                if by_text.is_empty() {
                    // The answers with this prompt, if any, have another
                    // completion: say where the nearest differs.
                    let with_prompt: Vec<&ResultOutline> = by_prompt
                        .get(&prompt)
                        .into_iter()
                        .flatten()
                        .copied()
                        .collect();
                    let nearest = match nearest(row, &with_prompt, replies)? {
                        Some((r, mismatch)) => format!(
                            ": {} {}: {}",
                            match with_prompt.len() {
                                1 => "the only answer with this prompt is".to_string(),
                                n => format!("of the {n} answers with this prompt, the nearest is"),
                            },
                            answer_key(r),
                            mismatch.explained()
                        ),
                        None => String::new(),
                    };
                    bail!(
                        "`{file}` line {}: no answer in run `{}` has this prompt and \
                         completion{}{}{nearest}; nothing was imported",
                        row.line,
                        record.name,
                        if row.refusal.is_some() {
                            " (and refusal)"
                        } else {
                            ""
                        },
                        empty_completion(row)
                    );
                }
                by_text
            }
        };
        if matched.iter().any(|r| r.answer.is_none()) {
            bail!(
                "`{file}` line {}: the answer is an error, not a transcript; nothing was imported",
                row.line
            );
        }
        for r in matched {
            let Some(&i) = label_of.get(&r.id) else {
                label_of.insert(r.id, labels.len());
                labels.push(Label {
                    line: row.line,
                    result_id: r.id,
                    class: row.class,
                    note: row.note.clone().map(|n| (n, row.line)),
                });
                continue;
            };
            let first = &mut labels[i];
            let differ = if first.class != row.class {
                Some((
                    first.line,
                    format!(
                        "labels `{}` and `{}`",
                        first.class.xstest_label(),
                        row.class.xstest_label()
                    ),
                ))
            } else {
                match (&first.note, &row.note) {
                    (Some((a, line)), Some(b)) if a != b => {
                        Some((*line, format!("notes `{a}` and `{b}`")))
                    }
                    _ => None,
                }
            };
            if let Some((line, differ)) = differ {
                bail!(
                    "`{file}` lines {line} and {} are both about the answer to case `{}` (target \
                     `{}`, strategy `{}`, suite `{}`, sample {}) with different {differ}: keep \
                     the row that is right and delete the other; nothing was imported",
                    row.line,
                    r.key.case_id,
                    r.key.target,
                    r.key.strategy,
                    r.key.suite,
                    r.key.sample
                );
            }
            if first.note.is_none() {
                first.note = row.note.clone().map(|n| (n, row.line));
            }
        }
    }
    Ok(labels)
}

/// The label an import gives one answer.
struct Label {
    /// The line of the row that gave it first.
    line: u64,
    result_id: i64,
    class: Class,
    /// The rows' note, and the line of the first row that gave it; `None`
    /// keeps the annotator's stored note.
    note: Option<(String, u64)>,
}

/// Whether a row's `sample` names sample `n`: its digits, or that whole
/// number written as a float (`0.0`, as pandas writes a column of numbers
/// with a gap in it, and as a label's `2.0` is read).
fn is_sample(given: &str, n: u32) -> bool {
    let given = given.trim();
    given == n.to_string()
        || (given.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && given.parse::<f64>().is_ok_and(|x| x == f64::from(n)))
}

/// Which answer of a run `r` is, for messages.
fn answer_key(r: &ResultOutline) -> String {
    format!(
        "the answer of target `{}`, strategy `{}`, suite `{}`, sample {}",
        r.key.target, r.key.strategy, r.key.suite, r.key.sample
    )
}

/// How a row's texts differ from a stored answer's, for the message about
/// a row that finds no answer.
struct Mismatch {
    /// The fields that differ, in order: `prompt`, `completion`, `refusal`.
    fields: Vec<&'static str>,
    /// The first of them, the row's text and the answer's, as compared
    /// ([`same`]), as characters.
    given: Vec<char>,
    stored: Vec<char>,
    /// How many characters they have in common at their start.
    common: usize,
    /// Whether every field that differs does so only in how it is encoded
    /// ([`Encoding`]).
    only_encoding: bool,
}

/// How two texts that differ do so, besides what they say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// In Unicode normalisation: `é` as one character (NFC) against `e`
    /// and a combining accent (NFD), as some editors and systems save text.
    Normalisation,
    /// In line breaks: U+2028, U+2029, NEL, a vertical tab or a form feed
    /// against a line feed (CRLF and CR are compared as LF already).
    LineBreaks,
    /// In both.
    Both,
}

impl Encoding {
    /// How `given` and `stored` (as compared, [`same`]) differ, if only in
    /// their encoding.
    fn of(given: &str, stored: &str) -> Option<Encoding> {
        use unicode_normalization::UnicodeNormalization;
        let nfc = |s: &str| s.nfc().collect::<String>();
        let breaks = |s: &str| -> String {
            s.chars()
                .map(|c| match c {
                    '\u{2028}' | '\u{2029}' | '\u{85}' | '\u{b}' | '\u{c}' => '\n',
                    c => c,
                })
                .collect()
        };
        if nfc(given) == nfc(stored) {
            Some(Encoding::Normalisation)
        } else if breaks(given) == breaks(stored) {
            Some(Encoding::LineBreaks)
        } else if nfc(&breaks(given)) == nfc(&breaks(stored)) {
            Some(Encoding::Both)
        } else {
            None
        }
    }
}

/// The Unicode normalisation form `text` is in, for messages.
fn form(text: &str) -> &'static str {
    if unicode_normalization::is_nfc(text) {
        "NFC"
    } else if unicode_normalization::is_nfd(text) {
        "NFD"
    } else {
        "neither NFC nor NFD"
    }
}

impl Mismatch {
    /// How the first field that differs does, and what to do: where it
    /// first differs (the character, counted from 1, and a stretch of each
    /// text around it), and whether only in its encoding.
    fn explained(&self) -> String {
        let field = self.fields[0];
        // An empty text is another answer's (an export writes an empty
        // answer, or one without a provider's refusal, so), not this one's
        // edited.
        let another = "the label is for another answer (another run's?)";
        if self.given.is_empty() {
            return format!(
                "the answer's {field} is {}; {another}",
                excerpt(&self.stored, 0, false)
            );
        }
        // No refusal against the row's: the answer has none.
        if self.stored.is_empty() && field != "completion" {
            return format!(
                "its {field} is {}, where the answer has none; {another}",
                excerpt(&self.given, 0, false)
            );
        }
        let edited =
            format!("{another}, or the row's text was edited: write it as the answer has it");
        // The row's text is the answer's with more after it (an empty
        // answer's, any text), or the answer's cut short.
        if self.common == self.stored.len() {
            let after = if self.stored.is_empty() {
                ", which is empty".to_string()
            } else {
                format!(
                    " (after its end, {})",
                    excerpt(&self.stored, self.stored.len(), false).replace(" (its end)", "")
                )
            };
            return format!(
                "the file's {field} has extra text at the end compared with the stored \
                 answer's{after}: {}; {edited}",
                piece(&self.given[self.common..])
            );
        }
        if self.common == self.given.len() {
            return format!(
                "the file's {field} stops short of the stored answer's, which goes on after \
                 {} with {}; {edited}",
                excerpt(&self.given, self.given.len(), false).replace(" (its end)", ""),
                piece(&self.stored[self.common..])
            );
        }
        let (given, stored): (String, String) =
            (self.given.iter().collect(), self.stored.iter().collect());
        let encoding = Encoding::of(&given, &stored);
        let forms = || {
            format!(
                "(the row's is in {}, the answer's in {})",
                form(&given),
                form(&stored)
            )
        };
        let how = match encoding {
            Some(Encoding::Normalisation) => {
                format!(" only in Unicode normalisation {}", forms())
            }
            Some(Encoding::LineBreaks) => " only in its line breaks".to_string(),
            Some(Encoding::Both) => format!(
                " only in its line breaks and in Unicode normalisation {}",
                forms()
            ),
            None => String::new(),
        };
        let what_to_do = if self.only_encoding {
            "the file's text was converted after it was exported (by an editor or a script): \
             write it as the answer has it, as `xsafe annotate export` writes it"
                .to_string()
        } else {
            edited
        };
        // Accents are shown as characters of their own where they are
        // what differs; elsewhere they are drawn on their letters.
        let marks = matches!(encoding, Some(Encoding::Normalisation | Encoding::Both));
        format!(
            "its {field} differs from the answer's{how}, first at character {}, where the row has \
             {} and the answer {}; {what_to_do}",
            self.common + 1,
            excerpt(&self.given, self.common, marks),
            excerpt(&self.stored, self.common, marks)
        )
    }
}

/// A stretch of `text` around character `at` (0-based), for messages: 40
/// characters, up to 24 of them before it, between backticks, with `…`
/// where it is cut, and what is not drawn escaped ([`shown`]); `(its end)`
/// after a text that ends at `at`.
fn excerpt(text: &[char], at: usize, marks: bool) -> String {
    let start = at.saturating_sub(24);
    let end = (start + 40).min(text.len());
    format!(
        "`{}{}{}`{}",
        if start > 0 { "…" } else { "" },
        shown(&text[start..end], marks),
        if end < text.len() { "…" } else { "" },
        if at >= text.len() { " (its end)" } else { "" }
    )
}

/// The start of `text` between backticks, for messages: its first 40
/// characters, with `…` after them when there are more, and what is not
/// drawn escaped ([`shown`]).
fn piece(text: &[char]) -> String {
    let end = text.len().min(40);
    format!(
        "`{}{}`",
        shown(&text[..end], false),
        if end < text.len() { "…" } else { "" }
    )
}

/// Characters as a message quotes them: line breaks, tabs, every other
/// white space but the plain space, control characters and characters that
/// are not drawn (zero-width spaces, the BOM, bidi controls...) as escapes
/// (`\n`, `\u{200b}`), so that two texts that look the same show how they
/// differ; with `marks`, combining marks too (`e\u{301}`).
fn shown(text: &[char], marks: bool) -> String {
    let mut out = String::new();
    for &c in text {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' ' => out.push(' '),
            c if c.is_control()
                || c.is_whitespace()
                || xsafe_suite::is_undrawn(c)
                || (marks && unicode_normalization::char::is_combining_mark(c)) =>
            {
                out.extend(c.escape_unicode())
            }
            c => out.push(c),
        }
    }
    out
}

/// Of `answers` (which `row` does not match), the one whose texts come
/// nearest the row's: the one whose first differing field comes latest
/// (prompt, completion, refusal), and then differs latest in it; with how
/// it differs. `None` when none has an answer to compare (errors).
fn nearest<'r>(
    row: &Row,
    answers: &[&'r ResultOutline],
    replies: &Replies<'_, '_>,
) -> Result<Option<(&'r ResultOutline, Mismatch)>> {
    let mut best: Option<((usize, usize), &'r ResultOutline, Mismatch)> = None;
    for &r in answers {
        let Some(reply) = replies.of(r)? else {
            continue;
        };
        let pairs = [
            ("prompt", row.prompt.as_deref(), r.case.prompt.as_str()),
            (
                "completion",
                row.completion.as_deref(),
                reply.content.as_str(),
            ),
            ("refusal", row.refusal.as_deref(), reply.refusal.as_str()),
        ];
        let mut fields = Vec::new();
        let mut first: Option<(usize, String, String)> = None;
        let mut only_encoding = true;
        for (i, (name, given, stored)) in pairs.into_iter().enumerate() {
            let Some(given) = given else { continue };
            let (given, stored) = (same(given), same(stored));
            if given == stored {
                continue;
            }
            fields.push(name);
            only_encoding &= Encoding::of(&given, &stored).is_some();
            first.get_or_insert((i, given, stored));
        }
        let Some((field, given, stored)) = first else {
            continue;
        };
        let (given, stored): (Vec<char>, Vec<char>) =
            (given.chars().collect(), stored.chars().collect());
        let common = given
            .iter()
            .zip(&stored)
            .take_while(|(a, b)| a == b)
            .count();
        let closeness = (field, common);
        if best.as_ref().is_none_or(|(c, _, _)| closeness > *c) {
            let mismatch = Mismatch {
                fields,
                given,
                stored,
                common,
                only_encoding,
            };
            best = Some((closeness, r, mismatch));
        }
    }
    Ok(best.map(|(_, r, m)| (r, m)))
}

fn where_(row: &Row) -> String {
    let parts: Vec<String> = [
        ("target", &row.target),
        ("strategy", &row.strategy),
        ("suite", &row.suite),
        ("sample", &row.sample),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} `{v}`")))
    .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" with {}", parts.join(", "))
    }
}
