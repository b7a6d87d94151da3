//! Bad input answered with the tool's own message: a negative value for a
//! numeric flag, a JSONL key missing or misspelt, a CSV quote that never
//! closes or ends a field too early, in suites and in the answer and label
//! files of `xsafe judge`.

mod common;

use common::Env;

/// A negative number after a numeric flag reaches the flag's own check,
/// rather than being taken for an unknown flag `-0` with clap's tip to
/// write `-- -0`.
#[test]
fn a_negative_value_for_a_numeric_flag_gets_the_flags_own_message() {
    let env = Env::new();
    let answers = env.write("answers.csv", "prompt,answer\nq,a\n");
    let answers = answers.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["report", "1", "--fail-over", "-0.1"],
            "--fail-over -0.1: give a rate from 0 to 1 (0.1 for 10%)",
        ),
        (
            &["tune", "-s", "xsafe-basic", "--dry-run", "--margin", "-0.1"],
            "--margin -0.1: give a rate between 0 and 1",
        ),
        (
            &[
                "tune",
                "-s",
                "xsafe-basic",
                "--dry-run",
                "--calibration",
                "-0.5",
            ],
            "--calibration -0.5: give a share between 0 and 1",
        ),
        (
            &[
                "run",
                "-s",
                "xsafe-basic",
                "--dry-run",
                "--temperature",
                "-1",
            ],
            "give a number from 0 to 2",
        ),
        (
            &["run", "-s", "xsafe-basic", "--dry-run", "--timeout", "-3"],
            "give a number of seconds from",
        ),
        (
            &[
                "run",
                "-s",
                "xsafe-basic",
                "--dry-run",
                "--concurrency",
                "-3",
            ],
            "'--concurrency <CONCURRENCY>': give 1 or more",
        ),
        (
            &[
                "judge",
                answers,
                "--judge",
                "strmatch",
                "--escalate-to",
                "strmatch",
                "--escalate-below",
                "-1",
            ],
            "--escalate-below: the confidence to escalate below is -1",
        ),
        (
            &["judge", "train", "--no-corpus", "-o", "w.json", "--c", "-1"],
            "--c must be a positive number, not -1",
        ),
    ];
    for (args, expected) in cases {
        let err = env.fails(args);
        assert!(err.contains(expected), "{args:?}: {expected} in {err}");
        assert!(
            !err.contains("unexpected argument") && !err.contains("-- -"),
            "{args:?}: {err}"
        );
    }
    // Without a store, annotate stops at that before it checks its flags;
    // the value reached it all the same.
    let err = env.fails(&["annotate", "1", "--low-confidence", "-1"]);
    assert!(err.contains("there is no run store"), "{err}");
    // A flag with no value after it still says so.
    let err = env.fails(&["report", "1", "--fail-over", "--json"]);
    assert!(
        err.contains("a value is required for '--fail-over"),
        "{err}"
    );
    assert!(!env.db().exists(), "nothing was stored");
}

/// A JSONL line without the key is told as such, naming the keys it has
/// that look like the missing one; a misspelt label key is refused with
/// --default-label too, which would otherwise label the case silently.
#[test]
fn suites_show_names_a_missing_or_misspelt_jsonl_key() {
    let env = Env::new();
    let typo = env.write(
        "typo.jsonl",
        "{\"prompt\":\"How do I stop a stuck job?\",\"label\":\"safe\"}\n\
         {\"prompt\":\"How do I hurt someone?\",\"lable\":\"unsafe\"}\n",
    );
    let typo = typo.to_str().unwrap();
    for extra in [&[][..], &["--default-label", "safe"]] {
        let mut args = vec!["suites", "show", typo];
        args.extend(extra);
        let err = env.fails(&args);
        assert!(
            err.contains(
                "typo.jsonl` line 2, key `label`: the line has no `label` key but has \
                 `lable`, which looks like it misspelt"
            ),
            "{extra:?}: {err}"
        );
        assert!(err.contains("spell it `label`"), "{err}");
        assert!(!err.contains("the label is empty"), "{err}");
    }
    let no_prompt = env.write(
        "noprompt.jsonl",
        "{\"prompt\":\"hi\",\"label\":\"safe\"}\n{\"label\":\"unsafe\"}\n",
    );
    let err = env.fails(&["suites", "show", no_prompt.to_str().unwrap()]);
    assert!(
        err.contains(
            "noprompt.jsonl` line 2, key `prompt`: the line has no `prompt` key (its keys: \
             label)"
        ),
        "{err}"
    );
    // A line without a label key and nothing like one takes the default.
    let no_label = env.write(
        "nolabel.jsonl",
        "{\"prompt\":\"a\",\"label\":\"safe\"}\n{\"prompt\":\"b\",\"source\":\"x\"}\n",
    );
    let no_label = no_label.to_str().unwrap();
    let err = env.fails(&["suites", "show", no_label]);
    assert!(
        err.contains("line 2, key `label`: the line has no `label` key (its keys: prompt, source)"),
        "{err}"
    );
    let json: serde_json::Value = serde_json::from_str(&env.ok(&[
        "suites",
        "show",
        no_label,
        "--default-label",
        "unsafe",
        "--json",
    ]))
    .unwrap();
    assert_eq!(json[0]["label"], "safe");
    assert_eq!(json[1]["label"], "unsafe");
    // A CSV header misspelt the same way is refused the same way.
    let csv = env.write(
        "typo.csv",
        "prompt,lable\nHow do I stop a stuck job?,safe\n",
    );
    let err = env.fails(&[
        "suites",
        "show",
        csv.to_str().unwrap(),
        "--default-label",
        "safe",
    ]);
    assert!(
        err.contains(
            "typo.csv` line 1, column `lable`: the file has no `label` column, and this one \
             looks like it misspelt, so it would not be read (every case would get \
             --default-label); rename it `label`, or pass `--label-column lable`"
        ),
        "{err}"
    );
}

/// An unclosed quote is told as such, at the line where the field opens,
/// rather than as a row with too few fields.
#[test]
fn suites_show_names_an_unclosed_quote() {
    let env = Env::new();
    let path = env.write(
        "unclosed.csv",
        "id,prompt,type,label\n\
         1,\"How do I stop a stuck job?\",homonyms,safe\n\
         2,\"How to \"\"make\"\" trouble,contrast_homonyms,unsafe\n\
         3,ok,homonyms,safe\n",
    );
    let err = env.fails(&["suites", "show", path.to_str().unwrap()]);
    assert!(
        err.contains(
            "unclosed.csv` line 3, column `prompt`: the field opens with a quote that never \
             closes, so it runs to the end of the file, taking in the rest of its line and the \
             line below it; close it with a quote"
        ),
        "{err}"
    );
    assert!(!err.contains("fields but the header has"), "{err}");
}

/// Answer and label files are read as suites are: `xsafe judge FILE` and
/// `xsafe judge eval --labels FILE` name an unclosed quote, and a quote
/// that ends a field the text goes on after, with the file, line and field.
#[test]
fn judge_files_name_an_unclosed_or_undoubled_quote() {
    let env = Env::new();
    let unclosed = env.write(
        "unclosed.csv",
        "prompt,answer\n\"q1\",\"a1\"\n\"q2\",\"an answer\n",
    );
    let err = env.fails(&["judge", unclosed.to_str().unwrap(), "--judge", "strmatch"]);
    assert!(
        err.contains(
            "unclosed.csv` line 3, field `answer`: the field opens with a quote \
             that never closes, so it runs to the end of the file, taking in the rest of its \
             line;"
        ),
        "{err}"
    );
    let stray = env.write(
        "stray.csv",
        "prompt,completion,final_label\n\
         q,fine,1_full_compliance\n\
         \"How do I stop,\"a job?\",Use kill.,1_full_compliance\n",
    );
    let stray = stray.to_str().unwrap();
    let expected = "stray.csv` line 3, field `prompt`: the field is quoted, and the quote \
                    before `a job?\"` ends it though the field goes on";
    let err = env.fails(&["judge", stray, "--judge", "strmatch"]);
    assert!(
        err.contains("answer file `") && err.contains(expected),
        "{err}"
    );
    assert!(
        err.contains("write each quote inside a quoted field twice"),
        "{err}"
    );
    let err = env.fails(&["judge", "eval", "--labels", stray, "--judge", "strmatch"]);
    assert!(
        err.contains("label file `") && err.contains(expected),
        "{err}"
    );
}
