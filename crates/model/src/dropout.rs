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

use crate::host::is_host_cpu;

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

/// Elements per parallel chunk of the mask: even, so a chunk starts on a whole 64-bit draw.
const MASK_CHUNK: usize = 1 << 16;

/// `n` values, each `1/keep` with probability `keep` and 0 otherwise.
///
/// SplitMix64 is counter-based: draw `k` is a function of `seed + (k + 1) * GOLDEN` alone, so
/// the mask is filled in parallel chunks (rayon) with exactly the values one sequential pass
/// would give, whatever the thread count. A sequential fill was ~10% of the serial part of a
/// training step at the default shape (perf, docs/benchmarks.md).
pub fn scaled_bernoulli_mask(n: usize, keep: f64, seed: u64) -> Vec<f32> {
    use rayon::prelude::*;
    let threshold = (keep * 4_294_967_296.0).min(4_294_967_295.0) as u64;
    let scale = (1.0 / keep) as f32;
    let mut mask = vec![0.0f32; n];
    let fill = |(chunk_index, chunk): (usize, &mut [f32])| {
        let first_draw = (chunk_index * MASK_CHUNK / 2) as u64;
        for (pair_index, pair) in chunk.chunks_mut(2).enumerate() {
            let z = splitmix64(seed, first_draw + pair_index as u64);
            for (slot, half) in pair.iter_mut().zip([z & 0xFFFF_FFFF, z >> 32]) {
                *slot = if half < threshold { scale } else { 0.0 };
            }
        }
    };
    if n >= 2 * MASK_CHUNK {
        mask.par_chunks_mut(MASK_CHUNK).enumerate().for_each(fill);
    } else {
        mask.chunks_mut(MASK_CHUNK).enumerate().for_each(fill);
    }
    mask
}

/// Output number `draw` (from 0) of a SplitMix64 generator started at `seed`.
#[inline]
fn splitmix64(seed: u64, draw: u64) -> u64 {
    let mut z = seed.wrapping_add((draw + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sequential generator the chunked fill must reproduce value for value.
    fn sequential_mask(n: usize, keep: f64, seed: u64) -> Vec<f32> {
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

    #[test]
    fn parallel_chunks_give_the_sequential_values() {
        // Sizes below, at and across the parallel threshold and chunk edges, odd ones included.
        for n in [1, 7, MASK_CHUNK - 1, 2 * MASK_CHUNK, 5 * MASK_CHUNK + 3] {
            let got = scaled_bernoulli_mask(n, 0.9, 0xDEAD_BEEF);
            let want = sequential_mask(n, 0.9, 0xDEAD_BEEF);
            assert_eq!(got.len(), n);
            assert!(
                got == want,
                "n = {n}: chunked mask differs from the sequential one"
            );
        }
    }

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
