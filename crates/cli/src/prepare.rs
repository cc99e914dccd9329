//! `nmt prepare`: tokenize a run's corpus once into a prepared dataset (binary ids training
//! reads through memory maps). `nmt train` does the same by itself when none exists; this
//! command does it ahead of time, says whether an existing one is still up to date, and with
//! `--force` makes it again.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use nmt_data::{Expected, Prepared};
use nmt_train::RunConfig;
use nmt_train::trainer::{prepare_job, prepared_dir};

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// The run config (TOML): its [data] and [tokenizer] say what to prepare.
    #[arg(long)]
    config: PathBuf,
    /// Override one key: section.key=value (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    set: Vec<String>,
    /// Run directory (run.dir); the data goes to data.prepared_dir, else RUN_DIR/prepared.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Prepare again even if prepared data is already there (stale, damaged or not).
    #[arg(long)]
    force: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn prepare(a: PrepareArgs) -> Result<ExitCode> {
    let mut overrides = a.set.clone();
    if let Some(d) = &a.run_dir {
        overrides.push(format!("run.dir={:?}", d.display().to_string()));
    }
    let cfg = RunConfig::load(&a.config, &overrides)?;
    let dir = prepared_dir(&cfg);
    let job = prepare_job(&cfg, None, !a.quiet)?;
    if Prepared::exists(&dir) && !a.force {
        let prepared = Prepared::open(&dir)?;
        prepared.check(&Expected {
            recipe: &job.recipe,
            train_files: &job.train_files,
            valid_files: job.valid_files.as_ref(),
            vocab: None,
        })?;
        eprintln!(
            "{} is up to date: {} training pairs (pass --force to prepare it again)",
            dir.display(),
            prepared.header.train.pairs
        );
        return Ok(ExitCode::SUCCESS);
    }
    let start = Instant::now();
    let header = nmt_data::prepare(&job, &dir, &mut |line| eprintln!("{line}"))?;
    eprintln!(
        "prepared {} training pairs ({} + {} tokens, {}-byte ids) into {} in {:.1}s",
        header.train.pairs,
        header.train.src_tokens,
        header.train.tgt_tokens,
        header.token_bytes,
        dir.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
