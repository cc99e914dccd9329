//! Text in, text out: the one translation path shared by validation, `nmt translate`,
//! `nmt eval` and the final test of a training run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use nmt_data::Vocabularies;
use nmt_decode::{DecodeConfig, Hypothesis, translate};
use nmt_metrics::{BleuConfig, BleuScore, ChrfConfig, ChrfScore, corpus_bleu, corpus_chrf};
use nmt_model::{EOS_ID, Transformer};

use crate::checkpoint::{CheckpointStore, TrainState};
use crate::config::RunConfig;

/// A trained model with everything needed to use it.
pub struct LoadedModel {
    pub model: Transformer,
    pub vocab: Vocabularies,
    pub config: RunConfig,
    pub state: TrainState,
    pub checkpoint: PathBuf,
}

/// Loads `best`, `latest` or a checkpoint path of the run in `run_dir`. The checkpoint carries
/// its own config and tokenizer, so it stands alone.
pub fn load_checkpoint(run_dir: &Path, spec: &str, device: &Device) -> Result<LoadedModel> {
    let checkpoint = CheckpointStore::new(run_dir).resolve(spec)?;
    let state = CheckpointStore::load_state(&checkpoint)?;
    let config_path = checkpoint.join("config.toml");
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let config = RunConfig::from_toml(&text, &config_path)?;
    let vocab = Vocabularies::load(&checkpoint)?;
    let (src_vocab, tgt_vocab) = (vocab.src.vocab_size(), vocab.tgt.vocab_size());
    state.check_compatible(&config.model, src_vocab, tgt_vocab)?;
    // The drawn weights are replaced by the checkpoint's; drawing them under the lock keeps
    // another thread's seeded draws whole.
    let model = nmt_model::seeded(device, 0, || {
        config.model.init(src_vocab, tgt_vocab, device)
    })
    .map_err(anyhow::Error::msg)?;
    let model = CheckpointStore::load_model(&checkpoint, model)?;
    Ok(LoadedModel {
        model,
        vocab,
        config,
        state,
        checkpoint,
    })
}

/// Source ids for the model: subwords (cut to what the position table holds) and `</s>`.
/// An empty line stays empty, and the decoder returns an empty translation for it.
pub fn encode_sources(
    vocab: &Vocabularies,
    lines: &[String],
    max_positions: usize,
) -> Vec<Vec<u32>> {
    lines
        .iter()
        .map(|line| {
            if line.trim().is_empty() {
                return Vec::new();
            }
            let mut ids = vocab.src.encode(line);
            ids.truncate(max_positions.saturating_sub(1));
            ids.push(EOS_ID as u32);
            ids
        })
        .collect()
}

/// Translates `lines`, returning the n-best hypotheses of each (best first) as ids and text.
pub fn translate_lines(
    model: &Transformer,
    vocab: &Vocabularies,
    lines: &[String],
    cfg: &DecodeConfig,
    max_positions: usize,
    device: &Device,
) -> Vec<Vec<(String, Hypothesis)>> {
    let sources = encode_sources(vocab, lines, max_positions);
    translate(model, &sources, cfg, device)
        .into_iter()
        .map(|nbest| {
            nbest
                .into_iter()
                .map(|h| (vocab.tgt.decode(&h.tokens), h))
                .collect()
        })
        .collect()
}

/// Corpus BLEU (13a, mixed case) and chrF2 of `hyps` against one reference stream.
pub fn score(hyps: &[String], refs: &[String]) -> Result<(BleuScore, ChrfScore)> {
    let refs = vec![refs.to_vec()];
    let bleu = corpus_bleu(hyps, &refs, &BleuConfig::default())?;
    let chrf = corpus_chrf(hyps, &refs, &ChrfConfig::default())?;
    Ok((bleu, chrf))
}

/// Translates and scores: what `nmt eval` and the end of training run.
pub fn evaluate(
    model: &Transformer,
    vocab: &Vocabularies,
    sources: &[String],
    references: &[String],
    cfg: &DecodeConfig,
    max_positions: usize,
    device: &Device,
) -> Result<(Vec<String>, BleuScore, ChrfScore)> {
    anyhow::ensure!(
        sources.len() == references.len(),
        "{} source lines but {} reference lines",
        sources.len(),
        references.len()
    );
    let hyps: Vec<String> = translate_lines(model, vocab, sources, cfg, max_positions, device)
        .into_iter()
        .map(|mut nbest| nbest.swap_remove(0).0)
        .collect();
    let (bleu, chrf) = score(&hyps, references)?;
    Ok((hyps, bleu, chrf))
}
