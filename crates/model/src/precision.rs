//! Mixed precision by hand (Burn 0.22 has no autocast): the weights stay f32 (the optimizer's
//! master copy) and are cast to the compute dtype where they are used; matrix products run in
//! that dtype; what needs range or accumulation (the residual stream, layer norm, softmax, the
//! loss) stays f32, as PyTorch's autocast does. Casts are differentiable, so gradients arrive
//! at the f32 weights as f32.

use burn::nn::Linear;
use burn::tensor::module::linear;
use burn::tensor::{FloatDType, Tensor};
use serde::{Deserialize, Serialize};

/// The dtype of the matrix products: `f32` (default), `bf16` or `f16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Precision {
    pub fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::Bf16 => FloatDType::BF16,
            Precision::F16 => FloatDType::F16,
        }
    }

    /// `x` in the compute dtype (no copy when it already is).
    pub fn compute<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        x.cast(self.dtype())
    }

    /// `x` in f32 (no copy when it already is).
    pub fn full<const D: usize>(x: Tensor<D>) -> Tensor<D> {
        x.cast(FloatDType::F32)
    }

    /// `x W + b` in the compute dtype, with `x` cast to it and the f32 `W`, `b` cast on use.
    pub fn project<const D: usize>(self, layer: &Linear, x: Tensor<D>) -> Tensor<D> {
        let (weight, bias) = (layer.weight.val(), layer.bias.as_ref().map(|b| b.val()));
        if self == Precision::F32 {
            return folded_linear(x, weight, bias);
        }
        let dtype = self.dtype();
        folded_linear(
            x.cast(dtype),
            weight.cast(dtype),
            bias.map(|b| b.cast(dtype)),
        )
    }
}

/// `x W + b` over the last dimension, with `x` folded to `[rows, d_in]` first. Burn's `linear`
/// on a 3-D input multiplies by the weight broadcast over the batch, and under autodiff the
/// weight's gradient is then one `[d_in, d_out]` matrix per batch row, summed afterwards: at
/// batch 32 that is 32 weight-sized temporaries per layer per step, and 2 GB for a 32000-word
/// output layer (found with gdb on the 2 GB `mmap`s of a Transformer-base step). Folded, the
/// forward is one matrix product and so is the weight's gradient. Off the autodiff graph on the
/// CPU (decoding, validation), [`crate::host::linear_rows`] computes it with the bias fused.
pub fn folded_linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    let dims = x.dims();
    let d_in = dims[D - 1];
    let rows = dims[..D - 1].iter().product();
    let x: Tensor<2> = x.reshape([rows, d_in]);
    let y = crate::host::linear_rows(&x, &weight, bias.as_ref())
        .unwrap_or_else(|| linear(x, weight, bias));
    let mut out = dims;
    out[D - 1] = y.dims()[1];
    y.reshape(out)
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "f16" => Ok(Precision::F16),
            other => Err(format!(
                "unknown precision {other:?}: expected f32, bf16 or f16"
            )),
        }
    }
}
