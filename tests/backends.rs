//! The same model on the default `flex` backend and on each extra backend this build has:
//! libtorch (`tch`), wgpu (`wgpu`, on Mesa's software Vulkan driver where there is no GPU) and
//! CubeCL CUDA (`cuda`, skipped with a printed reason on a machine without a usable GPU).
//! Compiled only into a build with one of those features (see .ci/run): the same
//! weights and batch must give the same loss, and one Adam step the same parameters, and the
//! binary must train and translate on each backend.
#![cfg(any(feature = "tch", feature = "wgpu", feature = "cuda"))]
#![allow(deprecated)] // burn-tch is deprecated upstream; it is still the libtorch path in 0.22.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor};
use nmt_model::{ModelConfig, Transformer};

mod common;
use common::{nmt, run_ok, tiny_config, train_events};
use nmt_testkit::{all_values, ids};

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

/// Same weights and batch on flex and on `other`: same loss, gradients and Adam step.
fn agrees_with_flex(other: Device, name: &str) {
    let flex = Device::flex().autodiff();
    let other = other.autodiff();
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
    let on_flex = nmt_model::seeded(&flex, 5, || cfg.init(40, 40, &flex).unwrap());
    let on_other = cfg
        .init(40, 40, &other)
        .unwrap()
        .load_record(on_flex.clone().into_record());
    assert_eq!(
        all_values(&on_flex),
        all_values(&on_other),
        "the weights did not transfer to {name}"
    );

    let (loss_flex, grad_flex, stepped_flex) = loss_and_step(on_flex, &flex);
    let (loss_other, grad_other, stepped_other) = loss_and_step(on_other, &other);
    let rel = (loss_flex - loss_other).abs() / loss_flex.abs();
    assert!(rel <= 1e-4, "loss flex {loss_flex} vs {name} {loss_other}");

    let scale = grad_flex.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    let grad_diff = grad_flex
        .iter()
        .zip(&grad_other)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        grad_diff <= 1e-4 * scale,
        "{name}: gradients differ by {grad_diff} (largest gradient {scale})"
    );

    // Adam's first step is lr * g / (|g| + eps): a gradient that is zero up to rounding (here
    // below 1e-6) moves by +-lr whichever sign the rounding gave it, on any two backends. Every
    // parameter with a real gradient must land in the same place.
    let (a, b) = (all_values(&stepped_flex), all_values(&stepped_other));
    let diff = a
        .iter()
        .zip(&b)
        .zip(&grad_flex)
        .filter(|(_, g)| g.abs() > 1e-6)
        .map(|((x, y), _)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        diff <= 1e-4,
        "{name}: parameters differ by {diff} after one step"
    );
    let real = grad_flex.iter().filter(|g| g.abs() > 1e-6).count();
    assert!(
        real * 10 > grad_flex.len() * 9,
        "too few parameters with a real gradient: {real} of {}",
        grad_flex.len()
    );
}

#[cfg(feature = "tch")]
#[test]
fn flex_and_tch_agree_on_the_loss_and_one_adam_step() {
    agrees_with_flex(Device::libtorch(), "tch");
}

#[cfg(feature = "wgpu")]
#[test]
fn flex_and_wgpu_agree_on_the_loss_and_one_adam_step() {
    agrees_with_flex(
        Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        "wgpu",
    );
}

/// A few dozen training steps of a tiny model on the quick-start corpus with `--device
/// device` (the loss must fall), then greedy and beam translation with it on the same device
/// (one output line per input line; an empty line stays an empty line). What 24 steps of a
/// 32-wide model outputs for a real sentence is arbitrary (often nothing at all), so the words
/// are not checked here: the parity test checks the numbers.
fn trains_and_translates_on(device: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let run = dir.path().join("run");
    run_ok(
        nmt()
            .args([
                "train",
                "--quiet",
                "--device",
                device,
                "--max-steps",
                "24",
                "--config",
            ])
            .arg(&cfg),
    );
    let losses = train_events(&run);
    let log = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert_eq!((first.0, last.0), (1, 24), "training on {device}:\n{log}");
    assert!(
        last.1.is_finite() && last.1 < first.1 - 0.3,
        "the loss did not fall on {device}:\n{log}"
    );
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "My child is young.\n\nHe finds a man.\n").unwrap();
    for beam in ["1", "3"] {
        let out = run_ok(
            nmt()
                .args(["translate", "--device", device, "--beam", beam, "--input"])
                .arg(&input)
                .arg("--run")
                .arg(&run),
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 3, "beam {beam} on {device}: {text:?}");
        assert_eq!(text.lines().nth(1), Some(""), "beam {beam} on {device}");
    }
}

/// Whether `nmt devices` finds a usable CUDA GPU; prints why a CUDA test is skipped when not.
#[cfg(feature = "cuda")]
fn cuda_usable() -> bool {
    let out = run_ok(nmt().arg("devices"));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let usable = listed.contains("cuda:0      CubeCL CUDA (built in): usable here");
    if !usable {
        println!("skipped: no usable CUDA GPU here ({listed})");
    }
    usable
}

#[cfg(feature = "cuda")]
#[test]
fn flex_and_cuda_agree_on_the_loss_and_one_adam_step() {
    if cuda_usable() {
        agrees_with_flex(Device::cuda(0), "cuda");
    }
}

#[cfg(feature = "cuda")]
#[test]
fn the_binary_trains_and_translates_on_cuda() {
    if cuda_usable() {
        trains_and_translates_on("cuda");
    }
}

#[cfg(feature = "tch")]
#[test]
fn the_binary_trains_and_translates_on_tch() {
    trains_and_translates_on("tch");
}

#[cfg(feature = "wgpu")]
#[test]
fn the_binary_trains_and_translates_on_wgpu() {
    trains_and_translates_on("wgpu");
}
