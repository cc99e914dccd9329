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
//!   counts the `</s>` step too), plus the coverage penalty if one is set; a `</s>` ranked
//!   lower is pruned, exactly as a lower-ranked token would be (this is fairseq's rule, and
//!   what makes beam 1 equal greedy decoding);
//! - any other candidate continues, until `beam` continuations are found.
//!
//! A sentence is done at its length limit (where `</s>` is forced, so its live hypotheses are
//! finalized with their real `</s>` log-probability), or when its best live hypothesis, scored
//! as if it ended at its current length, does not beat the worst of the finished hypotheses it
//! must return:
//! - with `lenpen = 0` and no coverage penalty, the `nbest` best finished ones. The test is
//!   exact there: a score is then a log-probability, which only falls as a hypothesis grows, so
//!   nothing the search could still finish would enter the `nbest` returned (CTranslate2 stops
//!   the same way, when its top beam finishes). At beam 5 and `nbest = 1` a sentence no longer
//!   runs on until it holds 5 finished hypotheses that only the returned one is read from;
//! - otherwise the `beam` best finished ones: the usual heuristic (Hugging Face's
//!   `early_stopping=False`), since a strict bound would keep nearly every sentence running to
//!   its length limit.
//!
//! Done sentences leave the batch: their rows are dropped from the cache in the same gather
//! that reorders the surviving rows by parent beam.
//!
//! Coverage penalty (`coverage > 0`, GNMT's): every row also carries the attention each source
//! token has received so far (the last decoder layer's cross-attention, averaged over heads),
//! reordered with its parent like the tokens. It only changes how finished hypotheses are
//! ranked (and so when a sentence is done), not which continuations are kept, as in OpenNMT.

use burn::tensor::{Device, Tensor, TensorData};
use nmt_model::{BOS_ID, EOS_ID, Transformer};

use crate::Hypothesis;
use crate::ensemble::EnsembleCache;
use crate::scores::{StepScores, best_tokens};
use crate::step::{
    Scoring, TopK, VocabMasks, better, capped, floats, ids_1d, prefix_tokens, source_batch,
};

/// One live row of the beam.
#[derive(Debug, Clone)]
struct Row {
    tokens: Vec<u32>,
    /// Running log-probability; -inf for a dead slot.
    log_prob: f32,
    /// The token this row feeds to the next step.
    last: i64,
    /// Attention each source token has received over this row's steps (empty without a
    /// coverage penalty, and before the first step).
    coverage: Vec<f32>,
}

impl Row {
    fn dead() -> Self {
        Self {
            tokens: Vec::new(),
            log_prob: f32::NEG_INFINITY,
            last: i64::from(EOS_ID),
            coverage: Vec::new(),
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

    /// The score of the `n`th best, once there are `n`: what a live hypothesis must beat.
    fn nth_best(&self, n: usize) -> Option<f64> {
        (self.0.len() >= n).then(|| self.0[n - 1].score)
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
    let scoring = Scoring {
        lenpen,
        coverage: 0.0,
    };
    beam_search_ensemble(&[model], src, &[], max_lens, beam, scoring, nbest, device)
}

/// [`beam_search`] with an ensemble (each step's distribution is the mean of the models', see
/// `ensemble.rs`) and a coverage penalty if `scoring` sets one. One model and no coverage
/// penalty give exactly [`beam_search`]'s results.
#[allow(clippy::too_many_arguments)]
pub(crate) fn beam_search_ensemble(
    models: &[&Transformer],
    src: &[Vec<u32>],
    prefixes: &[Vec<u32>],
    max_lens: &[usize],
    beam: usize,
    scoring: Scoring,
    nbest: usize,
    device: &Device,
) -> Vec<Vec<Hypothesis>> {
    let topk = TopK::for_device(device);
    search(
        models, src, prefixes, max_lens, beam, scoring, nbest, device, topk,
    )
}

/// The search itself, with the top-k selection given (the tests compare host and device).
/// `prefixes` (empty, or one per sentence) are target tokens every hypothesis of a sentence
/// begins with (forced, their log-probabilities counted).
#[allow(clippy::too_many_arguments)]
pub(crate) fn search(
    models: &[&Transformer],
    src: &[Vec<u32>],
    prefixes: &[Vec<u32>],
    max_lens: &[usize],
    beam: usize,
    scoring: Scoring,
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
    let src_ids = source_batch(src, device);
    let src_width = src_ids.dims()[1];
    let mut cache = EnsembleCache::start(models, src_ids);
    let with_coverage = scoring.coverage != 0.0;
    let max_lens = capped(models, max_lens);
    let masks = VocabMasks::new(models[0].tgt_vocab_size(), device);
    let vocab = masks.vocab;

    let mut finished: Vec<Finished> = (0..n).map(|_| Finished::default()).collect();
    // How many finished hypotheses the stopping test compares against (see the module doc).
    let must_return = if scoring.only_falls() { nbest } else { beam };
    // Sentences still decoding, and their rows: rows[i * per + j] is slot j of alive[i].
    let mut alive: Vec<usize> = (0..n).collect();
    let start = Row {
        tokens: Vec::new(),
        log_prob: 0.0,
        last: i64::from(BOS_ID),
        coverage: Vec::new(),
    };
    let mut rows: Vec<Row> = vec![start; n];
    let mut per = 1;
    let mut step = 0;
    while !alive.is_empty() {
        let last: Vec<i64> = rows.iter().map(|r| r.last).collect();
        let ids = ids_1d(&last, device);
        // Each row's attention over the (padded) source at this step, when it is needed.
        let (scores, alignment) = if with_coverage {
            let (scores, alignment) = cache.step_with_alignment(models, ids);
            (scores, floats(alignment))
        } else {
            (cache.step(models, ids, false).0, Vec::new())
        };
        // The coverage of `parent`'s real source tokens after this step.
        let covered = |parent: usize, src_len: usize| -> Vec<f32> {
            if !with_coverage {
                return Vec::new();
            }
            let now = &alignment[parent * src_width..parent * src_width + src_len];
            let before = &rows[parent].coverage;
            if before.is_empty() {
                now.to_vec()
            } else {
                before.iter().zip(now).map(|(b, a)| b + a).collect()
            }
        };
        let forced: Vec<bool> = alive
            .iter()
            .flat_map(|&s| std::iter::repeat_n(step >= max_lens[s], per))
            .collect();
        let running: Vec<f32> = rows.iter().map(|r| r.log_prob).collect();
        let slots: Vec<usize> = alive
            .iter()
            .flat_map(|&s| std::iter::repeat_n(s, per))
            .collect();
        let only = prefix_tokens(prefixes, &slots, step);
        let step_scores = StepScores {
            scores,
            forced: &forced,
            only: &only,
            masks: &masks,
            select: topk,
        };
        let k = (2 * beam).min(per * vocab);
        let (values, indices) = match topk {
            TopK::Host => best_candidates(step_scores, &running, per, k),
            TopK::Device => {
                let running =
                    Tensor::<2>::from_data(TensorData::new(running, [rows.len(), 1]), device);
                let candidates =
                    (step_scores.masked_log_probs() + running).reshape([alive.len(), per * vocab]);
                topk.select(candidates, k)
            }
        };

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
                if token == EOS_ID as usize {
                    if rank < beam {
                        let tokens = rows[parent].tokens.clone();
                        let log_prob = f64::from(value);
                        let coverage = covered(parent, src[s].len());
                        let score = scoring.score(log_prob, tokens.len() + 1, &coverage);
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
                        coverage: covered(parent, src[s].len()),
                    };
                    cont.push((parent, row));
                }
                if cont.len() == beam && rank + 1 >= beam {
                    break; // nothing further can be kept or finalized
                }
            }
            // The best live row's score at its current length (the heuristic above).
            let best_live = cont
                .iter()
                .map(|(_, r)| scoring.score(f64::from(r.log_prob), r.tokens.len(), &r.coverage))
                .max_by(f64::total_cmp);
            let done = match (best_live, finished[s].nth_best(must_return)) {
                (None, _) => true,
                (Some(best), Some(worst)) => best <= worst,
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
            cache = cache.select_grouped(&parents, beam);
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

/// A beam step's candidates on the host: for each sentence (`per` consecutive rows), the `k`
/// best of `running[row] + log_prob(token)` over its rows, best first, with the flat index
/// `slot * vocab + token`; ties go to the lower index, and a sentence with fewer than `k`
/// candidates is filled with -inf. The layout and order of [`TopK::select`] on the tensor path
/// (one row's `k` best are enough: no sentence keeps more than `k` from any one row).
fn best_candidates(
    step: StepScores,
    running: &[f32],
    per: usize,
    k: usize,
) -> (Vec<f32>, Vec<usize>) {
    let vocab = step.masks.vocab;
    let allowed = step.allowed();
    let best = best_tokens(step.scores, &allowed, k);
    let sentences = best.len() / per;
    let mut values = Vec::with_capacity(sentences * k);
    let mut indices = Vec::with_capacity(sentences * k);
    let mut pool: Vec<(usize, f32)> = Vec::with_capacity(per * k);
    for (rows, running) in best.chunks(per).zip(running.chunks(per)) {
        pool.clear();
        for (slot, (row, &run)) in rows.iter().zip(running).enumerate() {
            pool.extend(
                row.iter()
                    .map(|&(token, log_prob)| (slot * vocab + token, log_prob + run)),
            );
        }
        pool.sort_by(|&a, &b| better(b, a).cmp(&better(a, b)));
        for rank in 0..k {
            let (index, value) = pool.get(rank).copied().unwrap_or((0, f32::NEG_INFINITY));
            values.push(value);
            indices.push(index);
        }
    }
    (values, indices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_device_top_k_give_the_same_search() {
        let device = Device::flex();
        let model = nmt_testkit::tiny_model(5, 30, &device);
        let src = vec![vec![5, 9, 12, 2], vec![7, 2], vec![3, 4, 5, 6, 7, 8, 2]];
        let max_lens = [6, 3, 9];
        let scoring = Scoring {
            lenpen: 0.6,
            coverage: 0.0,
        };
        let host = search(
            &[&model],
            &src,
            &[],
            &max_lens,
            4,
            scoring,
            4,
            &device,
            TopK::Host,
        );
        let dev = search(
            &[&model],
            &src,
            &[],
            &max_lens,
            4,
            scoring,
            4,
            &device,
            TopK::Device,
        );
        assert_eq!(host.len(), 3);
        for (h, d) in host.iter().zip(&dev) {
            assert_eq!(h.len(), 4);
            for (a, b) in h.iter().zip(d) {
                // The host path sums each row's exponentials in another order than the
                // tensor log-softmax: the same tokens, scores equal to float rounding.
                assert_eq!(a.tokens, b.tokens);
                let tolerance = 1e-5 * a.score.abs().max(1.0);
                assert!(
                    (a.score - b.score).abs() < tolerance,
                    "{} vs {}",
                    a.score,
                    b.score
                );
            }
        }
    }
}
