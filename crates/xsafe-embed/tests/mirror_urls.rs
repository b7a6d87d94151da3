//! Encoder downloads from a mirror URL, against a real HTTP server on
//! 127.0.0.1: a query kept after the file name, an empty URL taken as
//! none, and a URL naming a GGUF file (a chat model's `XSAFE_MODEL_URL`)
//! refused before anything is asked.

use sha2::{Digest, Sha256};
use xsafe_embed::models::{self, CACHED_FILES, KnownEncoder};
use xsafe_testkit::{Reply, TestServer, unused_url};

const BODIES: [&[u8]; 4] = [b"{}", b"{\"t\": 1}", b"weights", b"{\"max_seq_length\": 8}"];

fn encoder(base_url: &'static str) -> KnownEncoder {
    KnownEncoder {
        name: "tiny-encoder",
        base_url,
        sha256: BODIES.map(|b| &*Box::leak(hex::encode(Sha256::digest(b)).into_boxed_str())),
        description: "test encoder",
    }
}

fn no_progress(_: u64, _: Option<u64>) {}

#[tokio::test]
async fn a_folder_url_with_a_query_keeps_it_after_each_file_name() {
    let server = TestServer::start(|r| {
        let Some((path, "sig=abc")) = r.path.split_once('?') else {
            return Reply::status(403, "unsigned");
        };
        match CACHED_FILES.iter().position(|f| path == format!("/m/{f}")) {
            Some(i) => Reply::bytes(BODIES[i]),
            None => Reply::status(404, "not found"),
        }
    });
    let cache = tempfile::tempdir().unwrap();
    let base = format!("{}/m/?sig=abc", server.url());
    models::pull(
        &encoder("https://example.invalid/x"),
        Some(&base),
        cache.path(),
        &no_progress,
    )
    .await
    .unwrap();
    assert_eq!(server.request_count(), 4);
}

/// `XSAFE_MODEL_URL=` (empty) is the encoder's own address, as for GGUF
/// models; here one where nothing listens, so the error names it.
#[tokio::test]
async fn an_empty_url_is_the_encoders_own_address() {
    let own: &'static str = Box::leak(unused_url().into_boxed_str());
    let cache = tempfile::tempdir().unwrap();
    for empty in ["", " "] {
        let err = models::pull(&encoder(own), Some(empty), cache.path(), &no_progress)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("{own}/config.json")), "{err}");
    }
}

#[tokio::test]
async fn a_url_naming_a_gguf_file_is_not_taken_for_a_folder() {
    let server = TestServer::start(|_| Reply::status(404, "not found"));
    let cache = tempfile::tempdir().unwrap();
    let url = format!("{}/models/gemma-3-270m-it-Q8_0.gguf", server.url())
        .replace("http://", "http://u:s3cret@");
    let err = models::pull(
        &encoder("https://example.invalid/x"),
        Some(&url),
        cache.path(),
        &no_progress,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("names the GGUF file `gemma-3-270m-it-Q8_0.gguf`, not a folder")
            && err.contains("XSAFE_MODEL_URL")
            && err.contains("nothing was downloaded"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    assert_eq!(server.request_count(), 0);
}
