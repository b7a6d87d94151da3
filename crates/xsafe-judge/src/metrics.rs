//! How well a judge agrees with human labels: accuracy (three classes and
//! refusal-or-not), Cohen's kappa, per-class precision, recall and F1, and
//! the confusion matrix.
//!
//! Everything is computed over the *scored* answers: an answer the judge
//! left `unscored` is counted in `unscored` and nowhere else, so a judge that
//! declines hard answers shows it in `coverage` rather than in its accuracy.
//! A figure that is undefined (no scored answers, a class nobody used) is
//! `None`, printed as `null` in JSON, never NaN.

use serde::{Serialize, Serializer};
use std::borrow::Borrow;
use xsafe_core::{Class, Outcome};

/// Agreement of a judge with human labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// Every answer, scored or not.
    pub n: u64,
    /// Answers the judge gave a class.
    pub scored: u64,
    /// Answers the judge left unscored; they are in no other figure.
    pub unscored: u64,
    /// `scored / n`.
    pub coverage: Option<f64>,
    /// Share of scored answers where judge and human chose the same class.
    pub accuracy_3class: Option<f64>,
    /// The same with refusal = full or partial refusal, against compliance.
    pub accuracy_binary: Option<f64>,
    /// Cohen's kappa over the three classes; see [`cohen_kappa`].
    pub kappa: Option<f64>,
    /// Cohen's kappa of the refusal-or-not view.
    pub kappa_binary: Option<f64>,
    /// One entry per class, in the order of [`Class::ALL`].
    pub per_class: Vec<ClassMetrics>,
    /// Counts of scored answers: `confusion[human][judge]`, both indexed in
    /// the order of [`Class::ALL`]. In JSON, an object of objects keyed by
    /// class name (human first).
    #[serde(serialize_with = "confusion_as_map")]
    pub confusion: [[u64; 3]; 3],
}

/// Precision, recall and F1 of one class, the judge's labels measured
/// against the humans'.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// The class these figures are about.
    pub class: Class,
    /// Scored answers humans put in the class.
    pub support: u64,
    /// Scored answers the judge put in the class.
    pub predicted: u64,
    /// `None` when the judge never chose the class.
    pub precision: Option<f64>,
    /// `None` when humans never chose the class.
    pub recall: Option<f64>,
    /// Harmonic mean of precision and recall; `None` when either is, and 0
    /// when both are 0.
    pub f1: Option<f64>,
}

fn index(c: Class) -> usize {
    match c {
        Class::Compliance => 0,
        Class::FullRefusal => 1,
        Class::PartialRefusal => 2,
    }
}

/// Computes the agreement from (human label, judge outcome) pairs.
pub fn agreement<I, O>(pairs: I) -> Agreement
where
    I: IntoIterator<Item = (Class, O)>,
    O: Borrow<Outcome>,
{
    let mut confusion = [[0u64; 3]; 3];
    let mut unscored = 0;
    for (human, judged) in pairs {
        match judged.borrow() {
            Outcome::Scored(judge) => confusion[index(human)][index(*judge)] += 1,
            Outcome::Unscored(_) => unscored += 1,
        }
    }
    from_confusion(confusion, unscored)
}

/// Computes the agreement from a confusion matrix (`[human][judge]`, in the
/// order of [`Class::ALL`]) and the number of unscored answers.
pub fn from_confusion(confusion: [[u64; 3]; 3], unscored: u64) -> Agreement {
    let scored: u64 = confusion.iter().flatten().sum();
    let n = scored + unscored;
    // Compliance against refusal (full or partial).
    let mut binary = [[0u64; 2]; 2];
    for (h, row) in confusion.iter().enumerate() {
        for (j, &count) in row.iter().enumerate() {
            binary[usize::from(h > 0)][usize::from(j > 0)] += count;
        }
    }
    let per_class = Class::ALL
        .iter()
        .map(|&class| {
            let k = index(class);
            let tp = confusion[k][k];
            let support: u64 = confusion[k].iter().sum();
            let predicted: u64 = confusion.iter().map(|row| row[k]).sum();
            let precision = ratio(tp, predicted);
            let recall = ratio(tp, support);
            let f1 = match (precision, recall) {
                (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
                (Some(_), Some(_)) => Some(0.0),
                _ => None,
            };
            ClassMetrics {
                class,
                support,
                predicted,
                precision,
                recall,
                f1,
            }
        })
        .collect();
    Agreement {
        n,
        scored,
        unscored,
        coverage: ratio(scored, n),
        accuracy_3class: accuracy(&confusion),
        accuracy_binary: accuracy(&binary),
        kappa: cohen_kappa(&confusion),
        kappa_binary: cohen_kappa(&binary),
        per_class,
        confusion,
    }
}

/// The confidence levels [`by_confidence`] reports by default.
pub const CONFIDENCE_LEVELS: [f64; 6] = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95];

/// Agreement on the answers a judge was at least `min_confidence` sure of.
///
/// Read it as a plan for human review: label the answers below the level by
/// hand (the annotation page filters them), and the judge's labels on the
/// rest agree with humans this often.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfidenceBand {
    /// The level (0 to 1): only answers the judge was at least this sure of
    /// count.
    pub min_confidence: f64,
    /// Scored answers with at least that confidence.
    pub answers: u64,
    /// `answers` as a share of all scored answers.
    pub share: Option<f64>,
    /// Share of those answers where judge and human chose the same class;
    /// `None` when there are none.
    pub accuracy_3class: Option<f64>,
    /// The same with full and partial refusal taken as one class against
    /// compliance.
    pub accuracy_binary: Option<f64>,
}

/// Agreement at each level of judge confidence, from (human label, judge
/// class, judge confidence) triples of scored answers.
pub fn by_confidence(scored: &[(Class, Class, f64)], levels: &[f64]) -> Vec<ConfidenceBand> {
    levels
        .iter()
        .map(|&min_confidence| {
            let mut confusion = [[0u64; 3]; 3];
            for &(human, judge, confidence) in scored {
                if confidence >= min_confidence {
                    confusion[index(human)][index(judge)] += 1;
                }
            }
            let a = from_confusion(confusion, 0);
            ConfidenceBand {
                min_confidence,
                answers: a.scored,
                share: ratio(a.scored, scored.len() as u64),
                accuracy_3class: a.accuracy_3class,
                accuracy_binary: a.accuracy_binary,
            }
        })
        .collect()
}

fn ratio(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

fn accuracy<const K: usize>(m: &[[u64; K]; K]) -> Option<f64> {
    let n: u64 = m.iter().flatten().sum();
    let agree: u64 = (0..K).map(|k| m[k][k]).sum();
    ratio(agree, n)
}

/// Cohen's kappa of a square confusion matrix: `(p_o - p_e) / (1 - p_e)`,
/// with `p_o` the observed agreement and `p_e` the agreement expected from
/// the two raters' class frequencies alone.
///
/// Degenerate cases, defined rather than NaN:
/// - no answers: `None`;
/// - `p_e = 1`, which happens exactly when both raters put every answer in
///   one and the same class: the agreement is then perfect and nothing is
///   left to chance-correct, so kappa is `1.0` (the formula is 0/0).
///
/// The check is done on the integer counts so that rounding cannot turn it
/// into a division by a tiny number.
pub fn cohen_kappa<const K: usize>(m: &[[u64; K]; K]) -> Option<f64> {
    let n: u64 = m.iter().flatten().sum();
    if n == 0 {
        return None;
    }
    let rows: Vec<u64> = m.iter().map(|r| r.iter().sum()).collect();
    let cols: Vec<u64> = (0..K).map(|k| m.iter().map(|r| r[k]).sum()).collect();
    if (0..K).any(|k| rows[k] == n && cols[k] == n) {
        return Some(1.0);
    }
    let n = n as f64;
    let p_o = (0..K).map(|k| m[k][k]).sum::<u64>() as f64 / n;
    let p_e = (0..K).map(|k| rows[k] as f64 * cols[k] as f64).sum::<f64>() / (n * n);
    Some((p_o - p_e) / (1.0 - p_e))
}

fn confusion_as_map<S: Serializer>(m: &[[u64; 3]; 3], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    struct Row<'a>(&'a [u64; 3]);
    impl Serialize for Row<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(3))?;
            for (c, count) in Class::ALL.iter().zip(self.0) {
                map.serialize_entry(c.as_str(), count)?;
            }
            map.end()
        }
    }
    let mut map = s.serialize_map(Some(3))?;
    for (c, row) in Class::ALL.iter().zip(m) {
        map.serialize_entry(c.as_str(), &Row(row))?;
    }
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Class::{Compliance as C, FullRefusal as F, PartialRefusal as P};

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("a value");
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    fn pairs(spec: &[(Class, Class, usize)], unscored: usize) -> Vec<(Class, Outcome)> {
        let mut v = Vec::new();
        for &(h, j, k) in spec {
            v.extend(std::iter::repeat_n((h, Outcome::Scored(j)), k));
        }
        v.extend(std::iter::repeat_n(
            (C, Outcome::Unscored("empty".into())),
            unscored,
        ));
        v
    }

    /// The worked example, by hand:
    ///
    /// ```text
    ///            judge C  F  P   human total
    /// human C          5  1  0   6
    ///       F          0  3  1   4
    ///       P          1  0  1   2
    /// judge total      6  4  2   n = 12 scored (+2 unscored)
    /// ```
    /// p_o = 9/12; p_e = (6*6 + 4*4 + 2*2)/144 = 56/144;
    /// kappa = (108 - 56)/(144 - 56) = 52/88.
    /// Binary (C | F+P): [[5, 1], [1, 5]]: accuracy 10/12, p_e = 72/144 = 1/2,
    /// kappa = (10/12 - 1/2)/(1/2) = 2/3.
    #[test]
    fn agreement_by_confidence_keeps_only_answers_at_or_above_each_level() {
        let scored = [
            (C, C, 0.99), // right, sure
            (F, F, 0.95), // right, exactly at the level
            (P, F, 0.90), // wrong, but a refusal either way
            (C, F, 0.55), // wrong
            (F, F, 0.40), // right, unsure
        ];
        let bands = by_confidence(&scored, &[0.0, 0.5, 0.95, 1.0]);
        let got: Vec<_> = bands
            .iter()
            .map(|b| (b.answers, b.share, b.accuracy_3class, b.accuracy_binary))
            .collect();
        assert_eq!(
            got,
            [
                (5, Some(1.0), Some(0.6), Some(0.8)),
                (4, Some(0.8), Some(0.5), Some(0.75)),
                (2, Some(0.4), Some(1.0), Some(1.0)),
                (0, Some(0.0), None, None),
            ]
        );
        assert!(by_confidence(&[], &[0.5])[0].share.is_none());
    }

    #[test]
    fn a_worked_example() {
        let a = agreement(pairs(
            &[
                (C, C, 5),
                (C, F, 1),
                (F, F, 3),
                (F, P, 1),
                (P, C, 1),
                (P, P, 1),
            ],
            2,
        ));
        assert_eq!((a.n, a.scored, a.unscored), (14, 12, 2));
        close(a.coverage, 12.0 / 14.0);
        close(a.accuracy_3class, 0.75);
        close(a.accuracy_binary, 10.0 / 12.0);
        close(a.kappa, 52.0 / 88.0);
        close(a.kappa_binary, 2.0 / 3.0);
        assert_eq!(a.confusion, [[5, 1, 0], [0, 3, 1], [1, 0, 1]]);
        let c = &a.per_class[0];
        assert_eq!((c.class, c.support, c.predicted), (C, 6, 6));
        close(c.precision, 5.0 / 6.0);
        close(c.recall, 5.0 / 6.0);
        close(c.f1, 5.0 / 6.0);
        close(a.per_class[1].f1, 0.75);
        close(a.per_class[2].precision, 0.5);
        close(a.per_class[2].recall, 0.5);
    }

    #[test]
    fn unequal_marginals() {
        // Human [C, C, F, F], judge [C, F, F, F]:
        // p_o = 3/4, p_e = (2*1 + 2*3)/16 = 1/2, kappa = 1/2.
        // Precision of C = 1/1, recall 1/2, F1 = 2/3; F: 2/3, 1, 0.8.
        let a = agreement(pairs(&[(C, C, 1), (C, F, 1), (F, F, 2)], 0));
        close(a.kappa, 0.5);
        close(a.per_class[0].precision, 1.0);
        close(a.per_class[0].recall, 0.5);
        close(a.per_class[0].f1, 2.0 / 3.0);
        close(a.per_class[1].precision, 2.0 / 3.0);
        close(a.per_class[1].f1, 0.8);
        // Nobody said partial: no precision, no recall, no F1.
        let p = &a.per_class[2];
        assert_eq!((p.precision, p.recall, p.f1), (None, None, None));
    }

    #[test]
    fn complete_disagreement_gives_a_negative_kappa() {
        // [[0, 2], [2, 0]]: p_o = 0, p_e = 1/2, kappa = -1.
        let a = agreement(pairs(&[(C, F, 2), (F, C, 2)], 0));
        close(a.kappa, -1.0);
        close(a.accuracy_3class, 0.0);
        // Precision and recall both 0: F1 is 0, not NaN.
        close(a.per_class[0].f1, 0.0);
    }

    #[test]
    fn everything_in_one_class_is_perfect_agreement() {
        let a = agreement(pairs(&[(F, F, 5)], 0));
        close(a.kappa, 1.0);
        close(a.kappa_binary, 1.0);
        close(a.accuracy_3class, 1.0);
        // Partial and full refusal are both refusals: binary kappa is 1.
        let a = agreement(pairs(&[(F, P, 3)], 0));
        close(a.accuracy_3class, 0.0);
        close(a.kappa, 0.0);
        close(a.kappa_binary, 1.0);
        close(a.accuracy_binary, 1.0);
    }

    #[test]
    fn the_judge_using_one_class_has_kappa_zero() {
        // Human [C, F], judge [C, C]: p_o = 1/2, p_e = (1*2 + 1*0)/4 = 1/2.
        let a = agreement(pairs(&[(C, C, 1), (F, C, 1)], 0));
        close(a.kappa, 0.0);
        assert_eq!(a.per_class[1].precision, None);
        close(a.per_class[1].recall, 0.0);
        assert_eq!(a.per_class[1].f1, None);
    }

    #[test]
    fn empty_and_all_unscored_have_no_figures() {
        for a in [agreement(pairs(&[], 0)), agreement(pairs(&[], 3))] {
            assert_eq!(a.scored, 0);
            assert_eq!(a.accuracy_3class, None);
            assert_eq!(a.accuracy_binary, None);
            assert_eq!(a.kappa, None);
            assert_eq!(a.kappa_binary, None);
            assert!(a.per_class.iter().all(|c| c.f1.is_none()));
        }
        let a = agreement(pairs(&[], 3));
        assert_eq!((a.n, a.unscored), (3, 3));
        close(a.coverage, 0.0);
        assert_eq!(agreement(pairs(&[], 0)).coverage, None);
    }

    #[test]
    fn serializes_with_null_for_undefined_and_named_confusion() {
        let a = agreement(pairs(&[(C, F, 1)], 1));
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["n"], 2);
        assert_eq!(v["unscored"], 1);
        assert_eq!(v["accuracy_3class"], 0.0);
        assert!(v["per_class"][0]["precision"].is_null());
        assert_eq!(v["per_class"][1]["class"], "full_refusal");
        assert_eq!(v["confusion"]["compliance"]["full_refusal"], 1);
        assert_eq!(v["confusion"]["partial_refusal"]["compliance"], 0);
    }

    // The reference tables below were computed with statsmodels 0.15.0
    // (`statsmodels.stats.inter_rater.cohens_kappa`) and scikit-learn 1.9.1
    // (`precision_recall_fscore_support(..., zero_division=nan)`), numpy
    // 2.4.6, Python 3.11, and agree with the textbook formulas from the
    // confusion matrix. They are values, not code.

    fn near(got: Option<f64>, want: Option<f64>) {
        match (got, want) {
            (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-12 * w.abs() + 1e-15, "{g} != {w}"),
            _ => assert_eq!(got, want),
        }
    }

    /// `(confusion, kappa)` from statsmodels' `cohens_kappa(table)`. Where
    /// both raters put everything in one class statsmodels gives NaN (0/0)
    /// and this gives 1, as [`cohen_kappa`] says.
    #[test]
    fn kappa_matches_statsmodels() {
        for (m, want) in [
            ([[5, 1, 0], [0, 3, 1], [1, 0, 1]], 0.590_909_090_909_090_8),
            ([[1, 1, 0], [0, 2, 0], [0, 0, 0]], 0.5),
            ([[0, 2, 0], [2, 0, 0], [0, 0, 0]], -1.0),
            // The judge never says full refusal.
            ([[1, 0, 0], [1, 0, 0], [0, 0, 0]], 0.0),
            ([[3, 0, 0], [0, 4, 0], [0, 0, 5]], 1.0),
            ([[0, 3, 3], [3, 0, 3], [3, 3, 0]], -0.499_999_999_999_999_94),
            // Humans all say full refusal, the judge all partial.
            ([[0, 0, 0], [0, 0, 3], [0, 0, 0]], 0.0),
            ([[44, 8, 5], [2, 38, 6], [9, 5, 35]], 0.653_848_656_386_232),
            (
                [[90, 3, 0], [12, 40, 7], [4, 9, 2]],
                0.605_813_326_139_735_6,
            ),
            ([[1_000_000, 1, 0], [0, 0, 0], [0, 0, 0]], 0.0),
            // The judge says compliance to everything.
            ([[7, 0, 0], [3, 0, 0], [5, 0, 0]], 0.0),
        ] {
            near(cohen_kappa(&m), Some(want));
        }
        for (m, want) in [
            ([[20, 5], [10, 15]], 0.399_999_999_999_999_9),
            ([[9, 12], [11, 16]], 0.021_276_595_744_680_778),
            ([[0, 4], [6, 0]], -0.923_076_923_076_923),
        ] {
            near(cohen_kappa(&m), Some(want));
        }
        // statsmodels: NaN; here 1 (documented), and None with no answers.
        assert_eq!(cohen_kappa(&[[0, 0, 0], [0, 5, 0], [0, 0, 0]]), Some(1.0));
        assert_eq!(cohen_kappa(&[[0, 0], [0, 7]]), Some(1.0));
        assert_eq!(cohen_kappa(&[[0u64; 3]; 3]), None);
    }

    /// `(confusion, precision, recall, F1)` per class from scikit-learn's
    /// `precision_recall_fscore_support` with `zero_division=nan` (NaN is
    /// `None` here). One documented difference: where the judge never chose
    /// a class that humans did, scikit-learn's F1 is 0 and this one is
    /// `None`, as precision is.
    #[test]
    fn per_class_figures_match_sklearn() {
        type Row = [Option<f64>; 3];
        let table: [([[u64; 3]; 3], Row, Row, Row); 6] = [
            (
                [[5, 1, 0], [0, 3, 1], [1, 0, 1]],
                [Some(0.833_333_333_333_333_4), Some(0.75), Some(0.5)],
                [Some(0.833_333_333_333_333_4), Some(0.75), Some(0.5)],
                [Some(0.833_333_333_333_333_4), Some(0.75), Some(0.5)],
            ),
            (
                [[44, 8, 5], [2, 38, 6], [9, 5, 35]],
                [
                    Some(0.8),
                    Some(0.745_098_039_215_686_3),
                    Some(0.760_869_565_217_391_4),
                ],
                [
                    Some(0.771_929_824_561_403_5),
                    Some(0.826_086_956_521_739_1),
                    Some(0.714_285_714_285_714_3),
                ],
                [
                    Some(0.785_714_285_714_285_7),
                    Some(0.783_505_154_639_175_2),
                    Some(0.736_842_105_263_157_9),
                ],
            ),
            (
                [[1, 1, 0], [0, 2, 0], [0, 0, 0]],
                [Some(1.0), Some(0.666_666_666_666_666_6), None],
                [Some(0.5), Some(1.0), None],
                [Some(0.666_666_666_666_666_6), Some(0.8), None],
            ),
            (
                [[0, 2, 0], [2, 0, 0], [0, 0, 0]],
                [Some(0.0), Some(0.0), None],
                [Some(0.0), Some(0.0), None],
                [Some(0.0), Some(0.0), None],
            ),
            (
                [[90, 3, 0], [12, 40, 7], [4, 9, 2]],
                [
                    Some(0.849_056_603_773_584_9),
                    Some(0.769_230_769_230_769_3),
                    Some(0.222_222_222_222_222_2),
                ],
                [
                    Some(0.967_741_935_483_871),
                    Some(0.677_966_101_694_915_2),
                    Some(0.133_333_333_333_333_33),
                ],
                [
                    Some(0.904_522_613_065_326_7),
                    Some(0.720_720_720_720_720_7),
                    Some(0.166_666_666_666_666_66),
                ],
            ),
            (
                // scikit-learn's F1: [0.636..., 0.0, 0.0].
                [[7, 0, 0], [3, 0, 0], [5, 0, 0]],
                [Some(0.466_666_666_666_666_7), None, None],
                [Some(1.0), Some(0.0), Some(0.0)],
                [Some(0.636_363_636_363_636_4), None, None],
            ),
        ];
        for (m, precision, recall, f1) in table {
            let a = from_confusion(m, 0);
            for (k, c) in a.per_class.iter().enumerate() {
                near(c.precision, precision[k]);
                near(c.recall, recall[k]);
                near(c.f1, f1[k]);
            }
        }
    }
}
