//! `device = "auto" | "cpu" | "cuda:N"` and turning it into a candle device.
//!
//! Only `cpu` works in a build without the `cuda` feature; asking for CUDA there is an error
//! that says so, rather than a silent fallback to a much slower run.

use std::fmt;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use super::ExperimentError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// The first CUDA device when this build has CUDA support and one is present, else the CPU.
    Auto,
    #[default]
    Cpu,
    Cuda(usize),
}

impl TryFrom<String> for DeviceSpec {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceSpec::Cuda)
                .ok_or_else(|| {
                    format!("device must be \"auto\", \"cpu\" or \"cuda:N\" (N a number), got {other:?}")
                }),
        }
    }
}

impl From<DeviceSpec> for String {
    fn from(spec: DeviceSpec) -> String {
        spec.to_string()
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceSpec {
    /// The device to run on.
    pub fn resolve(self) -> Result<Device, ExperimentError> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Auto => Ok(auto_device()),
            DeviceSpec::Cuda(n) => cuda_device(n),
        }
    }
}

#[cfg(feature = "cuda")]
fn auto_device() -> Device {
    if candle_core::utils::cuda_is_available() {
        match Device::new_cuda(0) {
            Ok(device) => return device,
            Err(err) => {
                tracing::warn!("device = \"auto\": CUDA device 0 unusable ({err}); using the cpu")
            }
        }
    }
    Device::Cpu
}

#[cfg(not(feature = "cuda"))]
fn auto_device() -> Device {
    Device::Cpu
}

#[cfg(feature = "cuda")]
fn cuda_device(n: usize) -> Result<Device, ExperimentError> {
    Device::new_cuda(n).map_err(|err| {
        ExperimentError::Device(format!("device = \"cuda:{n}\": cannot open it: {err}"))
    })
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(n: usize) -> Result<Device, ExperimentError> {
    Err(ExperimentError::Device(format!(
        "device = \"cuda:{n}\": this collm was built without CUDA support, so only \"cpu\" works; \
         set device = \"cpu\" (or \"auto\"), or rebuild with `cargo build --release --features cuda`"
    )))
}
