//! `nmt_model::StepKv` (the CPU's block-per-position self-attention cache) against a cache kept
//! as tensors with Burn's ops (rows gathered with `select`, positions appended with `cat`) and
//! attention composed from Burn's ops: rows reordered, repeated and dropped between steps, as
//! beam search and greedy decoding do.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use nmt_model::{StepKv, seeded};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn assert_close<const D: usize>(a: Tensor<D>, b: Tensor<D>, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}");
    for (i, (x, y)) in values(a).iter().zip(&values(b)).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "{what}: element {i}: {x} vs {y}"
        );
    }
}

/// `softmax(q k^T / sqrt(d)) v` with heads merged: `[rows, 1, heads * d]`.
fn composed(q: &Tensor<4>, k: &Tensor<4>, v: &Tensor<4>) -> Tensor<3> {
    let [rows, heads, _, d] = q.dims();
    let scores = q
        .clone()
        .matmul(k.clone().swap_dims(2, 3))
        .mul_scalar((d as f64).sqrt().recip());
    softmax(scores, 3)
        .matmul(v.clone())
        .swap_dims(1, 2)
        .reshape([rows, 1, heads * d])
}

fn pick(t: Tensor<4>, rows: &[usize]) -> Tensor<4> {
    let ids: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    let device = t.device();
    t.select(
        0,
        Tensor::<1, Int>::from_data(TensorData::new(ids, [rows.len()]), &device),
    )
}

/// `[rows, heads, 1, d]` laid out as a projection leaves it: `[rows, 1, heads, d]` seen with
/// heads and positions swapped.
fn position(rows: usize, heads: usize, d: usize, device: &Device) -> Tensor<4> {
    Tensor::<4>::random([rows, 1, heads, d], Distribution::Normal(0.0, 1.0), device).swap_dims(1, 2)
}

#[test]
fn block_cache_equals_a_gathered_and_appended_tensor_cache() {
    let device = Device::flex();
    let (heads, d) = (4, 16);
    // Row maps between steps: None keeps the rows; beams reorder and repeat; finished rows drop.
    let maps: Vec<Option<Vec<usize>>> = vec![
        None,
        Some(vec![0, 0, 2, 1, 3, 3]),
        Some(vec![5, 1, 1, 0, 2, 4]),
        None,
        Some(vec![3, 0, 4]),
        Some(vec![2, 2, 0, 1]),
        Some(vec![1, 3]),
    ];
    seeded(&device, 21, || {
        let (k0, v0) = (
            position(4, heads, d, &device),
            position(4, heads, d, &device),
        );
        let mut steps = StepKv::start(&k0, &v0).expect("Flex f32");
        let (mut k_ref, mut v_ref) = (k0, v0);
        let q = position(4, heads, d, &device);
        assert_close(
            steps.attend(&q).unwrap(),
            composed(&q, &k_ref, &v_ref),
            "step 0",
        );
        for (n, map) in maps.iter().enumerate() {
            let rows = map.as_ref().map_or(steps.rows(), Vec::len);
            let (k, v) = (
                position(rows, heads, d, &device),
                position(rows, heads, d, &device),
            );
            if let Some(map) = map {
                k_ref = pick(k_ref, map);
                v_ref = pick(v_ref, map);
            }
            k_ref = Tensor::cat(vec![k_ref, k.clone()], 2);
            v_ref = Tensor::cat(vec![v_ref, v.clone()], 2);
            assert!(steps.append(&k, &v, map.as_deref()), "Flex f32");
            assert_eq!((steps.rows(), steps.positions()), (rows, n + 2));
            let what = format!("step {}", n + 1);
            let q = position(rows, heads, d, &device);
            assert_close(
                steps.attend(&q).unwrap(),
                composed(&q, &k_ref, &v_ref),
                &what,
            );
            let (k_all, v_all) = steps.to_tensors();
            assert_close(k_all, k_ref.clone(), &what);
            assert_close(v_all, v_ref.clone(), &what);
        }
    });
}

#[test]
fn blocks_it_cannot_read_in_place_are_refused_and_the_cache_kept() {
    let device = Device::flex();
    let (k, v) = (position(3, 2, 8, &device), position(3, 2, 8, &device));
    let mut steps = StepKv::start(&k, &v).unwrap();
    // Autodiff tensors are not read in place.
    let graph = Device::flex().autodiff();
    let (ka, va) = (position(3, 2, 8, &graph), position(3, 2, 8, &graph));
    assert!(StepKv::start(&ka, &va).is_none());
    assert!(!steps.append(&ka, &va, None), "refused");
    assert_eq!((steps.rows(), steps.positions()), (3, 1));
    let (k_all, _) = steps.to_tensors();
    assert_eq!(values(k_all), values(k));
}
