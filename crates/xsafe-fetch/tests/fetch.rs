//! Pinned files against a real HTTP server on 127.0.0.1: checksums,
//! trust-on-first-use pins, failures that leave nothing behind and the
//! earlier copy alone, and local files staged the same way.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use xsafe_fetch::{FetchError, Pin, fetch, is_verified, sha256_file, stage_file};
use xsafe_testkit::{Reply, TestServer, file_names, unused_url};

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A server answering `/f.bin` with whatever `body` holds at the time.
fn serve(body: &'static Mutex<Vec<u8>>) -> (TestServer, String) {
    let server = TestServer::start(move |r| match r.path.as_str() {
        "/f.bin" => Reply::bytes(body.lock().unwrap().clone()),
        _ => Reply::status(404, "not found"),
    });
    let url = format!("{}/f.bin", server.url());
    (server, url)
}

/// A destination and a pin on first use, in `dir`.
fn setup(dir: &Path) -> (PathBuf, Pin) {
    let pin = Pin::new(None, dir.join("pins.json"), "f");
    (dir.join("cache").join("f.bin"), pin)
}

#[tokio::test]
async fn a_download_matching_its_pin_is_staged_then_committed() {
    static BODY: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    *BODY.lock().unwrap() = b"the file".to_vec();
    let (_server, url) = serve(&BODY);
    let dir = tempfile::tempdir().unwrap();
    let (dest, _) = setup(dir.path());
    let pin = Pin::Sha256(sha(b"the file").to_uppercase());
    let seen = Mutex::new(Vec::new());
    let progress = |n: u64, total: Option<u64>| seen.lock().unwrap().push((n, total));
    let staged = fetch(&url, &dest, &pin, Some(&progress)).await.unwrap();
    assert_eq!(std::fs::read(staged.path()).unwrap(), b"the file");
    assert!(!dest.exists(), "nothing is in place before the commit");
    assert_eq!(seen.lock().unwrap().last(), Some(&(8, Some(8))));
    assert_eq!(staged.commit().unwrap(), dest);
    assert_eq!(std::fs::read(&dest).unwrap(), b"the file");
    // A known checksum is never written to a pin file.
    assert_eq!(file_names(&dir.path().join("cache")), ["f.bin"]);
    assert!(is_verified(&dest, &pin).await.unwrap());
    assert!(!is_verified(&dest, &Pin::Sha256(sha(b"x"))).await.unwrap());
}

#[tokio::test]
async fn a_wrong_checksum_is_discarded_and_keeps_the_earlier_copy() {
    static BODY: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    *BODY.lock().unwrap() = b"not it".to_vec();
    let (_server, url) = serve(&BODY);
    let dir = tempfile::tempdir().unwrap();
    let (dest, _) = setup(dir.path());
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::write(&dest, b"the good copy").unwrap();
    let err = fetch(&url, &dest, &Pin::Sha256(sha(b"it")), None)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Checksum { .. }), "{err:?}");
    let text = err.to_string();
    for part in [
        &url,
        &sha(b"it"),
        &sha(b"not it"),
        "xsafe pins",
        "unchanged",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    assert_eq!(std::fs::read(&dest).unwrap(), b"the good copy");
    assert_eq!(file_names(&dir.path().join("cache")), ["f.bin"]);
}

#[tokio::test]
async fn the_first_commit_pins_and_later_ones_must_match() {
    static BODY: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    *BODY.lock().unwrap() = b"version one".to_vec();
    let (_server, url) = serve(&BODY);
    let dir = tempfile::tempdir().unwrap();
    let (dest, pin) = setup(dir.path());
    // Nothing pinned yet: nothing is verified, and a dropped stage pins nothing.
    assert!(!is_verified(&dest, &pin).await.unwrap());
    drop(fetch(&url, &dest, &pin, None).await.unwrap());
    assert_eq!(
        (
            pin.expected().unwrap(),
            file_names(&dir.path().join("cache"))
        ),
        (None, vec![])
    );

    for _ in 0..2 {
        let staged = fetch(&url, &dest, &pin, None).await.unwrap();
        staged.commit().unwrap();
        assert_eq!(pin.expected().unwrap(), Some(sha(b"version one")));
    }

    *BODY.lock().unwrap() = b"version two".to_vec();
    let err = fetch(&url, &dest, &pin, None).await.unwrap_err();
    let FetchError::Checksum {
        pinned_in, kept, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(pinned_in.as_deref(), pin.pins_file());
    assert_eq!(kept.as_deref(), Some(dest.as_path()));
    assert!(err.to_string().contains("pins.json"), "{err}");
    assert_eq!(std::fs::read(&dest).unwrap(), b"version one");

    // Deleting the pin accepts a new version.
    std::fs::remove_file(pin.pins_file().unwrap()).unwrap();
    let staged = fetch(&url, &dest, &pin, None).await.unwrap();
    staged.commit().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"version two");
    assert_eq!(pin.expected().unwrap(), Some(sha(b"version two")));
}

#[tokio::test]
async fn failed_downloads_say_why_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (dest, pin) = setup(dir.path());
    let url = format!("{}/f.bin", unused_url());
    let err = fetch(&url, &dest, &pin, None).await.unwrap_err();
    assert!(
        matches!(&err, FetchError::Download { status: None, reason, .. } if reason.contains("cannot connect")),
        "{err:?}"
    );
    assert!(err.to_string().contains(&url), "{err}");

    let server = TestServer::start(|_| Reply::status(404, "no such file"));
    let err = fetch(&server.url(), &dest, &pin, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            FetchError::Download {
                status: Some(404),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("HTTP 404"), "{err}");

    let cut = Reply::Truncated(Box::new(Reply::bytes(vec![7u8; 4096])));
    for reply in [Reply::Drop, cut] {
        let server = TestServer::start(move |_| reply.clone());
        let err = fetch(&server.url(), &dest, &pin, None).await.unwrap_err();
        assert!(
            matches!(err, FetchError::Download { status: None, .. }),
            "{err:?}"
        );
    }
    assert!(file_names(&dir.path().join("cache")).is_empty());
    assert!(!pin.pins_file().unwrap().exists());

    // A damaged pin file is named before anything is asked.
    std::fs::write(pin.pins_file().unwrap(), "{not json").unwrap();
    let err = fetch(&url, &dest, &pin, None).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("pins.json`: the pin file is not valid JSON"),
        "{err}"
    );
}

#[test]
fn local_files_are_staged_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let (dest, pin) = setup(dir.path());
    let src = dir.path().join("src.bin");
    std::fs::write(&src, b"local").unwrap();
    assert_eq!(sha256_file(&src).unwrap(), sha(b"local"));
    stage_file(&src, &dest, &pin).unwrap().commit().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), b"local");
    assert_eq!(pin.expected().unwrap(), Some(sha(b"local")));

    std::fs::write(&src, b"changed").unwrap();
    let err = stage_file(&src, &dest, &pin).unwrap_err();
    assert!(matches!(err, FetchError::Checksum { .. }), "{err:?}");
    assert!(err.to_string().contains("src.bin"), "{err}");

    let err = stage_file(&dir.path().join("gone.bin"), &dest, &pin).unwrap_err();
    assert!(
        err.to_string().contains("gone.bin`: cannot read it"),
        "{err}"
    );
    assert_eq!(file_names(&dir.path().join("cache")), ["f.bin"]);
}
