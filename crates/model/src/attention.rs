//! Multi-head scaled dot-product attention, `softmax(Q K^T / sqrt(d_k)) V`, and the three roles
//! it plays in a translation model. Masks are booleans, `true` = this key may not be attended to.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::module::attention as fused_attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Tensor};

use crate::cache::SelfKv;
use crate::dropout::Dropout;
use crate::init::xavier_linear;
use crate::precision::Precision;
use crate::step_cache::StepKv;

/// The score written into masked positions before the softmax. Finite on purpose: a row whose
/// keys are all masked becomes uniform instead of NaN, and -1e4 stays finite in f16 too. Real
/// scores are never near it, so `exp(MASKED_SCORE - max)` underflows to exactly 0.
pub const MASKED_SCORE: f64 = -1.0e4;

/// Builds a [`MultiHeadAttention`].
#[derive(Debug, Clone)]
pub struct MultiHeadAttentionConfig {
    pub d_model: usize,
    pub heads: usize,
    /// Dropout on the attention weights.
    pub dropout: f64,
}

impl MultiHeadAttentionConfig {
    pub fn init(&self, device: &Device) -> MultiHeadAttention {
        assert_eq!(
            self.d_model % self.heads,
            0,
            "d_model must divide into heads"
        );
        MultiHeadAttention {
            query: xavier_linear(self.d_model, self.d_model, device),
            key: xavier_linear(self.d_model, self.d_model, device),
            value: xavier_linear(self.d_model, self.d_model, device),
            output: xavier_linear(self.d_model, self.d_model, device),
            dropout: Dropout::new(self.dropout),
            heads: self.heads,
            d_head: self.d_model / self.heads,
            precision: Precision::F32,
        }
    }
}

/// Q/K/V/O projections around scaled dot-product attention.
#[derive(Module, Debug)]
pub struct MultiHeadAttention {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub output: Linear,
    pub dropout: Dropout,
    pub heads: usize,
    pub d_head: usize,
    /// The dtype of the projections and of Q K^T and weights V; the softmax runs in f32.
    #[module(skip)]
    pub precision: Precision,
}

/// What an attention call returns: the context `[batch, q, d_model]` and, when asked for, the
/// attention weights `[batch, heads, q, k]` (after the softmax, before dropout).
#[derive(Debug, Clone)]
pub struct AttentionOutput {
    pub context: Tensor<3>,
    pub weights: Option<Tensor<4>>,
}

impl MultiHeadAttention {
    /// `[batch, len, d_model]` -> `[batch, heads, len, d_head]`, in the compute precision.
    pub fn split_heads(&self, x: Tensor<3>, projection: &Linear) -> Tensor<4> {
        let [batch, len, _] = x.dims();
        self.precision
            .project(projection, x)
            .reshape([batch, len, self.heads, self.d_head])
            .swap_dims(1, 2)
    }

    /// Attention over already split heads. `mask` broadcasts to `[batch, heads, q, k]`
    /// (`[batch, 1, 1, k]` for padding, `[1, 1, q, k]` for causality).
    ///
    /// Without weights to return and off the autodiff graph (inference), a decoding step on the
    /// CPU (a few queries per sentence) runs [`crate::attention_merged`], and anything else Burn's
    /// fused attention op (flash attention on CubeCL, SDPA on libtorch, a tiled kernel on Flex);
    /// both compute the same function. Training keeps the explicit path, which is what autodiff
    /// would decompose the fused op into anyway, and which can drop out weights.
    pub fn attend(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
        mask: Option<Tensor<4, Bool>>,
        need_weights: bool,
    ) -> AttentionOutput {
        let [batch, heads, len_q, d_head] = q.dims();
        let len_k = k.dims()[2];
        // The context back in f32, for the residual stream.
        let merge = |ctx: Tensor<4>| {
            let ctx = ctx.swap_dims(1, 2).reshape([batch, len_q, heads * d_head]);
            Precision::full(self.precision.project(&self.output, ctx))
        };
        if !need_weights && !q.device().is_autodiff() {
            if let Some(ctx) = crate::host_attention::attention_merged(&q, &k, &v, mask.as_ref()) {
                return self.projected(ctx);
            }
            let mask = mask.map(|m| m.expand([batch, heads, len_q, len_k]));
            let ctx = fused_attention(q, k, v, mask, None, AttentionModuleOptions::default());
            return AttentionOutput {
                context: merge(ctx),
                weights: None,
            };
        }
        let scale = (d_head as f64).sqrt().recip();
        let mut scores = Precision::full(q.matmul(k.swap_dims(2, 3))).mul_scalar(scale);
        if let Some(mask) = mask {
            scores = scores.mask_fill(mask.expand([batch, heads, len_q, len_k]), MASKED_SCORE);
        }
        let weights = crate::fused::softmax_last(scores);
        let dropped = self
            .precision
            .compute(self.dropout.forward(weights.clone()));
        let context = merge(dropped.matmul(v));
        AttentionOutput {
            context,
            weights: need_weights.then_some(weights),
        }
    }

    /// A context with heads merged (`[batch, q, d_model]`, from a decoding-step kernel) through
    /// the output projection, back in f32, with no weights.
    fn projected(&self, ctx: Tensor<3>) -> AttentionOutput {
        AttentionOutput {
            context: Precision::full(self.precision.project(&self.output, ctx)),
            weights: None,
        }
    }

    /// [`Self::attend`] where query row `b` reads row `rows[b]` of `k`, `v` and `mask`: on the
    /// CPU's decoding path in place, anywhere else after gathering those rows.
    pub fn attend_rows(
        &self,
        q: Tensor<4>,
        k: Tensor<4>,
        v: Tensor<4>,
        mask: Tensor<4, Bool>,
        rows: &[usize],
        need_weights: bool,
    ) -> AttentionOutput {
        if !need_weights && !q.device().is_autodiff() {
            let ctx =
                crate::host_attention::attention_merged_rows(&q, &k, &v, Some(&mask), Some(rows));
            if let Some(ctx) = ctx {
                return self.projected(ctx);
            }
        }
        let index = crate::cache::row_index(rows, &q.device());
        let (k, v) = (
            crate::host::select_rows(k, rows),
            crate::host::select_rows(v, rows),
        );
        self.attend(q, k, v, Some(mask.select(0, index)), need_weights)
    }

    /// Plain self- or cross-attention: queries from `x`, keys and values from `memory`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        memory: Tensor<3>,
        mask: Option<Tensor<4, Bool>>,
        need_weights: bool,
    ) -> AttentionOutput {
        let q = self.split_heads(x, &self.query);
        let k = self.split_heads(memory.clone(), &self.key);
        let v = self.split_heads(memory, &self.value);
        self.attend(q, k, v, mask, need_weights)
    }
}

/// Turns a `[batch, len]` padding mask into the `[batch, 1, 1, len]` key mask attention wants.
pub(crate) fn key_padding_mask(pad: Tensor<2, Bool>) -> Tensor<4, Bool> {
    let [batch, len] = pad.dims();
    pad.reshape([batch, 1, 1, len])
}

/// `[1, 1, len, len]`, true above the diagonal: position i may not see j > i.
pub fn causal_mask(len: usize, device: &Device) -> Tensor<4, Bool> {
    Tensor::<2, Bool>::tril_mask([len, len], 0, device).reshape([1, 1, len, len])
}

/// Bidirectional encoder self-attention: every source position sees every real source
/// position; padded keys are masked.
#[derive(Module, Debug)]
pub struct EncoderSelfAttention {
    pub attention: MultiHeadAttention,
}

impl EncoderSelfAttention {
    /// `src_pad`: `[batch, src_len]`, true at padding.
    pub fn forward(
        &self,
        x: Tensor<3>,
        src_pad: Tensor<2, Bool>,
        need_weights: bool,
    ) -> AttentionOutput {
        self.attention
            .forward(x.clone(), x, Some(key_padding_mask(src_pad)), need_weights)
    }
}

/// Causal decoder self-attention: position t sees positions 0..=t only.
#[derive(Module, Debug)]
pub struct CausalSelfAttention {
    pub attention: MultiHeadAttention,
}

impl CausalSelfAttention {
    /// Teacher-forced pass over the whole target prefix. `tgt_pad` (true at padding) is
    /// optional: with right padding the causal mask already hides every pad from every real
    /// position, so the model skips it; it only changes what padded positions compute.
    pub fn forward(
        &self,
        x: Tensor<3>,
        tgt_pad: Option<Tensor<2, Bool>>,
        need_weights: bool,
    ) -> AttentionOutput {
        let [_, len, _] = x.dims();
        let mut mask = causal_mask(len, &x.device());
        if let Some(pad) = tgt_pad {
            let [batch, _] = pad.dims();
            mask = mask
                .expand([batch, 1, len, len])
                .bool_or(key_padding_mask(pad).expand([batch, 1, len, len]));
        }
        self.attention
            .forward(x.clone(), x, Some(mask), need_weights)
    }

    /// One decoding step: `x` is `[batch, 1, d_model]` for the newest position. Its key and
    /// value are appended to the cache and the single query attends over the cache, so a step
    /// costs O(t), not O(t^2). No mask is needed: the cache holds only the past.
    /// `rows`: the cached rows to continue, in order (beam search's pending reordering, see
    /// `LayerKv::self_rows`); `None` keeps them as they are.
    ///
    /// On the host CPU, without weights to return, the cache is a [`StepKv`] (one block per
    /// position, nothing copied per step); anywhere else, or once a step asks for weights, it
    /// is laid out as tensors.
    pub fn forward_step(
        &self,
        x: Tensor<3>,
        cached: &mut Option<SelfKv>,
        rows: Option<Vec<usize>>,
        need_weights: bool,
    ) -> AttentionOutput {
        let att = &self.attention;
        let q = att.split_heads(x.clone(), &att.query);
        let k_new = att.split_heads(x.clone(), &att.key);
        let v_new = att.split_heads(x, &att.value);
        let mut earlier = cached.take();
        if !need_weights && !q.device().is_autodiff() {
            let steps = match earlier.take() {
                None => StepKv::start(&k_new, &v_new),
                Some(SelfKv::Steps(mut steps)) => {
                    if steps.append(&k_new, &v_new, rows.as_deref()) {
                        Some(steps)
                    } else {
                        earlier = Some(SelfKv::Steps(steps));
                        None
                    }
                }
                tensors => {
                    earlier = tensors;
                    None
                }
            };
            if let Some(steps) = steps {
                if let Some(ctx) = steps.attend(&q) {
                    *cached = Some(SelfKv::Steps(steps));
                    return att.projected(ctx);
                }
                // A query it cannot read in place: the cache, new position included, as tensors.
                let (k, v) = steps.to_tensors();
                *cached = Some(SelfKv::Tensors(k.clone(), v.clone()));
                return att.attend(q, k, v, None, need_weights);
            }
        }
        let earlier = earlier.map(|kv| match kv {
            SelfKv::Tensors(k, v) => (k, v),
            SelfKv::Steps(steps) => steps.to_tensors(),
        });
        let (k, v) = match earlier {
            Some((k, v)) => (
                append_position(k, k_new, rows.as_deref()),
                append_position(v, v_new, rows.as_deref()),
            ),
            None => (k_new, v_new),
        };
        *cached = Some(SelfKv::Tensors(k.clone(), v.clone()));
        att.attend(q, k, v, None, need_weights)
    }
}

/// `cached` `[n, heads, t, d_head]` with its rows taken as `rows` (all of them, in order, when
/// `None`), then `new` `[m, heads, 1, d_head]` appended as position `t`: `[m, heads, t + 1,
/// d_head]`. On the host CPU this is one parallel copy into a fresh buffer (the cached buffer is
/// read where it lies when nothing else holds it); elsewhere a `select` and a `cat`.
fn append_position(cached: Tensor<4>, new: Tensor<4>, rows: Option<&[usize]>) -> Tensor<4> {
    use burn::tensor::{DType, TensorData};
    use rayon::prelude::*;
    let device = cached.device();
    let [n, heads, t, d_head] = cached.dims();
    let m = new.dims()[0];
    let f32_host = crate::host::is_host_cpu(&device)
        && cached.dtype() == DType::F32
        && new.dtype() == DType::F32;
    if !f32_host {
        let cached = match rows {
            Some(rows) => cached.select(0, crate::cache::row_index(rows, &device)),
            None => cached,
        };
        return Tensor::cat(vec![cached, new], 2);
    }
    assert!(
        rows.is_none_or(|r| r.len() == m && r.iter().all(|&i| i < n)),
        "cache rows out of range"
    );
    let old = cached.into_data();
    let old = old.as_slice::<f32>().expect("an f32 buffer");
    let new = new.into_data();
    let new = new.as_slice::<f32>().expect("an f32 buffer");
    let (old_row, new_row, out_row) =
        (heads * t * d_head, heads * d_head, heads * (t + 1) * d_head);
    // Not zeroed first (that memset was 2.6% of greedy decoding): every element is written once.
    let mut out: Vec<f32> = Vec::with_capacity(m * out_row);
    out.spare_capacity_mut()[..m * out_row]
        .par_chunks_mut(out_row)
        .enumerate()
        .for_each(|(i, out)| {
            let src = rows.map_or(i, |r| r[i]);
            let (old, new) = (
                &old[src * old_row..][..old_row],
                &new[i * new_row..][..new_row],
            );
            for h in 0..heads {
                let head = &mut out[h * (t + 1) * d_head..][..(t + 1) * d_head];
                head[..t * d_head].write_copy_of_slice(&old[h * t * d_head..][..t * d_head]);
                head[t * d_head..].write_copy_of_slice(&new[h * d_head..][..d_head]);
            }
        });
    // SAFETY: the chunks cover all `m * out_row` elements and each was written above.
    unsafe { out.set_len(m * out_row) };
    Tensor::from_data(TensorData::new(out, [m, heads, t + 1, d_head]), &device)
}

/// Decoder-to-encoder cross-attention: decoder queries over the encoder memory, with the
/// source padding mask on the keys.
#[derive(Module, Debug)]
pub struct CrossAttention {
    pub attention: MultiHeadAttention,
}

impl CrossAttention {
    pub fn forward(
        &self,
        x: Tensor<3>,
        memory: Tensor<3>,
        src_pad: Tensor<2, Bool>,
        need_weights: bool,
    ) -> AttentionOutput {
        self.attention
            .forward(x, memory, Some(key_padding_mask(src_pad)), need_weights)
    }

    /// Keys and values of the memory, computed once per sentence for incremental decoding (and
    /// laid out in order once, since every step reads them).
    pub fn memory_kv(&self, memory: Tensor<3>) -> (Tensor<4>, Tensor<4>) {
        let att = &self.attention;
        (
            crate::host::contiguous(att.split_heads(memory.clone(), &att.key)),
            crate::host::contiguous(att.split_heads(memory, &att.value)),
        )
    }

    /// A decoding step against precomputed memory keys/values `[memory rows, heads, src_len,
    /// d_head]`; `mask` is `[memory rows, 1, 1, src_len]`. `x` is `[memory rows * group, 1,
    /// d_model]`: the `group` rows of one memory row (a sentence's beams) attend to it as
    /// `group` query positions of one attention, so the memory is neither repeated nor
    /// gathered per beam.
    ///
    /// `memory_rows` (host CPU only): group `g` reads row `memory_rows[g]` of `k`, `v` and
    /// `mask` (see [`crate::DecoderCache::memory_rows`]).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_cached(
        &self,
        x: Tensor<3>,
        k: Tensor<4>,
        v: Tensor<4>,
        mask: Tensor<4, Bool>,
        memory_rows: Option<&[usize]>,
        group: usize,
        need_weights: bool,
    ) -> AttentionOutput {
        let q = self.attention.split_heads(x, &self.attention.query);
        let attend = |q: Tensor<4>| match memory_rows {
            None => self.attention.attend(q, k, v, Some(mask), need_weights),
            Some(rows) => self
                .attention
                .attend_rows(q, k, v, mask, rows, need_weights),
        };
        if group == 1 {
            return attend(q);
        }
        let [rows, heads, _, d_head] = q.dims();
        let memory_rows = rows / group;
        // [rows, heads, 1, d] -> [memory rows, heads, group, d]
        let q = q
            .reshape([memory_rows, group, heads, d_head])
            .swap_dims(1, 2);
        let out = attend(q);
        let d_model = out.context.dims()[2];
        AttentionOutput {
            // [memory rows, group, d_model] -> [rows, 1, d_model]
            context: out.context.reshape([rows, 1, d_model]),
            weights: out.weights.map(|w| {
                // [memory rows, heads, group, src] -> [rows, heads, 1, src]
                let src = w.dims()[3];
                w.swap_dims(1, 2).reshape([rows, heads, 1, src])
            }),
        }
    }
}
