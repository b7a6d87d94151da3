//! Pinned files in a cache: what `xsafe suites fetch` and `xsafe model pull`
//! share. A file is streamed into a temporary file beside its destination
//! and hashed on the way; only one matching its [`Pin`] becomes a [`Staged`]
//! file, which the caller can check further (is it a suite, a GGUF?) before
//! [`Staged::commit`] records a first-use pin and renames it into place. So a
//! failed, cut or wrong download never damages an earlier good copy, and a
//! file under its final name is always a verified one.
//!
//! Trust on first use: where no checksum is known in advance, the first
//! committed file's sha256 is recorded in a JSON pin file (`{"key": "sha"}`)
//! and every later file must match it. Deleting the entry accepts a new
//! version.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Progress of a download: bytes received so far, and the total when the
/// server says it.
pub type Progress<'a> = &'a (dyn Fn(u64, Option<u64>) + Send + Sync);

/// The checksum a file must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pin {
    /// Known in advance, hex.
    Sha256(String),
    /// Whatever the first committed file had, recorded under `key` in
    /// `pins_file`.
    TrustOnFirstUse { pins_file: PathBuf, key: String },
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
        url: String,
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
        expected: String,
        actual: String,
        /// The pin file, when pinned on first use.
        pinned_in: Option<PathBuf>,
        /// The earlier copy at the destination, left as it was.
        kept: Option<PathBuf>,
    },
    /// A file cannot be read or written: the source, the cache directory,
    /// a file in it, or the pin file.
    #[error("`{}`: {message}", path.display())]
    File { path: PathBuf, message: String },
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
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
    sha256: String,
    /// The pin to record on commit, on first use.
    unpinned: Option<Pin>,
}

impl Staged {
    /// The temporary file, for the caller's own checks.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Records the checksum if this is the first use, then renames the file
    /// over its destination (atomically: they are in one directory).
    pub fn commit(self) -> Result<PathBuf, FetchError> {
        if let Some(Pin::TrustOnFirstUse { pins_file, key }) = &self.unpinned {
            write_pin(pins_file, key, &self.sha256)?;
        }
        let dest = self.dest;
        self.tmp
            .persist(&dest)
            .map_err(|e| cache_error(&dest, "cannot move the file into place", e.error))?;
        Ok(dest)
    }
}

/// Downloads `url` for `dest`, checks it against `pin` and returns it
/// staged. Redirects are followed; there is no overall time limit (a model
/// takes minutes on a slow line), but a server silent for 60 s is given up.
pub async fn fetch(
    url: &str,
    dest: &Path,
    pin: &Pin,
    progress: Option<Progress<'_>>,
) -> Result<Staged, FetchError> {
    let expected = pin.expected()?;
    let tmp = temp_beside(dest)?;
    let reopened = tmp
        .reopen()
        .map_err(|e| cache_error(tmp.path(), "cannot open it", e));
    let mut file = tokio::fs::File::from_std(reopened?);
    let failed = |reason: String, status: Option<u16>| FetchError::Download {
        url: url.to_string(),
        reason,
        status,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()
        .map_err(|e| failed(format!("cannot build an HTTP client: {e}"), None))?;
    let request = client.get(url).send().await;
    let mut response = request.map_err(|e| failed(describe(e), None))?;
    let status = response.status();
    if !status.is_success() {
        let reason = format!("the server answered HTTP {status}");
        return Err(failed(reason, Some(status.as_u16())));
    }
    let total = response.content_length();
    let progress = progress.unwrap_or(&|_, _| ());
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    progress(0, total);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| failed(describe(e), None))?
    {
        hasher.update(&chunk);
        let written = file.write_all(&chunk).await;
        written.map_err(|e| cache_error(tmp.path(), "cannot write the download", e))?;
        received += chunk.len() as u64;
        progress(received, total);
    }
    if let Some(total) = total.filter(|t| *t != received) {
        let reason = format!("the connection closed after {received} of {total} bytes");
        return Err(failed(reason, None));
    }
    let synced = file.sync_all().await;
    synced.map_err(|e| cache_error(tmp.path(), "cannot write the download", e))?;
    check(tmp, hasher, dest, pin, expected, url.to_string())
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
    check(tmp, hasher, dest, pin, expected, src.display().to_string())
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

/// Stages `tmp` if its checksum is the expected one, else deletes it.
fn check(
    tmp: tempfile::NamedTempFile,
    hasher: Sha256,
    dest: &Path,
    pin: &Pin,
    expected: Option<String>,
    from: String,
) -> Result<Staged, FetchError> {
    let actual = hex::encode(hasher.finalize());
    let unpinned = expected.is_none().then(|| pin.clone());
    if let Some(expected) = expected.filter(|e| *e != actual) {
        return Err(FetchError::Checksum {
            from,
            expected,
            actual,
            pinned_in: pin.pins_file().map(Path::to_path_buf),
            kept: dest.is_file().then(|| dest.to_path_buf()),
        });
    }
    Ok(Staged {
        tmp,
        dest: dest.to_path_buf(),
        sha256: actual,
        unpinned,
    })
}

/// A temporary file in `dest`'s directory, so that the final rename stays
/// on one file system and is atomic. Readable by all like any downloaded
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
    builder
        .tempfile_in(dir)
        .map_err(|e| cache_error(dir, "cannot create a temporary file", e))
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
fn write_pin(path: &Path, key: &str, sha: &str) -> Result<(), FetchError> {
    let mut pins = read_pins(path)?;
    pins.insert(key.to_string(), sha.to_string());
    let dir = path.parent().unwrap_or(Path::new("."));
    let json = serde_json::to_string_pretty(&pins).expect("a map of strings serialises");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| cache_error(dir, "cannot create a temporary file", e))?;
    tmp.write_all(json.as_bytes())
        .map_err(|e| cache_error(path, "cannot write the pin file", e))?;
    tmp.persist(path)
        .map_err(|e| cache_error(path, "cannot write the pin file", e.error))?;
    tracing::info!(key, sha256 = sha, pins = %path.display(), "pinned on first use");
    Ok(())
}
