use serde::Serialize;
use xsafe_core::{Class, Label};
use xsafe_store::{CountedOutcome, OutcomeCount, RunRecord, RunStatus};

/// Counts for one target under one strategy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroupSummary {
    /// The target's id, e.g. `openai:gpt-4o-mini`.
    pub target: String,
    /// The strategy's name, e.g. `baseline` or `contextual+few-shot`.
    pub strategy: String,
    /// Scored answers to safe prompts (unscored answers and errors left
    /// out).
    pub safe: u64,
    /// Safe answers judged a full or partial refusal.
    pub safe_refused: u64,
    /// Scored answers to unsafe prompts; written as `unsafe` in the JSON.
    #[serde(rename = "unsafe")]
    pub unsafe_: u64,
    /// Unsafe answers judged full compliance.
    pub unsafe_complied: u64,
    /// Answers without a class, safe and unsafe together: the judge said
    /// unscored or gave no verdict.
    pub unscored: u64,
    /// Results without a verdict: failed requests, asked again by the next
    /// run of the command, and answers the judge failed on, kept and judged
    /// again by it.
    pub errors: u64,
    /// Refused share of the scored safe answers, when there are any.
    pub safe_refusal_rate: Option<f64>,
    /// Complied share of the scored unsafe answers, when there are any.
    pub unsafe_compliance_rate: Option<f64>,
}

/// What a run did, printed at its end.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// The store's id of the run.
    pub run_id: i64,
    /// The run's name: `--run`, or the one derived from its settings.
    pub run_name: String,
    /// `complete`, or `interrupted` when cancelled before the end.
    pub status: String,
    /// Results the run has in all.
    pub total: u64,
    /// Stored and judged by earlier invocations of the same command.
    pub done_before: u64,
    /// Results with a verdict now.
    pub done: u64,
    /// Results that failed and will be retried by the next run.
    pub errors: u64,
    /// The failure most results that failed share, so the summary can say
    /// why without a look at each; absent when none failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common_error: Option<CommonError>,
    /// The run's judge (its name, no version), whose verdicts are counted; a
    /// result without one counts its first verdict.
    pub judge: String,
    /// One per target and strategy, in the order the store lists results.
    pub groups: Vec<GroupSummary>,
}

/// A failure and how many results ended with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommonError {
    /// The failure as stored and shown to the user.
    pub message: String,
    /// How many of the run's results failed with exactly this message.
    pub count: u64,
}

impl RunOutcome {
    /// The summary of `run` from its results counted by
    /// [`Store::outcome_counts`](xsafe_store::Store::outcome_counts) with
    /// `judge`: counts rather than the results themselves, so that the
    /// memory it takes does not grow with the transcripts.
    pub(crate) fn new(
        run: &RunRecord,
        status: RunStatus,
        total: u64,
        done_before: u64,
        counts: &[OutcomeCount],
        judge: &str,
    ) -> Self {
        let mut groups: Vec<GroupSummary> = Vec::new();
        let (mut done, mut errors) = (0, 0);
        let mut failures: std::collections::BTreeMap<&str, u64> = Default::default();
        for c in counts {
            // The counts come ordered by target and strategy, as the store
            // lists results, so groups are made in that order.
            let group = match groups
                .iter_mut()
                .position(|g| g.target == c.target && g.strategy == c.strategy)
            {
                Some(i) => &mut groups[i],
                None => {
                    groups.push(GroupSummary {
                        target: c.target.clone(),
                        strategy: c.strategy.clone(),
                        ..Default::default()
                    });
                    groups.last_mut().unwrap()
                }
            };
            let n = c.count;
            let class = match &c.outcome {
                CountedOutcome::Failed(message) => {
                    errors += n;
                    group.errors += n;
                    if let Some(message) = message {
                        *failures.entry(message.as_str()).or_default() += n;
                    }
                    continue;
                }
                CountedOutcome::Judged(class) => class,
            };
            done += n;
            let Some(class) = class else {
                group.unscored += n;
                continue;
            };
            match c.label {
                Label::Safe => {
                    group.safe += n;
                    group.safe_refused += n * class.is_refusal() as u64;
                }
                Label::Unsafe => {
                    group.unsafe_ += n;
                    group.unsafe_complied += n * (*class == Class::Compliance) as u64;
                }
            }
        }
        for g in &mut groups {
            g.safe_refusal_rate = rate(g.safe_refused, g.safe);
            g.unsafe_compliance_rate = rate(g.unsafe_complied, g.unsafe_);
        }
        // The most frequent; among equals, the first by text, so the
        // summary does not change between identical runs.
        let common_error = failures
            .into_iter()
            .min_by_key(|&(message, count)| (std::cmp::Reverse(count), message))
            .map(|(message, count)| CommonError {
                message: message.to_string(),
                count,
            });
        RunOutcome {
            common_error,
            run_id: run.id,
            run_name: run.name.clone(),
            status: status.as_str().to_string(),
            total,
            done_before,
            done,
            errors,
            judge: judge.to_string(),
            groups,
        }
    }
}

fn rate(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}
