//! `xsafe runs` and the store file: a copy made while a run wrote it is
//! found damaged by `runs list` as by the commands that read answers, the
//! space a deleted run leaves is given back by `runs compact`, and a store
//! another user owns says who can make it writable.

mod common;

use common::{Env, keyword_model};
use std::path::Path;
use xsafe_testkit::TestServer;

/// A suite of `n` cases, `c0`...
fn suite(n: usize) -> String {
    let mut csv = String::from("id,prompt,type,label\n");
    for i in 0..n {
        csv.push_str(&format!(
            "c{i},How do I bake the loaf of bread number {i} in a stone oven?,homonyms,safe\n"
        ));
    }
    csv
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
        + std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len())
}

/// The bug this guards: `runs list` of a store copied with `cp` while a
/// run wrote it listed the runs with no warning (one with a wrong count),
/// while `runs show`, `report` and `export` refused it as damaged. Here
/// the copy's index of results by status is the one from before the
/// second run, as a copy taken half-way through a write leaves it.
#[test]
fn runs_list_refuses_a_store_copied_while_a_run_wrote_it() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    common::run_small_suite_on(&env, &model, "first", &["--judge", "strmatch"]);
    let before = std::fs::read(env.db()).unwrap();
    common::run_small_suite_on(&env, &model, "second", &["--judge", "strmatch"]);
    let listed = env.ok(&["runs", "list"]);
    assert!(listed.contains("second"), "{listed}");

    let root = common::count_rows(
        &env.db(),
        "SELECT rootpage FROM sqlite_schema WHERE name = 'results_by_status'",
    ) as usize;
    let page = common::count_rows(&env.db(), "PRAGMA page_size") as usize;
    let at = (root - 1) * page..root * page;
    let mut bytes = std::fs::read(env.db()).unwrap();
    bytes[at.clone()].copy_from_slice(&before[at]);
    std::fs::write(env.db(), &bytes).unwrap();

    for args in [&["runs", "list"][..], &["runs", "list", "--json"]] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} listed runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for part in [
            env.db().display().to_string().as_str(),
            "is damaged",
            "index `results_by_status` holds 5 entries for the 10 rows of table `results`",
            "move it aside",
            "backup",
        ] {
            assert!(stderr.contains(part), "`{part}` missing from: {stderr}");
        }
    }
    assert_eq!(
        std::fs::read(env.db()).unwrap(),
        bytes,
        "the copy was changed"
    );
}

/// `runs delete` says that the space is reused and how to give it back;
/// `runs compact` gives it back, keeps the other runs, and is refused while
/// another process runs a run of the store.
#[test]
fn runs_compact_gives_back_what_a_deleted_run_took() {
    let env = Env::new();
    let model = TestServer::start(keyword_model);
    let cases = suite(400);
    let extra = ["--judge", "strmatch", "--concurrency", "8"];
    common::run_suite_on(&env, &model, ("big.csv", &cases), "big", &extra);
    common::run_small_suite_on(&env, &model, "kept", &["--judge", "strmatch"]);
    let shown = env.ok(&["runs", "show", "kept", "--json"]);

    let out = env.run(&["runs", "delete", "big"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for part in [
        "deleted run `big`",
        "reused by the next runs",
        "the file does not shrink: `xsafe runs compact` gives that space back to the disk",
    ] {
        assert!(stderr.contains(part), "`{part}` missing from: {stderr}");
    }
    let before = size(&env.db());

    // A run held by another process: refused, the store unchanged.
    let store = xsafe_store::Store::open(&env.db()).unwrap();
    let claim = store.lock_run(&store.run("kept").unwrap()).unwrap();
    let bytes = std::fs::read(env.db()).unwrap();
    let stderr = env.fails(&["runs", "compact"]);
    for part in [
        "run `kept` is being run by another xsafe process",
        "compacting rewrites the whole store",
        "nothing was changed",
    ] {
        assert!(stderr.contains(part), "`{part}` missing from: {stderr}");
    }
    drop((claim, store));
    assert_eq!(std::fs::read(env.db()).unwrap(), bytes);

    let out = env.run(&["runs", "compact"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let after = size(&env.db());
    assert!(after * 3 < before, "{after} of {before} bytes");
    assert!(
        stderr.contains(&format!("compacted the run store {}", env.db().display()))
            && stderr.contains("given back"),
        "{stderr}"
    );
    assert_eq!(env.ok(&["runs", "show", "kept", "--json"]), shown);
    let runs: serde_json::Value =
        serde_json::from_str(&env.ok(&["runs", "list", "--json"])).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["name"], "kept");
}

/// The bug this guards: a store another user owns, which this user may
/// only read, said to "make both writable (e.g. `chmod u+w` on each)",
/// which only its owner can. Run as root, xsafe is run as `nobody` on
/// root's store; another user cannot make a file of someone else's, so
/// the test needs root.
#[cfg(unix)]
#[test]
fn a_store_of_another_user_says_who_can_make_it_writable() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    if std::fs::metadata(env.dir.path()).unwrap().uid() != 0 {
        eprintln!("skipped: only root can run xsafe on a store of another user's");
        return;
    }
    let model = TestServer::start(keyword_model);
    common::run_small_suite_on(&env, &model, "theirs", &["--judge", "strmatch"]);
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(env.db(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(env.db()).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut cmd = env.cmd();
        cmd.uid(65534).gid(65534);
        cmd.args(args).output()
    };
    // Reading works.
    let out = match as_nobody(&["runs", "list"]) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: cannot run xsafe as another user ({e})");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for args in [&["runs", "delete", "theirs"][..], &["runs", "compact"]] {
        let out = as_nobody(args).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for part in [
            format!("`{}` belongs to user root (uid 0)", env.db().display()),
            "not to this user, nobody (uid 65534)".to_string(),
            "only its owner (or root) can make both writable".to_string(),
            "copy the store (with its `-wal` file, if there is one) to a folder of yours"
                .to_string(),
        ] {
            assert!(stderr.contains(&part), "`{part}` missing from: {stderr}");
        }
    }
    assert_eq!(std::fs::read(env.db()).unwrap(), before);
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
}
