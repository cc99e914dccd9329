//! Token embeddings scaled by sqrt(d_model), and positions that can start at an offset (so an
//! incremental decoder gets position t at step t).

use burn::module::{Module, Param};
use burn::tensor::module::embedding;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::PositionKind;
use crate::init::embedding_table;

/// A `[vocab, d_model]` table. When the output projection is tied to it, the logits are
/// `h W^T` with this very `Param`, so one tensor is trained, not two copies.
#[derive(Module, Debug)]
pub struct TokenEmbedding {
    pub weight: Param<Tensor<2>>,
    /// sqrt(d_model): keeps token embeddings on the scale of the positions added to them.
    pub scale: f64,
}

impl TokenEmbedding {
    pub fn new(vocab: usize, d_model: usize, pad: usize, device: &Device) -> Self {
        Self {
            weight: Param::from_tensor(embedding_table(vocab, d_model, pad, device)),
            scale: (d_model as f64).sqrt(),
        }
    }

    /// `[batch, len]` ids -> `[batch, len, d_model]`, scaled.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        embedding(self.weight.val(), ids).mul_scalar(self.scale)
    }

    pub fn vocab_size(&self) -> usize {
        self.weight.shape().dims::<2>()[0]
    }
}

/// Position vectors added to the embeddings.
#[derive(Module, Debug)]
pub struct Positions {
    /// Learned table, when the config asks for learned positions.
    pub learned: Option<Param<Tensor<2>>>,
    /// The fixed sin/cos table `[max_positions, d_model]`: a constant, built once at init (not
    /// every step) and never saved or trained.
    pub sinusoids: Tensor<2>,
}

impl Positions {
    pub fn new(kind: PositionKind, max_positions: usize, d_model: usize, device: &Device) -> Self {
        let learned = (kind == PositionKind::Learned).then(|| {
            // No padding row: every position is real.
            Param::from_tensor(embedding_table(max_positions, d_model, usize::MAX, device))
        });
        let sinusoids = if kind == PositionKind::Sinusoidal {
            sinusoid_table(max_positions, d_model, device)
        } else {
            Tensor::zeros([1, d_model], device)
        };
        Self { learned, sinusoids }
    }

    /// Positions `start..start+len` as `[1, len, d_model]`, ready to broadcast over a batch.
    pub fn forward(&self, start: usize, len: usize) -> Tensor<3> {
        let table = match &self.learned {
            Some(table) => table.val(),
            None => self.sinusoids.clone(),
        };
        let [max, d_model] = table.dims();
        assert!(
            start + len <= max,
            "sequence of {} positions exceeds model.max_positions = {max}",
            start + len
        );
        table
            .slice([start..start + len, 0..d_model])
            .unsqueeze_dim(0)
    }
}

/// `pe[p, 2i] = sin(p / 10000^(2i/d))`, `pe[p, 2i+1] = cos(...)`: the interleaved layout of
/// Vaswani et al., fairseq and the PyTorch reference, computed in f64.
pub fn sinusoid_table(max_positions: usize, d_model: usize, device: &Device) -> Tensor<2> {
    let mut values = vec![0f32; max_positions * d_model];
    for p in 0..max_positions {
        for i in (0..d_model).step_by(2) {
            let angle = p as f64 * (-(10000f64.ln()) * i as f64 / d_model as f64).exp();
            values[p * d_model + i] = angle.sin() as f32;
            if i + 1 < d_model {
                values[p * d_model + i + 1] = angle.cos() as f32;
            }
        }
    }
    Tensor::from_data(TensorData::new(values, [max_positions, d_model]), device)
}
