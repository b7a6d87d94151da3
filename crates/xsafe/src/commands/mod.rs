//! One file per command.

mod export;
pub mod model;
mod run;
mod runs;
mod suites;

use crate::cli::{Cli, Command, SuiteFileArgs};
use anyhow::{Result, anyhow};
use std::process::ExitCode;
use xsafe_suite::{Columns, LoadOptions};

pub async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let global = &cli.global;
    match cli.command {
        Command::Run(args) => run::run(global, *args).await,
        Command::Suites(cmd) => suites::run(global, cmd).await,
        Command::Runs(cmd) => runs::run(global, cmd),
        Command::Export(args) => export::run(global, args),
        Command::Model(cmd) => model::run(global, cmd).await,
    }
}

impl SuiteFileArgs {
    pub fn load_options(&self) -> Result<LoadOptions> {
        Ok(LoadOptions {
            format: self
                .suite_format
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| anyhow!("--suite-format: {e}"))?,
            columns: Columns {
                prompt: self.prompt_column.clone(),
                label: self.label_column.clone(),
                kind: self.type_column.clone(),
                id: self.id_column.clone(),
                default_label: self
                    .default_label
                    .as_deref()
                    .map(str::parse)
                    .transpose()
                    .map_err(|e| anyhow!("--default-label: {e}"))?,
            },
            name: None,
        })
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
