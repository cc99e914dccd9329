//! The training loop, as a short sequence of named phases: set up (or resume), then for each
//! step: [`Run::step`], [`Run::log_window`], [`Run::validate_if_due`],
//! [`Run::checkpoint_if_due`], and the stop checks; then [`Run::finish`] (the last checkpoint
//! and the test of the best one). The phases live in `run.rs`, the data in `data.rs`.

mod data;
pub use data::{init_checkpoint, prepare_job, prepared_dir};
mod run;
mod run_dir;
mod validate;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::tensor::Device;
use nmt_data::TokenBudgetBatcher;

use self::data::TrainingData;
use self::run::Run;
use self::run_dir::{RunLog, prepare_run_dir};
use crate::checkpoint::CheckpointStore;
use crate::config::RunConfig;
use crate::error::Result;

/// How `nmt train` was asked to start.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue from the run directory's latest intact checkpoint.
    pub resume: bool,
    /// With `resume`: continue from this checkpoint of the run instead.
    pub resume_from: Option<PathBuf>,
    /// Start afresh in a run directory that already holds a run, deleting it.
    pub overwrite: bool,
    /// Set by SIGINT/SIGTERM: write a checkpoint and stop after the current step.
    pub stop: Arc<AtomicBool>,
    /// No progress bar and no log lines on stderr (`RUN_DIR/train.log` still gets them).
    pub quiet: bool,
    /// When the command started (for the time to the first step in the log); default: when
    /// `train` is called.
    pub started: Option<std::time::Instant>,
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    MaxSteps(u64),
    MaxEpochs(u64),
    MaxHours(f64),
    /// This many validations in a row without a new best.
    Patience(u64),
    /// SIGINT or SIGTERM: the run can be resumed.
    Interrupted,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MaxSteps(n) => write!(f, "reached train.max_steps = {n}"),
            Self::MaxEpochs(n) => write!(f, "reached train.max_epochs = {n}"),
            Self::MaxHours(h) => write!(f, "reached train.max_hours = {h}"),
            Self::Patience(n) => write!(f, "no improvement in {n} validations (train.patience)"),
            Self::Interrupted => write!(f, "interrupted"),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub step: u64,
    pub stop: StopReason,
    pub last_checkpoint: PathBuf,
    /// BLEU and chrF of the best checkpoint on the test split, if the config has one (and the
    /// run was not interrupted).
    pub test: Option<(f64, f64)>,
}

/// Trains as `cfg` says, on `device` (any backend; autodiff is added here).
pub fn train(cfg: &RunConfig, device: &Device, opts: &TrainOptions) -> Result<TrainOutcome> {
    let run_dir = cfg.run_dir();
    prepare_run_dir(run_dir, opts.resume, opts.overwrite)?;
    let store = CheckpointStore::new(run_dir);
    store.clean_partial();
    let resume = match opts.resume {
        true => Some(store.resume_point(opts.resume_from.as_deref())?),
        false => None,
    };
    let started = opts.started.unwrap_or_else(std::time::Instant::now);
    let log = RunLog::open(run_dir, opts.quiet, started)?;
    // A fine-tuning run starts from its parent's weights and tokenizer; once it has
    // checkpoints of its own, a resume continues from those.
    let init = match &resume {
        Some(_) => None,
        None => init_checkpoint(cfg)?,
    };
    let vocab = match (&resume, &init) {
        (Some(point), _) => Some(point.checkpoint.vocab()?),
        (None, Some(parent)) => Some(parent.vocab()?),
        (None, None) => None,
    };
    let data = TrainingData::load(cfg, vocab, &log)?;
    let batcher = TokenBudgetBatcher::new(
        &data.prepared.train,
        cfg.data.max_tokens,
        cfg.data.bucket_pool,
        cfg.train.seed,
    )?;
    log.line(
        None,
        &format!(
            "batches: {} in epoch 1 of at most {} tokens, {:.1}% padding",
            batcher.batches_in_epoch(1),
            cfg.data.max_tokens,
            100.0 * batcher.padding_ratio(1)
        ),
    );
    let mut run = Run::start(cfg, device, &data, &batcher, &store, &log, resume, init)?;
    let stop = loop {
        if let Some(reason) = run.limit_reached() {
            break reason;
        }
        run.step()?;
        run.log_window()?;
        let last_step = run.is_last_step();
        let is_best = run.validate_if_due(last_step)?;
        let stop_requested = opts.stop.load(Ordering::SeqCst);
        let patience_over = run.patience_over();
        run.checkpoint_if_due(is_best, last_step || stop_requested || patience_over)?;
        if stop_requested {
            break StopReason::Interrupted;
        }
        if run.time_up {
            break StopReason::MaxHours(cfg.train.max_hours);
        }
        if patience_over {
            break StopReason::Patience(cfg.train.patience);
        }
    };
    run.finish(stop)
}
