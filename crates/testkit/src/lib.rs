//! What the tests of several crates need alike, written once: a tiny model (seconds to build,
//! still every part of the architecture), id tensors from rows, and every parameter's values.
//! Only ever a dev-dependency.

use burn::tensor::{Device, Int, Tensor, TensorData};
use nmt_model::{ModelConfig, Transformer};

/// d_model 16, 2 heads, FFN 32, one layer each side; every other field at its default.
pub fn tiny_config() -> ModelConfig {
    ModelConfig {
        d_model: 16,
        heads: 2,
        ff_dim: 32,
        encoder_layers: 1,
        decoder_layers: 1,
        ..Default::default()
    }
}

/// `cfg` built for a joint vocabulary of `vocab` ids, its weights drawn from `seed`.
pub fn model_with(cfg: &ModelConfig, seed: u64, vocab: usize, device: &Device) -> Transformer {
    nmt_model::seeded(device, seed, || cfg.init(vocab, vocab, device).unwrap())
}

/// [`tiny_config`] built with [`model_with`].
pub fn tiny_model(seed: u64, vocab: usize, device: &Device) -> Transformer {
    model_with(&tiny_config(), seed, vocab, device)
}

/// `[rows, len]` ids from equal-length rows.
pub fn ids(rows: &[&[i64]], device: &Device) -> Tensor<2, Int> {
    let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), rows[0].len()]), device)
}

/// Every parameter's values in visiting order, as one flat list.
pub fn all_values(model: &Transformer) -> Vec<f32> {
    nmt_model::parameter_values(model)
        .into_iter()
        .flat_map(|(_, v)| v)
        .collect()
}
