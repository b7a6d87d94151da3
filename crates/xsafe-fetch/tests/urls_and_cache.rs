//! Mirror URLs (credentials, queries, empty values), the pin file under
//! concurrent writers, downloads of a known size cut without a length, and
//! the cleaning of what interrupted commands leave; against a real HTTP
//! server on 127.0.0.1.

use sha2::{Digest, Sha256};
use std::path::Path;
use xsafe_fetch::{
    FetchError, Pin, discard_partial, fetch, fetch_sized, given_url, join_url,
    remove_stale_temporaries, stage_file, without_credentials, without_userinfo,
};
use xsafe_testkit::{Reply, TestServer, file_names};

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn a_file_name_goes_at_the_end_of_the_path_before_the_query() {
    let cases = [
        ("http://h/ok", "f.csv", "http://h/ok/f.csv"),
        ("http://h/ok/", "f.csv", "http://h/ok/f.csv"),
        ("http://h/ok/?sig=abc", "f.csv", "http://h/ok/f.csv?sig=abc"),
        ("http://h/ok?sig=a/b", "f.csv", "http://h/ok/f.csv?sig=a/b"),
        ("http://h/ok/#frag", "f.csv", "http://h/ok/f.csv#frag"),
        ("http://u:p@h:1/ok/?t=1", "f", "http://u:p@h:1/ok/f?t=1"),
        ("http://h", "f", "http://h/f"),
    ];
    for (base, file, joined) in cases {
        assert_eq!(join_url(base, file), joined, "{base}");
    }
}

#[test]
fn credentials_are_redacted_and_empty_urls_are_none() {
    assert_eq!(
        without_userinfo("http://alice:s3cret@h:1/ok/?x=@y"),
        "http://<redacted>@h:1/ok/?x=@y"
    );
    assert_eq!(without_userinfo("http://h/a@b"), "http://h/a@b");
    for url in [
        "http://alice:s3cret@h:1/ok/?x=@y",
        "http://<redacted>@h:1/ok/?x=@y",
        "http://h:1/ok/?x=@y",
    ] {
        assert_eq!(without_credentials(url), "http://h:1/ok/?x=@y", "{url}");
    }
    assert_eq!(given_url(None), None);
    assert_eq!(given_url(Some("")), None);
    assert_eq!(given_url(Some("  ")), None);
    assert_eq!(given_url(Some(" http://h/ ")), Some("http://h/"));
}

/// The user name and password of a mirror URL are sent as basic
/// authentication, but neither errors nor the partial download's record
/// hold them.
#[tokio::test]
async fn credentials_are_sent_but_never_shown_or_recorded() {
    let server = TestServer::start(|r| match (r.path.as_str(), r.header("authorization")) {
        // base64("alice:s3cret")
        ("/f.bin", Some("Basic YWxpY2U6czNjcmV0")) => Reply::bytes(b"not it".to_vec()),
        ("/f.bin", _) => Reply::status(401, "who are you"),
        _ => Reply::status(404, "not found"),
    });
    let with_creds = server.url().replace("http://", "http://alice:s3cret@");
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("cache/f.bin");

    let err = fetch(
        &format!("{with_creds}/f.bin"),
        &dest,
        &Pin::Sha256(sha(b"it")),
        None,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, FetchError::Checksum { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        !text.contains("s3cret") && !text.contains("alice"),
        "{text}"
    );
    assert!(text.contains("<redacted>@127.0.0.1"), "{text}");
    assert_eq!(server.requests().len(), 1, "the credentials were accepted");

    let err = fetch(
        &format!("{with_creds}/nothing"),
        &dest,
        &Pin::Sha256(sha(b"it")),
        None,
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(
        err,
        FetchError::Download {
            status: Some(404),
            ..
        }
    ));
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        std::fs::read_dir(dir.path().join("cache"))
            .unwrap()
            .flatten()
            .all(|e| !std::fs::read(e.path())
                .unwrap()
                .windows(6)
                .any(|w| w == b"s3cret")),
        "a file in the cache holds the password"
    );
}

/// Many commands pinning different keys in one pin file at once keep every
/// key: the read, change and write of the file are one step under a lock.
#[test]
fn concurrent_first_uses_keep_every_pin() {
    let dir = tempfile::tempdir().unwrap();
    let pins = dir.path().join("cache/pins.json");
    let keys: Vec<String> = (0..12).map(|i| format!("key-{i}")).collect();
    let sources: Vec<_> = keys
        .iter()
        .map(|k| {
            let src = dir.path().join(format!("{k}.src"));
            std::fs::write(&src, k.as_bytes()).unwrap();
            src
        })
        .collect();
    for round in 0..5 {
        std::fs::remove_file(&pins).ok();
        std::thread::scope(|s| {
            for (key, src) in keys.iter().zip(&sources) {
                let pins = pins.clone();
                let dest = dir.path().join(format!("cache/{key}.{round}"));
                s.spawn(move || {
                    let pin = Pin::new(None, pins, key);
                    stage_file(src, &dest, &pin).unwrap().commit().unwrap();
                });
            }
        });
        let pinned: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&pins).unwrap()).unwrap();
        for key in &keys {
            assert_eq!(
                pinned[key].as_str(),
                Some(sha(key.as_bytes()).as_str()),
                "round {round}: {pinned}"
            );
        }
    }
}

/// A server that sends the first `sent` bytes of a file with an ETag but no
/// `Content-Length`, then closes the connection, to every request.
fn raw_cut_server(sent: &'static [u8]) -> String {
    let base = xsafe_testkit::raw_server(move |_| {
        let mut response = b"HTTP/1.1 200 OK\r\netag: \"v1\"\r\nconnection: close\r\n\r\n".to_vec();
        response.extend_from_slice(sent);
        response
    });
    format!("{base}/f.bin")
}

/// A file of a known size whose body ends early, without the server having
/// said its length, is cut short: said so (not a checksum mismatch), and
/// what came is kept to resume, as for a cut with a `Content-Length`.
#[tokio::test]
async fn a_known_size_tells_a_body_cut_without_a_length() {
    const WHOLE: &[u8] = b"0123456789abcdefghij";
    let url = raw_cut_server(&WHOLE[..8]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("cache/f.bin");
    let pin = Pin::Sha256(sha(WHOLE));
    let err = fetch_sized(&url, &dest, &pin, Some(WHOLE.len() as u64), None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, FetchError::Download { .. }), "{err:?}");
    assert!(text.contains("cut short"), "{text}");
    assert!(text.contains("8 of the 20 bytes"), "{text}");
    assert!(text.contains("kept in"), "{text}");
    assert_eq!(
        std::fs::read(dir.path().join("cache/.f.bin.partial")).unwrap(),
        &WHOLE[..8]
    );

    // Without the size, the same body is only found to be the wrong file.
    let other = dir.path().join("other/f.bin");
    let err = fetch(&url, &other, &pin, None).await.unwrap_err();
    assert!(matches!(err, FetchError::Checksum { .. }), "{err:?}");
}

fn lock(path: &Path) -> std::fs::File {
    let file = std::fs::OpenOptions::new().read(true).open(path).unwrap();
    file.lock().unwrap();
    file
}

/// A temporary copy left by an interrupted command is removed; one a
/// running command holds is not, nor anything else in the directory.
#[test]
fn stale_temporaries_are_removed_but_not_ones_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in [
        ".m.gguf.AbC123.part",
        ".m.gguf.held.part",
        "m.gguf",
        ".m.gguf.partial",
    ] {
        std::fs::write(d.join(name), b"x").unwrap();
    }
    let _held = lock(&d.join(".m.gguf.held.part"));
    assert_eq!(remove_stale_temporaries(d), 1);
    assert_eq!(
        file_names(d),
        [".m.gguf.held.part", ".m.gguf.partial", "m.gguf"]
    );
    assert_eq!(remove_stale_temporaries(&d.join("missing")), 0);
}

/// The partial download of a file now in place is removed, unless a
/// download holds it.
#[test]
fn a_partial_download_is_discarded_unless_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("m.gguf");
    std::fs::write(&dest, b"model").unwrap();
    let partial = dir.path().join(".m.gguf.partial");
    std::fs::write(&partial, b"half").unwrap();
    std::fs::write(dir.path().join(".m.gguf.partial.json"), b"{}").unwrap();
    let held = lock(&partial);
    assert!(!discard_partial(&dest));
    assert!(partial.exists());
    drop(held);
    assert!(discard_partial(&dest));
    assert_eq!(file_names(dir.path()), ["m.gguf"]);
}
