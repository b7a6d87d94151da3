use crate::table::{TableError, location};
use std::path::{Path, PathBuf};

/// Why a suite could not be loaded or fetched. Every message names the thing
/// (file, line, column, URL) and says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The content of a suite file is wrong. `line` is the 1-based physical
    /// line of the file; `column` the header name of the offending field
    /// (CSV) or its key (JSONL: `keyed`), which the message calls so.
    #[error(
        "suite file `{file}`{loc}: {message}",
        loc = location(*line, column.as_deref(), if *keyed { "key" } else { "column" })
    )]
    Invalid {
        /// The file the fault is in, as messages name it: its path, or the file
        /// name of a download or a built-in suite.
        file: String,
        /// The 1-based physical line of the fault; `None` when it concerns the
        /// whole file (e.g. an OR-Bench file whose name does not tell its label).
        line: Option<u64>,
        /// The offending field's header name (CSV) or key (JSONL); `None` when
        /// the fault is not in one field.
        column: Option<String>,
        /// What is wrong and what to do about it.
        message: String,
        /// Whether the file was read as JSONL, whose fields are keys rather
        /// than columns.
        keyed: bool,
    },
    /// Options for reading a file were given with a suite xsafe reads
    /// itself (built-in or fetched).
    #[error("suite `{spec}`: {message}")]
    Options {
        /// What `--suite` was given.
        spec: String,
        /// Which options cannot apply, and what to do.
        message: String,
    },
    /// A suite file could not be read at all.
    #[error("cannot read suite file `{}`: {error}; check the path and its permissions", path.display())]
    Read {
        /// The suite file as given.
        path: PathBuf,
        /// Why it could not be read.
        error: std::io::Error,
    },
    /// A suite file's path names a directory.
    #[error("suite file `{}` is a directory: give a CSV or JSONL file", .0.display())]
    Directory(PathBuf),
    /// `--suite-format` got a name that is not a [`crate::Format`].
    #[error("unknown suite format `{0}`: use xstest, or-bench, csv or jsonl")]
    UnknownFormat(String),
    /// `--suite` is neither a known name nor an existing file.
    #[error(
        "unknown suite `{spec}`: it is neither a suite name ({known}) nor an existing file; \
         pass one of those names or the path of a CSV or JSONL file{split}",
        split = split_note(within.as_deref())
    )]
    UnknownSuite {
        /// What `--suite` was given, or the part of it between commas.
        spec: String,
        /// The suite names that can be used, comma-separated.
        known: String,
        /// The whole `--suite` value `spec` is a part of, when it was
        /// split at its commas (it is no existing file either).
        within: Option<String>,
    },
    /// A fetchable suite was asked for before it was fetched: fetching is
    /// never implicit. The message offers what `suites fetch` offers when
    /// the network fails (a mirror, or a file downloaded elsewhere).
    #[error(
        "suite `{0}` has not been fetched yet; run `xsafe suites fetch {0}` once while online, \
         {ways}",
        ways = other_ways(crate::remote(.0).map(|r| r.url))
    )]
    NotFetched(String),
    /// `fetch` got a name that is not in [`crate::REMOTES`].
    #[error("`{name}` is not a suite that can be fetched; use one of: {known}")]
    UnknownRemote {
        /// The name asked for.
        name: String,
        /// The names of the fetchable suites, comma-separated.
        known: String,
    },
    /// Connecting failed or the server answered with an error status.
    #[error("cannot download `{url}`: {reason}; {note}", note = cached_note(cached.as_ref()))]
    Download {
        /// The URL asked for: the suite's own, or the mirror's under `--base-url`.
        url: String,
        /// What failed: the connection error or the server's status.
        reason: String,
        /// The earlier copy, which is left untouched: still used, or refused
        /// because it was changed after it was fetched; `None` when nothing
        /// was cached.
        cached: Option<CachedCopy>,
    },
    /// The download is not the file that was pinned; it has been discarded.
    #[error(
        "checksum mismatch for `{url}`: expected sha256 {expected}{pin}, got {actual}; \
         the download was discarded and {note}",
        pin = pin_note(pinned_in.as_deref()),
        note = kept_note(cached.as_ref())
    )]
    Checksum {
        /// Where the file was downloaded from.
        url: String,
        /// The pinned sha256, lower-case hex.
        expected: String,
        /// The download's sha256, lower-case hex.
        actual: String,
        /// The pin file, when the expected checksum was pinned on first use
        /// rather than compiled in.
        pinned_in: Option<PathBuf>,
        /// The earlier copy, which is kept as it was (and still refused if it
        /// was changed after it was fetched); `None` when nothing was cached.
        cached: Option<CachedCopy>,
    },
    /// The download matched its pin (or had none yet) but is not a suite,
    /// e.g. a login page; it was neither cached nor pinned.
    #[error("the file downloaded from `{url}` is not a valid suite, so it was not cached: {error}")]
    FetchedInvalid {
        /// Where the file was downloaded from.
        url: String,
        /// Why the download does not read as a suite.
        error: Box<SuiteError>,
    },
    /// The cached copy of a fetched suite no longer has the sha256 it was
    /// pinned to: it was edited, cut or damaged after the fetch, so running
    /// it would measure other prompts under the suite's name.
    #[error(
        "the cached copy `{}` of suite `{name}` has sha256 {actual}, but {pin} is {expected}: \
         it was changed after it was fetched, so it is not used; fetch it again with \
         `xsafe suites fetch {name}` (to run an edited copy on purpose, save it elsewhere and \
         pass its path to --suite)",
        path.display(),
        pin = cached_pin_note(pinned_in.as_deref())
    )]
    CacheChanged {
        /// The fetched suite's name (one of [`crate::REMOTES`]).
        name: &'static str,
        /// The cached file.
        path: PathBuf,
        /// The pinned sha256, lower-case hex.
        expected: String,
        /// The cached file's sha256, lower-case hex.
        actual: String,
        /// The pin file, when the checksum was pinned by the first fetch
        /// rather than compiled in.
        pinned_in: Option<PathBuf>,
    },
    /// The cache directory or its pin file cannot be read or written.
    #[error("suite cache `{}`: {message}", path.display())]
    Cache {
        /// What could not be read or written: the cache directory, a file in
        /// it, or the pin file.
        path: PathBuf,
        /// What failed and why, with what to do about it.
        message: String,
    },
}

/// The copy of a fetched suite already in the cache, as an error about a
/// new fetch of it tells: a failed fetch leaves it as it was, but whether
/// it is used depends on whether it still has its pinned sha256.
///
/// The path is boxed to keep [`SuiteError`] as small as it was with a bare
/// path (every `Result` of this crate carries it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedCopy {
    /// It has its pinned sha256 (or nothing is pinned for it yet), so it is
    /// used as the suite.
    Used(Box<Path>),
    /// Its sha256 is no longer the pinned one: it was changed after it was
    /// fetched, so it is refused ([`SuiteError::CacheChanged`]) until a
    /// fetch replaces it.
    Changed(Box<Path>),
}

impl CachedCopy {
    /// The cached file.
    pub fn path(&self) -> &Path {
        match self {
            CachedCopy::Used(p) | CachedCopy::Changed(p) => p,
        }
    }
}

impl SuiteError {
    pub(crate) fn invalid(
        file: &str,
        line: Option<u64>,
        column: Option<&str>,
        message: impl Into<String>,
    ) -> Self {
        SuiteError::Invalid {
            file: file.to_string(),
            line,
            column: column.map(String::from),
            message: message.into(),
            keyed: false,
        }
    }

    /// This error, of a file read as JSONL: a field it names is a key.
    pub(crate) fn in_jsonl(mut self) -> Self {
        if let SuiteError::Invalid { keyed, .. } = &mut self {
            *keyed = true;
        }
        self
    }

    pub(crate) fn cache(path: &Path, what: &str, error: impl std::fmt::Display) -> Self {
        SuiteError::Cache {
            path: path.to_path_buf(),
            message: format!("{what}: {error}; check that the cache directory is writable"),
        }
    }
}

impl From<TableError> for SuiteError {
    fn from(e: TableError) -> Self {
        SuiteError::invalid(&e.file, e.line, e.field.as_deref(), e.message)
    }
}

/// What the message about an unknown suite says of the `--suite` value it
/// was split from, if it was.
fn split_note(within: Option<&str>) -> String {
    match within {
        Some(whole) => format!(
            " (it is a part of `{whole}`, which is no existing file either: commas separate \
             suites, so a file whose name has a comma is given whole, in a --suite of its own; \
             check the path)"
        ),
        None => String::new(),
    }
}

fn cached_note(cached: Option<&CachedCopy>) -> String {
    match cached {
        Some(CachedCopy::Used(p)) => format!("the cached copy `{}` is still used", p.display()),
        Some(CachedCopy::Changed(p)) => format!(
            "the cached copy `{}` cannot be used instead: it was changed after it was fetched (its \
             sha256 is not the pinned one), so it is refused until a successful fetch replaces \
             it; check the network, {}",
            p.display(),
            other_ways(None)
        ),
        None => format!(
            "nothing is cached yet; check the network, {}",
            other_ways(None)
        ),
    }
}

/// The ways to a suite besides fetching it from its own URL, for every
/// message about a suite that cannot be had that way (a failed download,
/// a suite not fetched yet): a mirror, or the file downloaded elsewhere,
/// from `url` when the message does not name it already.
fn other_ways(url: Option<&str>) -> String {
    let file = match url {
        Some(url) => format!("the CSV ({url})"),
        None => "the CSV".to_string(),
    };
    format!(
        "point `xsafe suites fetch --base-url` (XSAFE_SUITE_BASE_URL) at a mirror, or download \
         {file} elsewhere and pass its path to --suite"
    )
}

fn kept_note(cached: Option<&CachedCopy>) -> String {
    match cached {
        Some(CachedCopy::Used(p)) => format!("the cached copy `{}` is kept", p.display()),
        Some(CachedCopy::Changed(p)) => format!(
            "the cached copy `{}`, changed after it was fetched (its sha256 is not the pinned one \
             either), is still refused",
            p.display()
        ),
        None => "nothing was cached".into(),
    }
}

fn cached_pin_note(pinned_in: Option<&Path>) -> String {
    match pinned_in {
        Some(p) => format!("the checksum its first fetch pinned in `{}`", p.display()),
        None => "the checksum xsafe pins for it".into(),
    }
}

fn pin_note(pinned_in: Option<&Path>) -> String {
    match pinned_in {
        Some(p) => format!(
            " (pinned by the first fetch in `{}`; if the dataset changed on purpose, delete its entry there and fetch again)",
            p.display()
        ),
        // A compiled-in pin: the server is not serving the version xsafe
        // was built for.
        None => " (pinned in xsafe; point --base-url (XSAFE_SUITE_BASE_URL) at a mirror of the original file)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_file_line_and_column() {
        let e = SuiteError::invalid("x.csv", Some(12), Some("prompt"), "the prompt is empty");
        assert_eq!(
            e.to_string(),
            "suite file `x.csv` line 12, column `prompt`: the prompt is empty"
        );
        let e = SuiteError::invalid("x.csv", None, None, "m");
        assert_eq!(e.to_string(), "suite file `x.csv`: m");
    }
}
