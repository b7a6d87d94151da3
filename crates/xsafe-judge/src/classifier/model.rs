//! The classifier's model: multinomial logistic regression over the named
//! sentence features and the answer's word features, trained by L-BFGS with
//! an L2 penalty.
//!
//! Training is deterministic: the same examples in the same order give the
//! same weights, written rounded so a retrained model compares equal to the
//! shipped one byte for byte.

use super::features::FEATURE_NAMES;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use xsafe_core::Class;

/// What a model file says it is, so other JSON is not taken for a model.
const FORMAT: &str = "xsafe-judge-model";
const FORMAT_VERSION: u32 = 1;

/// Weights are written rounded to this many decimals.
const DECIMALS: i32 = 6;

/// A word feature is learnt when at least this many training answers have it.
pub const MIN_ANSWERS_PER_WORD_FEATURE: usize = 5;

/// The weight of the word features beside the sentence features: each
/// answer's word features together have this Euclidean length.
pub const WORD_FEATURE_SCALE: f64 = 3.0;

/// Where a model's training examples came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSource {
    /// A file name or `corpus/NAME` for the built-in corpus.
    pub name: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
    /// How many of its answers were trained on; answers the judge would not
    /// score are left out.
    pub examples: usize,
}

/// How a model was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// Where the examples came from, in the order they were given.
    pub sources: Vec<TrainingSource>,
    /// Training examples in all, over every source.
    pub examples: usize,
    /// Examples per class, in [`Class::ALL`] order.
    pub per_class: [usize; 3],
    /// Inverse strength of the L2 penalty (as in scikit-learn's `C`).
    pub c: f64,
    /// How many L-BFGS iterations training took (at most 2000).
    pub iterations: usize,
    /// Mean cross-entropy on the training examples.
    pub loss: f64,
}

/// What the model reads of one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// In [`FEATURE_NAMES`] order.
    pub features: Vec<f32>,
    /// Distinct word features ([`super::features::ngrams`]).
    pub words: Vec<String>,
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Always `xsafe-judge-model`, so that other JSON is not taken for a model.
    pub format: String,
    /// The version of the file format; a model of another version must be
    /// retrained.
    pub format_version: u32,
    /// Class names, in the order of every weight triple.
    pub classes: Vec<String>,
    /// The intercept of each class, in [`Class::ALL`] order.
    pub bias: [f64; 3],
    /// Sentence feature names, in the order of `weights`' rows.
    pub features: Vec<String>,
    /// One row per sentence feature, one column per class.
    pub weights: Vec<[f64; 3]>,
    /// The weight of the word features beside the sentence features: each
    /// answer's word features together have this Euclidean length.
    pub word_scale: f64,
    /// Weights of the word features the model knows.
    pub words: BTreeMap<String, [f64; 3]>,
    /// How the model was trained: sources, example counts, penalty and final
    /// loss.
    pub training: Training,
}

/// A model file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file cannot be read, is not a model's JSON, or was made for other
    /// features, classes or format version than this xsafe's.
    #[error("`{path}` is not an xsafe judge model: {reason}")]
    Invalid {
        /// The file as shown to the user (`weights/xsafe.json` for the shipped
        /// weights).
        path: String,
        /// Why it cannot be used, with what to do where known.
        reason: String,
    },
    /// Training was asked for with no answer to learn from, or none left once
    /// unscorable answers were dropped.
    #[error("cannot train on no examples: give the corpus or label files with answers in them")]
    NoExamples,
}

impl Model {
    /// Reads a model from JSON, checking it was made for these features.
    pub fn from_json(json: &str, path: &str) -> Result<Model, ModelError> {
        let invalid = |reason: String| ModelError::Invalid {
            path: path.to_string(),
            reason,
        };
        let model: Model = serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
        if model.format != FORMAT {
            return Err(invalid(format!(
                "its format is `{}`, not `{FORMAT}`",
                model.format
            )));
        }
        if model.format_version != FORMAT_VERSION {
            return Err(invalid(format!(
                "it is format version {}, this xsafe reads version {FORMAT_VERSION}; retrain it with `xsafe judge train`",
                model.format_version
            )));
        }
        if model.features != FEATURE_NAMES || model.weights.len() != FEATURE_NAMES.len() {
            return Err(invalid(
                "it was trained on other features than this xsafe computes; retrain it with `xsafe judge train`"
                    .into(),
            ));
        }
        let classes: Vec<&str> = Class::ALL.iter().map(|c| c.as_str()).collect();
        if model.classes != classes {
            return Err(invalid(format!(
                "its classes are {:?}, expected {classes:?}",
                model.classes
            )));
        }
        Ok(model)
    }

    /// The model as JSON: indented, with one line per word feature so the
    /// file stays readable and diffs line by line.
    pub fn to_json(&self) -> String {
        let head = Model {
            words: BTreeMap::new(),
            ..self.clone()
        };
        let pretty = serde_json::to_string_pretty(&head).expect("a model serialises");
        let mut words = String::from("{");
        for (i, (word, w)) in self.words.iter().enumerate() {
            let entry = serde_json::to_string(&(word, w)).expect("a word weight serialises");
            // `["word",[a,b,c]]` becomes `"word": [a,b,c]`.
            let inner = &entry[1..entry.len() - 1];
            let (key, value) = inner.split_at(inner.find(",[").expect("a pair"));
            words.push_str(if i == 0 { "\n    " } else { ",\n    " });
            words.push_str(key);
            words.push_str(": ");
            words.push_str(&value[1..]);
        }
        words.push_str(if self.words.is_empty() { "}" } else { "\n  }" });
        let mut text = pretty.replacen("\"words\": {}", &format!("\"words\": {words}"), 1);
        text.push('\n');
        text
    }

    /// Class probabilities, in [`Class::ALL`] order.
    pub fn probabilities(&self, input: &Input) -> [f64; 3] {
        let mut scores = self.bias;
        for (x, w) in input.features.iter().zip(&self.weights) {
            add(&mut scores, f64::from(*x), w);
        }
        let known: Vec<&[f64; 3]> = input
            .words
            .iter()
            .filter_map(|w| self.words.get(w))
            .collect();
        if !known.is_empty() {
            let x = self.word_scale / (known.len() as f64).sqrt();
            for w in known {
                add(&mut scores, x, w);
            }
        }
        softmax(scores)
    }

    /// Trains on answers and their classes. `c` is the inverse of the L2
    /// penalty's strength (smaller: simpler model).
    pub fn train(
        examples: &[(Input, Class)],
        c: f64,
        sources: Vec<TrainingSource>,
    ) -> Result<Model, ModelError> {
        if examples.is_empty() {
            return Err(ModelError::NoExamples);
        }
        // The word features enough answers share, in sorted order.
        let mut answers_with: BTreeMap<&str, usize> = BTreeMap::new();
        for (input, _) in examples {
            for w in &input.words {
                *answers_with.entry(w.as_str()).or_default() += 1;
            }
        }
        let vocabulary: Vec<&str> = answers_with
            .into_iter()
            .filter(|(_, n)| *n >= MIN_ANSWERS_PER_WORD_FEATURE)
            .map(|(w, _)| w)
            .collect();
        let column: HashMap<&str, usize> = vocabulary
            .iter()
            .enumerate()
            .map(|(i, w)| (*w, i))
            .collect();
        let dense = FEATURE_NAMES.len();
        let rows: Vec<Row> = examples
            .iter()
            .map(|(input, class)| {
                let mut x: Vec<(usize, f64)> = input
                    .features
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(j, v)| (j, f64::from(*v)))
                    .collect();
                let known: Vec<usize> = input
                    .words
                    .iter()
                    .filter_map(|w| column.get(w.as_str()).copied())
                    .collect();
                if !known.is_empty() {
                    let v = WORD_FEATURE_SCALE / (known.len() as f64).sqrt();
                    x.extend(known.into_iter().map(|j| (dense + j, v)));
                }
                Row {
                    x,
                    y: class_index(*class),
                }
            })
            .collect();
        let problem = Problem {
            rows: &rows,
            columns: dense + vocabulary.len(),
            lambda: 1.0 / c,
        };
        let (theta, loss, iterations) = lbfgs(&problem);

        let round = |v: f64| {
            let scale = 10f64.powi(DECIMALS);
            (v * scale).round() / scale + 0.0
        };
        let at = |j: usize| [0, 1, 2].map(|k| round(theta[j * 3 + k]));
        let weights = (0..dense).map(at).collect();
        let words = vocabulary
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), at(dense + i)))
            .filter(|(_, w)| w.iter().any(|v| *v != 0.0))
            .collect();
        let bias = at(problem.columns);
        let mut per_class = [0; 3];
        for row in &rows {
            per_class[row.y] += 1;
        }
        Ok(Model {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            classes: Class::ALL.iter().map(|c| c.as_str().to_string()).collect(),
            bias,
            features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
            weights,
            word_scale: WORD_FEATURE_SCALE,
            words,
            training: Training {
                sources,
                examples: examples.len(),
                per_class,
                c,
                iterations,
                loss: round(loss / examples.len() as f64),
            },
        })
    }
}

fn add(scores: &mut [f64; 3], x: f64, w: &[f64; 3]) {
    for k in 0..3 {
        scores[k] += x * w[k];
    }
}

pub(crate) fn class_index(class: Class) -> usize {
    Class::ALL
        .iter()
        .position(|c| *c == class)
        .expect("every class is in ALL")
}

fn softmax(scores: [f64; 3]) -> [f64; 3] {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp = scores.map(|s| (s - max).exp());
    let sum: f64 = exp.iter().sum();
    exp.map(|e| e / sum)
}

/// One training answer: sparse feature values and its class index.
struct Row {
    x: Vec<(usize, f64)>,
    y: usize,
}

/// The penalised cross-entropy over the rows. Parameters are laid out as
/// `theta[column * 3 + class]`, the bias (not penalised) in the last column.
struct Problem<'a> {
    rows: &'a [Row],
    columns: usize,
    lambda: f64,
}

impl Problem<'_> {
    fn len(&self) -> usize {
        (self.columns + 1) * 3
    }

    /// The objective and its gradient at `theta`.
    fn evaluate(&self, theta: &[f64], grad: &mut [f64]) -> (f64, f64) {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let bias = self.columns * 3;
        let mut loss = 0.0;
        for row in self.rows {
            let mut scores = [theta[bias], theta[bias + 1], theta[bias + 2]];
            for &(j, v) in &row.x {
                add(
                    &mut scores,
                    v,
                    theta[j * 3..j * 3 + 3].try_into().expect("three classes"),
                );
            }
            let p = softmax(scores);
            loss -= p[row.y].max(1e-300).ln();
            for k in 0..3 {
                let err = p[k] - if k == row.y { 1.0 } else { 0.0 };
                for &(j, v) in &row.x {
                    grad[j * 3 + k] += err * v;
                }
                grad[bias + k] += err;
            }
        }
        let mut penalty = 0.0;
        for i in 0..bias {
            penalty += theta[i] * theta[i];
            grad[i] += self.lambda * theta[i];
        }
        (loss + 0.5 * self.lambda * penalty, loss)
    }
}

/// Minimises the problem by limited-memory BFGS with a backtracking line
/// search. Returns the parameters, the unpenalised loss and the iterations.
fn lbfgs(problem: &Problem) -> (Vec<f64>, f64, usize) {
    const MEMORY: usize = 10;
    const MAX_ITERATIONS: usize = 2000;
    let n = problem.len();
    let mut theta = vec![0.0; n];
    let mut grad = vec![0.0; n];
    let (mut value, mut loss) = problem.evaluate(&theta, &mut grad);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
    let mut iterations = 0;
    let mut next = vec![0.0; n];
    let mut next_grad = vec![0.0; n];
    while iterations < MAX_ITERATIONS {
        let gnorm = grad.iter().map(|g| g.abs()).fold(0.0, f64::max);
        if gnorm < 1e-6 {
            break;
        }
        iterations += 1;
        // Two-loop recursion: direction = -H g.
        let mut q = grad.clone();
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &q);
            axpy(-a, y, &mut q);
            alphas.push(a);
        }
        if let Some((s, y, _)) = history.back() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        } else {
            let scale = 1.0 / gnorm.max(1.0);
            q.iter_mut().for_each(|v| *v *= scale);
        }
        for ((s, y, rho), a) in history.iter().zip(alphas.into_iter().rev()) {
            let b = rho * dot(y, &q);
            axpy(a - b, s, &mut q);
        }
        let direction: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope = dot(&grad, &direction);
        if slope >= 0.0 {
            // Not a descent direction: start the memory again.
            history.clear();
            continue;
        }
        let mut step = 1.0;
        let accepted = loop {
            for i in 0..n {
                next[i] = theta[i] + step * direction[i];
            }
            let (v, l) = problem.evaluate(&next, &mut next_grad);
            if v <= value + 1e-4 * step * slope {
                break Some((v, l));
            }
            step *= 0.5;
            if step < 1e-12 {
                break None;
            }
        };
        let Some((v, l)) = accepted else { break };
        let s: Vec<f64> = next.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = next_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 {
            if history.len() == MEMORY {
                history.pop_front();
            }
            history.push_back((s, y, 1.0 / sy));
        }
        std::mem::swap(&mut theta, &mut next);
        std::mem::swap(&mut grad, &mut next_grad);
        let improvement = value - v;
        value = v;
        loss = l;
        if improvement <= 1e-10 * value.abs().max(1.0) {
            break;
        }
    }
    (theta, loss, iterations)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(i: usize, class: Class) -> (Input, Class) {
        let mut features = vec![0.0; FEATURE_NAMES.len()];
        features[class_index(class)] = 1.0;
        features[5] = (i % 3) as f32 * 0.1;
        let words = vec![
            format!("a_{}", class.as_str()),
            format!("a_{}", i % 7),
            format!("u_{i}"),
        ];
        (Input { features, words }, class)
    }

    #[test]
    fn learns_separable_classes_deterministically() {
        let examples: Vec<_> = (0..60).map(|i| example(i, Class::ALL[i % 3])).collect();
        let a = Model::train(&examples, 1.0, vec![]).unwrap();
        let b = Model::train(&examples, 1.0, vec![]).unwrap();
        assert_eq!(a.to_json(), b.to_json());
        for (f, class) in &examples {
            let p = a.probabilities(f);
            let best = (0..3).max_by(|x, y| p[*x].total_cmp(&p[*y])).unwrap();
            assert_eq!(Class::ALL[best], *class);
        }
        assert_eq!(a.training.per_class, [20, 20, 20]);
        // Word features too few answers have are not learnt; those spread
        // evenly over the classes (a_0: i = 0, 7, ..., 56) learn nothing and
        // are not written.
        assert!(a.words.contains_key("a_compliance") && a.words.contains_key("a_4"));
        assert!(!a.words.contains_key("a_0"));
        assert!(!a.words.keys().any(|w| w.starts_with("u_")));
    }

    #[test]
    fn round_trips_through_json_and_refuses_other_files() {
        let examples: Vec<_> = (0..30).map(|i| example(i, Class::ALL[i % 3])).collect();
        let model = Model::train(&examples, 1.0, vec![]).unwrap();
        assert_eq!(Model::from_json(&model.to_json(), "m.json").unwrap(), model);
        let mut other = model.clone();
        other.features.pop();
        let err = Model::from_json(&other.to_json(), "m.json").unwrap_err();
        assert!(
            err.to_string()
                .contains("retrain it with `xsafe judge train`"),
            "{err}"
        );
        let err = Model::from_json("{}", "m.json").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`m.json` is not an xsafe judge model"),
            "{err}"
        );
        assert!(matches!(
            Model::train(&[], 1.0, vec![]),
            Err(ModelError::NoExamples)
        ));
    }
}
