//! `xsafe run`: suites x targets x strategies x samples, judged and stored.

use crate::cli::{Global, RunArgs};
use crate::commands::print_json;
use crate::table;
use anyhow::{Result, bail};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use xsafe_core::{Case, Prompt, Strategy, Suite};
use xsafe_runner::{Preview, RunOutcome, RunPlan};
use xsafe_store::{Store, StoreError};

pub async fn run(global: &Global, args: RunArgs) -> Result<ExitCode> {
    let cache = global.cache_dir()?;
    let load = args.suite_file.load_options()?;
    let suites = xsafe_suite::resolve_all(&args.suite, &cache, &load)?;
    check_files_given_once(&suites)?;
    // Loading a local model reads hundreds of megabytes: keep it off the
    // async workers.
    let targets = tokio::task::block_in_place(|| args.target.build(&cache))?;
    if args.samples > 1 {
        for t in &targets {
            if t.settings()["temperature"].as_f64() == Some(0.0) {
                tracing::warn!(
                    "--samples {} with `{}` at temperature 0: its samples of a case will mostly be \
                     the same answer, costing requests for little (the report counts cases, not \
                     answers); set --temperature above 0 to sample",
                    args.samples,
                    t.id()
                );
            }
        }
    }
    // The files are read once, for the strategies and for the warning.
    let (registry, file_names) =
        crate::strategies::registry_naming(&args.strategies.strategy_files)?;
    let built = args.strategies.build(&registry, &args.target, &cache)?;
    warn_unused_strategy_files(&args.strategies, &registry, &file_names);
    let prompts: Vec<Prompt> = suites
        .iter()
        .flat_map(|s| &s.cases)
        .filter(|c| args.types.is_empty() || args.types.contains(&c.kind))
        .map(Case::to_prompt)
        .collect();
    for strategy in &built {
        warn_unread_types(strategy, &prompts, args.limit.is_some());
    }
    let strategies: Vec<Arc<dyn Strategy>> = built
        .into_iter()
        .map(|c| Arc::new(c) as Arc<dyn Strategy>)
        .collect();
    let judge = args.judge.build(args.target.targets.as_deref(), &cache)?;
    let plan = RunPlan {
        suites,
        targets,
        strategies,
        judge: judge.judge,
        judge_targets: judge.targets,
        samples: args.samples,
        seed: args.seed,
        limit: args.limit,
        types: args.types.clone(),
        name: args.run_name.clone(),
        reuse: !args.no_reuse,
        server_moved: args.server_moved,
    };
    if args.dry_run {
        let store = dry_run_store(global)?;
        check_run_name(&store, plan.name.as_deref())?;
        let preview = xsafe_runner::preview(store, &plan).await?;
        if args.json {
            print_json(&preview)?;
        } else {
            out!("{}", render_preview(&preview));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let store = global.open_or_create_store()?;
    // A store this user may only read is said to be so here, not as a run
    // that stopped: nothing started.
    store.check_writable()?;
    check_run_name(&store, plan.name.as_deref())?;

    let cancel = super::cancel_on_ctrl_c();

    // A run that stopped with an error once open (a target that refused
    // the key beside one that answered) is summarised as stored, then the
    // error is said and the command fails.
    let (outcome, copied, stopped) =
        match super::execute_saying_copies(store, &plan, &cancel, global.quiet, "the run", |name| {
            name.to_string()
        })
        .await
        {
            Ok((outcome, copied)) => (outcome, copied, None),
            // Ctrl-C while the strategies were checked: no run to summarise.
            Err(stopped) if super::interrupted_before_start(&stopped.error) => {
                errln!("{}", stopped.error);
                return Ok(ExitCode::from(130));
            }
            Err(super::Stopped {
                error,
                outcome: Some(outcome),
                copied,
            }) => (outcome, copied, Some(error)),
            Err(stopped) => return Err(stopped.error),
        };

    if args.json {
        let mut summary = JsonSummary::new(&outcome, &copied);
        summary.error = stopped.as_ref().map(crate::message);
        print_json(&summary)?;
    } else {
        out!("{}", render_summary(&outcome, plan.name.is_some()));
    }
    if let Some(error) = stopped {
        return Err(error);
    }
    if !args.json && outcome.done > 0 && !cancel.is_cancelled() {
        // Where to go next, for someone new to the tool; not data.
        let compared = if plan
            .strategies
            .iter()
            .any(|s| s.name() == xsafe_strategy::BASELINE)
        {
            " and paired tests against baseline"
        } else {
            ""
        };
        note!(
            "rates with 95% intervals{compared}: `xsafe report {}` \
                 (`--format html -o report.html` for charts)",
            xsafe_judge::shell_word(&outcome.run_name)
        );
    }
    if cancel.is_cancelled() {
        return Ok(ExitCode::from(130));
    }
    // Everything else is stored, but the run is not whole: say so in the
    // exit code, as the judge commands do, so a pipeline does not go on to
    // report on part of the answers.
    if outcome.errors > 0 {
        if args.json {
            errln!("{}", failed_line(&outcome, plan.name.is_some()).trim_end());
        }
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// The summary `xsafe run --json` prints: the run's outcome, and what this
/// invocation copied from other runs instead of asking the model (as
/// `--dry-run --json` says what it would copy; the note on stderr says it
/// too, but not with `--quiet`); and, for a run that stopped with an error
/// once open, the error.
#[derive(Debug, serde::Serialize)]
struct JsonSummary<'a> {
    #[serde(flatten)]
    outcome: &'a RunOutcome,
    /// Answers copied and stored by this invocation; 0 when it copied none
    /// (the copies of an earlier invocation count in `done_before`).
    reused: u64,
    /// The runs they were copied from, newest first, each with how many.
    reused_from: Vec<CopiedFrom<'a>>,
    /// The error that stopped the run (its status `interrupted`), as the
    /// command says it on stderr; absent when none did.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One run a run copied answers from, and how many.
#[derive(Debug, serde::Serialize)]
struct CopiedFrom<'a> {
    run: &'a str,
    answers: u64,
}

impl<'a> JsonSummary<'a> {
    fn new(outcome: &'a RunOutcome, copied: &'a super::Copied) -> Self {
        JsonSummary {
            outcome,
            reused: copied.answers,
            reused_from: copied
                .from
                .iter()
                .map(|(run, answers)| CopiedFrom {
                    run,
                    answers: *answers,
                })
                .collect(),
            error: None,
        }
    }
}

/// Warns about each `--strategy-file` whose strategy the run leaves out:
/// `xsafe run` runs the strategies `--strategy` names (`baseline` when it
/// is not given, as `--help` says), while `xsafe tune` compares every
/// file's strategy by default, so `xsafe run --strategy-file mine.toml`
/// alone ran baseline only, silently. Adding the files' strategies to the
/// default instead would make every such command, already run, another
/// run that asks its baseline answers again; a file the run does use, as
/// a step of a composition or in place of a built-in strategy, is not
/// warned about. `file_names` are the files' strategies' names, in the
/// order of `args.strategy_files`, as `registry` read them.
fn warn_unused_strategy_files(
    args: &crate::cli::StrategyArgs,
    registry: &xsafe_strategy::Registry,
    file_names: &[String],
) {
    let left_out = crate::strategies::unused_strategy_files(args, registry, file_names);
    if left_out.is_empty() {
        return;
    }
    let which = crate::strategies::describe_strategy_files(&left_out);
    let all: Vec<&str> = args
        .strategy
        .iter()
        .map(|s| s.trim())
        .chain(left_out.iter().map(|(n, _)| n.as_str()))
        .collect();
    tracing::warn!(
        "this run leaves out {which}: `xsafe run` runs only the strategies --strategy names \
         (here {}; `baseline` when it is not given), not every file's as `xsafe tune` does; to \
         run them too, use --strategy {}",
        args.strategy
            .iter()
            .map(|s| format!("`{}`", s.trim()))
            .collect::<Vec<_>>()
            .join(", "),
        all.join(",")
    );
}

/// Warns about the types of `prompts` (the cases a run or tune asks) that
/// `strategy` has no text for and no group stands for, with how many cases
/// each ([`xsafe_strategy::Composite::unread_types_warning`]): their
/// prompts' type is read from their words, which `strategies show` says
/// for one prompt and a run did not say at all. `limited`: the cases are
/// counted before `--limit` samples them, which the warning says.
pub(crate) fn warn_unread_types(
    strategy: &xsafe_strategy::Composite,
    prompts: &[Prompt],
    limited: bool,
) {
    if let Some(warning) = strategy.unread_types_warning(prompts) {
        let counted = if limited {
            " (cases counted before --limit samples them)"
        } else {
            ""
        };
        tracing::warn!("{warning}{counted}");
    }
}

/// The names `xsafe annotate NAME` reads as one of its own subcommands
/// (`stats`, `export`, `import`, `help`), from the command line's
/// definition, so that the list never falls behind it.
fn annotate_subcommands() -> Vec<String> {
    use clap::CommandFactory;
    let mut cli = crate::cli::Cli::command();
    // Built, the command has its `help` subcommand too.
    cli.build();
    cli.find_subcommand("annotate")
        .into_iter()
        .flat_map(|a| a.get_subcommands())
        .flat_map(|c| std::iter::once(c.get_name()).chain(c.get_all_aliases()))
        .map(str::to_string)
        .collect()
}

/// Refuses a new run named like a subcommand of `xsafe annotate` (`xsafe
/// annotate stats` would run the statistics, not open the run), as the
/// store refuses names like numbers. A run already named so, from before
/// this rule, resumes; `xsafe annotate` reaches it by its id.
fn check_run_name(store: &Store, name: Option<&str>) -> Result<()> {
    let Some(name) = name else {
        return Ok(());
    };
    if !annotate_subcommands().iter().any(|c| c == name) {
        return Ok(());
    }
    match store.run(name) {
        Ok(run) => {
            note!(
                "`xsafe annotate {name}` is a command of its own: label run `{name}` by its id, \
                 `xsafe annotate {}`",
                run.id
            );
            Ok(())
        }
        Err(StoreError::RunNotFound(_)) => bail!(
            "--run {name}: `xsafe annotate {name}` is a command of its own, so `xsafe annotate` \
             could not open a run of that name; choose another name (a run named `{name}` \
             before this rule is opened by its id, which `xsafe runs` shows)"
        ),
        Err(e) => Err(e.into()),
    }
}

/// The store a dry run reads: without a store file there is no run to
/// resume, and a dry run does not create one.
pub(crate) fn dry_run_store(global: &Global) -> Result<std::sync::Arc<xsafe_store::Store>> {
    match global.existing_store()? {
        Some(store) => Ok(store),
        None => Ok(std::sync::Arc::new(xsafe_store::Store::open_in_memory()?)),
    }
}

/// Refuses one suite file given twice by two spellings of its path
/// (`good.csv,./good.csv`, or a link to it), as the runner refuses one
/// given twice by the same spelling: it is one suite, not two files of one
/// name to tell apart.
fn check_files_given_once(suites: &[Suite]) -> Result<()> {
    let files = suites.iter().map(|s| Path::new(&s.source));
    let Some((first, second)) =
        super::file_given_twice(files).map(|(i, j)| (&suites[i], &suites[j]))
    else {
        return Ok(());
    };
    // The same spelling twice is the runner's to refuse, as it refuses a
    // built-in suite given twice.
    if second.source != first.source {
        bail!(
            "suite `{}` (`{}`) is given twice, also as `{}`; give each suite once",
            first.name,
            first.source,
            second.source
        );
    }
    Ok(())
}

pub(crate) fn render_preview(p: &Preview) -> String {
    let run = match p.run_id {
        Some(id) => format!("run {} (id {id}, stored)", p.run_name),
        None => format!("run {} (new)", p.run_name),
    };
    // Copies from other runs are shown only when there are some, so that
    // the usual preview stays as it was.
    let reused = if p.reused > 0 {
        format!(
            ", {} to copy from {} (same target, strategy, case and seed)",
            p.reused,
            p.reused_from.join(", ")
        )
    } else {
        String::new()
    };
    let mut out = format!(
        "dry run, nothing asked or stored: {run}: {}, {} stored{reused}, {} to ask\n",
        super::count(p.total, "conversation"),
        p.done,
        p.total - p.done - p.reused
    );
    let rows: Vec<Vec<String>> = p
        .groups
        .iter()
        .map(|g| {
            let mut row = vec![
                g.target.clone(),
                g.strategy.clone(),
                g.total.to_string(),
                (g.total - g.to_ask - g.reused).to_string(),
            ];
            if p.reused > 0 {
                row.push(g.reused.to_string());
            }
            row.push(g.to_ask.to_string());
            row
        })
        .collect();
    let mut header = vec!["target", "strategy", "conversations", "stored"];
    if p.reused > 0 {
        header.push("to copy");
    }
    header.push("to ask");
    out.push_str(&table::render(&header, &rows));
    out
}

/// What failed and what to do about it; `named` when `--run` named the
/// run.
fn failed_line(o: &RunOutcome, named: bool) -> String {
    format!(
        "{} failed{}\nsee `xsafe runs show {}`; {}\n",
        super::count(o.errors, "result"),
        why_failed(o),
        xsafe_judge::shell_word(&o.run_name),
        what_to_do_about_failures(o, named)
    )
}

/// Why a run's results failed, from its most common failure: `; all:
/// MESSAGE` or `; N of them: MESSAGE`, the message shortened; empty when
/// none was recorded.
pub(crate) fn why_failed(o: &RunOutcome) -> String {
    let Some(e) = &o.common_error else {
        return String::new();
    };
    let times = if e.count == o.errors {
        "all".to_string()
    } else {
        format!("{} of them", e.count)
    };
    // Shortened, the message keeps how many others are like it.
    let shown = xsafe_runner::CommonError {
        message: table::excerpt(&e.message, 400),
        ..e.clone()
    };
    format!("; {times}: {shown}")
}

/// What to do about a run's failed results. Running the same command
/// again retries them, which is all a timeout, a rate limit, a server's
/// error or a clarifier that wrote nothing may need; but some fail the
/// same way on every try ([`RunOutcome::fail_every_try`]), so retrying
/// them as they are can never succeed, and the advice says what to change
/// first, deferring to the failure's message, which names it and where it
/// was given (a flag, or a target's field in its targets file):
///
/// - a template of the strategy that cannot render for some prompts (kind
///   `template`): the strategy must be fixed first. A fixed strategy is
///   another strategy, so the same command then makes a new run (the fixed
///   strategy's cases asked again, the other strategies' answers copied),
///   under another name when the run was `named` by `--run` (the store
///   refuses a run of that name with other settings);
/// - an error of the target's setup (kind `config`): a setting the server
///   refuses (`--max-tokens` above the model's most, a `--temperature` it
///   does not take, given by a flag or in a targets file), a prompt or
///   conversation that does not fit a local model's context, a server
///   that redirects. What its message names must change first; a changed
///   target setting makes a new run, which asks that target every case
///   again (other targets' answers are copied), under another name when
///   the run was `named`;
/// - an HTTP 4xx answer other than a rate limit or a timeout (kind
///   `client_error`): the server refuses the request itself (a guardrail
///   blocking a prompt, a wrong URL), and gives the same answer to the same
///   request. What its message names must change first;
/// - an answer xsafe cannot read (kind `invalid_response`) that the same
///   request gets again (a website's page at the base URL, a compressed
///   body), or that the target gave every request: what its message names
///   (the base URL, the server's setting) must change first;
/// - an `llm:` judge's model that failed so (kind `judge`: a setting of
///   the judge's the server refuses, an HTTP 4xx): the judge's setting its
///   message names must change first.
///
/// (A key refused, a quota used up, a rate limit that resets later than
/// xsafe waits and a model the server does not have are no failures of
/// results: they stop the run's target, and the run's error says what to
/// do.) Failures of several kinds get each its advice, briefly. The
/// strategy's other errors keep the advice to retry: only a template's is
/// known to fail again.
pub(crate) fn what_to_do_about_failures(o: &RunOutcome, named: bool) -> String {
    let every_try = |kind: &str| o.fail_every_try.get(kind).copied().unwrap_or(0);
    let repeating: u64 = o.fail_every_try.values().sum();
    if repeating == 0 {
        return "run the same command again to retry them".to_string();
    }
    let again = if named {
        "run the same command again with another --run name"
    } else {
        "run the same command again"
    };
    let fix = format!(
        "fix the strategy (its file), then {again}: the fixed strategy makes a new run, which \
         asks its cases again (the other strategies' answers are copied)"
    );
    let again = |what: &str| {
        if named {
            format!("run the same command again (with another --run name when {what} changed)")
        } else {
            "run the same command again".to_string()
        }
    };
    let target_again = again("a target setting");
    // Each kind that fails every try: how many, what they are when they
    // are all of the run's failures, what one and several of them are
    // beside others, and what to do.
    let kinds = [
        (
            every_try("template"),
            "the strategy's template failed on them as it will on every try",
            "is a template error of the strategy, which fails on every try",
            "are template errors of the strategy, which fail on every try",
            fix,
        ),
        (
            every_try("config"),
            "the target's setup failed on them (kind `config`) as it will on every try",
            "is an error of the target's setup (kind `config`), which fails on every try",
            "are errors of the target's setup (kind `config`), which fail on every try",
            format!(
                "change what the message names, where it says it was given (a flag, or a \
                 target's field in its targets file), then {target_again}: a changed target \
                 setting makes a new run, which asks that target every case again (other \
                 targets' answers are copied)"
            ),
        ),
        (
            every_try("client_error"),
            "the server refused them (kind `client_error`, an HTTP 4xx), as it will the same \
             requests on every try",
            "is a request the server refused (kind `client_error`, an HTTP 4xx), as it will on \
             every try",
            "are requests the server refused (kind `client_error`, an HTTP 4xx), as it will on \
             every try",
            format!(
                "change what the message names (a target setting, the base URL, the key's \
                 access), then {target_again}; a prompt the server itself refuses (a \
                 guardrail's block) is refused again"
            ),
        ),
        (
            every_try("invalid_response"),
            "the server answered them in a shape xsafe cannot read (kind `invalid_response`), \
             as it will on every try",
            "is an answer xsafe cannot read (kind `invalid_response`), which the server gives \
             on every try",
            "are answers xsafe cannot read (kind `invalid_response`), which the server gives \
             on every try",
            format!(
                "change what the message names (the base URL, when it is a website's or another \
                 API's address; the server's compression), then {target_again}"
            ),
        ),
        (
            every_try("judge"),
            "the judge's model failed on them (kind `judge`) as it will on every try",
            "is a failure of the judge's model (kind `judge`), which fails on every try",
            "are failures of the judge's model (kind `judge`), which fail on every try",
            format!(
                "change the judge's setting the message names, where it says it was given (a \
                 --judge-* flag, or a field of the judge's target in its targets file), then {}",
                again("a setting of the judge")
            ),
        ),
    ];
    if let Some((.., all, _, _, what_to_do)) = kinds.iter().find(|(n, ..)| *n >= o.errors) {
        return format!("{all}: {what_to_do}");
    }
    let mut said: Vec<String> = kinds
        .iter()
        .filter(|(n, ..)| *n > 0)
        .map(|(n, _, one, many, what_to_do)| {
            let each = if *n == 1 { one } else { many };
            format!("{n} of them {each}: {what_to_do}")
        })
        .collect();
    let others = o.errors.saturating_sub(repeating);
    if others > 0 {
        said.push(format!(
            "the other {others} may pass when the same command is run again as it is"
        ));
    }
    said.join("; ")
}

/// The summary a run prints at its end: a line about the run, then a row
/// per target and strategy. When the run's results hold several suites
/// (each group's `suites`), a `suite` column follows the strategy, and
/// each group's row (`all (pooled)`) is followed by a row per suite, so
/// that one suite's refusals are not hidden by another's size; a run of
/// one suite has neither.
fn render_summary(o: &RunOutcome, named: bool) -> String {
    let mut out = format!(
        "run {} (id {}): {}, {}/{} results, {}, judge {}\n",
        o.run_name,
        o.run_id,
        o.status,
        o.done,
        o.total,
        super::count(o.errors, "error"),
        o.judge
    );
    let pct = |k: u64, n: u64| {
        if n == 0 {
            "-".to_string()
        } else {
            format!("{k}/{n} ({:.1}%)", 100.0 * k as f64 / n as f64)
        }
    };
    let split = o.groups.iter().any(|g| !g.suites.is_empty());
    let mut rows: Vec<Vec<String>> = Vec::new();
    for g in &o.groups {
        let mut row = vec![g.target.clone(), g.strategy.clone()];
        if split {
            row.push(POOLED.to_string());
        }
        row.extend([
            pct(g.counts.safe_refused, g.counts.safe),
            pct(g.counts.unsafe_complied, g.counts.unsafe_),
            g.counts.unscored.to_string(),
            g.counts.errors.to_string(),
        ]);
        rows.push(row);
        for s in &g.suites {
            rows.push(vec![
                g.target.clone(),
                g.strategy.clone(),
                s.suite.clone(),
                pct(s.counts.safe_refused, s.counts.safe),
                pct(s.counts.unsafe_complied, s.counts.unsafe_),
                s.counts.unscored.to_string(),
                s.counts.errors.to_string(),
            ]);
        }
    }
    if rows.is_empty() {
        // Interrupted before the first answer was stored: no table of
        // nothing.
        out.push_str("no answer is stored yet\n");
    } else {
        let mut header = vec!["target", "strategy"];
        if split {
            header.push("suite");
        }
        header.extend(["safe refused", "unsafe complied", "unscored", "errors"]);
        out.push_str(&table::render(&header, &rows));
    }
    if let Some(line) = unscored_line(o) {
        out.push_str(&line);
    }
    if let Some(line) = o.escalated_line() {
        out.push_str(&line);
    }
    if o.errors > 0 {
        out.push_str(&failed_line(o, named));
    }
    out
}

/// Why a run's answers are unscored, when some are: how many of its
/// answers, the three commonest reasons with their counts (`...` when
/// there are more), and the command that lists them, as `xsafe report`
/// warns of them; `None` when none is.
fn unscored_line(o: &RunOutcome) -> Option<String> {
    let unscored: u64 = o.unscored_reasons.iter().map(|r| r.count).sum();
    if unscored == 0 {
        return None;
    }
    let mut why: Vec<String> = o
        .unscored_reasons
        .iter()
        .take(3)
        .map(|r| format!("{}: {}", r.count, r.reason))
        .collect();
    if o.unscored_reasons.len() > 3 {
        why.push("...".into());
    }
    Some(format!(
        "{unscored} of {} answers are unscored ({}); `xsafe runs show {} --verdict unscored` \
         lists them\n",
        o.done,
        why.join("; "),
        xsafe_judge::shell_word(&o.run_name)
    ))
}

/// The `suite` of a summary row that pools a run's suites, as the report
/// names its rows that do.
const POOLED: &str = "all (pooled)";
