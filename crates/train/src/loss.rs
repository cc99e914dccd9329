//! Label-smoothed cross entropy over the target vocabulary, padding excluded.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};
use nmt_model::PAD_ID;

/// Summed (not averaged) losses of a batch, so micro-batches of accumulation can be weighted by
/// their token counts.
pub struct LossSums {
    /// Label-smoothed loss summed over non-pad target positions: what is optimised.
    pub smoothed: Tensor<1>,
    /// Plain negative log-likelihood summed over the same positions: perplexity comes from it.
    pub nll: Tensor<1>,
}

/// `logits` `[batch, len, vocab]`, `targets` `[batch, len]` (PAD where there is no token).
/// Smoothing follows fairseq: `(1 - eps) * nll + eps * mean_v(-log p_v)`, the uniform part over
/// the whole vocabulary.
pub fn label_smoothed_loss(logits: Tensor<3>, targets: Tensor<2, Int>, smoothing: f64) -> LossSums {
    let [batch, len, vocab] = logits.dims();
    let logp = log_softmax(logits, 2);
    let real = targets.clone().not_equal_elem(PAD_ID as i64).float();
    let nll = logp
        .clone()
        .gather(2, targets.reshape([batch, len, 1]))
        .reshape([batch, len])
        .neg()
        .mul(real.clone());
    let nll_sum = nll.clone().sum();
    let smoothed = if smoothing > 0.0 {
        let uniform = logp
            .sum_dim(2)
            .reshape([batch, len])
            .neg()
            .div_scalar(vocab as f64)
            .mul(real);
        nll.mul_scalar(1.0 - smoothing).sum() + uniform.sum().mul_scalar(smoothing)
    } else {
        nll_sum.clone()
    };
    LossSums {
        smoothed,
        nll: nll_sum,
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
        let sums = label_smoothed_loss(logits, targets, 0.1);
        let z: f64 = [1.0f64, 2.0, 0.5].iter().map(|x| x.exp()).sum();
        let logp: Vec<f64> = [1.0f64, 2.0, 0.5].iter().map(|x| x - z.ln()).collect();
        let nll = -logp[1];
        let want = 0.9 * nll + 0.1 * (-logp.iter().sum::<f64>() / 3.0);
        let got: f32 = sums.smoothed.into_scalar();
        assert!((f64::from(got) - want).abs() < 1e-5, "{got} vs {want}");
        let got_nll: f32 = sums.nll.into_scalar();
        assert!((f64::from(got_nll) - nll).abs() < 1e-5);
    }
}
