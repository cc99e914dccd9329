//! Decoding a trained [`nmt_model::Transformer`]: greedy search and batched beam search over
//! the model's incremental-decoding cache ([`nmt_model::DecoderCache`]).
//!
//! - [`translate`]: any number of sentences, sorted into token-budget batches, results in input
//!   order; what validation, `nmt translate` and `nmt eval` call. [`translate_ensemble`] does
//!   the same with several models whose next-token distributions are averaged.
//! - [`greedy`] and [`beam_search`]: one batch each. Finished sentences leave the batch (their
//!   cache rows are dropped), so late steps only pay for the sentences still running.
//! - [`greedy_with_attention`]: one sentence, with every step's attention weights.
//! - [`greedy_uncached`]: the no-cache reference the tests compare against.
//!
//! Conventions: token ids are `u32`; `<pad>`, `<s>`, `</s>` are [`nmt_model::PAD_ID`],
//! [`nmt_model::BOS_ID`], [`nmt_model::EOS_ID`]. Decoders never output `<pad>` or `<s>`;
//! `</s>` may come at any step and is forced once a sentence reaches its length limit.
//! Hypotheses hold neither `<s>` nor `</s>`, but their log-probability includes the `</s>`.
//! A hypothesis of `n` tokens has length `n + 1` for the length penalty (the `</s>` counts).

mod batching;
mod beam;
mod config;
mod ensemble;
mod greedy;
pub mod sample;
mod scores;
mod step;

use serde::{Deserialize, Serialize};

pub use batching::{
    source_len, token_batches, translate, translate_ensemble, translate_with_prefixes,
};
pub use beam::beam_search;
pub use config::DecodeConfig;
pub use ensemble::DecodeError;
pub use greedy::{greedy, greedy_uncached, greedy_with_attention};
pub use sample::Sampling;
pub use step::{coverage_penalty, length_penalty};

/// One translation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    /// Output ids, without `<s>` and `</s>`.
    pub tokens: Vec<u32>,
    /// What hypotheses are ranked by: `log_prob / length_penalty(tokens.len() + 1, lenpen)`,
    /// plus, in beam search with `coverage_penalty` set, `coverage_penalty(coverage, beta)`.
    pub score: f64,
    /// Sum of the natural-log probabilities of every output token, the final `</s>` included.
    pub log_prob: f64,
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Bool, Device, Distribution, Tensor, TensorData};

    use crate::step::TopK;

    #[test]
    fn host_and_device_top_k_agree() {
        let device = Device::flex();
        let scores = nmt_model::seeded(&device, 3, || {
            Tensor::<2>::random([3, 50], Distribution::Normal(0.0, 1.0), &device)
        });
        // Beam search's candidate rows are mostly `-inf` (masked tokens, rows forced to `</s>`):
        // the rows of `sparse` keep 9, 8 and 8 finite columns, at least k = 7 each.
        let keep = |r: usize, c: usize| (c * 7 + r).is_multiple_of(6);
        let mask: Vec<bool> = (0..3 * 50).map(|i| !keep(i / 50, i % 50)).collect();
        let mask = Tensor::<2, Bool>::from_data(TensorData::new(mask, [3, 50]), &device);
        let sparse = scores.clone().mask_fill(mask, f32::NEG_INFINITY);
        for scores in [scores, sparse] {
            let (hv, hi) = TopK::Host.select(scores.clone(), 7);
            let (dv, di) = TopK::Device.select(scores, 7);
            assert!(hv.iter().all(|v| v.is_finite()), "{hv:?}");
            assert_eq!(hv, dv);
            assert_eq!(hi, di);
        }
        assert_eq!(TopK::for_device(&device), TopK::Host);
    }
}
