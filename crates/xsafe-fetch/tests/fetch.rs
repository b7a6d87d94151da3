//! Pinned files against a real HTTP server on 127.0.0.1: checksums,
//! trust-on-first-use pins, failures that leave nothing behind and the
//! earlier copy alone, and local files staged the same way.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use xsafe_fetch::{FetchError, Pin, fetch, is_verified, sha256_file, stage_file};
use xsafe_testkit::{Reply, Request, TestServer, file_names, unused_url};

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
    // Readable by the cache's other users, as the pinned file is.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(pin.pins_file().unwrap()), 0o644);
        assert_eq!(mode(&dest), 0o644);
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
        let tries = if matches!(reply, Reply::Drop) { 1 } else { 4 };
        let server = TestServer::start(move |_| reply.clone());
        let err = fetch(&server.url(), &dest, &pin, None).await.unwrap_err();
        assert!(
            matches!(err, FetchError::Download { status: None, .. }),
            "{err:?}"
        );
        // A connection dropped before any answer is not retried; a body cut
        // off is asked again from the start (the server names no version to
        // resume by), three times in a row without a new byte, then given up.
        assert_eq!(server.request_count(), tries, "{err}");
        assert!(!err.to_string().contains("kept"), "{err}");
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

/// What a file server answers to `r` for `body`, whose version is `etag`:
/// the bytes from `Range: bytes=N-` while `If-Range` (when sent) names this
/// version, else the whole file.
fn file_reply(r: &Request, body: &[u8], etag: &str) -> Reply {
    let from = r.header("range").and_then(|v| {
        v.strip_prefix("bytes=")?
            .strip_suffix('-')?
            .parse::<usize>()
            .ok()
    });
    let same = r.header("if-range").is_none_or(|v| v == etag);
    let mut headers = vec![("etag".to_string(), etag.to_string())];
    match from.filter(|_| same) {
        Some(from) if from < body.len() => {
            let range = format!("bytes {from}-{}/{}", body.len() - 1, body.len());
            headers.push(("content-range".into(), range));
            let body = body[from..].to_vec();
            Reply::Full {
                status: 206,
                headers,
                body,
            }
        }
        Some(_) => Reply::status(416, ""),
        None => Reply::Full {
            status: 200,
            headers,
            body: body.to_vec(),
        },
    }
}

/// `n` bytes that differ from one place to the next.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

fn header(r: &Request, name: &str) -> Option<String> {
    r.header(name).map(str::to_string)
}

/// A handler answering with `answer`, its first `n` answers cut half-way.
fn cut_first(
    n: usize,
    answer: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> impl Fn(&Request) -> Reply + Send + Sync + 'static {
    let seen = AtomicUsize::new(0);
    move |r| {
        if seen.fetch_add(1, Ordering::SeqCst) < n {
            Reply::Truncated(Box::new(answer(r)))
        } else {
            answer(r)
        }
    }
}

#[tokio::test]
async fn a_cut_download_is_resumed_where_it_stopped() {
    let body = pattern(10_000);
    let served = body.clone();
    let server = TestServer::start(cut_first(2, move |r| file_reply(r, &served, "\"v1\"")));
    let url = format!("{}/f.bin", server.url());
    let dir = tempfile::tempdir().unwrap();
    let (dest, _) = setup(dir.path());
    let pin = Pin::Sha256(sha(&body));
    let seen = Mutex::new(Vec::new());
    let progress = |n: u64, total: Option<u64>| seen.lock().unwrap().push((n, total));
    let staged = fetch(&url, &dest, &pin, Some(&progress)).await.unwrap();
    let asked: Vec<_> = server
        .requests()
        .iter()
        .map(|r| (header(r, "range"), header(r, "if-range")))
        .collect();
    let v1 = Some("\"v1\"".to_string());
    assert_eq!(
        asked,
        [
            (None, None),
            (Some("bytes=5000-".into()), v1.clone()),
            (Some("bytes=7500-".into()), v1),
        ]
    );
    assert_eq!(std::fs::read(staged.path()).unwrap(), body);
    assert_eq!(seen.lock().unwrap().last(), Some(&(10_000, Some(10_000))));
    staged.commit().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(file_names(&dir.path().join("cache")), ["f.bin"]);
}

#[tokio::test]
async fn a_changed_or_unnamed_version_is_downloaded_again_from_the_start() {
    // No ETag or Last-Modified: nothing tells the file is the same, so the
    // retry asks for all of it.
    let body = pattern(4_000);
    let served = body.clone();
    let server = TestServer::start(cut_first(1, move |_| Reply::bytes(served.clone())));
    let dir = tempfile::tempdir().unwrap();
    let (dest, pin) = setup(dir.path());
    let staged = fetch(&server.url(), &dest, &pin, None).await.unwrap();
    assert_eq!(std::fs::read(staged.path()).unwrap(), body);
    let ranges: Vec<_> = server
        .requests()
        .iter()
        .map(|r| header(r, "range"))
        .collect();
    assert_eq!(ranges, [None, None]);
    drop(staged);

    // The file changed between the cut and the retry: the server sees the
    // old version in If-Range and sends the new one whole, which is what
    // gets pinned.
    static CHANGED: AtomicUsize = AtomicUsize::new(0);
    let (old, new) = (pattern(6_000), b"the new version".repeat(300));
    let new_served = new.clone();
    let server = TestServer::start(move |r| match CHANGED.fetch_add(1, Ordering::SeqCst) {
        0 => Reply::Truncated(Box::new(file_reply(r, &old, "\"old\""))),
        _ => file_reply(r, &new_served, "\"new\""),
    });
    let staged = fetch(&server.url(), &dest, &pin, None).await.unwrap();
    assert_eq!(std::fs::read(staged.path()).unwrap(), new);
    let second = &server.requests()[1];
    assert_eq!(header(second, "range").as_deref(), Some("bytes=3000-"));
    assert_eq!(header(second, "if-range").as_deref(), Some("\"old\""));
    staged.commit().unwrap();
    assert_eq!(pin.expected().unwrap(), Some(sha(&new)));
    assert_eq!(file_names(&dir.path().join("cache")), ["f.bin"]);
}

#[tokio::test]
async fn a_download_given_up_is_resumed_by_the_next_fetch() {
    static BROKEN: AtomicBool = AtomicBool::new(true);
    static FIRST: AtomicBool = AtomicBool::new(true);
    let body = pattern(8_000);
    let served = body.clone();
    // While broken: the first answer is cut half-way, then every
    // connection is dropped.
    let server = TestServer::start(move |r| {
        let reply = file_reply(r, &served, "\"v1\"");
        if !BROKEN.load(Ordering::SeqCst) {
            reply
        } else if FIRST.swap(false, Ordering::SeqCst) {
            Reply::Truncated(Box::new(reply))
        } else {
            Reply::Drop
        }
    });
    let url = format!("{}/f.bin", server.url());
    let dir = tempfile::tempdir().unwrap();
    let (dest, pin) = setup(dir.path());
    let err = fetch(&url, &dest, &pin, None).await.unwrap_err();
    let text = err.to_string();
    for part in [
        "(4 attempts)",
        "the 4000 bytes received are kept",
        "resumes",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
    let cache = dir.path().join("cache");
    assert_eq!(
        file_names(&cache),
        [".f.bin.partial", ".f.bin.partial.json"]
    );
    assert!(!pin.pins_file().unwrap().exists());

    BROKEN.store(false, Ordering::SeqCst);
    let before = server.request_count();
    let seen = Mutex::new(Vec::new());
    let progress = |n: u64, total: Option<u64>| seen.lock().unwrap().push((n, total));
    let staged = fetch(&url, &dest, &pin, Some(&progress)).await.unwrap();
    let resumed = &server.requests()[before];
    assert_eq!(header(resumed, "range").as_deref(), Some("bytes=4000-"));
    assert_eq!(server.request_count(), before + 1);
    assert_eq!(seen.lock().unwrap().first(), Some(&(4_000, Some(8_000))));
    staged.commit().unwrap();
    // The whole file is hashed and pinned, not only the resumed part.
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(pin.expected().unwrap(), Some(sha(&body)));
    assert_eq!(file_names(&cache), ["f.bin"]);
}

#[tokio::test]
async fn a_second_download_of_the_same_file_is_refused_while_one_runs() {
    let body = pattern(1_000);
    let served = body.clone();
    let server = TestServer::start(move |r| file_reply(r, &served, "\"v1\""));
    let dir = tempfile::tempdir().unwrap();
    let (dest, pin) = setup(dir.path());
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    let partial = dest.with_file_name(".f.bin.partial");
    let running = std::fs::File::create(&partial).unwrap();
    running.lock().unwrap();
    let err = fetch(&server.url(), &dest, &pin, None).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(".f.bin.partial`: another download"), "{text}");
    assert_eq!(server.request_count(), 0);
    assert!(
        partial.exists(),
        "the running download's file is left alone"
    );

    drop(running);
    let staged = fetch(&server.url(), &dest, &pin, None).await.unwrap();
    assert_eq!(std::fs::read(staged.path()).unwrap(), body);
}

/// Once a transfer has begun, a break is asked again, and so is a server
/// error that may pass (503); but 501 Not Implemented and 505 HTTP Version
/// Not Supported are answered the same every time. They were once retried
/// as server errors, so a wrong URL took three more requests and seconds
/// of pauses to report.
#[tokio::test]
async fn a_final_server_error_ends_the_download_at_once_but_a_passing_one_is_retried() {
    // The status's requests after the first, cut, answer.
    for (status, asked) in [(501, 1), (505, 1), (503, 3)] {
        let answered = AtomicUsize::new(0);
        let server = TestServer::start(move |_| {
            if answered.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::Truncated(Box::new(Reply::bytes(pattern(4_000))))
            } else {
                Reply::status(status, "no")
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let (dest, pin) = setup(dir.path());
        let err = fetch(&server.url(), &dest, &pin, None).await.unwrap_err();
        assert!(
            matches!(err, FetchError::Download { status: Some(s), .. } if s == status),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(&format!("HTTP {status}")), "{text}");
        assert_eq!(server.request_count(), 1 + asked, "{text}");
        assert!(file_names(&dir.path().join("cache")).is_empty());
    }
}

/// A server on 127.0.0.1 that answers every request with `response`, raw
/// bytes written as they are, then closes the connection: for the framings
/// the test kit's server does not send (no `Content-Length`, chunked).
fn raw_server(response: Vec<u8>) -> String {
    let base = xsafe_testkit::raw_server(move |_| response.clone());
    format!("{base}/f.bin")
}

/// A body without `Content-Length` that just ends when the connection
/// closes may have been cut at any byte (a CSV at a row boundary still
/// reads): pinning it once refused the whole file ever after. It is put
/// in place unpinned, and the whole file from a server that gives its
/// length is then accepted and pinned.
#[tokio::test]
async fn a_body_ended_by_the_connection_closing_is_not_pinned() {
    let body = b"prompt,category\nfirst,a\nsecond,b\nthird,c\n".to_vec();
    let mut cut = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
    cut.extend_from_slice(&body[..24]);
    let url = raw_server(cut);
    let dir = tempfile::tempdir().unwrap();
    let (dest, pin) = setup(dir.path());
    let staged = fetch(&url, &dest, &pin, None).await.unwrap();
    assert!(!staged.is_whole() && !staged.pins());
    staged.commit().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), &body[..24]);
    assert_eq!(pin.expected().unwrap(), None);
    assert!(!pin.pins_file().unwrap().exists());

    static WHOLE: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    *WHOLE.lock().unwrap() = body.clone();
    let (_server, url) = serve(&WHOLE);
    let staged = fetch(&url, &dest, &pin, None).await.unwrap();
    assert!(staged.is_whole() && staged.pins());
    staged.commit().unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(pin.expected().unwrap(), Some(sha(&body)));
}

/// A chunked body ends with its last, empty chunk, so it is known whole
/// and pinned; one cut before that chunk is an error, and nothing is kept.
#[tokio::test]
async fn a_chunked_body_is_whole_only_with_its_last_chunk() {
    let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    let chunks = b"6\r\nhello,\r\n6\r\nworld\n\r\n".to_vec();
    let dir = tempfile::tempdir().unwrap();
    let (dest, pin) = setup(dir.path());

    let cut = [&head[..], &chunks].concat();
    let err = fetch(&raw_server(cut), &dest, &pin, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, FetchError::Download { status: None, .. }),
        "{err:?}"
    );
    assert!(file_names(&dir.path().join("cache")).is_empty());

    let whole = [&head[..], &chunks, b"0\r\n\r\n"].concat();
    let staged = fetch(&raw_server(whole), &dest, &pin, None).await.unwrap();
    assert!(staged.is_whole() && staged.pins());
    staged.commit().unwrap();
    assert_eq!(pin.expected().unwrap(), Some(sha(b"hello,world\n")));
}
