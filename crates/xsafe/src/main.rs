//! The `xsafe` command: measure and mitigate exaggerated safety in language
//! models. Each subcommand lives in its own file under `commands/`; this file
//! parses the command line, sets up logging and maps outcomes to exit codes
//! (0 ok, 1 a requested threshold failed, 2 error, 130 interrupted).

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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
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
        .init();
}
