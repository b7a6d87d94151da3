use std::time::Duration;

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
    /// The target is set up wrongly (missing key, bad URL...). Not retried.
    #[error("{0}")]
    Config(String),
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
    /// never take the request, so they are final.
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
            TargetError::Config(_) | TargetError::Exhausted { .. } => false,
        }
    }

    /// A short stable name for the kind of error, used in stored errors and
    /// metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            TargetError::Status { status: 429, .. } => "rate_limited",
            TargetError::Status { status, .. } if *status >= 500 => "server_error",
            TargetError::Status { .. } => "client_error",
            TargetError::Timeout(_) => "timeout",
            TargetError::Connection(_) => "connection",
            TargetError::InvalidResponse(_) => "invalid_response",
            TargetError::Config(_) => "config",
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
