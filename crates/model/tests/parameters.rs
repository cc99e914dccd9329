//! The model's parameters: drawn from the build seed, every one trained, tying and sharing
//! kept to one tensor, initialisation as fairseq does it.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Gradients;
use burn::tensor::{Device, Distribution, Tensor};
use nmt_model::{ModelConfig, NormPosition, PAD_ID, PositionKind, Transformer, seeded};

mod common;
use common::*;
use nmt_testkit::{all_values, ids};

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
    let rest = &w[64 * (PAD_ID as usize + 1)..];
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
