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

/// The bug this guards: a known model's cached file cut short was told to
/// "give a GGUF model such as those `xsafe model list` names", while `model
/// list` showed that very file as cached. It says to pull the model again,
/// which replaces it; a file of that name elsewhere is told where a whole
/// copy goes, and any other file keeps the general advice.
#[test]
fn a_damaged_known_model_says_to_pull_it_again() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("xsafe-local-damaged");
    let cache = dir.join("cache").join("models");
    let elsewhere = dir.join("downloads");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let whole = xsafe_testkit::tiny_gguf("cut");
    let cut = &whole[..whole.len() - 1];
    let load = |path: &std::path::Path| {
        std::fs::write(path, cut).unwrap();
        LocalTarget::load("local:x", path, LocalOptions::default())
            .unwrap_err()
            .to_string()
    };

    let cached = cache.join("gemma-3-270m-q4_k_m.gguf");
    let err = load(&cached);
    assert!(
        err.starts_with(&format!(
            "model file `{}` is not a whole GGUF model file: it is cut short",
            cached.display()
        )) && err.ends_with(
            "it is the cached file of model `gemma-3-270m`, damaged: run `xsafe model pull \
             gemma-3-270m` again, which replaces it (or `xsafe model import gemma-3-270m FILE` \
             with a whole copy)"
        ),
        "{err}"
    );
    assert!(!err.contains("xsafe model list"), "{err}");

    // Through a link of another name, it is still the cached file.
    #[cfg(unix)]
    {
        let link = elsewhere.join("g.gguf");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&cached, &link).unwrap();
        let err = LocalTarget::load("local:x", &link, LocalOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the cached file of model `gemma-3-270m`"),
            "{err}"
        );
    }

    let copy = elsewhere.join("gemma-3-270m-it-Q8_0.gguf");
    let err = load(&copy);
    assert!(
        err.ends_with(
            "it is named as the file of model `gemma-3-270m-it`: `xsafe model pull \
             gemma-3-270m-it` puts a whole copy in the cache, which `local:gemma-3-270m-it` runs"
        ),
        "{err}"
    );

    let other = elsewhere.join("mine.gguf");
    let err = load(&other);
    assert!(
        err.ends_with("give a GGUF model such as those `xsafe model list` names"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
