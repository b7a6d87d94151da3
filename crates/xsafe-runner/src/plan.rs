use crate::RunError;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use xsafe_core::{Case, Judge, Label, Strategy, Suite, TOOL_VERSION, Target, stratified_sample};
use xsafe_store::RunSpec;

/// What to run: suites x targets x strategies x samples, judged by one judge.
#[derive(Clone)]
pub struct RunPlan {
    /// The suites to run, each given once; `types` and `limit` pick their
    /// cases.
    pub suites: Vec<Suite>,
    /// The targets to ask; each bounds its own requests in flight
    /// (`Target::max_concurrency`).
    pub targets: Vec<Arc<dyn Target>>,
    /// The strategies every case runs under; the report compares each with
    /// `baseline` when the plan has it.
    pub strategies: Vec<Arc<dyn Strategy>>,
    /// Judges every transcript (its verdict is stored with it), and is what
    /// interactive strategies consult between turns.
    pub judge: Arc<dyn Judge>,
    /// The models `judge` asks: an `llm:` judge's target (each of a
    /// cascade's `llm:` judges); empty for a judge that asks none
    /// (`strmatch`). Where they are served (their base URLs, without
    /// credentials) is recorded with the run as the judge's `served_at`,
    /// which the run key leaves out, as it does the targets': a stored run
    /// judged at other base URLs is refused as one whose target moved is
    /// ([`RunError::ServerMoved`]), and another run's verdicts are copied
    /// only when its judge was served at the same URLs (see
    /// [`execute`](crate::execute)).
    pub judge_targets: Vec<Arc<dyn Target>>,
    /// Answers per case (more than one is useful at a temperature above 0).
    pub samples: u32,
    /// Picks the cases under `limit` and, plus the sample's index, seeds
    /// each conversation, so the same command asks the same things.
    pub seed: u64,
    /// At most this many cases per suite: a seeded sample stratified by
    /// label and type, drawn from the cases in id order.
    pub limit: Option<usize>,
    /// Only these types (all when empty).
    pub types: Vec<String>,
    /// The run's name; derived from the settings when absent, so the same
    /// command finds the same run.
    pub name: Option<String>,
    /// Whether a conversation this run has not stored yet copies the done
    /// result of another run of the store that asked the same question in
    /// the same way (same target settings, strategy, case and seed, asked
    /// by an xsafe that sends the same for them; see
    /// [`execute`](crate::execute)) instead of asking the model. Not part
    /// of the run's settings: it changes what is asked, not what the
    /// answers are, so it leaves the run's key (and name) as they are.
    pub reuse: bool,
    /// Whether a stored run of this key that was asked at other base URLs
    /// (of a target, of an interactive strategy's clarifier, or of an
    /// `llm:` judge's model) is resumed at this plan's: the user says the
    /// model moved to them. Without it such a run is refused
    /// ([`RunError::ServerMoved`]): the key leaves the URLs out, but another
    /// URL may serve another model (a proxy in front of it), whose answers
    /// must not be mixed with the stored ones. The run's config keeps the
    /// URLs it was recorded with. Not part of the run's settings.
    ///
    /// A model the stored run never got an answer from (no answer of the
    /// target, or under the clarifier's strategy, is stored, failed
    /// requests only; no verdict of the judge) is no move: the run is
    /// resumed at the plan's URLs, which its config records from then on
    /// ([`Event::Relocated`](crate::Event::Relocated)), with or without
    /// this.
    pub server_moved: bool,
}

/// The cases a plan runs, per suite.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    /// Each suite's name with its selected cases, suites in the plan's order
    /// and cases in the suite's; a suite left with no case is dropped.
    pub suites: Vec<(String, Vec<Case>)>,
}

impl RunPlan {
    /// The setting of a local target (backend `local`) that holds the
    /// sha256 of its model file, in lower-case hex: what a run knows the
    /// model by, rather than the file's name, path or size (see
    /// [`RunPlan::key`]). Every local target must carry it, and every
    /// local clarifier of an interactive strategy: a plan with one without
    /// it is refused.
    pub const MODEL_SHA256: &'static str = "model_sha256";

    /// Applies `types` and `limit` to every suite.
    pub(crate) fn selection(&self) -> Result<Selection, RunError> {
        if self.suites.is_empty() || self.targets.is_empty() || self.strategies.is_empty() {
            return Err(RunError::Plan(
                "a run needs at least one suite, one target and one strategy".into(),
            ));
        }
        if self.samples == 0 {
            return Err(RunError::Plan("--samples must be at least 1".into()));
        }
        for (i, first) in self.suites.iter().enumerate() {
            let Some(second) = self.suites[i + 1..].iter().find(|s| s.name == first.name) else {
                continue;
            };
            // Results are stored under the suite's name: two suites of one
            // name would share their cases' keys.
            let origin = |s: &Suite| match s.source.as_str() {
                "built-in" => "the built-in suite".to_string(),
                source => format!("`{source}`"),
            };
            return Err(RunError::Plan(if first.source == second.source {
                format!(
                    "suite `{}` ({}) is given twice; give each suite once",
                    first.name,
                    origin(first)
                )
            } else {
                format!(
                    "{} and {} are both suite `{}`: a suite file is named by its file name \
                     without the extension; rename or copy one of the files to another name, \
                     then give both",
                    origin(first),
                    origin(second),
                    first.name
                )
            }));
        }
        // Results are stored under the target's id and the strategy's name:
        // one given twice would be asked twice for the same keys.
        let twice = |names: Vec<&str>| {
            names
                .iter()
                .enumerate()
                .find(|(i, n)| names[..*i].contains(n))
                .map(|(_, n)| n.to_string())
        };
        if let Some(id) = twice(self.targets.iter().map(|t| t.id()).collect()) {
            return Err(RunError::Plan(format!(
                "target `{id}` is given twice; give each target once (two settings of one \
                 model are two named targets of a --targets file)"
            )));
        }
        self.check_local_models()?;
        if let Some(name) = twice(self.strategies.iter().map(|s| s.name()).collect()) {
            return Err(RunError::Plan(format!(
                "strategy `{name}` is given twice; give each strategy once"
            )));
        }
        // Nor under two names: `contextual+few-shot` and
        // `few-shot+contextual` send the same messages, and a plan with both
        // would ask every case twice to compare a strategy with itself.
        let sent: Vec<Option<Value>> = self
            .strategies
            .iter()
            .map(|s| what_is_sent(&s.definition()))
            .collect();
        for (i, this) in sent.iter().enumerate() {
            let Some(this) = this else { continue };
            if let Some(first) = sent[..i].iter().position(|s| s.as_ref() == Some(this)) {
                return Err(RunError::Plan(format!(
                    "strategies `{}` and `{}` are one strategy: they have the same steps and \
                     send the same messages (the order of these steps changes nothing sent), so \
                     every case would be asked twice; give one of them",
                    self.strategies[first].name(),
                    self.strategies[i].name()
                )));
            }
        }
        for t in &self.types {
            if !self
                .suites
                .iter()
                .any(|s| s.cases.iter().any(|c| &c.kind == t))
            {
                let mut known: Vec<&str> = self.suites.iter().flat_map(|s| s.types()).collect();
                known.sort_unstable();
                known.dedup();
                return Err(RunError::Plan(format!(
                    "--types: no case has type `{t}`; the suites have: {}",
                    known.join(", ")
                )));
            }
        }
        let mut suites = Vec::new();
        for suite in &self.suites {
            let cases: Vec<Case> = suite
                .cases
                .iter()
                .filter(|c| self.types.is_empty() || self.types.contains(&c.kind))
                .cloned()
                .collect();
            let cases = match self.limit {
                Some(n) => sample(&cases, n, self.seed),
                None => cases,
            };
            if !cases.is_empty() {
                suites.push((suite.name.clone(), cases));
            }
        }
        if suites.is_empty() {
            return Err(RunError::Plan(
                "no case left to run after --types and --limit".into(),
            ));
        }
        Ok(Selection { suites })
    }

    /// Refuses a local target, or a local clarifier of an interactive
    /// strategy, without the sha256 of its model file
    /// ([`RunPlan::MODEL_SHA256`]), which the run would not know it by; and
    /// two targets that are one model with the same settings, as the run
    /// key reads them: one local model file under two names
    /// (`local:default` and `local:NAME`, two paths, a symbolic link, a
    /// copy), which would be asked every case twice, and whose results a
    /// later run under a third name could not tell apart.
    fn check_local_models(&self) -> Result<(), RunError> {
        for t in &self.targets {
            if lacks_content_identity(&t.settings()) {
                return Err(RunError::Plan(format!(
                    "target `{}` is a local model whose settings do not carry the sha256 of \
                     its model file (`{MODEL_SHA256}`, 64 lower-case hex digits): a run knows \
                     a local model by its file's content, not by its name, path or size; \
                     build the target as xsafe's command line does, which records it",
                    t.id()
                )));
            }
        }
        for s in &self.strategies {
            let definition = s.definition();
            for step in definition["steps"].as_array().into_iter().flatten() {
                let clarifier = &step["clarifier"];
                if clarifier.is_object() && lacks_content_identity(&clarifier["settings"]) {
                    return Err(RunError::Plan(format!(
                        "the clarifier `{}` of strategy `{}` is a local model whose settings \
                         do not carry the sha256 of its model file (`{MODEL_SHA256}`): a run \
                         knows a local model by its file's content; build the clarifier as \
                         xsafe's command line does, which records it",
                        clarifier["id"].as_str().unwrap_or_default(),
                        s.name()
                    )));
                }
            }
        }
        let keyed: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                let mut keyed = json!({"id": t.id(), "settings": t.settings()});
                keyed_target(&mut keyed, KeyVersion::Current);
                keyed
            })
            .collect();
        for (i, this) in keyed.iter().enumerate() {
            let Some(first) = keyed[..i].iter().position(|k| k == this) else {
                continue;
            };
            let same = match this["settings"][MODEL_SHA256].as_str() {
                Some(sha256) => format!(
                    "one local model: their model files hold the same weights (sha256 \
                     {sha256}, whatever the file's name or path) and they have the same settings"
                ),
                None => "one model with the same settings".to_string(),
            };
            return Err(RunError::Plan(format!(
                "targets `{}` and `{}` are {same}, so every case would be asked twice; give one \
                 of them (two settings of one model are two named targets of a --targets file)",
                self.targets[first].id(),
                self.targets[i].id()
            )));
        }
        Ok(())
    }

    /// Everything that decides the run's results, recorded with the run.
    ///
    /// A run whose `limit` leaves cases out also records `sampling`, the
    /// version of the sampling that picked them (`SAMPLING_VERSION` in this module): the
    /// same seed picks other cases under another version, so it must be
    /// another run. Runs the limit does not cut have no `sampling`, and keep
    /// the key they had before it existed.
    ///
    /// Every run records `asking`, the version of how this xsafe asks
    /// (`ASKING_VERSION` in this module): what it sends for the same
    /// recorded settings. The run key leaves it out, so a run is resumed
    /// after an upgrade as before; answers are copied only between runs of
    /// one version (see `answer_key` in this module).
    pub fn config(&self) -> Value {
        let mut config = json!({
            "suites": self.suites.iter().map(|s| json!({
                "name": s.name,
                "source": s.source,
                "fingerprint": s.fingerprint(),
                "cases": s.cases.len(),
            })).collect::<Vec<_>>(),
            "targets": self.targets.iter().map(|t| json!({
                "id": t.id(),
                "settings": t.settings(),
            })).collect::<Vec<_>>(),
            "strategies": self.strategies.iter().map(|s| json!({
                "name": s.name(),
                "definition": s.definition(),
            })).collect::<Vec<_>>(),
            "judge": self.judge_entry(),
            "samples": self.samples,
            "seed": self.seed,
            "limit": self.limit,
            "types": self.types,
            "asking": ASKING_VERSION,
        });
        if self.limit_cuts() {
            config["sampling"] = json!(SAMPLING_VERSION);
        }
        config
    }

    /// The judge as the run's config records it: its `name` and
    /// `version`, and, when it asks models ([`RunPlan::judge_targets`]),
    /// `served_at`: each model's id with its base URLs as [`served_at`]
    /// gives them (sorted, without a trailing slash or credentials; none
    /// for a local model), and `models`: each model's id with the settings
    /// its verdicts are tied to ([`xsafe_judge::LlmJudge::model_identity`],
    /// whose digest ends an `llm:` judge's version), so that a run resumed
    /// with another model under the judge's name says which. The run key
    /// leaves both out (the version holds the models' digest), so that runs
    /// recorded before them keep their key.
    pub(crate) fn judge_entry(&self) -> Value {
        let mut entry = json!({"name": self.judge.name(), "version": self.judge.version()});
        if self.judge_targets.is_empty() {
            return entry;
        }
        let mut models = serde_json::Map::new();
        for target in &self.judge_targets {
            models.insert(
                target.id().to_string(),
                xsafe_judge::LlmJudge::model_identity(&target.settings()),
            );
        }
        entry["models"] = Value::Object(models);
        let mut at = serde_json::Map::new();
        for target in &self.judge_targets {
            let urls = served_at(&json!({"settings": target.settings()}));
            // Two judges of a cascade may ask one model id: their URLs
            // together.
            let slot = at
                .entry(target.id().to_string())
                .or_insert_with(|| json!([]));
            if let (Some(all), Some(more)) = (slot.as_array_mut(), urls.as_array()) {
                all.extend(more.iter().cloned());
                all.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                all.dedup();
            }
        }
        entry["served_at"] = Value::Object(at);
        entry
    }

    /// Whether `limit` leaves out some case of a suite (after `types`), so
    /// that the sampling decides which cases the run has.
    fn limit_cuts(&self) -> bool {
        let Some(limit) = self.limit else {
            return false;
        };
        self.suites.iter().any(|s| {
            s.cases
                .iter()
                .filter(|c| self.types.is_empty() || self.types.contains(&c.kind))
                .count()
                > limit
        })
    }

    /// The sha256 of the config: what makes two commands the same run.
    ///
    /// Left out: the tool version and the version of how it asks (`asking`, see
    /// `ASKING_VERSION` in this module), so a run started before an upgrade can
    /// be resumed after it; where a target is served (its base URLs), where
    /// an `llm:` judge's model is (the judge's `served_at`), and where
    /// a local model file lies (its path, and the folder in a target named by
    /// the path), since moving a model does not change its answers; the name a
    /// local model was given by (`local:default`, `local:NAME`, its path, a
    /// symbolic link to it or a copy of another name) and the name of its
    /// file: the key holds the sha256 of the file read
    /// ([`RunPlan::MODEL_SHA256`]), with its settings, so two files of one
    /// name and size that hold other weights are two runs (a run stored
    /// before local models were known by their content is no command's run
    /// now: see `local_model_file` in this module); a strategy's
    /// description (its definition's top-level `description`: prose for
    /// whoever reads the record, which changes nothing sent, so editing it
    /// in a strategy file, or in a step file of a composition that has none
    /// of its own, asks nothing again) and the folder
    /// of a data file its steps name (`exemplars = "data/bank.toml"` is known
    /// by `bank.toml` and the exemplars it holds): what
    /// [`xsafe_strategy::identity`] leaves out, as `xsafe serve` does; a
    /// request's timeout, which decides only whether a request fails (raising
    /// it to resume a run whose requests timed out is the usual fix); where a
    /// suite was read from (the path a file was given by, `p.csv`, `./p.csv` or
    /// `/abs/p.csv`, or a fetched suite's URL: its name and fingerprint stay);
    /// the order of the suites, targets, strategies and types; and types given
    /// twice. The same is left out of the settings of an interactive strategy's
    /// clarifier target.
    pub fn key(&self) -> String {
        key_of(self.config(), KeyVersion::Current)
    }

    /// The keys as earlier versions of xsafe made them, newest first, so a
    /// run stored then is still resumed by the same command: before a
    /// strategy's description was left out, before the name a local model
    /// was given by (`local:default`, `local:NAME`, a path) was, before
    /// where a suite was read from and the order of types were, before the
    /// clarifier's settings were treated as the targets', and before the
    /// timeout, the model file's path and the order of lists were.
    ///
    /// None of them is the key of a run of a local model stored before
    /// local models were known by the sha256 of their file: a plan's local
    /// targets record it ([`RunPlan::MODEL_SHA256`]), which every version
    /// reads, and those runs' configs have none. Such a run is not resumed.
    ///
    /// For a run whose limit leaves cases out, only the keys made with this
    /// sampling (see `SAMPLING_VERSION` in this module): the older ones are
    /// from an older sampling, under which the same seed picked other cases,
    /// and resuming such a run would add this sampling's cases to the ones
    /// stored. The command starts a run of its own instead (another derived
    /// name; a `--run` name that is taken is refused), and the stored run
    /// stays as it is.
    pub fn legacy_keys(&self) -> Vec<String> {
        let cuts = self.limit_cuts();
        // One config for every version: building it fingerprints every
        // case of every suite.
        let config = self.config();
        KeyVersion::LEGACY
            .into_iter()
            .filter(|v| !cuts || *v >= KeyVersion::FIRST_OF_THIS_SAMPLING)
            .map(|v| key_of(config.clone(), v))
            .collect()
    }

    /// The name a command without `--run` gives its run, from `key`.
    pub fn derived_name(key: &str) -> String {
        format!("run-{}", &key[..12])
    }

    /// The run's name: `name` when given, else [`RunPlan::derived_name`] of
    /// [`RunPlan::key`].
    pub fn run_name(&self) -> String {
        self.name_with(&self.key())
    }

    /// The run's name when its key is `key`.
    fn name_with(&self, key: &str) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| RunPlan::derived_name(key))
    }

    pub(crate) fn spec(&self) -> RunSpec {
        // Built once: it fingerprints every case of every suite.
        let config = self.config();
        let key = key_of(config.clone(), KeyVersion::Current);
        RunSpec {
            name: self.name_with(&key),
            key,
            config,
            suites: self
                .suites
                .iter()
                .map(|s| (s.name.clone(), s.fingerprint()))
                .collect(),
            seed: self.seed,
            tool_version: TOOL_VERSION.to_string(),
        }
    }
}

/// What a strategy of `definition` sends, whatever order its steps were
/// given in, for telling two names of one strategy apart from two
/// strategies; `None` for a definition without `steps` (a strategy that
/// is not a composition of steps is known by its name only).
///
/// It is the steps' definitions without what sends nothing: the strategy's
/// name and description, each step's `name` and `file` (the strategy file
/// it was read from, `builtin:NAME` for a built-in one), and whatever else
/// [`xsafe_strategy::identity`] leaves out (the folder of a data file or of
/// an encoder named by its directory), so that a strategy file that sends
/// what a built-in sends is that strategy under another name. Every other
/// field of a step stays: its settings and the data it sends (exemplars,
/// texts, follow-ups), how it picks (`selection_version`, an encoder's
/// sha256) and its clarifier. Steps keep their order, except those
/// whose place changes nothing sent, which go last in a fixed order: the one
/// interactive step (it adds nothing to the opening and drives the
/// conversation wherever it stands), and the one few-shot step without a
/// system text (its exchanges come after every system text and before the
/// prompt wherever it stands, chosen by the prompt as given). A few-shot
/// step's system text joins the contextual step's in step order, and may
/// render the prompt as the contextual step rewrote it, so such a step
/// keeps its place.
pub fn what_is_sent(definition: &Value) -> Option<Value> {
    definition.get("steps")?.as_array()?;
    let identity = xsafe_strategy::identity(definition);
    let steps: Vec<Value> = identity["steps"]
        .as_array()?
        .iter()
        .map(|step| {
            let mut step = step.clone();
            if let Some(step) = step.as_object_mut() {
                // Which file the step was read from, and under what name:
                // neither is sent.
                step.remove("name");
                step.remove("file");
            }
            step
        })
        .collect();
    let only_one = |kind: &Value| steps.iter().filter(|s| &s["kind"] == kind).count() == 1;
    let moves = |s: &Value| {
        only_one(&s["kind"])
            && match s["kind"].as_str() {
                Some("interactive") => true,
                Some("few-shot") => s["settings"]["system"].is_null(),
                _ => false,
            }
    };
    let (mut free, mut placed): (Vec<&Value>, Vec<&Value>) = steps.iter().partition(|s| moves(s));
    free.sort_by_cached_key(|s| s.to_string());
    placed.extend(free);
    Some(json!(placed))
}

/// The key of the answers that one target gives under one strategy: two
/// conversations of a case whose keys are equal, asked as the same sample,
/// are the same question asked in the same way, so one's answer may stand
/// for the other's (see [`execute`](crate::execute)). `target` and
/// `strategy` are entries of a run's config (`{id, settings}` and `{name,
/// definition}`), `seed` and `judge` its `seed` and `judge`, and `asking`
/// the version of how the run's xsafe asked ([`asking_of`] its config).
///
/// It is the run key of a config of that one target and strategy, with
/// what [`RunPlan::key`] leaves out left out here too (where a model is
/// served, timeouts, a local model's path, file name and the name it was
/// given by: it is known by the sha256 of its file, so the answers of a
/// run recorded before, without it, are never copied; a
/// strategy's description, the folder of its data files, a clarifier's
/// same settings), and besides:
/// - the strategy's name, its steps' names and files, and the order of
///   steps whose place changes nothing sent ([`what_is_sent`]):
///   `contextual+few-shot` and a composition file of those steps ask the
///   same, and so do `few-shot` and a few-shot file of the same settings.
///   A strategy that is not made of steps is known by its name;
/// - the suites, the limit, the types and the number of samples, which
///   decide which cases are asked, not what a case is answered;
/// - the judge, unless a step is interactive (or the strategy is not made
///   of steps; see [`consults_judge`]): an interactive step asks the judge
///   whether to follow up, so its conversations depend on the judge's name
///   and version, and on where an `llm:` judge's model is served (its
///   `served_at`: a judge recorded without one, by an older xsafe, is not
///   the judge of a run that records it).
///
/// It holds what the run key leaves out so that a run is resumed across
/// upgrades: the version of how xsafe asked ([`ASKING_VERSION`]). Two
/// versions send something else for the same recorded settings, so the
/// answers of one are never the other's.
pub(crate) fn answer_key(
    target: &Value,
    strategy: &Value,
    seed: &Value,
    judge: &Value,
    asking: u64,
) -> String {
    let interactive = consults_judge(strategy);
    let definition = &strategy["definition"];
    let strategy = match what_is_sent(definition) {
        Some(steps) => json!({"definition": {"steps": steps}}),
        None => json!({"name": strategy["name"], "definition": definition}),
    };
    let config = json!({
        "targets": [target],
        "strategies": [strategy],
        "suites": [],
        "types": [],
        "seed": seed,
        "judge": if interactive { judge.clone() } else { Value::Null },
        "asking": asking,
        "served_at": served_at(target),
    });
    // Not `key_of`, which leaves `asking` out.
    digest(config, KeyVersion::Current)
}

/// Whether a strategy of a run's config (`{name, definition}`) consults the
/// judge between turns, so that its conversations depend on the judge: one
/// with an interactive step, or one not made of steps (what it does is not
/// known).
pub(crate) fn consults_judge(strategy: &Value) -> bool {
    match what_is_sent(&strategy["definition"]) {
        Some(steps) => steps
            .as_array()
            .is_some_and(|steps| steps.iter().any(|s| s["kind"] == "interactive")),
        None => true,
    }
}

/// Where a target of a run's config is served: its base URLs, sorted,
/// without a trailing slash, nor the user name and password they may carry
/// (a local model has none). The run key leaves them out, so that a run is
/// resumed after its server moved; answers are copied only between runs
/// asked at the same URLs, since another URL may be another model behind
/// the same settings: `xsafe serve` in front of the model, whose answers
/// are the profile's strategy's, not the model's own. Nor is a stored run
/// resumed at other URLs unless the user says the model moved
/// ([`RunPlan::server_moved`]).
///
/// Credentials do not say where a model is served, and a config records
/// them as it was written: in clear by an xsafe before commit 87fbda3
/// (`http://alice:s3cret@gpu:8000/v1`), redacted since
/// (`http://<redacted>@gpu:8000/v1`, as `xsafe_target::without_userinfo`
/// gives it), and not at all when none were given. All three are the same
/// place here (`xsafe_target::without_credentials`).
pub(crate) fn served_at(target: &Value) -> Value {
    let mut urls: Vec<String> = base_urls(target)
        .map(xsafe_target::without_credentials)
        .collect();
    urls.sort();
    urls.dedup();
    json!(urls)
}

/// The base URLs of a target of a run's config as messages show them:
/// sorted, without a trailing slash, a user name and password they carry
/// (a config of an older xsafe has them in clear) shown as `<redacted>`.
pub(crate) fn shown_at(target: &Value) -> Vec<String> {
    let mut urls: Vec<String> = base_urls(target)
        .map(xsafe_target::without_userinfo)
        .collect();
    urls.sort();
    urls.dedup();
    urls
}

/// The base URLs of a target of a run's config (`base_urls`, and the
/// `base_url` of an older config), without a trailing slash.
fn base_urls(target: &Value) -> impl Iterator<Item = &str> {
    let settings = &target["settings"];
    settings["base_urls"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(std::iter::once(&settings["base_url"]))
        .filter_map(Value::as_str)
        .map(|u| u.trim_end_matches('/'))
}

/// The version of how xsafe asks, recorded as `asking` in the config of
/// every run (see [`RunPlan::config`]): what it sends a target for the same
/// recorded settings (the target's and the strategy's, the seed, the
/// judge), which the run key cannot tell apart, as it leaves the tool
/// version out so that a run is resumed after an upgrade.
///
/// 1 (never written: runs from before have no `asking`, and count as 1)
/// is every xsafe before commit 063726e: a provider refusal (a reply with
/// `content: null` and a `refusal` text) was sent back as an empty
/// assistant turn, and was an empty `{{ reply }}` for an interactive
/// follow-up; before commit 3e5c895, too, `--target-seed` (or `seed` in a
/// target's settings) was recorded but the per-sample seed was sent. 2
/// sends a provider refusal back as its text, and makes it the reply an
/// interactive follow-up answers.
///
/// Answers are copied only between runs of the same version (it is part
/// of [`answer_key`]). This plan's conversations are asked as this version,
/// a resumed run's too whatever version its config records, so they copy
/// only from runs of this version. Raise it whenever a change makes xsafe
/// send something different for the same recorded settings, so that no
/// run copies answers asked the other way.
pub(crate) const ASKING_VERSION: u32 = 2;

/// The version of how the xsafe that recorded `config` asked (its
/// `asking`; see [`ASKING_VERSION`]): 1 for a config without one.
pub(crate) fn asking_of(config: &Value) -> u64 {
    config.get("asking").and_then(Value::as_u64).unwrap_or(1)
}

/// The version of the sampling `limit` uses ([`sample`]), recorded in the
/// config of a run it cuts (see [`RunPlan::config`]).
///
/// 1 (never written: runs from before have no `sampling`) shared the places
/// among (type, label) groups, giving tied remainders to the groups first by
/// name; 2 shares them among labels first, then among each label's types,
/// and orders ties by the seed, drawing from the cases in the file's order;
/// 3 draws the same way from the cases in id order, so that reordering a
/// suite's rows (which keeps its fingerprint, and so the run's key) picks
/// the same cases. Raise it whenever the same seed would pick other cases,
/// so that a stored run is never resumed with other cases mixed in.
pub(crate) const SAMPLING_VERSION: u32 = 3;

/// The seeded sample of at most `n` of `cases` that `limit` takes
/// (stratified by label, then type: see [`stratified_sample`]), in the
/// order of `cases`.
///
/// It is drawn from the cases sorted by id, the order the suite's
/// fingerprint reads them in: the same cases and seed give the same sample
/// whatever order the file lists them in, so a run key (which holds the
/// fingerprint, the seed and the limit) always means the same cases.
fn sample(cases: &[Case], n: usize, seed: u64) -> Vec<Case> {
    let mut by_id: Vec<&Case> = cases.iter().collect();
    by_id.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    let keys: Vec<(Label, &str)> = by_id.iter().map(|c| (c.label, c.kind.as_str())).collect();
    let picked: HashSet<&str> = stratified_sample(&keys, n, seed)
        .into_iter()
        .map(|i| by_id[i].id.as_str())
        .collect();
    cases
        .iter()
        .filter(|c| picked.contains(c.id.as_str()))
        .cloned()
        .collect()
}

/// How a version of xsafe made a run's key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum KeyVersion {
    /// Left out only the targets' base URLs.
    First,
    /// Also their timeouts and model paths, and the order of lists.
    BeforeClarifier,
    /// Also the same settings of clarifier targets, and the folder in a
    /// local target's name (`local:/models/m.gguf` is keyed as
    /// `local:m.gguf`).
    BeforeSuiteFiles,
    /// Also where a suite was read from (a file's path as typed, a fetched
    /// suite's URL: it is known by its name and fingerprint), and the order
    /// and repeats of `types`. The first made with sampling 3 (see
    /// `SAMPLING_VERSION`).
    BeforeLocalNames,
    /// Also the name a local model was given by: `local:default`,
    /// `local:NAME` and `local:PATH` (through a symbolic link too) of one
    /// file are keyed as `local:FILE`, the name of the file the model was
    /// read from, which its settings' `model` holds; an interactive
    /// strategy's clarifier likewise.
    BeforeDescriptions,
    /// Also what else in a strategy's definition changes nothing sent
    /// ([`xsafe_strategy::identity`], which `xsafe serve` compares a
    /// profile by too): its description (the definition's top-level
    /// `description`: a composition file's own, or its steps' files' in
    /// order when it has none; a step's definition has none), so a file
    /// whose description alone was edited is the same run; and the folder
    /// of a data file a step names (`exemplars = "data/bank.toml"` is keyed
    /// as `bank.toml`, with the data it holds), which the definition, and
    /// so every older key, holds as written.
    ///
    /// Since local targets record the sha256 of their model file
    /// ([`RunPlan::MODEL_SHA256`]), a local model is keyed by it rather than
    /// by its file's name ([`local_model_file`]); the configs recorded before
    /// have none and keep their keys, which no command's config has.
    Current,
}

impl KeyVersion {
    /// The versions before [`KeyVersion::Current`], newest first.
    const LEGACY: [KeyVersion; 5] = [
        KeyVersion::BeforeDescriptions,
        KeyVersion::BeforeLocalNames,
        KeyVersion::BeforeSuiteFiles,
        KeyVersion::BeforeClarifier,
        KeyVersion::First,
    ];

    /// The oldest version whose runs were sampled as `SAMPLING_VERSION`
    /// says: a run whose `limit` leaves cases out is looked for under this
    /// version's key and newer ones only.
    const FIRST_OF_THIS_SAMPLING: KeyVersion = KeyVersion::BeforeLocalNames;
}

/// A local target named by the model file's path is keyed by the file's
/// name: moving the model does not change its answers (its size and name
/// stay in the settings). From [`KeyVersion::BeforeSuiteFiles`] to
/// [`KeyVersion::BeforeLocalNames`]; [`local_model_file`] after.
fn local_file_name(target: &mut Value) {
    let local = target["settings"]["backend"] == "local";
    let path = target["id"]
        .as_str()
        .and_then(|id| id.strip_prefix("local:"))
        .filter(|p| p.contains(['/', '\\']));
    if let (true, Some(path)) = (local, path) {
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path).to_string();
        target["id"] = Value::String(format!("local:{name}"));
    }
}

/// A local target is keyed by what its model file holds: a target whose
/// settings carry the file's sha256 (`model_sha256`, which every local
/// target records since local models are known by their content; see
/// [`RunPlan::MODEL_SHA256`]) is keyed without the file's name (`model`), and one
/// named `local:...` as `local:sha256:HEX`. So `local:default`,
/// `local:NAME` of a known model and `local:PATH` (the path itself, a
/// symbolic link to the file, or a copy of it under another name) are one
/// target, as what they answer is the same, and two files of one name and
/// size that hold other weights are two. A target of a `--targets` file
/// keeps the name it was given.
///
/// A target recorded before (no `model_sha256`) named `local:...` is keyed
/// as `local:FILE`, FILE being the name of the model file it was read
/// from, which its settings' `model` holds: so the runs stored then keep
/// their keys, but a command, whose targets record the sha256, never has
/// such a key (its settings hold the sha256 under every version of the
/// key), and does not resume them nor copy their answers: their key could
/// not tell two files of one name and size apart.
fn local_model_file(target: &mut Value) {
    let named = target["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("local:"));
    if target["settings"]["backend"] != "local" {
        return;
    }
    if let Some(sha256) = target["settings"][MODEL_SHA256].as_str() {
        if named {
            target["id"] = Value::String(format!("local:sha256:{sha256}"));
        }
        if let Some(settings) = target["settings"].as_object_mut() {
            settings.remove("model");
        }
        return;
    }
    if let (true, Some(file)) = (named, target["settings"]["model"].as_str()) {
        target["id"] = Value::String(format!("local:{file}"));
    }
}

/// [`RunPlan::MODEL_SHA256`], here.
const MODEL_SHA256: &str = RunPlan::MODEL_SHA256;

/// Whether `settings`, a target's, are a local model's (backend `local`)
/// without a [`RunPlan::MODEL_SHA256`] of 64 lower-case hex digits.
fn lacks_content_identity(settings: &Value) -> bool {
    settings["backend"] == "local"
        && !settings[MODEL_SHA256].as_str().is_some_and(|s| {
            s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

/// A local model's settings as xsafe recorded them before
/// [`KeyVersion::BeforeDescriptions`]: `model` was the name of the file as
/// given (`local:m1/g.gguf` made `g.gguf`), not of the file a symbolic link
/// leads to, and `model_path` is still that path as given.
fn model_as_given(settings: &mut Value) {
    if settings["backend"] != "local" {
        return;
    }
    let given = settings["model_path"]
        .as_str()
        .and_then(|p| Path::new(p).file_name())
        .map(|name| name.to_string_lossy().into_owned());
    if let Some(name) = given {
        settings["model"] = Value::String(name);
    }
}

/// The id results of `target` are stored under in the run recorded with
/// `config`: its own id when the run has it; else, when the run has one
/// target that is the same model named by another path
/// (`local:/abs/m.gguf` or `local:C/m.gguf` for a run made with
/// `local:m.gguf`: the same file name and settings, which the run's key
/// does not tell apart), that target's id, so that the run finds its
/// answers instead of asking every case again and storing them twice.
///
/// The targets are compared as this version's key reads them, then (when
/// none is the same) as each earlier version's did, newest first: a run
/// found by an earlier key recorded a local model as that version did (a
/// symbolic link's `model` was the link's name, not the name of the file
/// it leads to), so only that version's reading finds its target. The
/// first version under which some stored target is the same decides; when
/// two are, neither is chosen. Neither happens to a local target of a run
/// this xsafe opens: its model is known by its file's sha256, which no run
/// recorded before has (a plan's config never has their keys), and a plan
/// with one model under two names is refused, so no run has two targets
/// of one reading.
pub(crate) fn stored_target_id(config: &Value, target: &dyn Target) -> String {
    let own = target.id();
    let stored = config["targets"].as_array().map_or(&[][..], Vec::as_slice);
    if stored.iter().any(|t| t["id"] == own) {
        return own.to_string();
    }
    let keyed = |t: &Value, version: KeyVersion| {
        let mut t = t.clone();
        if version < KeyVersion::BeforeDescriptions {
            // As `key_of` reads a target of that version's runs.
            model_as_given(&mut t["settings"]);
        }
        keyed_target(&mut t, version);
        t
    };
    let this = json!({"id": own, "settings": target.settings()});
    for version in std::iter::once(KeyVersion::Current).chain(KeyVersion::LEGACY) {
        let this = keyed(&this, version);
        let same: Vec<&str> = stored
            .iter()
            .filter(|t| keyed(t, version) == this)
            .filter_map(|t| t["id"].as_str())
            .collect();
        match same[..] {
            [] => continue,
            [id] => return id.to_string(),
            // Two stored targets it could be: neither is chosen.
            _ => break,
        }
    }
    own.to_string()
}

/// A suite is keyed by its name and fingerprint, not by where it was read
/// from: a file by any spelling of its path (`p.csv`, `./p.csv`,
/// `/abs/p.csv`), a fetched suite from any mirror, is one suite. A built-in
/// suite's `source` is the one word `built-in` and stays, so runs of
/// built-in suites keep the key (and derived name) they had.
fn suite_source(suite: &mut Value) {
    if suite["source"] != "built-in"
        && let Some(suite) = suite.as_object_mut()
    {
        suite.remove("source");
    }
}

/// A target's recorded `{id, settings}` as `version` of the run key reads
/// it: without the settings that do not change its answers
/// ([`keyed_settings`]) and, from [`KeyVersion::BeforeSuiteFiles`], without
/// a local model file's folder; from [`KeyVersion::BeforeDescriptions`],
/// without the name a local model was given by.
fn keyed_target(target: &mut Value, version: KeyVersion) {
    if version >= KeyVersion::BeforeSuiteFiles {
        local_file_name(target);
    }
    if version >= KeyVersion::BeforeDescriptions {
        local_model_file(target);
    }
    keyed_settings(&mut target["settings"], version);
}

/// A target's settings as `version` of the run key reads them: without
/// where it is served and (from [`KeyVersion::BeforeClarifier`]) its
/// timeout and model file's path, which do not change its answers.
fn keyed_settings(settings: &mut Value, version: KeyVersion) {
    let operational: &[&str] = if version >= KeyVersion::BeforeClarifier {
        &["base_url", "base_urls", "timeout_secs", "model_path"]
    } else {
        &["base_url", "base_urls"]
    };
    if let Some(settings) = settings.as_object_mut() {
        for k in operational {
            settings.remove(*k);
        }
    }
}

/// The sha256 of a run's config without what does not change its answers
/// (see [`RunPlan::key`]), as `version` made it.
///
/// The version of how xsafe asks (`asking`, see [`ASKING_VERSION`]) and
/// where an `llm:` judge is served are left out first, by every version
/// ([`leave_out_unkeyed`]): the runs stored before they were recorded keep
/// their keys under each, a run is resumed by the same command after xsafe
/// asks otherwise, as after any upgrade, and a run whose judge moved is
/// found, to be refused as moved ([`RunError::ServerMoved`]) rather than
/// taken for another run.
fn key_of(mut config: Value, version: KeyVersion) -> String {
    leave_out_unkeyed(&mut config);
    digest(config, version)
}

/// Removes from a run's config what no version of the run key holds: the
/// version of how xsafe asks (`asking`, see [`ASKING_VERSION`]), where
/// an `llm:` judge's model is served and the settings its verdicts are
/// tied to (the judge's `served_at` and `models`, see
/// [`RunPlan::judge_entry`]: the version holds their digest), each recorded
/// since some version, so that the runs stored before keep their keys
/// under every version.
fn leave_out_unkeyed(config: &mut Value) {
    if let Some(config) = config.as_object_mut() {
        config.remove("asking");
        if let Some(judge) = config.get_mut("judge").and_then(Value::as_object_mut) {
            judge.remove("served_at");
            judge.remove("models");
        }
    }
}

/// [`key_of`] of a config as it is: `asking` included when it has one.
fn digest(config: Value, version: KeyVersion) -> String {
    // serde_json's maps are sorted, so the text is canonical.
    hex::encode(Sha256::digest(
        keyed(config, version).to_string().as_bytes(),
    ))
}

/// A run's config as this version of the run key reads it ([`key_of`]
/// hashes it): without what does not change the answers, lists sorted.
/// What two configs of other keys are compared by, to say what differs.
pub(crate) fn keyed_config(config: &Value) -> Value {
    let mut config = config.clone();
    leave_out_unkeyed(&mut config);
    keyed(config, KeyVersion::Current)
}

/// What [`digest`] hashes: `config` as `version` of the run key reads it.
fn keyed(mut config: Value, version: KeyVersion) -> Value {
    if version < KeyVersion::BeforeDescriptions {
        // Before `keyed_target` drops `model_path`, which says what it was.
        for_each_target(&mut config, |t| model_as_given(&mut t["settings"]));
    }
    if let Some(targets) = config["targets"].as_array_mut() {
        for t in targets {
            keyed_target(t, version);
        }
    }
    if version >= KeyVersion::BeforeLocalNames {
        if let Some(suites) = config["suites"].as_array_mut() {
            suites.iter_mut().for_each(suite_source);
        }
        if let Some(types) = config["types"].as_array_mut() {
            types.sort_by_cached_key(|v| v.to_string());
            types.dedup();
        }
    }
    if version >= KeyVersion::BeforeDescriptions {
        for_each_clarifier(&mut config, local_model_file);
    }
    if version >= KeyVersion::Current
        && let Some(strategies) = config["strategies"].as_array_mut()
    {
        for s in strategies {
            // What `xsafe serve` compares a profile by too.
            if let Some(definition) = s.get_mut("definition") {
                *definition = xsafe_strategy::identity(definition);
            }
        }
    }
    if version >= KeyVersion::BeforeSuiteFiles
        && let Some(strategies) = config["strategies"].as_array_mut()
    {
        for s in strategies {
            if let Some(steps) = s["definition"]["steps"].as_array_mut() {
                for step in steps {
                    // Indexing adds `"clarifier": {"settings": null}` to a
                    // step without a clarifier, as it always has: the keys
                    // of stored runs hold it.
                    keyed_settings(&mut step["clarifier"]["settings"], version);
                }
            }
        }
    }
    if version >= KeyVersion::BeforeClarifier {
        for list in ["suites", "targets", "strategies"] {
            if let Some(items) = config[list].as_array_mut() {
                items.sort_by_cached_key(|v| v.to_string());
            }
        }
    }
    config
}

/// Calls `f` with every target of a run's config: its targets and the
/// clarifiers of its strategies.
fn for_each_target(config: &mut Value, mut f: impl FnMut(&mut Value)) {
    if let Some(targets) = config["targets"].as_array_mut() {
        targets.iter_mut().for_each(&mut f);
    }
    for_each_clarifier(config, f);
}

/// Calls `f` with the clarifier target (`{id, settings}`) of every step of
/// a run's strategies that has one, adding nothing to the others.
fn for_each_clarifier(config: &mut Value, mut f: impl FnMut(&mut Value)) {
    let Some(strategies) = config.get_mut("strategies").and_then(Value::as_array_mut) else {
        return;
    };
    for s in strategies {
        let steps = s
            .get_mut("definition")
            .and_then(|d| d.get_mut("steps"))
            .and_then(Value::as_array_mut);
        for step in steps.into_iter().flatten() {
            if let Some(clarifier) = step.get_mut("clarifier").filter(|c| c.is_object()) {
                f(clarifier);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_in_a_base_url_are_no_other_place_and_are_never_shown() {
        let at = |urls: &[&str]| json!({"settings": {"base_urls": urls}});
        let clear = at(&["http://alice:s3cret@gpu:8000/v1/", "http://b:8000/v1"]);
        let redacted = at(&["http://b:8000/v1", "http://<redacted>@gpu:8000/v1"]);
        let none = at(&["http://gpu:8000/v1", "http://b:8000/v1"]);
        assert_eq!(
            served_at(&clear),
            json!(["http://b:8000/v1", "http://gpu:8000/v1"])
        );
        assert_eq!(served_at(&redacted), served_at(&clear));
        assert_eq!(served_at(&none), served_at(&clear));
        assert_ne!(
            served_at(&at(&["http://alice@gpu:8001/v1"])),
            served_at(&none)
        );
        assert_eq!(
            shown_at(&clear),
            ["http://<redacted>@gpu:8000/v1", "http://b:8000/v1"]
        );
        assert_eq!(shown_at(&none), ["http://b:8000/v1", "http://gpu:8000/v1"]);
    }

    /// A target whose model file (a local one's `model`) is `path`'s.
    fn config(id: &str, backend: &str, path: &str) -> Value {
        let file = path.rsplit('/').next().unwrap_or(path);
        json!({"targets": [{"id": id, "settings": {
            "backend": backend, "model": file, "model_path": path, "model_size_bytes": 7,
        }}]})
    }

    #[test]
    fn a_local_model_moved_to_another_folder_keeps_its_key() {
        let key = |id: &str, backend: &str, version| key_of(config(id, backend, id), version);
        let (here, there) = ("local:/models/m.gguf", "local:/srv/cache/m.gguf");
        assert_eq!(
            key(here, "local", KeyVersion::Current),
            key(there, "local", KeyVersion::Current)
        );
        // The older keys held the folder, and a run stored under one is
        // still found by it.
        assert_ne!(
            key(here, "local", KeyVersion::BeforeClarifier),
            key(there, "local", KeyVersion::BeforeClarifier)
        );
        // Another file, or a model of a server whose name has a slash, is
        // another target.
        assert_ne!(
            key(here, "local", KeyVersion::Current),
            key("local:/models/other.gguf", "local", KeyVersion::Current)
        );
        assert_ne!(
            key("openai:org/a", "openai", KeyVersion::Current),
            key("openai:org/b", "openai", KeyVersion::Current)
        );
    }

    /// The demo model's cached file, as `local:default`, `local:NAME`, its
    /// path and a symbolic link to it load it: the settings' `model` is the
    /// name of the file read (a link followed), `model_path` the path given.
    fn demo(id: &str, path: &str) -> Value {
        json!({"id": id, "settings": {
            "backend": "local", "model": "gemma-3-270m-q4_k_m.gguf", "model_path": path,
            "model_size_bytes": 253_113_024, "chat_template_source": "fallback",
        }})
    }

    fn run_on(targets: Vec<Value>) -> Value {
        json!({"targets": targets, "strategies": [], "suites": [], "types": []})
    }

    #[test]
    fn every_name_of_a_local_model_file_is_one_run() {
        let cached = "/root/.cache/xsafe/models/gemma-3-270m-q4_k_m.gguf";
        let names = [
            demo("local:default", cached),
            demo("local:gemma-3-270m", cached),
            demo(&format!("local:{cached}"), cached),
            demo("local:m1/g.gguf", "m1/g.gguf"),
        ];
        let key = |t: &Value, v| key_of(run_on(vec![t.clone()]), v);
        for t in &names[1..] {
            assert_eq!(
                key(t, KeyVersion::Current),
                key(&names[0], KeyVersion::Current)
            );
            // The older key held the name, and a run stored under it is
            // still found by it.
            assert_ne!(
                key(t, KeyVersion::BeforeLocalNames),
                key(&names[0], KeyVersion::BeforeLocalNames)
            );
        }
        // Another file is another run; so is a target of a --targets file,
        // which keeps the name it was given.
        let mut other = names[0].clone();
        other["settings"]["model"] = json!("gemma-3-270m-it-Q8_0.gguf");
        assert_ne!(
            key(&other, KeyVersion::Current),
            key(&names[0], KeyVersion::Current)
        );
        let mut named = names[0].clone();
        named["id"] = json!("small");
        assert_ne!(
            key(&named, KeyVersion::Current),
            key(&names[0], KeyVersion::Current)
        );
    }

    /// A local model file recorded with its sha256 is keyed by it: its
    /// name, path and the name it was given by are left out, so a copy of
    /// another name is the same run and a file of the same name, size and
    /// GGUF name holding other weights (a checkpoint overwritten in place,
    /// or one in another folder) is another, under every version. A config
    /// recorded without the sha256 has none of the keys of one with it.
    #[test]
    fn a_local_model_is_keyed_by_its_files_content() {
        let at = |id: &str, path: &str, sha256: Option<char>| {
            let file = path.rsplit('/').next().unwrap_or(path);
            let mut t = json!({"id": id, "settings": {
                "backend": "local", "model": file, "model_path": path,
                "model_size_bytes": 7, "model_name": "M",
            }});
            if let Some(c) = sha256 {
                t["settings"][MODEL_SHA256] = json!(c.to_string().repeat(64));
            }
            run_on(vec![t])
        };
        let versions = || std::iter::once(KeyVersion::Current).chain(KeyVersion::LEGACY);
        let ck1 = at(
            "local:files/ck1/model.gguf",
            "files/ck1/model.gguf",
            Some('1'),
        );
        for same in [
            at(
                "local:/abs/files/ck1/model.gguf",
                "/abs/files/ck1/model.gguf",
                Some('1'),
            ),
            at("local:copy.gguf", "copy.gguf", Some('1')),
            at("local:default", "/c/models/gemma.gguf", Some('1')),
        ] {
            assert_eq!(
                key_of(same, KeyVersion::Current),
                key_of(ck1.clone(), KeyVersion::Current)
            );
        }
        let ck2 = at(
            "local:files/ck2/model.gguf",
            "files/ck2/model.gguf",
            Some('2'),
        );
        let before = at("local:files/ck1/model.gguf", "files/ck1/model.gguf", None);
        for v in versions() {
            assert_ne!(key_of(ck2.clone(), v), key_of(ck1.clone(), v));
            for w in versions() {
                assert_ne!(key_of(before.clone(), v), key_of(ck1.clone(), w));
            }
        }
        // A target of a --targets file keeps its name, not its file's.
        let mut named = ck1.clone();
        named["targets"][0]["id"] = json!("small");
        let mut renamed = named.clone();
        renamed["targets"][0]["settings"]["model"] = json!("other.gguf");
        assert_eq!(
            key_of(named.clone(), KeyVersion::Current),
            key_of(renamed, KeyVersion::Current)
        );
        assert_ne!(
            key_of(named, KeyVersion::Current),
            key_of(ck1, KeyVersion::Current)
        );
    }

    #[test]
    fn only_a_sha256_of_64_lower_case_hex_digits_identifies_a_local_model() {
        let local = |sha256: Value| json!({"backend": "local", "model_sha256": sha256});
        assert!(!lacks_content_identity(&local(json!("0a".repeat(32)))));
        for wrong in [
            Value::Null,
            json!("0A".repeat(32)),
            json!("0a".repeat(31)),
            json!("0g".repeat(32)),
            json!(7),
        ] {
            assert!(lacks_content_identity(&local(wrong.clone())), "{wrong}");
        }
        assert!(!lacks_content_identity(&json!({"backend": "openai"})));
    }

    /// Before, `model` was the name of the path as given (`g.gguf` for the
    /// link `m1/g.gguf`): the older keys of the config recorded now are the
    /// keys of the config recorded then.
    #[test]
    fn the_older_keys_read_the_model_as_it_was_recorded() {
        let now = run_on(vec![demo("local:m1/g.gguf", "m1/g.gguf")]);
        let mut then = now.clone();
        then["targets"][0]["settings"]["model"] = json!("g.gguf");
        assert_ne!(now, then);
        for v in KeyVersion::LEGACY {
            if v < KeyVersion::BeforeDescriptions {
                assert_eq!(key_of(now.clone(), v), key_of(then.clone(), v));
            }
        }
        // The versions that key a local model by the file read tell them
        // apart.
        for v in [KeyVersion::BeforeDescriptions, KeyVersion::Current] {
            assert_ne!(key_of(now.clone(), v), key_of(then.clone(), v));
        }
    }

    /// A run without a local model keeps its key: the current key is the
    /// one before local models were known by their file, clarifiers and
    /// steps without one included.
    #[test]
    fn a_run_without_a_local_model_keeps_its_key() {
        let config = json!({
            "targets": [{"id": "openai:m", "settings": {"backend": "openai", "model": "m",
                "base_urls": ["http://127.0.0.1:9/v1"], "timeout_secs": 30}}],
            "strategies": [
                {"name": "contextual+interactive", "definition": {"steps": [
                    {"kind": "contextual", "name": "contextual"},
                    {"kind": "interactive", "name": "interactive", "clarifier": {
                        "id": "openai:c", "settings": {"backend": "openai", "model": "c"}}},
                ]}},
                {"name": "interactive", "definition": {"steps": [
                    {"kind": "interactive", "name": "interactive", "clarifier": null},
                ]}},
            ],
            "suites": [{"name": "s", "source": "s.csv", "fingerprint": "f"}],
            "types": ["b", "a"],
        });
        assert_eq!(
            key_of(config.clone(), KeyVersion::Current),
            key_of(config.clone(), KeyVersion::BeforeLocalNames)
        );
        // A local model's file, as the clarifier, is keyed like a target's.
        let mut local = config.clone();
        local["strategies"][0]["definition"]["steps"][1]["clarifier"] =
            demo("local:default", "/c/gemma-3-270m-q4_k_m.gguf");
        let mut by_name = local.clone();
        by_name["strategies"][0]["definition"]["steps"][1]["clarifier"]["id"] =
            json!("local:gemma-3-270m");
        assert_eq!(
            key_of(local.clone(), KeyVersion::Current),
            key_of(by_name.clone(), KeyVersion::Current)
        );
        assert_ne!(
            key_of(local, KeyVersion::BeforeLocalNames),
            key_of(by_name, KeyVersion::BeforeLocalNames)
        );
    }

    /// A strategy's description is left out from this version on; the
    /// previous one held it, and so finds the runs stored with it. What is
    /// sent still makes another run.
    #[test]
    fn a_strategys_description_is_left_out_of_the_key() {
        let with = |description: &str, user: &str| {
            json!({"targets": [], "suites": [], "types": [], "strategies": [
                {"name": "mine", "definition": {"name": "mine", "description": description,
                    "steps": [{"kind": "contextual", "name": "mine", "file": "mine.toml",
                        "settings": {"user": user}}]}},
            ]})
        };
        let (a, b) = (
            with("Asks politely.", "Please: {{ prompt }}"),
            with("Asks as a user would.", "Please: {{ prompt }}"),
        );
        assert_eq!(
            key_of(a.clone(), KeyVersion::Current),
            key_of(b.clone(), KeyVersion::Current)
        );
        for v in KeyVersion::LEGACY {
            assert_ne!(key_of(a.clone(), v), key_of(b.clone(), v));
        }
        assert_ne!(
            key_of(a, KeyVersion::Current),
            key_of(
                with("Asks politely.", "Kindly: {{ prompt }}"),
                KeyVersion::Current
            )
        );
    }

    /// A data file's folder is left out from this version on (the
    /// definition holds the data); the older versions hold the setting as
    /// written, as the definitions of the runs they stored did. Another
    /// file name, or the built-in data, is another run.
    #[test]
    fn a_data_files_folder_is_left_out_of_the_key() {
        let with = |exemplars: &str| {
            json!({"targets": [], "suites": [], "types": [], "strategies": [
                {"name": "mine", "definition": {"name": "mine", "description": "Mine.",
                    "steps": [{"kind": "few-shot", "name": "mine", "file": "mine.toml",
                        "settings": {"exemplars": exemplars, "k": 2}, "exemplars": []}]}},
            ]})
        };
        let written = with("data/bank.toml");
        for other in [
            "bank.toml",
            "./bank.toml",
            "/abs/data/bank.toml",
            "x/../bank.toml",
        ] {
            assert_eq!(
                key_of(written.clone(), KeyVersion::Current),
                key_of(with(other), KeyVersion::Current),
                "{other}"
            );
            for v in KeyVersion::LEGACY {
                assert_ne!(
                    key_of(written.clone(), v),
                    key_of(with(other), v),
                    "{other}"
                );
            }
        }
        for other in ["data/other.toml", "builtin"] {
            assert_ne!(
                key_of(written.clone(), KeyVersion::Current),
                key_of(with(other), KeyVersion::Current),
                "{other}"
            );
        }
    }

    /// What two runs' answers of one target and strategy are compared by:
    /// the target's settings and the strategy's definition as the run key
    /// reads them, not the strategy's name; the seed; the judge only when
    /// a step follows up.
    #[test]
    fn the_answer_key_holds_what_changes_the_answers() {
        let target = |model: &str, url: &str, timeout: u64| {
            json!({"id": format!("openai:{model}"), "settings": {"backend": "openai",
                "model": model, "temperature": 0.0, "base_urls": [url], "timeout_secs": timeout}})
        };
        let step = |kind: &str| json!({"kind": kind, "name": kind, "settings": {}});
        let strategy = |name: &str, steps: Vec<Value>| json!({"name": name, "definition": {"name": name, "description": name, "steps": steps}});
        let judge = |name: &str| json!({"name": name, "version": "1"});
        let key = |t: &Value, s: &Value, seed: u64, j: &Value| {
            answer_key(t, s, &json!(seed), j, u64::from(ASKING_VERSION))
        };

        let t = target("m", "http://a/v1", 30);
        let combo = strategy(
            "contextual+few-shot",
            vec![step("contextual"), step("few-shot")],
        );
        let base = key(&t, &combo, 0, &judge("strmatch"));
        // Its timeout, the strategy's name and the order of steps that
        // sends the same, and a judge nothing consults.
        assert_eq!(
            key(
                &target("m", "http://a/v1/", 99),
                &combo,
                0,
                &judge("strmatch")
            ),
            base
        );
        // Another URL may be another model (a proxy in front of this one).
        assert_ne!(
            key(
                &target("m", "http://b/v1", 30),
                &combo,
                0,
                &judge("strmatch")
            ),
            base
        );
        let renamed = strategy("mine", vec![step("few-shot"), step("contextual")]);
        assert_eq!(key(&t, &renamed, 0, &judge("xsafe")), base);
        // Another model, temperature, seed or strategy.
        assert_ne!(
            key(
                &target("m2", "http://a/v1", 30),
                &combo,
                0,
                &judge("strmatch")
            ),
            base
        );
        let mut warmer = t.clone();
        warmer["settings"]["temperature"] = json!(0.7);
        assert_ne!(key(&warmer, &combo, 0, &judge("strmatch")), base);
        assert_ne!(key(&t, &combo, 1, &judge("strmatch")), base);
        let contextual = strategy("contextual+few-shot", vec![step("contextual")]);
        assert_ne!(key(&t, &contextual, 0, &judge("strmatch")), base);
        // A step that follows up consults the judge: its name and version.
        let interactive = strategy("interactive", vec![step("interactive")]);
        let asked = key(&t, &interactive, 0, &judge("strmatch"));
        assert_ne!(key(&t, &interactive, 0, &judge("xsafe")), asked);
        let newer = json!({"name": "strmatch", "version": "2"});
        assert_ne!(key(&t, &interactive, 0, &newer), asked);
        // A strategy not made of steps is known by its name.
        let opaque = |name: &str| json!({"name": name, "definition": null});
        let j = judge("strmatch");
        assert_ne!(key(&t, &opaque("a"), 0, &j), key(&t, &opaque("b"), 0, &j));
        // An xsafe that asks otherwise, whatever the strategy.
        for s in [&combo, &interactive] {
            let j = judge("strmatch");
            let now = key(&t, s, 0, &j);
            assert_ne!(answer_key(&t, s, &json!(0), &j, 1), now);
            assert_ne!(
                answer_key(&t, s, &json!(0), &j, u64::from(ASKING_VERSION) + 1),
                now
            );
        }
    }

    /// The version of how xsafe asks is recorded, left out of the run key
    /// by every version of it (the runs stored before it was recorded are
    /// found by the same command), and read as 1 when a config has none.
    #[test]
    fn the_asking_version_is_left_out_of_every_key() {
        let without = json!({
            "targets": [{"id": "openai:m", "settings": {"backend": "openai", "model": "m"}}],
            "strategies": [{"name": "baseline", "definition": null}],
            "suites": [{"name": "s", "source": "s.csv", "fingerprint": "f"}],
            "types": [], "seed": 0, "judge": {"name": "strmatch", "version": "1"},
        });
        let mut with = without.clone();
        with["asking"] = json!(ASKING_VERSION);
        let mut one = without.clone();
        one["asking"] = json!(1);
        for v in std::iter::once(KeyVersion::Current).chain(KeyVersion::LEGACY) {
            let key = key_of(without.clone(), v);
            assert_eq!(key_of(with.clone(), v), key);
            assert_eq!(key_of(one.clone(), v), key);
            // What was hashed before there was `asking`.
            assert_eq!(digest(without.clone(), v), key);
        }
        assert_eq!(asking_of(&without), 1);
        assert_eq!(asking_of(&one), 1);
        assert_eq!(asking_of(&with), u64::from(ASKING_VERSION));
    }

    /// Where an `llm:` judge is served is recorded in the judge's entry,
    /// left out of the run key by every version of it (the runs recorded
    /// before keep their keys) and out of what two configs are compared by,
    /// but part of the answer key of a strategy that consults the judge.
    #[test]
    fn the_judges_urls_are_left_out_of_every_run_key_but_not_of_the_answer_key() {
        let without = json!({
            "targets": [{"id": "openai:m", "settings": {"backend": "openai", "model": "m"}}],
            "strategies": [{"name": "baseline", "definition": null}],
            "suites": [{"name": "s", "source": "s.csv", "fingerprint": "f"}],
            "types": [], "seed": 0, "judge": {"name": "llm:openai:j", "version": "8"},
        });
        let at = |url: &str| {
            let mut with = without.clone();
            with["judge"]["served_at"] = json!({"openai:j": [url]});
            with
        };
        for v in std::iter::once(KeyVersion::Current).chain(KeyVersion::LEGACY) {
            let key = key_of(without.clone(), v);
            assert_eq!(key_of(at("http://a/v1"), v), key);
            assert_eq!(digest(without.clone(), v), key);
        }
        assert_eq!(keyed_config(&at("http://a/v1")), keyed_config(&without));
        let target = &without["targets"][0];
        let key = |config: &Value, strategy: &Value| {
            answer_key(target, strategy, &json!(0), &config["judge"], 2)
        };
        let interactive = json!({"name": "interactive", "definition": {"steps": [
            {"kind": "interactive", "name": "interactive", "settings": {}}]}});
        let baseline = json!({"name": "baseline", "definition": {"steps": []}});
        let (a, b) = (at("http://a/v1"), at("http://b/v1"));
        assert_ne!(key(&a, &interactive), key(&b, &interactive));
        assert_ne!(key(&a, &interactive), key(&without, &interactive));
        assert_eq!(key(&a, &baseline), key(&b, &baseline));
        assert_eq!(key(&a, &baseline), key(&without, &baseline));
    }

    #[test]
    fn the_same_steps_in_an_order_that_sends_the_same_are_one_strategy() {
        let step = |kind: &str, system: Value| json!({"kind": kind, "name": kind, "settings": {"system": system}});
        let fs = step("few-shot", Value::Null);
        let fs_sys = step("few-shot", json!("Be helpful."));
        let ctx = step("contextual", Value::Null);
        let int = step("interactive", Value::Null);
        let sent = |name: &str, steps: &[&Value]| {
            what_is_sent(&json!({"name": name, "description": name, "steps": steps}))
        };
        assert_eq!(sent("a", &[&ctx, &fs, &int]), sent("b", &[&int, &fs, &ctx]));
        assert_eq!(sent("a", &[&ctx, &int]), sent("b", &[&int, &ctx]));
        assert_eq!(
            sent("a", &[&fs_sys, &int, &ctx]),
            sent("b", &[&int, &fs_sys, &ctx])
        );
        assert_ne!(sent("a", &[&fs_sys, &ctx]), sent("b", &[&ctx, &fs_sys]));
        assert_ne!(sent("a", &[&ctx]), sent("b", &[&ctx, &fs]));
        // Two steps of a kind (which a composition refuses) keep their order.
        let fs2 = json!({"kind": "few-shot", "name": "other", "settings": {}});
        assert_ne!(sent("a", &[&fs, &fs2]), sent("b", &[&fs2, &fs]));
        // A strategy that is not made of steps is known by its name only.
        assert_eq!(what_is_sent(&Value::Null), None);
        assert_eq!(what_is_sent(&json!({"name": "x"})), None);
    }

    /// A step's name and the file it was read from send nothing, nor does
    /// the folder of its data file: a strategy file of a built-in's
    /// settings sends what the built-in sends. A setting or the data it
    /// sends does change it.
    #[test]
    fn a_steps_name_file_and_data_folder_are_not_sent() {
        let step = |name: &str, file: &str, k: u64, exemplars: &str| {
            json!({"kind": "few-shot", "name": name, "file": file,
                "settings": {"k": k, "exemplars": exemplars},
                "exemplars": [{"id": "a", "prompt": "p", "answer": "r"}]})
        };
        let sent = |name: &str, steps: &[Value]| {
            what_is_sent(&json!({"name": name, "description": name, "steps": steps}))
        };
        let builtin = sent(
            "few-shot",
            &[step("few-shot", "builtin:few-shot", 4, "builtin")],
        );
        assert_eq!(
            sent("fs2", &[step("fs2", "fs2.toml", 4, "builtin")]),
            builtin
        );
        assert_ne!(
            sent("fs3", &[step("fs3", "fs3.toml", 3, "builtin")]),
            builtin
        );
        let in_folder = |folder: &str| {
            sent(
                "mine",
                &[step("mine", "mine.toml", 4, &format!("{folder}/bank.toml"))],
            )
        };
        assert_eq!(in_folder("data"), in_folder("/elsewhere/copy"));
        assert_ne!(in_folder("data"), builtin);
        let mut other_data = step("fs2", "fs2.toml", 4, "builtin");
        other_data["exemplars"][0]["answer"] = json!("another");
        assert_ne!(sent("fs2", &[other_data]), builtin);
        // Nothing of the step but its name and file is left out.
        assert_eq!(
            builtin,
            Some(
                json!([{"kind": "few-shot", "settings": {"k": 4, "exemplars": "builtin"},
                "exemplars": [{"id": "a", "prompt": "p", "answer": "r"}]}])
            )
        );
    }
}
