//! The annotation page in a real headless browser (see
//! `annotate_browser.rs` for the set-up), on what a reviewer labelling
//! answers met: a label key held down labels one answer, not every answer
//! its repeats reach; a run still running says so, and the answers it adds
//! join the page (looked for now and then, or on "load new answers")
//! without labelling any unread; an empty answer says it is empty and one
//! cut by the token limit is marked "(cut)"; the error of a label not
//! saved goes once a later label is saved; a deleted run says it was
//! deleted; the agreement panel's `n` is `stats`'s; a page opened earlier
//! does not replace a label another page (or an import) stored since, and
//! shows it; unscored answers are counted and filtered apart from low
//! confidence.
//!
//! Without chromium and chromedriver the tests print a notice and pass,
//! unless `XSAFE_REQUIRE_BROWSER=1`.

mod annotate_support;

use annotate_support::{Fixture, fixture, serve_state};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use xsafe_core::{Case, Class, FinishReason, Label, Message, Transcript, Verdict};
use xsafe_server::annotate::AnnotateState;
use xsafe_store::{ResultKey, RunStatus, Timing};
use xsafe_testkit::browser::{self, ARROW_LEFT, ARROW_RIGHT, Driver, ESCAPE, Session};

struct Browser {
    driver: Driver,
    chromium: PathBuf,
}

impl Browser {
    async fn start(what: &str) -> Option<Browser> {
        let (chromium, chromedriver) = browser::tools(what)?;
        Some(Browser {
            driver: Driver::start(&chromedriver).await,
            chromium,
        })
    }

    /// Serves `state` over the run of `f` and opens the page on it, once it
    /// has loaded the answers; returns the session and the page's URL.
    async fn open(&self, f: &Fixture, state: AnnotateState) -> (Session<'_>, String) {
        self.open_in(f, state, "profile").await
    }

    /// [`Browser::open`] in a browser of its own, whose profile is the
    /// folder `profile` of the fixture's: a second page open at once.
    async fn open_in(
        &self,
        f: &Fixture,
        state: AnnotateState,
        profile: &str,
    ) -> (Session<'_>, String) {
        let addr = serve_state(state).await;
        let base = format!("http://{addr}/");
        let s = self
            .driver
            .session(&self.chromium, &f.dir.path().join(profile))
            .await;
        s.goto(&base).await;
        s.wait_for("return document.body.dataset.ready === '1'")
            .await;
        (s, base)
    }
}

/// The result id of the answer on screen (0 for none).
async fn shown(s: &Session<'_>) -> i64 {
    s.js("return Number(document.body.dataset.resultId || 0)")
        .await
        .as_i64()
        .unwrap()
}

async fn text(s: &Session<'_>, id: &str) -> String {
    s.js(&format!(
        "return document.getElementById('{id}').textContent"
    ))
    .await
    .as_str()
    .unwrap()
    .to_string()
}

async fn visible(s: &Session<'_>, id: &str) -> bool {
    s.js(&format!(
        "var e = document.getElementById('{id}'); \
         return !e.classList.contains('hidden') && e.getClientRects().length > 0"
    ))
    .await
    .as_bool()
    .unwrap()
}

async fn view(s: &Session<'_>) -> Value {
    s.js("return document.body.dataset.view || null").await
}

/// Waits until every label made is stored and `n` answers are labelled.
async fn wait_labelled(s: &Session<'_>, n: usize) {
    s.wait_for("return (document.body.dataset.saving || '0') === '0'")
        .await;
    s.wait_for(&format!(
        "return document.getElementById('progress').dataset.labelled === '{n}'"
    ))
    .await;
}

/// A keydown as a key held down sends after the first: `repeat` set.
async fn held(s: &Session<'_>, key: &str) {
    s.js(&format!(
        "document.body.dispatchEvent(new KeyboardEvent('keydown', \
           {{ key: {key:?}, repeat: true, bubbles: true, cancelable: true }})); return null;"
    ))
    .await;
}

/// Adds case `case_id` to the run of `f` under `baseline`, answered with
/// `answer` (stopped for `finish`) and judged by `verdict`; its id.
fn add_answer(
    f: &Fixture,
    case_id: &str,
    answer: &str,
    finish: FinishReason,
    verdict: Verdict,
) -> i64 {
    let prompt = format!("Question {case_id}?");
    let case = Case {
        id: case_id.into(),
        prompt: prompt.clone(),
        kind: "homonyms".into(),
        label: Label::Safe,
        focus: None,
        note: None,
    };
    f.store.add_cases(f.run_id, "xsafe-basic", &[case]).unwrap();
    let transcript = Transcript {
        messages: vec![Message::user(&prompt), Message::assistant(answer)],
        finish_reason: Some(finish),
        complied_at_turn: None,
        opening: Some(1),
    };
    let key = ResultKey {
        run_id: f.run_id,
        target: "openai:gpt-4o-mini".into(),
        strategy: "baseline".into(),
        suite: "xsafe-basic".into(),
        case_id: case_id.into(),
        sample: 0,
    };
    f.store
        .record_result(&key, &transcript, &verdict, Timing::default())
        .unwrap()
}

fn compliance() -> Verdict {
    Verdict::scored(Class::Compliance, 0.9, "strmatch@1")
}

/// Holding 1 (or the right arrow) down labels (or passes) the answer on
/// screen once: the key's repeats do nothing, and the next press labels
/// the next answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_key_labels_one_answer() {
    let Some(b) = Browser::start("the held-key browser test").await else {
        return;
    };
    let f = fixture();
    let (s, base) = b
        .open(&f, AnnotateState::new(f.store.clone(), f.run_id, "alice"))
        .await;
    assert_eq!(shown(&s).await, f.ids[0]);
    s.key("1").await;
    for _ in 0..5 {
        held(&s, "1").await;
    }
    wait_labelled(&s, 1).await;
    assert_eq!(shown(&s).await, f.ids[1], "the repeats passed no answer");
    for _ in 0..3 {
        held(&s, ARROW_RIGHT).await;
        held(&s, "ArrowRight").await;
    }
    assert_eq!(shown(&s).await, f.ids[1], "nor did the right arrow's");
    // The same event, not a repeat, labels: the page does hear it.
    s.js("document.body.dispatchEvent(new KeyboardEvent('keydown', \
           { key: '2', bubbles: true, cancelable: true })); return null;")
        .await;
    wait_labelled(&s, 2).await;
    assert_eq!(shown(&s).await, f.ids[2]);
    let stored: Vec<(i64, Class)> = f
        .store
        .annotations(f.run_id)
        .unwrap()
        .into_iter()
        .map(|a| (a.result_id, a.class))
        .collect();
    assert_eq!(
        stored,
        [
            (f.ids[0], Class::Compliance),
            (f.ids[1], Class::FullRefusal)
        ]
    );
    s.assert_clean(Some(&base)).await;
    s.close().await;
}

/// A run still running: the header says so; past its last answer the page
/// says every answer *so far* is labelled and that more will come; the
/// answers the run adds are read every `refresh` and join the page, the
/// end card counting them as new (no key labels them unread); "load new
/// answers" looks at once. Once the run is complete the page says every
/// answer is labelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_run_says_more_answers_will_come_and_loads_them() {
    let Some(b) = Browser::start("the running-run browser test").await else {
        return;
    };
    let f = fixture();
    f.store
        .set_run_status(f.run_id, RunStatus::Running)
        .unwrap();
    let record = f.store.run_by_id(f.run_id).unwrap();
    let lock = f.store.lock_run(&record).unwrap();
    let state =
        AnnotateState::new(f.store.clone(), f.run_id, "alice").with_refresh(Duration::from_secs(1));
    let (s, base) = b.open(&f, state).await;
    assert!(visible(&s, "run-state").await);
    assert_eq!(
        text(&s, "run-state").await,
        "run r1 is still running: new answers are loaded every 1 s"
    );
    for key in ["1", "2", "1", "1"] {
        s.key(key).await;
    }
    wait_labelled(&s, 4).await;
    assert_eq!(view(&s).await, json!("done"));
    assert_eq!(
        text(&s, "done-title").await,
        "Every answer in this run so far is labelled"
    );
    assert!(
        text(&s, "done-more")
            .await
            .starts_with("The run is still running: more answers will come."),
        "{}",
        text(&s, "done-more").await
    );
    assert!(visible(&s, "done-refresh").await);

    // The run adds an answer: the page reads it within a second or two,
    // stays at the end, and counts it as new; a key labels nothing.
    let new = add_answer(&f, "c7", "A new answer.", FinishReason::Stop, compliance());
    s.wait_for("return document.getElementById('progress').textContent === '4 labelled of 5'")
        .await;
    assert_eq!(view(&s).await, json!("done"));
    assert_eq!(text(&s, "done-title").await, "End of this run so far");
    assert_eq!(
        text(&s, "done-text").await,
        "You are past its last answer. 1 answer of its 5 is not labelled yet (new since you came here)."
    );
    s.key("3").await;
    assert_eq!(view(&s).await, json!("done"), "the key labelled nothing");
    assert!(visible(&s, "done-next").await, "{}", text(&s, "done").await);
    s.click_id("done-next").await;
    assert_eq!(shown(&s).await, new);
    s.key("3").await;
    wait_labelled(&s, 5).await;
    // The new answer came in run order, before the few-shot one.
    assert_eq!(shown(&s).await, f.ids[3]);
    s.key(ARROW_RIGHT).await;
    assert_eq!(view(&s).await, json!("done"));

    // The run ends: the next look finds that.
    f.store
        .set_run_status(f.run_id, RunStatus::Complete)
        .unwrap();
    drop(lock);
    s.wait_for("return document.body.dataset.runStatus === 'complete'")
        .await;
    assert!(!visible(&s, "run-state").await);
    assert!(!visible(&s, "done-refresh").await);
    assert_eq!(
        text(&s, "done-title").await,
        "Every answer in this run is labelled",
        "{} {}",
        text(&s, "done-text").await,
        text(&s, "progress").await
    );
    s.assert_clean(Some(&base)).await;
    s.close().await;
}

/// A run stopped before its end says that not every case has its answer,
/// and the end card does not say every answer is labelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_is_not_said_to_be_all_labelled() {
    let Some(b) = Browser::start("the interrupted-run browser test").await else {
        return;
    };
    let f = fixture();
    // Stored as running, held by no process: interrupted.
    f.store
        .set_run_status(f.run_id, RunStatus::Running)
        .unwrap();
    let (s, base) = b
        .open(&f, AnnotateState::new(f.store.clone(), f.run_id, "alice"))
        .await;
    assert_eq!(
        text(&s, "run-state").await,
        "run r1 stopped before its end: not every case has its answer yet"
    );
    for key in ["1", "2", "1", "1"] {
        s.key(key).await;
    }
    wait_labelled(&s, 4).await;
    assert_eq!(
        text(&s, "done-title").await,
        "Every answer in this run so far is labelled"
    );
    assert!(
        text(&s, "done-more")
            .await
            .starts_with("The run stopped before its end"),
        "{}",
        text(&s, "done-more").await
    );
    // Resumed, it adds an answer: "load new answers" reads it at once.
    let record = f.store.run_by_id(f.run_id).unwrap();
    let lock = f.store.lock_run(&record).unwrap();
    let new = add_answer(&f, "c7", "A new answer.", FinishReason::Stop, compliance());
    s.click_id("done-refresh").await;
    s.wait_for("return document.body.dataset.runStatus === 'running'")
        .await;
    assert_eq!(text(&s, "notice").await, "1 new answer loaded.");
    assert_eq!(text(&s, "progress").await, "4 labelled of 5");
    assert_eq!(view(&s).await, json!("done"));
    s.click_id("done-next").await;
    assert_eq!(shown(&s).await, new);
    // On an answer, the header's button says when nothing came.
    s.click_id("refresh").await;
    s.wait_for(
        "return document.getElementById('nav-status').textContent === 'No new answers yet.'",
    )
    .await;
    assert_eq!(shown(&s).await, new);
    drop(lock);
    s.assert_clean(Some(&base)).await;
    s.close().await;
}

/// An empty answer says "(empty answer)" rather than showing an empty
/// block; an answer cut by the token limit is marked "(cut)", in the
/// answer's line and on its reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_and_cut_answers_are_marked() {
    let Some(b) = Browser::start("the empty-answer browser test").await else {
        return;
    };
    let f = fixture();
    let empty = add_answer(&f, "c7", "", FinishReason::Stop, compliance());
    let cut = add_answer(
        &f,
        "c8",
        "The first half of an answ",
        FinishReason::Length,
        compliance(),
    );
    let (s, base) = b
        .open(&f, AnnotateState::new(f.store.clone(), f.run_id, "alice"))
        .await;
    let transcript = |id: i64| {
        format!(
            "var t = document.getElementById('transcript'); \
             return t.dataset.resultId === '{id}' && t.dataset.state === 'shown'"
        )
    };
    assert!(!visible(&s, "cut").await, "a whole answer is not cut");
    s.wait_for(&transcript(f.ids[0])).await;
    assert_eq!(
        s.js("return document.querySelectorAll('#transcript .msg.assistant .empty').length")
            .await,
        json!(0)
    );
    for _ in 0..3 {
        s.key(ARROW_RIGHT).await;
    }
    // Run order: c1, c2, c4, c7, c8 under baseline, then c3.
    assert_eq!(shown(&s).await, empty);
    s.wait_for(&transcript(empty)).await;
    assert_eq!(
        s.js(
            "var m = document.querySelector('#transcript .msg.assistant'); \
              return [m.querySelector('.role').textContent, m.querySelector('.empty').textContent]"
        )
        .await,
        json!(["assistant", "(empty answer)"])
    );
    assert!(!visible(&s, "cut").await);
    s.key(ARROW_RIGHT).await;
    assert_eq!(shown(&s).await, cut);
    s.wait_for(&transcript(cut)).await;
    assert!(visible(&s, "cut").await);
    assert_eq!(
        text(&s, "cut").await,
        "(cut): the answer reached the token limit"
    );
    assert_eq!(
        s.js("var m = document.querySelectorAll('#transcript .msg'); \
              return [m[0].querySelector('.role').textContent, m[1].querySelector('.role').textContent]")
            .await,
        json!(["user", "assistant (cut)"])
    );
    s.assert_clean(Some(&base)).await;
    s.close().await;
}

/// The error of a label that was not saved stays while the labels made
/// before it are stored, and goes once a label made after it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_goes_once_a_later_label_is_saved() {
    let Some(b) = Browser::start("the error-box browser test").await else {
        return;
    };
    let f = fixture();
    let (s, base) = b
        .open(&f, AnnotateState::new(f.store.clone(), f.run_id, "alice"))
        .await;
    // The first label's request is lost, after the second label is made
    // (which waits behind it, and is saved).
    s.js(
        "var send = window.fetch; var n = 0; window.fetch = function (url, opts) { \
           if (String(url).indexOf('api/label') < 0) { return send(url, opts); } \
           n += 1; \
           if (n === 1) { return new Promise(function (r) { setTimeout(r, 500); }) \
             .then(function () { throw new Error('connection lost'); }); } \
           return send(url, opts); \
         }; return null;",
    )
    .await;
    s.key("1").await;
    s.key("2").await;
    s.wait_for("return (document.body.dataset.saving || '0') === '0'")
        .await;
    assert!(
        visible(&s, "error").await,
        "the lost label is named: {:?} {:?}",
        text(&s, "error").await,
        s.js("return [window.xsafeErrors, document.getElementById('error').className]")
            .await
    );
    assert!(
        text(&s, "error")
            .await
            .starts_with("Not saved: the label of xsafe-basic / c1"),
        "{}",
        text(&s, "error").await
    );
    // A label made after the error, and saved: the error goes.
    s.key("3").await;
    wait_labelled(&s, 2).await;
    assert!(!visible(&s, "error").await);
    assert_eq!(text(&s, "error").await, "");
    assert_eq!(f.store.annotations(f.run_id).unwrap().len(), 2);
    s.assert_clean(Some(&base)).await;
    s.close().await;
}

/// After the run is deleted, a label says the run was deleted, and the
/// page shows that in place of the answers (not "no answers match").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_run_says_it_was_deleted() {
    let Some(b) = Browser::start("the deleted-run browser test").await else {
        return;
    };
    let f = fixture();
    let (s, _base) = b
        .open(&f, AnnotateState::new(f.store.clone(), f.run_id, "alice"))
        .await;
    f.store.delete_run(f.run_id).unwrap();
    s.key("1").await;
    s.wait_for("return document.body.dataset.view === 'deleted'")
        .await;
    assert!(visible(&s, "gone").await);
    assert!(!visible(&s, "none").await);
    assert!(!visible(&s, "item").await);
    assert!(
        text(&s, "gone-text")
            .await
            .starts_with("run `r1` was deleted (`xsafe runs delete`) after this page was opened"),
        "{}",
        text(&s, "gone-text").await
    );
    let error = text(&s, "error").await;
    assert!(
        error.starts_with("Not saved: the label of xsafe-basic / c1")
            && error.contains("run `r1` was deleted")
            && !error.contains("in this run"),
        "{error}"
    );
    // The keys do nothing more.
    s.key("2").await;
    assert_eq!(view(&s).await, json!("deleted"));
    assert_eq!(
        s.js("return window.xsafeErrors").await,
        json!([]),
        "no script error"
    );
    s.close().await;
}

/// The agreement panel's `n` is every answer compared, those the judge
/// left unscored included, with `scored` beside it, as `annotate stats`
/// prints them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agreement_panel_counts_n_as_stats_does() {
    let Some(b) = Browser::start("the agreement browser test").await else {
        return;
    };
    let f = fixture();
    let unscored = add_answer(
        &f,
        "c7",
        "Sure.",
        FinishReason::Stop,
        Verdict::unscored("echoes the instructions", "strmatch@1"),
    );
    f.store
        .annotate(f.ids[0], "alice", Class::Compliance, None)
        .unwrap();
    f.store
        .annotate(unscored, "alice", Class::Compliance, None)
        .unwrap();
    let (s, base) = b
        .open(&f, AnnotateState::new(f.store.clone(), f.run_id, "alice"))
        .await;
    s.js("document.getElementById('agreement-box').open = true; return null;")
        .await;
    s.wait_for("return document.querySelectorAll('#agreement section').length === 1")
        .await;
    let figures = s
        .js("return document.querySelector('#agreement .figures').textContent")
        .await;
    assert!(
        figures
            .as_str()
            .unwrap()
            .starts_with("n 2, scored 1 (1 unscored by the judge), agreement 100.0%, kappa "),
        "{figures}"
    );
    s.assert_clean(Some(&base)).await;
    s.close().await;
}

/// Clicks the element with this id, as the mouse does.
trait ClickId {
    async fn click_id(&self, id: &str);
}

impl ClickId for Session<'_> {
    async fn click_id(&self, id: &str) {
        let e = self.element(&format!("#{id}")).await;
        self.post(&format!("/element/{e}/click"), json!({})).await;
    }
}

/// alice's labels in the store: (result, class, note), in run order.
fn alices(f: &Fixture) -> Vec<(i64, Class, Option<String>)> {
    f.store
        .annotations(f.run_id)
        .unwrap()
        .into_iter()
        .filter(|a| a.annotator == "alice")
        .map(|a| (a.result_id, a.class, a.note))
        .collect()
}

/// The value of the note field.
async fn note(s: &Session<'_>) -> Value {
    s.js("return document.getElementById('note').value").await
}

/// The label button shown pressed, or null.
async fn pressed(s: &Session<'_>) -> Value {
    s.js(
        "var b = document.querySelector('#labels button[aria-pressed=\"true\"]'); \
         return b ? b.dataset.class : null;",
    )
    .await
}

/// Two pages labelling as alice (two `xsafe annotate` processes on one
/// store, or two tabs): a label made in the page opened earlier, on an
/// answer the other labelled since, is not saved over it; the page says
/// so, shows the stored label and note, and a label made again there is
/// saved, keeping the note it now shows. A label stored elsewhere (an
/// import) shows when the page is come back to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_opened_earlier_does_not_replace_a_newer_label() {
    let Some(b) = Browser::start("the two-pages browser test").await else {
        return;
    };
    let f = fixture();
    let alice = || AnnotateState::new(f.store.clone(), f.run_id, "alice");
    let (tab_a, base_a) = b.open_in(&f, alice(), "profile-a").await;
    let (tab_b, _) = b.open_in(&f, alice(), "profile-b").await;
    let first = f.ids[0];
    assert_eq!(shown(&tab_a).await, first);
    assert_eq!(shown(&tab_b).await, first);

    // Tab A: a note, then 2.
    let field = tab_a.element("#note").await;
    tab_a
        .post(
            &format!("/element/{field}/value"),
            json!({"text": "A careful note"}),
        )
        .await;
    tab_a.key(ESCAPE).await;
    tab_a.key("2").await;
    wait_labelled(&tab_a, 1).await;
    let careful = (
        first,
        Class::FullRefusal,
        Some("A careful note".to_string()),
    );
    assert_eq!(alices(&f), vec![careful.clone()]);

    // Tab B, loaded before: 1 is refused, and nothing changes.
    tab_b.key("1").await;
    tab_b
        .wait_for("return (document.body.dataset.saving || '0') === '0'")
        .await;
    assert_eq!(alices(&f), vec![careful]);
    let error = text(&tab_b, "error").await;
    assert!(
        error.starts_with(&format!(
            "Not saved: the label of xsafe-basic / c1 (baseline, openai:gpt-4o-mini): `alice`'s \
             label of answer {first} changed after this page read it (in another tab, another \
             `xsafe annotate` as `alice`, or `xsafe annotate import`): it is now `full_refusal` \
             with the note \"A careful note\", saved at "
        )) && error.ends_with(
            "; nothing was saved: label the answer again to replace it. The page now shows \
             the stored label and note."
        ),
        "{error}"
    );
    assert!(visible(&tab_b, "error").await);
    // Back on the answer: the stored label and note.
    tab_b.key(ARROW_LEFT).await;
    tab_b
        .wait_for(&format!(
            "return document.body.dataset.resultId === '{first}'"
        ))
        .await;
    assert_eq!(pressed(&tab_b).await, json!("full_refusal"));
    assert_eq!(note(&tab_b).await, json!("A careful note"));
    assert_eq!(text(&tab_b, "note-status").await, "");
    assert_eq!(text(&tab_b, "progress").await, "1 labelled of 4");
    // Labelled again, knowingly: saved, with the note it shows.
    tab_b.key("1").await;
    wait_labelled(&tab_b, 1).await;
    assert_eq!(
        alices(&f),
        vec![(first, Class::Compliance, Some("A careful note".to_string()))]
    );
    assert!(!visible(&tab_b, "error").await);

    // A label stored elsewhere while tab B shows the answer (an import):
    // coming back to the page reads it (at most every 5 s).
    let second = f.ids[1];
    assert_eq!(shown(&tab_b).await, second);
    f.store
        .annotate(second, "alice", Class::PartialRefusal, Some("imported"))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5200)).await;
    tab_b
        .js("window.dispatchEvent(new Event('focus')); return null;")
        .await;
    tab_b
        .wait_for("return document.getElementById('progress').dataset.labelled === '2'")
        .await;
    assert_eq!(pressed(&tab_b).await, json!("partial_refusal"));
    assert_eq!(note(&tab_b).await, json!("imported"));
    assert!(
        text(&tab_b, "nav-status")
            .await
            .starts_with("Your label of this answer was changed elsewhere"),
        "{}",
        text(&tab_b, "nav-status").await
    );
    // Which a label made now replaces, as the page showed it.
    tab_b.key("2").await;
    wait_labelled(&tab_b, 2).await;
    assert_eq!(
        alices(&f)[1],
        (second, Class::FullRefusal, Some("imported".to_string()))
    );
    // A note typed on an answer labelled elsewhere meanwhile is kept as a
    // draft when the label is refused, and saved with the next label.
    let third = f.ids[2];
    assert_eq!(shown(&tab_b).await, third);
    f.store
        .annotate(third, "alice", Class::Compliance, None)
        .unwrap();
    let field = tab_b.element("#note").await;
    tab_b
        .post(
            &format!("/element/{field}/value"),
            json!({"text": "my view"}),
        )
        .await;
    tab_b.key(ESCAPE).await;
    tab_b.key("3").await;
    tab_b
        .wait_for("return (document.body.dataset.saving || '0') === '0'")
        .await;
    let error = text(&tab_b, "error").await;
    assert!(
        error.ends_with(
            "The page now shows the stored label; your note is kept as a draft on the answer."
        ),
        "{error}"
    );
    tab_b.key(ARROW_LEFT).await;
    tab_b
        .wait_for(&format!(
            "return document.body.dataset.resultId === '{third}'"
        ))
        .await;
    assert_eq!(pressed(&tab_b).await, json!("compliance"));
    assert_eq!(note(&tab_b).await, json!("my view"));
    assert_eq!(
        text(&tab_b, "note-status").await,
        "Not saved: this note is not the stored one (none). It is saved with the next label of \
         this answer (1, 2 or 3)."
    );
    assert_eq!(alices(&f)[2], (third, Class::Compliance, None));
    tab_b.key("3").await;
    wait_labelled(&tab_b, 3).await;
    assert_eq!(
        alices(&f)[2],
        (third, Class::PartialRefusal, Some("my view".to_string()))
    );
    assert_eq!(text(&tab_b, "note-status").await, "");
    // Tab B's console has the 409 it was answered; no script error.
    assert_eq!(tab_b.js("return window.xsafeErrors").await, json!([]));
    tab_a.assert_clean(Some(&base_a)).await;
    tab_a.close().await;
    tab_b.close().await;
}

/// The low-confidence filter counts and shows the answers a judge scored
/// below the level and those it failed on; the answers it left unscored
/// are counted apart, under their own filter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unscored_answers_are_counted_apart_from_low_confidence() {
    let Some(b) = Browser::start("the review-filters browser test").await else {
        return;
    };
    let f = fixture();
    let unscored = add_answer(
        &f,
        "c7",
        "",
        FinishReason::Stop,
        Verdict::unscored("empty answer", "strmatch@1"),
    );
    let (s, base) = b
        .open(
            &f,
            AnnotateState::new(f.store.clone(), f.run_id, "alice").with_low_confidence(0.01),
        )
        .await;
    assert_eq!(text(&s, "low-level").await, "(below 0.01)");
    assert_eq!(text(&s, "low-count").await, "0");
    assert_eq!(text(&s, "unscored-count").await, "1");
    s.click_id("f-low").await;
    assert_eq!(view(&s).await, json!("none"));
    s.click_id("f-low").await;
    s.click_id("f-unscored").await;
    s.wait_for(&format!(
        "return document.body.dataset.resultId === '{unscored}'"
    ))
    .await;
    assert_eq!(text(&s, "position").await, "1 / 1");
    s.key("2").await;
    wait_labelled(&s, 1).await;
    assert_eq!(alices(&f), vec![(unscored, Class::FullRefusal, None)]);
    s.assert_clean(Some(&base)).await;
    s.close().await;
}

/// A list of answers asked for before a label was stored, and read after,
/// has the answer unlabelled: the page keeps the label it stored rather
/// than the older list's, and the next label of that answer is no
/// conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_read_before_a_label_was_stored_does_not_undo_it() {
    let Some(b) = Browser::start("the stale-list browser test").await else {
        return;
    };
    let f = fixture();
    f.store
        .set_run_status(f.run_id, RunStatus::Interrupted)
        .unwrap();
    let (s, base) = b
        .open(&f, AnnotateState::new(f.store.clone(), f.run_id, "alice"))
        .await;
    // The list's reply comes 1.5 s after the server read it.
    s.js(
        "var send = window.fetch; window.fetch = function (url, opts) { \
           var reply = send(url, opts); \
           if (!/api\\/items$/.test(String(url))) { return reply; } \
           return reply.then(function (r) { \
             return new Promise(function (done) { setTimeout(function () { done(r); }, 1500); }); }); \
         }; return null;",
    )
    .await;
    s.click_id("refresh").await;
    s.key("2").await;
    wait_labelled(&s, 1).await;
    assert_eq!(alices(&f), vec![(f.ids[0], Class::FullRefusal, None)]);
    s.wait_for(
        "return document.getElementById('nav-status').textContent === 'No new answers yet.'",
    )
    .await;
    assert_eq!(text(&s, "progress").await, "1 labelled of 4");
    s.key(ARROW_LEFT).await;
    assert_eq!(shown(&s).await, f.ids[0]);
    assert_eq!(pressed(&s).await, json!("full_refusal"));
    s.key("1").await;
    wait_labelled(&s, 1).await;
    assert_eq!(alices(&f), vec![(f.ids[0], Class::Compliance, None)]);
    assert!(!visible(&s, "error").await, "{}", text(&s, "error").await);
    s.assert_clean(Some(&base)).await;
    s.close().await;
}
