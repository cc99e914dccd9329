//! Decoding with several models at once: at every step the next-token distribution is the mean
//! of the models' distributions, as in fairseq (`--path a.pt:b.pt`), Marian (`--models`) and
//! OpenNMT (`-model a b`). Each model encodes the source itself and keeps its own cache; the
//! search above sees one distribution per row. One model is the ordinary case and takes the
//! same path, its logits passed through unchanged (the search normalizes them).

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

    /// Keeps the rows `rows` in groups of `group` that share a sentence (see
    /// [`DecoderCache::select_grouped`]): beam search's reordering.
    pub fn select_grouped(self, rows: &[usize], group: usize) -> Self {
        Self(
            self.0
                .into_iter()
                .map(|c| c.select_grouped(rows, group))
                .collect(),
        )
    }

    /// One step for every row: the scores `[rows, vocab]` of the next token, whose
    /// log-softmax is the ensemble's distribution (one model: its logits; several:
    /// `ln(mean_m p_m)`, already normalized up to rounding), and the first model's attention
    /// if `need_weights`.
    pub fn step(
        &mut self,
        models: &[&Transformer],
        tokens: Tensor<1, Int>,
        need_weights: bool,
    ) -> (Tensor<2>, StepAttention) {
        let (scores, attentions) = self.step_each(models, tokens, need_weights);
        (scores, attentions.into_iter().next().unwrap_or_default())
    }

    /// [`Self::step`], also returning each row's attention over the source `[rows, src]` for
    /// the coverage penalty: the last decoder layer's cross-attention averaged over its heads
    /// (as OpenNMT reads a Transformer's alignment) and over the models.
    pub fn step_with_alignment(
        &mut self,
        models: &[&Transformer],
        tokens: Tensor<1, Int>,
    ) -> (Tensor<2>, Tensor<2>) {
        let (scores, attentions) = self.step_each(models, tokens, true);
        let n = attentions.len();
        let alignment = attentions
            .into_iter()
            .map(|mut att| {
                let cross = att.cross.pop().expect("a decoder has at least one layer");
                let [rows, _, _, src] = cross.dims();
                cross.mean_dim(1).reshape([rows, src])
            })
            .reduce(|sum, a| sum + a)
            .expect("decoding needs at least one model")
            .div_scalar(n as f64);
        (scores, alignment)
    }

    /// Advances every model's cache by one step: the ensemble's scores (see [`Self::step`]) and
    /// each model's attention (empty unless `need_weights`), in model order.
    fn step_each(
        &mut self,
        models: &[&Transformer],
        tokens: Tensor<1, Int>,
        need_weights: bool,
    ) -> (Tensor<2>, Vec<StepAttention>) {
        let mut attentions = Vec::with_capacity(models.len());
        let mut logits = Vec::with_capacity(models.len());
        for (model, cache) in models.iter().zip(self.0.iter_mut()) {
            let (l, att) = model.decode_step(tokens.clone(), cache, need_weights);
            attentions.push(att);
            logits.push(l);
        }
        if logits.len() == 1 {
            return (logits.pop().expect("one model"), attentions);
        }
        let log_probs = logits.into_iter().map(|l| log_softmax(l, 1)).collect();
        (mean_of_distributions(log_probs), attentions)
    }
}

/// `ln(mean_m exp(lp_m))` over the models' log-probabilities, as a log-sum-exp so that tokens
/// every model finds unlikely keep finite scores (averaging probabilities in f32 would send
/// them to 0, and `ln 0` to -inf).
fn mean_of_distributions(log_probs: Vec<Tensor<2>>) -> Tensor<2> {
    let n = log_probs.len();
    let stacked: Tensor<3> = Tensor::stack(log_probs, 0);
    let max = stacked.clone().max_dim(0);
    let sum = (stacked - max.clone()).exp().sum_dim(0);
    (sum.log() + max)
        .sub_scalar((n as f64).ln())
        .squeeze_dim::<2>(0)
}

/// An ensemble needs at least one model, and all of them must score the same target vocabulary.
pub(crate) fn check(models: &[&Transformer]) -> Result<(), DecodeError> {
    let first = models.first().ok_or(DecodeError::NoModel)?;
    let vocab = first.tgt_vocab_size();
    match models.iter().position(|m| m.tgt_vocab_size() != vocab) {
        Some(index) => Err(DecodeError::VocabularyMismatch {
            index,
            vocab: models[index].tgt_vocab_size(),
            first: vocab,
        }),
        None => Ok(()),
    }
}

/// Why a set of models cannot decode together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("decoding needs at least one model")]
    NoModel,
    #[error(
        "model {index} of the ensemble has a target vocabulary of {vocab} tokens but model 0 has \
         {first}: ensemble checkpoints of one run, or runs trained with the same tokenizer"
    )]
    VocabularyMismatch {
        index: usize,
        vocab: usize,
        first: usize,
    },
}
