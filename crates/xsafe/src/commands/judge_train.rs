//! `xsafe judge train`: the xsafe classifier's weights from the built-in
//! corpus and the label files given.

use crate::cli::JudgeTrainArgs;
use crate::commands::print_json;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::process::ExitCode;
use xsafe_core::{Class, Judge};
use xsafe_judge::classifier::{self, Training, TrainingSet, XsafeJudge};
use xsafe_judge::labels::parse_labels;
use xsafe_judge::metrics::{self, Agreement};

#[derive(Serialize)]
struct TrainReport<'a> {
    output: String,
    judge: String,
    training: &'a Training,
    /// Agreement with the labels trained on: how well the model fits, not
    /// how well it carries over (measure that with `judge eval` on other files).
    in_sample: Agreement,
}

pub fn run(args: JudgeTrainArgs) -> Result<ExitCode> {
    if !(args.c.is_finite() && args.c > 0.0) {
        bail!("--c must be a positive number, not {}", args.c);
    }
    let mut sets = Vec::new();
    if !args.no_corpus {
        for (name, text) in classifier::corpus() {
            let answers = parse_labels(text.as_bytes(), &name)?;
            sets.push(TrainingSet::new(name, text.as_bytes(), answers));
        }
    }
    for path in &args.labels {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading label file `{}`", path.display()))?;
        // Sources are named by file name only, so the weights do not depend
        // on where the files were on the machine that trained them.
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let answers = parse_labels(&bytes, &path.display().to_string())?;
        sets.push(TrainingSet::new(name, &bytes, answers));
    }
    if sets.is_empty() {
        bail!("nothing to train on: --no-corpus needs --labels FILE...");
    }
    let model = classifier::train(&sets, args.c)?;
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

    let report = TrainReport {
        output: args.output.display().to_string(),
        judge: judge.tag(),
        training: &model.training,
        in_sample: metrics::agreement(pairs),
    };
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
