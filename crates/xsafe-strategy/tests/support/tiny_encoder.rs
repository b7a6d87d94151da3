//! A tiny BERT sentence encoder written into a directory, as Hugging Face
//! lays one out (`config.json`, `tokenizer.json`, `model.safetensors`,
//! `sentence_bert_config.json`): it loads and embeds as all-MiniLM-L6-v2
//! does, in microseconds, so tests of what names an encoder need no real
//! one. Also used by the `xsafe` crate's tests (`#[path]`).
//!
//! Only its word embeddings are non-zero, and it knows two words no suite
//! or bank uses: every other text embeds to the zero vector, whose cosine
//! with anything is 0, so the leakage check never takes a case for a
//! reworded exemplar, and exemplars are picked in plain few-shot's order.

#![allow(dead_code)]

use std::path::Path;

const HIDDEN: usize = 4;
const INTERMEDIATE: usize = 8;
const POSITIONS: usize = 64;
const WORDS: [&str; 6] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "zyzzyva", "quokka"];

/// Writes the encoder into `dir` (made if missing); `seed` varies its
/// weights.
pub fn write(dir: &Path, seed: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let config = serde_json::json!({
        "model_type": "bert", "hidden_size": HIDDEN, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": INTERMEDIATE,
        "max_position_embeddings": POSITIONS, "vocab_size": WORDS.len(),
        "type_vocab_size": 2, "hidden_act": "gelu",
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let vocab: serde_json::Map<String, serde_json::Value> = WORDS
        .iter()
        .enumerate()
        .map(|(i, w)| (w.to_string(), i.into()))
        .collect();
    let tokenizer = serde_json::json!({
        "normalizer": {"type": "BertNormalizer", "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "model": {"type": "WordPiece", "vocab": vocab, "unk_token": "[UNK]"},
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    std::fs::write(
        dir.join("sentence_bert_config.json"),
        r#"{"max_seq_length": 32}"#,
    )
    .unwrap();

    let (h, i) = (HIDDEN, INTERMEDIATE);
    let mut tensors: Vec<(String, Vec<usize>)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![WORDS.len(), h],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![POSITIONS, h],
        ),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, h]),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
    ];
    let p = "encoder.layer.0";
    for (name, out, inp) in [
        ("attention.self.query", h, h),
        ("attention.self.key", h, h),
        ("attention.self.value", h, h),
        ("attention.output.dense", h, h),
        ("intermediate.dense", i, h),
        ("output.dense", h, i),
    ] {
        tensors.push((format!("{p}.{name}.weight"), vec![out, inp]));
        tensors.push((format!("{p}.{name}.bias"), vec![out]));
    }
    for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
        tensors.push((format!("{p}.{name}.weight"), vec![h]));
        tensors.push((format!("{p}.{name}.bias"), vec![h]));
    }
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(12_345);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 1000) as f32 / 1000.0 - 0.5
    };
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape) in tensors {
        let count: usize = shape.iter().product();
        let start = data.len();
        for _ in 0..count {
            let v = if name.ends_with("LayerNorm.weight") {
                1.0
            } else if name == "embeddings.word_embeddings.weight" && start + 4 * h * 4 <= data.len()
            {
                // The rows of the two words, after the four special tokens.
                next()
            } else {
                0.0
            };
            data.extend(v.to_le_bytes());
        }
        header.insert(
            name,
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let header = serde_json::Value::Object(header).to_string();
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend(header.as_bytes());
    file.extend(data);
    std::fs::write(dir.join("model.safetensors"), file).unwrap();
}

/// Copies the encoder in `from` to `to`, every file.
pub fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Changes one weight of the encoder in `dir` a little: the lowest byte of
/// the first float of `model.safetensors`'s data (the word embedding of
/// `[PAD]`, which no text uses).
pub fn nudge_one_weight(dir: &Path) {
    let path = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header] ^= 1;
    std::fs::write(&path, bytes).unwrap();
}
