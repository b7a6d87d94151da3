//! A BERT encoder's forward pass over one sequence, in f32 on the CPU.
//!
//! One sequence at a time, with no padding and so no attention mask: the
//! encoder embeds a prompt, never a batch, and a mask would only cost time.

use crate::EmbedError;
use serde::Deserialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The parts of a Hugging Face `config.json` the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Config {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub vocab_size: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f32,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_type_vocab() -> usize {
    2
}

fn default_eps() -> f32 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

impl Config {
    pub(crate) fn load(path: &Path) -> Result<Config, EmbedError> {
        let text = std::fs::read_to_string(path).map_err(|e| EmbedError::read(path, e))?;
        let config: Config = serde_json::from_str(&text).map_err(|e| EmbedError::Invalid {
            file: path.to_path_buf(),
            message: format!("not a BERT config.json: {e}"),
        })?;
        let bad = |message: String| EmbedError::Invalid {
            file: path.to_path_buf(),
            message,
        };
        if let Some(kind) = config.model_type.as_deref().filter(|k| *k != "bert") {
            return Err(bad(format!(
                "model_type is `{kind}`; xsafe's encoder runs BERT models only"
            )));
        }
        if config.hidden_act != "gelu" {
            return Err(bad(format!(
                "hidden_act is `{}`; xsafe's encoder implements `gelu` only",
                config.hidden_act
            )));
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            )));
        }
        Ok(config)
    }
}

/// A row-major matrix of weights.
#[derive(Debug)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

struct Linear {
    /// `out × in`, as PyTorch stores it.
    weight: Tensor,
    bias: Vec<f32>,
}

struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: Norm,
    intermediate: Linear,
    output: Linear,
    output_norm: Norm,
}

pub(crate) struct Bert {
    config: Config,
    words: Tensor,
    positions: Tensor,
    types: Tensor,
    embedding_norm: Norm,
    layers: Vec<Layer>,
}

/// The tensors of a model file, taken out one by one with their shapes
/// checked against `config.json`.
struct Weights<'a> {
    tensors: HashMap<String, Tensor>,
    path: &'a Path,
}

impl Weights<'_> {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Tensor, EmbedError> {
        let t = self
            .tensors
            .remove(name)
            .or_else(|| self.tensors.remove(&format!("bert.{name}")))
            .ok_or_else(|| EmbedError::Invalid {
                file: self.path.to_path_buf(),
                message: format!("no tensor `{name}`; is this a BERT model?"),
            })?;
        if t.shape != shape {
            return Err(EmbedError::Invalid {
                file: self.path.to_path_buf(),
                message: format!(
                    "tensor `{name}` has shape {:?}, config.json implies {shape:?}",
                    t.shape
                ),
            });
        }
        Ok(t)
    }

    fn linear(&mut self, name: &str, out: usize, inp: usize) -> Result<Linear, EmbedError> {
        Ok(Linear {
            weight: self.take(&format!("{name}.weight"), &[out, inp])?,
            bias: self.take(&format!("{name}.bias"), &[out])?.data,
        })
    }

    fn norm(&mut self, name: &str, size: usize) -> Result<Norm, EmbedError> {
        Ok(Norm {
            weight: self.take(&format!("{name}.weight"), &[size])?.data,
            bias: self.take(&format!("{name}.bias"), &[size])?.data,
        })
    }
}

impl Bert {
    pub(crate) fn load(config: Config, path: &Path) -> Result<Bert, EmbedError> {
        let mut w = Weights {
            tensors: read_safetensors(path)?,
            path,
        };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            layers.push(Layer {
                query: w.linear(&format!("{p}.attention.self.query"), h, h)?,
                key: w.linear(&format!("{p}.attention.self.key"), h, h)?,
                value: w.linear(&format!("{p}.attention.self.value"), h, h)?,
                attention_out: w.linear(&format!("{p}.attention.output.dense"), h, h)?,
                attention_norm: w.norm(&format!("{p}.attention.output.LayerNorm"), h)?,
                intermediate: w.linear(&format!("{p}.intermediate.dense"), i, h)?,
                output: w.linear(&format!("{p}.output.dense"), h, i)?,
                output_norm: w.norm(&format!("{p}.output.LayerNorm"), h)?,
            });
        }
        Ok(Bert {
            words: w.take("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            positions: w.take(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            types: w.take(
                "embeddings.token_type_embeddings.weight",
                &[config.type_vocab_size, h],
            )?,
            embedding_norm: w.norm("embeddings.LayerNorm", h)?,
            layers,
            config,
        })
    }

    pub(crate) fn max_positions(&self) -> usize {
        self.config.max_position_embeddings
    }

    pub(crate) fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    /// The last layer's hidden states, `ids.len() × hidden` row-major.
    pub(crate) fn forward(&self, ids: &[u32]) -> Vec<f32> {
        let h = self.config.hidden_size;
        let n = ids.len();
        let eps = self.config.layer_norm_eps;
        let mut x = vec![0f32; n * h];
        for (t, &id) in ids.iter().enumerate() {
            let row = &mut x[t * h..(t + 1) * h];
            let word = &self.words.data[id as usize * h..][..h];
            let position = &self.positions.data[t * h..][..h];
            let kind = &self.types.data[..h];
            for (j, v) in row.iter_mut().enumerate() {
                *v = word[j] + position[j] + kind[j];
            }
        }
        layer_norm(&mut x, &self.embedding_norm, h, eps);
        let heads = self.config.num_attention_heads;
        let d = h / heads;
        let scale = 1.0 / (d as f32).sqrt();
        let mut scores = vec![0f32; n * n];
        let mut context = vec![0f32; n * h];
        for layer in &self.layers {
            let q = linear(&x, n, &layer.query);
            let k = linear(&x, n, &layer.key);
            let v = linear(&x, n, &layer.value);
            for head in 0..heads {
                let off = head * d;
                // scores = Q_h K_hᵀ, read in place from the n × h matrices.
                gemm(
                    n,
                    d,
                    n,
                    scale,
                    (&q[off..], h, 1),
                    (&k[off..], 1, h),
                    (&mut scores, n, 1),
                );
                for row in scores.chunks_mut(n) {
                    softmax(row);
                }
                gemm(
                    n,
                    n,
                    d,
                    1.0,
                    (&scores, n, 1),
                    (&v[off..], h, 1),
                    (&mut context[off..], h, 1),
                );
            }
            let mut attended = linear(&context, n, &layer.attention_out);
            add(&mut attended, &x);
            layer_norm(&mut attended, &layer.attention_norm, h, eps);
            let mut inner = linear(&attended, n, &layer.intermediate);
            inner.iter_mut().for_each(|v| *v = gelu(*v));
            let mut out = linear(&inner, n, &layer.output);
            add(&mut out, &attended);
            layer_norm(&mut out, &layer.output_norm, h, eps);
            x = out;
        }
        x
    }
}

/// `c = alpha · a b` for an `m × k` matrix `a` and a `k × n` matrix `b`,
/// each given with its row and column strides; `c` is overwritten.
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: (&[f32], usize, usize),
    b: (&[f32], usize, usize),
    c: (&mut [f32], usize, usize),
) {
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| {
        (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs + 1
    };
    assert!(a.0.len() >= last(m, k, a.1, a.2));
    assert!(b.0.len() >= last(k, n, b.1, b.2));
    assert!(c.0.len() >= last(m, n, c.1, c.2));
    // SAFETY: the asserts above keep every element the strides reach
    // inside its slice, and `c` is borrowed mutably, apart from `a` and `b`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.0.as_ptr(),
            a.1 as isize,
            a.2 as isize,
            b.0.as_ptr(),
            b.1 as isize,
            b.2 as isize,
            0.0,
            c.0.as_mut_ptr(),
            c.1 as isize,
            c.2 as isize,
        );
    }
}

/// `x Wᵀ + b` for `n` rows of `x`.
fn linear(x: &[f32], n: usize, l: &Linear) -> Vec<f32> {
    let (out, inp) = (l.weight.shape[0], l.weight.shape[1]);
    let mut y = vec![0f32; n * out];
    gemm(
        n,
        inp,
        out,
        1.0,
        (x, inp, 1),
        (&l.weight.data, 1, inp),
        (&mut y, out, 1),
    );
    for row in y.chunks_mut(out) {
        add(row, &l.bias);
    }
    y
}

fn add(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

fn layer_norm(x: &mut [f32], norm: &Norm, h: usize, eps: f32) {
    for row in x.chunks_mut(h) {
        let mean = row.iter().sum::<f32>() / h as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / h as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for (j, v) in row.iter_mut().enumerate() {
            *v = (*v - mean) * inv * norm.weight[j] + norm.bias[j];
        }
    }
}

fn softmax(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    row.iter_mut().for_each(|v| *v /= sum);
}

/// BERT's exact GELU, `x Φ(x)`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2))
}

/// The error function, from a Chebyshev-fitted approximation of erfc whose
/// fractional error is below 1.2e-7, evaluated in f64.
fn erf(x: f32) -> f32 {
    let x = f64::from(x);
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    (if x >= 0.0 { 1.0 - erfc } else { erfc - 1.0 }) as f32
}

#[derive(Deserialize)]
struct Header {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// The f32 tensors of a `.safetensors` file: an 8-byte little-endian header
/// length, a JSON header naming each tensor's dtype, shape and byte range,
/// then the data. Tensors are read from the file straight into their own
/// vectors, a block at a time, so loading holds the model once, not the
/// file's bytes beside it.
fn read_safetensors(path: &Path) -> Result<HashMap<String, Tensor>, EmbedError> {
    let io = |e: std::io::Error| EmbedError::read(path, e);
    let bad = |message: String| EmbedError::Invalid {
        file: path.to_path_buf(),
        message,
    };
    let mut file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    if file_len < 8 {
        return Err(bad("too short for a safetensors file".into()));
    }
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(io)?;
    let len = u64::from_le_bytes(len);
    let data_start = 8u64
        .checked_add(len)
        .filter(|&end| end <= file_len)
        .ok_or_else(|| {
            bad("the header runs past the end of the file (truncated download?)".into())
        })?;
    let data_len = file_len - data_start;
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header).map_err(io)?;
    let header: HashMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| bad(format!("the header is not valid JSON: {e}")))?;

    let mut wanted = Vec::new();
    for (name, value) in header {
        if name == "__metadata__" {
            continue;
        }
        let h: Header =
            serde_json::from_value(value).map_err(|e| bad(format!("tensor `{name}`: {e}")))?;
        if h.dtype != "F32" {
            // Integer buffers such as position_ids are not weights.
            if h.dtype.starts_with('I') || h.dtype.starts_with('U') {
                continue;
            }
            return Err(bad(format!(
                "tensor `{name}` is {}; xsafe's encoder reads F32 weights",
                h.dtype
            )));
        }
        let [start, end] = h.data_offsets;
        let count: usize = h.shape.iter().product();
        if start > end || end as u64 > data_len || end - start != count * 4 {
            return Err(bad(format!(
                "tensor `{name}`'s bytes {start}..{end} do not hold its shape {:?} (truncated download?)",
                h.shape
            )));
        }
        wanted.push((start, count, name, h.shape));
    }
    // In file order, so the reads go forward.
    wanted.sort_by_key(|w| w.0);
    let mut block = vec![0u8; 1 << 16];
    let mut tensors = HashMap::with_capacity(wanted.len());
    for (start, count, name, shape) in wanted {
        file.seek(SeekFrom::Start(data_start + start as u64))
            .map_err(io)?;
        let mut data = Vec::with_capacity(count);
        let mut left = count * 4;
        while left > 0 {
            let n = left.min(block.len());
            let chunk = &mut block[..n];
            file.read_exact(chunk).map_err(io)?;
            data.extend(
                chunk
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().expect("four bytes"))),
            );
            left -= chunk.len();
        }
        tensors.insert(name, Tensor { shape, data });
    }
    Ok(tensors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0f32, 0.0f32),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-1.0, -0.842_700_8),
            (2.5, 0.999_593),
        ] {
            assert!((erf(x) - want).abs() < 1e-6, "erf({x}) = {}", erf(x));
        }
    }

    #[test]
    fn strided_gemm_multiplies_by_a_transpose() {
        // a = [[1,2],[3,4]], w = [[1,0],[1,1],[0,2]] (3 × 2); a wᵀ:
        let a = [1.0, 2.0, 3.0, 4.0];
        let w = [1.0, 0.0, 1.0, 1.0, 0.0, 2.0];
        let mut c = [0.0; 6];
        gemm(2, 2, 3, 1.0, (&a, 2, 1), (&w, 1, 2), (&mut c, 3, 1));
        assert_eq!(c, [1.0, 3.0, 4.0, 3.0, 7.0, 8.0]);
    }

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let mut r = [1.0, 2.0, 3.0];
        softmax(&mut r);
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(r[0] < r[1] && r[1] < r[2]);
    }
}
