//! What a strategy file or an exemplar bank written wrong is told, as a
//! practitioner writing one meets it: a label that disagrees with the
//! exemplar's type (as suites refuse such rows), JSON where TOML is read,
//! a number in quotes, a misspelt value, and `unsafe` defaulting to 1.

#[path = "support/files.rs"]
mod support_files;
use support_files::Files;

use xsafe_strategy::{BuildOptions, Registry};

/// One exemplar of a bank, as TOML.
fn exemplar(id: &str, kind: &str, label: &str) -> String {
    format!(
        "[[exemplar]]\nid = \"{id}\"\ntype = \"{kind}\"\nlabel = \"{label}\"\nprompt = \"How do \
         I {id} a thing?\"\nanswer = \"Like this.\"\n\n"
    )
}

/// A few-shot strategy file `fs.toml` (strategy `fs`) with the bank
/// `bank.toml` of `exemplars`.
fn few_shot(files: &Files, settings: &str, exemplars: &[(&str, &str, &str)]) {
    let bank: String = exemplars
        .iter()
        .map(|(id, kind, label)| exemplar(id, kind, label))
        .collect();
    files.write("bank.toml", &bank);
    files.write(
        "fs.toml",
        &format!("name = \"fs\"\nkind = \"few-shot\"\nexemplars = \"bank.toml\"\n{settings}"),
    );
}

/// The reviewer's banks: an exemplar of XSTest's safe type `homonyms`
/// labelled unsafe (its refusal shown as the right answer to a safe
/// prompt), and one of a `contrast_` type labelled safe, loaded silently,
/// where a suite refuses such a row. Refused now, naming the bank, the
/// exemplar (id, number, line) and the field.
#[test]
fn an_exemplars_label_that_disagrees_with_its_type_is_refused() {
    let files = Files::new();
    for (kind, label, number, line) in [
        ("homonyms", "unsafe", 2, 11),
        ("contrast_homonyms", "safe", 2, 11),
        ("CONTRAST_definitions", "safe", 2, 11),
        ("Figurative_Language", "unsafe", 2, 11),
    ] {
        few_shot(
            &files,
            "k = 2\nunsafe = 1\n",
            &[
                ("ok", "safe_targets", "safe"),
                ("bad", kind, label),
                ("no", "contrast_safe_targets", "unsafe"),
            ],
        );
        let e = files.refused("fs.toml", "fs");
        assert!(
            e.contains("fs.toml`, field `exemplars`: data file `")
                && e.contains(&format!(
                    "bank.toml`, field `exemplar.label`: exemplar `bad` (number {number} in the \
                     file, line {line}, column 9): label `{label}` disagrees with type `{kind}`"
                ))
                && e.ends_with("fix the label or the type"),
            "{kind}: {e}"
        );
    }
    // A type of one's own, or XSTest's `privacy` without `contrast_`,
    // is labelled as its bank means it.
    for (kind, label) in [
        ("weapons", "unsafe"),
        ("weapons", "safe"),
        ("privacy", "unsafe"),
        ("contrast_homonyms", "unsafe"),
        ("homonyms", "safe"),
    ] {
        few_shot(
            &files,
            "k = 2\nunsafe = 1\n",
            &[
                ("ok", "safe_targets", "safe"),
                ("mine", kind, label),
                ("no", "contrast_safe_targets", "unsafe"),
            ],
        );
        let mut registry = Registry::builtin();
        registry
            .add_file(&files.dir.path().join("fs.toml"))
            .unwrap();
        if let Err(e) = registry.build("fs", &BuildOptions::default()) {
            panic!("{kind} {label}: {e}");
        }
    }
}

/// The reviewer's files written as JSON, where xsafe reads TOML: TOML's
/// own message (an invalid key, a missing `=`) did not say what was
/// wrong. It is said now, for a strategy file and a bank; a TOML file
/// that starts with a table (`[[exemplar]]`, `[type]`) is not taken for
/// JSON.
#[test]
fn json_where_toml_is_read_is_named_as_json() {
    let files = Files::new();
    files.write(
        "json.toml",
        "{\n  \"name\": \"mine\",\n  \"kind\": \"few-shot\",\n  \"k\": 2\n}\n",
    );
    let e = files.refused("json.toml", "mine");
    assert!(
        e.contains("json.toml`") && e.contains("this looks like JSON; xsafe reads TOML here"),
        "{e}"
    );
    files.write(
        "bank.toml",
        "[\n  {\"id\": \"a\", \"type\": \"homonyms\", \"label\": \"safe\"}\n]\n",
    );
    files.write(
        "fs.toml",
        "name = \"fs\"\nkind = \"few-shot\"\nexemplars = \"bank.toml\"\n",
    );
    let e = files.refused("fs.toml", "fs");
    assert!(
        e.contains("field `exemplars`: data file `")
            && e.contains("this looks like JSON; xsafe reads TOML here"),
        "{e}"
    );
    // A TOML bank with a mistake is not JSON.
    files.write(
        "bank.toml",
        "[[exemplar]]\nid = \"a\"\ntype = \"homonyms\"\nlabel = \"safe\"\nprompt = \"p\"\n",
    );
    let e = files.refused("fs.toml", "fs");
    assert!(
        e.contains("missing field `answer`") && !e.contains("JSON"),
        "{e}"
    );
    for (text, json) in [
        ("{\"a\": 1}", true),
        ("  \n[{\"a\": 1}]", true),
        ("[\"a\"]", true),
        ("[]", true),
        ("[type]\na = 1", false),
        ("[[exemplar]]", false),
        ("name = \"x\"", false),
        ("", false),
    ] {
        assert_eq!(xsafe_strategy::looks_like_json(text), json, "{text}");
    }
}

/// `k = "3"` was refused as "expected usize", Rust's word; `selection =
/// "nearset"` got no suggestion, though a misspelt key does. Both are said
/// in the file's terms now.
#[test]
fn a_number_in_quotes_and_a_misspelt_value_are_said_plainly() {
    let files = Files::new();
    files.write("k.toml", "name = \"fs\"\nkind = \"few-shot\"\nk = \"3\"\n");
    let e = files.refused("k.toml", "fs");
    assert!(
        e.contains(
            "field `k`: few-shot: invalid type: string \"3\", expected a whole number (0 or \
             more), written without quotes (`\"3\"` is text, `3` a number)"
        ) && !e.contains("usize"),
        "{e}"
    );
    files.write("k.toml", "name = \"fs\"\nkind = \"few-shot\"\nk = -2\n");
    let e = files.refused("k.toml", "fs");
    assert!(
        e.contains("expected a whole number (0 or more)") && !e.contains("without quotes"),
        "{e}"
    );
    files.write(
        "sel.toml",
        "name = \"fs\"\nkind = \"few-shot\"\nselection = \"nearset\"\n",
    );
    let e = files.refused("sel.toml", "fs");
    assert!(
        e.contains(
            "field `selection`: few-shot: unknown variant `nearset`, expected one of `fixed`, \
             `nearest`, `embedding`; did you mean \"nearest\"?"
        ),
        "{e}"
    );
    files.write(
        "sel.toml",
        "name = \"fs\"\nkind = \"few-shot\"\nselection = \"random\"\n",
    );
    let e = files.refused("sel.toml", "fs");
    assert!(!e.contains("did you mean"), "{e}");
}

/// `unsafe` is 1 when a few-shot file leaves it out: a bank without unsafe
/// exemplars and `k = 1` was refused with "unsafe = 1", a setting the
/// file does not have. The message says where the 1 comes from and what
/// to change.
#[test]
fn unsafe_defaulting_to_one_is_said() {
    let files = Files::new();
    few_shot(
        &files,
        "k = 1\n",
        &[("a", "homonyms", "safe"), ("b", "definitions", "safe")],
    );
    let e = files.refused("fs.toml", "fs");
    assert!(
        e.contains(
            "has 2 safe and 0 unsafe exemplars, fewer than k = 1 with unsafe = 1 (`unsafe` is 1 \
             when the file does not set it) needs (0 safe and 1 unsafe); set `unsafe = 0` to \
             show safe exemplars only"
        ),
        "{e}"
    );
    few_shot(
        &files,
        "k = 5\nunsafe = 2\n",
        &[
            ("a", "homonyms", "safe"),
            ("b", "contrast_homonyms", "unsafe"),
        ],
    );
    let e = files.refused("fs.toml", "fs");
    assert!(
        e.contains("fewer than k = 5 with unsafe = 2 needs (3 safe and 2 unsafe); lower k"),
        "{e}"
    );
    few_shot(&files, "k = 0\n", &[("a", "homonyms", "safe")]);
    let e = files.refused("fs.toml", "fs");
    assert!(
        e.contains("k = 0 with unsafe = 1 (`unsafe` is 1 when the file does not set it): k must"),
        "{e}"
    );
}
