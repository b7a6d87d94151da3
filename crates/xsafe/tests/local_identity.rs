//! A local model is known by its file's content: one file (or a copy of it)
//! under two names in one command is refused before anything is loaded,
//! two files of one name and size that hold other weights are two models,
//! and a model file whose name has a comma is one target. No model is
//! needed: the files here are not GGUF models, and a command that gets as
//! far as loading one fails there, saying so.

mod common;

use common::Env;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// `xsafe run --dry-run` of the built-in suite on `targets`.
fn dry_run(env: &Env, targets: &str) -> std::process::Output {
    env.run(&[
        "run",
        "--suite",
        "xsafe-basic",
        "--limit",
        "2",
        "--target",
        targets,
        "--judge",
        "strmatch",
        "--dry-run",
    ])
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `content` as the file `name` of `env`'s folder, last changed an hour
/// ago (a file changed in the last seconds has no recorded sha256).
fn settled(env: &Env, name: &str, content: &[u8]) -> PathBuf {
    let path = env.path(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    path
}

fn local(path: &Path) -> String {
    format!("local:{}", path.display())
}

/// The bug this guards: one model file under two names in one command
/// (`local:default,local:gemma-3-270m`, two spellings of its path, a
/// symbolic link, a copy) was loaded and asked every case twice. It is
/// refused, naming both, before any model is loaded (these files are no
/// GGUF models: loading one would fail otherwise).
#[test]
fn one_model_file_under_two_names_is_refused_before_it_is_loaded() {
    let env = Env::new();
    let weights = b"not a GGUF model, but weights all the same";
    let model = settled(&env, "m/model.gguf", weights);
    let copy = settled(&env, "copy.gguf", weights);
    let dotted = env.path("m").join(".").join("model.gguf");
    let mut names = vec![
        (local(&model), local(&dotted)),
        (local(&model), local(&copy)),
    ];
    #[cfg(unix)]
    {
        let link = env.path("link.gguf");
        std::os::unix::fs::symlink(&model, &link).unwrap();
        names.push((local(&link), local(&model)));
    }
    // A model's cached file, by its name and as the default: a small GGUF
    // of the model's quantisation, as a file of another is refused as
    // damaged before any is compared.
    let gguf = xsafe_testkit::tiny_gguf_of_type("Gemma 3 270m it", 7);
    settled(&env, "cache/models/gemma-3-270m-it-Q8_0.gguf", &gguf);
    names.push(("local:default".into(), "local:gemma-3-270m-it".into()));
    for (first, second) in names {
        let out = dry_run(&env, &format!("{first},{second}"));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "targets `{first}` and `{second}` are one local model"
            )) && err.contains("nothing was loaded")
                && err.contains("give one of them")
                && !err.contains("GGUF"),
            "{err}"
        );
    }
    let out = dry_run(&env, &format!("{},{}", local(&model), local(&model)));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("target `{}` is given twice", local(&model))),
        "{err}"
    );
    assert!(!env.db().exists(), "nothing stored");
}

/// The bug this guards: two model files of one name and size in different
/// folders (a checkpoint and one with its weights overwritten) were one
/// model. They are two targets: each is loaded (and, these being no GGUF
/// models, the first load fails, naming its file).
#[test]
fn two_files_of_one_name_and_size_with_other_weights_are_two_models() {
    let env = Env::new();
    let ck1 = settled(&env, "ck1/model.gguf", b"weights of checkpoint 1");
    let ck2 = settled(&env, "ck2/model.gguf", b"weights of checkpoint 2");
    let out = dry_run(&env, &format!("{},{}", local(&ck1), local(&ck2)));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("one local model"), "{err}");
    assert!(err.contains(&format!("target `{}`", local(&ck1))), "{err}");
    // Each file's sha256 is recorded in the cache, under its path.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.path("cache/model-sha256.json")).unwrap())
            .unwrap();
    for (file, weights) in [
        (&ck1, "weights of checkpoint 1"),
        (&ck2, "weights of checkpoint 2"),
    ] {
        let key = file.canonicalize().unwrap();
        let entry = &record["files"][key.to_str().unwrap()];
        assert_eq!(entry["size"], weights.len(), "{record}");
        let sha = xsafe_fetch::sha256_file(file).unwrap();
        assert_eq!(entry["sha256"], sha.as_str(), "{record}");
    }
}

/// The bug this guards: a model file whose name has a comma was split into
/// two targets (`model file `files/my` does not exist`, no hint). A value
/// that names an existing file as a whole is one target; one that does not
/// says that commas separate targets.
#[test]
fn a_comma_in_a_model_files_name_is_one_target_or_is_explained() {
    let env = Env::new();
    let file = settled(&env, "files/my,model.gguf", b"not a GGUF model");
    let out = dry_run(&env, &local(&file));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("target `{}`", local(&file)))
            && !err.contains("does not exist")
            && !err.contains("commas separate"),
        "the whole path is one target, loaded (and refused as no GGUF model): {err}"
    );

    let missing = env.path("files/nope,model.gguf");
    let out = dry_run(&env, &local(&missing));
    let err = stderr(&out);
    let first = env.path("files/nope");
    assert!(
        err.contains(&format!("model file `{}` does not exist", first.display()))
            && err.contains(&format!(
                "is a part of --target `{}`, which names no existing file as a whole: commas \
                 separate targets",
                local(&missing)
            )),
        "{err}"
    );
}

/// `--target` (and `XSAFE_TARGET`) values are still split at their commas,
/// and repeated flags add targets.
#[test]
fn targets_are_still_split_at_commas() {
    let env = Env::new();
    let groups = |out: std::process::Output| -> Vec<String> {
        assert!(out.status.success(), "{}", stderr(&out));
        let preview: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        preview["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["target"].as_str().unwrap().to_string())
            .collect()
    };
    let args = [
        "run",
        "--suite",
        "xsafe-basic",
        "--limit",
        "2",
        "--judge",
        "strmatch",
        "--dry-run",
        "--json",
    ];
    let by_flag = env
        .cmd()
        .args(args)
        .args(["--target", "openai:a, openai:b", "--target", "openai:c"])
        .output()
        .unwrap();
    assert_eq!(groups(by_flag), ["openai:a", "openai:b", "openai:c"]);
    let by_variable = env
        .cmd()
        .args(args)
        .env("XSAFE_TARGET", "openai:a,openai:b")
        .output()
        .unwrap();
    assert_eq!(groups(by_variable), ["openai:a", "openai:b"]);
}
