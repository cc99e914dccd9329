//! What greedy and beam search share: building id tensors, the masked log-probabilities of one
//! step, the length penalty, the model's length limit, and top-k selection.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use nmt_core::rows::lane_max;
use nmt_model::{BOS_ID, EOS_ID, PAD_ID, Transformer};

/// GNMT length penalty `((5 + len) / 6)^alpha` (Wu et al. 2016). `len` counts the hypothesis'
/// tokens plus its `</s>` (as fairseq counts the step that emitted `</s>`).
pub fn length_penalty(len: usize, alpha: f64) -> f64 {
    ((5.0 + len as f64) / 6.0).powf(alpha)
}

/// GNMT coverage penalty `beta * sum_i ln(min(c_i, 1))` (Wu et al. 2016, eq. 14): `coverage[i]`
/// is the attention source token `i` has received, summed over output steps. 0 when every
/// token got at least a full unit, negative otherwise. `c_i` is floored at 1e-6, so a token
/// never attended to costs a large finite amount (`ln 0` would make every such score -inf).
pub fn coverage_penalty(coverage: &[f32], beta: f64) -> f64 {
    if beta == 0.0 {
        return 0.0;
    }
    let logs: f64 = coverage
        .iter()
        .map(|&c| f64::from(c).clamp(1e-6, 1.0).ln())
        .sum();
    beta * logs
}

/// How beam search ranks finished hypotheses: the length penalty's alpha and the coverage
/// penalty's beta (see [`crate::DecodeConfig`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scoring {
    pub lenpen: f64,
    pub coverage: f64,
}

impl Scoring {
    /// The score of a hypothesis of `len` tokens (its `</s>` counted) with log-probability
    /// `log_prob` whose source tokens received `coverage`.
    pub fn score(&self, log_prob: f64, len: usize, coverage: &[f32]) -> f64 {
        log_prob / length_penalty(len, self.lenpen) + coverage_penalty(coverage, self.coverage)
    }

    /// Whether a hypothesis's score can only fall as it grows: with no length or coverage
    /// penalty it is its log-probability, and every token adds a log-probability <= 0.
    pub fn only_falls(&self) -> bool {
        self.lenpen == 0.0 && self.coverage == 0.0
    }
}

/// `[n]` ids on `device`, in one upload.
pub(crate) fn ids_1d(ids: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::from_data(TensorData::new(ids.to_vec(), [ids.len()]), device)
}

/// Right-padded `[batch, longest]` source ids (at least one column, so an empty source still
/// gives a valid, fully padded row).
pub(crate) fn source_batch(src: &[Vec<u32>], device: &Device) -> Tensor<2, Int> {
    let width = src.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut flat = vec![i64::from(PAD_ID); src.len() * width];
    for (row, ids) in src.iter().enumerate() {
        for (col, &id) in ids.iter().enumerate() {
            flat[row * width + col] = i64::from(id);
        }
    }
    Tensor::from_data(TensorData::new(flat, [src.len(), width]), device)
}

/// The longest output (tokens before `</s>`) the model's target position table allows: step
/// `t` feeds position `t`, and the step that emits `</s>` after `n` tokens is step `n`.
pub(crate) fn model_max_len(model: &Transformer) -> usize {
    let positions = &model.tgt_positions;
    let table = match &positions.learned {
        Some(table) => table.shape().dims::<2>()[0],
        None => positions.sinusoids.dims()[0],
    };
    table.saturating_sub(1)
}

/// Per-sentence limits, capped by the position tables of every model decoding.
pub(crate) fn capped(models: &[&Transformer], max_lens: &[usize]) -> Vec<usize> {
    let cap = models.iter().map(|m| model_max_len(m)).min().unwrap_or(0);
    max_lens.iter().map(|&m| m.min(cap)).collect()
}

/// Constant masks over the target vocabulary, built once per decoding call.
pub(crate) struct VocabMasks {
    pub vocab: usize,
    /// `[1, vocab]`, true at `<pad>` and `<s>`: never produced.
    special: Tensor<2, Bool>,
    /// `[1, vocab]`, true everywhere but `</s>`: what a row at its length limit may not produce.
    not_eos: Tensor<2, Bool>,
}

impl VocabMasks {
    pub fn new(vocab: usize, device: &Device) -> Self {
        let flags = |f: &dyn Fn(u32) -> bool| {
            let data: Vec<bool> = (0..vocab as u32).map(f).collect();
            Tensor::<2, Bool>::from_data(TensorData::new(data, [1, vocab]), device)
        };
        Self {
            vocab,
            special: flags(&|id| id == PAD_ID || id == BOS_ID),
            not_eos: flags(&|id| id != EOS_ID),
        }
    }

    /// Log-softmax of `logits` `[rows, vocab]`, masked as by [`Self::mask`].
    pub fn log_probs(&self, logits: Tensor<2>, forced: &[bool]) -> Tensor<2> {
        self.mask(log_softmax(logits, 1), forced)
    }

    /// `log_probs` `[rows, vocab]` with `<pad>`/`<s>` at -inf, and every token but `</s>` at
    /// -inf in the rows flagged in `forced` (those at their length limit).
    pub fn mask(&self, log_probs: Tensor<2>, forced: &[bool]) -> Tensor<2> {
        let rows = forced.len();
        let shape = [rows, self.vocab];
        let mut mask = self.special.clone().expand(shape);
        if forced.iter().all(|&f| f) {
            mask = mask.bool_or(self.not_eos.clone().expand(shape));
        } else if forced.iter().any(|&f| f) {
            let device = log_probs.device();
            let rows_mask =
                Tensor::<2, Bool>::from_data(TensorData::new(forced.to_vec(), [rows, 1]), &device);
            mask = mask.bool_or(
                rows_mask
                    .expand(shape)
                    .bool_and(self.not_eos.clone().expand(shape)),
            );
        }
        log_probs.mask_fill(mask, f32::NEG_INFINITY)
    }
}

/// Forced prefixes: `log_probs` `[rows, vocab]` with every token but `only[row]` at -inf in the
/// rows that have one (a row still inside its target prefix); other rows unchanged.
pub(crate) fn force_tokens(log_probs: Tensor<2>, only: &[Option<u32>]) -> Tensor<2> {
    if only.iter().all(Option::is_none) {
        return log_probs;
    }
    let [rows, vocab] = log_probs.dims();
    let mut mask = vec![false; rows * vocab];
    for (row, token) in only.iter().enumerate() {
        if let Some(token) = token {
            let cells = &mut mask[row * vocab..(row + 1) * vocab];
            cells.fill(true);
            cells[*token as usize] = false;
        }
    }
    let device = log_probs.device();
    let mask = Tensor::<2, Bool>::from_data(TensorData::new(mask, [rows, vocab]), &device);
    log_probs.mask_fill(mask, f32::NEG_INFINITY)
}

/// Row `i`'s forced token at `step`: `prefixes[sentences[i]][step]` while it lasts (no
/// prefixes at all is an empty slice).
pub(crate) fn prefix_tokens(
    prefixes: &[Vec<u32>],
    sentences: &[usize],
    step: usize,
) -> Vec<Option<u32>> {
    sentences
        .iter()
        .map(|&s| prefixes.get(s).and_then(|p| p.get(step)).copied())
        .collect()
}

/// Reads a float tensor to the host (one transfer).
pub(crate) fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    let data = t.into_data();
    if data.dtype() == burn::tensor::DType::F32 {
        // One copy of the buffer, not an element-by-element conversion.
        data.try_into_vec::<f32>().expect("an f32 buffer")
    } else {
        data.iter::<f32>().collect()
    }
}

/// Reads an int tensor to the host (one transfer).
pub(crate) fn ints<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data().iter::<i64>().collect()
}

/// Where the per-step top-k runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopK {
    /// `topk_with_indices` on the device; two small reads back. Only LibTorch on a GPU uses it
    /// (torch's own `topk`): Burn 0.22's CubeCL top-k reduction (wgpu) returned out-of-range
    /// indices next to finite values for candidate rows full of `-inf` (lavapipe, in CI; cf.
    /// tracel-ai/cubek#422, top-k slots left unfilled under Vulkan), so wgpu selects on the
    /// host too.
    Device,
    /// One read of the whole candidate matrix and a linear-time selection on the host. For
    /// backends whose memory is the host's (Flex, NdArray, LibTorch on CPU) the read is a copy,
    /// while their `topk` is a full sort of every row. Every backend but LibTorch on a GPU uses
    /// it (see `Device`).
    Host,
}

impl TopK {
    pub fn for_device(device: &Device) -> Self {
        let name = format!("{device:?}");
        if name.contains("LibTorch(") && !name.contains("LibTorch(Cpu") {
            Self::Device
        } else {
            Self::Host
        }
    }

    /// The `k` best entries of each row of `scores` `[rows, cols]`, best first: values and
    /// column indices, each `rows * k` long, row-major. Ties go to the lower column on the host.
    pub fn select(self, scores: Tensor<2>, k: usize) -> (Vec<f32>, Vec<usize>) {
        match self {
            Self::Device => {
                let cols = scores.dims()[1];
                let (values, indices) = scores.clone().topk_with_indices(k, 1);
                let indices: Vec<usize> = ints(indices).into_iter().map(|i| i as usize).collect();
                // A column outside the row is a backend bug; the host selection is always right.
                if indices.iter().any(|&i| i >= cols) {
                    return Self::Host.select(scores, k);
                }
                (floats(values), indices)
            }
            Self::Host => {
                let [rows, cols] = scores.dims();
                let all = floats(scores);
                let mut values = Vec::with_capacity(rows * k);
                let mut indices = Vec::with_capacity(rows * k);
                for row in all.chunks_exact(cols) {
                    for (i, v) in top_k_row(row, k) {
                        values.push(v);
                        indices.push(i);
                    }
                }
                (values, indices)
            }
        }
    }
}

/// A value as the rankings see it: NaN ranks as -inf.
fn rank_key(v: f32) -> f32 {
    if v.is_nan() { f32::NEG_INFINITY } else { v }
}

/// `a` ranks before `b`: higher value, then lower index; NaN ranks as -inf.
pub(crate) fn better(a: (usize, f32), b: (usize, f32)) -> bool {
    let (x, y) = (rank_key(a.1), rank_key(b.1));
    x > y || (x == y && a.0 < b.0)
}

/// The `k` best `(index, value)` of `row`, best first. One pass keeping a sorted buffer of `k`;
/// once it is full, a block of 64 values whose maximum ([`lane_max`]) is below the buffer's
/// worst is skipped whole, and any other value is compared with the worst before anything
/// else, so it is O(len) with a small constant for small k.
pub(crate) fn top_k_row(row: &[f32], k: usize) -> Vec<(usize, f32)> {
    const BLOCK: usize = 64;
    let k = k.min(row.len());
    if k == 0 {
        return Vec::new();
    }
    let mut best: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    for (b, block) in row.chunks(BLOCK).enumerate() {
        // NaN ranks as -inf and never raises the maximum: a block is skipped only when every
        // value ranks strictly below the worst kept.
        if best.len() == k && lane_max(block) < rank_key(best[k - 1].1) {
            continue;
        }
        for (j, &v) in block.iter().enumerate() {
            let i = b * BLOCK + j;
            if best.len() == k && !better((i, v), best[k - 1]) {
                continue;
            }
            let at = best.partition_point(|&b| better(b, (i, v)));
            best.insert(at, (i, v));
            best.truncate(k);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_row_matches_a_full_sort() {
        let row = [0.5f32, -1.0, 3.0, 3.0, f32::NEG_INFINITY, 2.0, 7.0, -0.5];
        let mut sorted: Vec<(usize, f32)> = row.iter().copied().enumerate().collect();
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for k in 0..=row.len() + 2 {
            let want: Vec<_> = sorted.iter().copied().take(k).collect();
            assert_eq!(top_k_row(&row, k), want, "k = {k}");
        }
    }

    #[test]
    fn top_k_row_matches_a_full_sort_on_long_rows() {
        // Long enough for the block skipping, with ties, -inf and NaN (which ranks as -inf).
        let mut rng = nmt_core::rng::SplitMix64::new(11);
        let mut row: Vec<f32> = (0..1000)
            .map(|_| (rng.next_u64() % 200) as f32 / 8.0 - 12.0)
            .collect();
        for i in (0..1000).step_by(97) {
            row[i] = f32::NEG_INFINITY;
        }
        for i in (5..1000).step_by(131) {
            row[i] = f32::NAN;
        }
        let key = |v: f32| if v.is_nan() { f32::NEG_INFINITY } else { v };
        let mut sorted: Vec<(usize, f32)> = row.iter().copied().enumerate().collect();
        sorted.sort_by(|a, b| key(b.1).total_cmp(&key(a.1)).then(a.0.cmp(&b.0)));
        for k in [1, 2, 10, 64, 65, 1000] {
            let got = top_k_row(&row, k);
            assert_eq!(got.len(), k);
            for (g, w) in got.iter().zip(&sorted) {
                assert_eq!(g.0, w.0, "k = {k}");
            }
        }
        // Descending rows make every block a candidate; ascending rows replace the buffer.
        let down: Vec<f32> = (0..500).map(|i| -(i as f32)).collect();
        let up: Vec<f32> = (0..500).map(|i| i as f32).collect();
        assert_eq!(top_k_row(&down, 3), vec![(0, 0.0), (1, -1.0), (2, -2.0)]);
        assert_eq!(
            top_k_row(&up, 3),
            vec![(499, 499.0), (498, 498.0), (497, 497.0)]
        );
    }

    #[test]
    fn coverage_penalty_is_gnmt() {
        assert_eq!(coverage_penalty(&[0.1, 0.2], 0.0), 0.0);
        // Tokens with a full unit or more cost nothing; the rest cost beta * ln(c).
        assert_eq!(coverage_penalty(&[1.0, 2.5, 1.0], 0.4), 0.0);
        let got = coverage_penalty(&[0.5, 1.7, 0.25], 0.2);
        assert!(
            (got - 0.2 * (0.5f64.ln() + 0.25f64.ln())).abs() < 1e-6,
            "{got}"
        );
        // Never attended: large but finite.
        let never = coverage_penalty(&[0.0], 1.0);
        assert!(never.is_finite() && (never - 1e-6f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn length_penalty_is_gnmt() {
        assert_eq!(length_penalty(1, 0.0), 1.0);
        assert!((length_penalty(7, 1.0) - 2.0).abs() < 1e-12);
        assert!((length_penalty(13, 0.5) - 3f64.sqrt()).abs() < 1e-12);
    }
}
