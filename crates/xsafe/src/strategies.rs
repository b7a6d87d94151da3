//! Building the strategies `--strategy` names, with `--strategy-file` and
//! `--clarifier`.

use crate::cli::{StrategyArgs, TargetArgs};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use xsafe_core::Strategy;
use xsafe_strategy::{BuildOptions, Registry};
use xsafe_target::TargetsFile;

/// The built-in strategies and those of the files.
pub fn registry(files: &[PathBuf]) -> Result<Registry> {
    let mut registry = Registry::builtin();
    for f in files {
        registry.add_file(f)?;
    }
    Ok(registry)
}

impl StrategyArgs {
    /// Every strategy the flags name, built. The clarifier target is
    /// resolved like `--target`, with the same flags and targets file.
    pub fn build(&self, targets: &TargetArgs, cache_dir: &Path) -> Result<Vec<Arc<dyn Strategy>>> {
        let registry = registry(&self.strategy_files)?;
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
        self.strategy
            .iter()
            .map(|name| {
                registry
                    .build(name.trim(), &options)
                    .map(|c| Arc::new(c) as Arc<dyn Strategy>)
                    .map_err(anyhow::Error::from)
            })
            .collect()
    }
}
