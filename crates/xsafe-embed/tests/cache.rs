//! Getting an encoder into the cache: downloads from a real HTTP server on
//! 127.0.0.1 (good, wrong, failing), imports from a directory, resolving
//! `encoder = SPEC`, and the errors of loading a broken model directory.
//! Small stand-in files take the model's place; the registry entry is built
//! here so its checksums can be computed.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;
use xsafe_embed::models::{self, CACHED_FILES, KnownEncoder};
use xsafe_embed::{EmbedError, Encoder};
use xsafe_testkit::{Reply, TestServer, file_names};

/// What the test server holds: each file's name and body (`None`: it
/// answers 500).
type Files = Mutex<Vec<(String, Option<Vec<u8>>)>>;

const BODIES: [&[u8]; 4] = [
    b"{\"config\": 1}",
    b"{\"tokenizer\": 1}",
    b"safetensors stand-in",
    b"{\"max_seq_length\": 8}",
];

fn sha(bytes: &[u8]) -> &'static str {
    Box::leak(hex::encode(Sha256::digest(bytes)).into_boxed_str())
}

fn encoder() -> KnownEncoder {
    KnownEncoder {
        name: "tiny-encoder",
        base_url: "https://example.invalid/tiny",
        sha256: BODIES.map(sha),
        description: "test encoder",
    }
}

/// Serves `/m/FILE` from `files` as it is at the time of the request.
fn serve(files: &'static Files) -> TestServer {
    TestServer::start(move |r| {
        let files = files.lock().unwrap();
        match files
            .iter()
            .find(|(name, _)| format!("/m/{name}") == r.path)
        {
            Some((_, Some(body))) => Reply::bytes(body.clone()),
            Some((_, None)) => Reply::status(500, "internal error"),
            None => Reply::status(404, "not found"),
        }
    })
}

fn good_files() -> Vec<(String, Option<Vec<u8>>)> {
    CACHED_FILES
        .iter()
        .zip(BODIES)
        .map(|(f, b)| (f.to_string(), Some(b.to_vec())))
        .collect()
}

fn no_progress(_: u64, _: Option<u64>) {}

#[tokio::test]
async fn a_pull_caches_every_file_once() {
    static FILES_NOW: Files = Mutex::new(Vec::new());
    *FILES_NOW.lock().unwrap() = good_files();
    let server = serve(&FILES_NOW);
    let cache = tempfile::tempdir().unwrap();
    let e = encoder();
    let base = format!("{}/m/", server.url());
    let dir = models::pull(&e, Some(&base), cache.path(), &no_progress)
        .await
        .unwrap();
    assert_eq!(dir, cache.path().join("models/tiny-encoder"));
    for (file, body) in CACHED_FILES.iter().zip(BODIES) {
        assert_eq!(std::fs::read(dir.join(file)).unwrap(), body);
    }
    assert!(models::is_cached(&e, cache.path()));
    assert_eq!(server.request_count(), 4);
    // Everything verified in the cache: nothing is asked again.
    models::pull(&e, Some(&base), cache.path(), &no_progress)
        .await
        .unwrap();
    assert_eq!(server.request_count(), 4);
}

#[tokio::test]
async fn a_failed_or_wrong_file_keeps_what_was_good_and_the_next_pull_finishes() {
    static FILES_NOW: Files = Mutex::new(Vec::new());
    let mut files = good_files();
    files[2].1 = None;
    *FILES_NOW.lock().unwrap() = files;
    let server = serve(&FILES_NOW);
    let cache = tempfile::tempdir().unwrap();
    let e = encoder();
    let base = format!("{}/m", server.url());
    let dir = models::cache_path(&e, cache.path());

    let err = models::pull(&e, Some(&base), cache.path(), &no_progress)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/m/model.safetensors") && err.contains("500"),
        "{err}"
    );
    assert_eq!(file_names(&dir), ["config.json", "tokenizer.json"]);
    assert!(!models::is_cached(&e, cache.path()));

    // A wrong body is refused and not kept under the final name.
    FILES_NOW.lock().unwrap()[2].1 = Some(b"an HTML error page".to_vec());
    let err = models::pull(&e, Some(&base), cache.path(), &no_progress)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("sha256") || err.contains("checksum"), "{err}");
    assert_eq!(file_names(&dir), ["config.json", "tokenizer.json"]);

    // Fixed upstream: only the missing files are fetched.
    FILES_NOW.lock().unwrap()[2].1 = Some(BODIES[2].to_vec());
    let before = server.request_count();
    models::pull(&e, Some(&base), cache.path(), &no_progress)
        .await
        .unwrap();
    assert_eq!(server.request_count(), before + 2);
    assert!(models::is_cached(&e, cache.path()));
}

#[test]
fn an_import_checks_every_file_and_names_a_missing_one() {
    let e = encoder();
    let cache = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("config.json"), BODIES[0]).unwrap();
    std::fs::write(src.path().join("tokenizer.json"), BODIES[1]).unwrap();
    let err = models::import(&e, src.path(), cache.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no `model.safetensors`"), "{err}");
    assert!(file_names(&models::cache_path(&e, cache.path())).is_empty());

    std::fs::write(src.path().join("model.safetensors"), b"something else").unwrap();
    std::fs::write(src.path().join("sentence_bert_config.json"), BODIES[3]).unwrap();
    let err = models::import(&e, src.path(), cache.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("sha256") || err.contains("checksum"), "{err}");
    assert!(!models::is_cached(&e, cache.path()));

    std::fs::write(src.path().join("model.safetensors"), BODIES[2]).unwrap();
    std::fs::remove_file(src.path().join("sentence_bert_config.json")).unwrap();
    let err = models::import(&e, src.path(), cache.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no `sentence_bert_config.json`"), "{err}");

    std::fs::write(src.path().join("sentence_bert_config.json"), BODIES[3]).unwrap();
    let dir = models::import(&e, src.path(), cache.path()).unwrap();
    assert!(models::is_cached(&e, cache.path()));
    assert_eq!(
        std::fs::read(dir.join("model.safetensors")).unwrap(),
        BODIES[2]
    );
}

#[test]
fn specs_resolve_to_a_cached_encoder_or_a_directory() {
    let cache = tempfile::tempdir().unwrap();
    let err = models::resolve("all-minilm-l6-v2", None, Some(cache.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("xsafe model pull all-minilm-l6-v2"), "{err}");

    let base = tempfile::tempdir().unwrap();
    std::fs::create_dir(base.path().join("my-encoder")).unwrap();
    let dir = models::resolve("my-encoder", Some(base.path()), None).unwrap();
    assert_eq!(dir, base.path().join("my-encoder"));

    let err = models::resolve("nothing-here", Some(base.path()), Some(cache.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a known one (all-minilm-l6-v2)"), "{err}");
}

#[test]
fn a_broken_model_directory_is_refused_with_the_file_and_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let load = |dir: &Path| Encoder::load(dir).unwrap_err();
    assert!(matches!(load(dir.path()), EmbedError::Missing(m) if m.contains("no `config.json`")));

    let config = r#"{"hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 8, "max_position_embeddings": 16, "vocab_size": 8, "model_type": "bert"}"#;
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    std::fs::write(
        dir.path().join("tokenizer.json"),
        r#"{"normalizer": null, "pre_tokenizer": null,
            "model": {"type": "BPE", "vocab": {}, "unk_token": "[UNK]"}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"\x10\0\0").unwrap();
    let err = load(dir.path()).to_string();
    assert!(
        err.contains("tokenizer.json") && err.contains("`BPE`"),
        "{err}"
    );

    let vocab = r#"{"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4}"#;
    std::fs::write(
        dir.path().join("tokenizer.json"),
        format!(
            r#"{{"normalizer": {{"type": "BertNormalizer", "lowercase": true}},
                "pre_tokenizer": {{"type": "BertPreTokenizer"}},
                "model": {{"type": "WordPiece", "vocab": {vocab}, "unk_token": "[UNK]"}}}}"#
        ),
    )
    .unwrap();
    let err = load(dir.path()).to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("too short"),
        "{err}"
    );

    // A header claiming more bytes than the file has: a cut download.
    let mut cut = 1000u64.to_le_bytes().to_vec();
    cut.extend(b"{}");
    std::fs::write(dir.path().join("model.safetensors"), cut).unwrap();
    let err = load(dir.path()).to_string();
    assert!(err.contains("truncated download"), "{err}");

    // A complete file without the model's tensors.
    let header = br#"{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend(header);
    file.extend(1f32.to_le_bytes());
    std::fs::write(dir.path().join("model.safetensors"), file).unwrap();
    let err = load(dir.path()).to_string();
    assert!(
        err.contains("no tensor `encoder.layer.0.attention.self.query.weight`"),
        "{err}"
    );
}
