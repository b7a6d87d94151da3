//! BERT's uncased WordPiece tokenizer, as a `tokenizer.json` of type
//! `WordPiece` with a `BertNormalizer` and `BertPreTokenizer` describes it.
//!
//! Only that pipeline is implemented: the encoder refuses any other
//! tokenizer rather than split text differently from the model's training.

use crate::EmbedError;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug)]
pub(crate) struct WordPiece {
    vocab: HashMap<String, u32>,
    unk: u32,
    pub(crate) cls: u32,
    pub(crate) sep: u32,
    prefix: String,
    max_word_chars: usize,
    lowercase: bool,
    strip_accents: bool,
    chinese_chars: bool,
    clean_text: bool,
}

#[derive(Deserialize)]
struct File {
    normalizer: Option<Normalizer>,
    pre_tokenizer: Option<Typed>,
    model: Model,
}

#[derive(Deserialize)]
struct Typed {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Normalizer {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "yes")]
    clean_text: bool,
    #[serde(default = "yes")]
    handle_chinese_chars: bool,
    strip_accents: Option<bool>,
    #[serde(default = "yes")]
    lowercase: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct Model {
    #[serde(rename = "type")]
    kind: String,
    vocab: HashMap<String, u32>,
    unk_token: String,
    #[serde(default = "default_prefix")]
    continuing_subword_prefix: String,
    #[serde(default = "default_max_chars")]
    max_input_chars_per_word: usize,
}

fn default_prefix() -> String {
    "##".into()
}

fn default_max_chars() -> usize {
    100
}

impl WordPiece {
    pub(crate) fn load(path: &Path) -> Result<WordPiece, EmbedError> {
        let bad = |message: String| EmbedError::Invalid {
            file: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| EmbedError::read(path, e))?;
        let file: File = serde_json::from_str(&text)
            .map_err(|e| bad(format!("not a tokenizer.json this encoder reads: {e}")))?;
        if file.model.kind != "WordPiece" {
            return Err(bad(format!(
                "the tokenizer is `{}`; xsafe's encoder reads BERT's WordPiece tokenizers only",
                file.model.kind
            )));
        }
        if let Some(p) = file.pre_tokenizer.filter(|p| p.kind != "BertPreTokenizer") {
            return Err(bad(format!(
                "the pre-tokenizer is `{}`; xsafe's encoder reads BertPreTokenizer only",
                p.kind
            )));
        }
        let normalizer = match file.normalizer {
            Some(n) if n.kind == "BertNormalizer" => n,
            Some(n) => {
                return Err(bad(format!(
                    "the normalizer is `{}`; xsafe's encoder reads BertNormalizer only",
                    n.kind
                )));
            }
            None => return Err(bad("the tokenizer has no normalizer".into())),
        };
        let vocab = file.model.vocab;
        let id = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| bad(format!("the vocabulary has no `{token}` token")))
        };
        Ok(WordPiece {
            unk: id(&file.model.unk_token)?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            prefix: file.model.continuing_subword_prefix,
            max_word_chars: file.model.max_input_chars_per_word,
            // As in BERT: accents are stripped when lowercasing unless the
            // file says otherwise.
            strip_accents: normalizer.strip_accents.unwrap_or(normalizer.lowercase),
            lowercase: normalizer.lowercase,
            chinese_chars: normalizer.handle_chinese_chars,
            clean_text: normalizer.clean_text,
            vocab,
        })
    }

    pub(crate) fn vocab_size(&self) -> usize {
        self.vocab
            .values()
            .map(|&id| id as usize + 1)
            .max()
            .unwrap_or(0)
    }

    /// The ids of `text`'s word pieces, without `[CLS]` and `[SEP]`, at most
    /// `limit` of them.
    pub(crate) fn encode(&self, text: &str, limit: usize) -> Vec<u32> {
        let normal = self.normalize(text);
        let mut ids = Vec::new();
        for word in pre_tokenize(&normal) {
            if ids.len() >= limit {
                break;
            }
            self.word_pieces(word, &mut ids);
        }
        ids.truncate(limit);
        ids
    }

    fn normalize(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if self.clean_text {
                if c == '\0' || c == '\u{fffd}' || is_control(c) {
                    continue;
                }
                if is_whitespace(c) {
                    out.push(' ');
                    continue;
                }
            }
            if self.chinese_chars && is_chinese(c) {
                out.push(' ');
                out.push(c);
                out.push(' ');
            } else {
                out.push(c);
            }
        }
        if self.strip_accents {
            out = out.nfd().filter(|c| !c.is_mark_nonspacing()).collect();
        }
        if self.lowercase {
            out = out.to_lowercase();
        }
        out
    }

    /// Greedy longest-match-first, as WordPiece was trained: a word with a
    /// part not in the vocabulary is one `[UNK]`.
    fn word_pieces(&self, word: &str, ids: &mut Vec<u32>) {
        if word.chars().count() > self.max_word_chars {
            ids.push(self.unk);
            return;
        }
        let start_len = ids.len();
        let mut start = 0;
        let mut piece = String::new();
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                piece.clear();
                if start > 0 {
                    piece.push_str(&self.prefix);
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&piece) {
                    found = Some(id);
                    break;
                }
                end = floor_char_boundary(word, end - 1);
            }
            match found {
                Some(id) => {
                    ids.push(id);
                    start = end;
                }
                None => {
                    ids.truncate(start_len);
                    ids.push(self.unk);
                    return;
                }
            }
        }
    }
}

/// The largest char boundary of `s` at or below `i`.
fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Words split at whitespace, and every punctuation character a word of
/// its own.
fn pre_tokenize(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_whitespace).flat_map(|chunk| {
        let mut parts = Vec::new();
        let mut start = 0;
        for (i, c) in chunk.char_indices() {
            if is_punctuation(c) {
                if start < i {
                    parts.push(&chunk[start..i]);
                }
                parts.push(&chunk[i..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        if start < chunk.len() {
            parts.push(&chunk[start..]);
        }
        parts
    })
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// CJK ideographs, which BERT treats as words of their own.
fn is_chinese(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF
        | 0x3400..=0x4DBF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F
        | 0x2B820..=0x2CEAF
        | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> WordPiece {
        let vocab = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "cafe", "hello", ",", "!",
            "中", "x",
        ];
        WordPiece {
            vocab: vocab
                .iter()
                .enumerate()
                .map(|(i, t)| (t.to_string(), i as u32))
                .collect(),
            unk: 1,
            cls: 2,
            sep: 3,
            prefix: "##".into(),
            max_word_chars: 10,
            lowercase: true,
            strip_accents: true,
            chinese_chars: true,
            clean_text: true,
        }
    }

    #[test]
    fn words_are_split_into_the_longest_known_pieces() {
        let t = tiny();
        assert_eq!(t.encode("unaffable", 100), [4, 5, 6]);
        assert_eq!(t.encode("Hello, CAFÉ!", 100), [8, 9, 7, 10]);
    }

    #[test]
    fn unknown_and_overlong_words_are_one_unknown_piece() {
        let t = tiny();
        assert_eq!(t.encode("unaffablez hello", 100), [1, 8]);
        assert_eq!(t.encode("xxxxxxxxxxx", 100), [1]);
    }

    #[test]
    fn ideographs_controls_and_the_limit() {
        let t = tiny();
        assert_eq!(t.encode("x中x", 100), [12, 11, 12]);
        assert_eq!(t.encode("hel\u{0}lo\u{200b}", 100), [8]);
        assert_eq!(t.encode("hello hello hello", 2), [8, 8]);
    }
}
