//! Training from one typed config: the loop (teacher forcing, label-smoothed cross entropy,
//! Adam with warm-up schedules, global-norm clipping, accumulation), validation through the
//! same translation path `nmt translate` uses, the metrics log, and checkpoints written
//! atomically, checksummed, that resume a run exactly where it stopped.
//!
//! Data flows one way: corpus -> tokenizer -> batches (nmt-data) -> model (nmt-model) -> loss
//! -> optimizer -> checkpoint. This crate never parses the config twice and never names a
//! backend: the caller hands it a `Device`.

pub mod average;
pub mod checkpoint;
mod clip;
pub mod config;
pub mod error;
mod host_adam;
pub mod inference;
mod loss;
pub mod loss_scale;
pub mod metrics_log;
pub mod schedule;
pub mod step;
pub mod trainer;

pub use average::{average_checkpoints, average_models};
pub use checkpoint::{Checkpoint, CheckpointStore, TrainState};
pub use clip::{clip_global_norm, unscale_and_clip};
pub use config::{ConfigError, RunConfig, TrainConfig};
pub use error::TrainError;
pub use inference::{Checkpoints, Loaded, encode_sources, evaluate, score, translate_lines};
pub use loss::{LossSums, label_smoothed_loss};
pub use metrics_log::{Event, MetricsLog};
pub use step::{PhaseTimes, StepStats, TrainStep, batch_tensors};
pub use trainer::{StopReason, TrainOptions, TrainOutcome, train};
