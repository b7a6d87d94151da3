//! How fast the `xsafe` classifier judges, against XSTest's string match (the
//! cheapest judge there is) in the same run, on one thread.
//!
//! cargo bench -p xsafe-judge --bench throughput
//!
//! The answers are those of the built-in corpus, judged over and over, and,
//! where `../shared` is beside the project, XSTest's development answers
//! (longer: Llama 2's refusals run to hundreds of words). The target
//! is 500 answers per second on one core.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;
use xsafe_core::Judge;
use xsafe_judge::classifier;
use xsafe_judge::labels::{load_labels, parse_labels};
use xsafe_judge::{StrMatch, XsafeJudge};

const ROUNDS: usize = 20;

fn main() {
    let rss_start = rss_kib("VmRSS");
    let judge = XsafeJudge::builtin();
    let mut answers = Vec::new();
    for (name, text) in classifier::corpus() {
        answers.extend(
            parse_labels(text.as_bytes(), &name)
                .expect("the corpus parses")
                .answers,
        );
    }
    let items: Vec<_> = answers
        .iter()
        .map(|a| (a.to_prompt(), a.to_transcript()))
        .collect();
    let words: usize = answers
        .iter()
        .map(|a| a.answer.split_whitespace().count())
        .sum();
    // Warm up: the lexicon's regular expressions are compiled on first use.
    for (p, t) in &items {
        black_box(judge.verdict(p, t));
    }

    let n = items.len() * ROUNDS;
    let start = Instant::now();
    for _ in 0..ROUNDS {
        for (p, t) in &items {
            black_box(judge.verdict(p, t));
        }
    }
    let xsafe = start.elapsed();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let strmatch = StrMatch;
    let start = Instant::now();
    runtime.block_on(async {
        for _ in 0..ROUNDS {
            for (p, t) in &items {
                black_box(strmatch.judge(p, t).await.expect("strmatch never fails"));
            }
        }
    });
    let baseline = start.elapsed();

    let per_second = n as f64 / xsafe.as_secs_f64();
    println!(
        "xsafe judge throughput, one thread, {} answers ({} corpus answers x {ROUNDS}, mean {:.0} words)",
        n,
        items.len(),
        words as f64 / items.len() as f64
    );
    println!(
        "  xsafe:    {:>9.0} answers/s ({:.3} s)",
        per_second,
        xsafe.as_secs_f64()
    );
    println!(
        "  strmatch: {:>9.0} answers/s ({:.3} s)",
        n as f64 / baseline.as_secs_f64(),
        baseline.as_secs_f64()
    );
    println!(
        "  xsafe takes {:.1} x the time of strmatch; target >= 500 answers/s: {}",
        xsafe.as_secs_f64() / baseline.as_secs_f64(),
        if per_second >= 500.0 {
            "met"
        } else {
            "NOT met"
        }
    );
    let dev =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/xstest/completions-dev");
    let mut dev_answers = Vec::new();
    for model in ["gpt4", "llama2orig", "mistralinstruct"] {
        let path = dev.join(format!("xstest_v2_completions_{model}.csv"));
        if let Ok(answers) = load_labels(&path) {
            dev_answers.extend(answers.answers);
        }
    }
    if !dev_answers.is_empty() {
        let items: Vec<_> = dev_answers
            .iter()
            .map(|a| (a.to_prompt(), a.to_transcript()))
            .collect();
        let words: usize = dev_answers
            .iter()
            .map(|a| a.answer.split_whitespace().count())
            .sum();
        let start = Instant::now();
        for _ in 0..5 {
            for (p, t) in &items {
                black_box(judge.verdict(p, t));
            }
        }
        let took = start.elapsed();
        println!(
            "  xsafe on XSTest's development answers ({} x 5, mean {:.0} words): {:.0} answers/s",
            items.len(),
            words as f64 / items.len() as f64,
            (items.len() * 5) as f64 / took.as_secs_f64()
        );
    }
    println!(
        "  memory: peak RSS {} KiB ({} KiB at start, before the model and corpus were loaded)",
        rss_kib("VmHWM"),
        rss_start
    );
    long_answers(&judge);
}

/// Time grows with an answer's length, not its square: each shape of long
/// answer (a model looping until its token limit, or a pasted log) judged
/// at 1 MB and at 4 MB, the ratio of the two times against the ratio of
/// the lengths (4; a time that grew with the square would give 16; a
/// check of a repeated sentence once took minutes on such answers).
/// Measured after the memory figure, which is about answers of ordinary
/// length.
fn long_answers(judge: &XsafeJudge) {
    let shapes: [(&str, &str); 4] = [
        (
            "a refusal said over and over",
            "I'm sorry, I can't help with that. ",
        ),
        ("short lines said again", "Run kill now\n"),
        (
            "a statement and a question in a loop",
            "I can help with that. What OS are you using? ",
        ),
        (
            "prose",
            "Find the process id with ps, then send it a signal with kill; use -9 only when it \
             ignores the polite one. ",
        ),
    ];
    let prompt = xsafe_core::Prompt::new("How do I kill a Python process?");
    let time = |unit: &str, bytes: usize| {
        let answer = unit.repeat(bytes / unit.len());
        let transcript = xsafe_core::Transcript {
            messages: vec![
                xsafe_core::Message::user(&prompt.text),
                xsafe_core::Message::assistant(answer),
            ],
            finish_reason: Some(xsafe_core::FinishReason::Length),
            complied_at_turn: None,
            opening: Some(1),
        };
        let start = Instant::now();
        black_box(judge.verdict(&prompt, &transcript));
        start.elapsed().as_secs_f64()
    };
    println!("  long answers, one each: time at 4 MB / time at 1 MB (4 is linear, 16 quadratic)");
    for (name, unit) in shapes {
        let (small, large) = (time(unit, 1_000_000), time(unit, 4_000_000));
        println!(
            "    {name:<38} {:>7.1} ms, {:>8.1} ms: {:.1}",
            small * 1e3,
            large * 1e3,
            large / small
        );
    }
}

/// A field of /proc/self/status in KiB (0 where there is no /proc).
fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
