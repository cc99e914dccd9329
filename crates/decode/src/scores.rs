//! One decoding step's next-token choice on the host: the log-softmax, the masks and the top-k
//! fused into one read of the `[rows, vocab]` scores.
//!
//! On the tensor path a beam step makes about ten passes over the scores (max, subtract, exp,
//! sum, log, subtract, a mask built and applied, the running score added, a copy to the host,
//! the selection), most of them into freshly allocated `[rows, vocab]` buffers. Here the scores
//! are copied once; each row's maximum and sum of exponentials are taken in 16-lane blocks the
//! compiler vectorizes, and the top-k skips a block whose maximum cannot enter the list; rows
//! run in parallel. The log-probability of a token is computed as `log_softmax` computes it,
//! `(x - max) - ln(sum(exp(x - max)))`; only the order of the sum differs, so values agree
//! with the tensor path to float rounding (tests compare the two).
//!
//! Ranking raw scores and converting the winners gives the same tokens as ranking
//! log-probabilities (the conversion is monotone), except where rounding makes two different
//! scores equal log-probabilities, where the order by score is kept.

use burn::tensor::Tensor;
use nmt_model::{BOS_ID, EOS_ID, PAD_ID, host_f32};
use rayon::prelude::*;

use nmt_core::rows::{lane_max, sum_exp};

use crate::step::{TopK, VocabMasks, floats, force_tokens, top_k_row};

/// One step's scores for the rows still decoding and what each row may produce: what a
/// search's choice of tokens starts from.
pub(crate) struct StepScores<'a> {
    /// `[rows, vocab]` unnormalized log-probabilities (see `EnsembleCache::step`).
    pub scores: Tensor<2>,
    /// Rows at their length limit (only `</s>` allowed).
    pub forced: &'a [bool],
    /// Rows inside their target prefix, and the token they must take.
    pub only: &'a [Option<u32>],
    pub masks: &'a VocabMasks,
    /// Where the choice runs (decided once per batch from the device, see [`TopK`]).
    pub select: TopK,
}

impl StepScores<'_> {
    /// Each row's rule for the host path.
    pub fn allowed(&self) -> Vec<Allowed> {
        Allowed::rows(self.forced, self.only)
    }

    /// The tensor path: log-probabilities `[rows, vocab]` with what a row may not produce at
    /// -inf, on the device.
    pub fn masked_log_probs(self) -> Tensor<2> {
        force_tokens(self.masks.log_probs(self.scores, self.forced), self.only)
    }
}

/// What a row may produce at this step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allowed {
    /// Any token but `<pad>` and `<s>`.
    Any,
    /// Only this token (`</s>` at the length limit, or the next token of a forced prefix).
    Only(u32),
    /// Nothing (a prefix token other than `</s>` where only `</s>` is allowed).
    Nothing,
}

impl Allowed {
    /// Row by row: `forced` rows are at their length limit, `only` holds a row's prefix token.
    /// The same rule as `VocabMasks::mask` followed by `force_tokens` on the tensor path.
    pub fn rows(forced: &[bool], only: &[Option<u32>]) -> Vec<Self> {
        forced
            .iter()
            .zip(only)
            .map(|(&forced, &only)| match (forced, only) {
                (_, Some(t)) if t == PAD_ID || t == BOS_ID => Self::Nothing,
                (true, Some(t)) if t != EOS_ID => Self::Nothing,
                (_, Some(t)) => Self::Only(t),
                (true, None) => Self::Only(EOS_ID),
                (false, None) => Self::Any,
            })
            .collect()
    }

    /// Whether a row under this rule may produce `token`.
    fn permits(self, token: usize) -> bool {
        match self {
            Self::Any => token != PAD_ID as usize && token != BOS_ID as usize,
            Self::Only(t) => token == t as usize,
            Self::Nothing => false,
        }
    }
}

/// One row's log-softmax: `log_prob(x) = (x - max) - ln_sum`.
#[derive(Debug, Clone, Copy)]
struct Normalizer {
    max: f32,
    ln_sum: f32,
}

impl Normalizer {
    fn of(row: &[f32]) -> Self {
        let max = lane_max(row);
        Self {
            max,
            ln_sum: sum_exp(row, max).ln(),
        }
    }

    fn log_prob(self, score: f32) -> f32 {
        (score - self.max) - self.ln_sum
    }
}

/// The `k` best tokens of every row of `scores` `[rows, vocab]` (unnormalized
/// log-probabilities: a model's logits, or an ensemble's log-mean) under its log-softmax,
/// restricted by `allowed[row]`: `(token, log-probability)`, best first (ties: the lower id).
/// A row allowed one token gets that one; a row allowed nothing gets none.
pub(crate) fn best_tokens(
    scores: Tensor<2>,
    allowed: &[Allowed],
    k: usize,
) -> Vec<Vec<(usize, f32)>> {
    let vocab = scores.dims()[1];
    let mut data = host_f32(scores);
    let all = data.as_mut_slice::<f32>().expect("an f32 buffer");
    all.par_chunks_mut(vocab)
        .zip(allowed)
        .map(|(row, &allowed)| {
            let norm = Normalizer::of(row);
            match allowed {
                Allowed::Any => {
                    row[PAD_ID as usize] = f32::NEG_INFINITY;
                    row[BOS_ID as usize] = f32::NEG_INFINITY;
                    top_k_row(row, k)
                        .into_iter()
                        .map(|(token, score)| (token, norm.log_prob(score)))
                        .collect()
                }
                Allowed::Only(t) => vec![(t as usize, norm.log_prob(row[t as usize]))],
                Allowed::Nothing => Vec::new(),
            }
        })
        .collect()
}

/// Every row's log-probabilities under `allowed` (`-inf` where a token is not allowed),
/// row-major: what sampling draws from.
pub(crate) fn log_prob_rows(scores: Tensor<2>, allowed: &[Allowed]) -> Vec<f32> {
    let vocab = scores.dims()[1];
    let mut all = floats(scores);
    all.par_chunks_mut(vocab)
        .zip(allowed)
        .for_each(|(row, &allowed)| {
            let norm = Normalizer::of(row);
            for (token, x) in row.iter_mut().enumerate() {
                *x = if allowed.permits(token) {
                    norm.log_prob(*x)
                } else {
                    f32::NEG_INFINITY
                };
            }
        });
    all
}

#[cfg(test)]
mod tests {
    use burn::tensor::activation::log_softmax;
    use burn::tensor::{Device, Distribution, TensorData};

    use super::*;

    #[test]
    fn log_probs_match_the_tensor_log_softmax() {
        let device = Device::flex();
        // Rows of 8000 (a vocabulary) and of 37 (not a multiple of the lane count), with a
        // large offset, as logits have.
        for vocab in [8000, 37] {
            let scores = nmt_model::seeded(&device, 5, || {
                Tensor::<2>::random([6, vocab], Distribution::Normal(3.0, 4.0), &device)
            });
            let want = floats(log_softmax(scores.clone(), 1));
            let got = log_prob_rows(scores, &[Allowed::Any; 6]);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let token = (i % vocab) as u32;
                if token == PAD_ID || token == BOS_ID {
                    assert_eq!(*g, f32::NEG_INFINITY);
                } else {
                    assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{i}: {g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn best_tokens_follow_the_rules() {
        let device = Device::flex();
        let vocab = 300;
        let scores = nmt_model::seeded(&device, 9, || {
            Tensor::<2>::random([4, vocab], Distribution::Normal(0.0, 2.0), &device)
        });
        // Make <pad> and <s> the highest scores of every row: they must still never come out.
        let mut data = floats(scores);
        for row in data.chunks_mut(vocab) {
            row[PAD_ID as usize] = 100.0;
            row[BOS_ID as usize] = 99.0;
        }
        let scores = Tensor::<2>::from_data(TensorData::new(data.clone(), [4, vocab]), &device);
        let allowed = Allowed::rows(&[false, true, false, true], &[None, None, Some(7), Some(7)]);
        assert_eq!(
            allowed,
            [
                Allowed::Any,
                Allowed::Only(EOS_ID),
                Allowed::Only(7),
                Allowed::Nothing
            ]
        );
        let best = best_tokens(scores.clone(), &allowed, 5);
        let rows = log_prob_rows(scores, &allowed);
        // Row 0: the 5 best of a full sort of the log-probabilities, <pad> and <s> excluded.
        let mut sorted: Vec<(usize, f32)> = rows[..vocab].iter().copied().enumerate().collect();
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(best[0], sorted[..5].to_vec());
        assert!(best[0].iter().all(|&(t, _)| t > BOS_ID as usize));
        // The other rows get their one allowed token with its full-softmax log-probability.
        assert_eq!(best[1], vec![(2, rows[vocab + 2])]);
        assert_eq!(best[2], vec![(7, rows[2 * vocab + 7])]);
        assert!(best[3].is_empty());
        assert!(rows[3 * vocab..].iter().all(|v| *v == f32::NEG_INFINITY));
    }
}
