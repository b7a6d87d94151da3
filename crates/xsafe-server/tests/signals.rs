//! The proxy's stop signals, in a test binary of their own: a signal goes
//! to the whole process, and would stop the servers of other tests.
#![cfg(unix)]

use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use xsafe_server::{Proxy, ProxyOptions};
use xsafe_strategy::{BuildOptions, Registry};
use xsafe_testkit::{Reply, TestServer};

/// Every warning and info line logged in this test binary.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps every event at INFO or above in [`LINES`].
struct Collector;

impl tracing::Subscriber for Collector {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::INFO
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Line(String);
        impl tracing::field::Visit for Line {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut line = Line(String::new());
        event.record(&mut line);
        LINES.lock().unwrap().push(line.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

/// Sends `signal` (`HUP`, `TERM`) to this process.
fn send(signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Serves a proxy without keys in front of `upstream`, stopped by the
/// process's signals; its URL and its task.
async fn serve(
    upstream: &TestServer,
) -> (
    String,
    tokio::task::JoinHandle<std::io::Result<xsafe_server::Stopped>>,
) {
    let mut o = ProxyOptions::new(format!("{}/v1", upstream.url()));
    o.allow_anonymous = true;
    let strategy = Registry::builtin()
        .build("baseline", &BuildOptions::default())
        .unwrap();
    let proxy = Arc::new(Proxy::new(o, strategy, None).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = xsafe_server::shutdown_signal();
    (
        url,
        tokio::spawn(xsafe_server::serve(listener, proxy, shutdown)),
    )
}

/// A request sent to the proxy at `url`, answered or not.
fn ask(url: &str) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let url = format!("{url}/v1/chat/completions");
    tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
    })
}

/// Waits (at most 20 s) until `upstream` has received `n` requests.
async fn requests_reach(upstream: &TestServer, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while upstream.request_count() < n {
        assert!(tokio::time::Instant::now() < deadline, "no request {n}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// SIGHUP killed `xsafe serve` at once, with no log line, dropping the
/// requests in flight: it stops the proxy as SIGTERM does, letting them
/// finish, and says so. A second signal during the drain stops at once,
/// saying how many connections it cut.
#[tokio::test]
async fn sighup_drains_as_sigterm_does_and_a_second_signal_cuts_with_a_count() {
    tracing::subscriber::set_global_default(Collector).unwrap();
    let upstream =
        TestServer::start(|_| Reply::chat("an answer").slow(Duration::from_millis(1500)));
    let (url, server) = serve(&upstream).await;
    let in_flight = ask(&url);
    requests_reach(&upstream, 1).await;
    send("HUP");
    let r = in_flight.await.unwrap().unwrap();
    assert_eq!(r.status(), 200);
    let stopped = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("stopped once the request was answered")
        .unwrap()
        .unwrap();
    assert_eq!(stopped.cut, 0);
    let log = LINES.lock().unwrap().join("\n");
    assert!(log.contains("signal=\"SIGHUP\""), "{log}");
    assert!(log.contains("stopping as for SIGTERM"), "{log}");

    // A request the upstream holds; SIGTERM, then SIGTERM again once the
    // proxy has stopped accepting (and listens for the second).
    let upstream = TestServer::start(|_| Reply::chat("late").slow(Duration::from_secs(60)));
    let (url, server) = serve(&upstream).await;
    let in_flight = ask(&url);
    requests_reach(&upstream, 1).await;
    send("TERM");
    let addr = url.trim_start_matches("http://").to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(&addr).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still accepting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    send("TERM");
    let stopped = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("stopped at the second signal")
        .unwrap()
        .unwrap();
    assert_eq!(stopped.cut, 1);
    let log = LINES.lock().unwrap().join("\n");
    assert!(
        log.contains("a second signal (SIGTERM): stopping without the 1 connection still open"),
        "{log}"
    );
    in_flight.abort();
}
