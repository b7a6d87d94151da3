//! Pinned files in a cache: what `xsafe suites fetch` and `xsafe model pull`
//! share. A file is streamed into a file beside its destination and hashed
//! on the way; only one matching its [`Pin`] becomes a [`Staged`] file,
//! which the caller can check further (is it a suite, a GGUF?) before
//! [`Staged::commit`] records a first-use pin and renames it into place. So a
//! failed, cut or wrong download never damages an earlier good copy, and a
//! file under its final name is always a verified one. A download cut off
//! part-way is resumed where it stopped, in the same call or the next
//! (see [`fetch`]).
//!
//! Trust on first use: where no checksum is known in advance, the first
//! committed file's sha256 is recorded in a JSON pin file (`{"key": "sha"}`)
//! and every later file must match it. Deleting the entry accepts a new
//! version. Only a download known to be whole is pinned: one whose server
//! said its length or sent it in chunks (whose last chunk marks the end).
//! A body that just ends when the connection closes could be cut short
//! without a sign, and pinning it would then refuse the whole file ever
//! after; such a file is put in place unpinned, with a warning.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

/// Progress of a download: bytes received so far, and the total when the
/// server says it.
pub type Progress<'a> = &'a (dyn Fn(u64, Option<u64>) + Send + Sync);

/// `url` without the user name and password it may carry
/// (`https://user:secret@host/v1` as `https://<redacted>@host/v1`), for
/// messages, logs and records: what identifies the server, not the
/// credentials. A URL without them is returned as it is.
pub fn without_userinfo(url: &str) -> String {
    with_userinfo_as(url, "<redacted>@")
}

/// `url` with no user name and password at all: where a server is, to
/// compare two URLs by. `https://user:secret@host/v1`, and the
/// `https://<redacted>@host/v1` that [`without_userinfo`] makes of it, are
/// both `https://host/v1`.
pub fn without_credentials(url: &str) -> String {
    with_userinfo_as(url, "")
}

/// `url` with the user name and password it carries, `@` included,
/// replaced by `by`; as it is without them.
fn with_userinfo_as(url: &str, by: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{by}{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// The URL of the file `file` in the folder `base` (a mirror's base URL):
/// the name goes at the end of the path, before any query or fragment, so
/// that a signed folder URL (`https://host/dir/?sig=abc`) gives
/// `https://host/dir/FILE?sig=abc`.
pub fn join_url(base: &str, file: &str) -> String {
    // Skip the scheme and authority: a `?` or `#` cannot be in them, but
    // a user name and password may hold characters better left alone.
    let start = base.find("://").map_or(0, |i| i + 3);
    let split = base[start..]
        .find(['?', '#'])
        .map_or(base.len(), |i| start + i);
    let (path, rest) = base.split_at(split);
    format!("{}/{file}{rest}", path.trim_end_matches('/'))
}

/// The last segment of `url`'s path (what follows its last `/`, without a
/// query or fragment): the file it names, or empty for a folder URL ending
/// in `/`.
pub fn url_file(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or_default()
}

/// A URL given by a flag or an environment variable: `None` when it is
/// absent, empty or blank (a variable defined but empty, as CI templates
/// often leave one, is the same as one not set), else trimmed.
pub fn given_url(url: Option<&str>) -> Option<&str> {
    url.map(str::trim).filter(|u| !u.is_empty())
}

/// The checksum a file must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// Known in advance, hex.
    Sha256(String),
    /// Whatever the first committed file had, recorded under `key` in
    /// `pins_file`.
    TrustOnFirstUse {
        /// The JSON file that maps each key to its pinned sha256 (lower-case
        /// hex).
        pins_file: PathBuf,
        /// This file's entry in the pin file, e.g. the name of the suite or
        /// model.
        key: String,
    },
}

impl Pin {
    /// `Sha256(sha256)` when given, else trust on first use.
    pub fn new(sha256: Option<&str>, pins_file: PathBuf, key: &str) -> Pin {
        match sha256 {
            Some(sha) => Pin::Sha256(sha.to_string()),
            None => Pin::TrustOnFirstUse {
                pins_file,
                key: key.to_string(),
            },
        }
    }

    /// The sha256 (lower-case hex) a file must have; `None` while nothing
    /// is pinned on first use yet.
    pub fn expected(&self) -> Result<Option<String>, FetchError> {
        match self {
            Pin::Sha256(sha) => Ok(Some(sha.to_ascii_lowercase())),
            Pin::TrustOnFirstUse { pins_file, key } => Ok(read_pins(pins_file)?.remove(key)),
        }
    }

    /// The pin file, for a pin on first use.
    pub fn pins_file(&self) -> Option<&Path> {
        match self {
            Pin::Sha256(_) => None,
            Pin::TrustOnFirstUse { pins_file, .. } => Some(pins_file),
        }
    }
}

/// Why a file was not cached: each message names the URL or file and what
/// to do. Callers with their own error types match on the fields.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No connection, an error status, or a body that stalled or was cut.
    #[error("cannot download `{url}`: {reason}")]
    Download {
        /// The URL that was asked for.
        url: String,
        /// What went wrong (the status, the network error, or where the body
        /// was cut), with the number of attempts when there were several.
        reason: String,
        /// The HTTP status, when the server answered one.
        status: Option<u16>,
    },
    /// The file is not the pinned one; it was discarded.
    #[error(
        "the file from `{from}` has sha256 {actual}, but {} is {expected}; it was discarded{}",
        pin_note(pinned_in.as_deref()),
        kept_note(kept.as_deref())
    )]
    Checksum {
        /// The URL or local file.
        from: String,
        /// The pinned sha256, lower-case hex.
        expected: String,
        /// The sha256 of the file received, lower-case hex.
        actual: String,
        /// The pin file, when pinned on first use.
        pinned_in: Option<PathBuf>,
        /// The earlier copy at the destination, left as it was.
        kept: Option<PathBuf>,
    },
    /// A file cannot be read or written: the source, the cache directory,
    /// a file in it, or the pin file.
    #[error("`{}`: {message}", path.display())]
    File {
        /// The file or directory that could not be used.
        path: PathBuf,
        /// What failed and why, with what to do where known.
        message: String,
    },
}

fn pin_note(pinned_in: Option<&Path>) -> String {
    match pinned_in {
        Some(p) => format!(
            "the checksum pinned on first use in `{}` (delete its entry to accept a new version)",
            p.display()
        ),
        None => "the checksum xsafe pins for it".into(),
    }
}

fn kept_note(kept: Option<&Path>) -> String {
    kept.map(|p| format!("; the cached copy `{}` is unchanged", p.display()))
        .unwrap_or_default()
}

/// A verified file beside its destination, not yet in place. Dropping it
/// deletes it (and pins nothing).
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    /// A download's record of where it came from, removed with the file.
    record: Option<PathBuf>,
    /// Held open, and for a download locked, until the file is in place or
    /// deleted.
    _file: std::fs::File,
    dest: PathBuf,
    sha256: String,
    /// The pin to record on commit, on first use.
    unpinned: Option<Pin>,
    /// Whether the file is known to be whole: a local file, or a download
    /// whose end the server marked (see [`Staged::is_whole`]).
    whole: bool,
    /// The URL or local file, for the warning about a file not pinned.
    from: String,
    committed: bool,
}

impl Staged {
    /// The staged file, for the caller's own checks.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The staged file's sha256 (lower-case hex), hashed as it was written:
    /// what [`Staged::commit`] pins on first use.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether the file is known to be whole: a local file, or a download
    /// whose server said its length (`Content-Length`, or a resumed
    /// range's `Content-Range` total) or sent it in chunks, the last of
    /// which marks the end. `false` for a body that ended when the
    /// connection closed, which a connection cut early would look like.
    /// A file with a known checksum is whole whatever this says.
    pub fn is_whole(&self) -> bool {
        self.whole
    }

    /// Whether [`Staged::commit`] records the file's checksum: on first use
    /// (nothing pinned yet), when the file is known to be whole.
    pub fn pins(&self) -> bool {
        self.unpinned.is_some() && self.whole
    }

    /// Records the checksum if this is the first use and the file is known
    /// to be whole, then renames the file over its destination
    /// (atomically: they are in one directory). A first-use file not known
    /// to be whole is put in place unpinned, with a warning: nothing pins
    /// it until a download that is.
    pub fn commit(mut self) -> Result<PathBuf, FetchError> {
        if let Some(Pin::TrustOnFirstUse { pins_file, key }) = &self.unpinned {
            if self.whole {
                write_pin(pins_file, key, &self.sha256)?;
            } else {
                tracing::warn!(
                    "`{}` came from `{}` without its length (no Content-Length, not chunked), \
                     so a download cut short could not be told from the whole file: it is \
                     used but its checksum is not pinned; a later download from a server that \
                     gives the length pins it",
                    self.dest.display(),
                    self.from
                );
            }
        }
        std::fs::rename(&self.path, &self.dest)
            .map_err(|e| cache_error(&self.dest, "cannot move the file into place", e))?;
        self.committed = true;
        if let Some(record) = &self.record {
            let _ = std::fs::remove_file(record);
        }
        Ok(self.dest.clone())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
            if let Some(record) = &self.record {
                let _ = std::fs::remove_file(record);
            }
        }
    }
}

/// Pauses before the retries of a download that keeps failing without a
/// new byte; one more failure gives up. A retry after an attempt that did
/// bring new bytes starts over at the first pause.
const RETRY_PAUSES: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(500),
    Duration::from_secs(2),
];

/// Downloads `url` for `dest`, checks it against `pin` and returns it
/// staged. Redirects are followed; there is no overall time limit (a model
/// takes minutes on a slow line), but a server silent for 60 s is given up.
///
/// The download goes to `.NAME.partial` beside `dest`, locked so that a
/// second download of the same file is refused rather than mixed in. When
/// the connection breaks after the transfer has begun, the download is
/// asked again from the byte where it stopped (an HTTP range, only while
/// the server's `ETag` or `Last-Modified` says the file is the same one;
/// otherwise from the start), up to three times in a row without progress
/// (after pauses of 0.1, 0.5 and 2 s). If it still fails, a file the server
/// identified is kept with `.NAME.partial.json` (its URL and version), and
/// the next `fetch` of the same URL resumes it; anything else is deleted.
/// The checksum always covers the whole file, resumed or not.
///
/// A user name and password in `url` (`https://user:secret@host/…`) are
/// sent (HTTP basic authentication) but never shown or recorded: errors,
/// logs and the partial download's record name the URL without them (see
/// [`without_userinfo`]).
pub async fn fetch(
    url: &str,
    dest: &Path,
    pin: &Pin,
    progress: Option<Progress<'_>>,
) -> Result<Staged, FetchError> {
    fetch_sized(url, dest, pin, None, progress).await
}

/// [`fetch`] of a file whose size is known in advance (`size`, in bytes):
/// a body that ends early without the server having said its length is
/// then known to be cut short, and is resumed (or kept to resume) like one
/// cut with a `Content-Length`, rather than found to have the wrong
/// checksum.
pub async fn fetch_sized(
    url: &str,
    dest: &Path,
    pin: &Pin,
    size: Option<u64>,
    progress: Option<Progress<'_>>,
) -> Result<Staged, FetchError> {
    let expected = pin.expected()?;
    let shown = without_userinfo(url);
    let failed = |reason: String, status: Option<u16>| FetchError::Download {
        url: shown.clone(),
        reason,
        status,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()
        .map_err(|e| failed(format!("cannot build an HTTP client: {e}"), None))?;
    let progress = progress.unwrap_or(&|_, _| ());
    let mut partial = Partial::open(dest, url).await?;
    partial.size = size;
    let resumed_from = partial.len;
    // A transfer has begun when the server first answers with the file (or
    // a partial download is there to resume); before that a failure is the
    // URL's or the network's, and retrying would only delay the message.
    let mut begun = partial.len > 0;
    let mut best = partial.len;
    let mut fruitless = 0;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = partial.attempt(&client, &mut begun, progress).await;
        let (reason, status) = match outcome {
            Ok(()) => break,
            Err(Failure::Fatal(error)) => return Err(partial.give_up(error).await),
            Err(Failure::Retry(reason, status)) => (reason, status),
        };
        if partial.len > best {
            best = partial.len;
            fruitless = 0;
        }
        match RETRY_PAUSES.get(fruitless).filter(|_| begun) {
            Some(pause) => {
                tracing::warn!(url = shown, %reason, received = partial.len, "download interrupted; retrying");
                tokio::time::sleep(*pause).await;
                fruitless += 1;
            }
            None => {
                let tries = if attempts > 1 {
                    format!(" ({attempts} attempts)")
                } else {
                    String::new()
                };
                return Err(partial.give_up(failed(reason + &tries, status)).await);
            }
        }
    }
    if resumed_from > 0 && !partial.restarted {
        tracing::info!(
            url = shown,
            resumed_from,
            "resumed an earlier partial download"
        );
    } else if resumed_from > 0 {
        tracing::info!(
            url = shown,
            "an earlier partial download could not be resumed (the server sent the file \
             whole, or another version of it); downloaded from the start"
        );
    }
    let (path, record, file, hasher, framed) = partial.finish().await?;
    check(
        Download {
            path,
            record: Some(record),
            file,
            hasher,
            whole: framed,
        },
        dest,
        pin,
        expected,
        shown,
    )
}

/// Whether an HTTP status may go away if the same request is sent again:
/// 429 (too many requests) and the server errors, but for 501 (Not
/// Implemented) and 505 (HTTP Version Not Supported), which the server
/// answers the same every time, so that retrying them would only delay
/// the message (as for the OpenAI target).
fn transient(status: u16) -> bool {
    status == 429 || ((500..600).contains(&status) && !matches!(status, 501 | 505))
}

/// Why one request of a download failed: worth asking again (the reason
/// and the HTTP status), or not.
enum Failure {
    Retry(String, Option<u16>),
    Fatal(FetchError),
}

/// Where a partial download came from, kept beside it as JSON.
#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    url: String,
    /// The `ETag` or `Last-Modified` of the file being downloaded, sent back
    /// as `If-Range` so that a changed file is sent whole.
    version: String,
}

/// A download in progress: `.NAME.partial` beside the destination, locked
/// while it is written, and the hash of what it holds.
struct Partial {
    path: PathBuf,
    record_path: PathBuf,
    url: String,
    file: tokio::fs::File,
    hasher: Sha256,
    len: u64,
    /// The file's version, when the server gave one.
    version: Option<String>,
    /// The file's size, when the server said it.
    total: Option<u64>,
    /// The file's size, when the caller knows it (see [`fetch_sized`]).
    size: Option<u64>,
    /// Whether the last response marked where the file ends: its size was
    /// said, or it was chunked (a cut chunked body is an error).
    framed: bool,
    /// Whether what the file held was thrown away to start again (the
    /// server sent another version, or ignored the range asked for).
    restarted: bool,
}

impl Partial {
    /// Opens and locks the partial file for `dest`, keeping what it holds
    /// when its record names the same URL and a version to check it by.
    async fn open(dest: &Path, url: &str) -> Result<Partial, FetchError> {
        let dir = dest.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| cache_error(dir, "cannot create it", e))?;
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let path = dir.join(format!(".{name}.partial"));
        let record_path = dir.join(format!(".{name}.partial.json"));
        let file = open_kept(&path, "cannot create the download file")?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(FetchError::File {
                    path,
                    message: "another download of this file is in progress (another xsafe \
                              command?); wait for it to end, or stop it"
                        .into(),
                });
            }
            // A file system without locks still downloads, unguarded.
            Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                tracing::debug!(path = %path.display(), "no file locks here: {e}");
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(cache_error(&path, "cannot lock the download file", e));
            }
        }
        let record = std::fs::read(&record_path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
            .filter(|r| r.url == without_userinfo(url));
        let (file, hasher, len, version) = match record {
            Some(record) => {
                let hashing_path = path.clone();
                let (file, hasher, len) = tokio::task::spawn_blocking(move || {
                    let mut file = file;
                    let hasher = copy_hashing(
                        &mut file,
                        &hashing_path,
                        &mut std::io::sink(),
                        &hashing_path,
                    )?;
                    let len = std::io::Seek::stream_position(&mut file)
                        .map_err(|e| read_error(&hashing_path, e))?;
                    Ok::<_, FetchError>((file, hasher, len))
                })
                .await
                .map_err(|e| read_error(&path, e))??;
                (file, hasher, len, Some(record.version))
            }
            None => {
                file.set_len(0)
                    .map_err(|e| cache_error(&path, "cannot empty the download file", e))?;
                (file, Sha256::new(), 0, None)
            }
        };
        Ok(Partial {
            path,
            record_path,
            url: url.to_string(),
            file: tokio::fs::File::from_std(file),
            hasher,
            len,
            version,
            total: None,
            size: None,
            framed: false,
            restarted: false,
        })
    }

    /// One request: from the start, or from `len` while the file is the
    /// same version. Appends what arrives.
    async fn attempt(
        &mut self,
        client: &reqwest::Client,
        begun: &mut bool,
        progress: Progress<'_>,
    ) -> Result<(), Failure> {
        let mut request = client.get(&self.url);
        match (&self.version, self.len) {
            (Some(version), from) if from > 0 => {
                request = request
                    .header(reqwest::header::RANGE, format!("bytes={from}-"))
                    .header(reqwest::header::IF_RANGE, version);
            }
            _ => self.restart().await?,
        }
        let fail = |begun: bool, reason: String, status: Option<u16>| {
            if begun {
                Failure::Retry(reason, status)
            } else {
                Failure::Fatal(FetchError::Download {
                    url: without_userinfo(&self.url),
                    reason,
                    status,
                })
            }
        };
        let mut response = request
            .send()
            .await
            .map_err(|e| fail(*begun, describe(e), None))?;
        let status = response.status();
        match status.as_u16() {
            206 => match content_range(response.headers()) {
                Some((start, total)) if start == self.len => self.total = total,
                _ => {
                    self.restart().await?;
                    let reason = "the server resumed the download at another byte than asked";
                    return Err(Failure::Retry(reason.into(), Some(206)));
                }
            },
            200 => {
                self.restart().await?;
                self.total = response.content_length();
                self.version = version(response.headers());
                self.write_record()?;
            }
            416 => {
                self.restart().await?;
                let reason = "the server refused to resume the download (HTTP 416)";
                return Err(Failure::Retry(reason.into(), Some(416)));
            }
            code => {
                let reason = format!("the server answered HTTP {status}");
                return Err(fail(*begun && transient(code), reason, Some(code)));
            }
        }
        *begun = true;
        self.framed = self.total.is_some() || chunked(response.headers());
        progress(self.len, self.total.or(self.size));
        loop {
            let chunk = response
                .chunk()
                .await
                .map_err(|e| Failure::Retry(describe(e), None))?;
            let Some(chunk) = chunk else { break };
            self.hasher.update(&chunk);
            let written = self.file.write_all(&chunk).await;
            written.map_err(|e| {
                Failure::Fatal(cache_error(&self.path, "cannot write the download", e))
            })?;
            self.len += chunk.len() as u64;
            progress(self.len, self.total.or(self.size));
        }
        match (self.total, self.size) {
            (Some(total), _) if total != self.len => Err(Failure::Retry(
                format!("the connection closed after {} of {total} bytes", self.len),
                None,
            )),
            // No length said and not chunked: only the size known in
            // advance tells a cut body.
            (None, Some(size)) if !self.framed && self.len < size => Err(Failure::Retry(
                format!(
                    "the download was cut short: the connection closed after {} of the {size} \
                     bytes the file has (the server did not say its length)",
                    self.len
                ),
                None,
            )),
            _ => Ok(()),
        }
    }

    /// Empties the file, to download it from the start.
    async fn restart(&mut self) -> Result<(), Failure> {
        if self.len == 0 {
            return Ok(());
        }
        let emptied = self.file.set_len(0).await;
        let seeked = match emptied {
            Ok(()) => self.file.seek(std::io::SeekFrom::Start(0)).await.map(drop),
            Err(e) => Err(e),
        };
        seeked.map_err(|e| {
            Failure::Fatal(cache_error(&self.path, "cannot empty the download file", e))
        })?;
        self.hasher = Sha256::new();
        self.len = 0;
        self.restarted = true;
        Ok(())
    }

    /// Records the URL and version, so that another `fetch` can resume;
    /// without a version nothing could tell a changed file, so the record
    /// is removed instead.
    fn write_record(&self) -> Result<(), Failure> {
        let written = match &self.version {
            Some(version) => {
                let record = Record {
                    url: without_userinfo(&self.url),
                    version: version.clone(),
                };
                let json = serde_json::to_vec(&record).expect("a record serialises");
                std::fs::write(&self.record_path, json)
            }
            None => match std::fs::remove_file(&self.record_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        };
        written.map_err(|e| {
            let what = "cannot write the download's record";
            Failure::Fatal(cache_error(&self.record_path, what, e))
        })
    }

    /// The error for a download given up: what was received is kept for
    /// the next `fetch` when the server identified the file, else deleted.
    async fn give_up(self, mut error: FetchError) -> FetchError {
        let resumable = self.version.is_some() && self.len > 0;
        if resumable && self.file.sync_all().await.is_ok() {
            if let FetchError::Download { reason, .. } = &mut error {
                reason.push_str(&format!(
                    "; the {} bytes received are kept in `{}`, and the same command resumes \
                     from there",
                    self.len,
                    self.path.display()
                ));
            }
        } else {
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::remove_file(&self.record_path);
        }
        error
    }

    /// The complete file, written to disk, with its hash and whether the
    /// server marked its end.
    async fn finish(self) -> Result<(PathBuf, PathBuf, std::fs::File, Sha256, bool), FetchError> {
        let synced = self.file.sync_all().await;
        if let Err(e) = synced {
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::remove_file(&self.record_path);
            return Err(cache_error(&self.path, "cannot write the download", e));
        }
        let file = self.file.into_std().await;
        Ok((self.path, self.record_path, file, self.hasher, self.framed))
    }
}

/// Whether the body is sent in chunks (`Transfer-Encoding` ending in
/// `chunked`), whose last, empty chunk marks the end.
fn chunked(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get_all(reqwest::header::TRANSFER_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"))
}

/// `Content-Range: bytes START-END/TOTAL`: the first byte sent and the
/// file's size (`None` for `*`).
fn content_range(headers: &reqwest::header::HeaderMap) -> Option<(u64, Option<u64>)> {
    let value = headers.get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()))
}

/// What identifies this version of the file for `If-Range`: a strong
/// `ETag` (weak ones cannot be used there), else `Last-Modified`.
fn version(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let header = |name| headers.get(name)?.to_str().ok().map(str::to_string);
    header(reqwest::header::ETAG)
        .filter(|tag| !tag.starts_with("W/"))
        .or_else(|| header(reqwest::header::LAST_MODIFIED))
}

/// Copies the local file `src` for `dest`, checks it against `pin` and
/// returns it staged. Copied, not moved: the source may be about to go.
pub fn stage_file(src: &Path, dest: &Path, pin: &Pin) -> Result<Staged, FetchError> {
    let mut source = std::fs::File::open(src).map_err(|e| read_error(src, e))?;
    let expected = pin.expected()?;
    let mut tmp = temp_beside(dest)?;
    let tmp_path = tmp.path().to_path_buf();
    let hasher = copy_hashing(&mut source, src, tmp.as_file_mut(), &tmp_path)?;
    let synced = tmp.as_file().sync_all();
    synced.map_err(|e| cache_error(&tmp_path, "cannot write the copy", e))?;
    let (file, path) = tmp
        .keep()
        .map_err(|e| cache_error(&tmp_path, "cannot keep the copy", e.error))?;
    let from = src.display().to_string();
    let copy = Download {
        path,
        record: None,
        file,
        hasher,
        whole: true,
    };
    check(copy, dest, pin, expected, from)
}

/// Whether `dest` exists and matches `pin` (never, while nothing is pinned
/// on first use), so that a download can be skipped.
pub async fn is_verified(dest: &Path, pin: &Pin) -> Result<bool, FetchError> {
    let (Some(expected), true) = (pin.expected()?, dest.is_file()) else {
        return Ok(false);
    };
    let path = dest.to_path_buf();
    let actual = tokio::task::spawn_blocking(move || sha256_file(&path))
        .await
        .map_err(|e| read_error(dest, e))??;
    Ok(actual == expected)
}

/// The sha256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let mut file = std::fs::File::open(path).map_err(|e| read_error(path, e))?;
    let hasher = copy_hashing(&mut file, path, &mut std::io::sink(), path)?;
    Ok(hex::encode(hasher.finalize()))
}

fn copy_hashing(
    src: &mut impl Read,
    src_path: &Path,
    out: &mut impl Write,
    out_path: &Path,
) -> Result<Sha256, FetchError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src.read(&mut buf).map_err(|e| read_error(src_path, e))?;
        if n == 0 {
            return Ok(hasher);
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| cache_error(out_path, "cannot write the copy", e))?;
    }
}

/// A file received beside its destination, before its checksum is
/// checked.
struct Download {
    path: PathBuf,
    /// A download's record of where it came from, removed with the file.
    record: Option<PathBuf>,
    file: std::fs::File,
    hasher: Sha256,
    /// Whether the file is known to be whole (see [`Staged::is_whole`]).
    whole: bool,
}

/// Stages the received file if its checksum is the expected one, else
/// deletes it (and its record).
fn check(
    received: Download,
    dest: &Path,
    pin: &Pin,
    expected: Option<String>,
    from: String,
) -> Result<Staged, FetchError> {
    let Download {
        path,
        record,
        file,
        hasher,
        whole,
    } = received;
    let actual = hex::encode(hasher.finalize());
    let unpinned = expected.is_none().then(|| pin.clone());
    let staged = Staged {
        path,
        record,
        _file: file,
        dest: dest.to_path_buf(),
        sha256: actual.clone(),
        unpinned,
        whole,
        from: from.clone(),
        committed: false,
    };
    if let Some(expected) = expected.filter(|e| *e != actual) {
        drop(staged);
        return Err(FetchError::Checksum {
            from,
            expected,
            actual,
            pinned_in: pin.pins_file().map(Path::to_path_buf),
            kept: dest.is_file().then(|| dest.to_path_buf()),
        });
    }
    Ok(staged)
}

/// A temporary file in `dest`'s directory (`.NAME.XXXXXX.part`), so that
/// the final rename stays on one file system and is atomic. Readable by all like any downloaded
/// file (tempfile's default is 0600).
fn temp_beside(dest: &Path) -> Result<tempfile::NamedTempFile, FetchError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| cache_error(dir, "cannot create it", e))?;
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".part");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let tmp = builder
        .tempfile_in(dir)
        .map_err(|e| cache_error(dir, "cannot create a temporary file", e))?;
    // Locked while in use, so that [`remove_stale_temporaries`] tells one
    // a running command writes from one an interrupted command left.
    if let Err(std::fs::TryLockError::Error(e)) = tmp.as_file().try_lock() {
        tracing::debug!(path = %tmp.path().display(), "cannot lock the temporary file: {e}");
    }
    Ok(tmp)
}

/// reqwest's own message only repeats the URL; the root cause ("connection
/// refused", "dns error") is what tells the user what went wrong.
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "the server sent nothing for 60 s (or took 30 s to connect)".into();
    }
    let mut cause: &dyn std::error::Error = &e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if e.is_connect() {
        format!("cannot connect ({cause})")
    } else {
        cause.to_string()
    }
}

fn read_error(path: &Path, e: impl std::fmt::Display) -> FetchError {
    FetchError::File {
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    }
}

fn cache_error(path: &Path, what: &str, e: std::io::Error) -> FetchError {
    FetchError::File {
        path: path.to_path_buf(),
        message: format!("{what}: {e}; check that the cache directory is writable"),
    }
}

fn read_pins(path: &Path) -> Result<BTreeMap<String, String>, FetchError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| FetchError::File {
            path: path.to_path_buf(),
            message: format!(
                "the pin file is not valid JSON ({e}); fix it, or delete it to pin the next \
                 download of each of its entries afresh"
            ),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(cache_error(path, "cannot read the pin file", e)),
    }
}

/// Records `sha` under `key`, replacing the pin file atomically so a crash
/// never leaves half a file.
///
/// The read, the change and the write happen under an exclusive lock on
/// `.NAME.lock` beside the pin file, so that two commands pinning
/// different keys at once (`suites fetch` of two suites) both keep their
/// entry.
fn write_pin(path: &Path, key: &str, sha: &str) -> Result<(), FetchError> {
    let _lock = lock_beside(path)?;
    let mut pins = read_pins(path)?;
    pins.insert(key.to_string(), sha.to_string());
    let json = serde_json::to_string_pretty(&pins).expect("a map of strings serialises");
    // Readable by all, as the files it pins are: a shared cache's other
    // users must read the pins to use them.
    let mut tmp = temp_beside(path)?;
    tmp.write_all(json.as_bytes())
        .map_err(|e| cache_error(path, "cannot write the pin file", e))?;
    tmp.persist(path)
        .map_err(|e| cache_error(path, "cannot write the pin file", e.error))?;
    tracing::info!(key, sha256 = sha, pins = %path.display(), "pinned on first use");
    Ok(())
}

/// `path` opened to read and write, created (readable by all) if it is not
/// there, its content kept: a partial download, a lock file. `failed`
/// says what could not be done, for the error.
fn open_kept(path: &Path, failed: &str) -> Result<std::fs::File, FetchError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
    options.open(path).map_err(|e| cache_error(path, failed, e))
}

/// An exclusive lock on `.NAME.lock` beside `path`, held until the file
/// returned is dropped; it waits for another holder. On a file system
/// without locks, nothing is locked.
fn lock_beside(path: &Path) -> Result<std::fs::File, FetchError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| cache_error(dir, "cannot create it", e))?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let lock_path = dir.join(format!(".{name}.lock"));
    let file = open_kept(&lock_path, "cannot create the lock file")?;
    match file.lock() {
        Ok(()) => Ok(file),
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
            tracing::debug!(path = %lock_path.display(), "no file locks here: {e}");
            Ok(file)
        }
        Err(e) => Err(cache_error(&lock_path, "cannot lock the file", e)),
    }
}

/// Whether no process holds `file`'s lock; it is then locked by this
/// handle. A file system without locks answers `false`: nothing can tell a
/// file in use there.
fn unheld(file: &std::fs::File) -> bool {
    file.try_lock().is_ok()
}

/// Removes what interrupted commands left in the cache directory `dir`:
/// the temporary files (`.NAME.XXXXXX.part`) of copies and pin updates
/// that were stopped (Ctrl-C during `model import`) and that no running
/// process holds. Returns how many were removed; a file that cannot be
/// removed is left for the next time.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with('.') && name.ends_with(".part")) {
            continue;
        }
        let path = entry.path();
        let held = match std::fs::OpenOptions::new().read(true).open(&path) {
            Ok(file) => !unheld(&file),
            Err(_) => true,
        };
        if !held && std::fs::remove_file(&path).is_ok() {
            tracing::info!(path = %path.display(), "removed a temporary file left by an interrupted command");
            removed += 1;
        }
    }
    removed
}

/// Removes the partial download of `dest` (`.NAME.partial` and its
/// record), unless a running download holds it: for a file that is now in
/// place by other means (imported, or downloaded from another URL), so that
/// the bytes kept to resume it do not stay in the cache for good. Returns
/// whether anything was removed.
pub fn discard_partial(dest: &Path) -> bool {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let path = dir.join(format!(".{name}.partial"));
    let record = dir.join(format!(".{name}.partial.json"));
    let Ok(file) = std::fs::OpenOptions::new().read(true).open(&path) else {
        return std::fs::remove_file(&record).is_ok();
    };
    if !unheld(&file) {
        return false;
    }
    let removed = std::fs::remove_file(&path).is_ok();
    let _ = std::fs::remove_file(&record);
    if removed {
        tracing::info!(path = %path.display(), "removed a partial download of a file now cached");
    }
    removed
}
