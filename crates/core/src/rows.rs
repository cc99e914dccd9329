//! Vectorizable passes over one row of scores (`&[f32]`): its maximum, `exp` of a score minus
//! that maximum, and their sum. Decoding's log-softmax/top-k and the training loss's
//! softmax both run on them, so the two read logits the same way.
//!
//! The binary is built for baseline x86-64 (SSE2), so each pass is compiled again for AVX-512
//! and for AVX2 and picked at run time ([`with_simd`]): 4x and 2x wider vectors on the
//! machines that have them. The lanes fix the order of every sum, and Rust never fuses a
//! multiply and an add on its own, so all three versions give the same bits.

/// Lanes of the vectorized row passes (AVX-512 holds 16 f32; narrower units take two or four
/// registers).
pub const LANES: usize = 16;

/// The largest value of `values` (NaN ignored: it compares false, so it never raises the
/// maximum), taken in 16 lanes so that the loop vectorizes.
pub fn lane_max(values: &[f32]) -> f32 {
    with_simd(
        #[inline(always)]
        || lane_max_body(values),
    )
}

#[inline(always)]
fn lane_max_body(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut blocks = values.chunks_exact(LANES);
    for block in &mut blocks {
        for (m, &v) in lanes.iter_mut().zip(block) {
            *m = if v > *m { v } else { *m };
        }
    }
    let rest = blocks.remainder().iter();
    lanes
        .iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// `exp(x)` for `x <= 0` (a score minus its row's maximum), to within a few ulp: Cephes'
/// `expf` (range reduction by `ln 2`, a degree-6 polynomial), written without branches or
/// calls so that a loop over it vectorizes. Inputs below -87 count as -87 (`exp(-87)` is
/// 1.6e-38: what such a term adds to a sum of at least 1 is nothing).
#[inline(always)]
pub fn exp_nonpositive(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = if x < -87.0 { -87.0 } else { x };
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n: n is in the low bits of `shifted`, and at least -126 here.
    let pow2 = f32::from_bits(((shifted.to_bits() as i32 - 0x4B40_0000 + 127) << 23) as u32);
    y * pow2
}

/// `sum(exp(x - max))` over `row`, in 16 lanes.
pub fn sum_exp(row: &[f32], max: f32) -> f32 {
    with_simd(
        #[inline(always)]
        || sum_exp_body(row, max),
    )
}

#[inline(always)]
fn sum_exp_body(row: &[f32], max: f32) -> f32 {
    let mut lanes = [0f32; LANES];
    let mut blocks = row.chunks_exact(LANES);
    for block in &mut blocks {
        for (s, &v) in lanes.iter_mut().zip(block) {
            *s += exp_nonpositive(v - max);
        }
    }
    let rest: f32 = blocks
        .remainder()
        .iter()
        .map(|&v| exp_nonpositive(v - max))
        .sum();
    lanes.iter().sum::<f32>() + rest
}

/// Replaces every `x` of `row` by `exp(x - max)` and returns their sum, in 16 lanes.
pub fn exp_in_place(row: &mut [f32], max: f32) -> f32 {
    with_simd(
        #[inline(always)]
        || {
            let mut lanes = [0f32; LANES];
            let mut blocks = row.chunks_exact_mut(LANES);
            for block in &mut blocks {
                for (s, v) in lanes.iter_mut().zip(block.iter_mut()) {
                    *v = exp_nonpositive(*v - max);
                    *s += *v;
                }
            }
            let mut rest = 0f32;
            for v in blocks.into_remainder() {
                *v = exp_nonpositive(*v - max);
                rest += *v;
            }
            lanes.iter().sum::<f32>() + rest
        },
    )
}

/// `sum(row)`, in 16 lanes.
pub fn lane_sum(row: &[f32]) -> f32 {
    with_simd(
        #[inline(always)]
        || lane_sum_body(row),
    )
}

#[inline(always)]
fn lane_sum_body(row: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let mut blocks = row.chunks_exact(LANES);
    for block in &mut blocks {
        for (s, &v) in lanes.iter_mut().zip(block) {
            *s += v;
        }
    }
    lanes.iter().sum::<f32>() + blocks.remainder().iter().sum::<f32>()
}

/// `v = v * mul + add` for every `v` of `values` (a multiply, then an add: never fused).
pub fn scale_add(values: &mut [f32], mul: f32, add: f32) {
    with_simd(
        #[inline(always)]
        || {
            for v in values.iter_mut() {
                *v = *v * mul + add;
            }
        },
    )
}

/// Runs `f` compiled for AVX-512 or AVX2+FMA when this CPU has them (checked once; std caches
/// the answer), else as built. `f` and what it calls must be `#[inline(always)]` to be
/// compiled into the wider version.
#[inline(always)]
pub fn with_simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { with_avx512(f) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_a_few_ulp_of_libm() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let want = f64::from(x).exp();
            let got = f64::from(exp_nonpositive(x));
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(
            worst < 4.0 * f64::from(f32::EPSILON),
            "relative error {worst}"
        );
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn lane_passes_match_plain_folds() {
        // 37 values: two full blocks of 16 and a remainder; NaN never becomes the maximum.
        let row: Vec<f32> = (0..37)
            .map(|i| ((i * 7919) % 101) as f32 / 10.0 - 5.0)
            .collect();
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert_eq!(lane_max(&row), max);
        let mut with_nan = row.clone();
        with_nan[3] = f32::NAN;
        assert_eq!(lane_max(&with_nan), max);
        let plain: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
        assert!((f64::from(sum_exp(&row, max)) - plain).abs() < 1e-5 * plain);
        let mut exps = row.clone();
        assert_eq!(exp_in_place(&mut exps, max), sum_exp(&row, max));
        for (e, &v) in exps.iter().zip(&row) {
            assert!((f64::from(*e) - f64::from(v - max).exp()).abs() < 1e-6);
        }
        let total: f64 = row.iter().map(|&v| f64::from(v)).sum();
        assert!((f64::from(lane_sum(&row)) - total).abs() < 1e-4);
    }
}
