use crate::limit::{AdaptiveLimit, MemberLoad};
use crate::secrets::Secrets;
use crate::{Given, SettingNames, TargetSettings};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use xsafe_core::{
    Blocker, ChatRequest, ChatResponse, FinishReason, Message, Role, SplitMix64, Target,
    TargetError, Usage, duration_said, with_system_prompt,
};

/// Settings of an OpenAI-compatible target.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// The model name sent in every request, e.g. `gpt-4o-mini`.
    pub model: String,
    /// Each up to and including `/v1`, e.g. `http://127.0.0.1:8000/v1`.
    /// Several URLs are replicas of one model.
    pub base_urls: Vec<String>,
    /// The environment variable that holds the API key. The key itself is
    /// never stored in the config so it cannot end up in a run record.
    pub api_key_env: String,
    /// Whether the variable was named on purpose (`--api-key-env`, a
    /// targets file): then it must be set. The default variable may be
    /// unset, as servers on one's own machine usually need no key.
    pub api_key_required: bool,
    /// Extra headers; their values are never recorded.
    pub headers: Vec<(String, String)>,
    /// Sampling temperature (0 by default).
    pub temperature: f64,
    /// Most tokens per answer (512 by default); sent as
    /// `max_completion_tokens` once a server refuses `max_tokens`.
    pub max_tokens: u32,
    /// The sampling seed sent with every request, in place of the request's
    /// own (a run's per-sample seed); `None` sends the request's, if any.
    pub seed: Option<u64>,
    /// Stop sequences sent with every request; empty sends none.
    pub stop: Vec<String>,
    /// The target's own system prompt, sent first in every conversation; a
    /// strategy's system message is appended to it rather than sent apart.
    pub system_prompt: Option<String>,
    /// How long one HTTP request may take, answer included (120 s by
    /// default); a retry gets the same again.
    pub timeout: Duration,
    /// The most requests in flight, across all replicas. Each replica has
    /// its own working limit, at most this: its 429s lower it (and only
    /// its), and it grows back when they stop.
    pub max_concurrency: usize,
    /// Retries after the first attempt for transient failures.
    pub max_retries: u32,
    /// The first backoff delay; doubles on each retry, with jitter.
    pub retry_base: Duration,
    /// The longest wait between two attempts, whatever `Retry-After` says.
    pub retry_cap: Duration,
    /// How long after a 429 halved a replica's concurrency it holds before
    /// growing again.
    pub overload_cooldown: Duration,
    /// Where the user gave the settings that messages may be about (the
    /// flag of the command that built the target, or the target's field in
    /// its targets file), so that a message names what to change; not
    /// known by default, and messages then name `xsafe run`'s flags.
    pub names: SettingNames,
}

impl OpenAiConfig {
    /// The defaults for `model`: OpenAI's public API with an optional key in
    /// `OPENAI_API_KEY`, temperature 0, 512 tokens, a 120 s timeout, 8
    /// requests in flight and 5 retries.
    pub fn new(model: &str) -> Self {
        OpenAiConfig {
            model: model.to_string(),
            base_urls: vec!["https://api.openai.com/v1".to_string()],
            api_key_env: "OPENAI_API_KEY".to_string(),
            api_key_required: false,
            headers: Vec::new(),
            temperature: 0.0,
            max_tokens: 512,
            seed: None,
            stop: Vec::new(),
            system_prompt: None,
            timeout: Duration::from_secs(120),
            max_concurrency: 8,
            max_retries: 5,
            retry_base: Duration::from_millis(500),
            retry_cap: Duration::from_secs(60),
            overload_cooldown: Duration::from_secs(1),
            names: SettingNames::default(),
        }
    }

    /// The config for `model` with the given settings applied.
    pub fn from_settings(model: &str, s: &TargetSettings) -> Self {
        let mut c = OpenAiConfig::new(model);
        let urls = s.urls();
        if !urls.is_empty() {
            c.base_urls = urls;
        }
        if let Some(v) = &s.api_key_env {
            c.api_key_env = v.clone();
            c.api_key_required = true;
        }
        c.headers = s
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(v) = s.temperature {
            c.temperature = v;
        }
        if let Some(v) = s.max_tokens {
            c.max_tokens = v;
        }
        c.seed = s.seed;
        c.stop = s.stop.clone();
        c.system_prompt = s.system_prompt.clone();
        if let Some(v) = s.timeout_secs {
            c.timeout = Duration::from_secs_f64(v.max(0.001));
        }
        if let Some(v) = s.concurrency {
            c.max_concurrency = v.max(1);
        }
        if let Some(v) = s.max_retries {
            c.max_retries = v;
        }
        c
    }
}

/// One server of a target and how it has fared lately. Its requests in
/// flight and its concurrency limit are its member of the target's
/// [`AdaptiveLimit`] (member `i` is replica `i`).
#[derive(Debug)]
struct Replica {
    url: String,
    /// The URL as messages and records show it: without credentials.
    shown: String,
    /// Failures in a row (a dropped connection, a timeout, a 429, a 5xx, a
    /// malformed answer: any that another replica may not share).
    failures: AtomicU32,
    /// Until when (milliseconds since the target's `started`) it is passed
    /// over while another replica is not: a replica that fails at once
    /// would otherwise always have the fewest outstanding requests and
    /// draw most of them, retries included. At least as long as its
    /// `Retry-After` asked.
    resting_until: AtomicU64,
    /// Until when (as `resting_until`) its `Retry-After` asked not to be
    /// sent anything, at most `retry_cap` ahead; when every replica asked
    /// so, the target waits for the first to be over.
    asked_until: AtomicU64,
}

/// How long a replica rests after failures in a row: 1 s, doubling, at
/// most 30 s.
fn rest_after(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(5)).min(Duration::from_secs(30))
}

impl Replica {
    /// Whether it rests at `now` (milliseconds since the target's start).
    fn rests(&self, now: u64) -> bool {
        self.resting_until.load(Ordering::SeqCst) > now
    }

    /// How many milliseconds after `now` its `Retry-After` still asks to
    /// wait; 0 when it asks nothing.
    fn asked_wait(&self, now: u64) -> u64 {
        self.asked_until.load(Ordering::SeqCst).saturating_sub(now)
    }
}

/// `d` in whole milliseconds, saturating (a `Retry-After` may be huge).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A model behind any `/v1/chat/completions` server, or several replicas
/// of one.
pub struct OpenAiTarget {
    id: String,
    config: OpenAiConfig,
    client: reqwest::Client,
    /// The API key as the `Authorization` header it is sent as.
    api_key: Option<reqwest::header::HeaderValue>,
    /// The API key, the values of the headers that carry credentials
    /// (see [`Secrets::add_header_value`]) and the user names and passwords
    /// in the base URLs (see [`Secrets::add_url_credentials`]), taken out
    /// of every error message made of what the server sent.
    secrets: Secrets,
    replicas: Vec<Replica>,
    /// Rotates the starting replica so ties do not all go to the first.
    next: AtomicUsize,
    /// What replicas' rests are measured from.
    started: Instant,
    /// Whether credentials were given on purpose (an `Authorization`
    /// header, a user name and password in a base URL): they are sent in
    /// place of the API key.
    header_auth: bool,
    /// Whether the key of the default variable, which nobody named, was
    /// set but not sent, because a header given carries a credential of
    /// the server's: a 401 or 403 says so.
    withheld: bool,
    /// One adaptive limit per replica (member `i` is replica `i`), each
    /// lowered only by that replica's 429s, with at most `max_concurrency`
    /// requests in flight across them all.
    limit: AdaptiveLimit,
    /// Set once the server refused `max_tokens` asking for
    /// `max_completion_tokens` (OpenAI's reasoning models): the limit is
    /// sent under that name from then on.
    completion_tokens: AtomicBool,
    /// Until when (milliseconds since `started`) the last wait for a rate
    /// limit that was said runs: a wait that begins before then is not
    /// said again (see [`OpenAiTarget::say_wait`]).
    wait_said_until: AtomicU64,
}

/// How long a wait for a rate limit must be to be said (see
/// [`OpenAiTarget::say_wait`]): shorter ones pass unnoticed.
const SAID_WAIT: Duration = Duration::from_secs(5);

impl OpenAiTarget {
    /// A target named `openai:MODEL`.
    pub fn new(config: OpenAiConfig) -> Result<Self, TargetError> {
        let id = format!("openai:{}", config.model);
        Self::with_id(id, config)
    }

    /// A target with the name the user gave it (e.g. from a targets file).
    pub fn with_id(id: impl Into<String>, config: OpenAiConfig) -> Result<Self, TargetError> {
        if config.base_urls.is_empty() {
            return Err(TargetError::Config("no base URL given".into()));
        }
        for url in &config.base_urls {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(TargetError::Config(format!(
                    "base URL `{url}` must start with http:// or https://"
                )));
            }
        }
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &config.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| TargetError::Config(format!("header name `{k}` is not valid")))?;
            let mut value = reqwest::header::HeaderValue::from_str(v).map_err(|_| {
                TargetError::Config(format!("the value of header `{k}` is not valid"))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10).min(config.timeout))
            .redirect(redirect_policy())
            .default_headers(headers)
            .build()
            .map_err(|e| TargetError::Config(format!("cannot build HTTP client: {e}")))?;
        // Credentials given on purpose, an `Authorization` header or a user
        // name and password in a base URL (sent as basic authentication),
        // are sent in place of the API key: both would be two
        // `Authorization` headers. A variable named on purpose beside them
        // is refused, rather than silently not sent.
        let auth_header = config
            .headers
            .iter()
            .any(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"));
        let url_auth = config.base_urls.iter().any(|u| without_userinfo(u) != *u);
        let header_auth = auth_header || url_auth;
        if config.api_key_required && header_auth {
            return Err(TargetError::Config(two_authorizations(
                &config,
                auth_header,
            )));
        }
        // Nor is the key of the default variable, which nobody named, sent
        // beside any other header that carries a credential of the
        // server's (Azure's `api-key`, `x-api-key`): the key is the user's
        // OpenAI key, and the server another provider's. A variable named
        // on purpose is sent beside them, as asked.
        let own_credentials = header_auth
            || config
                .headers
                .iter()
                .any(|(k, _)| crate::secrets::server_credential_header(k));
        let mut secrets = Secrets::new();
        for (name, value) in &config.headers {
            secrets.add_header_value(name, value);
        }
        for url in &config.base_urls {
            secrets.add_url_credentials(url);
        }
        let in_variable = std::env::var(&config.api_key_env)
            .ok()
            .filter(|k| !k.is_empty());
        let withheld = in_variable.is_some() && own_credentials && !config.api_key_required;
        if let Some(key) = in_variable.as_deref().filter(|_| withheld) {
            // Not sent, so not quoted back; taken out all the same.
            secrets.add_api_key(key);
        }
        let api_key = match in_variable.filter(|_| !withheld) {
            Some(key) => {
                let header = bearer(&key).ok_or_else(|| {
                    TargetError::Config(format!(
                        "the API key in `{}` is not a valid HTTP header value (a line break or \
                         another control character in it, such as a trailing newline?); fix \
                         the variable",
                        config.api_key_env
                    ))
                })?;
                secrets.add_api_key(&key);
                Some(header)
            }
            None => None,
        };
        if api_key.is_none() && config.api_key_required {
            return Err(TargetError::Config(format!(
                "the API key variable `{}` ({}) is not set or is empty; export it, or leave the \
                 setting out for a server that needs no key",
                config.api_key_env,
                named_by(config.names.api_key_env.as_ref())
            )));
        }
        let replicas: Vec<Replica> = config
            .base_urls
            .iter()
            .map(|u| {
                let url = u.trim_end_matches('/').to_string();
                Replica {
                    shown: without_userinfo(&url),
                    url,
                    failures: AtomicU32::new(0),
                    resting_until: AtomicU64::new(0),
                    asked_until: AtomicU64::new(0),
                }
            })
            .collect();
        Ok(OpenAiTarget {
            id: id.into(),
            limit: AdaptiveLimit::with_members(
                replicas.len(),
                config.max_concurrency,
                config.overload_cooldown,
            ),
            config,
            client,
            api_key,
            secrets,
            replicas,
            next: AtomicUsize::new(0),
            started: Instant::now(),
            header_auth,
            withheld,
            completion_tokens: AtomicBool::new(false),
            wait_said_until: AtomicU64::new(0),
        })
    }

    /// The settings the target was built with.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    /// The concurrency the target works at now: the sum of its replicas'
    /// limits, at most `max_concurrency` (with one replica, its limit).
    pub fn current_concurrency(&self) -> usize {
        self.limit.current()
    }

    /// The concurrency each replica works at now, per base URL (without
    /// credentials): each at most `max_concurrency`, lowered by its own
    /// 429s alone.
    pub fn replica_concurrency(&self) -> Vec<(String, usize)> {
        self.per_replica(|i| self.limit.current_of(i))
    }

    /// The requests outstanding now, per base URL (without credentials).
    pub fn outstanding(&self) -> Vec<(String, usize)> {
        self.per_replica(|i| self.limit.in_flight_of(i))
    }

    /// `value` of each replica, with its URL as shown.
    fn per_replica(&self, value: impl Fn(usize) -> usize) -> Vec<(String, usize)> {
        self.replicas
            .iter()
            .enumerate()
            .map(|(i, r)| (r.shown.clone(), value(i)))
            .collect()
    }

    fn now_ms(&self) -> u64 {
        millis(self.started.elapsed())
    }

    /// The replica a request goes to, given how each stands in the
    /// concurrency limit (`loads`, in the order of replicas), or `None` to
    /// wait for a place to free on any of them or for the next rest or
    /// `Retry-After` to be over (see [`Self::next_change`]). A replica
    /// resting after failures is passed over while another is not; when
    /// every one rests, one whose `Retry-After` still runs is passed over
    /// while another's is over (when every one's runs, the one ending
    /// first is preferred). Among the rest, the one with room below its
    /// own limit and the fewest requests outstanding is taken, ties going
    /// round from `start`. A replica passed over is not taken even when
    /// the others are at their limits: its rest is what keeps a failing
    /// replica (which always has the fewest outstanding) from drawing the
    /// load. The request waits instead, and takes it once its rest is
    /// over if no place freed before.
    fn choose(&self, loads: &[MemberLoad], start: usize) -> Option<usize> {
        let n = self.replicas.len();
        let now = self.now_ms();
        let asked = |r: &Replica| r.asked_wait(now);
        // Whether it rests, and whether its `Retry-After` is still running.
        let standing = |r: &Replica| (r.rests(now), asked(r) > 0);
        let best = self.replicas.iter().map(standing).min()?;
        (0..n)
            .map(|i| (start + i) % n)
            .filter(|&i| loads[i].has_room && standing(&self.replicas[i]) == best)
            .min_by_key(|&i| (asked(&self.replicas[i]), loads[i].in_flight))
    }

    /// How long until the first rest or `Retry-After` of a replica that
    /// still runs is over, when [`Self::choose`] may choose otherwise;
    /// `None` when none runs. A request that found no replica to take
    /// waits no longer than this before it asks again: a replica passed
    /// over while another was at its limit can take it then, rather than
    /// when a request on the other is answered (which, from a slow model,
    /// can take a minute).
    fn next_change(&self) -> Option<Duration> {
        let now = self.now_ms();
        self.replicas
            .iter()
            .flat_map(|r| [&r.resting_until, &r.asked_until])
            .map(|end| end.load(Ordering::SeqCst))
            .filter(|&end| end > now)
            .min()
            .map(|end| Duration::from_millis(end - now))
    }

    /// Whether a replica other than `failed` is not resting: a retry goes
    /// to it without backing off (as soon as it has room under the
    /// concurrency limit).
    fn another_replica_is_free(&self, failed: &Replica) -> bool {
        let now = self.now_ms();
        self.replicas
            .iter()
            .any(|r| !std::ptr::eq(r, failed) && !r.rests(now))
    }

    /// When every replica's `Retry-After` asks to wait, waits until the
    /// first of them is over (at most `retry_cap`, as the asks are).
    async fn wait_for_a_replica(&self) {
        let now = self.now_ms();
        let wait = self
            .replicas
            .iter()
            .map(|r| r.asked_wait(now))
            .min()
            .unwrap_or(0);
        if wait > 0 {
            tracing::debug!(target_id = %self.id, wait_ms = wait, "every replica asked to wait");
            self.say_wait(Duration::from_millis(wait));
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }

    /// Says, as a warning, that the target's requests wait `wait` because
    /// the server asked them to (a rate limit's `Retry-After`), when that
    /// is at least [`SAID_WAIT`]: once per wait, however many requests
    /// wait (a wait that begins before the last one said is over is not
    /// said), so that a run that seems stuck says why.
    fn say_wait(&self, wait: Duration) {
        if wait < SAID_WAIT {
            return;
        }
        let now = self.now_ms();
        let said = self.wait_said_until.load(Ordering::SeqCst);
        let end = now.saturating_add(millis(wait));
        if said > now
            || self
                .wait_said_until
                .compare_exchange(said, end, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return;
        }
        tracing::warn!(
            "target `{}` is rate-limited: its requests wait {}, as the server asked, before it \
             is asked again",
            self.id,
            duration_said(wait)
        );
    }

    /// `error`, the error of retry number `retry` (0 for the first
    /// attempt), or, for a 429 whose `stated` wait (its `Retry-After`, see
    /// [`stated_wait`]) is longer than all the target would wait for the
    /// request from now on (`retry_cap` before each retry left) while no
    /// replica may be asked before the cap (each rests longer: a replica
    /// resting for a shorter while takes the retry instead), the
    /// [`Blocker::RateLimit`] it is: the retries would all get the same
    /// answer, and the wait asked may be hours (a daily limit). Not
    /// retried; a run asks the target nothing more and says when the limit
    /// resets. The reset times of `x-ratelimit-reset-*` headers block
    /// nothing: they say when a limit is whole again, and a request may
    /// pass long before.
    fn beyond_the_cap(
        &self,
        error: TargetError,
        stated: Option<Duration>,
        retry: u32,
    ) -> TargetError {
        let (TargetError::Status { status: 429, .. }, Some(wait)) = (&error, stated) else {
            return error;
        };
        let left = self.config.max_retries.saturating_sub(retry);
        let horizon = self.now_ms().saturating_add(millis(self.config.retry_cap));
        let soon = self
            .replicas
            .iter()
            .any(|r| r.resting_until.load(Ordering::SeqCst) <= horizon);
        if wait <= self.config.retry_cap.saturating_mul(left) || soon {
            return error;
        }
        let TargetError::Status { message, .. } = error else {
            unreachable!("matched above")
        };
        // A wait beyond any clock's reach (a century) says a century.
        let until = SystemTime::now()
            .checked_add(wait.min(Duration::from_secs(100 * 365 * 86_400)))
            .unwrap_or(UNIX_EPOCH);
        TargetError::Blocked {
            status: 429,
            message,
            blocker: Blocker::RateLimit { wait, until },
        }
    }

    /// Records how a request to `replica` fared: a failure that another
    /// replica may not share (a transient one: no connection, a timeout, a
    /// 429, a 5xx, a malformed answer) rests it for a while, and at least
    /// as long as its `Retry-After` asks; an answer, or an error that is
    /// the request's own, ends its rest.
    fn fared(&self, replica: &Replica, error: Option<&TargetError>) {
        let Some(error) = error.filter(|e| e.is_transient()) else {
            replica.failures.store(0, Ordering::SeqCst);
            replica.resting_until.store(0, Ordering::SeqCst);
            replica.asked_until.store(0, Ordering::SeqCst);
            return;
        };
        let failures = replica.failures.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.now_ms();
        let asked = asked_wait(error);
        let rest = rest_after(failures).max(asked);
        // A later failure never shortens a rest another one began.
        replica
            .resting_until
            .fetch_max(now.saturating_add(millis(rest)), Ordering::SeqCst);
        replica.asked_until.fetch_max(
            now.saturating_add(millis(asked.min(self.config.retry_cap))),
            Ordering::SeqCst,
        );
        if self.replicas.len() > 1 {
            tracing::debug!(replica = %replica.shown, failures, ?rest, "replica rests after failures");
        }
    }

    fn body(&self, request: &ChatRequest) -> Value {
        // The target's own system prompt comes first, merged with a
        // strategy's system message (`with_system_prompt`, as the runner
        // stores the conversation). A provider's refusal goes back as its
        // text (`Message::said`).
        let messages: Vec<Value> =
            with_system_prompt(self.config.system_prompt.as_deref(), &request.messages)
                .iter()
                .map(|m| json!({"role": m.role.as_str(), "content": m.said()}))
                .collect();
        let mut body = json!({
            "model": self.config.model,
            "messages": messages,
            "temperature": self.config.temperature,
        });
        let limit = if self.completion_tokens.load(Ordering::Relaxed) {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        body[limit] = json!(self.config.max_tokens);
        if let Some(seed) = self.config.seed.or(request.seed) {
            body["seed"] = json!(seed);
        }
        if !self.config.stop.is_empty() {
            body["stop"] = json!(self.config.stop);
        }
        body
    }

    /// One request, to the replica [`Self::choose`] chooses (returned
    /// with the result), once it has a place in flight under that
    /// replica's limit and the target's; while it has none, it is asked
    /// again whenever a place frees, a limit grows or a replica's rest or
    /// `Retry-After` is over. How it fared rests the replica or ends its
    /// rest, and adapts that replica's limit alone.
    async fn attempt(&self, body: &Value) -> (&Replica, Result<ChatResponse, Failed>) {
        self.wait_for_a_replica().await;
        let start = self.next.fetch_add(1, Ordering::Relaxed) % self.replicas.len();
        let permit = self
            .limit
            .acquire_by(|loads| self.choose(loads, start), || self.next_change())
            .await;
        let replica = &self.replicas[permit.member()];
        let result = self.send(replica, body).await;
        match &result {
            Ok(_) => permit.succeeded(),
            Err(Failed {
                error: TargetError::Status { status: 429, .. },
                ..
            }) => permit.overloaded(),
            Err(_) => {}
        }
        // An answer that would come the same again (`Failed::settled`) is
        // the server's, as an error that is the request's own is: the
        // replica does not rest for it.
        let failure = result.as_ref().err().filter(|f| !f.settled);
        self.fared(replica, failure.map(|f| &f.error));
        (replica, result)
    }

    /// Sends one request to `replica` and reads its answer ([`Self::exchange`]),
    /// with every credential taken out of the error's text (see
    /// [`Secrets`]): some servers quote the key they refused.
    async fn send(&self, replica: &Replica, body: &Value) -> Result<ChatResponse, Failed> {
        self.exchange(replica, body).await.map_err(|f| Failed {
            error: redact_error(&self.secrets, f.error),
            ..f
        })
    }

    /// One request and its answer. A 400 that names the parameter it
    /// refuses says which (see [`Failed`]). A provider's content filter
    /// refusing the prompt (Azure OpenAI's 400 `content_filter`,
    /// OpenRouter's moderation 403, see [`prompt_filtered`], or
    /// `"choices": []` with `prompt_filter_results`) is its refusal, read
    /// as a reply the filter stopped is (see [`filtered_prompt`]). A 301,
    /// 302 or 303 is not followed (see [`redirect_policy`]) and says where
    /// it points; neither it, a body compressed though no compression was
    /// asked for, an HTML page in place of a completion (a website's, at a
    /// wrong base URL), nor `"choices": []` that says nothing more is sent
    /// again: the same request gets the same answer. A choice that carries
    /// the provider's error is that error (see [`choice_error`]). The URL
    /// asked is the base URL's path, `/chat/completions`, then its query
    /// (see [`endpoint`]); the wait an error asks for is read as
    /// [`asked_wait_of`] reads it.
    async fn exchange(&self, replica: &Replica, body: &Value) -> Result<ChatResponse, Failed> {
        let url = endpoint(&replica.url, "/chat/completions");
        let base = &replica.shown;
        let shown_url = endpoint(base, "/chat/completions");
        let mut req = self.client.post(&url).json(body);
        if let Some(key) = &self.api_key {
            req = req.header(reqwest::header::AUTHORIZATION, key.clone());
        }
        let response = req
            .send()
            .await
            .map_err(|e| self.transport_error(base, e))?;
        let status = response.status();
        if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
            let r = Redirect::of(
                status.as_u16(),
                &url,
                "/chat/completions",
                response.headers(),
            );
            let setting = "(--base-url, or `base_url` in a targets file)";
            let fix = match (&r.base, &r.location) {
                (Some(b), _) => format!("use {b} as the base URL {setting}"),
                _ if r.to_itself => format!(
                    "fix the server's redirects, or use the address it answers at as the base \
                     URL {setting}"
                ),
                (None, Some(_)) => "the base URL is likely wrong, or the server wants \
                     credentials before it answers (an API key, a header given with --header, or \
                     a user name and password in the base URL): check both"
                    .to_string(),
                (None, None) => format!("check the base URL {setting}"),
            };
            return Err(TargetError::Config(format!("{shown_url}: {}; {fix}", r.said())).into());
        }
        let retry_after = asked_wait_of(status.as_u16(), response.headers());
        let stated = stated_wait(response.headers());
        let coding = unasked_encoding(response.headers());
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(base, e))?;
        let parsed = json_lossy(&bytes);
        if !status.is_success() {
            if let Ok(v) = &parsed
                && prompt_filtered(status.as_u16(), v)
            {
                return Ok(filtered_prompt(v));
            }
            let mut message = match (&coding, &parsed) {
                (Some(coding), Err(_)) => encoding_said(coding),
                _ => error_message(&bytes, &self.secrets),
            };
            message.push_str(&base_url_hint(status.as_u16(), base, "POST", &shown_url));
            message.push_str(&self.key_hint(status.as_u16()));
            // Of several replicas, the one that answered so: the one to fix
            // when it alone refuses the key or has used up its quota.
            if self.replicas.len() > 1 {
                message = format!("the replica {base} answered: {message}");
            }
            let refused = (status.as_u16() == 400)
                .then(|| refused_parameter(&bytes))
                .flatten();
            let body = parsed.as_ref().ok();
            let setting = (status.as_u16() == 400)
                .then(|| refused_setting(body?, refused.as_deref()))
                .flatten();
            let error = if let Some(setting) = setting {
                // Every request sends the setting: each would be refused.
                message.push_str(&self.setting_hint(setting));
                TargetError::Config(format!("HTTP 400: {message}"))
            } else if let Some(blocker) = blocker_of(status.as_u16(), body) {
                TargetError::Blocked {
                    status: status.as_u16(),
                    message,
                    blocker,
                }
            } else {
                TargetError::Status {
                    status: status.as_u16(),
                    message,
                    retry_after,
                }
            };
            return Err(Failed {
                error,
                refused,
                settled: false,
                stated,
            });
        }
        let value = match parsed {
            Ok(value) => value,
            Err(_) if coding.is_some() => {
                let said = encoding_said(coding.as_deref().unwrap_or_default());
                return Err(Failed::settled(TargetError::InvalidResponse(said)));
            }
            // A website's page, not the API's answer: the base URL is wrong,
            // and the same request gets the same page.
            Err(_) if html_page(content_type.as_deref(), &bytes) => {
                let said = html_page_said(content_type.as_deref(), &bytes, &self.secrets);
                let mut hint = base_url_hint(404, base, "POST", &shown_url);
                if hint.is_empty() {
                    hint = format!(
                        " (POST {shown_url}: is the base URL right? It must be the API's \
                         address, not the website's)"
                    );
                }
                return Err(Failed::settled(TargetError::InvalidResponse(format!(
                    "{shown_url}: {said}; it was not sent again{hint}"
                ))));
            }
            Err(e) => return Err(not_json(&e, &bytes, &self.secrets).into()),
        };
        let no_choice = value["choices"].as_array().is_some_and(Vec::is_empty);
        match parse_chat_completion(&value) {
            // Nothing but `"choices": []`: the server chose to answer so.
            Err(TargetError::InvalidResponse(why))
                if no_choice && server_said(&value).is_none() =>
            {
                Err(Failed::settled(TargetError::InvalidResponse(format!(
                    "{why}: a filter of the server's, most likely, which answers the same \
                     request the same way, so it was not sent again (the server's logs may say \
                     more)"
                ))))
            }
            result => Ok(result?),
        }
    }

    /// What to add to the message of a 400 that refuses the target's
    /// `setting` (see [`refused_setting`]): the value sent, and what to
    /// change where the user gave it (see [`OpenAiConfig::names`]): the
    /// flag, the target's field in its targets file, or, for xsafe's
    /// default, where to give another.
    fn setting_hint(&self, setting: &str) -> String {
        let names = &self.config.names;
        match setting {
            "temperature" => {
                let t = self.config.temperature;
                let Some(g) = &names.temperature else {
                    return format!(
                        " (the model takes no --temperature {t}; run with the one it names, \
                         e.g. --temperature 1)"
                    );
                };
                match (g.by_flag, g.in_file("temperature").filter(|_| g.by_file)) {
                    (true, _) => {
                        let flag = g.flag.as_deref().unwrap_or("--temperature");
                        format!(
                            " (the model takes no {flag} {t}; run with the one it names, e.g. \
                             {flag} 1)"
                        )
                    }
                    (false, Some(file)) => format!(
                        " (the model takes no temperature {t}, given as {file}: set the one it \
                         names there, e.g. `temperature = 1`)"
                    ),
                    (false, None) => format!(
                        " (the model takes no temperature {t}, xsafe's default: give the one it \
                         names {}, e.g. 1)",
                        g.ways("temperature")
                    ),
                }
            }
            "stop" => {
                let g = names.stop.as_ref();
                let file = g.filter(|g| g.by_file).and_then(|g| g.in_file("stop"));
                let flag = g.filter(|g| g.by_flag).and_then(|g| g.flag.as_deref());
                match (file, flag) {
                    (Some(file), _) => format!(
                        " (the model takes no stop sequences, or not these, given as {file}: \
                         leave it out there, or give ones it takes)"
                    ),
                    (None, Some(flag)) => format!(
                        " (the model takes no stop sequences, or not these: run without {flag}, \
                         or with ones it takes)"
                    ),
                    (None, None) => " (the model takes no stop sequences, or not these: run \
                                     without --stop (or `stop` in a targets file), or with ones \
                                     it takes)"
                        .to_string(),
                }
            }
            _ => {
                let n = self.config.max_tokens;
                let Some(g) = &names.max_tokens else {
                    return format!(
                        " (the model takes no --max-tokens {n}: give a smaller one, at most the \
                         limit the message names)"
                    );
                };
                match (g.by_flag, g.in_file("max_tokens").filter(|_| g.by_file)) {
                    (true, _) => format!(
                        " (the model takes no {} {n}: give a smaller one, at most the limit the \
                         message names)",
                        g.flag.as_deref().unwrap_or("--max-tokens")
                    ),
                    (false, Some(file)) => format!(
                        " (the model takes no max_tokens {n}, given as {file}: give a smaller one \
                         there, at most the limit the message names)"
                    ),
                    (false, None) => format!(
                        " (the model takes no max_tokens {n}, xsafe's default: give a smaller \
                         one {}, at most the limit the message names)",
                        g.ways("max_tokens")
                    ),
                }
            }
        }
    }

    /// For a 401 or 403: which credentials were sent, the key and the
    /// variable it came from, or the headers given with `--header` (or a
    /// targets file's `headers`) that carry one (`api-key`, `x-api-key`,
    /// any name with `key`, `token`, `secret`, `auth`, `password` or
    /// `session` in it, or `Cookie`), each named where the user gave it
    /// (see [`OpenAiConfig::names`]); and that the default variable's key
    /// was not sent beside such a header, and how to send it too.
    fn key_hint(&self, status: u16) -> String {
        if !matches!(status, 401 | 403) {
            return String::new();
        }
        let var = &self.config.api_key_env;
        let names = &self.config.names;
        let given = headers_given(names);
        if self.header_auth {
            let authorization = self
                .config
                .headers
                .iter()
                .any(|(k, _)| k.trim().eq_ignore_ascii_case("authorization"));
            return match (&names.headers, authorization) {
                (None, _) => " (the server refused the credentials given with --header \
                              Authorization or in the base URL)"
                    .to_string(),
                (Some(_), true) => {
                    format!(
                        " (the server refused the credentials in the `Authorization` header {given})"
                    )
                }
                (Some(_), false) => {
                    " (the server refused the user name and password in the base URL)".to_string()
                }
            };
        }
        let ways = match &names.api_key_env {
            Some(g) => g.ways("api_key_env"),
            None => "with --api-key-env, with --judge-api-key-env for an llm: judge, or with \
                     `api_key_env` in a targets file"
                .to_string(),
        };
        let headers: Vec<String> = self
            .config
            .headers
            .iter()
            .map(|(name, _)| name.trim())
            .filter(|name| crate::secrets::server_credential_header(name))
            .map(|name| format!("`{name}`"))
            .collect();
        if !headers.is_empty() {
            let (noun, sent, it) = match headers.len() {
                1 => ("the header", headers[0].clone(), "it"),
                _ => ("the headers", headers.join(", "), "them"),
            };
            let given = format!("{noun} {sent} {given}");
            let withheld = if self.withheld {
                format!(
                    "; the key in `{var}` was not sent beside {it}, as a header given carries a \
                     credential: to send it too, name the variable {ways}"
                )
            } else {
                String::new()
            };
            return match (status, &self.api_key) {
                (401, None) => {
                    format!(" (the server refused the credentials in {given}{withheld})")
                }
                (_, None) => format!(
                    " (the credentials in {given} may lack access to this model, or the \
                     server refused this request{withheld})"
                ),
                (401, Some(_)) => format!(
                    " (the server refused the API key from `{var}` or {given}; both were sent)"
                ),
                (_, Some(_)) => format!(
                    " (the API key from `{var}` or {given}, both sent, may lack access to this \
                     model, or the server refused this request)"
                ),
            };
        }
        match (status, &self.api_key) {
            // The same target type serves `run`'s targets and `llm:` judges,
            // whose flag is another: named as the user gave it, or each.
            (_, None) => format!(
                " (no API key was sent: `{var}` is not set; export the key in it, or name \
                 the variable that holds it {ways})"
            ),
            (401, Some(_)) => format!(" (the server refused the API key from `{var}`)"),
            // A 403 may refuse the key's access to the model, or only this
            // request (a guardrail blocking one prompt).
            (_, Some(_)) => format!(
                " (the key from `{var}` may lack access to this model, or the server refused \
                 this request)"
            ),
        }
    }

    fn transport_error(&self, base: &str, e: reqwest::Error) -> TargetError {
        if let Some(why) = redirect_failure(&e) {
            // Sent again, it would go round the same way.
            return TargetError::Config(format!(
                "{}: {why}; it was not sent again: fix the server's redirects, or use the \
                 address it answers at as the base URL",
                endpoint(base, "/chat/completions")
            ));
        }
        let e = e.without_url();
        if e.is_timeout() {
            TargetError::Timeout(self.config.timeout)
        } else if e.is_builder() {
            TargetError::Config(format!("bad request to `{base}`: {e}"))
        } else {
            // Walk the source chain: reqwest's top-level message alone
            // ("error sending request") does not say what went wrong. The
            // URL is `base`, shown without credentials.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            TargetError::Connection(format!("{base} ({message})"))
        }
    }

    /// The wait before retry number `retry + 1` after `err` from
    /// `failed`: none when another replica is not resting (the retry goes
    /// to it); else the exponential backoff, or the `Retry-After` when it
    /// asks for longer (a `Retry-After: 0` does not make retries back to
    /// back), at most `retry_cap`.
    fn backoff(
        &self,
        retry: u32,
        err: &TargetError,
        failed: &Replica,
        rng: &mut SplitMix64,
    ) -> Duration {
        if self.another_replica_is_free(failed) {
            return Duration::ZERO;
        }
        let exp = self.config.retry_base.saturating_mul(1u32 << retry.min(16));
        // Full jitter between half and all of the exponential delay, so
        // clients that failed together do not retry together.
        let jitter = 0.5 + (rng.next_u64() as f64 / u64::MAX as f64) * 0.5;
        exp.mul_f64(jitter)
            .max(asked_wait(err))
            .min(self.config.retry_cap)
    }
}

#[async_trait]
impl Target for OpenAiTarget {
    fn id(&self) -> &str {
        &self.id
    }

    fn settings(&self) -> Value {
        json!({
            "backend": "openai",
            "model": self.config.model,
            "base_urls": self.replicas.iter().map(|r| &r.shown).collect::<Vec<_>>(),
            "headers": self.config.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            "stop": self.config.stop,
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "seed": self.config.seed,
            "system_prompt": self.config.system_prompt,
            "timeout_secs": self.config.timeout.as_secs_f64(),
        })
    }

    fn max_concurrency(&self) -> usize {
        self.config.max_concurrency
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, TargetError> {
        let mut body = self.body(request);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        let mut rng = SplitMix64::new(nanos);
        let mut retry = 0;
        loop {
            let (replica, result) = self.attempt(&body).await;
            let failed = match result {
                Ok(response) => return Ok(response),
                // OpenAI's reasoning models take the limit as
                // `max_completion_tokens`: sent so from then on, and this
                // request again at once (not a retry).
                Err(Failed {
                    refused: Some(param),
                    ..
                }) if param == "max_tokens" && body.get("max_tokens").is_some() => {
                    if !self.completion_tokens.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            target_id = %self.id,
                            "the server refused `max_tokens`; sending the token limit as \
                             `max_completion_tokens`"
                        );
                    }
                    body = self.body(request);
                    continue;
                }
                Err(failed) => failed,
            };
            let Failed {
                error,
                settled,
                stated,
                ..
            } = failed;
            match self.beyond_the_cap(error, stated, retry) {
                err if !settled && err.is_transient() && retry < self.config.max_retries => {
                    let wait = self.backoff(retry, &err, replica, &mut rng);
                    tracing::debug!(target_id = %self.id, error = %err, ?wait, "retrying");
                    if asked_wait(&err) >= SAID_WAIT {
                        self.say_wait(wait);
                    }
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
                err if retry > 0 => {
                    return Err(TargetError::Exhausted {
                        attempts: retry + 1,
                        last: Box::new(err),
                    });
                }
                err => return Err(err),
            }
        }
    }
}

/// The wait an error's `Retry-After` asks for; none without one.
fn asked_wait(err: &TargetError) -> Duration {
    match err {
        TargetError::Status {
            retry_after: Some(after),
            ..
        } => *after,
        _ => Duration::ZERO,
    }
}

/// A request that failed, with the parameter a 400 refused when it names
/// one (`error.param`), so that the caller can adapt the request.
struct Failed {
    error: TargetError,
    refused: Option<String>,
    /// Whether the server's answer would be the same again though the
    /// error's kind is one retried (an invalid response): it is not sent
    /// again, and the replica does not rest for it.
    settled: bool,
    /// The wait the answer stated outright (see [`stated_wait`]), which a
    /// rate limit's wait beyond what the target waits is read from (see
    /// [`OpenAiTarget::beyond_the_cap`]).
    stated: Option<Duration>,
}

impl Failed {
    /// `error`, which the same request would meet again.
    fn settled(error: TargetError) -> Self {
        Failed {
            error,
            refused: None,
            settled: true,
            stated: None,
        }
    }
}

impl From<TargetError> for Failed {
    fn from(error: TargetError) -> Self {
        Failed {
            error,
            refused: None,
            settled: false,
            stated: None,
        }
    }
}

/// `error` with every credential in its text replaced (see [`Secrets`]).
fn redact_error(secrets: &Secrets, error: TargetError) -> TargetError {
    match error {
        TargetError::Status {
            status,
            message,
            retry_after,
        } => TargetError::Status {
            status,
            message: secrets.redact(&message),
            retry_after,
        },
        TargetError::Connection(m) => TargetError::Connection(secrets.redact(&m)),
        TargetError::InvalidResponse(m) => TargetError::InvalidResponse(secrets.redact(&m)),
        TargetError::Config(m) => TargetError::Config(secrets.redact(&m)),
        TargetError::Blocked {
            status,
            message,
            blocker,
        } => TargetError::Blocked {
            status,
            message: secrets.redact(&message),
            blocker,
        },
        TargetError::Exhausted { attempts, last } => TargetError::Exhausted {
            attempts,
            last: Box::new(redact_error(secrets, *last)),
        },
        e @ TargetError::Timeout(_) => e,
    }
}

/// Where the headers were given, as a message about those that carry
/// credentials says it: `given with --judge-header`, `` given in `headers`
/// of target `t` in the targets file `t.toml` ``, or, when not known (see
/// [`OpenAiConfig::names`]), `given with --header (or in a targets file)`.
fn headers_given(names: &SettingNames) -> String {
    match &names.headers {
        None => "given with --header (or in a targets file)".to_string(),
        Some(g) => format!(
            "given {}",
            g.given("headers", "in")
                .unwrap_or_else(|| format!("with {}", g.flag.as_deref().unwrap_or("--header")))
        ),
    }
}

/// What named the variable of the API key: its flag, or its field of the
/// target in the targets file; `None` when neither did.
fn key_variable_set_by(g: &Given) -> Option<String> {
    g.flag
        .clone()
        .filter(|_| g.by_flag)
        .or_else(|| g.in_file("api_key_env").filter(|_| g.by_file))
}

/// Where the variable of the API key was named, as the error for one not
/// set says it: `named by --judge-api-key-env`, `` named by `api_key_env`
/// of target `t` in the targets file `t.toml` ``, or, when not known (see
/// [`OpenAiConfig::names`]), each place it may be named.
fn named_by(given: Option<&Given>) -> String {
    match given.and_then(key_variable_set_by) {
        Some(by) => format!("named by {by}"),
        None => "named by --api-key-env, by --judge-api-key-env for an llm: judge, or by \
                 `api_key_env` in a targets file"
            .to_string(),
    }
}

/// The error for a variable of the API key named on purpose beside an
/// `Authorization` header (`auth_header`) or a user name and password in a
/// base URL: both would be sent as the `Authorization` header, and one of
/// them would be dropped without a word.
fn two_authorizations(config: &OpenAiConfig, auth_header: bool) -> String {
    let names = &config.names;
    let other = if auth_header {
        format!("the `Authorization` header {}", headers_given(names))
    } else {
        "the user name and password in the base URL".to_string()
    };
    let leave = names
        .api_key_env
        .as_ref()
        .and_then(key_variable_set_by)
        .unwrap_or_else(|| "the variable's setting".to_string());
    let alone = if auth_header {
        "the header"
    } else {
        "the URL's"
    };
    format!(
        "the API key variable `{}` ({}) and {other} would both be sent as the `Authorization` \
         header: give one of them (leave out {leave} to send {alone} alone)",
        config.api_key_env,
        named_by(names.api_key_env.as_ref())
    )
}

/// The parameter an OpenAI-style 400 refuses as unsupported (`error.param`
/// with an `unsupported_*` code), or `max_tokens` when the message says it
/// is not supported and names `max_completion_tokens`. A parameter refused
/// for its value is not one: vLLM's "'max_tokens' or
/// 'max_completion_tokens' is too large" names both, and its message is
/// the answer.
fn refused_parameter(bytes: &[u8]) -> Option<String> {
    let body: Value = serde_json::from_slice(bytes).ok()?;
    let error = &body["error"];
    let message = error["message"].as_str().unwrap_or_default();
    let lower = message.to_lowercase();
    let unsupported = ["unsupported", "not supported", "instead"]
        .iter()
        .any(|w| lower.contains(w));
    if unsupported
        && !lower.contains("too large")
        && message.contains("max_tokens")
        && message.contains("max_completion_tokens")
    {
        return Some("max_tokens".into());
    }
    let code = error["code"].as_str().unwrap_or_default();
    code.starts_with("unsupported")
        .then(|| error["param"].as_str().map(String::from))
        .flatten()
}

/// The parameters every request sends from the target's settings that a
/// 400 may refuse as the model's limits: `--temperature`, `--max-tokens`
/// (sent as `max_tokens` or `max_completion_tokens`) and `--stop`. The
/// seed is not among them: a run sends one with every request, whatever
/// the settings.
const SETTINGS: [&str; 4] = ["temperature", "max_tokens", "max_completion_tokens", "stop"];

/// The setting of the target's (see [`SETTINGS`]; `max_tokens` for either
/// name of the token limit) that an HTTP 400 with the JSON `body` refuses,
/// as every request sends it: the one its `error.param` names (OpenAI's
/// "max_tokens is too large: 100000. This model supports at most 16384
/// completion tokens", "Unsupported value: 'temperature' does not support
/// 0 with this model"), the one `refused` names (see
/// [`refused_parameter`]), or the token limit when the message names it
/// as too large (vLLM's "'max_tokens' or 'max_completion_tokens' is too
/// large"). A 400 about the prompt (`param` `messages`, a context too
/// long) is none: another prompt may pass.
fn refused_setting(body: &Value, refused: Option<&str>) -> Option<&'static str> {
    let error = &body["error"];
    let named = error["param"].as_str().or(refused).map(str::trim);
    if let Some(param) = named.and_then(|p| SETTINGS.iter().find(|s| **s == p)) {
        return Some(match *param {
            "max_completion_tokens" => "max_tokens",
            other => other,
        });
    }
    let said = server_said(body).unwrap_or_default().to_ascii_lowercase();
    ((said.contains("max_tokens") || said.contains("max_completion_tokens"))
        && said.contains("too large"))
    .then_some("max_tokens")
}

/// What blocks the target (see [`Blocker`]), by an error answer with
/// `status` and its JSON `body` (`None` when it is not JSON): an HTTP 402,
/// or an `error.code` or `error.type` of `insufficient_quota`, is a
/// [`Blocker::Quota`]; an `error.code` or `error.type` of `model_not_found`
/// or `DeploymentNotFound` (in any case) with a 400 or a 404, or a 404 whose
/// message names a model that "does not exist" or was "not found", is a
/// [`Blocker::ModelNotFound`]. A 404 that names no model (a wrong path) is
/// none. A rate limit is blocked by its wait (see
/// [`OpenAiTarget::beyond_the_cap`]), not by its body.
fn blocker_of(status: u16, body: Option<&Value>) -> Option<Blocker> {
    let error = body.map(|b| &b["error"]);
    let coded = |name: &str| {
        ["code", "type"].iter().any(|field| {
            error
                .and_then(|e| e[*field].as_str())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case(name))
        })
    };
    if status == 402 || ((400..500).contains(&status) && coded("insufficient_quota")) {
        return Some(Blocker::Quota);
    }
    if matches!(status, 400 | 404) && (coded("model_not_found") || coded("DeploymentNotFound")) {
        return Some(Blocker::ModelNotFound);
    }
    let said = body
        .and_then(server_said)
        .unwrap_or_default()
        .to_ascii_lowercase();
    (status == 404
        && said.contains("model")
        && (said.contains("does not exist") || said.contains("not found")))
    .then_some(Blocker::ModelNotFound)
}

/// `url` without the user name and password it may carry; shared with the
/// downloads of models and suites, which show their URLs the same way.
pub use xsafe_fetch::{without_credentials, without_userinfo};

/// The wait a `Retry-After` header asks for: a number of seconds, or an
/// HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`, and the obsolete RFC 850
/// and asctime forms) counted from now, a date already past being no wait.
/// A negative number, one too large for a [`Duration`] or anything else is
/// no answer.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    retry_after_at(value, std::time::SystemTime::now())
}

/// [`retry_after`] of the header's `value` at the time `now`.
fn retry_after_at(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The wait an answer's headers state outright: `retry-after-ms`
/// (milliseconds), else `Retry-After` (see [`retry_after`]). Not the reset
/// times of `x-ratelimit-reset-*`, which [`asked_wait_of`] reads too: they
/// say when a rate limit is whole again, not when the next request may
/// pass.
fn stated_wait(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let ms = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok());
    ms.or_else(|| retry_after(headers))
}

/// How long an answer with `status` and `headers` asks to wait before the
/// next request, from the first of these that it sends and that reads:
/// `retry-after-ms` (milliseconds, as Azure OpenAI sends it and OpenAI's
/// SDKs read it); `Retry-After` (see [`retry_after`]); and, for a 429, the
/// time until the rate limit it hit resets, as OpenAI's
/// `x-ratelimit-reset-requests` and `x-ratelimit-reset-tokens` say it
/// (`1s`, `6m0s`, `17ms`: numbers each with its unit, as Go writes
/// durations), the one whose
/// `x-ratelimit-remaining-*` is `0`, the longer of the two when neither or
/// both is. The reset headers come with every answer of OpenAI's, and say
/// nothing of a 5xx. `None` when none is sent or reads; the caller caps the
/// wait (`retry_cap`).
pub fn asked_wait_of(status: u16, headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(stated) = stated_wait(headers) {
        return Some(stated);
    }
    if status != 429 {
        return None;
    }
    let resets: Vec<(bool, Duration)> = ["requests", "tokens"]
        .iter()
        .filter_map(|limit| {
            let reset = header(&format!("x-ratelimit-reset-{limit}")).and_then(go_duration)?;
            let spent = header(&format!("x-ratelimit-remaining-{limit}")) == Some("0");
            Some((spent, reset))
        })
        .collect();
    let any_spent = resets.iter().any(|(spent, _)| *spent);
    resets
        .into_iter()
        .filter(|(spent, _)| *spent || !any_spent)
        .map(|(_, reset)| reset)
        .max()
}

/// A duration as Go writes it, which OpenAI's `x-ratelimit-reset-*`
/// headers use: numbers, each with its unit (`h`, `m`, `s`, `ms`, `us` or
/// `µs`, `ns`), e.g. `1s`, `6m0s`, `17ms`, `1h2m3.5s`. `None` for anything
/// else, a number without a unit included (a count of seconds or a time
/// stamp, which other servers send under other names).
fn go_duration(value: &str) -> Option<Duration> {
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    let is_number = |c: char| c.is_ascii_digit() || c == '.';
    let mut secs = 0.0;
    while !rest.is_empty() {
        let end = rest.find(|c| !is_number(c)).unwrap_or(rest.len());
        let number: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let end = rest.find(is_number).unwrap_or(rest.len());
        let unit = match &rest[..end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        secs += number * unit;
        rest = &rest[end..];
    }
    Duration::try_from_secs_f64(secs).ok()
}

/// The URL of `path` (`/chat/completions`) under the base URL `base`:
/// `path` after the base URL's path (a slash ending it dropped), before its
/// query, which Azure OpenAI's deployment URLs carry
/// (`.../openai/deployments/NAME?api-version=2024-06-01` asks
/// `.../openai/deployments/NAME/chat/completions?api-version=2024-06-01`).
/// `xsafe serve --upstream` asks its upstream's URLs with it too.
pub fn endpoint(base: &str, path: &str) -> String {
    let (base_path, query) = match base.split_once('?') {
        Some((p, q)) => (p, Some(q).filter(|q| !q.is_empty())),
        None => (base, None),
    };
    let mut url = base_path.trim_end_matches('/').to_string();
    url.push_str(path);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// `key` as the `Authorization: Bearer` header value it is sent as, marked
/// sensitive (never printed by a `Debug`); `None` when it cannot be sent (a
/// line break or another control character in it).
pub fn bearer(key: &str) -> Option<reqwest::header::HeaderValue> {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// What an OpenAI-style body says went wrong: its `error.message`, or a
/// string `error`.
pub fn server_said(body: &Value) -> Option<&str> {
    body["error"]["message"].as_str().or(body["error"].as_str())
}

/// What an error response says: the `error.message` (or a string `error`)
/// of an OpenAI-style body, else the start of the body as text (an HTML
/// error page's text, without its markup). Shortened, so that a server's
/// error page does not fill a log line: to 500 characters of a message,
/// 300 of a text. The `secrets` are taken out before it is shortened (a
/// credential cut in two would be found by neither half), from the text as
/// it is quoted: the message as the JSON says it (a key written `sk-a\/b`
/// is `sk-a/b` there), the page's text with its entities decoded, and the
/// body as it came.
pub fn error_message(bytes: &[u8], secrets: &Secrets) -> String {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    if let Some(m) = parsed.as_ref().and_then(server_said) {
        return secrets.redact(m).chars().take(500).collect();
    }
    let text = secrets.redact(&String::from_utf8_lossy(bytes));
    let mut text = text.trim().to_string();
    if text.starts_with('<') {
        text = secrets.redact(&html_text(&text));
    }
    if text.is_empty() {
        "(empty body)".to_string()
    } else {
        text.chars().take(300).collect()
    }
}

/// What to add to the error of a request to `url` (under the base URL
/// `base`) that the server answered with `status`: a server that does not
/// know the path, at a base URL whose path does not end in `/v1`, most
/// often means the `/v1` is missing (behind `/v1`, a 404 is usually an
/// unknown model, which the body says). At an Azure OpenAI deployment's
/// URL (`/openai/deployments/NAME`, its query kept), it is the deployment
/// name or the `api-version` query that is wrong, or missing. Empty
/// otherwise.
pub fn base_url_hint(status: u16, base: &str, method: &str, url: &str) -> String {
    if !matches!(status, 404 | 405 | 501) {
        return String::new();
    }
    let (path, query) = base.split_once('?').unwrap_or((base, ""));
    let path = path.trim_end_matches('/');
    if path.contains("/openai/deployments/") {
        let version = if query.split('&').any(|p| p.starts_with("api-version=")) {
            "the api-version is one the resource serves"
        } else {
            "the URL ends in ?api-version=VERSION, which Azure OpenAI needs"
        };
        format!(
            " ({method} {url}: is the base URL right? For Azure OpenAI it is \
             https://RESOURCE.openai.azure.com/openai/deployments/DEPLOYMENT?api-version=VERSION: \
             check the deployment name, and that {version})"
        )
    } else if !path.ends_with("/v1") {
        format!(" ({method} {url}: is the base URL right? For most servers it ends in /v1)")
    } else {
        String::new()
    }
}

/// The content coding of a body sent with a `Content-Encoding` other than
/// `identity` (`gzip`, `br`, `deflate`...), as the header names it, in
/// lower case; `None` without one. xsafe asks for no compression (it sends
/// no `Accept-Encoding`) and reads none: such a body is what
/// [`encoding_said`] explains, when it cannot be read as it is.
pub fn unasked_encoding(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let codings: Vec<String> = headers
        .get_all(reqwest::header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty() && c != "identity")
        .collect();
    (!codings.is_empty()).then(|| codings.join(", "))
}

/// What to say of a body in the content coding `coding` (see
/// [`unasked_encoding`]) that could not be read: rather than its bytes,
/// which are binary garbage as text.
pub fn encoding_said(coding: &str) -> String {
    format!(
        "the server sent a {coding}-compressed body though none was asked for (xsafe sends no \
         Accept-Encoding and reads only uncompressed bodies); turn compression off on the \
         server, or on the proxy in front of it"
    )
}

/// The most redirects followed in a row (as reqwest's default policy).
const MAX_REDIRECTS: usize = 10;

/// The redirect policy of every client that talks to a model's server. A
/// 307 or 308, which keep the method and body, is followed, up to ten in
/// a row. A 301, 302 or 303 is not: an HTTP client sends the POST on as a
/// GET without its body, which the server answers with a 404 or 405 that
/// says nothing of the redirect; the 3xx itself is the answer, for
/// [`Redirect`] to explain. A redirect to a URL already asked is a loop,
/// an error at once (see [`redirect_failure`]) rather than ten more
/// requests.
pub fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let status = attempt.status().as_u16();
        if matches!(status, 301..=303) {
            return attempt.stop();
        }
        let next = without_userinfo(attempt.url().as_str());
        let from = attempt
            .previous()
            .last()
            .map(|u| without_userinfo(u.as_str()))
            .unwrap_or_default();
        if attempt.previous().contains(attempt.url()) {
            let why = format!(
                "the server redirects in a loop: {from} was redirected (HTTP {status}) to \
                 {next}, which had been asked before"
            );
            return attempt.error(RedirectFailure(why));
        }
        // The first of `previous` is the URL asked, not a redirect.
        if attempt.previous().len() > MAX_REDIRECTS {
            let why = format!(
                "the server redirected more than {MAX_REDIRECTS} times in a row, last from \
                 {from} (HTTP {status}) to {next}"
            );
            return attempt.error(RedirectFailure(why));
        }
        attempt.follow()
    })
}

/// Why [`redirect_policy`] stopped following redirects.
#[derive(Debug)]
struct RedirectFailure(String);

impl std::fmt::Display for RedirectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectFailure {}

/// What a request that failed following redirects met, as
/// [`redirect_policy`] says it (a loop, too many in a row, with the URLs
/// without credentials); `None` for any other failure.
pub fn redirect_failure(e: &reqwest::Error) -> Option<String> {
    if !e.is_redirect() {
        return None;
    }
    // The error's own text names the URL, credentials and all: its causes
    // say what failed.
    let mut why = String::from("following the server's redirects failed");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(failure) = s.downcast_ref::<RedirectFailure>() {
            return Some(failure.0.clone());
        }
        why.push_str(": ");
        why.push_str(&s.to_string());
        source = s.source();
    }
    Some(why)
}

/// A server's redirect that was not followed (a 301, 302 or 303; see
/// [`redirect_policy`]), or one that could not be (no `Location`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// Its status.
    pub status: u16,
    /// Where it points, as an absolute URL without credentials; `None`
    /// when it has no `Location` that makes one.
    pub location: Option<String>,
    /// The base URL that would be asked at `location`: `location` less the
    /// path asked (`/chat/completions`), its query kept, when it ends so
    /// and is not the URL asked. A location that does not end so (a
    /// sign-in page, another service) suggests no base URL.
    pub base: Option<String>,
    /// Whether `location` is the URL asked: the server redirects the
    /// request to itself, a loop of one.
    pub to_itself: bool,
}

impl Redirect {
    /// The redirect with `status` and `headers` that answered a request to
    /// `url` (the base URL, credentials included, with `path` after it).
    pub fn of(status: u16, url: &str, path: &str, headers: &reqwest::header::HeaderMap) -> Self {
        let asked = reqwest::Url::parse(url).ok();
        let target = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| asked.as_ref()?.join(l.trim()).ok());
        // The same URL, with or without the credentials.
        let bare = |u: &reqwest::Url| {
            let mut u = u.clone();
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u
        };
        let to_itself = matches!((&target, &asked), (Some(t), Some(a)) if bare(t) == bare(a));
        let location = target.map(|u| without_userinfo(u.as_str()));
        let base = location.as_deref().filter(|_| !to_itself).and_then(|l| {
            let (path_part, query) = match l.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (l, None),
            };
            let stripped = path_part.trim_end_matches('/').strip_suffix(path)?;
            Some(match query {
                Some(q) => format!("{stripped}?{q}"),
                None => stripped.to_string(),
            })
        });
        Redirect {
            status,
            location,
            base,
            to_itself,
        }
    }

    /// What happened, to be followed by what to do: `the server redirected
    /// the request (HTTP 301) to URL, which xsafe does not follow...`; a
    /// redirect to the URL asked is said to be a loop, and one to a
    /// location that is not the path asked under another base URL (see
    /// [`Redirect::base`]) to be perhaps a sign-in page.
    pub fn said(&self) -> String {
        let status = self.status;
        match &self.location {
            Some(location) if self.to_itself => format!(
                "the server redirects the request to itself (HTTP {status} to {location}, the \
                 URL asked): a loop, and it was not sent again"
            ),
            Some(location) if self.base.is_none() => format!(
                "the server redirected the request (HTTP {status}) to {location}, which is no \
                 API address (a sign-in page, or another service?), and it was not sent again"
            ),
            Some(location) if matches!(status, 301..=303) => format!(
                "the server redirected the request (HTTP {status}) to {location}; xsafe does \
                 not follow a 301, 302 or 303 (an HTTP client sends a POST on as a GET, without \
                 its body), and it was not sent again"
            ),
            Some(location) => format!(
                "the server redirected the request (HTTP {status}) to {location}, which could \
                 not be followed"
            ),
            None => format!(
                "the server answered with a redirect (HTTP {status}) without a usable Location \
                 header"
            ),
        }
    }
}

/// The text of an HTML page's body (the whole page if it has no body tag):
/// tags dropped, the common entities decoded, spaces collapsed.
fn html_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let start = lower
        .find("<body")
        .and_then(|i| lower[i..].find('>').map(|j| i + j + 1))
        .unwrap_or(0);
    let end = lower
        .rfind("</body>")
        .filter(|&e| e >= start)
        .unwrap_or(html.len());
    let mut out = String::new();
    let mut in_tag = false;
    for ch in html[start..end].chars() {
        match ch {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A server's body read as JSON as xsafe reads answers: a lone UTF-16
/// surrogate escape (`"\ud800"`, which Python's `json` writes for a
/// model's broken character) and bytes that are not UTF-8 (such a
/// character written raw) are read as U+FFFD rather than failing the whole
/// answer.
pub fn json_lossy(bytes: &[u8]) -> serde_json::Result<Value> {
    xsafe_core::json_from_slice_lossy(bytes).or_else(|e| match std::str::from_utf8(bytes) {
        Ok(_) => Err(e),
        Err(_) => xsafe_core::json_from_slice_lossy(String::from_utf8_lossy(bytes).as_bytes()),
    })
}

/// The error of a body `bytes` that is not JSON (`e`), quoting its first
/// 200 characters, the `secrets` taken out before it is cut.
fn not_json(e: &serde_json::Error, bytes: &[u8], secrets: &Secrets) -> TargetError {
    let start: String = secrets
        .redact(&String::from_utf8_lossy(bytes))
        .chars()
        .take(200)
        .collect();
    TargetError::InvalidResponse(format!("body is not JSON ({e}): {start}"))
}

/// Whether a body that is not JSON is an HTML page: its `content_type`
/// says `html` (`text/html`), or it starts with `<`.
fn html_page(content_type: Option<&str>, bytes: &[u8]) -> bool {
    content_type.is_some_and(|t| t.to_ascii_lowercase().contains("html"))
        || bytes.trim_ascii_start().starts_with(b"<")
}

/// What to say of an HTML page (see [`html_page`]) a server answered with
/// in place of a completion: its content type and its title, or, without
/// one, the start of its text (the `secrets` taken out before it is cut).
fn html_page_said(content_type: Option<&str>, bytes: &[u8], secrets: &Secrets) -> String {
    let page = secrets.redact(&String::from_utf8_lossy(bytes));
    let lower = page.to_ascii_lowercase();
    let title = lower
        .find("<title")
        .and_then(|i| Some(i + lower[i..].find('>')? + 1))
        .and_then(|start| Some((start, start + lower[start..].find("</title")?)))
        .map(|(start, end)| html_text(&page[start..end]))
        .filter(|t| !t.is_empty());
    let shown: String = match &title {
        Some(title) => format!("titled \"{}\"", title.chars().take(100).collect::<String>()),
        None => {
            let text: String = error_message(bytes, secrets).chars().take(100).collect();
            format!("beginning \"{text}\"")
        }
    };
    let content_type = content_type.map_or("none".to_string(), |t| format!("`{}`", t.trim()));
    format!(
        "the server answered with an HTML page (content type {content_type}), {shown}, not a \
         chat completion"
    )
}

/// Reads a chat completion's body (see [`json_lossy`] and
/// [`parse_chat_completion`]).
#[cfg(test)]
fn parse_completion(bytes: &[u8]) -> Result<ChatResponse, TargetError> {
    parse_chat_completion(&json_lossy(bytes).map_err(|e| not_json(&e, bytes, &Secrets::new()))?)
}

/// The `error.code` or `error.type` (in any case) by which a provider says
/// its content filter or moderation refused the prompt.
const FILTER_CODES: [&str; 4] = [
    "content_filter",
    "content_policy_violation",
    "moderation",
    "moderation_blocked",
];

/// Whether an error answer with `status` and the JSON `body` is a
/// provider's content filter or moderation refusing the prompt: an HTTP
/// 400 or 403 whose `error.code` or `error.type` is `content_filter`
/// (Azure OpenAI's 400), `content_policy_violation`, `moderation` or
/// `moderation_blocked`, in any case, whose `error.innererror.code` is
/// `ResponsibleAIPolicyViolation` (Azure's), or
/// whose `error.metadata` has a `flagged_input` or a non-empty `reasons`
/// (OpenRouter's 403 for a prompt its moderation flagged). The model never
/// saw the prompt: the provider refused it, as it refuses a reply with
/// `finish_reason: "content_filter"`. Any other 403 (a key refused, a
/// region or a limit) stays an error.
pub fn prompt_filtered(status: u16, body: &Value) -> bool {
    let error = &body["error"];
    let named = |field: &str| {
        error[field]
            .as_str()
            .is_some_and(|v| FILTER_CODES.contains(&v.to_ascii_lowercase().as_str()))
    };
    let metadata = &error["metadata"];
    let flagged = metadata["flagged_input"].is_string()
        || metadata["reasons"]
            .as_array()
            .is_some_and(|r| !r.is_empty());
    matches!(status, 400 | 403)
        && (named("code")
            || named("type")
            || error["innererror"]["code"] == "ResponsibleAIPolicyViolation"
            || flagged)
}

/// The reply a prompt the provider's content filter refused stands for
/// (see [`prompt_filtered`], and `"choices": []` with
/// `prompt_filter_results` in [`parse_chat_completion`]): no content and
/// `finish_reason` `content_filter`, a provider refusal as a reply the
/// filter stopped is, which every judge counts as a full refusal. The
/// body's usage and model are kept, where it has them (the model as
/// `model`, or as OpenRouter's `error.metadata.model_slug`).
fn filtered_prompt(body: &Value) -> ChatResponse {
    let model = body["model"]
        .as_str()
        .or(body["error"]["metadata"]["model_slug"].as_str());
    ChatResponse {
        message: Message::assistant(""),
        finish_reason: Some(FinishReason::ContentFilter),
        usage: usage_of(body),
        model: model.map(str::to_string),
    }
}

/// The token counts of a completion's `usage`, if it has one.
fn usage_of(v: &Value) -> Option<Usage> {
    v["usage"].as_object().map(|u| Usage {
        prompt_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
        completion_tokens: u
            .get("completion_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    })
}

/// The error a completion's `choice` carries in place of an answer, as
/// OpenRouter sends one when the model's provider failed after the HTTP 200
/// had gone out: an `error` (`{"code": 502, "message": "Upstream provider
/// error: ..."}`), or a `finish_reason` of `"error"`. It is a
/// [`TargetError::Status`] with the status the error's `code` names when
/// that is one of 400 to 599 (a number, or a number in a string), else 502
/// (a server error, transient): classified and retried as the HTTP error
/// would be. A code that would block the target as an HTTP error (a 402,
/// OpenRouter's insufficient credit, see [`blocker_of`]) blocks it: a
/// [`TargetError::Blocked`] with that status. Its message quotes the
/// provider's, and says how much of an answer came before it (none of it
/// is one). `None` for a choice with neither.
fn choice_error(choice: &Value) -> Option<TargetError> {
    let error = &choice["error"];
    let has_error = match error {
        Value::Object(fields) => !fields.is_empty(),
        Value::String(said) => !said.is_empty(),
        _ => false,
    };
    let finished = choice["finish_reason"].as_str();
    if !has_error && finished != Some("error") {
        return None;
    }
    let code = match &error["code"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    let status = code
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..=599).contains(c))
        .unwrap_or(502);
    let said = error["message"]
        .as_str()
        .or(error.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let mut details = Vec::new();
    if has_error {
        details.push(match code {
            Some(code) => format!("`choices[0].error`, code {code}"),
            None => "`choices[0].error`".to_string(),
        });
    }
    if let Some(provider) = error["metadata"]["provider_name"].as_str() {
        details.push(format!("provider {provider}"));
    }
    if let Some(finished) = finished {
        details.push(format!("finish_reason \"{finished}\""));
    }
    let written = match &choice["message"]["content"] {
        Value::String(s) => s.chars().count(),
        _ => 0,
    };
    let before = match written {
        0 => "no answer came before it".to_string(),
        n => format!("the {n} characters of answer before it are no answer"),
    };
    let what = match said {
        Some(said) => format!("the model's provider failed: {said}"),
        None => "the model's provider failed and did not say why".to_string(),
    };
    let message = format!(
        "{what} (in an HTTP 200 answer: {}); {before}",
        details.join(", ")
    );
    // The choice holds its `error` as an error answer's body does.
    Some(match blocker_of(status, Some(choice)) {
        Some(blocker) => TargetError::Blocked {
            status,
            message,
            blocker,
        },
        None => TargetError::Status {
            status,
            message,
            retry_after: None,
        },
    })
}

/// Reads a chat completion's first choice, keeping provider refusals and
/// reasoning (a `reasoning_content` field or a leading `<think>` block)
/// apart from the answer, as every judge expects. Tool calls are written
/// after the content, one `[tool call] name(arguments)` line each. No
/// choice with `prompt_filter_results` (Azure OpenAI's answer to a prompt
/// its filter refused) is the provider's refusal: no content, and
/// `finish_reason` `content_filter`, as [`prompt_filtered`] answers are.
/// A choice that carries the provider's error (`choices[0].error`, or a
/// `finish_reason` of `"error"`) is that error, a [`TargetError::Status`]
/// classified by the error's code (a server error without one), or a
/// [`TargetError::Blocked`] when the code blocks the target (a 402), never
/// an answer.
pub fn parse_chat_completion(v: &Value) -> Result<ChatResponse, TargetError> {
    let no_choice = v["choices"].as_array().is_some_and(Vec::is_empty);
    if no_choice && !v["prompt_filter_results"].is_null() {
        return Ok(filtered_prompt(v));
    }
    let choice = v["choices"].get(0).ok_or_else(|| {
        // Some servers answer an error with HTTP 200: say theirs.
        match server_said(v) {
            Some(said) => TargetError::InvalidResponse(format!(
                "no `choices[0]` in the response; the server said: {said}"
            )),
            None if no_choice => TargetError::InvalidResponse(
                "the server answered with no choice (`\"choices\": []`) and did not say why \
                 (no `error`, no `prompt_filter_results`)"
                    .into(),
            ),
            None => TargetError::InvalidResponse("no `choices[0]` in the response".into()),
        }
    })?;
    if let Some(error) = choice_error(choice) {
        return Err(error);
    }
    let message = &choice["message"];
    if !message.is_object() {
        return Err(TargetError::InvalidResponse(
            "`choices[0].message` is missing".into(),
        ));
    }
    let content = match &message["content"] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        other => {
            return Err(TargetError::InvalidResponse(format!(
                "`choices[0].message.content` is {other}, not text"
            )));
        }
    };
    let (mut reasoning, mut content) = xsafe_core::split_think(&content);
    xsafe_core::append_tool_calls(&mut content, message);
    for field in ["reasoning_content", "reasoning"] {
        if let Some(r) = message[field].as_str().filter(|r| !r.is_empty()) {
            reasoning = Some(match reasoning {
                Some(inline) => format!("{r}\n\n{inline}"),
                None => r.to_string(),
            });
        }
    }
    let refusal = message["refusal"]
        .as_str()
        .filter(|r| !r.is_empty())
        .map(str::to_string);
    let usage = usage_of(v);
    Ok(ChatResponse {
        message: Message {
            role: Role::Assistant,
            content,
            reasoning,
            refusal,
        },
        finish_reason: choice["finish_reason"].as_str().map(FinishReason::parse),
        usage,
        model: v["model"].as_str().map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unsupported_max_tokens_is_refused_as_a_parameter() {
        let body = |message: &str| json!({"error": {"message": message}}).to_string();
        let openai = "Unsupported parameter: 'max_tokens' is not supported with this model. \
                      Use 'max_completion_tokens' instead.";
        assert_eq!(
            refused_parameter(body(openai).as_bytes()).as_deref(),
            Some("max_tokens")
        );
        // vLLM refuses the value, naming both: the message is the answer.
        let vllm = "'max_tokens' or 'max_completion_tokens' is too large: 512. This model's \
                    maximum context length is 2048 tokens";
        assert_eq!(refused_parameter(body(vllm).as_bytes()), None);
        let coded = json!({"error": {"message": "no", "code": "unsupported_value", "param": "temperature"}});
        assert_eq!(
            refused_parameter(coded.to_string().as_bytes()).as_deref(),
            Some("temperature")
        );
    }

    #[test]
    fn completions_keep_refusal_and_reasoning_fields() {
        let body = json!({
            "model": "m",
            "choices": [{
                "message": {"role": "assistant", "content": null, "refusal": "I can't help with that.", "reasoning_content": "policy"},
                "finish_reason": "content_filter"
            }]
        });
        let r = parse_completion(body.to_string().as_bytes()).unwrap();
        assert_eq!(r.message.content, "");
        assert_eq!(
            r.message.refusal.as_deref(),
            Some("I can't help with that.")
        );
        assert_eq!(r.message.reasoning.as_deref(), Some("policy"));
        assert_eq!(r.finish_reason, Some(FinishReason::ContentFilter));
    }

    #[test]
    fn an_error_sent_with_http_200_is_quoted() {
        let body = json!({"error": {"message": "model overloaded"}});
        let err = parse_chat_completion(&body).unwrap_err().to_string();
        assert!(err.contains("the server said: model overloaded"), "{err}");
        let err = parse_chat_completion(&json!({"error": "busy"})).unwrap_err();
        assert!(err.to_string().contains("the server said: busy"), "{err}");
    }

    #[test]
    fn a_lone_surrogate_escape_is_read_as_a_replacement_character() {
        // Python's json writes a broken character as a lone surrogate.
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"a\ud800b \udc00 \\ud800 \ud83d\ude00 \u00e9\ud83d"}}]}"#;
        let r = parse_completion(body).unwrap();
        assert_eq!(
            r.message.content,
            "a\u{FFFD}b \u{FFFD} \\ud800 😀 é\u{FFFD}"
        );
        // A body that is broken otherwise stays refused.
        let err = parse_completion(br#"{"choices": "\ud800"#).unwrap_err();
        assert_eq!(err.kind(), "invalid_response");
    }

    #[test]
    fn tool_calls_are_kept_in_the_content() {
        let body = json!({"choices": [{
            "message": {"role": "assistant", "content": null, "tool_calls": [
                {"id": "1", "type": "function", "function": {"name": "run_shell", "arguments": "{\"cmd\":\"rm -rf /\"}"}},
                {"id": "2", "type": "function", "function": {"name": "noop", "arguments": {}}},
            ]},
            "finish_reason": "tool_calls"
        }]});
        let r = parse_chat_completion(&body).unwrap();
        assert_eq!(
            r.message.content,
            "[tool call] run_shell({\"cmd\":\"rm -rf /\"})\n[tool call] noop({})"
        );
        assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
        let body = json!({"choices": [{"message": {
            "role": "assistant", "content": "Sure.",
            "function_call": {"name": "f", "arguments": "x"}
        }}]});
        let r = parse_chat_completion(&body).unwrap();
        assert_eq!(r.message.content, "Sure.\n[tool call] f(x)");
    }

    #[test]
    fn malformed_completions_are_invalid_responses() {
        for body in [&b"{not json"[..], b"{}", br#"{"choices":[{}]}"#] {
            let err = parse_completion(body).unwrap_err();
            assert_eq!(err.kind(), "invalid_response", "{body:?}");
        }
    }

    #[test]
    fn an_error_in_a_choice_is_the_error_never_an_answer() {
        let choice = |error: Value, content: &str, finish: &str| {
            json!({"model": "m", "choices": [{"index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish, "error": error}]})
        };
        let openrouter = json!({"code": 502, "message": "Upstream provider error: model \
            overloaded", "metadata": {"provider_name": "DeepInfra"}});
        let err = parse_chat_completion(&choice(openrouter.clone(), "", "error")).unwrap_err();
        assert_eq!((err.kind(), err.is_transient()), ("server_error", true));
        assert_eq!(
            err.to_string(),
            "HTTP 502: the model's provider failed: Upstream provider error: model overloaded \
             (in an HTTP 200 answer: `choices[0].error`, code 502, provider DeepInfra, \
             finish_reason \"error\"); no answer came before it"
        );
        // Text before the error is no answer, a refusal's first words least.
        let err = parse_chat_completion(&choice(openrouter, "I'm sorry", "error")).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("the 9 characters of answer before it are no answer"),
            "{err}"
        );
        // The code says the status, as HTTP errors are classified; no code,
        // or one that is no error status, is a server error.
        for (error, kind, transient) in [
            (
                json!({"code": 429, "message": "rate limited"}),
                "rate_limited",
                true,
            ),
            (
                json!({"code": "503", "message": "busy"}),
                "server_error",
                true,
            ),
            (
                json!({"code": 400, "message": "bad"}),
                "client_error",
                false,
            ),
            (json!({"message": "no code"}), "server_error", true),
            (
                json!({"code": "overloaded", "message": "x"}),
                "server_error",
                true,
            ),
            (json!({"code": 200, "message": "x"}), "server_error", true),
            (json!("just a string"), "server_error", true),
        ] {
            let err = parse_chat_completion(&choice(error.clone(), "", "stop")).unwrap_err();
            assert_eq!(
                (err.kind(), err.is_transient()),
                (kind, transient),
                "{error}"
            );
        }
        // `finish_reason: "error"` alone says nothing more.
        let err = parse_chat_completion(&choice(Value::Null, "Partial", "error")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "HTTP 502: the model's provider failed and did not say why (in an HTTP 200 answer: \
             finish_reason \"error\"); the 7 characters of answer before it are no answer"
        );
        // An empty or null `error` is none.
        for none in [Value::Null, json!({}), json!("")] {
            let r = parse_chat_completion(&choice(none, "Fine.", "stop")).unwrap();
            assert_eq!(r.message.content, "Fine.");
        }
    }

    #[test]
    fn the_path_goes_before_the_base_urls_query() {
        for (base, url) in [
            ("http://h/v1", "http://h/v1/chat/completions"),
            ("http://h/v1/", "http://h/v1/chat/completions"),
            (
                "https://r.openai.azure.com/openai/deployments/gpt4o?api-version=2024-06-01",
                "https://r.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-06-01",
            ),
            (
                "https://r/openai/deployments/d/?api-version=1&x=y",
                "https://r/openai/deployments/d/chat/completions?api-version=1&x=y",
            ),
            ("http://h/v1?", "http://h/v1/chat/completions"),
        ] {
            assert_eq!(endpoint(base, "/chat/completions"), url, "{base}");
        }
    }

    #[test]
    fn an_azure_deployment_url_gets_its_own_hint() {
        let base = "https://r/openai/deployments/d?api-version=2024-06-01";
        let hint = base_url_hint(404, base, "POST", "U");
        assert!(
            hint.contains("check the deployment name, and that the api-version is one the")
                && !hint.contains("/v1"),
            "{hint}"
        );
        let hint = base_url_hint(404, "https://r/openai/deployments/d", "POST", "U");
        assert!(hint.contains("ends in ?api-version=VERSION"), "{hint}");
        // A query does not hide a path ending in /v1, nor one that does not.
        assert_eq!(base_url_hint(404, "http://h/v1?x=1", "POST", "U"), "");
        assert!(base_url_hint(404, "http://h/?x=/v1", "POST", "U").contains("ends in /v1"));
    }

    #[test]
    fn the_wait_asked_is_read_from_any_header_that_says_it() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut h = reqwest::header::HeaderMap::new();
            for (k, v) in pairs {
                h.insert(
                    reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            h
        };
        let wait = |status, pairs: &[(&str, &str)]| asked_wait_of(status, &headers(pairs));
        let ms = Duration::from_millis;
        // retry-after-ms first, then Retry-After, then the reset headers.
        let all = [
            ("retry-after-ms", "1500"),
            ("retry-after", "3"),
            ("x-ratelimit-reset-requests", "6m0s"),
        ];
        assert_eq!(wait(429, &all), Some(ms(1500)));
        assert_eq!(wait(429, &all[1..]), Some(ms(3000)));
        assert_eq!(wait(429, &all[2..]), Some(ms(360_000)));
        assert_eq!(
            wait(429, &[("retry-after-ms", "abc"), all[1]]),
            Some(ms(3000))
        );
        assert_eq!(
            wait(503, &[("retry-after-ms", "250.5")]),
            Some(Duration::from_micros(250_500))
        );
        // The reset headers say when a rate limit resets, nothing of a 5xx.
        assert_eq!(wait(500, &all[2..]), None);
        // The limit that is spent; the longer when neither or both is.
        let both = [
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-reset-tokens", "17ms"),
        ];
        assert_eq!(wait(429, &both), Some(ms(1000)));
        let tokens_spent = [both[0], both[1], ("x-ratelimit-remaining-tokens", "0")];
        assert_eq!(wait(429, &tokens_spent), Some(ms(17)));
        assert_eq!(wait(429, &[]), None);
        assert_eq!(wait(429, &[("x-ratelimit-reset-requests", "30")]), None);
    }

    #[test]
    fn go_durations_read_as_openai_writes_them() {
        let ms = Duration::from_millis;
        for (text, d) in [
            ("1s", ms(1000)),
            ("6m0s", ms(360_000)),
            ("17ms", ms(17)),
            (" 1h2m3.5s ", ms(3_723_500)),
            ("0.5s", ms(500)),
            ("2m59.56s", ms(179_560)),
            ("1500us", Duration::from_micros(1500)),
            ("1500µs", Duration::from_micros(1500)),
            ("0s", Duration::ZERO),
        ] {
            assert_eq!(go_duration(text), Some(d), "{text}");
        }
        for bad in ["", "1", "s", "1x", "-1s", "1..2s", "1s2", "soon"] {
            assert_eq!(go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_html_page_is_named_by_its_type_and_title() {
        let none = Secrets::new();
        assert!(html_page(Some("text/html; charset=utf-8"), b"x"));
        assert!(html_page(None, b"  \n<!doctype html>"));
        assert!(!html_page(Some("application/json"), b"{not json"));
        let page =
            b"<!DOCTYPE html><html><head><title>OpenRouter</title></head><body>x</body></html>";
        assert_eq!(
            html_page_said(Some("text/html; charset=utf-8"), page, &none),
            "the server answered with an HTML page (content type `text/html; charset=utf-8`), \
             titled \"OpenRouter\", not a chat completion"
        );
        let untitled = format!(
            "<html><body><p>Sign in &amp; go</p>{}</body></html>",
            "y".repeat(300)
        );
        let said = html_page_said(None, untitled.as_bytes(), &none);
        assert!(
            said.starts_with("the server answered with an HTML page (content type none), beginning \"Sign in & go yyy")
                && said.ends_with("y\", not a chat completion"),
            "{said}"
        );
    }

    #[test]
    fn retry_after_takes_seconds_and_ignores_what_is_not() {
        let headers = |v: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(reqwest::header::RETRY_AFTER, v.parse().unwrap());
            h
        };
        assert_eq!(retry_after(&headers(" 2 ")), Some(Duration::from_secs(2)));
        assert_eq!(
            retry_after(&headers("0.5")),
            Some(Duration::from_millis(500))
        );
        for bad in ["-1", "NaN", "1e300", "soon", "Wed, 21 Oct 2026 07:28"] {
            assert_eq!(retry_after(&headers(bad)), None, "{bad}");
        }
        assert_eq!(retry_after(&reqwest::header::HeaderMap::new()), None);
    }

    #[test]
    fn retry_after_takes_an_http_date_counted_from_now() {
        // 2015-10-21 07:28:00 UTC.
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        for date in [
            "Wed, 21 Oct 2015 07:28:30 GMT",
            " Wednesday, 21-Oct-15 07:28:30 GMT ",
            "Wed Oct 21 07:28:30 2015",
        ] {
            assert_eq!(
                retry_after_at(date, now),
                Some(Duration::from_secs(30)),
                "{date}"
            );
        }
        // A date already past asks for no wait, never a negative one.
        assert_eq!(
            retry_after_at("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        // Measured against the clock: a date a minute ahead asks for a
        // minute, give or take the second it is written to.
        let ahead = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(60));
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, ahead.parse().unwrap());
        let wait = retry_after(&h).unwrap();
        assert!(
            (Duration::from_secs(58)..=Duration::from_secs(60)).contains(&wait),
            "{wait:?}"
        );
    }

    #[test]
    fn a_redirect_names_the_base_url_it_implies() {
        let at = |location: &str| {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert(reqwest::header::LOCATION, location.parse().unwrap());
            h
        };
        let asked = "http://u:pw@h:8/v1/chat/completions?api-version=1";
        let r = Redirect::of(
            301,
            asked,
            "/chat/completions",
            &at("https://h/v1/chat/completions/?api-version=1"),
        );
        assert_eq!(
            r.location.as_deref(),
            Some("https://h/v1/chat/completions/?api-version=1")
        );
        assert_eq!(r.base.as_deref(), Some("https://h/v1?api-version=1"));
        // A relative location is the asked URL's, credentials hidden.
        let r = Redirect::of(302, asked, "/chat/completions", &at("/x/chat/completions"));
        assert_eq!(
            (r.location.as_deref(), r.base.as_deref()),
            (
                Some("http://<redacted>@h:8/x/chat/completions"),
                Some("http://<redacted>@h:8/x")
            )
        );
        assert!(!r.to_itself);
        // A sign-in page is no base URL.
        let r = Redirect::of(303, asked, "/chat/completions", &at("https://h/login"));
        assert_eq!((r.base.as_deref(), r.to_itself), (None, false));
        assert_eq!(
            r.said(),
            "the server redirected the request (HTTP 303) to https://h/login, which is no API \
             address (a sign-in page, or another service?), and it was not sent again"
        );
        // The URL asked, relative or absolute, credentials or not: a loop.
        for (location, shown) in [
            (
                "/v1/chat/completions?api-version=1",
                "http://<redacted>@h:8/v1/chat/completions?api-version=1",
            ),
            (
                "http://h:8/v1/chat/completions?api-version=1",
                "http://h:8/v1/chat/completions?api-version=1",
            ),
        ] {
            let r = Redirect::of(302, asked, "/chat/completions", &at(location));
            assert_eq!((r.base.as_deref(), r.to_itself), (None, true), "{location}");
            assert_eq!(
                r.said(),
                format!(
                    "the server redirects the request to itself (HTTP 302 to {shown}, the URL \
                     asked): a loop, and it was not sent again"
                )
            );
        }
        // Another query is another URL.
        let r = Redirect::of(
            302,
            asked,
            "/chat/completions",
            &at("/v1/chat/completions?api-version=2"),
        );
        assert!(!r.to_itself);
        let r = Redirect::of(307, asked, "/chat/completions", &Default::default());
        assert_eq!((r.location, r.base, r.to_itself), (None, None, false));
    }

    #[test]
    fn only_a_content_coding_other_than_identity_is_unasked() {
        let with = |values: &[&str]| {
            let mut h = reqwest::header::HeaderMap::new();
            for v in values {
                h.append(reqwest::header::CONTENT_ENCODING, v.parse().unwrap());
            }
            unasked_encoding(&h)
        };
        assert_eq!(with(&[]), None);
        assert_eq!(with(&["identity"]), None);
        assert_eq!(with(&[" GZIP "]).as_deref(), Some("gzip"));
        assert_eq!(with(&["deflate, br"]).as_deref(), Some("deflate, br"));
    }

    #[test]
    fn a_filtered_prompt_is_the_providers_refusal() {
        let azure = json!({"error": {"code": "content_filter", "param": "prompt"}});
        assert!(prompt_filtered(400, &azure));
        assert!(!prompt_filtered(500, &azure));
        // OpenRouter's moderation: a 403 saying what it flagged.
        let openrouter = |metadata: Value| {
            json!({"error": {"code": 403, "message": "openai/gpt-4o requires moderation on \
                OpenRouter. Your input was flagged for \"violence\". No credits were charged.",
                "metadata": metadata}})
        };
        let flagged = openrouter(
            json!({"reasons": ["violence"], "flagged_input": "How do I...",
            "provider_name": null, "model_slug": "openai/gpt-4o"}),
        );
        assert!(prompt_filtered(403, &flagged));
        assert!(prompt_filtered(400, &flagged));
        assert!(!prompt_filtered(401, &flagged));
        assert!(!prompt_filtered(500, &flagged));
        assert!(prompt_filtered(
            403,
            &openrouter(json!({"reasons": ["hate"]}))
        ));
        assert!(prompt_filtered(
            403,
            &openrouter(json!({"flagged_input": "x"}))
        ));
        assert!(!prompt_filtered(403, &openrouter(json!({"reasons": []}))));
        assert!(!prompt_filtered(
            403,
            &openrouter(json!({"provider_name": "x", "raw": "y"}))
        ));
        let r = filtered_prompt(&flagged);
        assert_eq!(
            (r.finish_reason, r.model.as_deref()),
            (Some(FinishReason::ContentFilter), Some("openai/gpt-4o"))
        );
        for coded in [
            json!({"error": {"code": "content_policy_violation", "message": "no"}}),
            json!({"error": {"type": "moderation", "message": "no"}}),
            json!({"error": {"code": "Moderation_Blocked"}}),
        ] {
            assert!(prompt_filtered(403, &coded), "{coded}");
            assert!(prompt_filtered(400, &coded), "{coded}");
        }
        // A 403 for the key, or one that says nothing of moderation, is not.
        for refused in [
            json!({"error": {"code": "invalid_api_key", "message": "Incorrect API key"}}),
            json!({"error": {"code": 403, "message": "Key limit exceeded", "metadata": null}}),
            json!({"error": {"type": "permission_error", "message": "moderation required"}}),
            json!({"error": "forbidden"}),
        ] {
            assert!(!prompt_filtered(403, &refused), "{refused}");
        }
        let inner = json!({"error": {"code": null, "innererror": {"code": "ResponsibleAIPolicyViolation"}}});
        assert!(prompt_filtered(400, &inner));
        assert!(!prompt_filtered(
            400,
            &json!({"error": {"code": "invalid_value"}})
        ));
        // No choice but the filter's results: the provider's refusal.
        let r =
            parse_chat_completion(&json!({"choices": [], "prompt_filter_results": []})).unwrap();
        assert_eq!(
            (r.message.content.as_str(), r.finish_reason),
            ("", Some(FinishReason::ContentFilter))
        );
        let err = parse_chat_completion(&json!({"choices": []})).unwrap_err();
        assert!(err.to_string().contains("did not say why"), "{err}");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replacement_characters() {
        let r =
            parse_completion(b"{\"choices\":[{\"message\":{\"content\":\"caf\xe9 \\ud800\"}}]}")
                .unwrap();
        assert_eq!(r.message.content, "caf\u{FFFD} \u{FFFD}");
    }

    #[test]
    fn error_messages_come_from_the_body() {
        let none = Secrets::new();
        assert_eq!(
            error_message(br#"{"error":{"message":"bad key"}}"#, &none),
            "bad key"
        );
        assert_eq!(error_message(b"", &none), "(empty body)");
        assert_eq!(error_message(b"oops", &none), "oops");
        assert_eq!(
            error_message(br#"{"error":"overloaded"}"#, &none),
            "overloaded"
        );
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "x".repeat(900));
        assert_eq!(error_message(long.as_bytes(), &none).len(), 500);
        assert_eq!(
            error_message("<html>".repeat(100).as_bytes(), &none),
            "(empty body)"
        );
        let page = format!(
            "<!DOCTYPE HTML>\n<html><head><title>Error response</title><style>p {{}}</style></head>\n\
             <body>\n<h1>Error response</h1>\n<p>Error code: 501</p>\n<p>Message: Unsupported \
             method (&#39;POST&#39;).</p>{}</body></html>",
            "<p>more</p>".repeat(100)
        );
        let m = error_message(page.as_bytes(), &none);
        assert!(
            m.starts_with(
                "Error response Error code: 501 Message: Unsupported method ('POST'). more"
            ),
            "{m}"
        );
        assert_eq!(m.chars().count(), 300);
        assert_eq!(
            error_message(
                b"<html><body><center><h1>404 Not Found</h1></center></body></html>",
                &none
            ),
            "404 Not Found"
        );
    }

    #[test]
    fn a_key_across_the_cut_is_taken_out_before_it() {
        let key = "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut secrets = Secrets::new();
        secrets.add_api_key(key);
        // The message's 500th character falls inside the key.
        let message = format!("{} Incorrect API key provided: {key}", "x".repeat(460));
        let body = json!({"error": {"message": message}}).to_string();
        let m = error_message(body.as_bytes(), &secrets);
        assert!(
            m.ends_with("Incorrect API key provided: [API key]") && !m.contains("sk-proj"),
            "{m}"
        );
        // A page's 300th character falls inside the key.
        let page = format!(
            "<html><body><h1>401</h1><p>{}</p><pre>Authorization: Bearer {key}</pre></body></html>",
            "y".repeat(250)
        );
        let m = error_message(page.as_bytes(), &secrets);
        assert!(
            m.ends_with("Authorization: [API key]") && !m.contains("sk-proj"),
            "{m}"
        );
        let text = format!("{} rejected {key}", "z".repeat(280));
        let m = error_message(text.as_bytes(), &secrets);
        assert!(m.ends_with("rejected [API key]"), "{m}");
        // A body that is no JSON is quoted from its redacted text.
        let e = serde_json::from_slice::<Value>(b"<").unwrap_err();
        let err = not_json(
            &e,
            format!("<{}{key}", "w".repeat(190)).as_bytes(),
            &secrets,
        );
        assert!(!err.to_string().contains("sk-proj"), "{err}");
        // A key with a slash, written `\/` in the JSON: the message says it
        // with `/`, and is redacted so.
        let mut secrets = Secrets::new();
        secrets.add_api_key("sk-a/b-0123456789");
        let body = br#"{"error":{"message":"bad key sk-a\/b-0123456789"}}"#;
        assert_eq!(error_message(body, &secrets), "bad key [API key]");
        // An entity in a page's text is decoded before it is redacted.
        let mut secrets = Secrets::new();
        secrets.add_api_key("sk-a&b-0123456789");
        let page = b"<html><body><p>bad key sk-a&amp;b-0123456789</p></body></html>";
        assert_eq!(error_message(page, &secrets), "bad key [API key]");
    }
}
