//! Initialisation as fairseq and PyTorch do it; Burn's defaults (Kaiming) differ, so every
//! parameter here is initialised explicitly.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Distribution, Tensor};

/// A projection with Xavier-uniform weights and a zero bias, drawn now.
///
/// Burn's `Initializer::init_with` draws lazily, at a parameter's first use: the weights would
/// come from whatever the backend's generator holds then (in training, the dropout seed of the
/// first step, interleaved with its dropout masks), and outside the lock of [`crate::seeded`].
/// Drawing here makes a model's weights a function of the seed it was built under alone.
pub fn xavier_linear(d_input: usize, d_output: usize, device: &Device) -> Linear {
    // Xavier-uniform with gain 1: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
    let a = (6.0 / (d_input + d_output) as f64).sqrt();
    let weight = Tensor::<2>::random([d_input, d_output], Distribution::Uniform(-a, a), device);
    let bias = Param::from_tensor(Tensor::zeros([d_output], device));
    Linear {
        weight: Param::from_tensor(weight),
        bias: Some(bias),
    }
}

/// An embedding table drawn from N(0, d^-1/2) with the padding row set to zero.
pub fn embedding_table(rows: usize, d_model: usize, pad: usize, device: &Device) -> Tensor<2> {
    let std = (d_model as f64).powf(-0.5);
    let table = Tensor::<2>::random([rows, d_model], Distribution::Normal(0.0, std), device);
    if pad < rows {
        table.slice_assign(
            [pad..pad + 1, 0..d_model],
            Tensor::zeros([1, d_model], device),
        )
    } else {
        table
    }
}
