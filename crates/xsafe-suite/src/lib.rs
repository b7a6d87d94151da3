//! Suites for xsafe: where the cases of a run come from. This crate reads
//! XSTest's CSV, OR-Bench's CSVs and any CSV or JSONL file with a column
//! mapping, refuses a bad file with an error that names the file, line and
//! column and says what to do, compiles in the built-in suites, and fetches
//! the public suites into a cache with a pinned sha256 so that they work
//! offline afterwards. [`resolve`] turns what a user passes to `--suite` (a
//! built-in name, a fetched name or a path) into a [`Suite`].

mod builtin;
mod error;
mod parse;
mod remote;
pub mod table;

pub use builtin::{builtin, builtin_names};
pub use error::SuiteError;
pub use parse::{Columns, Format, LoadOptions, load_file, parse_bytes};
pub use remote::{REMOTES, Remote, fetch, remote};

use serde::Serialize;
use std::path::Path;
use xsafe_core::{Label, Suite};

/// Turns a `--suite` argument into a suite.
///
/// Names win over paths: a built-in name gives the built-in suite, a
/// fetchable name gives the copy in `cache_dir` (fetching is never implicit,
/// so a run never touches the network behind the user's back), and anything
/// else must be an existing file, loaded with `opts`. A file that happens to
/// be called like a suite can still be passed as `./NAME`.
pub fn resolve(spec: &str, cache_dir: &Path, opts: &LoadOptions) -> Result<Suite, SuiteError> {
    let named = builtin(spec).is_some() || remote(spec).is_some();
    if named {
        // How to read a file means nothing for a suite xsafe reads itself;
        // silently ignoring it would hide a mistake (a file meant instead).
        let mut given = opts.columns.given();
        given.extend(opts.format.is_some().then_some("--suite-format"));
        given.extend(
            opts.columns
                .default_label
                .is_some()
                .then_some("--default-label"),
        );
        if !given.is_empty() {
            return Err(SuiteError::Options {
                spec: spec.to_string(),
                message: format!(
                    "{} only apply to suite files; `{spec}` is read as xsafe knows it (to load a \
                     file of that name, pass it as ./{spec})",
                    given.join(", ")
                ),
            });
        }
    }
    if let Some(suite) = builtin(spec) {
        return Ok(suite);
    }
    if let Some(remote) = remote(spec) {
        return remote::load_cached(remote, cache_dir);
    }
    let path = Path::new(spec);
    if path.is_file() {
        return load_file(path, opts);
    }
    Err(SuiteError::UnknownSuite {
        spec: spec.to_string(),
        known: known_names().join(", "),
    })
}

/// Every suite a user can name without a path: the built-ins, then every
/// fetched suite present in `cache_dir`. A cached file that no longer parses
/// is listed as its error rather than hidden.
pub fn available(cache_dir: &Path) -> Vec<Result<Suite, SuiteError>> {
    let builtins = builtin_names()
        .iter()
        .filter_map(|name| builtin(name))
        .map(Ok);
    let fetched = REMOTES
        .iter()
        .filter(|r| remote::cache_path(r, cache_dir).is_file())
        .map(|r| remote::load_cached(r, cache_dir));
    builtins.chain(fetched).collect()
}

fn known_names() -> Vec<&'static str> {
    builtin_names()
        .iter()
        .copied()
        .chain(REMOTES.iter().map(|r| r.name))
        .collect()
}

/// What `xsafe suites list` shows of a suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuiteSummary {
    /// The suite's name, as `--suite` takes it.
    pub name: String,
    /// Where the suite came from: `built-in`, a file path, or the URL a
    /// fetched suite was downloaded from.
    pub source: String,
    /// Counts of all, safe and unsafe cases.
    pub cases: usize,
    /// How many cases are labelled `safe`.
    pub safe: usize,
    /// `unsafe` is a keyword, hence the underscore; JSON says `unsafe`.
    #[serde(rename = "unsafe")]
    pub unsafe_: usize,
    /// Distinct types in order of first appearance.
    pub types: Vec<String>,
    /// The sha256 of the suite's canonical content, in hex: what a run
    /// records to know the suite again.
    pub fingerprint: String,
}

impl SuiteSummary {
    /// Summarises `suite`, computing its fingerprint.
    pub fn of(suite: &Suite) -> Self {
        SuiteSummary {
            name: suite.name.clone(),
            source: suite.source.clone(),
            cases: suite.cases.len(),
            safe: suite.count(Label::Safe),
            unsafe_: suite.count(Label::Unsafe),
            types: suite.types().into_iter().map(String::from).collect(),
            fingerprint: suite.fingerprint(),
        }
    }
}
