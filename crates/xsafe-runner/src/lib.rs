//! The runner: executes suites x targets x strategies x samples, judges each
//! transcript and stores it, one transaction per result, so that a run killed
//! at any moment resumes where it stopped when the same command runs again.
//! An answer the judge failed on is stored unjudged, and the next run judges
//! it again without asking the model: nothing stored is asked twice. A
//! target, or the judge's model, that fails as every request would until
//! the user changes something (a key refused, a quota used up, a server
//! down) stops what it would fail: the target's conversations, or, for the
//! judge, the whole run ([`RunError::Refused`]). Nor is
//! what another run of the store asked the same way: a conversation not
//! stored yet copies such a run's done answer (see [`execute`]).

mod layout;
mod plan;
mod reuse;
mod stored;
mod summary;

use layout::{Layout, Marks};
use plan::Selection;
pub use plan::{RunPlan, what_is_sent};
pub use stored::{Changes, Moved, MovedAs, relocated_note};
pub use summary::{
    CommonError, Counts, Escalated, GroupSummary, RunOutcome, SuiteSummary, UnscoredReason,
};

use futures::{Stream, StreamExt};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use xsafe_core::{
    Blocker, Case, Judge, JudgeError, Message, Prompt, Strategy, StrategyError, Target,
    TargetError, Transcript, begins_with_system_prompt, transcript_with_system_prompt,
};
use xsafe_store::{
    ResultKey, RunRecord, RunSpec, RunStatus, Store, StoreError, StoredError, Timing,
};

/// Why a run could not go on. Failures of single cases are not errors of
/// the run: they are stored and retried by the next run of the command.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store failed or refused the run: a run of this name made with
    /// other settings, a run another process holds, or a SQLite error.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The plan cannot run as given: no suite, target or strategy, no
    /// samples, a suite given twice, a `--types` entry no case has, nothing
    /// left to run, or a strategy that would leak a case. Holds the message.
    #[error("{0}")]
    Plan(String),
    /// A worker task panicked or could not be joined: a bug, not a failure of
    /// a model or of the store.
    #[error("internal error: {0}")]
    Internal(String),
    /// Cancelled before the run was opened, while the strategies were
    /// checked against the suites (which can take seconds: an embedding
    /// strategy embeds every case): nothing was stored or asked. Once the
    /// run is open, a cancellation is no error: [`execute`] returns its
    /// outcome, `interrupted`.
    #[error("interrupted before the run started; nothing was stored")]
    Interrupted,
    /// A run of the plan's name is stored with another key, and what
    /// differs between its config and the plan's was found: resuming it
    /// would mix results of other settings. Refused before anything is
    /// stored or asked. When nothing identifiable differs, the store's
    /// [`StoreError::RunMismatch`] is returned instead.
    #[error("{}", stored::changed_message(run, changes, *named))]
    Changed {
        /// The stored run's name.
        run: String,
        /// What differs.
        changes: Changes,
        /// Whether the command named the run (`--run`); else the name was
        /// derived from its settings.
        named: bool,
    },
    /// The stored run the plan would resume (of its name and key, an older
    /// key's included) was asked at other base URLs than the plan's, for a
    /// target, a clarifier or an `llm:` judge's model, and got answers (or
    /// verdicts) there. The run key leaves the URLs out, so that a run
    /// resumes after its server moved; but another URL may serve another
    /// model (a proxy such as `xsafe serve` in front of it), whose answers
    /// must not be mixed with the stored ones, as answers are never copied
    /// between runs of other URLs. Refused before anything is stored or
    /// asked, unless the plan says the server moved
    /// ([`RunPlan::server_moved`]). A model the run never got an answer from
    /// is no move ([`Event::Relocated`]). A run recorded before the judge's
    /// URLs were is not checked for its judge. Its text gives `xsafe run`'s
    /// advice.
    #[error("{}", stored::moved_message(run, moved, *named))]
    ServerMoved {
        /// The stored run's name.
        run: String,
        /// Each target, clarifier or judge's model asked elsewhere, with its
        /// URLs then and now (a clarifier of several strategies once).
        moved: Vec<Moved>,
        /// Whether the command named the run (`--run`).
        named: bool,
    },
    /// A target, or an interactive strategy's clarifier, failed the run's
    /// requests as every request would fail until the user changes
    /// something (see [`execute`]; [`Cause`] says how): refused as
    /// unauthorised, with HTTP 401 (a key missing or wrong), or with HTTP
    /// 403 to [`FORBIDDEN_IN_A_ROW`] conversations in a row of a target
    /// that has no answer stored in the run, nor answered any in this
    /// invocation (a key without access to the model); blocked
    /// ([`TargetError::Blocked`]: its quota used up, a rate limit that
    /// resets later than xsafe waits, a model it does not have); or, with
    /// nothing answered so, not answering: [`UNANSWERED_IN_A_ROW`]
    /// conversations in a row whose requests could not connect or got no
    /// answer within the target's timeout, after their retries (a server
    /// that is down, hangs, or is at another address). The target was asked
    /// nothing more (under the clarifier's strategy only, when the
    /// clarifier failed so), and what failed so was not stored. The rest of
    /// the run went on to the end; the run is marked `interrupted`, and the
    /// same command resumes it once what each [`Refusal`] says to do is
    /// done.
    ///
    /// Or the `llm:` judge's model failed so, judging an answer or consulted
    /// by an interactive strategy between turns ([`JudgeRefusal`]): the
    /// judge is the run's, shared by every target, so no conversation of
    /// the run was started after it (those in flight finished; their
    /// answers are stored unjudged, and so is every answer it failed on),
    /// and the run is `interrupted`. The same command resumes it: it judges
    /// the answers stored unjudged without asking the targets again, then
    /// asks the rest.
    #[error("{}", refused_message(run, refusals, judge.as_deref(), *others))]
    Refused {
        /// The run's name.
        run: String,
        /// Each target (or target and strategy) stopped, in the order of
        /// their refusals; empty when only the judge was.
        refusals: Vec<Refusal>,
        /// The judge, when its model stopped the run (boxed: it is the
        /// larger part of an error most runs never make).
        judge: Option<Box<JudgeRefusal>>,
        /// Whether the run has conversations no refusal stopped (of other
        /// targets, or of the target's other strategies), which went on;
        /// never when the judge stopped, which stops them all.
        others: bool,
    },
}

/// How many HTTP 403s in a row stop a target that has no answer stored in
/// the run and has answered no conversation of the invocation before them
/// (see [`execute`]): one 403 may refuse a single prompt (a moderation or
/// guardrail block), but a target that has never answered and refuses this
/// many conversations in a row (in the order they come back) is taken to
/// refuse the key. An answer it gave proves the key works, and its 403s
/// are then the prompts' failures. An interactive strategy's clarifier is
/// counted so too, apart, per target and strategy: only an answer under
/// that strategy proves its key.
pub const FORBIDDEN_IN_A_ROW: u32 = 3;

/// How many conversations in a row that got no answer (their requests
/// could not connect, or got none within the target's timeout, after
/// every retry) stop a target that has no answer stored in the run and
/// has answered no conversation of the invocation before them (see
/// [`execute`]): one such failure may be the network's or a slow answer,
/// but a target that has never answered and fails this many in a row (in
/// the order they come back) is taken to be down, to hang, or to be at
/// another address, and every further request would wait out its retries
/// in vain (a run of 446 cases at a server that was not running took 11
/// minutes, six attempts each). Counted as [`FORBIDDEN_IN_A_ROW`] counts
/// 403s, and with them: a failure of the other kind, or any other
/// outcome, starts the count again, an answer ends it for the invocation,
/// and a clarifier is counted apart, per target and strategy.
pub const UNANSWERED_IN_A_ROW: u32 = 3;

/// A target that failed a run's requests as every request would fail
/// until the user changes something (see [`RunError::Refused`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The target's id.
    pub target: String,
    /// When the clarifier of the refused conversation's strategy refused
    /// (the target answered every request of the conversation it was
    /// sent): the strategy's name and the clarifier's id. Only the target's
    /// conversations under that strategy were stopped then; its other
    /// strategies went on. `None` when the target refused, which stopped
    /// all of its conversations.
    pub clarifier: Option<(String, String)>,
    /// What stopped it.
    pub cause: Cause,
    /// The error: the HTTP status and the server's message, with the
    /// target's hint on the key it sent (the last refusal's, for a 403),
    /// or the last failure to get an answer.
    pub message: String,
    /// The conversations it stopped (the target's, or only those under
    /// the strategy with a clarifier) that this invocation did not store:
    /// the refused ones and those not asked after them. Those an earlier
    /// refusal of the run stopped are counted there only.
    pub left: u64,
}

/// An `llm:` judge whose model failed a run's requests as every request
/// would fail until the user changes something (see
/// [`RunError::Refused`]): what stopped it, and what the run holds after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeRefusal {
    /// The judge, what stopped it, and what to do.
    pub stop: JudgeStop,
    /// The run's answers stored without a verdict of the judge when the
    /// run ended (those of the conversations in flight when it stopped,
    /// those it failed on, and any stored so before): the next run judges
    /// them without asking the targets again.
    pub unjudged: u64,
    /// The run's conversations with no answer stored when the run ended:
    /// not asked (none was started once the judge stopped), or failed.
    pub unasked: u64,
}

/// What stopped an `llm:` judge: its model failed a request as every
/// request would fail until the user changes something, as [`Cause`] says
/// for a target, and [`JudgeFailures`] counts. `xsafe run` stops the run
/// at it ([`RunError::Refused`]); `xsafe rejudge`, `xsafe judge FILE` and
/// `xsafe judge eval` stop judging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeStop {
    /// The judge, as `--judge` names it: `llm:openai:gpt-4o-mini` (the
    /// `llm:` judge of a cascade, which is the one that asks a model).
    pub judge: String,
    /// The base URLs of its model (without credentials); empty when they
    /// are not known (a local model, a plan that gives none).
    pub urls: Vec<String>,
    /// What stopped it.
    pub cause: Cause,
    /// The failure: the HTTP status and the server's message, with the
    /// model's hint on the key it sent, or the last failure to get an
    /// answer.
    pub message: String,
}

impl JudgeStop {
    /// Who stopped and why, with the failure: `the judge
    /// `llm:openai:j` (its model at http://host/v1) has used up its quota
    /// or credit: HTTP 429: ...`, in the words a stopped target's
    /// [`RunError::Refused`] says it in.
    pub fn said(&self) -> String {
        format!(
            "{} {}",
            self.who(),
            self.cause.said(&self.message, Whose::Judge)
        )
    }

    /// What to do about it before running the command again: `add to the
    /// quota or credit of the judge's account (its plan and billing
    /// details)`, `fix the judge's key (...)`.
    pub fn fix(&self) -> String {
        self.cause.fix(Whose::Judge)
    }

    /// `the judge `NAME``, with where its model is but when the cause
    /// says it (a model not answering at its URLs).
    fn who(&self) -> String {
        match (&self.cause, self.urls.as_slice()) {
            (Cause::Unanswered { .. }, _) | (_, []) => format!("the judge `{}`", self.judge),
            (_, urls) => format!(
                "the judge `{}` (its model at {})",
                self.judge,
                urls.join(", ")
            ),
        }
    }
}

/// Counts an `llm:` judge's outcomes, in the order they come back, as a
/// run counts a target's (see [`execute`]), and says when one stops the
/// judge ([`JudgeStop`]): its model blocked ([`TargetError::Blocked`]: a
/// quota used up, a rate limit that resets later than xsafe waits, a model
/// the server does not have) or refusing a request as unauthorised (HTTP
/// 401), at once; refusing with HTTP 403 [`FORBIDDEN_IN_A_ROW`] times in a
/// row, or not answering (could not connect, or no answer within its
/// timeout, after its retries) [`UNANSWERED_IN_A_ROW`] times in a row,
/// when the judge has given no verdict before. Any other outcome (a
/// verdict, `unscored` included, or another failure, such as an HTTP 500
/// after the retries) ends a row; a verdict ends the rows for good.
pub struct JudgeFailures {
    /// As [`JudgeStop::judge`] says it.
    judge: String,
    /// As [`JudgeStop::urls`].
    urls: Vec<String>,
    /// The failures in a row, and whether the judge gave a verdict.
    row: InARow,
}

impl JudgeFailures {
    /// The counts of `judge`, which asks the models `targets` (an `llm:`
    /// judge's model; [`RunPlan::judge_targets`]), named after the one
    /// when there is one (`llm:ID`, the part of a cascade that asks it),
    /// with its base URLs. `judged_before`: whether the judge gave a
    /// verdict before the answers counted (stored in the run it resumes):
    /// its key and server work, and no row stops it.
    pub fn new(judge: &dyn Judge, targets: &[Arc<dyn Target>], judged_before: bool) -> Self {
        let name = match targets {
            [target] => format!("llm:{}", target.id()),
            _ => judge.name().to_string(),
        };
        let mut urls: Vec<String> = Vec::new();
        for target in targets {
            for url in base_urls(&target.settings()) {
                if !urls.contains(&url) {
                    urls.push(url);
                }
            }
        }
        JudgeFailures {
            judge: name,
            urls,
            row: InARow {
                answered: judged_before,
                row: None,
                held: Vec::new(),
            },
        }
    }

    /// Counts the outcome of one request to the judge: one answer judged,
    /// or one reply an interactive strategy consulted it on. The
    /// [`JudgeStop`] when it stops the judge (each failure that does, once
    /// a row reaches its count: the caller stops at the first).
    pub fn count(&mut self, judged: &Result<xsafe_core::Verdict, JudgeError>) -> Option<JudgeStop> {
        let error = match judged {
            Ok(_) => {
                self.row.ended(true);
                return None;
            }
            Err(JudgeError::Target(error)) => error,
            Err(JudgeError::Other(_)) => {
                self.row.ended(false);
                return None;
            }
        };
        let Some(cause) = stop_of(error) else {
            self.row.ended(false);
            return None;
        };
        if let Some(row) = cause.row()
            && !self.row.failed(row).0
        {
            return None;
        }
        let cause = match cause {
            Cause::Unanswered { timeout, .. } => Cause::Unanswered {
                timeout,
                urls: self.urls.clone(),
            },
            other => other,
        };
        Some(JudgeStop {
            judge: self.judge.clone(),
            urls: self.urls.clone(),
            cause,
            message: error.to_string(),
        })
    }
}

/// What stopped a target, or a target under a strategy whose clarifier
/// failed (see [`Refusal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Refused as unauthorised: HTTP 401, or 403 for the
    /// [`FORBIDDEN_IN_A_ROW`]th refusal in a row with nothing answered.
    /// Holds the status.
    Unauthorised(u16),
    /// Blocked, as the server said ([`TargetError::Blocked`]: a quota used
    /// up, a rate limit that resets later than xsafe waits, a model it
    /// does not have).
    Blocked {
        /// The HTTP status of the answer that said so.
        status: u16,
        /// What blocks it.
        blocker: Blocker,
    },
    /// No answer: the [`UNANSWERED_IN_A_ROW`]th conversation in a row, with
    /// nothing answered, whose requests could not connect or got no answer
    /// within the timeout, after their retries.
    Unanswered {
        /// The timeout its last request waited out; `None` when it could
        /// not connect (or the connection dropped).
        timeout: Option<std::time::Duration>,
        /// The base URLs it was asked at, as its settings show them (without
        /// credentials); empty when it has none (not a server's model).
        urls: Vec<String>,
    },
}

impl Cause {
    /// The HTTP status of the answer that stopped it; `None` when no
    /// answer came ([`Cause::Unanswered`]).
    pub fn status(&self) -> Option<u16> {
        match self {
            Cause::Unauthorised(status) | Cause::Blocked { status, .. } => Some(*status),
            Cause::Unanswered { .. } => None,
        }
    }

    /// What blocks it, when the server said so ([`Cause::Blocked`]).
    pub fn blocker(&self) -> Option<&Blocker> {
        match self {
            Cause::Blocked { blocker, .. } => Some(blocker),
            _ => None,
        }
    }

    /// The kind of failure counted in a row before it stops its target
    /// (see [`Stops::after`]); `None` for one that stops it at once (a 401,
    /// a target blocked).
    fn row(&self) -> Option<Row> {
        match self {
            Cause::Unauthorised(403) => Some(Row::Forbidden),
            Cause::Unanswered { .. } => Some(Row::Unanswered),
            Cause::Unauthorised(_) | Cause::Blocked { .. } => None,
        }
    }

    /// What it is, to follow the name of the target (or clarifier, or
    /// judge: `whose`) it stopped, with `message`, the failure that stopped
    /// it: `refused the requests: HTTP 401: ...`, `could not be reached at
    /// URL (...)`.
    fn said(&self, message: &str, whose: Whose) -> String {
        match self {
            Cause::Blocked { blocker, .. } => format!("{}: {message}", blocker.said()),
            Cause::Unauthorised(403) => format!(
                "refused every request (HTTP 403) — a key without access to this model? The \
                 last refusal: {message}"
            ),
            Cause::Unauthorised(_) => format!("refused the requests: {message}"),
            Cause::Unanswered { timeout, urls } => {
                let (what, failed) = match timeout {
                    None => (
                        format!("could not be reached{}", at_urls(urls)),
                        "could not connect",
                    ),
                    Some(t) => (
                        format!("did not answer{} within {t:?}, its timeout", at_urls(urls)),
                        "got no answer",
                    ),
                };
                format!(
                    "{what}: {UNANSWERED_IN_A_ROW} {} in a row {failed}, after their retries, \
                     and it has answered none; the last failure: {message}",
                    whose.counted()
                )
            }
        }
    }

    /// Why it stopped, said shorter than [`Cause::said`] (without the
    /// failure), for the warning said when it does: `has used up its quota
    /// or credit`, `could not be reached at URL by 3 conversations in a
    /// row, having answered none`.
    fn why(&self, whose: Whose) -> String {
        let counted = whose.counted();
        match self {
            Cause::Blocked { blocker, .. } => blocker.said(),
            Cause::Unauthorised(_) => "refused a request as unauthorised".to_string(),
            Cause::Unanswered {
                timeout: None,
                urls,
            } => format!(
                "could not be reached{} by {UNANSWERED_IN_A_ROW} {counted} in a row, having \
                 answered none",
                at_urls(urls)
            ),
            Cause::Unanswered {
                timeout: Some(t),
                urls,
            } => format!(
                "did not answer{} within {t:?}, its timeout, {UNANSWERED_IN_A_ROW} {counted} in \
                 a row, having answered none",
                at_urls(urls)
            ),
        }
    }

    /// What to do about it, then run the same command again: about the
    /// flags of `whose` model (a target's, or an `llm:` judge's).
    fn fix(&self, whose: Whose) -> String {
        match self {
            Cause::Unauthorised(_) => format!("fix {}", whose.key()),
            Cause::Blocked {
                blocker: Blocker::Quota,
                ..
            } => format!("add to {} (its plan and billing details)", whose.quota()),
            Cause::Blocked {
                blocker: Blocker::RateLimit { until, .. },
                ..
            } => format!(
                "wait until {}, when the rate limit resets",
                xsafe_core::utc_clock(*until, Some(SystemTime::now()))
            ),
            Cause::Blocked {
                blocker: Blocker::ModelNotFound,
                ..
            } => format!("give {} access to the model", whose.key_alone()),
            Cause::Unanswered { timeout, urls } => {
                let server = whose.server();
                let server = match urls.as_slice() {
                    [] => server.to_string(),
                    [url] => format!("{server} at {url}"),
                    _ => format!("{server}s at {}", urls.join(", ")),
                };
                match timeout {
                    None => format!("check that {server} is up and that the base URL is right"),
                    Some(_) => format!(
                        "check that {server} is up and answering, and that the base URL is \
                         right (a model slow to answer needs a longer {}, or `timeout_secs` in \
                         a targets file)",
                        whose.timeout()
                    ),
                }
            }
        }
    }
}

/// Whose model a [`Cause`] stopped, for the words that say it: a target
/// (or an interactive strategy's clarifier), set up with `--api-key-env`,
/// `--header`, `--timeout`, or an `llm:` judge's model, with the
/// `--judge-*` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whose {
    Target,
    Judge,
}

impl Whose {
    /// What is counted in a row of failures to answer: a target's
    /// conversations, a judge's requests (one per answer judged).
    fn counted(self) -> &'static str {
        match self {
            Whose::Target => "conversations",
            Whose::Judge => "requests",
        }
    }

    /// The credentials to fix.
    fn key(self) -> &'static str {
        match self {
            Whose::Target => "the key (or the credentials given with --header)",
            Whose::Judge => "the judge's key (or the credentials given with --judge-header)",
        }
    }

    /// The key, as what has access to a model.
    fn key_alone(self) -> &'static str {
        match self {
            Whose::Target => "the key",
            Whose::Judge => "the judge's key",
        }
    }

    /// The quota to add to.
    fn quota(self) -> &'static str {
        match self {
            Whose::Target => "the account's quota or credit",
            Whose::Judge => "the quota or credit of the judge's account",
        }
    }

    /// The server, before its URL.
    fn server(self) -> &'static str {
        match self {
            Whose::Target => "the server",
            Whose::Judge => "the judge's server",
        }
    }

    /// The flag of the timeout.
    fn timeout(self) -> &'static str {
        match self {
            Whose::Target => "--timeout",
            Whose::Judge => "--judge-timeout",
        }
    }
}

/// ` at URL` (` at URL, URL` for several), or nothing for no URL.
fn at_urls(urls: &[String]) -> String {
    match urls {
        [] => String::new(),
        _ => format!(" at {}", urls.join(", ")),
    }
}

/// The text of [`RunError::Refused`]: each refusal, then what to do, once
/// for each thing to do (fix the key, add quota, wait until a rate limit
/// resets, check the model's name, check that a server is up), and to run
/// the same command again.
///
/// The judge's refusal, if any, comes first: it stopped the whole run.
fn refused_message(
    run: &str,
    refusals: &[Refusal],
    judge: Option<&JudgeRefusal>,
    others: bool,
) -> String {
    let judged = judge.map(|j| {
        let unjudged = match j.unjudged {
            1 => "1 answer stored unjudged".to_string(),
            n => format!("{n} answers stored unjudged"),
        };
        let unasked = match j.unasked {
            1 => "1 conversation".to_string(),
            n => format!("{n} conversations"),
        };
        format!(
            "{}; no conversation was started after it: the run has {unjudged}, which the next \
             run judges without asking the targets again, and {unasked} left to ask",
            j.stop.said()
        )
    });
    let each: Vec<String> = judged
        .into_iter()
        .chain(refusals.iter().map(|r| {
            let who = match &r.clarifier {
                None => format!("target `{}`", r.target),
                Some((strategy, clarifier)) => {
                    format!("the clarifier `{clarifier}` of strategy `{strategy}`")
                }
            };
            let left = match (r.left, &r.clarifier) {
                (1, None) => "its 1 conversation left was".to_string(),
                (n, None) => format!("its {n} conversations left were"),
                (1, Some((strategy, _))) => format!(
                    "the 1 conversation of target `{}` left under strategy `{strategy}` was",
                    r.target
                ),
                (n, Some((strategy, _))) => format!(
                    "the {n} conversations of target `{}` left under strategy `{strategy}` were",
                    r.target
                ),
            };
            format!(
                "{who} {}; {left} not stored, and no more of them asked",
                r.cause.said(&r.message, Whose::Target)
            )
        }))
        .collect();
    let others = match others {
        false => "",
        true if refusals.iter().all(|r| r.clarifier.is_none()) => {
            " (the other targets went on; their answers are stored)"
        }
        true => " (the rest of the run went on; its answers are stored)",
    };
    let mut fixes: Vec<String> = judge.map(|j| j.stop.fix()).into_iter().collect();
    for r in refusals {
        let fix = r.cause.fix(Whose::Target);
        if !fixes.contains(&fix) {
            fixes.push(fix);
        }
    }
    // A corrected name is no fix of this run: another target is another run.
    let renamed = match refusals
        .iter()
        .any(|r| r.cause.blocker() == Some(&Blocker::ModelNotFound))
    {
        true => {
            "; if a model's name is wrong, run the command with the right one instead: another \
             target, and so another run, which copies the answers of the others (give it \
             another --run name if the command names one)"
        }
        false => "",
    };
    // Nor of the judge's: another judge is another run too.
    let judge_renamed =
        match judge.is_some_and(|j| j.stop.cause.blocker() == Some(&Blocker::ModelNotFound)) {
            true => {
                "; if the judge's model's name is wrong, run the command with the right one \
             instead: another judge, and so another run (give it another --run name if the \
             command names one), which copies this run's judged answers but asks the targets \
             again for those stored unjudged"
            }
            false => "",
        };
    format!(
        "{}. Run `{run}` is interrupted{others}: {}, then run the same command again to resume \
         it{renamed}{judge_renamed}",
        each.join("; "),
        fixes.join(", and ")
    )
}

/// What the runner reports while it works, for progress bars and logs.
#[derive(Debug, Clone)]
pub enum Event {
    /// The stored run the plan resumes was recorded at other base URLs than
    /// the plan's for models it never got an answer from there: a target
    /// with no answer stored (failed requests only, or nothing), a
    /// clarifier with no answer stored under its strategy, an `llm:` judge
    /// with no verdict stored nor an answer under a strategy that consults
    /// it. That is no move (nothing of theirs would be mixed): the run goes
    /// on at the plan's URLs, and its config records them from now on (its
    /// key is unchanged), so that the same command resumes it and runs at
    /// those URLs copy its answers. Sent once, before [`Event::Started`];
    /// [`relocated_note`] says it.
    Relocated {
        /// The run's name.
        run_name: String,
        /// Each model so relocated, with its URLs as recorded before and
        /// as recorded now.
        relocated: Vec<Moved>,
    },
    /// The run is open: `total` results in all, `done` of them stored before.
    Started {
        /// The store's id of the run.
        run_id: i64,
        /// The run's name: `--run`, or the one derived from its settings.
        run_name: String,
        /// Results the run has in all: cases x targets x strategies x samples.
        total: u64,
        /// Of them, stored and judged by earlier invocations: neither asked
        /// nor judged again. Answers the judge failed on are not among
        /// them: they are judged again (not asked).
        done: u64,
    },
    /// Answers of other runs of the store were copied into this run instead
    /// of asking the model (see [`execute`]). Sent once when this
    /// invocation stored at least one copy, however the run ends: after the
    /// last result was stored, when it is cancelled, and when it stops with
    /// an error (before [`execute`] returns the error), each time once the
    /// writes under way are over.
    Reused {
        /// How many answers were copied and stored, in all (a copy whose
        /// write landed after a cancellation included).
        answers: u64,
        /// The runs they were copied from, by name, each with how many of
        /// them, newest run first.
        from: Vec<(String, u64)>,
    },
    /// One result was stored: its verdict label, or the error kind.
    Stored {
        /// Which conversation: target, strategy, suite, case and sample.
        key: ResultKey,
        /// The verdict's label (`compliance`, `full_refusal`,
        /// `partial_refusal` or `unscored`), or `error:<kind>` when the
        /// conversation or its judging failed.
        outcome: String,
        /// Whether it is a copy of another run's answer (see [`execute`]),
        /// stored without asking the model (judged by this run's judge when
        /// it had no verdict of it): a progress bar counts it into its
        /// position but not into its rate, which copies, stored at the
        /// store's speed, would make the model's seem far faster than it
        /// is. False for an answer the model gave, a stored answer judged
        /// again, and a failure.
        copied: bool,
    },
}

/// How many jobs may be between their start and the storing of their
/// result, per request the targets may have in flight.
const UNSTORED_PER_REQUEST: usize = 2;

/// One unit of work: a conversation of the run's [`Layout`], made when its
/// target's queue comes to it (see [`Queue`]).
struct Job {
    /// The conversation's number in the layout: its target, strategy,
    /// case, sample and key.
    at: usize,
    /// The answer an earlier invocation stored when its judge failed: it
    /// is judged again rather than asked again.
    answer: Option<StoredAnswer>,
    /// The done result of another run this conversation copies instead of
    /// asking the model.
    reuse: Option<Copying>,
}

/// What a job copies: another run's done result, and the count of the
/// copies stored of that run ([`Event::Reused`]), which the write that
/// stores the copy adds it to.
struct Copying {
    from: reuse::Reuse,
    stored: Arc<AtomicU64>,
}

/// An answer stored without a verdict.
struct StoredAnswer {
    result_id: i64,
    transcript: Transcript,
    timing: Timing,
}

/// Runs the plan, storing every result, until it is done or `cancel` fires.
///
/// With [`RunPlan::reuse`], a conversation the run has not stored (nor
/// stored an answer of) copies the done result of another run of the store
/// that asked the same question in the same way, instead of asking the
/// model: the same case (suite, id, prompt, label, type and focus; `xsafe
/// tune`'s parts of a suite count as the suite) as the same sample, of a
/// target whose settings and under a strategy whose definition are the
/// same as the run key reads them (whatever the strategy is named there),
/// in a run of the same seed and, for a strategy that consults the judge
/// between turns, of the same judge (name and version, and for an `llm:`
/// judge the base URLs its model was recorded at), asked by an xsafe
/// that sends the same for those settings as this one does (the version of
/// how xsafe asks, which a run's config records: a run an older xsafe
/// recorded without one is never copied from; what a resumed run lacks is
/// asked as this xsafe asks, whatever its config records). Runs are tried
/// newest first. The transcript and its timing are copied; so is the
/// verdict of this run's judge (name and version) when the result has one
/// and the judge asks no model or the other run recorded its model at the
/// same base URLs ([`RunPlan::judge_targets`]), else this run's judge
/// judges the copy, and a failure there keeps it
/// unjudged as for an answer of the model's. Results stored as failures
/// are not copied, answers the judge failed on among them. The other run
/// is only read (it may be running in another process: its done results
/// count), and the copy is the run's own: deleting the other run changes
/// nothing in it. [`Event::Reused`] says how many were copied, and from
/// which runs; each [`Event::Stored`], whether it stored a copy.
///
/// A conversation is stored and judged as the target was sent it: with
/// the target's own system prompt (the `system_prompt` of its settings)
/// merged into its messages as the targets merge it
/// ([`xsafe_core::transcript_with_system_prompt`]), once at its start,
/// and an interactive strategy's judge sees its conversation so between
/// turns too. An earlier xsafe stored conversations without it (what it
/// sent was the same): a copy of such an answer is stored with it, and
/// judged by this run's judge rather than keeping the verdict given
/// without it; an answer of this run stored unjudged is judged as it is
/// stored, without it. Stored data is never rewritten.
///
/// The targets are asked at once, each with up to its own
/// [`Target::max_concurrency`]
/// requests in flight: one whose requests are slow, or whose limit is
/// reached, holds up none of the others. A target's
/// conversations start in plan order (by strategy, suite, case and sample),
/// after its copies of other runs, but for those whose request failed in
/// an earlier invocation: they start last, in plan order too, so that
/// prompts a guardrail blocks, asked again first, do not stop the target
/// (see below) before it reaches those it has never been asked.
///
/// A target that fails a request as it would every request until the user
/// changes something is asked nothing more (no conversation of it starts
/// once it is stopped; its requests in flight finish, but for a target
/// stopped for getting no answer, whose conversations in flight are
/// dropped at once and not stored; and the first to stop it says so once,
/// as a warning), and what failed so is not stored: the rest of the run
/// goes on, then the run is marked `interrupted` and [`RunError::Refused`]
/// returned, which says what to do, so that the same command resumes it
/// once that is done. Such a failure
/// is a target blocked ([`TargetError::Blocked`]: its quota or credit used
/// up, a rate limit whose `Retry-After` is longer than the target waits
/// for a request, a model the server does not have), or a refusal as
/// unauthorised: an HTTP 401 (a key missing or wrong), or an HTTP 403 (a
/// key without access to the model) that is the [`FORBIDDEN_IN_A_ROW`]th
/// in a row from a target that has no answer stored in the run (under any
/// strategy, judged or not) and has answered no conversation of this
/// invocation; or no answer at all from such a target: a conversation
/// whose request could not connect or got no answer within the target's
/// timeout, after its retries, that is the [`UNANSWERED_IN_A_ROW`]th in a
/// row (a server that is down, hangs, or is at another address). Both
/// rows are counted per target in the order its conversations come back,
/// a failure of the other kind or any other outcome starting the count
/// again, and an answer ending it for the rest of the invocation. Any
/// other 403 (a moderation or guardrail block of one prompt, say) is
/// stored as the failed request it is, which the next run asks again, and
/// the run goes on; so are the 403s of a row before the one that stops
/// the target. The conversations of a row of failures to answer are not
/// stored while the row may still stop the target: stopped, none of them
/// is; ended otherwise (an answer, another failure) or by the end of the
/// run, each is stored as the failure it is. A target that has answered
/// stores its failures to answer, as any failure, and goes on. When the
/// failure is of an interactive strategy's clarifier (the target answered
/// every request the conversation sent it), only the target's
/// conversations under that strategy are stopped; the clarifier's rows
/// are counted apart from the target's, per target and strategy, and only
/// an answer under that strategy (stored in the run, or of this
/// invocation) keeps them from stopping it.
///
/// The judge is shared by every target, and an `llm:` judge's model that
/// fails as every request would fail until the user changes something
/// stops the whole run, counted as a target's failures are
/// ([`JudgeFailures`]: blocked or refused with an HTTP 401 at once; 403s,
/// or requests that got no answer, [`FORBIDDEN_IN_A_ROW`] or
/// [`UNANSWERED_IN_A_ROW`] in a row, with no verdict of it stored in the
/// run nor given in this invocation), whether it judged an answer or an
/// interactive strategy consulted it between turns. The first such failure
/// says so once, as a warning naming the judge, its model's URL and what to
/// do; then no conversation starts (a copy of another run's answer with
/// this run's verdict still does), nothing more is sent to the judge, its
/// requests in flight are dropped (they would fail the same way), and the
/// conversations in flight finish: their answers are stored unjudged, as
/// is every answer it failed on, for the next run to judge without asking
/// the targets again; a conversation whose strategy consulted the judge and
/// failed so is not stored, and the next run asks it again. The run is
/// marked `interrupted`, and [`RunError::Refused`] says what stopped the
/// judge, what the run holds, and what to do. Any other failure of the
/// judge (an HTTP 500 after its retries, say) keeps the answer unjudged
/// and the run goes on; an output it cannot read is an `unscored` verdict.
///
/// A stored run of the plan's name is refused, before anything is stored
/// or asked, when its key is another ([`RunError::Changed`]) or when it
/// was asked at other base URLs, and got answers there, and the plan does
/// not say the server moved ([`RunError::ServerMoved`]). A model it got no
/// answer from at its recorded URLs is resumed at the plan's, which its
/// config records from then on ([`Event::Relocated`]).
///
/// Cancelled once the run is open, it returns the run's outcome, marked
/// `interrupted` unless every result was stored; cancelled before (while
/// the strategies are checked against the suites), it returns
/// [`RunError::Interrupted`], having stored nothing.
pub async fn execute(
    store: Arc<Store>,
    plan: &RunPlan,
    cancel: CancellationToken,
    on_event: impl Fn(Event) + Send + Sync + 'static,
) -> Result<RunOutcome, RunError> {
    let selection = plan.selection()?;
    check_strategies(plan, &cancel).await?;
    let spec = resolve_spec(&store, plan).await?;
    // Refused before the store is written (opening a stored run writes).
    stored_run(&store, plan, &spec).await?;
    let open = spec.clone();
    let run = match blocking(&store, move |s| s.open_run(&open)).await {
        // Stored meanwhile by another process with other settings: what
        // differs is said as above.
        Err(mismatch @ RunError::Store(StoreError::RunMismatch { .. })) => {
            stored_run(&store, plan, &spec).await?;
            return Err(mismatch);
        }
        opened => opened?,
    };
    // Held to the end: another process running the same command meanwhile
    // is refused rather than asking the model for the same cases.
    let _claim = store.lock_run(&run)?;
    // Checked again, now that no other process writes the run: it may have
    // been stored meanwhile by another process at other base URLs, or got
    // answers there since the check above.
    let relocated = check_stored(&store, plan, &spec, &run).await?;
    let run = relocate(&store, plan, &spec, run, relocated, &on_event).await?;
    let (run_id, run_name) = (run.id, run.name.clone());
    let outcome = match execute_claimed(&store, plan, selection, run, cancel, on_event).await {
        Err(error) if lost_the_run(&error) && !run_exists(&store, run_id).await => {
            Err(StoreError::RunDeleted(run_name).into())
        }
        other => other,
    };
    if let Err(error) = &outcome
        && may_write_after(error)
    {
        // The run stopped: it must not stay `running` with no process
        // running it. The error that stopped it is the one to report, so a
        // failure here is only logged.
        let marked = blocking(&store, move |s| s.mark_stopped(run_id)).await;
        if let Err(e) = marked {
            tracing::warn!(error = %e, "could not mark the stopped run interrupted");
        }
    }
    outcome
}

/// Whether `error` is what writing to a run that is gone fails with: the
/// run, one of its cases or one of its results not found.
fn lost_the_run(error: &RunError) -> bool {
    matches!(
        error,
        RunError::Store(
            StoreError::RunNotFound(_)
                | StoreError::CaseNotFound { .. }
                | StoreError::ResultNotFound(_)
        )
    )
}

/// Whether run `run_id` is still stored; when the store cannot say, it is
/// taken to be, so that the error that stopped the run is the one reported.
async fn run_exists(store: &Arc<Store>, run_id: i64) -> bool {
    let found = blocking(store, move |s| s.run_by_id(run_id)).await;
    !matches!(found, Err(RunError::Store(StoreError::RunNotFound(_))))
}

/// Whether the store may still be written after `error` stopped a run: not
/// when it is damaged (xsafe must not change it further), read-only, or
/// failing to read or write at all.
fn may_write_after(error: &RunError) -> bool {
    !matches!(
        error,
        RunError::Store(
            StoreError::Corrupt { .. }
                | StoreError::ReadOnly { .. }
                | StoreError::ReadOnlySideFile { .. }
                | StoreError::Io { .. }
        )
    )
}

/// [`execute`] once the run is open and claimed by this process.
async fn execute_claimed(
    store: &Arc<Store>,
    plan: &RunPlan,
    selection: Selection,
    run: xsafe_store::RunRecord,
    cancel: CancellationToken,
    on_event: impl Fn(Event) + Send + Sync + 'static,
) -> Result<RunOutcome, RunError> {
    let store = store.clone();
    let layout = Arc::new(Layout::new(plan, selection, run.id, &run.config));
    // Each target's own system prompt, which its conversations are stored
    // with (`system_prompt_of`), read once.
    let system_prompts: Arc<Vec<Option<String>>> = Arc::new(
        layout
            .targets
            .iter()
            .map(|t| system_prompt_of(&**t))
            .collect(),
    );
    for suite in 0..layout.selection.suites.len() {
        let layout = layout.clone();
        blocking(&store, move |s| {
            let (name, cases) = &layout.selection.suites[suite];
            s.add_cases(run.id, name, cases)
        })
        .await?;
    }
    // A bit per conversation; the keys read are dropped once marked.
    let done_keys = blocking(&store, move |s| s.done_keys(run.id)).await?;
    let done = Arc::new(layout.marks(&done_keys));
    drop(done_keys);
    // Each answer stored unjudged, by the conversation that judges it (the
    // first of the plan's with its key), per target.
    let mut answers: Vec<HashMap<usize, StoredAnswer>> =
        (0..layout.targets.len()).map(|_| HashMap::new()).collect();
    let unjudged = blocking(&store, move |s| s.unjudged(run.id)).await?;
    {
        let keys = layout.keys();
        for r in unjudged {
            let (Some(transcript), Some(n)) = (r.transcript, keys.first(&r.key)) else {
                continue;
            };
            let answer = StoredAnswer {
                result_id: r.id,
                transcript,
                timing: r.timing.unwrap_or_default(),
            };
            answers[layout.target_of(n)].insert(n, answer);
        }
    }
    // The conversations whose request failed in an earlier invocation (a
    // failed result with no answer stored): each target asks them after
    // those never asked (see [`Queue`]).
    let failed_keys = blocking(&store, move |s| s.failed_keys(run.id)).await?;
    let mut failed = layout.marks(&failed_keys);
    drop(failed_keys);
    for n in answers.iter().flat_map(HashMap::keys) {
        failed.clear(*n);
    }
    let failed = Arc::new(failed);
    // Whether each target has an answer stored in the run (judged or not):
    // its key works, and a 403 it gives is the prompt's failure (see
    // [`Stops`]).
    // And per target and strategy (by group), for the strategy's clarifier:
    // a conversation stored under the strategy got past it.
    let mut answered_in: Vec<bool> = (0..layout.groups())
        .map(|g| done.count_in(layout.group_range(g)) > 0)
        .collect();
    for n in answers.iter().flat_map(HashMap::keys) {
        answered_in[layout.group_of(*n)] = true;
    }
    let per = layout.strategies.len();
    let answered_before: Vec<(bool, Vec<bool>)> = (0..layout.targets.len())
        .map(|t| {
            let groups = answered_in[t * per..(t + 1) * per].to_vec();
            (groups.contains(&true), groups)
        })
        .collect();
    let total = layout.total() as u64;
    let done_before = done.count() as u64;
    let to_run = (total - done_before) as usize;
    // Each group's jobs to run (all of its conversations not done), for
    // what a target that refuses the run's requests leaves (see
    // [`Refusal::left`]), and each target's.
    let mut left: Vec<u64> = (0..layout.groups())
        .map(|g| {
            let range = layout.group_range(g);
            (range.len() - done.count_in(range)) as u64
        })
        .collect();
    let to_run_of: Vec<u64> = (0..layout.targets.len())
        .map(|t| {
            let per = layout.strategies.len();
            left[t * per..(t + 1) * per].iter().sum()
        })
        .collect();
    // The runs copied from, newest first, each with the count of its copies
    // stored; each target's copies, in plan order.
    let mut sources: Vec<(String, Arc<AtomicU64>)> = Vec::new();
    let mut copies: Vec<Vec<(usize, Copying)>> =
        (0..layout.targets.len()).map(|_| Vec::new()).collect();
    if plan.reuse {
        // The jobs with no stored answer to judge.
        let mut wanted = done.complement();
        for n in answers.iter().flat_map(HashMap::keys) {
            wanted.clear(*n);
        }
        let found = find_reuse(&store, plan, &layout, Some(run.id), wanted).await?;
        sources = found
            .sources
            .into_iter()
            .map(|name| (name, Arc::default()))
            .collect();
        for (n, reuse) in found.reuses {
            let stored = sources[reuse.source].1.clone();
            copies[layout.target_of(n)].push((
                n,
                Copying {
                    from: reuse,
                    stored,
                },
            ));
        }
        for copies in &mut copies {
            copies.sort_unstable_by_key(|(n, _)| *n);
        }
    }
    // A run with nothing left to do is not marked running even for a
    // moment: killed meanwhile, it would stay so although it is complete.
    if to_run > 0 {
        blocking(&store, move |s| {
            s.set_run_status(run.id, RunStatus::Running)
        })
        .await?;
    }
    let on_event = Arc::new(on_event);
    on_event(Event::Started {
        run_id: run.id,
        run_name: run.name.clone(),
        total,
        done: done_before,
    });

    // Places for the jobs between their start and the storing of their
    // result: a fast model answers quicker than SQLite stores, and without
    // this bound the answers received but not stored piled up without limit
    // (memory, blocking threads, and a Ctrl-C that waited for them all).
    // Twice the requests the targets may have in flight: the models stay
    // busy while as many answers are judged and stored; and the answers a
    // judge that waits on its own model may judge at once, so that a slow
    // `llm:` judge is not held to the targets' pace.
    let places: usize = plan
        .targets
        .iter()
        .map(|t| t.max_concurrency().max(1))
        .sum();
    let places = places
        .saturating_mul(UNSTORED_PER_REQUEST)
        .saturating_add(plan.judge.max_concurrency());
    let places = u32::try_from(places)
        .unwrap_or(u32::MAX)
        .min(Semaphore::MAX_PERMITS as u32);
    let unstored = Arc::new(Semaphore::new(places as usize));

    // Each target is dispatched on its own, so that every target is asked
    // at once, each up to its own limit: one queue per target of its jobs
    // (its copies first, in plan order, then its other jobs by strategy,
    // suite, case and sample, those whose request failed before last; see
    // [`Queue`]), each behind a semaphore of the target's own
    // limit. One loop over all the jobs in plan order waited for the
    // permit of the target whose permits were all taken, and the next
    // target's jobs waited behind it although that target was idle. A
    // queue is of the target object its jobs ask (its index in the plan),
    // not of an id: a job's key may name the target by the id the run
    // first knew it by. The targets with copies come first, then the
    // others with jobs, each in plan order, as they came when every job
    // of the run was sorted copies first.
    let order: Vec<usize> = (0..layout.targets.len())
        .filter(|&t| !copies[t].is_empty())
        .chain((0..layout.targets.len()).filter(|&t| copies[t].is_empty() && to_run_of[t] > 0))
        .collect();
    let mut queues = Vec::with_capacity(order.len());
    let mut answers: Vec<Option<HashMap<usize, StoredAnswer>>> =
        answers.into_iter().map(Some).collect();
    let mut copies: Vec<Option<Vec<(usize, Copying)>>> = copies.into_iter().map(Some).collect();
    for t in order {
        let queue = Queue::new(
            &layout,
            done.clone(),
            failed.clone(),
            t,
            copies[t].take().unwrap_or_default(),
            answers[t].take().unwrap_or_default(),
        );
        queues.push((layout.targets[t].clone(), answered_before[t].clone(), queue));
    }
    // The queues merged: the next job of whichever target has it ready
    // (its place and its permit taken, see [`dispatch`]). Each queue waits
    // for its own target's permit, holding at most one place meanwhile.
    // A target that fails a request as every request would fail stops
    // its queue, or the part of it under the strategy whose clarifier
    // failed (see [`Stops`]). Each target's stops are kept for the
    // failures they hold when the loop ends.
    let mut all_stops: Vec<Arc<Stops>> = Vec::with_capacity(queues.len());
    // The judge, shared by every target: once its model fails as every
    // request would, no conversation starts (see [`JudgeWatch`]). An
    // answer judged in the run before proves its key and server.
    let judge_watch = Arc::new(JudgeWatch::new(JudgeFailures::new(
        &*plan.judge,
        &plan.judge_targets,
        done_before > 0,
    )));
    let mut ready =
        futures::stream::select_all(queues.into_iter().map(|(target, answered, jobs)| {
            let limit = Arc::new(Semaphore::new(target.max_concurrency().max(1)));
            let (answered, clarifiers) = answered;
            let stops = Arc::new(Stops::new(answered, clarifiers));
            all_stops.push(stops.clone());
            Box::pin(dispatch(
                jobs,
                layout.clone(),
                limit,
                unstored.clone(),
                stops,
                judge_watch.clone(),
            ))
        }));
    let mut tasks = JoinSet::new();
    let mut dispatching = true;
    let mut interrupted = false;
    // Each refusal, with its target's index and, for a refusal under a
    // strategy with a clarifier, the strategy's: what it stopped.
    let mut refusals: Vec<(usize, Option<usize>, Refusal)> = Vec::new();
    // Jobs whose result is stored; an interrupted run with all of them
    // stored lost nothing and is complete.
    let mut finished = 0usize;
    // One loop starts the jobs as they are ready, collects the results as
    // they come (a store failure ends the run at once, with that error,
    // whichever target's job it was) and watches for Ctrl-C, until every
    // job is started and every task joined. Biased: a Ctrl-C is seen
    // before another job starts, and results are collected before more
    // start. An error leaves the loop, not the function: the copies stored
    // until then are still said below.
    let looped: Result<(), RunError> = async {
        while dispatching || !tasks.is_empty() {
            tokio::select! {
                biased;
                _ = cancel.cancelled(), if !interrupted => {
                    // Nothing more starts, and the requests in flight are
                    // dropped rather than waited for (up to timeout x retries
                    // each): they were not stored, so the next run asks for
                    // them again.
                    interrupted = true;
                    dispatching = false;
                    tasks.abort_all();
                }
                joined = tasks.join_next(), if !tasks.is_empty() => match joined {
                    None => {}
                    Some(Ok(result)) => {
                        let (at, ran): (usize, Ran) = result?;
                        match ran {
                            Ran::Stored { released, .. } => {
                                for n in std::iter::once(at).chain(released.iter().map(|r| r.0)) {
                                    finished += 1;
                                    left[layout.group_of(n)] -= 1;
                                }
                            }
                            Ran::Skipped | Ran::Held => {}
                            Ran::Refused { cause, message, clarifier } => {
                                let (target, strategy) = layout.group_parts(layout.group_of(at));
                                let only = clarifier.as_ref().map(|_| strategy);
                                // Said once per stop: a target's, or its
                                // strategy's unless the target stopped.
                                let said = refusals.iter().any(|(t, s, _)| {
                                    *t == target && (s.is_none() || *s == only)
                                });
                                if !said {
                                    refusals.push((target, only, Refusal {
                                        target: layout.target_ids[target].clone(),
                                        clarifier,
                                        cause,
                                        message,
                                        left: 0,
                                    }));
                                }
                            }
                        }
                    }
                    Some(Err(e)) if e.is_cancelled() => {}
                    Some(Err(e)) => return Err(RunError::Internal(e.to_string())),
                },
                next = ready.next(), if dispatching => {
                    let Some(Ready { job, place, permit, limit, stops }) = next else {
                        dispatching = false;
                        continue;
                    };
                    let place = Arc::new(place);
                    let store = store.clone();
                    let judge = plan.judge.clone();
                    let on_event = on_event.clone();
                    let layout = layout.clone();
                    let system_prompts = system_prompts.clone();
                    let judge_watch = judge_watch.clone();
                    let seed = plan.seed.wrapping_add(layout.conversation(job.at).sample as u64);
                    tasks.spawn(async move {
                        let system = system_prompts[layout.conversation(job.at).target].as_deref();
                        let judge = WatchedJudge {
                            inner: &*judge,
                            watch: &judge_watch,
                        };
                        let ran = run_one(
                            &store, &layout, &job, &judge, system, seed, permit, &limit, &place,
                            &stops,
                        )
                        .await?;
                        if let Ran::Stored { outcome, copied, released } = &ran {
                            // The held failures it stored first.
                            for (at, outcome) in released {
                                on_event(Event::Stored {
                                    key: layout.key(*at),
                                    outcome: outcome.clone(),
                                    copied: false,
                                });
                            }
                            on_event(Event::Stored {
                                key: layout.key(job.at),
                                outcome: outcome.clone(),
                                copied: *copied,
                            });
                        }
                        // Given back once the result is counted as stored too,
                        // so that the next job starts only after it.
                        drop(place);
                        Ok::<_, RunError>((job.at, ran))
                    });
                }
            }
        }
        Ok(())
    }
    .await;
    if looped.is_err() {
        // The jobs under way stop as on a Ctrl-C: their results not stored
        // are asked again by the next run.
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
    // A queue stopped while it waited for its target's permit holds a
    // place: given back before the places are counted below.
    drop(ready);
    // A task aborted above may have left its write running on a blocking
    // thread, which holds its place until the write is over: once every
    // place is back, all that will be stored is, and the counts below are
    // what the store holds (they undercounted, read while writes landed),
    // the copies counted by their writes (see [`run_one`]) among them.
    drop(
        unstored
            .acquire_many(places)
            .await
            .expect("semaphores are never closed"),
    );
    let from: Vec<(String, u64)> = sources
        .into_iter()
        .map(|(name, n)| (name, n.load(Ordering::Relaxed)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let answers = from.iter().map(|(_, n)| n).sum();
    if answers > 0 {
        on_event(Event::Reused { answers, from });
    }
    looped?;
    // The failures still held (see [`Held`]): rows of failures to answer
    // that neither reached the count that stops their target nor were
    // ended by another outcome (the target had no more conversations), so
    // stored as the failures they are. Not after a cancellation, which
    // drops what was not stored, for the next run to ask again.
    if !interrupted {
        for stops in &all_stops {
            let held: Vec<(ResultKey, Held)> = stops
                .take_held()
                .into_iter()
                .map(|h| (layout.key(h.at), h))
                .collect();
            if held.is_empty() {
                continue;
            }
            let stored: Vec<(ResultKey, usize, String)> = held
                .iter()
                .map(|(key, h)| (key.clone(), h.at, format!("error:{}", h.kind)))
                .collect();
            blocking(&store, move |s| record_held(s, &held)).await?;
            for (key, at, outcome) in stored {
                finished += 1;
                left[layout.group_of(at)] -= 1;
                on_event(Event::Stored {
                    key,
                    outcome,
                    copied: false,
                });
            }
        }
    }
    // A judge that stopped left an answer unjudged at least (the one it
    // failed on, stored so) or a conversation not stored (one of an
    // interactive strategy that consulted it): the run is not done.
    let judge_stop = judge_watch.stopped();
    let status =
        if judge_stop.is_some() || ((interrupted || !refusals.is_empty()) && finished < to_run) {
            RunStatus::Interrupted
        } else {
            RunStatus::Complete
        };
    blocking(&store, move |s| s.set_run_status(run.id, status)).await?;
    let judge = match judge_stop {
        None => None,
        Some(stop) => {
            // Counted from the store, in outline: what this invocation
            // stored, and what earlier ones did.
            let outlines = blocking(&store, move |s| s.outlines(run.id)).await?;
            let answered = |unjudged: bool| {
                outlines
                    .iter()
                    .filter(|o| o.answer.is_some() && o.error.is_some() == unjudged)
                    .count() as u64
            };
            let (done, unjudged) = (answered(false), answered(true));
            Some(Box::new(JudgeRefusal {
                stop,
                unjudged,
                unasked: total.saturating_sub(done + unjudged),
            }))
        }
    };
    if !refusals.is_empty() || judge.is_some() {
        // Each group is counted in the first refusal that stopped it.
        let per = layout.strategies.len();
        let mut stopped = vec![false; layout.groups()];
        for (target, strategy, refusal) in &mut refusals {
            let groups = match *strategy {
                Some(s) => *target * per + s..*target * per + s + 1,
                None => *target * per..(*target + 1) * per,
            };
            for g in groups {
                if !std::mem::replace(&mut stopped[g], true) {
                    refusal.left += left[g];
                }
            }
        }
        return Err(RunError::Refused {
            run: run.name.clone(),
            others: judge.is_none() && stopped.contains(&false),
            refusals: refusals.into_iter().map(|(_, _, r)| r).collect(),
            judge,
        });
    }
    let judge = plan.judge.name().to_string();
    blocking(&store, move |s| {
        stored_outcome(s, run.id, total, done_before, &judge)
    })
    .await
}

/// The outcome of run `run_id` as `store` holds it now, as [`execute`]
/// returns it: its status as stored, `total` results in all (the plan's),
/// `done_before` of them stored by earlier invocations (as
/// [`Event::Started`] gives both), its results counted with the verdicts
/// of `judge` (the judge's name, no version), and the reasons of its
/// unscored answers ([`RunOutcome::unscored_reasons`]). For the summary of
/// a run that stopped with an error once open (a target that refused the
/// key, say), whose record and answers are stored; [`execute`] makes its
/// own outcome so.
///
/// Counts, not the results: loading every transcript of the run for a few
/// numbers made the end of a large run its peak of memory. Each failure is
/// counted with the kind stored with it, so those an earlier invocation
/// stored (and this one did not try again) have theirs too. The unscored
/// answers' reasons are read without the conversations, and only for the
/// targets and strategies that have some.
pub fn stored_outcome(
    store: &Store,
    run_id: i64,
    total: u64,
    done_before: u64,
    judge: &str,
) -> Result<RunOutcome, StoreError> {
    let run = store.run_by_id(run_id)?;
    let counts = store.outcome_counts(run_id, judge)?;
    let mut outcome = RunOutcome::new(&run, run.status, total, done_before, &counts, judge);
    let mut reasons = summary::Reasons::default();
    // A pair's escalations are in its verdicts' notes: every group's are
    // read; else only those of groups with unscored answers.
    let pair = judge.split_once('>').map(|(_, second)| second);
    let mut escalated = summary::Escalated {
        to: pair.unwrap_or_default().to_string(),
        answers: 0,
        of: 0,
    };
    for group in &outcome.groups {
        if group.counts.unscored == 0 && pair.is_none() {
            continue;
        }
        for result in store.done_outlines(run_id, &group.target, &group.strategy)? {
            if group.counts.unscored > 0 {
                reasons.add(&result, judge);
            }
            let verdict = result
                .verdicts
                .iter()
                .find(|v| xsafe_store::judge_name(&v.judge) == judge);
            if let (Some(v), Some(_)) = (verdict, pair) {
                escalated.of += 1;
                escalated.answers += u64::from(xsafe_judge::Cascade::escalated(v));
            }
        }
    }
    outcome.unscored_reasons = reasons.commonest();
    outcome.escalated = pair.map(|_| escalated);
    Ok(outcome)
}

/// A job ready to start: its place among the answers not stored yet taken,
/// and its target's permit, but for a copy that needs no judging.
struct Ready {
    job: Job,
    place: OwnedSemaphorePermit,
    permit: Option<OwnedSemaphorePermit>,
    /// The target's semaphore, for a copy that must ask the model after all.
    limit: Arc<Semaphore>,
    /// What stops the target's conversations, and what it has answered.
    stops: Arc<Stops>,
}

/// What became of a job.
enum Ran {
    /// Its result was stored: the verdict's label or the error kind, and
    /// whether it is a copy of another run's answer (as
    /// [`Event::Stored`] says them); and the failures of earlier
    /// conversations of its target it stored with it, each as its number
    /// in the layout and its `error:<kind>`: those [`Stops`] held until
    /// this conversation ended their row otherwise (see [`Held`]).
    Stored {
        outcome: String,
        copied: bool,
        released: Vec<(usize, String)>,
    },
    /// Not asked: its target refused another request as unauthorised, or
    /// was blocked, or did not answer (see [`Stops`]); or, asked, dropped
    /// in flight (nothing of it stored) when its target was stopped for
    /// getting no answer. Or the judge stopped (see [`JudgeWatch`]): not
    /// asked, not judged (a stored answer stays as it is stored), or
    /// failed when its strategy consulted the judge (nothing stored).
    Skipped,
    /// Asked, and got no answer, from a target that has answered nothing:
    /// its failure is held by [`Stops`], stored once another outcome ends
    /// the row (or the run does), or never if the row stops the target.
    Held,
    /// Its target refused the request as unauthorised, was blocked, or
    /// did not answer, as every request would fail (see [`Stops::after`]):
    /// nothing was stored. As [`Refusal`] holds them.
    Refused {
        cause: Cause,
        message: String,
        clarifier: Option<(String, String)>,
    },
}

/// What stops one target's conversations from being asked, shared by its
/// queue and its jobs: a target that refuses the key, is blocked or does
/// not answer (see [`execute`]) is asked nothing more, or, when the
/// clarifier of the failed conversation's strategy is the one that
/// failed, nothing more under that strategy.
struct Stops {
    /// Fired when the target is asked nothing more.
    target: CancellationToken,
    /// Per strategy of the plan (by index), a child of `target`, fired
    /// alone when the target is asked nothing more under that strategy.
    strategies: Vec<CancellationToken>,
    /// Fired with `target` when what stopped it is that it gets no answer
    /// ([`Cause::Unanswered`]): its conversations in flight are dropped
    /// rather than waited for, each up to its timeout times its attempts.
    dropped: CancellationToken,
    /// Per strategy of the plan (by index), a child of `dropped`, fired
    /// with the strategy's stop when its clarifier gets no answer.
    dropped_strategies: Vec<CancellationToken>,
    /// The target's answers and failures in a row, and its clarifiers', as
    /// its conversations come back.
    seen: std::sync::Mutex<Seen>,
}

/// What a target's conversations came back with, in the order they did:
/// the target's own failures in a row, and those of each strategy's
/// clarifier apart. An answer of the target proves its key and its
/// server, not a clarifier's: a clarifier that refuses every request is
/// stopped whether or not the target answered under another strategy
/// before.
struct Seen {
    /// The target's.
    target: InARow,
    /// Per strategy of the plan (by index), its clarifier's (the
    /// conversations under the strategy).
    clarifiers: Vec<InARow>,
}

/// The kinds of failure that stop a target only when it fails so several
/// conversations in a row with nothing answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    /// HTTP 403: [`FORBIDDEN_IN_A_ROW`] of them stop it.
    Forbidden,
    /// No answer (could not connect, or timed out): [`UNANSWERED_IN_A_ROW`]
    /// of them stop it.
    Unanswered,
}

impl Row {
    /// How many in a row stop a target that has answered nothing.
    fn stops_at(self) -> u32 {
        match self {
            Row::Forbidden => FORBIDDEN_IN_A_ROW,
            Row::Unanswered => UNANSWERED_IN_A_ROW,
        }
    }
}

/// A conversation that got no answer from a target (or clarifier) that
/// has answered nothing, kept by [`Stops`] rather than stored: if its row
/// reaches [`UNANSWERED_IN_A_ROW`], the target is stopped and nothing of
/// it is stored (a server that is down leaves no failures to count); if
/// another outcome ends the row first, the conversation that did stores
/// it, as the failure it is ([`Ran::Stored`]'s `released`); those still
/// held when the run ends are stored then.
struct Held {
    /// The conversation's number in the layout.
    at: usize,
    /// The failure's kind, message and attempts, as stored.
    kind: String,
    message: String,
    attempts: u32,
}

/// The failures in a row of a target or of a clarifier, and whether it
/// answered.
struct InARow {
    /// Whether a conversation was answered, or the run had an answer
    /// stored before (the target's, or under the clarifier's strategy): no
    /// row stops it any more.
    answered: bool,
    /// The kind of the failures since the last conversation that ended
    /// otherwise, and how many.
    row: Option<(Row, u32)>,
    /// The unanswered conversations of the row, not stored (see [`Held`]).
    held: Vec<Held>,
}

impl InARow {
    /// Counts a failure of the kind `row`; tells whether it stops: the
    /// one that makes as many in a row as [`Row::stops_at`], with nothing
    /// answered. A failure of another kind starts the row again, which
    /// gives back the conversations held (to be stored).
    fn failed(&mut self, row: Row) -> (bool, Vec<Held>) {
        let n = match self.row {
            Some((kind, n)) if kind == row => n + 1,
            _ => 1,
        };
        let released = match self.row {
            Some((kind, _)) if kind != row => std::mem::take(&mut self.held),
            _ => Vec::new(),
        };
        self.row = Some((row, n));
        (!self.answered && n >= row.stops_at(), released)
    }

    /// Counts a conversation that ended otherwise than with a failure of
    /// a row: answered when `answered`. Gives back the conversations held
    /// (to be stored).
    fn ended(&mut self, answered: bool) -> Vec<Held> {
        self.answered |= answered;
        self.row = None;
        std::mem::take(&mut self.held)
    }
}

/// What [`Stops::after`] tells a conversation that asked to do.
enum After {
    /// It stopped its target (or the target under its strategy): store
    /// nothing, and say why.
    Stopped(Stopped),
    /// Its failure is held (see [`Held`]): store nothing now.
    Held,
    /// Store it, and before it these held failures its outcome released.
    Store(Vec<Held>),
}

impl Stops {
    /// Nothing stopped, of a target that has an answer stored in the run
    /// when `answered`, for a plan of as many strategies as `clarifiers`
    /// has, each `true` when the run has an answer of the target stored
    /// under that strategy (which got past its clarifier, if any).
    fn new(answered: bool, clarifiers: Vec<bool>) -> Stops {
        let target = CancellationToken::new();
        let dropped = CancellationToken::new();
        let in_a_row = |answered| InARow {
            answered,
            row: None,
            held: Vec::new(),
        };
        Stops {
            strategies: clarifiers.iter().map(|_| target.child_token()).collect(),
            target,
            dropped_strategies: clarifiers.iter().map(|_| dropped.child_token()).collect(),
            dropped,
            seen: std::sync::Mutex::new(Seen {
                target: in_a_row(answered),
                clarifiers: clarifiers.into_iter().map(in_a_row).collect(),
            }),
        }
    }

    /// What stops the target's conversations under strategy `strategy` (by
    /// index): fired when the target or that strategy is stopped.
    fn of(&self, strategy: usize) -> &CancellationToken {
        &self.strategies[strategy]
    }

    /// What drops the target's conversations in flight under strategy
    /// `strategy` (by index): fired when the target, or the strategy's
    /// clarifier, is stopped for getting no answer ([`Cause::Unanswered`]).
    fn dropping(&self, strategy: usize) -> &CancellationToken {
        &self.dropped_strategies[strategy]
    }

    /// Counts `outcome`, conversation `at` (its number in the layout) of
    /// `target` under `strategy` (its index `index`) that asked it, and
    /// tells what to do with it. It stops the target when it fails as every
    /// request would fail the same way (see [`stop_of`]): blocked
    /// ([`TargetError::Blocked`]) or refused with an HTTP 401, at once;
    /// refused with an HTTP 403, or not answered (could not connect, or
    /// timed out), when it is the [`FORBIDDEN_IN_A_ROW`]th or
    /// [`UNANSWERED_IN_A_ROW`]th such failure in a row (in the order the
    /// conversations came back, a failure of the other kind or any other
    /// outcome starting the count again) with no conversation of the target
    /// answered before, nor an answer of it stored in the run. A failure of
    /// the strategy's clarifier (`by_target` false: the target's own last
    /// request did not fail so) is counted apart, per strategy, and only a
    /// conversation answered under the strategy (in this invocation or
    /// stored in the run) keeps it from stopping: the target's answers
    /// under other strategies never asked the clarifier. Then it fires the
    /// stop, the strategy's when its clarifier failed, else the target's,
    /// drops the failures held under that stop, and says why
    /// ([`After::Stopped`]). An unanswered conversation of a row that may
    /// still stop is held ([`After::Held`]); else the outcome is to be
    /// stored, with the held failures it released.
    fn after(
        &self,
        outcome: &Result<Transcript, StrategyError>,
        at: usize,
        index: usize,
        strategy: &dyn Strategy,
        target: &dyn Target,
        by_target: bool,
    ) -> After {
        let (cause, error) = match outcome {
            Err(e @ StrategyError::Target(t)) => (stop_of(t), Some(e)),
            Err(e) => (None, Some(e)),
            Ok(_) => (None, None),
        };
        // Read only for a failure that may stop: the strategy's definition
        // is built anew.
        let clarifier = match cause {
            Some(_) if !by_target => clarifier_of(strategy),
            _ => None,
        };
        let mut seen = self.seen.lock().expect("never poisoned");
        let Seen {
            target: mine,
            clarifiers,
        } = &mut *seen;
        let (stops, held, released) = match cause.as_ref().map(Cause::row) {
            Some(None) => (true, false, Vec::new()),
            Some(Some(row)) => {
                let counter = match clarifier {
                    Some(_) => &mut clarifiers[index],
                    None => &mut *mine,
                };
                let (stops, released) = counter.failed(row);
                (stops, row == Row::Unanswered && !counter.answered, released)
            }
            None => {
                let mut released = mine.ended(outcome.is_ok());
                released.extend(clarifiers[index].ended(outcome.is_ok()));
                (false, false, released)
            }
        };
        let (cause, error) = match (cause, error) {
            (Some(cause), Some(error)) if stops => (cause, error),
            (_, Some(error)) if held => {
                let (kind, message, attempts) = failure_of(error);
                let counter = match clarifier {
                    Some(_) => &mut clarifiers[index],
                    None => &mut *mine,
                };
                counter.held.push(Held {
                    at,
                    kind,
                    message,
                    attempts,
                });
                return After::Held;
            }
            _ => return After::Store(released),
        };
        // What was held under the stop is stopped with it: not stored.
        let (token, dropping) = match clarifier {
            Some(_) => {
                clarifiers[index].held.clear();
                (&self.strategies[index], &self.dropped_strategies[index])
            }
            None => {
                mine.held.clear();
                clarifiers.iter_mut().for_each(|c| c.held.clear());
                (&self.target, &self.dropped)
            }
        };
        let cause = match cause {
            Cause::Unanswered { timeout, .. } => Cause::Unanswered {
                timeout,
                urls: match clarifier {
                    Some(_) => clarifier_urls(strategy),
                    None => base_urls(&target.settings()),
                },
            },
            other => other,
        };
        // Fired under the lock: of the conversations that stop it at
        // once, one is the first.
        let first = !token.is_cancelled();
        token.cancel();
        // A server that does not answer would keep the conversations in
        // flight for their whole retries: dropped at once. Only when this
        // conversation fired the stop: a target stopped first for another
        // cause lets its requests in flight finish.
        if first && matches!(cause, Cause::Unanswered { .. }) {
            dropping.cancel();
        }
        After::Stopped(Stopped {
            cause,
            message: error.to_string(),
            clarifier,
            first,
        })
    }

    /// The failures still held (see [`Held`]), taken: the run ended with
    /// their rows neither stopped nor ended otherwise.
    fn take_held(&self) -> Vec<Held> {
        let mut seen = self.seen.lock().expect("never poisoned");
        let Seen { target, clarifiers } = &mut *seen;
        let mut held = std::mem::take(&mut target.held);
        for c in clarifiers {
            held.append(&mut c.held);
        }
        held
    }
}

/// Why a conversation stopped its target (or the target under its
/// strategy), as [`Stops::after`] tells it.
struct Stopped {
    /// What stopped it.
    cause: Cause,
    /// The failure of the conversation.
    message: String,
    /// When the strategy's clarifier refused: the strategy's name and the
    /// clarifier's id (as [`Refusal::clarifier`] holds them).
    clarifier: Option<(String, String)>,
    /// Whether this conversation fired the stop (the first to stop it,
    /// which says so), rather than one whose request was in flight then.
    first: bool,
}

impl Job {
    /// Whether the job asks its target: it has no stored answer to judge
    /// and no other run's answer to copy.
    fn asks(&self) -> bool {
        self.answer.is_none() && self.reuse.is_none()
    }

    /// Whether the job asks the judge: all but a copy of another run's
    /// answer with this run's verdict.
    fn needs_judge(&self) -> bool {
        !self.reuse.as_ref().is_some_and(|r| r.from.judged)
    }
}

/// The jobs of one target as they may start, in their order: each takes a
/// place of `unstored`, then a permit of `limit`, the target's (a copy with
/// this run's verdict needs neither the model nor the judge, and waits for
/// no permit). A place is taken first so that a job holding its target's
/// permit never waits for one: the permits go to jobs that can start at
/// once.
///
/// Once `stops` stops the target, or a strategy of it (the target refused
/// the key, was blocked, or did not answer), the jobs of `layout` it stops that would ask
/// the target are left out; those that only judge a stored answer or copy
/// another run's still start. Once `judge` stops the run's judge, every
/// job that needs the judge is left out: only copies with this run's
/// verdict still start.
fn dispatch(
    jobs: Queue,
    layout: Arc<Layout>,
    limit: Arc<Semaphore>,
    unstored: Arc<Semaphore>,
    stops: Arc<Stops>,
    judge: Arc<JudgeWatch>,
) -> impl Stream<Item = Ready> {
    futures::stream::unfold(jobs, move |mut jobs| {
        let (layout, limit, unstored, stops, judge) = (
            layout.clone(),
            limit.clone(),
            unstored.clone(),
            stops.clone(),
            judge.clone(),
        );
        async move {
            let job = loop {
                let job = jobs.next()?;
                let strategy = layout.conversation(job.at).strategy;
                let stopped = (stops.of(strategy).is_cancelled() && job.asks())
                    || (judge.is_stopped() && job.needs_judge());
                if !stopped {
                    break job;
                }
            };
            let place = unstored
                .acquire_owned()
                .await
                .expect("semaphores are never closed");
            let permit = if job.reuse.as_ref().is_some_and(|r| r.from.judged) {
                None
            } else {
                Some(
                    limit
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("semaphores are never closed"),
                )
            };
            let ready = Ready {
                job,
                place,
                permit,
                limit,
                stops,
            };
            Some((ready, jobs))
        }
    })
}

/// The jobs of one target, made one at a time as they are dispatched: its
/// copies of other runs' answers first, in plan order, then its other
/// conversations not done, in plan order (by strategy, suite, case and
/// sample), each with its answer stored unjudged, if any, but for those
/// whose request failed in an earlier invocation, which come last, in plan
/// order too.
///
/// The failed ones last: a target is stopped at its [`FORBIDDEN_IN_A_ROW`]th
/// HTTP 403 in a row while it has no answer stored (see [`Stops`]), and a
/// run whose first prompts a guardrail blocks stored the first of them as
/// failures and stopped at the next. Asked first again, the same prompts
/// stopped every later run the same way, and the run never reached the
/// prompts the target answers. Each run now asks prompts it never asked
/// before the failed ones.
struct Queue {
    /// The conversations stored and judged: not run again.
    done: Arc<Marks>,
    /// The conversations whose request failed in an earlier invocation
    /// (with no answer stored): asked after the others.
    failed: Arc<Marks>,
    /// The target's copies, in plan order.
    copies: std::vec::IntoIter<(usize, Copying)>,
    /// The numbers of the copies, in plan order: the conversations left out
    /// after them.
    copied: Vec<usize>,
    /// The target's answers stored unjudged, by conversation.
    answers: HashMap<usize, StoredAnswer>,
    /// The target's conversations not gone through yet, but the failed
    /// ones.
    next: std::ops::Range<usize>,
    /// The target's failed conversations not gone through yet, once `next`
    /// is.
    retries: std::ops::Range<usize>,
}

impl Queue {
    /// The queue of target `target` (its index) of `layout`, with the
    /// conversations marked in `done` left out, its `copies` (in plan
    /// order) first, those marked in `failed` last, and its `answers`
    /// stored unjudged.
    fn new(
        layout: &Layout,
        done: Arc<Marks>,
        failed: Arc<Marks>,
        target: usize,
        copies: Vec<(usize, Copying)>,
        answers: HashMap<usize, StoredAnswer>,
    ) -> Queue {
        Queue {
            copied: copies.iter().map(|(n, _)| *n).collect(),
            copies: copies.into_iter(),
            next: layout.target_range(target),
            retries: layout.target_range(target),
            done,
            failed,
            answers,
        }
    }
}

impl Iterator for Queue {
    type Item = Job;

    fn next(&mut self) -> Option<Job> {
        if let Some((at, copying)) = self.copies.next() {
            return Some(Job {
                at,
                answer: self.answers.remove(&at),
                reuse: Some(copying),
            });
        }
        let left = |n: usize| !self.done.get(n) && self.copied.binary_search(&n).is_err();
        let at = match self.next.by_ref().find(|&n| left(n) && !self.failed.get(n)) {
            Some(at) => at,
            None => self
                .retries
                .by_ref()
                .find(|&n| left(n) && self.failed.get(n))?,
        };
        Some(Job {
            at,
            answer: self.answers.remove(&at),
            reuse: None,
        })
    }
}

/// The done results of other runs that the conversations of `layout`
/// marked in `wanted` (of run `this_run` when it is stored) may copy
/// instead of asking the model; see [`reuse`].
async fn find_reuse(
    store: &Arc<Store>,
    plan: &RunPlan,
    layout: &Arc<Layout>,
    this_run: Option<i64>,
    wanted: Marks,
) -> Result<reuse::Found, RunError> {
    // One pair per target id and strategy name, numbered in plan order of
    // their first conversation wanted.
    let mut pairs: Vec<String> = Vec::new();
    let mut pair_of: HashMap<(&str, &str), usize> = HashMap::new();
    let mut pair_of_group = vec![None; layout.groups()];
    let judge = plan.judge_entry();
    for (group, pair) in pair_of_group.iter_mut().enumerate() {
        if layout.group_range(group).all(|n| !wanted.get(n)) {
            continue;
        }
        let (target, strategy) = layout.group_parts(group);
        let at = (
            layout.target_ids[target].as_str(),
            layout.strategy_name(strategy),
        );
        *pair = Some(*pair_of.entry(at).or_insert_with(|| {
            pairs.push(reuse::key_of_pair(
                &*layout.targets[target],
                &*layout.strategies[strategy],
                plan.seed,
                &judge,
            ));
            pairs.len() - 1
        }));
    }
    if pairs.is_empty() {
        return Ok(reuse::Found::default());
    }
    let tag = plan.judge.tag();
    let layout = layout.clone();
    blocking(store, move |s| {
        let served_at = judge.get("served_at");
        reuse::find(
            s,
            this_run,
            &layout,
            &pairs,
            &pair_of_group,
            wanted,
            &tag,
            served_at,
        )
    })
    .await
}

/// Before anything is stored: a strategy refuses suites it would leak (a
/// few-shot exemplar that is one of the cases), checked against every case
/// of the suites, not only the ones this run samples.
///
/// The check is synchronous and may take seconds (an embedding strategy
/// embeds every case on the CPU), so it runs on a thread of its own, and
/// `cancel` firing meanwhile returns [`RunError::Interrupted`] at once,
/// leaving the thread to finish unobserved. A plain thread, not Tokio's
/// blocking pool: a runtime waits for its blocking tasks when dropped, so
/// the command would still wait for the check before exiting.
async fn check_strategies(plan: &RunPlan, cancel: &CancellationToken) -> Result<(), RunError> {
    let prompts: Vec<Prompt> = plan
        .suites
        .iter()
        .flat_map(|s| s.cases.iter().map(|c| c.to_prompt()))
        .collect();
    let strategies = plan.strategies.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("xsafe-check".into())
        .spawn(move || {
            let checked = strategies.iter().try_for_each(|strategy| {
                strategy
                    .check(&prompts)
                    .map_err(|e| RunError::Plan(e.to_string()))
            });
            // The receiver is gone when the run was cancelled meanwhile.
            let _ = tx.send(checked);
        })
        .map_err(|e| RunError::Internal(format!("cannot start the strategies' check: {e}")))?;
    tokio::select! {
        // A cancellation that came first wins, so that a cancelled run
        // stops whether or not the check is quick.
        biased;
        _ = cancel.cancelled() => Err(RunError::Interrupted),
        checked = rx => checked
            .unwrap_or_else(|_| Err(RunError::Internal("the strategies' check panicked".into()))),
    }
}

/// The run's name and key: a run stored under an older key (see
/// [`RunPlan::legacy_keys`]) is resumed under it.
async fn resolve_spec(store: &Arc<Store>, plan: &RunPlan) -> Result<RunSpec, RunError> {
    let mut spec = plan.spec();
    for legacy in plan.legacy_keys() {
        if legacy == spec.key {
            continue;
        }
        let name = plan
            .name
            .clone()
            .unwrap_or_else(|| RunPlan::derived_name(&legacy));
        let lookup = name.clone();
        let existing = blocking(store, move |s| Ok(s.run(&lookup).ok())).await?;
        if existing.is_some_and(|r| r.key == legacy) {
            spec.name = name;
            spec.key = legacy;
            break;
        }
    }
    Ok(spec)
}

/// The stored run `spec` names (by name, not id), read without writing;
/// `None` when there is none. Refused when the plan may not open it (see
/// [`check_stored`]).
async fn stored_run(
    store: &Arc<Store>,
    plan: &RunPlan,
    spec: &RunSpec,
) -> Result<Option<RunRecord>, RunError> {
    let lookup = spec.name.clone();
    let existing = blocking(store, move |s| {
        Ok(s.run(&lookup).ok().filter(|r| r.name == lookup))
    })
    .await?;
    if let Some(run) = &existing {
        check_stored(store, plan, spec, run).await?;
    }
    Ok(existing)
}

/// Whether `plan`, whose run is `spec`, may open the stored run `run` of
/// the same name: not when its key is another ([`RunError::Changed`],
/// naming what differs; the store's [`StoreError::RunMismatch`] when
/// nothing identifiable does), nor when it was asked at other base URLs
/// and got answers there, unless the plan says the server moved
/// ([`RunError::ServerMoved`]). Returns the models it was recorded at
/// other base URLs for but got no answer from there (see
/// [`stored::answered`]), which are no move: [`relocate`] records the
/// plan's URLs for them.
async fn check_stored(
    store: &Arc<Store>,
    plan: &RunPlan,
    spec: &RunSpec,
    run: &RunRecord,
) -> Result<Vec<Moved>, RunError> {
    let named = plan.name.is_some();
    if run.key != spec.key {
        let changes = stored::changes(&run.config, &spec.config, plan);
        if changes.list.is_empty() {
            return Err(StoreError::RunMismatch {
                name: run.name.clone(),
            }
            .into());
        }
        return Err(RunError::Changed {
            run: run.name.clone(),
            changes,
            named,
        });
    }
    let moved = stored::moved(&run.config, &spec.config, plan);
    if moved.is_empty() {
        return Ok(Vec::new());
    }
    // Read only when some model is elsewhere: in outline, without the
    // conversations' messages.
    let run_id = run.id;
    let outlines = blocking(store, move |s| s.outlines(run_id)).await?;
    let (moved, relocated): (Vec<Moved>, Vec<Moved>) = moved
        .into_iter()
        .partition(|m| stored::answered(m, &outlines, &run.config, plan));
    if !moved.is_empty() && !plan.server_moved {
        return Err(RunError::ServerMoved {
            run: run.name.clone(),
            moved: stored::said_once(moved),
            named,
        });
    }
    Ok(relocated)
}

/// Records in the config of `run`, the stored run of `spec` that `plan`
/// opened and holds, the plan's base URLs for the models of `relocated`
/// (see [`check_stored`]), and says so ([`Event::Relocated`]); gives the
/// run back with its config as stored now. Nothing is written when
/// `relocated` is empty. The run key is unchanged: it leaves URLs out.
async fn relocate(
    store: &Arc<Store>,
    plan: &RunPlan,
    spec: &RunSpec,
    mut run: RunRecord,
    relocated: Vec<Moved>,
    on_event: &impl Fn(Event),
) -> Result<RunRecord, RunError> {
    if relocated.is_empty() {
        return Ok(run);
    }
    let config = stored::relocated(&run.config, &spec.config, plan, &relocated);
    let (run_id, written) = (run.id, config.clone());
    blocking(store, move |s| s.set_run_config(run_id, &written)).await?;
    run.config = config;
    on_event(Event::Relocated {
        run_name: run.name.clone(),
        relocated,
    });
    Ok(run)
}

/// Refuses, without storing or asking anything, a plan whose stored run
/// [`execute`] would refuse to open: one of its name made with other
/// settings ([`RunError::Changed`]) or asked at other base URLs
/// ([`RunError::ServerMoved`]). For a command that runs several plans one
/// after the other, so that the last one's refusal comes before the first
/// asks anything (`xsafe tune`'s held-out run); [`execute`] and
/// [`preview`] check their own plan.
pub async fn check_resumable(store: Arc<Store>, plan: &RunPlan) -> Result<(), RunError> {
    let spec = resolve_spec(&store, plan).await?;
    stored_run(&store, plan, &spec).await.map(drop)
}

/// What [`execute`] would do, found without storing or asking anything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    /// The name the run would have: `--run`, or the one derived from its
    /// settings.
    pub run_name: String,
    /// The stored run the plan resumes; `None` when it would be a new one.
    pub run_id: Option<i64>,
    /// Conversations the run has in all.
    pub total: u64,
    /// Of them, stored already with an answer: judged, or (when the judge
    /// failed on it) to be judged again without asking the model.
    pub done: u64,
    /// Of them, not stored, that would copy the done result of another run
    /// (same target, strategy, case and seed) instead of asking the model;
    /// 0 when the plan does not reuse answers.
    pub reused: u64,
    /// The runs those would be copied from, by name, newest first.
    pub reused_from: Vec<String>,
    /// Per target and strategy, in plan order (each target runs its
    /// strategies in this order; the targets run at once).
    pub groups: Vec<PreviewGroup>,
}

/// Conversations of one target under one strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewGroup {
    /// The target's id, e.g. `openai:gpt-4o-mini`.
    pub target: String,
    /// The strategy's name, e.g. `baseline` or `contextual+few-shot`.
    pub strategy: String,
    /// Conversations of the pair in all: selected cases x samples.
    pub total: u64,
    /// Not stored yet, nor stored as an answer, but another run's done
    /// answer would be copied.
    pub reused: u64,
    /// Not stored yet, or stored as a failed request, and with no answer of
    /// another run to copy: what the run would ask the model. An answer the
    /// judge failed on is not asked again.
    pub to_ask: u64,
}

/// The run [`execute`] would open and what it would ask, read from the
/// store without writing to it: a new run, or how much of an existing one
/// is done. Refuses what `execute` would refuse (a strategy that would
/// leak a case, a run of this name made with other settings or asked at
/// other base URLs, a name a new run cannot have).
pub async fn preview(store: Arc<Store>, plan: &RunPlan) -> Result<Preview, RunError> {
    let selection = plan.selection()?;
    // Not cancellable: a dry run installs no Ctrl-C handler, so Ctrl-C ends
    // the process at once.
    check_strategies(plan, &CancellationToken::new()).await?;
    let spec = resolve_spec(&store, plan).await?;
    let (run_id, answered, config) = match stored_run(&store, plan, &spec).await? {
        Some(run) => {
            let mut answered = blocking(&store, move |s| s.done_keys(run.id)).await?;
            let unjudged = blocking(&store, move |s| s.unjudged(run.id)).await?;
            answered.extend(unjudged.into_iter().map(|r| r.key));
            (Some(run.id), answered, run.config)
        }
        None => {
            xsafe_store::check_new_run_name(&spec.name)?;
            (None, HashSet::new(), spec.config)
        }
    };
    // Counted per target and strategy (by strategy, suite, case and
    // sample), from a bit per conversation: a job per conversation, with
    // its case and key, took kilobytes each.
    let layout = Arc::new(Layout::new(
        plan,
        selection,
        run_id.unwrap_or_default(),
        &config,
    ));
    let done = layout.marks(&answered);
    drop(answered);
    let mut reused_in = vec![0u64; layout.groups()];
    let mut reused_from = Vec::new();
    if plan.reuse {
        let found = find_reuse(&store, plan, &layout, run_id, done.complement()).await?;
        for (n, _) in found.reuses {
            reused_in[layout.group_of(n)] += 1;
        }
        reused_from = found.sources;
    }
    let groups: Vec<PreviewGroup> = (0..layout.groups())
        .map(|group| {
            let (target, strategy) = layout.group_parts(group);
            let range = layout.group_range(group);
            let reused = reused_in[group];
            let unstored = (range.len() - done.count_in(range.clone())) as u64;
            PreviewGroup {
                target: layout.target_ids[target].clone(),
                strategy: layout.strategy_name(strategy).to_string(),
                total: range.len() as u64,
                reused,
                to_ask: unstored - reused,
            }
        })
        .collect();
    let total = groups.iter().map(|g| g.total).sum();
    let to_ask: u64 = groups.iter().map(|g| g.to_ask).sum();
    let reused: u64 = groups.iter().map(|g| g.reused).sum();
    Ok(Preview {
        run_name: spec.name,
        run_id,
        total,
        done: total - to_ask - reused,
        reused,
        reused_from,
        groups,
    })
}

/// A judge that remembers its last verdict, given again for the same
/// conversation (its messages and finish reason) without asking the judge.
struct RememberLast<'a> {
    inner: &'a dyn Judge,
    last: std::sync::Mutex<Option<(Transcript, xsafe_core::Verdict)>>,
}

impl<'a> RememberLast<'a> {
    fn new(inner: &'a dyn Judge) -> Self {
        RememberLast {
            inner,
            last: std::sync::Mutex::new(None),
        }
    }
}

/// Whether two transcripts are the same conversation to a judge: the same
/// messages, finish reason and opening (`complied_at_turn` is the
/// strategy's, set after judging).
fn same_to_a_judge(a: &Transcript, b: &Transcript) -> bool {
    a.messages == b.messages && a.finish_reason == b.finish_reason && a.opening == b.opening
}

#[async_trait::async_trait]
impl Judge for RememberLast<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency()
    }

    fn version(&self) -> &str {
        self.inner.version()
    }

    async fn judge(
        &self,
        prompt: &xsafe_core::Prompt,
        transcript: &Transcript,
    ) -> Result<xsafe_core::Verdict, JudgeError> {
        if let Some((seen, verdict)) = &*self.last.lock().expect("never poisoned")
            && same_to_a_judge(seen, transcript)
        {
            return Ok(verdict.clone());
        }
        let verdict = self.inner.judge(prompt, transcript).await?;
        *self.last.lock().expect("never poisoned") = Some((transcript.clone(), verdict.clone()));
        Ok(verdict)
    }
}

/// The judge an interactive strategy consults between turns: it judges the
/// conversation with the target under test as the target was sent it, with
/// the target's own system prompt merged in (as the conversation is then
/// stored and judged), so that the last verdict it gives is the one
/// [`RememberLast`] gives again for the stored transcript. Any other
/// conversation it is given (a clarifier's reply, judged as the answer to
/// the clarifier's request) goes to the judge as it is.
struct AsSent<'a> {
    inner: &'a dyn Judge,
    /// The target's own system prompt ([`system_prompt_of`]).
    system: Option<&'a str>,
    /// The target under test, which says which conversation is its own.
    target: &'a Watched<'a>,
}

#[async_trait::async_trait]
impl Judge for AsSent<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency()
    }

    fn version(&self) -> &str {
        self.inner.version()
    }

    async fn judge(
        &self,
        prompt: &xsafe_core::Prompt,
        transcript: &Transcript,
    ) -> Result<xsafe_core::Verdict, JudgeError> {
        match self.system {
            Some(system) if self.target.answered(transcript) => {
                let sent = transcript_with_system_prompt(Some(system), transcript.clone());
                self.inner.judge(prompt, &sent).await
            }
            _ => self.inner.judge(prompt, transcript).await,
        }
    }
}

/// The target's own system prompt, as its settings record it
/// (`system_prompt`): the `openai:` and `local:` targets send it first in
/// every request, merged with the strategy's system message
/// ([`xsafe_core::with_system_prompt`]). `None` when it has none.
fn system_prompt_of(target: &dyn Target) -> Option<String> {
    target.settings()["system_prompt"]
        .as_str()
        .map(str::to_string)
}

/// Runs, judges and stores one job; returns the verdict label or error
/// kind, and whether what it stored is a copy of another run's answer
/// ([`Event::Stored`]'s `copied`). A copy, once stored (judged or not), is
/// counted in its job's [`Copying::stored`] by the write that stored it: a job aborted
/// meanwhile still has its write land, and so counted.
///
/// A job with a stored answer is only judged. A job that copies another
/// run's done result stores its transcript with that result's verdict of
/// this run's judge (the same name and version), or, when it has none,
/// with the verdict this run's judge gives it now; a copy whose source is
/// gone (or no longer done) meanwhile is asked as any other job. A judge
/// failure after the model answered keeps the answer (stored unjudged,
/// counted as an error until judged), so neither the next run nor `xsafe
/// rejudge` needs the model again; a copy that fails the judge is kept so
/// too. An interactive strategy consults the judge between turns: a
/// failure there is the strategy's, with no final transcript to keep, and
/// the conversation is asked again by the next run.
///
/// `judge` is the run's judge as [`JudgeWatch`] watches it: each of its
/// outcomes is counted, and once it stopped the job asks nothing (a job
/// that would ask the target is skipped, a stored answer stays stored as
/// it is, a copy is left for the next run), an answer the model gave
/// meanwhile is stored unjudged, and a conversation whose strategy failed
/// consulting the judge stores nothing.
///
/// `system` is the target's own system prompt ([`system_prompt_of`]), which
/// the conversation is stored and judged with.
///
/// `permit` is the target's, taken for the job by the caller; a job given
/// none (a copy that needs no judging) takes one from `limit` if it must
/// ask the model after all.
///
/// A request the target refuses as unauthorised, that finds it blocked,
/// or that ends a row of failures to answer, as every request would fail
/// ([`Stops::after`]), stores nothing and fires the stop of `stops`, the
/// target's (or its strategy's), before its permit is given back, so that
/// no job it stops starts asking after it; a job that would ask once its
/// stop fired does not. A stop for getting no answer
/// ([`Cause::Unanswered`]) also drops the conversations of the jobs it
/// stops that are asking then: their requests are dropped, nothing of
/// them stored. Each conversation that asked is counted in `stops` as it
/// comes back, before its permit is given back too; one
/// that got no answer while its row may still stop the target is held
/// there, not stored ([`Held`]), and the job whose outcome ends the row
/// otherwise stores the held ones before its own.
#[allow(clippy::too_many_arguments)]
async fn run_one(
    store: &Arc<Store>,
    layout: &Layout,
    job: &Job,
    judge: &WatchedJudge<'_>,
    system: Option<&str>,
    seed: u64,
    mut permit: Option<OwnedSemaphorePermit>,
    limit: &Arc<Semaphore>,
    place: &Arc<OwnedSemaphorePermit>,
    stops: &Stops,
) -> Result<Ran, RunError> {
    let case = layout.case(job.at);
    let prompt = case.to_prompt();
    let key = layout.key(job.at);
    let at = layout.conversation(job.at);
    let (target, strategy) = (&layout.targets[at.target], &layout.strategies[at.strategy]);
    let judge_stopped = || judge.watch.is_stopped();
    // An interactive strategy judges each reply to decide whether to follow
    // up; the last one it judged is the answer judged below, and a paid
    // `llm:` judge is not asked about it twice.
    let judge = &RememberLast::new(judge);
    let copy = match &job.reuse {
        Some(reuse) => copy_of(store, &reuse.from, case, &judge.tag()).await?,
        None => None,
    };
    // Copies are found for jobs without a stored answer only.
    let count = match (&job.answer, &copy, &job.reuse) {
        (None, Some(_), Some(reuse)) => CopyCount(Some(reuse.stored.clone())),
        _ => CopyCount(None),
    };
    // What is stored below is then the copy: the model is not asked.
    let copied = job.answer.is_none() && copy.is_some();
    // The held failures of the target this job's outcome released and
    // stored (see [`Held`]).
    let mut released = Vec::new();
    // Whether the model is asked below: no stored answer, no copy.
    let asked = job.answer.is_none() && copy.is_none();
    let (transcript, timing, copied_verdict) = match (&job.answer, copy) {
        // The permit stays held through the judging below: it bounds how
        // many stored answers are judged at once, as it bounds conversations,
        // so resuming a run whose judge was down does not send every stored
        // answer to the judge together. So for a copy that needs judging.
        (Some(answer), _) => (answer.transcript.clone(), answer.timing, None),
        (None, Some(mut copy)) => {
            // Stored by an xsafe that left the target's system prompt out:
            // stored as it was sent, and judged so, not with the verdict
            // given without it.
            if let Some(system) = system
                && !begins_with_system_prompt(system, &copy.transcript.messages)
            {
                copy.transcript = transcript_with_system_prompt(Some(system), copy.transcript);
                copy.verdict = None;
            }
            // A copy to judge is judged under the target's limit, as a
            // stored answer is.
            if copy.verdict.is_none() && permit.is_none() {
                permit = Some(
                    limit
                        .clone()
                        .acquire_owned()
                        .await
                        .expect("semaphores are never closed"),
                );
            }
            (copy.transcript, copy.timing, copy.verdict)
        }
        (None, None) => {
            // The target is free for the next case while a new answer is
            // judged and stored: holding the permit through the write would
            // idle the model. `place`, held to the end, bounds the answers
            // waiting meanwhile.
            let asking = match permit.take() {
                Some(permit) => permit,
                None => limit
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("semaphores are never closed"),
            };
            if stops.of(at.strategy).is_cancelled() || judge_stopped() {
                return Ok(Ran::Skipped);
            }
            let started = Instant::now();
            let started_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or_default();
            let watched = Watched::new(&**target, system.is_some());
            let as_sent = AsSent {
                inner: judge,
                system,
                target: &watched,
            };
            // Dropped, with its requests, once the target is stopped for
            // getting no answer: nothing of it is stored (see [`Stops`]).
            let transcript = tokio::select! {
                transcript = strategy.run(&prompt, &watched, &as_sent, Some(seed)) => transcript,
                () = stops.dropping(at.strategy).cancelled() => return Ok(Ran::Skipped),
            }
            .map(|t| transcript_with_system_prompt(system, t));
            // The judge an interactive strategy consulted between turns
            // stopped the run (this conversation's failure, or one before
            // it): nothing of it is stored, as for a target stopped, and
            // the next run asks it again.
            if matches!(transcript, Err(StrategyError::Judge(_))) && judge_stopped() {
                return Ok(Ran::Skipped);
            }
            let by_target = watched.stopped.load(Ordering::Relaxed);
            let after = stops.after(
                &transcript,
                job.at,
                at.strategy,
                strategy.as_ref(),
                &watched,
                by_target,
            );
            drop(asking);
            match after {
                After::Stopped(stopped) => {
                    if stopped.first {
                        warn_stopped(&key, &stopped);
                    }
                    return Ok(Ran::Refused {
                        cause: stopped.cause,
                        message: stopped.message,
                        clarifier: stopped.clarifier,
                    });
                }
                After::Held => return Ok(Ran::Held),
                After::Store(held) if !held.is_empty() => {
                    let held: Vec<(ResultKey, Held)> =
                        held.into_iter().map(|h| (layout.key(h.at), h)).collect();
                    released = held
                        .iter()
                        .map(|(_, h)| (h.at, format!("error:{}", h.kind)))
                        .collect();
                    write(store, place, move |s| record_held(s, &held)).await?;
                }
                After::Store(_) => {}
            }
            let timing = Timing {
                started_ms,
                latency_ms: started.elapsed().as_millis() as u64,
            };
            match transcript {
                Ok(transcript) => (transcript, timing, None),
                Err(e) => {
                    let (kind, message, attempts) = failure_of(&e);
                    tracing::warn!(case = %key.case_id, target = %key.target, error = %message, "case failed");
                    let outcome = format!("error:{kind}");
                    write(store, place, move |s| {
                        s.record_error(&key, &kind, &message, attempts)
                    })
                    .await?;
                    return Ok(Ran::Stored {
                        outcome,
                        copied: false,
                        released,
                    });
                }
            }
        }
    };
    let verdict = match copied_verdict {
        Some(verdict) => Ok(verdict),
        // Once the judge stopped, a stored answer stays stored as it is, and
        // a copy is left for the next run to copy; an answer the model gave
        // is stored unjudged (the judge's error says why).
        None if !asked && judge_stopped() => return Ok(Ran::Skipped),
        None => judge.judge(&prompt, &transcript).await,
    };
    drop(permit);
    let result_id = job.answer.as_ref().map(|a| a.result_id);
    match verdict {
        Ok(verdict) => {
            let label = verdict.outcome.label().to_string();
            write(store, place, move |s| {
                count.stored_if(match result_id {
                    // The stored answer is the one judged: only the verdict
                    // is new, and putting it makes the result done.
                    Some(id) => s.put_verdict(id, &verdict),
                    None => s
                        .record_result(&key, &transcript, &verdict, timing)
                        .map(drop),
                })
            })
            .await?;
            Ok(Ran::Stored {
                outcome: label,
                copied,
                released,
            })
        }
        Err(e) => {
            let error = StoredError {
                kind: "judge".into(),
                message: e.to_string(),
                attempts: match &e {
                    JudgeError::Target(t) => t.attempts(),
                    JudgeError::Other(_) => 1,
                },
            };
            // Once the judge stopped, the warning that said so is enough:
            // not one more per answer in flight.
            if judge_stopped() {
                tracing::debug!(case = %key.case_id, target = %key.target, error = %error.message, "not judged; the answer is kept for the next run to judge");
            } else {
                tracing::warn!(case = %key.case_id, target = %key.target, error = %error.message, "the judge failed; the answer is kept for the next run to judge");
            }
            write(store, place, move |s| {
                count.stored_if(match result_id {
                    Some(_) => s.record_error(&key, &error.kind, &error.message, error.attempts),
                    None => s
                        .record_unjudged(&key, &transcript, timing, &error)
                        .map(drop),
                })
            })
            .await?;
            Ok(Ran::Stored {
                outcome: "error:judge".into(),
                copied,
                released,
            })
        }
    }
}

/// Says once, as a warning, that a target (or the target under a strategy,
/// when its clarifier failed) is asked nothing more, and why: `stopped`,
/// the failure of the conversation `key` that stopped it.
fn warn_stopped(key: &ResultKey, stopped: &Stopped) {
    let (who, stopped_what) = match &stopped.clarifier {
        Some((strategy, clarifier)) => (
            format!("the clarifier `{clarifier}` of strategy `{strategy}`"),
            format!(
                "target `{}` is asked nothing more under strategy `{strategy}`",
                key.target
            ),
        ),
        None => (
            format!("target `{}`", key.target),
            "it is asked nothing more".to_string(),
        ),
    };
    let why = stopped.cause.why(Whose::Target);
    let in_flight = match &stopped.cause {
        Cause::Unanswered { .. } => "its requests in flight are dropped",
        _ => "its requests in flight finish",
    };
    tracing::warn!(
        "{who} {why} ({}); {stopped_what} in this run ({in_flight}), \
         and the run will end interrupted, saying what to do",
        stopped.message
    );
}

/// Says once, as a warning, that the run's judge stopped it, and why
/// (`stop`), with what to do.
fn warn_judge_stopped(stop: &JudgeStop) {
    tracing::warn!(
        "{} {} ({}); no more conversations of the run are started, nor answers sent to it (the \
         conversations in flight finish, their answers stored unjudged), and the run will end \
         interrupted: {}, then run the same command again, which judges the answers stored \
         unjudged without asking the targets again",
        stop.who(),
        stop.cause.why(Whose::Judge),
        stop.message,
        stop.fix()
    );
}

/// The run's judge as every conversation consults it ([`WatchedJudge`]):
/// its outcomes counted as they come back ([`JudgeFailures`]), and what
/// stops the run once its model fails as every request would (see
/// [`execute`]).
struct JudgeWatch {
    /// The counts, and what stopped the judge, once it did.
    seen: std::sync::Mutex<(JudgeFailures, Option<JudgeStop>)>,
    /// Fired when the judge stops: no conversation starts after it,
    /// nothing more is sent to the judge, and the requests to it in flight
    /// (or waiting for their turn) are dropped: they would fail the same
    /// way, or wait out their timeout and retries for nothing.
    stop: CancellationToken,
}

impl JudgeWatch {
    fn new(failures: JudgeFailures) -> Self {
        JudgeWatch {
            seen: std::sync::Mutex::new((failures, None)),
            stop: CancellationToken::new(),
        }
    }

    /// Whether the judge stopped.
    fn is_stopped(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// What stopped the judge, once it did.
    fn stopped(&self) -> Option<JudgeStop> {
        self.seen.lock().expect("never poisoned").1.clone()
    }

    /// Counts one outcome of the judge; the first that stops it fires the
    /// stop and says so.
    fn count(&self, judged: &Result<xsafe_core::Verdict, JudgeError>) {
        let mut seen = self.seen.lock().expect("never poisoned");
        let (failures, stopped) = &mut *seen;
        if let Some(stop) = failures.count(judged)
            && stopped.is_none()
        {
            warn_judge_stopped(&stop);
            *stopped = Some(stop);
            self.stop.cancel();
        }
    }

    /// The failure of an answer not sent to the judge (or whose request was
    /// dropped) because the judge stopped: what the answer is stored
    /// unjudged with.
    fn not_sent(&self) -> JudgeError {
        let said = match self.stopped() {
            Some(stop) => stop.said(),
            None => "the judge stopped".to_string(),
        };
        JudgeError::Other(format!(
            "not judged, as the judge stopped in this run: {said}"
        ))
    }
}

/// The run's judge as a conversation consults it: each outcome counted by
/// the run's [`JudgeWatch`], and, once the judge stopped, nothing sent to
/// it: [`JudgeWatch::not_sent`] instead.
struct WatchedJudge<'a> {
    inner: &'a dyn Judge,
    watch: &'a JudgeWatch,
}

#[async_trait::async_trait]
impl Judge for WatchedJudge<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency()
    }

    fn version(&self) -> &str {
        self.inner.version()
    }

    async fn judge(
        &self,
        prompt: &xsafe_core::Prompt,
        transcript: &Transcript,
    ) -> Result<xsafe_core::Verdict, JudgeError> {
        if self.watch.is_stopped() {
            return Err(self.watch.not_sent());
        }
        let judged = tokio::select! {
            judged = self.inner.judge(prompt, transcript) => judged,
            () = self.watch.stop.cancelled() => return Err(self.watch.not_sent()),
        };
        self.watch.count(&judged);
        judged
    }
}

/// The kind, message and attempts a failed conversation is stored with.
fn failure_of(error: &StrategyError) -> (String, String, u32) {
    let attempts = match error {
        StrategyError::Target(t) => t.attempts(),
        _ => 1,
    };
    (error.kind().to_string(), error.to_string(), attempts)
}

/// Stores each of `held` (with its key) as the failure it is, saying so
/// as [`run_one`] says a failure it stores.
fn record_held(store: &Store, held: &[(ResultKey, Held)]) -> Result<(), StoreError> {
    for (key, h) in held {
        tracing::warn!(case = %key.case_id, target = %key.target, error = %h.message, "case failed");
        store.record_error(key, &h.kind, &h.message, h.attempts)?;
    }
    Ok(())
}

/// Whether a target's `error` (after retries of something else too) says
/// that every further request to the target would fail the same way until
/// the user changes something, and why: blocked ([`TargetError::Blocked`]:
/// a quota used up, a rate limit that resets later than xsafe waits, a
/// model the server does not have), refused as unauthorised (HTTP 401,
/// which every request would get, or 403, which may refuse the one request
/// only), or not answered (could not connect, or no answer within the
/// timeout, which may be the one request's only); the last two stop a
/// target only in a row (see [`Stops::after`]). `None` for any other
/// failure. The one place that says which failures stop a target. The
/// URLs of [`Cause::Unanswered`] are left empty, for the caller to fill.
fn stop_of(error: &TargetError) -> Option<Cause> {
    let error = match error {
        TargetError::Exhausted { last, .. } => last.as_ref(),
        other => other,
    };
    match error {
        TargetError::Status {
            status: status @ (401 | 403),
            ..
        } => Some(Cause::Unauthorised(*status)),
        TargetError::Blocked {
            status, blocker, ..
        } => Some(Cause::Blocked {
            status: *status,
            blocker: blocker.clone(),
        }),
        TargetError::Connection(_) => Some(Cause::Unanswered {
            timeout: None,
            urls: Vec::new(),
        }),
        TargetError::Timeout(timeout) => Some(Cause::Unanswered {
            timeout: Some(*timeout),
            urls: Vec::new(),
        }),
        _ => None,
    }
}

/// The base URLs of a target's `settings` (`base_urls`, shown without
/// credentials); none for a target that has none.
fn base_urls(settings: &serde_json::Value) -> Vec<String> {
    settings["base_urls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|url| url.as_str().map(str::to_string))
        .collect()
}

/// The target under test as a strategy is given it: the target itself,
/// remembering whether the last request sent to it failed in a way that
/// stops a target ([`stop_of`]: refused as unauthorised, blocked, or not
/// answered). A
/// conversation stopped so failed with the error of the target or of the
/// strategy's clarifier, which the error does not tell apart: it is the
/// target's when the target's last request failed so, else the
/// clarifier's.
struct Watched<'a> {
    inner: &'a dyn Target,
    /// Whether the last request failed in a way that stops a target (alone
    /// or in a row).
    stopped: std::sync::atomic::AtomicBool,
    /// The messages of the last request sent, as the strategy gave them,
    /// when asked to keep them ([`Watched::new`]).
    sent: Option<std::sync::Mutex<Vec<Message>>>,
}

impl<'a> Watched<'a> {
    /// `inner` watched; `keep_sent` keeps the messages of its last request
    /// for [`Watched::answered`].
    fn new(inner: &'a dyn Target, keep_sent: bool) -> Self {
        Watched {
            inner,
            stopped: std::sync::atomic::AtomicBool::new(false),
            sent: keep_sent.then(|| std::sync::Mutex::new(Vec::new())),
        }
    }

    /// Whether `transcript` is the last request sent to this target (as
    /// kept) followed by one reply: the conversation with the target under
    /// test, not the one an interactive strategy's clarifier was asked.
    fn answered(&self, transcript: &Transcript) -> bool {
        let Some(sent) = &self.sent else {
            return false;
        };
        let sent = sent.lock().expect("never poisoned");
        transcript
            .messages
            .split_last()
            .is_some_and(|(_, before)| !sent.is_empty() && before == sent.as_slice())
    }
}

#[async_trait::async_trait]
impl Target for Watched<'_> {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn settings(&self) -> serde_json::Value {
        self.inner.settings()
    }

    async fn chat(
        &self,
        request: &xsafe_core::ChatRequest,
    ) -> Result<xsafe_core::ChatResponse, TargetError> {
        if let Some(sent) = &self.sent {
            *sent.lock().expect("never poisoned") = request.messages.clone();
        }
        let response = self.inner.chat(request).await;
        let stopped = response.as_ref().err().and_then(stop_of).is_some();
        self.stopped.store(stopped, Ordering::Relaxed);
        response
    }

    fn max_concurrency(&self) -> usize {
        self.inner.max_concurrency()
    }
}

/// The strategy's name and its clarifier's id, when one of its steps has a
/// clarifier: a target it asks besides the one under test.
fn clarifier_of(strategy: &dyn Strategy) -> Option<(String, String)> {
    let definition = strategy.definition();
    let clarifier = definition["steps"]
        .as_array()?
        .iter()
        .find_map(|step| step["clarifier"]["id"].as_str())?
        .to_string();
    Some((strategy.name().to_string(), clarifier))
}

/// The base URLs of the clarifier of `strategy` ([`clarifier_of`]), as
/// its settings in the strategy's definition show them.
fn clarifier_urls(strategy: &dyn Strategy) -> Vec<String> {
    let definition = strategy.definition();
    definition["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|step| step["clarifier"]["id"].is_string())
        .map(|step| base_urls(&step["clarifier"]["settings"]))
        .unwrap_or_default()
}

/// Where a job's copy of another run's answer is counted once stored (its
/// [`Copying::stored`]); `None` for a job that stores no copy.
struct CopyCount(Option<Arc<AtomicU64>>);

impl CopyCount {
    /// Counts the copy when `stored` is a write that succeeded; gives
    /// `stored` back.
    fn stored_if<T>(&self, stored: Result<T, StoreError>) -> Result<T, StoreError> {
        if let (Ok(_), Some(copies)) = (&stored, &self.0) {
            copies.fetch_add(1, Ordering::Relaxed);
        }
        stored
    }
}

/// Another run's done result, as a job copies it.
struct Copied {
    transcript: Transcript,
    timing: Timing,
    /// Its verdict of this run's judge, same name and version, if any.
    verdict: Option<xsafe_core::Verdict>,
}

/// The result `reuse` names, read now: `None` when it is gone (its run
/// deleted meanwhile) or is no longer a done answer to `case`, and the job
/// asks the model instead. `tag` is this run's judge's `name@version`; its
/// verdict of that judge is copied when the judge's verdicts in its run are
/// this judge's ([`reuse::Reuse::verdicts_ours`]).
async fn copy_of(
    store: &Arc<Store>,
    reuse: &reuse::Reuse,
    case: &Case,
    tag: &str,
) -> Result<Option<Copied>, RunError> {
    let id = reuse.result_id;
    let found = blocking(store, move |s| match s.result(id) {
        Ok(result) => Ok(Some(result)),
        Err(StoreError::ResultNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    })
    .await?;
    let Some(result) = found.filter(|r| r.error.is_none() && reuse::same_case(&r.case, case))
    else {
        return Ok(None);
    };
    let Some(transcript) = result.transcript else {
        return Ok(None);
    };
    // A verdict of a judge of this name and version served elsewhere is
    // not this judge's.
    let verdict = match reuse.verdicts_ours {
        true => result.verdicts.into_iter().find(|v| v.judge == tag),
        false => None,
    };
    Ok(Some(Copied {
        transcript,
        timing: result.timing.unwrap_or_default(),
        verdict,
    }))
}

/// Stores a job's result as [`blocking`] does, holding its `place` until
/// the write is over, even when the job is aborted meanwhile (the write
/// goes on on its thread): the run waits for every place to come back
/// before it counts what is stored.
async fn write<T: Send + 'static>(
    store: &Arc<Store>,
    place: &Arc<OwnedSemaphorePermit>,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, RunError> {
    let place = place.clone();
    blocking(store, move |s| {
        let written = f(s);
        drop(place);
        written
    })
    .await
}

/// Runs a store call off the async workers: SQLite calls block.
async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, RunError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| RunError::Internal(e.to_string()))?
        .map_err(RunError::from)
}
