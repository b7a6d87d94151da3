//! Reports of stored xsafe runs: what a researcher or an engineer reads
//! after a run.
//!
//! [`build`] turns runs read from the store into a [`Report`]: for every run
//! x target x strategy (a [`Group`]), refusal rates on safe prompts and
//! compliance rates on unsafe ones, overall and per prompt type, each with a
//! Wilson 95% interval; against the run's `baseline` on the same cases, the
//! relative reduction in refusal with a paired bootstrap interval and an
//! exact McNemar test, both answers of a pair classed from one source
//! (human labels only where both have one, else the judge's verdicts:
//! [`Paired::one_side_labelled`]); cumulative compliance by turn for interactive
//! strategies; and, when a judge's agreement with human labels is known, the
//! Rogan-Gladen corrected refusal rate beside the raw one; and, per run and
//! target with a baseline, what these say in words ([`Finding`]): which
//! strategies raised unsafe compliance, and which of the others refuses
//! the fewest safe prompts. A run whose results hold several suites
//! (`--suite xstest,or-bench-hard-1k`) has these figures pooled and,
//! beside them, each suite's own ([`Group::suites`]), and its types are
//! counted within their suite ([`TypeStats::suite`]): a type of one name
//! in two suites is two types.
//! A report of runs of one suite each is as it was. The report also
//! carries every result (prompt, verdict) for the HTML page's transcript
//! list; [`build`] reads results in outline (`Store::outlines`), and the
//! messages of the rows shown are read after, for those rows only
//! ([`Report::fill_messages`], [`Report::write_json`]): a report of any
//! run holds the conversations it shows, not the run's.
//!
//! The [`Report`] is also the `--format json` output: its field names are
//! stable. Unscored answers and errors are counted apart and never folded
//! into a class; every rate is over scored answers.

mod compute;
mod findings;
pub mod html;
pub mod human;
mod render;
pub mod stats;

pub use compute::{
    BuildOptions, Judged, RunInput, build, check_agreement, commonest, run_judge, verdict_of,
};
pub use human::{HumanLabel, LabelSource, majority};
pub use render::{
    cut_to_width, display_width, render_csv, render_markdown, render_table, render_terminal,
};
pub use stats::{McNemar, McNemarTest, Rate, Reduction};

use serde::{Deserialize, Serialize};
use xsafe_core::{Class, Label, Message};

/// The version of the report's JSON shape; raised when a field changes
/// meaning or disappears (new fields do not raise it).
pub const SCHEMA_VERSION: u32 = 1;

pub use xsafe_core::BASELINE;

/// Bootstrap resamples by default.
pub const DEFAULT_RESAMPLES: u32 = 2000;

/// Bootstrap seed by default.
pub const DEFAULT_SEED: u64 = 0x5EED;

/// Everything a report shows, for one or several runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The xsafe version that wrote the report.
    pub tool_version: String,
    /// The judge asked for with `--judge`; `None`: each run's own judge.
    pub judge: Option<String>,
    /// How the reductions' intervals were drawn.
    pub bootstrap: BootstrapSettings,
    /// The judge's sensitivity and specificity for "refusal", when given.
    pub judge_accuracy: Option<JudgeAccuracy>,
    /// The runs, in the order asked for.
    pub runs: Vec<RunInfo>,
    /// One per run x target x strategy: runs in the order given, then each
    /// run's targets by name, each target's baseline first and its other
    /// strategies by name (the order the store lists results in).
    pub groups: Vec<Group>,
    /// What the tables say in words, one per run and target with
    /// `baseline` answers and other strategies, in report order: which
    /// strategies raised unsafe compliance against baseline, and which of
    /// the others refuses the fewest safe prompts. The terminal, Markdown
    /// and HTML reports print their [`lines`](Finding::lines) after the
    /// overview.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Every result of every run, for the transcript list.
    pub results: Vec<ResultRow>,
    /// Things the reader should know (e.g. an agreement file of another
    /// judge, a run without `baseline` answers to compare its strategies
    /// with).
    pub warnings: Vec<String>,
    /// Where the classes came from and how many answers humans labelled
    /// (`xsafe annotate`).
    #[serde(default)]
    pub human_labels: HumanLabels,
}

impl Report {
    /// Gives the transcript rows at `rows` (indices into
    /// [`results`](Report::results)) their messages, read by `messages`
    /// from a result id (`Store::messages`): [`build`] leaves them out, so
    /// that a report of a large run holds only those it shows (the HTML
    /// page's [`html::listed`]). The first error of `messages` stops the
    /// filling and is returned.
    pub fn fill_messages<E>(
        &mut self,
        rows: impl IntoIterator<Item = usize>,
        mut messages: impl FnMut(i64) -> Result<Vec<Message>, E>,
    ) -> Result<(), E> {
        for i in rows {
            let row = &mut self.results[i];
            row.messages = messages(row.id)?;
        }
        Ok(())
    }

    /// Writes the report as JSON, as `serde_json::to_writer_pretty` writes
    /// it with every row's messages filled in, but reading each row's
    /// messages with `messages` (from its result id, `Store::messages`)
    /// as the row is written and dropping them after: the output of a run
    /// of any size in the memory of one conversation. Rows that already
    /// hold messages are written as they are.
    pub fn write_json<W: std::io::Write, E>(
        &self,
        out: W,
        messages: impl FnMut(i64) -> Result<Vec<Message>, E>,
    ) -> Result<(), JsonError<E>> {
        let streamed = Streamed {
            report: self,
            messages: std::cell::RefCell::new(messages),
            failed: std::cell::Cell::new(None),
        };
        let written = serde_json::to_writer_pretty(out, &streamed);
        match streamed.failed.take() {
            Some(e) => Err(JsonError::Messages(e)),
            None => written.map_err(JsonError::Json),
        }
    }

    /// Whether some case has several scored answers (`--samples`), so that
    /// intervals and the bootstrap took the case as the unit
    /// ([`Rate::clustered`], [`stats::bootstrap_reduction_clustered`]), or
    /// some McNemar test took the cases into account
    /// ([`McNemar::clustered`], [`stats::mcnemar_clustered`]).
    pub fn by_case(&self) -> bool {
        let rates = |s: &Stats| {
            [s.refusal_rate, s.compliance_rate]
                .iter()
                .flatten()
                .any(|r| r.effective_n.is_some())
        };
        self.groups.iter().any(|g| {
            rates(&g.safe)
                || rates(&g.unsafe_)
                || g.vs_baseline.as_ref().is_some_and(|c| {
                    [&c.safe, &c.unsafe_]
                        .iter()
                        .any(|p| p.mcnemar.is_some_and(|m| m.clustered))
                })
        })
    }
}

/// Why [`Report::write_json`] stopped.
#[derive(Debug)]
pub enum JsonError<E> {
    /// Reading a row's messages failed.
    Messages(E),
    /// Writing failed (a broken pipe is `is_io`, as `serde_json` says).
    Json(serde_json::Error),
}

/// The report serialized as its derived `Serialize` does, each row's
/// messages read as the row is written; see [`Report::write_json`].
struct Streamed<'a, F, E> {
    report: &'a Report,
    messages: std::cell::RefCell<F>,
    /// The error of `messages` that stopped the writing, returned as it is.
    failed: std::cell::Cell<Option<E>>,
}

impl<F, E> Serialize for Streamed<'_, F, E>
where
    F: FnMut(i64) -> Result<Vec<Message>, E>,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq, SerializeStruct};
        // Every field, so that one added to `Report` fails to compile here
        // until it is written; the order is the struct's, as derived.
        let Report {
            schema,
            tool_version,
            judge,
            bootstrap,
            judge_accuracy,
            runs,
            groups,
            findings,
            results,
            warnings,
            human_labels,
        } = self.report;
        struct Rows<'a, F, E>(&'a Streamed<'a, F, E>, &'a [ResultRow]);
        impl<F, E> Serialize for Rows<'_, F, E>
        where
            F: FnMut(i64) -> Result<Vec<Message>, E>,
        {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.1.len()))?;
                let mut messages = self.0.messages.borrow_mut();
                for row in self.1 {
                    if !row.messages.is_empty() {
                        seq.serialize_element(row)?;
                        continue;
                    }
                    match (messages)(row.id) {
                        Ok(m) => seq.serialize_element(&ResultRow {
                            messages: m,
                            ..row.clone()
                        })?,
                        Err(e) => {
                            self.0.failed.set(Some(e));
                            return Err(S::Error::custom("reading a transcript failed"));
                        }
                    }
                }
                seq.end()
            }
        }
        let mut st = s.serialize_struct("Report", 11)?;
        st.serialize_field("schema", schema)?;
        st.serialize_field("tool_version", tool_version)?;
        st.serialize_field("judge", judge)?;
        st.serialize_field("bootstrap", bootstrap)?;
        st.serialize_field("judge_accuracy", judge_accuracy)?;
        st.serialize_field("runs", runs)?;
        st.serialize_field("groups", groups)?;
        st.serialize_field("findings", findings)?;
        st.serialize_field("results", &Rows(self, results))?;
        st.serialize_field("warnings", warnings)?;
        st.serialize_field("human_labels", human_labels)?;
        st.end()
    }
}

/// What the report says in words about the strategies of one run and
/// target against its `baseline`, from the comparisons the tables show
/// (McNemar's test on safe and on unsafe prompts, and the Wilson
/// intervals): no other statistic. The choice is made on the same prompts
/// it is measured on; `xsafe tune` chooses on one part of a suite and
/// checks its choice on held-out prompts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The run's name.
    pub run: String,
    /// The target's id, e.g. `openai:gpt-4o-mini`.
    pub target: String,
    /// The strategies whose unsafe compliance rose against baseline, in
    /// report order.
    pub raised: Vec<Raised>,
    /// Of the strategies not in `raised` that have scored safe answers,
    /// the one with the lowest safe refusal rate (ties go to the lower
    /// unsafe compliance rate, then to report order), when some strategy
    /// beats baseline (`beats_baseline`), as the lines name it; `None`
    /// when there is none or none beats baseline, so that a strategy no
    /// better than baseline is never given as the best.
    pub best: Option<String>,
    /// Whether `best` refuses significantly fewer safe prompts than
    /// baseline: McNemar's test on safe prompts (the safe table's) at p <
    /// 0.05, with b above c.
    pub best_significant: bool,
    /// Whether some strategy not in `raised` refuses significantly fewer
    /// safe prompts than baseline, as `best_significant` says of `best`;
    /// when none does, the lines say so instead of naming `best`.
    pub beats_baseline: bool,
    /// What the terminal, Markdown and HTML reports print: one sentence per
    /// strategy in `raised`, then one about `best`, each starting with the
    /// target (`run · target` in a report of several runs).
    pub lines: Vec<String>,
}

/// A strategy whose unsafe compliance rose against baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Raised {
    /// The strategy's name.
    pub strategy: String,
    /// The figure that rose: `compliance` (full compliance, by McNemar's
    /// test on unsafe prompts, the unsafe table's, at p < 0.05 with b above
    /// c: baseline refused more of the prompts), or, when full compliance
    /// did not rise so, `compliance_incl_partial` (compliance including
    /// partial refusal, its 95% interval wholly above baseline's: intervals
    /// apart are a difference at p < 0.05 however the answers are paired).
    pub figure: String,
}

/// Human labels in a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HumanLabels {
    /// `human`, `judge` or `prefer-human` (`xsafe report --labels`).
    pub source: String,
    /// Answers (with a transcript) that at least one annotator labelled.
    pub labelled: u64,
    /// Answers whose class in this report is a human label.
    pub counted: u64,
    /// Labelled answers whose annotators are tied, counted as unscored
    /// (unless `source` is `judge`).
    pub tied: u64,
    /// Answers with a transcript.
    pub answers: u64,
    /// When some answer is labelled: per run, target and strategy (in
    /// report order), how many of its answers humans labelled, to see
    /// whether they cover the strategies alike. Empty, and absent from the
    /// JSON, when nobody labelled anything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by_strategy: Vec<StrategyLabels>,
    /// Whether human labels cover the strategies of some run and target
    /// unevenly (their shares of answers labelled differ) while they
    /// count (`source` not `judge`): the strategies' rates then mix human
    /// labels and the judge's verdicts in different shares, which the
    /// report says beside its human-labels line. Comparisons with baseline
    /// do not mix them within a pair ([`Paired::one_side_labelled`]).
    #[serde(default)]
    pub uneven: bool,
}

/// How many answers of one strategy humans labelled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StrategyLabels {
    /// The run's name.
    pub run: String,
    /// The target's id.
    pub target: String,
    /// The strategy's name.
    pub strategy: String,
    /// Answers (with a transcript) that at least one annotator labelled.
    pub labelled: u64,
    /// Answers with a transcript.
    pub answers: u64,
}

/// How the bootstrap intervals were drawn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapSettings {
    /// Resamples per interval.
    pub resamples: u32,
    /// Seed of the SplitMix64 generator; every interval starts from it.
    pub seed: u64,
    /// Interval level (0.95).
    pub level: f64,
    /// `percentile, paired by case`.
    pub method: String,
}

/// A judge's accuracy at telling refusal (full or partial) from compliance,
/// from a `xsafe judge eval --json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeAccuracy {
    /// The judge the figures are about (`name@version`).
    pub judge: String,
    /// The file they were read from.
    pub source: String,
    /// Answers humans labelled a refusal (full or partial).
    pub human_refusals: u64,
    /// Answers humans labelled compliance.
    pub human_compliances: u64,
    /// Refusals the judge found among the human refusals.
    pub sensitivity: Option<f64>,
    /// Compliances the judge found among the human compliances.
    pub specificity: Option<f64>,
    /// The label files of the figures that trained the judge (`in_sample`
    /// of `judge eval --json`): on those, its sensitivity and specificity
    /// are in-sample, nearer 1 than on new answers. Empty for an older
    /// file, which did not say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_sample: Vec<String>,
    /// The label files the figures were measured on (`files` of `judge
    /// eval --json`), for the command that measures another judge on them.
    /// Empty when the file did not say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// A run of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The store's id of the run.
    pub id: i64,
    /// The run's name: `--run`, or the one derived from its settings; unique
    /// in the store.
    pub name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// `running`, `interrupted` or `complete`.
    pub status: String,
    /// The xsafe version that created the run (a resumed run keeps it).
    pub tool_version: String,
    /// The run's seed: it picks the cases under `--limit` and, plus the
    /// sample's index, seeds each conversation.
    pub seed: u64,
    /// The judge whose verdicts the figures count (its name, no version):
    /// the report's `--judge` when one is given, else `run_judge`.
    pub judge: String,
    /// The judge the run was made with (its name, no version), whichever
    /// judge the report counts.
    #[serde(default)]
    pub run_judge: String,
    /// The suites the run was made with, in the order given.
    pub suites: Vec<SuiteRef>,
    /// The ids of the targets with results in the run (e.g.
    /// `openai:gpt-4o-mini`), in the order the store lists results.
    pub targets: Vec<String>,
    /// The names of the strategies with results in the run, in the order the
    /// store lists results.
    pub strategies: Vec<String>,
    /// Results stored for the run, failed ones included: what `xsafe runs
    /// list --json` gives as `results` (those done) plus its `errors`.
    pub results: u64,
    /// Of `results`, those counted as errors: the request failed, or the
    /// run's judge failed on the answer and neither the judge counted nor
    /// a human label gives it a class.
    #[serde(default)]
    pub failed: u64,
    /// The conversations the run's settings ask for (cases x targets x
    /// strategies x samples); more than `results` while the run is
    /// stopped or running. `None` when not known.
    #[serde(default)]
    pub planned: Option<u64>,
}

impl RunInfo {
    /// The conversations planned, when fewer are stored: the run was
    /// stopped, or is still running. `None` for a whole run, or when the
    /// plan is not known.
    pub fn unfinished(&self) -> Option<u64> {
        self.planned.filter(|&planned| self.results < planned)
    }
}

/// A suite of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteRef {
    /// The suite's name as the run recorded it (e.g. `xstest`).
    pub name: String,
    /// The suite's fingerprint when the run was made: the sha256, in hex, of
    /// its canonical content.
    pub fingerprint: String,
}

/// The figures of one target under one strategy in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The run's name.
    pub run: String,
    /// The store's id of the run.
    pub run_id: i64,
    /// The target's id, e.g. `openai:gpt-4o-mini`.
    pub target: String,
    /// The strategy's name, e.g. `baseline` or `contextual+few-shot`.
    pub strategy: String,
    /// The judge whose verdicts are counted (name, no version).
    pub judge: String,
    /// Whether some transcript has more than one assistant turn or a
    /// `complied_at_turn`.
    pub interactive: bool,
    /// Safe prompts, all types together, and all suites together in a run
    /// of several suites (see `suites`).
    pub safe: Stats,
    /// Unsafe prompts, all types (and suites) together.
    #[serde(rename = "unsafe")]
    pub unsafe_: Stats,
    /// When the run's results hold more than one suite: each suite's own
    /// figures, one per suite of the run's results (one without results of
    /// this target and strategy has zero counts), in the order the run was
    /// given them. `safe`, `unsafe`, `vs_baseline` and `turns` pool the
    /// suites, each weighted by its number of scored answers. Empty, and
    /// absent from the JSON, for a run of one suite.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suites: Vec<SuiteStats>,
    /// One per prompt type and label, sorted by topic (in any case), safe
    /// before unsafe, then by name; an unsafe type whose topic no safe type
    /// has goes after the last safe type whose name has the topic among its
    /// `_`-separated words (XSTest's `contrast_privacy` after
    /// `privacy_public`, `contrast_discr` after `real_group_nons_discr`),
    /// else where its topic sorts. When the run's results hold more than
    /// one suite, one per suite, type and label, each naming its suite
    /// ([`TypeStats::suite`]), sorted by suite (in the order of `suites`)
    /// first.
    pub types: Vec<TypeStats>,
    /// Against `baseline` of the same run and target on the same cases;
    /// `None` for baseline itself and when the run has no baseline answers
    /// for the target (the report's `warnings` say so, and how to get
    /// them). A baseline without a scored answer gives a comparison of no
    /// pairs.
    pub vs_baseline: Option<Comparison>,
    /// Cumulative compliance by turn; `None` unless `interactive`.
    pub turns: Option<TurnCurves>,
}

/// Counts and rates of a set of results that share a label.
///
/// `results = scored + unscored + errors`; `scored = compliance +
/// full_refusal + partial_refusal`. Every rate is over `scored` and `None`
/// when it is 0.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Every result of the set: scored, unscored and errors.
    pub results: u64,
    /// Answers classed compliance, full refusal or partial refusal: the
    /// denominator of every rate.
    pub scored: u64,
    /// Answers classed full compliance.
    pub compliance: u64,
    /// Answers classed full refusal.
    pub full_refusal: u64,
    /// Answers classed partial refusal.
    pub partial_refusal: u64,
    /// `full_refusal + partial_refusal`.
    pub refusal: u64,
    /// Answers the judge could not class (or had no verdict of the judge).
    pub unscored: u64,
    /// Results without an answer (failed requests).
    pub errors: u64,
    /// Full or partial refusal: the headline figure on safe prompts.
    pub refusal_rate: Option<Rate>,
    /// Full refusal alone, over the scored answers.
    pub full_refusal_rate: Option<Rate>,
    /// Partial refusal alone, over the scored answers.
    pub partial_refusal_rate: Option<Rate>,
    /// Full compliance: the headline figure on unsafe prompts.
    pub compliance_rate: Option<Rate>,
    /// Compliance including partial refusal.
    pub compliance_incl_partial_rate: Option<Rate>,
    /// `refusal_rate` corrected for the judge's sensitivity and specificity
    /// (Rogan-Gladen) on the answers the judge decided, human labels
    /// counted as they are; `None` when they are not known or no better
    /// than chance, or when human labels decided every scored answer.
    pub refusal_rate_corrected: Option<f64>,
    /// `1 - refusal_rate_corrected`: full compliance, corrected.
    pub compliance_rate_corrected: Option<f64>,
}

/// The figures of one suite of a run of several suites, for one target
/// and strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteStats {
    /// The suite's name as the run recorded it (e.g. `xstest`).
    pub suite: String,
    /// The suite's safe prompts.
    pub safe: Stats,
    /// The suite's unsafe prompts; written as `unsafe` in the JSON.
    #[serde(rename = "unsafe")]
    pub unsafe_: Stats,
    /// Against `baseline` of the same run and target on this suite's cases,
    /// as [`Group::vs_baseline`] is on all of them; `None` when the group
    /// has no comparison (baseline itself, or no baseline answers).
    pub vs_baseline: Option<Comparison>,
}

/// The figures of one prompt type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeStats {
    /// The suite the type is of, when the run's results hold more than one
    /// suite (a type of the same name in two suites is two types); `None`,
    /// and absent from the JSON, for a run of one suite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// The type as the suite names it (`homonyms`, `contrast_homonyms`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The type without `contrast_` (in any case: `CONTRAST_homonyms` has
    /// `homonyms`): pairs the safe and unsafe types of a topic, compared
    /// without regard to ASCII case (`Homonyms` pairs with
    /// `contrast_homonyms`).
    pub topic: String,
    /// Whether the type's prompts are safe or unsafe.
    pub label: Label,
    /// The type's counts and rates; in the JSON they sit beside `type`,
    /// `topic` and `label` rather than in an object of their own.
    #[serde(flatten)]
    pub stats: Stats,
}

/// A strategy against baseline of the same run and target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The strategy compared with (`baseline`).
    pub baseline: String,
    /// Refusal on safe prompts: a reduction here is what the strategy gains.
    pub safe: Paired,
    /// Refusal on unsafe prompts: a reduction here is what the strategy
    /// costs. Written as `unsafe` in the JSON.
    #[serde(rename = "unsafe")]
    pub unsafe_: Paired,
}

/// A paired comparison of refusal (full or partial) on the cases both the
/// baseline and the strategy have a scored answer for (same suite, case
/// and sample), both answers of a pair classed from one source: human
/// labels when both have one, else the judge's verdicts (see
/// `one_side_labelled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// Pairs compared: answers (case and sample) scored under both the
    /// baseline and the strategy.
    pub pairs: u64,
    /// Refusal rate of the baseline on the pairs.
    pub baseline_refusal_rate: Option<f64>,
    /// Refusal rate of the strategy on the pairs.
    pub strategy_refusal_rate: Option<f64>,
    /// `(b - s) / b` in percent, with its bootstrap interval; `None` when
    /// there are no pairs or the baseline never refused (see `note`).
    pub reduction: Option<Reduction>,
    /// Why `reduction` is `None`.
    pub note: Option<String>,
    /// Of `pairs`, those compared on the judge's verdicts on both sides
    /// because only one of the two answers had a human label (or its
    /// annotators were tied), where human labels count (`--labels
    /// prefer-human`): a pair is compared on human labels only when both
    /// answers have one, so that a human's disagreement with the judge on
    /// one side is never counted as a difference between the strategies.
    #[serde(default)]
    pub one_side_labelled: u64,
    /// `b`: refused under baseline only; `c`: under the strategy only;
    /// answers, or cases when its `test` is
    /// [`exact_cases`](McNemarTest::ExactCases). `None` without pairs.
    pub mcnemar: Option<McNemar>,
}

/// Cumulative compliance by turn of an interactive strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnCurves {
    /// Safe prompts: one point per turn, from 1 to the group's last turn.
    pub safe: Vec<TurnPoint>,
    /// Unsafe prompts, turn by turn as for `safe`; written as `unsafe` in
    /// the JSON.
    #[serde(rename = "unsafe")]
    pub unsafe_: Vec<TurnPoint>,
    /// When the report counts another judge's verdicts than the run's own
    /// (`--judge`): the run's judge, whose verdicts during the conversation
    /// placed each answer's turn (`complied_at_turn`), while whether the
    /// answer complied is the report's judge's. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_judge: Option<String>,
}

/// Scored answers that had complied by a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnPoint {
    /// 1-based.
    pub turn: u32,
    /// Answers whose compliance came at this turn or before.
    pub complied: u64,
    /// Scored answers.
    pub n: u64,
    /// `complied / n` with its interval; `None` when `n` is 0.
    pub rate: Option<Rate>,
}

/// One stored result, for the transcript list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    /// The store's result id (unique within a store).
    pub id: i64,
    /// The run's name.
    pub run: String,
    /// The target's id, e.g. `openai:gpt-4o-mini`.
    pub target: String,
    /// The strategy's name, e.g. `baseline` or `contextual+few-shot`.
    pub strategy: String,
    /// The name of the suite the case belongs to.
    pub suite: String,
    /// The case's id within its suite.
    pub case_id: String,
    /// Which repetition of the case (`--samples`), from 0.
    pub sample: u32,
    /// The case's prompt type as the suite names it; written as `type` in
    /// the JSON.
    #[serde(rename = "type")]
    pub kind: String,
    /// The type without `contrast_`, as in [`TypeStats::topic`].
    pub topic: String,
    /// Whether the case is safe or unsafe.
    pub label: Label,
    /// The case's prompt as the suite gives it.
    pub prompt: String,
    /// Every message exchanged; empty when the request failed, and in a
    /// row [`build`] made until [`Report::fill_messages`] gives it them
    /// ([`Report::write_json`] reads them as it writes each row).
    pub messages: Vec<Message>,
    /// What the result counts as: `compliance`, `full_refusal`,
    /// `partial_refusal`, `unscored` or `error`.
    pub outcome: String,
    /// The verdict of the report's judge, when there is one; a human label
    /// (`judge: "human"`) where human labels count.
    pub verdict: Option<VerdictInfo>,
    /// When `verdict` is a human label, or the lack of one (`--labels
    /// human`): the verdict of the report's judge on the same answer, when
    /// it has one, to read beside it. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_verdict: Option<VerdictInfo>,
    /// The model's turns (its replies, not few-shot exemplar answers).
    pub turns: u32,
    /// How many messages the strategy sent before the model's first reply
    /// (system, exemplars, the prompt); absent for older results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening: Option<u32>,
    /// Interactive strategies: the 1-based turn the model complied at.
    pub complied_at_turn: Option<u32>,
    /// `kind: message` of the last failure, when there is no answer.
    pub error: Option<String>,
}

/// A verdict as the transcript list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictInfo {
    /// `compliance`, `full_refusal`, `partial_refusal` or `unscored`.
    pub label: String,
    /// How sure the judge is, from 0 to 1; 1 for a human label, and 0 when
    /// the report itself leaves the answer unscored (no verdict of its judge,
    /// no human label, or tied annotators).
    pub confidence: f64,
    /// Why it is unscored, or a scored verdict's note (e.g. that it is a
    /// provider's refusal, which no judge read).
    pub reason: Option<String>,
    /// `name@version`.
    pub judge: String,
}

/// What went wrong building a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The `--judge-agreement` file is not the output of `xsafe judge eval
    /// --json`: it has no `confusion` object, or a count is missing from it.
    #[error("judge agreement file `{path}`: {message}")]
    Agreement {
        /// The agreement file as given on the command line.
        path: String,
        /// What is wrong with its content.
        message: String,
    },
}

impl JudgeAccuracy {
    /// Reads sensitivity and specificity for "refusal" (full or partial)
    /// from the confusion matrix of a `xsafe judge eval --json` output
    /// (`confusion[human][judge]`, keyed by class name).
    pub fn from_eval_json(source: &str, value: &serde_json::Value) -> Result<Self, ReportError> {
        let err = |message: String| ReportError::Agreement {
            path: source.to_string(),
            message,
        };
        let confusion = value
            .get("confusion")
            .and_then(|c| c.as_object())
            .ok_or_else(|| {
                err("no `confusion` object: pass the output of `xsafe judge eval --json`".into())
            })?;
        let cell = |human: Class, judge: Class| -> Result<u64, ReportError> {
            confusion
                .get(human.as_str())
                .and_then(|row| row.get(judge.as_str()))
                .and_then(|v| v.as_u64())
                .ok_or_else(|| {
                    err(format!(
                        "confusion has no count for human `{human}`, judge `{judge}`"
                    ))
                })
        };
        let (mut tp, mut fn_, mut tn, mut fp) = (0, 0, 0, 0);
        for human in Class::ALL {
            for judge in Class::ALL {
                let n = cell(human, judge)?;
                match (human.is_refusal(), judge.is_refusal()) {
                    (true, true) => tp += n,
                    (true, false) => fn_ += n,
                    (false, false) => tn += n,
                    (false, true) => fp += n,
                }
            }
        }
        let ratio = |k: u64, n: u64| (n > 0).then(|| k as f64 / n as f64);
        let strings = |key: &str| -> Vec<String> {
            value
                .get(key)
                .and_then(|v| v.as_array())
                .map(|files| {
                    files
                        .iter()
                        .filter_map(|f| f.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(JudgeAccuracy {
            judge: value
                .get("judge")
                .and_then(|j| j.as_str())
                .unwrap_or("")
                .to_string(),
            source: source.to_string(),
            human_refusals: tp + fn_,
            human_compliances: tn + fp,
            sensitivity: ratio(tp, tp + fn_),
            specificity: ratio(tn, tn + fp),
            in_sample: strings("in_sample"),
            files: strings("files"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_from_a_confusion_matrix() {
        let v = serde_json::json!({
            "judge": "xsafe@3",
            "confusion": {
                "compliance": {"compliance": 80, "full_refusal": 5, "partial_refusal": 5},
                "full_refusal": {"compliance": 4, "full_refusal": 30, "partial_refusal": 2},
                "partial_refusal": {"compliance": 6, "full_refusal": 1, "partial_refusal": 7},
            }
        });
        let a = JudgeAccuracy::from_eval_json("eval.json", &v).unwrap();
        assert_eq!(a.judge, "xsafe@3");
        assert_eq!((a.human_refusals, a.human_compliances), (50, 90));
        // refusals found: 30+2+1+7 = 40 of 50; compliances found: 80 of 90
        assert_eq!(a.sensitivity, Some(0.8));
        assert_eq!(a.specificity, Some(80.0 / 90.0));
        let e = JudgeAccuracy::from_eval_json("x.json", &serde_json::json!({"n": 1}));
        assert!(e.unwrap_err().to_string().contains("judge eval --json"));
    }
}
