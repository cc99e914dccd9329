//! `nmt bench train`: target tokens per second of [`nmt_train::TrainStep`], the step
//! `nmt train` runs, on one fixed random batch at the shape of
//! `../shared/bench/torch_reference.py` (same flags, same defaults), so the two can be timed
//! side by side. `--preset` names the shapes `scripts/bench.sh` compares.

use std::time::Instant;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use nmt_data::rng::SplitMix64;
use nmt_data::{EncodedPair, IdBatch};
use nmt_model::{ModelConfig, NormPosition, PositionKind, Precision};
use nmt_train::config::Schedule;
use nmt_train::{TrainConfig, TrainStep};
use serde_json::json;

use super::peak_rss_mib;
use crate::device::parse_device;

/// Named shapes; each sets the shape flags (flags given explicitly still win).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// `--vocab 10000 --d-model 128 --heads 4 --ff 256 --enc-layers 4 --dec-layers 4 --batch 128`
    Tiny,
    /// torch_reference.py's defaults: vocab 8000, d_model 256, 4 heads, FFN 1024, 3+3 layers,
    /// batch 64 x 24 x 24.
    Default,
    /// Transformer-base: `--vocab 32000 --d-model 512 --heads 8 --ff 2048 --enc-layers 6
    /// --dec-layers 6 --batch 32 --src-len 32 --tgt-len 32`.
    Base,
}

/// The shape of a run: (vocab, d_model, heads, ff, enc, dec, batch, src_len, tgt_len).
type Shape = (
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
    usize,
);

impl Preset {
    fn shape(self) -> Shape {
        match self {
            Preset::Tiny => (10000, 128, 4, 256, 4, 4, 128, 24, 24),
            Preset::Default => (8000, 256, 4, 1024, 3, 3, 64, 24, 24),
            Preset::Base => (32000, 512, 8, 2048, 6, 6, 32, 32, 32),
        }
    }
}

/// Flags and defaults of `../shared/bench/torch_reference.py`, so both run the same shape.
#[derive(Args, Debug)]
pub struct BenchTrainArgs {
    /// A named shape (the flags below override single values of it).
    #[arg(long, value_enum, default_value = "default")]
    preset: Preset,
    #[arg(long)]
    vocab: Option<usize>,
    #[arg(long)]
    d_model: Option<usize>,
    #[arg(long)]
    heads: Option<usize>,
    #[arg(long)]
    ff: Option<usize>,
    #[arg(long)]
    enc_layers: Option<usize>,
    #[arg(long)]
    dec_layers: Option<usize>,
    #[arg(long, default_value_t = 0.1)]
    dropout: f64,
    #[arg(long)]
    batch: Option<usize>,
    #[arg(long)]
    src_len: Option<usize>,
    #[arg(long)]
    tgt_len: Option<usize>,
    /// Timed optimizer steps.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// CPU threads (the rayon pool of the flex backend).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value = "flex")]
    device: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Dtype of the matrix products: f32 (default), bf16 or f16 (with its loss scale), as
    /// `train.precision`; torch_reference.py's `--amp` is the counterpart.
    #[arg(long, default_value = "f32")]
    precision: Precision,
}

/// `batch` pairs of random ids (never the reserved ones) whose padded batch is exactly
/// `src_len` x `tgt_len`: `src_len - 1` source ids plus `</s>`, `tgt_len - 1` target ids
/// plus `<s>` (input) or `</s>` (labels).
fn random_batch(batch: usize, src_len: usize, tgt_len: usize, vocab: usize, seed: u64) -> IdBatch {
    let mut rng = SplitMix64::new(seed);
    let first = nmt_core::SPECIAL_TOKENS.len() as u64;
    let mut ids = |n: usize| -> Vec<u32> {
        (0..n)
            .map(|_| (first + rng.below(vocab as u64 - first)) as u32)
            .collect()
    };
    let pairs: Vec<EncodedPair> = (0..batch)
        .map(|_| EncodedPair {
            src: ids(src_len - 1),
            tgt: ids(tgt_len - 1),
        })
        .collect();
    IdBatch::from_pairs(&pairs, &(0..batch).collect::<Vec<_>>())
}

pub fn bench_train(a: BenchTrainArgs) -> Result<()> {
    let (vocab, d_model, heads, ff, enc, dec, batch, src_len, tgt_len) = a.preset.shape();
    let vocab = a.vocab.unwrap_or(vocab);
    let (batch, src_len, tgt_len) = (
        a.batch.unwrap_or(batch),
        a.src_len.unwrap_or(src_len),
        a.tgt_len.unwrap_or(tgt_len),
    );
    if src_len < 2 || tgt_len < 2 || batch == 0 || vocab <= nmt_core::SPECIAL_TOKENS.len() {
        bail!("need --batch >= 1, --src-len and --tgt-len >= 2 and --vocab > 4");
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build_global()
        .map_err(|e| anyhow::anyhow!("cannot size the thread pool: {e}"))?;
    let device = parse_device(&a.device)?.autodiff();
    // The reference model: pre-norm, sinusoidal positions, one embedding for source, target
    // and output, dropout everywhere torch.nn.Transformer puts it.
    let model_cfg = ModelConfig {
        d_model: a.d_model.unwrap_or(d_model),
        heads: a.heads.unwrap_or(heads),
        ff_dim: a.ff.unwrap_or(ff),
        encoder_layers: a.enc_layers.unwrap_or(enc),
        decoder_layers: a.dec_layers.unwrap_or(dec),
        dropout: a.dropout,
        attention_dropout: a.dropout,
        activation_dropout: a.dropout,
        norm: NormPosition::Pre,
        positions: PositionKind::Sinusoidal,
        max_positions: src_len.max(tgt_len + 1).max(512),
        share_embeddings: true,
        tie_output: true,
        ..ModelConfig::default()
    };
    // The reference's step: label smoothing 0.1, Adam (0.9, 0.98, 1e-9), clipping 1.0, 5e-4.
    let train_cfg = TrainConfig {
        seed: a.seed,
        lr: 5e-4,
        schedule: Schedule::Constant,
        label_smoothing: 0.1,
        clip_norm: 1.0,
        betas: [0.9, 0.98],
        eps: 1e-9,
        precision: a.precision,
        ..TrainConfig::default()
    };
    train_cfg.validate()?;
    let mut model = nmt_model::seeded(&device, a.seed, || model_cfg.init(vocab, vocab, &device))?
        .with_precision(a.precision);
    let mut step = TrainStep::new(&train_cfg, &device);
    let batches = [random_batch(
        batch,
        src_len,
        tgt_len,
        vocab,
        a.seed.wrapping_add(1),
    )];
    let tokens = batches[0].tgt_tokens as f64;
    let run = |step: &mut TrainStep, model, n: u64| {
        step.run(model, &batches, n, train_cfg.lr)
            .map_err(|e| anyhow::anyhow!("the {} became {} at step {n}", e.what, e.value))
    };
    for n in 0..a.warmup {
        model = run(&mut step, model, n as u64 + 1)?.0;
    }
    let before = step.phase_times();
    let start = Instant::now();
    let mut loss = f64::NAN;
    for n in 0..a.steps {
        let (m, stats) = run(&mut step, model, (a.warmup + n) as u64 + 1)?;
        model = m;
        loss = stats.loss_sum / stats.tokens as f64;
    }
    let secs = start.elapsed().as_secs_f64();
    let after = step.phase_times();
    // Milliseconds per timed step in each phase of `TrainStep::run`.
    let steps = a.steps.max(1) as f64;
    let ms = |now: std::time::Duration, then: std::time::Duration| {
        ((now - then).as_secs_f64() * 1000.0 / steps * 10.0).round() / 10.0
    };
    let phases = json!({
        "forward": ms(after.forward, before.forward),
        "loss": ms(after.loss, before.loss),
        "backward": ms(after.backward, before.backward),
        "clip": ms(after.clip, before.clip),
        "optimizer": ms(after.optimizer, before.optimizer),
    });
    println!(
        "{}",
        json!({
            "impl": "nmt", "backend": a.device, "device": a.device, "threads": a.threads,
            "precision": format!("{:?}", a.precision).to_lowercase(),
            "preset": format!("{:?}", a.preset).to_lowercase(),
            "params": burn::module::Module::num_params(&model), "batch": batch,
            "src_len": src_len, "tgt_len": tgt_len,
            "steps": a.steps, "seconds": (secs * 1000.0).round() / 1000.0,
            "steps_per_s": (a.steps as f64 / secs * 1000.0).round() / 1000.0,
            "tgt_tokens_per_s": (a.steps as f64 * tokens / secs * 10.0).round() / 10.0,
            "loss": (loss * 1e4).round() / 1e4,
            "peak_rss_mib": peak_rss_mib(),
            "phase_ms_per_step": phases,
        })
    );
    Ok(())
}
