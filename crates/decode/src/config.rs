//! The `[decode]` section of a run config, also filled from the flags of `nmt translate`.

use nmt_core::{InvalidSetting, check};
use serde::{Deserialize, Serialize};

use crate::sample::Sampling;

/// How to decode: greedy or beam search, the length and coverage penalties, the output length
/// limit, how many hypotheses to return and how large a decoding batch may be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeConfig {
    /// Beam width (default 1 = greedy decoding; > 1 = beam search). 0 is read as 1.
    pub beam: usize,
    /// GNMT length penalty alpha (default 0.6): a finished hypothesis scores
    /// `log_prob / ((5 + len) / 6)^lenpen`, where `len` counts its tokens plus `</s>`.
    /// 0 ranks by plain log-probability.
    pub lenpen: f64,
    /// GNMT coverage penalty beta (default 0 = off; Wu et al. 2016, OpenNMT's `-coverage_penalty
    /// wu -beta`): beam search adds `beta * sum_i ln(min(c_i, 1))` to a finished hypothesis'
    /// score, where `c_i` is the attention source token `i` received over all output steps
    /// (the last decoder layer's cross-attention, averaged over heads). It favours translations
    /// that attend to the whole source over ones that stop early, without lengthening all
    /// outputs as a larger `lenpen` does. Greedy decoding ignores it.
    pub coverage_penalty: f64,
    /// Output length limit, slope (default 1.2): at most `max_len_a * src_len + max_len_b`
    /// tokens before `</s>`, where `src_len` does not count the source's `</s>`.
    pub max_len_a: f64,
    /// Output length limit, intercept (default 10); see `max_len_a`.
    pub max_len_b: usize,
    /// Hypotheses returned per sentence, best first (default 1). Clamped to `1..=beam`.
    pub nbest: usize,
    /// Token budget of one decoding batch (default 4096): sentences * longest source in the
    /// batch (with `</s>`, so padding counts) * beam. A sentence over the budget on its own is
    /// decoded alone.
    pub max_tokens: usize,
    /// Draw each token instead of searching (default: none): "topk:K", "topp:P" or "full"
    /// (see `nmt_decode::sample`). Needs `beam = 1`; `nbest` then counts independent samples.
    pub sampling: Option<Sampling>,
    /// Sampling temperature (default 1.0): below 1 sharpens the distribution, above 1 flattens it.
    pub temperature: f64,
    /// Seed of the draws (default 0): a seed gives the same samples for the same input.
    pub seed: u64,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        Self {
            beam: 1,
            lenpen: 0.6,
            coverage_penalty: 0.0,
            max_len_a: 1.2,
            max_len_b: 10,
            nbest: 1,
            max_tokens: 4096,
            sampling: None,
            temperature: 1.0,
            seed: 0,
        }
    }
}

impl DecodeConfig {
    /// Checks every value; the error names the key (`decode.beam`, ...) and what is allowed.
    /// The run config and the flags of `nmt translate` / `nmt eval` both go through it.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        check(
            self.beam >= 1,
            "decode.beam",
            self.beam,
            "must be at least 1 (1 = greedy)",
        )?;
        if self.sampling.is_some() {
            check(
                self.beam == 1,
                "decode.beam",
                self.beam,
                "must be 1 with decode.sampling (sampling draws instead of searching)",
            )?;
            check(
                self.nbest >= 1,
                "decode.nbest",
                self.nbest,
                "must be at least 1 (the number of samples)",
            )?;
        } else {
            check(
                (1..=self.beam).contains(&self.nbest),
                "decode.nbest",
                self.nbest,
                &format!("must be between 1 and decode.beam = {}", self.beam),
            )?;
        }
        check(
            self.temperature.is_finite() && self.temperature > 0.0,
            "decode.temperature",
            self.temperature,
            "must be a finite number > 0",
        )?;
        check(
            self.lenpen.is_finite(),
            "decode.lenpen",
            self.lenpen,
            "must be a finite number (0 = rank by log-probability)",
        )?;
        check(
            self.coverage_penalty.is_finite() && self.coverage_penalty >= 0.0,
            "decode.coverage_penalty",
            self.coverage_penalty,
            "must be a finite number >= 0 (0 = off)",
        )?;
        check(
            self.max_len_a.is_finite() && self.max_len_a >= 0.0,
            "decode.max_len_a",
            self.max_len_a,
            "must be a finite number >= 0",
        )?;
        check(
            self.max_tokens >= 1,
            "decode.max_tokens",
            self.max_tokens,
            "must be at least 1",
        )
    }

    /// The most tokens (not counting `</s>`) a translation of a `src_len`-token source may have:
    /// `floor(max_len_a * src_len + max_len_b)`, as fairseq computes it.
    pub fn max_len(&self, src_len: usize) -> usize {
        let len = self.max_len_a * src_len as f64 + self.max_len_b as f64;
        if len.is_finite() && len > 0.0 {
            len.floor() as usize
        } else {
            0
        }
    }

    /// The beam width actually used (at least 1).
    pub fn beam_width(&self) -> usize {
        self.beam.max(1)
    }

    /// The number of hypotheses actually returned (between 1 and the beam width; with
    /// sampling, the number of samples).
    pub fn nbest_count(&self) -> usize {
        if self.sampling.is_some() {
            self.nbest.max(1)
        } else {
            self.nbest.clamp(1, self.beam_width())
        }
    }
}
