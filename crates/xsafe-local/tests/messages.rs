//! What `LocalTarget::load` says of a path that is no GGUF file, before
//! llama.cpp is involved (no model needed).

use xsafe_local::{LocalOptions, LocalTarget};

#[test]
fn a_folder_is_refused_as_a_folder() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("xsafe-local-a-folder");
    std::fs::create_dir_all(&dir).unwrap();
    let err = LocalTarget::load("local:dir", &dir, LocalOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is a folder")
            && err.contains("one GGUF file")
            && !err.contains("does not exist"),
        "{err}"
    );
}
