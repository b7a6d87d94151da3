//! Talking to the upstream server, and the upstream as a [`Target`] so an
//! interactive strategy can drive the conversation through it.

use crate::body::RawBody;
use crate::error::ApiError;
use crate::metrics::{Metrics, UpstreamOutcome};
use async_trait::async_trait;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use xsafe_core::{ChatRequest, ChatResponse, Target, TargetError};
use xsafe_target::{
    Redirect, Secrets, asked_wait_of, base_url_hint, encoding_said, endpoint, error_message,
    json_lossy, prompt_filtered, redirect_failure, retry_after, server_said, unasked_encoding,
    without_userinfo,
};

/// An API key that never shows in `Debug` output or logs.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why an upstream request failed.
#[derive(Debug, Clone)]
pub enum UpstreamError {
    /// The client request's time (see [`Upstream::timeout`]) ran out.
    Timeout(Duration),
    /// The upstream could not be reached, or dropped the connection.
    Connection {
        /// How far the request got before the connection failed.
        stage: Stage,
        /// What went wrong.
        message: String,
        /// Whether the proxy had sent the request again before giving up.
        retried: bool,
    },
    /// The upstream answered with a status other than 2xx.
    Status {
        /// The upstream's status.
        status: u16,
        /// What the upstream said.
        message: String,
        /// The `code` and `param` of the upstream's OpenAI-style error
        /// body, when it gave them as strings: a client told the upstream's
        /// `context_length_exceeded` or the field it refused can act on it.
        fields: Box<ErrorFields>,
        /// The operator's fix, for the log only (clients need not learn the
        /// upstream's URL or the operator's variable names): for 401 and
        /// 403 where the proxy's key comes from; for 404, 405 and 501 the
        /// URL asked when the base URL looks wrong.
        operator_hint: String,
        /// The `Retry-After` the client's answer carries when the proxy
        /// passes a 429 or a 5xx on (see [`client_retry_after`]): the
        /// upstream's own as it sent it (seconds or a date), else the wait
        /// it asked for otherwise (`wait`) in whole seconds, rounded up.
        retry_after: Option<String>,
        /// The wait the upstream asked for, from when its answer came
        /// ([`xsafe_target::asked_wait_of`]: its `retry-after-ms`, else its
        /// `Retry-After`, else, for a 429, the reset time of its
        /// `x-ratelimit-reset-*`).
        wait: Option<Duration>,
        /// Whether the proxy had sent the request again before giving up.
        retried: bool,
        /// The headers of the upstream's answer that the client's gets, as
        /// on a success (see [`passed_headers`]): its `x-request-id`, which
        /// an SDK reports with the error as the id to quote to the
        /// upstream's provider, and its `x-ratelimit-*`, by which a client
        /// refused with a 429 paces itself. Boxed, as `fields` is, to keep
        /// the error small.
        passed: Box<HeaderMap>,
    },
    /// The upstream's answer is not a chat completion.
    Invalid {
        /// What is wrong with it.
        message: String,
        /// Whether the proxy had sent the request again to get it.
        retried: bool,
        /// Whether the upstream answers so every time (a body compressed
        /// though no compression was asked for: its setting, the
        /// operator's to change), so that the client is told not to send
        /// the request again (see [`UpstreamError::settled`]).
        settled: bool,
    },
    /// The upstream answered with a redirect the proxy does not follow (a
    /// 301, 302 or 303, which would make a POST a GET; see
    /// [`xsafe_target::redirect_policy`]), or redirected in a loop: the
    /// operator's `--upstream` to fix, the same on every request, so not
    /// retried.
    Redirected {
        /// What happened and what to do, for the operator's log: it names
        /// the upstream's URLs, which clients need not learn.
        message: String,
    },
}

/// How far an upstream request got before its connection failed, as the
/// HTTP client tells them apart: the client is told whether the upstream
/// was reached at all, and a request that was sent (and may have been
/// processed) is not said to have met no server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// No connection was made (refused, unresolvable, not made in time):
    /// the upstream never got the request.
    Connect,
    /// A connection was made and the request written (or begun), then the
    /// connection closed or failed before the answer's status came: the
    /// upstream may have processed the request.
    Sent,
    /// The answer's status and headers came, then its body broke off.
    Answer,
}

/// The `code` and `param` of an OpenAI-style error body
/// (`{"error": {"message", "code", "param"}}`), where they are strings,
/// and the body itself when the client gets it as it came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFields {
    /// `error.code`, e.g. `context_length_exceeded`.
    pub code: Option<String>,
    /// `error.param`, the request field at fault, e.g. `max_tokens`.
    pub param: Option<String>,
    /// The upstream's body as it sent it (credentials taken out), when the
    /// client's answer is that body rather than the proxy's own error: a
    /// provider's content filter or moderation refusing the prompt
    /// ([`xsafe_target::prompt_filtered`]: Azure OpenAI's 400
    /// `content_filter`, OpenRouter's 403 with the flagged input in its
    /// `metadata`), whose details (`innererror`, the filter's results, the
    /// reasons) clients act on, as they do without the proxy.
    pub body: Option<Vec<u8>>,
}

impl ErrorFields {
    /// The fields of the error body `bytes` answered with `status`; none
    /// when it is not JSON. Each is kept to 100 characters, as a field name
    /// or a code is, the `secrets` taken out before it is cut (a credential
    /// cut in two would be found by neither half); a body kept is kept with
    /// them taken out.
    fn of(status: u16, bytes: &[u8], secrets: &Secrets) -> Self {
        let Ok(body) = json_lossy(bytes) else {
            return Self::default();
        };
        let field = |name: &str| {
            body["error"][name]
                .as_str()
                .filter(|v| !v.is_empty())
                .map(|v| secrets.redact(v).chars().take(100).collect())
        };
        ErrorFields {
            code: field("code"),
            param: field("param"),
            body: prompt_filtered(status, &body).then(|| secrets.redact_bytes(bytes)),
        }
    }
}

impl UpstreamError {
    /// The answer to the client. The upstream's 4xx answers about the
    /// request itself (unknown model, bad parameter, rate limit) keep their
    /// status so the client sees what it did wrong, and a 429 a
    /// `Retry-After` (see [`client_retry_after`]) so the client waits as
    /// long as the upstream asked; 5xx and the upstream rejecting the
    /// proxy's own key are the proxy's
    /// problem: 502, which keeps a 5xx's `Retry-After` too (a 503 asking
    /// for a wait the proxy had no time for), lest the client's SDK, told
    /// no wait, send the request again at once. For the latter the client only learns that the operator
    /// must act: the upstream's words and where the key comes from (an
    /// environment variable's name) go to the operator's log.
    pub fn to_api(&self) -> ApiError {
        match self {
            UpstreamError::Timeout(d) => ApiError::upstream_timeout(d.as_secs_f64()),
            UpstreamError::Connection {
                stage: Stage::Connect,
                message,
                ..
            } => ApiError::upstream(format!("cannot reach the upstream server: {message}")),
            UpstreamError::Connection {
                stage: Stage::Sent,
                message,
                ..
            } => ApiError::upstream(format!(
                "the upstream server closed the connection before answering (it was reached, \
                 and the request was sent to it): {message}"
            )),
            UpstreamError::Connection {
                stage: Stage::Answer,
                message,
                ..
            } => ApiError::upstream(format!(
                "the upstream server's answer broke off before its end: {message}"
            )),
            UpstreamError::Invalid { message, .. } => ApiError::upstream(format!(
                "the upstream server's answer is invalid: {message}"
            )),
            UpstreamError::Redirected { message } => {
                let mut error = ApiError::upstream(
                    "the upstream server answered with a redirect the proxy does not follow; the \
                     proxy's operator can fix this",
                );
                error.log = Some(message.as_str().into());
                error
            }
            UpstreamError::Status {
                status,
                message,
                fields,
                operator_hint,
                retry_after,
                ..
            } => {
                match *status {
                    // A 403 refusing the prompt is the upstream's answer
                    // to the request, not to the proxy's key.
                    401 | 403 if !self.is_filtered_prompt() => {
                        let mut error = ApiError::upstream(format!(
                            "the upstream server refused the proxy's credentials (HTTP {status}); \
                         the proxy's operator can fix this"
                        ));
                        error.log = Some(
                        format!(
                            "the upstream server refused the proxy's credentials (HTTP {status}): \
                             {message}{operator_hint}"
                        )
                        .into(),
                    );
                        error
                    }
                    400..=499 => {
                        let log = (!operator_hint.is_empty()).then(|| {
                        format!("the upstream server answered HTTP {status}: {message}{operator_hint}")
                    });
                        let mut error = ApiError::new(
                            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
                            if *status == 429 {
                                "rate_limit_error"
                            } else {
                                "invalid_request_error"
                            },
                            "upstream_rejected",
                            format!("the upstream server answered HTTP {status}: {message}"),
                        );
                        error.client_code = fields.code.as_deref().map(Box::from);
                        error.param = fields.param.as_deref().map(Box::from);
                        if *status == 429 {
                            error.retry_after = retry_after.as_deref().map(Box::from);
                        }
                        error.log = log.map(Into::into);
                        error
                    }
                    _ => {
                        let mut error = ApiError::upstream(format!(
                            "the upstream server answered HTTP {status}: {message}"
                        ));
                        error.retry_after = retry_after.as_deref().map(Box::from);
                        if !operator_hint.is_empty() {
                            error.log = Some(
                                format!(
                                    "the upstream server answered HTTP {status}: \
                                 {message}{operator_hint}"
                                )
                                .into(),
                            );
                        }
                        error
                    }
                }
            }
        }
    }

    fn to_target_error(&self) -> TargetError {
        match self {
            UpstreamError::Timeout(d) => TargetError::Timeout(*d),
            UpstreamError::Connection { message, .. } => TargetError::Connection(message.clone()),
            UpstreamError::Invalid { message, .. } => TargetError::InvalidResponse(message.clone()),
            UpstreamError::Redirected { message } => TargetError::Config(message.clone()),
            UpstreamError::Status {
                status,
                message,
                wait,
                ..
            } => TargetError::Status {
                status: *status,
                message: message.clone(),
                retry_after: *wait,
            },
        }
    }
}

/// The upstream server: its base URL, key, timeout and retries.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The HTTP client every upstream request goes through.
    pub client: reqwest::Client,
    /// The base URL as `--upstream` gives it, e.g.
    /// `http://127.0.0.1:8000/v1`; its query, if any (`?api-version=...`,
    /// which Azure-style servers need), goes after every path asked (see
    /// [`Upstream::url`]).
    pub base: String,
    /// The key as the `Authorization: Bearer` header it is sent as, if any
    /// (none when `userinfo` or `header_auth`); see [`xsafe_target::bearer`].
    pub key: Option<reqwest::header::HeaderValue>,
    /// The headers the operator gave to send with every request (see
    /// `ProxyOptions::upstream_headers`), their values marked sensitive.
    pub headers: reqwest::header::HeaderMap,
    /// Whether `headers` has an `Authorization` header, sent in place of
    /// the key.
    pub header_auth: bool,
    /// Whether the base URL carries a user name and password, sent as
    /// basic authentication in place of a key.
    pub userinfo: bool,
    /// The key, and the user name and password of the base URL (see
    /// [`Secrets::add_url_credentials`]), taken out of every error message
    /// and log line made of what the upstream sent (see
    /// [`Upstream::redacted`]): some servers quote the credentials they
    /// refused.
    pub secrets: Secrets,
    /// Where the key comes from, for the operator's log.
    pub key_env: Option<String>,
    /// For one client request: every upstream request it makes (an
    /// interactive strategy's first reply and its follow-ups) and their
    /// retries. Callers turn it into a deadline with [`Upstream::deadline`]
    /// when the client request starts and pass that to every call.
    pub timeout: Duration,
    /// Retries of a request that failed with 429, a 5xx, no connection, or a
    /// connection closed before the answer.
    pub retries: u32,
}

/// The first wait before a retry; it doubles with each one, up to
/// [`MAX_BACKOFF`], unless the upstream asks for another (see
/// [`xsafe_target::asked_wait_of`]).
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

impl UpstreamError {
    /// Whether sending the request again may succeed: the upstream was
    /// busy, failed on its side, could not be reached, or closed the
    /// connection before answering. The last is retried as the OpenAI SDKs
    /// retry it (a server restarting, a kept-alive connection it closed as
    /// the request went out), though the upstream may have processed the
    /// request. A timeout is not retried: the time for the request is spent.
    fn is_transient(&self) -> bool {
        match self {
            UpstreamError::Connection { .. } => true,
            UpstreamError::Status { status, .. } => matches!(status, 429 | 500 | 502 | 503 | 504),
            UpstreamError::Timeout(_)
            | UpstreamError::Invalid { .. }
            | UpstreamError::Redirected { .. } => false,
        }
    }

    /// Whether the upstream refused the request itself: a 4xx other than
    /// 429 (busy) and 401 or 403 (the proxy's credentials), or a 403 of a
    /// provider's moderation refusing the prompt
    /// ([`UpstreamError::is_filtered_prompt`]). Sent again it would be
    /// refused again.
    pub fn is_rejection(&self) -> bool {
        matches!(self, UpstreamError::Status { status, .. }
            if (400..500).contains(status) && !matches!(status, 401 | 403 | 429))
            || self.is_filtered_prompt()
    }

    /// Whether the upstream's answer is a provider's content filter or
    /// moderation refusing the prompt ([`xsafe_target::prompt_filtered`]),
    /// which the client gets as the upstream sent it, status and body (see
    /// [`ErrorFields::body`]): a 403 so is no refusal of the proxy's key.
    pub fn is_filtered_prompt(&self) -> bool {
        matches!(self, UpstreamError::Status { fields, .. } if fields.body.is_some())
    }

    /// Whether a follow-up that failed so leaves the client the reply
    /// before it (see `Proxy::interactive`): the upstream failed (a 5xx
    /// after the proxy's retries, no connection or one it closed, an answer
    /// that broke off or was no completion) or the request's time ran out.
    /// Not the upstream's 4xx: those refusing the request itself are
    /// [`UpstreamError::is_rejection`]s, answered with the reply before it
    /// too but said so apart; a 429 is passed on, with its `Retry-After`
    /// and rate limits, for the client to pace itself by; and a 401 or 403
    /// is the proxy's own key refused, the operator's to fix, and answered
    /// as on any request, as is a redirect the proxy does not follow.
    pub fn is_upstream_failure(&self) -> bool {
        match self {
            UpstreamError::Timeout(_)
            | UpstreamError::Connection { .. }
            | UpstreamError::Invalid { .. } => true,
            UpstreamError::Status { status, .. } => !(400..500).contains(status),
            UpstreamError::Redirected { .. } => false,
        }
    }

    /// Whether the client's answer should tell it not to send its request
    /// again (`x-should-retry: false`, which the OpenAI SDKs obey over
    /// their own rules): the proxy already sent the failing request again
    /// (until its retries were spent, or until the wait the upstream asked
    /// for would no longer end within the request's time), the request's
    /// time ran out, the upstream refused the proxy's own credentials, or
    /// it redirected the request in a way the proxy does not follow. An
    /// SDK retries 429s and 5xx twice by default: after the proxy's own
    /// retries that would send the upstream three times as many requests,
    /// and after a timeout make the client wait up to three times
    /// `--timeout`, for the same answer; refused credentials and redirects
    /// fail the same way until the operator acts, as does an answer
    /// compressed though no compression was asked for (see
    /// [`UpstreamError::settled`]). An answer the proxy got
    /// only by sending the request again, and that then failed (its body
    /// broken off, or no completion), came after the proxy's retries too. Every other failure
    /// is the client's to retry or not, as with any server: one the proxy
    /// did not retry (a 429 whose wait did not fit in the request's time is
    /// one the client can wait, as its `Retry-After` says; an answer that
    /// was no completion may be a passing fault), and the upstream's 4xx
    /// about the request, which no SDK retries but a 408 or 409.
    pub fn client_should_not_retry(&self) -> bool {
        match self {
            UpstreamError::Timeout(_) | UpstreamError::Redirected { .. } => true,
            UpstreamError::Connection { retried, .. } => *retried,
            UpstreamError::Invalid {
                retried, settled, ..
            } => *retried || *settled,
            UpstreamError::Status {
                status, retried, ..
            } => *retried || (matches!(status, 401 | 403) && !self.is_filtered_prompt()),
        }
    }

    /// An [`UpstreamError::Invalid`]: the answer is no chat completion (or
    /// no model list), for `message`.
    pub fn invalid(message: impl Into<String>) -> Self {
        UpstreamError::Invalid {
            message: message.into(),
            retried: false,
            settled: false,
        }
    }

    /// An [`UpstreamError::Invalid`] that the upstream answers the same
    /// way every time, for `message`: a body compressed though the proxy
    /// asked for no compression. Sent again, the request fails again, so
    /// the client is told not to (`x-should-retry: false`).
    pub fn settled(message: impl Into<String>) -> Self {
        UpstreamError::Invalid {
            message: message.into(),
            retried: false,
            settled: true,
        }
    }

    /// This error, marked as coming after the proxy's retries when
    /// `retried`: the request was sent again before it failed, or before
    /// the answer came whose body then failed (see [`Sent::retried`]).
    pub fn retried_if(mut self, retried: bool) -> Self {
        if let UpstreamError::Connection { retried: r, .. }
        | UpstreamError::Status { retried: r, .. }
        | UpstreamError::Invalid { retried: r, .. } = &mut self
        {
            *r |= retried;
        }
        self
    }

    /// The headers of the upstream's error answer that the client's
    /// answer carries (see [`passed_headers`]), and the body it gets as
    /// the upstream sent it in place of the proxy's error, if any (see
    /// [`ErrorFields::body`]); neither for a failure without an answer.
    pub fn into_passed(self) -> (Option<Box<HeaderMap>>, Option<Vec<u8>>) {
        match self {
            UpstreamError::Status { passed, fields, .. } => (Some(passed), fields.body),
            _ => (None, None),
        }
    }
}

/// An upstream's 2xx answer, its body not yet read.
#[derive(Debug)]
pub struct Sent {
    /// The answer.
    pub response: reqwest::Response,
    /// Whether the proxy sent the request more than once to get it: a
    /// failure of the answer itself (its body broken off, or a body that is
    /// no completion) then comes after the proxy's retries, and is marked
    /// so with [`UpstreamError::retried_if`], lest the client's SDK repeat
    /// them.
    pub retried: bool,
}

impl Upstream {
    /// `error` with the proxy's credentials taken out of every text in it that
    /// the upstream's answer made (see [`Secrets`]): what the client, the
    /// operator's log and a run's store get.
    pub fn redacted(&self, error: UpstreamError) -> UpstreamError {
        let s = &self.secrets;
        match error {
            UpstreamError::Status {
                status,
                message,
                fields,
                operator_hint,
                retry_after,
                wait,
                retried,
                passed,
            } => {
                let ErrorFields { code, param, body } = *fields;
                UpstreamError::Status {
                    status,
                    message: s.redact(&message),
                    fields: Box::new(ErrorFields {
                        code: code.map(|c| s.redact(&c)),
                        param: param.map(|p| s.redact(&p)),
                        body: body.map(|b| s.redact_bytes(&b)),
                    }),
                    operator_hint,
                    retry_after,
                    wait,
                    retried,
                    passed,
                }
            }
            UpstreamError::Connection {
                stage,
                message,
                retried,
            } => UpstreamError::Connection {
                stage,
                message: s.redact(&message),
                retried,
            },
            UpstreamError::Invalid {
                message,
                retried,
                settled,
            } => UpstreamError::Invalid {
                message: s.redact(&message),
                retried,
                settled,
            },
            UpstreamError::Redirected { message } => UpstreamError::Redirected {
                message: s.redact(&message),
            },
            e @ UpstreamError::Timeout(_) => e,
        }
    }

    /// When a client request that starts now must be answered by.
    pub fn deadline(&self) -> Instant {
        // A --timeout too large to add to the clock means no bound in
        // practice: a year stands for it.
        Instant::now()
            .checked_add(self.timeout)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365))
    }

    /// The URL of `path` (`/chat/completions`): the base URL's path with
    /// `path` after it, then the base URL's query, if any (see
    /// [`xsafe_target::endpoint`]).
    pub fn url(&self, path: &str) -> String {
        endpoint(&self.base, path)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .client
            .request(method, self.url(path))
            .headers(self.headers.clone());
        if let Some(key) = &self.key {
            r = r.header(reqwest::header::AUTHORIZATION, key.clone());
        }
        r
    }

    /// Sends a request and waits for the status and headers; a status other
    /// than 2xx is an error with the body's message. A transient failure
    /// (429, 5xx, no connection, a connection closed before the answer;
    /// see [`UpstreamError::is_transient`]) is retried up to `retries` times after a
    /// growing wait, or the one the upstream asks for
    /// ([`xsafe_target::asked_wait_of`]), as long as it ends
    /// before `deadline`: the client request's, shared by every upstream
    /// request made for it.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Bytes>,
        deadline: Instant,
        metrics: &Metrics,
    ) -> Result<Sent, UpstreamError> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let error = match self.attempt(&method, path, &body, deadline, metrics).await {
                Ok(response) => {
                    return Ok(Sent {
                        response,
                        retried: attempt > 0,
                    });
                }
                Err(error) => self.redacted(error),
            };
            let asked = match &error {
                UpstreamError::Status { wait, .. } => *wait,
                _ => None,
            };
            let wait = asked.unwrap_or(backoff);
            let left = deadline.saturating_duration_since(Instant::now());
            if attempt == self.retries || !error.is_transient() || wait >= left {
                return Err(error.retried_if(attempt > 0));
            }
            tracing::debug!(attempt, ?wait, error = ?error, "retrying the upstream request");
            metrics.retry();
            tokio::time::sleep(wait).await;
            attempt += 1;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One attempt of [`Upstream::send`], counted in the metrics with the
    /// time it took whatever its outcome; a status error carries the wait
    /// the upstream asked for, if any.
    async fn attempt(
        &self,
        method: &reqwest::Method,
        path: &str,
        body: &Option<Bytes>,
        deadline: Instant,
        metrics: &Metrics,
    ) -> Result<reqwest::Response, UpstreamError> {
        let mut r = self.request(method.clone(), path);
        if let Some(body) = body {
            r = r
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let sent = Instant::now();
        let mut waiting = Waiting {
            metrics,
            sent,
            over: false,
        };
        let answered = self.within(deadline, r.send()).await;
        waiting.over = true;
        let outcome = match &answered {
            Ok(r) if r.status().is_success() => UpstreamOutcome::Ok,
            Ok(_) => UpstreamOutcome::Status,
            Err(UpstreamError::Timeout(_)) => UpstreamOutcome::Timeout,
            Err(_) => UpstreamOutcome::Connection,
        };
        metrics.upstream_request(sent.elapsed(), outcome);
        let response = answered?;
        let status = response.status().as_u16();
        if matches!(status, 301..=303 | 307 | 308) {
            let url = without_userinfo(&self.url(path));
            let r = Redirect::of(status, &self.url(path), path, response.headers());
            let fix = match (&r.base, &r.location) {
                (Some(base), _) => format!("start `xsafe serve` with --upstream {base}"),
                _ if r.to_itself => "fix the upstream's redirects, or start `xsafe serve` with \
                     the address it answers at as --upstream"
                    .to_string(),
                (None, Some(_)) => "--upstream is likely wrong, or the upstream wants \
                     credentials before it answers (an API key, from the variable \
                     --upstream-key-env names, or a user name and password in the URL): check \
                     both"
                    .to_string(),
                (None, None) => "check --upstream".to_string(),
            };
            return Err(UpstreamError::Redirected {
                message: format!("{} {url}: {}; {fix}", method.as_str(), r.said()),
            });
        }
        if !response.status().is_success() {
            let asked = asked_wait_of(status, response.headers());
            let retry_after = client_retry_after(response.headers(), asked);
            let passed = Box::new(passed_headers(response.headers()));
            let coding = unasked_encoding(response.headers());
            let bytes = self.read(response, deadline).await.unwrap_or_default();
            // The operator's log shows the upstream without credentials.
            let base = without_userinfo(&self.base);
            let url = endpoint(&base, path);
            // The key is taken out before the message is cut (and again
            // by `send`, with every other text of the error).
            let message = match coding {
                Some(coding) if json_lossy(&bytes).is_err() => encoding_said(&coding),
                _ => error_message(&bytes, &self.secrets),
            };
            let fields = ErrorFields::of(status, &bytes, &self.secrets);
            // A prompt refused is no fault of the proxy's key or URL.
            let operator_hint = if fields.body.is_some() {
                String::new()
            } else {
                self.key_hint(status) + &base_url_hint(status, &base, method.as_str(), &url)
            };
            let error = UpstreamError::Status {
                status,
                message,
                fields: Box::new(fields),
                operator_hint,
                retry_after,
                wait: asked,
                retried: false,
                passed,
            };
            return Err(error);
        }
        Ok(response)
    }

    /// For a 401 or 403, whether the proxy sent a key and from where: the
    /// operator's fix, for the log only (clients need not learn the names
    /// of the operator's environment variables).
    fn key_hint(&self, status: u16) -> String {
        if !matches!(status, 401 | 403) {
            return String::new();
        }
        if self.userinfo {
            return " (the upstream refused the user name and password in --upstream)".into();
        }
        if self.header_auth {
            return " (the upstream refused the `Authorization` header of `upstream_headers` in \
                    the config file, sent in place of the API key)"
                .into();
        }
        // Credentials in other headers (`api-key`, as Azure OpenAI wants).
        let given: Vec<String> = self
            .headers
            .keys()
            .filter(|name| {
                let name = name.as_str();
                [
                    "key", "token", "secret", "auth", "password", "session", "cookie",
                ]
                .iter()
                .any(|w| name.contains(w))
            })
            .map(|name| format!("`{name}`"))
            .collect();
        if !given.is_empty() {
            let key = match (&self.key, self.key_env.as_deref()) {
                (Some(_), Some(var)) => format!(" and the API key from `{var}`"),
                (Some(_), None) => " and the API key".to_string(),
                (None, _) => String::new(),
            };
            return format!(
                " (the upstream refused the credentials sent: {} of `upstream_headers` in the \
                 config file{key})",
                given.join(", ")
            );
        }
        match (&self.key, self.key_env.as_deref()) {
            (None, Some(var)) => format!(
                " (the proxy sent no API key: `{var}` was not set when `xsafe serve` started; \
                 set it, or name another variable with --upstream-key-env)"
            ),
            (None, None) => " (the proxy sent no API key: start `xsafe serve` with the key in \
                 OPENAI_API_KEY, or in the variable --upstream-key-env names)"
                .to_string(),
            (Some(_), Some(var)) => {
                format!(" (the upstream refused the proxy's API key, from `{var}`)")
            }
            (Some(_), None) => " (the upstream refused the proxy's API key)".to_string(),
        }
    }

    /// Reads a whole body before `deadline`.
    pub async fn read(
        &self,
        response: reqwest::Response,
        deadline: Instant,
    ) -> Result<Vec<u8>, UpstreamError> {
        Ok(self.within(deadline, response.bytes()).await?.to_vec())
    }

    /// `io` (sending, or reading a body) if it ends before `deadline`: the
    /// deadline spent is the proxy's [`UpstreamError::Timeout`]; any other
    /// failure a lost connection.
    ///
    /// A connection not made is a lost connection whatever the cause, the
    /// client's connect timeout included (reqwest counts that as a timeout
    /// too): the upstream host down or dropping packets is as transient as
    /// one refusing, so it is retried, and with time left in the request it
    /// is no 504 saying the request's time ran out, which a client would
    /// take as the upstream being too slow and not retry. Only a connect
    /// timeout that ends at the deadline (the connect timeout is at most
    /// the request's time) is the request's timeout.
    async fn within<T>(
        &self,
        deadline: Instant,
        io: impl std::future::Future<Output = reqwest::Result<T>>,
    ) -> Result<T, UpstreamError> {
        match tokio::time::timeout_at(deadline.into(), io).await {
            Err(_) => Err(UpstreamError::Timeout(self.timeout)),
            Ok(Err(e)) if e.is_connect() && Instant::now() < deadline => {
                Err(UpstreamError::Connection {
                    stage: Stage::Connect,
                    message: describe(e),
                    retried: false,
                })
            }
            Ok(Err(e)) if e.is_timeout() => Err(UpstreamError::Timeout(self.timeout)),
            Ok(Err(e)) => Err(match redirect_failure(&e) {
                // Sent again, it would go round the same way.
                Some(why) => UpstreamError::Redirected {
                    message: format!(
                        "{why}; fix the upstream's redirects, or start `xsafe serve` with the \
                         address it answers at as --upstream"
                    ),
                },
                None => UpstreamError::Connection {
                    stage: stage_of(&e),
                    message: describe(e),
                    retried: false,
                },
            }),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// A non-streaming chat completion of the request `body` (its JSON
    /// text), answered before `deadline`: the response as JSON, with the headers of it a client may see. A body
    /// that fails after the request was sent again fails after the
    /// proxy's retries (see [`Sent::retried`]).
    pub async fn complete(
        &self,
        body: Vec<u8>,
        deadline: Instant,
        metrics: &Metrics,
    ) -> Result<Completion, UpstreamError> {
        let Sent { response, retried } = self
            .send(
                reqwest::Method::POST,
                "/chat/completions",
                Some(body.into()),
                deadline,
                metrics,
            )
            .await?;
        let headers = passed_headers(response.headers());
        let coding = unasked_encoding(response.headers());
        let body = self
            .read(response, deadline)
            .await
            .and_then(|bytes| completion(&bytes, coding.as_deref()))
            .map_err(|e| self.redacted(e.retried_if(retried)))?;
        Ok(Completion {
            body,
            headers,
            retried,
        })
    }
}

/// An upstream request waiting for its answer's status: dropped before it
/// came (its client request dropped, the client having closed its
/// connection), it is counted as [`UpstreamOutcome::Cancelled`], with the
/// time it had waited.
struct Waiting<'a> {
    metrics: &'a Metrics,
    sent: Instant,
    /// The answer came, or the request failed: counted by its outcome.
    over: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.over {
            self.metrics
                .upstream_request(self.sent.elapsed(), UpstreamOutcome::Cancelled);
        }
    }
}

/// One upstream chat completion: its body, and the headers of its answer
/// that are passed on to the client ([`passed_headers`]).
#[derive(Debug, Clone)]
pub struct Completion {
    /// The completion as the upstream sent it.
    pub body: Value,
    /// The headers of the upstream's answer the client gets.
    pub headers: HeaderMap,
    /// Whether the proxy sent the request more than once to get it (see
    /// [`Sent::retried`]): a completion found wanting later is still a
    /// failure after the proxy's retries.
    pub retried: bool,
}

impl Completion {
    /// Whether the completion has no choice at all (`"choices": []`, as
    /// some upstreams answer a prompt their filter blocked): nothing to
    /// judge or to follow up.
    pub fn has_no_choices(&self) -> bool {
        self.body["choices"].as_array().is_some_and(Vec::is_empty)
    }
}

/// The headers of an upstream's answer that the proxy passes on with its
/// own, on a success and on the client's answer to an error status:
/// `x-request-id`, which an SDK reports as the request's id (the one to
/// quote to the upstream's provider), and the `x-ratelimit-*` headers, by
/// which a client paces itself (a 429's most of all). The others stay
/// with the proxy: the upstream's framing (content length and encoding,
/// transfer encoding: the proxy's body is not the upstream's) and
/// hop-by-hop headers are the proxy's connection's own, and the rest (the
/// provider's organization, its cookies, its server) tells the client
/// about an upstream it need not know, as the proxy keeps the upstream's
/// URL from it. A header the upstream's `Connection` header names is
/// hop-by-hop, whatever its name.
pub fn passed_headers(upstream: &HeaderMap) -> HeaderMap {
    let hop_by_hop: Vec<String> = upstream
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut passed = HeaderMap::new();
    for (name, value) in upstream {
        let name_str = name.as_str();
        if (name_str == "x-request-id" || name_str.starts_with("x-ratelimit-"))
            && !hop_by_hop.iter().any(|h| h == name_str)
        {
            passed.append(name.clone(), value.clone());
        }
    }
    passed
}

/// A chat completion's body as JSON, read as `xsafe run` reads one
/// ([`json_lossy`]: a broken character is U+FFFD); a body that is not one
/// (not JSON, not an object, no `choices`: some servers answer an error
/// with HTTP 200) is an invalid answer, quoting the server's
/// `error.message` when it has one, never passed to the client as a
/// success. A body that is not JSON and came with the content coding
/// `coding` ([`unasked_encoding`]) is said to be compressed, an error the
/// upstream makes every time ([`UpstreamError::settled`]).
pub fn completion(bytes: &[u8], coding: Option<&str>) -> Result<Value, UpstreamError> {
    let value: Value = json_lossy(bytes).map_err(|e| match coding {
        Some(coding) => UpstreamError::settled(encoding_said(coding)),
        None => UpstreamError::invalid(format!("the body is not JSON ({e})")),
    })?;
    if !value.is_object() {
        return Err(UpstreamError::invalid("the body is not a JSON object"));
    }
    if !value["choices"].is_array() {
        let said = server_said(&value)
            .map(|m| format!("; the server said: {m}"))
            .unwrap_or_default();
        return Err(UpstreamError::invalid(format!(
            "the answer has no `choices`{said}"
        )));
    }
    Ok(value)
}

/// The `Retry-After` for the client's answer to an upstream error answer
/// with `headers`, which asked for the wait `asked` (see
/// [`xsafe_target::asked_wait_of`]): the upstream's own `Retry-After`
/// when it reads ([`retry_after`]: seconds, or a date, passed on as it
/// came), else `asked` in whole seconds, rounded up (a `retry-after-ms` of
/// 1500 is `2`; a 429's `x-ratelimit-reset-requests: 40s` is `40`), the
/// unit `Retry-After` has; `None` when the upstream asked for no wait.
fn client_retry_after(headers: &HeaderMap, asked: Option<Duration>) -> Option<String> {
    if retry_after(headers).is_some() {
        let sent = headers.get(header::RETRY_AFTER)?.to_str().ok()?;
        return Some(sent.trim().to_string());
    }
    let asked = asked?;
    let secs = asked.as_secs() + u64::from(asked.subsec_nanos() > 0);
    Some(secs.to_string())
}

/// How far a request that failed for another reason than its time got:
/// reqwest tells a connection not made (`is_connect`) from a failure once
/// it was made, and a body that broke off (`is_decode`, `is_body`: the
/// status had come) from one before the answer's status.
fn stage_of(e: &reqwest::Error) -> Stage {
    if e.is_connect() {
        Stage::Connect
    } else if e.is_decode() || e.is_body() {
        Stage::Answer
    } else {
        Stage::Sent
    }
}

/// A reqwest error without the URL (which may carry credentials in its
/// userinfo), with its causes.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The upstream as a target for one client request: the strategy's
/// messages are mapped onto the client's request, whose other fields
/// (model, temperature, tools...) go along untouched.
pub struct Conversation<'a> {
    /// Where the strategy's requests go.
    pub upstream: &'a Upstream,
    /// Counts every upstream request and retry.
    pub metrics: &'a Metrics,
    /// The client request's deadline: the first reply and every follow-up
    /// share it, so a strategy's turns cannot add up to more than the
    /// proxy's timeout.
    pub deadline: Instant,
    /// The client's body as it came, without `stream`, `stream_options`
    /// and `messages`.
    pub template: RawBody,
    /// The client's messages with the strategy's opening merged in: what
    /// stands for the strategy's first `opening_len` messages.
    pub base: Vec<Value>,
    /// How many of the strategy's messages `base` stands for.
    pub opening_len: usize,
    /// The last successful response, as the upstream sent it, with the
    /// headers of it the client gets: those of the upstream request whose
    /// reply is the client's answer.
    pub last: Mutex<Option<Completion>>,
    /// An answer with no choices (see [`Completion::has_no_choices`]): it
    /// ends the conversation, there being nothing to judge or follow up.
    pub empty: Mutex<Option<Completion>>,
    /// The last failure, so the client gets the right status.
    pub error: Mutex<Option<UpstreamError>>,
    /// Token counts over the upstream's answers.
    pub usage: Mutex<Usage>,
    /// Requests the strategy has sent: its first and each follow-up,
    /// answered or not.
    pub sent: AtomicU32,
    /// Of those, the ones answered with a reply (now in `last`, or before
    /// it): all of them when the time runs out while a reply is judged.
    pub answered: AtomicU32,
}

/// The tokens of a conversation's upstream answers, as their `usage`
/// reported them: an upstream need not send `usage` (a server that does
/// not count, a stream without `include_usage` turned into a completion),
/// and an answer without it is counted apart, not as zero tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Prompt tokens, summed over the answers that reported usage.
    pub prompt_tokens: u64,
    /// Completion tokens, likewise.
    pub completion_tokens: u64,
    /// The answers that reported usage.
    pub reported: u32,
    /// The answers that did not: their tokens are in neither sum.
    pub unreported: u32,
}

impl Usage {
    /// Adds one upstream answer: its `(prompt, completion)` tokens, or
    /// `None` when it reported no usage.
    pub fn add(&mut self, usage: Option<(u64, u64)>) {
        match usage {
            Some((prompt, completion)) => {
                self.prompt_tokens += prompt;
                self.completion_tokens += completion;
                self.reported += 1;
            }
            None => self.unreported += 1,
        }
    }

    /// As the extension field's `usage` gives it: `null` when no answer
    /// reported usage (the tokens are unknown, not zero); else the sums
    /// over the answers that did (`prompt_tokens`, `completion_tokens`,
    /// `total_tokens`), with `unreported_answers`, how many answers did
    /// not and so are in no sum, when some did not.
    pub fn to_json(self) -> Value {
        if self.reported == 0 {
            return Value::Null;
        }
        let mut usage = json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        });
        if self.unreported > 0 {
            usage["unreported_answers"] = self.unreported.into();
        }
        usage
    }
}

impl Conversation<'_> {
    /// The follow-ups sent so far, answered or not.
    pub fn followups(&self) -> u32 {
        self.sent.load(Ordering::SeqCst).saturating_sub(1)
    }

    /// Whether every request sent was answered with a reply: the reply in
    /// `last` is the last request's, not the one before a follow-up still
    /// waited for.
    pub fn all_answered(&self) -> bool {
        self.answered.load(Ordering::SeqCst) == self.sent.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Target for Conversation<'_> {
    fn id(&self) -> &str {
        "upstream"
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, TargetError> {
        let mut messages = self.base.clone();
        for m in request.messages.iter().skip(self.opening_len) {
            // A provider's refusal goes back as its text (`Message::said`).
            messages.push(json!({"role": m.role.as_str(), "content": m.said()}));
        }
        let body = self.template.to_json(Some(&messages));
        // Every request after the first is a follow-up, counted as it is
        // sent: one that fails or outlasts the timeout was sent all the same.
        if self.sent.fetch_add(1, Ordering::SeqCst) > 0 {
            self.metrics.followup();
        }
        match self
            .upstream
            .complete(body, self.deadline, self.metrics)
            .await
        {
            Ok(answer) if answer.has_no_choices() => {
                let usage = answer.body["usage"].as_object().map(|u| {
                    let tokens = |name: &str| u.get(name).and_then(Value::as_u64).unwrap_or(0);
                    (tokens("prompt_tokens"), tokens("completion_tokens"))
                });
                self.usage.lock().unwrap().add(usage);
                *self.empty.lock().unwrap() = Some(answer);
                // Stops the strategy; the proxy answers with what it has.
                Err(TargetError::InvalidResponse(
                    "the upstream answered with no choices".into(),
                ))
            }
            Ok(answer) => {
                // Read as every target reads a completion, so the judge sees
                // the answer without reasoning, as in `xsafe run`.
                // A completion found wanting after the request was sent
                // again is a failure after the proxy's retries.
                let parsed = xsafe_target::parse_chat_completion(&answer.body).map_err(|e| {
                    let why = match e {
                        TargetError::InvalidResponse(why) => why,
                        other => other.to_string(),
                    };
                    let error = UpstreamError::invalid(why).retried_if(answer.retried);
                    self.upstream.redacted(error)
                });
                match parsed {
                    Ok(response) => {
                        let usage = response
                            .usage
                            .map(|u| (u.prompt_tokens, u.completion_tokens));
                        self.usage.lock().unwrap().add(usage);
                        *self.last.lock().unwrap() = Some(answer);
                        self.answered.fetch_add(1, Ordering::SeqCst);
                        Ok(response)
                    }
                    Err(e) => {
                        let err = e.to_target_error();
                        *self.error.lock().unwrap() = Some(e);
                        Err(err)
                    }
                }
            }
            Err(e) => {
                let err = e.to_target_error();
                *self.error.lock().unwrap() = Some(e);
                Err(err)
            }
        }
    }
}
