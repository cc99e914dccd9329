//! The fused LayerNorm and softmax (`nmt_model::layer_norm`, `softmax_last`) against Burn's own
//! composition of the same functions: forward values and the gradients autodiff gives for the
//! input and the parameters, on the Flex backend with autodiff (where the fused backward runs)
//! and without (where Burn's op runs). Each comparison fails if a term of the backward is wrong.

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Distribution, Tensor};
use nmt_model::{layer_norm, seeded, softmax_last};

const EPS: f64 = 1e-5;

fn assert_close(what: &str, a: Tensor<1>, b: Tensor<1>, tol: f32) {
    let (a, b) = (
        a.to_data().try_to_vec::<f32>().unwrap(),
        b.to_data().try_to_vec::<f32>().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0f32, f32::max);
    assert!(worst <= tol, "{what}: largest difference {worst} > {tol}");
}

/// A LayerNorm whose gamma and beta are not the identity, so their gradients and their part in
/// the input's gradient are exercised.
fn norm(d: usize, device: &Device) -> LayerNorm {
    let mut norm = LayerNormConfig::new(d).with_epsilon(EPS).init(device);
    norm.gamma = Param::from_tensor(Tensor::random([d], Distribution::Uniform(0.5, 1.5), device));
    norm.beta = Some(Param::from_tensor(Tensor::random(
        [d],
        Distribution::Normal(0.0, 0.5),
        device,
    )));
    norm
}

#[test]
fn fused_layer_norm_matches_burns_values_and_gradients() {
    let device = Device::flex().autodiff();
    // 70 rows: more than one block of rows, and a partial last block.
    let (norm, x, w) = seeded(&device, 7, || {
        (
            norm(24, &device),
            Tensor::<3>::random([5, 14, 24], Distribution::Normal(0.3, 2.0), &device),
            Tensor::<3>::random([5, 14, 24], Distribution::Normal(0.0, 1.0), &device),
        )
    });
    let run = |fused: bool| {
        let x = x.clone().require_grad();
        let y = if fused {
            layer_norm(&norm, x.clone(), EPS)
        } else {
            norm.forward(x.clone())
        };
        // A loss whose gradient with respect to y is w, not a constant.
        let grads = (y.clone() * w.clone()).sum().backward();
        let gamma = norm.gamma.val();
        let beta = norm.beta.as_ref().unwrap().val();
        (
            y.flatten::<1>(0, 2),
            x.grad(&grads).unwrap().flatten::<1>(0, 2),
            gamma.grad(&grads).unwrap(),
            beta.grad(&grads).unwrap(),
        )
    };
    let (y_f, dx_f, dg_f, db_f) = run(true);
    let (y_b, dx_b, dg_b, db_b) = run(false);
    assert_close("y", y_f.inner(), y_b.inner(), 1e-5);
    assert_close("dx", dx_f, dx_b, 1e-4);
    assert_close("dgamma", dg_f, dg_b, 1e-4);
    assert_close("dbeta", db_f, db_b, 1e-5);
}

#[test]
fn fused_softmax_matches_burns_values_and_gradients_with_masked_scores() {
    let device = Device::flex().autodiff();
    let (x, w) = seeded(&device, 11, || {
        (
            Tensor::<4>::random([3, 2, 9, 11], Distribution::Normal(0.0, 3.0), &device),
            Tensor::<4>::random([3, 2, 9, 11], Distribution::Normal(0.0, 1.0), &device),
        )
    });
    // Masked scores as attention writes them: a finite, very negative value.
    let mask = Tensor::<4>::random([3, 2, 9, 11], Distribution::Uniform(0.0, 1.0), &device)
        .lower_elem(0.25);
    let x = x.mask_fill(mask, -1.0e4);
    let run = |fused: bool| {
        let x = x.clone().require_grad();
        let y = if fused {
            softmax_last(x.clone())
        } else {
            softmax(x.clone(), 3)
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        (
            y.flatten::<1>(0, 3),
            x.grad(&grads).unwrap().flatten::<1>(0, 3),
        )
    };
    let (y_f, dx_f) = run(true);
    let (y_b, dx_b) = run(false);
    assert_close("y", y_f.inner(), y_b.inner(), 1e-6);
    assert_close("dx", dx_f, dx_b, 1e-5);
}

#[test]
fn without_autodiff_the_fused_ops_are_burns() {
    let device = Device::flex();
    let (norm, x) = seeded(&device, 3, || {
        (
            norm(16, &device),
            Tensor::<2>::random([6, 16], Distribution::Normal(0.0, 1.0), &device),
        )
    });
    let same = |a: Tensor<2>, b: Tensor<2>| a.into_data().assert_eq(&b.into_data(), true);
    same(layer_norm(&norm, x.clone(), EPS), norm.forward(x.clone()));
    same(softmax_last(x.clone()), softmax(x, 1));
}

/// The kernels on their own, against the formulas in f64 on one row.
#[test]
fn layer_norm_backward_kernel_matches_f64_formula() {
    let d = 8;
    let x: Vec<f32> = (0..d).map(|i| (i as f32 * 0.7).sin() * 3.0 + 1.0).collect();
    let gamma: Vec<f32> = (0..d).map(|i| 0.5 + i as f32 * 0.1).collect();
    let g: Vec<f32> = (0..d).map(|i| (i as f32 * 1.3).cos()).collect();
    let (dx, dgamma, dbeta) = nmt_model::layer_norm_backward(&x, &gamma, &g, EPS as f32);
    // Finite differences of sum(g * layer_norm(x)) in f64.
    let f = |x: &[f64]| {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        x.iter()
            .enumerate()
            .map(|(i, v)| g[i] as f64 * ((v - mean) / (var + EPS).sqrt() * gamma[i] as f64))
            .sum::<f64>()
    };
    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    for i in 0..d {
        let h = 1e-6;
        let (mut up, mut down) = (x64.clone(), x64.clone());
        up[i] += h;
        down[i] -= h;
        let numeric = (f(&up) - f(&down)) / (2.0 * h);
        assert!(
            (numeric - dx[i] as f64).abs() < 1e-4,
            "dx[{i}]: {} vs {numeric}",
            dx[i]
        );
    }
    let n = d as f64;
    let mean = x64.iter().sum::<f64>() / n;
    let rstd = 1.0 / (x64.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n + EPS).sqrt();
    for i in 0..d {
        let x_hat = (x64[i] - mean) * rstd;
        assert!((dgamma[i] as f64 - g[i] as f64 * x_hat).abs() < 1e-5);
        assert_eq!(dbeta[i], g[i]);
    }
}
