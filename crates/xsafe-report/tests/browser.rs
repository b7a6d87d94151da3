//! The HTML report opened in a real headless browser (Debian's `chromium`,
//! driven by `chromedriver` over the WebDriver HTTP protocol): it renders
//! without script errors or requests, the charts are there with the
//! expected number of bars, points and lines, the page fits 1280 and 800
//! pixel wide windows and, printed, an A4 page, and the transcript filters
//! hide and show the right rows.
//!
//! Without chromium and chromedriver the test prints a notice and passes,
//! unless `XSAFE_REQUIRE_BROWSER=1` (CI sets it), when it fails. The
//! binaries are found through `XSAFE_CHROMIUM` and `XSAFE_CHROMEDRIVER`,
//! else `/usr/bin/chromium` and `/usr/bin/chromedriver`, else on `PATH`.

mod html_support;

use html_support::{HOSTILE, HOSTILE_TYPE, big_report, report};
use serde_json::json;
use std::ops::Deref;
use std::path::Path;
use std::time::{Duration, Instant};
use xsafe_report::html::{TRANSCRIPT_ROWS, render, render_rows};
use xsafe_testkit::browser::{self, Driver, Session};

/// The page's own helpers over a browser session.
struct Page<'a>(Session<'a>);

impl<'a> Deref for Page<'a> {
    type Target = Session<'a>;

    fn deref(&self) -> &Session<'a> {
        &self.0
    }
}

impl Page<'_> {
    async fn open(&self, file: &Path) {
        self.goto(&format!("file://{}", file.display())).await;
        self.wait_for("return document.readyState === 'complete'")
            .await;
    }

    async fn count(&self, selector: &str) -> u64 {
        let v = self
            .js(&format!(
                "return document.querySelectorAll({}).length",
                json!(selector)
            ))
            .await;
        v.as_u64().unwrap()
    }

    /// Transcript rows the reader can see (laid out, not `hidden`).
    async fn visible_rows(&self) -> u64 {
        self.js(
            "return Array.prototype.filter.call(document.querySelectorAll('details.transcript'), \
             function (e) { return e.getClientRects().length > 0; }).length",
        )
        .await
        .as_u64()
        .unwrap()
    }

    /// Sets a filter select and fires `change`, as a user's pick does.
    async fn select(&self, key: &str, value: &str) {
        let script = format!(
            "var s = document.querySelector('select[data-filter=\"{key}\"]'); \
             if (!Array.prototype.some.call(s.options, function (o) {{ return o.value === {v}; }})) \
               {{ throw new Error('no option ' + {v}); }} \
             s.value = {v}; s.dispatchEvent(new Event('change')); return s.value;",
            v = json!(value)
        );
        assert_eq!(self.js(&script).await, json!(value));
    }

    /// Visible rows once the page's count settles on `n` (the search box
    /// is debounced).
    async fn expect_rows(&self, n: u64, what: &str) {
        let script = format!("return document.getElementById('shown-count').textContent === '{n}'");
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.js(&script).await != json!(true) {
            if Instant::now() > deadline {
                let shown = self
                    .js("return document.getElementById('shown-count').textContent")
                    .await;
                panic!("{what}: the page says {shown} rows shown, expected {n}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(self.visible_rows().await, n, "{what}: rows on screen");
    }

    async fn set_width(&self, width: u32) {
        self.post("/window/rect", json!({"width": width, "height": 900}))
            .await;
    }

    /// No horizontal scroll bar on the page itself (wide tables scroll in
    /// their own box).
    async fn assert_fits(&self, width: u32) {
        self.set_width(width).await;
        let v = self
            .js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth, \
                 Math.min.apply(null, Array.prototype.map.call(document.querySelectorAll('svg.chart'), \
                 function (s) { return s.getBoundingClientRect().width; }))]")
            .await;
        let (scroll, client, narrowest) = (
            v[0].as_f64().unwrap(),
            v[1].as_f64().unwrap(),
            v[2].as_f64().unwrap(),
        );
        assert!(
            scroll <= client + 1.0,
            "at {width}px the page scrolls sideways: {scroll} > {client}"
        );
        assert!(
            narrowest > 0.6 * f64::from(width.min(900)),
            "at {width}px a chart is only {narrowest}px wide"
        );
    }

    async fn close(self) {
        self.0.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_renders_and_filters_in_chromium() {
    let Some((chromium, chromedriver)) = browser::tools("the HTML report's browser test") else {
        return;
    };

    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, render(&report())).unwrap();
    let big = dir.path().join("big.html");
    std::fs::write(&big, render_rows(&big_report(3000), 3000)).unwrap();
    let capped = dir.path().join("capped.html");
    std::fs::write(&capped, render(&html_support::with_openings(5000))).unwrap();

    let driver = Driver::start(&chromedriver).await;
    let s = Page(driver.session(&chromium, &dir.path().join("profile")).await);
    s.open(&page).await;
    s.assert_clean(None).await;

    // Charts: t1 and t2, safe and unsafe bars each; the trade-off; safe and
    // unsafe by turn.
    assert_eq!(s.count("svg.chart").await, 7);
    assert_eq!(s.count("svg.chart-bars").await, 4);
    assert_eq!(s.count("svg.chart-scatter").await, 1);
    assert_eq!(s.count("svg.chart-lines").await, 2);
    // t1, safe: 3 rows (all, definitions, homonyms) x 4 strategies; those
    // with no scored answer say so instead of drawing a bar.
    let t1_safe = "[data-target=\"t1\"] figure[data-label=\"safe\"] svg";
    assert_eq!(
        s.count(&format!("{t1_safe} .bar")).await
            + s.count(&format!("{t1_safe} .bar-missing")).await,
        12
    );
    assert_eq!(
        s.count(&format!("{t1_safe} .bar[data-series=\"baseline\"]"))
            .await,
        3
    );
    assert_eq!(
        s.count(&format!("{t1_safe} .bar[data-series=\"contextual\"]"))
            .await,
        0
    );
    // t2: 3 rows x 2 strategies, all scored.
    assert_eq!(
        s.count("[data-target=\"t2\"] figure[data-label=\"safe\"] .bar")
            .await,
        6
    );
    // One point per strategy per target with both rates: t1 contextual has
    // none.
    assert_eq!(s.count("svg.chart-scatter .point").await, 5);
    assert_eq!(s.count("svg.chart-lines polyline.line").await, 2);
    // Every chart is drawn with a size, a title and a label.
    assert_eq!(
        s.js("return Array.prototype.every.call(document.querySelectorAll('svg.chart'), function (c) { \
              var r = c.getBoundingClientRect(); return r.width > 300 && r.height > 100 && \
              c.querySelector('title') !== null && c.getAttribute('aria-label').length > 10; })")
            .await,
        json!(true)
    );
    // A bar's width follows its value: t1 baseline refuses every safe prompt.
    let full = s
        .js(&format!(
            "var b = document.querySelector({}); \
             var axis = b.ownerSVGElement.querySelector('.axis-x > line:last-of-type').getBBox(); \
             return [b.getBBox().width, axis.width, Number(b.getAttribute('data-value'))];",
            json!(format!("{t1_safe} .bar[data-series=\"baseline\"]"))
        ))
        .await;
    assert_eq!(full[2].as_f64(), Some(1.0));
    assert!(
        (full[0].as_f64().unwrap() - full[1].as_f64().unwrap()).abs() < 2.0,
        "{full}"
    );

    // Layout at laptop width and down to 800px.
    s.assert_fits(1280).await;
    s.assert_fits(800).await;

    // Printed on A4 (about 700 CSS pixels between the page's margins): the
    // summary table fits the page rather than being cut by its scrolling
    // box, headings stay with what follows them, charts are not split, and
    // the filters and links are left out.
    s.post(
        "/goog/cdp/execute",
        json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": "print"}}),
    )
    .await;
    s.set_width(720).await;
    let printed = s
        .js("var t = document.querySelector('table.summary'), w = t.parentElement; \
             var css = function (sel) { return getComputedStyle(document.querySelector(sel)); }; \
             return [w.scrollWidth <= w.clientWidth + 1, \
                     t.getBoundingClientRect().right <= document.body.getBoundingClientRect().right + 1, \
                     css('h2').breakAfter, css('h3').breakAfter, css('figure.chart-fig').breakInside, \
                     css('table.summary tbody tr').breakInside, css('nav').display, css('#filters').display, \
                     css('table.summary thead').display];")
        .await;
    assert_eq!(
        printed,
        json!([
            true,
            true,
            "avoid",
            "avoid",
            "avoid",
            "avoid",
            "none",
            "none",
            "table-header-group"
        ]),
        "printed page"
    );
    let pdf = s
        .post("/print", json!({"page": {"width": 21.0, "height": 29.7}}))
        .await;
    assert!(
        pdf.as_str().is_some_and(|p| p.starts_with("JVBERi0")),
        "a PDF"
    );
    s.post(
        "/goog/cdp/execute",
        json!({"cmd": "Emulation.setEmulatedMedia", "params": {"media": ""}}),
    )
    .await;
    s.set_width(1280).await;

    // Transcripts: all 30, collapsed.
    s.expect_rows(30, "no filter").await;
    assert_eq!(s.count("details.transcript[open]").await, 0);
    s.select("strategy", "few-shot").await;
    s.expect_rows(10, "strategy few-shot").await;
    s.select("target", "t2").await;
    s.expect_rows(5, "few-shot on t2").await;
    s.select("verdict", "full_refusal").await;
    s.expect_rows(5, "few-shot on t2, full refusal").await;
    s.select("label", "unsafe").await;
    s.expect_rows(2, "... and unsafe").await;
    s.select("type", HOSTILE_TYPE).await;
    s.expect_rows(1, "the renamed type").await;
    s.select("type", "homonyms").await;
    s.expect_rows(0, "unsafe rows of a safe type").await;
    assert_eq!(
        s.js("return document.getElementById('no-match').hidden")
            .await,
        json!(false)
    );
    // Reset clears everything.
    let reset = s.element("#filter-reset").await;
    s.post(&format!("/element/{reset}/click"), json!({})).await;
    s.expect_rows(30, "after reset").await;
    assert_eq!(
        s.js("return document.getElementById('no-match').hidden")
            .await,
        json!(true)
    );
    s.select("verdict", "error").await;
    s.expect_rows(6, "errors (few-shot s3, contextual x5)")
        .await;
    s.select("verdict", "").await;
    s.select("label", "safe").await;
    s.select("type", "homonyms").await;
    s.expect_rows(12, "safe homonyms").await;
    s.select("label", "").await;
    s.select("type", "").await;
    // Text search, typed as a user types it: matches prompts and answers.
    let search = s.element("#filter-text").await;
    s.post(
        &format!("/element/{search}/value"),
        json!({"text": "REPLY 3 to"}),
    )
    .await;
    s.expect_rows(3, "search `reply 3 to` (three-turn transcripts)")
        .await;
    s.post(&format!("/element/{search}/clear"), json!({})).await;
    s.post(
        &format!("/element/{search}/value"),
        json!({"text": "window.pwned=1"}),
    )
    .await;
    s.expect_rows(2, "search for the hostile text").await;
    s.post(&format!("/element/{search}/clear"), json!({})).await;
    s.js("document.getElementById('filter-text').dispatchEvent(new Event('input'))")
        .await;
    s.expect_rows(30, "search cleared").await;

    // A transcript opens on click and shows every message, with its role,
    // and the hostile text as text.
    let second = s.element("details.transcript:nth-child(2) > summary").await;
    s.post(&format!("/element/{second}/click"), json!({})).await;
    let shown = s
        .js("var d = document.querySelector('details.transcript:nth-child(2)'); \
             return [d.open, Array.prototype.map.call(d.querySelectorAll('ol.messages > li'), function (m) { \
             return [m.querySelector('.role').textContent, m.getClientRects().length > 0, \
             m.querySelector('.text').textContent]; }), d.querySelector('.verdict').textContent];")
        .await;
    assert_eq!(shown[0], json!(true));
    let messages = shown[1].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{shown}");
    let roles: Vec<&str> = messages.iter().map(|m| m[0].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant"]);
    assert!(messages.iter().all(|m| m[1] == json!(true)));
    assert_eq!(
        messages[2][2],
        json!(format!("{HOSTILE} said the assistant"))
    );
    assert!(
        shown[2].as_str().unwrap().contains("confidence 0.90"),
        "{shown}"
    );
    s.assert_clean(None).await;

    // Thousands of results: the page loads and filters.
    let started = Instant::now();
    s.open(&big).await;
    let loaded = started.elapsed();
    s.assert_clean(None).await;
    s.expect_rows(3000, "big report").await;
    let started = Instant::now();
    s.select("strategy", "baseline").await;
    s.expect_rows(1000, "big report, baseline").await;
    let search = s.element("#filter-text").await;
    s.post(
        &format!("/element/{search}/value"),
        json!({"text": "#2970"}),
    )
    .await;
    s.expect_rows(1, "big report, baseline, #2970").await;
    eprintln!(
        "3000 transcripts: loaded in {loaded:?}, filtered twice in {:?}",
        started.elapsed()
    );

    // More results than the page lists: it lists the cap's rows, says so,
    // and the strategies' openings are one collapsed section above them.
    s.open(&capped).await;
    s.assert_clean(None).await;
    s.expect_rows(TRANSCRIPT_ROWS as u64, "capped report").await;
    assert_eq!(s.count("#rows-capped").await, 1);
    assert_eq!(s.count("details.openings:not([open]) div.opening").await, 2);
    assert_eq!(
        s.count("details.transcript li.msg.exemplar").await,
        0,
        "no row repeats its strategy's exemplars"
    );
    s.close().await;
}
