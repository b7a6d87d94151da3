use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a target could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The server answered with an error status.
    #[error("HTTP {status}: {message}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The server's error text, with a hint on what to fix where the target
        /// has one.
        message: String,
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// No answer came within the target's request time limit (the duration
    /// held).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Connecting failed or the connection dropped mid-answer.
    #[error("connection failed: {0}")]
    Connection(String),
    /// The server answered, but not in a shape we understand.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// The target is set up wrongly (missing key, bad URL, a setting the
    /// server refuses...). Not retried.
    #[error("{0}")]
    Config(String),
    /// The server said that every request to the target will fail the same
    /// way until the user changes something (see [`Blocker`]): not retried,
    /// and a run asks the target nothing more.
    #[error("HTTP {status}: {message}")]
    Blocked {
        /// The HTTP status code.
        status: u16,
        /// The server's error text.
        message: String,
        /// What blocks the target.
        blocker: Blocker,
    },
    /// A transient error that persisted through every retry.
    #[error("{last} (gave up after {attempts} attempts)")]
    Exhausted {
        /// How many times the request was sent, the first included.
        attempts: u32,
        /// The error of the final attempt.
        last: Box<TargetError>,
    },
}

impl TargetError {
    /// Whether the same request may succeed if tried again later: rate
    /// limits, server errors, timeouts and dropped connections. 501 (not
    /// implemented: a wrong address, often) and 505 say the server will
    /// never take the request, so they are final, as is a
    /// [`TargetError::Blocked`] (a quota used up, a rate limit that resets
    /// later than the target waits, a model the server does not have).
    pub fn is_transient(&self) -> bool {
        match self {
            TargetError::Status { status, .. } => {
                *status == 429
                    || *status == 408
                    || (*status >= 500 && !matches!(*status, 501 | 505))
            }
            TargetError::Timeout(_) | TargetError::Connection(_) => true,
            // A truncated or garbled body is usually a proxy or load problem.
            TargetError::InvalidResponse(_) => true,
            TargetError::Config(_)
            | TargetError::Blocked { .. }
            | TargetError::Exhausted { .. } => false,
        }
    }

    /// A short stable name for the kind of error, used in stored errors and
    /// metrics. A 408 (the server gave up waiting for the request) is a
    /// `timeout`, retried as one; `client_error` is left to the other 4xx
    /// answers, which the same request meets again. A
    /// [`TargetError::Blocked`] is its [`Blocker::kind`].
    pub fn kind(&self) -> &'static str {
        match self {
            TargetError::Status { status: 429, .. } => "rate_limited",
            TargetError::Status { status: 408, .. } => "timeout",
            TargetError::Status { status, .. } if *status >= 500 => "server_error",
            TargetError::Status { .. } => "client_error",
            TargetError::Timeout(_) => "timeout",
            TargetError::Connection(_) => "connection",
            TargetError::InvalidResponse(_) => "invalid_response",
            TargetError::Config(_) => "config",
            TargetError::Blocked { blocker, .. } => blocker.kind(),
            TargetError::Exhausted { last, .. } => last.kind(),
        }
    }

    /// How many attempts were made before this error was returned.
    pub fn attempts(&self) -> u32 {
        match self {
            TargetError::Exhausted { attempts, .. } => *attempts,
            _ => 1,
        }
    }
}

/// What makes every request to a target fail the same way until the user
/// changes something, as the server said it (see
/// [`TargetError::Blocked`]). Asking again before that only costs
/// requests: a run asks the target nothing more, and says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// The account's quota or credit is used up: an HTTP 429 whose
    /// `error.code` or `error.type` is `insufficient_quota` (OpenAI's "You
    /// exceeded your current quota, please check your plan and billing
    /// details"), or an HTTP 402 (Payment Required).
    Quota,
    /// A rate limit whose `Retry-After` asks for a longer wait than the
    /// target would wait for the request in all, over the retries it has
    /// left (a daily limit, say): each retry would get the same answer.
    RateLimit {
        /// The wait the server asked for.
        wait: Duration,
        /// When the wait is over: the time of the answer, plus `wait`.
        until: SystemTime,
    },
    /// The server does not have the model asked for, or the key has no
    /// access to it: `error.code` `model_not_found` (OpenAI's "The model
    /// `x` does not exist or you do not have access to it") or
    /// `DeploymentNotFound` (Azure OpenAI's), or an HTTP 404 whose message
    /// says that the model does not exist or was not found (vLLM's,
    /// Ollama's).
    ModelNotFound,
}

impl Blocker {
    /// A short stable name for it, as [`TargetError::kind`] gives one:
    /// `quota`, `rate_limited` or `model_not_found`.
    pub fn kind(&self) -> &'static str {
        match self {
            Blocker::Quota => "quota",
            Blocker::RateLimit { .. } => "rate_limited",
            Blocker::ModelNotFound => "model_not_found",
        }
    }

    /// What it is, to follow a target's name: `has used up its quota or
    /// credit`, `is rate-limited until 15:08 UTC`, `does not have the model
    /// asked for`.
    pub fn said(&self) -> String {
        match self {
            Blocker::Quota => "has used up its quota or credit".to_string(),
            Blocker::RateLimit { wait, until } => format!(
                "is rate-limited until {} (the server asked to wait {}, longer than xsafe \
                 waits for a request)",
                utc_clock(*until, until.checked_sub(*wait)),
                duration_said(*wait)
            ),
            Blocker::ModelNotFound => {
                "does not have the model asked for, or the key has no access to it".to_string()
            }
        }
    }
}

/// `d` as a person reads it, in whole seconds rounded up, its larger units
/// first and those that are zero left out: `45s`, `2m`, `1h2m4s`.
pub fn duration_said(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// The time `t` on a UTC clock, to the minute and rounded up (the time
/// said is never before `t`): `15:08 UTC`, with the date before it
/// (`2026-03-05 15:08 UTC`) unless `t` is on the same UTC day as `from`
/// (when it was said; `None` always gives the date).
pub fn utc_clock(t: SystemTime, from: Option<SystemTime>) -> String {
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    let minutes = (secs(t) / 60.0).ceil() as u64;
    let (day, minute) = (minutes / (24 * 60), minutes % (24 * 60));
    let clock = format!("{:02}:{:02} UTC", minute / 60, minute % 60);
    if from.is_some_and(|from| secs(from) as u64 / 86_400 == day) {
        return clock;
    }
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02} {clock}")
}

/// The calendar date (year, month, day) of the `days`th day after
/// 1970-01-01, as Howard Hinnant's `civil_from_days` reckons it.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Why a judge could not run at all. A judge that runs but cannot decide
/// returns an `unscored` verdict instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JudgeError {
    /// The judge's own model (an LLM judge's target) failed, after its retries.
    #[error("judge's model failed: {0}")]
    Target(#[from] TargetError),
    /// Any other failure, described for the user.
    #[error("{0}")]
    Other(String),
}

/// Why a strategy could not produce a transcript.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    /// A target the strategy called failed after its retries: the one under
    /// test, or one the strategy uses itself, such as an interactive strategy's
    /// clarifier.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The judge an interactive strategy consults between turns could not run.
    #[error(transparent)]
    Judge(#[from] JudgeError),
    /// A template of the strategy cannot render for this prompt (one the
    /// load check could not see: it depends on the prompt's words or on the
    /// model's reply). Unlike the other errors it is deterministic: the
    /// same prompt fails the same way on every try until the template is
    /// fixed, so what to do about it is to fix the strategy, not to retry.
    #[error("strategy `{strategy}`: {message}")]
    Template {
        /// The name of the strategy that failed.
        strategy: String,
        /// Which template (file, field, prompt type), what failed, and how
        /// to fix it.
        message: String,
    },
    /// The strategy itself failed otherwise, e.g. a clarifier that wrote an
    /// empty follow-up, which the next run may get past, or few-shot
    /// exemplars that are cases of the suite being run.
    #[error("strategy `{strategy}`: {message}")]
    Other {
        /// The name of the strategy that failed.
        strategy: String,
        /// What went wrong and, where known, how to fix it.
        message: String,
    },
}

impl StrategyError {
    /// A short stable name for the kind of error, stored with a failed
    /// result: `template` for [`StrategyError::Template`], which fails
    /// again on every try, `strategy` for the strategy's other errors.
    pub fn kind(&self) -> &'static str {
        match self {
            StrategyError::Target(e) => e.kind(),
            StrategyError::Judge(_) => "judge",
            StrategyError::Template { .. } => "template",
            StrategyError::Other { .. } => "strategy",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_the_ones_worth_retrying() {
        let status = |s| TargetError::Status {
            status: s,
            message: String::new(),
            retry_after: None,
        };
        assert!(status(429).is_transient());
        assert!(status(503).is_transient());
        assert!(!status(400).is_transient());
        assert!(!status(401).is_transient());
        // Not implemented (a wrong address, often) and an HTTP version the
        // server refuses: asking again gets the same answer.
        assert!(!status(501).is_transient());
        assert!(!status(505).is_transient());
        assert!(status(500).is_transient() && status(502).is_transient());
        assert!(TargetError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(!TargetError::Config("no key".into()).is_transient());
        assert_eq!(status(429).kind(), "rate_limited");
        assert_eq!(status(500).kind(), "server_error");
        // A 408 is the server's timeout, retried as one; the other 4xx are
        // the same answer again.
        assert!(status(408).is_transient());
        assert_eq!(
            (status(408).kind(), status(404).kind()),
            ("timeout", "client_error")
        );
    }

    /// What blocks a target is never retried, and reads as the status the
    /// server gave it; its kind names it.
    #[test]
    fn a_blocked_target_is_not_retried() {
        let blocked = |blocker| TargetError::Blocked {
            status: 429,
            message: "You exceeded your current quota".into(),
            blocker,
        };
        let until = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let rate = Blocker::RateLimit {
            wait: Duration::from_secs(3724),
            until,
        };
        for (blocker, kind) in [
            (Blocker::Quota, "quota"),
            (rate, "rate_limited"),
            (Blocker::ModelNotFound, "model_not_found"),
        ] {
            let e = blocked(blocker);
            assert!(!e.is_transient(), "{e}");
            assert_eq!(e.kind(), kind);
            assert_eq!(e.to_string(), "HTTP 429: You exceeded your current quota");
        }
    }

    #[test]
    fn durations_and_times_are_said_as_people_read_them() {
        let secs = Duration::from_secs;
        assert_eq!(duration_said(secs(0)), "0s");
        assert_eq!(duration_said(Duration::from_millis(17_900)), "18s");
        assert_eq!(duration_said(secs(120)), "2m");
        assert_eq!(duration_said(Duration::from_millis(3_723_500)), "1h2m4s");
        assert_eq!(duration_said(secs(90_000)), "25h");
        // 2015-10-21 07:28:00 UTC, and 20 s after: rounded up.
        let at = UNIX_EPOCH + secs(1_445_412_480);
        assert_eq!(utc_clock(at, Some(at)), "07:28 UTC");
        assert_eq!(utc_clock(at + secs(20), Some(at)), "07:29 UTC");
        assert_eq!(
            utc_clock(at + secs(3724), Some(at)),
            "08:31 UTC",
            "the same day: no date"
        );
        assert_eq!(
            utc_clock(at + secs(86_400), Some(at)),
            "2015-10-22 07:28 UTC"
        );
        assert_eq!(utc_clock(at, None), "2015-10-21 07:28 UTC");
        // A leap day, and the turn of a century's year.
        assert_eq!(
            utc_clock(UNIX_EPOCH + secs(951_782_400), None),
            "2000-02-29 00:00 UTC"
        );
        assert_eq!(
            utc_clock(UNIX_EPOCH + secs(4_107_542_340), None),
            "2100-02-28 23:59 UTC"
        );
        let rate = Blocker::RateLimit {
            wait: secs(3724),
            until: at + secs(3724),
        };
        assert_eq!(
            rate.said(),
            "is rate-limited until 08:31 UTC (the server asked to wait 1h2m4s, longer than \
             xsafe waits for a request)"
        );
    }

    /// A template's error is a kind of its own: it fails again on every
    /// try, while the strategy's other errors (a clarifier that wrote
    /// nothing) may pass the next time; what the user is told to do goes
    /// by the kind.
    #[test]
    fn a_templates_error_is_a_kind_of_its_own() {
        let template = StrategyError::Template {
            strategy: "mine".into(),
            message: "template error".into(),
        };
        let other = StrategyError::Other {
            strategy: "mine".into(),
            message: "the clarifier wrote nothing".into(),
        };
        assert_eq!((template.kind(), other.kind()), ("template", "strategy"));
        assert_eq!(template.to_string(), "strategy `mine`: template error");
    }
}
