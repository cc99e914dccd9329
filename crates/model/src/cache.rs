//! The incremental-decoding cache: per decoder layer, the self-attention keys/values of every
//! position decoded so far, and the cross-attention keys/values of the encoder memory
//! (computed once per sentence). Beam search reorders it by beam index and drops finished rows.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::step_cache::StepKv;

/// A decoder layer's self-attention keys and values of the positions decoded so far.
// One per decoder layer per batch: the size difference costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum SelfKv {
    /// `[batch, heads, len, d_head]` each.
    Tensors(Tensor<4>, Tensor<4>),
    /// On the host CPU, one block per position read through each row's lineage (see
    /// `step_cache.rs`).
    Steps(StepKv),
}

/// One decoder layer's cached keys and values.
#[derive(Debug, Clone)]
pub struct LayerKv {
    /// Self-attention keys and values of positions `0..position`; `None` before the first step.
    pub self_kv: Option<SelfKv>,
    /// On the host CPU, a reordering of `self_kv`'s rows not yet carried out: the next step
    /// takes row `self_rows[i]` as its row `i` while it appends the new position (a block
    /// cache reorders lineages; tensors are copied once instead of gathered, then grown).
    pub self_rows: Option<Vec<usize>>,
    /// `[batch, heads, src_len, d_head]` each.
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
    /// Decoder rows per memory row (1 until beam search groups them): row `r` reads memory row
    /// `r / group`. Beam search keeps each sentence's `beam` rows together, and they all attend
    /// to the same encoder memory, so it is stored (and reordered) once per sentence, not once
    /// per beam.
    pub group: usize,
    /// On the host CPU, the memory row each group of decoder rows reads once sentences have
    /// left the batch (`None`: group `g` reads memory row `g`). The memory's keys, values and
    /// mask then stay as laid out at the start, and the decoding-step attention reads them
    /// through this map ([`crate::attention_merged_rows`]): gathering them instead copied every
    /// layer's memory at each step where a sentence finished. Elsewhere always `None` (the
    /// memory is gathered).
    pub memory_rows: Option<Vec<usize>>,
}

impl DecoderCache {
    /// Decoder rows.
    pub fn batch_size(&self) -> usize {
        let groups = match &self.memory_rows {
            Some(rows) => rows.len(),
            None => self.memory_mask.dims()[0],
        };
        groups * self.group
    }

    /// Keeps the rows `rows`, in that order. One gather covers all three things beam search
    /// needs: reordering hypotheses by their parent beam, repeating a sentence's row for each
    /// beam, and dropping rows whose hypotheses have finished.
    pub fn select_rows(self, rows: &[usize]) -> Self {
        self.select_grouped(rows, 1)
    }

    /// [`Self::select_rows`], leaving the rows in groups of `group` that share a memory row
    /// (each consecutive `group` of `rows` must come from one sentence): the memory is then
    /// gathered per group, and only when the sentences change.
    pub fn select_grouped(self, rows: &[usize], group: usize) -> Self {
        assert!(
            group >= 1 && rows.len().is_multiple_of(group),
            "rows in whole groups"
        );
        let device = self.memory_mask.device();
        let index_of = |ids: &[usize]| row_index(ids, &device);
        let old_group = self.group;
        let memory_rows: Vec<usize> = rows.chunks(group).map(|g| g[0] / old_group).collect();
        debug_assert!(
            rows.chunks(group)
                .all(|g| g.iter().all(|&r| r / old_group == g[0] / old_group)),
            "a group mixes sentences"
        );
        // On the host CPU the self-attention rows are reordered by the next step's append
        // (no index), and the memory is read through `memory_rows`; elsewhere both are
        // gathered by a `select` now.
        let host = crate::host::is_host_cpu(&device);
        let rows_index = (!host).then(|| index_of(rows));
        let memory_rows: Vec<usize> = match &self.memory_rows {
            Some(earlier) => memory_rows.iter().map(|&m| earlier[m]).collect(),
            None => memory_rows,
        };
        let memory_moved = memory_rows.len() != self.memory_mask.dims()[0]
            || memory_rows.iter().enumerate().any(|(i, &m)| i != m);
        let mapped = (memory_moved && host).then(|| memory_rows.clone());
        let memory_index = (memory_moved && !host).then(|| index_of(&memory_rows));
        let pick_memory = |t: Tensor<4>| {
            if memory_index.is_some() {
                crate::host::select_rows(t, &memory_rows)
            } else {
                t
            }
        };
        Self {
            layers: self
                .layers
                .into_iter()
                .map(|kv| {
                    let (self_kv, self_rows) = match (kv.self_kv, &rows_index) {
                        (None, _) => (None, None),
                        (Some(SelfKv::Tensors(k, v)), Some(index)) => {
                            debug_assert!(
                                kv.self_rows.is_none(),
                                "a deferred reordering off the host"
                            );
                            let (k, v) = (k.select(0, index.clone()), v.select(0, index.clone()));
                            (Some(SelfKv::Tensors(k, v)), None)
                        }
                        // Deferred to the next step's append, composed with any pending one
                        // (a block cache is only made on the host, where that is the rule).
                        (Some(cached), _) => {
                            let pending = match &kv.self_rows {
                                Some(earlier) => rows.iter().map(|&r| earlier[r]).collect(),
                                None => rows.to_vec(),
                            };
                            (Some(cached), Some(pending))
                        }
                    };
                    LayerKv {
                        self_kv,
                        self_rows,
                        cross_k: pick_memory(kv.cross_k),
                        cross_v: pick_memory(kv.cross_v),
                    }
                })
                .collect(),
            memory_mask: match &memory_index {
                Some(index) => self.memory_mask.select(0, index.clone()),
                None => self.memory_mask,
            },
            position: self.position,
            group,
            memory_rows: mapped,
        }
    }
}

/// `ids` as an index tensor for `select` on `device`.
pub(crate) fn row_index(ids: &[usize], device: &Device) -> Tensor<1, Int> {
    let ids: Vec<i64> = ids.iter().map(|&r| r as i64).collect();
    let len = ids.len();
    Tensor::from_data(TensorData::new(ids, [len]), device)
}
