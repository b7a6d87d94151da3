//! The latency the proxy adds and the throughput it sustains, against
//! calling the same upstream on 127.0.0.1 directly in the same run:
//! `cargo bench -p xsafe-server --bench latency`. The strategy is
//! `contextual` (a system message added, no follow-ups); the upstream
//! answers at once, so what is measured is the proxy's own work.

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use xsafe_server::{Proxy, ProxyOptions};
use xsafe_strategy::{BuildOptions, Registry};
use xsafe_testkit::{Reply, TestServer};

const SEQUENTIAL: usize = 3000;
const CONCURRENCY: usize = 32;
const LOAD_FOR: Duration = Duration::from_secs(3);

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn once(client: &reqwest::Client, url: &str, body: &str) -> Duration {
    let started = Instant::now();
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request");
    assert!(r.status().is_success(), "{}", r.status());
    r.bytes().await.expect("body");
    started.elapsed()
}

async fn load(client: &reqwest::Client, url: &str, body: &str) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, url, body) = (client.clone(), url.to_string(), body.to_string());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < LOAD_FOR {
                once(&client, &url, &body).await;
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let upstream = TestServer::start(|_| Reply::chat("Run `kill PID` to end it."));
        let mut options = ProxyOptions::new(format!("{}/v1", upstream.url()));
        options.allow_anonymous = true;
        let strategy = Registry::builtin()
            .build("contextual", &BuildOptions::default())
            .unwrap();
        let proxy = Arc::new(Proxy::new(options, strategy, None).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_url = format!(
            "http://{}/v1/chat/completions",
            listener.local_addr().unwrap()
        );
        tokio::spawn(xsafe_server::serve(listener, proxy, std::future::pending()));
        let direct_url = format!("{}/v1/chat/completions", upstream.url());
        let body = json!({"model": "m", "temperature": 0,
            "messages": [{"role": "user", "content": "How do I kill a Python process?"}]})
        .to_string();
        let client = reqwest::Client::new();
        for _ in 0..200 {
            once(&client, &direct_url, &body).await;
            once(&client, &proxy_url, &body).await;
        }
        // Interleaved, so drift in the machine's load hits both alike.
        let (mut direct, mut proxied) = (Vec::new(), Vec::new());
        for _ in 0..SEQUENTIAL {
            direct.push(once(&client, &direct_url, &body).await.as_secs_f64() * 1e3);
            proxied.push(once(&client, &proxy_url, &body).await.as_secs_f64() * 1e3);
        }
        direct.sort_by(f64::total_cmp);
        proxied.sort_by(f64::total_cmp);
        println!(
            "sequential requests: {SEQUENTIAL} each, contextual strategy, upstream answers at once"
        );
        for (name, q) in [("p50", 0.5), ("p99", 0.99)] {
            let (d, p) = (quantile(&direct, q), quantile(&proxied, q));
            println!(
                "  {name}: direct {d:.3} ms, through the proxy {p:.3} ms, added {:.3} ms",
                p - d
            );
        }
        let direct_rps = load(&client, &direct_url, &body).await;
        let proxied_rps = load(&client, &proxy_url, &body).await;
        println!(
            "throughput with {CONCURRENCY} clients for {LOAD_FOR:?}: direct {direct_rps:.0}/s, \
             through the proxy {proxied_rps:.0}/s ({:.2} x direct)",
            proxied_rps / direct_rps
        );
    });
}
