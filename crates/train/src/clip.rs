//! Global-norm gradient clipping over all parameters, as `torch.nn.utils.clip_grad_norm_` does.
//! Burn's own clipping works per tensor, which changes the update's direction; this keeps it.

use burn::module::{Module, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Every float parameter's id and rank, in visiting order.
fn param_ids<M: Module>(model: &M) -> Vec<(ParamId, usize)> {
    nmt_model::parameters(model)
        .into_iter()
        .map(|p| (p.id, p.dims.len()))
        .collect()
}

fn squared_norm<const D: usize>(grads: &GradientsParams, id: ParamId) -> Option<Tensor<1>> {
    // g * g: one multiply per element, where powf calls pow.
    grads.get::<D>(id).map(|g| (g.clone() * g).sum())
}

fn scale<const D: usize>(grads: &mut GradientsParams, id: ParamId, factor: f64) {
    if let Some(g) = grads.remove::<D>(id) {
        grads.register::<D>(id, g.mul_scalar(factor));
    }
}

/// Returns the global L2 norm of all gradients (before clipping) and, when it exceeds
/// `max_norm > 0`, scales every gradient by `max_norm / norm`. One host read per step.
pub fn clip_global_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    unscale_and_clip(model, grads, 1.0, max_norm)
}

/// [`clip_global_norm`] for gradients of a loss multiplied by a loss scale: they are scaled
/// by `inv_scale` (1 / loss scale) and clipped in the same pass. Returns the norm of the
/// unscaled gradients; when it is not finite nothing is changed (the caller skips the step).
pub fn unscale_and_clip<M: Module>(
    model: &M,
    grads: &mut GradientsParams,
    inv_scale: f64,
    max_norm: f64,
) -> f64 {
    let ids = param_ids(model);
    let mut total: Option<Tensor<1>> = None;
    for &(id, rank) in &ids {
        let sq = match rank {
            1 => squared_norm::<1>(grads, id),
            2 => squared_norm::<2>(grads, id),
            3 => squared_norm::<3>(grads, id),
            4 => squared_norm::<4>(grads, id),
            _ => None,
        };
        if let Some(sq) = sq {
            total = Some(match total {
                Some(t) => t + sq,
                None => sq,
            });
        }
    }
    let norm = total
        .map(|t| f64::from(t.into_scalar::<f32>()).sqrt() * inv_scale)
        .unwrap_or(0.0);
    if !norm.is_finite() {
        return norm;
    }
    let clip = if max_norm > 0.0 && norm > max_norm {
        max_norm / (norm + 1e-6)
    } else {
        1.0
    };
    let factor = clip * inv_scale;
    if factor != 1.0 {
        for &(id, rank) in &ids {
            match rank {
                1 => scale::<1>(grads, id, factor),
                2 => scale::<2>(grads, id, factor),
                3 => scale::<3>(grads, id, factor),
                4 => scale::<4>(grads, id, factor),
                _ => {}
            }
        }
    }
    norm
}
