//! Counters in the Prometheus text format, written by hand: a handful of
//! atomics needs no metrics framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the upstream latency histogram, in seconds.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The proxy's counters, served at `/metrics` by [`Metrics::render`].
/// Requests being answered at the same time update them safely.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<u16, u64>>,
    errors: Mutex<BTreeMap<&'static str, u64>>,
    /// Upstream requests by [`UpstreamOutcome`].
    upstream: Mutex<BTreeMap<&'static str, u64>>,
    /// Per bucket (not cumulative); the last one is +Inf.
    latency: [AtomicU64; 15],
    latency_micros: AtomicU64,
    latency_count: AtomicU64,
    refusals: AtomicU64,
    followups: AtomicU64,
    retries: AtomicU64,
}

impl Metrics {
    /// Counts one API request (a path under `/v1/`) with the HTTP status it
    /// was answered with, or 499 for one whose client went away first.
    pub fn request(&self, status: u16) {
        *self.requests.lock().unwrap().entry(status).or_default() += 1;
    }

    /// Counts one failure of this kind: the `code` of the API error a
    /// request was answered with (`upstream_rejected` for an upstream's 4xx
    /// passed on, whatever code the client sees), or [`STREAM_FAILED`],
    /// [`FOLLOWUP_REJECTED`] and [`FOLLOWUP_FAILED`] for a request answered
    /// with a 200 that did not go as it should.
    pub fn error(&self, kind: &'static str) {
        *self.errors.lock().unwrap().entry(kind).or_default() += 1;
    }

    /// Counts one upstream request (every attempt: retries and follow-ups
    /// too, failed or not) by how it ended, and adds the time it took, to
    /// its answer, its failure or its cancelling, to the latency histogram.
    pub fn upstream_request(&self, d: Duration, outcome: UpstreamOutcome) {
        *self
            .upstream
            .lock()
            .unwrap()
            .entry(outcome.label())
            .or_default() += 1;
        let secs = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency[i].fetch_add(1, Ordering::Relaxed);
        self.latency_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one upstream reply the judge classed as a full or partial
    /// refusal.
    pub fn refusal(&self) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one clarifying follow-up sent upstream, whatever its answer.
    pub fn followup(&self) {
        self.followups.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one upstream request sent again after a 429, a 5xx or no
    /// connection.
    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP xsafe_proxy_requests_total API requests (paths under /v1/; not /healthz \
             probes or /metrics scrapes), by HTTP status: the status answered, or 499 for a \
             request whose client closed its connection before the answer.\n",
        );
        out.push_str("# TYPE xsafe_proxy_requests_total counter\n");
        for (status, n) in self.requests.lock().unwrap().iter() {
            let _ = writeln!(out, "xsafe_proxy_requests_total{{status=\"{status}\"}} {n}");
        }
        out.push_str(
            "# HELP xsafe_proxy_errors_total Failed requests, by kind: the error's code, but \
             upstream_rejected for an upstream's 4xx passed on with its status (the client \
             sees the upstream's own code, when it gave one). A \
             request answered 200 that then failed is here too, its 200 in requests_total: \
             upstream_stream for a stream the upstream broke off, stalled or ended without \
             [DONE], client_closed for a stream whose client closed its connection (and, with \
             status 499, a request whose client did so before its answer), client_stalled for \
             a stream closed because its client accepted none of it for the timeout, \
             followup_rejected for a follow-up the upstream refused with a 4xx or answered with \
             no choices, followup_failed for one it failed (5xx, no connection, a broken \
             answer) or that ran out of time (the client got the reply before either).\n",
        );
        out.push_str("# TYPE xsafe_proxy_errors_total counter\n");
        for (kind, n) in self.errors.lock().unwrap().iter() {
            let _ = writeln!(out, "xsafe_proxy_errors_total{{kind=\"{kind}\"}} {n}");
        }
        out.push_str(
            "# HELP xsafe_proxy_upstream_requests_total Upstream requests (retries and \
             follow-ups included), by outcome: ok (a 2xx), status (another HTTP status), \
             timeout, connection (unreachable or dropped), cancelled (given up before its \
             answer because the client closed its connection).\n",
        );
        out.push_str("# TYPE xsafe_proxy_upstream_requests_total counter\n");
        for (outcome, n) in self.upstream.lock().unwrap().iter() {
            let _ = writeln!(
                out,
                "xsafe_proxy_upstream_requests_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP xsafe_proxy_upstream_latency_seconds Time to the upstream's answer or \
             failure (or to its cancelling), per upstream request (every outcome).\n",
        );
        out.push_str("# TYPE xsafe_proxy_upstream_latency_seconds histogram\n");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".to_string()])
            .enumerate()
        {
            cumulative += self.latency[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "xsafe_proxy_upstream_latency_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "xsafe_proxy_upstream_latency_seconds_sum {}",
            self.latency_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "xsafe_proxy_upstream_latency_seconds_count {}",
            self.latency_count.load(Ordering::Relaxed)
        );
        for (name, help, value) in [
            (
                "xsafe_proxy_refusals_detected_total",
                "Upstream replies the judge found refusing.",
                &self.refusals,
            ),
            (
                "xsafe_proxy_followups_sent_total",
                "Clarifying follow-ups sent upstream, answered or not.",
                &self.followups,
            ),
            (
                "xsafe_proxy_upstream_retries_total",
                "Upstream requests sent again after a 429, a 5xx, no connection or a dropped one.",
                &self.retries,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}

/// The `kind` of [`Metrics::error`] for a stream that failed after its 200
/// was sent: the upstream broke it off, stalled past the timeout, or ended
/// it (cleanly, as far as HTTP goes) without `data: [DONE]`.
pub const STREAM_FAILED: &str = "upstream_stream";

/// The `kind` of [`Metrics::error`] (and the `code` of the log line) for a
/// client that closed its connection before the end of its answer: before
/// the answer began (also counted with the status 499), or during a stream
/// passed through, whose 200 is counted.
pub const CLIENT_CLOSED: &str = "client_closed";

/// The `kind` of [`Metrics::error`] for a stream passed through that was
/// closed, with its upstream request, because its client accepted none of
/// it for the request timeout (it stopped reading).
pub const CLIENT_STALLED: &str = "client_stalled";

/// The `kind` of [`Metrics::error`] for a follow-up the upstream refused
/// with a 4xx or answered with no choices (`"choices": []`), answered with
/// the reply before it.
pub const FOLLOWUP_REJECTED: &str = "followup_rejected";

/// The `kind` of [`Metrics::error`] for a follow-up the upstream failed (a
/// 5xx after the proxy's retries, no connection, an answer broken off or
/// no completion) or that the request's time ran out on, answered with the
/// reply before it.
pub const FOLLOWUP_FAILED: &str = "followup_failed";

/// How one upstream request ended, the `outcome` label of
/// `xsafe_proxy_upstream_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamOutcome {
    /// A 2xx status.
    Ok,
    /// Another HTTP status.
    Status,
    /// No answer within the client request's time.
    Timeout,
    /// The upstream could not be reached or dropped the connection.
    Connection,
    /// Given up before the upstream answered: the client closed its
    /// connection, and its request was dropped.
    Cancelled,
}

impl UpstreamOutcome {
    fn label(self) -> &'static str {
        match self {
            UpstreamOutcome::Ok => "ok",
            UpstreamOutcome::Status => "status",
            UpstreamOutcome::Timeout => "timeout",
            UpstreamOutcome::Connection => "connection",
            UpstreamOutcome::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.upstream_request(Duration::from_millis(3), UpstreamOutcome::Ok);
        m.upstream_request(Duration::from_millis(200), UpstreamOutcome::Status);
        m.upstream_request(Duration::from_secs(500), UpstreamOutcome::Timeout);
        m.request(200);
        m.error("upstream_timeout");
        let text = m.render();
        assert!(text.contains("xsafe_proxy_upstream_latency_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("xsafe_proxy_upstream_latency_seconds_bucket{le=\"0.25\"} 2\n"));
        assert!(text.contains("xsafe_proxy_upstream_latency_seconds_bucket{le=\"120\"} 2\n"));
        assert!(text.contains("xsafe_proxy_upstream_latency_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("xsafe_proxy_upstream_latency_seconds_count 3\n"));
        assert!(text.contains("xsafe_proxy_requests_total{status=\"200\"} 1\n"));
        assert!(text.contains("xsafe_proxy_errors_total{kind=\"upstream_timeout\"} 1\n"));
        for outcome in ["ok", "status", "timeout"] {
            assert!(
                text.contains(&format!(
                    "xsafe_proxy_upstream_requests_total{{outcome=\"{outcome}\"}} 1\n"
                )),
                "{text}"
            );
        }
    }
}
