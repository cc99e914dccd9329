//! `nmt bench decode`: decoding speed in sentences/s and target tokens/s, greedy and beam, on a
//! real file.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use nmt_data::{ParallelText, TokenizerConfig, Vocabularies};
use nmt_decode::DecodeConfig;
use nmt_model::ModelConfig;
use nmt_train::{Checkpoints, encode_sources};
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
    /// Length penalty alpha (default: `[decode]`'s default); scripts/bench-decode.sh passes 0,
    /// as it does to CTranslate2.
    #[arg(long)]
    lenpen: Option<f64>,
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
            let loaded = Checkpoints::open(run, &["best".to_string()])?.load(&device)?;
            let max_positions = loaded.max_positions();
            let label = loaded.first().dir().display().to_string();
            let vocab = loaded.vocab().clone();
            let model = loaded.into_models().remove(0);
            (model, vocab, max_positions, label)
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
            })?;
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
        if let Some(l) = a.lenpen {
            cfg.lenpen = l;
        }
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
                "bench": "decode", "impl": "nmt", "model": label, "device": a.device, "beam": beam,
                "sentences": lines.len(), "tgt_tokens": tokens, "seconds": (secs * 1000.0).round() / 1000.0,
                "sentences_per_s": (lines.len() as f64 / secs * 10.0).round() / 10.0,
                "tgt_tokens_per_s": (tokens as f64 / secs).round(),
            })
        );
    }
    Ok(())
}
