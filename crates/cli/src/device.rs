//! `--device` / `run.device`: the backend is picked at run time from what this binary was built
//! with (cargo features `flex`, `tch`, `wgpu`, `cuda`).

use anyhow::{Result, bail};
use burn::tensor::Device;

/// Parses `flex`, `tch`, `tch-cuda[:N]`, `wgpu[:N]`, `cuda[:N]`.
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
        "tch-cuda" => usable(spec, tch_cuda(index.unwrap_or(0))?),
        "wgpu" => usable(spec, wgpu(index)?),
        "cuda" => usable(spec, cuda(index.unwrap_or(0))?),
        other => bail!(
            "unknown device {other:?}: expected flex, tch, tch-cuda[:N], wgpu[:N] or cuda[:N]"
        ),
    }
}

/// Runs one tiny operation on an accelerator device, so that a missing GPU or driver is an
/// error that says so here, not a panic deep inside the first training step. Backends report
/// a missing device by panicking; the panic is caught and its message kept.
fn usable(spec: &str, device: Device) -> Result<Device> {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| {
        burn::tensor::Tensor::<1>::ones([1], &device).into_data();
    });
    std::panic::set_hook(quiet);
    match probe {
        Ok(()) => Ok(device),
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("the backend could not start");
            // Backend messages can carry a whole C++ stack trace: the first line says it.
            let why = why.lines().next().unwrap_or(why);
            let why = why.split("\\n").next().unwrap_or(why);
            let why = why.trim_start_matches("called `Result::unwrap()` on an `Err` value: ");
            // libtorch's errors arrive as `Torch("...`, cut off above: keep the sentence only.
            let why = why.trim_start_matches("Torch(\"");
            bail!("device {spec:?} is not usable on this machine (no GPU or driver?): {why}")
        }
    }
}

/// What this build can run on and whether this machine can, one line each, for `nmt devices`.
/// Accelerators are probed (one tiny tensor each), so a missing GPU or driver shows here.
pub fn available() -> Vec<String> {
    let probe = |spec: &str| match parse_device(spec) {
        Ok(_) => "usable here".to_string(),
        Err(e) => format!("not usable here: {e:#}"),
    };
    let mut lines = Vec::new();
    lines.push(if cfg!(feature = "flex") {
        "flex        pure-Rust CPU backend (built in): usable here".to_string()
    } else {
        "flex        not built (cargo feature `flex`)".to_string()
    });
    if cfg!(feature = "tch") {
        lines.push("tch         libtorch CPU (built in): usable here".to_string());
        lines.push(format!(
            "tch-cuda:0  libtorch CUDA (built in): {}",
            probe("tch-cuda:0")
        ));
    } else {
        lines.push(
            "tch         not built (cargo feature `tch`, see scripts/setup-libtorch.sh)"
                .to_string(),
        );
    }
    lines.push(if cfg!(feature = "wgpu") {
        format!(
            "wgpu        wgpu/Vulkan, default adapter (built in): {}",
            probe("wgpu")
        )
    } else {
        "wgpu        not built (cargo feature `wgpu`)".to_string()
    });
    lines.push(if cfg!(feature = "cuda") {
        format!("cuda:0      CubeCL CUDA (built in): {}", probe("cuda:0"))
    } else {
        "cuda        not built (cargo feature `cuda`)".to_string()
    });
    lines
}

/// Only a build without some backend needs this.
#[cfg(not(all(feature = "flex", feature = "tch", feature = "wgpu", feature = "cuda")))]
fn missing(device: &str, feature: &str) -> Result<Device> {
    bail!(
        "device {device:?} is not in this build of nmt: rebuild with `cargo build --release --features {feature}`"
    )
}

// Each constructor exists twice: the real one where its feature is built in, and one that
// names the feature to rebuild with where it is not.

#[cfg(feature = "flex")]
fn flex() -> Result<Device> {
    Ok(Device::flex())
}

#[cfg(not(feature = "flex"))]
fn flex() -> Result<Device> {
    missing("flex", "flex")
}

#[cfg(feature = "tch")]
#[allow(deprecated)]
fn tch_cpu() -> Result<Device> {
    Ok(Device::libtorch())
}

#[cfg(not(feature = "tch"))]
fn tch_cpu() -> Result<Device> {
    missing("tch", "tch")
}

#[cfg(feature = "tch")]
#[allow(deprecated)]
fn tch_cuda(index: usize) -> Result<Device> {
    Ok(Device::libtorch_cuda(index))
}

#[cfg(not(feature = "tch"))]
fn tch_cuda(_index: usize) -> Result<Device> {
    missing("tch-cuda", "tch")
}

#[cfg(feature = "wgpu")]
fn wgpu(index: Option<usize>) -> Result<Device> {
    use burn::tensor::DeviceKind;
    Ok(Device::wgpu(match index {
        Some(i) => DeviceKind::DiscreteGpu(i),
        None => DeviceKind::DefaultDevice,
    }))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(_index: Option<usize>) -> Result<Device> {
    missing("wgpu", "wgpu")
}

/// Burn's CUDA runtime panics deep inside its first kernel when it finds no toolkit (it needs
/// NVRTC and the CUDA headers at run time): look where it looks first and say so plainly.
#[cfg(feature = "cuda")]
fn cuda(index: usize) -> Result<Device> {
    let candidates = std::env::var_os("CUDA_PATH")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(["/usr/local/cuda", "/opt/cuda"].map(std::path::PathBuf::from));
    let toolkit = candidates.clone().any(|p| p.join("include").is_dir())
        || std::path::Path::new("/usr/bin/nvcc").exists();
    if !toolkit {
        let looked: Vec<String> = candidates.map(|p| p.display().to_string()).collect();
        bail!(
            "device \"cuda:{index}\" is not usable on this machine: no CUDA toolkit found (looked in $CUDA_PATH, {}; /usr/bin/nvcc); Burn compiles its kernels with NVRTC at run time",
            looked.join(", ")
        );
    }
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_index: usize) -> Result<Device> {
    missing("cuda", "cuda")
}
