//! `--device` and `nmt devices`: a backend this build lacks, or a GPU this machine lacks, is a
//! clear error (non-zero exit, no panic), whatever features the binary was built with.

mod common;
use common::{nmt, run_ok, tiny_config};

fn devices() -> String {
    String::from_utf8(run_ok(nmt().arg("devices")).stdout).unwrap()
}

/// Trains with `--device spec` and expects a refusal that mentions `expected`.
fn refused(spec: &str, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());
    let out = nmt()
        .args(["train", "--quiet", "--device", spec, "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--device {spec} was accepted");
    assert!(
        !stderr.contains("panicked"),
        "--device {spec} panicked:\n{stderr}"
    );
    assert!(
        stderr.contains(expected),
        "--device {spec}: expected {expected:?} in:\n{stderr}"
    );
    assert!(
        !dir.path().join("run/checkpoints").exists(),
        "--device {spec} started training"
    );
}

#[test]
fn devices_lists_every_backend_and_flex_is_usable() {
    let text = devices();
    for name in ["flex", "tch", "wgpu", "cuda"] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing from:\n{text}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("flex ") && l.ends_with("usable here")),
        "{text}"
    );
}

#[test]
fn a_backend_this_build_lacks_names_the_cargo_feature() {
    if !cfg!(feature = "wgpu") {
        refused("wgpu", "--features wgpu");
    }
    if !cfg!(feature = "tch") {
        refused("tch", "--features tch");
        refused("tch-cuda:0", "--features tch");
    }
    if !cfg!(feature = "cuda") {
        refused("cuda", "--features cuda");
        refused("cuda:1", "--features cuda");
    }
}

#[test]
fn an_unknown_device_or_index_is_an_error() {
    refused("tpu", "unknown device \"tpu\"");
    refused("wgpu:x", "invalid device index");
}

#[test]
fn cuda_on_a_machine_without_one_says_so() {
    if !cfg!(feature = "tch") {
        return; // the missing feature is checked above
    }
    let listed = devices();
    if listed.contains("tch-cuda:0  libtorch CUDA (built in): usable here") {
        return; // this machine has a CUDA GPU
    }
    refused("tch-cuda:0", "is not usable on this machine");
}

#[test]
fn cubecl_cuda_on_a_machine_without_a_gpu_says_so() {
    if !cfg!(feature = "cuda") {
        return; // the missing feature is checked above
    }
    let listed = devices();
    if listed.contains("cuda:0      CubeCL CUDA (built in): usable here") {
        println!("skipped: this machine has a usable CUDA GPU");
        return;
    }
    refused("cuda:0", "is not usable on this machine");
}
