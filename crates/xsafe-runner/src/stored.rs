//! What a stored run must agree with for a command to open it: its key,
//! else [`changes`] names what differs; and, since the key leaves them out,
//! where its targets were served ([`moved`]).

use crate::RunPlan;
use crate::plan::{keyed_config, served_at, shown_at, stored_target_id};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// A target, or an interactive strategy's clarifier, that a stored run was
/// asked at other base URLs than a command asks it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The target's id, as the command names it.
    pub target: String,
    /// For a clarifier, the strategy it writes the follow-ups of; `None`
    /// for a target under test.
    pub clarifier_of: Option<String>,
    /// The base URLs the run was recorded with, sorted, without a trailing
    /// slash, a user name and password shown as `<redacted>`.
    pub stored: Vec<String>,
    /// The command's, likewise.
    pub now: Vec<String>,
}

impl std::fmt::Display for Moved {
    /// `target `openai:m` at http://a/v1, now http://b/v1`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls = |urls: &[String]| match urls {
            [] => "no base URL".to_string(),
            _ => urls.join(", "),
        };
        match &self.clarifier_of {
            None => write!(f, "target `{}`", self.target)?,
            Some(strategy) => write!(
                f,
                "the clarifier `{}` of strategy `{strategy}`",
                self.target
            )?,
        }
        write!(f, " at {}, now {}", urls(&self.stored), urls(&self.now))
    }
}

/// The entries of list `name` of a run's config.
fn list<'a>(config: &'a Value, name: &str) -> &'a [Value] {
    config[name].as_array().map_or(&[][..], Vec::as_slice)
}

/// The targets of `plan` (whose config is `now`) and the clarifiers of its
/// strategies that the run recorded with `stored`, a config of the same
/// key, has at other base URLs, compared as answers are ([`served_at`]:
/// sorted, a trailing slash and credentials ignored, in clear or redacted;
/// a local model has none) and shown with credentials redacted
/// ([`shown_at`]). A target is found in `stored` as the runner finds its
/// results ([`stored_target_id`]), a clarifier by its strategy's name and
/// step.
pub(crate) fn moved(stored: &Value, now: &Value, plan: &RunPlan) -> Vec<Moved> {
    let mut out: Vec<Moved> = Vec::new();
    for (target, entry) in plan.targets.iter().zip(list(now, "targets")) {
        let id = stored_target_id(stored, target.as_ref());
        let Some(was) = list(stored, "targets").iter().find(|t| t["id"] == id) else {
            continue;
        };
        if served_at(was) != served_at(entry) {
            out.push(Moved {
                target: target.id().to_string(),
                clarifier_of: None,
                stored: shown_at(was),
                now: shown_at(entry),
            });
        }
    }
    let steps = |s: &Value| {
        s["definition"]["steps"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    for strategy in list(now, "strategies") {
        let Some(was) = list(stored, "strategies")
            .iter()
            .find(|w| w["name"] == strategy["name"])
        else {
            continue;
        };
        for (step, was_step) in steps(strategy).iter().zip(&steps(was)) {
            let (clarifier, was) = (&step["clarifier"], &was_step["clarifier"]);
            if !clarifier.is_object() || !was.is_object() {
                continue;
            }
            let (before, after) = (shown_at(was), shown_at(clarifier));
            let id = clarifier["id"].as_str().unwrap_or_default();
            // One clarifier of several strategies is said once.
            let said = out
                .iter()
                .any(|m| m.clarifier_of.is_some() && m.target == id && m.now == after);
            if served_at(was) != served_at(clarifier) && !said {
                out.push(Moved {
                    target: id.to_string(),
                    clarifier_of: strategy["name"].as_str().map(str::to_string),
                    stored: before,
                    now: after,
                });
            }
        }
    }
    out
}

/// What differs between a stored run's config and a command's of another
/// key, part by part.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Each difference, as a phrase: `suite `s` (`s.csv`) has changed since
    /// the run was made (3 cases, was 2)`, `--seed 7, was 0`, `target
    /// `openai:m`: temperature 0.7, was 0`. Empty when none was found.
    pub list: Vec<String>,
    /// Whether a suite read from a file has other cases (its file was
    /// edited).
    pub suite_file: bool,
    /// Whether a strategy read from a strategy file sends something else.
    pub strategy_file: bool,
    /// Whether something given by a flag differs (a target's settings, a
    /// strategy, the judge, the seed, ...).
    pub settings: bool,
    /// Whether the run's `--limit` picked its cases by another version of
    /// the sampling: this xsafe cannot resume it with that limit.
    pub sampling: bool,
}

/// How a suite of a run's config was given: `` `PATH` `` for a file (or a
/// fetched suite's source), `built-in` for a built-in suite.
fn origin(suite: &Value) -> String {
    match suite["source"].as_str() {
        Some("built-in") => "built-in".to_string(),
        Some(source) => format!("`{source}`"),
        None => "source not recorded".to_string(),
    }
}

/// `entry` (a `{id, settings}` or `{name, definition}` of list `name`) as
/// the run key reads it.
fn keyed_entry(name: &str, entry: &Value) -> Value {
    keyed_config(&json!({ name: [entry] }))[name][0].clone()
}

/// The most differences a part lists; the rest are counted.
const SHOWN: usize = 4;

/// The places where `now` and `was` differ, below `path`: `temperature
/// 0.7, was 0`, `steps[0].settings.k 3, was 4`. A field absent on one side
/// is `null` there.
fn differences(now: &Value, was: &Value, path: &str, out: &mut Vec<String>) {
    let at = |key: &str| match path {
        "" => key.to_string(),
        _ => format!("{path}.{key}"),
    };
    match (now, was) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let (x, y) = (
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                );
                differences(x, y, &at(key), out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ if now == was => {}
        _ => {
            let name = if path.is_empty() { "it" } else { path };
            out.push(format!("{name} {}, was {}", shown(now), shown(was)));
        }
    }
}

/// A value as a difference shows it, shortened.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::Null => return "not set".to_string(),
        Value::String(s) => format!("`{s}`"),
        Value::Array(items) if items.is_empty() => return "none".to_string(),
        other => other.to_string(),
    };
    const MOST: usize = 60;
    match text.char_indices().nth(MOST) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// [`differences`] joined, the first [`SHOWN`] of them.
fn joined(list: &[String]) -> String {
    let mut text = list
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > SHOWN {
        text.push_str(&format!(" and {} more", list.len() - SHOWN));
    }
    text
}

/// What differs between `stored`, the config of a run of another key, and
/// `now`, the config of `plan`: its suites (by name: added, left out, or
/// with other cases), its targets (found as the runner finds their
/// results; their settings as the key reads them), its strategies (by
/// name; what they send as the key reads it), the judge, the seed, the
/// samples, the limit and its sampling, the types, and any other part of
/// the config.
pub(crate) fn changes(stored: &Value, now: &Value, plan: &RunPlan) -> Changes {
    let mut changes = Changes::default();
    let (keyed_now, keyed_stored) = (keyed_config(now), keyed_config(stored));

    // Suites, by name.
    for suite in list(now, "suites") {
        let name = suite["name"].as_str().unwrap_or_default();
        let Some(was) = list(stored, "suites")
            .iter()
            .find(|w| w["name"] == suite["name"])
        else {
            changes.settings = true;
            changes.list.push(format!(
                "suite `{name}` ({}) is not in the run",
                origin(suite)
            ));
            continue;
        };
        // A config of an older xsafe may lack the number of cases.
        let counted = !suite["cases"].is_null() && !was["cases"].is_null();
        if suite["fingerprint"] != was["fingerprint"] || (counted && suite["cases"] != was["cases"])
        {
            let counts = match (suite["cases"].as_u64(), was["cases"].as_u64()) {
                (Some(n), Some(before)) if n != before => format!(" ({n} cases, was {before})"),
                (Some(n), Some(_)) => format!(" ({n} cases, as before, but not the same)"),
                (Some(n), None) => format!(" (it has {n} cases)"),
                _ => String::new(),
            };
            if suite["source"] == "built-in" {
                changes.settings = true;
            } else {
                changes.suite_file = true;
            }
            changes.list.push(format!(
                "suite `{name}` ({}) has changed since the run was made{counts}",
                origin(suite)
            ));
        } else if (suite["source"] == "built-in") != (was["source"] == "built-in") {
            changes.settings = true;
            changes.list.push(format!(
                "suite `{name}` is {} now, was {}",
                origin(suite),
                origin(was)
            ));
        }
    }
    for was in list(stored, "suites") {
        if !list(now, "suites").iter().any(|s| s["name"] == was["name"]) {
            changes.settings = true;
            changes.list.push(format!(
                "the run also has suite `{}` ({}), which this command does not give",
                was["name"].as_str().unwrap_or_default(),
                origin(was)
            ));
        }
    }

    // Targets, as the runner finds their results.
    let stored_targets = list(stored, "targets");
    let mut found = vec![false; stored_targets.len()];
    for (target, entry) in plan.targets.iter().zip(list(now, "targets")) {
        let id = stored_target_id(stored, target.as_ref());
        let Some(i) = stored_targets.iter().position(|w| w["id"] == id) else {
            changes.settings = true;
            changes
                .list
                .push(format!("target `{}` is not in the run", target.id()));
            continue;
        };
        found[i] = true;
        let mut differ = Vec::new();
        differences(
            &keyed_entry("targets", entry)["settings"],
            &keyed_entry("targets", &stored_targets[i])["settings"],
            "",
            &mut differ,
        );
        if !differ.is_empty() {
            changes.settings = true;
            changes
                .list
                .push(format!("target `{}`: {}", target.id(), joined(&differ)));
        }
    }
    for (was, found) in stored_targets.iter().zip(found) {
        if !found {
            changes.settings = true;
            changes.list.push(format!(
                "the run also has target `{}`, which this command does not give",
                was["id"].as_str().unwrap_or_default()
            ));
        }
    }

    // Strategies, by name.
    for strategy in list(now, "strategies") {
        let name = strategy["name"].as_str().unwrap_or_default();
        let Some(was) = list(stored, "strategies")
            .iter()
            .find(|w| w["name"] == strategy["name"])
        else {
            changes.settings = true;
            changes
                .list
                .push(format!("strategy `{name}` is not in the run"));
            continue;
        };
        let mut differ = Vec::new();
        differences(
            &keyed_entry("strategies", strategy)["definition"],
            &keyed_entry("strategies", was)["definition"],
            "",
            &mut differ,
        );
        if !differ.is_empty() {
            let from_file = strategy["definition"]["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["file"].as_str())
                .any(|file| !file.starts_with("builtin:"));
            if from_file {
                changes.strategy_file = true;
            } else {
                changes.settings = true;
            }
            changes.list.push(format!(
                "strategy `{name}` sends something else than when the run was made ({})",
                joined(&differ)
            ));
        }
    }
    for was in list(stored, "strategies") {
        if !list(now, "strategies")
            .iter()
            .any(|s| s["name"] == was["name"])
        {
            changes.settings = true;
            changes.list.push(format!(
                "the run also has strategy `{}`, which this command does not give",
                was["name"].as_str().unwrap_or_default()
            ));
        }
    }

    // The rest, as the key reads it.
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let judge = |j: &Value| format!("`{}` (version {})", text(&j["name"]), text(&j["version"]));
    let flag = |v: &Value, none: &str| match v {
        Value::Null => none.to_string(),
        Value::Array(items) if items.is_empty() => none.to_string(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    };
    let done = ["suites", "targets", "strategies"];
    let keys: BTreeSet<&String> = keyed_now
        .as_object()
        .into_iter()
        .chain(keyed_stored.as_object())
        .flat_map(|m| m.keys())
        .collect();
    for key in keys {
        let (a, b) = (&keyed_now[key.as_str()], &keyed_stored[key.as_str()]);
        if a == b || done.contains(&key.as_str()) {
            continue;
        }
        if key == "sampling" {
            changes.sampling = true;
        } else {
            changes.settings = true;
        }
        changes.list.push(match key.as_str() {
            "judge" => format!("the judge is {}, was {}", judge(a), judge(b)),
            "seed" | "samples" => format!("--{key} {}, was {}", flag(a, "none"), flag(b, "none")),
            "limit" => format!("--limit {}, was {}", flag(a, "none"), flag(b, "none")),
            "types" => format!("--types {}, was {}", flag(a, "all"), flag(b, "all")),
            "sampling" => format!(
                "--limit picks its cases by sampling version {}, the run's were picked by \
                 version {} (the same seed picks other cases)",
                flag(a, "1"),
                flag(b, "1")
            ),
            other => format!("`{other}` {}, was {}", shown(a), shown(b)),
        });
    }
    changes
}

/// The message of [`RunError::Changed`](crate::RunError::Changed).
pub(crate) fn changed_message(name: &str, changes: &Changes, named: bool) -> String {
    let mut restore = Vec::new();
    if changes.suite_file {
        restore.push("restore the suite file");
    }
    if changes.strategy_file {
        restore.push("restore the strategy file");
    }
    if changes.settings {
        restore.push("give the settings it was made with");
    }
    let new = if named {
        "pass a new --run name"
    } else {
        "pass --run NAME with a new name"
    };
    let resume = if changes.sampling {
        format!("This xsafe cannot resume run `{name}` with this --limit")
    } else {
        format!("To resume run `{name}`, {}", restore.join(" and "))
    };
    format!(
        "run `{name}` already exists with other settings: {}. {resume}; for a run of these \
         settings, {new}",
        changes.list.join("; "),
    )
}

/// The message of [`RunError::ServerMoved`](crate::RunError::ServerMoved),
/// with the advice of `xsafe run`: `xsafe tune`, which has no `--run`,
/// gives its own.
pub(crate) fn moved_message(name: &str, moved: &[Moved], named: bool) -> String {
    let new = if named {
        "pass a new --run name"
    } else {
        "pass --run NAME with a new name"
    };
    format!(
        "run `{name}` was asked at other base URLs than this command's: {}. Another URL may \
         serve another model (a proxy such as `xsafe serve` in front of it), whose answers must \
         not be mixed with the stored ones, so nothing was asked. For a run at the new URL, \
         {new}; if it serves the same model (the server moved), pass --server-moved to resume \
         run `{name}` there",
        moved_list(moved)
    )
}

/// The targets that moved, joined: `target `openai:m` at http://a/v1, now
/// http://b/v1; ...`.
pub(crate) fn moved_list(moved: &[Moved]) -> String {
    moved
        .iter()
        .map(Moved::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_place_with_both_values() {
        let mut out = Vec::new();
        differences(
            &json!({"temperature": 0.7, "model": "m", "stop": ["a"], "max_tokens": 10}),
            &json!({"temperature": 0.0, "model": "m", "stop": ["b"]}),
            "",
            &mut out,
        );
        assert_eq!(
            out,
            [
                "max_tokens 10, was not set",
                "stop[0] `a`, was `b`",
                "temperature 0.7, was 0.0",
            ]
        );
        let long = "x".repeat(100);
        assert_eq!(shown(&json!(long)).len(), 63);
    }
}
