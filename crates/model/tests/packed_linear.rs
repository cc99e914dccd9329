//! `nmt_model::linear_rows` inside `with_packed_weights` (each weight packed once, products by
//! panel and block of rows) against Burn's `linear`: widths that leave a partial panel and a
//! partial block of rows, one row, a transposed weight, a strided input (which takes the
//! unpacked product), reuse of a packed weight, and a weight made after another was dropped.

use burn::tensor::module::linear;
use burn::tensor::{Device, Distribution, Tensor};
use nmt_model::{linear_rows, seeded, with_packed_weights};

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn assert_close(got: Tensor<2>, want: Tensor<2>, what: &str) {
    assert_eq!(got.dims(), want.dims(), "{what}");
    for (i, (x, y)) in values(got).iter().zip(&values(want)).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "{what}: element {i}: {x} vs {y}"
        );
    }
}

fn random(shape: [usize; 2], seed: u64, device: &Device) -> Tensor<2> {
    seeded(device, seed, || {
        Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), device)
    })
}

#[test]
fn packed_products_equal_burns_linear() {
    let device = Device::flex();
    // rows (1, below one block of 48, several blocks and a partial one) x d_in x d_out (below
    // one panel of 64, a whole one, several and a partial one); large ones run on both threads.
    let shapes = [
        (1, 16, 8),
        (5, 32, 64),
        (47, 24, 100),
        (49, 64, 200),
        (130, 96, 129),
        (300, 256, 512),
    ];
    with_packed_weights(|| {
        for (n, &(rows, d_in, d_out)) in shapes.iter().enumerate() {
            let seed = 10 * n as u64;
            let x = random([rows, d_in], seed, &device);
            let w = random([d_in, d_out], seed + 1, &device);
            let b = seeded(&device, seed + 2, || {
                Tensor::<1>::random([d_out], Distribution::Normal(0.0, 1.0), &device)
            });
            let w_t = random([d_out, d_in], seed + 3, &device).transpose();
            let what = format!("{rows} x {d_in} x {d_out}");
            // Twice each: packed now, then read from the registry.
            for round in 0..2 {
                let what = format!("{what}, round {round}");
                let host = linear_rows(&x, &w, Some(&b)).expect("the host path on Flex");
                assert_close(host, linear(x.clone(), w.clone(), Some(b.clone())), &what);
                let host = linear_rows(&x, &w, None).unwrap();
                assert_close(host, linear(x.clone(), w.clone(), None), &what);
                // The tied output layer's transposed view of the embedding.
                let host = linear_rows(&x, &w_t, Some(&b)).unwrap();
                assert_close(host, linear(x.clone(), w_t.clone(), Some(b.clone())), &what);
            }
            // A strided input takes the unpacked product.
            let x_t = random([d_in, rows], seed + 4, &device).transpose();
            let host = linear_rows(&x_t, &w, Some(&b)).unwrap();
            assert_close(host, linear(x_t.clone(), w.clone(), Some(b.clone())), &what);
        }
    });
}

#[test]
fn a_new_weight_is_never_taken_for_a_dropped_one() {
    // The registry keeps each packed weight's buffer alive, so weights made one after another
    // in the same scope, each dropped after use, never share an address with a packed one.
    let device = Device::flex();
    let x = random([60, 32], 1, &device);
    with_packed_weights(|| {
        for seed in 0..20 {
            let w = random([32, 64], 100 + seed, &device);
            let want = linear(x.clone(), w.clone(), None);
            assert_close(
                linear_rows(&x, &w, None).unwrap(),
                want,
                &format!("weight {seed}"),
            );
        }
    });
}

#[test]
fn scopes_nest_and_end() {
    let device = Device::flex();
    let x = random([70, 40], 7, &device);
    let w = random([40, 90], 8, &device);
    let want = values(linear(x.clone(), w.clone(), None));
    let inside = with_packed_weights(|| {
        let first = values(linear_rows(&x, &w, None).unwrap());
        let nested = with_packed_weights(|| values(linear_rows(&x, &w, None).unwrap()));
        (first, nested)
    });
    assert_eq!(
        inside.0, inside.1,
        "the nested scope reads the outer one's packing"
    );
    let after = values(linear_rows(&x, &w, None).unwrap());
    for (got, want) in [inside.0, after].iter().zip([&want, &want]) {
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()));
        }
    }
}
