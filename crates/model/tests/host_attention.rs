//! `nmt_model::attention_merged` (the decoding-step attention on the CPU) against attention
//! composed from Burn's own ops: one query and a block of queries (a sentence's beams), strided
//! queries, key-padding and per-query masks, a query with every key masked, keys read through a
//! row map (`attention_merged_rows`), and `None` where it does not apply.

use burn::tensor::Int;
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Distribution, Tensor, TensorData};
use nmt_model::{attention_merged, attention_merged_rows, seeded};

/// `softmax(q k^T / sqrt(d) masked) v`, heads merged: `[batch, len_q, heads * d]`.
fn composed(
    q: &Tensor<4>,
    k: &Tensor<4>,
    v: &Tensor<4>,
    mask: Option<&Tensor<4, Bool>>,
) -> Tensor<3> {
    let [batch, heads, len_q, d] = q.dims();
    let len_k = k.dims()[2];
    let mut scores = q
        .clone()
        .matmul(k.clone().swap_dims(2, 3))
        .mul_scalar((d as f64).sqrt().recip());
    if let Some(mask) = mask {
        scores = scores.mask_fill(
            mask.clone().expand([batch, heads, len_q, len_k]),
            f32::NEG_INFINITY,
        );
    }
    softmax(scores, 3)
        .matmul(v.clone())
        .swap_dims(1, 2)
        .reshape([batch, len_q, heads * d])
}

fn values(t: Tensor<3>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn assert_close(a: Tensor<3>, b: Tensor<3>) {
    assert_eq!(a.dims(), b.dims());
    for (i, (x, y)) in values(a).iter().zip(&values(b)).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "element {i}: {x} vs {y}"
        );
    }
}

fn random(dims: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::random(dims, Distribution::Normal(0.0, 1.0), device)
}

fn bools(flags: Vec<bool>, dims: [usize; 4], device: &Device) -> Tensor<4, Bool> {
    Tensor::from_data(TensorData::new(flags, dims), device)
}

#[test]
fn one_query_per_sentence_with_key_padding() {
    let device = Device::flex();
    // 70 sentences: more than one parallel task.
    let (batch, heads, len_k, d) = (70, 4, 9, 64);
    let (q, k, v) = seeded(&device, 3, || {
        // The query as decoding has it: `[batch, 1, heads, d]` seen as `[batch, heads, 1, d]`.
        let q = random([batch, 1, heads, d], &device).swap_dims(1, 2);
        (
            q,
            random([batch, heads, len_k, d], &device),
            random([batch, heads, len_k, d], &device),
        )
    });
    // Sentence b has b % len_k padded keys at the end (never all of them).
    let flags = (0..batch)
        .flat_map(|b| (0..len_k).map(move |j| j >= len_k - b % len_k && b % len_k != 0))
        .collect();
    let mask = bools(flags, [batch, 1, 1, len_k], &device);
    let host = attention_merged(&q, &k, &v, Some(&mask)).expect("the host path on Flex");
    assert_close(host, composed(&q, &k, &v, Some(&mask)));
    let host = attention_merged(&q, &k, &v, None).expect("the host path on Flex");
    assert_close(host, composed(&q, &k, &v, None));
}

#[test]
fn a_block_of_queries_with_a_per_query_mask() {
    let device = Device::flex();
    let (batch, heads, len_q, len_k, d) = (3, 2, 5, 7, 24);
    let (q, k, v, flags) = seeded(&device, 4, || {
        let flags = Tensor::<4>::random(
            [batch, 1, len_q, len_k],
            Distribution::Uniform(0.0, 1.0),
            &device,
        )
        .lower_elem(0.3);
        (
            random([batch, heads, len_q, d], &device),
            random([batch, heads, len_k, d], &device),
            random([batch, heads, len_k, d], &device),
            flags,
        )
    });
    // Key 0 stays visible to every query, so no row of the reference is all -inf.
    let mut flags: Vec<bool> = flags.into_data().iter::<bool>().collect();
    for row in flags.chunks_mut(len_k) {
        row[0] = false;
    }
    let mask = bools(flags, [batch, 1, len_q, len_k], &device);
    let host = attention_merged(&q, &k, &v, Some(&mask)).expect("the host path on Flex");
    assert_close(host, composed(&q, &k, &v, Some(&mask)));
}

#[test]
fn a_query_with_every_key_masked_gets_a_zero_context() {
    let device = Device::flex();
    let (q, k, v) = seeded(&device, 5, || {
        (
            random([2, 2, 1, 8], &device),
            random([2, 2, 3, 8], &device),
            random([2, 2, 3, 8], &device),
        )
    });
    let mask = bools(
        vec![true, true, true, false, true, false],
        [2, 1, 1, 3],
        &device,
    );
    let host = values(attention_merged(&q, &k, &v, Some(&mask)).unwrap());
    assert!(
        host[..16].iter().all(|&x| x == 0.0),
        "sentence 0: {:?}",
        &host[..16]
    );
    let reference = values(composed(&q, &k, &v, Some(&mask)));
    for (x, y) in host[16..].iter().zip(&reference[16..]) {
        assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
    }
}

#[test]
fn stands_aside_under_autodiff_and_for_long_or_empty_query_blocks() {
    let device = Device::flex();
    let long = Tensor::<4>::zeros([1, 1, nmt_model::MAX_DECODE_QUERIES + 1, 4], &device);
    let kv = Tensor::<4>::zeros([1, 1, 3, 4], &device);
    assert!(attention_merged(&long, &kv, &kv, None).is_none());
    // No queries: nothing to split into tasks.
    let empty = Tensor::<4>::zeros([2, 1, 0, 4], &device);
    assert!(
        attention_merged(
            &empty,
            &kv.clone().expand([2, 1, 3, 4]),
            &kv.clone().expand([2, 1, 3, 4]),
            None
        )
        .is_none()
    );
    let device = Device::flex().autodiff();
    let (q, kv) = (
        Tensor::<4>::zeros([1, 1, 1, 4], &device),
        Tensor::<4>::zeros([1, 1, 3, 4], &device),
    );
    assert!(attention_merged(&q, &kv, &kv, None).is_none());
}

#[test]
fn keys_read_through_a_row_map_equal_keys_gathered_first() {
    let device = Device::flex();
    // 12 memory rows; 9 groups of 3 queries (a beam) read some of them, out of order and
    // repeated, as the decoding cache does once sentences have left the batch.
    let (kv_batch, heads, group, len_k, d) = (12, 4, 3, 7, 32);
    let rows = [11, 0, 5, 5, 3, 9, 1, 10, 2];
    let (q, k, v) = seeded(&device, 9, || {
        (
            random([rows.len(), heads, group, d], &device),
            random([kv_batch, heads, len_k, d], &device),
            random([kv_batch, heads, len_k, d], &device),
        )
    });
    // Memory row m has m % 4 padded keys.
    let flags = (0..kv_batch)
        .flat_map(|m| (0..len_k).map(move |j| j >= len_k - m % 4))
        .collect();
    let mask = bools(flags, [kv_batch, 1, 1, len_k], &device);
    let ids: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    let index = Tensor::<1, Int>::from_data(TensorData::new(ids, [rows.len()]), &device);
    let gather4 = |t: &Tensor<4>| t.clone().select(0, index.clone());
    let (k_rows, v_rows) = (gather4(&k), gather4(&v));
    let mask_rows = mask.clone().select(0, index.clone());
    let host = attention_merged_rows(&q, &k, &v, Some(&mask), Some(&rows)).expect("host path");
    assert_close(host, composed(&q, &k_rows, &v_rows, Some(&mask_rows)));
    let host = attention_merged_rows(&q, &k, &v, None, Some(&rows)).unwrap();
    assert_close(host, composed(&q, &k_rows, &v_rows, None));
}
