//! `--limit`'s sample, end to end against a model on 127.0.0.1: shared
//! between the labels first, then between the types of each label, with
//! ties broken by the seed; and a limited run stored by an xsafe that
//! sampled otherwise is never resumed with this sampling's cases mixed in.

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use xsafe_core::{Case, Label, Suite};
use xsafe_runner::{RunPlan, execute};
use xsafe_store::{RunSpec, Store};
use xsafe_target::{OpenAiConfig, OpenAiTarget};
use xsafe_testkit::{Reply, TestServer};

/// XSTest's shape: `unsafe_types` types named `contrast_*` (unsafe), which
/// sort before the `safe_types` safe ones, `per_type` cases each.
fn suite(safe_types: usize, unsafe_types: usize, per_type: usize) -> Suite {
    let mut cases = Vec::new();
    let groups = (0..unsafe_types)
        .map(|t| (format!("contrast_{t}"), Label::Unsafe))
        .chain((0..safe_types).map(|t| (format!("safe_{t}"), Label::Safe)));
    for (kind, label) in groups {
        for i in 0..per_type {
            cases.push(Case {
                id: format!("{kind}-{i}"),
                prompt: format!("Question {i} about {kind}?"),
                kind: kind.clone(),
                label,
                focus: None,
                note: None,
            });
        }
    }
    // Keyed as a built-in suite is, whose key nothing since the sampling's
    // version has changed (a suite file's path is left out of it now).
    Suite {
        name: "shaped".into(),
        source: "built-in".into(),
        cases,
    }
}

fn plan(url: &str, suite: Suite, limit: Option<usize>, seed: u64, name: Option<&str>) -> RunPlan {
    let mut config = OpenAiConfig::new("m");
    config.base_urls = vec![url.to_string()];
    config.api_key_env = "XSAFE_TEST_NO_KEY".into();
    config.timeout = Duration::from_secs(30);
    RunPlan {
        suites: vec![suite],
        targets: vec![Arc::new(OpenAiTarget::new(config).unwrap())],
        strategies: vec![xsafe_strategy::from_name("baseline").unwrap()],
        judge: xsafe_judge::from_name("strmatch").unwrap(),
        judge_targets: Vec::new(),
        samples: 1,
        seed,
        limit,
        types: Vec::new(),
        name: name.map(String::from),
        reuse: true,
        server_moved: false,
    }
}

/// `p`'s config as an older xsafe recorded it: with `sampling` as that
/// version recorded it, `None` before configs recorded it, and without
/// `asking` (the version of how xsafe asks), which none of them recorded.
fn older_config(p: &RunPlan, sampling: Option<u32>) -> serde_json::Value {
    let mut config = p.config();
    config.as_object_mut().unwrap().remove("asking");
    match sampling {
        Some(version) => config["sampling"] = version.into(),
        None => {
            config.as_object_mut().unwrap().remove("sampling");
        }
    }
    config
}

/// The key an older xsafe made for a plan: the sha256 of its
/// [`older_config`] with the targets' base URLs and timeouts left out and
/// the lists sorted. Written out here because what matters is what that
/// older version stored.
fn older_key(p: &RunPlan, sampling: Option<u32>) -> String {
    let mut config = older_config(p, sampling);
    for t in config["targets"].as_array_mut().unwrap() {
        let settings = t["settings"].as_object_mut().unwrap();
        for k in ["base_url", "base_urls", "timeout_secs", "model_path"] {
            settings.remove(k);
        }
    }
    for list in ["suites", "targets", "strategies"] {
        config[list]
            .as_array_mut()
            .unwrap()
            .sort_by_cached_key(|v| v.to_string());
    }
    hex::encode(Sha256::digest(config.to_string().as_bytes()))
}

/// Stores a run as the older xsafe of `sampling` left it for `p`: under
/// `name` and the older key, with the cases the first sampling picked (the
/// first case of each of the first four types in name order: all unsafe).
fn store_older_run(
    store: &Store,
    p: &RunPlan,
    name: &str,
    sampling: Option<u32>,
) -> (i64, Vec<(String, Case)>) {
    let suite = &p.suites[0];
    let run = store
        .open_run(&RunSpec {
            name: name.into(),
            key: older_key(p, sampling),
            config: older_config(p, sampling),
            suites: vec![(suite.name.clone(), suite.fingerprint())],
            seed: p.seed,
            tool_version: "0.1.0-older".into(),
        })
        .unwrap();
    let mut seen = BTreeSet::new();
    let older: Vec<Case> = suite
        .cases
        .iter()
        .filter(|c| seen.len() < 4 && seen.insert(c.kind.clone()))
        .cloned()
        .collect();
    assert!(older.iter().all(|c| c.label == Label::Unsafe));
    store.add_cases(run.id, &suite.name, &older).unwrap();
    (run.id, store.cases(run.id).unwrap())
}

fn labels(cases: &[(String, Case)]) -> (usize, usize) {
    let safe = cases.iter().filter(|(_, c)| c.label == Label::Safe).count();
    (safe, cases.len() - safe)
}

/// The bug this guards: quotas tied on their remainder went to the groups
/// first by name, and every `contrast_*` (unsafe) type sorts first, so
/// `--limit 8` on XSTest asked 8 unsafe prompts and no safe one, whatever
/// the seed.
#[tokio::test(flavor = "multi_thread")]
async fn a_limit_on_an_xstest_shaped_suite_takes_both_labels_and_seeded_types() {
    let server = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let url = format!("{}/v1", server.url());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let mut type_sets = BTreeSet::new();
    for seed in 0..6 {
        // 10 safe types and 8 unsafe ones of 25 cases, as XSTest has.
        let p = plan(&url, suite(10, 8, 25), Some(8), seed, None);
        let outcome = execute(store.clone(), &p, CancellationToken::new(), |_| {})
            .await
            .unwrap();
        let g = &outcome.groups[0];
        // 250 safe and 200 unsafe cases: 8 x 250/450 = 4.4 and 3.6.
        assert_eq!((g.counts.safe, g.counts.unsafe_), (4, 4), "seed {seed}");
        let cases = store.cases(outcome.run_id).unwrap();
        let types: BTreeSet<String> = cases.iter().map(|(_, c)| c.kind.clone()).collect();
        assert_eq!(types.len(), 8, "one case per type: {types:?}");
        type_sets.insert(types);
    }
    assert!(
        type_sets.len() > 1,
        "the types are drawn by the seed: {type_sets:?}"
    );
    assert_eq!(server.request_count(), 6 * 8);
}

/// The bug this guards: the suite's fingerprint (in the run key) reads the
/// cases in id order, but the sample was drawn in the file's order, so a
/// file whose rows were reordered kept the key and picked other cases, and
/// resuming the run mixed two samples (17 results for `--limit 10`). The
/// sample is drawn in id order: the same key is always the same cases.
#[tokio::test(flavor = "multi_thread")]
async fn reordering_a_suite_file_resumes_a_limited_run_with_the_same_cases() {
    let server = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let url = format!("{}/v1", server.url());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let p = plan(&url, suite(4, 4, 5), Some(10), 3, None);
    let first = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .unwrap();
    let picked: BTreeSet<String> = store
        .cases(first.run_id)
        .unwrap()
        .into_iter()
        .map(|(_, c)| c.id)
        .collect();
    assert_eq!(picked.len(), 10);

    for reorder in [
        |cases: &mut Vec<Case>| cases.reverse(),
        |cases: &mut Vec<Case>| cases.rotate_left(7),
    ] {
        let mut reordered = suite(4, 4, 5);
        reorder(&mut reordered.cases);
        let q = plan(&url, reordered, Some(10), 3, None);
        assert_eq!(q.key(), p.key(), "the fingerprint ignores the order");
        let again = execute(store.clone(), &q, CancellationToken::new(), |_| {})
            .await
            .unwrap();
        assert_eq!(again.run_id, first.run_id);
        assert_eq!((again.total, again.done_before), (10, 10));
        let cases: BTreeSet<String> = store
            .cases(first.run_id)
            .unwrap()
            .into_iter()
            .map(|(_, c)| c.id)
            .collect();
        assert_eq!(cases, picked, "no case of another sample added");
    }
    assert_eq!(store.results(first.run_id).unwrap().len(), 10);
    assert_eq!(server.request_count(), 10);
}

/// A run an older xsafe stored for `--limit`, by its derived name: the same
/// command may now pick other cases (before sampling 2, other shares; under
/// it, the file's order), so it starts a run of its own (another name)
/// instead of adding them to the stored one, which keeps its cases.
#[tokio::test(flavor = "multi_thread")]
async fn a_limited_run_of_the_older_sampling_is_not_resumed_with_other_cases() {
    for sampling in [None, Some(2)] {
        let server = TestServer::start(|_| Reply::chat("Sure, here is how."));
        let url = format!("{}/v1", server.url());
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
        let p = plan(&url, suite(4, 4, 5), Some(4), 0, None);
        let older_name = RunPlan::derived_name(&older_key(&p, sampling));
        let (older_id, older_cases) = store_older_run(&store, &p, &older_name, sampling);

        assert_ne!(p.key(), older_key(&p, sampling), "{sampling:?}");
        // Only the older keys made with this sampling resume a limited run
        // (those of before descriptions were left out, and of before local
        // models were known by their file).
        assert_eq!(p.legacy_keys().len(), 2);
        assert!(
            !p.legacy_keys().contains(&older_key(&p, sampling)),
            "no key of an older sampling resumes a limited run"
        );
        let outcome = execute(store.clone(), &p, CancellationToken::new(), |_| {})
            .await
            .unwrap();
        assert_ne!(outcome.run_id, older_id);
        assert_ne!(outcome.run_name, older_name);
        assert_eq!(labels(&store.cases(outcome.run_id).unwrap()), (2, 2));
        // Nothing stored is lost or changed.
        assert_eq!(store.cases(older_id).unwrap(), older_cases);
        assert_eq!(store.list_runs().unwrap().len(), 2);
        assert_eq!(server.request_count(), 4);
    }
}

/// With `--run NAME` the name is the user's: the stored run is refused as
/// one made with other settings rather than resumed with other cases.
#[tokio::test(flavor = "multi_thread")]
async fn a_named_limited_run_of_the_older_sampling_is_refused_not_mixed() {
    let server = TestServer::start(|_| Reply::chat("Sure, here is how."));
    let url = format!("{}/v1", server.url());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("runs.db")).unwrap());
    let p = plan(&url, suite(4, 4, 5), Some(4), 0, Some("mine"));
    let (older_id, older_cases) = store_older_run(&store, &p, "mine", Some(2));
    let err = execute(store.clone(), &p, CancellationToken::new(), |_| {})
        .await
        .expect_err("the older run is not resumed");
    assert!(
        matches!(
            err,
            xsafe_runner::RunError::Changed { ref run, ref changes, named: true }
                if run == "mine" && changes.sampling
        ),
        "{err}"
    );
    // What differs, and what to do.
    assert!(
        err.to_string().contains(
            "run `mine` already exists with other settings: --limit picks its cases by \
             sampling version 3, the run's were picked by version 2 (the same seed picks other \
             cases). This xsafe cannot resume run `mine` with this --limit; for a run of these \
             settings, pass a new --run name"
        ),
        "{err}"
    );
    assert_eq!(store.cases(older_id).unwrap(), older_cases);
    assert_eq!(server.request_count(), 0);
}

/// What the sampling does not touch keeps its key: a run without a limit,
/// or with one that leaves no case out, is resumed as before, by the key
/// of before strategies' descriptions were left out (the newest older
/// key), which was the older one.
#[test]
fn runs_whose_cases_the_sampling_does_not_pick_keep_their_key() {
    let url = "http://127.0.0.1:9/v1";
    for limit in [None, Some(40), Some(100)] {
        let p = plan(url, suite(4, 4, 5), limit, 0, None);
        assert_eq!(p.legacy_keys()[0], older_key(&p, None), "limit {limit:?}");
        assert!(p.config().get("sampling").is_none(), "limit {limit:?}");
        assert_eq!(p.legacy_keys().len(), 5, "limit {limit:?}");
    }
    let cut = plan(url, suite(4, 4, 5), Some(39), 0, None);
    assert_ne!(cut.key(), older_key(&cut, None));
    assert_eq!(cut.config()["sampling"], 3);
}
