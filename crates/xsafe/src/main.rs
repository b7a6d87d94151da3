//! The `xsafe` command: measure and mitigate exaggerated safety in language
//! models. Each subcommand lives in its own file under `commands/`; this file
//! parses the command line, sets up logging and maps outcomes to exit codes
//! (0 ok, 1 a requested threshold failed, 2 error, 130 interrupted, 141
//! stdout closed by its reader, as for a process that SIGPIPE ended).

/// `print!` to stdout that returns the write's error (with `?`) instead of
/// panicking as `print!` does when stdout is a pipe its reader has closed
/// (`xsafe runs show 1 --json | head`); `main` then exits quietly.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)?
    }};
}

/// `println!` to stdout, as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)?
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

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
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
        // Colours only on a terminal: logs piped to a file stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        // A log line stderr's reader is gone for is dropped quietly.
        .log_internal_errors(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::message;
    use anyhow::Context;

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
}
