//! Training from one typed config: the loop (teacher forcing, label-smoothed cross entropy,
//! Adam with warm-up schedules, global-norm clipping, accumulation), validation through the
//! same translation path `nmt translate` uses, the metrics log, and checkpoints written
//! atomically that resume a run exactly where it stopped.
//!
//! Data flows one way: corpus -> tokenizer -> batches (nmt-data) -> model (nmt-model) -> loss
//! -> optimizer -> checkpoint. This crate never parses the config twice and never names a
//! backend: the caller hands it a `Device`.

pub mod average;
pub mod checkpoint;
mod clip;
pub mod config;
mod loss;
pub mod metrics_log;
pub mod schedule;
pub mod trainer;
pub mod translate;

pub use average::{average_checkpoints, average_models};
pub use checkpoint::{CheckpointStore, TrainState};
pub use clip::clip_global_norm;
pub use config::{ConfigError, RunConfig, TrainConfig};
pub use loss::{LossSums, label_smoothed_loss};
pub use metrics_log::MetricsLog;
pub use trainer::{TrainOptions, TrainOutcome, batch_tensors, train};
pub use translate::{
    LoadedModel, encode_sources, evaluate, load_checkpoint, load_ensemble, score, translate_lines,
};
