//! Attention and the whole model as functions: naive f64 references, masks, causality,
//! padding and the incremental-decoding cache. Each property fails if it breaks.

use burn::tensor::{Bool, Device, Distribution, Int, Tensor, TensorData};
use nmt_model::{
    CausalSelfAttention, ModelConfig, MultiHeadAttention, MultiHeadAttentionConfig, NormPosition,
    PositionKind, seeded,
};

mod common;
use common::*;
use nmt_testkit::ids;

/// softmax(QK^T/sqrt(d))V with explicit loops over batch and heads, in f64.
fn naive_attention(
    att: &MultiHeadAttention,
    q_in: &[f64],
    kv_in: &[f64],
    batch: usize,
    lq: usize,
    lk: usize,
    masked: &dyn Fn(usize, usize, usize) -> bool,
) -> (Vec<f64>, Vec<f64>) {
    let d = att.heads * att.d_head;
    let q = project(q_in, batch * lq, &att.query);
    let k = project(kv_in, batch * lk, &att.key);
    let v = project(kv_in, batch * lk, &att.value);
    let mut ctx = vec![0.0; batch * lq * d];
    let mut weights = vec![0.0; batch * att.heads * lq * lk];
    for b in 0..batch {
        for h in 0..att.heads {
            for i in 0..lq {
                let mut scores: Vec<f64> = (0..lk)
                    .map(|j| {
                        if masked(b, i, j) {
                            return f64::NEG_INFINITY;
                        }
                        (0..att.d_head)
                            .map(|e| {
                                q[(b * lq + i) * d + h * att.d_head + e]
                                    * k[(b * lk + j) * d + h * att.d_head + e]
                            })
                            .sum::<f64>()
                            / (att.d_head as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = scores
                    .iter_mut()
                    .map(|s| {
                        *s = (*s - max).exp();
                        *s
                    })
                    .sum();
                for j in 0..lk {
                    let w = scores[j] / sum;
                    weights[((b * att.heads + h) * lq + i) * lk + j] = w;
                    for e in 0..att.d_head {
                        ctx[(b * lq + i) * d + h * att.d_head + e] +=
                            w * v[(b * lk + j) * d + h * att.d_head + e];
                    }
                }
            }
        }
    }
    (project(&ctx, batch * lq, &att.output), weights)
}

#[test]
fn attention_matches_naive_f64_with_and_without_masks() {
    let device = Device::flex();
    let (batch, lq, lk) = (2, 5, 7);
    let (att, q, kv) = seeded(&device, 3, || {
        let att = MultiHeadAttentionConfig {
            d_model: 16,
            heads: 4,
            dropout: 0.0,
        }
        .init(&device);
        let q = Tensor::<3>::random([batch, lq, 16], Distribution::Normal(0.0, 1.0), &device);
        let kv = Tensor::<3>::random([batch, lk, 16], Distribution::Normal(0.0, 1.0), &device);
        (att, q, kv)
    });
    let q64: Vec<f64> = values(q.clone()).into_iter().map(f64::from).collect();
    let kv64: Vec<f64> = values(kv.clone()).into_iter().map(f64::from).collect();
    // Row 0 has 7 real keys, row 1 has 4 (the last 3 padded).
    let pad = Tensor::<2, Bool>::from_data(
        TensorData::new(
            (0..batch * lk)
                .map(|i| i / lk == 1 && i % lk >= 4)
                .collect::<Vec<_>>(),
            [batch, lk],
        ),
        &device,
    );
    for use_mask in [false, true] {
        let mask = use_mask.then(|| pad.clone().reshape([batch, 1, 1, lk]));
        let masked = |b: usize, _i: usize, j: usize| use_mask && b == 1 && j >= 4;
        let (want_ctx, want_w) = naive_attention(&att, &q64, &kv64, batch, lq, lk, &masked);
        // Explicit path (returns weights) and fused path (inference, no weights) both agree.
        for need_weights in [true, false] {
            let out = att.forward(q.clone(), kv.clone(), mask.clone(), need_weights);
            let got = values(out.context);
            let diff = got
                .iter()
                .zip(&want_ctx)
                .map(|(g, w)| (f64::from(*g) - w).abs())
                .fold(0.0, f64::max);
            assert!(
                diff < 1e-5,
                "context differs by {diff} (mask {use_mask}, weights {need_weights})"
            );
            if let Some(w) = out.weights {
                let got = values(w);
                let diff = got
                    .iter()
                    .zip(&want_w)
                    .map(|(g, w)| (f64::from(*g) - w).abs())
                    .fold(0.0, f64::max);
                assert!(diff < 1e-5, "weights differ by {diff}");
            }
        }
    }
}

#[test]
fn causal_self_attention_weights_are_lower_triangular() {
    let device = Device::flex();
    let (att, x) = seeded(&device, 4, || {
        let att = CausalSelfAttention {
            attention: MultiHeadAttentionConfig {
                d_model: 16,
                heads: 2,
                dropout: 0.0,
            }
            .init(&device),
        };
        let x = Tensor::<3>::random([1, 6, 16], Distribution::Normal(0.0, 1.0), &device);
        (att, x)
    });
    let w = values(att.forward(x, None, true).weights.unwrap());
    for h in 0..2 {
        for i in 0..6 {
            let row = &w[(h * 6 + i) * 6..(h * 6 + i + 1) * 6];
            assert!(
                row[i + 1..].iter().all(|&v| v == 0.0),
                "row {i} sees the future: {row:?}"
            );
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }
}

#[test]
fn changing_future_target_tokens_leaves_earlier_outputs_unchanged() {
    let device = Device::flex();
    for norm in [NormPosition::Pre, NormPosition::Post] {
        let cfg = ModelConfig {
            norm,
            ..small_config()
        };
        let m = model(&cfg, 20, &device);
        let src = ids(&[&[5, 6, 7, 2]], &device);
        let a = values(m.forward(src.clone(), ids(&[&[1, 8, 9, 10, 11]], &device)));
        let b = values(m.forward(src, ids(&[&[1, 8, 9, 17, 4]], &device)));
        let v = 20;
        // Positions 0..=2 see only tokens 0..=2, which are identical.
        assert!(
            max_abs_diff(&a[..3 * v], &b[..3 * v]) < 1e-6,
            "{norm:?}: the past moved"
        );
        assert!(
            max_abs_diff(&a[3 * v..], &b[3 * v..]) > 1e-4,
            "{norm:?}: the future had no effect"
        );
    }
}

#[test]
fn padding_source_or_target_leaves_real_positions_unchanged() {
    let device = Device::flex();
    let m = model(&small_config(), 20, &device);
    let v = 20;
    let plain = values(m.forward(ids(&[&[5, 6, 7, 2]], &device), ids(&[&[1, 8, 9]], &device)));
    let src_padded = values(m.forward(
        ids(&[&[5, 6, 7, 2, 0, 0, 0]], &device),
        ids(&[&[1, 8, 9]], &device),
    ));
    assert!(
        max_abs_diff(&plain, &src_padded) < 1e-5,
        "source padding changed the output"
    );
    let tgt_padded = values(m.forward(
        ids(&[&[5, 6, 7, 2]], &device),
        ids(&[&[1, 8, 9, 0, 0]], &device),
    ));
    assert!(
        max_abs_diff(&plain, &tgt_padded[..3 * v]) < 1e-5,
        "target padding changed the output"
    );

    // Cross-attention puts exactly zero weight on padded source positions.
    let (_, trace) = m.forward_traced(
        ids(&[&[5, 6, 7, 2, 0, 0], &[5, 6, 2, 0, 0, 0]], &device),
        ids(&[&[1, 8, 9], &[1, 8, 0]], &device),
        true,
    );
    assert_eq!(trace.cross.len(), 2);
    for layer in trace.cross {
        let [b, h, t, s] = layer.dims();
        let w = values(layer);
        for bi in 0..b {
            let real = if bi == 0 { 4 } else { 3 };
            for row in 0..h * t {
                let r = &w[(bi * h * t + row) * s..(bi * h * t + row + 1) * s];
                assert!(r[real..].iter().all(|&x| x == 0.0), "pad got weight: {r:?}");
                assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn fully_padded_rows_never_produce_nan() {
    let device = Device::flex();
    let m = model(&small_config(), 20, &device);
    let out = values(m.forward(ids(&[&[0, 0, 0]], &device), ids(&[&[1, 0]], &device)));
    assert!(out.iter().all(|x| x.is_finite()));
}

#[test]
fn incremental_decoding_matches_teacher_forcing_and_reorders() {
    let device = Device::flex();
    for positions in [PositionKind::Sinusoidal, PositionKind::Learned] {
        let cfg = ModelConfig {
            positions,
            ..small_config()
        };
        let m = model(&cfg, 20, &device);
        let src = ids(&[&[5, 6, 7, 2, 0], &[9, 3, 4, 11, 2]], &device);
        let tgt = ids(&[&[1, 8, 9, 10, 4], &[1, 12, 13, 5, 6]], &device);
        let full = values(m.forward(src.clone(), tgt.clone()));
        let tgt_rows: Vec<i64> = tgt.clone().into_data().iter::<i64>().collect();
        let v = 20;
        // Step by step, plain, and with weights asked for from step 2 on (the CPU's block
        // cache is then laid out as tensors) after a reordering that waits for that step: the
        // teacher-forced logits both times.
        for weights_from in [usize::MAX, 2] {
            let (memory, pad, _) = m.encode(src.clone(), false);
            let mut cache = m.start_decoding(memory, pad);
            for t in 0..5 {
                if t == weights_from {
                    cache = cache.select_rows(&[1, 0]).select_rows(&[1, 0]);
                }
                let step_ids = Tensor::<1, Int>::from_data(
                    TensorData::new(vec![tgt_rows[t], tgt_rows[5 + t]], [2]),
                    &device,
                );
                let (logits, attention) = m.decode_step(step_ids, &mut cache, t >= weights_from);
                assert_eq!(attention.decoder_self.is_empty(), t < weights_from);
                let logits = values(logits);
                for b in 0..2 {
                    let want = &full[(b * 5 + t) * v..(b * 5 + t + 1) * v];
                    let diff = max_abs_diff(&logits[b * v..(b + 1) * v], want);
                    assert!(
                        diff < 1e-4,
                        "{positions:?}, weights from step {weights_from}: step {t} row {b} differs by {diff}"
                    );
                }
            }
        }

        // Reordering the cache by a permutation equals decoding the permuted batch.
        let (memory, pad, _) = m.encode(src.clone(), false);
        let mut straight = m.start_decoding(memory, pad);
        let swapped_src = ids(&[&[9, 3, 4, 11, 2], &[5, 6, 7, 2, 0]], &device);
        let (memory, pad, _) = m.encode(swapped_src, false);
        let mut swapped = m.start_decoding(memory, pad);
        let first =
            |a: i64, b: i64| Tensor::<1, Int>::from_data(TensorData::new(vec![a, b], [2]), &device);
        m.decode_step(first(1, 1), &mut straight, false);
        m.decode_step(first(1, 1), &mut swapped, false);
        m.decode_step(first(8, 12), &mut straight, false);
        m.decode_step(first(12, 8), &mut swapped, false);
        // Three swaps in a row before the next step compose into one (on the CPU a reordering
        // waits for the next step's append).
        let mut reordered = straight
            .clone()
            .select_rows(&[1, 0])
            .select_rows(&[1, 0])
            .select_rows(&[1, 0]);
        let a = values(m.decode_step(first(13, 9), &mut reordered, false).0);
        let b = values(m.decode_step(first(13, 9), &mut swapped, false).0);
        assert!(max_abs_diff(&a, &b) < 1e-5, "reordered cache differs");
        // Two swaps are no reordering.
        let mut unswapped = straight.clone().select_rows(&[1, 0]).select_rows(&[1, 0]);
        let c = values(m.decode_step(first(9, 13), &mut unswapped, false).0);
        let d = values(m.decode_step(first(9, 13), &mut straight, false).0);
        assert!(
            max_abs_diff(&c, &d) < 1e-5,
            "swapped twice differs from unswapped"
        );

        // Dropping a row keeps the other row's results.
        let (memory, pad, _) = m.encode(src.clone(), false);
        let mut both = m.start_decoding(memory, pad);
        m.decode_step(first(1, 1), &mut both, false);
        let mut only_second = both.select_rows(&[1]);
        let one = Tensor::<1, Int>::from_data(TensorData::new(vec![12i64], [1]), &device);
        let got = values(m.decode_step(one, &mut only_second, false).0);
        let want = &full[(5 + 1) * v..(5 + 2) * v];
        assert!(
            max_abs_diff(&got, want) < 1e-4,
            "dropping a row changed the others"
        );
    }
}
