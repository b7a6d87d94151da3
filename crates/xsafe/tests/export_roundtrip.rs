//! `xsafe export RUN --format csv` and then `xsafe judge FILE`: the CSV
//! carries what the judge read in the run, so its verdicts are the run's.

mod common;

use common::{Env, keyword_model};
use serde_json::Value;
use xsafe_testkit::{Reply, Request, TestServer};

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Given instructions (a system message), answers with their first
/// paragraph, as a small model that repeats its instructions does; without
/// them, as [`keyword_model`].
fn repeats_its_instructions(req: &Request) -> Reply {
    let body = req.json();
    let system = body["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "system"))
        .and_then(|m| m["content"].as_str());
    match system {
        Some(text) => Reply::chat(text.split("\n\n").next().unwrap()),
        None => keyword_model(req),
    }
}

/// The answers of a contextual strategy that only repeat its system
/// message are `unscored` in the run; judged again from the CSV export,
/// they are unscored for the same reason (with the `system` column) and
/// every verdict is the run's. Without the column they would be scored.
#[test]
fn a_csv_export_is_judged_as_the_run_judged_it() {
    let env = Env::new();
    let server = TestServer::start(repeats_its_instructions);
    common::run_small_suite_on(
        &env,
        &server,
        "r1",
        &["--strategy", "baseline,contextual", "--json"],
    );
    let jsonl = env.path("r1.jsonl");
    let csv = env.path("r1.csv");
    env.ok(&["export", "r1", "--output", jsonl.to_str().unwrap()]);
    env.ok(&["export", "r1", "--output", csv.to_str().unwrap()]);

    // The run's verdicts, from the JSONL (which has every message).
    let run: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(json)
        .collect();
    assert_eq!(run.len(), 10);
    let mut unscored = 0;
    for r in &run {
        let v = &r["verdicts"][0];
        if r["strategy"] == "contextual" {
            assert_eq!(v["verdict"], "unscored", "{r}");
            let reason = v["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("the answer only repeats the instructions (system message)"),
                "{reason}"
            );
            unscored += 1;
        } else {
            assert_ne!(v["verdict"], "unscored", "{r}");
        }
    }
    assert_eq!(unscored, 5);

    // The CSV's `system` column is the system message the run sent.
    let mut reader = csv::Reader::from_path(&csv).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header.last().map(String::as_str), Some("system"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), run.len());
    let system = header.len() - 1;
    for (row, r) in rows.iter().zip(&run) {
        let sent = r["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "system")
            .map_or("", |m| m["content"].as_str().unwrap());
        assert_eq!(&row[system], sent, "{r}");
        assert_eq!(row[system].is_empty(), r["strategy"] == "baseline");
    }

    // Judged from the CSV: the run's verdicts, reasons and confidences.
    let judged = |file: &std::path::Path| -> Vec<Value> {
        env.ok(&["judge", file.to_str().unwrap()])
            .lines()
            .map(json)
            .collect()
    };
    for file in [&csv, &jsonl] {
        let got = judged(file);
        assert_eq!(got.len(), run.len(), "{file:?}");
        for (j, r) in got.iter().zip(&run) {
            let v = &r["verdicts"][0];
            assert_eq!(j["id"], r["id"], "{file:?}");
            assert_eq!(
                (&j["verdict"], &j["reason"], &j["judge"]),
                (&v["verdict"], &v["reason"], &v["judge"]),
                "{file:?}: {j} against the run's {r}"
            );
            let (a, b) = (j["confidence"].as_f64(), v["confidence"].as_f64());
            assert!((a.unwrap() - b.unwrap()).abs() < 1e-9, "{file:?}: {j} {r}");
        }
    }

    // Without the column (as the CSV was before it had one) the copies of
    // the instructions were judged as answers.
    let mut stripped = csv::Writer::from_writer(Vec::new());
    stripped.write_record(&header[..system]).unwrap();
    for row in &rows {
        stripped
            .write_record(row.iter().take(system).collect::<Vec<_>>())
            .unwrap();
    }
    let stripped = env.write("stripped.csv", stripped.into_inner().unwrap());
    let scored = judged(&stripped)
        .iter()
        .zip(&run)
        .filter(|(j, r)| r["strategy"] == "contextual" && j["verdict"] != "unscored")
        .count();
    assert!(scored > 0, "the test shows nothing without the column");
}
