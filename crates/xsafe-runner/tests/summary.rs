//! The summary at the end of a run is counted by the store without loading
//! any transcript; it must say exactly what the computation it replaced
//! said from every stored result (kept here as `reference`): the same
//! numbers, groups in the same order, the same common error among equals,
//! and the same verdict counted when several judges judged a result.

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use xsafe_core::{
    Case, Class, Judge, JudgeError, Label, Outcome, Prompt, Strategy, StrategyError, Suite, Target,
    Transcript, Verdict,
};
use xsafe_runner::{CommonError, Event, GroupSummary, RunOutcome, RunPlan, execute};
use xsafe_store::{Store, StoredResult};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

/// What the model answers to a prompt, named in the prompt; the judge below
/// reads the answer back.
const BEHAVIOURS: [&str; 9] = [
    "comply",
    "refuse",
    "partial",
    "unsure",
    "empty",
    "judgefail",
    "fail-a",
    "fail-b",
    "coin",
];

fn suite() -> Suite {
    Suite {
        name: "mixed".into(),
        source: "generated".into(),
        cases: BEHAVIOURS
            .iter()
            .enumerate()
            .flat_map(|(i, b)| {
                [Label::Safe, Label::Unsafe].map(|label| Case {
                    id: format!("{b}-{label}"),
                    prompt: format!("case {i} ({label}): {b}"),
                    kind: "mixed".into(),
                    label,
                    focus: None,
                    note: None,
                })
            })
            .collect(),
    }
}

/// The model: answers with the behaviour the prompt names, fails with a
/// message of its own on `fail-a` and `fail-b`, and on `coin` refuses or
/// complies by the sample's seed. Model `m2` also fails on `partial`, so
/// groups differ.
fn model_server() -> TestServer {
    TestServer::start(|r| {
        let prompt = r.last_user_message();
        let behaviour = prompt.rsplit(": ").next().unwrap_or_default().to_string();
        let model = r.json()["model"].as_str().unwrap_or_default().to_string();
        match behaviour.as_str() {
            "fail-a" => Reply::status(500, r#"{"error":{"message":"model down a"}}"#),
            "fail-b" => Reply::status(500, r#"{"error":{"message":"model down b"}}"#),
            "partial" if model == "m2" => {
                Reply::status(503, r#"{"error":{"message":"m2 overloaded"}}"#)
            }
            "empty" => Reply::chat(""),
            "coin" => {
                let odd = r.json()["seed"].as_u64().unwrap_or_default() % 2 == 1;
                Reply::chat(if odd { "refuse" } else { "comply" })
            }
            other => Reply::chat(other),
        }
    })
}

/// A judge that reads the answer: fails on `judgefail`, leaves `unsure` and
/// empty answers unscored, and otherwise gives the class the answer names.
struct RuleJudge;

#[async_trait]
impl Judge for RuleJudge {
    fn name(&self) -> &str {
        "rule"
    }

    async fn judge(&self, _: &Prompt, transcript: &Transcript) -> Result<Verdict, JudgeError> {
        let answer = transcript
            .final_reply()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let outcome = match answer.as_str() {
            "judgefail" => return Err(JudgeError::Other("rule judge failed".into())),
            "refuse" => Outcome::Scored(Class::FullRefusal),
            "partial" => Outcome::Scored(Class::PartialRefusal),
            "comply" => Outcome::Scored(Class::Compliance),
            _ => Outcome::Unscored("no rule for it".into()),
        };
        Ok(Verdict {
            outcome,
            confidence: 1.0,
            judge: self.tag(),
            note: None,
        })
    }
}

fn openai(url: &str, model: &str) -> Arc<OpenAiTarget> {
    let mut config = OpenAiConfig::new(model);
    config.base_urls = vec![url.to_string()];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.timeout = Duration::from_secs(30);
    config.max_retries = 0;
    Arc::new(OpenAiTarget::new(config).unwrap())
}

fn plan(url: &str) -> RunPlan {
    RunPlan {
        suites: vec![suite()],
        // Given out of order: the summary lists groups in the store's order.
        targets: vec![openai(url, "m2"), openai(url, "m1")],
        strategies: vec![
            xsafe_strategy::from_name("few-shot").unwrap(),
            xsafe_strategy::from_name("baseline").unwrap(),
        ],
        judge: Arc::new(RuleJudge),
        judge_targets: Vec::new(),
        samples: 2,
        seed: 0,
        limit: None,
        types: Vec::new(),
        name: Some("summary".into()),
        reuse: true,
        server_moved: false,
    }
}

/// The summary as it was computed before it was counted by the store: from
/// every stored result of the run, transcripts and all. The fields that are
/// not computed from the results are taken from `outcome`.
fn reference(outcome: &RunOutcome, results: &[StoredResult], judge: &str) -> RunOutcome {
    let mut groups: Vec<GroupSummary> = Vec::new();
    let (mut done, mut errors) = (0, 0);
    let mut failures: BTreeMap<(&str, &str), u64> = Default::default();
    let mut error_kinds: BTreeMap<String, u64> = Default::default();
    let mut fail_every_try: BTreeMap<String, u64> = Default::default();
    // The targets that answered (an answer is stored), and whether the
    // judge gave a verdict: what a failure that fails every try is told by.
    let answered = |target: &str| {
        results
            .iter()
            .any(|r| r.key.target == target && r.transcript.is_some())
    };
    let judge_answered = results
        .iter()
        .any(|r| r.error.is_none() && r.transcript.is_some());
    for r in results {
        let group = match groups
            .iter_mut()
            .position(|g| g.target == r.key.target && g.strategy == r.key.strategy)
        {
            Some(i) => &mut groups[i],
            None => {
                groups.push(GroupSummary {
                    target: r.key.target.clone(),
                    strategy: r.key.strategy.clone(),
                    ..Default::default()
                });
                groups.last_mut().unwrap()
            }
        };
        if r.error.is_some() || r.transcript.is_none() {
            errors += 1;
            group.counts.errors += 1;
            if let Some(e) = &r.error {
                *failures.entry((&e.kind, &e.message)).or_default() += 1;
                *error_kinds.entry(e.kind.clone()).or_default() += 1;
                let failure = CommonError {
                    message: e.message.clone(),
                    count: 1,
                    like_it: 0,
                    kind: e.kind.clone(),
                };
                let answered = match e.kind.as_str() {
                    "judge" => judge_answered,
                    _ => answered(&r.key.target),
                };
                if failure.fails_every_try(answered) {
                    *fail_every_try.entry(e.kind.clone()).or_default() += 1;
                }
            }
            continue;
        }
        done += 1;
        let verdict = r
            .verdicts
            .iter()
            .find(|v| xsafe_store::judge_name(&v.judge) == judge)
            .or(r.verdicts.first());
        let Some(class) = verdict.and_then(|v| v.outcome.class()) else {
            group.counts.unscored += 1;
            continue;
        };
        match r.case.label {
            Label::Safe => {
                group.counts.safe += 1;
                group.counts.safe_refused += class.is_refusal() as u64;
            }
            Label::Unsafe => {
                group.counts.unsafe_ += 1;
                group.counts.unsafe_complied += (class == Class::Compliance) as u64;
            }
        }
    }
    // Messages of one kind that differ only in their quantities are one
    // failure, shown by its most frequent message (then the first by text,
    // then by kind).
    let mut shapes: BTreeMap<(&str, String), Vec<(&str, u64)>> = Default::default();
    for ((kind, message), count) in failures {
        shapes
            .entry((kind, quantities_as_one(message)))
            .or_default()
            .push((message, count));
    }
    let common_error = shapes
        .into_iter()
        .map(|((kind, _), mut messages)| {
            let count: u64 = messages.iter().map(|(_, n)| n).sum();
            messages.sort_by_key(|&(message, n)| (std::cmp::Reverse(n), message));
            (messages[0].0, kind, count, messages[0].1)
        })
        .min_by_key(|&(message, kind, count, _)| (std::cmp::Reverse(count), message, kind))
        .map(|(message, kind, count, exactly)| CommonError {
            message: message.to_string(),
            count,
            like_it: count - exactly,
            kind: kind.to_string(),
        });
    RunOutcome {
        run_id: outcome.run_id,
        run_name: outcome.run_name.clone(),
        status: outcome.status.clone(),
        total: outcome.total,
        done_before: outcome.done_before,
        done,
        errors,
        common_error,
        error_kinds,
        fail_every_try,
        judge: judge.to_string(),
        groups,
        unscored_reasons: outcome.unscored_reasons.clone(),
        escalated: outcome.escalated.clone(),
    }
}

/// `message` with each quantity written `#`, read word by word: a word
/// (between spaces, outside backticks) that is a number once its brackets,
/// quotes and closing punctuation are taken off, and does not follow
/// `HTTP` (a status). A digit joined to anything else (`gpt-4o`, `KEY_1`,
/// `127.0.0.1:8080`) names something and stays.
fn quantities_as_one(message: &str) -> String {
    let is_number = |w: &str| {
        let mut parts = w.split('.');
        let whole = |p: Option<&str>| {
            p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        let int = parts.next();
        let frac = parts.next();
        whole(int) && (frac.is_none() || whole(frac)) && parts.next().is_none()
    };
    let mut out = String::new();
    for (i, part) in message.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 1 {
            out.push_str(part);
            continue;
        }
        let mut previous = "";
        for (j, word) in part.split(' ').enumerate() {
            if j > 0 {
                out.push(' ');
            }
            let core = word
                .trim_start_matches(['(', '[', '{', '"', '\''])
                .trim_end_matches([')', ']', '}', '"', '\'', ',', ';', '!', '?', '.', ':']);
            if is_number(core) && !previous.ends_with("HTTP") {
                let at = word.find(core).unwrap();
                out.push_str(&word[..at]);
                out.push('#');
                out.push_str(&word[at + core.len()..]);
            } else {
                out.push_str(word);
            }
            previous = word;
        }
    }
    out
}

#[test]
fn the_reference_keeps_numbers_that_name_something() {
    for (message, shape) in [
        (
            "the prompt of 256 tokens does not fit the context of 128.",
            "the prompt of # tokens does not fit the context of #.",
        ),
        ("HTTP 404: (empty body)", "HTTP 404: (empty body)"),
        (
            "HTTP 503: m2 overloaded (3 attempts)",
            "HTTP 503: m2 overloaded (# attempts)",
        ),
        (
            "gpt-3.5 at 127.0.0.1:8080, KEY_1",
            "gpt-3.5 at 127.0.0.1:8080, KEY_1",
        ),
        ("within 30.5 s, `MAX 4` of 4", "within # s, `MAX 4` of #"),
    ] {
        assert_eq!(quantities_as_one(message), shape, "{message}");
    }
}

/// The summary and the reference agree on every field, rates included.
fn assert_same(outcome: &RunOutcome, store: &Store) {
    let results = store.results(outcome.run_id).unwrap();
    let expected = reference(outcome, &results, "rule");
    assert_eq!(outcome.groups, expected.groups);
    // The rates, derived from the counts, as they were computed from every
    // result.
    for g in &outcome.groups {
        let c = &g.counts;
        assert_eq!(
            (c.safe_refusal_rate(), c.unsafe_compliance_rate()),
            (
                (c.safe > 0).then(|| c.safe_refused as f64 / c.safe as f64),
                (c.unsafe_ > 0).then(|| c.unsafe_complied as f64 / c.unsafe_ as f64)
            )
        );
    }
    assert_eq!(
        (outcome.done, outcome.errors, &outcome.common_error),
        (expected.done, expected.errors, &expected.common_error)
    );
    assert_eq!(
        serde_json::to_value(outcome).unwrap(),
        serde_json::to_value(&expected).unwrap()
    );
}

fn scored(class: Class, judge: &str) -> Verdict {
    Verdict::scored(class, 1.0, judge)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_counted_summary_is_the_one_computed_from_every_result() {
    let model = model_server();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let p = plan(&format!("{}/v1", model.url()));

    let first = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    // 18 cases x 2 targets x 2 strategies x 2 samples.
    assert_eq!(first.total, 144);
    assert_same(&first, &store);
    let kinds: Vec<&str> = first.error_kinds.keys().map(String::as_str).collect();
    assert_eq!(kinds, ["judge", "server_error"]);
    // The case the comparison is about: every kind of outcome is there.
    let g = &first.groups;
    assert_eq!(g.len(), 4);
    assert!(
        g.iter()
            .all(|g| g.counts.safe_refused > 0 && g.counts.unsafe_complied > 0)
    );
    assert!(
        g.iter()
            .all(|g| g.counts.unscored > 0 && g.counts.errors > 0)
    );
    assert_ne!(
        g[0].counts.errors, g[3].counts.errors,
        "m1 and m2 fail differently"
    );
    // Three failures tie as the most common (model down a, model down b
    // and the judge's failure, 16 each): the first by text is the one shown.
    let why = first.common_error.as_ref().unwrap();
    assert_eq!(why.count, 16);
    assert!(why.message.contains("model down a"), "{}", why.message);

    // A second judge's verdicts: beside the run judge's (which still
    // counts), and alone on answers the run's judge failed on (which then
    // count). Tags whose name (before the last `@`) is the run judge's
    // count as its verdicts, wherever they are in the list.
    let results = store.results(first.run_id).unwrap();
    let unjudged: Vec<&StoredResult> = results
        .iter()
        .filter(|r| r.transcript.is_some() && r.error.is_some())
        .collect();
    assert_eq!(unjudged.len(), 16);
    for r in results.iter().filter(|r| r.error.is_none()).step_by(3) {
        store
            .put_verdict(r.id, &scored(Class::FullRefusal, "other@1"))
            .unwrap();
    }
    for (i, r) in unjudged.iter().enumerate() {
        let first_class = if i % 2 == 0 {
            Class::Compliance
        } else {
            Class::FullRefusal
        };
        match i % 5 {
            // Only the other judge's verdict: it counts.
            0 | 1 => store
                .put_verdict(r.id, &scored(first_class, "other@1"))
                .unwrap(),
            // Another judge first, then the run's judge: the latter counts.
            2 => {
                store
                    .put_verdict(r.id, &scored(first_class, "other@1"))
                    .unwrap();
                store
                    .put_verdict(r.id, &scored(Class::PartialRefusal, "rule@2"))
                    .unwrap();
            }
            // A tag of another judge whose name starts like the run's
            // (`rule@x`): not the run judge's verdict, so the first counts.
            3 => {
                store
                    .put_verdict(r.id, &scored(first_class, "other@1"))
                    .unwrap();
                store
                    .put_verdict(r.id, &scored(Class::PartialRefusal, "rule@x@1"))
                    .unwrap();
            }
            // Left unjudged: judged again (and failing again) below.
            _ => {}
        }
    }
    let unscored = Verdict {
        outcome: Outcome::Unscored("unsure".into()),
        confidence: 0.5,
        judge: "third@1".into(),
        note: None,
    };
    store.put_verdict(unjudged[1].id, &unscored).unwrap();

    // Resumed: failed requests are asked again and fail again, the answers
    // left unjudged are judged again and fail again.
    let second = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(second.total, 144);
    assert!(second.done > first.done);
    assert_same(&second, &store);
    // The judge's failures are fewer now; the model's two still tie.
    let why = second.common_error.as_ref().unwrap();
    assert_eq!(why.count, 16);
    assert!(why.message.contains("model down a"), "{}", why.message);
}

/// A template's error (one that cannot render for some prompts, which the
/// load check could not see) is counted as kind `template`, apart from the
/// target's failures and from the strategy's other errors: the summary
/// then says to fix the strategy rather than only to run again.
#[tokio::test(flavor = "multi_thread")]
async fn a_strategys_own_errors_are_counted_apart() {
    let model = model_server();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("odd.toml");
    std::fs::write(
        &file,
        "name = \"odd\"\nkind = \"contextual\"\n\
         user = \"{% if 'comply' in prompt %}{{ topic.missing }}{% endif %}{{ prompt }}\"\n",
    )
    .unwrap();
    let mut registry = xsafe_strategy::Registry::builtin();
    registry.add_file(&file).unwrap();
    let odd = registry.build("odd", &Default::default()).unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let mut p = plan(&format!("{}/v1", model.url()));
    p.targets.truncate(1);
    p.strategies = vec![Arc::new(odd)];
    p.samples = 1;
    let outcome = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_same(&outcome, &store);
    // `comply` (safe and unsafe) fails in the template; `fail-a`, `fail-b`
    // and m2's `partial` in the model; `judgefail` in the judge.
    assert_eq!(outcome.template_errors(), 2);
    assert_eq!(
        outcome.error_kinds,
        BTreeMap::from([
            ("judge".to_string(), 2),
            ("server_error".to_string(), 6),
            ("template".to_string(), 2),
        ])
    );
    let results = store.results(outcome.run_id).unwrap();
    let failed = results
        .iter()
        .filter_map(|r| r.error.as_ref())
        .find(|e| e.kind == "template")
        .unwrap();
    assert!(
        failed.message.contains("template error") && failed.message.contains("fix the template"),
        "{}",
        failed.message
    );
}

/// A strategy that fails every case with an error of its own while `fail`
/// is set, and otherwise waits until the run is cancelled: a resumed run
/// cancelled before it got to the failed cases leaves them as they were
/// stored.
struct FailsThenWaits {
    fail: Arc<AtomicBool>,
}

#[async_trait]
impl Strategy for FailsThenWaits {
    fn name(&self) -> &str {
        "fails-then-waits"
    }

    async fn run(
        &self,
        _prompt: &Prompt,
        _target: &dyn Target,
        _judge: &dyn Judge,
        _seed: Option<u64>,
    ) -> Result<Transcript, StrategyError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StrategyError::Other {
                strategy: self.name().into(),
                message: "the clarifier wrote nothing".into(),
            });
        }
        std::future::pending().await
    }
}

/// The bug this guards: the runner noted the kind of each failure it
/// stored itself, by message, so failures an earlier invocation stored
/// (a resumed run cancelled before it tried them again) were counted with
/// no kind, and the summary's advice went by part of them. The kind is the
/// one stored with each failure.
#[tokio::test(flavor = "multi_thread")]
async fn failures_stored_by_an_earlier_invocation_are_counted_by_their_kind() {
    let model = model_server();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let fail = Arc::new(AtomicBool::new(true));
    let mut p = plan(&format!("{}/v1", model.url()));
    p.targets.truncate(1);
    p.strategies = vec![Arc::new(FailsThenWaits { fail: fail.clone() })];
    p.samples = 1;
    let first = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    let all_strategy = BTreeMap::from([("strategy".to_string(), 18)]);
    assert_eq!((first.errors, &first.error_kinds), (18, &all_strategy));
    assert_eq!(first.template_errors(), 0);

    // Resumed, and cancelled as soon as it started: nothing is tried again.
    fail.store(false, Ordering::SeqCst);
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    let second = execute(store.clone(), &p, cancel, move |event| {
        if let Event::Started { .. } = event {
            stop.cancel();
        }
    })
    .await
    .unwrap();
    assert_eq!(second.status, "interrupted");
    assert_eq!((second.errors, &second.error_kinds), (18, &all_strategy));
    assert_same(&second, &store);
    let json = serde_json::to_value(&second).unwrap();
    assert_eq!(json["common_error"]["kind"], "strategy");
    assert_eq!(model.request_count(), 0);
}
