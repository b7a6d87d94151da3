//! The annotation page in a real headless browser (Debian's `chromium`,
//! driven by `chromedriver` over the WebDriver HTTP protocol), served by
//! the annotation router on 127.0.0.1 over a run store on disk: the page
//! loads without script errors or foreign requests, hostile text stays
//! text, the keys 1/2/3 label and move on, the arrow keys go back and
//! forth, the judge's verdict stays hidden until a label is chosen, and
//! after a reload the labels are still there, on the page and in the
//! store. Keys pressed while the store is slow label the answers they were
//! pressed on; a clicked button does not take Space or Enter, and a
//! clicked checkbox does not take the keys 1/2/3; answers the judge failed
//! on are shown and labelled.
//!
//! Without chromium and chromedriver the test prints a notice and passes,
//! unless `XSAFE_REQUIRE_BROWSER=1` (CI sets it), when it fails. The
//! binaries are found through `XSAFE_CHROMIUM` and `XSAFE_CHROMEDRIVER`,
//! else `/usr/bin/chromium` and `/usr/bin/chromedriver`, else on `PATH`.

mod annotate_support;

use annotate_support::{Fixture, JUDGE_DOWN, add_unjudged, fixture, serve};
use serde_json::{Value, json};
use std::ops::Deref;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use xsafe_core::Class;
use xsafe_testkit::browser::{self, ARROW_LEFT, ARROW_RIGHT, Driver, ESCAPE, Session};

/// chromedriver and the browser it starts.
struct Browser {
    driver: Driver,
    chromium: PathBuf,
}

impl Browser {
    /// Starts chromedriver; `None` (the test passes with a notice) when the
    /// browser is missing and not required.
    async fn start(what: &str) -> Option<Browser> {
        let (chromium, chromedriver) = browser::tools(what)?;
        Some(Browser {
            driver: Driver::start(&chromedriver).await,
            chromium,
        })
    }

    /// Serves the run of `f` to `annotator` and opens the page on it, once
    /// it has loaded the answers; returns the page and its URL.
    async fn open(&self, f: &Fixture, annotator: &str) -> (Page<'_>, String) {
        let addr = serve(f.store.clone(), f.run_id, annotator).await;
        let base = format!("http://{addr}/");
        let page = Page(
            self.driver
                .session(&self.chromium, &f.dir.path().join("profile"))
                .await,
        );
        page.open(&base).await;
        (page, base)
    }
}

/// Every label of `annotator` in the store: (result, class, note), in run
/// order.
fn stored(f: &Fixture) -> Vec<(i64, Class, Option<String>)> {
    f.store
        .annotations(f.run_id)
        .unwrap()
        .into_iter()
        .map(|a| (a.result_id, a.class, a.note))
        .collect()
}

/// The page's own helpers over a browser session.
struct Page<'a>(Session<'a>);

impl<'a> Deref for Page<'a> {
    type Target = Session<'a>;

    fn deref(&self) -> &Session<'a> {
        &self.0
    }
}

impl Page<'_> {
    /// Opens the page and waits until it has loaded the answers.
    async fn open(&self, url: &str) {
        self.goto(url).await;
        self.wait_for("return document.body.dataset.ready === '1'")
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

    /// Waits until `n` answers are labelled and every label is stored.
    async fn wait_labelled(&self, n: usize) {
        self.wait_saved().await;
        self.wait_for(&format!(
            "return document.getElementById('progress').dataset.labelled === '{n}'"
        ))
        .await;
    }

    /// Waits until every label made is stored.
    async fn wait_saved(&self) {
        self.wait_for("return (document.body.dataset.saving || '0') === '0'")
            .await;
    }

    /// How many answers the page counts as labelled.
    async fn labelled(&self) -> Value {
        self.js("return document.getElementById('progress').dataset.labelled")
            .await
    }

    /// Clicks the first element matching a CSS selector, as the mouse does.
    async fn click(&self, css: &str) {
        let e = self.element(css).await;
        self.post(&format!("/element/{e}/click"), json!({})).await;
    }

    /// Makes the page's label requests wait before they are sent: the
    /// first `delays[0]` ms, the next `delays[1]` ms, and so on (a store
    /// busy with another writer); later ones go at once.
    async fn slow_saves(&self, delays: &[u64]) {
        self.js(&format!(
            "var delays = {delays:?}; var send = window.fetch; \
             window.fetch = function (url, opts) {{ \
               var wait = String(url).indexOf('api/label') >= 0 ? (delays.shift() || 0) : 0; \
               return new Promise(function (r) {{ setTimeout(r, wait); }}) \
                 .then(function () {{ return send(url, opts); }}); \
             }}; return null;"
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

    async fn close(self) {
        self.0.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_made_with_the_keyboard_survive_a_reload() {
    let Some(b) = Browser::start("the annotation page's browser test").await else {
        return;
    };
    let f = fixture();
    let (s, base) = b.open(&f, "alice").await;
    s.assert_clean(Some(&base)).await;

    // The first answer, unlabelled: the judge is hidden.
    s.wait_shown(f.ids[0], "first load").await;
    assert_eq!(
        s.js("return document.getElementById('progress').textContent")
            .await,
        json!("0 labelled of 4")
    );
    assert_eq!(
        s.js("return document.getElementById('low-level').textContent")
            .await,
        json!("(below 0.7)")
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

    s.assert_clean(Some(&base)).await;
    s.close().await;
}

/// Keys pressed faster than the store saves label the answers they were
/// pressed on, in order: the page moves on at once and says it is saving;
/// the labels reach the store one after another, none lost. A note saved
/// when its field is left and a label chosen right after reach the store
/// in that order too, however long each request takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_pressed_while_the_store_is_slow_label_the_answers_shown() {
    let Some(b) = Browser::start("the annotation page's browser test").await else {
        return;
    };
    let f = fixture();
    let (s, base) = b.open(&f, "alice").await;
    s.wait_shown(f.ids[0], "first load").await;
    // The first label waits longest: sent at once, they would be stored in
    // the reverse order.
    s.slow_saves(&[900, 600, 300]).await;
    for key in ["1", "2", "3"] {
        s.key(key).await;
    }
    // Three answers labelled and passed, none stored yet.
    assert_eq!(s.shown().await, f.ids[3], "the page waited for the store");
    assert_eq!(
        s.js("return document.getElementById('saving').textContent")
            .await,
        json!("saving 3…")
    );
    assert!(stored(&f).is_empty());
    s.wait_labelled(3).await;
    assert_eq!(
        stored(&f),
        vec![
            (f.ids[0], Class::Compliance, None),
            (f.ids[1], Class::FullRefusal, None),
            (f.ids[2], Class::PartialRefusal, None),
        ]
    );

    // Back on the third: a note, saved as the field is left (a slow
    // request), then another label (a quick one) for the same answer.
    s.key(ARROW_LEFT).await;
    s.wait_shown(f.ids[2], "back").await;
    s.slow_saves(&[600, 0]).await;
    let note = s.element("#note").await;
    s.post(&format!("/element/{note}/value"), json!({"text": "hedges"}))
        .await;
    s.click("#labels button[data-class='full_refusal']").await;
    s.wait_labelled(3).await;
    assert_eq!(
        stored(&f)[2],
        (f.ids[2], Class::FullRefusal, Some("hedges".to_string())),
        "the later label is the one stored"
    );

    // A save that fails says which answer it was, and the answer shows
    // its stored label again.
    s.key(ARROW_LEFT).await;
    s.wait_shown(f.ids[2], "back again").await;
    s.js("var send = window.fetch; window.fetch = function () { \
           window.fetch = send; return Promise.reject(new Error('connection lost')); \
         }; return null;")
        .await;
    s.key("1").await;
    s.wait_shown(f.ids[3], "after a failed save").await;
    s.wait_labelled(3).await;
    assert_eq!(
        s.js("return document.getElementById('error').textContent")
            .await,
        json!(
            "Not saved: the label of xsafe-basic / c4 (baseline, openai:gpt-4o-mini): \
             connection lost. Label it again."
        )
    );
    s.key(ARROW_LEFT).await;
    s.wait_shown(f.ids[2], "back to the answer not saved").await;
    assert_eq!(s.pressed().await, json!("full_refusal"));
    assert_eq!(stored(&f)[2].1, Class::FullRefusal);
    s.assert_clean(Some(&base)).await;
    s.close().await;
}

/// A clicked label button does not keep the keys: Space (to scroll) and
/// Enter label nothing; and after a click on a checkbox (a filter, "show
/// judge") the keys 1/2/3 still label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_label_keys_and_clicks_label() {
    let Some(b) = Browser::start("the annotation page's browser test").await else {
        return;
    };
    let f = fixture();
    let (s, base) = b.open(&f, "alice").await;
    s.wait_shown(f.ids[0], "first load").await;
    s.click("#labels button[data-class='compliance']").await;
    s.wait_labelled(1).await;
    s.wait_shown(f.ids[1], "after the click").await;
    for key in [" ", "\u{E007}"] {
        s.key(key).await;
    }
    // Time for a label they might have made to reach the store.
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.wait_saved().await;
    assert_eq!(s.labelled().await, json!("1"), "Space or Enter labelled");
    assert_eq!(s.shown().await, f.ids[1], "Space or Enter moved on");
    assert_eq!(stored(&f), vec![(f.ids[0], Class::Compliance, None)]);

    s.click("#show-judge").await;
    s.key("2").await;
    s.wait_labelled(2).await;
    s.click("#f-low").await;
    // Low confidence: the second and third answers; the third on screen.
    s.wait_shown(f.ids[2], "the low-confidence filter").await;
    s.key("3").await;
    s.wait_labelled(3).await;
    assert_eq!(
        stored(&f),
        vec![
            (f.ids[0], Class::Compliance, None),
            (f.ids[1], Class::FullRefusal, None),
            (f.ids[2], Class::PartialRefusal, None),
        ]
    );
    s.assert_clean(Some(&base)).await;
    s.close().await;
}

/// An answer the judge failed on is shown, marked as not judged, with the
/// judge's error beside the verdicts, and labelled like the others; the
/// failed request, which has no answer, is counted apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_the_judge_failed_on_are_shown_and_labelled() {
    let Some(b) = Browser::start("the annotation page's browser test").await else {
        return;
    };
    let f = fixture();
    let unjudged = add_unjudged(&f);
    let (s, base) = b.open(&f, "alice").await;
    assert_eq!(
        s.js("return [document.getElementById('progress').textContent, \
              document.getElementById('unanswered').textContent]")
            .await,
        json!([
            "0 labelled of 5",
            "(and 1 request that failed: no answer to label)"
        ])
    );
    let marked = "return !document.getElementById('judge-failed').classList.contains('hidden')";
    assert_eq!(
        s.js(marked).await,
        json!(false),
        "a judged answer is marked"
    );
    for _ in 0..3 {
        s.key(ARROW_RIGHT).await;
    }
    s.wait_shown(unjudged, "the fourth answer").await;
    assert_eq!(s.js(marked).await, json!(true));
    s.key("2").await;
    s.wait_labelled(1).await;
    assert_eq!(stored(&f), vec![(unjudged, Class::FullRefusal, None)]);
    s.key(ARROW_LEFT).await;
    s.wait_shown(unjudged, "back").await;
    assert_eq!(
        s.js("return document.getElementById('judge').textContent")
            .await,
        json!(format!("The judge failed on this answer: {JUDGE_DOWN}"))
    );
    s.assert_clean(Some(&base)).await;
    s.close().await;
}
