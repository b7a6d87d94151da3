//! The statistics of a report, each small enough to check by hand.
//!
//! - [`wilson`]: the Wilson score interval of a proportion (95%);
//!   [`Rate::clustered`] when a case has several answers (`--samples`).
//! - [`mcnemar_exact`]: the exact two-sided McNemar test on the discordant
//!   pairs of a paired comparison (a binomial test with p = 1/2);
//!   [`mcnemar_clustered`] when a case has several pairs, which says in
//!   [`McNemar::test`] which test it made and whether `b` and `c` count
//!   answers or cases.
//! - [`bootstrap_reduction`]: the relative reduction of a rate against a
//!   baseline on paired cases, with a percentile bootstrap interval;
//!   [`bootstrap_reduction_clustered`] resamples cases rather than pairs.
//! - [`rogan_gladen`]: a rate corrected for a judge's sensitivity and
//!   specificity.
//!
//! Several samples of one case are not independent answers (at temperature
//! 0 they are often the same answer), so with `--samples` above 1 the
//! intervals and the bootstrap take the case as the unit, and McNemar's
//! test takes the case as the unit or as a cluster of answers, or tests
//! the answers when their discordant pairs come from distinct cases.
//!
//! An undefined figure is `None`, never NaN.

use serde::{Deserialize, Serialize};
use xsafe_core::SplitMix64;

/// The normal quantile for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A proportion `k / n` with its Wilson 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    /// Answers with the outcome (summed over cases when clustered).
    pub k: u64,
    /// Answers in all (summed over cases when clustered); never 0.
    pub n: u64,
    /// `k / n`, from 0 to 1.
    pub rate: f64,
    /// Lower end of the Wilson 95% interval.
    pub low: f64,
    /// Upper end of the Wilson 95% interval.
    pub high: f64,
    /// With several answers per case: the number of independent answers
    /// they are worth, at which the interval was taken (see
    /// [`Rate::clustered`]); absent when every case has one answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_n: Option<f64>,
}

impl Rate {
    /// `None` when `n` is 0: no answers, no rate and no interval. A `k`
    /// above `n` counts as `n`, as in [`wilson`], so that the rate stays
    /// inside its interval.
    pub fn new(k: u64, n: u64) -> Option<Rate> {
        let k = k.min(n);
        let (low, high) = wilson(k, n, Z95)?;
        Some(Rate {
            k,
            n,
            rate: k as f64 / n as f64,
            low,
            high,
            effective_n: None,
        })
    }

    /// The proportion over answers that come in clusters, `(k_i, m_i)` per
    /// case: `k_i` of its `m_i` answers have the outcome. Answers of one
    /// case tend to agree, so the Wilson interval is taken at the effective
    /// size `n / deff`, where the design effect `deff` is the ratio of the
    /// variance of the rate estimated from the cases' spread (the ratio
    /// estimator's, with the `C / (C - 1)` correction) to the variance of
    /// `n` independent answers. `deff` is kept between 1 (no fewer than
    /// independent answers) and `n / C` (no more than one answer per case),
    /// and is `n / C` when every answer agrees, where the spread tells
    /// nothing. Clusters of one answer each give [`Rate::new`].
    ///
    /// `None` when there are no answers.
    pub fn clustered(clusters: &[(u64, u64)]) -> Option<Rate> {
        let clusters: Vec<(u64, u64)> = clusters.iter().copied().filter(|c| c.1 > 0).collect();
        if clusters.iter().all(|c| c.1 == 1) {
            let k = clusters.iter().map(|c| c.0.min(1)).sum();
            return Rate::new(k, clusters.len() as u64);
        }
        let k: u64 = clusters.iter().map(|c| c.0.min(c.1)).sum();
        let n: u64 = clusters.iter().map(|c| c.1).sum();
        let nf = n as f64;
        let c = clusters.len() as f64;
        let p = k as f64 / nf;
        let most = nf / c;
        let deff = if k == 0 || k == n || clusters.len() < 2 {
            most
        } else {
            let spread: f64 = clusters
                .iter()
                .map(|&(ki, mi)| (ki.min(mi) as f64 - p * mi as f64).powi(2))
                .sum();
            let var_clustered = c / (c - 1.0) * spread / (nf * nf);
            let var_independent = p * (1.0 - p) / nf;
            (var_clustered / var_independent).clamp(1.0, most)
        };
        let n_eff = nf / deff;
        let (low, high) = wilson_real(p * n_eff, n_eff, Z95, k == 0, k == n);
        Some(Rate {
            k,
            n,
            rate: p,
            low,
            high,
            effective_n: Some(n_eff),
        })
    }
}

/// The Wilson score interval of `k` successes in `n` trials, for the normal
/// quantile `z`. `None` when `n` is 0. The ends are exactly 0 when `k` is 0
/// and exactly 1 when `k == n` (the formula gives them up to rounding).
pub fn wilson(k: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let k = k.min(n);
    Some(wilson_real(k as f64, n as f64, z, k == 0, k == n))
}

/// The Wilson interval for a size and count that need not be whole (an
/// effective size); `none` and `all` pin the ends at exactly 0 and 1.
fn wilson_real(k: f64, n: f64, z: f64, none: bool, all: bool) -> (f64, f64) {
    let p = k / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    let low = if none { 0.0 } else { (center - half).max(0.0) };
    let high = if all { 1.0 } else { (center + half).min(1.0) };
    (low, high)
}

/// McNemar's test of a paired comparison: its discordant pairs and p.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Discordant pairs where only the baseline has the outcome (e.g.
    /// refused under baseline, not under the strategy): answers, or cases
    /// under [`McNemarTest::ExactCases`] (see `test`).
    pub b: u64,
    /// Discordant pairs where only the strategy has it, counted as `b` is.
    pub c: u64,
    /// Two-sided p-value. Of the exact tests: twice the smaller binomial
    /// tail of `min(b, c)` in `b + c` trials at 1/2, capped at 1; 1 when
    /// `b = c = 0`. Of [`McNemarTest::Durkalski`]: that test's (see
    /// [`mcnemar_clustered`]).
    pub p_value: f64,
    /// Which test gave `p_value`, and so what `b` and `c` count; written
    /// as `exact_answers`, `exact_cases` or `durkalski` in the JSON.
    pub test: McNemarTest,
    /// Whether `test` is other than [`McNemarTest::ExactAnswers`]: some case
    /// gave several pairs and the test took its cases into account, as the
    /// unit ([`McNemarTest::ExactCases`]) or as clusters of answers
    /// ([`McNemarTest::Durkalski`]). Written only when true; `test` says
    /// which, and what `b` and `c` count.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub clustered: bool,
}

/// Which McNemar test a [`McNemar`] is (see [`mcnemar_clustered`]), and so
/// whether its `b` and `c` count answers or cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McNemarTest {
    /// The exact binomial test on the discordant answers; `b` and `c` count
    /// answers (with one answer per case, they are the cases).
    ExactAnswers,
    /// The exact binomial test on the cases, each case's samples having
    /// agreed; `b` and `c` count cases.
    ExactCases,
    /// Durkalski et al.'s clustered chi-square, each case a cluster of
    /// answers; `b` and `c` count answers.
    Durkalski,
}

impl McNemarTest {
    /// Its name in the JSON and CSV: `exact_answers`, `exact_cases` or
    /// `durkalski`.
    pub fn as_str(self) -> &'static str {
        match self {
            McNemarTest::ExactAnswers => "exact_answers",
            McNemarTest::ExactCases => "exact_cases",
            McNemarTest::Durkalski => "durkalski",
        }
    }
}

/// McNemar's test when a case gives several pairs, `(b_k, c_k, m_k)` per
/// case: `b_k` and `c_k` discordant pairs of its `m_k`.
///
/// - When every case's pairs are all the same pair (samples that agree, as
///   at temperature 0), a case is one pair: the exact test on the cases,
///   [`mcnemar_exact`] of the cases with `b_k = m_k` and with `c_k = m_k`.
/// - When no case has more than one discordant pair, the discordant pairs
///   come from distinct cases and are independent: the exact test on them.
/// - Otherwise the statistic of Durkalski, Palesch, Lipsitz and Rust
///   (2003, Statistics in Medicine 22, 2417-2428): with `d_k = (b_k - c_k)
///   / m_k`, a case's difference as a share of its pairs, `(sum of d_k)^2 /
///   sum of d_k^2`, referred to the chi-square distribution with one degree
///   of freedom. Every case weighs the same, whatever its number of pairs;
///   when every case has the same `m_k` this is `(b - c)^2 / sum of (b_k -
///   c_k)^2`.
///
/// `b` and `c` count cases in the first way (so that three samples that
/// agree give the one-sample figures), pairs in the others; `test` says
/// which way it was ([`McNemarTest::ExactCases`],
/// [`McNemarTest::ExactAnswers`], [`McNemarTest::Durkalski`]). With one
/// pair per case it is the exact test on the answers, which are the cases.
pub fn mcnemar_clustered(cases: &[(u64, u64, u64)]) -> McNemar {
    let b: u64 = cases.iter().map(|c| c.0).sum();
    let c: u64 = cases.iter().map(|c| c.1).sum();
    // No discordant pair, or every pair discordant the same way.
    let uniform = |&(bk, ck, mk): &(u64, u64, u64)| match (bk, ck) {
        (0, 0) => true,
        (b, 0) => b == mk,
        (0, c) => c == mk,
        _ => false,
    };
    let several = cases.iter().any(|c| c.2 > 1);
    if several && cases.iter().all(uniform) {
        let by_case = mcnemar_exact(
            cases.iter().filter(|c| c.0 > 0).count() as u64,
            cases.iter().filter(|c| c.1 > 0).count() as u64,
        );
        // The one-sample figures, counts included: b and c count cases.
        return McNemar {
            test: McNemarTest::ExactCases,
            clustered: true,
            ..by_case
        };
    }
    if cases.iter().all(|&(bk, ck, _)| bk + ck <= 1) {
        return mcnemar_exact(b, c);
    }
    // A case's difference as a share of its pairs (a case without pairs
    // adds nothing; `m_k` below `b_k + c_k` would be a miscount, read as
    // `b_k + c_k`).
    let share = |&(bk, ck, mk): &(u64, u64, u64)| match mk.max(bk + ck) {
        0 => 0.0,
        m => (bk as f64 - ck as f64) / m as f64,
    };
    let num = cases.iter().map(share).sum::<f64>().powi(2);
    let den: f64 = cases.iter().map(|x| share(x).powi(2)).sum();
    let p_value = if den == 0.0 {
        1.0
    } else {
        // P(chi-square(1) > x) = erfc(sqrt(x / 2)).
        erfc((num / den / 2.0).sqrt()).min(1.0)
    };
    McNemar {
        b,
        c,
        p_value,
        test: McNemarTest::Durkalski,
        clustered: true,
    }
}

/// The complementary error function, from its continued fraction (Lentz's
/// method) past 2, from the Taylor series of erf from 0 to 2, and as
/// `2 - erfc(-x)` below 0; relative error below 1e-12, plenty for a
/// p-value.
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        // The series alone would lose every digit to cancellation far
        // below 0 (erfc(-10) came out as -7.6e24).
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        // erf(x) = 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)).
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        for n in 1..200 {
            term *= -x2 / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        return 1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum;
    }
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))).
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for n in 1..500 {
        let a = n as f64 / 2.0;
        d = x + a * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = x + a / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-15 {
            break;
        }
    }
    (-x * x).exp() / std::f64::consts::PI.sqrt() / f
}

/// The exact two-sided McNemar test for `b` and `c` discordant pairs, as
/// [`McNemarTest::ExactAnswers`]: the pairs are taken to be independent.
pub fn mcnemar_exact(b: u64, c: u64) -> McNemar {
    let n = b + c;
    let k = b.min(c);
    // With min(b, c) >= (n - 1) / 2 the smaller tail holds half the mass
    // or more, so p is 1; saying so exactly avoids a sum that rounds to
    // 0.9999999999999999.
    let p_value = if 2 * k + 1 >= n {
        1.0
    } else if n <= 1000 {
        // Term by term from 0.5^n, exact for small n (b=0, c=3 gives 0.25,
        // not 0.25000000000000006).
        let mut term = 0.5f64.powi(n as i32);
        let mut tail = term;
        for i in 1..=k {
            term *= (n - i + 1) as f64 / i as f64;
            tail += term;
        }
        (2.0 * tail).min(1.0)
    } else {
        // Sum the lower tail in log space: 0.5^n underflows past n = 1074.
        // ln C(n, i) grows by ln((n - i + 1) / i) a step; the steps are
        // added with Kahan's compensation, as a plain running sum near n ln 2
        // rounds off up to 6e-11 a step (p was 2e-8 off at n = 1e6). The
        // factor 2 is in the exponent, so 2 * 0.5^1075 is not lost.
        let ln_twice_half_n = (1.0 - n as f64) * std::f64::consts::LN_2;
        let mut ln_choose = 0.0f64; // ln C(n, 0)
        let mut lost = 0.0f64; // what the running sum has dropped
        let mut p = 0.0f64;
        for i in 0..=k {
            if i > 0 {
                let step = ((n - i + 1) as f64 / i as f64).ln() - lost;
                let sum = ln_choose + step;
                lost = (sum - ln_choose) - step;
                ln_choose = sum;
            }
            p += (ln_choose + ln_twice_half_n).exp();
        }
        p.min(1.0)
    };
    McNemar {
        b,
        c,
        p_value,
        test: McNemarTest::ExactAnswers,
        clustered: false,
    }
}

/// The relative reduction of a rate against baseline, in percent, with its
/// bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reduction {
    /// `(b - s) / b * 100`, where `b` and `s` are the baseline's and the
    /// strategy's rates on the paired cases. Negative when the strategy has
    /// the higher rate.
    pub percent: f64,
    /// Percentile bootstrap 95% interval (2.5th and 97.5th percentiles,
    /// linear interpolation), `None` for the reasons of [`NoInterval`]
    /// (`no_interval` says which).
    pub low: Option<f64>,
    /// Upper end of the interval, in percent; `None` exactly when `low` is.
    pub high: Option<f64>,
    /// Resamples whose baseline rate was 0 (reduction undefined); left out
    /// of the percentiles.
    pub undefined_resamples: u64,
    /// Why there is no interval; `None` when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_interval: Option<NoInterval>,
}

/// Why a reduction has no bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoInterval {
    /// More than [`MAX_UNDEFINED_SHARE`] of the resamples had no baseline
    /// refusal: an interval from the rest would be too narrow.
    FewBaselineRefusals,
    /// Every resample gave the same reduction (the strategy refused none of
    /// the cases, or exactly those baseline refused): the percentile
    /// bootstrap cannot bound it, and `[100, 100]` would claim a certainty
    /// the cases do not give.
    SameInEveryResample,
    /// Fewer than [`MIN_RESAMPLES`] resamples.
    TooFewResamples,
}

/// The fewest resamples a percentile interval is drawn from.
pub const MIN_RESAMPLES: u32 = 100;

/// The share of resamples without a baseline refusal above which the
/// reduction gets no interval. Those resamples have no reduction; leaving
/// them out conditions the interval on the baseline refusing, which is
/// harmless when they are rare and wrong when they reach the tail a 95%
/// interval reads (1 baseline refusal in 10 cases: a third of resamples,
/// and the rest all say 100%).
pub const MAX_UNDEFINED_SHARE: f64 = 0.025;

/// The relative reduction `(b - s) / b` (in percent) of paired outcomes
/// `(baseline, strategy)`, with a percentile bootstrap interval from
/// `resamples` resamples of the pairs (with replacement), seeded so that the
/// same pairs and seed always give the same interval.
///
/// `None` when there are no pairs or the baseline rate is 0: a reduction of
/// nothing is undefined.
pub fn bootstrap_reduction(pairs: &[(bool, bool)], resamples: u32, seed: u64) -> Option<Reduction> {
    let cases: Vec<&[(bool, bool)]> = pairs.chunks(1).collect();
    bootstrap_reduction_clustered(&cases, resamples, seed)
}

/// [`bootstrap_reduction`] for cases with several pairs each (the samples
/// of a case): each resample draws cases with replacement and takes all
/// their pairs. With one pair per case it is the same, draw for draw.
pub fn bootstrap_reduction_clustered(
    cases: &[&[(bool, bool)]],
    resamples: u32,
    seed: u64,
) -> Option<Reduction> {
    let percent = reduction(cases.iter().flat_map(|c| c.iter().copied()))?;
    let n = cases.len();
    let mut rng = SplitMix64::new(seed);
    let mut values = Vec::with_capacity(resamples as usize);
    let mut undefined = 0;
    for _ in 0..resamples {
        let drawn = (0..n).flat_map(|_| cases[rng.below(n)].iter().copied());
        match reduction(drawn) {
            Some(v) => values.push(v),
            None => undefined += 1,
        }
    }
    values.sort_by(f64::total_cmp);
    let no_interval = if resamples < MIN_RESAMPLES {
        Some(NoInterval::TooFewResamples)
    } else if undefined as f64 > MAX_UNDEFINED_SHARE * f64::from(resamples) {
        Some(NoInterval::FewBaselineRefusals)
    } else if values.first() == values.last() {
        Some(NoInterval::SameInEveryResample)
    } else {
        None
    };
    let (low, high) = match (percentile(&values, 0.025), percentile(&values, 0.975)) {
        (Some(low), Some(high)) if no_interval.is_none() => (Some(low), Some(high)),
        _ => (None, None),
    };
    Some(Reduction {
        percent,
        low,
        high,
        undefined_resamples: undefined,
        no_interval,
    })
}

fn reduction(pairs: impl Iterator<Item = (bool, bool)>) -> Option<f64> {
    let (mut b, mut s) = (0u64, 0u64);
    for (x, y) in pairs {
        b += x as u64;
        s += y as u64;
    }
    // Both rates share the denominator, so it cancels.
    (b > 0).then(|| (b as f64 - s as f64) / b as f64 * 100.0)
}

/// The `q` quantile of sorted values, linear between neighbours; `None`
/// with fewer than 2 values.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.len() < 2 {
        return None;
    }
    let h = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// The Rogan-Gladen estimate of a true rate from an observed rate `p` and a
/// judge's sensitivity and specificity: `(p + spec - 1) / (sens + spec - 1)`,
/// clamped to [0, 1]. `None` when `sens + spec <= 1` (a judge no better than
/// chance carries no information to correct with), and when an input is NaN.
pub fn rogan_gladen(p: f64, sensitivity: f64, specificity: f64) -> Option<f64> {
    let youden = sensitivity + specificity - 1.0;
    if youden.is_nan() || youden <= 0.0 || p.is_nan() {
        return None;
    }
    Some(((p + specificity - 1.0) / youden).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() < tol, "{a} != {b}");
    }

    #[test]
    fn wilson_matches_hand_computed_values() {
        // k=5, n=10: p=.5, z²=3.841459; centre .5, half-width
        // 1.959964*sqrt(.025 + 3.841459/400)/1.3841459 = .2633
        let (lo, hi) = wilson(5, 10, Z95).unwrap();
        close(lo, 0.236_593, 1e-5);
        close(hi, 0.763_407, 1e-5);
        // k=1, n=4: centre (0.25+0.480182)/1.960365 = 0.372474,
        // half 1.959964*sqrt(0.046875+0.060023)/1.960365 = 0.326886
        let (lo, hi) = wilson(1, 4, Z95).unwrap();
        close(lo, 0.045_587, 1e-5);
        close(hi, 0.699_359, 1e-5);
    }

    #[test]
    fn wilson_edges() {
        assert_eq!(wilson(0, 0, Z95), None);
        assert!(Rate::new(0, 0).is_none());
        // k=0, n=10: upper = z²/n / (1 + z²/n) = .384146/1.384146
        let (lo, hi) = wilson(0, 10, Z95).unwrap();
        assert_eq!(lo, 0.0);
        close(hi, 0.277_533, 1e-5);
        let (lo, hi) = wilson(10, 10, Z95).unwrap();
        assert_eq!(hi, 1.0);
        close(lo, 0.722_467, 1e-5);
        // n=1: k=1 gives [1/(1+z²), 1] = [0.206549, 1]
        let r = Rate::new(1, 1).unwrap();
        assert_eq!((r.rate, r.high), (1.0, 1.0));
        close(r.low, 0.206_549, 1e-5);
        let r = Rate::new(0, 1).unwrap();
        assert_eq!((r.rate, r.low), (0.0, 0.0));
        close(r.high, 0.793_451, 1e-5);
    }

    #[test]
    fn mcnemar_exact_by_hand() {
        assert_eq!(mcnemar_exact(0, 0).p_value, 1.0);
        // b=0, c=5: 2 * 0.5^5 = 0.0625
        close(mcnemar_exact(0, 5).p_value, 0.0625, 1e-12);
        close(mcnemar_exact(5, 0).p_value, 0.0625, 1e-12);
        // b=1, c=9: 2 * (1 + 10) / 1024 = 0.021484375
        close(mcnemar_exact(1, 9).p_value, 0.021_484_375, 1e-12);
        // b=2, c=3: the tail passes 1/2, so p caps at 1
        assert_eq!(mcnemar_exact(2, 3).p_value, 1.0);
        // b=3, c=3: 2 * (1+6+15+20)/64 > 1
        assert_eq!(mcnemar_exact(3, 3).p_value, 1.0);
        // Large n stays finite and tiny: b=0, c=2000
        let p = mcnemar_exact(0, 2000).p_value;
        assert!((0.0..1e-300).contains(&p), "{p}");
        // Both ways of summing, either side of n = 1000 (exact values from
        // Python's integer arithmetic).
        close(
            mcnemar_exact(450, 550).p_value,
            0.001_730_536_084_976_317_6,
            1e-15,
        );
        close(
            mcnemar_exact(451, 551).p_value,
            0.001_749_128_465_555_513_2,
            1e-12,
        );
        assert_eq!(mcnemar_exact(0, 3).p_value, 0.25);
        // b=500, c=500: symmetric, p = 1 (capped)
        assert_eq!(mcnemar_exact(500, 500).p_value, 1.0);
        let m = mcnemar_exact(4, 7);
        assert_eq!((m.b, m.c), (4, 7));
        // 2 * (1+11+55+165+330)/2048 = 1124/2048
        close(m.p_value, 1124.0 / 2048.0, 1e-12);
    }

    #[test]
    fn reduction_point_and_degenerate_cases() {
        // baseline refuses 4 of 5, strategy 1 of 5: (4-1)/4 = 75%
        let pairs = [
            (true, false),
            (true, false),
            (true, false),
            (true, true),
            (false, false),
        ];
        let r = bootstrap_reduction(&pairs, 2000, 7).unwrap();
        close(r.percent, 75.0, 1e-12);
        let (lo, hi) = (r.low.unwrap(), r.high.unwrap());
        assert!(lo <= r.percent && r.percent <= hi, "{lo} {hi}");
        assert!(hi <= 100.0);
        // No baseline refusal: undefined.
        assert!(bootstrap_reduction(&[(false, true), (false, false)], 100, 1).is_none());
        assert!(bootstrap_reduction(&[], 100, 1).is_none());
        // The strategy refusing more is a negative reduction: (1-2)/1
        let r = bootstrap_reduction(&[(true, true), (false, true)], 100, 1).unwrap();
        close(r.percent, -100.0, 1e-12);
        // Identical outcomes everywhere: every defined resample gives 0
        // (half the cases refused: a resample without one is rare), which
        // bounds nothing.
        let same: Vec<(bool, bool)> = (0..10).map(|i| (i % 2 == 0, i % 2 == 0)).collect();
        let r = bootstrap_reduction(&same, 500, 3).unwrap();
        assert_eq!((r.percent, r.low, r.high), (0.0, None, None));
        assert_eq!(r.no_interval, Some(NoInterval::SameInEveryResample));
        // Three cases, two refused: a resample has none 1 time in 27, more
        // than the 2.5% the interval's tail can lose.
        let few = [(true, true), (false, false), (true, true)];
        let r = bootstrap_reduction(&few, 2000, 3).unwrap();
        assert_eq!((r.low, r.high), (None, None));
        // n=1 with a baseline refusal: every resample is that pair.
        let r = bootstrap_reduction(&[(true, false)], 500, 3).unwrap();
        assert_eq!((r.percent, r.low, r.high), (100.0, None, None));
        assert_eq!(r.no_interval, Some(NoInterval::SameInEveryResample));
        assert_eq!(r.undefined_resamples, 0);
        // The strategy refuses none of 34 baseline refusals in 238 cases:
        // every resample says 100%, which is no interval.
        let mut none_left = vec![(false, false); 204];
        none_left.extend(vec![(true, false); 34]);
        let r = bootstrap_reduction(&none_left, 2000, 1).unwrap();
        assert_eq!((r.percent, r.low, r.high), (100.0, None, None));
        assert_eq!(r.no_interval, Some(NoInterval::SameInEveryResample));
        // Both refuse the same cases: 0% in every resample.
        let same: Vec<(bool, bool)> = (0..20).map(|i| (i % 2 == 0, i % 2 == 0)).collect();
        let r = bootstrap_reduction(&same, 2000, 1).unwrap();
        assert_eq!(r.no_interval, Some(NoInterval::SameInEveryResample));
        // One more refusal of the strategy makes an interval.
        none_left[0] = (false, true);
        assert!(
            bootstrap_reduction(&none_left, 2000, 1)
                .unwrap()
                .low
                .is_some()
        );
        // Too few resamples for a 2.5th percentile.
        let r = bootstrap_reduction(&none_left, 1, 1).unwrap();
        assert_eq!(r.no_interval, Some(NoInterval::TooFewResamples));
        // One baseline refusal in ten cases: about a third of resamples
        // lack it, and the others all say 100%: no interval, not [100, 100].
        let mut one_in_ten = vec![(false, false); 9];
        one_in_ten.push((true, false));
        let r = bootstrap_reduction(&one_in_ten, 2000, 1).unwrap();
        assert!(r.undefined_resamples > 500, "{r:?}");
        assert_eq!((r.percent, r.low, r.high), (100.0, None, None));
        assert_eq!(r.no_interval, Some(NoInterval::FewBaselineRefusals));
    }

    #[test]
    fn bootstrap_is_deterministic_for_a_seed() {
        let pairs: Vec<(bool, bool)> = (0..40).map(|i| (i % 3 != 0, i % 5 == 0)).collect();
        let a = bootstrap_reduction(&pairs, 2000, 42).unwrap();
        let b = bootstrap_reduction(&pairs, 2000, 42).unwrap();
        assert_eq!(a, b);
        let c = bootstrap_reduction(&pairs, 2000, 43).unwrap();
        assert_eq!(a.percent, c.percent);
        assert!(a.low != c.low || a.high != c.high);
    }

    #[test]
    fn erfc_matches_known_values() {
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (2.0, 0.004_677_734_981_047_265),
            (3.0, 2.209_049_699_858_543_8e-5),
            (6.0, 2.151_973_671_249_891_6e-17),
        ] {
            let got = erfc(x);
            assert!(
                (got - want).abs() <= 1e-12 * want,
                "erfc({x}) = {got}, not {want}"
            );
        }
    }

    #[test]
    fn clustered_mcnemar_by_hand() {
        // One pair per case: the exact test, unchanged.
        let single = [(1, 0, 1), (1, 0, 1), (0, 0, 1), (0, 1, 1), (1, 0, 1)];
        assert_eq!(mcnemar_clustered(&single), mcnemar_exact(3, 1));
        // Three samples per case that always agree: a case is one pair, so
        // the exact test of 3 against 1 cases (p = 0.625), not of 9 against
        // 3, and the counts shown are those cases (9/3 beside p = 0.625
        // would contradict itself).
        let tripled = [(3, 0, 3), (3, 0, 3), (0, 0, 3), (0, 3, 3), (3, 0, 3)];
        let m = mcnemar_clustered(&tripled);
        assert_eq!((m.b, m.c, m.clustered), (3, 1, true));
        assert_eq!(m.p_value, mcnemar_exact(3, 1).p_value);
        // Three pairs in every case, differences 2, 2, -1, 1 (the cases
        // mixed): the shares are those over 3, which cancels: (4)^2 / (4 + 4
        // + 1 + 1) = 1.6, and P(chi-square(1) > 1.6) = 0.205903...
        let m = mcnemar_clustered(&[(2, 0, 3), (2, 0, 3), (0, 1, 3), (1, 0, 3), (0, 0, 3)]);
        assert_eq!((m.b, m.c, m.clustered), (5, 1, true));
        close(m.p_value, 0.205_903_210_732_068_33, 1e-12);
        // Cases of 3 and 2 pairs: shares 2/3, 1, -1/2, 1/2, 0, so (5/3)^2 /
        // (4/9 + 1 + 1/4 + 1/4) = 10/7, and P(chi-square(1) > 10/7) =
        // 0.231998 (scipy.stats.chi2.sf). Counting pairs instead gave the
        // 1.6 above.
        let m = mcnemar_clustered(&[(2, 0, 3), (2, 0, 2), (0, 1, 2), (1, 0, 2), (0, 0, 2)]);
        assert_eq!((m.b, m.c, m.clustered), (5, 1, true));
        close(m.p_value, 0.231_997_723_628_730_78, 1e-12);
        // Discordant both ways within each case: no evidence either way.
        let m = mcnemar_clustered(&[(1, 1, 2), (2, 2, 4)]);
        assert_eq!(m.p_value, 1.0);
    }

    #[test]
    fn clustered_rates_count_cases_not_samples() {
        // One answer per case: the plain Wilson rate.
        assert_eq!(Rate::clustered(&[(1, 1), (0, 1), (1, 1)]), Rate::new(2, 3));
        // Three samples per case that always agree are worth one answer
        // each: the interval of 4 answers in 10, at the rate 12 / 30.
        let agreeing: Vec<(u64, u64)> = (0..10).map(|i| (if i < 4 { 3 } else { 0 }, 3)).collect();
        let r = Rate::clustered(&agreeing).unwrap();
        let (lo, hi) = wilson(4, 10, Z95).unwrap();
        assert_eq!((r.k, r.n), (12, 30));
        close(r.rate, 0.4, 1e-15);
        close(r.effective_n.unwrap(), 10.0, 1e-12);
        close(r.low, lo, 1e-12);
        close(r.high, hi, 1e-12);
        // By hand: k = 4 of n = 8 in C = 4 cases, spread (1 + 1 + 0 + 0),
        // clustered variance 4/3 * 2 / 64 = 1/24 against 0.25 / 8 = 1/32:
        // deff 4/3, so the interval of 3 in 6.
        let r = Rate::clustered(&[(2, 2), (0, 2), (1, 2), (1, 2)]).unwrap();
        let (lo, hi) = wilson(3, 6, Z95).unwrap();
        close(r.effective_n.unwrap(), 6.0, 1e-12);
        close(r.low, lo, 1e-12);
        close(r.high, hi, 1e-12);
        // Samples that disagree within every case more than chance would:
        // never worth more than independent answers.
        let r = Rate::clustered(&[(1, 2), (1, 2), (1, 2), (1, 2)]).unwrap();
        close(r.effective_n.unwrap(), 8.0, 1e-12);
        // Nothing refused: the spread says nothing, so one answer per case;
        // the ends stay exact.
        let r = Rate::clustered(&[(0, 3), (0, 3), (0, 3)]).unwrap();
        assert_eq!((r.low, r.effective_n), (0.0, Some(3.0)));
        close(r.high, wilson(0, 3, Z95).unwrap().1, 1e-12);
        assert_eq!(Rate::clustered(&[]), None);
        assert_eq!(Rate::clustered(&[(0, 0)]), None);
    }

    #[test]
    fn the_bootstrap_resamples_cases() {
        let pairs: Vec<(bool, bool)> = (0..40).map(|i| (i % 3 != 0, i % 5 == 0)).collect();
        let single = bootstrap_reduction(&pairs, 500, 7).unwrap();
        // Every case's pair three times: each resample draws the same cases
        // as before, so the same reductions; drawing the 120 pairs one by
        // one would have given a narrower interval.
        let tripled: Vec<Vec<(bool, bool)>> = pairs.iter().map(|&p| vec![p; 3]).collect();
        let cases: Vec<&[(bool, bool)]> = tripled.iter().map(Vec::as_slice).collect();
        assert_eq!(
            bootstrap_reduction_clustered(&cases, 500, 7).unwrap(),
            single
        );
        let flat: Vec<(bool, bool)> = tripled.concat();
        let naive = bootstrap_reduction(&flat, 500, 7).unwrap();
        let width = |r: &Reduction| r.high.unwrap() - r.low.unwrap();
        assert!(width(&naive) < width(&single), "{naive:?} {single:?}");
    }

    #[test]
    fn percentiles_interpolate() {
        let v = [0.0, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(percentile(&v, 0.5), Some(20.0));
        assert_eq!(percentile(&v, 0.025), Some(1.0));
        assert_eq!(percentile(&v, 0.975), Some(39.0));
        assert_eq!(percentile(&[1.0], 0.5), None);
    }

    #[test]
    fn rogan_gladen_by_hand() {
        // p=.3, sens=.9, spec=.8: (.3+.8-1)/(.7) = .142857
        close(rogan_gladen(0.3, 0.9, 0.8).unwrap(), 0.1 / 0.7, 1e-12);
        // Perfect judge: unchanged.
        close(rogan_gladen(0.42, 1.0, 1.0).unwrap(), 0.42, 1e-12);
        // Clamped below and above.
        assert_eq!(rogan_gladen(0.05, 0.9, 0.8), Some(0.0));
        assert_eq!(rogan_gladen(0.99, 0.9, 0.95), Some(1.0));
        // No better than chance.
        assert_eq!(rogan_gladen(0.5, 0.5, 0.5), None);
        assert_eq!(rogan_gladen(0.5, 0.3, 0.4), None);
    }

    /// `|got - want| <= rel * |want| + 1e-15`.
    fn near(got: f64, want: f64, rel: f64) {
        assert!(
            (got - want).abs() <= rel * want.abs() + 1e-15,
            "{got} != {want} (rel {rel})"
        );
    }

    // The reference tables below were computed with scipy 1.17.1,
    // statsmodels 0.15.0 and numpy 2.4.6 (Python 3.11), and cross-checked
    // with exact rational arithmetic (Python's fractions) and 50-digit
    // mpmath 1.4.1. They are values, not code.

    /// `(k, n, low, high)` from statsmodels' `proportion_confint(k, n,
    /// alpha=0.05, method="wilson")`, whose quantile `norm.isf(0.025)` is
    /// Z95 to one unit in the last place. Where it gives 4.2e-22 for 0 of
    /// 1e6 and 0.9999999999999998 for all of 1e6, the ends are exactly 0 and
    /// 1 here.
    #[test]
    fn wilson_matches_statsmodels() {
        for (k, n, low, high) in [
            (0, 1, 0.0, 0.793_450_685_622_762_7),
            (1, 1, 0.206_549_314_377_237_4, 1.0),
            (0, 10, 0.0, 0.277_532_799_862_889_26),
            (10, 10, 0.722_467_200_137_110_6, 1.0),
            (5, 10, 0.236_593_090_512_563_94, 0.763_406_909_487_436_1),
            (1, 4, 0.045_587_260_809_700_6, 0.699_358_157_417_598_2),
            (3, 7, 0.158_219_855_251_469_64, 0.749_541_635_472_342_8),
            (1, 2, 0.094_531_205_734_230_68, 0.905_468_794_265_769_3),
            (17, 50, 0.224_369_492_225_000_85, 0.478_461_739_497_673_95),
            (49, 50, 0.895_045_564_103_621_8, 0.996_460_740_728_353_8),
            (
                1,
                1000,
                0.000_176_546_370_626_077_65,
                0.005_642_558_597_957_937,
            ),
            (0, 1_000_000, 0.0, 3.841_444_063_944_944e-6),
            (
                1,
                1_000_000,
                1.765_245_767_453_717_6e-7,
                5.664_911_804_311_445e-6,
            ),
            (
                500_000,
                1_000_000,
                0.499_020_019_890_004_8,
                0.500_979_980_109_995_2,
            ),
            (
                999_999,
                1_000_000,
                0.999_994_335_088_195_7,
                0.999_999_823_475_423_3,
            ),
            (1_000_000, 1_000_000, 0.999_996_158_555_936_2, 1.0),
        ] {
            let r = Rate::new(k, n).unwrap();
            near(r.low, low, 1e-12);
            near(r.high, high, 1e-12);
            assert!(r.low <= r.rate && r.rate <= r.high, "{r:?}");
            assert_eq!((r.low == 0.0, r.high == 1.0), (k == 0, k == n));
        }
    }

    #[test]
    fn a_count_above_the_total_stays_inside_its_interval() {
        // Was rate 5/3 beside the interval of 3 in 3.
        let r = Rate::new(5, 3).unwrap();
        assert_eq!(r, Rate::new(3, 3).unwrap());
        let r = Rate::clustered(&[(2, 1), (0, 1)]).unwrap();
        assert_eq!(r, Rate::new(1, 2).unwrap());
    }

    /// `(clusters, effective n, low, high)`: the design effect from the
    /// ratio estimator's variance, `C / (C - 1) * sum (k_i - p m_i)^2 / n^2`
    /// over `p (1 - p) / n`, clamped to [1, n / C] (n / C when nothing or
    /// everything has the outcome), computed in numpy; the interval from
    /// statsmodels' Wilson at `count = p * n_eff`, `nobs = n_eff`.
    #[test]
    fn clustered_rates_match_a_reference() {
        type Case = (&'static [(u64, u64)], f64, f64, f64);
        let table: [Case; 12] = [
            (
                &[(2, 2), (0, 2), (1, 2), (1, 2)],
                6.0,
                0.187_616_306_482_650_54,
                0.812_383_693_517_349_4,
            ),
            (
                &[
                    (3, 3),
                    (3, 3),
                    (3, 3),
                    (3, 3),
                    (0, 3),
                    (0, 3),
                    (0, 3),
                    (0, 3),
                    (0, 3),
                    (0, 3),
                ],
                10.0,
                0.168_180_329_706_236_1,
                0.687_326_230_266_341_7,
            ),
            (
                &[(1, 2), (1, 2), (1, 2), (1, 2)],
                8.0,
                0.215_216_062_213_877_5,
                0.784_783_937_786_122_5,
            ),
            (
                &[(1, 3), (2, 3)],
                6.0,
                0.187_616_306_482_650_54,
                0.812_383_693_517_349_4,
            ),
            (
                &[(5, 5), (0, 5), (5, 5), (0, 5), (2, 5)],
                5.0,
                0.159_262_368_678_586_95,
                0.818_116_929_912_74,
            ),
            (
                &[(1, 1), (2, 3), (0, 2)],
                4.0,
                0.150_038_989_152_149_47,
                0.849_961_010_847_850_6,
            ),
            (
                &[(2, 5)],
                1.0,
                0.035_809_495_631_969_61,
                0.922_880_641_492_583,
            ),
            (&[(0, 3), (0, 3), (0, 3)], 3.0, 0.0, 0.561_497_031_755_045_5),
            (&[(3, 3), (3, 3)], 2.0, 0.342_380_227_506_653, 1.0),
            (
                &[(7, 7), (0, 1)],
                2.285_714_285_714_285_6,
                0.287_970_342_604_276_2,
                0.991_813_773_906_606,
            ),
            (
                &[
                    (3, 4),
                    (0, 4),
                    (4, 4),
                    (1, 4),
                    (2, 3),
                    (0, 2),
                    (1, 1),
                    (5, 6),
                ],
                11.693_181_818_181_82,
                0.307_044_604_257_361_8,
                0.800_486_337_995_282,
            ),
            (
                &[
                    (1, 3),
                    (0, 3),
                    (0, 3),
                    (2, 3),
                    (3, 3),
                    (0, 3),
                    (1, 3),
                    (0, 3),
                ],
                11.732_394_366_197_182,
                0.111_537_322_825_878_22,
                0.574_571_336_738_418_6,
            ),
        ];
        for (clusters, n_eff, low, high) in table {
            let r = Rate::clustered(clusters).unwrap();
            near(r.effective_n.unwrap(), n_eff, 1e-12);
            near(r.low, low, 1e-12);
            near(r.high, high, 1e-12);
            assert!(r.low <= r.rate && r.rate <= r.high, "{r:?}");
        }
    }

    /// `(b, c, p)` from statsmodels' `mcnemar([[0, b], [c, 0]],
    /// exact=True)`: `min(1, 2 * binom.cdf(min(b, c), b + c, 1/2))`, the
    /// two-sided p that the report prints.
    #[test]
    fn mcnemar_exact_matches_statsmodels() {
        for (b, c, p) in [
            (0, 0, 1.0),
            (0, 1, 1.0),
            (1, 1, 1.0),
            (0, 5, 0.0625),
            (1, 9, 0.021_484_375),
            (4, 7, 0.548_828_125),
            (2, 3, 1.0),
            (3, 3, 1.0),
            (10, 11, 1.0),
            (0, 30, 1.862_645_149_230_957e-9),
            (7, 20, 0.019_157_290_458_679_2),
            (450, 550, 0.001_730_536_084_976_302_7),
            (451, 551, 0.001_749_128_465_555_514_7),
            (1000, 1200, 2.181_702_640_791_419_4e-5),
            // statsmodels underflows to 0; the exact value is 2^-1074, the
            // smallest double, which this test's 1e-15 slack accepts too.
            (0, 1075, 0.0),
            (100_000, 100_500, 0.265_105_095_441_594_83),
            // Was 0.045608300674 (2e-8 off) before the compensated sum.
            (499_000, 501_000, 0.045_608_299_865_389_6),
        ] {
            let got = mcnemar_exact(b, c).p_value;
            near(got, p, if b + c > 3000 { 1e-9 } else { 1e-12 });
            // Symmetric in b and c.
            assert_eq!(mcnemar_exact(c, b).p_value, got);
        }
    }

    /// `(cases, b, c, p, clustered)`: the branches of [`mcnemar_clustered`]
    /// computed independently, the exact p from statsmodels as above and
    /// Durkalski et al.'s from the paper's definition, `d_k = (b_k - c_k) /
    /// m_k`, `X2 = (sum d_k)^2 / sum d_k^2`, in numpy, p from
    /// `scipy.stats.chi2.sf(X2, 1)`.
    #[test]
    fn clustered_mcnemar_matches_durkalski() {
        type Case = (&'static [(u64, u64, u64)], u64, u64, f64, bool);
        let table: [Case; 13] = [
            (
                &[(1, 0, 1), (1, 0, 1), (0, 0, 1), (0, 1, 1), (1, 0, 1)],
                3,
                1,
                0.625,
                false,
            ),
            (
                &[(3, 0, 3), (3, 0, 3), (0, 0, 3), (0, 3, 3), (3, 0, 3)],
                3,
                1,
                0.625,
                true,
            ),
            (
                &[(2, 0, 3), (2, 0, 2), (0, 1, 2), (1, 0, 2), (0, 0, 2)],
                5,
                1,
                0.231_997_723_628_730_78,
                true,
            ),
            (
                &[(2, 0, 3), (2, 0, 3), (0, 1, 3), (1, 0, 3), (0, 0, 3)],
                5,
                1,
                0.205_903_210_732_064_72,
                true,
            ),
            (&[(1, 1, 2), (2, 2, 4)], 3, 3, 1.0, true),
            (&[(2, 0, 4), (0, 2, 2)], 2, 2, 0.654_720_846_018_576_8, true),
            (
                &[(2, 1, 3), (0, 1, 3), (3, 0, 5)],
                5,
                2,
                0.431_672_042_916_167,
                true,
            ),
            (&[(2, 0, 2)], 1, 0, 1.0, true),
            (&[(1, 0, 5), (1, 0, 5), (1, 0, 5)], 3, 0, 0.25, false),
            (&[(2, 0, 2), (0, 1, 1)], 1, 1, 1.0, true),
            (
                &[(3, 0, 3), (0, 3, 3), (2, 1, 3)],
                5,
                4,
                0.818_545_808_382_043_5,
                true,
            ),
            (
                &[
                    (2, 0, 3),
                    (3, 0, 3),
                    (0, 1, 2),
                    (2, 0, 2),
                    (1, 0, 1),
                    (0, 0, 3),
                    (3, 0, 3),
                    (1, 1, 3),
                    (2, 0, 3),
                    (0, 2, 3),
                ],
                14,
                4,
                0.077_839_110_770_829_42,
                true,
            ),
            (
                &[
                    (3, 0, 5),
                    (2, 0, 2),
                    (1, 0, 4),
                    (0, 1, 1),
                    (4, 1, 5),
                    (2, 0, 3),
                    (3, 0, 3),
                    (0, 0, 5),
                ],
                15,
                2,
                0.129_538_873_207_288_4,
                true,
            ),
        ];
        for (cases, b, c, p, clustered) in table {
            let m = mcnemar_clustered(cases);
            assert_eq!((m.b, m.c, m.clustered), (b, c, clustered), "{cases:?}");
            assert_eq!(m.clustered, m.test != McNemarTest::ExactAnswers);
            near(m.p_value, p, 1e-12);
        }
    }

    /// Each branch of [`mcnemar_clustered`] names its test, and with it
    /// what `b` and `c` count, in the JSON as `test`; `clustered` is written
    /// for the two that are not the exact test on the answers.
    #[test]
    fn mcnemar_names_its_test_and_what_b_and_c_count() {
        let json = |m: McNemar| {
            let v = serde_json::to_value(m).unwrap();
            (v["test"].clone(), v.get("clustered").cloned())
        };
        // One answer per case: the exact test on the answers (the cases).
        let m = mcnemar_clustered(&[(1, 0, 1), (1, 0, 1), (0, 1, 1), (0, 0, 1)]);
        assert_eq!((m.b, m.c, m.test), (2, 1, McNemarTest::ExactAnswers));
        assert_eq!(json(m), (serde_json::json!("exact_answers"), None));
        assert_eq!(mcnemar_exact(2, 1), m);
        // Three samples that agree in each case: b and c count the cases
        // (two cases refused only under baseline, in all six answers).
        let m = mcnemar_clustered(&[(3, 0, 3), (3, 0, 3), (0, 3, 3), (0, 0, 3)]);
        assert_eq!((m.b, m.c, m.test), (2, 1, McNemarTest::ExactCases));
        assert_eq!(
            json(m),
            (
                serde_json::json!("exact_cases"),
                Some(serde_json::json!(true))
            )
        );
        // Three samples, at most one discordant answer per case: b and c
        // count those answers, tested exactly, and the record says so
        // though the case has several answers.
        let m = mcnemar_clustered(&[(1, 0, 3), (1, 0, 3), (0, 1, 3), (0, 0, 3)]);
        assert_eq!((m.b, m.c, m.test), (2, 1, McNemarTest::ExactAnswers));
        assert_eq!(m, mcnemar_exact(2, 1));
        // Two discordant answers in a case, not all of its three: b and c
        // count answers, and the test is Durkalski et al.'s.
        let m = mcnemar_clustered(&[(2, 0, 3), (1, 0, 3), (0, 1, 3)]);
        assert_eq!((m.b, m.c, m.test), (3, 1, McNemarTest::Durkalski));
        assert_eq!(
            json(m),
            (
                serde_json::json!("durkalski"),
                Some(serde_json::json!(true))
            )
        );
        // The JSON reads back as it was written.
        for m in [mcnemar_exact(4, 0), m] {
            let back: McNemar = serde_json::from_value(serde_json::to_value(m).unwrap()).unwrap();
            assert_eq!(back, m);
        }
        for t in [
            McNemarTest::ExactAnswers,
            McNemarTest::ExactCases,
            McNemarTest::Durkalski,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }

    #[test]
    fn durkalski_weighs_cases_not_pairs() {
        // Two pairs of four refused only under baseline, against two of two
        // refused only under the strategy: shares 1/2 and -1, so (-1/2)^2 /
        // (1/4 + 1) = 0.2 and p = 0.654721 (scipy). Counting pairs, 2 - 2
        // made it 0 and p = 1, as if the cases cancelled.
        let m = mcnemar_clustered(&[(2, 0, 4), (0, 2, 2)]);
        close(m.p_value, 0.654_720_846_018_576_8, 1e-12);
        // Doubling a case's pairs at the same shares changes nothing.
        let a = mcnemar_clustered(&[(2, 0, 3), (2, 0, 2), (0, 1, 2), (1, 0, 2), (0, 0, 2)]);
        let b = mcnemar_clustered(&[(4, 0, 6), (2, 0, 2), (0, 2, 4), (1, 0, 2), (0, 0, 2)]);
        close(a.p_value, b.p_value, 1e-15);
    }

    /// `(x, erfc(x))` from `scipy.special.erfc`; below 0 by `2 - erfc(-x)`
    /// (the series alone gave erfc(-10) = -7.6e24). The comment on `erfc`
    /// promises a relative error below 1e-12: against scipy and mpmath on
    /// 450 points from -27 to 1e10 the largest was 2.5e-13, just below 2.
    #[test]
    fn erfc_matches_scipy() {
        for (x, want) in [
            (0.0, 1.0),
            (0.1, 0.887_537_083_981_715_2),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_16),
            (1.5, 0.033_894_853_524_689_27),
            (1.99, 0.004_888_586_800_383_002),
            (2.0, 0.004_677_734_981_047_266),
            (2.01, 0.004_475_150_644_751_764),
            (3.0, 2.209_049_699_858_544_5e-5),
            (4.5, 1.966_160_441_542_887_8e-10),
            (6.0, 2.151_973_671_249_891_3e-17),
            (10.0, 2.088_487_583_762_544_6e-45),
            (26.0, 5.663_192_408_856_145e-296),
            (-0.5, 1.520_499_877_813_046_5),
            (-1.5, 1.966_105_146_475_310_8),
            (-3.0, 1.999_977_909_503_001_5),
            (-10.0, 2.0),
        ] {
            let got = erfc(x);
            assert!(
                (got - want).abs() <= 1e-12 * want,
                "erfc({x}) = {got}, not {want}"
            );
        }
    }

    /// `(values, 2.5th, 97.5th percentile)` from `numpy.percentile(values,
    /// [2.5, 97.5], method="linear")`, the interpolation the bootstrap
    /// interval uses.
    #[test]
    fn percentiles_match_numpy() {
        let ramp: Vec<f64> = (0..41).map(|i| -50.0 + 3.75 * f64::from(i)).collect();
        let table: [(&[f64], f64, f64); 5] = [
            (&[0.0, 10.0, 20.0, 30.0, 40.0], 1.0, 39.0),
            (&[1.0, 2.0], 1.025, 1.975),
            (&[5.0, 5.0, 5.0], 5.0, 5.0),
            (&[-100.0, 0.0, 12.5, 50.0, 100.0, 100.0], -87.5, 100.0),
            (&ramp, -46.25, 96.25),
        ];
        for (values, low, high) in table {
            near(percentile(values, 0.025).unwrap(), low, 1e-12);
            near(percentile(values, 0.975).unwrap(), high, 1e-12);
        }
    }

    /// No library has Rogan-Gladen; these are `(p + spec - 1) / (sens +
    /// spec - 1)` clamped to [0, 1] in Python floats, and the edges.
    #[test]
    fn rogan_gladen_reference_and_edges() {
        for (p, sens, spec, want) in [
            (0.3, 0.9, 0.8, Some(0.142_857_142_857_142_96)),
            (0.25, 0.8, 0.95, Some(0.266_666_666_666_666_6)),
            (0.6, 0.7, 0.7, Some(0.749_999_999_999_999_7)),
            (0.0, 1.0, 1.0, Some(0.0)),
            (1.0, 1.0, 1.0, Some(1.0)),
            (0.0, 0.9, 0.9, Some(0.0)),
            (1.0, 0.9, 0.9, Some(1.0)),
            (0.2, 0.0, 1.0, None),
            (0.2, 1.0, 0.0, None),
            (0.5, 0.7, 0.3, None),
            (f64::NAN, 0.9, 0.9, None),
            (0.5, f64::NAN, 0.9, None),
            (0.5, 0.9, f64::NAN, None),
        ] {
            let got = rogan_gladen(p, sens, spec);
            match (got, want) {
                (Some(g), Some(w)) => near(g, w, 1e-12),
                _ => assert_eq!(got, want, "{p} {sens} {spec}"),
            }
        }
    }
}
