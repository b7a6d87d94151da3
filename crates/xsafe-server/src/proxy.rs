//! The proxy's routes: chat completions with the profile's strategy
//! applied, models, health and metrics.

use crate::body::RawBody;
use crate::config::ConfigError;
use crate::error::{ApiError, ErrorKind};
use crate::http::{ClientStalled, Stopped};
use crate::metrics::{
    CLIENT_CLOSED, CLIENT_STALLED, FOLLOWUP_FAILED, FOLLOWUP_REJECTED, Metrics, STREAM_FAILED,
};
use crate::upstream::{
    Completion, Conversation, Secret, Sent, Upstream, UpstreamError, Usage, passed_headers,
};
use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use xsafe_core::{Judge, JudgeError, Message, Prompt, Role, Strategy, Transcript, Verdict};
use xsafe_strategy::Composite;

/// The response header that reports how many follow-ups were sent.
pub const FOLLOWUPS_HEADER: &str = "x-xsafe-followups";
/// The response header naming the strategy applied.
pub const STRATEGY_HEADER: &str = "x-xsafe-strategy";
/// The response header saying what of the strategy a request did not get
/// and why (a conversation without a question), as the `not_applied` of
/// the `xsafe` field does; a stream passed through has only the header.
pub const NOT_APPLIED_HEADER: &str = "x-xsafe-not-applied";
/// The response header by which an error answer tells the client whether
/// to send its request again; the OpenAI SDKs obey it over their own
/// rules. See [`UpstreamError::client_should_not_retry`].
const SHOULD_RETRY_HEADER: &str = "x-should-retry";

/// Request bodies above this are refused with 413 unless configured.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
/// How long the upstream may take to answer, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// How many times a request the upstream failed (429, 5xx, no connection,
/// or a connection closed before the answer) is sent again, unless
/// configured.
pub const DEFAULT_UPSTREAM_RETRIES: u32 = 2;

/// How the proxy is set up.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// The upstream's base URL, e.g. `http://127.0.0.1:8000/v1`.
    pub upstream: String,
    /// The API key sent to the upstream as a bearer token; `None` sends none.
    pub upstream_key: Option<Secret>,
    /// The environment variable the key is read from, for the message when
    /// the upstream refuses the proxy's credentials.
    pub upstream_key_env: Option<String>,
    /// Headers sent with every upstream request, as `(name, value)`: an
    /// Azure-style `api-key`, a provider's attribution headers. Their values
    /// are never logged, and are taken out of what the upstream's answers
    /// quote. One named `Authorization` is sent in place of the bearer key
    /// (`xsafe serve` refuses it beside a variable of the key named on
    /// purpose: [`ProxyOptions::refuse_named_key_beside_credentials`]).
    pub upstream_headers: Vec<(String, Secret)>,
    /// Client keys as `(name, sha256)`.
    pub keys: Vec<(String, [u8; 32])>,
    /// Serve without client keys (only when `keys` is empty).
    pub allow_anonymous: bool,
    /// The largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// The upstream's time for one client request, counted from its first
    /// upstream request: every upstream request made for it (an interactive
    /// strategy's reply and follow-ups, and the judging in between) and
    /// their retries. A client request still unanswered then gets a 504.
    /// For a stream passed through, it bounds the wait for the stream to
    /// start; once it has, it is how long the upstream may stall between
    /// two chunks (a steady stream may last longer).
    pub timeout: Duration,
    /// Retries of a request the upstream failed before any of its answer
    /// reached the client.
    pub upstream_retries: u32,
    /// The most client connections held at once; further clients wait to
    /// be accepted until one closes. `None` derives it from the process's
    /// open-file limit (raised to its hard limit at start), keeping room
    /// for an upstream socket per connection and for the process's own
    /// files, so that idle clients cannot use up the descriptors the
    /// requests being answered need.
    pub max_connections: Option<NonZeroUsize>,
    /// How long connecting to the upstream may take before the attempt is
    /// a failed connection (retried as one), at most `timeout`. An upstream
    /// whose address drops the handshake would otherwise hold each attempt
    /// for the whole request's time, with no retry left.
    pub connect_timeout: Duration,
}

/// How long connecting to the upstream may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl ProxyOptions {
    /// Options for the upstream at `upstream` (its base URL) with no keys
    /// either way and the default limits. [`Proxy::new`] refuses them until
    /// `keys` is filled or `allow_anonymous` is set.
    pub fn new(upstream: impl Into<String>) -> Self {
        ProxyOptions {
            upstream: upstream.into(),
            upstream_key: None,
            upstream_key_env: None,
            upstream_headers: Vec::new(),
            keys: Vec::new(),
            allow_anonymous: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            timeout: DEFAULT_TIMEOUT,
            upstream_retries: DEFAULT_UPSTREAM_RETRIES,
            max_connections: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Refuses a variable of the upstream's API key named on purpose
    /// beside the upstream's other credentials, as a target refuses
    /// `--api-key-env` beside an `Authorization` header: an `Authorization`
    /// header among `headers` (see [`ProxyOptions::upstream_headers`]), or
    /// a user name and password in the `upstream` URL (sent as basic
    /// authentication). Both would be sent as the `Authorization` header,
    /// so the proxy would send the other alone and leave the key out
    /// without a word (see [`Proxy::new`]).
    ///
    /// Each setting comes with where it was given, as the error names it:
    /// `key_env`, the variable and what named it (`--upstream-key-env`, or
    /// `` `upstream_key_env` in the config file `serve.toml` ``); `headers`
    /// and where they were given (`` in `upstream_headers` of the config
    /// file `serve.toml` ``); `upstream` and what gave it (`--upstream`).
    /// A variable nobody named (`xsafe serve`'s default,
    /// `OPENAI_API_KEY`) is no case for it: its key is simply not sent.
    pub fn refuse_named_key_beside_credentials(
        key_env: (&str, &str),
        headers: (&[(String, Secret)], &str),
        upstream: (&str, &str),
    ) -> Result<(), ConfigError> {
        let ((var, named_by), (headers, headers_given), (url, url_given)) =
            (key_env, headers, upstream);
        let header = headers
            .iter()
            .any(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"));
        let url = url.trim();
        let (other, alone) = if header {
            (
                format!("the `Authorization` header given {headers_given}"),
                "the header",
            )
        } else if xsafe_target::without_userinfo(url) != url {
            (
                format!("the user name and password in the upstream URL ({url_given})"),
                "the URL's",
            )
        } else {
            return Ok(());
        };
        Err(ConfigError::Other(format!(
            "the upstream's API key variable `{var}` (named by {named_by}) and {other} would \
             both be sent as the `Authorization` header: give one of them (leave out \
             {named_by} to send {alone} alone)"
        )))
    }
}

/// The proxy's state: the strategy, the judge, the upstream and counters.
pub struct Proxy {
    options: ProxyOptions,
    strategy: Composite,
    interactive: bool,
    judge: Option<Arc<dyn Judge>>,
    upstream: Upstream,
    /// Shared with the streams being passed through, which count their
    /// failures after the response has left.
    metrics: Arc<Metrics>,
    /// Set when the server stopped without the requests still open: those
    /// are dropped with the process, not by their clients, and are neither
    /// logged nor counted as clients that went away.
    stopped: Arc<AtomicBool>,
}

impl Proxy {
    /// `judge` is needed when the strategy has an interactive step.
    pub fn new(
        options: ProxyOptions,
        strategy: Composite,
        judge: Option<Arc<dyn Judge>>,
    ) -> Result<Proxy, ConfigError> {
        let interactive = strategy
            .sends_followups()
            .map_err(|e| ConfigError::Other(e.to_string()))?;
        if interactive && judge.is_none() {
            return Err(ConfigError::Other(format!(
                "the strategy `{}` is interactive and needs a judge",
                strategy.name()
            )));
        }
        if options.max_body_bytes == 0 {
            return Err(ConfigError::Other(
                "--max-body-bytes 0 would refuse every request with 413: give the largest \
                 request body to accept, in bytes (1048576 by default), or leave it out"
                    .into(),
            ));
        }
        if options.keys.is_empty() && !options.allow_anonymous {
            return Err(ConfigError::Other(
                "no client keys: add [[keys]] to the config file (`xsafe serve hash-key` makes \
                 one), or pass --no-auth to serve without authentication"
                    .into(),
            ));
        }
        let given = options.upstream.trim();
        let shown = xsafe_target::without_userinfo(given);
        if !(given.starts_with("http://") || given.starts_with("https://")) {
            return Err(ConfigError::Other(format!(
                "--upstream `{shown}` is not an http:// or https:// URL"
            )));
        }
        if given.contains(',') {
            return Err(ConfigError::Other(format!(
                "--upstream `{shown}`: the proxy takes one upstream URL (a comma-separated list \
                 is not read as replicas here); put a load balancer in front of several"
            )));
        }
        if given.contains('#') {
            return Err(ConfigError::Other(format!(
                "--upstream `{shown}`: a URL's `#` part is never sent to a server; leave it out"
            )));
        }
        // A query (`?api-version=...`, as Azure-style servers need) goes
        // after each path asked, not before it (see `Upstream::url`).
        let base = given.to_string();
        // A user name and password in the URL are the upstream's
        // credentials (sent as basic authentication): no API key beside them.
        let userinfo = xsafe_target::without_userinfo(&base) != base;
        let headers = upstream_headers(&options.upstream_headers)?;
        // Nor beside an `Authorization` header given on purpose: both
        // would be two `Authorization` headers.
        let header_auth = headers.contains_key(reqwest::header::AUTHORIZATION);
        let key = match &options.upstream_key {
            Some(key) => Some(xsafe_target::bearer(&key.0).ok_or_else(|| {
                ConfigError::Other(format!(
                    "the upstream's API key{} is not a valid HTTP header value (a line break or \
                     another control character in it, such as a trailing newline?); fix the \
                     variable",
                    options
                        .upstream_key_env
                        .as_deref()
                        .map(|v| format!(" in `{v}`"))
                        .unwrap_or_default()
                ))
            })?),
            None => None,
        }
        .filter(|_| !userinfo && !header_auth);
        let client = reqwest::Client::builder()
            .connect_timeout(options.timeout.min(options.connect_timeout))
            .redirect(xsafe_target::redirect_policy())
            .build()
            .map_err(|e| ConfigError::Other(format!("cannot build the HTTP client: {e}")))?;
        let mut secrets = xsafe_target::Secrets::new();
        if let Some(key) = &options.upstream_key {
            secrets.add_api_key(&key.0);
        }
        // Sent as basic authentication, which an upstream may quote back.
        secrets.add_url_credentials(&base);
        // Every value configured, whatever its header's name: the user put
        // it in `[upstream_headers]`, and an upstream may quote it back.
        for (name, value) in &options.upstream_headers {
            secrets.add_header_value(name, &value.0);
            secrets.add_configured_header_value(&value.0);
        }
        let upstream = Upstream {
            client,
            base,
            key,
            headers,
            header_auth,
            userinfo,
            secrets,
            key_env: options.upstream_key_env.clone(),
            timeout: options.timeout,
            retries: options.upstream_retries,
        };
        Ok(Proxy {
            options,
            strategy,
            interactive,
            judge,
            upstream,
            metrics: Arc::default(),
            stopped: Arc::default(),
        })
    }

    /// The profile's strategy, applied to every request.
    pub fn strategy(&self) -> &Composite {
        &self.strategy
    }

    /// Checks the bearer key; returns the key's name.
    fn authorize(&self, headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
        if self.options.keys.is_empty() && self.options.allow_anonymous {
            return Ok(None);
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "missing API key: send `Authorization: Bearer KEY`",
            ));
        };
        let key = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, key) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
            })
            .ok_or_else(|| {
                ApiError::unauthorized("malformed Authorization header: use `Bearer KEY`")
            })?;
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Compare every byte of every hash, so the time taken says nothing.
        let mut found = None;
        for (name, stored) in &self.options.keys {
            let diff = stored
                .iter()
                .zip(hash.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 && found.is_none() {
                found = Some(name.as_str());
            }
        }
        found
            .map(Some)
            .ok_or_else(|| ApiError::unauthorized("invalid API key"))
    }

    async fn read_body(&self, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
        let limit = self.options.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::too_large(limit));
        }
        let mut stream = body.into_data_stream();
        let mut out = Vec::with_capacity(declared.unwrap_or(0) as usize);
        // The whole body within the request's time: a client that stops
        // sending would otherwise hold its connection, and a graceful
        // shutdown, as long as it likes.
        let timeout = self.options.timeout;
        let read = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| {
                    if malformed_body(&e) {
                        ApiError::bad_request(
                            "unreadable_body",
                            format!("cannot read the body: {e}"),
                        )
                    } else {
                        // Cut short by the client's hang-up: no answer
                        // reaches it, and the request is no bad one.
                        ApiError::client_closed()
                    }
                })?;
                if out.len() + chunk.len() > limit {
                    return Err(ApiError::too_large(limit));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(())
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| ApiError::request_timeout(timeout.as_secs_f64()))??;
        Ok(out)
    }

    async fn chat(
        &self,
        caller: &Caller,
        stalled: ClientStalled,
        headers: HeaderMap,
        body: Body,
    ) -> Result<Response, Failure> {
        caller.identify(self.authorize(&headers)?);
        encoding(&headers)?;
        let bytes = self.read_body(&headers, body).await?;
        // Read as the upstream's answers are: a lone surrogate escape
        // (`"\ud800"`, which Python's `json` writes) is U+FFFD.
        let invalid = |e: serde_json::Error| {
            ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
        };
        let (request, bytes) = crate::body::read_lossy(bytes).map_err(invalid)?;
        let parsed = validate(&request)?;
        // What goes upstream: the client's fields as it wrote them (a
        // `Value` would rewrite some numbers), `messages` as merged.
        let raw = RawBody::parse(&bytes).map_err(invalid)?;
        let messages = request["messages"].as_array().cloned().unwrap_or_default();
        // Only a conversation that ends with a user message with text (a
        // question) is judged and followed up; the others pass through as
        // with any strategy.
        let question = parsed
            .last_user
            .is_some_and(|i| i + 1 == messages.len() && !parsed.prompt.trim().is_empty());
        let interactive = self.interactive && question;
        if interactive {
            one_choice(&request, self.strategy.name())?;
        }
        let prompt = Prompt::new(parsed.prompt.clone());
        // A user message without text (an image or audio only) is left as
        // it came by a `user` template, which has no prompt to ask (see
        // `Contextual::contribute`); its system text and exemplars apply.
        let mut opening = self
            .strategy
            .opening_async(&prompt)
            .await
            .map_err(|e| ApiError::internal(format!("the strategy failed: {e}")))?;
        // Without a user message, only the system text: the exemplar turns
        // answer questions, and put after the client's system messages
        // they would end its conversation with an answer of their own.
        let exemplars_left_out =
            parsed.last_user.is_none() && opening.iter().any(|m| m.role == Role::Assistant);
        if parsed.last_user.is_none() {
            opening.retain(|m| m.role == Role::System);
        }
        let not_applied = self.not_applied(&parsed, &messages, &opening, exemplars_left_out);
        let merged = merge(&messages, &opening, parsed.last_user, &parsed.prompt);
        // Whether the upstream gets other messages than the client sent (a
        // system text added, exemplar turns put before them, the last one
        // rewritten): baseline's, or those of a strategy that adds nothing
        // to this conversation, go as they came. An upstream's `param`
        // naming a message is about its own messages, so only then is it
        // the client's (see `Failure::without_messages_param`).
        let changed = merged != messages;
        // One deadline for everything this request asks of the upstream, so
        // follow-ups and retries cannot stretch the client's wait past
        // --timeout.
        let deadline = self.upstream.deadline();
        let response = if interactive {
            let template = raw.without(&["stream", "stream_options", "messages"]);
            let turns = Turns {
                template,
                merged,
                opening,
            };
            self.interactive(caller, &request, turns, &prompt, parsed.stream, deadline)
                .await
        } else {
            // Messages the strategy left as they came go as they came too.
            let body = raw.to_json(changed.then_some(merged.as_slice()));
            let extra = not_applied
                .as_ref()
                .map_or(Value::Null, |n| json!({"not_applied": n}));
            if parsed.stream {
                let watch = (caller.clone(), stalled);
                self.stream_through(body, &request, deadline, extra, watch)
                    .await
            } else {
                self.forward(body, deadline, extra).await
            }
        };
        let mut response = response.map_err(|f| {
            if changed {
                f.without_messages_param()
            } else {
                f
            }
        })?;
        // Also for a stream passed through, which has no `xsafe` field.
        if let Some(v) = not_applied.and_then(|n| HeaderValue::from_str(&n).ok()) {
            response.headers_mut().insert(NOT_APPLIED_HEADER, v);
        }
        // Logged with the others by `count`.
        Ok(response)
    }

    /// What of the strategy a request that is not followed up does not get,
    /// and why, for the `not_applied` of its `xsafe` field; `None` when it
    /// gets all of it. Without a question (a conversation with no user
    /// message, or whose last user message has no text: an image alone)
    /// there is nothing to follow up (the reply is not judged) or to put in
    /// a contextual `user` template, and without a user message the
    /// exemplar turns are left out too (`exemplars_left_out`); a
    /// conversation that does not end with the user's message is not
    /// followed up. What `opening` (as sent) still applies is said too: the
    /// system text, the exemplars.
    fn not_applied(
        &self,
        parsed: &Parsed,
        messages: &[Value],
        opening: &[Message],
        exemplars_left_out: bool,
    ) -> Option<String> {
        let no_text = parsed.prompt.trim().is_empty();
        let why = match parsed.last_user {
            None => "the conversation has no user message, so there is no question",
            Some(_) if no_text => "the last user message has no text, so there is no question",
            Some(i) if i + 1 < messages.len() => {
                "the conversation does not end with a user message"
            }
            Some(_) => return None,
        };
        let mut not = Vec::new();
        if self.interactive {
            not.push("the follow-ups (the reply was not judged)");
        }
        if no_text && self.strategy.rewrites_prompt() {
            not.push("the contextual `user` template");
        }
        if exemplars_left_out {
            not.push("the few-shot exemplars");
        }
        if not.is_empty() {
            return None;
        }
        let mut applied = Vec::new();
        if opening.first().is_some_and(|m| m.role == Role::System) {
            applied.push("the system text");
        }
        if opening.iter().any(|m| m.role == Role::Assistant) {
            applied.push("the few-shot exemplars");
        }
        if !no_text && self.strategy.rewrites_prompt() {
            applied.push("the contextual `user` template");
        }
        let mut said = format!("{why}: not applied: {}", not.join(", "));
        if !applied.is_empty() {
            said.push_str(&format!("; applied: {}", applied.join(", ")));
        }
        Some(said)
    }

    fn extension(&self, followups: u32, extra: Value) -> Value {
        let mut ext = json!({"strategy": self.strategy.name(), "followups": followups});
        if let (Value::Object(ext), Value::Object(extra)) = (&mut ext, extra) {
            ext.extend(extra);
        }
        ext
    }

    /// The proxy's headers on a successful answer, after the upstream's
    /// that are passed on (see [`passed_headers`]).
    fn headers(&self, response: &mut Response, followups: u32, upstream: HeaderMap) {
        let h = response.headers_mut();
        h.extend(upstream);
        h.insert(FOLLOWUPS_HEADER, HeaderValue::from(followups));
        if let Ok(v) = HeaderValue::from_str(self.strategy.name()) {
            h.insert(STRATEGY_HEADER, v);
        }
    }

    /// `answer` as JSON, with the extension field and the headers: the
    /// proxy's, and those of `answer`'s upstream request.
    fn json_response(&self, answer: Completion, followups: u32, extra: Value) -> Response {
        let Completion {
            mut body, headers, ..
        } = answer;
        if let Value::Object(map) = &mut body {
            map.insert("xsafe".into(), self.extension(followups, extra));
        }
        let mut response = (
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        self.headers(&mut response, followups, headers);
        response
    }

    /// Sends `body` (the request's JSON text) and answers with the
    /// upstream's completion.
    async fn forward(
        &self,
        body: Vec<u8>,
        deadline: Instant,
        extra: Value,
    ) -> Result<Response, Failure> {
        let answer = self
            .upstream
            .complete(body, deadline, &self.metrics)
            .await
            .map_err(Failure::upstream)?;
        Ok(self.json_response(answer, 0, extra))
    }

    /// A response whose body is an event stream, with the proxy's headers
    /// and the upstream's that are passed on.
    fn event_stream(
        &self,
        body: Body,
        content_type: HeaderValue,
        followups: u32,
        upstream: HeaderMap,
    ) -> Response {
        let mut response = Response::new(body);
        let h = response.headers_mut();
        h.insert(header::CONTENT_TYPE, content_type);
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        self.headers(&mut response, followups, upstream);
        response
    }

    /// A whole completion as the `chat.completion.chunk` events a client
    /// that asked `request` to stream expects, ending with `[DONE]` (with a
    /// usage chunk if it asked for `stream_options.include_usage`).
    fn events_response(
        &self,
        answer: Completion,
        request: &Value,
        followups: u32,
        extra: Value,
    ) -> Response {
        let include_usage = request["stream_options"]["include_usage"] == Value::Bool(true);
        let events = as_events(
            &answer.body,
            include_usage,
            self.extension(followups, extra),
        );
        self.event_stream(
            Body::from(events),
            HeaderValue::from_static("text/event-stream"),
            followups,
            answer.headers,
        )
    }

    /// Streams the upstream's events to the client as they come. The
    /// deadline bounds the wait for the stream to start (retries
    /// included); after that the status is sent, and only a stall of the
    /// whole timeout ends the stream: a long answer arriving steadily is
    /// not cut off. An upstream that answers with one JSON completion
    /// instead (a server that ignores `stream`) has it sent as events; any
    /// other answer that is not an event stream is a 502.
    async fn stream_through(
        &self,
        bytes: Vec<u8>,
        request: &Value,
        deadline: Instant,
        extra: Value,
        watch: (Caller, ClientStalled),
    ) -> Result<Response, Failure> {
        let Sent {
            response: upstream,
            retried,
        } = self
            .upstream
            .send(
                reqwest::Method::POST,
                "/chat/completions",
                Some(bytes.into()),
                deadline,
                &self.metrics,
            )
            .await
            .map_err(Failure::upstream)?;
        // The answer failing now fails after the proxy's retries, if any.
        let failed =
            |e: UpstreamError| Failure::upstream(self.upstream.redacted(e.retried_if(retried)));
        let passed = passed_headers(upstream.headers());
        let coding = xsafe_target::unasked_encoding(upstream.headers());
        let content_type = upstream
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
        let media_type = content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(|t| {
                let t = t.split(';').next().unwrap_or_default().trim();
                t.to_ascii_lowercase()
            });
        match (content_type, media_type.as_deref()) {
            // Compressed events would reach the client as garbage: the
            // proxy's answer has no `Content-Encoding`.
            (Some(_), Some("text/event-stream")) if coding.is_some() => {
                let said = xsafe_target::encoding_said(coding.as_deref().unwrap_or_default());
                Err(failed(UpstreamError::settled(said)))
            }
            (Some(content_type), Some("text/event-stream")) => {
                Ok(self.pass_events(upstream, content_type, passed, watch))
            }
            // One JSON body: a server that ignores `stream`, or an error
            // some servers send with HTTP 200 (checked as any completion).
            (_, Some(t)) if t == "application/json" || t.ends_with("+json") => {
                let body = self
                    .upstream
                    .read(upstream, deadline)
                    .await
                    .and_then(|bytes| crate::upstream::completion(&bytes, coding.as_deref()))
                    .map_err(failed)?;
                let answer = Completion {
                    body,
                    headers: passed,
                    retried,
                };
                Ok(self.events_response(answer, request, 0, extra))
            }
            // An HTML page with 200, plain text...: not an answer.
            (_, media_type) => {
                let bytes = self
                    .upstream
                    .read(upstream, deadline)
                    .await
                    .unwrap_or_default();
                let what = media_type.map_or_else(
                    || "a body without a content type".to_string(),
                    |t| format!("`{t}`"),
                );
                Err(failed(UpstreamError::invalid(format!(
                    "a streaming request was answered with {what}, not an event stream: {}",
                    xsafe_target::error_message(&bytes, &self.upstream.secrets)
                ))))
            }
        }
    }

    /// The upstream's event stream passed on as it comes. A stall of the
    /// whole timeout, a broken connection, or an end without `data: [DONE]`
    /// (an upstream that closed the stream cleanly before finishing it)
    /// ends it with an error: the status is already sent, so the client
    /// sees the connection close without the body's end, which an SDK
    /// reports as an error rather than taking a truncated answer for a
    /// whole one. Each is counted among the errors as [`STREAM_FAILED`].
    /// The body ends after the chunk that holds `[DONE]`: what the upstream
    /// does after it (closing late, stalling, failing) is not the client's
    /// to wait for. `passed` are the upstream's headers the client gets.
    ///
    /// A client that goes away before the end (it closed its connection, or
    /// accepted none of the stream for the timeout: see
    /// [`crate::http::Limits::write_timeout`]) drops the stream and with it
    /// the upstream's; `watch` (who asked, and its connection's
    /// [`ClientStalled`]) says which in the log line and the errors metric
    /// ([`CLIENT_CLOSED`], [`CLIENT_STALLED`]).
    fn pass_events(
        &self,
        upstream: reqwest::Response,
        content_type: HeaderValue,
        passed: HeaderMap,
        watch: (Caller, ClientStalled),
    ) -> Response {
        let idle = self.upstream.timeout;
        let metrics = Arc::clone(&self.metrics);
        let (caller, stalled) = watch;
        let logged = caller.clone();
        // What is left to send: the upstream's chunks, then perhaps a last
        // one of ours, then nothing.
        enum Next {
            Upstream,
            Last(&'static [u8]),
            End,
        }
        let chunks = futures::stream::unfold(
            (
                Box::pin(upstream.bytes_stream()),
                DoneWatch::default(),
                Next::Upstream,
            ),
            move |(mut s, mut watch, next)| {
                let metrics = Arc::clone(&metrics);
                let caller = logged.clone();
                async move {
                    match next {
                        Next::Upstream => {}
                        Next::Last(bytes) => {
                            let last = axum::body::Bytes::from_static(bytes);
                            return Some((Ok(last), (s, watch, Next::End)));
                        }
                        Next::End => return None,
                    }
                    let error = match tokio::time::timeout(idle, s.next()).await {
                        Ok(Some(Ok(b))) => {
                            // After `[DONE]` the client has the whole answer:
                            // its body ends there, whether the upstream then
                            // closes, keeps the connection open or fails,
                            // with the blank line that ends the event if the
                            // upstream has not sent it yet (a client drops an
                            // event that the stream ends inside).
                            watch.scan(&b);
                            let next = if watch.closed() {
                                Next::End
                            } else if watch.seen() {
                                Next::Last(b"\n")
                            } else {
                                Next::Upstream
                            };
                            return Some((Ok(b), (s, watch, next)));
                        }
                        // A server that never sends `[DONE]` (some do not)
                        // ended after a finish reason: whole; the client
                        // gets the `[DONE]` OpenAI's clients expect.
                        Ok(None) if watch.finish() && !watch.seen() => {
                            let done = axum::body::Bytes::from_static(b"\ndata: [DONE]\n\n");
                            return Some((Ok(done), (s, watch, Next::End)));
                        }
                        Ok(None) if watch.finish() => return None,
                        Ok(None) => std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the upstream ended the stream in the middle of an answer (no \
                             finish reason, no `data: [DONE]`)",
                        ),
                        Ok(Some(Err(e))) => std::io::Error::other(e.without_url().to_string()),
                        Err(_) => std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the upstream stalled",
                        ),
                    };
                    tracing::warn!(
                        client = %caller.client(),
                        status = 200,
                        code = STREAM_FAILED,
                        ms = caller.ms(),
                        "the upstream's stream failed after it started: {error}"
                    );
                    metrics.error(STREAM_FAILED);
                    Some((Err(error), (s, watch, Next::End)))
                }
            },
        );
        let watched = Watched {
            inner: Box::pin(chunks),
            ended: false,
            caller,
            stalled,
            metrics: Arc::clone(&self.metrics),
            stopped: Arc::clone(&self.stopped),
            timeout: self.upstream.timeout,
        };
        self.event_stream(Body::from_stream(watched), content_type, 0, passed)
    }

    /// Sends upstream, judges the reply and follows up on refusals before
    /// answering; a streaming client gets the final reply as events once
    /// the judge has decided. Every turn shares `deadline`. The answer is
    /// made of several upstream requests, but carries the upstream headers
    /// (request id, rate limits) of one: the request whose reply it is, the
    /// last one answered (the last follow-up's, unless that was refused).
    ///
    /// An upstream answer with no choices (`"choices": []`, a prompt the
    /// upstream's filter blocked) ends the conversation: there is nothing to
    /// judge or follow up. The first one is the client's answer, as any
    /// other strategy passes it on; a follow-up's gets the client the reply
    /// before it, as a follow-up the upstream refuses does, rather than
    /// trading an answer for none. So does a follow-up the upstream fails
    /// (a 5xx after the retries, no connection, a broken answer) or that
    /// the request's time runs out on, marked `followup_failed`: the
    /// client could only ask again, for the same first reply and another
    /// follow-up. A 429 on a follow-up is passed on, with its
    /// `Retry-After`, and the upstream refusing the proxy's key is a 502,
    /// as on a first request; a first request failing or out of time is
    /// the client's error whatever the failure, there being no reply yet.
    /// A follow-up's failure is logged with the `caller`'s client and time,
    /// as a failure answered is.
    async fn interactive(
        &self,
        caller: &Caller,
        request: &Value,
        turns: Turns,
        prompt: &Prompt,
        stream: bool,
        deadline: Instant,
    ) -> Result<Response, Failure> {
        let judge = self.judge.as_deref().expect("checked in Proxy::new");
        let Turns {
            template,
            merged,
            opening,
        } = turns;
        let conversation = Conversation {
            upstream: &self.upstream,
            metrics: &self.metrics,
            deadline,
            template,
            base: merged,
            opening_len: opening.len(),
            last: Mutex::new(None),
            empty: Mutex::new(None),
            error: Mutex::new(None),
            usage: Mutex::new(Usage::default()),
            sent: AtomicU32::new(0),
            answered: AtomicU32::new(0),
        };
        let counting = Counting {
            inner: judge,
            metrics: &self.metrics,
            last: Mutex::new(None),
            judged: AtomicU32::new(0),
        };
        // Each upstream request already stops at the deadline; this also
        // bounds the judging between them: the client waits the timeout at
        // most, whatever the turns spend it on.
        let run = self
            .strategy
            .run_from(prompt, opening, &conversation, &counting, None);
        let ran = tokio::time::timeout_at(deadline.into(), run).await;
        let followups = conversation.followups();
        let mut verdict = counting.last.lock().unwrap().take();
        let empty = conversation.empty.lock().unwrap().take();
        let (complied_at_turn, marker) = match ran {
            Ok(Ok(transcript)) => (transcript.complied_at_turn, None),
            // The time ran out during a follow-up (or while its reply was
            // judged): the client gets the reply it has, as for a
            // follow-up the upstream failed.
            Err(_) if followups > 0 => {
                let secs = self.upstream.timeout.as_secs_f64();
                let error = if conversation.all_answered() {
                    format!(
                        "the proxy's time for a request ({secs} s, follow-ups included) ran out \
                         after the follow-up's reply came, while it was judged; the answer is \
                         that reply"
                    )
                } else {
                    ApiError::upstream_timeout(secs).message.into_string()
                };
                // A verdict of the reply before the one answered (the time
                // ran out while the last was judged) is not the answer's.
                if counting.judged.load(Ordering::SeqCst)
                    < conversation.answered.load(Ordering::SeqCst)
                {
                    verdict = None;
                }
                (
                    None,
                    Some(self.followup_failed(caller, followups, &error, &error)),
                )
            }
            Err(_) => return Err(Failure::timeout(self.upstream.timeout.as_secs_f64())),
            // The first answer had no choices: it is the client's.
            Ok(Err(_)) if empty.is_some() && followups == 0 => {
                *conversation.last.lock().unwrap() = empty;
                (None, None)
            }
            // A follow-up's had none: the reply before it is.
            Ok(Err(_)) if empty.is_some() => {
                let message = "the upstream answered the follow-up with no choices";
                tracing::warn!(
                    client = %caller.client(),
                    status = 200,
                    code = FOLLOWUP_REJECTED,
                    followups,
                    ms = caller.ms(),
                    "{message}; answering with the reply before it"
                );
                self.metrics.error(FOLLOWUP_REJECTED);
                (None, Some(Marker::Rejected(message.to_string())))
            }
            Ok(Err(e)) => match conversation.error.lock().unwrap().take() {
                // A follow-up the upstream refused (the conversation grown
                // past its context, say): the client's request was valid
                // and the reply before it is an answer, so it gets that,
                // with what happened in the extension field.
                Some(upstream) if upstream.is_rejection() && followups > 0 => {
                    let error = upstream.to_api();
                    tracing::warn!(
                        client = %caller.client(),
                        status = 200,
                        code = FOLLOWUP_REJECTED,
                        followups,
                        ms = caller.ms(),
                        "the upstream refused a follow-up; answering with the reply before it: {}",
                        error.log_message()
                    );
                    self.metrics.error(FOLLOWUP_REJECTED);
                    (None, Some(Marker::Rejected(error.message.into_string())))
                }
                // A follow-up the upstream failed (5xx after the retries,
                // no connection, a broken answer) or ran out of time on:
                // nothing the client did, and nothing it could do but ask
                // again, for the same first reply and another follow-up.
                // It gets the reply it has, said so apart from a refusal.
                Some(upstream) if upstream.is_upstream_failure() && followups > 0 => {
                    let error = upstream.to_api();
                    let marker = self.followup_failed(
                        caller,
                        followups,
                        &error.message,
                        error.log_message(),
                    );
                    (None, Some(marker))
                }
                // The conversation a follow-up failed in is not the
                // client's: a `param` naming one of its messages is not
                // one the client sent. (A 429, passed on for the client to
                // pace itself, or the proxy's key refused.)
                Some(upstream) if followups > 0 => {
                    return Err(Failure::upstream(upstream).without_messages_param());
                }
                Some(upstream) => return Err(Failure::upstream(upstream)),
                None => {
                    return Err(ApiError::internal(format!("the strategy failed: {e}")).into());
                }
            },
        };
        let Some(last) = conversation.last.lock().unwrap().take() else {
            return Err(ApiError::internal("no upstream answer").into());
        };
        // Null when no upstream answer reported usage, and saying how many
        // did not when some did not (see `Usage::to_json`).
        let usage = conversation.usage.lock().unwrap().to_json();
        let mut extra = json!({
            "complied_at_turn": complied_at_turn,
            "verdict": verdict,
            "usage": usage,
        });
        match marker {
            Some(Marker::Rejected(message)) => {
                extra["followup_rejected"] = Value::String(message);
            }
            Some(Marker::Failed(message)) => {
                extra["followup_failed"] = Value::String(message);
            }
            None => {}
        }
        if stream {
            Ok(self.events_response(last, request, followups, extra))
        } else {
            Ok(self.json_response(last, followups, extra))
        }
    }

    /// For a follow-up the upstream failed or the time ran out on: logs
    /// it (`log`, the operator's text) with the `caller`'s client and
    /// time, counts it as [`FOLLOWUP_FAILED`], and gives the marker saying
    /// so (`message`, the client's text) on the reply before it.
    fn followup_failed(&self, caller: &Caller, followups: u32, message: &str, log: &str) -> Marker {
        tracing::warn!(
            client = %caller.client(),
            status = 200,
            code = FOLLOWUP_FAILED,
            followups,
            ms = caller.ms(),
            "a follow-up failed; answering with the reply before it: {log}"
        );
        self.metrics.error(FOLLOWUP_FAILED);
        Marker::Failed(message.to_string())
    }

    /// `GET /v1/models`: the upstream's list as it sent it, with its
    /// headers that are passed on.
    async fn models(&self, caller: &Caller, headers: HeaderMap) -> Result<Response, Failure> {
        caller.identify(self.authorize(&headers)?);
        let (bytes, passed, _) = self.model_list().await?;
        let mut response = ([(header::CONTENT_TYPE, "application/json")], bytes).into_response();
        response.headers_mut().extend(passed);
        Ok(response)
    }

    /// `GET /v1/models/{id}` (an SDK's `models.retrieve`): the model's
    /// entry in the upstream's list, as the upstream wrote it, or OpenAI's
    /// 404 `model_not_found` for an id the list does not have. Answered
    /// from the list that `GET /v1/models` passes on rather than from the
    /// upstream's own `/models/{id}`: vLLM and llama.cpp's server serve
    /// only the list, so passing the latter through would answer 404 for
    /// the very model they serve, and the two routes would disagree. An id
    /// may hold slashes (`org/model`, as Hugging Face names do), sent as
    /// they are or encoded (`%2F`).
    async fn model(
        &self,
        caller: &Caller,
        headers: HeaderMap,
        id: Result<Path<String>, PathRejection>,
    ) -> Result<Response, Failure> {
        caller.identify(self.authorize(&headers)?);
        let Path(id) = id.map_err(|e| {
            ApiError::bad_request(
                "invalid_request",
                format!("the model id is unreadable: {e}"),
            )
        })?;
        let (bytes, passed, retried) = self.model_list().await?;
        let invalid =
            |why: String| Failure::upstream(UpstreamError::invalid(why).retried_if(retried));
        let list: Value = xsafe_core::json_from_slice_lossy(&bytes)
            .map_err(|e| invalid(format!("the model list is not JSON ({e})")))?;
        let Some(models) = list["data"].as_array() else {
            return Err(invalid("the model list has no `data` array".into()));
        };
        let Some(model) = models.iter().find(|m| m["id"].as_str() == Some(&id)) else {
            let shown: String = id.chars().take(200).collect();
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                format!(
                    "The model `{shown}` does not exist: the upstream's model list (GET \
                     /v1/models) does not have it"
                ),
            )
            .with_param("model")
            .into());
        };
        let mut response = (
            [(header::CONTENT_TYPE, "application/json")],
            model.to_string(),
        )
            .into_response();
        response.headers_mut().extend(passed);
        Ok(response)
    }

    /// The upstream's `/models` body, its headers that are passed on, and
    /// whether the proxy sent the request more than once to get it (see
    /// [`Sent::retried`]).
    async fn model_list(&self) -> Result<(Vec<u8>, HeaderMap, bool), Failure> {
        let deadline = self.upstream.deadline();
        let Sent { response, retried } = self
            .upstream
            .send(
                reqwest::Method::GET,
                "/models",
                None,
                deadline,
                &self.metrics,
            )
            .await
            .map_err(Failure::upstream)?;
        let passed = passed_headers(response.headers());
        let coding = xsafe_target::unasked_encoding(response.headers());
        let failed =
            |e: UpstreamError| Failure::upstream(self.upstream.redacted(e.retried_if(retried)));
        let bytes = self
            .upstream
            .read(response, deadline)
            .await
            .map_err(failed)?;
        // Passed on as it came: a compressed list would reach the client as
        // garbage, the proxy's answer having no `Content-Encoding`.
        if let Some(coding) = coding
            && xsafe_target::json_lossy(&bytes).is_err()
        {
            return Err(failed(UpstreamError::settled(xsafe_target::encoding_said(
                &coding,
            ))));
        }
        Ok((bytes, passed, retried))
    }
}

/// A failure answered to the client: the API error, whether its answer
/// tells the client not to send the request again (`x-should-retry:
/// false`; see [`UpstreamError::client_should_not_retry`]), and the
/// upstream's headers it carries. Only failures of the upstream's are so
/// marked: the proxy's own 4xx are about the client's request, which no
/// SDK retries but a 408, and a 408 for a body that did not arrive may well
/// arrive the next time. The error and the headers are boxed: beside the
/// flag they would make every `Result` of the proxy's larger than the
/// [`ApiError`] kept just under clippy's bound for an error's size.
struct Failure {
    error: Box<ApiError>,
    no_retry: bool,
    /// The headers of the upstream's error answer that are passed on (see
    /// [`passed_headers`]): its request id and rate limits.
    upstream_headers: Option<Box<HeaderMap>>,
    /// The upstream's error body, answered as it came in place of the
    /// error's own (see [`crate::upstream::ErrorFields::body`]: a content
    /// filter's refusal of the prompt), with the error's status.
    upstream_body: Option<Vec<u8>>,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure {
            error: Box::new(error),
            no_retry: false,
            upstream_headers: None,
            upstream_body: None,
        }
    }
}

impl Failure {
    /// The client's answer to an upstream failure.
    fn upstream(e: UpstreamError) -> Self {
        let no_retry = e.client_should_not_retry();
        let error = Box::new(e.to_api());
        let (upstream_headers, upstream_body) = e.into_passed();
        Failure {
            error,
            no_retry,
            upstream_headers,
            upstream_body,
        }
    }

    /// A 504: the request's `secs` seconds ran out. Sent again it would
    /// have as long and most likely fare the same.
    fn timeout(secs: f64) -> Self {
        Failure {
            error: Box::new(ApiError::upstream_timeout(secs)),
            no_retry: true,
            upstream_headers: None,
            upstream_body: None,
        }
    }

    /// This failure without a `param` that names one of the messages
    /// (`messages[7].content`), for a request whose messages the strategy
    /// changed: the upstream's `param` indexes the messages it got, with
    /// the strategy's system message or exemplar turns among them, and
    /// would point the client at a message it never sent, or at another
    /// than the one meant. No param is better than a wrong one; the
    /// upstream's code and message still say what is wrong.
    fn without_messages_param(mut self) -> Self {
        if self
            .error
            .param
            .as_deref()
            .is_some_and(|p| p.starts_with("messages"))
        {
            self.error.param = None;
        }
        self
    }

    /// The answer, carrying the operator's text of the failure for the
    /// request's log line (see [`FailureLog`]).
    fn respond(self) -> Response {
        let Failure {
            error,
            no_retry,
            upstream_headers,
            upstream_body,
        } = self;
        let log = FailureLog(error.log_message().into());
        let mut response = (*error).into_response();
        response.extensions_mut().insert(log);
        if let Some(body) = upstream_body {
            *response.body_mut() = Body::from(body);
        }
        if let Some(passed) = upstream_headers {
            response.headers_mut().extend(*passed);
        }
        if no_retry {
            response
                .headers_mut()
                .insert(SHOULD_RETRY_HEADER, HeaderValue::from_static("false"));
        }
        response
    }
}

/// Why an interactive answer is the reply before the last follow-up, in
/// the extension field: `followup_rejected` or `followup_failed`, with what
/// the upstream answered (or that the time ran out).
enum Marker {
    /// The upstream refused the follow-up with a 4xx, or answered it with
    /// no choices.
    Rejected(String),
    /// The upstream failed the follow-up (5xx, no connection, a broken
    /// answer), or the request's time ran out during it.
    Failed(String),
}

/// What an interactive strategy's upstream requests are made of.
struct Turns {
    /// The client's body as it came, without `stream`, `stream_options`
    /// and `messages`.
    template: RawBody,
    /// The client's messages with the strategy's opening merged in.
    merged: Vec<Value>,
    /// The strategy's opening, which `merged` stands for.
    opening: Vec<Message>,
}

/// What the proxy needs from a chat request, checked.
struct Parsed {
    /// Index of the last user message: the prompt the strategy applies to.
    /// `None` for a conversation without one, which gets what of the
    /// strategy needs no question.
    last_user: Option<usize>,
    /// The last user message's text (empty without one).
    prompt: String,
    stream: bool,
}

fn validate(request: &Value) -> Result<Parsed, ApiError> {
    let bad = |m: String| ApiError::bad_request("invalid_request", m);
    let Value::Object(map) = request else {
        return Err(bad("the body must be a JSON object".into()));
    };
    if let Some(model) = map.get("model")
        && !model.is_string()
    {
        return Err(bad("`model` must be a string".into()));
    }
    let stream = match map.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("`stream` must be a boolean".into())),
    };
    if let Some(o) = map.get("stream_options")
        && !(o.is_object() || o.is_null())
    {
        return Err(bad("`stream_options` must be an object".into()));
    }
    let Some(messages) = map.get("messages") else {
        return Err(bad("`messages` is required".into()));
    };
    let Value::Array(messages) = messages else {
        return Err(bad("`messages` must be an array".into()));
    };
    for (i, m) in messages.iter().enumerate() {
        let Value::Object(m) = m else {
            return Err(bad(format!("`messages[{i}]` must be an object")));
        };
        if !m.get("role").is_some_and(Value::is_string) {
            return Err(bad(format!("`messages[{i}].role` must be a string")));
        }
        match m.get("content") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(Value::Array(parts)) => {
                if let Some(j) = parts.iter().position(|p| !p.is_object()) {
                    return Err(bad(format!(
                        "`messages[{i}].content[{j}]` must be an object"
                    )));
                }
            }
            Some(_) => {
                return Err(bad(format!(
                    "`messages[{i}].content` must be a string or an array of parts"
                )));
            }
        }
    }
    let last_user = messages.iter().rposition(|m| m["role"] == "user");
    Ok(Parsed {
        last_user,
        prompt: last_user.map_or_else(String::new, |i| text_of(&messages[i]["content"])),
        stream,
    })
}

/// For a request an interactive strategy answers: that it asks for one
/// choice. The strategy judges one reply and follows up on it, so the
/// other choices of an `n` > 1 would reach the client unjudged (a refusal
/// among them unmitigated), or be thrown away by the follow-up; such a
/// request is refused before anything is sent upstream, as is an `n` that
/// is no count of choices at all (which a lenient upstream might read as
/// several). `n` absent, `null` or 1 is one choice, and goes upstream as
/// it came.
fn one_choice(request: &Value, strategy: &str) -> Result<(), ApiError> {
    let n = match request.get("n") {
        None | Some(Value::Null) => return Ok(()),
        Some(n) if n.as_f64() == Some(1.0) => return Ok(()),
        Some(n) => n,
    };
    let error = match n.as_u64() {
        Some(count) if count > 1 => ApiError::bad_request(
            "unsupported_value",
            format!(
                "`n` = {count} asks for {count} choices, but this profile's strategy \
                 (`{strategy}`) is interactive: it judges one answer at a time and follows up \
                 on a refusal before answering, so it gives one choice per request; ask with \
                 n = 1 (or without `n`), or send {count} requests"
            ),
        ),
        _ => ApiError::bad_request(
            "invalid_request",
            format!(
                "`n` must be a positive integer, the number of choices, not {n}; this \
                 profile's strategy (`{strategy}`) is interactive and judges one answer at a \
                 time, so ask with n = 1 (or without `n`)"
            ),
        ),
    };
    Err(error.with_param("n"))
}

/// For a request body sent with a `Content-Encoding` (gzip, say): a 415
/// saying so, rather than a 400 saying the compressed bytes are not JSON.
/// The proxy reads bodies as they are sent; `identity` is no encoding.
fn encoding(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let codings: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
        .collect();
    if codings.is_empty() {
        return Ok(());
    }
    let shown: String = codings.join(", ").chars().take(100).collect();
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "invalid_request_error",
        "unsupported_encoding",
        format!(
            "the request body's Content-Encoding `{shown}` is not supported: send the JSON \
             body uncompressed"
        ),
    ))
}

/// Whether a part of a message's content is text, as [`text_of`] reads it:
/// `{"type": "text", "text": "..."}`, or a part with `text` and no `type`.
fn is_text_part(part: &Value) -> bool {
    (part["type"] == "text" || part.get("type").is_none()) && part["text"].is_string()
}

/// A message's text: the content, or its text parts joined.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| is_text_part(p))
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The content `content` with its text rewritten to `text`: a string
/// becomes `text`; an array of parts (text with an image or audio) keeps
/// every part that is not text, in order, and gets `text` as one text part
/// where its first text part was (that part's other fields kept), since the
/// text it replaces is all of the parts' text joined. Only the text is the
/// strategy's to rewrite: an image the client sent still reaches the model.
fn with_text(content: &Value, text: &str) -> Value {
    let Value::Array(parts) = content else {
        return Value::String(text.to_string());
    };
    let mut out = Vec::with_capacity(parts.len());
    let mut placed = false;
    for part in parts {
        if !is_text_part(part) {
            out.push(part.clone());
        } else if !placed {
            let mut part = part.clone();
            part["text"] = Value::String(text.to_string());
            out.push(part);
            placed = true;
        }
    }
    if !placed {
        out.insert(0, json!({"type": "text", "text": text}));
    }
    Value::Array(out)
}

fn is_system(m: &Value) -> bool {
    matches!(m["role"].as_str(), Some("system" | "developer"))
}

/// What goes between a system prompt and the strategy's system text after
/// it: what `xsafe run` and `xsafe tune` put between the target's
/// `--system-prompt` and the strategy's system message (the OpenAI target
/// and the local one both send `"{system_prompt}\n\n{strategy}"`), so that
/// a client sending that prompt as its system message gets what the
/// profile's rates were measured with.
const SYSTEM_JOIN: &str = "\n\n";

/// The content of the client's leading system (or developer) message with
/// the strategy's system text `text` after it, as a run sends the target's
/// system prompt and the strategy's text: `"{client}\n\n{text}"`. An empty
/// one stands for no system prompt, and becomes `text` alone, as a run
/// without one sends. In a message of parts, `text` goes at the end of its
/// last text part, after a blank line: a server that renders parts as one
/// text (joining them with a line break, as vLLM does, or with nothing)
/// then renders the client's parts as it would have, and the strategy's
/// text after them as the run's single string has it. A text part of its
/// own would come after the server's separator instead (a single line
/// break, or none), which is not what the rates were measured with. Parts
/// without text (none a system message should have) are kept, with `text`
/// as a text part after them.
fn with_strategy_system(content: &Value, text: &str) -> Value {
    let after = |s: &str| {
        if s.is_empty() {
            text.to_string()
        } else {
            format!("{s}{SYSTEM_JOIN}{text}")
        }
    };
    match content {
        Value::String(s) => Value::String(after(s)),
        Value::Array(parts) => {
            let mut parts = parts.clone();
            match parts.iter().rposition(is_text_part) {
                Some(i) => {
                    let joined = after(parts[i]["text"].as_str().unwrap_or_default());
                    parts[i]["text"] = Value::String(joined);
                }
                None => parts.push(json!({"type": "text", "text": text})),
            }
            Value::Array(parts)
        }
        _ => Value::String(text.to_string()),
    }
}

/// The client's messages with the strategy's opening merged in: the
/// strategy's system text after the text of the last of the client's
/// leading system (or developer) messages, as a run puts it after the
/// target's system prompt (see `with_strategy_system`), or in a new system
/// message; its
/// exemplar turns after the system messages; and the last user message's
/// text as the strategy rewrote it (if it did; its parts that are not
/// text, an image or audio, kept: see `with_text`). Every message of the
/// client keeps its other fields. `last_user` is the index of the last user
/// message, `None` for a conversation without one (whose opening has no
/// user turn to rewrite it with).
pub fn merge(
    messages: &[Value],
    opening: &[Message],
    last_user: Option<usize>,
    prompt: &str,
) -> Vec<Value> {
    let (system, rest) = match opening.split_first() {
        Some((first, rest)) if first.role == Role::System => (Some(first.content.as_str()), rest),
        _ => (None, opening),
    };
    let (user, turns) = match rest.split_last() {
        Some((last, turns)) if last.role == Role::User => (Some(last.content.as_str()), turns),
        _ => (None, rest),
    };
    let leading = messages.iter().take_while(|m| is_system(m)).count();
    let mut out = Vec::with_capacity(messages.len() + turns.len() + 1);
    match system {
        // After the last of the client's system messages: all the client's
        // system text comes first, as a run's system prompt does.
        Some(text) if leading > 0 => {
            out.extend(messages[..leading - 1].iter().cloned());
            let mut m = messages[leading - 1].clone();
            m["content"] = with_strategy_system(&m["content"], text);
            out.push(m);
        }
        Some(text) => out.push(json!({"role": "system", "content": text})),
        None => out.extend(messages[..leading].iter().cloned()),
    }
    out.extend(
        turns
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content})),
    );
    for (i, m) in messages.iter().enumerate().skip(leading) {
        if Some(i) == last_user
            && let Some(user) = user
            && user != prompt
        {
            let mut m = m.clone();
            m["content"] = with_text(&m["content"], user);
            out.push(m);
        } else {
            out.push(m.clone());
        }
    }
    out
}

/// A completion as the events a streaming client expects: the message as
/// one delta, then the finish reason, then usage if asked, then `[DONE]`.
/// Every field of the message but its `role` goes into the delta as it is,
/// as OpenAI streams them (`content`, `refusal`, `tool_calls` with their
/// `index`, `function_call`, `audio`, `annotations`, and a vendor's own,
/// such as `reasoning_content` or `reasoning`), a null one left out; the
/// choice's `logprobs` come with it, and its other fields (vLLM's
/// `stop_reason`, say) with its finish reason. The completion's fields but
/// `choices`, `usage` and `prompt_filter_results` head every chunk. Its
/// `prompt_filter_results` (Azure OpenAI's, which say why a prompt it
/// filtered has no choice) come first, on a chunk of their own with no
/// choice, as Azure streams them.
fn as_events(completion: &Value, include_usage: bool, extension: Value) -> String {
    let mut head = serde_json::Map::new();
    if let Value::Object(fields) = completion {
        for (field, v) in fields {
            if !matches!(
                field.as_str(),
                "choices" | "usage" | "prompt_filter_results" | "object" | "xsafe"
            ) {
                head.insert(field.clone(), v.clone());
            }
        }
    }
    head.insert("object".into(), "chat.completion.chunk".into());
    let chunk = |choices: Value, extra: Option<(&str, Value)>| {
        let mut c = head.clone();
        c.insert("choices".into(), choices);
        if let Some((k, v)) = extra {
            c.insert(k.into(), v);
        }
        format!("data: {}\n\n", Value::Object(c))
    };
    let mut out = String::new();
    if let Some(results) = completion
        .get("prompt_filter_results")
        .filter(|v| !v.is_null())
    {
        out.push_str(&chunk(
            json!([]),
            Some(("prompt_filter_results", results.clone())),
        ));
    }
    let choices = completion["choices"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, choice) in choices.iter().enumerate() {
        let index = choice.get("index").cloned().unwrap_or(json!(i));
        let mut delta = serde_json::Map::new();
        delta.insert("role".into(), "assistant".into());
        if let Value::Object(message) = &choice["message"] {
            for (field, v) in message {
                if field == "role" || v.is_null() {
                    continue;
                }
                let v = match (field.as_str(), v) {
                    // A streamed tool call says which call it is part of.
                    ("tool_calls", Value::Array(calls)) => Value::Array(
                        calls
                            .iter()
                            .enumerate()
                            .map(|(k, c)| {
                                let mut c = c.clone();
                                if let Value::Object(c) = &mut c {
                                    c.insert("index".into(), json!(k));
                                }
                                c
                            })
                            .collect(),
                    ),
                    _ => v.clone(),
                };
                delta.insert(field.clone(), v);
            }
        }
        let mut delta_choice = json!({"index": index, "delta": delta, "finish_reason": null});
        // A client that asked for `logprobs` gets them with the text they
        // are of, as a streamed answer has them.
        if let Some(logprobs) = choice.get("logprobs").filter(|v| !v.is_null()) {
            delta_choice["logprobs"] = logprobs.clone();
        }
        out.push_str(&chunk(json!([delta_choice]), None));
    }
    for (i, choice) in choices.iter().enumerate() {
        let index = choice.get("index").cloned().unwrap_or(json!(i));
        let last = i + 1 == choices.len() && !include_usage;
        let mut end =
            json!({"index": index, "delta": {}, "finish_reason": choice["finish_reason"]});
        if let (Value::Object(end), Value::Object(fields)) = (&mut end, choice) {
            for (field, v) in fields {
                if !matches!(
                    field.as_str(),
                    "index" | "message" | "logprobs" | "finish_reason" | "delta"
                ) {
                    end.insert(field.clone(), v.clone());
                }
            }
        }
        out.push_str(&chunk(
            json!([end]),
            last.then(|| ("xsafe", extension.clone())),
        ));
    }
    // No choice to end: the extension goes on a chunk of its own.
    if choices.is_empty() && !include_usage {
        out.push_str(&chunk(json!([]), Some(("xsafe", extension.clone()))));
    }
    if include_usage {
        let mut c = head.clone();
        c.insert("choices".into(), json!([]));
        c.insert("usage".into(), completion["usage"].clone());
        c.insert("xsafe".into(), extension);
        out.push_str(&format!("data: {}\n\n", Value::Object(c)));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

/// Watches an event stream as its bytes pass, however they are split into
/// chunks, in constant memory: for its closing `data: [DONE]` event (it
/// keeps only the first bytes of the current line), and for a choice's
/// `finish_reason` (servers that never send `[DONE]` end with one).
///
/// The line counts when its field is `data` and its value (after the one
/// space the event-stream format allows) starts with `[DONE]`: what the
/// OpenAI SDKs stop at. A last line the stream ends without a line break
/// counts too, as a line reader takes it. Lines end at LF, CR or CRLF.
#[derive(Debug, Default)]
struct DoneWatch {
    /// The current line's first bytes, at most `DONE_LINE.len()`.
    line: Vec<u8>,
    /// The last byte was a CR: a LF right after it ends no other line.
    after_cr: bool,
    /// A `[DONE]` line has ended.
    seen: bool,
    /// ... and so has the blank line that ends its event.
    closed: bool,
    /// A `finish_reason` with a value other than `null` has passed.
    finish_reason: bool,
    /// The last bytes read, for a `finish_reason` split across chunks.
    tail: Vec<u8>,
}

/// The longest spelling of the line [`DoneWatch`] looks for; `data:[DONE]`
/// is the other.
const DONE_LINE: &[u8] = b"data: [DONE]";

/// The key of a choice's finish reason, as servers write it in a chunk.
const FINISH_KEY: &[u8] = b"\"finish_reason\":";

impl DoneWatch {
    /// Reads the next bytes of the stream.
    fn scan(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        if !self.finish_reason {
            self.scan_finish_reason(bytes);
        }
        for &byte in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
            if after_cr && byte == b'\n' {
                continue;
            }
            if byte == b'\n' || byte == b'\r' {
                self.end_line();
                if self.closed {
                    return;
                }
            } else if self.line.len() < DONE_LINE.len() {
                self.line.push(byte);
            }
        }
    }

    fn end_line(&mut self) {
        if self.seen {
            self.closed = self.line.is_empty();
        } else {
            self.seen = self.line_is_done();
        }
        self.line.clear();
    }

    /// Looks for `"finish_reason":` followed by a string, in the bytes read
    /// last and these.
    fn scan_finish_reason(&mut self, bytes: &[u8]) {
        // The key, room for a few spaces and the opening quote.
        const KEEP: usize = FINISH_KEY.len() + 8;
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(bytes);
        let found = window.windows(FINISH_KEY.len()).enumerate().any(|(i, w)| {
            w == FINISH_KEY
                && window[i + FINISH_KEY.len()..]
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    == Some(&b'"')
        });
        self.finish_reason = found;
        let keep = window.len().saturating_sub(KEEP);
        self.tail = window.split_off(keep);
    }

    /// Whether the `[DONE]` event has been read to the blank line that ends
    /// it: the client has everything.
    fn closed(&self) -> bool {
        self.closed
    }

    /// Whether the `[DONE]` line has been read (its event perhaps not yet
    /// ended by a blank line).
    fn seen(&self) -> bool {
        self.seen
    }

    /// At the end of the stream: whether it came to its end, with `[DONE]`
    /// or, from a server that never sends it, after a choice's finish
    /// reason. Otherwise the upstream stopped in the middle of an answer.
    fn finish(&mut self) -> bool {
        self.seen = self.seen || self.line_is_done();
        self.seen || self.finish_reason
    }

    fn line_is_done(&self) -> bool {
        self.line
            .strip_prefix(b"data:")
            .map(|value| value.strip_prefix(b" ").unwrap_or(value))
            .is_some_and(|value| value.starts_with(b"[DONE]"))
    }
}

/// The profile's judge, counting the refusals it finds and keeping its
/// last verdict for the response's extension field.
struct Counting<'a> {
    inner: &'a dyn Judge,
    metrics: &'a Metrics,
    last: Mutex<Option<Verdict>>,
    /// The verdicts given: as many as the replies answered once the last
    /// one is judged.
    judged: AtomicU32,
}

#[async_trait]
impl Judge for Counting<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn version(&self) -> &str {
        self.inner.version()
    }

    async fn judge(&self, prompt: &Prompt, transcript: &Transcript) -> Result<Verdict, JudgeError> {
        let verdict = self.inner.judge(prompt, transcript).await?;
        if verdict.outcome.class().is_some_and(|c| c.is_refusal()) {
            self.metrics.refusal();
        }
        *self.last.lock().unwrap() = Some(verdict.clone());
        self.judged.fetch_add(1, Ordering::SeqCst);
        Ok(verdict)
    }
}

async fn chat(
    State(p): State<Arc<Proxy>>,
    Extension(caller): Extension<Caller>,
    stalled: Option<Extension<ClientStalled>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let stalled = stalled.map(|Extension(s)| s).unwrap_or_default();
    p.chat(&caller, stalled, headers, body)
        .await
        .unwrap_or_else(Failure::respond)
}

async fn models(
    State(p): State<Arc<Proxy>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Response {
    p.models(&caller, headers)
        .await
        .unwrap_or_else(Failure::respond)
}

async fn model(
    State(p): State<Arc<Proxy>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    p.model(&caller, headers, id)
        .await
        .unwrap_or_else(Failure::respond)
}

async fn healthz() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

async fn metrics(State(p): State<Arc<Proxy>>, headers: HeaderMap) -> Response {
    if let Err(e) = p.authorize(&headers) {
        return e.into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        p.metrics.render(),
    )
        .into_response()
}

async fn not_found() -> Response {
    Failure::from(ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "not_found",
        "no such route: the proxy serves POST /v1/chat/completions, GET /v1/models, GET \
         /v1/models/{id}, /healthz and /metrics",
    ))
    .respond()
}

async fn method_not_allowed() -> Response {
    Failure::from(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "method_not_allowed",
        "method not allowed on this route",
    ))
    .respond()
}

/// Counts and logs each API request (a path under `/v1/`; `/healthz`
/// probes and `/metrics` scrapes are neither) when its answer is ready: its
/// status in the requests metric, its error's code in the errors metric,
/// and a line with who asked (the client key's name), the status and how
/// long it took: for a success an info line saying what was asked (and
/// the follow-ups sent), for a failure a warning with its code and what
/// went wrong. A request whose client went
/// away first (hyper then drops it, upstream request and all) is counted
/// and logged as a 499 [`CLIENT_CLOSED`] all the same.
async fn count(State(p): State<Arc<Proxy>>, mut request: Request, next: Next) -> Response {
    let caller = Caller::new();
    request.extensions_mut().insert(caller.clone());
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    let mut unanswered = Unanswered {
        caller: caller.clone(),
        metrics: Arc::clone(&p.metrics),
        stopped: Arc::clone(&p.stopped),
        answered: false,
    };
    let what = answered_what(request.uri().path());
    let mut response = next.run(request).await;
    unanswered.answered = true;
    let status = response.status().as_u16();
    p.metrics.request(status);
    let code = response.extensions().get::<ErrorKind>().map(|k| k.0);
    if let Some(code) = code {
        p.metrics.error(code);
    }
    let failure = response.extensions_mut().remove::<FailureLog>();
    if failure.is_some() || code.is_some() || status >= 400 {
        // A failure answered without the operator's text (one the router
        // or a layer made) is named by its status.
        let text = failure.map_or_else(
            || {
                let reason = response.status().canonical_reason().unwrap_or("failed");
                format!("{what}: {status} {reason}")
            },
            |FailureLog(text)| text.into(),
        );
        tracing::warn!(
            client = %caller.client(),
            status,
            code = code.unwrap_or("-"),
            ms = caller.ms(),
            "{text}"
        );
    } else {
        tracing::info!(
            client = %caller.client(),
            status,
            followups = response
                .headers()
                .get(FOLLOWUPS_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0"),
            ms = caller.ms(),
            "{what}"
        );
    }
    response
}

/// What a request to the API `path` asks for, for the line that logs it.
fn answered_what(path: &str) -> &'static str {
    match path {
        "/v1/chat/completions" => "chat completion",
        "/v1/models" => "model list",
        p if p.starts_with("/v1/models/") => "model",
        _ => "request",
    }
}

/// The HTTP status a request whose client closed its connection before
/// the answer is counted and logged with (nginx's "client closed request");
/// no client ever receives it.
const CLIENT_CLOSED_STATUS: u16 = 499;

/// Who sent a request and when it came, for the line that logs it: the
/// client key's name is filled in once the key is checked, and the line is
/// written whether the answer went out, failed, or the client went away
/// first.
#[derive(Debug, Clone)]
pub(crate) struct Caller(Arc<CallerState>);

#[derive(Debug)]
struct CallerState {
    client: Mutex<Option<String>>,
    started: Instant,
}

impl Caller {
    fn new() -> Self {
        Caller(Arc::new(CallerState {
            client: Mutex::new(None),
            started: Instant::now(),
        }))
    }

    /// Records the name of the client key the request came with (`None`
    /// without authentication).
    fn identify(&self, name: Option<&str>) {
        *self.0.client.lock().unwrap_or_else(|e| e.into_inner()) = name.map(str::to_string);
    }

    /// The client key's name, `-` when it is not known (no key, a wrong
    /// one, or no authentication).
    fn client(&self) -> String {
        self.0
            .client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "-".to_string())
    }

    /// Milliseconds since the request came.
    fn ms(&self) -> u64 {
        self.0.started.elapsed().as_millis() as u64
    }
}

/// The operator's text of a failure answered (see [`ApiError::log_message`]),
/// carried by the answer's extensions to the line [`count`] logs it in.
#[derive(Debug, Clone)]
struct FailureLog(Box<str>);

/// A request not answered yet: dropped so (its client closed the
/// connection, and hyper dropped the request's handling), it is counted as
/// a [`CLIENT_CLOSED_STATUS`] and logged.
struct Unanswered {
    caller: Caller,
    metrics: Arc<Metrics>,
    stopped: Arc<AtomicBool>,
    answered: bool,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if self.answered || self.stopped.load(Ordering::SeqCst) {
            return;
        }
        self.metrics.request(CLIENT_CLOSED_STATUS);
        self.metrics.error(CLIENT_CLOSED);
        tracing::warn!(
            client = %self.caller.client(),
            status = CLIENT_CLOSED_STATUS,
            code = CLIENT_CLOSED,
            ms = self.caller.ms(),
            "the client closed its connection before its answer: the request was dropped, and \
             its upstream request, if one was under way, cancelled"
        );
    }
}

/// A stream passed through to the client, watched for the client going
/// away before its end (see [`Proxy::pass_events`]): it is dropped then,
/// and its upstream response with it.
struct Watched {
    inner: Pin<Box<dyn Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send>>,
    /// The stream ended, or failed (which is logged where it fails).
    ended: bool,
    caller: Caller,
    stalled: ClientStalled,
    metrics: Arc<Metrics>,
    stopped: Arc<AtomicBool>,
    /// How long a client may accept nothing, for the log line.
    timeout: Duration,
}

impl Stream for Watched {
    type Item = Result<axum::body::Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(None | Some(Err(_))) = &polled {
            self.ended = true;
        }
        polled
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if self.ended || self.stopped.load(Ordering::SeqCst) {
            return;
        }
        let client = self.caller.client();
        let ms = self.caller.ms();
        if self.stalled.get() {
            self.metrics.error(CLIENT_STALLED);
            tracing::warn!(
                client = %client,
                status = 200,
                code = CLIENT_STALLED,
                ms,
                "the client accepted none of the stream for {} s (--timeout): its connection \
                 and the upstream's stream were closed",
                self.timeout.as_secs_f64()
            );
        } else {
            self.metrics.error(CLIENT_CLOSED);
            tracing::warn!(
                client = %client,
                status = 200,
                code = CLIENT_CLOSED,
                ms,
                "the client closed its connection during the stream: the upstream's stream was \
                 closed"
            );
        }
    }
}

/// Whether a request body failed for being malformed (a chunked framing
/// the client got wrong: a 400), rather than being cut short by the
/// client's connection closing or failing (which no answer can reach).
fn malformed_body(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
            );
        }
        source = s.source();
    }
    false
}

/// The headers `given` (see [`ProxyOptions::upstream_headers`]) as they
/// are sent, marked sensitive; refused naming the header (never its value)
/// when one cannot be sent.
fn upstream_headers(given: &[(String, Secret)]) -> Result<reqwest::header::HeaderMap, ConfigError> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in given {
        let header =
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                ConfigError::Other(format!(
                    "the upstream header name `{name}` is not a valid HTTP header name"
                ))
            })?;
        if let Some(why) = proxys_own_header(header.as_str()) {
            return Err(ConfigError::Other(format!(
                "the upstream header `{name}` is the proxy's own to send ({why}): leave it out"
            )));
        }
        let mut value = reqwest::header::HeaderValue::from_str(value.0.trim()).map_err(|_| {
            ConfigError::Other(format!(
                "the value of the upstream header `{name}` is not a valid HTTP header value (a \
                 line break or another control character in it, such as a trailing newline?)"
            ))
        })?;
        value.set_sensitive(true);
        headers.append(header, value);
    }
    Ok(headers)
}

/// Why the proxy sets the header `name` (lower case) itself, if it does:
/// the headers that frame an upstream request or its body, and the
/// encodings it asks for (none: an answer it cannot read would be the
/// client's error).
pub(crate) fn proxys_own_header(name: &str) -> Option<&'static str> {
    match name {
        "host" | "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "te"
        | "trailer" | "upgrade" | "proxy-connection" => Some("it frames the request"),
        "content-type" | "content-encoding" => Some("it says what the body is"),
        "accept-encoding" => Some("the proxy reads answers uncompressed"),
        _ => None,
    }
}

/// The proxy's routes.
pub fn router(state: Arc<Proxy>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/v1/models/{*id}", get(model))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), body_read))
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

/// Every request's body read to its end before the answer goes out, up to
/// the body limit and within the request timeout, so that the connection
/// stays usable after an answer that did not need the body (see
/// [`crate::http::with_body_read`]).
async fn body_read(State(p): State<Arc<Proxy>>, request: Request, next: Next) -> Response {
    crate::http::with_body_read(request, next, p.options.max_body_bytes, p.options.timeout).await
}

/// How long after the shutdown signal requests in flight may take beyond
/// the proxy's request timeout before the proxy stops without them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// File descriptors one client connection may take: its socket, and the
/// upstream socket its request is sent on.
const FDS_PER_CONNECTION: u64 = 2;

/// Serves until `shutdown` resolves, then lets requests in flight finish:
/// at most the proxy's request timeout and [`SHUTDOWN_GRACE`] more, so that
/// a client that stopped sending its request (or reading the answer) never
/// holds the shutdown; a second signal stops at once. Says how it stopped:
/// [`Stopped::cut`], the connections it stopped without, is 0 unless
/// requests were cut off. A client has the
/// request timeout, at most 30 s, to send its request line and headers
/// (and a kept-alive connection is closed after that long idle), and the
/// request timeout to send its body; one that accepts none of its answer
/// for the request timeout (it stopped reading a stream, say) is
/// disconnected, and a stream's upstream request closed with it.
///
/// The first server started in the process raises its soft open-file
/// limit to the hard one (a process-wide setting, as Go's runtime does at
/// start). At most [`ProxyOptions::max_connections`] connections are held
/// at once, or, when that is `None`, as many as the limit leaves room for.
pub async fn serve(
    listener: tokio::net::TcpListener,
    proxy: Arc<Proxy>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<Stopped> {
    let limits = crate::http::Limits {
        header_timeout: proxy.options.timeout.min(crate::http::MAX_HEADER_WAIT),
        drain: proxy.options.timeout + SHUTDOWN_GRACE,
        max_connections: crate::open_files::connection_cap(
            proxy.options.max_connections.map(NonZeroUsize::get),
            FDS_PER_CONNECTION,
        ),
        write_timeout: proxy.options.timeout,
        // Worded for one connection or several alike: the warning says how
        // many.
        cut_off: "each client cut off gets no answer, or a stream that ends without `[DONE]`, \
                  and each upstream request under way is cancelled (requests still waiting on \
                  the upstream, streams still running, or requests a client had not finished \
                  sending)",
    };
    let stopped = Arc::clone(&proxy.stopped);
    let outcome = crate::http::serve(listener, router(proxy), limits, shutdown).await;
    // The requests cut off are dropped with the process: not by clients.
    if outcome.as_ref().is_ok_and(|s| s.cut > 0) {
        stopped.store(true, Ordering::SeqCst);
    }
    outcome
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP (a closed terminal, or a
/// supervisor's reload signal, which the servers have nothing to reload
/// for: they stop as for SIGTERM, gracefully, rather than at once by the
/// signal's default action), logging which came: SIGHUP as a warning,
/// being no usual way to stop them. The handlers are installed when this
/// is called, not when the future is first awaited: a signal that came
/// between a server's start line and its first poll would otherwise end the
/// process by the default action instead of a graceful stop. Call it in the
/// runtime, before saying the server is up.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    let signal = stop_signal();
    async move {
        match signal.await {
            "SIGHUP" => tracing::warn!(
                signal = "SIGHUP",
                "SIGHUP: stopping as for SIGTERM: no new connections, and the requests in \
                 flight may finish (a second signal stops at once)"
            ),
            name => tracing::info!(
                signal = name,
                "stopping: no new connections, and the requests in flight may finish (a second \
                 signal stops at once)"
            ),
        }
    }
}

/// Resolves with the name of the first stop signal to come, `SIGINT`,
/// `SIGTERM` or `SIGHUP` (`Ctrl-C` where there are no such signals),
/// saying nothing: what [`shutdown_signal`] waits for, and the second
/// signal a draining server waits for. Its handlers are installed when
/// this is called.
pub(crate) fn stop_signal() -> impl std::future::Future<Output = &'static str> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        let hangup = signal(SignalKind::hangup()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(interrupt) => "SIGINT",
                _ = wait(terminate) => "SIGTERM",
                _ = wait(hangup) => "SIGHUP",
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variable of the key named on purpose is refused beside an
    /// `Authorization` header of any case and spacing, or a user name and
    /// password in the URL, and only then: an Azure-style `api-key` header
    /// is sent beside the key, as asked.
    #[test]
    fn a_named_key_is_refused_beside_other_authorization_only() {
        let header = |name: &str| vec![(name.to_string(), Secret("v".into()))];
        let check = |headers: &[(String, Secret)], url: &str| {
            ProxyOptions::refuse_named_key_beside_credentials(
                ("TEAM_KEY", "--upstream-key-env"),
                (headers, "in `upstream_headers`"),
                (url, "--upstream"),
            )
            .map_err(|e| e.to_string())
        };
        let plain = "http://127.0.0.1:9/v1";
        assert_eq!(check(&header("api-key"), plain), Ok(()));
        assert_eq!(check(&[], plain), Ok(()));
        for name in ["Authorization", " authorization "] {
            let err = check(&header(name), plain).unwrap_err();
            assert!(
                err.starts_with(
                    "the upstream's API key variable `TEAM_KEY` (named by --upstream-key-env) \
                     and the `Authorization` header given in `upstream_headers` would both be \
                     sent"
                ),
                "{err}"
            );
        }
        let err = check(&[], "http://alice:pw@127.0.0.1:9/v1").unwrap_err();
        assert!(
            err.contains("the user name and password in the upstream URL (--upstream)"),
            "{err}"
        );
    }

    fn roles(v: &[Value]) -> Vec<String> {
        v.iter()
            .map(|m| format!("{}:{}", m["role"].as_str().unwrap(), m["content"]))
            .collect()
    }

    #[test]
    fn merge_puts_strategy_system_after_the_clients_and_turns_before_the_conversation() {
        let client = vec![
            json!({"role": "system", "content": "be brief", "name": "x"}),
            json!({"role": "user", "content": "q1"}),
            json!({"role": "assistant", "content": "a1"}),
            json!({"role": "user", "content": "q2"}),
        ];
        let opening = vec![
            Message::system("S"),
            Message::user("e"),
            Message::assistant("f"),
            Message::user("q2"),
        ];
        let out = merge(&client, &opening, Some(3), "q2");
        assert_eq!(
            roles(&out),
            [
                "system:\"be brief\\n\\nS\"",
                "user:\"e\"",
                "assistant:\"f\"",
                "user:\"q1\"",
                "assistant:\"a1\"",
                "user:\"q2\""
            ]
        );
        assert_eq!(out[0]["name"], "x");
    }

    /// The strategy's system text follows the client's system text as a
    /// run's follows the target's system prompt: in a string, after a blank
    /// line; in parts, at the end of the last text part, so that the parts
    /// joined (as servers render them, with whatever separator) end with
    /// the blank line and the strategy's text; in a developer message too.
    /// An empty system message is no system prompt: the text alone.
    /// With several leading system messages, the strategy's text follows
    /// the last: every system text of the client comes before it.
    #[test]
    fn the_strategys_system_text_follows_the_last_of_the_clients() {
        let opening = [Message::system("S"), Message::user("q")];
        let client = vec![
            json!({"role": "system", "content": "P1"}),
            json!({"role": "developer", "content": "P2"}),
            json!({"role": "user", "content": "q"}),
        ];
        let out = merge(&client, &opening, Some(2), "q");
        assert_eq!(
            out,
            [
                json!({"role": "system", "content": "P1"}),
                json!({"role": "developer", "content": "P2\n\nS"}),
                json!({"role": "user", "content": "q"}),
            ]
        );
    }

    #[test]
    fn the_strategys_system_text_follows_the_clients_in_every_form() {
        let opening = [Message::system("S"), Message::user("q")];
        let sent = |system: Value| {
            let client = vec![system, json!({"role": "user", "content": "q"})];
            let out = merge(&client, &opening, Some(1), "q");
            assert_eq!(out.len(), 2);
            assert_eq!(out[1], client[1]);
            out[0].clone()
        };
        assert_eq!(
            sent(json!({"role": "developer", "content": "You are ACME's support bot."})),
            json!({"role": "developer", "content": "You are ACME's support bot.\n\nS"})
        );
        assert_eq!(
            sent(json!({"role": "system", "content": ""})),
            json!({"role": "system", "content": "S"})
        );
        assert_eq!(
            sent(json!({"role": "system", "content": null})),
            json!({"role": "system", "content": "S"})
        );
        let parts = json!([
            {"type": "text", "text": "You are ACME's"},
            {"type": "text", "text": "support bot.", "cache_control": {"type": "ephemeral"}},
            {"type": "image_url", "image_url": {"url": "data:,"}}
        ]);
        let out = sent(json!({"role": "system", "content": parts}));
        assert_eq!(
            out["content"],
            json!([
                {"type": "text", "text": "You are ACME's"},
                {"type": "text", "text": "support bot.\n\nS", "cache_control": {"type": "ephemeral"}},
                {"type": "image_url", "image_url": {"url": "data:,"}}
            ])
        );
        // Joined as a server joins them, the parts read as the client's
        // text joined the same way, then the run's blank line and text.
        for separator in ["\n", "", " "] {
            let joined = |content: &Value| {
                content
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(separator)
            };
            assert_eq!(
                joined(&out["content"]),
                format!("{}\n\nS", joined(&parts)),
                "{separator:?}"
            );
        }
        assert_eq!(
            text_of(&out["content"]),
            format!("{}\n\nS", text_of(&parts))
        );
        // Parts without text get the text as a part after them.
        let image = json!([{"type": "image_url", "image_url": {"url": "data:,"}}]);
        assert_eq!(
            sent(json!({"role": "system", "content": image}))["content"],
            json!([
                {"type": "image_url", "image_url": {"url": "data:,"}},
                {"type": "text", "text": "S"}
            ])
        );
    }

    #[test]
    fn merge_without_client_system_or_strategy_system() {
        let client = vec![json!({"role": "user", "content": "q"})];
        let opening = vec![Message::system("S"), Message::user("q")];
        assert_eq!(
            roles(&merge(&client, &opening, Some(0), "q")),
            ["system:\"S\"", "user:\"q\""]
        );
        let opening = vec![
            Message::user("e"),
            Message::assistant("f"),
            Message::user("Q!"),
        ];
        assert_eq!(
            roles(&merge(&client, &opening, Some(0), "q")),
            ["user:\"e\"", "assistant:\"f\"", "user:\"Q!\""]
        );
        let client = vec![
            json!({"role": "system", "content": "a"}),
            json!({"role": "developer", "content": "b"}),
            json!({"role": "user", "content": "q"}),
        ];
        let opening = vec![
            Message::user("e"),
            Message::assistant("f"),
            Message::user("q"),
        ];
        assert_eq!(
            roles(&merge(&client, &opening, Some(2), "q")),
            [
                "system:\"a\"",
                "developer:\"b\"",
                "user:\"e\"",
                "assistant:\"f\"",
                "user:\"q\""
            ]
        );
        let baseline = vec![Message::user("q")];
        assert_eq!(merge(&client, &baseline, Some(2), "q"), client);
    }

    /// Whether [`DoneWatch`] finds `[DONE]` in `stream` split at every
    /// byte, and in two chunks split at each position.
    fn done_in(stream: &str) -> bool {
        let bytes = stream.as_bytes();
        let mut byte_by_byte = DoneWatch::default();
        for b in bytes {
            byte_by_byte.scan(std::slice::from_ref(b));
        }
        let seen = byte_by_byte.finish();
        for at in 0..=bytes.len() {
            let mut watch = DoneWatch::default();
            watch.scan(&bytes[..at]);
            watch.scan(&bytes[at..]);
            assert_eq!(watch.finish(), seen, "split at {at} of {stream:?}");
        }
        seen
    }

    #[test]
    fn the_done_event_is_found_however_the_stream_is_split() {
        let event = "data: {\"choices\":[{\"delta\":{\"content\":\"data: [DONE]\"}}]}\n\n";
        for ending in [
            "data: [DONE]\n\n",
            "data:[DONE]\n\n",
            "data: [DONE]\r\n\r\n",
            "data: [DONE]\r\r",
            "data: [DONE]",
            ": keep-alive\n\ndata: [DONE]\n\n",
        ] {
            assert!(done_in(&format!("{event}{ending}")), "{ending:?}");
        }
        for ending in [
            "",
            "data: [DONE",
            "data:  [DONE]\n\n",
            "event: done\n\n",
            " data: [DONE]\n\n",
            "data: {\"text\": \"[DONE]\"}\n\n",
        ] {
            assert!(!done_in(&format!("{event}{ending}")), "{ending:?}");
        }
        // A long line before it does not grow the watch's memory.
        let mut watch = DoneWatch::default();
        watch.scan(format!("data: {}", "x".repeat(100_000)).as_bytes());
        assert_eq!(watch.line.len(), DONE_LINE.len());
        watch.scan(b"\ndata: [DONE]\n");
        assert!(watch.finish());
    }

    /// The `[DONE]` event is whole only with the blank line after it: a
    /// CRLF's LF is not that line.
    #[test]
    fn the_done_event_ends_at_its_blank_line() {
        let mut watch = DoneWatch::default();
        watch.scan(b"data: [DONE]\r");
        assert!(watch.seen() && !watch.closed());
        watch.scan(b"\n");
        assert!(!watch.closed(), "the LF of a CRLF");
        watch.scan(b"\r\n");
        assert!(watch.closed());
        let mut watch = DoneWatch::default();
        watch.scan(b"data: [DONE]\n");
        assert!(!watch.closed());
        watch.scan(b"\n");
        assert!(watch.closed());
    }

    /// A stream from a server that never sends `[DONE]` is whole after a
    /// choice's finish reason, found however the chunks split it; a null
    /// one, or one quoted inside an answer's text, is no end.
    #[test]
    fn a_finish_reason_ends_a_stream_without_done() {
        let ended = |stream: &str| {
            let bytes = stream.as_bytes();
            let mut all = Vec::new();
            for at in 0..=bytes.len() {
                let mut watch = DoneWatch::default();
                watch.scan(&bytes[..at]);
                watch.scan(&bytes[at..]);
                all.push(watch.finish());
            }
            assert!(all.iter().all(|&e| e == all[0]), "{stream:?}: {all:?}");
            all[0]
        };
        let chunk = |reason: &str| {
            format!("data: {{\"choices\":[{{\"delta\":{{}},\"finish_reason\":{reason}}}]}}\n\n")
        };
        assert!(ended(&chunk("\"stop\"")));
        assert!(ended(&chunk(" \"length\"")));
        assert!(!ended(&chunk("null")));
        let quoted = "data: {\"choices\":[{\"delta\":{\"content\":\"\\\"finish_reason\\\":\\\"x\"},\
                      \"finish_reason\":null}]}\n\n";
        assert!(!ended(quoted), "{quoted}");
    }

    #[test]
    fn events_carry_the_whole_message() {
        let c = json!({"id": "x", "created": 1, "model": "m", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1}});
        let text = as_events(&c, true, json!({"followups": 1}));
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 4);
        assert!(events[0].contains(r#""delta":{"content":"hi","role":"assistant"}"#));
        assert!(events[2].contains(r#""usage":{"prompt_tokens":1}"#));
        assert_eq!(events[3], "data: [DONE]");
    }
}
