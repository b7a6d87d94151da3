//! What a judge was trained on, to tell a measurement on held-out answers
//! from one on the answers that trained it.
//!
//! The `xsafe` classifier's weights record each training file's name and
//! the SHA-256 of its bytes (`training.sources`); nothing finer, so a file
//! is known to be training data when it is byte for byte one of those
//! files. A file made by joining a training file with others, or one whose
//! line endings were changed, is not recognised: its answers are not
//! recorded one by one.

use crate::classifier::{TrainingSource, XsafeJudge};
use sha2::{Digest, Sha256};

/// The files the judge `spec` (as `--judge` takes it) was trained on, as
/// its weights record them: those of the shipped `xsafe` judge and of an
/// `xsafe:PATH` judge. Empty for a judge that learnt nothing from labelled
/// answers (`strmatch`, `llm:TARGET`). An error says why the weights of
/// `xsafe:PATH` cannot be read.
pub fn training_sources(spec: &str) -> Result<Vec<TrainingSource>, String> {
    let spec = spec.trim();
    let judge = match spec {
        "xsafe" => XsafeJudge::builtin(),
        other => match other.strip_prefix("xsafe:") {
            Some(path) => {
                XsafeJudge::from_file(std::path::Path::new(path)).map_err(|e| e.to_string())?
            }
            None => return Ok(Vec::new()),
        },
    };
    Ok(judge.model().training.sources.clone())
}

/// The SHA-256 of a file's bytes, in lower-case hex, as training sources
/// record it.
pub fn file_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The training source that is the file whose SHA-256 ([`file_sha256`])
/// is `sha256`, if one is.
pub fn trained_on<'s>(sources: &'s [TrainingSource], sha256: &str) -> Option<&'s TrainingSource> {
    sources
        .iter()
        .find(|s| s.sha256.eq_ignore_ascii_case(sha256))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::corpus;

    #[test]
    fn the_shipped_judge_knows_its_corpus_and_other_judges_know_nothing() {
        let sources = training_sources(" xsafe ").unwrap();
        for (name, text) in corpus() {
            let source =
                trained_on(&sources, &file_sha256(text.as_bytes())).expect("a corpus file");
            assert_eq!(source.name, name);
        }
        // One byte more is another file.
        let (_, text) = &corpus()[0];
        let changed = format!("{text}\n");
        assert!(trained_on(&sources, &file_sha256(changed.as_bytes())).is_none());
        for judge in ["strmatch", "llm:openai:gpt-4o-mini"] {
            assert!(training_sources(judge).unwrap().is_empty(), "{judge}");
        }
        let e = training_sources("xsafe:/nonexistent/w.json").unwrap_err();
        assert!(e.contains("/nonexistent/w.json"), "{e}");
    }
}
