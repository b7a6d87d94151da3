//! Suites fetched from mirrors, against a real HTTP server on 127.0.0.1:
//! credentials and queries in the base URL, an empty base URL, a mirror
//! serving one suite's file under another's name, copies that could not be
//! pinned, and the advice for a file that is not the suite.

use xsafe_suite::{LoadOptions, SuiteError, fetch, remote, resolve};
use xsafe_testkit::{Reply, TestServer, file_names};

const HARD: &str = "prompt,category\n\
    How do lock pickers practise legally?,illegal\n\
    What makes a convincing stage fight look real?,violence\n";
const TOXIC: &str = "prompt,category\nSomething harmful,violence\n";

/// Serves `/or-bench-hard-1k.csv` and `/or-bench-toxic.csv` under any
/// folder; under `/swapped/` each name gets hard-1k's file, under `/none/`
/// nothing.
fn mirror() -> TestServer {
    TestServer::start(|r| {
        let path = r.path.split('?').next().unwrap_or_default();
        match path.rsplit('/').next().unwrap_or_default() {
            _ if path.starts_with("/none/") => Reply::status(404, "not found"),
            "or-bench-hard-1k.csv" => Reply::bytes(HARD),
            "or-bench-toxic.csv" if path.starts_with("/swapped/") => Reply::bytes(HARD),
            "or-bench-toxic.csv" => Reply::bytes(TOXIC),
            "xstest_prompts.csv" => Reply::bytes("id,prompt,type,label\n1,p,homonyms,safe\n"),
            _ => Reply::status(404, "not found"),
        }
    })
}

#[tokio::test]
async fn credentials_in_a_base_url_are_sent_but_never_recorded_or_shown() {
    let server = mirror();
    let base = server.url().replace("http://", "http://alice:s3cret@");
    let cache = tempfile::tempdir().unwrap();
    fetch("or-bench-hard-1k", Some(&base), cache.path())
        .await
        .unwrap();
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Basic YWxpY2U6czNjcmV0")
    );
    let recorded =
        std::fs::read_to_string(cache.path().join("suites/or-bench-hard-1k.url")).unwrap();
    assert!(!recorded.contains("s3cret"), "{recorded}");
    let suite = resolve("or-bench-hard-1k", cache.path(), &LoadOptions::default()).unwrap();
    assert_eq!(
        suite.source,
        format!(
            "{}/or-bench-hard-1k.csv",
            server.url().replace("http://", "http://<redacted>@")
        )
    );

    // A record written by an earlier xsafe is redacted when read.
    std::fs::write(
        cache.path().join("suites/or-bench-hard-1k.url"),
        format!("{base}/or-bench-hard-1k.csv\n"),
    )
    .unwrap();
    let suite = resolve("or-bench-hard-1k", cache.path(), &LoadOptions::default()).unwrap();
    assert!(!suite.source.contains("s3cret"), "{}", suite.source);

    let e = fetch(
        "or-bench-toxic",
        Some(&format!("{base}/none")),
        cache.path(),
    )
    .await
    .unwrap_err();
    assert!(!e.to_string().contains("s3cret"), "{e}");
    let e = fetch("xstest", Some(&base), cache.path())
        .await
        .unwrap_err();
    assert!(matches!(e, SuiteError::Checksum { .. }), "{e:?}");
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[tokio::test]
async fn a_base_url_with_a_query_gets_the_file_name_in_its_path() {
    let server = mirror();
    let cache = tempfile::tempdir().unwrap();
    let base = format!("{}/ok/?sig=abc", server.url());
    fetch("or-bench-hard-1k", Some(&base), cache.path())
        .await
        .unwrap();
    assert_eq!(
        server.requests()[0].path,
        "/ok/or-bench-hard-1k.csv?sig=abc"
    );
}

/// An empty `--base-url` (`XSAFE_SUITE_BASE_URL=`) is no base URL: the
/// public address is asked, not `/FILE`.
#[tokio::test]
async fn an_empty_base_url_is_the_public_address() {
    let cache = tempfile::tempdir().unwrap();
    for empty in ["", "  "] {
        let e = fetch("xstest", Some(empty), cache.path())
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("https://raw.githubusercontent.com/paul-rottger/xstest/"),
            "{msg}"
        );
        assert!(!msg.contains("relative URL"), "{msg}");
    }
}

/// A mirror serving `or-bench-hard-1k`'s file under the toxic name would
/// pin 1000 safe prompts as `or-bench-toxic`'s unsafe ones: refused.
#[tokio::test]
async fn one_suites_file_is_never_pinned_as_another() {
    let server = mirror();
    let cache = tempfile::tempdir().unwrap();
    fetch("or-bench-hard-1k", Some(&server.url()), cache.path())
        .await
        .unwrap();
    let swapped = format!("{}/swapped", server.url());
    let e = fetch("or-bench-toxic", Some(&swapped), cache.path())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SuiteError::FetchedInvalid { .. }), "{e:?}");
    assert!(
        msg.contains("the file of suite `or-bench-hard-1k`") && msg.contains("pins.json"),
        "{msg}"
    );
    assert!(msg.contains("nothing was cached or pinned"), "{msg}");
    assert_eq!(
        file_names(&cache.path().join("suites")),
        [
            ".pins.json.lock",
            "or-bench-hard-1k.csv",
            "or-bench-hard-1k.url",
            "pins.json"
        ]
    );
    let pins: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cache.path().join("suites/pins.json")).unwrap())
            .unwrap();
    assert!(pins.get("or-bench-toxic").is_none(), "{pins}");

    // The right file is still taken.
    fetch("or-bench-toxic", Some(&server.url()), cache.path())
        .await
        .unwrap();
}

/// A fetched file that is not the suite is not answered with the flags for
/// reading one's own files, which `suites fetch` does not take.
#[tokio::test]
async fn a_file_of_the_wrong_shape_is_answered_with_advice_about_the_url() {
    let server = TestServer::start(|_| Reply::bytes("id,prompt,type,label\n1,p,homonyms,safe\n"));
    let cache = tempfile::tempdir().unwrap();
    let e = fetch("or-bench-toxic", Some(&server.url()), cache.path())
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains("--suite-format"), "{msg}");
    assert!(msg.contains("--base-url"), "{msg}");
    assert!(msg.contains("or-bench-toxic.csv"), "{msg}");
}

/// A body without its length is cached unpinned: the suite says so every
/// time it is used, until a download that is known whole pins it.
#[tokio::test]
async fn an_unpinned_copy_is_marked() {
    let base = xsafe_testkit::raw_server(|_| {
        format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{HARD}").into_bytes()
    });
    let cache = tempfile::tempdir().unwrap();
    let hard = remote("or-bench-hard-1k").unwrap();
    assert_eq!(hard.unpinned_warning(cache.path()), None, "not cached yet");
    fetch("or-bench-hard-1k", Some(&base), cache.path())
        .await
        .unwrap();
    let warning = hard.unpinned_warning(cache.path()).unwrap();
    assert!(
        warning.contains("not pinned") && warning.contains("cut short"),
        "{warning}"
    );
    assert!(
        warning.contains("xsafe suites fetch or-bench-hard-1k"),
        "{warning}"
    );

    let server = mirror();
    fetch("or-bench-hard-1k", Some(&server.url()), cache.path())
        .await
        .unwrap();
    assert_eq!(hard.unpinned_warning(cache.path()), None);
    assert_eq!(
        remote("xstest").unwrap().unpinned_warning(cache.path()),
        None
    );
}
