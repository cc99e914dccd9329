//! Decoding with several models at once: at every step the next-token distribution is the mean
//! of the models' distributions, as in fairseq (`--path a.pt:b.pt`), Marian (`--models`) and
//! OpenNMT (`-model a b`). Each model encodes the source itself and keeps its own cache; the
//! search above sees one distribution per row. One model is the ordinary case and takes the
//! same path, with its log-softmax passed through unchanged.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};
use nmt_model::{DecoderCache, StepAttention, Transformer};

/// The models' caches for one batch, in model order, their rows kept in step.
pub(crate) struct EnsembleCache(Vec<DecoderCache>);

impl EnsembleCache {
    /// Encodes `src` `[batch, src_len]` with every model and prepares its cache. The models
    /// were checked once, by [`check`], before the first batch.
    pub fn start(models: &[&Transformer], src: Tensor<2, Int>) -> Self {
        Self(
            models
                .iter()
                .map(|m| {
                    let (memory, src_pad, _) = m.encode(src.clone(), false);
                    m.start_decoding(memory, src_pad)
                })
                .collect(),
        )
    }

    /// Keeps the rows `rows` of every model's cache (see [`DecoderCache::select_rows`]).
    pub fn select_rows(self, rows: &[usize]) -> Self {
        Self(self.0.into_iter().map(|c| c.select_rows(rows)).collect())
    }

    /// One step for every row: the log-probabilities `[rows, vocab]` of the next token under
    /// the ensemble, `ln(mean_m p_m)`, and the first model's attention if `need_weights`.
    pub fn step(
        &mut self,
        models: &[&Transformer],
        tokens: Tensor<1, Int>,
        need_weights: bool,
    ) -> (Tensor<2>, StepAttention) {
        let mut attention = None;
        let mut log_probs = Vec::with_capacity(models.len());
        for (model, cache) in models.iter().zip(self.0.iter_mut()) {
            let (logits, att) = model.decode_step(tokens.clone(), cache, need_weights);
            attention.get_or_insert(att);
            log_probs.push(log_softmax(logits, 1));
        }
        (
            mean_of_distributions(log_probs),
            attention.unwrap_or_default(),
        )
    }

    /// [`Self::step`], also returning each row's attention over the source `[rows, src]` for
    /// the coverage penalty: the last decoder layer's cross-attention averaged over its heads
    /// (as OpenNMT reads a Transformer's alignment) and over the models.
    pub fn step_with_alignment(
        &mut self,
        models: &[&Transformer],
        tokens: Tensor<1, Int>,
    ) -> (Tensor<2>, Tensor<2>) {
        let mut alignment: Option<Tensor<2>> = None;
        let mut log_probs = Vec::with_capacity(models.len());
        for (model, cache) in models.iter().zip(self.0.iter_mut()) {
            let (logits, mut att) = model.decode_step(tokens.clone(), cache, true);
            let cross = att.cross.pop().expect("a decoder has at least one layer");
            let [rows, _, _, src] = cross.dims();
            let heads_mean = cross.mean_dim(1).reshape([rows, src]);
            alignment = Some(match alignment {
                None => heads_mean,
                Some(sum) => sum + heads_mean,
            });
            log_probs.push(log_softmax(logits, 1));
        }
        let alignment = alignment
            .expect("decoding needs at least one model")
            .div_scalar(models.len() as f64);
        (mean_of_distributions(log_probs), alignment)
    }
}

/// `ln(mean_m exp(lp_m))` over the models' log-probabilities, as a log-sum-exp so that tokens
/// every model finds unlikely keep finite scores (averaging probabilities in f32 would send
/// them to 0, and `ln 0` to -inf). One model: its log-probabilities, untouched.
fn mean_of_distributions(mut log_probs: Vec<Tensor<2>>) -> Tensor<2> {
    let n = log_probs.len();
    if n == 1 {
        return log_probs.pop().expect("one model");
    }
    let stacked: Tensor<3> = Tensor::stack(log_probs, 0);
    let max = stacked.clone().max_dim(0);
    let sum = (stacked - max.clone()).exp().sum_dim(0);
    (sum.log() + max)
        .sub_scalar((n as f64).ln())
        .squeeze_dim::<2>(0)
}

/// An ensemble needs at least one model, and all of them must score the same target vocabulary.
pub(crate) fn check(models: &[&Transformer]) {
    assert!(!models.is_empty(), "decoding needs at least one model");
    let vocab = models[0].tgt_vocab_size();
    for (i, m) in models.iter().enumerate().skip(1) {
        assert_eq!(
            m.tgt_vocab_size(),
            vocab,
            "model {i} of the ensemble has a target vocabulary of {} but model 0 has {vocab}",
            m.tgt_vocab_size()
        );
    }
}
