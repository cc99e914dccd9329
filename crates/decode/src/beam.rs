//! Batched beam search over the incremental-decoding cache.
//!
//! Layout: the cache holds `beam` rows per unfinished sentence, sentence by sentence (step 0
//! runs one row per sentence, so the beam never starts with duplicates). A row whose beam slot
//! is unused ("dead": fewer than `beam` live continuations existed) has score -inf and produces
//! no candidates.
//!
//! One step: `log_softmax` of the logits (`<pad>` and `<s>` at -inf; only `</s>` allowed in a
//! sentence at its length limit), plus each row's running log-probability; per sentence, the
//! top `2 * beam` of its `rows * vocab` candidates, read back once. Walking them best first:
//! - a `</s>` candidate ranked among the first `beam` becomes a finished hypothesis, scored
//!   `log_prob / ((5 + len) / 6)^lenpen` with `len` = its tokens + 1 for the `</s>` (fairseq
//!   counts the `</s>` step too); a `</s>` ranked lower is pruned, exactly as a lower-ranked
//!   token would be (this is fairseq's rule, and what makes beam 1 equal greedy decoding);
//! - any other candidate continues, until `beam` continuations are found.
//!
//! A sentence is done at its length limit (where `</s>` is forced, so its live hypotheses are
//! finalized with their real `</s>` log-probability), or when it holds `beam` finished
//! hypotheses and its best live hypothesis, scored as if it ended at its current length, does
//! not beat the worst of them. With `lenpen = 0` that test is exact (log-probabilities only
//! fall); with `lenpen > 0` it is the usual heuristic (Hugging Face's `early_stopping=False`),
//! since a strict bound would keep nearly every sentence running to its length limit.
//! Done sentences leave the batch: their rows are dropped from the cache in the same gather
//! that reorders the surviving rows by parent beam.

use burn::tensor::{Device, Tensor, TensorData};
use nmt_model::{BOS_ID, EOS_ID, Transformer};

use crate::Hypothesis;
use crate::ensemble::EnsembleCache;
use crate::step::{TopK, VocabMasks, capped, ids_1d, length_penalty, source_batch};

/// One live row of the beam.
#[derive(Debug, Clone)]
struct Row {
    tokens: Vec<u32>,
    /// Running log-probability; -inf for a dead slot.
    log_prob: f32,
    /// The token this row feeds to the next step.
    last: i64,
}

impl Row {
    fn dead() -> Self {
        Self {
            tokens: Vec::new(),
            log_prob: f32::NEG_INFINITY,
            last: EOS_ID as i64,
        }
    }
}

/// A sentence's finished hypotheses, best first, at most `beam` of them.
#[derive(Debug, Default)]
struct Finished(Vec<Hypothesis>);

impl Finished {
    fn add(&mut self, hyp: Hypothesis, beam: usize) {
        let at = self.0.partition_point(|h| h.score >= hyp.score);
        if at < beam {
            self.0.insert(at, hyp);
            self.0.truncate(beam);
        }
    }

    /// The score to beat once the list is full.
    fn worst_if_full(&self, beam: usize) -> Option<f64> {
        (self.0.len() >= beam).then(|| self.0[beam - 1].score)
    }
}

/// Beam search over one batch. `src[i]` are source ids (normally ending with `</s>`),
/// `max_lens[i]` the most tokens sentence `i` may produce before `</s>`. Returns, per sentence
/// and in order, its `nbest` (clamped to `1..=beam`) best finished hypotheses, best first by
/// length-penalised score. Beam 1 gives exactly [`crate::greedy`]'s tokens and log-probs.
pub fn beam_search(
    model: &Transformer,
    src: &[Vec<u32>],
    max_lens: &[usize],
    beam: usize,
    lenpen: f64,
    nbest: usize,
    device: &Device,
) -> Vec<Vec<Hypothesis>> {
    beam_search_ensemble(&[model], src, max_lens, beam, lenpen, nbest, device)
}

/// [`beam_search`] with an ensemble: each step's distribution is the mean of the models' (see
/// `ensemble.rs`). One model gives exactly [`beam_search`]'s results.
pub(crate) fn beam_search_ensemble(
    models: &[&Transformer],
    src: &[Vec<u32>],
    max_lens: &[usize],
    beam: usize,
    lenpen: f64,
    nbest: usize,
    device: &Device,
) -> Vec<Vec<Hypothesis>> {
    let topk = TopK::for_device(device);
    search(models, src, max_lens, beam, lenpen, nbest, device, topk)
}

/// The search itself, with the top-k selection given (the tests compare host and device).
#[allow(clippy::too_many_arguments)]
pub(crate) fn search(
    models: &[&Transformer],
    src: &[Vec<u32>],
    max_lens: &[usize],
    beam: usize,
    lenpen: f64,
    nbest: usize,
    device: &Device,
    topk: TopK,
) -> Vec<Vec<Hypothesis>> {
    assert_eq!(
        src.len(),
        max_lens.len(),
        "one max length per source sentence"
    );
    let beam = beam.max(1);
    let nbest = nbest.clamp(1, beam);
    let n = src.len();
    if n == 0 {
        return Vec::new();
    }
    let mut cache = EnsembleCache::start(models, source_batch(src, device));
    let max_lens = capped(models, max_lens);
    let masks = VocabMasks::new(models[0].tgt_vocab_size(), device);
    let vocab = masks.vocab;

    let mut finished: Vec<Finished> = (0..n).map(|_| Finished::default()).collect();
    // Sentences still decoding, and their rows: rows[i * per + j] is slot j of alive[i].
    let mut alive: Vec<usize> = (0..n).collect();
    let start = Row {
        tokens: Vec::new(),
        log_prob: 0.0,
        last: BOS_ID as i64,
    };
    let mut rows: Vec<Row> = vec![start; n];
    let mut per = 1;
    let mut step = 0;
    while !alive.is_empty() {
        let last: Vec<i64> = rows.iter().map(|r| r.last).collect();
        let (log_probs, _) = cache.step(models, ids_1d(&last, device), false);
        let forced: Vec<bool> = alive
            .iter()
            .flat_map(|&s| std::iter::repeat_n(step >= max_lens[s], per))
            .collect();
        let running: Vec<f32> = rows.iter().map(|r| r.log_prob).collect();
        let running = Tensor::<2>::from_data(TensorData::new(running, [rows.len(), 1]), device);
        let candidates =
            (masks.mask(log_probs, &forced) + running).reshape([alive.len(), per * vocab]);
        let k = (2 * beam).min(per * vocab);
        let (values, indices) = topk.select(candidates, k);

        let mut next_alive = Vec::with_capacity(alive.len());
        let mut next_rows = Vec::with_capacity(alive.len() * beam);
        let mut parents = Vec::with_capacity(alive.len() * beam);
        for (i, &s) in alive.iter().enumerate() {
            let mut cont: Vec<(usize, Row)> = Vec::with_capacity(beam);
            for rank in 0..k {
                let value = values[i * k + rank];
                if !value.is_finite() {
                    break; // sorted: the rest are -inf too
                }
                let (slot, token) = (indices[i * k + rank] / vocab, indices[i * k + rank] % vocab);
                let parent = i * per + slot;
                if token == EOS_ID {
                    if rank < beam {
                        let tokens = rows[parent].tokens.clone();
                        let score = f64::from(value) / length_penalty(tokens.len() + 1, lenpen);
                        let log_prob = f64::from(value);
                        finished[s].add(
                            Hypothesis {
                                tokens,
                                score,
                                log_prob,
                            },
                            beam,
                        );
                    }
                } else if cont.len() < beam {
                    let mut tokens = Vec::with_capacity(step + 1);
                    tokens.extend_from_slice(&rows[parent].tokens);
                    tokens.push(token as u32);
                    let row = Row {
                        tokens,
                        log_prob: value,
                        last: token as i64,
                    };
                    cont.push((parent, row));
                }
                if cont.len() == beam && rank + 1 >= beam {
                    break; // nothing further can be kept or finalized
                }
            }
            let done = match (cont.first(), finished[s].worst_if_full(beam)) {
                (None, _) => true,
                (Some((_, best)), Some(worst)) => {
                    f64::from(best.log_prob) / length_penalty(best.tokens.len(), lenpen) <= worst
                }
                (Some(_), None) => false,
            };
            if done {
                continue;
            }
            next_alive.push(s);
            let filler = cont[0].0;
            for (parent, row) in cont.drain(..) {
                parents.push(parent);
                next_rows.push(row);
            }
            while parents.len() % beam != 0 {
                parents.push(filler);
                next_rows.push(Row::dead());
            }
        }
        if next_alive.is_empty() {
            break;
        }
        let identity =
            parents.len() == rows.len() && parents.iter().enumerate().all(|(i, &p)| i == p);
        if !identity {
            cache = cache.select_rows(&parents);
        }
        alive = next_alive;
        rows = next_rows;
        per = beam;
        step += 1;
    }
    finished
        .into_iter()
        .map(|f| f.0.into_iter().take(nbest).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nmt_model::ModelConfig;

    #[test]
    fn host_and_device_top_k_give_the_same_search() {
        let device = Device::flex();
        let cfg = ModelConfig {
            d_model: 16,
            heads: 2,
            ff_dim: 32,
            encoder_layers: 1,
            decoder_layers: 1,
            ..Default::default()
        };
        let model = nmt_model::seeded(&device, 5, || cfg.init(30, 30, &device).unwrap());
        let src = vec![vec![5, 9, 12, 2], vec![7, 2], vec![3, 4, 5, 6, 7, 8, 2]];
        let max_lens = [6, 3, 9];
        let host = search(&[&model], &src, &max_lens, 4, 0.6, 4, &device, TopK::Host);
        let dev = search(&[&model], &src, &max_lens, 4, 0.6, 4, &device, TopK::Device);
        assert_eq!(host.len(), 3);
        for (h, d) in host.iter().zip(&dev) {
            assert_eq!(h.len(), 4);
            for (a, b) in h.iter().zip(d) {
                assert_eq!(a.tokens, b.tokens);
                assert!((a.score - b.score).abs() < 1e-6);
            }
        }
    }
}
