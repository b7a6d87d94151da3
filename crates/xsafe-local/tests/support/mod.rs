//! Finding a real GGUF model for the tests that need one; shared by the
//! integration tests and the crate's unit tests (which include this file).

use std::path::PathBuf;

/// The model to test on: `XSAFE_TEST_GGUF=PATH`, or `gemma-3-270m` (else
/// any known model) in the xsafe cache (`XSAFE_CACHE_DIR`, else the
/// platform's cache directory), where `scripts/install-demo-model.sh` puts
/// one. `None` when there is none: the tests then print "skipped: no
/// model" and pass, so the crate's tests run anywhere.
pub fn model_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("XSAFE_TEST_GGUF").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "XSAFE_TEST_GGUF={} is not a file", p.display());
        return Some(p);
    }
    let cache = std::env::var_os("XSAFE_CACHE_DIR")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("xsafe")))?;
    xsafe_target::models::resolve_local("gemma-3-270m", &cache)
        .or_else(|_| xsafe_target::models::resolve_local("default", &cache))
        .ok()
}
