//! `nmt_model::linear_rows` (the CPU's linear layer with the bias fused into the product) against
//! Burn's `linear`: with and without a bias, a transposed weight (the tied output layer) and a
//! strided input, and `None` where it does not apply (under autodiff, an empty inner or output
//! dimension).

use burn::tensor::module::linear;
use burn::tensor::{Device, Distribution, Tensor};
use nmt_model::{linear_rows, seeded};

fn assert_close(a: Tensor<2>, b: Tensor<2>) {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (
        a.into_data().try_to_vec::<f32>().unwrap(),
        b.into_data().try_to_vec::<f32>().unwrap(),
    );
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "element {i}: {x} vs {y}"
        );
    }
}

#[test]
fn host_linear_equals_burns_linear() {
    let device = Device::flex();
    let normal = Distribution::Normal(0.0, 1.0);
    // 300 x 64 x 200: above the size where the product runs on both threads.
    let (x, w, b, wt, xt) = seeded(&device, 5, || {
        (
            Tensor::<2>::random([300, 64], normal, &device),
            Tensor::<2>::random([64, 200], normal, &device),
            Tensor::<1>::random([200], normal, &device),
            Tensor::<2>::random([200, 64], normal, &device),
            Tensor::<2>::random([64, 7], normal, &device),
        )
    });
    let host = |x: &Tensor<2>, w: &Tensor<2>, b: Option<&Tensor<1>>| {
        linear_rows(x, w, b).expect("the host path on Flex")
    };
    assert_close(
        host(&x, &w, Some(&b)),
        linear(x.clone(), w.clone(), Some(b.clone())),
    );
    assert_close(host(&x, &w, None), linear(x.clone(), w.clone(), None));
    // A transposed weight, read through its strides.
    let w_t = wt.transpose();
    assert_close(
        host(&x, &w_t, Some(&b)),
        linear(x.clone(), w_t.clone(), Some(b.clone())),
    );
    // A strided input (a transposed view), small enough to run on one thread.
    let x_t = xt.transpose();
    assert_close(
        host(&x_t, &w, Some(&b)),
        linear(x_t.clone(), w.clone(), Some(b.clone())),
    );
}

#[test]
fn host_linear_stands_aside_for_an_empty_dimension() {
    // Its output buffer is not zeroed and gemm would write nothing into it.
    let device = Device::flex();
    let x = Tensor::<2>::zeros([3, 0], &device);
    let w = Tensor::<2>::zeros([0, 4], &device);
    assert!(linear_rows(&x, &w, None).is_none());
    // No outputs: the bias fill would split rows of length 0.
    let (x, w, b) = (
        Tensor::<2>::zeros([3, 2], &device),
        Tensor::<2>::zeros([2, 0], &device),
        Tensor::<1>::zeros([0], &device),
    );
    assert!(linear_rows(&x, &w, Some(&b)).is_none());
}

#[test]
fn host_linear_stands_aside_under_autodiff() {
    let device = Device::flex().autodiff();
    let x = Tensor::<2>::ones([2, 3], &device);
    let w = Tensor::<2>::ones([3, 4], &device);
    assert!(linear_rows(&x, &w, None).is_none());
}
