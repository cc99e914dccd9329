//! Text in, text out: the one translation path shared by validation, `nmt translate`,
//! `nmt eval` and the final test of a training run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use nmt_data::Vocabularies;
use nmt_decode::{DecodeConfig, Hypothesis, translate_ensemble};
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

/// Loads the checkpoints `specs` of `run_dir` (each as [`load_checkpoint`] reads it) to decode
/// as an ensemble. They must share their tokenizers, so that ids mean the same to every model:
/// checkpoints of one run, or of runs trained with the same tokenizer.
pub fn load_ensemble(
    run_dir: &Path,
    specs: &[String],
    device: &Device,
) -> Result<Vec<LoadedModel>> {
    anyhow::ensure!(!specs.is_empty(), "no checkpoint to load");
    let mut loaded: Vec<LoadedModel> = Vec::with_capacity(specs.len());
    for spec in specs {
        let next = load_checkpoint(run_dir, spec, device)?;
        if let Some(first) = loaded.first()
            && !same_tokenizers(&first.vocab, &next.vocab)?
        {
            anyhow::bail!(
                "cannot ensemble {} with {}: their tokenizers differ, so the same id means                  different subwords to each model (ensemble checkpoints of one run, or runs                  trained with the same tokenizer)",
                next.checkpoint.display(),
                first.checkpoint.display()
            );
        }
        loaded.push(next);
    }
    Ok(loaded)
}

fn same_tokenizers(a: &Vocabularies, b: &Vocabularies) -> Result<bool> {
    let json = |t: &nmt_data::SubwordTokenizer| {
        t.inner()
            .to_string(false)
            .map_err(|e| anyhow::anyhow!("cannot serialise a tokenizer: {e}"))
    };
    Ok(json(&a.src)? == json(&b.src)? && json(&a.tgt)? == json(&b.tgt)?)
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

/// Translates `lines` with one model, or with an ensemble when `models` holds several (see
/// [`nmt_decode::translate_ensemble`]), returning the n-best hypotheses of each (best first)
/// as ids and text.
pub fn translate_lines(
    models: &[&Transformer],
    vocab: &Vocabularies,
    lines: &[String],
    cfg: &DecodeConfig,
    max_positions: usize,
    device: &Device,
) -> Vec<Vec<(String, Hypothesis)>> {
    let sources = encode_sources(vocab, lines, max_positions);
    translate_ensemble(models, &sources, cfg, device)
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

/// Translates (with one model or an ensemble) and scores: what `nmt eval` and the end of
/// training run.
pub fn evaluate(
    models: &[&Transformer],
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
    let hyps: Vec<String> = translate_lines(models, vocab, sources, cfg, max_positions, device)
        .into_iter()
        .map(|mut nbest| nbest.swap_remove(0).0)
        .collect();
    let (bleu, chrf) = score(&hyps, references)?;
    Ok((hyps, bleu, chrf))
}
