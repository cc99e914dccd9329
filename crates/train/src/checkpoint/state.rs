//! What a checkpoint holds besides tensors: the position of the run, so that resuming continues
//! bit for bit, and the model's shape, so that a checkpoint is never loaded into another model.

use nmt_data::BatchCursor;
use nmt_model::{ModelConfig, Transformer};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::loss_scale::LossScale;

/// Bumped whenever what a checkpoint holds changes meaning. Version 2 added `manifest.json`
/// (the checksums of every file); version 1 checkpoints are still read, unverified.
pub const FORMAT_VERSION: u32 = 2;

/// Partial sums of the current logging window, so a resumed run logs the same averages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LogWindow {
    pub loss_sum: f64,
    pub tokens: u64,
    pub steps: u64,
    /// f16 steps skipped for overflowing gradients.
    #[serde(default)]
    pub skipped: u64,
}

/// The most recent validation of a run, as of a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ValidationRecord {
    pub step: u64,
    pub loss: f64,
    pub bleu: f64,
    pub chrf: f64,
}

/// Everything besides tensors that continuing a run bit-for-bit needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub format_version: u32,
    /// Optimizer steps taken.
    pub step: u64,
    /// The next batch to read.
    pub cursor: BatchCursor,
    pub best_score: Option<f64>,
    pub best_step: Option<u64>,
    /// Validations since the best one (early stopping's patience counter).
    pub bad_validations: u64,
    pub seed: u64,
    pub src_vocab: usize,
    pub tgt_vocab: usize,
    pub model: ModelConfig,
    pub log_window: LogWindow,
    /// Training wall time so far, in seconds.
    pub elapsed_s: f64,
    /// FNV-1a over every parameter's f32 values: two runs agree bit for bit iff these match.
    pub params_fingerprint: String,
    /// The latest validation at or before this step (none before the first).
    #[serde(default)]
    pub last_validation: Option<ValidationRecord>,
    /// The f16 loss scale (f16 training only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<LossScale>,
    /// For an averaged checkpoint (`nmt average`): the checkpoints it is the mean of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub averaged_from: Option<Vec<String>>,
}

/// Model fields whose change makes a checkpoint's tensors unusable.
const SHAPE_FIELDS: [&str; 11] = [
    "d_model",
    "heads",
    "ff_dim",
    "encoder_layers",
    "decoder_layers",
    "positions",
    "max_positions",
    "share_embeddings",
    "tie_output",
    "norm",
    "activation",
];

impl TrainState {
    /// A run at step 0.
    pub fn fresh(seed: u64, src_vocab: usize, tgt_vocab: usize, model: &ModelConfig) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            step: 0,
            cursor: BatchCursor::START,
            best_score: None,
            best_step: None,
            bad_validations: 0,
            seed,
            src_vocab,
            tgt_vocab,
            model: model.clone(),
            log_window: LogWindow::default(),
            elapsed_s: 0.0,
            params_fingerprint: String::new(),
            last_validation: None,
            loss_scale: None,
            averaged_from: None,
        }
    }

    /// Says which field differs when this checkpoint cannot hold `model` at these vocab sizes.
    pub fn check_compatible(
        &self,
        model: &ModelConfig,
        src_vocab: usize,
        tgt_vocab: usize,
    ) -> Result<()> {
        let saved = serde_json::to_value(&self.model).expect("a ModelConfig serialises");
        let wanted = serde_json::to_value(model).expect("a ModelConfig serialises");
        for field in SHAPE_FIELDS {
            if saved[field] != wanted[field] {
                return Err(TrainError::Mismatch(format!(
                    "model.{field} is {} in the checkpoint but {} in the config",
                    saved[field], wanted[field]
                )));
            }
        }
        if (self.src_vocab, self.tgt_vocab) != (src_vocab, tgt_vocab) {
            return Err(TrainError::Mismatch(format!(
                "vocabulary sizes are {}/{} (source/target) in the checkpoint but {src_vocab}/{tgt_vocab} with this tokenizer",
                self.src_vocab, self.tgt_vocab
            )));
        }
        Ok(())
    }
}

/// A hash (FNV-1a) of every parameter value, in module order.
pub fn params_fingerprint(model: &Transformer) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for (_, values) in nmt_model::parameter_values(model) {
        for v in values {
            for b in v.to_bits().to_le_bytes() {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x100000001b3);
            }
        }
    }
    format!("{hash:016x}")
}
