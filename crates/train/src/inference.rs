//! Inference from a run directory: checkpoint(s) -> device -> model(s) + tokenizer -> text.
//! Every command that reads a trained model (`translate`, `eval`, `attention`, `average`,
//! `bench decode`, `export`) and the final test of a training run go through here; validation
//! during training decodes its in-memory model through [`translate_lines`], the same path.
//!
//! Opening and loading are two steps so that the device can be chosen from the checkpoint's
//! own config (`run.device`) without reading anything twice.

use std::path::Path;

use burn::tensor::Device;
use nmt_data::Vocabularies;
use nmt_decode::{DecodeConfig, Hypothesis, translate_with_prefixes};
use nmt_metrics::{BleuConfig, BleuScore, ChrfConfig, ChrfScore, corpus_bleu, corpus_chrf};
use nmt_model::{EOS_ID, Transformer};

use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::config::RunConfig;
use crate::error::{Result, TrainError};

/// Checkpoints of a run, opened and verified, with their configs and (shared) tokenizer; no
/// weights are read yet.
pub struct Checkpoints {
    items: Vec<(Checkpoint, RunConfig)>,
    vocab: Vocabularies,
}

impl Checkpoints {
    /// Opens `best`, `latest` or checkpoint paths of the run in `run_dir`. Several make an
    /// ensemble; they must share their tokenizer, so that an id means the same subword to every
    /// model (checkpoints of one run, or runs trained with the same tokenizer).
    pub fn open(run_dir: &Path, specs: &[String]) -> Result<Self> {
        if specs.is_empty() {
            return Err(TrainError::Refused("no checkpoint to load".into()));
        }
        let store = CheckpointStore::new(run_dir);
        let mut items: Vec<(Checkpoint, RunConfig)> = Vec::with_capacity(specs.len());
        let mut vocab: Option<Vocabularies> = None;
        for spec in specs {
            let checkpoint = Checkpoint::open(&store.resolve(spec)?)?;
            let config = checkpoint.config()?;
            let next = checkpoint.vocab()?;
            match &vocab {
                None => vocab = Some(next),
                Some(first) if !same_tokenizers(first, &next)? => {
                    return Err(TrainError::Refused(format!(
                        "cannot ensemble {} with {}: their tokenizers differ, so the same id means \
                         different subwords to each model (ensemble checkpoints of one run, or runs \
                         trained with the same tokenizer)",
                        checkpoint.dir().display(),
                        items[0].0.dir().display()
                    )));
                }
                Some(_) => {}
            }
            items.push((checkpoint, config));
        }
        Ok(Self {
            items,
            vocab: vocab.expect("at least one checkpoint"),
        })
    }

    /// The first checkpoint: its config's `[decode]` and its tokenizer serve an ensemble.
    pub fn first(&self) -> &Checkpoint {
        &self.items[0].0
    }

    /// The first checkpoint's resolved config (its `run.device` is the default device).
    pub fn config(&self) -> &RunConfig {
        &self.items[0].1
    }

    pub fn vocab(&self) -> &Vocabularies {
        &self.vocab
    }

    pub fn iter(&self) -> impl Iterator<Item = &Checkpoint> {
        self.items.iter().map(|(c, _)| c)
    }

    /// Reads every checkpoint's weights onto `device`.
    pub fn load(self, device: &Device) -> Result<Loaded> {
        let models = self
            .items
            .iter()
            .map(|(c, config)| c.build_model(config, &self.vocab, device))
            .collect::<Result<Vec<_>>>()?;
        Ok(Loaded {
            checkpoints: self,
            models,
            device: device.clone(),
        })
    }
}

/// Models on a device, ready to decode: one checkpoint, or an ensemble.
pub struct Loaded {
    pub checkpoints: Checkpoints,
    models: Vec<Transformer>,
    device: Device,
}

impl Loaded {
    pub fn models(&self) -> Vec<&Transformer> {
        self.models.iter().collect()
    }

    /// The models computing in `precision` (weights stay f32; see `nmt_model::Precision`).
    pub fn with_precision(mut self, precision: nmt_model::Precision) -> Self {
        self.models = self
            .models
            .into_iter()
            .map(|m| m.with_precision(precision))
            .collect();
        self
    }

    /// The models, to own (e.g. to average them).
    pub fn into_models(self) -> Vec<Transformer> {
        self.models
    }

    pub fn first(&self) -> &Checkpoint {
        self.checkpoints.first()
    }

    pub fn config(&self) -> &RunConfig {
        self.checkpoints.config()
    }

    pub fn vocab(&self) -> &Vocabularies {
        &self.checkpoints.vocab
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The longest source every model's position table holds.
    pub fn max_positions(&self) -> usize {
        self.checkpoints
            .items
            .iter()
            .map(|(_, c)| c.model.max_positions)
            .min()
            .unwrap_or(0)
    }

    /// [`translate_lines`] with these models.
    pub fn translate(
        &self,
        lines: &[String],
        cfg: &DecodeConfig,
    ) -> Result<Vec<Vec<(String, Hypothesis)>>> {
        self.translate_with_prefixes(lines, &[], cfg)
    }

    /// [`Self::translate`] where line `i`'s translation begins with the target text
    /// `prefixes[i]` (tokenized by the target tokenizer; `prefixes` empty = none).
    pub fn translate_with_prefixes(
        &self,
        lines: &[String],
        prefixes: &[String],
        cfg: &DecodeConfig,
    ) -> Result<Vec<Vec<(String, Hypothesis)>>> {
        let prefixes: Vec<Vec<u32>> = prefixes
            .iter()
            .map(|p| self.vocab().tgt.encode(p))
            .collect();
        translate_lines_with_prefixes(
            &self.models(),
            self.vocab(),
            lines,
            &prefixes,
            cfg,
            self.max_positions(),
            &self.device,
        )
    }

    /// [`evaluate`] with these models.
    pub fn evaluate(
        &self,
        sources: &[String],
        references: &[String],
        cfg: &DecodeConfig,
    ) -> Result<(Vec<String>, BleuScore, ChrfScore)> {
        evaluate(
            &self.models(),
            self.vocab(),
            sources,
            references,
            cfg,
            self.max_positions(),
            &self.device,
        )
    }
}

fn same_tokenizers(a: &Vocabularies, b: &Vocabularies) -> Result<bool> {
    Ok(a.to_files()? == b.to_files()?)
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
            ids.push(EOS_ID);
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
) -> Result<Vec<Vec<(String, Hypothesis)>>> {
    translate_lines_with_prefixes(models, vocab, lines, &[], cfg, max_positions, device)
}

/// [`translate_lines`] where line `i`'s translation begins with the target ids `prefixes[i]`
/// (empty: no prefixes); see [`nmt_decode::translate_with_prefixes`].
pub fn translate_lines_with_prefixes(
    models: &[&Transformer],
    vocab: &Vocabularies,
    lines: &[String],
    prefixes: &[Vec<u32>],
    cfg: &DecodeConfig,
    max_positions: usize,
    device: &Device,
) -> Result<Vec<Vec<(String, Hypothesis)>>> {
    let sources = encode_sources(vocab, lines, max_positions);
    Ok(
        translate_with_prefixes(models, &sources, prefixes, cfg, device)?
            .into_iter()
            .map(|nbest| {
                nbest
                    .into_iter()
                    .map(|h| (one_line(vocab.tgt.decode(&h.tokens)), h))
                    .collect()
            })
            .collect(),
    )
}

/// A translation is one line of output: a line break the model spelled with byte-fallback
/// tokens (an undertrained model can) becomes a space, so line `i` of the output stays the
/// translation of line `i` of the input.
fn one_line(text: String) -> String {
    if text.contains(['\n', '\r']) {
        text.replace(['\n', '\r'], " ")
    } else {
        text
    }
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
    if sources.len() != references.len() {
        return Err(TrainError::Refused(format!(
            "{} source lines but {} reference lines",
            sources.len(),
            references.len()
        )));
    }
    let hyps: Vec<String> = translate_lines(models, vocab, sources, cfg, max_positions, device)?
        .into_iter()
        .map(|mut nbest| nbest.swap_remove(0).0)
        .collect();
    let (bleu, chrf) = score(&hyps, references)?;
    Ok((hyps, bleu, chrf))
}
