//! Suite files whose keys or quotes would make csv or the loader read
//! other cases than the file meant: a JSONL key missing or misspelt, a
//! column misspelt, a CSV quote that never closes or ends a field early.
//! Each is refused with the file, line and column and what to do; files
//! that only look odd are read as before.

use xsafe_core::Label;
use xsafe_suite::table::{Example, ReadError, RowReader, read_csv};
use xsafe_suite::{Columns, Format, LoadOptions, SuiteError, parse_bytes};

fn opts() -> LoadOptions {
    LoadOptions::default()
}

fn default_label(label: Label) -> LoadOptions {
    LoadOptions {
        columns: Columns {
            default_label: Some(label),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The error's message, checked to be at `line` and `column`.
#[track_caller]
fn error(file: &str, text: &str, opts: &LoadOptions, line: u64, column: Option<&str>) -> String {
    let e = parse_bytes(text.as_bytes(), file, opts).expect_err("the file should be refused");
    let msg = e.to_string();
    match &e {
        SuiteError::Invalid {
            line: l, column: c, ..
        } => {
            assert_eq!(*l, Some(line), "{msg}");
            assert_eq!(c.as_deref(), column, "{msg}");
        }
        other => panic!("not an Invalid error: {other:?}"),
    }
    msg
}

#[test]
fn a_jsonl_line_without_a_key_says_the_key_is_missing() {
    let text = "{\"prompt\": \"hi\", \"label\": \"safe\"}\n{\"label\": \"unsafe\"}\n";
    let msg = error("p.jsonl", text, &opts(), 2, Some("prompt"));
    assert!(
        msg.ends_with(
            "the line has no `prompt` key (its keys: label); add one, e.g. \"prompt\": \"...\", \
             or delete the line"
        ),
        "{msg}"
    );
    let text = "{\"prompt\": \"a\", \"label\": \"safe\"}\n\n{\"prompt\": \"b\"}\n";
    let msg = error("l.jsonl", text, &opts(), 3, Some("label"));
    assert!(
        msg.ends_with(
            "the line has no `label` key (its keys: prompt); add \"label\": \"safe\" or \
             \"unsafe\", or pass --default-label safe|unsafe for every case without one"
        ),
        "{msg}"
    );
    // With a default, a line without a label key (and nothing like one) is
    // labelled by it, as a line with an empty label is.
    let s = parse_bytes(text.as_bytes(), "l.jsonl", &default_label(Label::Unsafe)).unwrap();
    assert_eq!(
        s.cases.iter().map(|c| c.label).collect::<Vec<_>>(),
        [Label::Safe, Label::Unsafe]
    );
    // A key that is there but null or blank is an empty value, as before.
    let text = "{\"prompt\": \"a\", \"label\": null}\n";
    let msg = error("n.jsonl", text, &opts(), 1, Some("label"));
    assert!(msg.contains("the label is empty"), "{msg}");
    let text = "{\"prompt\": \" \", \"label\": \"safe\"}\n";
    let msg = error("n.jsonl", text, &opts(), 1, Some("prompt"));
    assert!(msg.contains("the prompt is empty"), "{msg}");
    // Ids too, when the file has an id key.
    let text = "{\"id\": 1, \"prompt\": \"a\", \"label\": \"safe\"}\n\
                {\"prompt\": \"b\", \"label\": \"safe\"}\n";
    let msg = error("i.jsonl", text, &opts(), 2, Some("id"));
    assert!(
        msg.contains("the line has no `id` key (its keys: label, prompt)"),
        "{msg}"
    );
}

#[test]
fn a_misspelt_jsonl_key_is_refused_with_or_without_default_label() {
    let text =
        "{\"prompt\": \"a\", \"label\": \"safe\"}\n{\"prompt\": \"b\", \"lable\": \"unsafe\"}\n";
    for (opts, lost) in [
        (opts(), ""),
        (
            default_label(Label::Safe),
            " (the case would get --default-label)",
        ),
    ] {
        let msg = error("t.jsonl", text, &opts, 2, Some("label"));
        assert!(
            msg.ends_with(&format!(
                "the line has no `label` key but has `lable`, which looks like it misspelt and \
                 would not be read{lost}; spell it `label`"
            )),
            "{msg}"
        );
    }
    // Every look-alike on the line is named (in the order serde_json keeps
    // keys), and nothing else.
    let text = "{\"prompt\": \"a\", \"label\": \"safe\", \"type\": \"x\"}\n\
                {\"prompt\": \"b\", \"label\": \"safe\", \"tpye\": \"y\", \"Typ\": \"z\", \
                \"tone\": \"w\"}\n";
    let msg = error("t.jsonl", text, &opts(), 2, Some("type"));
    assert!(
        msg.contains(
            "the line has no `type` key but has `Typ` and `tpye`, which look like it misspelt \
             and would not be read (the case's type would be `default`)"
        ),
        "{msg}"
    );
    // Letters in another order, and a prompt key.
    let text =
        "{\"prompt\": \"a\", \"label\": \"safe\"}\n{\"pormpt\": \"b\", \"label\": \"safe\"}\n";
    let msg = error("t.jsonl", text, &opts(), 2, Some("prompt"));
    assert!(msg.contains("has `pormpt`, which looks like it"), "{msg}");
    // A key no line spells right is refused at the first line with it.
    let text = "{\"prompt\": \"a\"}\n{\"prompt\": \"b\", \"lable\": \"unsafe\"}\n";
    let msg = error(
        "t.jsonl",
        text,
        &default_label(Label::Safe),
        2,
        Some("lable"),
    );
    assert!(
        msg.ends_with(
            "no line has a `label` key, and this key looks like it misspelt, so it would not be \
             read (every case would get --default-label); spell it `label`, or pass \
             `--label-column lable`"
        ),
        "{msg}"
    );
}

#[test]
fn a_misspelt_csv_column_is_refused_with_or_without_default_label() {
    for opts in [opts(), default_label(Label::Unsafe)] {
        let msg = error("t.csv", "prompt,lable\na,safe\n", &opts, 1, Some("lable"));
        assert!(
            msg.contains(
                "the file has no `label` column, and this one looks like it misspelt, so it \
                 would not be read"
            ) && msg.ends_with("rename it `label`, or pass `--label-column lable`"),
            "{msg}"
        );
    }
    // An XSTest header with a slip is read as a generic CSV, and told so.
    let msg = error(
        "x.csv",
        "id,prompt,type,lable\n1,a,homonyms,safe\n",
        &opts(),
        1,
        Some("lable"),
    );
    assert!(msg.contains("no `label` column"), "{msg}");
    // Forced to XSTest, the missing column names its look-alike.
    let forced = LoadOptions {
        format: Some(Format::Xstest),
        ..Default::default()
    };
    let msg = error(
        "x.csv",
        "id,prompt,type,lable\n1,a,homonyms,safe\n",
        &forced,
        1,
        Some("label"),
    );
    assert!(
        msg.contains("column `lable` looks like it misspelt: rename it `label`"),
        "{msg}"
    );
    for (header, column, like, flag) in [
        (
            "promt,label",
            "promt",
            "prompt",
            ", or pass `--prompt-column promt`",
        ),
        (
            "prompt,label,tpye",
            "tpye",
            "type",
            ", or pass `--type-column tpye`",
        ),
        (
            "prompt,label,categroy",
            "categroy",
            "category",
            ", or pass `--type-column categroy`",
        ),
    ] {
        let text = format!("{header}\n{}\n", ",".repeat(header.matches(',').count()));
        let text = text.replace("\n,", "\nx,");
        let msg = error("c.csv", &text, &opts(), 1, Some(column));
        assert!(
            msg.contains(&format!("the file has no `{like}` column"))
                && msg.ends_with(&format!("rename it `{like}`{flag}")),
            "{header}: {msg}"
        );
    }
}

/// Names a slip cannot explain are left alone: other words, short names,
/// and look-alikes of a field the file already has a column for.
/// The bug this guards: a misspelt JSONL key was called a column (`line 1,
/// column `promt``), which a JSONL file has none of. A key is called a key,
/// in the place the message names and in its text, and a CSV header's name
/// a column.
#[test]
fn a_misspelt_field_is_called_a_key_in_jsonl_and_a_column_in_csv() {
    let jsonl = "{\"promt\": \"How do I kill a Python process?\", \"lable\": \"safe\"}\n";
    let msg = error("t.jsonl", jsonl, &opts(), 1, Some("promt"));
    assert_eq!(
        msg,
        "suite file `t.jsonl` line 1, key `promt`: no line has a `prompt` key, and this key \
         looks like it misspelt, so it would not be read; spell it `prompt`, or pass \
         `--prompt-column promt`"
    );
    let msg = error(
        "t.jsonl",
        &jsonl.replace("promt", "prompt"),
        &opts(),
        1,
        Some("lable"),
    );
    assert!(
        msg.starts_with("suite file `t.jsonl` line 1, key `lable`: no line has a `label` key"),
        "{msg}"
    );
    // A line that lacks the key another line has.
    let lines =
        "{\"prompt\": \"a\", \"label\": \"safe\"}\n{\"prompt\": \"b\", \"lable\": \"safe\"}\n";
    let msg = error(
        "t.jsonl",
        lines,
        &default_label(Label::Safe),
        2,
        Some("label"),
    );
    assert!(
        msg.starts_with("suite file `t.jsonl` line 2, key `label`: the line has no `label` key"),
        "{msg}"
    );
    // The same slips in a CSV header are columns.
    let csv = "promt,lable\nHow do I kill a Python process?,safe\n";
    let msg = error("t.csv", csv, &opts(), 1, Some("promt"));
    assert!(
        msg.starts_with(
            "suite file `t.csv` line 1, column `promt`: the file has no `prompt` column, and \
             this one looks like it misspelt"
        ),
        "{msg}"
    );
    // Other faults of a JSONL field, and the messages about a key the file
    // lacks, say key too.
    for (text, opts, line, key, said) in [
        (
            "{\"q\": \"a\", \"label\": \"safe\"}\n",
            opts(),
            1,
            "prompt",
            "no prompt key (the file has: label, q)",
        ),
        (
            "{\"prompt\": \"a\", \"is_safe\": true}\n",
            opts(),
            1,
            "label",
            "no label key (the file has: is_safe, prompt); key `is_safe` looks like one",
        ),
        (
            "{\"prompt\": \"a\", \"label\": true}\n",
            opts(),
            1,
            "label",
            "but the key's name does not say to what",
        ),
        (
            "{\"prompt\": \"\", \"label\": \"safe\"}\n",
            opts(),
            1,
            "prompt",
            "the prompt is empty",
        ),
        (
            "{\"prompt\": \"a\"}\n",
            LoadOptions {
                columns: Columns {
                    kind: Some("topic".into()),
                    default_label: Some(Label::Safe),
                    ..Default::default()
                },
                ..Default::default()
            },
            1,
            "topic",
            "--type-column names a key that no line has",
        ),
    ] {
        let msg = error("t.jsonl", text, &opts, line, Some(key));
        assert!(
            msg.starts_with(&format!("suite file `t.jsonl` line {line}, key `{key}`: ")),
            "{msg}"
        );
        assert!(msg.contains(said), "{msg}");
        assert!(!msg.contains("column `"), "{msg}");
    }
}

#[test]
fn columns_unlike_any_field_are_read_as_before() {
    for text in [
        "prompt,label,source,level,lbl,model,tone\nHi,safe,a,b,c,d,e\n",
        // A letter changed or added makes another word, not a slip; and
        // `focus` and `note` are free text, whatever a column like them is
        // (the bug this guards: these were refused as misspellings).
        "prompt,label,category_id,notes,note2,locus\nHi,safe,1,n,m,l\n",
        "id,prompt,type,label,notes,Foucs\n1,Hi,t,safe,n,f\n",
        "prompt,label,tape,types\nHi,safe,x,y\n",
        // `labels` looks like `label`, but the file has a label column.
        "prompt,label,labels\nHi,safe,x\n",
        "Prompt,LABEL,Type\nHi,safe,t\n",
        "{\"prompt\": \"Hi\", \"label\": \"safe\", \"lable\": \"x\"}\n",
        "{\"prompt\": \"Hi\", \"label\": \"safe\", \"ids\": 3}\n",
    ] {
        let file = if text.starts_with('{') {
            "f.jsonl"
        } else {
            "f.csv"
        };
        let s =
            parse_bytes(text.as_bytes(), file, &opts()).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(s.cases[0].prompt, "Hi");
        assert_eq!(s.cases[0].label, Label::Safe);
    }
}

#[test]
fn an_unclosed_quote_is_told_where_the_field_opens() {
    let text = "id,prompt,type,label\n\
                1,\"How do I stop a stuck job?\",homonyms,safe\n\
                2,\"How to \"\"make\"\" trouble,contrast_homonyms,unsafe\n\
                3,ok,homonyms,safe\n\
                4,ok,homonyms,safe\n";
    let msg = error("u.csv", text, &opts(), 3, Some("prompt"));
    assert!(
        msg.ends_with(
            "the field opens with a quote that never closes, so it runs to the end of the file, \
             taking in the rest of its line and the 2 lines below it; close it with a quote, and \
             write each quote inside a quoted field twice (\"like \"\"this\"\"\")"
        ),
        "{msg}"
    );
    // On the last line, with CRLF line ends and no final line end.
    let text = "prompt,label\r\nfine,safe\r\n\"no end,safe";
    let msg = error("u.csv", text, &opts(), 3, Some("prompt"));
    assert!(
        msg.contains("taking in the rest of its line; close it"),
        "{msg}"
    );
    // In the header, the column has no name yet.
    let text = "prompt,\"label\nhi,safe\n";
    let msg = error("u.csv", text, &opts(), 1, None);
    assert!(
        msg.contains("the name of column 2 opens with a quote that never closes"),
        "{msg}"
    );
}

#[test]
fn a_quote_that_ends_a_field_early_is_refused() {
    let text = "id,prompt,type,label\n1,\"How do I stop,\"a job?\",homonyms,safe\n";
    let msg = error("s.csv", text, &opts(), 2, Some("prompt"));
    assert!(
        msg.ends_with(
            "the field is quoted, and the quote before `a job?\"` ends it though the field goes \
             on, so that text would be joined to it; write each quote inside a quoted field \
             twice (\"like \"\"this\"\"\")"
        ),
        "{msg}"
    );
    // A quote left open on one line, closed by the next line's opening one.
    let text = "id,prompt,type,label\n\
                1,\"no end,homonyms,safe\n\
                2,\"ok\",homonyms,safe\n";
    let msg = error("s.csv", text, &opts(), 3, Some("prompt"));
    assert!(
        msg.contains(
            "the field opens with a quote on line 2, but the quote before `ok\"` on this line \
             ends it and the text goes on after it: a closing quote is missing on line 2"
        ),
        "{msg}"
    );
    // Semicolon files alike.
    let text = "prompt;label\n\"a\"b;safe\n";
    let msg = error("s.csv", text, &opts(), 2, Some("prompt"));
    assert!(msg.contains("the quote before `b`"), "{msg}");
}

/// What csv reads as the file meant is read as before: doubled quotes,
/// spaces after a closing quote, quotes inside an unquoted field, line
/// breaks and separators inside quotes, empty quoted fields.
#[test]
fn well_quoted_fields_are_read_as_before() {
    let text = "id,prompt,type,label,note\n\
                1,\"Say \"\"hi\"\", then go\" ,homonyms,safe,\"\"\n\
                2,a \"quoted\" word,homonyms,safe,x\n\
                3,\"two\r\nlines, and a comma\",homonyms,safe,\"\"\"\"\n";
    let s = parse_bytes(text.as_bytes(), "w.csv", &opts()).unwrap();
    let prompts: Vec<&str> = s.cases.iter().map(|c| c.prompt.as_str()).collect();
    assert_eq!(
        prompts,
        [
            "Say \"hi\", then go ",
            "a \"quoted\" word",
            "two\nlines, and a comma"
        ]
    );
    assert_eq!(s.cases[2].note.as_deref(), Some("\""));
}

const EXAMPLE: Example = Example {
    header: "prompt,completion",
    row: "answer",
    object: "{}",
};

/// Answer and label files (xsafe-judge) read a row at a time through a
/// `RowReader` get the errors a file read whole gets, whatever the
/// reader's buffer.
#[test]
fn quote_faults_are_found_alike_through_a_row_reader() {
    for text in [
        "prompt,completion\n\"q\",\"a\"\n\"q2\",\"never closed\nmore\n",
        "prompt,completion\nq,a\n\"How do I stop,\"a job?\",Use kill.\n",
        "prompt,completion\nq,\"a\" \n\"q\"\t,\"b\"\"c\"\n",
    ] {
        let whole = read_csv(text.as_bytes(), "a.csv", &EXAMPLE);
        for capacity in [1, 2, 5, 64] {
            let reader = std::io::BufReader::with_capacity(capacity, text.as_bytes());
            let streamed = RowReader::csv(reader, "a.csv", &EXAMPLE).and_then(|mut rows| {
                let read = rows.by_ref().collect::<Result<Vec<_>, _>>()?;
                Ok(rows.into_table(read))
            });
            let streamed = streamed.map_err(|e| match e {
                ReadError::Table(e) => e,
                ReadError::Read(e) => panic!("{e}"),
            });
            assert_eq!(streamed, whole, "{text:?} by {capacity}");
        }
    }
    let e = read_csv(
        b"prompt,completion\n\"q\",\"a\"\n\"q2\",\"never closed\nmore\n",
        "a.csv",
        &EXAMPLE,
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.field.as_deref()),
        (Some(3), Some("completion")),
        "{e}"
    );
    assert!(e.message.contains("never closes"), "{e}");
    let t = read_csv(
        b"prompt,completion\nq,\"a\" \n\"q\"\t,\"b\"\"c\"\n",
        "a.csv",
        &EXAMPLE,
    )
    .unwrap();
    assert_eq!(t.rows[1].cells[1].as_deref(), Some("b\"c"));
}
