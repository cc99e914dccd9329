//! Turning cleaned sentence pairs into subword ids, and dropping the pairs a model should not
//! train on: empty ones, over-long ones, and ones whose lengths do not match.

use std::fmt;

use crate::corpus::ParallelText;
use crate::error::DataError;
use crate::tokenizer::Vocabularies;

/// The length-ratio test applies only when the longer side has more than this many
/// subword tokens: short pairs differ a lot in length by nature ("Hi ." is 2 tokens,
/// "Hallo zusammen !" 4), and a misaligned pair is rarely that short.
pub const RATIO_CHECK_MIN_TOKENS: usize = 5;

/// One sentence pair as subword ids, without `<s>`/`</s>` (batching adds them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedPair {
    pub src: Vec<u32>,
    pub tgt: Vec<u32>,
}

/// What [`encode_corpus`] did with the pairs it read. Every pair read is counted once, under
/// the first reason that drops it (checked in the order empty, too long, bad ratio) or as kept.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FilterStats {
    pub read: usize,
    /// Pairs where either side has no tokens.
    pub empty: usize,
    /// Pairs where either side has more than `max_len` tokens.
    pub too_long: usize,
    /// Pairs whose longer/shorter token ratio exceeds `max_len_ratio`.
    pub bad_ratio: usize,
    pub kept: usize,
    /// The limits applied, for messages.
    pub max_len: usize,
    /// No limit (validation text) is infinite, which JSON writes as `null`.
    #[serde(with = "unbounded_ratio")]
    pub max_len_ratio: f64,
}

/// An `f64` that may be infinite, as JSON: a number, or `null` for infinity.
mod unbounded_ratio {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}

impl fmt::Display for FilterStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pairs read, {} kept; dropped {} empty, {} longer than {} tokens, {} with length ratio above {}",
            self.read,
            self.kept,
            self.empty,
            self.too_long,
            self.max_len,
            self.bad_ratio,
            self.max_len_ratio
        )
    }
}

/// Why a pair is dropped, if it is.
fn verdict(src: usize, tgt: usize, max_len: usize, max_len_ratio: f64) -> Verdict {
    let (shorter, longer) = (src.min(tgt), src.max(tgt));
    if shorter == 0 {
        Verdict::Empty
    } else if longer > max_len {
        Verdict::TooLong
    } else if longer > RATIO_CHECK_MIN_TOKENS && longer as f64 > max_len_ratio * shorter as f64 {
        Verdict::BadRatio
    } else {
        Verdict::Keep
    }
}

enum Verdict {
    Empty,
    TooLong,
    BadRatio,
    Keep,
}

impl FilterStats {
    /// No pair read yet, under these limits.
    pub fn new(max_len: usize, max_len_ratio: f64) -> Self {
        Self {
            read: 0,
            empty: 0,
            too_long: 0,
            bad_ratio: 0,
            kept: 0,
            max_len,
            max_len_ratio,
        }
    }

    /// Counts one pair of `src` and `tgt` subword tokens and says whether it is kept.
    pub fn admit(&mut self, src: usize, tgt: usize) -> bool {
        self.read += 1;
        match verdict(src, tgt, self.max_len, self.max_len_ratio) {
            Verdict::Empty => self.empty += 1,
            Verdict::TooLong => self.too_long += 1,
            Verdict::BadRatio => self.bad_ratio += 1,
            Verdict::Keep => {
                self.kept += 1;
                return true;
            }
        }
        false
    }
}

/// Encodes every pair with the source and target tokenizer (in parallel, on the rayon pool)
/// and keeps the pairs that pass the filters, in corpus order. For validation or test text,
/// where nothing but empty pairs should go, pass `usize::MAX` and `f64::INFINITY`.
pub fn encode_corpus(
    text: &ParallelText,
    vocab: &Vocabularies,
    max_len: usize,
    max_len_ratio: f64,
) -> (Vec<EncodedPair>, FilterStats) {
    let src = vocab.src.encode_batch(&text.src);
    let tgt = vocab.tgt.encode_batch(&text.tgt);
    let mut stats = FilterStats::new(max_len, max_len_ratio);
    let mut pairs = Vec::with_capacity(src.len());
    for (src, tgt) in src.into_iter().zip(tgt) {
        if stats.admit(src.len(), tgt.len()) {
            pairs.push(EncodedPair { src, tgt });
        }
    }
    (pairs, stats)
}

/// An error when filtering left nothing of a split; `what` names it ("training", "validation").
pub fn require_nonempty(stats: &FilterStats, what: &str) -> Result<(), DataError> {
    if stats.kept > 0 {
        return Ok(());
    }
    Err(DataError::EmptyAfterFiltering {
        what: what.to_string(),
        read: stats.read,
        empty: stats.empty,
        too_long: stats.too_long,
        bad_ratio: stats.bad_ratio,
        max_len: stats.max_len,
        max_len_ratio: stats.max_len_ratio,
    })
}
