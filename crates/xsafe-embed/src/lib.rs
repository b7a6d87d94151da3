//! A sentence encoder for xsafe: BERT-family sentence-transformers models
//! such as all-MiniLM-L6-v2, run on the CPU with no server and no GPU.
//!
//! It turns a text into a unit vector whose cosine with another text's
//! vector says how close their meanings are. xsafe uses it to pick the
//! few-shot exemplars nearest to a prompt by meaning (`selection =
//! "embedding"`), where word overlap misses paraphrases ("terminate a
//! program" and "kill a process").
//!
//! A model is a directory holding `config.json`, `tokenizer.json` and
//! `model.safetensors`, as Hugging Face publishes them; [`models`] names the
//! known ones, downloads them into xsafe's cache or imports a copy. Only
//! the pipeline these models use is implemented (BERT WordPiece, mean
//! pooling, L2 normalisation); anything else is refused when loading.

mod bert;
pub mod models;
mod tokenizer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// Why an encoder could not be loaded or fetched.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// A file of the model directory exists but could not be read.
    #[error("cannot read the encoder file `{}`: {source}", file.display())]
    Read {
        /// The file that could not be read.
        file: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file of the model directory is malformed, is of a model the encoder
    /// does not run (not BERT, not `gelu`), or belongs to another model than
    /// its neighbours.
    #[error("encoder file `{}`: {message}", file.display())]
    Invalid {
        /// The file at fault.
        file: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// No model where one was named: a model directory lacks a required file, a
    /// known encoder is not in the cache (or no cache is known), or the name is
    /// neither a known encoder nor a directory. The text says what to do.
    #[error("{0}")]
    Missing(String),
    /// Downloading or importing a known encoder's files into the cache failed,
    /// or a file did not match its pinned checksum.
    #[error(transparent)]
    Fetch(#[from] xsafe_fetch::FetchError),
}

impl EmbedError {
    fn read(file: &Path, source: std::io::Error) -> EmbedError {
        EmbedError::Read {
            file: file.to_path_buf(),
            source,
        }
    }
}

/// The files a model directory must hold.
pub const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// The sentence-transformers settings a model directory may hold; its
/// `max_seq_length` is where texts are cut. Without it, texts are cut at
/// the model's positions.
pub const LIMIT_FILE: &str = "sentence_bert_config.json";

/// The sha256 of every file of a model directory that [`Encoder::load`]
/// reads ([`FILES`], and [`LIMIT_FILE`] when there is one), by file name,
/// lower-case hex: what tells one encoder from another, whatever its
/// directory is called. Two directories whose weights differ in one byte
/// pick other exemplars, so they must not pass for the same encoder.
///
/// Each file is hashed once per process: the sums are kept by path, size
/// and modification time, so building a strategy again (a run builds it
/// more than once; `tune` builds many) does not hash 90 MB each time, and
/// a file rewritten meanwhile is hashed again.
pub fn fingerprint(dir: &Path) -> Result<BTreeMap<String, String>, EmbedError> {
    let mut sums = BTreeMap::new();
    for file in FILES.iter().chain([&LIMIT_FILE]) {
        let path = dir.join(file);
        if *file == LIMIT_FILE && !path.is_file() {
            continue;
        }
        sums.insert(file.to_string(), file_sha256(&path)?);
    }
    Ok(sums)
}

/// A file's sha256 as [`fingerprint`] last computed it, with the size and
/// modification time it had then.
struct Hashed {
    len: u64,
    modified: Option<SystemTime>,
    sha256: String,
}

static HASHED: Mutex<Option<HashMap<PathBuf, Hashed>>> = Mutex::new(None);

/// The sha256 of `path`, from [`HASHED`] when the file has the size and
/// modification time it had when hashed.
fn file_sha256(path: &Path) -> Result<String, EmbedError> {
    let meta = std::fs::metadata(path).map_err(|e| EmbedError::read(path, e))?;
    let (len, modified) = (meta.len(), meta.modified().ok());
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let known = |cache: &HashMap<PathBuf, Hashed>| {
        cache
            .get(&key)
            .filter(|h| h.len == len && h.modified == modified && modified.is_some())
            .map(|h| h.sha256.clone())
    };
    {
        let cache = HASHED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sum) = cache.as_ref().and_then(known) {
            return Ok(sum);
        }
    }
    // Hashed outside the lock: other threads' encoders need not wait.
    let sha256 = xsafe_fetch::sha256_file(path)?;
    let mut cache = HASHED.lock().unwrap_or_else(PoisonError::into_inner);
    cache.get_or_insert_with(HashMap::new).insert(
        key,
        Hashed {
            len,
            modified,
            sha256: sha256.clone(),
        },
    );
    Ok(sha256)
}

/// A loaded sentence encoder. Embedding takes `&self`, so one encoder can
/// serve many tasks; it uses the calling thread only.
pub struct Encoder {
    tokenizer: tokenizer::WordPiece,
    bert: bert::Bert,
    max_tokens: usize,
    dir: PathBuf,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("dir", &self.dir)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// Loads the model in `dir` (about 90 MB of weights for MiniLM-L6).
    pub fn load(dir: &Path) -> Result<Encoder, EmbedError> {
        for file in FILES {
            if !dir.join(file).is_file() {
                return Err(EmbedError::Missing(format!(
                    "the encoder directory `{}` has no `{file}`; it needs {} (as Hugging Face publishes a sentence-transformers model)",
                    dir.display(),
                    FILES.join(", ")
                )));
            }
        }
        let config = bert::Config::load(&dir.join("config.json"))?;
        let tokenizer = tokenizer::WordPiece::load(&dir.join("tokenizer.json"))?;
        let bert = bert::Bert::load(config, &dir.join("model.safetensors"))?;
        if tokenizer.vocab_size() > bert.vocab_size() {
            return Err(EmbedError::Invalid {
                file: dir.join("tokenizer.json"),
                message: format!(
                    "the vocabulary has {} tokens but the model only {}; the files are of different models",
                    tokenizer.vocab_size(),
                    bert.vocab_size()
                ),
            });
        }
        // sentence-transformers truncates to its own limit, often below the
        // model's positions (256 of 512 for MiniLM).
        let max_tokens = sentence_limit(dir)?
            .unwrap_or(usize::MAX)
            .min(bert.max_positions());
        Ok(Encoder {
            tokenizer,
            bert,
            max_tokens,
            dir: dir.to_path_buf(),
        })
    }

    /// The directory the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The word-piece ids `text` is embedded from, without `[CLS]` and
    /// `[SEP]`: at most the model's limit less those two.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer
            .encode(text, self.max_tokens.saturating_sub(2))
    }

    /// The unit vector of `text`: the mean of the last layer's states over
    /// its tokens (with `[CLS]` and `[SEP]`), normalised. Text beyond the
    /// model's limit is cut, as sentence-transformers does.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let mut ids = vec![self.tokenizer.cls];
        ids.extend(self.token_ids(text));
        ids.push(self.tokenizer.sep);
        let states = self.bert.forward(&ids);
        let width = states.len() / ids.len();
        let mut mean = vec![0f32; width];
        for row in states.chunks(width) {
            mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
        }
        let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            mean.iter_mut().for_each(|v| *v /= norm);
        }
        mean
    }
}

/// The cosine of two vectors from [`Encoder::embed`] (unit vectors, so
/// their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `max_seq_length` of `sentence_bert_config.json`, when the directory has one.
fn sentence_limit(dir: &Path) -> Result<Option<usize>, EmbedError> {
    let path = dir.join(LIMIT_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| EmbedError::read(&path, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| EmbedError::Invalid {
            file: path.clone(),
            message: format!("not JSON: {e}"),
        })?;
    Ok(value
        .get("max_seq_length")
        .and_then(serde_json::Value::as_u64)
        .map(|n| n as usize))
}
