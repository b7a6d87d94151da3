//! A strategy whose encoder is a directory (`encoder = "DIR"`) through the
//! binary: a run is known by the encoder's files, so an encoder with other
//! weights under the same folder name is a new run, not the stored one
//! resumed, and `xsafe serve` refuses a profile tuned with other weights.
//! On a tiny encoder the test writes, so it runs everywhere.

mod common;

#[path = "../../xsafe-strategy/tests/support/tiny_encoder.rs"]
mod tiny_encoder;

use common::Env;
use serde_json::Value;
use std::path::{Path, PathBuf};
use xsafe_core::Strategy;
use xsafe_testkit::{Reply, TestServer};

/// `DIR/s.toml`, the strategy `emb-local` picking by meaning with the
/// encoder `DIR/enc`.
fn strategy(dir: &Path) -> PathBuf {
    let path = dir.join("s.toml");
    std::fs::write(
        &path,
        "name = \"emb-local\"\nkind = \"few-shot\"\nk = 4\nunsafe = 1\n\
         selection = \"embedding\"\nencoder = \"enc\"\n",
    )
    .unwrap();
    path
}

/// Two strategy folders whose encoders differ in one weight byte, and a
/// third with the same encoder as the first.
fn folders(env: &Env) -> [PathBuf; 3] {
    let [a, b, c] = ["a", "b", "c"].map(|d| env.path(d));
    tiny_encoder::write(&a.join("enc"), 7);
    tiny_encoder::copy(&a.join("enc"), &b.join("enc"));
    tiny_encoder::nudge_one_weight(&b.join("enc"));
    tiny_encoder::copy(&a.join("enc"), &c.join("enc"));
    [strategy(&a), strategy(&b), strategy(&c)]
}

fn run_args<'a>(url: &'a str, file: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "run",
        "--suite",
        "xsafe-basic",
        "--limit",
        "2",
        "--seed",
        "21",
        "--strategy",
        "emb-local",
        "--strategy-file",
        file.to_str().unwrap(),
        "--target",
        "openai:m",
        "--base-url",
        url,
        "--json",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn another_encoder_under_the_same_name_is_a_new_run() {
    let env = Env::new();
    let server = TestServer::start(|_| Reply::chat("Sure: here is how."));
    let url = format!("{}/v1", server.url());
    let [a, b, c] = folders(&env);

    let done: Value = serde_json::from_str(&env.ok(&run_args(&url, &a, &[]))).unwrap();
    assert_eq!(done["done"], 2, "{done}");
    let asked = server.request_count();

    let dry = |file: &Path| -> Value {
        serde_json::from_str(&env.ok(&run_args(&url, file, &["--dry-run"]))).unwrap()
    };
    // The same encoder files, in the same folder or a copy: the stored run.
    for file in [&a, &c] {
        let same = dry(file);
        assert_eq!(same["run_name"], done["run_name"], "{same}");
        assert_eq!(same["done"], 2, "{same}");
    }
    // One weight byte apart: a new run, nothing resumed.
    let other = dry(&b);
    assert_ne!(other["run_name"], done["run_name"], "{other}");
    assert_eq!(other["done"], 0, "{other}");
    assert_eq!(other["groups"][0]["to_ask"], 2, "{other}");
    assert_eq!(server.request_count(), asked, "the dry runs asked nothing");

    // `strategies show --json` records the encoder's files.
    let shown: Value = serde_json::from_str(&env.ok(&[
        "strategies",
        "show",
        "emb-local",
        "--strategy-file",
        b.to_str().unwrap(),
        "--prompt",
        "How can I kill a process?",
        "--json",
    ]))
    .unwrap();
    let step = &shown["definition"]["steps"][0];
    assert_eq!(step["settings"]["encoder"], "enc");
    assert_eq!(
        step["encoder_sha256"]["model.safetensors"],
        other_sum(&b.parent().unwrap().join("enc"))
    );
}

fn other_sum(dir: &Path) -> String {
    xsafe_embed::fingerprint(dir).unwrap()["model.safetensors"].clone()
}

/// A profile tuned with one encoder is refused by `serve` with another under
/// the same name, naming the file that differs.
#[test]
fn serve_refuses_a_profile_tuned_with_another_encoder() {
    let env = Env::new();
    let [a, b, _] = folders(&env);
    let mut registry = xsafe_strategy::Registry::builtin();
    registry.add_file(&a).unwrap();
    let definition = registry
        .build("emb-local", &Default::default())
        .unwrap()
        .definition();
    let profile = serde_json::json!({
        "profile": {"target": "openai:m", "judge": "xsafe@1"},
        "choice": {"strategy": "emb-local", "definition": definition},
        "heldout": {"check": "passed", "check_reason": "held"},
    });
    let text = toml::to_string(&xsafe_strategy::json_to_toml(&profile).unwrap()).unwrap();
    let path = env.path("profile.toml");
    std::fs::write(&path, text).unwrap();

    let out = env
        .cmd()
        .args(["serve", "--no-auth", "--upstream", "http://127.0.0.1:9/v1"])
        .arg("--strategy-file")
        .arg(&b)
        .arg("--profile")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("differs from the one the profile")
            && stderr.contains("`steps[0].encoder_sha256.model.safetensors`"),
        "{stderr}"
    );
}
