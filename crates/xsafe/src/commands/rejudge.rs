//! `xsafe rejudge RUN --judge J`: judges every stored answer of a run again,
//! without asking the model, and stores the verdicts beside the others.
//!
//! Verdicts are kept one per judge name, so a second rejudge with the same
//! judge replaces rather than adds. Answers that already carry a verdict of
//! this judge and version are skipped unless `--force`: a rejudge with an
//! LLM judge that was interrupted resumes where it stopped. An `llm:`
//! judge's version names its model and the settings that decide its
//! verdicts ([`xsafe_judge::LlmJudge::model_digest`]), so a rejudge with
//! another model under the same name (`llm:NAME` of another targets file)
//! judges every answer again, and says what it replaced.
//!
//! A pair of judges (`--escalate-to`) says how many answers its second
//! judge judged, as their verdicts' notes say
//! ([`xsafe_judge::Cascade::escalated`]).
//!
//! While it judges, it holds the run's lock as `xsafe run` does, so the
//! run is neither run nor deleted (without `--force`) under it.
//!
//! An `llm:` judge whose model fails as every request would until the user
//! changes something (a quota used up, a key refused, a server down;
//! [`xsafe_runner::JudgeFailures`] says which, as a run says it) stops the
//! command at that answer: nothing more is sent, the verdicts stored so far
//! stay, the summary is printed, and the command fails saying what to do.

use crate::cli::{Global, RejudgeArgs};
use crate::commands::{print_json, progress_bar};
use crate::table;
use anyhow::Result;
use serde::Serialize;
use std::process::ExitCode;
use xsafe_core::Class;
use xsafe_store::{StoreError, judge_name};

/// Counts of one target, strategy and prompt label under the judge.
#[derive(Debug, Default, Serialize)]
struct Group {
    target: String,
    strategy: String,
    label: String,
    compliance: u64,
    full_refusal: u64,
    partial_refusal: u64,
    unscored: u64,
    /// Answers without a verdict of this judge and version (the judge failed
    /// on them; they may keep a verdict of another version of it, counted
    /// in `other_version` too).
    unjudged: u64,
    /// Of `unjudged`, the answers that keep a verdict of another version of
    /// this judge (for an `llm:` judge, another model or other settings of
    /// it under the same name), which this command would have replaced.
    other_version: u64,
}

/// How many conversations are read from the store and judged at a time:
/// a run of any size is judged in the memory of this many (the judge's
/// concurrency is within a chunk).
const CHUNK: usize = 1024;

#[derive(Debug, Serialize)]
struct Summary {
    run: String,
    run_id: i64,
    judge: String,
    /// Answers judged by this command.
    judged: u64,
    /// Answers that already had a verdict of this judge and version (for an
    /// `llm:` judge, of the same model with the same settings).
    already_judged: u64,
    /// Results without an answer (failed requests): nothing to judge.
    no_answer: u64,
    /// Answers the judge failed on; the next rejudge tries them again.
    errors: u64,
    /// The verdicts of another version of this judge that its verdicts
    /// replaced (they are stored one per judge name), by that version's
    /// tag: for an `xsafe:FILE` judge, most likely another weights file of
    /// the same name. Empty when none was.
    replaced: Vec<Replaced>,
    /// For a pair of judges (`--escalate-to`), how many of the answers with
    /// a verdict of it its second judge judged (the first less sure of
    /// them than `--escalate-below`, or unable to read them), as their
    /// verdicts' notes say; absent for one judge.
    #[serde(skip_serializing_if = "Option::is_none")]
    escalated: Option<Escalated>,
    groups: Vec<Group>,
    /// Why the judging stopped before the end, as the command says it on
    /// stderr: the judge's model failing as every request would; absent
    /// when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The models the judge asks, as the text names them (`judge-big`,
    /// temperature 0, max tokens 512); empty for a judge that asks none.
    #[serde(skip)]
    models: String,
    /// What to do about the answers the judge failed on: run the same
    /// command again, unless they fail every try ([`again_or_change`]).
    #[serde(skip)]
    again: String,
}

/// How many verdicts of one tag a rejudge replaced.
#[derive(Debug, Serialize)]
struct Replaced {
    judge: String,
    verdicts: u64,
    /// Why the tag differs: `weights` (an `xsafe:FILE` judge with other
    /// weights), `model` (an `llm:` judge asking another model, or the same
    /// with other settings, under the same name) or `version` (another
    /// version of the judge).
    differs_in: &'static str,
}

/// How many answers a pair of judges sent on to its second judge.
#[derive(Debug, Serialize)]
struct Escalated {
    /// The pair's second judge.
    to: String,
    /// The answers it judged.
    answers: u64,
    /// The answers with a verdict of the pair.
    of: u64,
}

pub async fn run(global: &Global, args: RejudgeArgs) -> Result<ExitCode> {
    let store = global.open_store()?;
    let record = store.run(&args.run)?;
    let judge = args
        .judge
        .build(args.targets.as_deref(), &global.cache_dir()?)?;
    let tag = judge.judge.tag();
    let (mut no_answer, mut already_judged) = (0, 0);
    // In outline: the conversations are read a chunk at a time below.
    let mut todo = Vec::new();
    for r in store.outlines(record.id)? {
        match &r.answer {
            None => no_answer += 1,
            Some(_) if !args.force && r.verdicts.iter().any(|v| v.judge == tag) => {
                already_judged += 1
            }
            Some(_) => todo.push(r),
        }
    }
    // A store this user may only read is said to be so before the first
    // (perhaps paid) request to the judge, not at the first verdict stored;
    // with nothing left to judge, the command only reads. The run is
    // claimed as `xsafe run` claims it, until the verdicts are stored: a
    // `runs delete` meanwhile is refused (`--force` deletes it, and this
    // command then stops saying so), as is a run of it.
    let _claim = if todo.is_empty() {
        None
    } else {
        store.check_writable()?;
        Some(store.lock_run(&record).map_err(|e| match e {
            StoreError::RunBusy { name, path } => anyhow::anyhow!(
                "run `{name}` is being run, or judged again, by another xsafe process (it holds \
                 `{}`); wait for it to finish, or stop it, then run the command again (nothing \
                 was judged)",
                path.display()
            ),
            e => e.into(),
        })?)
    };
    let bar = progress_bar(
        global.quiet,
        todo.len() as u64,
        &format!("rejudging {} with {tag}", record.name),
    );
    let (mut judged, mut errors) = (0, 0);
    // The judge's failures, for what to do about them.
    let mut failed_with: Vec<String> = Vec::new();
    // The verdicts each answer's new one replaces: those of this judge's
    // name under another tag (another version, or other weights of the
    // same file name), read before anything is written; counted by tag as
    // each new verdict is stored.
    let name = judge.judge.name().to_string();
    let mut replaced: std::collections::BTreeMap<String, u64> = Default::default();
    // A verdict of this judge stored before proves its key and server: no
    // row of failures stops it then.
    let mut failures =
        xsafe_runner::JudgeFailures::new(&*judge.judge, &judge.targets, already_judged > 0);
    // What stopped the judge, when its model failed as every request would.
    let mut stopped = None;
    for chunk in todo.chunks(CHUNK) {
        let mut items = Vec::with_capacity(chunk.len());
        for r in chunk {
            // Not in one snapshot with the outlines: the verdicts are
            // written meanwhile. A run deleted since is said to be.
            let messages = store
                .messages(r.id)
                .map_err(|e| deleted_meanwhile(&store, &record, e))?;
            let transcript = r.clone().with_messages(messages).transcript;
            items.push((r.case.to_prompt(), transcript.expect("an answer")));
        }
        let judged_chunk = judge
            .judge_each(items, |i, result| {
                bar.inc(1);
                let id = chunk[i].id;
                if let Some(stop) = failures.count(&result) {
                    errors += 1;
                    stopped = Some(stop);
                    // Ends the judging: the requests in flight are dropped.
                    anyhow::bail!("the judge stopped");
                }
                match result {
                    Ok(verdict) => {
                        tokio::task::block_in_place(|| store.put_verdict(id, &verdict))
                            .map_err(|e| deleted_meanwhile(&store, &record, e))?;
                        judged += 1;
                        let earlier = chunk[i]
                            .verdicts
                            .iter()
                            .find(|v| judge_name(&v.judge) == name && v.judge != verdict.judge);
                        if let Some(earlier) = earlier {
                            *replaced.entry(earlier.judge.clone()).or_default() += 1;
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        failed_with.push(e.to_string());
                        let r = &chunk[i];
                        tracing::warn!(
                            case = %r.case.id,
                            suite = %r.key.suite,
                            target = %r.key.target,
                            strategy = %r.key.strategy,
                            sample = r.key.sample,
                            error = %e,
                            "the judge failed"
                        );
                    }
                }
                Ok(())
            })
            .await;
        match (judged_chunk, &stopped) {
            (Err(_), Some(_)) => break,
            (judged_chunk, _) => judged_chunk?,
        }
    }
    bar.finish_and_clear();

    let mut groups: Vec<Group> = Vec::new();
    let mut escalated = name.split_once('>').map(|(_, second)| Escalated {
        to: second.to_string(),
        answers: 0,
        of: 0,
    });
    for r in store.outlines(record.id)? {
        if r.answer.is_none() {
            continue;
        }
        let label = r.case.label.to_string();
        let i = match groups.iter().position(|g| {
            g.target == r.key.target && g.strategy == r.key.strategy && g.label == label
        }) {
            Some(i) => i,
            None => {
                groups.push(Group {
                    target: r.key.target.clone(),
                    strategy: r.key.strategy.clone(),
                    label,
                    ..Default::default()
                });
                groups.len() - 1
            }
        };
        let g = &mut groups[i];
        // One verdict per judge name: this judge's, or another version's.
        match r.verdicts.iter().find(|v| judge_name(&v.judge) == name) {
            None => g.unjudged += 1,
            Some(v) if v.judge != tag => {
                g.unjudged += 1;
                g.other_version += 1;
            }
            Some(v) => {
                if let Some(e) = &mut escalated {
                    e.of += 1;
                    e.answers += u64::from(xsafe_judge::Cascade::escalated(v));
                }
                match v.outcome.class() {
                    Some(Class::Compliance) => g.compliance += 1,
                    Some(Class::FullRefusal) => g.full_refusal += 1,
                    Some(Class::PartialRefusal) => g.partial_refusal += 1,
                    None => g.unscored += 1,
                }
            }
        }
    }
    let replaced = replaced
        .into_iter()
        .map(|(old, verdicts)| Replaced {
            differs_in: xsafe_judge::tag_difference(&old, &tag),
            judge: old,
            verdicts,
        })
        .collect();
    let models = judge_models(&judge.targets);
    let error = stopped.as_ref().map(|stop| {
        let left = todo.len() as u64 - judged;
        let again = match args.force {
            false => {
                "run the same command again to judge the rest (those judged now are not \
                      judged again)"
            }
            true => "run the command again without --force to judge the rest only",
        };
        format!(
            "{}; judging stopped there, sending nothing more to it: {} of run `{}` judged now \
             (their verdicts are stored), {} left without a verdict of {tag}. {}, then {again}",
            stop.said(),
            super::count(judged, "answer"),
            record.name,
            super::count(left, "answer"),
            capitalised(&stop.fix()),
        )
    });
    let summary = Summary {
        run: record.name.clone(),
        run_id: record.id,
        judge: tag,
        judged,
        already_judged,
        no_answer,
        errors,
        replaced,
        escalated,
        groups,
        error,
        models,
        again: again_or_change(&failed_with, judged + already_judged > 0),
    };
    if args.json {
        print_json(&summary)?;
    } else {
        out!("{}", render(&summary));
    }
    if let Some(error) = summary.error {
        anyhow::bail!(error);
    }
    if errors > 0 {
        errln!(
            "the judge failed on {}; {}",
            super::count(errors, "answer"),
            summary.again
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// `text` with its first letter a capital: a clause made the start of a
/// sentence.
pub(crate) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The models of an `llm:` judge (each of a pair's), as the summary names
/// them: the model's name, temperature and token limit, and a system
/// prompt when it has one (`judge-big` (temperature 0, max tokens 512));
/// empty for a judge that asks none.
fn judge_models(targets: &[std::sync::Arc<dyn xsafe_core::Target>]) -> String {
    targets
        .iter()
        .map(|t| {
            let settings = t.settings();
            let model = settings["model"].as_str().unwrap_or(t.id());
            let mut of = Vec::new();
            if let Some(temperature) = settings["temperature"].as_f64() {
                of.push(format!("temperature {temperature}"));
            }
            if let Some(n) = settings["max_tokens"].as_u64() {
                of.push(format!("max tokens {n}"));
            }
            if settings["system_prompt"].is_string() {
                of.push("a system prompt".into());
            }
            match of.is_empty() {
                true => format!("`{model}`"),
                false => format!("`{model}` ({})", of.join(", ")),
            }
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// `error`, from storing a verdict, as the run's deletion when the run is
/// gone: its answers went with it (`runs delete --force` in another
/// process), which "no result 40" does not say.
fn deleted_meanwhile(
    store: &xsafe_store::Store,
    record: &xsafe_store::RunRecord,
    error: StoreError,
) -> anyhow::Error {
    let lost = matches!(
        error,
        StoreError::ResultNotFound(_) | StoreError::RunNotFound(_)
    );
    if lost && matches!(store.run_by_id(record.id), Err(StoreError::RunNotFound(_))) {
        return anyhow::anyhow!(
            "run `{}` was deleted while it was being judged again, by another command (such as \
             `xsafe runs delete --force`), and its answers with it; the verdicts stored before \
             went with them, and there is nothing left to judge",
            record.name
        );
    }
    error.into()
}

/// The summary as text: the counts, then one line per target, strategy and
/// label; an `unjudged` column (answers without a verdict of this judge,
/// which it failed on) is added when there are any, so that the counts of
/// the other columns never seem to cover every answer when they do not.
fn render(s: &Summary) -> String {
    let mut out = format!(
        "run {} (id {}) judged by {}: {} judged now, {} already judged, {} without an answer, {}\n",
        s.run,
        s.run_id,
        s.judge,
        s.judged,
        s.already_judged,
        s.no_answer,
        super::count(s.errors, "error")
    );
    for r in &s.replaced {
        let why = match r.differs_in {
            "weights" => format!(
                "another weights file of the same name: verdicts are stored by the judge's \
                 name, `{}`, one per answer",
                judge_name(&r.judge)
            ),
            "model" => format!(
                "another model, or other settings of it, under the judge's name: verdicts are \
                 stored by the judge's name, `{}`, one per answer; this judge asks {}",
                judge_name(&r.judge),
                s.models
            ),
            "threshold" => "the pair at another --escalate-below: verdicts are stored one per \
                            judge name"
                .into(),
            _ => "another version of the judge: verdicts are stored one per judge name".into(),
        };
        out.push_str(&format!(
            "replaced {} of {} ({why})\n",
            super::count(r.verdicts, "verdict"),
            r.judge
        ));
    }
    if let Some(e) = &s.escalated {
        out.push_str(&format!(
            "escalated: {} of the {} with a verdict of this pair went to {} (the first judge \
             was less sure of them than --escalate-below, or could not read them); their \
             verdicts say so in their reason\n",
            e.answers,
            super::count(e.of, "answer"),
            e.to
        ));
    }
    let unjudged: u64 = s.groups.iter().map(|g| g.unjudged).sum();
    let other_version: u64 = s.groups.iter().map(|g| g.other_version).sum();
    let rows: Vec<Vec<String>> = s
        .groups
        .iter()
        .map(|g| {
            let mut row = vec![
                g.target.clone(),
                g.strategy.clone(),
                g.label.clone(),
                g.compliance.to_string(),
                g.full_refusal.to_string(),
                g.partial_refusal.to_string(),
                g.unscored.to_string(),
            ];
            if unjudged > 0 {
                row.push(g.unjudged.to_string());
            }
            row
        })
        .collect();
    let mut header = vec![
        "target",
        "strategy",
        "label",
        "compliance",
        "full_refusal",
        "partial_refusal",
        "unscored",
    ];
    if unjudged > 0 {
        header.push("unjudged");
    }
    out.push_str(&table::render(&header, &rows));
    if unjudged > 0 {
        let kept = match other_version {
            0 => String::new(),
            n => format!(
                "; {n} of them keep a verdict of another version of `{}`, not counted here, \
                 which `xsafe report {} --judge {}` counts until they are judged",
                judge_name(&s.judge),
                xsafe_judge::shell_word(&s.run),
                xsafe_judge::shell_word(judge_name(&s.judge))
            ),
        };
        out.push_str(&format!(
            "unjudged: {} without a verdict of this judge (it failed on them){kept}; {}\n",
            super::count(unjudged, "answer"),
            s.again
        ));
    }
    out
}

/// What to do about the answers the judge failed on (`failed_with`, its
/// errors): run the same command again to judge them, unless some fail the
/// same way on every try ([`xsafe_runner::CommonError::fails_every_try`]: a
/// setting of the judge's model the server refuses, an HTTP 4xx, an answer
/// it gives every request that xsafe cannot read, `answered` saying
/// whether the judge gave a verdict): what their messages name must
/// change first.
fn again_or_change(failed_with: &[String], answered: bool) -> String {
    let again = "run the same command again to judge them";
    let repeating = failed_with
        .iter()
        .filter(|message| {
            xsafe_runner::CommonError {
                message: message.to_string(),
                count: 1,
                like_it: 0,
                kind: "judge".into(),
            }
            .fails_every_try(answered)
        })
        .count();
    let change = "change what the message names (the judge's setting, where it says it was \
                  given: a --judge-* flag, or a field of the judge's target in its targets \
                  file; the warnings above say it), then run the same command again";
    match repeating {
        0 => again.to_string(),
        n if n == failed_with.len() => {
            format!("its model will fail on them the same way on every try: {change}")
        }
        n => format!(
            "{n} of them its model will fail on the same way on every try: {change}; for the \
             other {}, {again}",
            failed_with.len() - n
        ),
    }
}
