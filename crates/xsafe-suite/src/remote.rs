//! Public suites that are downloaded once into a cache and then used offline.

use crate::{CachedCopy, Format, LoadOptions, SuiteError, load_file, parse_bytes};
use std::path::{Path, PathBuf};
use xsafe_core::{Label, Suite};
use xsafe_fetch::{FetchError, Pin};

/// A public suite that `xsafe suites fetch NAME` downloads.
///
/// A download must match `sha256`, so that every machine runs the same
/// prompts under the same name. Where the checksum is `None` (it could not
/// be established when xsafe was written), the first successful fetch
/// records the file's sha256 in `CACHE/suites/pins.json` and every later
/// fetch must match it: trust on first use. Deleting the entry accepts a
/// new version of the file. Only a download known to be whole is pinned
/// (its server said its length or sent it chunked, see
/// [`xsafe_fetch::Staged::is_whole`]): a file cut at a row boundary still
/// parses, and pinning it would refuse the whole file ever after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote {
    /// What `xsafe suites fetch` and `--suite` take; also the cache file's stem.
    pub name: &'static str,
    /// The dataset's public location; its last path segment is also the file
    /// name asked for when a mirror's base URL is given.
    pub url: &'static str,
    /// The pinned checksum, lower-case hex; `None` means trust on first use.
    pub sha256: Option<&'static str>,
    /// How the downloaded file is read.
    pub format: Format,
    /// The label of every case, for formats whose files do not carry one.
    pub label: Option<Label>,
}

impl Remote {
    /// Why the cached copy of this suite is used unchecked, when it is: a
    /// suite pinned on first use whose copy has no pin (its download came
    /// without its length, so it may have been cut short at a row boundary,
    /// or its entry was deleted from the pin file). `None` when it is
    /// pinned, or not cached.
    pub fn unpinned_warning(&self, cache_dir: &Path) -> Option<String> {
        let path = cache_path(self, cache_dir);
        if self.sha256.is_some() || !path.is_file() {
            return None;
        }
        let pin = pin(self, cache_dir);
        if !matches!(pin.expected(), Ok(None)) {
            return None;
        }
        Some(format!(
            "the cached copy `{}` of suite `{name}` is not pinned: its download did not say its \
             length, so it may have been cut short, and nothing checks it; run `xsafe suites \
             fetch {name}` from a server that gives the length (the public one does) to pin it",
            path.display(),
            name = self.name
        ))
    }
}

/// The suites that can be fetched.
pub const REMOTES: &[Remote] = &[
    Remote {
        name: "xstest",
        url: "https://raw.githubusercontent.com/paul-rottger/xstest/main/xstest_prompts.csv",
        // The file of XSTest commit d7bb5bd.
        sha256: Some("11783fb294ed017473ee53c207d71f2161c7672c8d0b037501e78387f801cb5a"),
        format: Format::Xstest,
        label: None,
    },
    Remote {
        name: "or-bench-hard-1k",
        url: "https://huggingface.co/datasets/bench-llm/or-bench/resolve/main/or-bench-hard-1k.csv",
        sha256: None,
        format: Format::OrBench,
        label: Some(Label::Safe),
    },
    Remote {
        name: "or-bench-toxic",
        url: "https://huggingface.co/datasets/bench-llm/or-bench/resolve/main/or-bench-toxic.csv",
        sha256: None,
        format: Format::OrBench,
        label: Some(Label::Unsafe),
    },
];

/// A fetchable suite by name.
pub fn remote(name: &str) -> Option<&'static Remote> {
    REMOTES.iter().find(|r| r.name == name)
}

/// Downloads the suite `name` into `cache_dir/suites/NAME.csv` and returns
/// that path.
///
/// With `base_url`, the file is asked from `BASE_URL/FILE` (FILE being the
/// last segment of the default URL), for mirrors and tests. The download
/// lands in a temporary file beside the cache, is checked against the pinned
/// sha256 (see [`Remote`]) and parsed as a suite, and only then renamed over
/// the cached copy, so a failed fetch never damages a good copy. The URL
/// it came from is kept beside it (`NAME.url`), as the suite's `source`.
pub async fn fetch(
    name: &str,
    base_url: Option<&str>,
    cache_dir: &Path,
) -> Result<PathBuf, SuiteError> {
    let remote = remote(name).ok_or_else(|| SuiteError::UnknownRemote {
        name: name.to_string(),
        known: REMOTES
            .iter()
            .map(|r| r.name)
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    fetch_remote(remote, base_url, cache_dir).await
}

async fn fetch_remote(
    remote: &Remote,
    base_url: Option<&str>,
    cache_dir: &Path,
) -> Result<PathBuf, SuiteError> {
    let file_name = remote.url.rsplit('/').next().unwrap_or(remote.url);
    let url = match xsafe_fetch::given_url(base_url) {
        Some(base) => xsafe_fetch::join_url(base, file_name),
        None => remote.url.to_string(),
    };
    // What messages and records name: the URL without a user name and
    // password, which are sent but never shown or stored.
    let shown = xsafe_fetch::without_userinfo(&url);
    let target = cache_path(remote, cache_dir);
    let pin = pin(remote, cache_dir);
    let fetch_error = |e| suite_error(e, remote, cache_dir);
    let staged = xsafe_fetch::fetch(&url, &target, &pin, None)
        .await
        .map_err(fetch_error)?;
    let bytes = std::fs::read(staged.path())
        .map_err(|e| SuiteError::cache(staged.path(), "cannot read the download back", e))?;
    parse_bytes(&bytes, file_name, &load_options(remote)).map_err(|e| {
        SuiteError::FetchedInvalid {
            url: shown.clone(),
            error: Box::new(fetch_advice(e, remote)),
        }
    })?;
    not_another_suite(remote, staged.sha256(), file_name, cache_dir).map_err(|e| {
        SuiteError::FetchedInvalid {
            url: shown.clone(),
            error: Box::new(e),
        }
    })?;
    let path = staged.commit().map_err(fetch_error)?;
    write_source(remote, cache_dir, &shown)?;
    Ok(path)
}

/// A parse error of a download, with advice for `suites fetch`, which
/// reads the file in the suite's own format: the flags for reading one's
/// own files (`--suite-format`, column mappings) do not apply, the URL
/// does.
fn fetch_advice(mut e: SuiteError, remote: &Remote) -> SuiteError {
    if let SuiteError::Invalid { file, message, .. } = &mut e {
        let kept: Vec<&str> = message
            .split("; ")
            .filter(|part| !part.contains("--suite-format"))
            .collect();
        *message = format!(
            "{}; this is not the `{name}` file: check that --base-url \
             (XSAFE_SUITE_BASE_URL) names a folder (a mirror) holding `{file}` as published \
             at {url}",
            kept.join("; "),
            name = remote.name,
            url = remote.url,
        );
    }
    e
}

/// Refuses to pin `remote` to a file that is another fetchable suite's:
/// its compiled-in checksum, or the one pinned for it on first use. A
/// mirror serving `or-bench-hard-1k`'s file (safe prompts) under the name
/// `or-bench-toxic` would otherwise have every safe prompt run as unsafe,
/// and the pin would refuse the real file ever after.
fn not_another_suite(
    remote: &Remote,
    sha256: &str,
    file_name: &str,
    cache_dir: &Path,
) -> Result<(), SuiteError> {
    for other in REMOTES.iter().filter(|o| o.name != remote.name) {
        let pin = pin(other, cache_dir);
        let known = pin
            .expected()
            .map_err(|e| suite_error(e, remote, cache_dir))?;
        if known.is_some_and(|k| k.eq_ignore_ascii_case(sha256)) {
            let (whose, fix) = match pin.pins_file() {
                Some(pins) => (
                    format!("the checksum pinned for it in `{}`", pins.display()),
                    format!(
                        "; if that pin is the wrong one, delete its `{}` entry and the cached \
                         `{}`, then fetch both suites again",
                        other.name,
                        cache_path(other, cache_dir).display()
                    ),
                ),
                None => ("the checksum xsafe pins for it".to_string(), String::new()),
            };
            let message = format!(
                "it is the file of suite `{other}` (its sha256 {sha256} is {whose}), not of \
                 `{name}`; nothing was cached or pinned: check that --base-url \
                 (XSAFE_SUITE_BASE_URL) serves each suite under its own file name{fix}",
                other = other.name,
                name = remote.name,
            );
            return Err(SuiteError::invalid(file_name, None, None, message));
        }
    }
    Ok(())
}

/// Where the URL a cached copy was downloaded from is kept.
fn source_path(remote: &Remote, cache_dir: &Path) -> PathBuf {
    cache_dir
        .join("suites")
        .join(format!("{}.url", remote.name))
}

/// Records `url` as where the cached copy of `remote` came from, replacing
/// the record whole (written aside, then renamed).
fn write_source(remote: &Remote, cache_dir: &Path, url: &str) -> Result<(), SuiteError> {
    let path = source_path(remote, cache_dir);
    let aside = path.with_extension("url.partial");
    std::fs::write(&aside, format!("{url}\n"))
        .and_then(|()| std::fs::rename(&aside, &path))
        .map_err(|e| SuiteError::cache(&path, "cannot record where the suite came from", e))
}

/// The URL the cached copy of `remote` was downloaded from: as recorded by
/// its fetch, else (a cache from before the record) the suite's own.
fn source(remote: &Remote, cache_dir: &Path) -> String {
    std::fs::read_to_string(source_path(remote, cache_dir))
        .ok()
        .map(|url| url.trim().to_string())
        .filter(|url| !url.is_empty())
        // A record written by an xsafe that kept the user name and password.
        .map(|url| xsafe_fetch::without_userinfo(&url))
        .unwrap_or_else(|| remote.url.to_string())
}

/// A fetch error of `remote` in this crate's terms, which say whether an
/// earlier copy is there and whether it is used (see [`cached_copy`]).
fn suite_error(e: FetchError, remote: &Remote, cache_dir: &Path) -> SuiteError {
    match e {
        FetchError::Download { url, reason, .. } => SuiteError::Download {
            url,
            reason,
            cached: cached_copy(remote, cache_dir),
        },
        FetchError::Checksum {
            from,
            expected,
            actual,
            pinned_in,
            ..
        } => SuiteError::Checksum {
            url: from,
            expected,
            actual,
            pinned_in,
            cached: cached_copy(remote, cache_dir),
        },
        FetchError::File { path, message } => SuiteError::Cache { path, message },
    }
}

/// The copy of `remote` in the cache, if any, and whether it is used: one
/// changed after its fetch ([`verify_cached`] refuses it) is not, so an
/// error about a failed fetch must not say it still is. A copy that cannot
/// be checked here (the pin file or the copy unreadable) is taken as used:
/// loading it says what is wrong.
fn cached_copy(remote: &Remote, cache_dir: &Path) -> Option<CachedCopy> {
    let path = cache_path(remote, cache_dir);
    if !path.is_file() {
        return None;
    }
    Some(match verify_cached(remote, &path, cache_dir) {
        Err(SuiteError::CacheChanged { .. }) => CachedCopy::Changed(path.into_boxed_path()),
        _ => CachedCopy::Used(path.into_boxed_path()),
    })
}

/// The checksum `remote`'s file must have: compiled in, or pinned by its
/// first fetch in `CACHE/suites/pins.json`.
fn pin(remote: &Remote, cache_dir: &Path) -> Pin {
    let pins = cache_dir.join("suites").join("pins.json");
    Pin::new(remote.sha256, pins, remote.name)
}

pub(crate) fn cache_path(remote: &Remote, cache_dir: &Path) -> PathBuf {
    cache_dir
        .join("suites")
        .join(format!("{}.csv", remote.name))
}

/// The fetched copy of `remote` in `cache_dir`, if there is one: `None`
/// when nothing is at its path (not fetched yet) or something other than a
/// file is. An error naming the path when whether it is there cannot be
/// told: a folder on its way that this user may not enter (a cache made by
/// another user, mode 700), or a file where a folder should be. Such a
/// cache is not one where the suite was never fetched, and saying so would
/// send the user to fetch it again, into the same folder.
pub(crate) fn cached_file(
    remote: &Remote,
    cache_dir: &Path,
) -> Result<Option<PathBuf>, SuiteError> {
    let path = cache_path(remote, cache_dir);
    match std::fs::metadata(&path) {
        Ok(meta) => Ok(meta.is_file().then_some(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(unreadable_copy(remote, &path, "look for", e)),
    }
}

/// The error of a fetched copy at `path` that cannot be looked for or read
/// (`doing` says which; `error` why), naming what is at fault: the copy
/// itself when it can be looked at, else the deepest folder on its way
/// that can (the one this user may not enter, or a file where a folder
/// should be); and saying what to do: fix that, or use a cache of one's
/// own.
fn unreadable_copy(remote: &Remote, path: &Path, doing: &str, error: std::io::Error) -> SuiteError {
    let (at, file_in_the_way) = match path
        .ancestors()
        .find_map(|p| std::fs::metadata(p).ok().map(|meta| (p, meta)))
    {
        Some((at, meta)) => (at, at != path && !meta.is_dir()),
        None => (path, false),
    };
    let fix = if file_in_the_way {
        format!(
            "`{}` is a file where the cache needs a folder: move it away",
            at.display()
        )
    } else {
        format!(
            "fix the permissions of `{}` so that this user may read it",
            at.display()
        )
    };
    SuiteError::Cache {
        path: at.to_path_buf(),
        message: format!(
            "cannot {doing} the fetched copy `{}` of suite `{name}`: {error}; {fix}, or set \
             XSAFE_CACHE_DIR (or --cache-dir) to a cache folder of your own and fetch the suite \
             there with `xsafe suites fetch {name}`",
            path.display(),
            name = remote.name
        ),
    }
}

fn load_options(remote: &Remote) -> LoadOptions {
    let mut opts = LoadOptions {
        format: Some(remote.format),
        name: Some(remote.name.to_string()),
        ..Default::default()
    };
    opts.columns.default_label = remote.label;
    opts
}

/// The fetched copy of `remote`, read with the remote's own format and
/// label: a user's column mapping is about their files, not this one. The
/// copy must still have its pinned sha256 (see [`verify_cached`]).
pub(crate) fn load_cached(remote: &Remote, cache_dir: &Path) -> Result<Suite, SuiteError> {
    let Some(path) = cached_file(remote, cache_dir)? else {
        return Err(SuiteError::NotFetched(remote.name.to_string()));
    };
    // A copy this user may not read is said to be so, as a folder on its
    // way is, rather than as a failed checksum or suite file.
    std::fs::File::open(&path).map_err(|e| unreadable_copy(remote, &path, "read", e))?;
    verify_cached(remote, &path, cache_dir)?;
    let mut suite = load_file(&path, &load_options(remote)).map_err(|mut e| {
        if let SuiteError::Invalid { message, .. } = &mut e {
            message.push_str(&format!(
                "; this is the cached download of `{name}`, which has been damaged: fetch it \
                 again with `xsafe suites fetch {name}`",
                name = remote.name
            ));
        }
        e
    })?;
    suite.source = source(remote, cache_dir);
    Ok(suite)
}

/// Refuses a cached copy whose sha256 is not the pinned one. The fetch
/// checked the download, but the file stays in the cache to be edited, cut
/// or damaged afterwards; a changed copy would still parse and be run as
/// the suite, under its name, with its results compared to other runs'.
///
/// A suite pinned on first use whose entry is missing from the pin file
/// (deleted to accept a new version, or a cache from before pins) cannot be
/// checked; it is used as it is until the next fetch pins it again.
fn verify_cached(remote: &Remote, path: &Path, cache_dir: &Path) -> Result<(), SuiteError> {
    let pin = pin(remote, cache_dir);
    let Some(expected) = pin
        .expected()
        .map_err(|e| suite_error(e, remote, cache_dir))?
    else {
        return Ok(());
    };
    let actual = xsafe_fetch::sha256_file(path).map_err(|e| suite_error(e, remote, cache_dir))?;
    if actual == expected {
        return Ok(());
    }
    Err(SuiteError::CacheChanged {
        name: remote.name,
        path: path.to_path_buf(),
        expected,
        actual,
        pinned_in: pin.pins_file().map(Path::to_path_buf),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_have_distinct_names_and_csv_file_names() {
        for (i, r) in REMOTES.iter().enumerate() {
            assert!(r.url.ends_with(".csv"), "{}", r.url);
            assert!(REMOTES[..i].iter().all(|o| o.name != r.name));
            assert_eq!(r.sha256.is_none(), r.format == Format::OrBench);
        }
    }

    /// A cached copy cut after its fetch (here to its first two cases) still
    /// parses, so only its checksum tells that it is no longer the suite.
    #[test]
    fn a_cached_copy_must_still_have_its_compiled_in_checksum() {
        use sha2::Digest;
        let good = "id,prompt,type,label\n1,p,homonyms,safe\n2,q,contrast_homonyms,unsafe\n\
                    3,r,homonyms,safe\n";
        let sha = hex::encode(sha2::Sha256::digest(good));
        let remote = Remote {
            name: "xstest",
            url: "https://example.invalid/xstest_prompts.csv",
            sha256: Some(Box::leak(sha.clone().into_boxed_str())),
            format: Format::Xstest,
            label: None,
        };
        let cache = tempfile::tempdir().unwrap();
        let path = cache_path(&remote, cache.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, good).unwrap();
        assert_eq!(load_cached(&remote, cache.path()).unwrap().cases.len(), 3);

        let cut: String = good.lines().take(3).map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, &cut).unwrap();
        let e = load_cached(&remote, cache.path()).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(
                &e,
                SuiteError::CacheChanged {
                    pinned_in: None,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(msg.contains(&format!("`{}`", path.display())), "{msg}");
        assert!(msg.contains(&sha), "{msg}");
        assert!(msg.contains("checksum xsafe pins for it"), "{msg}");
        assert!(
            msg.contains("fetch it again with `xsafe suites fetch xstest`"),
            "{msg}"
        );
    }
}
