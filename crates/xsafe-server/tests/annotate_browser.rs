//! The annotation page in a real headless browser (Debian's `chromium`,
//! driven by `chromedriver` over the WebDriver HTTP protocol), served by
//! the annotation router on 127.0.0.1 over a run store on disk: the page
//! loads without script errors or foreign requests, hostile text stays
//! text, the keys 1/2/3 label and move on, the arrow keys go back and
//! forth, the judge's verdict stays hidden until a label is chosen, and
//! after a reload the labels are still there, on the page and in the
//! store.
//!
//! Without chromium and chromedriver the test prints a notice and passes,
//! unless `XSAFE_REQUIRE_BROWSER=1` (CI sets it), when it fails. The
//! binaries are found through `XSAFE_CHROMIUM` and `XSAFE_CHROMEDRIVER`,
//! else `/usr/bin/chromium` and `/usr/bin/chromedriver`, else on `PATH`.

mod annotate_support;

use annotate_support::{fixture, serve};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use xsafe_core::Class;

/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's codes of special keys.
const ARROW_LEFT: &str = "\u{E012}";
const ARROW_RIGHT: &str = "\u{E014}";
const ESCAPE: &str = "\u{E00C}";

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

/// chromedriver, ended when dropped, after it has closed the browsers
/// of sessions still open (a failed assertion leaves one).
struct Driver {
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
    async fn start(chromedriver: &Path) -> Driver {
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

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
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

    async fn session(&self, chromium: &Path, profile: &Path) -> Session<'_> {
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

struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Session<'_> {
    async fn post(&self, path: &str, body: Value) -> Value {
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}{path}", self.id),
                Some(body),
            )
            .await
    }

    /// Opens the page and waits until it has loaded the answers.
    async fn open(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
        self.wait_for("return document.body.dataset.ready === '1'")
            .await;
    }

    async fn js(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v[ELEMENT].as_str().unwrap().to_string()
    }

    async fn wait_for(&self, script: &str) {
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
    async fn key(&self, key: &str) {
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key},
                {"type": "keyUp", "value": key},
            ]}]}),
        )
        .await;
    }

    /// The result id of the answer on screen.
    async fn shown(&self) -> i64 {
        self.js("return Number(document.body.dataset.resultId)")
            .await
            .as_i64()
            .unwrap()
    }

    async fn wait_shown(&self, id: i64, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.shown().await;
            if now == id {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: answer {now} on screen, expected {id}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_labelled(&self, n: usize) {
        self.wait_for(&format!(
            "return document.getElementById('progress').dataset.labelled === '{n}'"
        ))
        .await;
    }

    /// The label button shown pressed, or null.
    async fn pressed(&self) -> Value {
        self.js(
            "var b = document.querySelector('#labels button[aria-pressed=\"true\"]'); \
             return b ? b.dataset.class : null;",
        )
        .await
    }

    async fn judge_hidden(&self) -> bool {
        self.js("return document.getElementById('judge').classList.contains('hidden')")
            .await
            .as_bool()
            .unwrap()
    }

    async fn browser_log(&self) -> Vec<Value> {
        self.post("/se/log", json!({"type": "browser"}))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// No script error, no console error, nothing injected ran, and no
    /// request but to the page's own server.
    async fn assert_clean(&self, base: &str) {
        assert_eq!(self.js("return window.xsafeErrors").await, json!([]));
        assert_eq!(
            self.js("return typeof window.pwned").await,
            json!("undefined")
        );
        let requests = self
            .js("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
            .await;
        for r in requests.as_array().unwrap() {
            assert!(
                r.as_str().unwrap().starts_with(base),
                "the page requested {r}"
            );
        }
        let severe: Vec<Value> = self
            .browser_log()
            .await
            .into_iter()
            .filter(|e| e["level"] == json!("SEVERE"))
            .collect();
        assert!(severe.is_empty(), "browser console: {severe:?}");
    }

    async fn close(self) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_made_with_the_keyboard_survive_a_reload() {
    let required = std::env::var("XSAFE_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let chromium = find_binary("XSAFE_CHROMIUM", &["chromium", "chromium-browser"]);
    let chromedriver = find_binary("XSAFE_CHROMEDRIVER", &["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        assert!(
            !required,
            "XSAFE_REQUIRE_BROWSER=1 but chromium or chromedriver is missing \
             (apt-get install chromium chromium-driver)"
        );
        eprintln!(
            "SKIPPED: the annotation page's browser test needs chromium and chromedriver \
             (apt-get install chromium chromium-driver)"
        );
        return;
    };

    let f = fixture();
    let addr = serve(f.store.clone(), f.run_id, "alice").await;
    let base = format!("http://{addr}/");
    let driver = Driver::start(&chromedriver).await;
    let s = driver
        .session(&chromium, &f.dir.path().join("profile"))
        .await;
    s.open(&base).await;
    s.assert_clean(&base).await;

    // The first answer, unlabelled: the judge is hidden.
    s.wait_shown(f.ids[0], "first load").await;
    assert_eq!(
        s.js("return document.getElementById('progress').textContent")
            .await,
        json!("0 labelled of 4")
    );
    assert_eq!(s.pressed().await, Value::Null);
    assert!(s.judge_hidden().await, "the judge shows before a label");
    assert_eq!(
        s.js("return document.getElementById('kind').textContent")
            .await,
        json!("homonyms")
    );

    // 2 = full refusal, and the next answer comes up.
    s.key("2").await;
    s.wait_labelled(1).await;
    s.wait_shown(f.ids[1], "after labelling the first").await;
    // The hostile prompt and answer are text.
    assert_eq!(
        s.js("return document.getElementById('prompt').textContent")
            .await,
        json!(annotate_support::HOSTILE)
    );
    assert_eq!(
        s.js("return document.querySelectorAll('#item img, #item script').length")
            .await,
        json!(0)
    );
    s.key("1").await;
    s.wait_labelled(2).await;
    s.wait_shown(f.ids[2], "after labelling the second").await;

    // The interactive answer: the earlier turns fold away.
    assert_eq!(
        s.js(
            "var d = document.querySelector('#transcript details.earlier'); \
              return d ? [d.open, d.querySelectorAll('.msg').length] : null"
        )
        .await,
        json!([false, 2])
    );
    // Skip it, then the few-shot one: examples folded and marked.
    s.key(ARROW_RIGHT).await;
    s.wait_shown(f.ids[3], "after skipping").await;
    assert_eq!(
        s.js(
            "var d = document.querySelector('#transcript details.examples'); \
              return d ? [d.open, d.querySelectorAll('.msg.example').length, \
              d.textContent.indexOf('EXAMPLE QUESTION') >= 0] : null"
        )
        .await,
        json!([false, 2, true])
    );
    // A note, then 3 = partial refusal (the key in the note is text).
    let note = s.element("#note").await;
    s.post(
        &format!("/element/{note}/value"),
        json!({"text": "hedges 1"}),
    )
    .await;
    s.key(ESCAPE).await;
    s.key("3").await;
    s.wait_labelled(3).await;
    // The last answer stays on screen, now with its label and the judge.
    assert_eq!(s.shown().await, f.ids[3]);
    assert_eq!(s.pressed().await, json!("partial_refusal"));
    assert!(!s.judge_hidden().await, "the judge is hidden after a label");
    // Back to the skipped one, and label it.
    s.key(ARROW_LEFT).await;
    s.wait_shown(f.ids[2], "back").await;
    assert_eq!(s.pressed().await, Value::Null);
    s.key("1").await;
    s.wait_labelled(4).await;

    let stored: Vec<(i64, Class, Option<String>)> = f
        .store
        .annotations(f.run_id)
        .unwrap()
        .into_iter()
        .map(|a| {
            assert_eq!(a.annotator, "alice");
            (a.result_id, a.class, a.note)
        })
        .collect();
    let expected = vec![
        (f.ids[0], Class::FullRefusal, None),
        (f.ids[1], Class::Compliance, None),
        (f.ids[2], Class::Compliance, None),
        (
            f.ids[3],
            Class::PartialRefusal,
            Some("hedges 1".to_string()),
        ),
    ];
    assert_eq!(stored, expected, "in the store");

    // Reload: the labels are all there.
    s.post("/refresh", json!({})).await;
    s.wait_for("return document.body.dataset.ready === '1'")
        .await;
    assert_eq!(
        s.js("return document.getElementById('progress').textContent")
            .await,
        json!("4 labelled of 4")
    );
    s.wait_shown(f.ids[0], "after the reload").await;
    for (i, want) in [
        "full_refusal",
        "compliance",
        "compliance",
        "partial_refusal",
    ]
    .iter()
    .enumerate()
    {
        s.wait_shown(f.ids[i], "walking the answers").await;
        assert_eq!(
            s.pressed().await,
            json!(want),
            "answer {i} after the reload"
        );
        assert!(!s.judge_hidden().await);
        s.key(ARROW_RIGHT).await;
    }
    assert_eq!(
        s.js("return document.getElementById('note').value").await,
        json!("hedges 1")
    );

    // Editing the note of a labelled answer saves it when the field is left.
    let note = s.element("#note").await;
    s.post(&format!("/element/{note}/clear"), json!({})).await;
    s.post(
        &format!("/element/{note}/value"),
        json!({"text": "hedges 2"}),
    )
    .await;
    s.key(ESCAPE).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let notes: Vec<Option<String>> = f
            .store
            .annotations(f.run_id)
            .unwrap()
            .into_iter()
            .map(|a| a.note)
            .collect();
        if notes[3].as_deref() == Some("hedges 2") {
            assert_eq!(notes.len(), 4);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the edited note was not saved: {notes:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Filters: one strategy; only disagreements with the judge (the judge
    // said compliance, full refusal, compliance, compliance).
    s.js(
        "var e = document.getElementById('f-strategy'); e.value = 'fewshot'; \
          e.dispatchEvent(new Event('change')); return null;",
    )
    .await;
    s.wait_shown(f.ids[3], "strategy filter").await;
    assert_eq!(
        s.js("return document.getElementById('position').textContent")
            .await,
        json!("1 / 1")
    );
    s.js(
        "var e = document.getElementById('f-strategy'); e.value = ''; \
          e.dispatchEvent(new Event('change')); \
          var d = document.getElementById('f-disagree'); d.checked = true; \
          d.dispatchEvent(new Event('change')); return null;",
    )
    .await;
    assert_eq!(
        s.js("return document.getElementById('position').textContent")
            .await,
        json!("3 / 3"),
        "the answer on screen stays when a filter changes"
    );

    // Relabelling replaces the label: still one row per answer.
    s.wait_shown(f.ids[3], "disagreements").await;
    s.key("1").await;
    s.wait_for(
        "return document.querySelector('#labels button[aria-pressed=\"true\"]').dataset.class === 'compliance'",
    )
    .await;
    let stored = f.store.annotations(f.run_id).unwrap();
    assert_eq!(stored.len(), 4);
    assert_eq!(stored[3].class, Class::Compliance);

    // The agreement panel: the judge against alice (2 of 4 alike: alice
    // says full refusal, compliance, compliance, compliance), with its matrix.
    s.js("var d = document.getElementById('agreement-box'); d.open = true; return null;")
        .await;
    s.wait_for("return document.querySelectorAll('#agreement table').length === 1")
        .await;
    let heading = s
        .js("return document.querySelector('#agreement h3').textContent")
        .await;
    assert_eq!(
        heading,
        json!("strmatch@1 vs alice: n=4, agreement 0.50, kappa -0.33"),
    );

    s.assert_clean(&base).await;
    s.close().await;
}
