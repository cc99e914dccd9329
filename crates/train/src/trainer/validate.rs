//! Validation (the teacher-forced loss, and BLEU and chrF of the decoded validation set) and
//! the final test of the best checkpoint, both decoded through the path `nmt translate` uses.

use burn::tensor::Device;
use nmt_data::{IdBatch, Vocabularies};
use nmt_model::Transformer;

use nmt_data::{PairSource, PreparedSplit, read_parallel};

use super::data::ValidText;
use super::run_dir::RunLog;
use crate::config::RunConfig;
use crate::error::{IoContext, Result};
use crate::inference::{Checkpoints, evaluate, score, translate_lines};
use crate::loss::label_smoothed_loss;
use crate::metrics_log::{Event, MetricsLog, TestEvent};
use crate::step::batch_tensors;

pub(crate) struct Validation {
    /// Negative log-likelihood per target token (no smoothing).
    pub loss: f64,
    pub bleu: f64,
    pub chrf: f64,
}

pub(crate) fn validate(
    model: &Transformer,
    vocab: &Vocabularies,
    pairs: &PreparedSplit,
    text: &ValidText,
    cfg: &RunConfig,
    device: &Device,
) -> Result<Validation> {
    // Teacher-forced NLL per target token (no smoothing), batched like training.
    let lengths: Vec<usize> = (0..pairs.num_pairs())
        .map(|i| {
            let (s, t) = pairs.pair(i);
            s.len().max(t.len()) + 1
        })
        .collect();
    let (mut nll, mut tokens) = (0.0f64, 0usize);
    for indices in nmt_data::inference_batches(&lengths, cfg.data.max_tokens) {
        let batch = IdBatch::from_pairs(pairs, &indices);
        let (src, tgt_in, tgt_out) = batch_tensors(&batch, device);
        let sums = label_smoothed_loss(model.forward(src, tgt_in), tgt_out, 0.0);
        nll += f64::from(sums.nll.into_scalar::<f32>());
        tokens += batch.tgt_tokens;
    }
    let hyps: Vec<String> = translate_lines(
        &[model],
        vocab,
        &text.src,
        &cfg.decode,
        cfg.model.max_positions,
        device,
    )?
    .into_iter()
    .map(|mut n| n.swap_remove(0).0)
    .collect();
    let (bleu, chrf) = score(&hyps, &text.refs)?;
    Ok(Validation {
        loss: nll / tokens.max(1) as f64,
        bleu: bleu.score,
        chrf: chrf.score,
    })
}

/// Evaluates the run's best checkpoint on the test split, if the config has one: writes
/// `RUN_DIR/test.hyp`, logs a test event at `step` and prints the scores to the log.
pub(crate) fn test_best(
    cfg: &RunConfig,
    device: &Device,
    metrics: &MetricsLog,
    log: &RunLog,
    step: u64,
) -> Result<Option<(f64, f64)>> {
    let Some(split) = &cfg.data.test else {
        return Ok(None);
    };
    let (src_path, ref_path) = split.resolve(&cfg.data.src_lang, &cfg.data.tgt_lang)?;
    let text = read_parallel(&src_path, &ref_path)?;
    let best = Checkpoints::open(cfg.run_dir(), &["best".to_string()])?.load(device)?;
    let (hyps, bleu, chrf) = evaluate(
        &best.models(),
        best.vocab(),
        &text.src,
        &text.tgt,
        &cfg.decode,
        cfg.model.max_positions,
        device,
    )?;
    let hyp_path = cfg.run_dir().join("test.hyp");
    std::fs::write(&hyp_path, hyps.join("\n") + "\n").at("write", &hyp_path)?;
    let checkpoint = best.first().dir().display().to_string();
    metrics.append(&Event::Test(TestEvent {
        step,
        checkpoint: checkpoint.clone(),
        test_bleu: bleu.score,
        test_chrf: chrf.score,
        bleu_signature: bleu.signature(),
        chrf_signature: chrf.signature(),
    }))?;
    log.line(
        None,
        &format!(
            "test ({}, checkpoint {checkpoint}):\n{bleu}\n{chrf}\n{}",
            src_path.display(),
            bleu.signature()
        ),
    );
    Ok(Some((bleu.score, chrf.score)))
}
