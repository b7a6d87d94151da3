//! The annotation API over the run as it stands: the list of answers says
//! the run's name and status (a run still running gets more answers, and
//! the page is told how often to look for them) and each answer's finish
//! reason; once the run is deleted every route says so (410
//! `run_deleted`) and stores nothing.

mod annotate_support;

use annotate_support::{fixture, serve, serve_state};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use xsafe_core::{Case, Class, FinishReason, Label, Message, Transcript, Verdict};
use xsafe_server::annotate::AnnotateState;
use xsafe_store::{ResultKey, Timing};

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn post(addr: SocketAddr, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/api/label"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Adds case `case_id` to the fixture's run under `baseline`, answered with
/// `answer`, stopped for `finish`; returns its result id.
fn add_answer(
    f: &annotate_support::Fixture,
    case_id: &str,
    answer: &str,
    finish: FinishReason,
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
        .record_result(
            &key,
            &transcript,
            &Verdict::scored(Class::Compliance, 0.9, "strmatch@1"),
            Timing::default(),
        )
        .unwrap()
}

#[tokio::test]
async fn items_say_how_the_run_stands_and_why_each_answer_stopped() {
    let f = fixture();
    let cut = add_answer(&f, "c7", "The first half of an answ", FinishReason::Length);
    let addr = serve(f.store.clone(), f.run_id, "alice").await;
    let (status, v) = get(addr, "/api/items").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["run_name"], "r1");
    assert_eq!(v["run_status"], "complete");
    assert_eq!(v["refresh_seconds"], 20.0);
    let finish: Vec<(i64, Value)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["result_id"].as_i64().unwrap(), i["finish_reason"].clone()))
        .collect();
    assert!(finish.contains(&(cut, json!("length"))), "{finish:?}");
    assert!(finish.contains(&(f.ids[0], json!("stop"))), "{finish:?}");

    // A run a process is writing is running; the page looks again as often
    // as the server says.
    let record = f.store.run_by_id(f.run_id).unwrap();
    f.store
        .set_run_status(f.run_id, xsafe_store::RunStatus::Running)
        .unwrap();
    let lock = f.store.lock_run(&record).unwrap();
    let addr = serve_state(
        AnnotateState::new(f.store.clone(), f.run_id, "alice").with_refresh(Duration::from_secs(3)),
    )
    .await;
    let (_, v) = get(addr, "/api/items").await;
    assert_eq!(
        (&v["run_status"], &v["refresh_seconds"]),
        (&json!("running"), &json!(3.0))
    );
    // Stopped without finishing: interrupted.
    drop(lock);
    let (_, v) = get(addr, "/api/items").await;
    assert_eq!(v["run_status"], "interrupted");
}

#[tokio::test]
async fn a_deleted_run_is_said_to_be_deleted_on_every_route() {
    let f = fixture();
    let addr = serve(f.store.clone(), f.run_id, "alice").await;
    let (status, _) = post(
        addr,
        json!({"result_id": f.ids[0], "label": "compliance", "note": null}),
    )
    .await;
    assert_eq!(status, 200);
    f.store.delete_run(f.run_id).unwrap();

    let deleted = |status: u16, v: &Value| {
        assert_eq!(status, 410, "{v}");
        assert_eq!(v["error"]["code"], "run_deleted", "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("run `r1` was deleted (`xsafe runs delete`)")
                && message.contains("nothing more is saved"),
            "{message}"
        );
    };
    let (status, v) = get(addr, "/api/items").await;
    deleted(status, &v);
    let (status, v) = post(
        addr,
        json!({"result_id": f.ids[1], "label": "full_refusal", "note": null}),
    )
    .await;
    deleted(status, &v);
    let (status, v) = get(addr, &format!("/api/items/{}/messages", f.ids[1])).await;
    deleted(status, &v);
    let (status, v) = get(addr, "/api/agreement").await;
    deleted(status, &v);
    assert!(f.store.annotations(f.run_id).unwrap().is_empty());

    // Another run's answer is still not found (404), not gone.
    let g = fixture();
    let addr = serve(g.store.clone(), g.other_run(), "alice").await;
    let (status, v) = post(
        addr,
        json!({"result_id": g.ids[0], "label": "compliance", "note": null}),
    )
    .await;
    assert_eq!(
        (status, &v["error"]["code"]),
        (404, &json!("result_not_found"))
    );
}
