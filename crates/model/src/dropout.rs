//! Inverted dropout whose mask is cheap to draw on CPU backends.
//!
//! Burn's `Dropout` samples its Bernoulli mask element by element through a ChaCha RNG on the
//! Flex backend; with dropout on embeddings, residuals, attention weights and activations that
//! took ~40% of a training step (`nmt bench train --dropout 0` vs `0.1`). Here one 64-bit seed
//! is drawn from the device RNG per call (so `device.seed(..)` still makes runs reproducible)
//! and the mask, already scaled by 1/keep, is filled by SplitMix64 on the host, two elements per
//! 64-bit draw. On accelerator backends the mask is sampled on the device, as Burn does, since
//! copying it there would cost more than drawing it.

use burn::module::Module;
use burn::tensor::{Distribution, Tensor, TensorData};

#[derive(Module, Debug)]
pub struct Dropout {
    /// Probability of zeroing an element.
    pub prob: f64,
}

impl Dropout {
    pub fn new(prob: f64) -> Self {
        Self { prob }
    }

    /// Active only on an autodiff device (training); `Module::valid()` turns it off.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let device = x.device();
        if self.prob <= 0.0 || !device.is_autodiff() {
            return x;
        }
        let keep = 1.0 - self.prob;
        if !is_host_cpu(&device) {
            return x.clone()
                * x.random_like(Distribution::Bernoulli(keep))
                    .div_scalar(keep);
        }
        let seed_parts: Vec<f32> = Tensor::<1>::random([2], Distribution::Default, &device)
            .into_data()
            .iter::<f32>()
            .collect();
        let seed = (u64::from(seed_parts[0].to_bits()) << 32) | u64::from(seed_parts[1].to_bits());
        let shape = x.shape();
        let mask = scaled_bernoulli_mask(shape.num_elements(), keep, seed);
        // The mask in x's own dtype: a bf16/f16 activation is masked in that dtype.
        let dtype = x.dtype();
        x * Tensor::from_data(TensorData::new(mask, shape), (&device, dtype))
    }
}

fn is_host_cpu(device: &burn::tensor::Device) -> bool {
    let name = format!("{device:?}");
    name.contains("Flex") || name.contains("NdArray")
}

/// `n` values, each `1/keep` with probability `keep` and 0 otherwise.
pub fn scaled_bernoulli_mask(n: usize, keep: f64, seed: u64) -> Vec<f32> {
    let threshold = (keep * 4_294_967_296.0).min(4_294_967_295.0) as u64;
    let scale = (1.0 / keep) as f32;
    let mut state = seed;
    let mut mask = Vec::with_capacity(n);
    while mask.len() < n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        for half in [z & 0xFFFF_FFFF, z >> 32] {
            if mask.len() < n {
                mask.push(if half < threshold { scale } else { 0.0 });
            }
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_the_right_share_and_scales_it() {
        let mask = scaled_bernoulli_mask(200_000, 0.9, 42);
        let kept = mask.iter().filter(|&&m| m > 0.0).count() as f64 / mask.len() as f64;
        assert!((kept - 0.9).abs() < 0.005, "kept {kept}");
        assert!(
            mask.iter()
                .all(|&m| m == 0.0 || (m - 1.0 / 0.9).abs() < 1e-6)
        );
        let mean = mask.iter().map(|&m| f64::from(m)).sum::<f64>() / mask.len() as f64;
        assert!((mean - 1.0).abs() < 0.01, "expectation {mean}");
        assert_ne!(
            scaled_bernoulli_mask(64, 0.5, 1),
            scaled_bernoulli_mask(64, 0.5, 2)
        );
        assert_eq!(
            scaled_bernoulli_mask(64, 0.5, 1),
            scaled_bernoulli_mask(64, 0.5, 1)
        );
    }

    #[test]
    fn dropout_is_off_outside_training_and_seeded_inside() {
        let plain = burn::tensor::Device::flex();
        let x = Tensor::<2>::ones([4, 8], &plain);
        let d = Dropout::new(0.5);
        assert_eq!(d.forward(x.clone()).into_data(), x.into_data());

        let device = burn::tensor::Device::flex().autodiff();
        let x = Tensor::<2>::ones([16, 16], &device);
        let mask = |x: Tensor<2>| -> Vec<f32> {
            crate::seeded(&device, 3, || d.forward(x).into_data().iter().collect())
        };
        let a = mask(x.clone());
        let b = mask(x);
        assert_eq!(a, b);
        assert!(a.contains(&0.0) && a.contains(&2.0));
    }
}
