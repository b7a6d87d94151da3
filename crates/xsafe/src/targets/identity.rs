//! What a local model file is, by its content: the sha256 a run knows a
//! local model by (`model_sha256` in its settings, see
//! [`xsafe_runner::RunPlan::MODEL_SHA256`]), found without reading the whole
//! file at every command.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::Metadata;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use xsafe_target::models;

/// The file in the cache directory that records the sha256 of the model
/// files read through before, each with what its file was then.
pub const RECORD_FILE: &str = "model-sha256.json";

/// The version of [`RECORD_FILE`]'s layout; a file of another is not read.
const RECORD_VERSION: u32 = 1;

/// How long after its last change a file's sha256 is not recorded: a file
/// still being written, or written again within the clock's resolution,
/// could otherwise keep a sha256 of what it held before.
const SETTLED: Duration = Duration::from_secs(2);

/// The sha256 (lower-case hex) of the model file at `path`, read through
/// symbolic links:
/// - the published sha256 of a known model whose cached file it is
///   (`CACHE/models/FILE`, a regular file of the model's published size),
///   since `xsafe model pull` and `import` put a file there only once its
///   sha256 matched;
/// - else the one [`RECORD_FILE`] in `cache_dir` holds for the file's
///   canonical path, when the file's size and modification time (and, on
///   Unix, its inode and status change time) are what they were when it
///   was recorded;
/// - else the file is read through (about a second for 250 MB) and the
///   result recorded there for the next command, unless the file changed
///   in the last two seconds or while it was read.
///
/// A record file that is missing, unreadable, not JSON or of another
/// layout, or an entry that is not of the file as it is now or whose
/// sha256 is not 64 lower-case hex digits, is never used: the file is read.
/// A record that cannot be written is warned about, and the file is read
/// again next time.
pub fn sha256(path: &Path, cache_dir: &Path) -> Result<String> {
    let real =
        std::fs::canonicalize(path).with_context(|| format!("model file `{}`", path.display()))?;
    let meta =
        std::fs::metadata(&real).with_context(|| format!("model file `{}`", real.display()))?;
    if let Some(sha) = published(&real, meta.len(), cache_dir) {
        return Ok(sha.to_string());
    }
    let record = cache_dir.join(RECORD_FILE);
    // A path that is not UTF-8 is no key of the record: it is read every time.
    let key = real.to_str();
    let stamp = Stamp::of(&meta);
    if let (Some(key), Some(stamp)) = (key, &stamp)
        && let Some(sha) = Record::read(&record).lookup(key, stamp)
    {
        return Ok(sha);
    }
    let started = Instant::now();
    let sha = xsafe_fetch::sha256_file(&real)?;
    tracing::info!(
        file = %real.display(),
        bytes = meta.len(),
        seconds = started.elapsed().as_secs_f64(),
        "read the model file through for its sha256, which a run knows it by"
    );
    let after = std::fs::metadata(&real).ok().and_then(|m| Stamp::of(&m));
    if let (Some(key), Some(stamp)) = (key, stamp)
        && after.as_ref() == Some(&stamp)
        && stamp.settled()
        && let Err(e) = Record::add(&record, key, stamp, &sha)
    {
        tracing::warn!(
            "could not record the sha256 of `{}` in `{}` ({e:#}); it is read through again \
             next time",
            real.display(),
            record.display()
        );
    }
    Ok(sha)
}

/// The published sha256 of the known model whose cached file `real` (a
/// canonical path) of `size` bytes is: the cache entry is a regular file
/// (not a link to a file elsewhere, which may change), `real` is it, and
/// its size is the model's published one.
fn published(real: &Path, size: u64, cache_dir: &Path) -> Option<&'static str> {
    models::MODELS.iter().find_map(|m| {
        let (sha, published_size) = (m.sha256?, m.size_bytes?);
        let cached = models::cache_path(m, cache_dir);
        let regular = std::fs::symlink_metadata(&cached)
            .ok()?
            .file_type()
            .is_file();
        let same = regular
            && published_size == size
            && std::fs::canonicalize(&cached).ok()?.as_path() == real;
        same.then_some(sha)
    })
}

/// What a file was when its sha256 was recorded: while it is the same, so
/// is the sha256 (a file changed in place gets a new modification time,
/// and, on Unix, a new status change time, which no program sets back; one
/// put in its place, a new inode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    /// Bytes.
    size: u64,
    /// The modification time, as seconds and nanoseconds since the epoch.
    modified: (u64, u32),
    /// The inode, on Unix.
    inode: Option<u64>,
    /// The status change time, as seconds and nanoseconds since the epoch,
    /// on Unix.
    changed: Option<(i64, i64)>,
}

impl Stamp {
    /// The stamp of a file of `meta`; `None` when its modification time
    /// cannot be read (such a file is read through every time).
    fn of(meta: &Metadata) -> Option<Stamp> {
        let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        #[cfg(unix)]
        let (inode, changed) = {
            use std::os::unix::fs::MetadataExt;
            (Some(meta.ino()), Some((meta.ctime(), meta.ctime_nsec())))
        };
        #[cfg(not(unix))]
        let (inode, changed) = (None, None);
        Some(Stamp {
            size: meta.len(),
            modified: (modified.as_secs(), modified.subsec_nanos()),
            inode,
            changed,
        })
    }

    /// Whether the file last changed at least [`SETTLED`] ago (and not in
    /// the future).
    fn settled(&self) -> bool {
        let modified = UNIX_EPOCH + Duration::new(self.modified.0, self.modified.1);
        SystemTime::now()
            .duration_since(modified)
            .is_ok_and(|age| age >= SETTLED)
    }
}

/// [`RECORD_FILE`]: the sha256 of model files by canonical path, each with
/// the stamp of the file it was read from.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    version: u32,
    files: BTreeMap<String, Entry>,
}

/// A file's sha256 and what the file was when it was read.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    stamp: Stamp,
    sha256: String,
}

impl Record {
    /// The record at `path`, or an empty one when there is none that can be
    /// used: missing, unreadable, not JSON, or of another layout.
    fn read(path: &Path) -> Record {
        let read = std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok());
        match read {
            Some(record) if record.version == RECORD_VERSION => record,
            _ => Record {
                version: RECORD_VERSION,
                files: BTreeMap::new(),
            },
        }
    }

    /// The sha256 recorded for the file at `key` when it is `stamp` now.
    fn lookup(&self, key: &str, stamp: &Stamp) -> Option<String> {
        let entry = self.files.get(key)?;
        let valid = entry.sha256.len() == 64
            && entry
                .sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (valid && entry.stamp == *stamp).then(|| entry.sha256.clone())
    }

    /// Adds the file at `key`, of `stamp`, with `sha256` to the record at
    /// `path` as it is now (another command may have added to it), leaving
    /// out the files that are gone or changed since they were recorded, and
    /// replaces the file whole.
    fn add(path: &Path, key: &str, stamp: Stamp, sha256: &str) -> Result<()> {
        let mut record = Record::read(path);
        record.files.retain(|file, entry| {
            std::fs::metadata(file)
                .ok()
                .and_then(|m| Stamp::of(&m))
                .is_some_and(|now| now == entry.stamp)
        });
        record.files.insert(
            key.to_string(),
            Entry {
                stamp,
                sha256: sha256.to_string(),
            },
        );
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating `{}`", dir.display()))?;
        }
        let json = serde_json::to_vec_pretty(&record).expect("a record serialises");
        crate::commands::write_atomically(path, &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    /// `content` written to `dir/name`, last modified an hour ago.
    fn settled_file(dir: &Path, name: &str, content: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        path
    }

    /// The sha256 of `content`, as the file holding it has.
    fn sha_of(content: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, content).unwrap();
        xsafe_fetch::sha256_file(&path).unwrap()
    }

    fn recorded(cache: &Path) -> Record {
        Record::read(&cache.join(RECORD_FILE))
    }

    /// A file is read through once and its sha256 recorded under its
    /// canonical path; the next look-up takes the record (here made to
    /// lie, to show it is used) while the file is as it was.
    #[test]
    fn a_files_sha256_is_recorded_and_used_while_the_file_is_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let file = settled_file(dir.path(), "m.gguf", b"GGUF weights one");
        let sha = sha256(&file, &cache).unwrap();
        assert_eq!(sha, sha_of(b"GGUF weights one"));
        let record = recorded(&cache);
        let key = file.canonicalize().unwrap().to_str().unwrap().to_string();
        assert_eq!(record.files[&key].sha256, sha);

        let mut lying = record;
        lying.files.get_mut(&key).unwrap().sha256 = "0".repeat(64);
        std::fs::write(cache.join(RECORD_FILE), serde_json::to_vec(&lying).unwrap()).unwrap();
        assert_eq!(sha256(&file, &cache).unwrap(), "0".repeat(64));
        // Through another spelling of its path, or a link, too.
        let dotted = dir.path().join(".").join("m.gguf");
        assert_eq!(sha256(&dotted, &cache).unwrap(), "0".repeat(64));
    }

    /// The bug this guards: a checkpoint overwritten in place with other
    /// weights of the same size (and name) was taken for the model it
    /// replaced. Its record is of the file as it was: the file is read
    /// again. (The status change time, which tells when the modification
    /// time was put back, is Unix's.)
    #[cfg(unix)]
    #[test]
    fn a_file_changed_in_place_with_the_same_size_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let file = settled_file(dir.path(), "m.gguf", b"GGUF weights one");
        let first = sha256(&file, &cache).unwrap();
        // Other weights, the same size, even with the old modification
        // time put back.
        let old_time = std::fs::metadata(&file).unwrap().modified().unwrap();
        std::fs::write(&file, b"GGUF weights two").unwrap();
        File::options()
            .write(true)
            .open(&file)
            .unwrap()
            .set_modified(old_time)
            .unwrap();
        let second = sha256(&file, &cache).unwrap();
        assert_eq!(second, sha_of(b"GGUF weights two"));
        assert_ne!(second, first);
        // Another file put in its place.
        let other = settled_file(dir.path(), "other.gguf", b"GGUF weights 333");
        std::fs::rename(&other, &file).unwrap();
        assert_eq!(sha256(&file, &cache).unwrap(), sha_of(b"GGUF weights 333"));
    }

    /// A record that cannot be used is never trusted: not JSON, another
    /// layout, or a sha256 that is not 64 lower-case hex digits. The file
    /// is read and the record written anew.
    #[test]
    fn a_record_that_cannot_be_used_is_read_again_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        let file = settled_file(dir.path(), "m.gguf", b"GGUF weights one");
        let expected = sha_of(b"GGUF weights one");
        let key = file.canonicalize().unwrap().to_str().unwrap().to_string();
        let stamp = Stamp::of(&std::fs::metadata(&file).unwrap()).unwrap();
        let entry = |sha: &str| Entry {
            stamp: stamp.clone(),
            sha256: sha.into(),
        };
        let layouts = [
            b"{ not json".to_vec(),
            serde_json::to_vec(&Record {
                version: RECORD_VERSION + 1,
                files: [(key.clone(), entry(&"0".repeat(64)))].into(),
            })
            .unwrap(),
            serde_json::to_vec(&Record {
                version: RECORD_VERSION,
                files: [(key.clone(), entry(&"A".repeat(64)))].into(),
            })
            .unwrap(),
        ];
        for bytes in layouts {
            std::fs::write(cache.join(RECORD_FILE), &bytes).unwrap();
            assert_eq!(sha256(&file, &cache).unwrap(), expected);
            assert_eq!(recorded(&cache).files[&key].sha256, expected);
        }
    }

    /// A file changed in the last two seconds is read through but not
    /// recorded: it may still change within the clock's resolution.
    #[test]
    fn a_file_changed_just_now_is_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let file = dir.path().join("m.gguf");
        std::fs::write(&file, b"GGUF fresh").unwrap();
        assert_eq!(sha256(&file, &cache).unwrap(), sha_of(b"GGUF fresh"));
        assert!(recorded(&cache).files.is_empty());
    }

    /// The cached file of a known model with a published sha256 and size
    /// is known by that sha256 without being read (here a sparse file of
    /// the demo model's size, whose own sha256 is another); a link in the
    /// cache to a file elsewhere, or a file of another size, is read.
    #[cfg(unix)]
    #[test]
    fn a_known_models_cached_file_is_known_by_its_published_sha256() {
        let model = models::known("gemma-3-270m").unwrap();
        let (published_sha, size) = (model.sha256.unwrap(), model.size_bytes.unwrap());
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let cached = models::cache_path(model, &cache);
        std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
        File::create(&cached).unwrap().set_len(size).unwrap();
        let started = Instant::now();
        assert_eq!(sha256(&cached, &cache).unwrap(), published_sha);
        assert!(started.elapsed() < Duration::from_secs(1));
        let link = dir.path().join("g.gguf");
        std::os::unix::fs::symlink(&cached, &link).unwrap();
        assert_eq!(sha256(&link, &cache).unwrap(), published_sha);

        // A link in the cache to a file elsewhere.
        let elsewhere = settled_file(dir.path(), "elsewhere.gguf", b"GGUF not the model");
        std::fs::remove_file(&cached).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &cached).unwrap();
        assert_eq!(
            sha256(&cached, &cache).unwrap(),
            sha_of(b"GGUF not the model")
        );
        // A file of another size.
        std::fs::remove_file(&cached).unwrap();
        std::fs::write(&cached, b"GGUF short").unwrap();
        assert_eq!(sha256(&cached, &cache).unwrap(), sha_of(b"GGUF short"));
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = sha256(&dir.path().join("gone.gguf"), dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("gone.gguf"), "{err:#}");
    }
}
