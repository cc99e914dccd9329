//! One optimizer step, the only one: `nmt train` runs it on the corpus and `nmt bench train`
//! times it on a fixed batch, so the speed we publish is the speed of training.
//!
//! Micro-batches -> forward (dropout seeded from (seed, step, micro-batch)) -> label-smoothed
//! loss averaged over all their target tokens -> backward, gradients summed over the
//! micro-batches -> global-norm clipping -> Adam/AdamW at the step's learning rate.
//!
//! In bf16/f16 (`train.precision`) the model computes its products in that dtype while the
//! weights, their gradients and the optimizer state stay f32 (see `nmt_model::Precision`). In
//! f16 the loss is scaled before backward and the gradients unscaled before clipping
//! ([`LossScale`]); a step whose gradients overflow is skipped, not an error.

use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use std::time::{Duration, Instant};

use burn::tensor::{Device, Int, Tensor, TensorData};
use nmt_data::IdBatch;
use nmt_model::{Precision, Transformer};

use crate::clip::unscale_and_clip;
use crate::config::{OptimizerKind, TrainConfig};
use crate::host_adam::HostAdam;
use crate::loss::label_smoothed_loss;
use crate::loss_scale::LossScale;

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Label-smoothed loss summed over the step's target tokens.
    pub loss_sum: f64,
    /// Target tokens of all micro-batches (the loss is averaged over these).
    pub tokens: usize,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// f16: the update was skipped because the gradients overflowed (the loss scale was
    /// lowered; the model is unchanged).
    pub skipped: bool,
}

/// Wall time spent in each phase of the steps taken so far (`nmt bench train` prints it). On
/// the CPU backend ops run when called, so the split is exact; on an asynchronous device
/// (GPU) a phase ends when its work is queued, except where a value is read back (the loss).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PhaseTimes {
    /// The model's forward pass, dropout included.
    pub forward: Duration,
    /// The label-smoothed loss and its value read back.
    pub loss: Duration,
    /// Backward pass, gradients collected and summed over micro-batches.
    pub backward: Duration,
    /// Gradient norm, unscaling and clipping.
    pub clip: Duration,
    /// The optimizer update.
    pub optimizer: Duration,
}

/// A step whose loss or gradient norm is not a finite number; nothing was updated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonFinite {
    /// "loss" or "gradient norm".
    pub what: &'static str,
    pub value: f64,
    /// The micro-batch being processed (0 for the gradient norm).
    pub micro_batch: usize,
}

/// The optimizer and the settings of a step. Its only state is the optimizer's moments, which
/// checkpoints save and resume restores.
pub struct TrainStep {
    optimizer: ModuleOptimizer,
    seed: u64,
    label_smoothing: f64,
    clip_norm: f64,
    device: Device,
    /// Some in f16 training.
    loss_scale: Option<LossScale>,
    loss_scale_window: u64,
    phase_times: PhaseTimes,
}

impl TrainStep {
    /// A step for `cfg` on `device` (an autodiff device: the one the model lives on).
    pub fn new(cfg: &TrainConfig, device: &Device) -> Self {
        Self {
            optimizer: optimizer(cfg),
            seed: cfg.seed,
            label_smoothing: cfg.label_smoothing,
            clip_norm: cfg.clip_norm,
            device: device.clone(),
            loss_scale: (cfg.precision == Precision::F16)
                .then(|| LossScale::new(cfg.loss_scale_init)),
            loss_scale_window: cfg.loss_scale_window,
            phase_times: PhaseTimes::default(),
        }
    }

    /// Time spent in each phase since this step was made.
    pub fn phase_times(&self) -> PhaseTimes {
        self.phase_times
    }

    /// The f16 loss scale (none in f32 and bf16).
    pub fn loss_scale(&self) -> Option<LossScale> {
        self.loss_scale
    }

    /// Restores a checkpoint's loss scale (only meaningful in f16).
    pub fn set_loss_scale(&mut self, scale: Option<LossScale>) {
        if self.loss_scale.is_some() {
            self.loss_scale = scale.or(self.loss_scale);
        }
    }

    pub fn optimizer(&self) -> &ModuleOptimizer {
        &self.optimizer
    }

    /// Replaces the optimizer state, e.g. with a checkpoint's.
    pub fn set_optimizer(&mut self, optimizer: ModuleOptimizer) {
        self.optimizer = optimizer;
    }

    /// Takes optimizer step number `step` (from 1) at learning rate `lr` on `batches`, the
    /// step's micro-batches; returns the updated model. On a non-finite loss or gradient norm
    /// the model is dropped and nothing is updated: the caller stops the run.
    pub fn run(
        &mut self,
        model: Transformer,
        batches: &[IdBatch],
        step: u64,
        lr: f64,
    ) -> Result<(Transformer, StepStats), NonFinite> {
        let tokens: usize = batches.iter().map(|b| b.tgt_tokens).sum();
        let scale = self.loss_scale.map(|s| s.scale);
        let mut accumulator = GradientsAccumulator::<Transformer>::new();
        let mut loss_sum = 0.0f64;
        let mut overflow = None;
        for (i, batch) in batches.iter().enumerate() {
            let started = Instant::now();
            let (src, tgt_in, tgt_out) = batch_tensors(batch, &self.device);
            let logits = nmt_model::seeded(&self.device, dropout_seed(self.seed, step, i), || {
                model.forward(src, tgt_in)
            });
            let forward_done = Instant::now();
            self.phase_times.forward += forward_done - started;
            let sums = label_smoothed_loss(logits, tgt_out, self.label_smoothing);
            let loss = sums.smoothed.div_scalar(tokens as f64);
            loss_sum += f64::from(loss.clone().into_scalar::<f32>()) * tokens as f64;
            let loss_done = Instant::now();
            self.phase_times.loss += loss_done - forward_done;
            if !loss_sum.is_finite() {
                let e = NonFinite {
                    what: "loss",
                    value: loss_sum,
                    micro_batch: i,
                };
                match scale {
                    // f16: an overflowing forward pass is skipped like overflowing gradients.
                    Some(_) => {
                        overflow = Some(e);
                        break;
                    }
                    None => return Err(e),
                }
            }
            let loss = match scale {
                Some(s) => loss.mul_scalar(s),
                None => loss,
            };
            accumulator.accumulate(&model, GradientsParams::from_grads(loss.backward(), &model));
            self.phase_times.backward += loss_done.elapsed();
        }
        let clip_started = Instant::now();
        let mut grads = accumulator.grads();
        let grad_norm = match overflow {
            Some(e) => e.value,
            None => unscale_and_clip(
                &model,
                &mut grads,
                scale.map_or(1.0, |s| 1.0 / s),
                self.clip_norm,
            ),
        };
        self.phase_times.clip += clip_started.elapsed();
        let finite = grad_norm.is_finite();
        if let Some(loss_scale) = self.loss_scale.as_mut() {
            if !loss_scale.update(finite, self.loss_scale_window) {
                let stats = StepStats {
                    loss_sum,
                    tokens,
                    grad_norm,
                    skipped: true,
                };
                return Ok((model, stats));
            }
        } else if !finite {
            return Err(NonFinite {
                what: "gradient norm",
                value: grad_norm,
                micro_batch: 0,
            });
        }
        let optimizer_started = Instant::now();
        let model = self.optimizer.step(lr, model, grads);
        self.phase_times.optimizer += optimizer_started.elapsed();
        Ok((
            model,
            StepStats {
                loss_sum,
                tokens,
                grad_norm,
                skipped: false,
            },
        ))
    }
}

/// Adam or AdamW as configured; on the CPU backend their update is one fused parallel pass
/// ([`HostAdam`]), elsewhere Burn's. Either way the state is Burn's `AdamState`/`AdamWState`.
fn optimizer(t: &TrainConfig) -> ModuleOptimizer {
    let (b1, b2, eps, decay) = (
        t.betas[0] as f32,
        t.betas[1] as f32,
        t.eps as f32,
        t.weight_decay as f32,
    );
    match t.optimizer {
        OptimizerKind::Adam => HostAdam::adam(b1, b2, eps, decay).into(),
        OptimizerKind::Adamw => HostAdam::adamw(b1, b2, eps, decay).into(),
    }
}

/// Turns an id batch into `(src, tgt_in, tgt_out)` tensors, each built in one go.
pub fn batch_tensors(
    batch: &IdBatch,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<2, Int>) {
    let make = |v: &Vec<i64>, len: usize| {
        Tensor::<2, Int>::from_data(TensorData::new(v.clone(), [batch.batch_size, len]), device)
    };
    (
        make(&batch.src, batch.src_len),
        make(&batch.tgt_in, batch.tgt_len),
        make(&batch.tgt_out, batch.tgt_len),
    )
}

/// Dropout randomness is a function of (seed, step, micro-batch), so resuming needs no RNG state.
fn dropout_seed(seed: u64, step: u64, micro: usize) -> u64 {
    let mut x = seed
        ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (micro as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x.wrapping_mul(0x94D0_49BB_1331_11EB)
}
