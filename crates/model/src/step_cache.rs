//! The decoder self-attention cache on the host CPU as one block per decoded position, read
//! through each row's lineage, so that a step appends instead of copying the whole cache.
//!
//! A contiguous `[rows, heads, t, d_head]` cache has to be rebuilt at every step of beam search
//! (each row continues some parent's history, so the rows are reordered, then the new position
//! is appended): a copy of every layer's keys and values per step, 5-7% of beam-5 decoding
//! (memmove under the cache append). Here step `j`'s keys and values stay in the block the
//! projection wrote them to (`[rows_j, heads, 1, d_head]`), and `lineage[r][j]` says which of
//! block `j`'s rows row `r` descends from; reordering rows reorders lineages (a few integers per
//! position), and the attention kernel reads key `j` of row `r` at block `j`, row
//! `lineage[r][j]`.

use std::fmt;

use burn::backend::flex::FlexTensor;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

/// Every decoded position's keys and values, for `rows` rows.
#[derive(Clone)]
pub struct StepKv {
    keys: Vec<Block>,
    values: Vec<Block>,
    /// `[rows, positions]`: the row of block `j` that row `r` reads at position `j`.
    lineage: Vec<u32>,
    rows: usize,
    heads: usize,
    d_head: usize,
    device: Device,
}

impl fmt::Debug for StepKv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepKv")
            .field("rows", &self.rows)
            .field("positions", &self.keys.len())
            .field("heads", &self.heads)
            .field("d_head", &self.d_head)
            .finish()
    }
}

/// One position's keys (or values) as the projection left them: a Flex f32 buffer where row `b`,
/// head `h` starts at `offset + b * row_stride + h * head_stride`, `d_head` values in a row.
#[derive(Clone)]
struct Block {
    tensor: FlexTensor,
    offset: usize,
    row_stride: usize,
    head_stride: usize,
}

impl Block {
    /// `t` (`[rows, heads, 1, d_head]`) read in place, when it is f32 on Flex off the autodiff
    /// graph with unit-stride head vectors.
    fn of(t: &Tensor<4>) -> Option<Self> {
        let tensor = crate::host::flex_f32(t)?;
        let layout = tensor.layout();
        let s = layout.strides();
        let [Ok(row_stride), Ok(head_stride), Ok(1)] = [s[0], s[1], s[3]].map(usize::try_from)
        else {
            return None;
        };
        Some(Self {
            offset: layout.start_offset(),
            row_stride,
            head_stride,
            tensor,
        })
    }

    #[inline(always)]
    fn head<'a>(&self, storage: &'a [f32], row: usize, h: usize, d_head: usize) -> &'a [f32] {
        &storage[self.offset + row * self.row_stride + h * self.head_stride..][..d_head]
    }
}

impl StepKv {
    /// A cache holding the first position's keys and values `[rows, heads, 1, d_head]`; `None`
    /// unless both are f32 on Flex off the autodiff graph, with unit-stride head vectors.
    pub fn start(keys: &Tensor<4>, values: &Tensor<4>) -> Option<Self> {
        let [rows, heads, one, d_head] = keys.dims();
        assert_eq!(one, 1, "one position at a time");
        assert_eq!(values.dims(), keys.dims(), "keys and values");
        let (k, v) = (Block::of(keys)?, Block::of(values)?);
        Some(Self {
            keys: vec![k],
            values: vec![v],
            lineage: (0..rows as u32).collect(),
            rows,
            heads,
            d_head,
            device: keys.device(),
        })
    }

    /// Rows of the cache.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Positions cached.
    pub fn positions(&self) -> usize {
        self.keys.len()
    }

    /// Continues rows `rows` (all, in order, when `None`) and appends their next position's
    /// keys and values `[rows', heads, 1, d_head]`. `false`, with the cache unchanged, when the
    /// new blocks cannot be read in place (the caller then lays it out as tensors).
    pub fn append(&mut self, keys: &Tensor<4>, values: &Tensor<4>, rows: Option<&[usize]>) -> bool {
        let [m, heads, one, d_head] = keys.dims();
        assert!(
            one == 1 && [heads, d_head] == [self.heads, self.d_head],
            "cache append: {:?} onto {} heads of {}",
            keys.dims(),
            self.heads,
            self.d_head
        );
        assert_eq!(values.dims(), keys.dims(), "keys and values");
        assert!(
            rows.map_or(m == self.rows, |r| r.len() == m
                && r.iter().all(|&i| i < self.rows)),
            "cache rows out of range"
        );
        let (Some(k), Some(v)) = (Block::of(keys), Block::of(values)) else {
            return false;
        };
        let t = self.positions();
        let mut lineage = Vec::with_capacity(m * (t + 1));
        for i in 0..m {
            let parent = rows.map_or(i, |r| r[i]);
            lineage.extend_from_slice(&self.lineage[parent * t..][..t]);
            lineage.push(i as u32);
        }
        self.lineage = lineage;
        self.rows = m;
        self.keys.push(k);
        self.values.push(v);
        true
    }

    /// Attention of `q` (`[rows, heads, 1, d_head]`) over every cached position, heads merged:
    /// `[rows, 1, heads * d_head]`. `None` unless `q` is f32 on Flex off the autodiff graph with
    /// unit-stride head vectors.
    pub fn attend(&self, q: &Tensor<4>) -> Option<Tensor<3>> {
        let [rows, heads, one, d_head] = q.dims();
        assert!(
            rows == self.rows && one == 1 && [heads, d_head] == [self.heads, self.d_head],
            "cache attention: query {:?} against {} rows",
            q.dims(),
            self.rows
        );
        let query = Block::of(q)?;
        let qs = query.tensor.storage::<f32>();
        let keys: Vec<&[f32]> = self
            .keys
            .iter()
            .map(|b| b.tensor.storage::<f32>())
            .collect();
        let values: Vec<&[f32]> = self
            .values
            .iter()
            .map(|b| b.tensor.storage::<f32>())
            .collect();
        let len = self.positions();
        let scale = (d_head as f32).sqrt().recip();
        let row = heads * d_head;
        let out = crate::host_attention::for_each_row(
            rows,
            row,
            len,
            #[inline(always)]
            |b, context, scores| {
                let lineage = &self.lineage[b * len..][..len];
                for h in 0..heads {
                    let key = |j: usize| self.keys[j].head(keys[j], lineage[j] as usize, h, d_head);
                    let value =
                        |j: usize| self.values[j].head(values[j], lineage[j] as usize, h, d_head);
                    crate::host_attention::attend_one(
                        query.head(qs, b, h, d_head),
                        key,
                        value,
                        None,
                        scale,
                        scores,
                        &mut context[h * d_head..][..d_head],
                    );
                }
            },
        );
        Some(Tensor::from_data(
            TensorData::new(out, [rows, 1, row]),
            &q.device(),
        ))
    }

    /// The cache laid out as `[rows, heads, positions, d_head]` keys and values (for a step that
    /// needs attention weights, which Burn's attention path gives).
    pub fn to_tensors(&self) -> (Tensor<4>, Tensor<4>) {
        let lay_out = |blocks: &[Block]| {
            let storage: Vec<&[f32]> = blocks.iter().map(|b| b.tensor.storage::<f32>()).collect();
            let (len, d) = (blocks.len(), self.d_head);
            let mut out = vec![0f32; self.rows * self.heads * len * d];
            out.par_chunks_mut(self.heads * len * d)
                .enumerate()
                .for_each(|(r, out)| {
                    let lineage = &self.lineage[r * len..][..len];
                    for h in 0..self.heads {
                        for (j, block) in blocks.iter().enumerate() {
                            out[(h * len + j) * d..][..d].copy_from_slice(block.head(
                                storage[j],
                                lineage[j] as usize,
                                h,
                                d,
                            ));
                        }
                    }
                });
            Tensor::from_data(
                TensorData::new(out, [self.rows, self.heads, len, d]),
                &self.device,
            )
        };
        (lay_out(&self.keys), lay_out(&self.values))
    }
}
