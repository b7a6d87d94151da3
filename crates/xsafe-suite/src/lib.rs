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
pub use error::{CachedCopy, SuiteError};
pub use parse::{
    Columns, Format, LoadOptions, is_undrawn, load_file, looks_misspelt, parse_bytes,
    parse_bytes_with_notes,
};
pub use remote::{REMOTES, Remote, fetch, remote};

use serde::Serialize;
use std::path::Path;
use xsafe_core::{Label, Suite};

/// Turns a `--suite` argument into a suite.
///
/// Names win over paths: a built-in name gives the built-in suite, a
/// fetchable name gives the copy in `cache_dir` (fetching is never implicit,
/// so a run never touches the network behind the user's back), and anything
/// else must be an existing path that is not a directory (a file, or a
/// pipe such as `<(cat s.csv)`, read once), loaded with `opts`. A file that
/// happens to be called like a suite can still be passed as `./NAME`.
///
/// `opts` (how to read a file) cannot apply to a named suite, which xsafe
/// reads its own way: with a name they are refused rather than ignored,
/// since they say a file was meant. See [`resolve_all`] for several suites.
pub fn resolve(spec: &str, cache_dir: &Path, opts: &LoadOptions) -> Result<Suite, SuiteError> {
    let mut suites = resolve_parts(&[Part { spec, within: None }], cache_dir, opts)?;
    Ok(suites.remove(0))
}

/// Turns every `--suite` argument into a suite, as [`resolve`] does one.
///
/// An argument may list several suites separated by commas
/// (`xsafe-basic,mine.csv`; spaces around each are left out), unless it
/// is a suite name or an existing path as a whole (`my prompts, v2.csv`):
/// a file whose name has a comma is one suite.
///
/// `opts` apply to the suite files among `specs` only, so that a named
/// suite can run beside a file that needs them (`--suite
/// xsafe-basic,mine.csv --default-label safe`); they are refused only when
/// no suite given is a file, since then they apply to nothing.
pub fn resolve_all<S: AsRef<str>>(
    specs: &[S],
    cache_dir: &Path,
    opts: &LoadOptions,
) -> Result<Vec<Suite>, SuiteError> {
    let mut parts = Vec::with_capacity(specs.len());
    for spec in specs {
        let spec = spec.as_ref();
        if named(spec) || Path::new(spec).exists() || !spec.contains(',') {
            parts.push(Part { spec, within: None });
        } else {
            parts.extend(spec.split(',').map(|part| Part {
                spec: part.trim(),
                within: Some(spec),
            }));
        }
    }
    resolve_parts(&parts, cache_dir, opts)
}

/// One suite of a `--suite` argument: the argument, or a part of it
/// between commas (`within` is then the whole argument).
struct Part<'a> {
    spec: &'a str,
    within: Option<&'a str>,
}

/// Whether `spec` names a built-in or fetchable suite.
fn named(spec: &str) -> bool {
    builtin(spec).is_some() || remote(spec).is_some()
}

/// [`resolve_all`] once its arguments are split into suites.
fn resolve_parts(
    parts: &[Part<'_>],
    cache_dir: &Path,
    opts: &LoadOptions,
) -> Result<Vec<Suite>, SuiteError> {
    let specs: Vec<&str> = parts.iter().map(|p| p.spec).collect();
    let given = opts.given();
    if !given.is_empty() && specs.iter().all(|s| named(s)) {
        return Err(options_for_names_only(&specs, &given));
    }
    parts
        .iter()
        .map(|&Part { spec, within }| {
            if let Some(suite) = builtin(spec) {
                return Ok(suite);
            }
            if let Some(remote) = remote(spec) {
                let suite = remote::load_cached(remote, cache_dir)?;
                // A copy that may be cut short is warned about where it is
                // used (`suites list` marks it in its table instead).
                if let Some(warning) = remote.unpinned_warning(cache_dir) {
                    tracing::warn!("{warning}");
                }
                return Ok(suite);
            }
            // Any path that exists: a file, or a pipe (`<(cat s.csv)`),
            // which `load_file` reads once; a directory is refused there.
            let path = Path::new(spec);
            if path.exists() {
                return load_file(path, opts);
            }
            Err(SuiteError::UnknownSuite {
                spec: spec.to_string(),
                known: known_names().join(", "),
                within: within.map(String::from),
            })
        })
        .collect()
}

/// The error for file-reading flags given with suite names only: they
/// would apply to nothing, and silently ignoring them would hide a
/// mistake (a file meant instead).
fn options_for_names_only<S: AsRef<str>>(specs: &[S], given: &[&str]) -> SuiteError {
    let names: Vec<&str> = specs.iter().map(AsRef::as_ref).collect();
    let verb = if given.len() == 1 { "applies" } else { "apply" };
    let mut message = format!(
        "{} only {verb} to suite files, and no suite given is a file: xsafe reads {} its own \
         way; leave {} out",
        given.join(", "),
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
        if given.len() == 1 { "it" } else { "them" },
    );
    // A file that happens to share a suite's name is loaded by its path.
    for name in names.iter().filter(|n| Path::new(n).is_file()) {
        message.push_str(&format!(
            ", or pass the file `{name}` here as ./{name} to load it instead"
        ));
    }
    SuiteError::Options {
        spec: names.join(","),
        message,
    }
}

/// A suite [`available`] lists: its name, and the suite or why it cannot
/// be used (a fetched copy changed or damaged after its fetch).
#[derive(Debug)]
pub struct Available {
    /// The name `--suite` takes.
    pub name: &'static str,
    /// The suite, or why it cannot be used.
    pub suite: Result<Suite, SuiteError>,
}

/// Every suite a user can name without a path: the built-ins, then every
/// fetched suite present in `cache_dir`. A cached file that cannot be used
/// is listed with its error rather than hidden, and so is every fetchable
/// suite whose copy cannot be looked for (a cache folder this user may not
/// enter): it may be there.
pub fn available(cache_dir: &Path) -> Vec<Available> {
    let builtins = builtin_names().iter().filter_map(|&name| {
        builtin(name).map(|suite| Available {
            name,
            suite: Ok(suite),
        })
    });
    let fetched = REMOTES.iter().filter_map(|r| {
        match remote::cached_file(r, cache_dir) {
            Ok(None) => None,
            Ok(Some(_)) => Some(remote::load_cached(r, cache_dir)),
            Err(e) => Some(Err(e)),
        }
        .map(|suite| Available {
            name: r.name,
            suite,
        })
    });
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
