//! `--device`: where the networks run. The CPU (burn's Flex device, with genot's native
//! engine for the velocity field) is always available; `wgpu` GPUs come with the cargo
//! feature of that name.

use crate::error::CliError;
use burn::tensor::Device;

/// The devices this build can use.
pub const AVAILABLE: &[&str] = &[
    "cpu",
    #[cfg(feature = "wgpu")]
    "wgpu",
];

/// The device named on the command line.
pub fn parse_device(name: &str) -> Result<Device, CliError> {
    match name {
        "cpu" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        gpu if gpu == "wgpu" => Err(CliError::Input(format!(
            "--device {gpu} is not in this build (available: {}): build with `cargo build --release -p genot-cli --features {gpu}`",
            AVAILABLE.join(", ")
        ))),
        other => Err(CliError::Input(format!(
            "unknown --device '{other}' (available: {})",
            AVAILABLE.join(", ")
        ))),
    }
}
