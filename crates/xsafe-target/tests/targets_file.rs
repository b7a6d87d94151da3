//! A `--targets` file's `headers`, as a table or as a list of `Name: value`
//! strings (the form `--header` takes), read from a file and sent to a real
//! server on 127.0.0.1.

use std::collections::BTreeMap;
use xsafe_core::{ChatRequest, Message};
use xsafe_target::{TargetSettings, TargetsFile, build_openai, parse_headers, resolve};
use xsafe_testkit::{Reply, TestServer};

/// A targets file with one target `t` served at `url`, its `headers` line
/// as given.
fn targets_file(dir: &std::path::Path, url: &str, headers: &str) -> std::path::PathBuf {
    let path = dir.join("targets.toml");
    std::fs::write(
        &path,
        format!(
            "[targets.t]\nmodel = \"m\"\nbase_url = \"{url}/v1\"\nmax_retries = 0\n{headers}\n"
        ),
    )
    .unwrap();
    path
}

/// The bug this guards: `headers = ["X-Test: 1"]`, the way `--header`
/// takes a header, was refused with a bare "invalid type: sequence,
/// expected a map". Both forms now give the same headers, and both reach
/// the server.
#[tokio::test]
async fn headers_as_a_table_or_as_a_list_are_the_same_and_are_sent() {
    let server = TestServer::start(|_| Reply::chat("ok"));
    let dir = tempfile::tempdir().unwrap();
    let table = r#"headers = { "X-Test" = "1", "X-Team" = "safety: first" }"#;
    // Read as `--header` reads its value: split at the first colon, trimmed.
    let list = r#"headers = ["X-Test: 1", "  X-Team :safety: first "]"#;
    let want: BTreeMap<String, String> = [
        ("X-Team".to_string(), "safety: first".to_string()),
        ("X-Test".to_string(), "1".to_string()),
    ]
    .into();
    for form in [table, list] {
        let path = targets_file(dir.path(), &server.url(), form);
        let file = TargetsFile::load(&path).unwrap_or_else(|e| panic!("{form}: {e}"));
        let resolved = resolve("t", &TargetSettings::default(), Some(&file)).unwrap();
        assert_eq!(resolved.settings.headers, want, "{form}");
        let target = build_openai(&resolved).unwrap();
        target
            .chat(&ChatRequest::new(vec![Message::user("Hi")]))
            .await
            .unwrap();
        let sent = server.requests().pop().unwrap();
        assert_eq!(sent.header("x-test"), Some("1"), "{form}: {sent:?}");
        assert_eq!(
            sent.header("x-team"),
            Some("safety: first"),
            "{form}: {sent:?}"
        );
    }
    assert_eq!(server.request_count(), 2);

    // A flag still replaces a listed header, whatever its case.
    let path = targets_file(dir.path(), &server.url(), list);
    let file = TargetsFile::load(&path).unwrap();
    let cli = TargetSettings {
        headers: parse_headers(&["x-test: 2"], "--header").unwrap(),
        ..Default::default()
    };
    let resolved = resolve("t", &cli, Some(&file)).unwrap();
    assert_eq!(
        resolved.settings.headers,
        [
            ("X-Team".to_string(), "safety: first".to_string()),
            ("x-test".to_string(), "2".to_string()),
        ]
        .into()
    );
}

/// A listed header without a colon is refused as `--header` refuses it,
/// naming the file, the target and the item; so is a `headers` that is
/// neither form, with both forms shown.
#[test]
fn a_malformed_header_names_the_file_the_target_and_the_item() {
    let dir = tempfile::tempdir().unwrap();
    let path = targets_file(
        dir.path(),
        "http://127.0.0.1:9",
        r#"headers = ["X-Test: 1", "X-Team safety"]"#,
    );
    let err = TargetsFile::load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "targets file `{}`, target `t`: headers item `X-Team safety`: write it as \"Name: \
             value\"",
            path.display()
        )
    );
    // The flag's own error for the same value, in the same words.
    assert_eq!(
        parse_headers(&["X-Team safety"], "--header").unwrap_err(),
        "--header `X-Team safety`: write it as \"Name: value\""
    );

    // Another target's malformed item is named as its own.
    let text = "[targets.a]\nmodel = \"m\"\nheaders = [\"A: 1\"]\n\n\
                [targets.b]\nmodel = \"m\"\nheaders = [\"B\"]\n";
    let err = TargetsFile::parse(text, "t.toml").unwrap_err().to_string();
    assert_eq!(
        err,
        "targets file `t.toml`, target `b`: headers item `B`: write it as \"Name: value\""
    );

    for wrong in [r#"headers = "X-Test: 1""#, "headers = 1"] {
        let path = targets_file(dir.path(), "http://127.0.0.1:9", wrong);
        let err = TargetsFile::load(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("targets file `{}`: ", path.display()))
                && err.contains(
                    r#"a table of header names and values (headers = { "X-Test" = "1" }) or a list of "Name: value" strings as --header takes them (headers = ["X-Test: 1"])"#
                ),
            "{wrong}: {err}"
        );
    }
    let path = targets_file(dir.path(), "http://127.0.0.1:9", "headers = [1]");
    let err = TargetsFile::load(&path).unwrap_err().to_string();
    assert!(
        err.contains(
            r#"invalid type: integer `1`, expected a "Name: value" string, as --header takes it"#
        ),
        "{err}"
    );
}
