//! The human annotation page (`xsafe annotate RUN`): one answer of a run at
//! a time, labelled with the keys 1/2/3, every label written to the run
//! store as it is made (one row per annotator per answer).
//!
//! - `GET /` — the page: one self-contained HTML file, no external assets,
//!   no requests other than this API.
//! - `GET /api/items` — the run's answers (every result with a transcript,
//!   those the judge failed on included, with the judge's error), in run
//!   order, with this annotator's label and note and the judges' verdicts,
//!   but not their messages (read from [`Store::outlines`]: a run's
//!   transcripts, few-shot exemplars stored again with every answer, would
//!   make this list hundreds of megabytes); results whose request failed
//!   have no answer to label and are only counted. With them, the run's
//!   name and status (`running` while `xsafe run` is writing it: more
//!   answers will come, and the page asks again every `refresh_seconds`).
//!   Optional query filters:
//!   `disagreements=1` (labelled answers where a judge chose another
//!   class), `low_confidence=1` ([`low_confidence`]: a judge scored the
//!   answer less sure than the state's threshold, [`DEFAULT_LOW_CONFIDENCE`]
//!   unless set, or it has no verdict because the judge failed),
//!   `unscored=1` ([`unscored`]: a judge left the answer unscored, which
//!   says nothing of its confidence), `kind=TYPE`, `strategy=NAME`.
//! - `GET /api/items/{result_id}/messages` — one answer's transcript,
//!   `{"result_id", "messages"}`, its messages in order (none for a result
//!   whose request failed), which the page reads as it shows the answer.
//!   404 `result_not_found` for an id that is no result of this run, 400
//!   `invalid_result_id` for one that is not a number.
//! - `POST /api/label` — `{"result_id", "label", "note", "seen"}` with
//!   `label` one of `compliance`, `full_refusal`, `partial_refusal`, and
//!   `seen` the label and note of this annotator the page last read for the
//!   answer, `{"label", "note"}` (`label` null when it had none). The label
//!   and note are stored only if the stored ones are still those: else
//!   nothing is stored and the answer is a 409 `label_changed` whose
//!   `stored` gives the label and note stored now (another tab, another
//!   `xsafe annotate` as the same annotator, or an import changed them), so
//!   that a page never replaces a label or erases a note it did not show.
//!   A blank `note` is no note. Without `seen` (a page from before it was
//!   sent), the label is stored whatever is stored, and a blank or absent
//!   `note` keeps the stored note.
//! - `GET /api/agreement` — [`agreement_stats`] of the run.
//!
//! Once the run is deleted (`xsafe runs delete --force`), every route of
//! the API answers 410 `run_deleted`, saying so, and stores nothing.
//!
//! [`router`] gives the routes; [`serve`] runs them on a listener.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use xsafe_core::{Class, FinishReason, Message, Outcome};
use xsafe_judge::metrics::{self, Agreement};
use xsafe_store::{
    Annotation, LabelSeen, Relabel, ResultOutline, RunStatus, Store, StoreError, StoredResult,
};

/// Below this judge confidence an answer counts as low confidence, unless
/// [`AnnotateState::with_low_confidence`] says otherwise.
pub const DEFAULT_LOW_CONFIDENCE: f64 = 0.7;

/// How often the page reads the list of answers again while the run is
/// still running, unless [`AnnotateState::with_refresh`] says otherwise.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(20);

/// What the annotation server needs: the store, the run and who labels.
pub struct AnnotateState {
    store: Arc<Store>,
    run_id: i64,
    /// The run's name, read when the server starts: the run may be
    /// deleted later, and the page still told which one it was.
    run_name: String,
    annotator: String,
    low_confidence: f64,
    refresh: Duration,
}

impl AnnotateState {
    /// Labels run `run_id` of `store` under the name `annotator`, with the
    /// low-confidence threshold at [`DEFAULT_LOW_CONFIDENCE`] and the page
    /// refreshed every [`DEFAULT_REFRESH`] while the run runs.
    pub fn new(store: Arc<Store>, run_id: i64, annotator: impl Into<String>) -> Self {
        let run_name = store
            .run_by_id(run_id)
            .map_or_else(|_| run_id.to_string(), |r| r.name);
        AnnotateState {
            store,
            run_id,
            run_name,
            annotator: annotator.into(),
            low_confidence: DEFAULT_LOW_CONFIDENCE,
            refresh: DEFAULT_REFRESH,
        }
    }

    /// While the run is still running (`xsafe run` adds answers to it), the
    /// page reads the list of answers again every `every`, so that the new
    /// ones come to be labelled.
    pub fn with_refresh(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// Answers a judge was less sure of than `threshold` count as low
    /// confidence (`xsafe judge eval` shows the agreement at each level).
    pub fn with_low_confidence(mut self, threshold: f64) -> Self {
        self.low_confidence = threshold;
        self
    }

    /// The store id of the run being labelled.
    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// The name every label of this server is saved under.
    pub fn annotator(&self) -> &str {
        &self.annotator
    }
}

/// The annotation page and its JSON API.
pub fn router(state: Arc<AnnotateState>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/items", get(items))
        .route("/api/items/{result_id}/messages", get(messages))
        .route("/api/label", post(label))
        .route("/api/agreement", get(agreement))
        .layer(axum::middleware::from_fn(same_origin_only))
        .with_state(state)
}

/// Keeps other web pages out: the API has no key, so any page the
/// annotator has open could otherwise post labels (a plain-text POST needs
/// no CORS preflight) or, through a domain name pointed at 127.0.0.1 (DNS
/// rebinding), read every transcript.
///
/// - The `Host` must be an IP address or `localhost`, as in the URL xsafe
///   prints: a rebinding page is reached by a domain name.
/// - A POST must be JSON (which a cross-origin page can only send after a
///   preflight this server never allows) and, when the browser says where
///   it comes from (`Origin`), come from this page's own address.
async fn same_origin_only(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !local_host(host) {
        return forbidden(format!(
            "this page answers only at its address (the URL `xsafe annotate` printed), not at \
             `{host}`"
        ));
    }
    if request.method() == axum::http::Method::POST {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|t| t.trim_start().starts_with("application/json"));
        let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
        let same_origin = origin.is_none_or(|o| o == format!("http://{host}"));
        if !json || !same_origin {
            return forbidden(
                "labels are taken only from the annotation page itself (a JSON POST from its own \
                 address)"
                    .into(),
            );
        }
    }
    next.run(request).await
}

/// Whether a `Host` header names this machine by address: an IPv4 or IPv6
/// literal or `localhost`, with or without a port.
fn local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // [::1]:8080
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

fn forbidden(message: String) -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "invalid_request_error",
        "forbidden",
        message,
    )
    .into_response()
}

/// Serves the annotation page on `listener` until `shutdown` resolves
/// (e.g. [`shutdown_signal`](crate::shutdown_signal)), then lets requests in
/// flight finish: each label is stored by its own short request, which may
/// wait up to the store's busy timeout for another process's write, so they
/// get that long and [`SHUTDOWN_GRACE`](crate::SHUTDOWN_GRACE) more, and a
/// label being saved is answered rather than stored behind a page that
/// heard nothing (a second signal stops at once).
/// It holds as many connections at once as the open-file limit leaves room
/// for beside the store's files (see [`serve`](crate::serve), which raises
/// the limit the same way).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AnnotateState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = crate::http::Limits {
        header_timeout: crate::http::MAX_HEADER_WAIT,
        drain: xsafe_store::BUSY_TIMEOUT + crate::SHUTDOWN_GRACE,
        // A connection here is its socket alone: the store is shared.
        max_connections: crate::open_files::connection_cap(None, 1),
        // A page that stopped reading holds its connection no longer than
        // one that never sent its request.
        write_timeout: crate::http::MAX_HEADER_WAIT,
        // Not the page's fault alone: its request may be waiting on a run
        // store another process holds, and its work may still be done.
        cut_off: "a label being saved may still be stored, though its page got no answer (the \
                  run store may have been busy with another process's write), and a page that \
                  stopped reading gets nothing more",
    };
    crate::http::serve(listener, router(state), limits, shutdown)
        .await
        .map(|_| ())
}

/// One judge's verdict as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JudgeView {
    /// The judge's full tag, name and version, e.g. `strmatch@1`.
    pub judge: String,
    /// A class name or `unscored`.
    pub label: &'static str,
    /// How sure the judge is, from 0 to 1 (0 for an unscored verdict).
    pub confidence: f64,
    /// Why the judge left the answer unscored; `None` for a scored verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One answer to label.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Item {
    /// The result's id in the store, which `POST /api/label` takes.
    pub result_id: i64,
    /// The target's id, e.g. `openai:gpt-4o-mini`.
    pub target: String,
    /// The strategy's name, e.g. `baseline` or `contextual+few-shot`.
    pub strategy: String,
    /// The name of the suite the case comes from.
    pub suite: String,
    /// The case's id within its suite.
    pub case_id: String,
    /// Which repetition of the case, from 0.
    pub sample: u32,
    /// The case's prompt as the suite gives it, before any strategy.
    pub prompt: String,
    /// The case's prompt type as the suite names it (e.g. `homonyms`), which
    /// the `kind` filter matches.
    pub kind: String,
    /// Messages before the model's first reply (system, exemplars, prompt).
    /// The messages themselves are not here: `GET
    /// /api/items/{result_id}/messages` gives them, one answer at a time.
    pub opening: Option<u32>,
    /// Every judge's verdict on the answer, the run's judge first.
    pub verdicts: Vec<JudgeView>,
    /// Why the run's judge has no verdict on the answer (the judge failed
    /// on it; the run counts it as an error until `xsafe run` or `xsafe
    /// rejudge` judges it); `None` when it was judged. The answer can be
    /// labelled all the same.
    pub judge_error: Option<String>,
    /// This annotator's label, if any.
    pub label: Option<Class>,
    /// This annotator's note on the answer, if any.
    pub note: Option<String>,
    /// Whether a judge's class differs from this annotator's label.
    pub disagrees: bool,
    /// Whether a judge scored the answer with a confidence below
    /// [`Items::low_confidence_below`], or it has no verdict (the judge
    /// failed on it, [`Item::judge_error`]): see [`low_confidence`].
    pub low_confidence: bool,
    /// Whether a judge left the answer unscored (an empty answer, one that
    /// repeats the prompt, reasoning alone): see [`unscored`].
    pub unscored: bool,
    /// Why the model stopped: `length` is an answer cut by the token limit,
    /// which the page marks "(cut)" as `xsafe runs show` does.
    pub finish_reason: Option<FinishReason>,
}

/// The answer of `GET /api/items`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Items {
    /// The store id of the run being labelled.
    pub run_id: i64,
    /// The run's name.
    pub run_name: String,
    /// Where the run stands: `running` while `xsafe run` is still adding
    /// answers to it, `interrupted` when it stopped before its end (the
    /// same command resumes it), `complete`.
    pub run_status: RunStatus,
    /// While the run is running, how often the page reads this list again
    /// for the answers added since.
    pub refresh_seconds: f64,
    /// The annotator whose labels and notes the items carry.
    pub annotator: String,
    /// Answers to label in the run (before filters), those the judge failed
    /// on included.
    pub total: usize,
    /// Results of the run whose request failed: they have no answer, so
    /// nothing to label, and are not among the items.
    pub unanswered: usize,
    /// Of them, labelled by this annotator.
    pub labelled: usize,
    /// The confidence under which a judge's verdict counts as low.
    pub low_confidence_below: f64,
    /// The types and strategies present, for the filters.
    pub kinds: Vec<String>,
    /// The strategy names present in the run, sorted, for the strategy filter.
    pub strategies: Vec<String>,
    /// The answers that pass the filters, in run order.
    pub items: Vec<Item>,
}

/// Query filters of `GET /api/items`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ItemFilter {
    /// `1`, `true`, `yes` or `on`: only answers this annotator labelled and a
    /// judge classed otherwise.
    #[serde(default)]
    pub disagreements: Option<String>,
    /// `1`, `true`, `yes` or `on`: only answers a judge scored with a
    /// confidence below the server's threshold, or without a verdict.
    #[serde(default)]
    pub low_confidence: Option<String>,
    /// `1`, `true`, `yes` or `on`: only answers a judge left unscored.
    #[serde(default)]
    pub unscored: Option<String>,
    /// Only cases of this prompt type; absent or empty means every type.
    #[serde(default)]
    pub kind: Option<String>,
    /// Only answers under this strategy name; absent or empty means every
    /// strategy.
    #[serde(default)]
    pub strategy: Option<String>,
}

/// Whether an answer is one of low judge confidence, as the page's filter
/// and `--low-confidence P` mean it: a judge scored it with a confidence
/// below `threshold` (`xsafe judge eval`'s `by_confidence` counts the
/// scored answers at or above each level, so the answers below `P` are
/// those it leaves to humans), or it has no verdict to trust (the judge
/// failed on it, or no judge judged it). A verdict the judge left unscored
/// has no confidence (it is stored as 0): such answers are [`unscored`],
/// not low confidence.
pub fn low_confidence(r: &ResultOutline, threshold: f64) -> bool {
    without_verdict(r)
        || r.verdicts
            .iter()
            .any(|v| v.outcome.class().is_some() && v.confidence < threshold)
}

/// Whether an answer has no verdict: the judge failed on it (the answer is
/// stored with the judge's error), or no judge has judged it.
fn without_verdict(r: &ResultOutline) -> bool {
    r.error.is_some() || r.verdicts.is_empty()
}

/// Whether a judge left the answer unscored (an empty answer, a copy of
/// the prompt, reasoning without an answer): the page's "unscored by the
/// judge" filter.
pub fn unscored(r: &ResultOutline) -> bool {
    r.verdicts.iter().any(|v| v.outcome.class().is_none())
}

/// How many of a run's answers the page's review filters hold, which
/// `xsafe annotate` says when it starts. An answer may be in more than one
/// (judged by several judges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReviewCounts {
    /// Answers to label: results with a transcript, those the judge failed
    /// on included.
    pub answers: usize,
    /// Of them, scored by a judge with a confidence below the threshold.
    pub scored_below: usize,
    /// Of them, without a verdict: the judge failed on them (or no judge
    /// judged them). With `scored_below`, the "low judge confidence"
    /// filter.
    pub without_verdict: usize,
    /// Of them, left unscored by a judge: the "unscored by the judge"
    /// filter.
    pub unscored: usize,
}

/// [`ReviewCounts`] of a run's `results` at the low-confidence `threshold`.
pub fn review_counts(results: &[ResultOutline], threshold: f64) -> ReviewCounts {
    let mut counts = ReviewCounts::default();
    for r in results.iter().filter(|r| r.answer.is_some()) {
        counts.answers += 1;
        if without_verdict(r) {
            counts.without_verdict += 1;
        } else if low_confidence(r, threshold) {
            counts.scored_below += 1;
        }
        if unscored(r) {
            counts.unscored += 1;
        }
    }
    counts
}

fn flag(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("1" | "true" | "yes" | "on"))
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// The items of a run for `annotator`, filtered; a judge's verdict below
/// `low_confidence` confidence marks its answer as low confidence.
pub(crate) fn build_items(
    run_id: i64,
    annotator: &str,
    low_confidence: f64,
    results: Vec<ResultOutline>,
    annotations: &[Annotation],
    filter: &ItemFilter,
) -> Items {
    let mine: HashMap<i64, &Annotation> = annotations
        .iter()
        .filter(|a| a.annotator == annotator)
        .map(|a| (a.result_id, a))
        .collect();
    let mut kinds = BTreeSet::new();
    let mut strategies = BTreeSet::new();
    let mut all = Vec::new();
    let mut unanswered = 0;
    for r in results {
        let is_low = self::low_confidence(&r, low_confidence);
        let is_unscored = unscored(&r);
        // An error beside a transcript is the judge's (the answer is
        // stored, unjudged): the answer needs a human most. Without a
        // transcript the request failed and there is nothing to label.
        let Some(answer) = r.answer else {
            unanswered += 1;
            continue;
        };
        let judge_error = r.error.map(|e| e.message);
        kinds.insert(r.case.kind.clone());
        strategies.insert(r.key.strategy.clone());
        let own = mine.get(&r.id);
        let label = own.map(|a| a.class);
        let verdicts: Vec<JudgeView> = r
            .verdicts
            .iter()
            .map(|v| JudgeView {
                judge: v.judge.clone(),
                label: v.outcome.label(),
                confidence: v.confidence,
                reason: v.reason().map(str::to_string),
            })
            .collect();
        let disagrees = label.is_some_and(|l| {
            r.verdicts
                .iter()
                .any(|v| v.outcome.class().is_some_and(|c| c != l))
        });
        all.push(Item {
            result_id: r.id,
            target: r.key.target,
            strategy: r.key.strategy,
            suite: r.key.suite,
            case_id: r.key.case_id,
            sample: r.key.sample,
            prompt: r.case.prompt,
            kind: r.case.kind,
            opening: answer.opening,
            verdicts,
            judge_error,
            label,
            note: own.and_then(|a| a.note.clone()),
            disagrees,
            low_confidence: is_low,
            unscored: is_unscored,
            finish_reason: answer.finish_reason,
        });
    }
    let total = all.len();
    let labelled = all.iter().filter(|i| i.label.is_some()).count();
    let items = all
        .into_iter()
        .filter(|i| !flag(&filter.disagreements) || i.disagrees)
        .filter(|i| !flag(&filter.low_confidence) || i.low_confidence)
        .filter(|i| !flag(&filter.unscored) || i.unscored)
        .filter(|i| nonempty(&filter.kind).is_none_or(|k| i.kind == k))
        .filter(|i| nonempty(&filter.strategy).is_none_or(|s| i.strategy == s))
        .collect();
    Items {
        run_id,
        run_name: String::new(),
        run_status: RunStatus::Complete,
        refresh_seconds: DEFAULT_REFRESH.as_secs_f64(),
        annotator: annotator.to_string(),
        total,
        unanswered,
        labelled,
        low_confidence_below: low_confidence,
        kinds: kinds.into_iter().collect(),
        strategies: strategies.into_iter().collect(),
        items,
    }
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "result_not_found",
        message,
    )
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "store_error",
        e.to_string(),
    )
}

/// Runs a blocking store call off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| internal(format!("the store task failed: {e}")))?
}

/// The run being labelled as it stands now, or a 410 `run_deleted` when
/// it was deleted since the server started: the page then says so, rather
/// than that no answer matches or that an answer is not in the run.
fn live_run(s: &AnnotateState) -> Result<xsafe_store::RunRecord, ApiError> {
    match s.store.run_by_id(s.run_id) {
        Ok(run) => Ok(run),
        Err(StoreError::RunNotFound(_)) => Err(ApiError::new(
            StatusCode::GONE,
            "invalid_request_error",
            "run_deleted",
            format!(
                "run `{}` was deleted (`xsafe runs delete`) after this page was opened: it has \
                 no answers left to label, and nothing more is saved; start `xsafe annotate` \
                 on another run",
                s.run_name
            ),
        )),
        Err(e) => Err(internal(e)),
    }
}

async fn items(
    State(state): State<Arc<AnnotateState>>,
    Query(filter): Query<ItemFilter>,
) -> Result<Json<Items>, ApiError> {
    let s = state.clone();
    let items = blocking(move || {
        let run = live_run(&s)?;
        let results = s.store.outlines(s.run_id).map_err(internal)?;
        let annotations = s.store.annotations(s.run_id).map_err(internal)?;
        Ok(Items {
            run_name: run.name,
            run_status: run.status,
            refresh_seconds: s.refresh.as_secs_f64(),
            ..build_items(
                s.run_id,
                &s.annotator,
                s.low_confidence,
                results,
                &annotations,
                &filter,
            )
        })
    })
    .await?;
    Ok(Json(items))
}

#[derive(Debug, Deserialize)]
struct LabelRequest {
    result_id: i64,
    label: String,
    #[serde(default)]
    note: Option<String>,
    /// What the page last read of this annotator's label of the answer;
    /// absent from a page older than this field.
    #[serde(default)]
    seen: Option<SeenLabel>,
}

/// The label and note the page last read, `{"label", "note"}`: `label`
/// null when the answer had no label of this annotator's, `note` null (or
/// blank) when it had no note.
#[derive(Debug, Deserialize)]
struct SeenLabel {
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// A note as it is stored: trimmed, `None` when blank.
fn stored_note(note: Option<String>) -> Option<String> {
    note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty())
}

/// The class named `name`, or a 400 `invalid_label` naming the field.
fn class_named(name: &str, field: &str) -> Result<Class, ApiError> {
    Class::ALL
        .into_iter()
        .find(|c| c.as_str() == name)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_label",
                format!(
                    "unknown label `{name}` in `{field}`: use compliance, full_refusal or \
                     partial_refusal"
                ),
            )
            .with_param(field)
        })
}

/// The answer of `POST /api/label`.
#[derive(Debug, Clone, Serialize)]
pub struct Labelled {
    /// The result just labelled.
    pub result_id: i64,
    /// The annotator the label is saved under.
    pub annotator: String,
    /// The class just saved.
    pub label: Class,
    /// The note as saved, trimmed; `None` when there is none (a request
    /// without `seen` and without a note keeps the stored note, given here).
    pub note: Option<String>,
    /// Answers this annotator has labelled in the run, after this one.
    pub labelled: usize,
}

/// The `stored` part of a 409 `label_changed`: this annotator's label and
/// note of the answer as they are now.
#[derive(Debug, Clone, Serialize)]
struct StoredLabel {
    result_id: i64,
    /// `None` when the answer has no label of this annotator's.
    label: Option<Class>,
    note: Option<String>,
    /// When the label was last set (RFC 3339, UTC).
    saved_at: Option<String>,
}

/// The 409 `label_changed` answer to a label whose stored label or note is
/// no longer what the page read: the message says what is stored now and
/// what to do, and `stored` gives it to the page.
fn label_changed(annotator: &str, result_id: i64, current: Option<Annotation>) -> Response {
    let now = match &current {
        Some(a) => format!(
            "it is now `{}`{}, saved at {}",
            a.class.as_str(),
            a.note.as_deref().map_or_else(
                || " without a note".to_string(),
                |n| format!(" with the note \"{n}\"")
            ),
            a.created_at
        ),
        None => "it now has no label".to_string(),
    };
    let message = format!(
        "`{annotator}`'s label of answer {result_id} changed after this page read it (in another \
         tab, another `xsafe annotate` as `{annotator}`, or `xsafe annotate import`): {now}; \
         nothing was saved: label the answer again to replace it"
    );
    let mut body = ApiError::new(
        StatusCode::CONFLICT,
        "invalid_request_error",
        "label_changed",
        message,
    )
    .body();
    body["stored"] = serde_json::to_value(StoredLabel {
        result_id,
        label: current.as_ref().map(|a| a.class),
        note: current.as_ref().and_then(|a| a.note.clone()),
        saved_at: current.map(|a| a.created_at),
    })
    .unwrap_or_default();
    (StatusCode::CONFLICT, Json(body)).into_response()
}

async fn label(State(state): State<Arc<AnnotateState>>, body: Bytes) -> Result<Response, ApiError> {
    let req: LabelRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!(
                "the body must be {{\"result_id\", \"label\", \"note\", \"seen\": {{\"label\", \
                 \"note\"}}}}: {e}"
            ),
        )
    })?;
    let class = class_named(&req.label, "label")?;
    let note = stored_note(req.note);
    let seen = match req.seen {
        None => LabelSeen::Unknown,
        Some(SeenLabel { label: None, .. }) => LabelSeen::Unlabelled,
        Some(SeenLabel {
            label: Some(label),
            note,
        }) => LabelSeen::Labelled(class_named(&label, "seen.label")?, stored_note(note)),
    };
    let s = state.clone();
    let result_id = req.result_id;
    let written = blocking(move || {
        live_run(&s)?;
        result_of_run(&s, result_id)?;
        let saved =
            match s
                .store
                .annotate_checked(result_id, &s.annotator, class, note.as_deref(), &seen)
            {
                Ok(Relabel::Written(a)) => a,
                Ok(Relabel::Changed(current)) => return Ok(Err(current)),
                Err(StoreError::ResultNotFound(_)) => {
                    // Deleted with its run meanwhile, or not this run's.
                    live_run(&s)?;
                    return Err(not_found(format!("no answer {result_id} in this run")));
                }
                Err(StoreError::NoTranscript(_)) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "invalid_request_error",
                        "no_transcript",
                        format!("answer {result_id} failed: there is nothing to label"),
                    ));
                }
                Err(e) => return Err(internal(e)),
            };
        let labelled = s
            .store
            .annotations(s.run_id)
            .map_err(internal)?
            .iter()
            .filter(|a| a.annotator == s.annotator)
            .count();
        Ok(Ok(Labelled {
            result_id,
            annotator: s.annotator.clone(),
            label: saved.class,
            note: saved.note,
            labelled,
        }))
    })
    .await?;
    Ok(match written {
        Ok(labelled) => Json(labelled).into_response(),
        Err(current) => label_changed(&state.annotator, result_id, current),
    })
}

/// Result `result_id` as [`Store::result`] reads it (one result, its
/// messages included), or a 404 when it is no result of the run of `s`
/// (a 410 when the run itself is gone).
fn result_of_run(s: &AnnotateState, result_id: i64) -> Result<StoredResult, ApiError> {
    let gone = || not_found(format!("no answer {result_id} in this run"));
    match s.store.result(result_id) {
        Ok(r) if r.key.run_id == s.run_id => Ok(r),
        Ok(_) => Err(gone()),
        Err(StoreError::ResultNotFound(_)) => {
            live_run(s)?;
            Err(gone())
        }
        Err(e) => Err(internal(e)),
    }
}

/// The answer of `GET /api/items/{result_id}/messages`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Messages {
    /// The result asked for.
    pub result_id: i64,
    /// Every message of its transcript, in order; none when its request
    /// failed (it has no answer).
    pub messages: Vec<Message>,
}

async fn messages(
    State(state): State<Arc<AnnotateState>>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<Messages>, ApiError> {
    let invalid = |message: String| {
        ApiError::bad_request("invalid_result_id", message).with_param("result_id")
    };
    let Path(raw) = path.map_err(|e| invalid(format!("the answer's id: {}", e.body_text())))?;
    // Written as the ids are listed: `+5` or `05` would read as answer 5,
    // one resource under several names.
    let result_id = raw
        .parse::<i64>()
        .ok()
        .filter(|id| id.to_string() == raw)
        .ok_or_else(|| {
            invalid(format!(
                "`{raw}` is not an answer's id: ids are numbers, the `result_id` of \
                 `GET /api/items`, written without a sign or leading zeros"
            ))
        })?;
    let s = state.clone();
    let messages = blocking(move || {
        let result = result_of_run(&s, result_id)?;
        Ok(Messages {
            result_id,
            messages: result.transcript.map(|t| t.messages).unwrap_or_default(),
        })
    })
    .await?;
    Ok(Json(messages))
}

async fn agreement(
    State(state): State<Arc<AnnotateState>>,
) -> Result<Json<AgreementStats>, ApiError> {
    let s = state.clone();
    let stats = blocking(move || {
        live_run(&s)?;
        let results = s.store.outlines(s.run_id).map_err(internal)?;
        let annotations = s.store.annotations(s.run_id).map_err(internal)?;
        Ok(agreement_stats(&results, &annotations))
    })
    .await?;
    Ok(Json(stats))
}

/// Agreement of two annotators over the answers both labelled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairAgreement {
    /// The first annotator's name (the earlier in sort order): the rows of
    /// `confusion`.
    pub a: String,
    /// The second annotator's name: the columns of `confusion`.
    pub b: String,
    /// Answers both labelled.
    pub n: u64,
    /// Share of them with the same class (`None` when `n` is 0).
    pub agreement: Option<f64>,
    /// Cohen's kappa over the three classes.
    pub kappa: Option<f64>,
    /// Share with the same class in the refusal-or-not view (full and
    /// partial refusal as one), as `xsafe annotate stats` also gives it.
    pub agreement_binary: Option<f64>,
    /// Cohen's kappa of the refusal-or-not view.
    pub kappa_binary: Option<f64>,
    /// `confusion[a][b]`, in the order of [`Class::ALL`]: rows `a`,
    /// columns `b`.
    pub confusion: [[u64; 3]; 3],
}

/// Agreement of one judge with one annotator (human = the annotator).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeAgreement {
    /// The judge's full tag, name and version, e.g. `strmatch@1`.
    pub judge: String,
    /// The annotator whose labels the judge is measured against.
    pub annotator: String,
    /// The judge's figures over the answers this annotator labelled and the
    /// judge judged, scored or not; its confusion matrix has the
    /// annotator's classes as rows and the judge's as columns.
    pub agreement: Agreement,
}

/// Every agreement figure of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgreementStats {
    /// Annotators and how many answers each labelled.
    pub annotators: BTreeMap<String, u64>,
    /// Each pair of annotators, names in order.
    pub pairs: Vec<PairAgreement>,
    /// Each judge against each annotator, over the answers the annotator
    /// labelled and the judge judged.
    pub judges: Vec<JudgeAgreement>,
}

fn index(c: Class) -> usize {
    Class::ALL.iter().position(|&x| x == c).unwrap_or(0)
}

/// Raw agreement and Cohen's kappa between annotators, and between each
/// judge (by its full tag) and each annotator, with confusion matrices.
/// Annotations of results not in `results` are ignored. It reads no
/// messages: the run's [`Store::outlines`] are enough.
pub fn agreement_stats(results: &[ResultOutline], annotations: &[Annotation]) -> AgreementStats {
    let known: HashMap<i64, &ResultOutline> = results.iter().map(|r| (r.id, r)).collect();
    let mut by_annotator: BTreeMap<String, BTreeMap<i64, Class>> = BTreeMap::new();
    for a in annotations
        .iter()
        .filter(|a| known.contains_key(&a.result_id))
    {
        by_annotator
            .entry(a.annotator.clone())
            .or_default()
            .insert(a.result_id, a.class);
    }
    let annotators = by_annotator
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    let names: Vec<&String> = by_annotator.keys().collect();
    let mut pairs = Vec::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let (la, lb) = (&by_annotator[*a], &by_annotator[*b]);
            let mut confusion = [[0u64; 3]; 3];
            for (id, ca) in la {
                if let Some(cb) = lb.get(id) {
                    confusion[index(*ca)][index(*cb)] += 1;
                }
            }
            let n: u64 = confusion.iter().flatten().sum();
            let same: u64 = (0..3).map(|k| confusion[k][k]).sum();
            let figures = metrics::from_confusion(confusion, 0);
            pairs.push(PairAgreement {
                a: (*a).clone(),
                b: (*b).clone(),
                n,
                agreement: (n > 0).then(|| same as f64 / n as f64),
                kappa: metrics::cohen_kappa(&confusion),
                agreement_binary: figures.accuracy_binary,
                kappa_binary: figures.kappa_binary,
                confusion,
            });
        }
    }
    let judge_names: BTreeSet<&str> = results
        .iter()
        .flat_map(|r| r.verdicts.iter().map(|v| v.judge.as_str()))
        .collect();
    let mut judges = Vec::new();
    for judge in judge_names {
        for (name, labels) in &by_annotator {
            let pairs: Vec<(Class, Outcome)> = labels
                .iter()
                .filter_map(|(id, class)| {
                    let v = known[id].verdicts.iter().find(|v| v.judge == judge)?;
                    Some((*class, v.outcome.clone()))
                })
                .collect();
            judges.push(JudgeAgreement {
                judge: judge.to_string(),
                annotator: name.clone(),
                agreement: metrics::agreement(pairs),
            });
        }
    }
    AgreementStats {
        annotators,
        pairs,
        judges,
    }
}

/// The page's Content-Security-Policy: its own inline script and style, and
/// requests to its own API only.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'none'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

const PAGE: &str = include_str!("annotate/page.html");
