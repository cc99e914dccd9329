//! `nmt bench decode`: decoding speed in sentences/s and target tokens/s, greedy and beam, on a
//! real file. A command that prints figures, never a timed test.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use nmt_data::{ParallelText, TokenizerConfig, Vocabularies};
use nmt_decode::DecodeConfig;
use nmt_model::ModelConfig;
use nmt_train::{encode_sources, load_checkpoint};
use serde_json::json;

use crate::device::parse_device;

#[derive(Args, Debug)]
pub struct BenchDecodeArgs {
    /// Sentences to translate, one a line (plain or .gz).
    #[arg(long)]
    input: PathBuf,
    /// A trained run; without it a randomly initialised model of `[model]` defaults is used,
    /// with a BPE vocabulary trained on the input.
    #[arg(long)]
    run: Option<PathBuf>,
    /// Fixed maximum output length (so a random model does the same work every run).
    #[arg(long)]
    max_len: Option<usize>,
    /// Beam sizes to time; 1 is greedy.
    #[arg(long, value_delimiter = ',', default_value = "1,5")]
    beams: Vec<usize>,
    /// Token budget of a decoding batch.
    #[arg(long, default_value_t = 4096)]
    max_tokens: usize,
    /// Only the first N lines.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value = "flex")]
    device: String,
}

pub fn bench_decode(a: BenchDecodeArgs) -> Result<()> {
    let device = parse_device(&a.device)?;
    let mut lines = nmt_data::read_lines(&a.input)?;
    if let Some(n) = a.limit {
        lines.truncate(n);
    }
    if lines.is_empty() {
        bail!("{} has no lines", a.input.display());
    }
    let (model, vocab, max_positions, label) = match &a.run {
        Some(run) => {
            let loaded = load_checkpoint(run, "best", &device)?;
            let max_positions = loaded.config.model.max_positions;
            (
                loaded.model,
                loaded.vocab,
                max_positions,
                loaded.checkpoint.display().to_string(),
            )
        }
        None => {
            let text = ParallelText {
                src: lines.clone(),
                tgt: lines.clone(),
            };
            let vocab = Vocabularies::train(&text, &TokenizerConfig::default())?;
            let cfg = ModelConfig::default();
            let model = nmt_model::seeded(&device, 0, || {
                cfg.init(vocab.src.vocab_size(), vocab.tgt.vocab_size(), &device)
            })
            .map_err(anyhow::Error::msg)?;
            (
                model,
                vocab,
                cfg.max_positions,
                "random init, [model] defaults".to_string(),
            )
        }
    };
    let sources = encode_sources(&vocab, &lines, max_positions);
    for &beam in &a.beams {
        let mut cfg = DecodeConfig {
            beam,
            max_tokens: a.max_tokens,
            ..DecodeConfig::default()
        };
        if let Some(n) = a.max_len {
            cfg.max_len_a = 0.0;
            cfg.max_len_b = n;
        }
        let start = Instant::now();
        let out = nmt_decode::translate(&model, &sources, &cfg, &device);
        let secs = start.elapsed().as_secs_f64();
        let tokens: usize = out.iter().map(|n| n[0].tokens.len() + 1).sum();
        println!(
            "{}",
            json!({
                "bench": "decode", "model": label, "device": a.device, "beam": beam,
                "sentences": lines.len(), "tgt_tokens": tokens, "seconds": (secs * 1000.0).round() / 1000.0,
                "sentences_per_s": (lines.len() as f64 / secs * 10.0).round() / 10.0,
                "tgt_tokens_per_s": (tokens as f64 / secs).round(),
            })
        );
    }
    Ok(())
}

/// Flags and defaults of `../shared/bench/torch_reference.py`, so both run the same shape.
#[derive(Args, Debug)]
pub struct BenchTrainArgs {
    #[arg(long, default_value_t = 8000)]
    vocab: usize,
    #[arg(long, default_value_t = 256)]
    d_model: usize,
    #[arg(long, default_value_t = 4)]
    heads: usize,
    #[arg(long, default_value_t = 1024)]
    ff: usize,
    #[arg(long, default_value_t = 3)]
    enc_layers: usize,
    #[arg(long, default_value_t = 3)]
    dec_layers: usize,
    #[arg(long, default_value_t = 0.1)]
    dropout: f64,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 24)]
    src_len: usize,
    #[arg(long, default_value_t = 24)]
    tgt_len: usize,
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
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

/// Times optimizer steps of the training path (forward, label-smoothed loss, backward,
/// global-norm clipping, Adam) on one fixed random batch, and prints one JSON line with the
/// reference's fields.
pub fn bench_train(a: BenchTrainArgs) -> Result<()> {
    use burn::module::Module;
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::{Distribution, Int, Tensor};
    use nmt_model::{NormPosition, PositionKind};

    rayon::ThreadPoolBuilder::new()
        .num_threads(a.threads)
        .build_global()
        .map_err(|e| anyhow::anyhow!("cannot size the thread pool: {e}"))?;
    let device = parse_device(&a.device)?.autodiff();
    // The reference model: pre-norm, sinusoidal positions, one embedding for source, target
    // and output, dropout everywhere torch.nn.Transformer puts it.
    let cfg = ModelConfig {
        d_model: a.d_model,
        heads: a.heads,
        ff_dim: a.ff,
        encoder_layers: a.enc_layers,
        decoder_layers: a.dec_layers,
        dropout: a.dropout,
        attention_dropout: a.dropout,
        activation_dropout: a.dropout,
        norm: NormPosition::Pre,
        positions: PositionKind::Sinusoidal,
        max_positions: a.src_len.max(a.tgt_len + 1).max(512),
        share_embeddings: true,
        tie_output: true,
        ..ModelConfig::default()
    };
    let mut model = nmt_model::seeded(&device, a.seed, || cfg.init(a.vocab, a.vocab, &device))
        .map_err(anyhow::Error::msg)?;
    let mut optim = AdamConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.98)
        .with_epsilon(1e-9)
        .init();
    let ids = |len: usize| {
        Tensor::<2>::random(
            [a.batch, len],
            Distribution::Uniform(1.0, a.vocab as f64),
            &device,
        )
        .floor()
        .int()
    };
    let (src, tgt): (Tensor<2, Int>, Tensor<2, Int>) =
        nmt_model::seeded(&device, a.seed.wrapping_add(1), || {
            (ids(a.src_len), ids(a.tgt_len + 1))
        });
    let tgt_in = tgt.clone().narrow(1, 0, a.tgt_len);
    let tgt_out = tgt.narrow(1, 1, a.tgt_len);
    let tokens = (a.batch * a.tgt_len) as f64;
    let mut step = |model: nmt_model::Transformer| {
        let logits = model.forward(src.clone(), tgt_in.clone());
        let loss = nmt_train::label_smoothed_loss(logits, tgt_out.clone(), 0.1)
            .smoothed
            .div_scalar(tokens);
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        nmt_train::clip_global_norm(&model, &mut grads, 1.0);
        (optim.step(5e-4, model, grads), loss)
    };
    for _ in 0..a.warmup {
        model = step(model).0;
    }
    let start = Instant::now();
    let mut last = None;
    for _ in 0..a.steps {
        let (m, loss) = step(model);
        model = m;
        last = Some(loss);
    }
    let loss: f32 = last.map(|l| l.into_scalar()).unwrap_or(f32::NAN);
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "impl": "nmt", "backend": a.device, "device": a.device, "threads": a.threads,
            "params": model.num_params(), "batch": a.batch, "src_len": a.src_len, "tgt_len": a.tgt_len,
            "steps": a.steps, "seconds": (secs * 1000.0).round() / 1000.0,
            "steps_per_s": (a.steps as f64 / secs * 1000.0).round() / 1000.0,
            "tgt_tokens_per_s": (a.steps as f64 * tokens / secs * 10.0).round() / 10.0,
            "loss": (f64::from(loss) * 1e4).round() / 1e4,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
