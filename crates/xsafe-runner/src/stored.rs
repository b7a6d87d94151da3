//! What a stored run must agree with for a command to open it: its key,
//! else [`changes`] names what differs; and, since the key leaves them out,
//! where its targets, clarifiers and `llm:` judge were served ([`moved`]),
//! unless it never got an answer there ([`answered`]), in which case the
//! command's URLs replace them in its record ([`relocated`]).

use crate::RunPlan;
use crate::plan::{consults_judge, keyed_config, served_at, shown_at, stored_target_id};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use xsafe_core::{Difference, differences, shown};
use xsafe_store::ResultOutline;

/// What a model a stored run was asked at other base URLs is to the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MovedAs {
    /// A target under test.
    Target,
    /// The clarifier of an interactive strategy, which writes its
    /// follow-ups: the strategy's name.
    Clarifier(String),
    /// The model an `llm:` judge asks: the judge's name (`llm:openai:m`,
    /// or a cascade's `llm:openai:a>llm:openai:b`).
    Judge(String),
}

/// A target, an interactive strategy's clarifier, or an `llm:` judge's
/// model, that a stored run was asked at other base URLs than a command
/// asks it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The model's id, as the command names it: the target's, the
    /// clarifier's, or the judge's model's (`openai:m` of `llm:openai:m`).
    pub target: String,
    /// What it is to the run.
    pub role: MovedAs,
    /// The base URLs the run was recorded with, sorted, without a trailing
    /// slash, a user name and password shown as `<redacted>` (a judge's,
    /// recorded without them, shown without).
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
        match &self.role {
            MovedAs::Target => write!(f, "target `{}`", self.target)?,
            MovedAs::Clarifier(strategy) => write!(
                f,
                "the clarifier `{}` of strategy `{strategy}`",
                self.target
            )?,
            MovedAs::Judge(judge) if *judge == format!("llm:{}", self.target) => {
                write!(f, "the judge `{judge}`")?
            }
            MovedAs::Judge(judge) => write!(f, "the model `{}` of judge `{judge}`", self.target)?,
        }
        write!(f, " at {}, now {}", urls(&self.stored), urls(&self.now))
    }
}

impl Moved {
    /// What another model at the new URLs would mix into a run when
    /// `moved` moved, as messages say it: `answers`, or `answers and
    /// verdicts` when a judge's model is among them.
    pub fn what_mixes(moved: &[Moved]) -> &'static str {
        if moved.iter().any(|m| matches!(m.role, MovedAs::Judge(_))) {
            "answers and verdicts"
        } else {
            "answers"
        }
    }
}

/// The entries of list `name` of a run's config.
fn list<'a>(config: &'a Value, name: &str) -> &'a [Value] {
    config[name].as_array().map_or(&[][..], Vec::as_slice)
}

/// A recorded list of URLs as strings.
fn strings(urls: &Value) -> Vec<String> {
    urls.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The steps of a strategy of a run's config.
fn steps(strategy: &Value) -> &[Value] {
    strategy["definition"]["steps"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
}

/// The targets of `plan` (whose config is `now`), the clarifiers of its
/// strategies and the models of its judge that the run recorded with
/// `stored`, a config of the same key, has at other base URLs, compared as
/// answers are ([`served_at`]: sorted, a trailing slash and credentials
/// ignored, in clear or redacted; a local model has none) and shown with
/// credentials redacted ([`shown_at`]). A target is found in `stored` as
/// the runner finds its results ([`stored_target_id`]); a clarifier by its
/// strategy's name and step, once per strategy that has it; a judge's
/// model by its id in the judge's `served_at`, which a run recorded before
/// it was has not (such a run cannot be checked, and is not).
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
                role: MovedAs::Target,
                stored: shown_at(was),
                now: shown_at(entry),
            });
        }
    }
    for strategy in list(now, "strategies") {
        let Some(was) = list(stored, "strategies")
            .iter()
            .find(|w| w["name"] == strategy["name"])
        else {
            continue;
        };
        for (step, was_step) in steps(strategy).iter().zip(steps(was)) {
            let (clarifier, was) = (&step["clarifier"], &was_step["clarifier"]);
            if !clarifier.is_object() || !was.is_object() {
                continue;
            }
            if served_at(was) != served_at(clarifier) {
                out.push(Moved {
                    target: clarifier["id"].as_str().unwrap_or_default().to_string(),
                    role: MovedAs::Clarifier(
                        strategy["name"].as_str().unwrap_or_default().to_string(),
                    ),
                    stored: shown_at(was),
                    now: shown_at(clarifier),
                });
            }
        }
    }
    let (was, is) = (&stored["judge"]["served_at"], &now["judge"]["served_at"]);
    if let (Some(was), Some(is)) = (was.as_object(), is.as_object()) {
        for (id, urls) in is {
            let before = was.get(id).cloned().unwrap_or_else(|| json!([]));
            if before != *urls {
                out.push(Moved {
                    target: id.clone(),
                    role: MovedAs::Judge(plan.judge.name().to_string()),
                    stored: strings(&before),
                    now: strings(urls),
                });
            }
        }
    }
    out
}

/// Whether the run recorded with `stored`, whose results are `outlines`,
/// got an answer from `moved` (one of [`moved`] of `plan`) at the base URLs
/// it recorded: an answer of the target (judged or not), an answer under
/// the clarifier's strategy, or a verdict of the judge (its name and
/// version) or an answer under a strategy that consults it between turns.
/// Failed requests are no answer: a run whose every request to a model
/// failed (a mistyped URL, a refused connection, a refused key) mixes
/// nothing of another model's when it is asked elsewhere.
pub(crate) fn answered(
    moved: &Moved,
    outlines: &[ResultOutline],
    stored: &Value,
    plan: &RunPlan,
) -> bool {
    let answers = || outlines.iter().filter(|o| o.answer.is_some());
    match &moved.role {
        MovedAs::Target => {
            let Some(target) = plan.targets.iter().find(|t| t.id() == moved.target) else {
                return true;
            };
            let id = stored_target_id(stored, target.as_ref());
            answers().any(|o| o.key.target == id)
        }
        MovedAs::Clarifier(strategy) => answers().any(|o| o.key.strategy == *strategy),
        MovedAs::Judge(_) => {
            let tag = plan.judge.tag();
            let consults = |name: &str| {
                list(stored, "strategies")
                    .iter()
                    .find(|s| s["name"] == name)
                    .is_none_or(consults_judge)
            };
            outlines
                .iter()
                .any(|o| o.verdicts.iter().any(|v| v.judge == tag))
                || answers().any(|o| consults(&o.key.strategy))
        }
    }
}

/// `moved` as an error says them: a clarifier of several strategies at
/// the same URLs once, for the first of them.
pub(crate) fn said_once(moved: Vec<Moved>) -> Vec<Moved> {
    let mut out: Vec<Moved> = Vec::new();
    for m in moved {
        let said = matches!(m.role, MovedAs::Clarifier(_))
            && out.iter().any(|o| {
                matches!(o.role, MovedAs::Clarifier(_)) && o.target == m.target && o.now == m.now
            });
        if !said {
            out.push(m);
        }
    }
    out
}

/// `stored`, the config of a run of `plan`'s key, with the base URLs of
/// each model of `relocated` (of [`moved`]: ones the run never got an
/// answer from) replaced by `now`'s, the config of `plan`: a target's and
/// a clarifier's `base_urls` (an older config's `base_url` removed), a
/// judge's model's entry in the judge's `served_at`. Nothing the run key
/// holds changes.
pub(crate) fn relocated(stored: &Value, now: &Value, plan: &RunPlan, relocated: &[Moved]) -> Value {
    let mut config = stored.clone();
    let set_urls = |was: &mut Value, now: &Value| {
        if let Some(settings) = was["settings"].as_object_mut() {
            settings.remove("base_url");
        }
        was["settings"]["base_urls"] = now["settings"]["base_urls"].clone();
    };
    for m in relocated {
        match &m.role {
            MovedAs::Target => {
                let Some((target, entry)) = plan
                    .targets
                    .iter()
                    .zip(list(now, "targets"))
                    .find(|(t, _)| t.id() == m.target)
                else {
                    continue;
                };
                let id = stored_target_id(stored, target.as_ref());
                let was = config["targets"]
                    .as_array_mut()
                    .and_then(|ts| ts.iter_mut().find(|t| t["id"] == id));
                if let Some(was) = was {
                    set_urls(was, entry);
                }
            }
            MovedAs::Clarifier(strategy) => {
                let Some(is) = list(now, "strategies")
                    .iter()
                    .find(|s| s["name"] == *strategy)
                else {
                    continue;
                };
                let was = config["strategies"]
                    .as_array_mut()
                    .and_then(|ss| ss.iter_mut().find(|s| s["name"] == *strategy))
                    .and_then(|s| s["definition"]["steps"].as_array_mut());
                for (was, is) in was.into_iter().flatten().zip(steps(is)) {
                    let clarifier = &is["clarifier"];
                    if clarifier.is_object()
                        && was["clarifier"].is_object()
                        && clarifier["id"] == m.target.as_str()
                    {
                        set_urls(&mut was["clarifier"], clarifier);
                    }
                }
            }
            MovedAs::Judge(_) => {
                let urls = now["judge"]["served_at"][m.target.as_str()].clone();
                if config["judge"]["served_at"].is_object() {
                    config["judge"]["served_at"][m.target.as_str()] = urls;
                }
            }
        }
    }
    config
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
    /// Whether a local target of the run was recorded without the sha256
    /// of its model file (by an xsafe before local models were known by
    /// their content): this xsafe cannot tell whether the command's file
    /// is the one the run asked, and does not resume it.
    pub content: bool,
    /// The judge, when it is another (another name, or another version:
    /// for an `llm:` judge, another model or other settings of it, under
    /// the same name): the command's judge's tag (`name@version`), whose
    /// verdicts would be mixed with the run's. `None` when the judge is the
    /// run's.
    pub judge: Option<String>,
    /// Whether that judge is the run's by name, asking another model or
    /// the same model with other settings (an `llm:` judge, whose run
    /// records its models' settings with it, as the config's
    /// `judge.models`).
    pub judge_model: bool,
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

/// [`differences`] joined, the first [`SHOWN`] of them.
fn joined(list: &[Difference]) -> String {
    let mut text = list
        .iter()
        .take(SHOWN)
        .map(Difference::to_string)
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
        let Some(i) = stored_targets
            .iter()
            .position(|w| w["id"] == id)
            .or_else(|| {
                (0..stored_targets.len()).find(|&j| {
                    let w = &stored_targets[j];
                    !found[j] && !found_by_id(w, now) && same_file_before_content(w, entry)
                })
            })
        else {
            changes.settings = true;
            changes
                .list
                .push(format!("target `{}` is not in the run", target.id()));
            continue;
        };
        found[i] = true;
        if recorded_before_content(&stored_targets[i], entry) {
            changes.content = true;
            changes.list.push(format!(
                "target `{}`: the run knows its model file by the file's name and size only \
                 (`{}`, {} bytes), as an xsafe before local models were known by their content \
                 recorded it, so whether this command's file (sha256 {}) holds the weights the \
                 run asked cannot be told",
                target.id(),
                stored_targets[i]["settings"]["model"]
                    .as_str()
                    .unwrap_or_default(),
                shown(&stored_targets[i]["settings"]["model_size_bytes"]),
                entry["settings"][RunPlan::MODEL_SHA256]
                    .as_str()
                    .unwrap_or_default()
            ));
            continue;
        }
        let differ = differences(
            &keyed_entry("targets", entry)["settings"],
            &keyed_entry("targets", &stored_targets[i])["settings"],
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
        let differ = differences(
            &keyed_entry("strategies", strategy)["definition"],
            &keyed_entry("strategies", was)["definition"],
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
        if key == "judge" {
            changes.judge = a["name"]
                .as_str()
                .map(|name| format!("{name}@{}", a["version"].as_str().unwrap_or_default()));
        }
        let model = (key == "judge")
            .then(|| judge_change(&now["judge"], &stored["judge"]))
            .flatten();
        changes.judge_model |= model.is_some();
        changes.list.push(match key.as_str() {
            "judge" => {
                model.unwrap_or_else(|| format!("the judge is {}, was {}", judge(a), judge(b)))
            }
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

/// How the judge `now` (a config's `judge` entry) differs from `was`, the
/// stored run's, when both are one judge's name whose models' settings
/// were recorded (`models`, see [`RunPlan::judge_entry`]) and differ: an
/// `llm:` judge asking another model, or the same with other settings,
/// under the same name (`llm:NAME` of another targets file): ``the judge
/// `llm:grader` asks another model than the run's verdicts were given by:
/// model `judge-big`, was `judge` ``, each difference of each model (by
/// id) named. `None` otherwise (another judge, or a run an xsafe recorded
/// before it recorded the models): the judges' names and versions say it.
fn judge_change(now: &Value, was: &Value) -> Option<String> {
    let name = now["name"].as_str()?;
    if now["name"] != was["name"] {
        return None;
    }
    let (models, before) = (now["models"].as_object()?, was["models"].as_object()?);
    let mut said = Vec::new();
    for (id, settings) in models {
        let stored = match before.get(id) {
            Some(stored) => stored,
            // One model under another id: the same judge's model.
            None if before.len() == 1 && models.len() == 1 => {
                before.values().next().expect("one model")
            }
            None => {
                said.push(format!("`{id}` is not among its models"));
                continue;
            }
        };
        let differ = differences(settings, stored);
        if differ.is_empty() {
            continue;
        }
        said.push(match models.len() {
            1 => joined(&differ),
            _ => format!("`{id}`: {}", joined(&differ)),
        });
    }
    if said.is_empty() {
        return None;
    }
    let what = if said.iter().any(|s| s.contains("model ")) {
        "another model"
    } else {
        "its model with other settings"
    };
    Some(format!(
        "the judge `{name}` asks {what} than the run's verdicts were given by: {}",
        said.join("; ")
    ))
}

/// Whether `was`, a target of a stored run's config, is a local model
/// recorded without the sha256 of its file ([`RunPlan::MODEL_SHA256`]),
/// where `now`, the command's entry, has it.
fn recorded_before_content(was: &Value, now: &Value) -> bool {
    was["settings"]["backend"] == "local"
        && was["settings"][RunPlan::MODEL_SHA256].is_null()
        && now["settings"][RunPlan::MODEL_SHA256].is_string()
}

/// Whether `was`, recorded before local models were known by their content
/// ([`recorded_before_content`]), is the target `now` as that run's key
/// read it: a model file of the same name and size (under another name,
/// such as `local:default` for `local:NAME`).
fn same_file_before_content(was: &Value, now: &Value) -> bool {
    let (w, n) = (&was["settings"], &now["settings"]);
    recorded_before_content(was, now)
        && w["model"].is_string()
        && w["model"] == n["model"]
        && w["model_size_bytes"] == n["model_size_bytes"]
}

/// Whether `was`, a target of a stored run's config, is found by the id of
/// a target of `now`, the command's config.
fn found_by_id(was: &Value, now: &Value) -> bool {
    list(now, "targets").iter().any(|t| t["id"] == was["id"])
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
        restore.push(match changes.judge_model {
            true if changes.list.len() == 1 => {
                "give the judge it was made with (the same model and settings: its verdicts \
                 and this judge's would be mixed in one run)"
            }
            _ => "give the settings it was made with",
        });
    }
    let new = if named {
        "pass a new --run name"
    } else {
        "pass --run NAME with a new name"
    };
    let resume = if changes.sampling {
        format!("This xsafe cannot resume run `{name}` with this --limit")
    } else if changes.content {
        format!(
            "This xsafe cannot resume run `{name}`: it knows a local model by the sha256 of its \
             file, which the run did not record (two files of one name and size may hold other \
             weights)"
        )
    } else {
        format!("To resume run `{name}`, {}", restore.join(" and "))
    };
    // The run's answers with this judge's verdicts: what `rejudge` gives.
    let command = changes
        .judge
        .as_deref()
        .filter(|_| changes.list.len() == 1)
        .and_then(|tag| {
            let judge = tag.rsplit_once('@').map_or(tag, |(name, _)| name);
            xsafe_judge::rejudge_command(name, judge, [tag])
        });
    let rejudge = match command {
        Some(command) => format!(
            "; to judge the run's stored answers with this judge instead, `{command}` with \
             this command's judge settings"
        ),
        None => String::new(),
    };
    format!(
        "run `{name}` already exists with other settings: {}. {resume}; for a run of these \
         settings, {new}{rejudge}",
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
         serve another model (a proxy such as `xsafe serve` in front of it), whose {} must \
         not be mixed with the stored ones, so nothing was asked. For a run at the new URL, \
         {new}; if it serves the same model (the server moved), pass --server-moved to resume \
         run `{name}` there",
        moved_list(moved),
        Moved::what_mixes(moved)
    )
}

/// What the runner says of the models run `run` was recorded at other base
/// URLs for but never got an answer from there ([`Event::Relocated`]):
/// that this is no move, and that the run goes on at the new URLs, which
/// its record holds from now on.
///
/// [`Event::Relocated`]: crate::Event::Relocated
pub fn relocated_note(run: &str, relocated: &[Moved]) -> String {
    let none = if relocated
        .iter()
        .any(|m| matches!(m.role, MovedAs::Judge(_)))
    {
        "no answer or verdict"
    } else {
        "no answer"
    };
    format!(
        "run `{run}` was recorded at other base URLs than this command's, but got {none} from \
         there (only failed requests, or none): {}. So this is no move: it goes on at the new \
         base URLs, which its record holds from now on",
        moved_list(relocated)
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
