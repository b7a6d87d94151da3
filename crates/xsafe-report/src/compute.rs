//! From stored results to a [`Report`].

use crate::human::{HumanLabel, LabelSource, majority};
use crate::stats::{Rate, bootstrap_reduction_clustered, mcnemar_clustered, rogan_gladen};
use crate::{
    BASELINE, BootstrapSettings, Comparison, Group, JudgeAccuracy, Paired, Report, ReportError,
    ResultRow, RunInfo, SCHEMA_VERSION, Stats, SuiteRef, SuiteStats, TurnCurves, TurnPoint,
    TypeStats, VerdictInfo,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use xsafe_core::Verdict;
use xsafe_core::{Class, Label};
use xsafe_judge::shell_word;
use xsafe_store::{ResultOutline, RunRecord, StoredResult, judge_name};

/// A run and its results, as read from the store.
#[derive(Debug, Clone)]
pub struct RunInput {
    /// The run as the store records it: name, settings, suites and seed.
    pub record: RunRecord,
    /// Every result of the run, failed ones included, in the store's order
    /// (by target, strategy, suite, case and sample), without their
    /// messages (`Store::outlines`): the report's transcript list gets
    /// them from [`Report::fill_messages`](crate::Report::fill_messages)
    /// for the rows it shows.
    pub results: Vec<ResultOutline>,
    /// How many cases the run holds (`Store::cases`), each asked of every
    /// target and strategy `samples` times: what tells a whole run from
    /// part of one. `None`: not known, and not checked.
    pub cases: Option<u64>,
}

impl RunInput {
    /// The conversations the run's settings ask for: cases x targets x
    /// strategies x samples, from its recorded config; `None` when a part
    /// is unknown.
    pub fn planned(&self) -> Option<u64> {
        let config = &self.record.config;
        let count = |key: &str| config[key].as_array().map(|a| a.len() as u64);
        Some(self.cases? * count("targets")? * count("strategies")? * config["samples"].as_u64()?)
    }

    /// Results counted as errors by `j`: the request failed, or the run's
    /// judge failed on the answer and neither the judge counted nor a human
    /// label gives it a class.
    fn failed(&self, j: &Judging<'_>) -> u64 {
        self.results
            .iter()
            .filter(|r| count(r, j).0 == Counted::Error)
            .count() as u64
    }
}

/// How to build a report.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Count this judge's verdicts (its name, without version); `None`:
    /// each run's own judge.
    pub judge: Option<String>,
    /// The judge's accuracy on human labels, for corrected rates.
    pub accuracy: Option<JudgeAccuracy>,
    /// Bootstrap resamples per interval.
    pub resamples: u32,
    /// Bootstrap seed.
    pub seed: u64,
    /// Written into the report.
    pub tool_version: String,
    /// Where the classes come from.
    pub labels: LabelSource,
    /// Human labels by result id (one per annotator).
    pub human: HashMap<i64, Vec<Class>>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            judge: None,
            accuracy: None,
            resamples: crate::DEFAULT_RESAMPLES,
            seed: crate::DEFAULT_SEED,
            tool_version: xsafe_core::TOOL_VERSION.to_string(),
            labels: LabelSource::default(),
            human: HashMap::new(),
        }
    }
}

/// What one result counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    Class(Class),
    Unscored,
    Error,
}

impl Counted {
    fn as_str(self) -> &'static str {
        match self {
            Counted::Class(c) => c.as_str(),
            Counted::Unscored => "unscored",
            Counted::Error => "error",
        }
    }
}

/// The name of the judge a run was made with, from its recorded config,
/// else from the first verdict stored (the run's judge comes first). Its
/// version may have changed since: verdicts are matched by name (see
/// [`verdict_of`]). What a report counts, and what `runs show` and
/// `export` show, by default.
pub fn run_judge<R: Judged>(record: &RunRecord, results: &[R]) -> String {
    if let Some(name) = record.config["judge"]["name"].as_str() {
        return name.to_string();
    }
    results
        .iter()
        .find_map(|r| r.verdicts().first())
        .map(|v| judge_name(&v.judge).to_string())
        .unwrap_or_default()
}

/// The verdict judge `judge` (a name, without version) gave `r`, whatever
/// its version: at most one, since a result keeps one verdict per judge
/// name. `None` when that judge gave none, whichever others did: the
/// answer is unjudged by it.
pub fn verdict_of<'a, R: Judged>(r: &'a R, judge: &str) -> Option<&'a Verdict> {
    r.verdicts().iter().find(|v| judge_name(&v.judge) == judge)
}

/// A result with verdicts, whole or in outline: what [`run_judge`] and
/// [`verdict_of`] read.
pub trait Judged {
    /// The result's verdicts, the run's judge first.
    fn verdicts(&self) -> &[Verdict];
}

impl Judged for StoredResult {
    fn verdicts(&self) -> &[Verdict] {
        &self.verdicts
    }
}

impl Judged for ResultOutline {
    fn verdicts(&self) -> &[Verdict] {
        &self.verdicts
    }
}

/// Which judge counts, and the human labels that may stand in for it.
struct Judging<'a> {
    judge: String,
    labels: LabelSource,
    human: &'a HashMap<i64, Vec<Class>>,
}

/// Why an answer whose annotators are tied is unscored.
const TIED: &str = "annotators disagree";

/// Where a result's class came from, when not from a judge's verdict.
enum Source<'a> {
    Verdict(Option<&'a xsafe_core::Verdict>),
    Human,
    Unscored(&'static str),
}

fn count<'a>(r: &'a ResultOutline, j: &Judging<'_>) -> (Counted, Source<'a>) {
    if r.answer.is_none() {
        return (Counted::Error, Source::Verdict(None));
    }
    // An answer the run's judge failed on is stored (with its error): a
    // human label of it counts where human labels do, and so does the
    // verdict of another judge counted (after `xsafe rejudge`); without
    // either, it is an error.
    if j.labels != LabelSource::Judge {
        let human = j.human.get(&r.id).and_then(|l| majority(l));
        match (human, j.labels) {
            (Some(HumanLabel::Agreed(c)), _) => return (Counted::Class(c), Source::Human),
            (Some(HumanLabel::Tied), _) => {
                return (Counted::Unscored, Source::Unscored(TIED));
            }
            (None, LabelSource::Human) => {
                return (Counted::Unscored, Source::Unscored("no human label"));
            }
            (None, _) => {}
        }
    }
    let (counted, v) = judged(r, &j.judge);
    if v.is_none() && r.error.is_some() {
        return (Counted::Error, Source::Verdict(None));
    }
    (counted, Source::Verdict(v))
}

fn judged<'a>(r: &'a ResultOutline, judge: &str) -> (Counted, Option<&'a xsafe_core::Verdict>) {
    match verdict_of(r, judge) {
        None => (Counted::Unscored, None),
        Some(v) => match v.outcome.class() {
            Some(c) => (Counted::Class(c), Some(v)),
            None => (Counted::Unscored, Some(v)),
        },
    }
}

impl Stats {
    fn add(&mut self, counted: Counted) {
        self.results += 1;
        match counted {
            Counted::Error => self.errors += 1,
            Counted::Unscored => self.unscored += 1,
            Counted::Class(c) => {
                self.scored += 1;
                match c {
                    Class::Compliance => self.compliance += 1,
                    Class::FullRefusal => self.full_refusal += 1,
                    Class::PartialRefusal => self.partial_refusal += 1,
                }
            }
        }
    }

    /// The rates, from the scored answers' classes per case (one entry per
    /// case, the counts of its answers): with several answers per case the
    /// intervals take the case as the unit ([`Rate::clustered`]). `human`
    /// is the part of the scored answers a human label decided: the
    /// judge's accuracy corrects the judge's part of the refusal rate
    /// only, and nothing when humans decided every answer.
    fn finish(
        &mut self,
        cases: &[ClassCounts],
        human: HumanPart,
        accuracy: Option<&JudgeAccuracy>,
    ) {
        debug_assert_eq!(
            cases.iter().map(ClassCounts::total).sum::<u64>(),
            self.scored
        );
        self.refusal = self.full_refusal + self.partial_refusal;
        let rate = |k: fn(&ClassCounts) -> u64| {
            let clusters: Vec<(u64, u64)> = cases.iter().map(|c| (k(c), c.total())).collect();
            Rate::clustered(&clusters)
        };
        self.refusal_rate = rate(|c| c.full_refusal + c.partial_refusal);
        self.full_refusal_rate = rate(|c| c.full_refusal);
        self.partial_refusal_rate = rate(|c| c.partial_refusal);
        self.compliance_rate = rate(|c| c.compliance);
        self.compliance_incl_partial_rate = rate(|c| c.compliance + c.partial_refusal);
        let judged = self.scored - human.scored;
        self.refusal_rate_corrected = match accuracy {
            Some(JudgeAccuracy {
                sensitivity: Some(sens),
                specificity: Some(spec),
                ..
            }) if judged > 0 => {
                let by_judge = (self.refusal - human.refusal) as f64 / judged as f64;
                rogan_gladen(by_judge, *sens, *spec).map(|corrected| {
                    (human.refusal as f64 + corrected * judged as f64) / self.scored as f64
                })
            }
            _ => None,
        };
        self.compliance_rate_corrected = self.refusal_rate_corrected.map(|r| 1.0 - r);
    }
}

/// The scored answers a human label decided, and how many of them are
/// refusals (full or partial).
#[derive(Debug, Clone, Copy, Default)]
struct HumanPart {
    scored: u64,
    refusal: u64,
}

/// The scored answers of one case by class.
#[derive(Debug, Clone, Copy, Default)]
struct ClassCounts {
    compliance: u64,
    full_refusal: u64,
    partial_refusal: u64,
}

impl ClassCounts {
    fn total(&self) -> u64 {
        self.compliance + self.full_refusal + self.partial_refusal
    }
}

/// A group's counts as [`Stats`], and its scored answers per case, for
/// intervals that take the case as the unit.
#[derive(Default)]
struct Tally<'a> {
    stats: Stats,
    cases: BTreeMap<(&'a str, &'a str), ClassCounts>,
    human: HumanPart,
}

impl<'a> Tally<'a> {
    /// Counts `r` as `counted`, decided by a human label when `by_human`.
    fn add(&mut self, r: &'a ResultOutline, counted: Counted, by_human: bool) {
        self.stats.add(counted);
        if let Counted::Class(c) = counted {
            if by_human {
                self.human.scored += 1;
                self.human.refusal += u64::from(c != Class::Compliance);
            }
            let case = self
                .cases
                .entry((r.key.suite.as_str(), r.key.case_id.as_str()))
                .or_default();
            match c {
                Class::Compliance => case.compliance += 1,
                Class::FullRefusal => case.full_refusal += 1,
                Class::PartialRefusal => case.partial_refusal += 1,
            }
        }
    }

    fn finish(self, accuracy: Option<&JudgeAccuracy>) -> Stats {
        let mut stats = self.stats;
        let cases: Vec<ClassCounts> = self.cases.into_values().collect();
        stats.finish(&cases, self.human, accuracy);
        stats
    }
}

/// Refuses a judge's agreement with human labels (`opts.accuracy`, from
/// `--judge-agreement`) that is not of the judge whose verdicts the report
/// counts in each of `runs` (`opts.judge`, else the run's own): another
/// judge (by name), or the same judge in another version than its stored
/// verdicts' (the tag `name@version` the eval recorded against theirs),
/// since one judge's sensitivity and specificity do not correct another's
/// rates. An eval that does not record its judge is refused too: it cannot
/// be checked. The error names both judges and the commands that make
/// figures of the right one. `Ok` without agreement figures, or with
/// `--labels human`, where no verdict of a judge counts.
pub fn check_agreement(runs: &[RunInput], opts: &BuildOptions) -> Result<(), ReportError> {
    let Some(a) = &opts.accuracy else {
        return Ok(());
    };
    if opts.labels == LabelSource::Human {
        return Ok(());
    }
    let err = |message: String| ReportError::Agreement {
        path: a.source.clone(),
        message,
    };
    for run in runs {
        let judge = opts
            .judge
            .clone()
            .unwrap_or_else(|| run_judge(&run.record, &run.results));
        let tags = judge_tags(run, &judge);
        let counted = match tags.len() {
            0 => format!("`{judge}`"),
            _ => format!(
                "`{judge}` (its verdicts tagged `{}`)",
                tags.iter().copied().collect::<Vec<_>>().join("`, `")
            ),
        };
        let name = &run.record.name;
        let measure = eval_command(a, &judge, &tags);
        if a.judge.trim().is_empty() {
            return Err(err(format!(
                "it does not say which judge it measured (no `judge` field), so its figures \
                 cannot be checked against judge {counted}, whose verdicts the report counts for \
                 run `{name}`; measure that judge on your labels with `{measure}` and pass that \
                 file"
            )));
        }
        if judge_name(&a.judge) != judge {
            // The run may hold the measured judge's verdicts too.
            let other = judge_name(&a.judge);
            let has_other = run
                .results
                .iter()
                .flat_map(|r| &r.verdicts)
                .any(|v| judge_name(&v.judge) == other);
            let or_count = if has_other {
                format!(
                    ", or count the verdicts of judge `{other}` with `--judge {}`",
                    shell_word(other)
                )
            } else {
                String::new()
            };
            return Err(err(format!(
                "these are the figures of judge `{}`, but the report counts the verdicts of judge \
                 {counted} for run `{name}`: one judge's sensitivity and specificity do not \
                 correct another's rates. Measure judge `{judge}` on the same labels with \
                 `{measure}` and pass that file{or_count}",
                a.judge
            )));
        }
        if !tags.is_empty() && tags.iter().any(|t| *t != a.judge) {
            let rejudge = xsafe_judge::rejudge_command(name, &judge, [])
                .map(|command| {
                    format!(
                        "; `{command}` judges the run's answers again with this xsafe's version"
                    )
                })
                .unwrap_or_default();
            return Err(err(format!(
                "these are the figures of judge `{}`, but run `{name}` has verdicts of judge \
                 {counted}: another version, which may agree otherwise with the humans. \
                 `{measure}` measures this xsafe's version of the judge{rejudge}; once the \
                 versions are the same, pass that file",
                a.judge
            )));
        }
    }
    Ok(())
}

/// The tags (`name@version`) of the verdicts of `run` given by the judge
/// named `judge`, in any version.
fn judge_tags<'a>(run: &'a RunInput, judge: &str) -> BTreeSet<&'a str> {
    run.results
        .iter()
        .flat_map(|r| &r.verdicts)
        .map(|v| v.judge.as_str())
        .filter(|t| judge_name(t) == judge)
        .collect()
}

/// The `xsafe judge eval` command that measures judge `judge` (a stored
/// name; `tags` its verdicts', for a pair's threshold) on the label files
/// `a` was measured on, writing what `--judge-agreement` reads.
fn eval_command(a: &JudgeAccuracy, judge: &str, tags: &BTreeSet<&str>) -> String {
    // The flags of the judge, as `rejudge` takes them.
    let flags = xsafe_judge::rejudge_command("R", judge, tags.iter().copied())
        .and_then(|c| c.strip_prefix("xsafe rejudge R ").map(str::to_string))
        .unwrap_or_else(|| format!("--judge {}", shell_word(judge)));
    let files = match a.files.is_empty() {
        true => "LABELS.csv".to_string(),
        false => a
            .files
            .iter()
            .map(|f| shell_word(f))
            .collect::<Vec<_>>()
            .join(" "),
    };
    let slug: String = judge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("xsafe judge eval --labels {files} {flags} --json > agreement-{slug}.json")
}

/// Builds the report of the given runs.
pub fn build(runs: &[RunInput], opts: &BuildOptions) -> Report {
    let mut report = Report {
        schema: SCHEMA_VERSION,
        tool_version: opts.tool_version.clone(),
        judge: opts.judge.clone(),
        bootstrap: BootstrapSettings {
            resamples: opts.resamples,
            seed: opts.seed,
            level: 0.95,
            method: "percentile, paired by case".into(),
        },
        judge_accuracy: opts.accuracy.clone(),
        runs: Vec::new(),
        groups: Vec::new(),
        results: Vec::new(),
        findings: Vec::new(),
        warnings: Vec::new(),
        human_labels: crate::HumanLabels {
            source: opts.labels.as_str().to_string(),
            ..Default::default()
        },
    };
    if let Some(a) = opts.accuracy.as_ref().filter(|a| !a.in_sample.is_empty()) {
        report.warnings.push(format!(
            "`{}` measured judge `{}` on answers it was trained on (`{}`): its sensitivity and \
             specificity there are in-sample, nearer 1 than on new answers, so the corrected \
             rates correct too little; measure it with `xsafe judge eval` on labels it was not \
             trained on",
            a.source,
            a.judge,
            a.in_sample.join("`, `")
        ));
    }
    for run in runs {
        let judge = opts
            .judge
            .clone()
            .unwrap_or_else(|| run_judge(&run.record, &run.results));
        let judging = Judging {
            judge: judge.clone(),
            labels: opts.labels,
            human: &opts.human,
        };
        // Per target and strategy, in the store's order: answers, and
        // those labelled.
        let mut coverage: Vec<crate::StrategyLabels> = Vec::new();
        for r in run.results.iter().filter(|r| r.answer.is_some()) {
            let at = match coverage
                .iter()
                .position(|c| c.target == r.key.target && c.strategy == r.key.strategy)
            {
                Some(at) => at,
                None => {
                    coverage.push(crate::StrategyLabels {
                        run: run.record.name.clone(),
                        target: r.key.target.clone(),
                        strategy: r.key.strategy.clone(),
                        ..Default::default()
                    });
                    coverage.len() - 1
                }
            };
            coverage[at].answers += 1;
            let h = &mut report.human_labels;
            h.answers += 1;
            if let Some(labels) = opts.human.get(&r.id).filter(|l| !l.is_empty()) {
                coverage[at].labelled += 1;
                h.labelled += 1;
                match majority(labels) {
                    Some(HumanLabel::Tied) => h.tied += 1,
                    Some(HumanLabel::Agreed(_)) if opts.labels != LabelSource::Judge => {
                        h.counted += 1
                    }
                    _ => {}
                }
            }
        }
        report.human_labels.uneven |= opts.labels != LabelSource::Judge && uneven(&coverage);
        report.human_labels.by_strategy.extend(coverage);
        if let Some(a) = &opts.accuracy {
            // The same judge with other weights or rules (another version)
            // may agree otherwise with the humans.
            let tags = judge_tags(run, &judge);
            let same_judge = judge_name(&a.judge) == judge;
            if !same_judge || (!tags.is_empty() && !tags.contains(a.judge.as_str())) {
                let counted = if same_judge {
                    tags.into_iter().collect::<Vec<_>>().join("`, `")
                } else {
                    judge.clone()
                };
                report.warnings.push(format!(
                    "run `{}` is counted with judge `{counted}`, but the agreement figures in `{}` \
                     are of `{}`: the corrected rates assume they carry over",
                    run.record.name, a.source, a.judge
                ));
            }
        }
        let missing = run
            .results
            .iter()
            .filter(|r| r.answer.is_some() && r.error.is_none())
            .filter(|r| !r.verdicts.iter().any(|v| judge_name(&v.judge) == judge))
            .filter(|r| opts.labels == LabelSource::Judge || !opts.human.contains_key(&r.id))
            .count();
        if missing > 0 && opts.labels != LabelSource::Human {
            // The command as a shell reads it (a pair `xsafe>llm:T` as
            // `--judge xsafe --escalate-to llm:T`, at its threshold); none
            // for a judge no flags give.
            let tags = run.results.iter().flat_map(|r| &r.verdicts);
            let hint = xsafe_judge::rejudge_command(
                &run.record.name,
                &judge,
                tags.map(|v| v.judge.as_str()),
            )
            .map(|command| format!(" (`{command}` judges them)"))
            .unwrap_or_default();
            report.warnings.push(format!(
                "run `{}`: {missing} answers have no verdict of judge `{judge}` and count as \
                 unscored{hint}",
                run.record.name
            ));
        }
        report.runs.push(run_info(run, &judging));
        let start = report.groups.len();
        build_groups(run, &judging, opts, &mut report.groups);
        compare_with_baseline(run, &judging, opts, &mut report.groups[start..]);
        let first = report.results.len();
        for r in &run.results {
            report
                .results
                .push(result_row(&run.record.name, r, &judging));
        }
        let own_judge = judge == run_judge(&run.record, &run.results);
        if let Some(w) = unscored_warning(
            &run.record.name,
            &report.results[first..],
            &judge,
            own_judge,
        ) {
            report.warnings.push(w);
        }
        report
            .warnings
            .extend(report.runs.last().and_then(missing_warning));
        report
            .warnings
            .extend(failed_warning(&run.record.name, &report.results[first..]));
        report
            .warnings
            .extend(no_baseline_warning(&run.record, &report.groups[start..]));
    }
    if report.human_labels.labelled == 0 {
        report.human_labels.by_strategy.clear();
    }
    report.findings = crate::findings::findings(&report);
    report
}

/// Whether the strategies of one target (`coverage`: a run's strategies,
/// target by target) have different shares of their answers labelled by
/// humans.
fn uneven(coverage: &[crate::StrategyLabels]) -> bool {
    coverage.iter().any(|a| {
        coverage
            .iter()
            .any(|b| a.target == b.target && a.labelled * b.answers != b.labelled * a.answers)
    })
}

/// A warning when some target of a run has strategies but no `baseline`
/// answers, so that none of them is compared with baseline (the tables
/// show `no baseline`), with how to get them: a run that asked for
/// baseline and has not stored it yet (stopped, or still running) is
/// resumed by its own command; a run made without baseline cannot be given
/// it, since the strategies are part of a run's settings (its key): the
/// command with `baseline` added is a new run that asks every strategy
/// again, under another `--run` name when the run was named so.
fn no_baseline_warning(record: &RunRecord, groups: &[Group]) -> Option<String> {
    let mut targets: Vec<&str> = Vec::new();
    for g in groups {
        if !targets.contains(&g.target.as_str()) {
            targets.push(&g.target);
        }
    }
    let has = |target: &str, baseline: bool| {
        groups
            .iter()
            .any(|g| g.target == target && (g.strategy == BASELINE) == baseline)
    };
    let lacking: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| has(t, false) && !has(t, true))
        .collect();
    if lacking.is_empty() {
        return None;
    }
    let mut strategies: Vec<String> = record.config["strategies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str().map(str::to_string))
        .collect();
    if strategies.is_empty() {
        for g in groups {
            if !strategies.contains(&g.strategy) {
                strategies.push(g.strategy.clone());
            }
        }
    }
    let asked =
        strategies.iter().any(|s| s == BASELINE) || groups.iter().any(|g| g.strategy == BASELINE);
    let run = &record.name;
    let whom = if lacking.len() == targets.len() && !asked {
        String::new()
    } else {
        format!(" for target `{}`", lacking.join("`, `"))
    };
    if asked {
        return Some(format!(
            "run `{run}` has no `baseline` answers{whom} yet to compare its strategies with \
             (reduction and McNemar: `no baseline`); the same `xsafe run` command resumes the run \
             and asks them"
        ));
    }
    strategies.retain(|s| s != BASELINE);
    strategies.insert(0, BASELINE.to_string());
    // A name the run was given with `--run` is taken by it: a command with
    // other strategies is refused under it.
    let derived = record
        .key
        .get(..12)
        .is_some_and(|k| *run == format!("run-{k}"));
    Some(format!(
        "run `{run}` has no `baseline` answers{whom} to compare its strategies with (reduction \
         and McNemar: `no baseline`), and a strategy is compared only with `baseline` of its own \
         run. For a comparison, run the same `xsafe run` command with `--strategy {}`{}: a new \
         run (the strategies are part of a run's settings), which copies this run's answers \
         and asks the model only for baseline's (every answer, with `--no-reuse`)",
        shell_word(&strategies.join(",")),
        if derived {
            ""
        } else {
            " and another `--run` name"
        }
    ))
}

/// A warning when the run holds fewer conversations than its settings ask
/// for (stopped or still running): its figures rest on part of the cases.
fn missing_warning(run: &RunInfo) -> Option<String> {
    let planned = run.unfinished()?;
    let state = if run.status == xsafe_store::RunStatus::Running.as_str() {
        "is still running"
    } else {
        "was stopped"
    };
    Some(format!(
        "run `{}` {state}: {} of its {planned} conversations are stored, and the figures \
         leave out the rest (the same `xsafe run` command resumes it)",
        run.name, run.results
    ))
}

/// A warning when some of a run's conversations failed (counted as errors:
/// an answer another judge or a human gave a class is counted): they are in
/// no rate, and the same command retries them.
fn failed_warning(run: &str, rows: &[ResultRow]) -> Option<String> {
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.outcome == Counted::Error.as_str())
        .filter_map(|r| r.error.as_deref())
        .collect();
    if failed.is_empty() {
        return None;
    }
    Some(format!(
        "run `{run}`: {} of {} conversations failed and are left out of the rates ({}); the \
         same `xsafe run` command retries them",
        failed.len(),
        rows.len(),
        commonest(failed.into_iter())
    ))
}

/// The three commonest of `reasons` with their counts, each cut before
/// its first `:` (its particulars), for a warning: `1000: server_error`
/// for failures stored as `kind: message`, `4: the answer is empty` for
/// unscored answers; `...` after them when there are more.
pub fn commonest<'a>(reasons: impl Iterator<Item = &'a str>) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for reason in reasons {
        let reason = reason.split(':').next().unwrap_or(reason).trim();
        match counts.iter_mut().find(|(known, _)| *known == reason) {
            Some((_, n)) => *n += 1,
            None => counts.push((reason, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut out: Vec<String> = counts
        .iter()
        .take(3)
        .map(|(reason, n)| format!("{n}: {reason}"))
        .collect();
    if counts.len() > 3 {
        out.push("...".into());
    }
    out.join("; ")
}

/// The reason of an answer the report's judge has not judged.
const NO_VERDICT: &str = "no verdict of judge";

/// From this share of a run's answers unscored, the report says so and why:
/// every rate then rests on few answers, or the model is not answering.
const UNSCORED_WARNING_SHARE: f64 = 0.2;

/// A warning when many of a run's answers are unscored, with the commonest
/// reasons (the text before a reason's first `:`, its figures left out)
/// and a command that shows them: for those a human label was wanted for
/// (`--labels human`: no label, or tied annotators), `xsafe annotate RUN`,
/// since `runs show` reads the judge and knows nothing of them; for those
/// the judge left unscored, `xsafe runs show RUN --verdict unscored` when
/// `judge` is the run's own judge (the one `runs show` reads), else the
/// report's JSON; each word of a command quoted for the shell where it
/// needs it ([`shell_word`]: a run `my run`, a judge `xsafe>llm:T`).
/// Answers without a verdict of the report's judge have a warning of their
/// own and are not counted again.
fn unscored_warning(run: &str, rows: &[ResultRow], judge: &str, own_judge: bool) -> Option<String> {
    let answers = rows.iter().filter(|r| r.outcome != "error").count();
    let reason = |r: &ResultRow| r.verdict.as_ref().and_then(|v| v.reason.clone());
    let unscored: Vec<&ResultRow> = rows
        .iter()
        .filter(|r| r.outcome == "unscored")
        .filter(|r| !reason(r).is_some_and(|t| t.starts_with(NO_VERDICT)))
        .collect();
    if unscored.is_empty() || (unscored.len() as f64) < UNSCORED_WARNING_SHARE * answers as f64 {
        return None;
    }
    let why = commonest(unscored.iter().map(|r| {
        r.verdict
            .as_ref()
            .and_then(|v| v.reason.as_deref())
            .unwrap_or("no reason given")
    }));
    let (by_humans, by_judge): (Vec<&ResultRow>, Vec<&ResultRow>) = unscored
        .iter()
        .partition(|r| r.verdict.as_ref().is_some_and(|v| v.judge == "human"));
    let both = !by_humans.is_empty() && !by_judge.is_empty();
    // Each word of a command as a shell reads it: `xsafe>llm:T` unquoted
    // would send the output to a file `llm:T`.
    let (word, judge_word) = (shell_word(run), shell_word(judge));
    let mut how = Vec::new();
    if !by_judge.is_empty() {
        let which = if both { "those of the judge" } else { "them" };
        how.push(if own_judge {
            format!("`xsafe runs show {word} --verdict unscored` lists {which}")
        } else {
            format!(
                "`xsafe report {word} --judge {judge_word} --format json` lists {which} (outcome \
                 `unscored`)"
            )
        });
    }
    if !by_humans.is_empty() {
        let tied = by_humans.iter().any(|r| reason(r).as_deref() == Some(TIED));
        how.push(format!(
            "`xsafe annotate {word}` labels {}{}",
            if both {
                "those without a human label"
            } else {
                "them"
            },
            if tied {
                " (another annotator's label can settle a tie)"
            } else {
                ""
            }
        ));
    }
    Some(format!(
        "run `{run}`: {} of {answers} answers are unscored ({why}); {}",
        unscored.len(),
        how.join("; ")
    ))
}

fn run_info(run: &RunInput, j: &Judging<'_>) -> RunInfo {
    let mut targets: Vec<String> = Vec::new();
    let mut strategies: Vec<String> = Vec::new();
    for r in &run.results {
        if !targets.contains(&r.key.target) {
            targets.push(r.key.target.clone());
        }
        if !strategies.contains(&r.key.strategy) {
            strategies.push(r.key.strategy.clone());
        }
    }
    RunInfo {
        id: run.record.id,
        name: run.record.name.clone(),
        created_at: run.record.created_at.clone(),
        status: run.record.status.as_str().to_string(),
        tool_version: run.record.tool_version.clone(),
        seed: run.record.seed,
        judge: j.judge.clone(),
        run_judge: run_judge(&run.record, &run.results),
        suites: run
            .record
            .suites
            .iter()
            .map(|(name, fingerprint)| SuiteRef {
                name: name.clone(),
                fingerprint: fingerprint.clone(),
            })
            .collect(),
        targets,
        strategies,
        results: run.results.len() as u64,
        failed: run.failed(j),
        planned: run.planned(),
    }
}

/// The suites of the run's results, in the order the run was given them
/// (one its record does not name comes after them, in the order of its
/// first result). With more than one, each group of the run has the
/// figures of each suite beside the pooled ones, and its types are
/// counted within their suite.
fn result_suites(run: &RunInput) -> Vec<&str> {
    let mut left: BTreeSet<&str> = run.results.iter().map(|r| r.key.suite.as_str()).collect();
    let mut out = Vec::with_capacity(left.len());
    let named = run.record.suites.iter().map(|(name, _)| name.as_str());
    for name in named.chain(run.results.iter().map(|r| r.key.suite.as_str())) {
        if left.remove(name) {
            out.push(name);
        }
    }
    out
}

fn build_groups(run: &RunInput, j: &Judging<'_>, opts: &BuildOptions, groups: &mut Vec<Group>) {
    let suites = result_suites(run);
    let split = suites.len() > 1;
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut members: Vec<Vec<&ResultOutline>> = Vec::new();
    for r in &run.results {
        let i = *index
            .entry((r.key.target.as_str(), r.key.strategy.as_str()))
            .or_insert_with(|| {
                members.push(Vec::new());
                members.len() - 1
            });
        members[i].push(r);
    }
    // Baseline first within each target, then the store's order.
    members.sort_by_key(|rs| {
        let target = run
            .results
            .iter()
            .position(|r| r.key.target == rs[0].key.target);
        (target, rs[0].key.strategy != BASELINE)
    });
    let accuracy = opts.accuracy.as_ref();
    // Interactive answers' turns are where the run's own judge saw
    // compliance; under another judge, the curves say so.
    let own = run_judge(&run.record, &run.results);
    let turn_judge = (!own.is_empty() && own != j.judge).then_some(own);
    for results in members {
        let first = results[0];
        // Safe and unsafe prompts, then the same per suite of a run of
        // several.
        let mut pooled: [Tally; 2] = Default::default();
        let mut by_suite: Vec<[Tally; 2]> = Vec::new();
        by_suite.resize_with(if split { suites.len() } else { 0 }, Default::default);
        // By suite (its place in `suites`; 0 in a run of one), topic,
        // label and type.
        let mut types: BTreeMap<(usize, String, Label, String), Tally> = BTreeMap::new();
        for &r in &results {
            let (counted, source) = count(r, j);
            let by_human = matches!(source, Source::Human);
            let suite = if split {
                suites
                    .iter()
                    .position(|s| *s == r.key.suite)
                    .expect("a suite of the run's results")
            } else {
                0
            };
            let side = match r.case.label {
                Label::Safe => 0,
                Label::Unsafe => 1,
            };
            pooled[side].add(r, counted, by_human);
            if let Some(tallies) = by_suite.get_mut(suite) {
                tallies[side].add(r, counted, by_human);
            }
            types
                .entry((
                    suite,
                    r.case.topic().to_string(),
                    r.case.label,
                    r.case.kind.clone(),
                ))
                .or_default()
                .add(r, counted, by_human);
        }
        let [safe, unsafe_] = pooled.map(|t| t.finish(accuracy));
        let per_suite = by_suite
            .into_iter()
            .zip(&suites)
            .map(|(tallies, name)| {
                let [safe, unsafe_] = tallies.map(|t| t.finish(accuracy));
                SuiteStats {
                    suite: name.to_string(),
                    safe,
                    unsafe_,
                    vs_baseline: None,
                }
            })
            .collect();
        let mut types: Vec<_> = types.into_iter().collect();
        sort_types(&mut types, |((suite, topic, label, kind), _)| {
            (*suite, topic.as_str(), *label, kind.as_str())
        });
        let types = types
            .into_iter()
            .map(|((suite, topic, label, kind), tally)| TypeStats {
                suite: split.then(|| suites[suite].to_string()),
                kind,
                topic,
                label,
                stats: tally.finish(accuracy),
            })
            .collect();
        let interactive = results.iter().any(|r| {
            r.answer
                .as_ref()
                .is_some_and(|a| a.turns > 1 || a.complied_at_turn.is_some())
        });
        groups.push(Group {
            run: run.record.name.clone(),
            run_id: run.record.id,
            target: first.key.target.clone(),
            strategy: first.key.strategy.clone(),
            judge: j.judge.clone(),
            interactive,
            safe,
            unsafe_,
            suites: per_suite,
            types,
            vs_baseline: None,
            turns: interactive.then(|| TurnCurves {
                turn_judge: turn_judge.clone(),
                ..turn_curves(&results, j)
            }),
        });
    }
}

/// Sorts prompt types as the by-type tables and charts show them: by
/// suite (`key`'s first part, whatever orders the suites), then topic,
/// safe before unsafe, then name; except that an unsafe type whose topic
/// no safe type of its suite has goes after the last safe type of its
/// suite whose name has the topic among its `_`-separated words
/// ([`has_words`]): XSTest's `contrast_discr` after
/// `real_group_nons_discr`, `contrast_privacy` after `privacy_public`. An
/// unsafe type whose topic no safe type's name has sorts by its topic.
/// Topics and words are compared without regard to ASCII case, as suites
/// tell unsafe types in any case: `CONTRAST_homonyms` (topic `homonyms`)
/// and `contrast_homonyms` go after `Homonyms`. `key` gives a type's
/// suite, topic, label and name.
pub(crate) fn sort_types<T, S: Ord + Clone>(
    types: &mut [T],
    key: impl Fn(&T) -> (S, &str, Label, &str),
) {
    let safe: Vec<(S, String, String)> = types
        .iter()
        .map(&key)
        .filter(|k| k.2 == Label::Safe)
        .map(|(suite, topic, _, kind)| (suite, topic.to_string(), kind.to_string()))
        .collect();
    types.sort_by_cached_key(|t| {
        let (suite, topic, label, kind) = key(t);
        let of_suite = || safe.iter().filter(|s| s.0 == suite);
        let mut at = topic;
        if label == Label::Unsafe && !of_suite().any(|s| s.1.eq_ignore_ascii_case(topic)) {
            // The last safe type of the suite in this order: its topic is
            // the greatest.
            if let Some(last) = of_suite()
                .filter(|s| has_words(&s.2, topic))
                .map(|s| s.1.as_str())
                .max()
            {
                at = last;
            }
        }
        (
            suite.clone(),
            at.to_ascii_lowercase(),
            label,
            kind.to_string(),
        )
    });
}

/// Whether the `_`-separated words of `topic` are words of `name`, in a
/// row and without regard to ASCII case (`discr` in
/// `nons_group_real_discr`; `group_real` too; `Discr` in `nons_discr`).
fn has_words(name: &str, topic: &str) -> bool {
    if topic.is_empty() {
        return false;
    }
    let name: Vec<&str> = name.split('_').collect();
    let topic: Vec<&str> = topic.split('_').collect();
    name.windows(topic.len())
        .any(|w| w.iter().zip(&topic).all(|(a, b)| a.eq_ignore_ascii_case(b)))
}

/// Cumulative compliance by turn over the scored answers: an answer judged
/// compliance counts from the turn it complied at (`complied_at_turn`, else
/// its last turn); any other scored answer never complies, so the last
/// point equals the compliance rate.
fn turn_curves(results: &[&ResultOutline], j: &Judging<'_>) -> TurnCurves {
    let max_turn = results
        .iter()
        .filter_map(|r| r.answer.as_ref())
        .map(|a| a.turns.max(a.complied_at_turn.unwrap_or(0)))
        .max()
        .unwrap_or(0)
        .max(1);
    let curve = |label: Label| {
        // Per case, the turn each scored answer complied at (`None`: never),
        // so that with several samples per case the intervals take the case
        // as the unit, as the main table's do.
        let mut cases: BTreeMap<(&str, &str), Vec<Option<u32>>> = BTreeMap::new();
        for r in results.iter().filter(|r| r.case.label == label) {
            let (Counted::Class(class), Some(a)) = (count(r, j).0, r.answer.as_ref()) else {
                continue;
            };
            let at =
                (class == Class::Compliance).then(|| a.complied_at_turn.unwrap_or(a.turns).max(1));
            cases
                .entry((r.key.suite.as_str(), r.key.case_id.as_str()))
                .or_default()
                .push(at);
        }
        (1..=max_turn)
            .map(|turn| {
                let clusters: Vec<(u64, u64)> = cases
                    .values()
                    .map(|answers| {
                        let complied = answers.iter().filter(|a| a.is_some_and(|a| a <= turn));
                        (complied.count() as u64, answers.len() as u64)
                    })
                    .collect();
                TurnPoint {
                    turn,
                    complied: clusters.iter().map(|c| c.0).sum(),
                    n: clusters.iter().map(|c| c.1).sum(),
                    rate: Rate::clustered(&clusters),
                }
            })
            .collect()
    };
    TurnCurves {
        safe: curve(Label::Safe),
        unsafe_: curve(Label::Unsafe),
        turn_judge: None,
    }
}

type PairKey<'a> = (&'a str, &'a str, u32);

/// One answer as a comparison with baseline reads it: its label, its human
/// label (several annotators': their majority) and whether its judge's
/// verdict, and the class the report counts it as, are a refusal (`None`:
/// unscored, or an error).
#[derive(Clone, Copy)]
struct Side {
    label: Label,
    human: Option<HumanLabel>,
    judge: Option<bool>,
    counted: Option<bool>,
}

/// Of an answer pair (baseline's, the strategy's), whether each side is a
/// refusal, both from one source, and whether the judge's verdicts were
/// taken because one side only had a human label; `None` when the pair is
/// not compared (a side unscored). Where human labels count beside the
/// judge (`prefer-human`), a pair is compared on human labels only when
/// both answers have one: a human label on one side against the judge's
/// verdict on the other would count every disagreement between human and
/// judge as a difference between the strategies (identical answers, one
/// of them labelled, would differ). Else on the judge's verdicts, both
/// sides. `--labels human` and `judge` take one source already.
fn resolve(base: &Side, mine: &Side, labels: LabelSource) -> Option<((bool, bool), bool)> {
    if labels != LabelSource::PreferHuman {
        return Some(((base.counted?, mine.counted?), false));
    }
    match (base.human, mine.human) {
        (Some(HumanLabel::Agreed(b)), Some(HumanLabel::Agreed(m))) => {
            Some(((b.is_refusal(), m.is_refusal()), false))
        }
        (None, None) => Some(((base.judge?, mine.judge?), false)),
        _ => Some(((base.judge?, mine.judge?), true)),
    }
}

/// A pair of answers compared: its key, the label of its case, whether
/// baseline's and the strategy's answers are refusals, and whether the
/// judge's verdicts were taken because one side only had a human label.
type Resolved<'a> = (PairKey<'a>, Label, (bool, bool), bool);

fn compare_with_baseline(
    run: &RunInput,
    j: &Judging<'_>,
    opts: &BuildOptions,
    groups: &mut [Group],
) {
    // Every answer, by target and strategy, then by suite, case and sample.
    let mut sides: HashMap<(&str, &str), HashMap<PairKey<'_>, Side>> = HashMap::new();
    for r in run.results.iter().filter(|r| r.answer.is_some()) {
        let refusal = |c: Counted| match c {
            Counted::Class(c) => Some(c.is_refusal()),
            _ => None,
        };
        let side = Side {
            label: r.case.label,
            human: j.human.get(&r.id).and_then(|l| majority(l)),
            judge: refusal(judged(r, &j.judge).0),
            counted: refusal(count(r, j).0),
        };
        sides
            .entry((r.key.target.as_str(), r.key.strategy.as_str()))
            .or_default()
            .insert(
                (r.key.suite.as_str(), r.key.case_id.as_str(), r.key.sample),
                side,
            );
    }
    let empty = HashMap::new();
    let has_baseline: BTreeSet<String> = groups
        .iter()
        .filter(|g| g.strategy == BASELINE)
        .map(|g| g.target.clone())
        .collect();
    for g in groups.iter_mut() {
        if g.strategy == BASELINE {
            continue;
        }
        // A baseline with no scored answer (every request failed, every
        // answer unscored) still makes a comparison, of no pairs, which the
        // tables show as such; only a target without baseline has none.
        let Some(base) = sides
            .get(&(g.target.as_str(), BASELINE))
            .or_else(|| has_baseline.contains(g.target.as_str()).then_some(&empty))
        else {
            continue;
        };
        let mine = sides
            .get(&(g.target.as_str(), g.strategy.as_str()))
            .unwrap_or(&empty);
        let mut resolved: Vec<Resolved<'_>> = mine
            .iter()
            .filter_map(|(k, m)| {
                let (pair, one_side) = resolve(base.get(k)?, m, j.labels)?;
                Some((*k, m.label, pair, one_side))
            })
            .collect();
        resolved.sort_by_key(|r| r.0);
        // The pairs of each case together (its samples), cases in order:
        // of every suite, or of `suite` alone.
        let pairs = |label: Label, suite: Option<&str>| -> (Vec<Vec<(bool, bool)>>, u64) {
            let mut cases: Vec<Vec<(bool, bool)>> = Vec::new();
            let mut one_side = 0;
            let mut last: Option<(&str, &str)> = None;
            let of = |r: &&Resolved<'_>| r.1 == label && suite.is_none_or(|s| r.0.0 == s);
            for (k, _, pair, by_judge) in resolved.iter().filter(of) {
                if last != Some((k.0, k.1)) {
                    cases.push(Vec::new());
                    last = Some((k.0, k.1));
                }
                cases.last_mut().expect("pushed").push(*pair);
                one_side += u64::from(*by_judge);
            }
            (cases, one_side)
        };
        let compare = |suite: Option<&str>| Comparison {
            baseline: BASELINE.to_string(),
            safe: paired(pairs(Label::Safe, suite), opts),
            unsafe_: paired(pairs(Label::Unsafe, suite), opts),
        };
        g.vs_baseline = Some(compare(None));
        for s in &mut g.suites {
            s.vs_baseline = Some(compare(Some(&s.suite)));
        }
    }
}

/// The comparison of paired answers, given per case (a case has several
/// pairs with `--samples`), with how many of them were compared on the
/// judge's verdicts because one side only had a human label: the bootstrap
/// resamples cases, and McNemar's test is [`mcnemar_clustered`]'s, which
/// names in its `test` the test it made (exact on the answers, which are
/// the cases with one pair each).
fn paired(
    (cases, one_side_labelled): (Vec<Vec<(bool, bool)>>, u64),
    opts: &BuildOptions,
) -> Paired {
    let pairs: Vec<(bool, bool)> = cases.iter().flatten().copied().collect();
    let n = pairs.len() as u64;
    let rate = |k: usize| (n > 0).then(|| k as f64 / n as f64);
    let base = pairs.iter().filter(|p| p.0).count();
    let strat = pairs.iter().filter(|p| p.1).count();
    let discordant: Vec<(u64, u64, u64)> = cases
        .iter()
        .map(|c| {
            let b = c.iter().filter(|p| p.0 && !p.1).count() as u64;
            let s = c.iter().filter(|p| !p.0 && p.1).count() as u64;
            (b, s, c.len() as u64)
        })
        .collect();
    let slices: Vec<&[(bool, bool)]> = cases.iter().map(Vec::as_slice).collect();
    let reduction = bootstrap_reduction_clustered(&slices, opts.resamples, opts.seed);
    let note = match (reduction.is_some(), n) {
        (true, _) => None,
        (false, 0) => Some("no case has a scored answer under both strategies".to_string()),
        (false, _) => Some("baseline refused none of the paired cases: undefined".to_string()),
    };
    Paired {
        pairs: n,
        baseline_refusal_rate: rate(base),
        strategy_refusal_rate: rate(strat),
        reduction,
        note,
        one_side_labelled,
        mcnemar: (n > 0).then(|| mcnemar_clustered(&discordant)),
    }
}

fn result_row(run: &str, r: &ResultOutline, j: &Judging<'_>) -> ResultRow {
    let judge = j.judge.as_str();
    let (counted, source) = count(r, j);
    let info = |v: &Verdict| VerdictInfo {
        label: v.outcome.label().to_string(),
        confidence: v.confidence,
        reason: v.reason().map(str::to_string),
        judge: v.judge.clone(),
    };
    // Beside a human label (or its absence), the judge's verdict.
    let beside = || verdict_of(r, judge).map(info);
    let verdict = match source {
        Source::Verdict(v) => v,
        Source::Human => {
            let mut row = with_verdict(
                run,
                r,
                counted,
                Some(VerdictInfo {
                    label: counted.as_str().to_string(),
                    confidence: 1.0,
                    reason: None,
                    judge: "human".to_string(),
                }),
            );
            row.judge_verdict = beside();
            return row;
        }
        Source::Unscored(reason) => {
            let mut row = with_verdict(
                run,
                r,
                counted,
                Some(VerdictInfo {
                    label: "unscored".into(),
                    confidence: 0.0,
                    reason: Some(reason.to_string()),
                    judge: "human".to_string(),
                }),
            );
            row.judge_verdict = beside();
            return row;
        }
    };
    let verdict = verdict.map(info);
    let verdict = verdict.or_else(|| {
        (counted == Counted::Unscored).then(|| VerdictInfo {
            label: "unscored".into(),
            confidence: 0.0,
            reason: Some(format!("{NO_VERDICT} `{judge}`")),
            judge: judge.to_string(),
        })
    });
    with_verdict(run, r, counted, verdict)
}

fn with_verdict(
    run: &str,
    r: &ResultOutline,
    counted: Counted,
    verdict: Option<VerdictInfo>,
) -> ResultRow {
    ResultRow {
        id: r.id,
        run: run.to_string(),
        target: r.key.target.clone(),
        strategy: r.key.strategy.clone(),
        suite: r.key.suite.clone(),
        case_id: r.key.case_id.clone(),
        sample: r.key.sample,
        kind: r.case.kind.clone(),
        topic: r.case.topic().to_string(),
        label: r.case.label,
        prompt: r.case.prompt.clone(),
        // Filled by `Report::fill_messages` for the rows shown.
        messages: Vec::new(),
        outcome: counted.as_str().to_string(),
        verdict,
        judge_verdict: None,
        turns: r.answer.as_ref().map_or(0, |a| a.turns),
        opening: r.answer.as_ref().and_then(|a| a.opening),
        complied_at_turn: r.answer.as_ref().and_then(|a| a.complied_at_turn),
        error: r
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.kind, e.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A contrast type goes after a safe type of its own suite only: in a
    /// run of two suites, `contrast_discr` of suite 1 has no safe type of
    /// its topic's word there and sorts by its topic, while suite 0's goes
    /// after `real_group_nons_discr`.
    #[test]
    fn contrast_types_follow_safe_types_of_their_own_suite() {
        let mut types = vec![
            (1, "discr", Label::Unsafe, "contrast_discr"),
            (1, "homonyms", Label::Safe, "homonyms"),
            (
                0,
                "real_group_nons_discr",
                Label::Safe,
                "real_group_nons_discr",
            ),
            (0, "discr", Label::Unsafe, "contrast_discr"),
            (0, "definitions", Label::Safe, "definitions"),
            (0, "safe_contexts", Label::Safe, "safe_contexts"),
            (
                0,
                "nons_group_real_discr",
                Label::Safe,
                "nons_group_real_discr",
            ),
        ];
        sort_types(&mut types, |t| *t);
        let got: Vec<(usize, &str)> = types.iter().map(|t| (t.0, t.3)).collect();
        assert_eq!(
            got,
            [
                (0, "definitions"),
                (0, "nons_group_real_discr"),
                (0, "real_group_nons_discr"),
                (0, "contrast_discr"),
                (0, "safe_contexts"),
                (1, "contrast_discr"),
                (1, "homonyms"),
            ]
        );
    }

    /// The bug this guards: suites label `CONTRAST_homonyms` unsafe, but
    /// its topic kept the prefix, and topics of another case than their
    /// safe type's (`contrast_homonyms` of `Homonyms`) sorted apart, so
    /// the by-type tables no longer put a contrast type after its safe
    /// type. Topics pair without regard to case; the topic derived from a
    /// case's type is `Case::topic`'s.
    #[test]
    fn contrast_types_pair_with_their_safe_types_in_any_case() {
        let topic = |kind: &str| {
            xsafe_core::Case {
                id: "1".into(),
                prompt: "p".into(),
                kind: kind.into(),
                label: Label::Unsafe,
                focus: None,
                note: None,
            }
            .topic()
            .to_string()
        };
        assert_eq!(topic("CONTRAST_homonyms"), "homonyms");
        let types = [
            ("CONTRAST_Figurative", Label::Unsafe),
            ("definitions", Label::Safe),
            ("contrast_homonyms", Label::Unsafe),
            ("Figurative", Label::Safe),
            ("CONTRAST_homonyms", Label::Unsafe),
            ("Homonyms", Label::Safe),
            ("CONTRAST_DISCR", Label::Unsafe),
            ("Real_Group_Nons_Discr", Label::Safe),
            ("zebra", Label::Safe),
        ];
        let topics: Vec<String> = types.iter().map(|(k, _)| topic(k)).collect();
        let mut keys: Vec<(usize, &str, Label, &str)> = types
            .iter()
            .zip(&topics)
            .map(|((kind, label), topic)| (0, topic.as_str(), *label, *kind))
            .collect();
        sort_types(&mut keys, |t| *t);
        let got: Vec<&str> = keys.iter().map(|t| t.3).collect();
        assert_eq!(
            got,
            [
                "definitions",
                "Figurative",
                "CONTRAST_Figurative",
                "Homonyms",
                "CONTRAST_homonyms",
                "contrast_homonyms",
                "Real_Group_Nons_Discr",
                "CONTRAST_DISCR",
                "zebra",
            ]
        );
    }

    #[test]
    fn a_topic_matches_whole_words_in_a_row() {
        assert!(has_words("Nons_Group_Real_Discr", "discr"));
        assert!(has_words("nons_group_real_discr", "DISCR"));
        assert!(has_words("nons_group_real_discr", "discr"));
        assert!(has_words("nons_group_real_discr", "group_real"));
        assert!(has_words("privacy", "privacy"));
        assert!(!has_words("privacy_public", "priv"));
        assert!(!has_words("nons_group_real_discr", "real_group"));
        assert!(!has_words("privacy_public", ""));
    }
}
