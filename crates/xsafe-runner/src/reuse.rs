//! Reusing the answers of other runs: a conversation a run has not stored
//! yet is copied from the done result of another run of the store that
//! asked the same question in the same way, instead of asking the model.
//!
//! "The same way" is [`answer_key`]: the target's settings and the strategy as
//! the run key reads them; the seed; for a strategy that consults the judge
//! between turns, the judge (where an `llm:` judge's model is served
//! included); and the version of how xsafe asks
//! ([`ASKING_VERSION`]; a run recorded without one counts as 1), which for what
//! a run asks (a resumed run's too) is this xsafe's. "The same question" is the
//! same case (suite, id, prompt, label, type and focus) as the same sample.
//! Only done results are copied (answered and judged): failed requests and
//! answers the judge failed on are asked again as they would be in their own
//! run. A copy keeps its verdict of this run's judge (name and version) only
//! when that judge asks no model, or when the other run's judge was served
//! at the same base URLs as this run's (its recorded `served_at`); else this
//! run's judge judges it. The other runs are read, never written; runs are
//! tried newest first, and a conversation copies the first match.

use crate::layout::{Layout, Marks};
use crate::plan::{ASKING_VERSION, answer_key, asking_of};
use serde_json::{Value, json};
use std::collections::HashMap;
use xsafe_core::{Case, Strategy, Target};
use xsafe_store::{Store, StoreError};

/// The done result of another run that a conversation copies.
#[derive(Debug, Clone)]
pub(crate) struct Reuse {
    /// The result's id in the store.
    pub result_id: i64,
    /// Which source run: an index into [`Found::sources`].
    pub source: usize,
    /// Whether it has a verdict of this run's judge (its name and version)
    /// that may be copied (see `verdicts_ours`): copying it then needs no
    /// judge, nor the target.
    pub judged: bool,
    /// Whether the source run's verdicts of this run's judge's name and
    /// version are this judge's: it asks no model, or the source run
    /// recorded its model at the same base URLs. Else the copy's verdict is
    /// not copied, and this run's judge judges it.
    pub verdicts_ours: bool,
}

/// What [`find`] found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The names of the runs copied from, newest first.
    pub sources: Vec<String>,
    /// For each conversation found, its number in the plan's
    /// [`Layout`] and what it copies.
    pub reuses: Vec<(usize, Reuse)>,
}

/// The answer key ([`answer_key`]) of `target` under `strategy` in a run of
/// `seed` judged by `judge` (the judge's entry of the run's config, with
/// where its models are served), as the run's config records them, asked by
/// this xsafe ([`ASKING_VERSION`]): whatever version a resumed run was
/// recorded with, what it has not stored is asked as this one asks.
pub(crate) fn key_of_pair(
    target: &dyn Target,
    strategy: &dyn Strategy,
    seed: u64,
    judge: &Value,
) -> String {
    answer_key(
        &json!({"id": target.id(), "settings": target.settings()}),
        &json!({"name": strategy.name(), "definition": strategy.definition()}),
        &json!(seed),
        judge,
        u64::from(ASKING_VERSION),
    )
}

/// Finds in the store's other runs (all but `this_run`), newest first, a
/// done result for each conversation of `layout` marked in `wanted`: one
/// of a target and strategy whose answer key is the pair's of the
/// conversation's group (`pairs[pair_of_group[group]]`; every group with a
/// conversation wanted has one), of the same case and sample. Pairs of one
/// key share what is found: one result is copied by a conversation of
/// each. `judge_tag` is this run's judge's `name@version`, which says
/// whether a result found needs judging, and `judge_served_at` where the
/// models it asks are served (its config's `served_at`; `None` for a judge
/// that asks none): a verdict of a run whose judge recorded other URLs, or
/// none, is not copied (see [`Reuse::verdicts_ours`]). A run's pairs are keyed with the
/// version of how it was asked that its config records (1 when it records
/// none), so a run of another version matches no pair of this xsafe's.
///
/// Conversations of one pair that are one question (the same case id of
/// one suite, `xsafe tune`'s parts counting as the suite, and sample: two
/// targets of one id in the run's keys, a case id in two parts of a suite)
/// are looked up as one, by the last of them in plan order, which copies
/// the first result found for it.
///
/// Reads each run's config, and only the results (in outline, without
/// their messages) of the target and strategy pairs whose key matches.
/// Takes no memory per conversation but `wanted`'s bit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn find(
    store: &Store,
    this_run: Option<i64>,
    layout: &Layout,
    pairs: &[String],
    pair_of_group: &[Option<usize>],
    mut wanted: Marks,
    judge_tag: &str,
    judge_served_at: Option<&Value>,
) -> Result<Found, StoreError> {
    let mut found = Found::default();
    // Each pair's groups, in plan order, and its conversations wanted and
    // not found yet.
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); pairs.len()];
    let mut left = vec![0usize; pairs.len()];
    for (group, pair) in pair_of_group.iter().enumerate() {
        if let Some(pair) = *pair {
            groups[pair].push(group);
            left[pair] += wanted.count_in(layout.group_range(group));
        }
    }
    let mut pending: usize = left.iter().sum();
    let mut by_key: HashMap<&str, Vec<usize>> = HashMap::new();
    for (pair, key) in pairs.iter().enumerate() {
        by_key.entry(key.as_str()).or_default().push(pair);
    }
    // The selected cases by suite (as `suite_of` reads it) and id: made
    // once a run has answers of some pair.
    let mut cases = None;
    // Newest first.
    for listed in store.list_runs()? {
        if pending == 0 {
            break;
        }
        if Some(listed.id) == this_run || listed.results == 0 {
            continue;
        }
        let run = match store.run_by_id(listed.id) {
            Ok(run) => run,
            // Deleted since it was listed.
            Err(StoreError::RunNotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        let config = &run.config;
        let list = |name: &str| config[name].as_array().map_or(&[][..], Vec::as_slice);
        let asking = asking_of(config);
        let verdicts_ours = judge_served_at.is_none_or(|at| config["judge"]["served_at"] == *at);
        let mut source = None;
        for target in list("targets") {
            for strategy in list("strategies") {
                let key = answer_key(target, strategy, &config["seed"], &config["judge"], asking);
                let Some(ours) = by_key.get(key.as_str()) else {
                    continue;
                };
                if ours.iter().all(|&pair| left[pair] == 0) {
                    continue;
                }
                let (Some(target), Some(strategy)) =
                    (target["id"].as_str(), strategy["name"].as_str())
                else {
                    continue;
                };
                let cases = cases.get_or_insert_with(|| layout.cases_by(suite_of));
                for outline in store.done_outlines(run.id, target, strategy)? {
                    let at = (suite_of(&outline.key.suite), outline.key.case_id.as_str());
                    // Every pair of this key: two targets of this run may
                    // have one key (`local:default` and `local:NAME` load
                    // one file), and each copies the result.
                    for &pair in ours {
                        // The pair's conversations of this question that
                        // are wanted, in plan order: the last is the one
                        // looked up.
                        let same: Vec<usize> = groups[pair]
                            .iter()
                            .flat_map(|&group| {
                                cases.get(&at).filter_map(move |flat| {
                                    layout.number_of(group, flat, outline.key.sample)
                                })
                            })
                            .filter(|&n| wanted.get(n))
                            .collect();
                        let Some(&n) = same.iter().max() else {
                            continue;
                        };
                        if !same_case(layout.case(n), &outline.case) {
                            continue;
                        }
                        // Found: the question is no longer looked up.
                        for &m in &same {
                            wanted.clear(m);
                        }
                        left[pair] -= same.len();
                        pending -= same.len();
                        let source = *source.get_or_insert_with(|| {
                            found.sources.push(run.name.clone());
                            found.sources.len() - 1
                        });
                        let judged =
                            verdicts_ours && outline.verdicts.iter().any(|v| v.judge == judge_tag);
                        found.reuses.push((
                            n,
                            Reuse {
                                result_id: outline.id,
                                source,
                                judged,
                                verdicts_ours,
                            },
                        ));
                    }
                }
            }
        }
    }
    Ok(found)
}

/// The suite a suite name stands for: `xsafe tune`'s parts of a suite
/// (`NAME~calibration`, `NAME~heldout`) hold its cases as they are, so
/// their answers are the suite's.
fn suite_of(name: &str) -> &str {
    name.strip_suffix("~calibration")
        .or_else(|| name.strip_suffix("~heldout"))
        .unwrap_or(name)
}

/// Whether a case asked by another run is this run's: the same id, prompt,
/// label, type and focus (a suite file edited since has another prompt).
/// Its note is a remark for readers, never sent.
pub(crate) fn same_case(a: &Case, b: &Case) -> bool {
    a.id == b.id
        && a.prompt == b.prompt
        && a.label == b.label
        && a.kind == b.kind
        && a.focus == b.focus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tune_part_is_its_suite() {
        assert_eq!(suite_of("xstest~calibration"), "xstest");
        assert_eq!(suite_of("xstest~heldout"), "xstest");
        assert_eq!(suite_of("xstest"), "xstest");
        assert_eq!(suite_of("a~b"), "a~b");
    }
}
