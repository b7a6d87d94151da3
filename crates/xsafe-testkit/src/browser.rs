//! A headless Chromium driven through chromedriver over the WebDriver HTTP
//! protocol, for the tests of xsafe's HTML pages (the report, the
//! annotation page).
//!
//! [`tools`] finds the binaries (`XSAFE_CHROMIUM`, `XSAFE_CHROMEDRIVER`,
//! else `/usr/bin`, else `PATH`). Without them a test should skip, unless
//! `XSAFE_REQUIRE_BROWSER=1` (CI sets it), when `tools` panics.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The W3C name of an element reference in WebDriver answers.
pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// WebDriver key codes.
pub const ARROW_LEFT: &str = "\u{E012}";
/// The WebDriver key code of the right arrow key.
pub const ARROW_RIGHT: &str = "\u{E014}";
/// The WebDriver key code of the Escape key.
pub const ESCAPE: &str = "\u{E00C}";

fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    for name in names {
        let p = Path::new("/usr/bin").join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromium and chromedriver, or `None` (with a notice naming `what` is
/// skipped) when either is missing; with `XSAFE_REQUIRE_BROWSER=1` a missing
/// one is a failure instead.
pub fn tools(what: &str) -> Option<(PathBuf, PathBuf)> {
    let required = std::env::var("XSAFE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let chromium = find_binary("XSAFE_CHROMIUM", &["chromium", "chromium-browser"]);
    let chromedriver = find_binary("XSAFE_CHROMEDRIVER", &["chromedriver"]);
    match (chromium, chromedriver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            assert!(
                !required,
                "XSAFE_REQUIRE_BROWSER=1 but chromium or chromedriver is missing \
                 (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "SKIPPED: {what} needs chromium and chromedriver (apt-get install chromium chromium-driver)"
            );
            None
        }
    }
}

/// chromedriver, ended when dropped, after it has closed the browsers
/// of sessions still open (a failed assertion leaves one).
pub struct Driver {
    child: Child,
    port: u16,
    base: String,
    http: reqwest::Client,
    sessions: Mutex<Vec<String>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let open = std::mem::take(&mut *self.sessions.lock().unwrap_or_else(|e| e.into_inner()));
        for id in open {
            // Blocking on purpose: this may run while a test unwinds inside
            // the runtime. chromedriver answers once the browser has quit.
            if let Ok(mut conn) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(20)));
                let _ = write!(
                    conn,
                    "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
                );
                // The status line is enough: the connection may stay open.
                let (mut got, mut buf) = (Vec::new(), [0u8; 1024]);
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts the `chromedriver` binary on a free port of 127.0.0.1 and waits
    /// until it is ready; panics when it cannot start or is not ready within
    /// 30 s.
    pub async fn start(chromedriver: &Path) -> Driver {
        // A free port: bind port 0, read it, let it go for chromedriver.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let driver = Driver {
            child,
            port,
            sessions: Mutex::new(Vec::new()),
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await;
            if let Ok(resp) = status {
                let v: Value = resp.json().await.unwrap_or_default();
                if v["value"]["ready"] == json!(true) {
                    return driver;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not become ready on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a WebDriver command (`path` from chromedriver's root, e.g.
    /// `/session`) and returns the `value` of its answer; panics when the
    /// request fails or the answer is not a success.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v["value"].clone()
    }

    /// Opens a headless browser: `chromium`, with `profile` as its user
    /// data directory. It is closed by [`Session::close`], else when the
    /// driver drops. Panics when chromedriver refuses the session.
    pub async fn session(&self, chromium: &Path, profile: &Path) -> Session<'_> {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let v = self
            .call(reqwest::Method::POST, "/session", Some(caps))
            .await;
        let id = v["sessionId"].as_str().expect("a session id").to_string();
        self.sessions.lock().unwrap().push(id.clone());
        Session { driver: self, id }
    }
}

/// One browser.
pub struct Session<'a> {
    driver: &'a Driver,
    /// The session id chromedriver gave, part of every command's path.
    pub id: String,
}

impl Session<'_> {
    /// Sends a command of this session (`path` after `/session/ID`, e.g.
    /// `/url`) with `body`, and returns the `value` of its answer; panics as
    /// [`Driver::call`] does.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}{path}", self.id),
                Some(body),
            )
            .await
    }

    /// Navigates to a URL (`file://` or `http://127.0.0.1:...`).
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    /// Runs a script in the page and returns what it returns.
    pub async fn js(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    /// The reference of the first element matching a CSS selector.
    pub async fn element(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT].as_str().unwrap().to_string()
    }

    /// Waits (up to 10 s) until a script returns `true`.
    pub async fn wait_for(&self, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.js(script).await != json!(true) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for `{script}`"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Presses and releases a key, as a person at the keyboard does.
    pub async fn key(&self, key: &str) {
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key},
                {"type": "keyUp", "value": key},
            ]}]}),
        )
        .await;
    }

    /// The browser console since the last call.
    pub async fn browser_log(&self) -> Vec<Value> {
        self.post("/se/log", json!({"type": "browser"}))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The page is clean: no script error (the page's `window.xsafeErrors`
    /// capture is empty), nothing injected ran (`window.pwned`), no request
    /// but to `own_origin` (none at all when `None`), and no SEVERE entry
    /// in the console (script and console errors, blocked requests and
    /// content-policy violations are all SEVERE).
    pub async fn assert_clean(&self, own_origin: Option<&str>) {
        assert_eq!(self.js("return window.xsafeErrors").await, json!([]));
        assert_eq!(
            self.js("return typeof window.pwned").await,
            json!("undefined")
        );
        let requests = self
            .js("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
            .await;
        let requests = requests.as_array().expect("a list of requests");
        match own_origin {
            None => assert!(requests.is_empty(), "the page made requests: {requests:?}"),
            Some(base) => {
                for r in requests {
                    assert!(
                        r.as_str().is_some_and(|r| r.starts_with(base)),
                        "the page requested {r}"
                    );
                }
            }
        }
        let severe: Vec<Value> = self
            .browser_log()
            .await
            .into_iter()
            .filter(|e| e["level"] == json!("SEVERE"))
            .collect();
        assert!(severe.is_empty(), "browser console: {severe:?}");
    }

    /// Ends the session and its browser.
    pub async fn close(self) {
        self.driver
            .sessions
            .lock()
            .unwrap()
            .retain(|s| *s != self.id);
        self.driver
            .call(
                reqwest::Method::DELETE,
                &format!("/session/{}", self.id),
                None,
            )
            .await;
    }
}
