//! The text `xsafe tune` prints for a profile it wrote: the calibration
//! table with each strategy's decision and why the chosen one won, the
//! held-out table, McNemar's test of the choice against baseline on each
//! part, the held-out check and the choice, and a note when its gain is
//! within noise or did not show on the held-out part.

use super::BASELINE;
use super::gain::{SafeGain, p_text};
use super::profile::Profile;
use super::rule::{CheckOutcome, Figures, pct, safe_text};
use crate::table;
use std::path::Path;

/// The calibration and held-out tests of the choice against baseline on
/// safe prompts; `None` when baseline is the choice.
pub(super) type Gains<'a> = (Option<&'a SafeGain>, Option<&'a SafeGain>);

pub(super) fn render(p: &Profile, output: &Path, (cal_gain, held_gain): Gains<'_>) -> String {
    let h = &p.profile;
    let mut out = format!(
        "tune {} on {} (seed {}, margin {}, judge {}): calibration {} cases, held-out {} cases\n\n",
        h.target,
        h.suite,
        h.seed,
        pct(h.margin),
        h.judge,
        p.calibration.cases,
        p.heldout.cases
    );
    let frac = |(k, n): (u64, u64)| {
        if n == 0 {
            "-".to_string()
        } else {
            format!("{k}/{n} ({})", pct(k as f64 / n as f64))
        }
    };
    // The rates the rule compared, so the table shows what decided.
    let row = |name: &str, f: &Figures| {
        let unscored = match (f.safe_unscored, f.unsafe_unscored) {
            (0, 0) => "0".to_string(),
            (s, 0) => format!("{s} safe"),
            (0, u) => format!("{u} unsafe"),
            (s, u) => format!("{s} safe, {u} unsafe"),
        };
        vec![
            name.to_string(),
            frac(f.rule_safe()),
            frac(f.rule_unsafe()),
            unscored,
            f.errors.to_string(),
        ]
    };
    let any_unscored = p
        .calibration
        .strategies
        .values()
        .chain(p.heldout.strategies.values())
        .any(|f| f.unscored > 0);
    out.push_str(&format!(
        "calibration (run {}, id {}); unsafe refusal floor {}:\n",
        p.calibration.run_name,
        p.calibration.run_id,
        pct(p.choice.unsafe_refusal_floor)
    ));
    let rows: Vec<Vec<String>> = p
        .candidates
        .iter()
        .map(|c| {
            let mut r = row(
                &c.strategy,
                p.calibration
                    .strategies
                    .get(&c.strategy)
                    .unwrap_or(&Figures::default()),
            );
            r.push(if c.chosen {
                "chosen".to_string()
            } else if c.kept {
                "kept".to_string()
            } else {
                c.reason.clone()
            });
            r
        })
        .collect();
    out.push_str(&table::render(
        &[
            "strategy",
            "safe refused",
            "unsafe refused",
            "unscored",
            "errors",
            "decision",
        ],
        &rows,
    ));
    // The table says only "chosen": what decided, a tie broken by steps or
    // by name included, is in the reason.
    if let Some(c) = p.candidates.iter().find(|c| c.chosen) {
        out.push_str(&format!(
            "\nwhy {}: {}\n",
            c.strategy,
            c.reason.strip_prefix("chosen: ").unwrap_or(&c.reason)
        ));
    }
    let gain_line = |g: &SafeGain| {
        format!(
            "against baseline on safe prompts: {}\n",
            g.describe(&p.choice.strategy)
        )
    };
    if let Some(g) = cal_gain {
        out.push_str(&gain_line(g));
    }
    out.push_str(&format!(
        "\nheld-out (run {}, id {}):\n",
        p.heldout.run_name, p.heldout.run_id
    ));
    let mut held: Vec<(&String, &Figures)> = p.heldout.strategies.iter().collect();
    held.sort_by_key(|(n, _)| *n != &p.choice.strategy);
    let rows: Vec<Vec<String>> = held.iter().map(|(n, f)| row(n, f)).collect();
    out.push_str(&table::render(
        &[
            "strategy",
            "safe refused",
            "unsafe refused",
            "unscored",
            "errors",
        ],
        &rows,
    ));
    if let Some(g) = held_gain {
        out.push('\n');
        out.push_str(&gain_line(g));
    }
    if any_unscored {
        out.push_str(
            "\nunscored answers count against a strategy above: as refused on safe prompts, as \
             not refused on unsafe ones (the profile also has the rates over scored answers)\n",
        );
    }
    let failed = p.heldout.check == Some(CheckOutcome::Failed);
    out.push_str(&format!(
        "\nheld-out check: {}: {}\n",
        if failed { "FAILED" } else { "passed" },
        p.heldout.check_reason.as_deref().unwrap_or_default()
    ));
    if failed {
        out.push_str(&format!(
            "\nchosen on the calibration part: {}, but it failed the held-out check; profile \
             written to {} marked failed (not to be served)\n",
            p.choice.strategy,
            output.display()
        ));
    } else {
        out.push_str(&format!(
            "\nchosen: {}{}; profile written to {}\n",
            p.choice.strategy,
            if p.choice.baseline_is_best {
                " (no strategy beats baseline within the margin)"
            } else {
                ""
            },
            output.display()
        ));
    }
    if let Some(note) = noise_note(p, (cal_gain, held_gain)) {
        out.push_str(&format!("\n{note}\n"));
    }
    out
}

/// A note when the chosen strategy's gain over baseline on safe prompts is
/// within noise (the test's p at or above [`NOISE_P`](super::gain::NOISE_P))
/// on the calibration part, or on the held-out part when the check passed
/// (a failed check has said why already). It names the test the p is of,
/// as [`SafeGain::describe`] does: McNemar's test with one answer per
/// prompt, the exact sign test by prompt with `--samples` above 1. The
/// rule chooses by the rates, as documented, so the choice stands; the
/// note says how little it may rest on, and what would tell.
///
/// A choice that refuses more held-out safe prompts than baseline, within
/// noise, passed the check (only a loss beyond noise fails it); its note
/// says that the gain did not show there, with both rates and the p, since
/// a gain that does not show on the prompts it was not chosen on may be
/// chance.
pub(super) fn noise_note(p: &Profile, (cal_gain, held_gain): Gains<'_>) -> Option<String> {
    let chosen = &p.choice.strategy;
    let passed = p.heldout.check != Some(CheckOutcome::Failed);
    let held = |name: &str| p.heldout.strategies.get(name);
    let loss = held_gain.filter(|_| passed).and_then(|g| {
        let (f, base) = (held(chosen)?, held(BASELINE)?);
        f.refuses_more_safe_than(base).then(|| {
            format!(
                "{chosen}'s safe refusal rate there is {} against baseline's {} ({}): a loss \
                 within noise, so the held-out check passed",
                safe_text(f),
                safe_text(base),
                p_text(g.test.p_value)
            )
        })
    });
    let mut parts = Vec::new();
    if let Some(g) = cal_gain.filter(|g| g.is_noise()) {
        parts.push(format!(
            "{} on the calibration part's {} safe prompts",
            p_text(g.test.p_value),
            g.prompts
        ));
    }
    if let Some(g) = held_gain.filter(|g| passed && loss.is_none() && g.is_noise()) {
        parts.push(format!(
            "{} on the held-out part's {}",
            p_text(g.test.p_value),
            g.prompts
        ));
    }
    let mut said = Vec::new();
    if !parts.is_empty() {
        // Both parts are asked as many samples per prompt.
        let sampled = cal_gain.or(held_gain).is_some_and(|g| g.samples > 1);
        let test = if sampled {
            "the exact sign test by prompt"
        } else {
            "McNemar's test"
        };
        said.push(format!(
            "{chosen}'s gain over baseline on safe prompts is not distinguishable from noise on \
             this many prompts ({test}, paired on the same prompts: {}); the rule chose it by \
             its rates, but the gain may be chance.",
            parts.join("; ")
        ));
    }
    if let Some(loss) = loss {
        said.push(if said.is_empty() {
            format!(
                "{chosen}'s gain over baseline on safe prompts, measured on the calibration part, \
                 did not show on the held-out part: {loss}; the choice may rest on chance."
            )
        } else {
            format!("It did not show on the held-out part: {loss}.")
        });
    }
    if said.is_empty() {
        return None;
    }
    Some(format!(
        "note: {} Tune on a larger suite, or with more --samples when the target's answers vary, \
         before relying on it.",
        said.join(" ")
    ))
}
