//! Token-budget batching: which pairs go together, in which order, epoch after epoch, and the
//! padded id arrays of one batch.
//!
//! The order is a pure function of (seed, epoch) computed with a small hand-written RNG
//! (SplitMix64 + Fisher-Yates), so it never changes with a dependency update and a run resumed
//! from a [`BatchCursor`] sees exactly the batches an uninterrupted run would have seen.

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::pairs::{PairSource, Tokens};
use crate::rng::{SplitMix64, mix64};
use crate::tokenizer::{BOS_ID, EOS_ID, PAD_ID};

/// A position in the endless stream of training batches: batch `index` (from 0) of epoch
/// `epoch` (from 1). Store the cursor of the next batch in a checkpoint to resume there.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchCursor {
    pub epoch: u64,
    pub index: usize,
}

impl BatchCursor {
    /// The first batch of the first epoch.
    pub const START: BatchCursor = BatchCursor { epoch: 1, index: 0 };

    /// The batch after this one in the same epoch; a cursor past the end of an epoch is read
    /// as the start of the next one by [`TokenBudgetBatcher::stream_from`].
    pub fn next_batch(self) -> BatchCursor {
        BatchCursor {
            epoch: self.epoch,
            index: self.index + 1,
        }
    }
}

/// One batch as padded, row-major id arrays, ready to become tensors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdBatch {
    /// Which pairs are in the batch, as indices into the pairs it was made from.
    pub indices: Vec<usize>,
    pub batch_size: usize,
    /// Longest source in the batch, `</s>` included.
    pub src_len: usize,
    /// Longest target in the batch, plus one (`<s>` in `tgt_in`, `</s>` in `tgt_out`).
    pub tgt_len: usize,
    /// `[batch_size * src_len]`: subwords, `</s>`, padding.
    pub src: Vec<i64>,
    /// `[batch_size * tgt_len]`: `<s>`, subwords, padding (the decoder's input).
    pub tgt_in: Vec<i64>,
    /// `[batch_size * tgt_len]`: subwords, `</s>`, padding (the labels).
    pub tgt_out: Vec<i64>,
    /// Non-padding entries of `src`.
    pub src_tokens: usize,
    /// Non-padding entries of `tgt_out` (the tokens the loss counts).
    pub tgt_tokens: usize,
}

impl IdBatch {
    /// Builds the padded arrays for `pairs[i]` for each `i` in `indices`, in that order.
    /// For decoding, pass pairs with an empty `tgt`.
    ///
    /// # Panics
    /// If an index is out of range (a bug in the caller, not bad input).
    pub fn from_pairs<P: PairSource + ?Sized>(pairs: &P, indices: &[usize]) -> IdBatch {
        let rows: Vec<(Tokens<'_>, Tokens<'_>)> = indices.iter().map(|&i| pairs.pair(i)).collect();
        let batch_size = rows.len();
        let src_len = rows.iter().map(|p| p.0.len() + 1).max().unwrap_or(0);
        let tgt_len = rows.iter().map(|p| p.1.len() + 1).max().unwrap_or(0);
        let pad = i64::from(PAD_ID);
        let mut src = vec![pad; batch_size * src_len];
        let mut tgt_in = vec![pad; batch_size * tgt_len];
        let mut tgt_out = vec![pad; batch_size * tgt_len];
        let (mut src_tokens, mut tgt_tokens) = (0, 0);
        for (row, (src_ids, tgt_ids)) in rows.iter().enumerate() {
            let s = &mut src[row * src_len..(row + 1) * src_len];
            for (slot, id) in s.iter_mut().zip(src_ids.iter()) {
                *slot = i64::from(id);
            }
            s[src_ids.len()] = i64::from(EOS_ID);
            let t_in = &mut tgt_in[row * tgt_len..(row + 1) * tgt_len];
            let t_out = &mut tgt_out[row * tgt_len..(row + 1) * tgt_len];
            t_in[0] = i64::from(BOS_ID);
            for (k, id) in tgt_ids.iter().enumerate() {
                t_in[k + 1] = i64::from(id);
                t_out[k] = i64::from(id);
            }
            t_out[tgt_ids.len()] = i64::from(EOS_ID);
            src_tokens += src_ids.len() + 1;
            tgt_tokens += tgt_ids.len() + 1;
        }
        IdBatch {
            indices: indices.to_vec(),
            batch_size,
            src_len,
            tgt_len,
            src,
            tgt_in,
            tgt_out,
            src_tokens,
            tgt_tokens,
        }
    }

    /// Share of padding in `src` and `tgt_out` together (0 = none).
    pub fn padding_ratio(&self) -> f64 {
        let slots = self.batch_size * (self.src_len + self.tgt_len);
        padding_share(slots, self.src_tokens + self.tgt_tokens)
    }
}

fn padding_share(slots: usize, tokens: usize) -> f64 {
    if slots == 0 {
        0.0
    } else {
        (slots - tokens) as f64 / slots as f64
    }
}

/// The generator of one epoch: seeded by a hash of (seed, epoch).
fn epoch_rng(seed: u64, epoch: u64) -> SplitMix64 {
    SplitMix64::new(mix64(seed) ^ mix64(epoch ^ 0x6E6D_745F_6461_7461))
}

/// Groups training pairs into batches that fill a token budget with little padding, in an
/// order that differs every epoch but is reproducible from the seed.
#[derive(Clone, Debug)]
pub struct TokenBudgetBatcher {
    /// Per pair: (source length + `</s>`, target length + 1). u32 keeps the table small for
    /// corpora of millions of pairs.
    lengths: Vec<(u32, u32)>,
    max_tokens: usize,
    /// Sentences sorted together: about `bucket_pool` batches' worth.
    pool_sentences: usize,
    seed: u64,
}

impl TokenBudgetBatcher {
    /// A batcher over `pairs`. Errors when there are no pairs, when `max_tokens` or
    /// `bucket_pool` is 0, or when a pair alone needs more than `max_tokens`.
    pub fn new<P: PairSource + ?Sized>(
        pairs: &P,
        max_tokens: usize,
        bucket_pool: usize,
        seed: u64,
    ) -> Result<Self, DataError> {
        if pairs.num_pairs() == 0 {
            return Err(DataError::NoPairs);
        }
        for (key, value) in [
            ("data.max_tokens", max_tokens),
            ("data.bucket_pool", bucket_pool),
        ] {
            nmt_core::check(value > 0, key, value, "must be at least 1")?;
        }
        let mut lengths: Vec<(u32, u32)> = Vec::with_capacity(pairs.num_pairs());
        for index in 0..pairs.num_pairs() {
            let (src, tgt) = pairs.pair(index);
            let (s, t) = (src.len() + 1, tgt.len() + 1);
            lengths.push((s as u32, t as u32));
            if s.max(t) > max_tokens {
                return Err(DataError::PairExceedsBudget {
                    index,
                    src_len: s - 1,
                    tgt_len: t - 1,
                    needed: s.max(t),
                    max_tokens,
                });
            }
        }
        // Sentences per batch ≈ max_tokens / mean cost; integer arithmetic so the pool size
        // (and with it the batch order) is the same on every platform.
        let total_cost: u128 = lengths.iter().map(|&(s, t)| u128::from(s.max(t))).sum();
        let pool = bucket_pool as u128 * max_tokens as u128 * lengths.len() as u128 / total_cost;
        let pool_sentences = usize::try_from(pool).unwrap_or(usize::MAX).max(1);
        Ok(Self {
            lengths,
            max_tokens,
            pool_sentences,
            seed,
        })
    }

    /// (source length + `</s>`, target length + 1) of pair `i`.
    fn length(&self, i: usize) -> (usize, usize) {
        let (s, t) = self.lengths[i];
        (s as usize, t as usize)
    }

    /// Number of pairs batched.
    pub fn num_pairs(&self) -> usize {
        self.lengths.len()
    }

    /// The batches of one epoch, as indices into the pairs, in training order. A pure function
    /// of (seed, epoch): shuffle all pairs; cut them into pools of about `bucket_pool`
    /// batches' worth; sort each pool by (source, target) length; cut each pool into batches
    /// with `batch_size * max(src_len, tgt_len) <= max_tokens`; shuffle the batches.
    /// Every pair appears exactly once.
    pub fn epoch_batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let mut rng = epoch_rng(self.seed, epoch);
        let mut order: Vec<usize> = (0..self.lengths.len()).collect();
        rng.shuffle(&mut order);
        let mut batches = Vec::new();
        for pool in order.chunks_mut(self.pool_sentences) {
            // Stable sort: equal lengths keep their shuffled order.
            pool.sort_by_key(|&i| self.lengths[i]);
            cut_by_budget(pool, |i| self.length(i), self.max_tokens, &mut batches);
        }
        rng.shuffle(&mut batches);
        batches
    }

    /// How many batches epoch `epoch` has.
    pub fn batches_in_epoch(&self, epoch: u64) -> usize {
        self.epoch_batches(epoch).len()
    }

    /// Share of padding over all batches of an epoch (sources and targets together).
    pub fn padding_ratio(&self, epoch: u64) -> f64 {
        let (mut slots, mut tokens) = (0, 0);
        for batch in self.epoch_batches(epoch) {
            let src_len = batch.iter().map(|&i| self.length(i).0).max().unwrap_or(0);
            let tgt_len = batch.iter().map(|&i| self.length(i).1).max().unwrap_or(0);
            slots += batch.len() * (src_len + tgt_len);
            tokens += batch
                .iter()
                .map(|&i| self.length(i).0 + self.length(i).1)
                .sum::<usize>();
        }
        padding_share(slots, tokens)
    }

    /// The endless stream of batches from `start` on, rolling over into the next epoch.
    pub fn stream_from(&self, start: BatchCursor) -> BatchStream<'_> {
        BatchStream {
            batcher: self,
            epoch: start.epoch,
            index: start.index,
            batches: self.epoch_batches(start.epoch),
        }
    }
}

/// Appends to `out` the batches of `sorted` cut greedily so that
/// `count * max(longest source, longest target) <= max_tokens`; an item that alone exceeds
/// the budget gets a batch of its own.
fn cut_by_budget(
    sorted: &[usize],
    lengths: impl Fn(usize) -> (usize, usize),
    max_tokens: usize,
    out: &mut Vec<Vec<usize>>,
) {
    let mut batch: Vec<usize> = Vec::new();
    let mut longest = 0;
    for &i in sorted {
        let (s, t) = lengths(i);
        let grown = longest.max(s).max(t);
        if !batch.is_empty() && (batch.len() + 1) * grown > max_tokens {
            out.push(std::mem::take(&mut batch));
            longest = s.max(t);
        } else {
            longest = grown;
        }
        batch.push(i);
    }
    if !batch.is_empty() {
        out.push(batch);
    }
}

/// The endless, resumable stream of training batches; see
/// [`TokenBudgetBatcher::stream_from`]. Yields each batch with its own cursor.
pub struct BatchStream<'a> {
    batcher: &'a TokenBudgetBatcher,
    epoch: u64,
    index: usize,
    batches: Vec<Vec<usize>>,
}

impl BatchStream<'_> {
    /// The cursor of the batch the next call to `next` yields: save it to resume there.
    pub fn position(&self) -> BatchCursor {
        if self.index < self.batches.len() {
            BatchCursor {
                epoch: self.epoch,
                index: self.index,
            }
        } else {
            BatchCursor {
                epoch: self.epoch.wrapping_add(1),
                index: 0,
            }
        }
    }
}

impl Iterator for BatchStream<'_> {
    type Item = (BatchCursor, Vec<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        // The batcher has at least one pair, so every epoch has at least one batch.
        while self.index >= self.batches.len() {
            self.epoch = self.epoch.wrapping_add(1);
            self.index = 0;
            self.batches = self.batcher.epoch_batches(self.epoch);
        }
        let cursor = BatchCursor {
            epoch: self.epoch,
            index: self.index,
        };
        self.index += 1;
        Some((cursor, std::mem::take(&mut self.batches[cursor.index])))
    }
}

/// Batches for decoding, no shuffling: sentence indices sorted by length (longest first, so a
/// memory problem shows at once), cut so that `count * (longest + 1) <= max_tokens`, the +1
/// being `</s>`. `src_lengths` are subword counts. A sentence longer than the budget gets a
/// batch of its own. The caller puts the outputs back in input order.
pub fn inference_batches(src_lengths: &[usize], max_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..src_lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(src_lengths[i]));
    let mut batches = Vec::new();
    cut_by_budget(
        &order,
        |i| (src_lengths[i] + 1, 0),
        max_tokens,
        &mut batches,
    );
    batches
}
