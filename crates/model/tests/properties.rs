//! The model's mathematical properties, each checked so that it fails if the property breaks.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Gradients;
use burn::tensor::{Bool, Device, Distribution, Int, Tensor, TensorData};
use nmt_model::{
    CausalSelfAttention, ModelConfig, MultiHeadAttention, MultiHeadAttentionConfig, NormPosition,
    PAD_ID, PositionKind, Transformer, seeded,
};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

fn ids(rows: &[&[i64]], device: &Device) -> Tensor<2, Int> {
    let len = rows[0].len();
    let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), len]), device)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn small_config() -> ModelConfig {
    ModelConfig {
        d_model: 32,
        heads: 4,
        ff_dim: 64,
        encoder_layers: 2,
        decoder_layers: 2,
        max_positions: 64,
        ..ModelConfig::default()
    }
}

fn model(cfg: &ModelConfig, vocab: usize, device: &Device) -> Transformer {
    seeded(device, 11, || cfg.init(vocab, vocab, device).unwrap())
}

/// Reads a Linear's weight `[in, out]` and bias as f64.
fn linear_f64(l: &burn::nn::Linear) -> (Vec<f64>, Vec<f64>, usize, usize) {
    let w = l.weight.val();
    let [i, o] = w.dims();
    let w = values(w).into_iter().map(f64::from).collect();
    let b = values(l.bias.as_ref().unwrap().val())
        .into_iter()
        .map(f64::from)
        .collect();
    (w, b, i, o)
}

fn project(x: &[f64], rows: usize, l: &burn::nn::Linear) -> Vec<f64> {
    let (w, b, i, o) = linear_f64(l);
    let mut out = vec![0.0; rows * o];
    for r in 0..rows {
        for c in 0..o {
            out[r * o + c] = b[c] + (0..i).map(|k| x[r * i + k] * w[k * o + c]).sum::<f64>();
        }
    }
    out
}

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
        let (memory, pad, _) = m.encode(src.clone(), false);
        let mut cache = m.start_decoding(memory, pad);
        let tgt_rows: Vec<i64> = tgt.clone().into_data().iter::<i64>().collect();
        let v = 20;
        for t in 0..5 {
            let step_ids = Tensor::<1, Int>::from_data(
                TensorData::new(vec![tgt_rows[t], tgt_rows[5 + t]], [2]),
                &device,
            );
            let logits = values(m.decode_step(step_ids, &mut cache, false).0);
            for b in 0..2 {
                let want = &full[(b * 5 + t) * v..(b * 5 + t + 1) * v];
                let diff = max_abs_diff(&logits[b * v..(b + 1) * v], want);
                assert!(
                    diff < 1e-4,
                    "{positions:?}: step {t} row {b} differs by {diff}"
                );
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
        let mut reordered = straight.select_rows(&[1, 0]);
        let a = values(m.decode_step(first(13, 9), &mut reordered, false).0);
        let b = values(m.decode_step(first(13, 9), &mut swapped, false).0);
        assert!(max_abs_diff(&a, &b) < 1e-5, "reordered cache differs");

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

/// Collects every parameter's values, in visiting order.
struct AllValues(Vec<f32>);

impl ModuleVisitor for AllValues {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.extend(values(param.val()));
    }
}

fn all_values(m: &Transformer) -> Vec<f32> {
    let mut all = AllValues(Vec::new());
    m.visit(&mut all);
    all.0
}

/// Every weight is drawn when the model is built, from the seed it is built under. Burn's own
/// initializers draw at a parameter's first read, from whatever the generator holds then (in
/// training, the first step's dropout seed).
#[test]
fn weights_come_from_the_build_seed_not_from_the_first_read() {
    let device = Device::flex();
    let cfg = ModelConfig {
        share_embeddings: false,
        tie_output: false,
        positions: PositionKind::Learned,
        ..small_config()
    };
    let read_later = seeded(&device, 5, || cfg.init(20, 20, &device).unwrap());
    // Another seed and draws before the first model's weights are first read.
    let other = seeded(&device, 6, || {
        Tensor::<1>::random([1000], Distribution::Default, &device).sum()
    });
    let read_now = seeded(&device, 5, || {
        all_values(&cfg.init(20, 20, &device).unwrap())
    });
    let later = all_values(&read_later);
    assert!(other.into_scalar::<f32>() > 0.0);
    assert_eq!(later.len(), read_now.len());
    assert!(
        later == read_now,
        "weights depend on when they are first read"
    );
    let reseeded = seeded(&device, 7, || {
        all_values(&cfg.init(20, 20, &device).unwrap())
    });
    assert!(reseeded != read_now, "the seed does not change the weights");
}

/// Collects each parameter's gradient.
struct GradCheck<'a> {
    grads: &'a Gradients,
    seen: Vec<(String, Option<Vec<f32>>)>,
    path: Vec<String>,
}

impl ModuleVisitor for GradCheck<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let grad = param.val().grad(self.grads).map(values);
        self.seen.push((self.path.join("."), grad));
    }
}

fn loss_and_grads(m: &Transformer, device: &Device) -> Gradients {
    let src = ids(&[&[5, 6, 7, 2], &[9, 3, 2, 0]], device);
    let tgt = ids(&[&[1, 8, 9, 10], &[1, 12, 13, 0]], device);
    // Dropout draws too: seeded, so they never cut into another test's seeded draws.
    let logits = seeded(device, 12, || m.forward(src, tgt));
    burn::tensor::activation::log_softmax(logits, 2)
        .mean()
        .neg()
        .backward()
}

#[test]
fn every_parameter_gets_a_finite_nonzero_gradient() {
    let device = Device::flex().autodiff();
    for cfg in [
        small_config(),
        ModelConfig {
            share_embeddings: false,
            tie_output: false,
            positions: PositionKind::Learned,
            norm: NormPosition::Post,
            ..small_config()
        },
    ] {
        let m = model(&cfg, 20, &device);
        let grads = loss_and_grads(&m, &device);
        let mut check = GradCheck {
            grads: &grads,
            seen: vec![],
            path: vec![],
        };
        m.visit(&mut check);
        assert!(
            check.seen.len() > 20,
            "too few parameters visited: {}",
            check.seen.len()
        );
        for (name, grad) in check.seen {
            let grad = grad.unwrap_or_else(|| panic!("{name} has no gradient"));
            assert!(
                grad.iter().all(|g| g.is_finite()),
                "{name} has a non-finite gradient"
            );
            assert!(
                grad.iter().any(|g| *g != 0.0),
                "{name} has an all-zero gradient"
            );
        }
    }
}

#[test]
fn tied_output_and_shared_embeddings_are_one_parameter() {
    let device = Device::flex().autodiff();
    let v = 20;
    let tied = model(&small_config(), v, &device);
    let untied = model(
        &ModelConfig {
            share_embeddings: false,
            tie_output: false,
            ..small_config()
        },
        v,
        &device,
    );
    // Untied adds a source table (v*d) and an output projection (d*v + v): nothing else.
    let d = 32;
    assert_eq!(untied.num_params() - tied.num_params(), v * d + d * v + v);

    // Token 15 never appears as an input, so its embedding row's gradient can only come from
    // the output projection: non-zero means the projection *is* the embedding.
    let grads = loss_and_grads(&tied, &device);
    let g = values(tied.tgt_embed.weight.val().grad(&grads).unwrap());
    assert!(
        g[15 * d..16 * d].iter().any(|x| *x != 0.0),
        "output projection is not tied"
    );
    // And a step of the optimiser moves the logits' weights with the embedding.
    let before = values(tied.tgt_embed.weight.val());
    let mut optim = burn::optim::AdamConfig::new().init();
    let params = burn::optim::GradientsParams::from_grads(grads, &tied);
    let stepped = optim.step(0.1, tied, params);
    let after = values(stepped.tgt_embed.weight.val());
    assert!(max_abs_diff(&before[15 * d..16 * d], &after[15 * d..16 * d]) > 1e-3);
    assert!(stepped.output.is_none() && stepped.src_embed.is_none());
}

#[test]
fn initialisation_follows_common_practice() {
    let device = Device::flex();
    let m = model(
        &ModelConfig {
            d_model: 64,
            ..small_config()
        },
        200,
        &device,
    );
    let w = values(m.tgt_embed.weight.val());
    assert!(w[..64].iter().all(|x| *x == 0.0), "pad row is not zero");
    let rest = &w[64 * (PAD_ID + 1)..];
    let std = (rest.iter().map(|x| x * x).sum::<f32>() / rest.len() as f32).sqrt();
    assert!(
        (std - 0.125).abs() < 0.01,
        "embedding std {std}, want 64^-0.5"
    );
    let q = values(m.encoder.layers[0].self_attn.attention.query.weight.val());
    let bound = (6.0f32 / 128.0).sqrt();
    let max = q.iter().fold(0.0f32, |a, x| a.max(x.abs()));
    assert!(
        max <= bound && max > 0.9 * bound,
        "not Xavier-uniform: max {max}, bound {bound}"
    );
    let b = values(
        m.encoder.layers[0]
            .self_attn
            .attention
            .query
            .bias
            .as_ref()
            .unwrap()
            .val(),
    );
    assert!(b.iter().all(|x| *x == 0.0));
}
