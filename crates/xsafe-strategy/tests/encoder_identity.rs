//! An encoder named by its directory (`encoder = "DIR"`) is known by its
//! files, not by the directory's name: other weights under the same name
//! pick other exemplars, so they make another strategy (another run key,
//! a profile `xsafe serve` refuses). A known encoder stays known by its
//! name, so runs made with it keep their keys. On a tiny encoder written by
//! the test, so these run everywhere.

#[path = "support/tiny_encoder.rs"]
mod tiny_encoder;

use serde_json::Value;
use std::path::Path;
use xsafe_core::Strategy;
use xsafe_strategy::{BuildOptions, Registry, identity};

/// The definition of a few-shot strategy in `dir/s.toml` whose encoder is
/// `encoder` (relative to `dir`).
fn definition(dir: &Path, encoder: &str) -> Value {
    let path = dir.join("s.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"s\"\nkind = \"few-shot\"\nselection = \"embedding\"\nencoder = \"{encoder}\"\n"
        ),
    )
    .unwrap();
    let mut registry = Registry::builtin();
    registry.add_file(&path).unwrap();
    registry
        .build("s", &BuildOptions::default())
        .unwrap()
        .definition()
}

#[test]
fn an_encoder_directory_is_recorded_by_its_files() {
    let root = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("c"),
    );
    tiny_encoder::write(&a.join("enc"), 1);
    tiny_encoder::copy(&a.join("enc"), &b.join("enc"));
    tiny_encoder::nudge_one_weight(&b.join("enc"));
    // The same files in a folder of another name, named another way.
    tiny_encoder::copy(&a.join("enc"), &c.join("models/enc"));

    let da = definition(&a, "enc");
    let db = definition(&b, "enc");
    let dc = definition(&c, "./models/enc/");
    let step = &da["steps"][0];
    // The setting stays as written; the files are beside it.
    assert_eq!(step["settings"]["encoder"], "enc");
    let sums = step["encoder_sha256"]
        .as_object()
        .expect("the encoder's sums");
    let files: Vec<&str> = sums.keys().map(String::as_str).collect();
    assert_eq!(
        files,
        [
            "config.json",
            "model.safetensors",
            "sentence_bert_config.json",
            "tokenizer.json"
        ]
    );
    for (file, sum) in sums {
        assert_eq!(sum, &sha256(&a.join("enc").join(file)), "{file}");
    }

    // One weight byte apart: another strategy, told apart at the weights.
    assert_ne!(identity(&da), identity(&db));
    assert_ne!(
        db["steps"][0]["encoder_sha256"]["model.safetensors"],
        sums["model.safetensors"]
    );
    assert_eq!(
        db["steps"][0]["encoder_sha256"]["config.json"],
        sums["config.json"]
    );
    // The same files, wherever they are and however the path is spelt: the
    // same strategy, as a data file's folder changes nothing either.
    assert_eq!(identity(&da), identity(&dc));
    assert_eq!(identity(&da)["steps"][0]["settings"]["encoder"], "enc");
    // Built again in the same process (the sums come from the cache): the
    // same definition.
    assert_eq!(definition(&a, "enc"), da);
}

/// The sums are kept by path, size and modification time: a file rewritten
/// in place is hashed again, not served from the cache.
#[test]
fn an_encoder_rewritten_in_place_is_hashed_again() {
    let root = tempfile::tempdir().unwrap();
    tiny_encoder::write(&root.path().join("enc"), 2);
    let before = definition(root.path(), "enc");
    // A later modification time, whatever the file system's resolution.
    std::thread::sleep(std::time::Duration::from_millis(20));
    tiny_encoder::nudge_one_weight(&root.path().join("enc"));
    let file = std::fs::File::options()
        .append(true)
        .open(root.path().join("enc/model.safetensors"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let after = definition(root.path(), "enc");
    assert_ne!(identity(&before), identity(&after));
}

/// A known encoder is named, not hashed: the definition of
/// `few-shot-embedding` is what it was before encoders were hashed, so
/// runs and profiles made with it stay this strategy's.
#[test]
fn a_known_encoder_is_recorded_by_its_name_only() {
    let cache = tempfile::tempdir().unwrap();
    // `resolve` takes a cached known encoder as it finds it (its files were
    // checked against their pins when pulled or imported).
    tiny_encoder::write(&cache.path().join("models/all-minilm-l6-v2"), 3);
    let options = BuildOptions {
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let definition = Registry::builtin()
        .build("few-shot-embedding", &options)
        .unwrap()
        .definition();
    let step = definition["steps"][0].as_object().unwrap();
    let keys: Vec<&str> = step.keys().map(String::as_str).collect();
    assert_eq!(keys, ["exemplars", "file", "kind", "name", "settings"]);
    assert_eq!(
        step["settings"],
        serde_json::json!({
            "k": 4, "unsafe": 1, "selection": "embedding",
            "encoder": "all-minilm-l6-v2", "exemplars": "builtin", "system": null,
        })
    );
    assert_eq!(step["file"], "builtin:few-shot-embedding");
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}
