//! `xsafe annotate export` as JSONL: `-o FILE.jsonl` (or `.json`, or
//! `--format jsonl`) writes one JSON object per answer with the CSV's
//! columns as keys (it wrote CSV into a `.jsonl` file, which import then
//! refused as malformed JSON), `other_labels` a real array; the file
//! imports back and `judge eval` reads it. Against a run made on a model
//! served on 127.0.0.1.

mod common;

use common::{Env, keyword_model, run_small_suite_on};
use serde_json::{Value, json};
use xsafe_testkit::{Reply, TestServer};

/// The columns of a CSV export, in order: the keys of a JSONL export.
const COLUMNS: [&str; 16] = [
    "id",
    "type",
    "prompt",
    "completion",
    "final_label",
    "annotator",
    "note",
    "label",
    "target",
    "strategy",
    "suite",
    "sample",
    "refusal",
    "finish_reason",
    "system",
    "other_labels",
];

/// [`keyword_model`], but s2 ("arson mean") is refused as a provider does
/// (no content, a `refusal`).
fn refusing_model() -> TestServer {
    TestServer::start(|req| {
        if req.last_user_message().contains("arson mean") {
            Reply::json(&json!({
                "model": "test-model",
                "choices": [{
                    "message": {"role": "assistant", "content": null, "refusal": "I can't."},
                    "finish_reason": "stop"
                }]
            }))
        } else {
            keyword_model(req)
        }
    })
}

/// Labels of run `r1` by four annotators: s1 by a majority with a note,
/// and carol's and dave's other labels (a note with a quote and a `;`);
/// s2 (a provider's refusal) and u1 agreed on.
fn label(env: &Env) {
    let import = |name: &str, who: &str, text: &str| {
        let file = env.write(name, text);
        env.ok(&[
            "annotate",
            "import",
            "r1",
            file.to_str().unwrap(),
            "--annotator",
            who,
        ]);
    };
    import(
        "alice.csv",
        "alice",
        "id,final_label,note\ns1,2_full_refusal,clear refusal\ns2,2_full_refusal,\n\
         u1,2_full_refusal,\n",
    );
    import(
        "bob.csv",
        "bob",
        "id,final_label\ns1,2_full_refusal\ns2,2_full_refusal\n",
    );
    import(
        "carol.csv",
        "carol",
        "id,final_label,note\ns1,1_full_compliance,\"it answers; \"\"kind of\"\"\"\n",
    );
    import("dave.csv", "dave", "id,final_label\ns1,3_partial_refusal\n");
}

/// Every line of `text` as a JSON object.
fn objects(text: &str) -> Vec<serde_json::Map<String, Value>> {
    text.lines()
        .map(|l| match serde_json::from_str(l) {
            Ok(Value::Object(o)) => o,
            other => panic!("not a JSON object ({other:?}): {l}"),
        })
        .collect()
}

/// The rows of a CSV export, each cell by its column.
fn csv_rows(path: &std::path::Path) -> Vec<Vec<(String, String)>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, COLUMNS);
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect()
}

/// The labels stored in the store: (case, annotator, label), in that order.
fn stored(env: &Env) -> Vec<(String, String, String)> {
    let conn = rusqlite::Connection::open(env.db()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT r.case_id, a.annotator, a.label FROM annotations a \
             JOIN results r ON r.id = a.result_id ORDER BY r.case_id, a.annotator",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `-o labels.jsonl` writes JSONL: the CSV's cells under the CSV's column
/// names in the same order, `sample` a number, `other_labels` an array
/// (`[]` for none); it imports back as another annotator's labels, every
/// one landing on its own answer, and `judge eval` reads it as it reads
/// the CSV.
#[test]
fn a_jsonl_export_has_the_csv_columns_and_imports_back() {
    let env = Env::new();
    let model = refusing_model();
    run_small_suite_on(&env, &model, "r1", &["--judge", "strmatch"]);
    label(&env);

    let jsonl = env.path("labels.jsonl");
    let out = env.run(&["annotate", "export", "r1", "-o", jsonl.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3 labelled answers written"), "{stderr}");
    let text = std::fs::read_to_string(&jsonl).unwrap();
    assert!(text.starts_with("{\"id\":\"s1\",\"type\":"), "{text}");
    let rows = objects(&text);
    for row in &rows {
        assert_eq!(
            row.keys().collect::<Vec<_>>().len(),
            COLUMNS.len(),
            "{row:?}"
        );
        // serde_json's map is sorted: the order is checked on the text.
    }
    let first = text.lines().next().unwrap();
    let mut at = 0;
    for key in COLUMNS {
        let found = first[at..]
            .find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("`{key}` missing or out of order: {first}"));
        at += found;
    }

    // The same cells as the CSV export of the same labels.
    let csv_path = env.path("labels.csv");
    env.ok(&["annotate", "export", "r1", "-o", csv_path.to_str().unwrap()]);
    let csv = csv_rows(&csv_path);
    assert_eq!(csv.len(), rows.len());
    for (cells, row) in csv.iter().zip(&rows) {
        for (key, cell) in cells {
            let value = &row[key.as_str()];
            match key.as_str() {
                "sample" => assert_eq!(value, &json!(cell.parse::<u64>().unwrap())),
                "other_labels" if cell.is_empty() => assert_eq!(value, &json!([])),
                "other_labels" => {
                    assert_eq!(value, &serde_json::from_str::<Value>(cell).unwrap())
                }
                _ => assert_eq!(value, &json!(cell), "{key}"),
            }
        }
    }
    let s1 = &rows[0];
    assert_eq!(s1["final_label"], "2_full_refusal");
    assert_eq!(s1["annotator"], "alice;bob");
    assert_eq!(s1["note"], "clear refusal");
    assert_eq!(
        s1["other_labels"],
        json!([
            {"annotator": "carol", "label": "1_full_compliance", "note": "it answers; \"kind of\""},
            {"annotator": "dave", "label": "3_partial_refusal", "note": null},
        ])
    );
    let s2 = &rows[1];
    assert_eq!((&s2["id"], &s2["completion"]), (&json!("s2"), &json!("")));
    assert_eq!(s2["refusal"], "I can't.");
    assert_eq!(s2["other_labels"], json!([]));

    // Imported back as erin's labels: each lands on the answer it came
    // from (the provider's refusal on the refused answer).
    env.ok(&[
        "annotate",
        "import",
        "r1",
        jsonl.to_str().unwrap(),
        "--annotator",
        "erin",
    ]);
    let erin: Vec<(String, String)> = stored(&env)
        .into_iter()
        .filter(|(_, who, _)| who == "erin")
        .map(|(case, _, label)| (case, label))
        .collect();
    assert_eq!(
        erin,
        [
            ("s1".to_string(), "full_refusal".to_string()),
            ("s2".to_string(), "full_refusal".to_string()),
            ("u1".to_string(), "full_refusal".to_string()),
        ]
    );

    // `judge eval` reads the JSONL as it reads the CSV.
    let eval = |file: &std::path::Path| -> Value {
        let out = env.ok(&[
            "judge",
            "eval",
            "--labels",
            file.to_str().unwrap(),
            "--judge",
            "strmatch",
            "--json",
        ]);
        let mut v: Value = serde_json::from_str(&out).unwrap();
        // The file it read, and how fast, differ.
        for key in ["files", "seconds", "answers_per_second"] {
            v.as_object_mut().unwrap().remove(key).unwrap();
        }
        v
    };
    assert_eq!(eval(&jsonl), eval(&csv_path));
}

/// `--format` overrides the file name, as `xsafe export`'s does; without
/// it `.json` is JSONL too, and stdout and any other name CSV.
#[test]
fn format_follows_the_flag_then_the_file_name() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    run_small_suite_on(&env, &model, "r1", &["--judge", "strmatch"]);
    let file = env.write("l.csv", "id,final_label\ns1,2_full_refusal\n");
    env.ok(&["annotate", "import", "r1", file.to_str().unwrap()]);
    let csv_header = "id,type,prompt,completion,final_label,";

    let written = |name: &str, extra: &[&str]| {
        let path = env.path(name);
        let mut args = vec!["annotate", "export", "r1", "-o", path.to_str().unwrap()];
        args.extend(extra);
        env.ok(&args);
        std::fs::read_to_string(path).unwrap()
    };
    assert!(written("a.JSON", &[]).starts_with("{\"id\":\"s1\""));
    assert!(written("b.txt", &[]).starts_with(csv_header));
    assert!(written("c.jsonl", &["--format", "csv"]).starts_with(csv_header));
    assert!(written("d.csv", &["--format", "jsonl"]).starts_with("{\"id\":\"s1\""));
    assert!(
        env.ok(&["annotate", "export", "r1"])
            .starts_with(csv_header)
    );
    let stdout = env.ok(&["annotate", "export", "r1", "--format", "jsonl"]);
    assert_eq!(objects(&stdout).len(), 1, "{stdout}");
}
