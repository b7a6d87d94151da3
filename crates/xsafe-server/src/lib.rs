//! HTTP servers for xsafe. The proxy (`xsafe serve`) puts a tuned profile
//! into use without changing the application: an OpenAI-compatible
//! `/v1/chat/completions` in front of a model that adds the profile's
//! strategy to every request (system text, exemplar turns) or, for an
//! interactive strategy, judges the upstream's reply and sends the
//! clarifying follow-up before the client sees an answer. The annotation
//! page ([`annotate`], `xsafe annotate`) lets people label a run's answers
//! and stores every label in the run store as it is made.
//!
//! Each server is a `router(state) -> Router`, so tests and the binary
//! serve it the same way.

pub mod annotate;
mod body;
mod config;
mod error;
mod http;
mod metrics;
mod open_files;
mod proxy;
mod upstream;

pub use config::{
    ConfigError, KeyEntry, Profile, SentOtherwise, ServerConfig, UpstreamHeader, hash_key,
    sent_otherwise_warning, unservable,
};
pub use http::Stopped;
pub use proxy::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT, DEFAULT_UPSTREAM_RETRIES,
    FOLLOWUPS_HEADER, NOT_APPLIED_HEADER, Proxy, ProxyOptions, SHUTDOWN_GRACE, STRATEGY_HEADER,
    merge, router, serve, shutdown_signal,
};
pub use upstream::Secret;
