//! Processes opening one new store at the same moment (CI jobs sharing a
//! fresh store): each one opens it, none is refused as locked or as not a
//! store. Threads stand for the processes: SQLite locks the file per
//! connection alike.

use std::sync::{Arc, Barrier};
use xsafe_store::{RunSpec, Store};

fn spec(name: &str) -> RunSpec {
    RunSpec {
        name: name.into(),
        key: format!("key-{name}"),
        config: serde_json::json!({"targets": [], "strategies": []}),
        suites: vec![("s".into(), "f".into())],
        seed: 1,
        tool_version: "0".into(),
    }
}

#[test]
fn stores_opened_new_at_once_all_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for round in 0..40 {
        let path = dir.path().join(format!("s{round}.db"));
        let at_once = Arc::new(Barrier::new(4));
        let openers: Vec<_> = (0..4)
            .map(|i| {
                let (path, at_once) = (path.clone(), at_once.clone());
                std::thread::spawn(move || {
                    at_once.wait();
                    let store = Store::open(&path)?;
                    store.open_run(&spec(&format!("r{i}"))).map(|_| ())
                })
            })
            .collect();
        for opener in openers {
            if let Err(e) = opener.join().unwrap() {
                failures.push(format!("round {round}: {e}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
