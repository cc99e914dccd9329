//! Initialisation as fairseq and PyTorch do it; Burn's defaults (Kaiming) differ, so every
//! parameter here is initialised explicitly.

use burn::module::Param;
use burn::nn::{Initializer, Linear};
use burn::tensor::{Device, Distribution, Tensor};

/// A projection with Xavier-uniform weights and a zero bias.
pub fn xavier_linear(d_input: usize, d_output: usize, device: &Device) -> Linear {
    let weight = Initializer::XavierUniform { gain: 1.0 }.init_with(
        [d_input, d_output],
        Some(d_input),
        Some(d_output),
        device,
    );
    let bias = Param::from_tensor(Tensor::zeros([d_output], device));
    Linear {
        weight,
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
