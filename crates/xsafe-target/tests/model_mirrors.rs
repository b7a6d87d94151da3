//! Model downloads from mirrors and what interrupted commands leave, against
//! a real HTTP server on 127.0.0.1: credentials and queries in `--url`,
//! files named as another model, a download of known size cut without a
//! length, and the leftovers that are cleaned.

use sha2::{Digest, Sha256};
use std::path::Path;
use xsafe_target::models::{
    KnownModel, cache_path, download_url, import_model_in, models_dir, pull_model_in,
};
use xsafe_testkit::{Reply, TestServer};

static BODY: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| xsafe_testkit::tiny_gguf("a tiny stand-in for a model"));

fn sha(bytes: &[u8]) -> &'static str {
    Box::leak(hex::encode(Sha256::digest(bytes)).into_boxed_str())
}

fn model(name: &'static str, sha256: Option<&'static str>, size: Option<u64>) -> KnownModel {
    KnownModel {
        name,
        url: "https://example.invalid/models/tiny.gguf",
        file_name: Box::leak(format!("{name}.gguf").into_boxed_str()),
        sha256,
        size_bytes: size,
        instruction_tuned: sha256.is_none(),
        chat_template: None,
        quantization: None,
        description: "test model",
    }
}

/// A base model with a published checksum and size (the tiny GGUF's) and
/// an instruction-tuned one pinned on first use.
fn catalogue() -> [KnownModel; 2] {
    [
        model("base", Some(sha(&BODY[..])), Some(BODY.len() as u64)),
        model("it", None, None),
    ]
}

fn no_progress(_: u64, _: Option<u64>) {}

fn names(dir: &Path) -> Vec<String> {
    xsafe_testkit::file_names(dir)
        .into_iter()
        .filter(|n| n != "pins.json" && n != ".pins.json.lock")
        .collect()
}

#[test]
fn a_folder_url_with_a_query_gets_the_file_name_in_its_path() {
    let all = catalogue();
    assert_eq!(
        download_url(&all[1], Some("http://m/x/?sig=abc"), &all).unwrap(),
        "http://m/x/it.gguf?sig=abc"
    );
    assert_eq!(
        download_url(&all[1], Some("  "), &all).unwrap(),
        all[1].url,
        "blank is unset"
    );
    let err = download_url(&all[1], Some("http://u:s3cret@m/base.gguf"), &all)
        .unwrap_err()
        .to_string();
    assert!(
        !err.contains("s3cret") && err.contains("<redacted>@m"),
        "{err}"
    );
}

#[tokio::test]
async fn credentials_in_a_url_are_sent_but_never_shown() {
    let server = TestServer::start(|r| match r.header("authorization") {
        Some("Basic YWxpY2U6czNjcmV0") if r.path.starts_with("/ok/") => {
            Reply::bytes(b"not a gguf".to_vec())
        }
        Some(_) => Reply::status(404, "not found"),
        None => Reply::status(401, "who are you"),
    });
    let base = server.url().replace("http://", "http://alice:s3cret@");
    let cache = tempfile::tempdir().unwrap();
    let all = catalogue();
    for folder in ["ok", "missing"] {
        let url = format!("{base}/{folder}/");
        let err = pull_model_in(&all, &all[1], Some(&url), cache.path(), &no_progress)
            .await
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret") && !err.contains("alice"), "{err}");
        assert!(err.contains("<redacted>@127.0.0.1"), "{err}");
    }
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_some())
    );
}

/// A file named as another known model is refused by `import`, as `pull`
/// refuses a URL naming it: a requantised copy has another checksum.
#[test]
fn import_refuses_a_file_named_as_another_model() {
    let cache = tempfile::tempdir().unwrap();
    let all = catalogue();
    let other = xsafe_testkit::tiny_gguf("a requantised base model");
    let dir = cache.path().join("given");
    std::fs::create_dir_all(&dir).unwrap();
    let named = dir.join("base.gguf");
    std::fs::write(&named, &other).unwrap();
    let err = import_model_in(&all, &all[1], &named, cache.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("named as the file of model `base`, not of `it`")
            && err.contains("nothing was cached or pinned"),
        "{err}"
    );
    assert!(names(&models_dir(cache.path())).is_empty());

    // A link of another name to it is told by the file it leads to.
    #[cfg(unix)]
    {
        let link = dir.join("download.gguf");
        std::os::unix::fs::symlink(&named, &link).unwrap();
        let err = import_model_in(&all, &all[1], &link, cache.path()).unwrap_err();
        assert!(err.to_string().contains("model `base`"), "{err}");
    }

    // A model whose checksum is published is told by it, whatever the
    // file's name.
    let good = dir.join("it.gguf");
    std::fs::write(&good, &BODY[..]).unwrap();
    import_model_in(&all, &all[0], &good, cache.path()).unwrap();

    // The same file under a neutral name is the user's choice.
    let neutral = dir.join("mine.gguf");
    std::fs::rename(&named, &neutral).unwrap();
    import_model_in(&all, &all[1], &neutral, cache.path()).unwrap();
}

/// A server that sends the first half of the model with an ETag but no
/// `Content-Length`, then closes the connection.
fn raw_cut_server() -> String {
    let base = xsafe_testkit::raw_server(|_| {
        let mut response = b"HTTP/1.1 200 OK\r\netag: \"v1\"\r\nconnection: close\r\n\r\n".to_vec();
        response.extend_from_slice(&BODY[..BODY.len() / 2]);
        response
    });
    format!("{base}/base.gguf")
}

/// A model of known size cut short without a length is said to be cut,
/// and the bytes received are kept to resume; once the model is cached
/// another way, they are removed.
#[tokio::test]
async fn a_cut_without_a_length_is_said_and_its_partial_goes_once_cached() {
    let cache = tempfile::tempdir().unwrap();
    let all = catalogue();
    let base = &all[0];
    let url = raw_cut_server();
    let err = pull_model_in(&all, base, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cut short"), "{err}");
    assert!(
        err.contains(&format!("of the {} bytes", BODY.len())),
        "{err}"
    );
    assert!(!err.contains("sha256"), "{err}");
    assert_eq!(
        names(&models_dir(cache.path())),
        [".base.gguf.partial", ".base.gguf.partial.json"]
    );

    let file = cache.path().join("copy.gguf");
    std::fs::write(&file, &BODY[..]).unwrap();
    import_model_in(&all, base, &file, cache.path()).unwrap();
    assert_eq!(names(&models_dir(cache.path())), ["base.gguf"]);

    // The same after a pull that finds the model cached.
    let partial = models_dir(cache.path()).join(".base.gguf.partial");
    std::fs::write(&partial, b"half").unwrap();
    pull_model_in(&all, base, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap();
    assert_eq!(names(&models_dir(cache.path())), ["base.gguf"]);
}

/// What a `model import` stopped by Ctrl-C left (a temporary copy no
/// process holds) is removed by the next import.
#[test]
fn an_interrupted_imports_copy_is_removed_by_the_next() {
    let cache = tempfile::tempdir().unwrap();
    let all = catalogue();
    let dir = models_dir(cache.path());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".base.gguf.Xy12ab.part"), b"half a copy").unwrap();
    let file = cache.path().join("copy.gguf");
    std::fs::write(&file, &BODY[..]).unwrap();
    import_model_in(&all, &all[0], &file, cache.path()).unwrap();
    assert_eq!(names(&dir), ["base.gguf"]);
    assert!(cache_path(&all[0], cache.path()).is_file());
}
