//! The `xsafe` command: measure and mitigate exaggerated safety in language
//! models. Each subcommand lives in its own file under `commands/`; this file
//! parses the command line, sets up logging and maps outcomes to exit codes
//! (0 ok, 1 a requested threshold failed, 2 error, 130 interrupted, 143
//! stopped by SIGTERM, 141 stdout closed by its reader, as for a process
//! that SIGPIPE ended).

/// `print!` to stdout that returns the write's error (with `?`) instead of
/// panicking as `print!` does when stdout is a pipe its reader has closed
/// (`xsafe runs show 1 --json | head`); `main` then exits quietly. Any
/// other failure says that it was standard output being written
/// ([`on_stdout`]).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*).map_err($crate::on_stdout)?
    }};
}

/// `println!` to stdout, as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err($crate::on_stdout)?
    }};
}

/// `eprintln!` that ignores a failed write: `eprintln!` panics when stderr
/// is a pipe its reader has closed (`xsafe run ... 2>&1 | head -1`), which
/// cut a run short mid-way; what was to be said is lost, the work goes on.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Whether `-q` was given: set once in `main`, read by `note!`.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `errln!` for what a command tells the person at the terminal besides
/// its data and its errors (what it wrote where, what to do next); `-q`
/// silences it. Errors, and warnings that explain an exit code, use
/// `errln!`.
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::QUIET.load(std::sync::atomic::Ordering::Relaxed) {
            errln!($($arg)*);
        }
    };
}

mod cli;
mod commands;
mod judges;
mod settings;
mod strategies;
mod table;
mod targets;

use std::ffi::OsStr;
use std::process::ExitCode;

fn main() -> ExitCode {
    // First, while this is the only thread: every reader of the
    // environment from here on (clap, the commands) finds an empty
    // variable unset.
    drop_empty_variables();
    let cli = parse_command_line();
    init_logging(cli.global.verbose, cli.global.quiet);
    QUIET.store(cli.global.quiet, std::sync::atomic::Ordering::Relaxed);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        // A command stopped by a signal says 130 (Ctrl-C); SIGTERM has its
        // own code.
        Ok(code) if code == ExitCode::from(130) && commands::terminated() => ExitCode::from(143),
        Ok(code) => code,
        // The reader of our output stopped reading (`| head`): nothing to
        // say, and nobody to say it to on stdout.
        Err(e) if stdout_closed(&e) => ExitCode::from(141),
        Err(e) => {
            errln!("error: {}", message(&e));
            ExitCode::from(2)
        }
    }
}

/// Removes every `XSAFE_*` variable that is set but empty, so that an
/// empty variable is the same as an unset one for every flag that reads
/// one and every command that reads one itself: CI templates define
/// variables they leave empty (`XSAFE_SEED=`), which clap would otherwise
/// read as a value (`invalid value '' for '--seed <SEED>'`). A variable of
/// blanks is a value, and is refused as one where it is not valid.
fn drop_empty_variables() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(name, value)| value.is_empty() && name.as_encoded_bytes().starts_with(b"XSAFE_"))
        .map(|(name, _)| name)
        .collect();
    for name in empty {
        // SAFETY: called first thing in `main`, before the async runtime or
        // any other thread is started: nothing else reads or writes the
        // environment meanwhile.
        unsafe { std::env::remove_var(name) };
    }
}

/// The command line, parsed as `Cli::parse` does; a value clap refuses
/// that came from an `XSAFE_*` variable rather than from the command line
/// is said to be the variable's (`invalid value 'abc' for
/// 'XSAFE_FAIL_OVER'`, and which flag it stands for), since the command
/// line the user typed has no such value.
fn parse_command_line() -> cli::Cli {
    use clap::Parser;
    match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(mut e) => {
            if let Some((variable, flag)) = variable_of(&e) {
                use clap::builder::StyledStr;
                use clap::error::{ContextKind, ContextValue};
                e.insert(
                    ContextKind::InvalidArg,
                    ContextValue::String(variable.clone()),
                );
                // After clap's own tips, if any.
                let mut tips = match e.get(ContextKind::Suggested) {
                    Some(ContextValue::StyledStrs(tips)) => tips.clone(),
                    _ => Vec::new(),
                };
                tips.push(StyledStr::from(format!(
                    "the variable {variable} gives {flag} its value when the flag is not given: \
                     correct it, or unset it"
                )));
                e.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
            }
            e.exit()
        }
    }
}

/// The `XSAFE_*` variable the value `error` refuses came from, with the
/// flag it stands for (`--fail-over <RATE>`), when it did: the flag that
/// reads it was not on the command line, so clap read the variable. Found
/// by parsing the command line again without that variable: an error of
/// the command line's own is still there.
fn variable_of(error: &clap::Error) -> Option<(String, String)> {
    use clap::CommandFactory;
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(flag)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    // Built, as for parsing: an argument is named (`Display`) only so.
    let mut command = cli::Cli::command();
    command.build();
    let variable = variable_for(&command, flag)?;
    let again =
        without_variable(cli::Cli::command(), &variable).try_get_matches_from(std::env::args_os());
    let same = again.as_ref().err().is_some_and(|e| {
        e.kind() == error.kind()
            && e.get(ContextKind::InvalidArg) == error.get(ContextKind::InvalidArg)
            && e.get(ContextKind::InvalidValue) == error.get(ContextKind::InvalidValue)
    });
    (!same).then(|| (variable, flag.clone()))
}

/// The variable that the argument `flag` (as clap names it in errors,
/// `--fail-over <RATE>`) of `command` or of one of its subcommands reads,
/// when it reads one and the variable is set.
fn variable_for(command: &clap::Command, flag: &str) -> Option<String> {
    command
        .get_arguments()
        .filter(|a| a.to_string() == flag)
        .filter_map(|a| a.get_env())
        .find(|v| std::env::var_os(v).is_some())
        .map(|v| v.to_string_lossy().into_owned())
        .or_else(|| {
            command
                .get_subcommands()
                .find_map(|sub| variable_for(sub, flag))
        })
}

/// `command` with no argument reading the variable `variable`, in any of
/// its subcommands either.
fn without_variable(command: clap::Command, variable: &str) -> clap::Command {
    command
        .mut_args(|a| {
            if a.get_env() == Some(OsStr::new(variable)) {
                a.env(None)
            } else {
                a
            }
        })
        .mut_subcommands(|sub| without_variable(sub, variable))
}

/// `error`, from writing standard output, with that said in it: a bare "No
/// space left on device" does not say what was being written. The kind
/// stays, so a retried write (`Interrupted`) and a reader gone from a pipe
/// (`BrokenPipe`, see [`stdout_closed`]) are still told apart.
pub(crate) fn on_stdout(error: std::io::Error) -> std::io::Error {
    if error.kind() == std::io::ErrorKind::Interrupted {
        return error;
    }
    std::io::Error::new(error.kind(), format!("writing standard output: {error}"))
}

/// Whether the error is a write to a pipe whose reader has gone. No other
/// part of the command line meets one: HTTP and store errors reach here as
/// their own types.
fn stdout_closed(e: &anyhow::Error) -> bool {
    let broken = |io: &std::io::Error| io.kind() == std::io::ErrorKind::BrokenPipe;
    e.chain().any(|cause| {
        // The csv crate's errors hold their I/O error without giving it as
        // their source.
        let in_csv = cause
            .downcast_ref::<csv::Error>()
            .and_then(|e| match e.kind() {
                csv::ErrorKind::Io(io) => Some(io),
                _ => None,
            });
        cause
            .downcast_ref::<std::io::Error>()
            .or(in_csv)
            .is_some_and(broken)
    })
}

/// The error and its causes, joined by ": ", leaving out a cause whose text
/// is already there: many errors put their cause in their own message and
/// also report it as their source, and anyhow's `{:#}` would print it twice.
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    // llama.cpp warns about things a user cannot act on (token types of a
    // model file, its cache layout) on every load, and its info is a line
    // per tensor: its warnings show from -v, the rest from -vv. Its log
    // events have the target `llama-cpp-2`; the binding's own complaints
    // about them `llama_cpp_2`.
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,llama-cpp-2=error,llama_cpp_2=error",
        (false, 1) => "info,llama-cpp-2=warn,llama_cpp_2=error",
        (false, _) => "debug",
    };
    let filter = EnvFilter::try_from_env("XSAFE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(coloured_logs(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("TERM").as_deref(),
        ))
        .with_target(false)
        // A log line stderr's reader is gone for is dropped quietly.
        .log_internal_errors(false)
        .init();
}

/// Whether log lines on stderr are coloured: only on a `terminal` (logs
/// piped to a file stay plain text), and not when `NO_COLOR` is set to
/// anything but the empty string (no-color.org) or `TERM` is `dumb` (a
/// terminal that shows escape codes as text).
fn coloured_logs(terminal: bool, no_color: Option<&OsStr>, term: Option<&OsStr>) -> bool {
    terminal && no_color.is_none_or(OsStr::is_empty) && term != Some(OsStr::new("dumb"))
}

#[cfg(test)]
mod tests {
    use super::{coloured_logs, message, on_stdout};
    use anyhow::Context;
    use std::ffi::OsStr;

    /// An error that prints its cause and also gives it as its source.
    #[derive(Debug)]
    struct Wrapper {
        source: std::io::Error,
    }

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot create the folder `f`: {}", self.source)
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(Wrapper { source: io });
        assert_eq!(message(&e), "cannot create the folder `f`: no such file");
        let e: anyhow::Error = Err::<(), _>(std::io::Error::other("disk full"))
            .context("writing `r.html`")
            .unwrap_err();
        assert_eq!(message(&e), "writing `r.html`: disk full");
    }

    #[test]
    fn logs_are_coloured_on_a_terminal_unless_no_color_or_a_dumb_terminal() {
        let some = |s: &'static str| Some(OsStr::new(s));
        assert!(coloured_logs(true, None, some("xterm-256color")));
        assert!(coloured_logs(true, None, None));
        // An empty NO_COLOR is as unset (no-color.org).
        assert!(coloured_logs(true, some(""), some("xterm")));
        assert!(!coloured_logs(true, some("1"), some("xterm")));
        assert!(!coloured_logs(true, some("0"), None));
        assert!(!coloured_logs(true, None, some("dumb")));
        assert!(!coloured_logs(false, None, some("xterm")));
    }

    #[test]
    fn a_failed_write_to_stdout_says_so_and_keeps_its_kind() {
        let e = on_stdout(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
        assert!(
            e.to_string().starts_with("writing standard output: "),
            "{e}"
        );
        let e = on_stdout(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
        let e = on_stdout(std::io::Error::from(std::io::ErrorKind::Interrupted));
        assert_eq!(
            e.to_string(),
            std::io::Error::from(std::io::ErrorKind::Interrupted).to_string()
        );
    }
}
