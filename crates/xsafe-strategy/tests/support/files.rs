//! A folder of strategy and data files, as the tests of strategy files
//! write them, and the prompt they ask about. Included by those tests with
//! `#[path]`, each using what it needs.

#![allow(dead_code)]

use std::path::PathBuf;
use xsafe_core::Prompt;
use xsafe_strategy::{BuildOptions, Composite, Registry};

/// A folder of strategy and data files.
pub struct Files {
    pub dir: tempfile::TempDir,
}

impl Files {
    pub fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes `text` to the file `name` (its folders made), and gives its
    /// path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The path of the file `name`, as errors show it.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The files added in order, then `name` built.
    pub fn build(&self, files: &[&str], name: &str) -> Result<Composite, String> {
        let mut registry = Registry::builtin();
        for f in files {
            registry
                .add_file(&self.dir.path().join(f))
                .map_err(|e| e.to_string())?;
        }
        registry
            .build(name, &BuildOptions::default())
            .map_err(|e| e.to_string())
    }

    /// The error adding and building the strategy file `file` (its
    /// strategy named `name`) gives.
    pub fn refused(&self, file: &str, name: &str) -> String {
        match self.build(&[file], name) {
            Err(e) => e,
            Ok(_) => panic!("{file} was accepted"),
        }
    }
}

/// A prompt of `text`, of the type `topic` when given.
pub fn prompt(text: &str, topic: Option<&str>) -> Prompt {
    Prompt {
        id: "p1".into(),
        text: text.into(),
        topic: topic.map(String::from),
    }
}
