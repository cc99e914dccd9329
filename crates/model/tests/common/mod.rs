//! Helpers shared by the model's property tests: tensors from and to host values, a small
//! config, and f64 reference projections.
#![allow(dead_code)]

use burn::tensor::{Device, Tensor};
use nmt_model::{ModelConfig, Transformer, seeded};

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

pub fn small_config() -> ModelConfig {
    ModelConfig {
        d_model: 32,
        heads: 4,
        ff_dim: 64,
        encoder_layers: 2,
        decoder_layers: 2,
        max_positions: 64,
        ..ModelConfig::default()
    }
}

pub fn model(cfg: &ModelConfig, vocab: usize, device: &Device) -> Transformer {
    seeded(device, 11, || cfg.init(vocab, vocab, device).unwrap())
}

/// Reads a Linear's weight `[in, out]` and bias as f64.
pub fn linear_f64(l: &burn::nn::Linear) -> (Vec<f64>, Vec<f64>, usize, usize) {
    let w = l.weight.val();
    let [i, o] = w.dims();
    let w = values(w).into_iter().map(f64::from).collect();
    let b = values(l.bias.as_ref().unwrap().val())
        .into_iter()
        .map(f64::from)
        .collect();
    (w, b, i, o)
}

pub fn project(x: &[f64], rows: usize, l: &burn::nn::Linear) -> Vec<f64> {
    let (w, b, i, o) = linear_f64(l);
    let mut out = vec![0.0; rows * o];
    for r in 0..rows {
        for c in 0..o {
            out[r * o + c] = b[c] + (0..i).map(|k| x[r * i + k] * w[k * o + c]).sum::<f64>();
        }
    }
    out
}
