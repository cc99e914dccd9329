//! Label-smoothed cross entropy over the target vocabulary, padding excluded.

use burn::tensor::{IndexingUpdateOp, Int, Tensor, TensorData};
use nmt_core::rows::{exp_in_place, lane_max, lane_sum, scale_add, sum_exp};
use nmt_model::PAD_ID;
use rayon::prelude::*;

/// Summed (not averaged) losses of a batch, so micro-batches of accumulation can be weighted by
/// their token counts.
pub struct LossSums {
    /// Label-smoothed loss summed over non-pad target positions: what is optimised.
    pub smoothed: Tensor<1>,
    /// Plain negative log-likelihood summed over the same positions: perplexity comes from it.
    /// Off the autodiff graph.
    pub nll: Tensor<1>,
}

/// `logits` `[batch, len, vocab]`, `targets` `[batch, len]` (PAD where there is no token).
/// Smoothing follows fairseq: `(1 - eps) * nll + eps * mean_v(-log p_v)`, the uniform part over
/// the whole vocabulary.
///
/// The gradient is written in closed form instead of being left to autodiff: with
/// `p = softmax(logits)` it is `real * (p - (1 - eps) * onehot(target) - eps / vocab)` per
/// position. The logits are the largest tensor of a step (batch x len x vocab), and autodiff
/// through a composed log-softmax, gather and sum walks over them once more for each op's
/// backward and for each sum where two branches meet (docs/benchmarks.md: 7-10% faster
/// steps). The loss value is computed off the graph; `surrogate = sum(logits * gradient)`
/// carries the gradient, and `surrogate - detach(surrogate) + value` has the value of the loss
/// and its exact gradient.
///
/// On the host CPU (Flex) the value and the gradient come from one parallel pass over the
/// logits' rows ([`host_loss`]); elsewhere (GPU backends) from tensor ops ([`tensor_loss`]).
pub fn label_smoothed_loss(logits: Tensor<3>, targets: Tensor<2, Int>, smoothing: f64) -> LossSums {
    if nmt_model::is_host_cpu(&logits.device()) {
        host_loss(logits, targets, smoothing)
    } else {
        tensor_loss(logits, targets, smoothing)
    }
}

/// The loss and its closed-form gradient from tensor ops: what accelerators run.
pub fn tensor_loss(logits: Tensor<3>, targets: Tensor<2, Int>, smoothing: f64) -> LossSums {
    let [batch, len, vocab] = logits.dims();
    let targets = targets.reshape([batch, len, 1]);
    let real = targets.clone().not_equal_elem(i64::from(PAD_ID)).float();
    let z = logits.clone().detach();
    let shifted = z.clone() - z.max_dim(2);
    let exp = shifted.clone().exp();
    let sum_exp = exp.clone().sum_dim(2);
    let log_sum_exp = sum_exp.clone().log();
    let nll = (log_sum_exp.clone() - shifted.clone().gather(2, targets.clone())) * real.clone();
    let nll_sum = nll.clone().sum();
    let value = if smoothing > 0.0 {
        // -mean_v(log p_v) = log_sum_exp - mean_v(shifted_v)
        let uniform = (log_sum_exp - shifted.sum_dim(2).div_scalar(vocab as f64)) * real.clone();
        nll.mul_scalar(1.0 - smoothing).sum() + uniform.sum().mul_scalar(smoothing)
    } else {
        nll_sum.clone()
    };
    if !logits.device().is_autodiff() {
        return LossSums {
            smoothed: value,
            nll: nll_sum,
        };
    }
    let mut gradient = exp * (real.clone() / sum_exp);
    if smoothing > 0.0 {
        // Skipped without smoothing: subtracting zeros is one more pass over the logits' size.
        gradient = gradient - real.clone().mul_scalar(smoothing / vocab as f64);
    }
    let gradient = gradient.scatter(
        2,
        targets,
        real.mul_scalar(smoothing - 1.0),
        IndexingUpdateOp::Add,
    );
    let surrogate = (logits * gradient).sum();
    LossSums {
        smoothed: surrogate.clone() - surrogate.detach() + value,
        nll: nll_sum,
    }
}

/// The loss and its closed-form gradient computed on the host, rows in parallel, in the
/// buffer the logits were copied into: per row, its maximum and sum, then `exp` written in
/// place and scaled into the gradient. Flex runs element-wise tensor ops on one thread, and the
/// composed version ([`tensor_loss`]) walks the `[batch, len, vocab]` logits about ten times.
/// Rows are summed in order, so the result does not depend on the thread count.
pub fn host_loss(logits: Tensor<3>, targets: Tensor<2, Int>, smoothing: f64) -> LossSums {
    let device = logits.device();
    let vocab = logits.dims()[2];
    let mut data = nmt_model::host_f32(logits.clone().detach());
    let targets: Vec<i64> = targets.into_data().iter::<i64>().collect();
    let with_gradient = device.is_autodiff();
    let keep = (1.0 - smoothing) as f32;
    let uniform_share = (smoothing / vocab as f64) as f32;
    // (nll, smoothed) of one row; with a gradient to make, the row becomes its gradient (zeros
    // for a padded row, which contributes nothing).
    let row_loss = |row: &mut [f32], target: i64| -> (f64, f64) {
        if target == i64::from(PAD_ID) {
            if with_gradient {
                row.fill(0.0);
            }
            return (0.0, 0.0);
        }
        let target = usize::try_from(target).expect("a token id");
        let max = lane_max(row);
        let mean = f64::from(lane_sum(row)) / vocab as f64;
        let target_score = row[target];
        let sum = if with_gradient {
            let sum = exp_in_place(row, max);
            scale_add(row, 1.0 / sum, -uniform_share);
            row[target] -= keep;
            sum
        } else {
            sum_exp(row, max)
        };
        let ln_sum = f64::from(sum).ln();
        let nll = ln_sum - f64::from(target_score - max);
        let uniform = ln_sum - (mean - f64::from(max));
        (nll, (1.0 - smoothing) * nll + smoothing * uniform)
    };
    let rows: Vec<(f64, f64)> = data
        .as_mut_slice::<f32>()
        .expect("an f32 buffer")
        .par_chunks_mut(vocab)
        .zip(targets.par_iter())
        .map(|(row, &t)| row_loss(row, t))
        .collect();
    let (nll, smoothed) = rows
        .iter()
        .fold((0f64, 0f64), |(a, b), &(n, s)| (a + n, b + s));
    let scalar = |v: f64| Tensor::<1>::from_data(TensorData::new(vec![v as f32], [1]), &device);
    let value = scalar(smoothed);
    let nll = scalar(nll);
    if !with_gradient {
        return LossSums {
            smoothed: value,
            nll,
        };
    }
    let gradient = Tensor::<3>::from_data(data, (&device, logits.dtype()));
    let surrogate = (logits * gradient).sum();
    LossSums {
        smoothed: surrogate.clone() - surrogate.detach() + value,
        nll,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn matches_a_hand_computation_and_ignores_padding() {
        let device = Device::flex();
        let logits = Tensor::<3>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 0.5, 0.0, 3.0, -1.0], [1, 2, 3]),
            &device,
        );
        let targets = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 0], [1, 2]), &device);
        let paths: [LossFn; 3] = [label_smoothed_loss, host_loss, tensor_loss];
        for loss in paths {
            check_hand_computation(loss(logits.clone(), targets.clone(), 0.1));
        }
    }

    type LossFn = fn(Tensor<3>, Tensor<2, Int>, f64) -> LossSums;

    fn check_hand_computation(sums: LossSums) {
        let z: f64 = [1.0f64, 2.0, 0.5].iter().map(|x| x.exp()).sum();
        let logp: Vec<f64> = [1.0f64, 2.0, 0.5].iter().map(|x| x - z.ln()).collect();
        let nll = -logp[1];
        let want = 0.9 * nll + 0.1 * (-logp.iter().sum::<f64>() / 3.0);
        let got: f32 = sums.smoothed.into_scalar();
        assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
        let got_nll: f32 = sums.nll.into_scalar();
        assert!((f64::from(got_nll) - nll).abs() < 1e-5);
    }

    /// The loss as autodiff would see it if written plainly: log-softmax, gather, sum.
    fn plain_smoothed_loss(
        logits: Tensor<3>,
        targets: Tensor<2, Int>,
        smoothing: f64,
    ) -> Tensor<1> {
        let [batch, len, vocab] = logits.dims();
        let logp = burn::tensor::activation::log_softmax(logits, 2);
        let real = targets.clone().not_equal_elem(i64::from(PAD_ID)).float();
        let nll = logp
            .clone()
            .gather(2, targets.reshape([batch, len, 1]))
            .reshape([batch, len])
            .neg()
            .mul(real.clone());
        let uniform = logp
            .sum_dim(2)
            .reshape([batch, len])
            .neg()
            .div_scalar(vocab as f64)
            .mul(real);
        nll.mul_scalar(1.0 - smoothing).sum() + uniform.sum().mul_scalar(smoothing)
    }

    #[test]
    fn closed_form_gradient_matches_autodiff_of_the_plain_loss() {
        let device = Device::flex().autodiff();
        // 37 words: more than one 16-lane block and a remainder.
        let [batch, len, vocab] = [3, 4, 37];
        let logits: Vec<f32> = (0..batch * len * vocab)
            .map(|i| ((i * 37 % 101) as f32 / 101.0 - 0.5) * 8.0)
            .collect();
        // Row 1 ends in two pads, row 2 in one; a target may be any id, PAD_ID included where padded.
        let targets: Vec<i64> = vec![
            5,
            3,
            36,
            4,
            7,
            2,
            i64::from(PAD_ID),
            i64::from(PAD_ID),
            9,
            6,
            8,
            i64::from(PAD_ID),
        ];
        let make = || {
            Tensor::<3>::from_data(
                TensorData::new(logits.clone(), [batch, len, vocab]),
                &device,
            )
            .require_grad()
        };
        let tgt = Tensor::<2, Int>::from_data(TensorData::new(targets, [batch, len]), &device);
        let paths: [(&str, LossFn); 2] = [("host", host_loss), ("tensor", tensor_loss)];
        for ((path, loss), smoothing) in paths
            .into_iter()
            .flat_map(|p| [0.0, 0.1, 0.3].map(|eps| (p, eps)))
        {
            let (ours, plain) = (make(), make());
            let sums = loss(ours.clone(), tgt.clone(), smoothing);
            let want = plain_smoothed_loss(plain.clone(), tgt.clone(), smoothing);
            let (v, w): (f32, f32) = (
                sums.smoothed.clone().into_scalar(),
                want.clone().into_scalar(),
            );
            assert!(
                (v - w).abs() < 1e-4 * w.abs(),
                "{path}: loss {v} vs {w} (eps {smoothing})"
            );
            let g: Vec<f32> = ours
                .grad(&sums.smoothed.backward())
                .unwrap()
                .into_data()
                .iter()
                .collect();
            let h: Vec<f32> = plain
                .grad(&want.backward())
                .unwrap()
                .into_data()
                .iter()
                .collect();
            for (i, (a, b)) in g.iter().zip(&h).enumerate() {
                assert!(
                    (a - b).abs() < 1e-6,
                    "{path}: gradient {i}: {a} vs {b} (eps {smoothing})"
                );
            }
            // Padded positions get no gradient at all.
            assert!(
                g[(len + 2) * vocab..(len + 4) * vocab]
                    .iter()
                    .all(|&x| x == 0.0)
            );
            assert!(h.iter().any(|&x| x.abs() > 1e-3));
        }
    }
}
