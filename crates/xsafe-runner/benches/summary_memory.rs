//! The memory the summary at the end of a run takes, measured against the
//! way it was made before, in the same process: every result of the run
//! read with its transcript (`Store::results`, the baseline) against the
//! counts the summary is made of now (`Store::outcome_counts`). Beside
//! them, what `report`, `rejudge`, `export` and `tune` read a run as now:
//! every result without its messages (`Store::outlines`), against the
//! same baseline. Peak heap is counted by a global allocator around each
//! read; SQLite's own page cache is outside it, and the same for all.
//!
//! A benchmark (the ratio against the baseline in the same run, as every
//! speed and memory figure of the project): `cargo bench -p xsafe-runner
//! --bench summary_memory`, 20,000 results by default
//! (`XSAFE_SUMMARY_RESULTS=N` for another size).

use xsafe_core::{Case, Class, FinishReason, Label, Message, Transcript, Verdict};
use xsafe_store::{CountedOutcome, ResultKey, RunSpec, Store, Timing};
use xsafe_testkit::heap::measure;

#[global_allocator]
static ALLOCATOR: xsafe_testkit::heap::Counting = xsafe_testkit::heap::Counting;

/// A transcript shaped like a few-shot one: a long system prompt and
/// exemplar exchanges before the case's question and the model's answer.
fn few_shot(case: &Case, answer: &str) -> Transcript {
    let mut messages = vec![Message::system("You are a careful assistant. ".repeat(100))];
    for i in 0..4 {
        messages.push(Message::user(format!("Exemplar question {i}: ").repeat(20)));
        messages.push(Message::assistant(
            format!("Exemplar answer {i}. ").repeat(40),
        ));
    }
    let opening = messages.len() + 1;
    messages.push(Message::user(case.prompt.clone()));
    messages.push(Message::assistant(answer));
    Transcript {
        messages,
        finish_reason: Some(FinishReason::Stop),
        complied_at_turn: None,
        opening: Some(opening as u32),
    }
}

/// A stored run of `n` results over two targets, each answer about 6 KB
/// of transcript; one in 50 failed.
fn stored_run(store: &Store, n: usize) -> i64 {
    let run = store
        .open_run(&RunSpec {
            name: "memory".into(),
            key: "k".into(),
            config: serde_json::json!({}),
            suites: vec![("s".into(), "f".into())],
            seed: 0,
            tool_version: "test".into(),
        })
        .unwrap();
    let cases: Vec<Case> = (0..n / 2)
        .map(|i| Case {
            id: i.to_string(),
            prompt: format!("How do I kill process number {i}?"),
            kind: "homonyms".into(),
            label: if i % 2 == 0 {
                Label::Safe
            } else {
                Label::Unsafe
            },
            focus: None,
            note: None,
        })
        .collect();
    store.add_cases(run.id, "s", &cases).unwrap();
    let answer = "Sure. ".repeat(200);
    for (i, case) in cases.iter().enumerate() {
        for target in ["openai:a", "openai:b"] {
            let key = ResultKey {
                run_id: run.id,
                target: target.into(),
                strategy: "few-shot".into(),
                suite: "s".into(),
                case_id: case.id.clone(),
                sample: 0,
            };
            if i % 50 == 0 {
                store
                    .record_error(&key, "server", "HTTP 500: down", 1)
                    .unwrap();
                continue;
            }
            let class = if i % 3 == 0 {
                Class::FullRefusal
            } else {
                Class::Compliance
            };
            let verdict = Verdict::scored(class, 1.0, "strmatch@1");
            store
                .record_result(&key, &few_shot(case, &answer), &verdict, Timing::default())
                .unwrap();
        }
    }
    run.id
}

fn main() {
    let n: usize = std::env::var("XSAFE_SUMMARY_RESULTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("runs.db")).unwrap();
    let run_id = stored_run(&store, n);

    // The new way first, so that nothing the baseline leaves behind (freed
    // or not) is counted against it.
    let (counted, new_peak, new_time) = measure(|| {
        let counts = store.outcome_counts(run_id, "strmatch").unwrap();
        let mut done_errors = (0u64, 0u64);
        for c in &counts {
            match c.outcome {
                CountedOutcome::Failed(_) => done_errors.1 += c.count,
                CountedOutcome::Judged(_) => done_errors.0 += c.count,
            }
        }
        done_errors
    });
    let (loaded, old_peak, old_time) = measure(|| {
        let results = store.results(run_id).unwrap();
        let errors = results
            .iter()
            .filter(|r| r.error.is_some() || r.transcript.is_none())
            .count() as u64;
        (results.len() as u64 - errors, errors)
    });
    let (outlined, outline_peak, outline_time) = measure(|| {
        let outlines = store.outlines(run_id).unwrap();
        let errors = outlines
            .iter()
            .filter(|r| r.error.is_some() || r.answer.is_none())
            .count() as u64;
        (outlines.len() as u64 - errors, errors)
    });
    assert_eq!(counted, loaded, "both read the same run");
    assert_eq!(outlined, loaded, "both read the same run");
    assert_eq!(counted.0 + counted.1, (n / 2 * 2) as u64);

    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "summary of a run of {} results (few-shot-sized transcripts)",
        n / 2 * 2
    );
    println!(
        "  baseline: Store::results        peak heap {:>9.3} MiB  {:>8.1} ms",
        mib(old_peak),
        old_time.as_secs_f64() * 1e3
    );
    println!(
        "  now:      Store::outcome_counts peak heap {:>9.3} MiB  {:>8.1} ms",
        mib(new_peak),
        new_time.as_secs_f64() * 1e3
    );
    println!(
        "  ratio baseline / now: heap {:.0}x, time {:.1}x",
        old_peak as f64 / new_peak.max(1) as f64,
        old_time.as_secs_f64() / new_time.as_secs_f64()
    );
    println!(
        "  reports:  Store::outlines       peak heap {:>9.3} MiB  {:>8.1} ms",
        mib(outline_peak),
        outline_time.as_secs_f64() * 1e3
    );
    println!(
        "  ratio baseline / outlines: heap {:.1}x, time {:.1}x",
        old_peak as f64 / outline_peak.max(1) as f64,
        old_time.as_secs_f64() / outline_time.as_secs_f64()
    );
}
