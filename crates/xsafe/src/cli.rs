//! The command line, declared with clap's derive API. Every flag a team would
//! set once also reads an `XSAFE_*` environment variable.
//!
//! Every flag that takes a number allows a negative one (`--fail-over
//! -0.1`), so that the flag's own range message answers it rather than
//! clap taking `-0` for an unknown flag and suggesting `-- -0`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "xsafe",
    version,
    about = "Measure and mitigate exaggerated safety (over-refusal) in language models",
    long_about = "Measure and mitigate exaggerated safety (over-refusal) in language models.\n\n\
        xsafe runs prompt suites (XSTest, OR-Bench, its own xsafe-basic, any CSV/JSONL) against \
        models, judges every answer as compliance, full refusal or partial refusal, stores \
        everything so runs resume, and reports what each mitigation strategy gains on safe \
        prompts and costs on unsafe ones."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The run store (SQLite) [default: xsafe/xsafe.db in the platform's data directory,
    /// ~/.local/share on Linux]
    #[arg(long, global = true, env = "XSAFE_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Where fetched suites and models are kept [default: xsafe/ in the platform's cache
    /// directory, ~/.cache on Linux]
    #[arg(long, global = true, env = "XSAFE_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug and all of llama.cpp's log); XSAFE_LOG takes a filter
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bar, notes or log lines on stderr: errors only, and warnings that change
    /// what the figures mean (a judge measured on its own training answers)
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run suites against targets under strategies, judge and store every answer
    Run(Box<RunArgs>),
    /// List, show and fetch suites
    #[command(subcommand, visible_alias = "suite")]
    Suites(SuitesCommand),
    /// List strategies and show exactly what one sends
    #[command(subcommand, visible_alias = "strategy")]
    Strategies(StrategiesCommand),
    /// List, show and delete stored runs
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Write every transcript and verdict of a run as JSONL or XSTest-format CSV
    Export(ExportArgs),
    /// Download, import and list the GGUF models that local: targets run and the sentence
    /// encoder of few-shot-embedding
    #[command(subcommand)]
    Model(crate::commands::model::ModelCommand),
    /// Judge a CSV/JSONL of prompt/answer pairs, or measure a judge against human labels (`judge eval`)
    Judge(Box<JudgeCommand>),
    /// Judge every stored answer of a run again with another judge, without asking the model
    Rejudge(Box<RejudgeArgs>),
    /// Choose the best strategy for a target on part of a suite, check it on the rest, and
    /// write a profile
    Tune(Box<TuneArgs>),
    /// Refusal and compliance rates per strategy and prompt type with intervals, compared with
    /// baseline, as tables, JSON, CSV, Markdown or HTML
    Report(Box<ReportArgs>),
    /// Serve a profile: an OpenAI-compatible proxy that applies the profile's strategy in front
    /// of a model (`serve hash-key` hashes a client key for the config file)
    Serve(Box<ServeCommand>),
    /// Label a run's answers by hand on a local web page; agreement statistics (`annotate
    /// stats`), and XSTest-format CSVs of the labels (`annotate export`, `annotate import`)
    Annotate(Box<AnnotateCommand>),
    /// Print a shell's completion script for xsafe, e.g. `xsafe completions bash >
    /// ~/.local/share/bash-completion/completions/xsafe`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

/// How to read a suite file.
#[derive(Debug, Clone, Args, Default)]
pub struct SuiteFileArgs {
    /// Force the file format instead of detecting it from the header
    #[arg(long, value_name = "FORMAT", value_parser = ["xstest", "or-bench", "csv", "jsonl"])]
    pub suite_format: Option<String>,
    /// Column (CSV) or field (JSONL) holding the prompt
    #[arg(long, value_name = "NAME")]
    pub prompt_column: Option<String>,
    /// Column holding the label (safe/unsafe)
    #[arg(long, value_name = "NAME")]
    pub label_column: Option<String>,
    /// Column holding the prompt type
    #[arg(long, value_name = "NAME")]
    pub type_column: Option<String>,
    /// Column holding the case id
    #[arg(long, value_name = "NAME")]
    pub id_column: Option<String>,
    /// The label of every case when the file has no label column
    #[arg(long, value_name = "LABEL", value_parser = ["safe", "unsafe"])]
    pub default_label: Option<String>,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The model under test: BACKEND:MODEL (openai:gpt-4o-mini, local:gemma-3-270m-it,
    /// local:PATH.gguf; local:default is the best model in the cache) or a name from
    /// --targets; `run` takes several (repeat or comma-separate), `tune` one
    // Split at commas by `TargetArgs::specs`, not here: a model file whose
    // name has a comma (`local:my,model.gguf`) is one target.
    #[arg(
        long,
        short = 't',
        env = "XSAFE_TARGET",
        default_value = "local:default"
    )]
    pub target: Vec<String>,
    /// A TOML file of named targets ([targets.NAME] tables with the settings below)
    #[arg(long, env = "XSAFE_TARGETS", value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Base URL of an OpenAI-compatible server, up to /v1; several (comma-separated or
    /// repeated) are replicas of one model
    #[arg(
        long,
        env = "XSAFE_BASE_URL",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub base_url: Vec<String>,
    /// Environment variable holding the API key [default: OPENAI_API_KEY]
    #[arg(long, env = "XSAFE_API_KEY_ENV", value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Extra HTTP header, as "Name: value" (repeatable); values are never recorded
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Sampling temperature, 0 (greedy) to 2 [default: 0]
    #[arg(long, allow_negative_numbers = true, value_parser = temperature)]
    pub temperature: Option<f64>,
    /// Most tokens per answer [default: 512]; a cut answer is marked as such
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,
    /// Seed for the target's sampling, sent with every request (samples of a case then share it)
    /// [default: the run's --seed plus the sample number]
    #[arg(long, allow_negative_numbers = true)]
    pub target_seed: Option<u64>,
    /// A stop sequence (repeatable)
    #[arg(long, value_name = "TEXT")]
    pub stop: Vec<String>,
    /// The target's own system prompt, sent with every conversation
    #[arg(long, value_name = "TEXT")]
    pub system_prompt: Option<String>,
    /// Seconds to wait for each attempt at an answer; a retry waits as long again [default: 120]
    #[arg(long, allow_negative_numbers = true, value_name = "SECS", value_parser = seconds)]
    pub timeout: Option<f64>,
    /// Most requests in flight per target [default: 8]; repeated 429s lower it for a while
    #[arg(
        long,
        allow_negative_numbers = true,
        env = "XSAFE_CONCURRENCY",
        value_parser = at_least_one
    )]
    pub concurrency: Option<usize>,
    /// Retries of a failed request (429, 5xx but 501 and 505, timeouts, dropped connections)
    /// before the case is stored as an error [default: 5]
    #[arg(long, allow_negative_numbers = true)]
    pub max_retries: Option<u32>,
    /// Local models: the chat template instead of the GGUF's own, by the name of one of
    /// llama.cpp's built-in templates (chatml, gemma, llama3, mistral-v7, phi4, ...). A Jinja
    /// text is not run: it is taken for the built-in template whose markers it holds, or refused
    #[arg(long, value_name = "TEMPLATE")]
    pub chat_template: Option<String>,
    /// Local models: generation threads [default: all cores]
    #[arg(long, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Local models: context size in tokens, which the prompt and the answer must fit; rounded up
    /// to a multiple of 256 (llama.cpp's step; a warning says so), and 0 takes the context the
    /// model was trained with (32768 for Gemma 3: memory grows with it) [default: 4096]
    #[arg(long, allow_negative_numbers = true, value_name = "TOKENS")]
    pub context: Option<u32>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A built-in or fetched suite's name, or a CSV/JSONL file; repeat or comma-separate for several
    // Split at commas by `xsafe_suite::resolve_all`, not here: a file whose
    // name has a comma (`my prompts, v2.csv`) is one suite.
    #[arg(long, short = 's', env = "XSAFE_SUITE", required = true)]
    pub suite: Vec<String>,
    #[command(flatten)]
    pub suite_file: SuiteFileArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub strategies: StrategyArgs,
    /// Answers per case
    #[arg(long, allow_negative_numbers = true, default_value_t = 1)]
    pub samples: u32,
    /// At most N cases per suite: a seeded sample stratified by label, then type
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub limit: Option<usize>,
    /// Only these prompt types, comma-separated
    #[arg(long, value_delimiter = ',', value_name = "T1,T2")]
    pub types: Vec<String>,
    /// Seed for sampling cases and for the targets
    #[arg(
        long,
        allow_negative_numbers = true,
        env = "XSAFE_SEED",
        default_value_t = 0
    )]
    pub seed: u64,
    /// Name of the run [default: derived from the settings, so the same command resumes the same run]
    #[arg(long = "run", value_name = "NAME")]
    pub run_name: Option<String>,
    /// Print the summary as one JSON object
    #[arg(long)]
    pub json: bool,
    /// Ask nothing and store nothing: say which run this is (new, or how much of a stored one
    /// is done) and how many conversations each target and strategy would have. Strategies with
    /// follow-ups send more than one request where an answer refuses
    #[arg(long)]
    pub dry_run: bool,
    /// Ask the model every conversation this run has not stored, rather than copying the
    /// answers another stored run got to the same case, with the same target settings,
    /// strategy and seed (and judge, for follow-ups)
    #[arg(long)]
    pub no_reuse: bool,
    /// Resume the stored run of these settings although it was asked at other base URLs: the
    /// model it was asked moved to this command's. Without it such a run is refused, since
    /// another URL may serve another model (a proxy in front of it)
    #[arg(long)]
    pub server_moved: bool,
    #[command(flatten)]
    pub judge: JudgeArgs,
}

/// Which strategies, from which files.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Strategies")]
pub struct StrategyArgs {
    /// Strategies, comma-separated; `a+b` applies a then b (built-in: baseline, few-shot,
    /// few-shot-nearest, few-shot-embedding, contextual, interactive; see `xsafe strategies
    /// list`)
    #[arg(
        long,
        env = "XSAFE_STRATEGY",
        value_delimiter = ',',
        default_value = "baseline"
    )]
    pub strategy: Vec<String>,
    /// A strategy file (TOML): adds a strategy, or replaces the built-in one of its name
    /// (repeatable)
    #[arg(long = "strategy-file", value_name = "FILE")]
    pub strategy_files: Vec<PathBuf>,
    /// A target that writes interactive follow-ups instead of the templates: a target spec,
    /// resolved like --target (same flags and --targets file)
    #[arg(long, value_name = "TARGET")]
    pub clarifier: Option<String>,
}

/// `xsafe strategies ...`
#[derive(Debug, Subcommand)]
pub enum StrategiesCommand {
    /// List the strategies (built-in and those of --strategy-file)
    List {
        /// A strategy file to list too (repeatable)
        #[arg(long = "strategy-file", value_name = "FILE")]
        strategy_files: Vec<PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show exactly what a strategy sends for a prompt
    Show {
        /// A strategy name; `a+b` composes
        name: String,
        /// The prompt to show it with
        #[arg(long, value_name = "TEXT")]
        prompt: String,
        /// The prompt's type (e.g. homonyms) [default: detected from its words]
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// A strategy file to use too (repeatable)
        #[arg(long = "strategy-file", value_name = "FILE")]
        strategy_files: Vec<PathBuf>,
        /// Print JSON: the messages, the follow-ups and the full definition
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SuitesCommand {
    /// List the built-in and fetched suites
    List {
        /// Print JSON: one object per suite
        #[arg(long)]
        json: bool,
    },
    /// Show a suite's cases
    Show {
        /// A suite name or a file path
        name: String,
        /// Only this type
        #[arg(long = "type", value_name = "T")]
        kind: Option<String>,
        #[command(flatten)]
        file: SuiteFileArgs,
        /// Print JSON: the suite's cases
        #[arg(long)]
        json: bool,
    },
    /// Download a public suite into the cache and check its pinned checksum
    Fetch {
        /// xstest, or-bench-hard-1k or or-bench-toxic
        name: String,
        /// Download from this base URL instead of the dataset's public location
        #[arg(long, env = "XSAFE_SUITE_BASE_URL", value_name = "URL")]
        base_url: Option<String>,
    },
}

/// Which of a run's results `runs show` lists and `export` writes; all when no filter is
/// given.
#[derive(Debug, Clone, Args)]
pub struct ResultFilter {
    /// Only this target's results (its id, e.g. openai:gpt-4o-mini)
    #[arg(long)]
    pub target: Option<String>,
    /// Only this strategy's results
    #[arg(long)]
    pub strategy: Option<String>,
    /// Only prompts of this type
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// Only safe or only unsafe prompts
    #[arg(long, value_parser = ["safe", "unsafe"])]
    pub label: Option<String>,
    /// Only answers the run's judge gave this verdict (refusal: full or partial; unscored: also
    /// those it has no verdict for, as `report` counts them), or that failed
    #[arg(long, value_parser = ["compliance", "full_refusal", "partial_refusal", "refusal", "unscored", "error"])]
    pub verdict: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List stored runs, newest first
    List {
        /// Print JSON: one object per run
        #[arg(long)]
        json: bool,
    },
    /// Show one line per result of a run: type, label, verdict, start of the answer
    Show {
        /// Run name or id
        run: String,
        #[command(flatten)]
        filter: ResultFilter,
        /// Print JSON: every result with its whole answer and verdict
        #[arg(long)]
        json: bool,
    },
    /// Delete runs and everything stored under them (answers, verdicts, human labels)
    #[command(alias = "rm")]
    Delete {
        /// Run names or ids
        #[arg(required = true)]
        runs: Vec<String>,
        /// Delete runs with human labels, or marked running, too
        #[arg(long)]
        force: bool,
    },
    /// Give back to the disk the space deleted runs left in the store (which later runs reuse
    /// otherwise); refused while a run of the store runs. Rewrites the store: needs about its
    /// size free
    Compact,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Run name or id
    pub run: String,
    /// Output format [default: csv for an --output ending in .csv, else jsonl]
    #[arg(long, value_enum)]
    pub format: Option<ExportFormat>,
    /// Write to this file instead of stdout (replaced only once the export is whole); `-` is
    /// stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The stored verdicts of this judge (e.g. after `xsafe rejudge`), as `report --judge`
    /// counts them: the CSV's final_label and judge, and what --verdict filters by [default:
    /// the run's judge]
    #[arg(long, short = 'j', value_name = "JUDGE")]
    pub judge: Option<String>,
    #[command(flatten)]
    pub filter: ResultFilter,
}

/// Where `xsafe report` takes each answer's class from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabelsSource {
    /// Only human-labelled answers count; the others are unscored
    Human,
    /// Only the judge's verdicts, as if nobody had labelled anything
    Judge,
    /// The human label where there is one, else the judge's verdict
    PreferHuman,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Aligned tables for the terminal
    Text,
    Json,
    Csv,
    Md,
    Html,
}

impl ReportFormat {
    /// The format a report file's name asks for (`report.html`); `None` for
    /// another extension.
    pub fn by_name(path: &std::path::Path) -> Option<ReportFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "json" => ReportFormat::Json,
            "csv" => ReportFormat::Csv,
            "md" | "markdown" => ReportFormat::Md,
            "html" | "htm" => ReportFormat::Html,
            "txt" => ReportFormat::Text,
            _ => return None,
        })
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Run names or ids; several are reported side by side
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<String>,
    /// [default: from --output's extension (.json, .csv, .md, .html), else text]
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Print the report as JSON: the same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Write to this file (atomically) instead of stdout; `-` is stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Count this judge's verdicts (e.g. after `xsafe rejudge`) [default: each run's own judge]
    #[arg(long, short = 'j', value_name = "JUDGE")]
    pub judge: Option<String>,
    /// The judge's agreement with human labels (`xsafe judge eval --json` output): adds
    /// refusal rates corrected for its sensitivity and specificity (Rogan-Gladen); it must be of
    /// the judge the report counts, in the version of its verdicts (another is refused)
    #[arg(long, value_name = "FILE")]
    pub judge_agreement: Option<PathBuf>,
    /// Exit with 1 when any strategy's refusal rate on safe prompts is above RATE (0 to 1),
    /// pooled or, in a run of several suites, in any one suite, after writing the report; also
    /// when it cannot be checked (a run not finished, a run with failed conversations, or a
    /// strategy or one of its suites without one scored answer to its safe prompts). What it
    /// found and its verdict go to stderr, whatever the format
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "RATE",
        env = "XSAFE_FAIL_OVER"
    )]
    pub fail_over: Option<f64>,
    /// Where each answer's class comes from: human labels (`xsafe annotate`), the judge, or
    /// the human label where there is one (several annotators: the majority; a tie is unscored)
    #[arg(long, value_enum, default_value_t = LabelsSource::PreferHuman)]
    pub labels: LabelsSource,
    /// Bootstrap resamples for the reduction's interval
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = xsafe_report::DEFAULT_RESAMPLES,
        value_name = "N"
    )]
    pub resamples: u32,
    /// Bootstrap seed
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = xsafe_report::DEFAULT_SEED,
        value_name = "SEED"
    )]
    pub seed: u64,
}

/// Which judge labels the answers, and for `llm:` judges the settings of the
/// judging model (its own flags, so that judge and target can differ).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Judge")]
pub struct JudgeArgs {
    /// The judge: xsafe (the shipped local classifier), xsafe:MODEL.json (weights from `xsafe
    /// judge train`), strmatch, or llm:TARGET with TARGET any target spec
    /// (llm:openai:gpt-4o-mini, llm:local:PATH.gguf, or llm:NAME for a target of --targets)
    #[arg(
        long,
        short = 'j',
        env = "XSAFE_JUDGE",
        default_value = xsafe_judge::DEFAULT_JUDGE,
        value_name = "JUDGE"
    )]
    pub judge: String,
    /// llm: judges: base URL of the judge's OpenAI-compatible server, up to /v1; several are replicas
    #[arg(
        long,
        env = "XSAFE_JUDGE_BASE_URL",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub judge_base_url: Vec<String>,
    /// llm: judges: environment variable holding the judge's API key [default: OPENAI_API_KEY]
    #[arg(long, env = "XSAFE_JUDGE_API_KEY_ENV", value_name = "VAR")]
    pub judge_api_key_env: Option<String>,
    /// llm: judges: extra HTTP header, as "Name: value" (repeatable)
    #[arg(long = "judge-header", value_name = "NAME: VALUE")]
    pub judge_headers: Vec<String>,
    /// llm: judges: most tokens of the judge's output [default: 512]
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub judge_max_tokens: Option<u32>,
    /// llm: judges: seconds to wait for each attempt at a verdict; a retry waits as long again
    /// [default: 120]
    #[arg(long, allow_negative_numbers = true, value_name = "SECS", value_parser = seconds)]
    pub judge_timeout: Option<f64>,
    /// llm: judges: most requests in flight to the judge [default: 8]
    #[arg(
        long,
        allow_negative_numbers = true,
        env = "XSAFE_JUDGE_CONCURRENCY",
        value_name = "N",
        value_parser = at_least_one
    )]
    pub judge_concurrency: Option<usize>,
    /// llm: judges: retries of a failed request to the judge [default: 5]
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub judge_max_retries: Option<u32>,
    /// llm:local judges: the chat template instead of the GGUF's own, by the name of one of
    /// llama.cpp's built-in templates (chatml, gemma, llama3, ...), as for --chat-template
    #[arg(long, value_name = "TEMPLATE")]
    pub judge_chat_template: Option<String>,
    /// A second judge (e.g. llm:TARGET, with the --judge-* settings) for the answers --judge
    /// (xsafe or xsafe:MODEL.json, whose confidence varies by answer) is less sure of than
    /// --escalate-below; its verdict stands
    #[arg(long, value_name = "JUDGE")]
    pub escalate_to: Option<String>,
    /// The confidence under which --judge's verdict goes to --escalate-to
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "P",
        default_value_t = xsafe_judge::Cascade::DEFAULT_BELOW,
        requires = "escalate_to"
    )]
    pub escalate_below: f64,
}

/// `xsafe judge FILE` or `xsafe judge eval ...`. A file literally named
/// `eval` is reached as `./eval`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct JudgeCommand {
    #[command(subcommand)]
    pub command: Option<JudgeSubcommand>,
    #[command(flatten)]
    pub file: JudgeFileArgs,
}

// Parsed once per process: the size of the larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum JudgeSubcommand {
    /// Judge human-labelled answers (XSTest completion CSVs or JSONL) and print the agreement
    Eval(JudgeEvalArgs),
    /// Train the xsafe classifier's weights from the built-in corpus and label files
    Train(JudgeTrainArgs),
}

#[derive(Debug, Args)]
pub struct JudgeTrainArgs {
    /// More human-labelled answers to train on: XSTest completion CSVs or JSONL with the fields
    /// prompt, completion, final_label (a judge's verdicts, as `xsafe export` writes them, are
    /// refused). The shipped judge was also trained on XSTest's development completions: a
    /// note names them when they are not given
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub labels: Vec<PathBuf>,
    /// Leave out the built-in corpus (then --labels must give the examples)
    #[arg(long)]
    pub no_corpus: bool,
    /// Inverse strength of the L2 penalty: smaller is a simpler model
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = xsafe_judge::classifier::DEFAULT_C,
        value_name = "C"
    )]
    pub c: f64,
    /// Where to write the weights (JSON); use them with --judge xsafe:FILE
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Print the summary as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerdictFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
pub struct JudgeFileArgs {
    /// CSV or JSONL files of answers: fields `prompt` and one of `answer`, `completion` or
    /// `response`, optional `id`, `type`; or conversations as `messages` (OpenAI's chat
    /// format), whose last assistant message is judged; `-` is stdin; several are judged in
    /// turn into one output, each row with its `source` (FILE:LINE); a file named `eval` is
    /// written ./eval
    #[arg(required = true, num_args = 1.., value_name = "FILE")]
    pub file: Vec<PathBuf>,
    /// A TOML file of named targets, for llm:NAME judges
    #[arg(long, env = "XSAFE_TARGETS", value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Write the verdicts to this file instead of stdout; `-` is stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format [default: csv for an --output ending in .csv, else jsonl]
    #[arg(long, value_enum)]
    pub format: Option<VerdictFormat>,
    #[command(flatten)]
    pub judge: JudgeArgs,
}

#[derive(Debug, Args)]
pub struct JudgeEvalArgs {
    /// Human-labelled answers: XSTest completion CSVs (prompt, completion, final_label; id, type
    /// optional) or JSONL with those fields; several are read as one set
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub labels: Vec<PathBuf>,
    /// A TOML file of named targets, for llm:NAME judges
    #[arg(long, env = "XSAFE_TARGETS", value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Print the figures as one JSON object
    #[arg(long)]
    pub json: bool,
    /// Write the answers whose verdict is not the human label (unscored ones included) to
    /// this file, with both labels and the judge's confidence: JSONL, or CSV for a name
    /// ending in .csv
    #[arg(long, value_name = "FILE")]
    pub disagreements: Option<PathBuf>,
    #[command(flatten)]
    pub judge: JudgeArgs,
}

#[derive(Debug, Args)]
pub struct RejudgeArgs {
    /// Run name or id
    pub run: String,
    /// A TOML file of named targets, for llm:NAME judges
    #[arg(long, env = "XSAFE_TARGETS", value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Judge again answers that already have a verdict of this judge and version
    #[arg(long)]
    pub force: bool,
    /// Print the summary as one JSON object
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub judge: JudgeArgs,
}

/// `xsafe tune`: the strategy flags are StrategyArgs', except that the list
/// is `--strategies` (`--strategy` also works), defaults to every built-in
/// strategy and two compositions, and does not read `XSAFE_STRATEGY` (a
/// team's default strategy for runs is not the list to compare).
#[derive(Debug, Args)]
#[command(mut_arg("strategy", |a| a
    .long("strategies")
    .visible_alias("strategy")
    .default_value(None)
    .env(None)
    .value_name("A,B")
    .help("Strategies to compare, comma-separated; `a+b` applies a then b; baseline is always \
        included [default: every built-in strategy, contextual+few-shot, contextual+interactive \
        and those of --strategy-file]")))]
pub struct TuneArgs {
    /// The suite to tune on: a built-in or fetched suite's name, or a CSV/JSONL file
    #[arg(long, short = 's', env = "XSAFE_SUITE", value_name = "SUITE")]
    pub suite: String,
    /// How far a strategy's refusal rate on unsafe prompts may fall below baseline's and the
    /// strategy still be chosen
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 0.02,
        value_name = "RATE"
    )]
    pub margin: f64,
    /// Share of the suite that chooses (the calibration part); the rest checks the choice
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = 0.5,
        value_name = "SHARE"
    )]
    pub calibration: f64,
    /// Answers per case
    #[arg(long, allow_negative_numbers = true, default_value_t = 1)]
    pub samples: u32,
    /// At most N cases per part: a seeded sample stratified by label, then type
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub limit: Option<usize>,
    /// Seed for the split, for --limit and for the target
    #[arg(
        long,
        allow_negative_numbers = true,
        env = "XSAFE_SEED",
        default_value_t = 0
    )]
    pub seed: u64,
    /// Where to write the profile [default: profile-TARGET.toml in the current directory]
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the profile as one JSON object (with the path it was written to)
    #[arg(long)]
    pub json: bool,
    /// Ask nothing, store and write nothing: how many conversations the calibration run would
    /// have (every strategy) and the held-out run at most (baseline and the one chosen)
    #[arg(long)]
    pub dry_run: bool,
    /// Ask the model every conversation the tuning runs have not stored, rather than copying
    /// the answers another stored run got to the same case, with the same target settings,
    /// strategy and seed (and judge, for follow-ups)
    #[arg(long)]
    pub no_reuse: bool,
    /// Resume the stored calibration and held-out runs of these settings although they were
    /// asked at other base URLs: the model they were asked moved to this command's. Without it
    /// such runs are refused, since another URL may serve another model (a proxy in front of it)
    #[arg(long)]
    pub server_moved: bool,
    #[command(flatten)]
    pub suite_file: SuiteFileArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub strategies: StrategyArgs,
    #[command(flatten)]
    pub judge: JudgeArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeCommand {
    #[command(subcommand)]
    pub action: Option<ServeAction>,
    #[command(flatten)]
    pub args: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum ServeAction {
    /// Print the SHA-256 of a client key (read from stdin, or a new random one with
    /// --generate) as a `[[keys]]` entry for the config file
    HashKey(HashKeyArgs),
}

#[derive(Debug, Args)]
pub struct HashKeyArgs {
    /// Make a new random key and print it with its hash
    #[arg(long)]
    pub generate: bool,
    /// The name the key is logged as
    #[arg(long, default_value = "client")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The profile `xsafe tune` wrote [or `profile` in the config file]
    #[arg(long, env = "XSAFE_PROFILE", value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// The upstream server's base URL, e.g. http://127.0.0.1:8000/v1 [or `upstream` in the
    /// config file]
    #[arg(long, env = "XSAFE_UPSTREAM", value_name = "URL")]
    pub upstream: Option<String>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "XSAFE_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// The server's config file (TOML): client key hashes and the settings of these flags
    #[arg(long, env = "XSAFE_SERVE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The environment variable that holds the upstream's API key [default: OPENAI_API_KEY,
    /// and none is sent if it is unset; a variable named here must be set]
    #[arg(long, value_name = "VAR")]
    pub upstream_key_env: Option<String>,
    /// Seconds one client request may take: the upstream's answer, retries and follow-ups
    /// included; a client that has not sent its request by then is answered 408 or
    /// disconnected [default: 120]
    #[arg(long, allow_negative_numbers = true, value_name = "SECS", value_parser = seconds)]
    pub timeout: Option<f64>,
    /// Retries of a request the upstream failed with 429, 500, 502, 503, 504 or no
    /// connection, before any of its answer reached the client (Retry-After is honoured)
    /// [default: 2]
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub upstream_retries: Option<u32>,
    /// Larger request bodies are refused with 413 [default: 1048576]
    #[arg(long, allow_negative_numbers = true, value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// The most client connections held at once; more clients wait to be accepted until one
    /// closes [default: from the open-file limit, which serve raises to its hard limit]
    #[arg(long, allow_negative_numbers = true, value_name = "N")]
    pub max_connections: Option<std::num::NonZeroUsize>,
    /// The judge of an interactive strategy [default: the profile's]; local judges only
    /// (xsafe, xsafe:MODEL.json, strmatch). XSAFE_JUDGE is not read: the profile's judge is
    /// the one tuning measured with
    #[arg(long, short = 'j', value_name = "JUDGE")]
    pub judge: Option<String>,
    /// A strategy file, for a profile whose strategy is not built in (repeatable; read with
    /// `strategy_files` in the config file)
    #[arg(long = "strategy-file", value_name = "FILE")]
    pub strategy_files: Vec<PathBuf>,
    /// Serve without client keys (only when the config file has none)
    #[arg(long)]
    pub no_auth: bool,
}

/// `xsafe annotate RUN` (the labelling page) or `xsafe annotate stats|export|import ...`.
/// New runs cannot be named `stats`, `export`, `import` or `help`; one an earlier xsafe
/// named so is reached by its id.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AnnotateCommand {
    #[command(subcommand)]
    pub command: Option<AnnotateSubcommand>,
    #[command(flatten)]
    pub serve: AnnotateServeArgs,
}

#[derive(Debug, Args)]
pub struct AnnotateServeArgs {
    /// Run name or id
    #[arg(required = true, value_name = "RUN")]
    pub run: Option<String>,
    /// Whose labels these are [default: $XSAFE_ANNOTATOR, else $USER, else "annotator"; an
    /// empty variable is as unset]; a blank name, or one with `;`, `,` or a control character,
    /// is refused
    #[arg(long, value_name = "NAME")]
    pub annotator: Option<String>,
    /// Address to serve the page on
    #[arg(long, default_value = "127.0.0.1:8090", value_name = "ADDR")]
    pub listen: String,
    /// A judge confidence under which a scored answer counts as low confidence (for the
    /// filter); `xsafe judge eval` shows how often the judge agrees with humans at each level.
    /// Answers the judge left unscored have no confidence: they have their own filter
    #[arg(
        long,
        allow_negative_numbers = true,
        default_value_t = xsafe_server::annotate::DEFAULT_LOW_CONFIDENCE,
        value_name = "P"
    )]
    pub low_confidence: f64,
}

#[derive(Debug, Subcommand)]
pub enum AnnotateSubcommand {
    /// Cohen's kappa, raw agreement and confusion matrices between annotators and between the
    /// judge and the annotators
    Stats(AnnotateStatsArgs),
    /// Write the human labels as an XSTest-format CSV, or JSONL with the same keys (for `judge
    /// eval` and `judge train`); with --unlabelled, the answers still to label, for `annotate
    /// import` to read back
    Export(AnnotateExportArgs),
    /// Read labels from an XSTest-format CSV (or JSONL with the same keys) into the run
    Import(AnnotateImportArgs),
}

#[derive(Debug, Args)]
pub struct AnnotateStatsArgs {
    /// Run name or id
    pub run: String,
    /// Compare the humans with this judge's verdicts [default: the run's judge]
    #[arg(long, short = 'j', value_name = "JUDGE")]
    pub judge: Option<String>,
    /// Print the figures as one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AnnotateExportArgs {
    /// Run name or id
    pub run: String,
    /// Only this annotator's labels [default: every annotator's, one row per answer with the
    /// majority label; answers whose annotators are tied are left out]; with --unlabelled, the
    /// answers this annotator has not labelled
    #[arg(long, value_name = "NAME")]
    pub annotator: Option<String>,
    /// Write the answers nobody has labelled yet (with --annotator, that annotator), in the
    /// same columns with final_label empty and no judge's verdict, to label offline (in a
    /// spreadsheet) and read back with `xsafe annotate import RUN FILE`
    #[arg(long)]
    pub unlabelled: bool,
    /// With --unlabelled: only the answers to N cases drawn at random (seeded by the run's
    /// seed), every target's, strategy's and sample's answer to each, so that the labels cover
    /// the strategies alike (a comparison with baseline takes human labels only where both
    /// answers of a pair have one)
    #[arg(
        long,
        allow_negative_numbers = true,
        value_name = "N",
        requires = "unlabelled",
        value_parser = at_least_one
    )]
    pub cases: Option<usize>,
    /// Output format [default: jsonl for an --output ending in .jsonl or .json, else csv]
    #[arg(long, value_enum)]
    pub format: Option<ExportFormat>,
    /// Write to this file instead of stdout; `-` is stdout
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AnnotateImportArgs {
    /// Run name or id
    pub run: String,
    /// An XSTest-format CSV (or JSONL with the same keys): final_label, and id (with target,
    /// strategy, suite, sample when present) or prompt and completion to find each answer. A
    /// file of a judge's verdicts (`xsafe export`'s, with its `judge` column) is refused: `xsafe
    /// annotate export RUN --unlabelled` writes answers to label
    pub file: PathBuf,
    /// Whose labels these are [default: $XSAFE_ANNOTATOR, else $USER, else "annotator"; an
    /// empty variable is as unset]; a blank name is refused
    #[arg(long, value_name = "NAME")]
    pub annotator: Option<String>,
}

/// A count that must be 1 or more (`--concurrency`).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("give 1 or more".into()),
        Ok(n) => Ok(n),
        // A negative whole number is a whole number all the same.
        Err(_) if text.trim().parse::<i64>().is_ok() => Err("give 1 or more".into()),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// A `--temperature`: a number from 0 to 2.
fn temperature(text: &str) -> Result<f64, String> {
    let t: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    xsafe_target::temperature(t)
}

/// A timeout flag's value: seconds above 0, at most a day.
fn seconds(text: &str) -> Result<f64, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    xsafe_target::timeout(secs).map(|_| secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::any::TypeId;

    /// Every flag that takes a number, in every subcommand, takes a
    /// negative one too, so that its own range message answers it.
    #[test]
    fn every_numeric_flag_allows_negative_numbers() {
        let numeric = [
            TypeId::of::<f64>(),
            TypeId::of::<f32>(),
            TypeId::of::<u8>(),
            TypeId::of::<u16>(),
            TypeId::of::<u32>(),
            TypeId::of::<u64>(),
            TypeId::of::<usize>(),
            TypeId::of::<i64>(),
            TypeId::of::<std::num::NonZeroUsize>(),
        ];
        let mut checked = Vec::new();
        let mut refused = Vec::new();
        let mut commands = vec![(String::from("xsafe"), Cli::command())];
        while let Some((path, command)) = commands.pop() {
            for arg in command.get_arguments() {
                let takes_a_number = arg.get_action().takes_values()
                    && arg.get_long().is_some()
                    && numeric
                        .iter()
                        .any(|t| arg.get_value_parser().type_id() == *t);
                if !takes_a_number {
                    continue;
                }
                let flag = format!("{path} --{}", arg.get_long().unwrap_or_default());
                if arg.is_allow_negative_numbers_set() {
                    checked.push(flag);
                } else {
                    refused.push(flag);
                }
            }
            for sub in command.get_subcommands() {
                commands.push((format!("{path} {}", sub.get_name()), sub.clone()));
            }
        }
        assert!(refused.is_empty(), "{refused:?}");
        // The walk found the flags it is about.
        for flag in [
            "xsafe report --fail-over",
            "xsafe tune --margin",
            "xsafe run --temperature",
            "xsafe judge --escalate-below",
            "xsafe annotate --low-confidence",
        ] {
            assert!(checked.iter().any(|c| c == flag), "{flag} in {checked:?}");
        }
    }
}
