//! The incremental-decoding cache: per decoder layer, the self-attention keys/values of every
//! position decoded so far, and the cross-attention keys/values of the encoder memory
//! (computed once per sentence). Beam search reorders it by beam index and drops finished rows.

use burn::tensor::{Bool, Int, Tensor, TensorData};

/// One decoder layer's cached keys and values, each `[batch, heads, len, d_head]`.
#[derive(Debug, Clone)]
pub struct LayerKv {
    /// Self-attention keys and values of positions `0..position`; `None` before the first step.
    pub self_kv: Option<(Tensor<4>, Tensor<4>)>,
    pub cross_k: Tensor<4>,
    pub cross_v: Tensor<4>,
}

#[derive(Debug, Clone)]
pub struct DecoderCache {
    pub layers: Vec<LayerKv>,
    /// Source padding as a `[batch, 1, 1, src_len]` key mask for cross-attention.
    pub memory_mask: Tensor<4, Bool>,
    /// How many target positions have been decoded (the next step's position).
    pub position: usize,
}

impl DecoderCache {
    pub fn batch_size(&self) -> usize {
        self.memory_mask.dims()[0]
    }

    /// Keeps the rows `rows`, in that order. One gather covers all three things beam search
    /// needs: reordering hypotheses by their parent beam, repeating a sentence's row for each
    /// beam, and dropping rows whose hypotheses have finished.
    pub fn select_rows(self, rows: &[usize]) -> Self {
        let device = self.memory_mask.device();
        let index = Tensor::<1, Int>::from_data(
            TensorData::new(
                rows.iter().map(|&r| r as i64).collect::<Vec<_>>(),
                [rows.len()],
            ),
            &device,
        );
        let pick = |t: Tensor<4>| t.select(0, index.clone());
        Self {
            layers: self
                .layers
                .into_iter()
                .map(|kv| LayerKv {
                    self_kv: kv.self_kv.map(|(k, v)| (pick(k), pick(v))),
                    cross_k: pick(kv.cross_k),
                    cross_v: pick(kv.cross_v),
                })
                .collect(),
            memory_mask: self.memory_mask.select(0, index.clone()),
            position: self.position,
        }
    }
}
