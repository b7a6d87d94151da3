//! `xsafe judge train`: the xsafe classifier's weights from the built-in
//! corpus and the label files given.
//!
//! Labelled answers whose text the judge never gives to its model (a
//! provider's refusal, an empty answer, one that is no attempt at the
//! question) are left out of training, and counted by reason. A class
//! without one training example is refused: the model could never give
//! that verdict, and would look perfect on the data it was trained on.

use crate::cli::JudgeTrainArgs;
use crate::commands::print_json;
use anyhow::{Result, bail};
use serde::Serialize;
use std::process::ExitCode;
use xsafe_core::{Class, Judge};
use xsafe_judge::classifier::{self, Training, TrainingSet, TrainingSource, XsafeJudge};
use xsafe_judge::labels::{FileKind, LabelledAnswer, LabelsError, parse_labels};
use xsafe_judge::metrics::{self, Agreement};

#[derive(Serialize)]
struct TrainReport<'a> {
    output: String,
    judge: String,
    training: &'a Training,
    /// Labelled answers read, over every source; `training.examples` of
    /// them were trained on.
    labelled: usize,
    /// The labelled answers left out of training, by reason (up to its
    /// first colon), most first.
    left_out: Vec<LeftOut>,
    /// Agreement with the labels trained on: how well the model fits, not
    /// how well it carries over (measure that with `judge eval` on other files).
    in_sample: Agreement,
    /// The files the shipped `xsafe` judge was trained on besides the
    /// built-in corpus (XSTest's development completions) that this training
    /// did not have, by the SHA-256s its weights record: a judge trained
    /// without them learnt from fewer answers than the shipped one.
    shipped_sources_left_out: Vec<String>,
}

/// Where the files the shipped weights were trained on besides the corpus
/// (XSTest's development completions, XSTest repository at commit d7bb5bd)
/// are in xsafe's development setup, as `crates/xsafe-judge/corpus/README.md`
/// gives them.
const XSTEST_DEV_DIR: &str = "../shared/data/xstest/completions-dev";

/// The training sources of the shipped weights, other than the built-in
/// corpus, that none of `sets` is (by SHA-256): each with the set of that
/// name whose bytes differ, if one is.
fn shipped_left_out(sets: &[TrainingSet]) -> Vec<(TrainingSource, Option<&TrainingSet>)> {
    let shipped = XsafeJudge::builtin().model().training.sources.clone();
    let corpus: Vec<String> = classifier::corpus()
        .iter()
        .map(|(_, text)| xsafe_judge::provenance::file_sha256(text.as_bytes()))
        .collect();
    shipped
        .into_iter()
        .filter(|s| !corpus.iter().any(|c| c.eq_ignore_ascii_case(&s.sha256)))
        .filter(|s| {
            !sets
                .iter()
                .any(|t| t.sha256.eq_ignore_ascii_case(&s.sha256))
        })
        .map(|s| {
            let renamed = sets.iter().find(|t| t.name == s.name);
            (s, renamed)
        })
        .collect()
}

/// What to say when the training left out files the shipped judge was
/// trained on: their paths, to add to `--labels`; `None` when it had them
/// all.
fn shipped_note(left_out: &[(TrainingSource, Option<&TrainingSet>)]) -> Option<String> {
    if left_out.is_empty() {
        return None;
    }
    let paths: Vec<String> = left_out
        .iter()
        .map(|(s, _)| xsafe_judge::shell_word(&format!("{XSTEST_DEV_DIR}/{}", s.name)))
        .collect();
    let changed: Vec<&str> = left_out
        .iter()
        .filter_map(|(s, given)| given.map(|_| s.name.as_str()))
        .collect();
    let changed = match changed.as_slice() {
        [] => String::new(),
        names => format!(
            " (`{}` given here is not the file it was trained on: its bytes differ, as after a \
             change of line endings)",
            names.join("`, `")
        ),
    };
    Some(format!(
        "the shipped xsafe judge was trained on XSTest's development completions as well as \
         on the built-in corpus, and this training did not have them{changed}: the shipped \
         judge learnt from {} more labelled answers, so a judge trained on your labels without \
         them may well do worse than it. To build on the shipped judge's data, add them to \
         --labels (XSTest repository at commit d7bb5bd; here where xsafe's development setup \
         keeps them): {}",
        left_out.iter().map(|(s, _)| s.examples).sum::<usize>(),
        paths.join(" ")
    ))
}

/// How many labelled answers were left out of training for one reason.
#[derive(Serialize)]
struct LeftOut {
    reason: String,
    answers: usize,
}

/// Why training leaves out an answer, as the trainer decides
/// ([`classifier::left_out_of_training`]), up to its first colon: the judge
/// decides it before its model (a provider's refusal is a full refusal; an
/// empty answer, one that repeats the prompt... is `unscored`).
fn left_out_because(a: &LabelledAnswer) -> Option<String> {
    let reason = classifier::left_out_of_training(a)?;
    Some(
        reason
            .split(':')
            .next()
            .unwrap_or(&reason)
            .trim()
            .to_string(),
    )
}

/// The answers left out of training, counted by reason, most first.
fn left_out(sets: &[TrainingSet]) -> Vec<LeftOut> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for a in sets.iter().flat_map(|s| &s.answers) {
        if let Some(reason) = left_out_because(a) {
            *counts.entry(reason).or_default() += 1;
        }
    }
    let mut out: Vec<LeftOut> = counts
        .into_iter()
        .map(|(reason, answers)| LeftOut { reason, answers })
        .collect();
    out.sort_by_key(|l| std::cmp::Reverse(l.answers));
    out
}

/// The in-sample kappa at or under which a model is said to have learnt
/// nothing from its training answers: chance agreement, or next to it.
const NO_BETTER_THAN_CHANCE: f64 = 0.05;

/// What to say when the model trained gives one class to every answer it
/// was trained on, or agrees with their labels no better than chance: a
/// penalty (`--c`) too strong for anything to be learnt, most likely. The
/// weights are written all the same (they are what was asked for); `None`
/// for a model that learnt something.
fn learnt_nothing(pairs: &[(Class, xsafe_core::Outcome)], c: f64) -> Option<String> {
    let given: std::collections::BTreeSet<Class> =
        pairs.iter().filter_map(|(_, o)| o.class()).collect();
    let labelled: std::collections::BTreeSet<Class> = pairs.iter().map(|(l, _)| *l).collect();
    let a = metrics::agreement(pairs.iter().map(|(l, o)| (*l, o)));
    let kappa = a.kappa.unwrap_or(0.0);
    let figures = format!(
        "in-sample agreement {:.1}%, kappa {kappa:.3}",
        100.0 * a.accuracy_3class.unwrap_or(0.0)
    );
    let default = classifier::DEFAULT_C;
    // As it would be typed: 1e-9, not 0.000000001.
    let c = match c.to_string() {
        plain if plain.len() <= 8 => plain,
        _ => format!("{c:e}"),
    };
    let advice = format!(
        "--c {c} may be a penalty so strong that the model learnt nothing from the answers; \
         train again with a larger --c (the default is {default})"
    );
    match given.iter().collect::<Vec<_>>().as_slice() {
        [one] if labelled.len() > 1 => Some(format!(
            "the model gives every answer it was trained on one class, {one} ({figures}): {advice}"
        )),
        [] => Some(format!(
            "the model scores none of the answers it was trained on ({figures}): {advice}"
        )),
        _ if kappa <= NO_BETTER_THAN_CHANCE => Some(format!(
            "the model agrees with the labels of the answers it was trained on no better than \
             chance ({figures}): {advice}"
        )),
        _ => None,
    }
}

pub fn run(args: JudgeTrainArgs) -> Result<ExitCode> {
    if !(args.c.is_finite() && args.c > 0.0) {
        bail!("--c must be a positive number, not {}", args.c);
    }
    super::judge::labels_given_once(&args.labels)?;
    super::check_not_input(
        &args.output,
        "--output",
        args.labels.iter().map(std::path::PathBuf::as_path),
    )?;
    let mut sets = Vec::new();
    if !args.no_corpus {
        for (name, text) in classifier::corpus() {
            let answers = parse_labels(text.as_bytes(), &name)?.answers;
            sets.push(TrainingSet::new(name, text.as_bytes(), answers));
        }
    }
    for path in &args.labels {
        let bytes = std::fs::read(path).map_err(|error| LabelsError::Read {
            kind: FileKind::Labels,
            path: path.clone(),
            error,
        })?;
        // Sources are named by file name only, so the weights do not depend
        // on where the files were on the machine that trained them.
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let labelled = parse_labels(&bytes, &path.display().to_string())?;
        super::judge::note_unlabelled(&labelled.unlabelled);
        sets.push(TrainingSet::new(name, &bytes, labelled.answers));
    }
    if sets.is_empty() {
        bail!("nothing to train on: --no-corpus needs --labels FILE...");
    }
    let left_out_of_shipped = shipped_left_out(&sets);
    let model = classifier::train(&sets, args.c)?;
    let labelled: usize = sets.iter().map(|s| s.answers.len()).sum();
    let left_out = left_out(&sets);
    let missing: Vec<&str> = Class::ALL
        .iter()
        .zip(model.training.per_class)
        .filter(|(_, n)| *n == 0)
        .map(|(c, _)| c.xstest_label())
        .collect();
    if !missing.is_empty() {
        let dropped: usize = left_out.iter().map(|l| l.answers).sum();
        let dropped = if dropped > 0 {
            format!(
                " ({} of the {labelled} labelled answers left out: the judge never reads them)",
                dropped
            )
        } else {
            String::new()
        };
        let corpus = if args.no_corpus {
            ", or drop --no-corpus to train on the built-in corpus as well"
        } else {
            ""
        };
        bail!(
            "no training example of {}{dropped}: the judge could never give that verdict, and \
             would look right on every answer it was trained on; add labelled answers of that \
             class{corpus}",
            missing.join(" or ")
        );
    }
    let name = xsafe_judge::stored_name(&format!("xsafe:{}", args.output.display()));
    let judge = XsafeJudge::from_model(model.clone(), name);
    let pairs: Vec<(Class, _)> = sets
        .iter()
        .flat_map(|s| &s.answers)
        .map(|a| {
            (
                a.label,
                judge.verdict(&a.to_prompt(), &a.to_transcript()).outcome,
            )
        })
        .collect();

    // A failure never leaves half a model where a good one was.
    super::write_atomically(&args.output, model.to_json().as_bytes())?;
    if let Some(warning) = learnt_nothing(&pairs, args.c) {
        errln!("warning: {warning}");
    }

    let report = TrainReport {
        output: args.output.display().to_string(),
        judge: judge.tag(),
        training: &model.training,
        labelled,
        left_out,
        in_sample: metrics::agreement(pairs),
        shipped_sources_left_out: left_out_of_shipped
            .iter()
            .map(|(s, _)| s.name.clone())
            .collect(),
    };
    if let Some(note) = shipped_note(&left_out_of_shipped) {
        note!("note: {note}");
    }
    if args.json {
        print_json(&report)?;
    } else {
        outln!(
            "trained {} on {} answers ({} compliance, {} full refusal, {} partial refusal) in {} L-BFGS iterations",
            report.judge,
            model.training.examples,
            model.training.per_class[0],
            model.training.per_class[1],
            model.training.per_class[2],
            model.training.iterations,
        );
        let dropped: usize = report.left_out.iter().map(|l| l.answers).sum();
        if dropped > 0 {
            let reasons: Vec<String> = report
                .left_out
                .iter()
                .map(|l| format!("{} {}", l.answers, l.reason))
                .collect();
            outln!(
                "left out {dropped} of the {labelled} labelled answers, whose text the judge \
                 never reads (it decides them before its model): {}",
                reasons.join("; ")
            );
        }
        for s in &model.training.sources {
            outln!(
                "  {:<48} {:>5} answers  sha256 {}",
                s.name,
                s.examples,
                &s.sha256[..16]
            );
        }
        let a = &report.in_sample;
        outln!(
            "in-sample agreement {:.1}% (3 classes), {:.1}% (binary), kappa {:.3}; measure on other files with `xsafe judge eval`",
            100.0 * a.accuracy_3class.unwrap_or(0.0),
            100.0 * a.accuracy_binary.unwrap_or(0.0),
            a.kappa.unwrap_or(0.0)
        );
        outln!(
            "weights written to {}; use them with --judge xsafe:{}",
            report.output,
            report.output
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A training set of no answers whose bytes have the SHA-256 `sha256`.
    fn set(name: &str, sha256: &str) -> TrainingSet {
        TrainingSet {
            name: name.into(),
            sha256: sha256.into(),
            answers: Vec::new(),
        }
    }

    /// The shipped weights' sources besides the corpus, by their
    /// SHA-256s: each is named until a set has its bytes, and one of its
    /// name with other bytes is said to differ.
    #[test]
    fn the_shipped_judges_other_training_files_are_named_until_given() {
        let shipped = XsafeJudge::builtin().model().training.sources.clone();
        let others: Vec<&TrainingSource> = shipped
            .iter()
            .filter(|s| !s.name.starts_with("corpus/"))
            .collect();
        assert_eq!(others.len(), 3, "{shipped:?}");
        let mine = [set("mine.csv", "00")];
        let left = shipped_left_out(&mine);
        let names: Vec<&str> = left.iter().map(|(s, _)| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "xstest_v2_completions_gpt4.csv",
                "xstest_v2_completions_llama2orig.csv",
                "xstest_v2_completions_mistralinstruct.csv"
            ]
        );
        let note = shipped_note(&left).unwrap();
        assert!(
            note.ends_with(
                "../shared/data/xstest/completions-dev/xstest_v2_completions_gpt4.csv \
                 ../shared/data/xstest/completions-dev/xstest_v2_completions_llama2orig.csv \
                 ../shared/data/xstest/completions-dev/xstest_v2_completions_mistralinstruct.csv"
            ),
            "{note}"
        );
        assert!(
            note.contains("learnt from 1350 more labelled answers"),
            "{note}"
        );
        assert!(!note.contains("bytes differ"), "{note}");
        // Two given by their bytes (in any case of hex), one renamed copy
        // with other bytes.
        let given = [
            set("a.csv", &others[0].sha256.to_uppercase()),
            set("b.csv", &others[1].sha256),
            set(&others[2].name, "ff"),
        ];
        let left = shipped_left_out(&given);
        assert_eq!(left.len(), 1);
        let note = shipped_note(&left).unwrap();
        assert!(
            note.contains(
                "(`xstest_v2_completions_mistralinstruct.csv` given here is not the file it was \
                 trained on: its bytes differ"
            ),
            "{note}"
        );
        let all: Vec<TrainingSet> = others.iter().map(|s| set("x.csv", &s.sha256)).collect();
        assert!(shipped_left_out(&all).is_empty());
        assert_eq!(shipped_note(&[]), None);
    }
}
