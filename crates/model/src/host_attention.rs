//! Scaled dot-product attention for decoding steps on the host CPU: a few queries per sentence
//! (one, or a sentence's beams) against a short cache or source, all heads of a block of
//! sentences in one parallel task, and the context written with its heads already merged.
//!
//! Flex's attention, for the same call, made the query contiguous, materialised the broadcast
//! mask, ran two `gemm` calls of `1 x t x 64` per sentence and head (a call's set-up costs more
//! than its few thousand multiply-adds), and returned `[batch, heads, q, d_head]`, which the
//! caller copied again to merge the heads.

use burn::tensor::{Bool, Tensor, TensorData};
use rayon::prelude::*;

/// The most queries per sentence this kernel takes (a decoding step has one per beam); longer
/// query blocks (teacher forcing, the encoder) go to Flex's tiled kernel.
pub const MAX_DECODE_QUERIES: usize = 16;

/// `softmax(q k^T / sqrt(d_head)) v` with masked keys left out, as `[batch, len_q, heads *
/// d_head]`: `q` `[batch, heads, len_q, d_head]`, `k`/`v` `[batch, heads, len_k, d_head]` (any
/// strides, the last one 1), `mask` broadcasting to `[batch, heads, len_q, len_k]` (true = may not
/// be attended to). A query whose keys are all masked gets a zero context, as in Flex. `None`
/// off the host CPU, under autodiff, for other dtypes or layouts, for more than
/// [`MAX_DECODE_QUERIES`] queries or none; the caller then takes Burn's attention.
pub fn attention_merged(
    q: &Tensor<4>,
    k: &Tensor<4>,
    v: &Tensor<4>,
    mask: Option<&Tensor<4, Bool>>,
) -> Option<Tensor<3>> {
    attention_merged_rows(q, k, v, mask, None)
}

/// [`attention_merged`] where query row `b` reads row `kv_rows[b]` of `k`, `v` and the mask's
/// batch dimension (when it is not 1): the decoding cache's encoder memory stays where it was
/// laid out when sentences leave the batch, instead of being gathered again (a copy of every
/// layer's memory keys and values at each step where a sentence finished). `None` (and
/// `kv_rows`) as for [`attention_merged`].
pub fn attention_merged_rows(
    q: &Tensor<4>,
    k: &Tensor<4>,
    v: &Tensor<4>,
    mask: Option<&Tensor<4, Bool>>,
    kv_rows: Option<&[usize]>,
) -> Option<Tensor<3>> {
    let device = q.device();
    let [batch, heads, len_q, d_head] = q.dims();
    let [kv_batch, _, len_k, _] = k.dims();
    if len_q > MAX_DECODE_QUERIES || len_q * heads * d_head == 0 {
        return None;
    }
    let view = |t: &Tensor<4>| -> Option<View> {
        let t = crate::host::flex_f32(t)?; // Flex, f32, off the autodiff graph
        let layout = t.layout();
        let s = layout.strides();
        let strides = [s[0], s[1], s[2], s[3]].map(|s| usize::try_from(s).ok());
        let [Some(s0), Some(s1), Some(s2), Some(1)] = strides else {
            return None; // negative strides or a strided head dimension: Flex copes
        };
        Some(View {
            offset: layout.start_offset(),
            strides: [s0, s1, s2],
            tensor: t,
        })
    };
    let (qv, kv, vv) = (view(q)?, view(k)?, view(v)?);
    assert_eq!(
        k.dims(),
        [kv_batch, heads, len_k, d_head],
        "attention: key shape"
    );
    assert_eq!(
        v.dims(),
        [kv_batch, heads, len_k, d_head],
        "attention: value shape"
    );
    match kv_rows {
        Some(rows) => assert!(
            rows.len() == batch && rows.iter().all(|&r| r < kv_batch),
            "attention: key rows for {batch} queries within 0..{kv_batch}"
        ),
        None => assert_eq!(kv_batch, batch, "attention: key batch"),
    }
    let mask = mask.map(|m| MaskRows::new(m, [kv_batch, heads, len_q, len_k]));
    let (qs, ks, vs) = (
        qv.tensor.storage::<f32>(),
        kv.tensor.storage::<f32>(),
        vv.tensor.storage::<f32>(),
    );
    let scale = (d_head as f32).sqrt().recip();
    let row = len_q * heads * d_head;
    let out = for_each_row(
        batch,
        row,
        len_k,
        #[inline(always)]
        |b, out, scores| {
            let bk = kv_rows.map_or(b, |rows| rows[b]);
            for h in 0..heads {
                let key = |j: usize| &ks[kv.at(bk, h, j)..][..d_head];
                let value = |j: usize| &vs[vv.at(bk, h, j)..][..d_head];
                for t in 0..len_q {
                    let query = &qs[qv.at(b, h, t)..][..d_head];
                    let masked = mask.as_ref().map(|m| m.row(bk, h, t));
                    let context = &mut out[(t * heads + h) * d_head..][..d_head];
                    attend_one(query, key, value, masked, scale, scores, context);
                }
            }
        },
    );
    Some(Tensor::from_data(
        TensorData::new(out, [batch, len_q, heads * d_head]),
        &device,
    ))
}

/// A zeroed `[rows, row]` output filled by `fill(b, output row b, scores)` for every row `b`,
/// in parallel tasks of about 64k multiply-adds (`row * len_k` per row: one sentence is a few
/// thousand, less than what handing a task to a thread costs), each with a `len_k` scores
/// buffer of its own, compiled for AVX-512 or AVX2 where the CPU has them (the build targets
/// SSE2): `fill` must be `#[inline(always)]` for that. The decoding-step attention kernels'
/// common frame.
#[inline(always)]
pub(crate) fn for_each_row(
    rows: usize,
    row: usize,
    len_k: usize,
    fill: impl Fn(usize, &mut [f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut out = vec![0f32; rows * row];
    let per_task = (65536 / (row * len_k.max(1)).max(1)).clamp(1, 256);
    out.par_chunks_mut(row * per_task)
        .enumerate()
        .for_each(|(block, out)| {
            let mut scores = vec![0f32; len_k];
            nmt_core::rows::with_simd(
                #[inline(always)]
                || {
                    for (i, out) in out.chunks_mut(row).enumerate() {
                        fill(block * per_task + i, out, &mut scores);
                    }
                },
            )
        });
    out
}

/// One query: `context = softmax(scale * query . key_j) . value_j` over the unmasked `j`, added
/// into `context`, which the caller hands over zeroed (the output buffer is allocated zeroed).
#[inline(always)]
pub(crate) fn attend_one<'a>(
    query: &[f32],
    key: impl Fn(usize) -> &'a [f32],
    value: impl Fn(usize) -> &'a [f32],
    masked: Option<&[bool]>,
    scale: f32,
    scores: &mut [f32],
    context: &mut [f32],
) {
    let mut max = f32::NEG_INFINITY;
    for (j, s) in scores.iter_mut().enumerate() {
        *s = if masked.is_some_and(|m| m[j]) {
            f32::NEG_INFINITY
        } else {
            dot(query, key(j)) * scale
        };
        max = max.max(*s);
    }
    if max == f32::NEG_INFINITY {
        return; // every key masked (or none at all): a zero context, as Flex gives
    }
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        // Masked keys (-inf) weigh exactly 0; `exp_nonpositive` would floor them at exp(-87).
        *s = if *s == f32::NEG_INFINITY {
            0.0
        } else {
            nmt_core::rows::exp_nonpositive(*s - max)
        };
        sum += *s;
    }
    let inv = sum.recip();
    for (j, &s) in scores.iter().enumerate() {
        if s != 0.0 {
            let p = s * inv;
            for (c, &x) in context.iter_mut().zip(value(j)) {
                *c += p * x;
            }
        }
    }
}

/// A dot product with 16 independent partial sums, so that the compiler vectorises it (a single
/// running sum is a dependency chain it may not reorder).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (a16, b16) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = a16
        .remainder()
        .iter()
        .zip(b16.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a16.zip(b16) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// A Flex tensor's buffer and where its `[batch, head, position]` rows start.
struct View {
    tensor: burn::backend::flex::FlexTensor,
    offset: usize,
    strides: [usize; 3],
}

impl View {
    #[inline(always)]
    fn at(&self, b: usize, h: usize, t: usize) -> usize {
        self.offset + b * self.strides[0] + h * self.strides[1] + t * self.strides[2]
    }
}

/// A boolean mask read to the host once, indexed with broadcasting over its size-1 dimensions.
struct MaskRows {
    flags: Vec<bool>,
    dims: [usize; 4],
}

impl MaskRows {
    fn new(mask: &Tensor<4, Bool>, target: [usize; 4]) -> Self {
        let dims = mask.dims();
        for (d, t) in dims.iter().zip(target) {
            assert!(
                *d == t || *d == 1,
                "attention: mask {dims:?} against {target:?}"
            );
        }
        assert_eq!(dims[3], target[3], "attention: mask keys");
        Self {
            flags: mask.clone().into_data().iter::<bool>().collect(),
            dims,
        }
    }

    /// The key flags of query `t` of head `h` of sentence `b`.
    #[inline(always)]
    fn row(&self, b: usize, h: usize, t: usize) -> &[bool] {
        let [db, dh, dt, dk] = self.dims;
        let pick = |i: usize, d: usize| if d == 1 { 0 } else { i };
        let at = ((pick(b, db) * dh + pick(h, dh)) * dt + pick(t, dt)) * dk;
        &self.flags[at..at + dk]
    }
}
