//! The model cache: downloads from a real HTTP server on 127.0.0.1, checksums,
//! trust-on-first-use pins, imports and `local:` resolution. Small fake files
//! stand in for GGUF models; the registry entries are built by the tests so
//! their checksums can be computed here.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use xsafe_core::TargetError;
use xsafe_target::models::{
    self, KnownModel, cache_path, download_url, import_model, import_model_in, known_by_file_in,
    models_dir, pull_model, pull_model_in, resolve_local_in,
};
use xsafe_testkit::{Reply, TestServer, unused_url};

/// A tiny whole GGUF standing in for a model file.
static BODY: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| xsafe_testkit::tiny_gguf("a tiny stand-in for a model"));

fn sha(bytes: &[u8]) -> &'static str {
    Box::leak(hex::encode(Sha256::digest(bytes)).into_boxed_str())
}

fn model(name: &'static str, sha256: Option<&'static str>, instruct: bool) -> KnownModel {
    KnownModel {
        name,
        url: "https://example.invalid/models/tiny.gguf",
        file_name: Box::leak(format!("{name}.gguf").into_boxed_str()),
        sha256,
        size_bytes: None,
        instruction_tuned: instruct,
        chat_template: None,
        quantization: None,
        description: "test model",
    }
}

/// A server answering `/tiny.gguf` with whatever `body` holds at the time.
fn serve(body: &'static Mutex<Vec<u8>>) -> TestServer {
    TestServer::start(move |r| {
        if r.path == "/tiny.gguf" {
            Reply::bytes(body.lock().unwrap().clone())
        } else {
            Reply::status(404, "not found")
        }
    })
}

fn no_progress(_: u64, _: Option<u64>) {}

/// Files in the models directory other than the pin file and its lock: a failed
/// download must leave neither a partial file nor a final one.
fn model_files(cache: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(models_dir(cache)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "pins.json" && n != ".pins.json.lock")
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_download_matching_its_checksum_is_cached() {
    static BODY_NOW: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    *BODY_NOW.lock().unwrap() = BODY.to_vec();
    let server = serve(&BODY_NOW);
    let cache = tempfile::tempdir().unwrap();
    let m = model("tiny", Some(sha(&BODY[..])), true);
    let seen = AtomicU64::new(0);
    let total = Mutex::new(None);
    let progress = |n: u64, t: Option<u64>| {
        seen.store(n, Ordering::SeqCst);
        *total.lock().unwrap() = t;
    };
    let url = format!("{}/tiny.gguf", server.url());
    let path = pull_model(&m, Some(&url), cache.path(), &progress)
        .await
        .unwrap();
    assert_eq!(path, cache_path(&m, cache.path()));
    assert_eq!(std::fs::read(&path).unwrap(), &BODY[..]);
    assert_eq!(seen.load(Ordering::SeqCst), BODY.len() as u64);
    assert_eq!(*total.lock().unwrap(), Some(BODY.len() as u64));
    assert_eq!(model_files(cache.path()), vec!["tiny.gguf"]);
    assert_eq!(server.request_count(), 1);

    // A verified copy is not downloaded again.
    pull_model(&m, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap();
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn a_download_with_the_wrong_checksum_leaves_nothing() {
    static BODY_NOW: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    *BODY_NOW.lock().unwrap() = b"something else entirely".to_vec();
    let server = serve(&BODY_NOW);
    let cache = tempfile::tempdir().unwrap();
    let m = model("tiny", Some(sha(&BODY[..])), true);
    let url = format!("{}/tiny.gguf", server.url());
    let err = pull_model(&m, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, TargetError::Config(_)), "{err:?}");
    assert!(
        text.contains(sha(&BODY[..])),
        "names the expected sum: {text}"
    );
    assert!(
        text.contains(sha(b"something else entirely")),
        "names the actual sum: {text}"
    );
    assert!(text.contains(&url), "names the URL: {text}");
    assert!(model_files(cache.path()).is_empty());
}

#[tokio::test]
async fn the_first_pull_pins_and_later_ones_must_match() {
    static BODY_NOW: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    let server = serve(&BODY_NOW);
    let cache = tempfile::tempdir().unwrap();
    let m = model("tofu", None, true);
    let url = format!("{}/tiny.gguf", server.url());
    *BODY_NOW.lock().unwrap() = BODY.to_vec();
    let path = pull_model(&m, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap();
    let pins: serde_json::Value =
        serde_json::from_slice(&std::fs::read(models_dir(cache.path()).join("pins.json")).unwrap())
            .unwrap();
    assert_eq!(pins["tofu"], sha(&BODY[..]));

    // A cached copy that does not match the pin (say, from an older xsafe)
    // is downloaded afresh; a download that does not match either is
    // refused and the copy is left as it was.
    std::fs::write(&path, b"GGUF an older copy").unwrap();
    *BODY_NOW.lock().unwrap() = xsafe_testkit::tiny_gguf("a new upstream version");
    let err = pull_model(&m, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("pins.json"), "says where the pin is: {text}");
    assert!(text.contains("unchanged"), "says the copy was kept: {text}");
    assert_eq!(std::fs::read(&path).unwrap(), b"GGUF an older copy");
    assert_eq!(model_files(cache.path()), vec!["tofu.gguf"]);

    // The pinned version downloads again.
    *BODY_NOW.lock().unwrap() = BODY.to_vec();
    pull_model(&m, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), &BODY[..]);
}

#[tokio::test]
async fn a_server_that_is_down_or_answers_an_error_is_reported() {
    let cache = tempfile::tempdir().unwrap();
    let m = model("tiny", Some(sha(&BODY[..])), true);
    let url = format!("{}/tiny.gguf", unused_url());
    let err = pull_model(&m, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap_err();
    assert!(matches!(err, TargetError::Connection(_)), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
    assert!(model_files(cache.path()).is_empty());

    let server = TestServer::start(|_| Reply::status(404, "no such file"));
    let url = format!("{}/tiny.gguf", server.url());
    let err = pull_model(&m, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap_err();
    assert!(
        matches!(err, TargetError::Status { status: 404, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&url), "{err}");
    assert!(model_files(cache.path()).is_empty());
}

#[test]
fn import_checks_the_checksum() {
    let cache = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("download.gguf");
    std::fs::write(&file, &BODY[..]).unwrap();
    let m = model("tiny", Some(sha(&BODY[..])), false);
    let path = import_model(&m, &file, cache.path()).unwrap();
    assert_eq!(path, cache_path(&m, cache.path()));
    assert_eq!(std::fs::read(&path).unwrap(), &BODY[..]);

    let wrong = src.path().join("wrong.gguf");
    std::fs::write(&wrong, b"not it").unwrap();
    let other = model("other", Some(sha(&BODY[..])), false);
    let err = import_model(&other, &wrong, cache.path()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("wrong.gguf") && text.contains(sha(&BODY[..])),
        "{text}"
    );
    assert_eq!(model_files(cache.path()), vec!["tiny.gguf"]);

    let err = import_model(&m, &src.path().join("missing.gguf"), cache.path()).unwrap_err();
    assert!(err.to_string().contains("missing.gguf"), "{err}");
}

#[tokio::test]
async fn files_that_are_not_gguf_are_never_cached_or_pinned() {
    let cache = tempfile::tempdir().unwrap();
    let m = model("tofu", None, true);
    let server = TestServer::start(|_| Reply::status(200, "<html>please log in</html>"));
    let url = format!("{}/tiny.gguf", server.url());
    let err = pull_model(&m, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is not a whole GGUF model file: it does not start with `GGUF`"),
        "{err}"
    );
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("notes.txt");
    std::fs::write(&file, b"hello").unwrap();
    let err = import_model(&m, &file, cache.path()).unwrap_err();
    assert!(err.to_string().contains("notes.txt"), "{err}");
    // A GGUF cut short (a server that closed early without a length) starts
    // like a model: it is neither cached nor pinned, so the whole file
    // still can be.
    let whole = BODY.to_vec();
    let cut = whole[..whole.len() - 10].to_vec();
    let server = TestServer::start(move |_| Reply::bytes(cut.clone()));
    let url = format!("{}/tiny.gguf", server.url());
    let err = pull_model(&m, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "it is cut short: {} bytes where its tensors need {}",
            whole.len() - 10,
            whole.len()
        )),
        "{err}"
    );
    let file = src.path().join("cut.gguf");
    std::fs::write(&file, &whole[..100]).unwrap();
    let err = import_model(&m, &file, cache.path()).unwrap_err();
    assert!(err.to_string().contains("cut short"), "{err}");
    assert!(model_files(cache.path()).is_empty());
    assert!(!models_dir(cache.path()).join("pins.json").exists());
    std::fs::write(&file, &whole).unwrap();
    import_model(&m, &file, cache.path()).unwrap();
}

#[test]
fn import_pins_a_model_without_a_checksum() {
    let cache = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("a.gguf");
    std::fs::write(&file, &BODY[..]).unwrap();
    let m = model("tofu", None, true);
    import_model(&m, &file, cache.path()).unwrap();
    std::fs::write(&file, xsafe_testkit::tiny_gguf("changed")).unwrap();
    let err = import_model(&m, &file, cache.path()).unwrap_err();
    assert!(err.to_string().contains("pins.json"), "{err}");
    assert_eq!(
        std::fs::read(cache_path(&m, cache.path())).unwrap(),
        &BODY[..],
        "the first import is kept"
    );
}

#[test]
fn local_specs_resolve_to_paths_names_and_the_default() {
    let cache = tempfile::tempdir().unwrap();
    let base = model("base", None, false);
    let instruct = model("instruct", None, true);
    let registry = [base, instruct];

    // Nothing cached: the default and names say how to get a model.
    let err = resolve_local_in("default", cache.path(), &registry).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("xsafe model pull instruct"), "{text}");
    assert!(text.contains("install-demo-model.sh"), "{text}");
    let err = resolve_local_in("base", cache.path(), &registry).unwrap_err();
    assert!(err.to_string().contains("xsafe model pull base"), "{err}");
    assert!(matches!(err, TargetError::Config(_)));

    // A path is taken as it is; a missing one is named.
    let file = cache.path().join("mine.gguf");
    std::fs::write(&file, &BODY[..]).unwrap();
    let spec = file.to_str().unwrap();
    assert_eq!(
        resolve_local_in(spec, cache.path(), &registry).unwrap(),
        file
    );
    let missing = cache.path().join("gone.gguf");
    let err = resolve_local_in(missing.to_str().unwrap(), cache.path(), &registry).unwrap_err();
    assert!(err.to_string().contains("gone.gguf"), "{err}");
    // A folder is said to be one (it was "does not exist").
    let folder = cache.path().to_str().unwrap();
    let err = resolve_local_in(folder, cache.path(), &registry).unwrap_err();
    assert!(
        err.to_string()
            .contains("is a folder; local: needs a GGUF model file"),
        "{err}"
    );

    let err = resolve_local_in("llama-9000", cache.path(), &registry).unwrap_err();
    assert!(err.to_string().contains("base, instruct, default"), "{err}");

    // Only the base model cached: it is the default.
    std::fs::create_dir_all(models_dir(cache.path())).unwrap();
    std::fs::write(cache_path(&base, cache.path()), &BODY[..]).unwrap();
    assert_eq!(
        resolve_local_in("default", cache.path(), &registry).unwrap(),
        cache_path(&base, cache.path())
    );
    assert_eq!(
        resolve_local_in("", cache.path(), &registry).unwrap(),
        cache_path(&base, cache.path())
    );
    assert_eq!(
        resolve_local_in("base", cache.path(), &registry).unwrap(),
        cache_path(&base, cache.path())
    );

    // An instruction-tuned model wins once it is there.
    std::fs::write(cache_path(&instruct, cache.path()), &BODY[..]).unwrap();
    assert_eq!(
        resolve_local_in("default", cache.path(), &registry).unwrap(),
        cache_path(&instruct, cache.path())
    );
}

#[test]
fn the_real_registry_names_the_demo_route_for_the_base_model() {
    let cache = tempfile::tempdir().unwrap();
    let err = models::resolve_local("gemma-3-270m", cache.path()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("xsafe model pull gemma-3-270m"), "{text}");
    assert!(text.contains("scripts/install-demo-model.sh"), "{text}");
    let base = models::known_by_file(&cache_path(
        models::known("gemma-3-270m").unwrap(),
        cache.path(),
    ));
    assert_eq!(base.map(|m| m.chat_template), Some(Some("gemma")));
    assert!(models::known_by_file(Path::new("/x/mine.gguf")).is_none());
    let listed = models::cached(cache.path());
    assert_eq!(listed.len(), models::MODELS.len());
    assert!(listed.iter().all(|(_, p)| p.is_none()));
}

/// A known model given by a path is the same model as by its name (its
/// chat template, whether it follows instructions): by the name of the file
/// a symbolic link leads to, and a copy under another name by its pinned
/// sha256. Refused before: `m1/g.gguf` linking to the demo model had no
/// chat template, though `local:gemma-3-270m` had the registry's.
#[test]
fn a_known_model_is_known_by_any_path_to_its_file() {
    let cache = tempfile::tempdir().unwrap();
    let mut base = model("base", Some(sha(&BODY)), false);
    base.size_bytes = Some(BODY.len() as u64);
    base.chat_template = Some("gemma");
    let registry = [model("other", None, true), base];
    let cached = cache_path(&base, cache.path());
    std::fs::create_dir_all(models_dir(cache.path())).unwrap();
    std::fs::write(&cached, &BODY[..]).unwrap();
    let known = |p: &Path| known_by_file_in(p, &registry).map(|m| m.name);
    assert_eq!(known(&cached), Some("base"));

    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("g.gguf");
    std::fs::write(&copy, &BODY[..]).unwrap();
    assert_eq!(known(&copy), Some("base"), "a copy, by its sha256");
    #[cfg(unix)]
    {
        let link = elsewhere.path().join("link.gguf");
        std::os::unix::fs::symlink(&cached, &link).unwrap();
        assert_eq!(known(&link), Some("base"), "a symbolic link");
    }

    // Another file of the same size, or of another size, is not the model.
    let mut other = BODY.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    std::fs::write(&copy, &other).unwrap();
    assert_eq!(known(&copy), None);
    std::fs::write(&copy, xsafe_testkit::tiny_gguf("another model")).unwrap();
    assert_eq!(known(&copy), None);
    assert_eq!(known(&elsewhere.path().join("missing.gguf")), None);
}

#[tokio::test]
async fn unknown_names_are_refused_before_any_download() {
    let cache = tempfile::tempdir().unwrap();
    let err = models::pull(
        "nope",
        Some("http://127.0.0.1:9/x"),
        cache.path(),
        &no_progress,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("gemma-3-270m-it"), "{err}");
    let err = models::import("nope", Path::new("x.gguf"), cache.path()).unwrap_err();
    assert!(err.to_string().contains("unknown model `nope`"), "{err}");
}

/// A catalogue like the real one: a base model with a published checksum
/// (the tiny GGUF's) and an instruction-tuned one pinned on first use.
fn catalogue() -> [KnownModel; 2] {
    [
        model("base", Some(sha(&BODY[..])), false),
        model("it", None, true),
    ]
}

fn pins(cache: &Path) -> serde_json::Value {
    std::fs::read(models_dir(cache).join("pins.json"))
        .map(|b| serde_json::from_slice(&b).unwrap())
        .unwrap_or_default()
}

#[test]
fn a_url_names_a_file_or_a_folder_holding_the_models_file() {
    let [base, it] = catalogue();
    let all = catalogue();
    assert_eq!(download_url(&it, None, &all).unwrap(), it.url);
    assert_eq!(
        download_url(&it, Some("http://m/x/it.gguf?download=1"), &all).unwrap(),
        "http://m/x/it.gguf?download=1"
    );
    assert_eq!(
        download_url(&it, Some("http://m/x/"), &all).unwrap(),
        "http://m/x/it.gguf"
    );
    assert_eq!(
        download_url(&base, Some("http://m/x"), &all).unwrap(),
        "http://m/x/base.gguf"
    );
    // A file of a name no model has is the user's choice.
    assert!(download_url(&it, Some("http://m/mirror-copy.gguf"), &all).is_ok());
    let err = download_url(&it, Some("http://m/x/base.gguf"), &all)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is the file of model `base`, not of `it`") && err.contains("XSAFE_MODEL_URL"),
        "{err}"
    );
}

#[tokio::test]
async fn another_models_file_is_never_cached_or_pinned_as_this_one() {
    // The base model's file, under its own name and under another.
    let server = TestServer::start(|r| {
        Reply::bytes(if r.path.ends_with(".gguf") {
            BODY.to_vec()
        } else {
            b"not found".to_vec()
        })
    });
    let cache = tempfile::tempdir().unwrap();
    let all = catalogue();
    let it = &all[1];

    // Named by its file name: refused before downloading.
    let url = format!("{}/base.gguf", server.url());
    let err = pull_model_in(&all, it, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is the file of model `base`, not of `it`"),
        "{err}"
    );
    assert_eq!(server.request_count(), 0);

    // Renamed: downloaded, recognised by its checksum and discarded.
    let url = format!("{}/renamed.gguf", server.url());
    let err = pull_model_in(&all, it, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, TargetError::Config(_)), "{err:?}");
    assert!(
        text.contains(&format!("the download from `{url}` is model `base`"))
            && text.contains(sha(&BODY[..]))
            && text.contains("not `it`"),
        "{text}"
    );
    assert!(model_files(cache.path()).is_empty());
    assert!(pins(cache.path()).get("it").is_none());

    // Imported from disk: the same.
    let file = cache.path().join("downloaded.gguf");
    std::fs::write(&file, &BODY[..]).unwrap();
    let err = import_model_in(&all, it, &file, cache.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains("is model `base`"), "{err}");
    assert!(pins(cache.path()).get("it").is_none());

    // The base model itself is fine from the same URL, or from a folder.
    let folder = format!("{}/mirror/", server.url());
    pull_model_in(&all, &all[0], Some(&folder), cache.path(), &no_progress)
        .await
        .unwrap();
    assert_eq!(model_files(cache.path()), vec!["base.gguf"]);
}

#[tokio::test]
async fn a_pin_recorded_from_another_models_file_is_refused() {
    // What an earlier xsafe left: the base model cached and pinned as `it`.
    let cache = tempfile::tempdir().unwrap();
    let all = catalogue();
    let it = &all[1];
    std::fs::create_dir_all(models_dir(cache.path())).unwrap();
    std::fs::write(cache_path(it, cache.path()), &BODY[..]).unwrap();
    std::fs::write(
        models_dir(cache.path()).join("pins.json"),
        serde_json::json!({ "it": sha(&BODY[..]) }).to_string(),
    )
    .unwrap();
    let err = pull_model_in(&all, it, Some(&unused_url()), cache.path(), &no_progress)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pins it to the sha256 of model `base`")
            && err.contains("pins.json")
            && err.contains("delete the `it` entry"),
        "{err}"
    );
    let other = xsafe_testkit::tiny_gguf("the real instruction-tuned model");
    let file = cache.path().join("it-download.gguf");
    std::fs::write(&file, &other).unwrap();
    let err = import_model_in(&all, it, &file, cache.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pins it to the sha256 of model `base`"),
        "{err}"
    );
}

/// The catalogue of the two tests below: `it`, pinned on first use, is a
/// Q8_0 file (`general.file_type` 7).
fn q8_it() -> KnownModel {
    KnownModel {
        quantization: Some("Q8_0"),
        ..model("it", None, true)
    }
}

/// The bug this guards: a file of another quantisation than the
/// catalogue's (the base model's Q4_K_M at a URL given for the Q8_0
/// instruction-tuned model, requantised so that its sha256 is no known
/// one) was pulled and pinned as the model, and every right download was
/// refused after it. It is refused, naming what was served, and nothing
/// is cached or pinned; the right quantisation is pinned as before.
#[tokio::test]
async fn a_first_use_pin_refuses_a_file_of_another_quantization() {
    static SERVED: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    let wrong = xsafe_testkit::tiny_gguf_of_type("Gemma 3 270m", 15);
    *SERVED.lock().unwrap() = wrong.clone();
    let server = serve(&SERVED);
    let cache = tempfile::tempdir().unwrap();
    let it = q8_it();
    let url = format!("{}/tiny.gguf", server.url());
    let err = pull_model_in(&[it], &it, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap_err();
    assert!(matches!(err, TargetError::Config(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the download from `{url}` is a Q4_K_M GGUF (general.name \"Gemma 3 270m\"), {} \
             bytes, but model `it` is Q8_0 (as `xsafe model list` says), so it is another \
             model's file; nothing was cached or pinned (does --url or XSAFE_MODEL_URL name \
             another model's file?)",
            wrong.len()
        )
    );
    assert!(model_files(cache.path()).is_empty());
    assert!(pins(cache.path()).get("it").is_none());

    // Imported from disk: the same, without the question about a URL.
    let file = cache.path().join("download.gguf");
    std::fs::write(&file, &wrong).unwrap();
    let err = import_model_in(&[it], &it, &file, cache.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("`{}` is a Q4_K_M GGUF", file.display()))
            && err.ends_with("nothing was cached or pinned"),
        "{err}"
    );
    assert!(pins(cache.path()).get("it").is_none());

    // The right file is pulled and pinned.
    let right = xsafe_testkit::tiny_gguf_of_type("Gemma 3 270m It", 7);
    *SERVED.lock().unwrap() = right.clone();
    let path = pull_model_in(&[it], &it, Some(&url), cache.path(), &no_progress)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), right);
    assert_eq!(pins(cache.path())["it"], sha(&right));
    // A file that does not say its quantisation is not refused for it.
    let it_untyped = KnownModel {
        name: "untyped",
        file_name: "untyped.gguf",
        ..it
    };
    let file = cache.path().join("plain.gguf");
    std::fs::write(&file, &BODY[..]).unwrap();
    import_model_in(&[it_untyped], &it_untyped, &file, cache.path()).unwrap();
}

/// What an xsafe without that check left: a Q4_K_M file cached and pinned
/// as the Q8_0 model. Pulling says so and how to clear it, instead of
/// refusing the right download for its checksum.
#[tokio::test]
async fn a_pin_recorded_from_a_file_of_another_quantization_is_refused() {
    let cache = tempfile::tempdir().unwrap();
    let it = q8_it();
    let wrong = xsafe_testkit::tiny_gguf_of_type("Gemma 3 270m", 15);
    std::fs::create_dir_all(models_dir(cache.path())).unwrap();
    let cached = cache_path(&it, cache.path());
    std::fs::write(&cached, &wrong).unwrap();
    std::fs::write(
        models_dir(cache.path()).join("pins.json"),
        serde_json::json!({ "it": sha(&wrong) }).to_string(),
    )
    .unwrap();
    let err = pull_model_in(&[it], &it, Some(&unused_url()), cache.path(), &no_progress)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "model `it`: `{}` pins it to its cached file, a Q4_K_M GGUF (general.name \"Gemma \
             3 270m\"), where `it` is Q8_0, recorded from a download of the wrong file; delete \
             the `it` entry there and the cached file `{}`, then pull it again",
            models_dir(cache.path()).join("pins.json").display(),
            cached.display()
        )
    );
}

/// A cached file that is cut short, of the wrong size, or of another
/// quantisation is told from a whole one, by its header and size only.
#[test]
fn a_damaged_cached_file_is_told_from_a_whole_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    let whole = xsafe_testkit::tiny_gguf_of_type("m", 7);
    let sized = KnownModel {
        sha256: Some(sha(&whole)),
        size_bytes: Some(whole.len() as u64),
        ..q8_it()
    };
    std::fs::write(&path, &whole).unwrap();
    assert_eq!(models::cached_problem(&sized, &path), None);
    assert_eq!(models::cached_problem(&q8_it(), &path), None);
    std::fs::write(&path, &whole[..whole.len() - 10]).unwrap();
    assert_eq!(
        models::cached_problem(&sized, &path).unwrap(),
        format!(
            "it has {} bytes where the model has {} (cut short?)",
            whole.len() - 10,
            whole.len()
        )
    );
    // Without a known size, its header tells.
    let cut = models::cached_problem(&q8_it(), &path).unwrap();
    assert!(cut.starts_with("it is cut short"), "{cut}");
    std::fs::write(&path, xsafe_testkit::tiny_gguf_of_type("m", 15)).unwrap();
    assert_eq!(
        models::cached_problem(&q8_it(), &path).unwrap(),
        "it is a Q4_K_M GGUF (general.name \"m\"), where `it` is Q8_0"
    );
}
