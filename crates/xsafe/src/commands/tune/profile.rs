//! The profile `xsafe tune` writes: its header, the choice, each part's
//! report and the candidates, as TOML (and as JSON with `--json`), with
//! credentials redacted and the file's default name.

use super::rule::{Candidate, CheckOutcome, Figures, HeldOutCheck};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use xsafe_core::{Label, Suite};
use xsafe_runner::RunOutcome;

#[derive(Debug, Serialize)]
pub(super) struct Profile {
    pub(super) profile: Header,
    pub(super) choice: Choice,
    pub(super) calibration: PartReport,
    pub(super) heldout: PartReport,
    pub(super) candidates: Vec<Candidate>,
}

#[derive(Debug, Serialize)]
pub(super) struct Header {
    pub(super) created: String,
    pub(super) xsafe_version: String,
    pub(super) target: String,
    pub(super) judge: String,
    pub(super) suite: String,
    pub(super) suite_source: String,
    pub(super) suite_fingerprint: String,
    pub(super) seed: u64,
    pub(super) margin: f64,
    pub(super) calibration_share: f64,
    pub(super) samples: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) limit: Option<usize>,
    pub(super) target_settings: toml::Value,
}

#[derive(Debug, Serialize)]
pub(super) struct Choice {
    pub(super) strategy: String,
    pub(super) baseline_is_best: bool,
    pub(super) steps: usize,
    pub(super) unsafe_refusal_floor: f64,
    /// McNemar's p of the chosen strategy's safe refusals against
    /// baseline's on the calibration part: how far its gain there can be
    /// told from noise; absent when baseline is chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) safe_gain_p_calibration: Option<f64>,
    pub(super) definition: toml::Value,
}

#[derive(Debug, Serialize)]
pub(super) struct PartReport {
    pub(super) suite: String,
    pub(super) fingerprint: String,
    pub(super) cases: usize,
    pub(super) safe_cases: usize,
    pub(super) unsafe_cases: usize,
    /// Of the part's safe and unsafe cases, how many the proxy (`xsafe
    /// serve`) sends the chosen strategy otherwise than this part measured
    /// it: it gets no prompt's type, and reads one from the words (see
    /// `xsafe_server::SentOtherwise`); serve says so at start-up.
    pub(super) proxy_differs_safe: usize,
    pub(super) proxy_differs_unsafe: usize,
    pub(super) run_id: i64,
    pub(super) run_name: String,
    /// Held-out only: baseline's unsafe refusal rate there minus the margin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) unsafe_refusal_floor: Option<f64>,
    /// Held-out only: whether the choice held there (`passed`/`failed`),
    /// what `serve` reads before serving the profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) check: Option<CheckOutcome>,
    /// Held-out only: why, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) check_reason: Option<String>,
    /// Held-out only: McNemar's p of the chosen strategy's safe refusals
    /// against baseline's there; absent when baseline is chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) safe_gain_p: Option<f64>,
    pub(super) strategies: BTreeMap<String, Figures>,
}

#[derive(Serialize)]
pub(super) struct JsonReport<'a> {
    pub(super) output: String,
    #[serde(flatten)]
    pub(super) profile: &'a Profile,
}

pub(super) fn part_report(
    part: &Suite,
    o: &RunOutcome,
    figures: &[(String, usize, Figures)],
    sent_otherwise: xsafe_server::SentOtherwise,
    check: Option<&HeldOutCheck>,
    safe_gain_p: Option<f64>,
) -> PartReport {
    PartReport {
        suite: part.name.clone(),
        fingerprint: part.fingerprint(),
        cases: part.cases.len(),
        safe_cases: part.count(Label::Safe),
        unsafe_cases: part.count(Label::Unsafe),
        proxy_differs_safe: sent_otherwise.safe,
        proxy_differs_unsafe: sent_otherwise.unsafe_,
        run_id: o.run_id,
        run_name: o.run_name.clone(),
        unsafe_refusal_floor: check.and_then(|c| c.floor),
        check: check.map(|c| c.outcome),
        check_reason: check.map(|c| c.reason.clone()),
        safe_gain_p,
        strategies: figures
            .iter()
            .map(|(n, _, f)| (n.clone(), f.clone()))
            .collect(),
    }
}

/// Header values, and credentials written into URLs, never reach a
/// profile; targets record header names only, but a profile is a file that
/// gets shared, so it does not rely on that.
pub(crate) fn redact(mut v: Value) -> Value {
    fn walk(v: &mut Value, key: Option<&str>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    if k.eq_ignore_ascii_case("headers")
                        && let Value::Object(h) = child
                    {
                        for value in h.values_mut() {
                            *value = Value::String("<redacted>".into());
                        }
                        continue;
                    }
                    walk(child, Some(k));
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, key)),
            Value::String(s) if key.is_some_and(|k| k.contains("url")) => {
                *s = xsafe_target::without_userinfo(s);
            }
            _ => {}
        }
    }
    walk(&mut v, None);
    v
}

/// `profile-TARGET.toml`, with the characters a file name should not hold
/// (`:` and `/` of `openai:MODEL`, `local:PATH`) as `-`.
pub(super) fn default_output(target: &str) -> String {
    let safe: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("profile-{safe}.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_and_toml_conversion() {
        let v = serde_json::json!({
            "headers": {"X-Secret": "hunter2"},
            "base_urls": ["http://user:pw@host:1/v1", "http://host/v1"],
            "seed": null,
            "steps": [{"kind": "few-shot", "x": null}],
        });
        let t = xsafe_strategy::json_to_toml(&redact(v)).unwrap();
        let text = toml::to_string(&t).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("pw@"), "{text}");
        assert!(text.contains("X-Secret") && text.contains("http://host/v1"));
        assert!(!text.contains("seed"));
    }

    #[test]
    fn file_names() {
        assert_eq!(
            default_output("openai:gpt-4o-mini"),
            "profile-openai-gpt-4o-mini.toml"
        );
        assert_eq!(
            default_output("local:/m/x.gguf"),
            "profile-local--m-x.gguf.toml"
        );
    }
}
