use serde::{Deserialize, Serialize};
use std::fmt;
use xsafe_core::{Case, Class, FinishReason, Label, Message, Transcript, Verdict};

/// Identifies one result: a case of a suite, asked of a target under a
/// strategy, as the `sample`-th of its repetitions (0-based).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResultKey {
    /// The id of the run the result belongs to, as the store numbers runs.
    pub run_id: i64,
    /// The target's id, e.g. `openai:gpt-4o-mini`.
    pub target: String,
    /// The strategy's name, e.g. `baseline` or `contextual+few-shot`.
    pub strategy: String,
    /// The suite's name.
    pub suite: String,
    /// The case's id within its suite.
    pub case_id: String,
    /// Which repetition, from 0.
    pub sample: u32,
}

/// What the runner asks for when it starts or resumes a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The run's name (`--run`), unique in the store.
    pub name: String,
    /// A digest of everything that shapes the results. Reopening a name with
    /// another key is refused, so resuming never mixes settings.
    pub key: String,
    /// Suite fingerprints, target settings, strategy definitions, judge name
    /// and version, samples/limit/types: whatever reproduces the run.
    pub config: serde_json::Value,
    /// `(suite name, fingerprint)`, in the order given.
    pub suites: Vec<(String, String)>,
    /// The run's base seed: it draws the cases kept under a limit, and sample
    /// `n` of a case is asked with this seed plus `n` (unless its target has
    /// a seed of its own).
    pub seed: u64,
    /// The xsafe version that created the run.
    pub tool_version: String,
}

/// A stored run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The store's number for the run, which [`ResultKey::run_id`] refers to.
    pub id: i64,
    /// The run's name, unique in the store.
    pub name: String,
    /// The digest the run was created with; see [`RunSpec::key`].
    pub key: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Where the run stands, as of its last start or stop.
    pub status: RunStatus,
    /// Everything that reproduces the run, as given in [`RunSpec::config`].
    pub config: serde_json::Value,
    /// `(suite name, fingerprint)`, in the order given.
    pub suites: Vec<(String, String)>,
    /// The run's base seed; see [`RunSpec::seed`].
    pub seed: u64,
    /// The xsafe version that created the run (a later resume does not change it).
    pub tool_version: String,
}

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished, and a process holds it. A killed process
    /// cannot say it stopped: [`Store::run`](crate::Store::run) and
    /// [`Store::list_runs`](crate::Store::list_runs) read a run stored as
    /// running that no process holds as [`Interrupted`](RunStatus::Interrupted).
    Running,
    /// Stopped cleanly before the end (Ctrl-C); running the same command
    /// again resumes it.
    Interrupted,
    /// Every case was attempted to the end. Failed results may remain;
    /// running the same command again retries them.
    Complete,
}

impl RunStatus {
    /// The stored spelling: `running`, `interrupted` or `complete`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Complete => "complete",
        }
    }

    /// The inverse of [`as_str`](RunStatus::as_str).
    pub fn parse(s: &str) -> Option<RunStatus> {
        match s {
            "running" => Some(RunStatus::Running),
            "interrupted" => Some(RunStatus::Interrupted),
            "complete" => Some(RunStatus::Complete),
            _ => None,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A line of `xsafe runs list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The store's number for the run.
    pub id: i64,
    /// The run's name, unique in the store.
    pub name: String,
    /// When the run was created (RFC 3339, UTC).
    pub created_at: String,
    /// Where the run stands.
    pub status: RunStatus,
    /// Results done: answered and judged.
    pub results: u64,
    /// Results whose last attempt failed (not the whole error history):
    /// failed requests, and answers the judge failed on.
    pub errors: u64,
    /// Cases added to the run, over all its suites.
    pub cases: u64,
}

/// A run claimed by this process; see
/// [`Store::lock_run`](crate::Store::lock_run). Dropping it releases the
/// claim.
#[derive(Debug)]
pub struct RunLock {
    pub(crate) _file: Option<std::fs::File>,
}

/// What [`Store::delete_run`](crate::Store::delete_run) removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletedRun {
    /// Results, whether answered or failed.
    pub results: u64,
    /// Human labels of those results.
    pub annotations: u64,
}

/// What [`Store::compact`](crate::Store::compact) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compacted {
    /// Bytes the store took on disk before: the file and its write-ahead
    /// log.
    pub before: u64,
    /// Bytes it takes now.
    pub after: u64,
    /// The page size of the file before, in bytes.
    pub page_size_before: i64,
    /// The page size of the file now: [`PAGE_SIZE`](crate::PAGE_SIZE)
    /// when the store was compacted with no other process having it open,
    /// else as it was.
    pub page_size: i64,
    /// Another process was reading the store (another xsafe command, an
    /// SQL shell), so the compacted store is still partly in its
    /// write-ahead log: the file is cut down to `after`'s share of it when
    /// the last reader ends (SQLite does it then, or at the next write).
    pub readers: bool,
}

/// When a result was asked for and how long it took, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Unix time in milliseconds at which the first request was sent.
    pub started_ms: i64,
    /// Wall time for the whole transcript (every turn, retries included).
    pub latency_ms: u64,
}

/// A result as stored, with its case, for reports and exports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredResult {
    /// The result's number in the store, by which verdicts and annotations
    /// refer to it.
    pub id: i64,
    /// The run, target, strategy, case and sample the result answers.
    pub key: ResultKey,
    /// The case as copied into the run when it was added, whatever the suite
    /// file says now.
    pub case: Case,
    /// The conversation; `None` when no answer is stored because the
    /// request failed (see `error`). An answer the judge failed on is kept
    /// here, beside its `error`.
    pub transcript: Option<Transcript>,
    /// The run's judge first, then others in the order they were added.
    pub verdicts: Vec<Verdict>,
    /// The last failure, when the result is not done: the request failed
    /// (no `transcript`), or the judge failed on the answer (`transcript`
    /// kept, no verdict). Either way reports count the result as an error,
    /// and the next run of the command retries it.
    pub error: Option<StoredError>,
    /// `None` when the result has no transcript.
    pub timing: Option<Timing>,
}

impl StoredResult {
    /// The result as its outline and its transcript's messages (empty
    /// without a transcript): [`ResultOutline::with_messages`] puts them
    /// back together.
    pub fn split(self) -> (ResultOutline, Vec<Message>) {
        let (answer, messages) = match self.transcript {
            Some(t) => (
                Some(AnswerOutline {
                    turns: t.turns(),
                    finish_reason: t.finish_reason,
                    complied_at_turn: t.complied_at_turn,
                    opening: t.opening,
                }),
                t.messages,
            ),
            None => (None, Vec::new()),
        };
        let outline = ResultOutline {
            id: self.id,
            key: self.key,
            case: self.case,
            answer,
            verdicts: self.verdicts,
            error: self.error,
            timing: self.timing,
        };
        (outline, messages)
    }
}

impl From<StoredResult> for ResultOutline {
    /// The result without the messages of its transcript, as
    /// [`Store::outlines`](crate::Store::outlines) reads it.
    fn from(r: StoredResult) -> ResultOutline {
        r.split().0
    }
}

impl ResultOutline {
    /// The stored result of this outline and its transcript's `messages`
    /// (`Store::messages`): [`StoredResult::split`] undone. Without an
    /// answer there is no transcript, and `messages` is dropped.
    pub fn with_messages(self, messages: Vec<Message>) -> StoredResult {
        StoredResult {
            id: self.id,
            key: self.key,
            case: self.case,
            transcript: self.answer.map(|a| Transcript {
                messages,
                finish_reason: a.finish_reason,
                complied_at_turn: a.complied_at_turn,
                opening: a.opening,
            }),
            verdicts: self.verdicts,
            error: self.error,
            timing: self.timing,
        }
    }
}

/// A result as [`StoredResult`] holds it, but with only what its
/// transcript's messages add up to (how many turns the model took) in
/// place of the messages: what reports, summaries and statistics count,
/// in a few hundred bytes a result however long the conversations. Read
/// by [`Store::outlines`](crate::Store::outlines), or made from a stored
/// result (`ResultOutline::from`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResultOutline {
    /// [`StoredResult::id`].
    pub id: i64,
    /// [`StoredResult::key`].
    pub key: ResultKey,
    /// [`StoredResult::case`].
    pub case: Case,
    /// The transcript without its messages; `None` exactly when
    /// [`StoredResult::transcript`] is.
    pub answer: Option<AnswerOutline>,
    /// [`StoredResult::verdicts`].
    pub verdicts: Vec<Verdict>,
    /// [`StoredResult::error`].
    pub error: Option<StoredError>,
    /// [`StoredResult::timing`].
    pub timing: Option<Timing>,
}

/// A transcript without its messages; see [`ResultOutline`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnswerOutline {
    /// The model's turns, [`Transcript::turns`].
    pub turns: u32,
    /// [`Transcript::finish_reason`].
    pub finish_reason: Option<FinishReason>,
    /// [`Transcript::complied_at_turn`].
    pub complied_at_turn: Option<u32>,
    /// [`Transcript::opening`].
    pub opening: Option<u32>,
}

/// How many of a run's results share a target, strategy, suite, case label
/// and outcome: a row of [`Store::outcome_counts`](crate::Store::outcome_counts),
/// which counts a run's results without reading their transcripts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutcomeCount {
    /// The target's id, e.g. `openai:gpt-4o-mini`.
    pub target: String,
    /// The strategy's name, e.g. `baseline` or `contextual+few-shot`.
    pub strategy: String,
    /// The name of the suite the counted results' case belongs to.
    pub suite: String,
    /// Whether the counted results' case is safe or unsafe.
    pub label: Label,
    /// What the counted results ended with.
    pub outcome: CountedOutcome,
    /// How many results share all of the above; never 0.
    pub count: u64,
}

/// What a counted result ended with; see [`OutcomeCount`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CountedOutcome {
    /// Answered and not failed: the class of the verdict counted, `None`
    /// when that verdict is unscored or the result has none.
    Judged(Option<Class>),
    /// Failed, as [`StoredResult::error`] says or for want of a transcript:
    /// a failed request, or an answer the judge failed on. Holds the last
    /// failure's kind and message, `None` when none was recorded.
    Failed(Option<CountedFailure>),
}

/// The last failure of counted results, as stored: what a summary needs
/// to say why they failed and what to do about it, without the attempts
/// (which would split one failure into as many rows as counts of tries).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct CountedFailure {
    /// The kind stored with it ([`StoredError::kind`]): `template` (a
    /// strategy's template, which fails again on every try), `strategy`,
    /// `judge`, `timeout`... Results whose failures have one message but
    /// different kinds are counted apart, since what to do about them
    /// differs.
    pub kind: String,
    /// The failure as shown to the user.
    pub message: String,
}

/// The last failure of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredError {
    /// A short stable name, e.g. `rate_limited`, or `judge` when the judge
    /// failed on the answer.
    pub kind: String,
    /// The failure as shown to the user.
    pub message: String,
    /// How many tries the failed attempt made, retries included (1 when it
    /// was not retried).
    pub attempts: u32,
}

/// A human label of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annotation {
    /// The [`StoredResult::id`] of the labelled result.
    pub result_id: i64,
    /// Who gave the label (`--annotator`, by default `$USER`).
    pub annotator: String,
    /// The class the annotator chose; a human label is never unscored.
    pub class: Class,
    /// The annotator's remark on the answer; `None` when none was written.
    pub note: Option<String>,
    /// When this annotator last set the label (RFC 3339, UTC).
    pub created_at: String,
}

/// What a page last read of one annotator's label of an answer, which
/// [`Store::annotate_checked`](crate::Store::annotate_checked) compares with
/// the label stored when it writes a new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LabelSeen {
    /// Nothing was read: the new label is written whatever is stored, and
    /// a new label without a note keeps the stored note.
    Unknown,
    /// The annotator had not labelled the answer.
    Unlabelled,
    /// The annotator's label and note (`None`: no note), as stored.
    Labelled(Class, Option<String>),
}

/// What [`Store::annotate_checked`](crate::Store::annotate_checked) did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relabel {
    /// The label was written; the annotation as it is stored now.
    Written(Annotation),
    /// Nothing was written: the annotator's label or note of the answer is
    /// no longer what was seen. The annotation stored now, `None` when the
    /// answer has no label of the annotator's.
    Changed(Option<Annotation>),
}

/// The judge name of a verdict's `name@version` tag: what identifies "the
/// same judge" across versions. Splits at the last `@` so that a name which
/// itself contains `@` stays whole; a tag without `@` is all name.
pub fn judge_name(tag: &str) -> &str {
    tag.rsplit_once('@').map_or(tag, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_status_round_trips() {
        for s in [
            RunStatus::Running,
            RunStatus::Interrupted,
            RunStatus::Complete,
        ] {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(RunStatus::parse("done"), None);
    }

    #[test]
    fn judge_name_drops_the_version() {
        assert_eq!(judge_name("strmatch@1"), "strmatch");
        assert_eq!(judge_name("llm:openai:gpt-4o@2"), "llm:openai:gpt-4o");
        assert_eq!(judge_name("odd@name@3"), "odd@name");
        assert_eq!(judge_name("plain"), "plain");
    }
}
