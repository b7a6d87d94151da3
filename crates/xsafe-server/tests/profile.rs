//! What `xsafe serve` reads at start and tells its operator: a config file
//! written wrong (settings below a `[[keys]]` table, JSON), a profile
//! whose composition file changed, one tuned with `--clarifier`, and one
//! whose strategy the proxy sends otherwise than tune measured it.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use xsafe_core::Strategy;
use xsafe_server::{Profile, SentOtherwise, ServerConfig};
use xsafe_strategy::{BuildOptions, Registry};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// The error loading the config file `text` gives.
fn config_refused(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "serve.toml", text);
    match ServerConfig::load(&path) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted: {text}"),
    }
}

const HASH: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/// The reviewer's file: `xsafe serve hash-key --generate --name app >>
/// serve.toml`, then `profile`, `upstream` and `listen` appended below it,
/// where TOML reads them as the key's. The message said only "unknown
/// field `listen`, expected `name` or `sha256`".
#[test]
fn a_setting_below_a_keys_table_is_said_to_belong_above_it() {
    let text = format!(
        "[[keys]]\nname = \"app\"\nsha256 = \"{HASH}\"\nprofile = \"p.toml\"\nupstream = \
         \"http://127.0.0.1:9/v1\"\nlisten = \"127.0.0.1:8080\"\n"
    );
    let e = config_refused(&text);
    assert!(
        e.contains("line 6, column 1")
            && e.contains("unknown field `listen`, expected `name` or `sha256`")
            && e.contains(
                "`listen` is a top-level setting, but it is written below a `[[keys]]` header"
            )
            && e.contains("put the top-level settings (`profile`, `upstream`, `listen`,")
            && e.contains("before the first `[[keys]]` table"),
        "{e}"
    );
    // A misspelt key's own field is no top-level setting.
    let e = config_refused(&format!("[[keys]]\nnmae = \"app\"\nsha256 = \"{HASH}\"\n"));
    assert!(
        e.contains("unknown field `nmae`") && !e.contains("top-level"),
        "{e}"
    );
    // Above the keys, the settings are read.
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "serve.toml",
        &format!("listen = \"127.0.0.1:8080\"\n\n[[keys]]\nname = \"app\"\nsha256 = \"{HASH}\"\n"),
    );
    let config = ServerConfig::load(&path).unwrap();
    assert_eq!(config.listen.as_deref(), Some("127.0.0.1:8080"));
}

#[test]
fn a_json_config_file_is_named_as_json() {
    let e = config_refused("{\n  \"upstream\": \"http://127.0.0.1:9/v1\"\n}\n");
    assert!(
        e.contains("serve.toml` is not valid: ")
            && e.ends_with("this looks like JSON; xsafe reads TOML here"),
        "{e}"
    );
}

/// A profile `xsafe tune` could have written for `definition`.
fn profile_of(dir: &Path, strategy: &str, definition: &Value, extra: &str) -> Profile {
    let file = json!({"choice": {
        "strategy": strategy,
        "definition": xsafe_strategy::json_to_toml(definition).unwrap(),
    }});
    let text = format!("{}\n{extra}", toml::to_string(&file).unwrap());
    Profile::load(&write(dir, "profile.toml", &text)).unwrap()
}

/// The registry of the built-in strategies and `files` of `dir`.
fn registry(dir: &Path, files: &[&str]) -> Registry {
    let mut registry = Registry::builtin();
    for f in files {
        registry.add_file(&dir.join(f)).unwrap();
    }
    registry
}

/// The reviewer's case: a composition file (`s2/combo.toml`) of two step
/// files, one with its own bank, changed after tuning. Swapping its steps
/// was blamed on the first step's file ("`s2/fs-mine.toml` (or a data
/// file it names) is not as it was"), and a step added or removed showed
/// both lists cut to the same first 60 characters. The composition file
/// is named now, with both lists of steps.
#[test]
fn a_changed_composition_file_is_named_with_both_lists_of_steps() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "s2/bank.toml",
        "[[exemplar]]\nid = \"a\"\ntype = \"homonyms\"\nlabel = \"safe\"\nprompt = \"How do I \
         kill a stuck job?\"\nanswer = \"Use kill with its id.\"\n",
    );
    write(
        d,
        "s2/fs-mine.toml",
        "name = \"fs-mine\"\nkind = \"few-shot\"\nk = 1\nunsafe = 0\nexemplars = \"bank.toml\"\n",
    );
    write(
        d,
        "s2/combo.toml",
        "name = \"combo\"\nkind = \"composition\"\nsteps = [\"fs-mine\", \"contextual\"]\n",
    );
    let files = ["s2/fs-mine.toml", "s2/combo.toml"];
    let tuned = registry(d, &files)
        .build("combo", &BuildOptions::default())
        .unwrap()
        .definition();
    let profile = profile_of(d, "combo", &tuned, "");
    profile
        .build_strategy(&registry(d, &files), &BuildOptions::default())
        .unwrap();
    for (steps, what, now) in [
        (
            "[\"contextual\", \"fs-mine\"]",
            "the steps' order",
            "`contextual`, `fs-mine`",
        ),
        ("[\"fs-mine\"]", "a step added or removed", "`fs-mine`"),
        (
            "[\"fs-mine\", \"contextual\", \"interactive\"]",
            "a step added or removed",
            "`fs-mine`, `contextual`, `interactive`",
        ),
        (
            "[\"fs-mine\", \"interactive\"]",
            "another step",
            "`fs-mine`, `interactive`",
        ),
    ] {
        write(
            d,
            "s2/combo.toml",
            &format!("name = \"combo\"\nkind = \"composition\"\nsteps = {steps}\n"),
        );
        let Err(e) = profile.build_strategy(&registry(d, &files), &BuildOptions::default()) else {
            panic!("{steps} was served");
        };
        let e = e.to_string();
        assert!(
            e.contains(
                "the strategy `combo` differs from the one the profile was tuned with in its \
                 steps: the profile records the steps `fs-mine`, `contextual` and the \
                 composition file `"
            ) && e.contains(&format!(
                "s2/combo.toml` now gives {now} ({what}); the composition file changed"
            )) && !e.contains("fs-mine.toml"),
            "{steps}: {e}"
        );
    }
    // A step's own file changed: that file is named, as before.
    write(
        d,
        "s2/combo.toml",
        "name = \"combo\"\nkind = \"composition\"\nsteps = [\"fs-mine\", \"contextual\"]\n",
    );
    write(
        d,
        "s2/fs-mine.toml",
        "name = \"fs-mine\"\nkind = \"few-shot\"\nk = 1\nunsafe = 0\nexemplars = \"bank.toml\"\n\
         system = \"Answer plainly.\"\n",
    );
    let Err(e) = profile.build_strategy(&registry(d, &files), &BuildOptions::default()) else {
        panic!("an edited step was served");
    };
    assert!(e.to_string().contains("fs-mine.toml` gives"), "{e}");
}

/// `xsafe tune` warns with the reason `serve` refuses a profile tuned with
/// `--clarifier` for: one function gives both.
#[test]
fn a_clarifier_profile_is_refused_with_the_reason_tune_warns_with() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builtin();
    let plain = registry
        .build("contextual+interactive", &BuildOptions::default())
        .unwrap()
        .definition();
    assert_eq!(xsafe_server::unservable(&plain), None);
    let mut clarified = plain.clone();
    clarified["steps"][1]["clarifier"] = json!({"id": "openai:helper", "settings": {}});
    let why = xsafe_server::unservable(&clarified).unwrap();
    assert!(
        why.starts_with("the strategy was tuned with --clarifier `openai:helper`")
            && why.ends_with("tune without --clarifier to get a profile the proxy can serve"),
        "{why}"
    );
    let profile = profile_of(dir.path(), "contextual+interactive", &clarified, "");
    let Err(e) = profile.build_strategy(&registry, &BuildOptions::default()) else {
        panic!("a clarifier profile was served");
    };
    assert_eq!(
        e.to_string(),
        format!("profile `{}`: {why}", profile.path.display())
    );
}

/// Tune records, per part, how many prompts the proxy sends otherwise
/// than tune measured them (it gets no type); serve says so at start when
/// some are, and nothing new for a profile written before tune counted.
#[test]
fn a_profiles_counts_of_prompts_sent_otherwise_are_said_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let definition = Registry::builtin()
        .build("contextual", &BuildOptions::default())
        .unwrap()
        .definition();
    let counts = |cal: (usize, usize), held: (usize, usize)| {
        format!(
            "[calibration]\nsafe_cases = 10\nunsafe_cases = 8\nproxy_differs_safe = {}\n\
             proxy_differs_unsafe = {}\n\n[heldout]\ncheck = \"passed\"\nsafe_cases = 11\n\
             unsafe_cases = 7\nproxy_differs_safe = {}\nproxy_differs_unsafe = {}\n",
            cal.0, cal.1, held.0, held.1
        )
    };
    let profile = profile_of(
        dir.path(),
        "contextual",
        &definition,
        &counts((3, 2), (4, 0)),
    );
    assert_eq!(
        profile.sent_otherwise,
        Some([
            SentOtherwise {
                safe: 3,
                safe_cases: 10,
                unsafe_: 2,
                unsafe_cases: 8
            },
            SentOtherwise {
                safe: 4,
                safe_cases: 11,
                unsafe_: 0,
                unsafe_cases: 7
            }
        ])
    );
    let warning = profile.sent_otherwise_warning().unwrap();
    assert!(
        warning.starts_with(&format!(
            "profile `{}`: the proxy sends another conversation than tune measured for 3 of 10 \
             safe and 2 of 8 unsafe calibration prompts, and 4 of 11 safe and 0 of 7 unsafe \
             held-out prompts: tune gave the strategy `contextual` each prompt's type",
            profile.path.display()
        )) && warning.contains(
            "so the tuned rates describe conversations the proxy will send for only 27 of 36 \
             prompts"
        ),
        "{warning}"
    );
    let none = profile_of(
        dir.path(),
        "contextual",
        &definition,
        &counts((0, 0), (0, 0)),
    );
    assert!(none.sent_otherwise.is_some());
    assert_eq!(none.sent_otherwise_warning(), None);
    let old = profile_of(
        dir.path(),
        "contextual",
        &definition,
        "[heldout]\ncheck = \"passed\"\nsafe_cases = 11\nunsafe_cases = 7\n",
    );
    assert_eq!(old.sent_otherwise, None);
    assert_eq!(old.sent_otherwise_warning(), None);
}
