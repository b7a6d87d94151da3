//! The text `xsafe tune` prints for a profile it wrote: the calibration
//! table with each strategy's decision, the held-out table, the held-out
//! check and the choice.

use super::profile::Profile;
use super::rule::{CheckOutcome, Figures, pct};
use crate::table;
use std::path::Path;

pub(super) fn render(p: &Profile, output: &Path) -> String {
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
    out
}
