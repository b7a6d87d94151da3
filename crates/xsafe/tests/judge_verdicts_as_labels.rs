//! A judge's verdicts are never taken for human labels, and answers can be
//! had to label offline. The user review's case: `xsafe export RUN -o
//! r.csv` writes the run's judge's verdicts as `final_label` (and the judge
//! in a `judge` column); `annotate import RUN r.csv` imported them as
//! "human" labels (then `annotate stats` showed 100% agreement), and `judge
//! eval --labels r.csv` and `judge train --labels r.csv` took them too.
//! All three refuse such a file, with one message; `annotate export
//! --unlabelled` writes the answers still to label, which `annotate
//! import` reads back. Against models served on 127.0.0.1.

mod common;

use common::{Env, run_small_suite};

fn annotations(env: &Env) -> i64 {
    common::count_rows(&env.db(), "SELECT count(*) FROM annotations")
}

/// The rows of a CSV as maps of column to cell.
fn csv_rows(text: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().clone();
    r.records()
        .map(|row| {
            let row = row.unwrap();
            header
                .iter()
                .zip(row.iter())
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect()
        })
        .collect()
}

/// What each of the three says of `file`, a run's export.
const REFUSED: &str = "field `judge`: the final_label of 5 rows of this file are the verdicts of \
     judge `strmatch@1`, not human labels (the `judge` column names the judge of each, as \
     `xsafe export` writes a run's verdicts)";

#[test]
fn an_export_of_verdicts_is_refused_as_labels() {
    let env = Env::new();
    let _model = run_small_suite(&env, "r1", &[]);
    let export = env.path("r.csv");
    let export = export.to_str().unwrap();
    env.ok(&["export", "r1", "-o", export]);
    let rows = csv_rows(&std::fs::read_to_string(export).unwrap());
    assert!(rows.iter().all(|r| r["judge"] == "strmatch@1"), "{rows:?}");

    let err = env.fails(&["annotate", "import", "r1", export, "--annotator", "alice"]);
    assert!(err.contains(REFUSED), "{err}");
    assert!(
        err.contains("`xsafe annotate export RUN --unlabelled -o to-label.csv`"),
        "{err}"
    );
    assert!(err.trim_end().ends_with("; nothing was imported"), "{err}");
    assert_eq!(annotations(&env), 0);

    let err = env.fails(&["judge", "eval", "--labels", export, "--judge", "strmatch"]);
    assert!(err.contains(REFUSED), "{err}");
    let weights = env.path("w.json");
    let err = env.fails(&[
        "judge",
        "train",
        "--labels",
        export,
        "-o",
        weights.to_str().unwrap(),
    ]);
    assert!(err.contains(REFUSED), "{err}");
    assert!(!weights.exists());

    // The same file, its judge column emptied where the rows were
    // labelled by hand: read as labels.
    let mut relabelled = String::from("id,prompt,completion,final_label,judge\n");
    for r in &rows {
        relabelled.push_str(&format!(
            "{},\"{}\",\"{}\",{},\n",
            r["id"], r["prompt"], r["completion"], r["final_label"]
        ));
    }
    let relabelled = env.write("mine.csv", relabelled);
    env.ok(&[
        "annotate",
        "import",
        "r1",
        relabelled.to_str().unwrap(),
        "--annotator",
        "alice",
    ]);
    assert_eq!(annotations(&env), 5);
}

/// `annotate export --unlabelled` writes the answers nobody has labelled,
/// with an empty final_label and no verdict, in the columns `annotate
/// export` writes; labelled and imported, they are labels, and no longer
/// to label. With `--annotator`, those that annotator has not labelled.
#[test]
fn unlabelled_answers_export_and_import_back() {
    let env = Env::new();
    let _model = run_small_suite(&env, "r1", &["--strategy", "baseline,contextual"]);
    let todo = env.path("todo.csv");
    let todo = todo.to_str().unwrap();
    let out = env.run(&["annotate", "export", "r1", "--unlabelled", "-o", todo]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "10 answers to label written, final_label empty (1_full_compliance, 2_full_refusal \
             or 3_partial_refusal); `xsafe annotate import r1 FILE` reads them back"
        ),
        "{stderr}"
    );
    let text = std::fs::read_to_string(todo).unwrap();
    assert!(
        text.starts_with(
            "id,type,prompt,completion,final_label,annotator,note,label,target,strategy,suite,\
             sample,refusal,finish_reason,system,other_labels\n"
        ),
        "{text}"
    );
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 10);
    assert!(
        rows.iter()
            .all(|r| r["final_label"].is_empty() && r["annotator"].is_empty())
    );
    assert!(!text.contains("strmatch"), "no verdict: {text}");
    // Nothing to import yet.
    let err = env.fails(&["annotate", "import", "r1", todo]);
    assert!(err.contains("has no label"), "{err}");

    // Three of baseline's labelled, in the file as it is.
    let mut labelled = String::new();
    for (i, line) in text.lines().enumerate() {
        if (1..=3).contains(&i) {
            labelled.push_str(&line.replacen(",,,,", ",2_full_refusal,,,", 1));
        } else {
            labelled.push_str(line);
        }
        labelled.push('\n');
    }
    assert_ne!(labelled, text);
    let labelled = env.write("labelled.csv", labelled);
    env.ok(&[
        "annotate",
        "import",
        "r1",
        labelled.to_str().unwrap(),
        "--annotator",
        "alice",
    ]);
    assert_eq!(annotations(&env), 3);
    let rest = env.ok(&["annotate", "export", "r1", "--unlabelled"]);
    assert_eq!(csv_rows(&rest).len(), 7);
    // Bob has labelled none.
    let bob = env.ok(&[
        "annotate",
        "export",
        "r1",
        "--unlabelled",
        "--annotator",
        "bob",
    ]);
    assert_eq!(csv_rows(&bob).len(), 10);
    // JSONL: the same keys, final_label empty.
    let jsonl = env.ok(&[
        "annotate",
        "export",
        "r1",
        "--unlabelled",
        "--format",
        "jsonl",
    ]);
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["final_label"], "");
    assert_eq!(jsonl.lines().count(), 7);
}

/// `--cases N`: N cases drawn from the run's seed, every strategy's answer
/// to each (labels on both answers of a pair compare them on labels), the
/// same cases each time.
#[test]
fn a_sample_of_cases_has_every_strategys_answers() {
    let env = Env::new();
    let _model = run_small_suite(&env, "r1", &["--strategy", "baseline,contextual"]);
    let args = ["annotate", "export", "r1", "--unlabelled", "--cases", "2"];
    let text = env.ok(&args);
    assert_eq!(env.ok(&args), text, "the same draw each time");
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 4);
    let cases: std::collections::BTreeSet<&str> = rows.iter().map(|r| r["id"].as_str()).collect();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let strategies: Vec<&str> = rows
            .iter()
            .filter(|r| r["id"] == case)
            .map(|r| r["strategy"].as_str())
            .collect();
        assert_eq!(strategies, ["baseline", "contextual"]);
    }
    // More cases than there are: all of them.
    let all = env.ok(&["annotate", "export", "r1", "--unlabelled", "--cases", "50"]);
    assert_eq!(csv_rows(&all).len(), 10);
    let err = env.fails(&["annotate", "export", "r1", "--cases", "2"]);
    assert!(err.contains("--unlabelled"), "{err}");
    let err = env.fails(&["annotate", "export", "r1", "--unlabelled", "--cases", "0"]);
    assert!(err.contains("give 1 or more"), "{err}");
}

/// `--help` says how to get answers to label.
#[test]
fn the_help_says_how_to_get_answers_to_label() {
    let env = Env::new();
    let help = env.ok(&["annotate", "export", "--help"]);
    // As one line: clap wraps it to the terminal's width.
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("--unlabelled"), "{help}");
    assert!(help.contains("xsafe annotate import RUN FILE"), "{help}");
}
