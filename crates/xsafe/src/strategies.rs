//! Building the strategies `--strategy` names, with `--strategy-file` and
//! `--clarifier`.

use crate::cli::{StrategyArgs, TargetArgs};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use xsafe_strategy::{BuildOptions, Composite, Registry};
use xsafe_target::TargetsFile;

/// The built-in strategies and those of the files.
pub fn registry(files: &[PathBuf]) -> Result<Registry> {
    Ok(registry_naming(files)?.0)
}

/// [`registry`], with the name of each file's strategy, in the order of
/// `files`.
pub fn registry_naming(files: &[PathBuf]) -> Result<(Registry, Vec<String>)> {
    let mut registry = Registry::builtin();
    let names = files
        .iter()
        .map(|f| registry.add_file(f))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((registry, names))
}

impl StrategyArgs {
    /// Every strategy the flags name, built from `registry` (the built-in
    /// strategies and the flags' `--strategy-file`s, read once by the
    /// caller: see [`registry_naming`]); `--clarifier` goes to those with
    /// an interactive step. As built, so that the caller can ask them what
    /// they read of its suites' types before running them.
    pub fn build(
        &self,
        registry: &Registry,
        targets: &TargetArgs,
        cache_dir: &Path,
    ) -> Result<Vec<Composite>> {
        let options = self.build_options(targets, cache_dir)?;
        let built = self
            .strategy
            .iter()
            .map(|name| registry.build(name.trim(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        check_clarifier(&options, built.iter().any(Composite::is_interactive))?;
        Ok(built)
    }

    /// What building a strategy needs: the cache (for sentence encoders)
    /// and the `--clarifier` target, resolved like `--target` with the same
    /// flags and targets file.
    pub fn build_options(&self, targets: &TargetArgs, cache_dir: &Path) -> Result<BuildOptions> {
        let mut options = BuildOptions {
            cache_dir: Some(cache_dir.to_path_buf()),
            ..Default::default()
        };
        if let Some(spec) = &self.clarifier {
            let file = targets
                .targets
                .as_deref()
                .map(TargetsFile::load)
                .transpose()?;
            let resolved = xsafe_target::resolve(spec, &targets.settings()?, file.as_ref())
                .with_context(|| format!("--clarifier `{spec}`"))?;
            let target =
                tokio::task::block_in_place(|| crate::targets::build(&resolved, cache_dir))
                    .with_context(|| format!("--clarifier `{spec}`"))?;
            options.clarifier = Some(target);
        }
        Ok(options)
    }
}

/// A `--clarifier` only writes interactive follow-ups: given to strategies
/// of which none is interactive, it is a mistake worth saying.
pub fn check_clarifier(options: &BuildOptions, any_interactive: bool) -> Result<()> {
    if options.clarifier.is_some() && !any_interactive {
        bail!(
            "--clarifier writes interactive follow-ups, but none of the strategies has an \
             interactive step (add one, e.g. interactive or contextual+interactive)"
        );
    }
    Ok(())
}

/// The `--strategy-file`s whose strategy none of the strategies
/// `args.strategy` names uses (as itself, a part of `a+b`, or a step of a
/// composition), each strategy once: its name and the file as given.
/// `file_names` are the files' strategies' names, in the order of
/// `args.strategy_files`, as `registry` read them. `run` and `tune` warn
/// about them, each in its own words.
pub fn unused_strategy_files(
    args: &StrategyArgs,
    registry: &Registry,
    file_names: &[String],
) -> Vec<(String, String)> {
    let used: std::collections::BTreeSet<String> = args
        .strategy
        .iter()
        .flat_map(|name| registry.parts(name.trim()))
        .collect();
    let mut left_out: Vec<(String, String)> = Vec::new();
    for (file, name) in args.strategy_files.iter().zip(file_names) {
        if !used.contains(name) && !left_out.iter().any(|(n, _)| n == name) {
            left_out.push((name.clone(), file.display().to_string()));
        }
    }
    left_out
}

/// [`unused_strategy_files`] as a warning names them: `` `mine`
/// (--strategy-file mine.toml) ``, joined by commas.
pub fn describe_strategy_files(left_out: &[(String, String)]) -> String {
    left_out
        .iter()
        .map(|(name, file)| format!("`{name}` (--strategy-file {file})"))
        .collect::<Vec<_>>()
        .join(", ")
}
