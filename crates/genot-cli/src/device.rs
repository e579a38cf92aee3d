//! `--device`: where the networks run. The CPU (burn's Flex device, with genot's native
//! engine for the velocity field) is always available; GPUs come with cargo features:
//! `wgpu` (Vulkan, Metal, DX12 through burn's wgpu backend) and `cuda` (NVIDIA, burn's CUDA
//! backend). A GPU device is checked when it is named: a build without its feature, a
//! machine without the driver or without the device, and a device that fails its first
//! operation are each a [`CliError::Device`], never a panic later in training.

use crate::error::CliError;
use burn::tensor::Device;

/// The devices this build can use.
pub const AVAILABLE: &[&str] = &[
    "cpu",
    #[cfg(feature = "wgpu")]
    "wgpu",
    #[cfg(feature = "cuda")]
    "cuda",
];

/// The GPU devices genot knows, whether or not this build has them (each is the cargo
/// feature of the same name).
const GPU: &[&str] = &["wgpu", "cuda"];

/// The default device of every command.
pub const CPU: &str = "cpu";

/// The device named on the command line: `cpu`, `wgpu`, `cuda` (the first CUDA device) or
/// `cuda:N`.
pub fn parse_device(name: &str) -> Result<Device, CliError> {
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => (kind, Some(index)),
        None => (name, None),
    };
    if kind == "cpu" && index.is_none() {
        return Ok(Device::flex());
    }
    if !GPU.contains(&kind) || (kind == "wgpu" && index.is_some()) {
        return Err(CliError::Input(format!(
            "unknown --device '{name}' (available in this build: {}; cuda takes an index, cuda:1)",
            AVAILABLE.join(", ")
        )));
    }
    if !AVAILABLE.contains(&kind) {
        return Err(CliError::Device(format!(
            "--device {kind} is not in this build (available: {}): build with `cargo build --release -p genot-cli --features {kind}`",
            AVAILABLE.join(", ")
        )));
    }
    let index = match index {
        None => 0,
        Some(i) => i.parse::<usize>().map_err(|_| {
            CliError::Input(format!(
                "--device {name}: the index after ':' must be a number"
            ))
        })?,
    };
    let device = gpu(kind, index)?;
    probe(&device, name)?;
    Ok(device)
}

/// The GPU device, once burn has found it.
#[allow(unused_variables, unreachable_code)]
fn gpu(kind: &str, index: usize) -> Result<Device, CliError> {
    #[cfg(feature = "cuda")]
    if kind == "cuda" {
        let found =
            quietly(|| Device::enumerate(burn::tensor::DeviceType::Cuda).len()).map_err(|why| {
                CliError::Device(format!(
                    "--device cuda: listing the CUDA devices failed: {why}"
                ))
            })?;
        if index >= found {
            return Err(CliError::Device(if found == 0 {
                "--device cuda: no CUDA device found (no NVIDIA driver library libcuda.so, or it reports no GPU)".to_string()
            } else {
                format!("--device cuda:{index}: this machine has {found} CUDA device(s), cuda:0 to cuda:{}", found - 1)
            }));
        }
        return Ok(Device::cuda(index));
    }
    #[cfg(feature = "wgpu")]
    if kind == "wgpu" {
        let found =
            quietly(|| Device::enumerate(burn::tensor::DeviceType::Wgpu).len()).map_err(|why| {
                CliError::Device(format!("--device wgpu: listing the adapters failed: {why}"))
            })?;
        if found == 0 {
            return Err(CliError::Device(
                "--device wgpu: no wgpu adapter found (no Vulkan, Metal or DX12 driver that wgpu can use)".into(),
            ));
        }
        return Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice));
    }
    Err(CliError::Device(format!(
        "--device {kind}: not in this build"
    )))
}

/// One small operation on `device`, so that a device that is listed but cannot run (a
/// driver too old for the runtime, a failed kernel compilation) is an error here rather
/// than a panic inside training. burn reports these by panicking; the panic is caught and
/// its message kept.
fn probe(device: &Device, name: &str) -> Result<(), CliError> {
    use burn::tensor::{Tensor, TensorData};
    let v: f32 = quietly(|| {
        let t = Tensor::<1>::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), device);
        (t * 2.0).sum().into_scalar()
    })
    .map_err(|why| {
        CliError::Device(format!(
            "--device {name}: the device failed its first operation: {why}"
        ))
    })?;
    if v == 6.0 {
        Ok(())
    } else {
        Err(CliError::Device(format!(
            "--device {name}: the device computed 2 * (1 + 2) = {v}"
        )))
    }
}

/// `f()`, or the message of its panic (not printed: the default hook is off meanwhile).
fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    run.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "no message".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_errors() {
        assert!(parse_device("cpu").is_ok());
        assert!(matches!(parse_device("tpu"), Err(CliError::Input(_))));
        assert!(matches!(parse_device("cpu:1"), Err(CliError::Input(_))));
        assert!(matches!(parse_device("wgpu:1"), Err(CliError::Input(_))));
        #[cfg(not(feature = "cuda"))]
        {
            let e = parse_device("cuda").unwrap_err();
            assert!(matches!(e, CliError::Device(_)));
            assert!(e.to_string().contains("--features cuda"), "{e}");
        }
        #[cfg(not(feature = "wgpu"))]
        assert!(matches!(parse_device("wgpu"), Err(CliError::Device(_))));
        #[cfg(feature = "cuda")]
        assert!(matches!(parse_device("cuda:x"), Err(CliError::Input(_))));
        // A GPU build on a machine with or without that GPU: a device or a Device error,
        // never a panic.
        for name in [
            #[cfg(feature = "wgpu")]
            "wgpu",
            #[cfg(feature = "cuda")]
            "cuda",
            #[cfg(feature = "cuda")]
            "cuda:4096",
        ] {
            match parse_device(name) {
                Ok(_) | Err(CliError::Device(_)) => {}
                Err(e) => panic!("--device {name}: {e}"),
            }
        }
    }
}
