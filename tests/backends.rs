//! The same model on two backends: the default `flex` and libtorch (`tch`). Compiled only into
//! a `--features tch` build (see .ci/run): the same weights and batch must give the same loss,
//! and one Adam step the same parameters, and the binary must train and translate on `tch`.
#![cfg(feature = "tch")]
#![allow(deprecated)] // burn-tch is deprecated upstream; it is still the libtorch path in 0.22.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use nmt_model::{ModelConfig, Transformer};

mod common;
use common::{nmt, run_ok, tiny_config};

struct Values(Vec<f32>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.extend(param.val().into_data().iter::<f32>());
    }
}

/// Every parameter's gradient, in module order.
struct Grads<'a>(&'a burn::tensor::Gradients, Vec<f32>);

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = param
            .val()
            .grad(self.0)
            .expect("every parameter has a gradient");
        self.1.extend(g.into_data().iter::<f32>());
    }
}

fn values(model: &Transformer) -> Vec<f32> {
    let mut v = Values(Vec::new());
    model.visit(&mut v);
    v.0
}

fn ids(rows: &[&[i64]], device: &Device) -> Tensor<2, Int> {
    let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), rows[0].len()]), device)
}

/// Loss of one batch, its gradients and the model after one Adam step, on `device`.
fn loss_and_step(model: Transformer, device: &Device) -> (f64, Vec<f32>, Transformer) {
    let src = ids(&[&[5, 6, 7, 8, 2], &[9, 10, 11, 2, 0]], device);
    let tgt_in = ids(&[&[1, 12, 13, 14], &[1, 15, 16, 0]], device);
    let tgt_out = ids(&[&[12, 13, 14, 2], &[15, 16, 2, 0]], device);
    let sums = nmt_train::label_smoothed_loss(model.forward(src, tgt_in), tgt_out, 0.1);
    let loss = sums.smoothed.div_scalar(6.0);
    let value = f64::from(loss.clone().into_scalar::<f32>());
    let backward = loss.backward();
    let mut collected = Grads(&backward, Vec::new());
    model.visit(&mut collected);
    let gradient = collected.1;
    let mut grads = GradientsParams::from_grads(backward, &model);
    nmt_train::clip_global_norm(&model, &mut grads, 1.0);
    let mut optim = AdamConfig::new()
        .with_beta_2(0.98)
        .with_epsilon(1e-9)
        .init();
    (value, gradient, optim.step(1e-3, model, grads))
}

#[test]
fn flex_and_tch_agree_on_the_loss_and_one_adam_step() {
    let flex = Device::flex().autodiff();
    let tch = Device::libtorch().autodiff();
    let cfg = ModelConfig {
        d_model: 32,
        heads: 4,
        ff_dim: 64,
        encoder_layers: 2,
        decoder_layers: 2,
        dropout: 0.0,
        max_positions: 64,
        ..ModelConfig::default()
    };
    flex.seed(5);
    let on_flex = cfg.init(40, 40, &flex).unwrap();
    let on_tch = cfg
        .init(40, 40, &tch)
        .unwrap()
        .load_record(on_flex.clone().into_record());
    assert_eq!(
        values(&on_flex),
        values(&on_tch),
        "the weights did not transfer"
    );

    let (loss_flex, grad_flex, stepped_flex) = loss_and_step(on_flex, &flex);
    let (loss_tch, grad_tch, stepped_tch) = loss_and_step(on_tch, &tch);
    let rel = (loss_flex - loss_tch).abs() / loss_flex.abs();
    assert!(rel <= 1e-4, "loss flex {loss_flex} vs tch {loss_tch}");

    let scale = grad_flex.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    let grad_diff = grad_flex
        .iter()
        .zip(&grad_tch)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        grad_diff <= 1e-4 * scale,
        "gradients differ by {grad_diff} (largest gradient {scale})"
    );

    // Adam's first step is lr * g / (|g| + eps): a gradient that is zero up to rounding (here
    // below 1e-6) moves by +-lr whichever sign the rounding gave it, on any two backends. Every
    // parameter with a real gradient must land in the same place.
    let (a, b) = (values(&stepped_flex), values(&stepped_tch));
    let diff = a
        .iter()
        .zip(&b)
        .zip(&grad_flex)
        .filter(|(_, g)| g.abs() > 1e-6)
        .map(|((x, y), _)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(diff <= 1e-4, "parameters differ by {diff} after one step");
    let real = grad_flex.iter().filter(|g| g.abs() > 1e-6).count();
    assert!(
        real * 10 > grad_flex.len() * 9,
        "too few parameters with a real gradient: {real} of {}",
        grad_flex.len()
    );
}

#[test]
fn the_binary_trains_and_translates_on_tch() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let run = dir.path().join("run");
    run_ok(
        nmt()
            .args([
                "train",
                "--quiet",
                "--device",
                "tch",
                "--max-steps",
                "8",
                "--config",
            ])
            .arg(&cfg),
    );
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "My child is young.\n\nHe finds a man.\n").unwrap();
    let out = run_ok(
        nmt()
            .args(["translate", "--device", "tch", "--input"])
            .arg(&input)
            .arg("--run")
            .arg(&run),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert_eq!(text.lines().nth(1), Some(""));
}
