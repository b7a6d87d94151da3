//! `xsafe tune`: choose a strategy for one target and write a profile.
//!
//! The suite is split, seeded and stratified by type and label, into a
//! calibration part that chooses and a held-out part that checks the choice.
//! Both parts are ordinary suites (`NAME~calibration`, `NAME~heldout`) run
//! by the ordinary runner, so they are stored, and the same command again
//! resumes them without asking the model anything twice.
//!
//! The rule, on the calibration part: a strategy is *kept* when its unsafe
//! refusal rate is at least baseline's minus `--margin`; of the kept ones,
//! the one with the lowest safe refusal rate is chosen; ties go to the one
//! with fewer steps, then to the first by name. Baseline is a candidate like
//! any other, so "nothing beats baseline" is a possible answer.
//!
//! Rates are over scored answers, as the run summary counts them: the safe
//! refusal rate is the share of scored safe answers judged a full or partial
//! refusal; the unsafe refusal rate is the share of scored unsafe answers
//! judged a full or partial refusal, that is 1 − the summary's unsafe
//! compliance rate (a scored answer is compliance, full refusal or partial
//! refusal). Unscored answers and errors are counted apart and count in
//! neither rate.

use crate::cli::{Global, TuneArgs};
use crate::commands::print_json;
use crate::table;
use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use xsafe_core::{Case, Label, Strategy, Suite, TOOL_VERSION, stratified_sample};
use xsafe_runner::{GroupSummary, RunOutcome, RunPlan};
use xsafe_store::Store;
use xsafe_strategy::Registry;

/// The compositions tried by default besides the built-in strategies.
const DEFAULT_COMPOSITIONS: &[&str] = &["contextual+few-shot", "contextual+interactive"];

/// Rates within this of the floor count as at the floor, so that a margin
/// written in decimal (0.2) keeps a strategy exactly that far below baseline
/// despite binary rounding.
const EPSILON: f64 = 1e-9;

pub async fn run(global: &Global, args: TuneArgs) -> Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.margin) {
        bail!("--margin {}: give a rate between 0 and 1", args.margin);
    }
    if !(args.calibration > 0.0 && args.calibration < 1.0) {
        bail!(
            "--calibration {}: give a share between 0 and 1 (exclusive), e.g. 0.5",
            args.calibration
        );
    }
    if args.samples == 0 {
        bail!("--samples must be at least 1");
    }
    if args.limit == Some(0) {
        bail!("--limit must be at least 1");
    }
    if args.suite.contains(',') {
        bail!(
            "--suite `{}`: tune takes one suite (tune on each separately)",
            args.suite
        );
    }
    let [target_spec] = args.target.target.as_slice() else {
        bail!(
            "--target: tune takes one target, got {} ({}); tune each separately",
            args.target.target.len(),
            args.target.target.join(", ")
        );
    };

    let cache = global.cache_dir()?;
    let load = args.suite_file.load_options()?;
    let suite = xsafe_suite::resolve(args.suite.trim(), &cache, &load)?;
    let (calibration, heldout) = split(&suite, args.calibration, args.seed, args.limit);
    for part in [&calibration, &heldout] {
        for label in [Label::Safe, Label::Unsafe] {
            if part.count(label) == 0 {
                bail!(
                    "the {} part of suite `{}` has no {label} prompts ({} safe, {} unsafe in the \
                     suite, --calibration {}): tuning compares refusals on safe and unsafe \
                     prompts, so both parts need both; use a suite with more of them or another \
                     --calibration share",
                    part_word(part),
                    suite.name,
                    suite.count(Label::Safe),
                    suite.count(Label::Unsafe),
                    args.calibration
                );
            }
        }
    }

    let target = {
        let mut targets = tokio::task::block_in_place(|| args.target.build(&cache))?;
        targets
            .pop()
            .ok_or_else(|| anyhow!("--target `{target_spec}`: nothing built"))?
    };
    let strategies = build_strategies(&args, &cache)?;
    // A few-shot exemplar that is a case of the suite would leak into the
    // figures: check against the whole suite before asking anything, not
    // only against the part a run is about to send.
    let prompts: Vec<_> = suite.cases.iter().map(Case::to_prompt).collect();
    for s in &strategies {
        s.check(&prompts).map_err(|e| {
            anyhow!(
                "strategy `{}`: {e} (tuning checks against the whole suite; leave the \
                     strategy out with --strategies)",
                s.name()
            )
        })?;
    }
    let judge = args
        .judge
        .build(args.target.targets.as_deref(), &cache)?
        .judge;
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_output(target.id())));

    let cancel = super::cancel_on_ctrl_c();

    let plan = |suite: &Suite, strategies: Vec<Arc<dyn Strategy>>| RunPlan {
        suites: vec![suite.clone()],
        targets: vec![target.clone()],
        strategies,
        judge: judge.clone(),
        samples: args.samples,
        seed: args.seed,
        limit: None,
        types: Vec::new(),
        name: None,
    };

    // 1. Every strategy on the calibration part.
    let cal_plan = plan(&calibration, strategies.clone());
    if args.dry_run {
        let store = super::run::dry_run_store(global)?;
        let preview = xsafe_runner::preview(store, &cal_plan).await?;
        let heldout_at_most = 2 * heldout.cases.len() as u64 * u64::from(args.samples);
        if args.json {
            print_json(&serde_json::json!({
                "calibration": preview,
                "heldout_cases": heldout.cases.len(),
                "heldout_conversations_at_most": heldout_at_most,
                "output": output.display().to_string(),
            }))?;
        } else {
            out!("calibration: {}", super::run::render_preview(&preview));
            outln!(
                "held-out: {} after the calibration, at most {heldout_at_most} conversations \
                 (baseline and the strategy chosen); the profile would go to {}",
                super::count(heldout.cases.len() as u64, "case"),
                output.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let store = global.open_store()?;
    super::check_writable(&output)?;
    let cal = execute(&store, &cal_plan, &cancel, global.quiet, "calibration").await?;
    if cancel.is_cancelled() {
        return Ok(ExitCode::from(130));
    }
    if let Some(code) = incomplete("calibration", &cal) {
        return Ok(code);
    }
    let cal_figures = figures(&cal, &strategies);
    let decision = choose(&cal_figures, args.margin)?;
    let chosen = strategies[decision.chosen].clone();

    // 2. The choice and baseline on the held-out part.
    let mut check = vec![chosen.clone()];
    if chosen.name() != BASELINE {
        check.push(strategies[0].clone());
    }
    let held_plan = plan(&heldout, check.clone());
    let held = execute(&store, &held_plan, &cancel, global.quiet, "held-out").await?;
    if cancel.is_cancelled() {
        return Ok(ExitCode::from(130));
    }
    if let Some(code) = incomplete("held-out", &held) {
        return Ok(code);
    }
    let held_figures = figures(&held, &check);

    let profile = Profile {
        profile: Header {
            created: xsafe_store::now_rfc3339(),
            xsafe_version: TOOL_VERSION.to_string(),
            target: target.id().to_string(),
            judge: judge.tag(),
            suite: suite.name.clone(),
            suite_source: suite.source.clone(),
            suite_fingerprint: suite.fingerprint(),
            seed: args.seed,
            margin: args.margin,
            calibration_share: args.calibration,
            samples: args.samples,
            limit: args.limit,
            target_settings: xsafe_strategy::json_to_toml(&redact(target.settings()))
                .unwrap_or_else(|| toml::Value::Table(toml::Table::new())),
        },
        choice: Choice {
            strategy: chosen.name().to_string(),
            baseline_is_best: chosen.name() == BASELINE,
            steps: steps(chosen.as_ref()),
            unsafe_refusal_floor: decision.floor,
            definition: xsafe_strategy::json_to_toml(&redact(chosen.definition()))
                .unwrap_or_else(|| toml::Value::Table(toml::Table::new())),
        },
        calibration: part_report(&calibration, &cal, &cal_figures),
        heldout: part_report(&heldout, &held, &held_figures),
        candidates: decision.candidates,
    };
    let text = toml::to_string(&profile).context("writing the profile as TOML")?;
    super::write_atomically(
        &output,
        format!(
            "# xsafe tune profile: the strategy chosen for one target; see `xsafe tune --help`.\n{text}"
        )
        .as_bytes(),
    )?;

    if args.json {
        print_json(&JsonReport {
            output: output.display().to_string(),
            profile: &profile,
        })?;
    } else {
        out!("{}", render(&profile, &output));
    }
    Ok(ExitCode::SUCCESS)
}

const BASELINE: &str = "baseline";

fn part_word(part: &Suite) -> &'static str {
    if part.name.ends_with("~calibration") {
        "calibration"
    } else {
        "held-out"
    }
}

/// Splits a suite into its calibration and held-out parts: a seeded sample
/// stratified by (type, label) of `share` of the cases, and the rest; then
/// `limit` caps each part with a stratified sample of the same seed.
pub(crate) fn split(suite: &Suite, share: f64, seed: u64, limit: Option<usize>) -> (Suite, Suite) {
    let keys: Vec<(String, Label)> = suite
        .cases
        .iter()
        .map(|c| (c.kind.clone(), c.label))
        .collect();
    let n = (suite.cases.len() as f64 * share).round() as usize;
    let picked: HashSet<usize> = stratified_sample(&keys, n, seed).into_iter().collect();
    let (mut cal, mut held) = (Vec::new(), Vec::new());
    for (i, case) in suite.cases.iter().enumerate() {
        if picked.contains(&i) {
            cal.push(case.clone());
        } else {
            held.push(case.clone());
        }
    }
    let part = |name: &str, cases: Vec<Case>| {
        let cases = match limit {
            Some(n) => {
                let keys: Vec<(String, Label)> =
                    cases.iter().map(|c| (c.kind.clone(), c.label)).collect();
                stratified_sample(&keys, n, seed)
                    .into_iter()
                    .map(|i| cases[i].clone())
                    .collect()
            }
            None => cases,
        };
        Suite {
            name: format!("{}~{name}", suite.name),
            source: suite.source.clone(),
            cases,
        }
    };
    (part("calibration", cal), part("heldout", held))
}

/// The strategies to compare, baseline first: `--strategies`, or every
/// built-in strategy, the default compositions and every strategy of the
/// files. `--clarifier` goes to those with an interactive step only.
fn build_strategies(args: &TuneArgs, cache_dir: &Path) -> Result<Vec<Arc<dyn Strategy>>> {
    let sa = &args.strategies;
    let mut registry = Registry::builtin();
    let mut from_files = Vec::new();
    for f in &sa.strategy_files {
        from_files.push(registry.add_file(f)?);
    }
    let mut names: Vec<String> = vec![BASELINE.to_string()];
    if sa.strategy.is_empty() {
        names.extend(xsafe_strategy::STRATEGIES.iter().map(|s| s.to_string()));
        names.extend(DEFAULT_COMPOSITIONS.iter().map(|s| s.to_string()));
        names.extend(from_files);
    } else {
        names.extend(sa.strategy.iter().cloned());
    }

    let options = sa.build_options(&args.target, cache_dir)?;

    let mut seen = HashSet::new();
    let mut built: Vec<Arc<dyn Strategy>> = Vec::new();
    let mut any_interactive = false;
    for name in &names {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let s = match registry.build(name, &options) {
            Ok(s) => s,
            // Comparing everything built in should not fail for want of an
            // optional encoder; a strategy named with --strategies must.
            Err(e @ xsafe_strategy::SpecError::Unavailable { .. }) if sa.strategy.is_empty() => {
                note!("tune: leaving out `{name}`: {e}");
                continue;
            }
            Err(e) => return Err(anyhow::Error::from(e).context(format!("--strategies `{name}`"))),
        };
        any_interactive |= s.is_interactive();
        if seen.insert(s.name().to_string()) {
            built.push(Arc::new(s));
        }
    }
    crate::strategies::check_clarifier(&options, any_interactive)?;
    Ok(built)
}

/// How many steps a strategy has (baseline none, `contextual+few-shot`
/// two), as its definition lists them; by its name's `+` when the
/// definition does not say.
fn steps(s: &dyn Strategy) -> usize {
    match s.definition()["steps"].as_array() {
        Some(steps) => steps.len(),
        None if s.name() == BASELINE => 0,
        None => s.name().split('+').count(),
    }
}

async fn execute(
    store: &Arc<Store>,
    plan: &RunPlan,
    cancel: &CancellationToken,
    quiet: bool,
    part: &'static str,
) -> Result<RunOutcome> {
    super::execute_with_progress(store.clone(), plan, cancel, quiet, move |name| {
        format!("{part} {name}")
    })
    .await
    .with_context(|| format!("the {part} run stopped"))
}

/// Figures with errors are incomplete: say so and exit 2, writing nothing.
fn incomplete(part: &str, o: &RunOutcome) -> Option<ExitCode> {
    if o.errors == 0 && o.done >= o.total {
        return None;
    }
    if o.errors == 0 {
        eprintln!(
            "error: only {} of {} results of the {part} run {} (id {}) are stored; no profile was \
             written. Run the same command again to finish it.",
            o.done, o.total, o.run_name, o.run_id
        );
        return Some(ExitCode::from(2));
    }
    let which: Vec<String> = o
        .groups
        .iter()
        .filter(|g| g.errors > 0)
        .map(|g| format!("{} {}", g.strategy, g.errors))
        .collect();
    eprintln!(
        "error: {} of {} results of the {part} run {} (id {}) failed ({}); no profile was \
         written, since a choice from incomplete figures could be wrong. See `xsafe runs show {}`; \
         run the same command again to retry them (stored answers are not asked again).",
        o.errors,
        o.total,
        o.run_name,
        o.run_id,
        which.join(", "),
        o.run_name
    );
    Some(ExitCode::from(2))
}

/// One strategy's figures on one part.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Figures {
    /// Scored safe answers.
    pub safe: u64,
    /// Of them, full or partial refusals.
    pub safe_refused: u64,
    /// `safe_refused / safe`; absent when there are no scored safe answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe_refusal_rate: Option<f64>,
    /// Scored unsafe answers.
    #[serde(rename = "unsafe")]
    pub unsafe_: u64,
    /// Of them, full or partial refusals (every scored one that is not
    /// compliance).
    pub unsafe_refused: u64,
    /// `unsafe_refused / unsafe`; absent when there are no scored unsafe
    /// answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsafe_refusal_rate: Option<f64>,
    pub unscored: u64,
    pub errors: u64,
}

impl Figures {
    fn from_group(g: &GroupSummary) -> Figures {
        let unsafe_refused = g.unsafe_ - g.unsafe_complied;
        Figures {
            safe: g.safe,
            safe_refused: g.safe_refused,
            safe_refusal_rate: rate(g.safe_refused, g.safe),
            unsafe_: g.unsafe_,
            unsafe_refused,
            unsafe_refusal_rate: rate(unsafe_refused, g.unsafe_),
            unscored: g.unscored,
            errors: g.errors,
        }
    }
}

fn rate(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

/// Each strategy's figures, in the strategies' order.
fn figures(o: &RunOutcome, strategies: &[Arc<dyn Strategy>]) -> Vec<(String, usize, Figures)> {
    strategies
        .iter()
        .map(|s| {
            let f = o
                .groups
                .iter()
                .find(|g| g.strategy == s.name())
                .map(Figures::from_group)
                .unwrap_or_default();
            (s.name().to_string(), steps(s.as_ref()), f)
        })
        .collect()
}

/// Why a strategy was kept or excluded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Candidate {
    pub strategy: String,
    pub steps: usize,
    pub kept: bool,
    pub chosen: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safe_refusal_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsafe_refusal_rate: Option<f64>,
    pub reason: String,
}

#[derive(Debug)]
pub(crate) struct Decision {
    /// Index of the chosen strategy in the figures.
    pub chosen: usize,
    /// Baseline's unsafe refusal rate minus the margin.
    pub floor: f64,
    /// The chosen first, then the other kept ones in the order of the
    /// rule, then the excluded ones in the order given.
    pub candidates: Vec<Candidate>,
}

fn pct(r: f64) -> String {
    format!("{:.1}%", 100.0 * r)
}

/// Applies the rule to the calibration figures (`(name, steps, figures)`,
/// baseline among them).
pub(crate) fn choose(figures: &[(String, usize, Figures)], margin: f64) -> Result<Decision> {
    let (_, _, base) = figures
        .iter()
        .find(|(name, _, _)| name == BASELINE)
        .ok_or_else(|| anyhow!("internal error: baseline is not among the strategies"))?;
    if base.safe_refusal_rate.is_none() {
        bail!(
            "the calibration part has no scored safe answers under baseline ({} unscored): \
             nothing to compare with; use a larger --calibration share or suite, or another judge",
            base.unscored
        );
    }
    let Some(base_unsafe) = base.unsafe_refusal_rate else {
        bail!(
            "the calibration part has no scored unsafe answers under baseline ({} unscored): the \
             margin cannot be checked; use a larger --calibration share or suite, or another judge",
            base.unscored
        );
    };
    let floor = (base_unsafe - margin).max(0.0);

    let mut kept = Vec::new();
    let mut excluded = Vec::new();
    for (i, (_, _, f)) in figures.iter().enumerate() {
        let reason = match (f.safe_refusal_rate, f.unsafe_refusal_rate) {
            (None, _) => Some(format!("no scored safe answers ({} unscored)", f.unscored)),
            (_, None) => Some(format!(
                "no scored unsafe answers ({} unscored)",
                f.unscored
            )),
            (_, Some(u)) if u < floor - EPSILON => Some(format!(
                "unsafe refusal rate {} is below the floor {} (baseline's {} minus the margin {})",
                pct(u),
                pct(floor),
                pct(base_unsafe),
                pct(margin)
            )),
            _ => None,
        };
        match reason {
            Some(r) => excluded.push((i, r)),
            None => kept.push(i),
        }
    }
    // Exact comparison of k1/n1 and k2/n2 by cross-multiplication: equal
    // rates tie whatever their denominators.
    let by_safe_rate = |a: &Figures, b: &Figures| {
        (a.safe_refused as u128 * b.safe as u128).cmp(&(b.safe_refused as u128 * a.safe as u128))
    };
    kept.sort_by(|&a, &b| {
        let (na, sa, fa) = &figures[a];
        let (nb, sb, fb) = &figures[b];
        by_safe_rate(fa, fb).then(sa.cmp(sb)).then(na.cmp(nb))
    });
    // Baseline is always kept (it is at its own floor), so `kept` is not
    // empty.
    let chosen = *kept
        .first()
        .ok_or_else(|| anyhow!("internal error: no strategy kept"))?;
    let (cn, cs, cf) = &figures[chosen];
    let cand = |i: usize, kept: bool, reason: String| {
        let (name, steps, f) = &figures[i];
        Candidate {
            strategy: name.clone(),
            steps: *steps,
            kept,
            chosen: i == chosen,
            safe_refusal_rate: f.safe_refusal_rate,
            unsafe_refusal_rate: f.unsafe_refusal_rate,
            reason,
        }
    };
    let mut candidates = Vec::new();
    let unsafe_note = |f: &Figures| {
        format!(
            "unsafe refusal rate {} at or above the floor {}",
            pct(f.unsafe_refusal_rate.unwrap_or_default()),
            pct(floor)
        )
    };
    let tie_with_chosen = |i: usize| by_safe_rate(&figures[i].2, cf) == Ordering::Equal;
    let chosen_reason = {
        let tied: Vec<usize> = kept
            .iter()
            .copied()
            .filter(|&i| i != chosen && tie_with_chosen(i))
            .collect();
        let mut r = format!(
            "chosen: the lowest safe refusal rate ({}) of the kept strategies; {}",
            pct(cf.safe_refusal_rate.unwrap_or_default()),
            unsafe_note(cf)
        );
        if !tied.is_empty() {
            let names: Vec<&str> = tied.iter().map(|&i| figures[i].0.as_str()).collect();
            let fewer = tied.iter().all(|&i| figures[i].1 > *cs);
            r.push_str(&format!(
                "; ties with {} on it and wins by {}",
                names.join(", "),
                if fewer {
                    "fewer steps"
                } else {
                    "fewer steps, then by name"
                }
            ));
        }
        r
    };
    candidates.push(cand(chosen, true, chosen_reason));
    for &i in kept.iter().skip(1) {
        let (name, steps, f) = &figures[i];
        let reason = if tie_with_chosen(i) {
            if steps > cs {
                format!("kept, not chosen: ties with {cn} on safe refusal rate, with more steps")
            } else {
                format!(
                    "kept, not chosen: ties with {cn} on safe refusal rate and steps; {cn} comes \
                     first by name ({name} > {cn})"
                )
            }
        } else {
            format!(
                "kept, not chosen: safe refusal rate {} is above {}'s {}; {}",
                pct(f.safe_refusal_rate.unwrap_or_default()),
                cn,
                pct(cf.safe_refusal_rate.unwrap_or_default()),
                unsafe_note(f)
            )
        };
        candidates.push(cand(i, true, reason));
    }
    for (i, r) in excluded {
        candidates.push(cand(i, false, format!("excluded: {r}")));
    }
    Ok(Decision {
        chosen,
        floor,
        candidates,
    })
}

#[derive(Debug, Serialize)]
struct Profile {
    profile: Header,
    choice: Choice,
    calibration: PartReport,
    heldout: PartReport,
    candidates: Vec<Candidate>,
}

#[derive(Debug, Serialize)]
struct Header {
    created: String,
    xsafe_version: String,
    target: String,
    judge: String,
    suite: String,
    suite_source: String,
    suite_fingerprint: String,
    seed: u64,
    margin: f64,
    calibration_share: f64,
    samples: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<usize>,
    target_settings: toml::Value,
}

#[derive(Debug, Serialize)]
struct Choice {
    strategy: String,
    baseline_is_best: bool,
    steps: usize,
    unsafe_refusal_floor: f64,
    definition: toml::Value,
}

#[derive(Debug, Serialize)]
struct PartReport {
    suite: String,
    fingerprint: String,
    cases: usize,
    safe_cases: usize,
    unsafe_cases: usize,
    run_id: i64,
    run_name: String,
    strategies: BTreeMap<String, Figures>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    output: String,
    #[serde(flatten)]
    profile: &'a Profile,
}

fn part_report(part: &Suite, o: &RunOutcome, figures: &[(String, usize, Figures)]) -> PartReport {
    PartReport {
        suite: part.name.clone(),
        fingerprint: part.fingerprint(),
        cases: part.cases.len(),
        safe_cases: part.count(Label::Safe),
        unsafe_cases: part.count(Label::Unsafe),
        run_id: o.run_id,
        run_name: o.run_name.clone(),
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
                *s = strip_userinfo(s);
            }
            _ => {}
        }
    }
    walk(&mut v, None);
    v
}

fn strip_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://<redacted>@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// `profile-TARGET.toml`, with the characters a file name should not hold
/// (`:` and `/` of `openai:MODEL`, `local:PATH`) as `-`.
fn default_output(target: &str) -> String {
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

fn render(p: &Profile, output: &Path) -> String {
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
    let frac = |k: u64, n: u64| {
        if n == 0 {
            "-".to_string()
        } else {
            format!("{k}/{n} ({})", pct(k as f64 / n as f64))
        }
    };
    let row = |name: &str, f: &Figures| {
        vec![
            name.to_string(),
            frac(f.safe_refused, f.safe),
            frac(f.unsafe_refused, f.unsafe_),
            f.unscored.to_string(),
            f.errors.to_string(),
        ]
    };
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(safe_refused: u64, safe: u64, unsafe_refused: u64, unsafe_: u64) -> Figures {
        Figures {
            safe,
            safe_refused,
            safe_refusal_rate: rate(safe_refused, safe),
            unsafe_,
            unsafe_refused,
            unsafe_refusal_rate: rate(unsafe_refused, unsafe_),
            unscored: 0,
            errors: 0,
        }
    }

    fn names(d: &Decision, figures: &[(String, usize, Figures)]) -> (String, Vec<bool>) {
        (
            figures[d.chosen].0.clone(),
            d.candidates.iter().map(|c| c.kept).collect(),
        )
    }

    #[test]
    fn lowest_safe_refusal_within_the_margin_wins() {
        let figures = vec![
            ("baseline".to_string(), 0, f(10, 10, 10, 10)),
            ("contextual".to_string(), 1, f(0, 10, 0, 10)),
            ("few-shot".to_string(), 1, f(2, 10, 10, 10)),
            ("interactive".to_string(), 1, f(5, 10, 10, 10)),
        ];
        let d = choose(&figures, 0.02).unwrap();
        assert_eq!(figures[d.chosen].0, "few-shot");
        let order: Vec<&str> = d.candidates.iter().map(|c| c.strategy.as_str()).collect();
        assert_eq!(order, ["few-shot", "interactive", "baseline", "contextual"]);
        assert!(!d.candidates[3].kept);
        assert!(d.candidates[3].reason.contains("below the floor 98.0%"));
    }

    #[test]
    fn exactly_at_the_margin_is_kept_and_just_below_is_not() {
        // 4/5 = 0.8 = 1 - 0.2, which binary floating point does not hit
        // exactly.
        let figures = vec![
            ("baseline".to_string(), 0, f(5, 5, 5, 5)),
            ("contextual".to_string(), 1, f(0, 5, 4, 5)),
        ];
        let d = choose(&figures, 0.2).unwrap();
        assert_eq!(names(&d, &figures), ("contextual".into(), vec![true, true]));
        let d = choose(&figures, 0.19).unwrap();
        assert_eq!(names(&d, &figures), ("baseline".into(), vec![true, false]));
        for margin in [0.1, 0.3, 0.7] {
            // 7/10 = 1 - 0.3 and similar decimal rates.
            let figures = vec![
                ("baseline".to_string(), 0, f(10, 10, 10, 10)),
                (
                    "x".to_string(),
                    1,
                    f(0, 10, (10.0_f64 * (1.0 - margin)).round() as u64, 10),
                ),
            ];
            assert_eq!(figures[choose(&figures, margin).unwrap().chosen].0, "x");
        }
    }

    #[test]
    fn ties_go_to_fewer_steps_then_name() {
        let figures = vec![
            ("baseline".to_string(), 0, f(3, 3, 3, 3)),
            ("contextual+few-shot".to_string(), 2, f(1, 6, 3, 3)),
            ("zeta".to_string(), 1, f(2, 12, 3, 3)),
            ("alpha".to_string(), 1, f(1, 6, 3, 3)),
        ];
        let d = choose(&figures, 0.0).unwrap();
        assert_eq!(figures[d.chosen].0, "alpha");
        let order: Vec<&str> = d.candidates.iter().map(|c| c.strategy.as_str()).collect();
        assert_eq!(order, ["alpha", "zeta", "contextual+few-shot", "baseline"]);
        assert!(d.candidates[1].reason.contains("by name"));
        assert!(d.candidates[2].reason.contains("more steps"));
    }

    #[test]
    fn baseline_can_be_best_and_needs_scored_answers() {
        let figures = vec![
            ("baseline".to_string(), 0, f(1, 10, 10, 10)),
            ("few-shot".to_string(), 1, f(1, 10, 9, 10)),
        ];
        let d = choose(&figures, 0.5).unwrap();
        assert_eq!(figures[d.chosen].0, "baseline");
        let none = vec![("baseline".to_string(), 0, f(1, 10, 0, 0))];
        let err = choose(&none, 0.02).unwrap_err().to_string();
        assert!(err.contains("no scored unsafe answers"), "{err}");
    }

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
