//! LayerNorm and the last-dimension softmax as autodiff operations of their own on the Flex CPU
//! backend: Flex's fused, row-parallel forward kernel, and a backward that is one row-parallel
//! pass.
//!
//! Why: under autodiff Burn builds both from element-wise ops (LayerNorm's forward is mean,
//! subtract, square, mean, add, sqrt, divide, scale and shift, with about fifteen more ops in its
//! backward; softmax is max, subtract, exp, sum and divide), and Flex runs element-wise ops on one
//! thread, so a training step spent a large share of its time in them while the second core
//! waited. Flex already has fused kernels for both forwards; Burn's autodiff does not use them.
//!
//! Every other case (another backend, another dtype, inference) takes Burn's own op, which on
//! Flex without autodiff is the same fused forward kernel, so training and decoding compute the
//! same values.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ActivationOps, ModuleOps};
use burn::backend::{Autodiff, Flex};
use burn::nn::LayerNorm;
use burn::tensor::activation::softmax;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

type FlexAd = Autodiff<Flex, NoCheckpointing>;
type AdTensor = <FlexAd as burn::backend::BackendTypes>::FloatTensorPrimitive;

/// Rows handed to one rayon task: enough work to amortise the task, few enough partial sums.
const ROWS_PER_TASK: usize = 32;

/// `norm.forward(x)`, with the fused backward on Flex under autodiff. `eps` must be the one the
/// module was built with (Burn keeps it private).
pub fn layer_norm<const D: usize>(norm: &LayerNorm, x: Tensor<D>, eps: f64) -> Tensor<D> {
    let gamma = norm.gamma.val();
    let Some(beta) = norm.beta.as_ref().map(|b| b.val()) else {
        return norm.forward(x);
    };
    let (Some(x), Some(gamma), Some(beta)) = (
        flex_autodiff(&x),
        flex_autodiff(&gamma),
        flex_autodiff(&beta),
    ) else {
        return norm.forward(x);
    };
    let out = match LayerNormBackward
        .prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (x, gamma, beta) = (
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
            );
            let y = Flex::layer_norm(x.clone(), gamma.clone(), Some(beta), eps);
            prep.finish((x, gamma, eps), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(Flex::layer_norm(
            x.into_primitive(),
            gamma.into_primitive(),
            Some(beta.into_primitive()),
            eps,
        )),
    };
    Tensor::from_primitive::<FlexAd>(out)
}

/// `softmax(x, D - 1)`, with the fused backward on Flex under autodiff.
pub fn softmax_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let Some(x) = flex_autodiff(&x) else {
        return softmax(x, D - 1);
    };
    let out = match SoftmaxBackward
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let y = Flex::softmax(x.into_primitive(), D - 1);
            prep.finish(y.clone(), y)
        }
        OpsKind::UnTracked(prep) => prep.finish(Flex::softmax(x.into_primitive(), D - 1)),
    };
    Tensor::from_primitive::<FlexAd>(out)
}

/// `t`'s autodiff primitive when it is an f32 tensor of Flex under autodiff, else `None` (NdArray
/// counts as a host CPU too, but is not Flex).
fn flex_autodiff<const D: usize>(t: &Tensor<D>) -> Option<AdTensor> {
    let device = t.device();
    if !(device.is_autodiff() && crate::host::is_host_cpu(&device) && t.dtype() == DType::F32) {
        return None;
    }
    t.clone().try_into_primitive::<FlexAd>().ok()
}

/// A contiguous f32 view of a Flex tensor, copying only when it is strided.
fn rows_of(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().unwrap().to_vec()),
    }
}

fn flex_f32(values: Vec<f32>, shape: burn::tensor::Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    /// The input, gamma and epsilon; the row statistics are recomputed (one pass over a row
    /// that is about to be read anyway).
    type State = (FlexTensor, FlexTensor, f64);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let (x, gamma, eps) = ops.state;
        let shape = x.layout().shape().clone();
        let (dx, dgamma, dbeta) =
            layer_norm_backward(&rows_of(&x), &rows_of(&gamma), &rows_of(&grad), eps as f32);
        let d = dgamma.len();
        let [node_x, node_gamma, node_beta] = ops.parents;
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex_f32(dx, shape));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex_f32(dgamma, [d].into()));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex_f32(dbeta, [d].into()));
        }
    }
}

#[derive(Debug)]
struct SoftmaxBackward;

impl Backward<Flex, 1> for SoftmaxBackward {
    /// The softmax's output.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let y = ops.state;
        let [node_x] = ops.parents;
        if let Some(node) = node_x {
            let shape = y.layout().shape().clone();
            let last = shape[shape.num_dims() - 1];
            let dx = softmax_backward(&rows_of(&y), &rows_of(&grad), last);
            grads.register::<Flex>(node.id, flex_f32(dx, shape));
        }
    }
}

/// The gradients of `y = (x - mean) / sqrt(var + eps) * gamma + beta` over rows of `x`, given
/// `g = dL/dy`: `dx = rstd * (g' - mean(g') - x_hat * mean(g' * x_hat))` with `g' = g * gamma`,
/// `dgamma = sum over rows of g * x_hat`, `dbeta = sum over rows of g`. Row blocks run in
/// parallel; their partial sums for gamma and beta are added in block order, so the result does
/// not depend on scheduling.
pub fn layer_norm_backward(
    x: &[f32],
    gamma: &[f32],
    g: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = gamma.len();
    assert!(d > 0 && x.len().is_multiple_of(d) && g.len() == x.len());
    let mut dx = vec![0f32; x.len()];
    let block = ROWS_PER_TASK * d;
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(block)
        .zip(x.par_chunks(block).zip(g.par_chunks(block)))
        .map(|(dx, (x, g))| {
            let (mut dgamma, mut dbeta) = (vec![0f32; d], vec![0f32; d]);
            let mut x_hat = vec![0f32; d];
            for ((dx, x), g) in dx.chunks_mut(d).zip(x.chunks(d)).zip(g.chunks(d)) {
                let n = d as f32;
                let mean = x.iter().sum::<f32>() / n;
                let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
                let rstd = 1.0 / (var + eps).sqrt();
                let (mut sum_g, mut sum_gx) = (0f32, 0f32);
                for i in 0..d {
                    x_hat[i] = (x[i] - mean) * rstd;
                    let gg = g[i] * gamma[i];
                    sum_g += gg;
                    sum_gx += gg * x_hat[i];
                    dgamma[i] += g[i] * x_hat[i];
                    dbeta[i] += g[i];
                }
                let (mean_g, mean_gx) = (sum_g / n, sum_gx / n);
                for i in 0..d {
                    dx[i] = rstd * (g[i] * gamma[i] - mean_g - x_hat[i] * mean_gx);
                }
            }
            (dgamma, dbeta)
        })
        .collect();
    let (mut dgamma, mut dbeta) = (vec![0f32; d], vec![0f32; d]);
    for (pg, pb) in &partials {
        for i in 0..d {
            dgamma[i] += pg[i];
            dbeta[i] += pb[i];
        }
    }
    (dx, dgamma, dbeta)
}

/// The gradient of `y = softmax(x)` over rows of length `last`, given `g = dL/dy`:
/// `dx = y * (g - sum(g * y))`, row blocks in parallel.
pub fn softmax_backward(y: &[f32], g: &[f32], last: usize) -> Vec<f32> {
    assert!(last > 0 && y.len().is_multiple_of(last) && g.len() == y.len());
    let mut dx = vec![0f32; y.len()];
    let block = ROWS_PER_TASK * last;
    dx.par_chunks_mut(block)
        .zip(y.par_chunks(block).zip(g.par_chunks(block)))
        .for_each(|(dx, (y, g))| {
            for ((dx, y), g) in dx.chunks_mut(last).zip(y.chunks(last)).zip(g.chunks(last)) {
                let dot: f32 = y.iter().zip(g).map(|(y, g)| y * g).sum();
                for i in 0..last {
                    dx[i] = y[i] * (g[i] - dot);
                }
            }
        });
    dx
}
