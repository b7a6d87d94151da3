//! Building the judge `--judge` names, and judging many answers with it.

use crate::cli::JudgeArgs;
use crate::targets::parse_headers;
use anyhow::{Context, Result, anyhow};
use futures::StreamExt;
use std::path::Path;
use std::sync::Arc;
use xsafe_core::{Judge, JudgeError, Prompt, Target, Transcript, Verdict};
use xsafe_target::{Flags, TargetSettings, TargetsFile};

/// A judge, and how many answers to judge at once with it.
pub struct ResolvedJudge {
    pub judge: Arc<dyn Judge>,
    /// The judging model's concurrency for `llm:` judges; 1 for judges that
    /// compute locally, so their throughput is that of one core.
    pub concurrency: usize,
    /// The models the judge asks: an `llm:` judge's target, both of a
    /// cascade's; none for judges that compute locally. A run records
    /// where they are served ([`xsafe_runner::RunPlan::judge_targets`]).
    pub targets: Vec<Arc<dyn Target>>,
}

impl JudgeArgs {
    /// The settings of an `llm:` judge's model given as flags.
    fn settings(&self) -> Result<TargetSettings> {
        Ok(TargetSettings {
            base_urls: self.judge_base_url.clone(),
            api_key_env: self.judge_api_key_env.clone(),
            headers: parse_headers(&self.judge_headers, "--judge-header")?,
            max_tokens: self.judge_max_tokens,
            timeout_secs: self.judge_timeout,
            concurrency: self.judge_concurrency,
            max_retries: self.judge_max_retries,
            chat_template: self.judge_chat_template.clone(),
            ..TargetSettings::default()
        })
    }

    /// The flags that set an `llm:` judge's settings, as its messages name
    /// them: `--judge-max-tokens`, `--judge-api-key-env` (or its variable
    /// `XSAFE_JUDGE_API_KEY_ENV`, when that gave it), `--judge-header`; it
    /// has none for the temperature (0 unless a targets file says) nor for
    /// stop sequences, which only a targets file gives.
    fn flags(&self) -> Flags {
        Flags {
            temperature: None,
            max_tokens: Some("--judge-max-tokens".into()),
            stop: None,
            api_key_env: Some(crate::targets::flag_or_variable(
                "--judge-api-key-env",
                "XSAFE_JUDGE_API_KEY_ENV",
                self.judge_api_key_env.as_deref(),
            )),
            header: Some("--judge-header".into()),
        }
    }

    /// Builds the judge: `llm:TARGET` builds TARGET as `--target` would
    /// (with `targets_file` for named targets and the `--judge-*` flags for
    /// settings); anything else is a judge name.
    ///
    /// With `--escalate-to`, the answers `--judge` is less sure of than
    /// `--escalate-below` go to that judge ([`xsafe_judge::Cascade`]); the
    /// pair judges as many at once as the second can.
    pub fn build(&self, targets_file: Option<&Path>, cache_dir: &Path) -> Result<ResolvedJudge> {
        // A pair or a threshold written as a verdict names it.
        let specs = [
            ("--judge", Some(&self.judge)),
            ("--escalate-to", self.escalate_to.as_ref()),
        ];
        for (flag, spec) in specs {
            if let Some(e) = spec.and_then(|s| xsafe_judge::misnamed_judge(flag, s)) {
                anyhow::bail!(e);
            }
        }
        let first = self.build_one(self.judge.trim(), targets_file, cache_dir)?;
        let Some(spec) = &self.escalate_to else {
            return Ok(first);
        };
        let second = self.build_one(spec.trim(), targets_file, cache_dir)?;
        let cascade = xsafe_judge::Cascade::new(first.judge, second.judge, self.escalate_below)
            .map_err(anyhow::Error::msg)?;
        Ok(ResolvedJudge {
            judge: Arc::new(cascade),
            concurrency: first.concurrency.max(second.concurrency),
            targets: [first.targets, second.targets].concat(),
        })
    }

    fn build_one(
        &self,
        spec: &str,
        targets_file: Option<&Path>,
        cache_dir: &Path,
    ) -> Result<ResolvedJudge> {
        let Some(target_spec) = spec.strip_prefix("llm:") else {
            // The message of an unknown name already lists `llm:TARGET`
            // among the judges; that of an `xsafe:FILE` judge is about the
            // file, and gets nothing added.
            let judge = xsafe_judge::from_name(spec).map_err(|e| anyhow!(e))?;
            return Ok(ResolvedJudge {
                judge,
                concurrency: 1,
                targets: Vec::new(),
            });
        };
        let file = targets_file.map(TargetsFile::load).transpose()?;
        let mut resolved = xsafe_target::resolve_with(
            target_spec,
            &self.settings()?,
            file.as_ref(),
            &self.flags(),
        )
        .with_context(|| format!("judge `{spec}`"))?;
        // A judge should give the same verdict for the same answer: greedy
        // and seeded unless the targets file says otherwise.
        resolved.settings.temperature.get_or_insert(0.0);
        resolved.settings.seed.get_or_insert(0);
        // Loading a local model reads hundreds of megabytes: keep it off
        // the async workers.
        let target = tokio::task::block_in_place(|| crate::targets::build(&resolved, cache_dir))
            .with_context(|| format!("judge `{spec}`"))?;
        let concurrency = target.max_concurrency().max(1);
        Ok(ResolvedJudge {
            judge: Arc::new(xsafe_judge::LlmJudge::new(target.clone())),
            concurrency,
            targets: vec![target],
        })
    }
}

impl ResolvedJudge {
    /// Judges every item, `concurrency` at a time, and hands each result to
    /// `done` in the order of `items` (so output can be written as it comes).
    pub async fn judge_each(
        &self,
        items: Vec<(Prompt, Transcript)>,
        mut done: impl FnMut(usize, Result<Verdict, JudgeError>) -> Result<()>,
    ) -> Result<()> {
        let judge = &self.judge;
        let mut results = futures::stream::iter(items)
            .map(|(prompt, transcript)| async move { judge.judge(&prompt, &transcript).await })
            .buffered(self.concurrency);
        let mut i = 0;
        while let Some(result) = results.next().await {
            done(i, result)?;
            i += 1;
        }
        Ok(())
    }
}
