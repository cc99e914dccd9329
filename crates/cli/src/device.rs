//! `--device` / `run.device`: the backend is picked at run time from what this binary was built
//! with (cargo features `flex`, `tch`, `wgpu`).

use anyhow::{Result, bail};
use burn::tensor::Device;

/// Parses `flex`, `tch`, `tch-cuda[:N]`, `wgpu[:N]`.
pub fn parse_device(spec: &str) -> Result<Device> {
    let (name, index) = match spec.split_once(':') {
        Some((n, i)) => {
            let i: usize = i
                .parse()
                .map_err(|_| anyhow::anyhow!("invalid device index in {spec:?}"))?;
            (n, Some(i))
        }
        None => (spec, None),
    };
    match name {
        "flex" | "cpu" => flex(),
        "tch" => tch_cpu(),
        "tch-cuda" => tch_cuda(index.unwrap_or(0)),
        "wgpu" => wgpu(index),
        other => bail!("unknown device {other:?}: expected flex, tch, tch-cuda[:N] or wgpu[:N]"),
    }
}

/// What this build can run on, one line each, for `nmt devices`.
pub fn available() -> Vec<String> {
    let mut lines = Vec::new();
    lines.push(if cfg!(feature = "flex") {
        "flex      pure-Rust CPU backend (built in)".to_string()
    } else {
        "flex      not built (cargo feature `flex`)".to_string()
    });
    lines.push(if cfg!(feature = "tch") {
        "tch       libtorch CPU (built in); tch-cuda[:N] for CUDA GPUs".to_string()
    } else {
        "tch       not built (cargo feature `tch`, see scripts/setup-libtorch.sh)".to_string()
    });
    lines.push(if cfg!(feature = "wgpu") {
        "wgpu[:N]  wgpu/Vulkan (built in)".to_string()
    } else {
        "wgpu      not built (cargo feature `wgpu`)".to_string()
    });
    lines
}

fn missing(device: &str, feature: &str) -> Result<Device> {
    bail!(
        "device {device:?} is not in this build of nmt: rebuild with `cargo build --release --features {feature}`"
    )
}

fn flex() -> Result<Device> {
    #[cfg(feature = "flex")]
    return Ok(Device::flex());
    #[cfg(not(feature = "flex"))]
    missing("flex", "flex")
}

#[allow(deprecated)]
fn tch_cpu() -> Result<Device> {
    #[cfg(feature = "tch")]
    return Ok(Device::libtorch());
    #[cfg(not(feature = "tch"))]
    missing("tch", "tch")
}

#[allow(deprecated, unused_variables)]
fn tch_cuda(index: usize) -> Result<Device> {
    #[cfg(feature = "tch")]
    return Ok(Device::libtorch_cuda(index));
    #[cfg(not(feature = "tch"))]
    missing("tch-cuda", "tch")
}

#[allow(unused_variables)]
fn wgpu(index: Option<usize>) -> Result<Device> {
    #[cfg(feature = "wgpu")]
    {
        use burn::tensor::DeviceKind;
        return Ok(Device::wgpu(match index {
            Some(i) => DeviceKind::DiscreteGpu(i),
            None => DeviceKind::DefaultDevice,
        }));
    }
    #[cfg(not(feature = "wgpu"))]
    missing("wgpu", "wgpu")
}
