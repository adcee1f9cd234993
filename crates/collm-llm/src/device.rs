//! Where a model runs and in which precision, as users write it: `device = "auto" | "cpu" |
//! "cuda:N"` and `dtype = "auto" | "f32" | "bf16"`, turned into candle's `Device` and `DType`.
//!
//! Asking for CUDA in a build without the `cuda` feature is an error that says how to get one,
//! never a silent fall back to a much slower run; only `auto` falls back, by definition.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};

use crate::{LlmError, Result};

/// A device choice. `cuda` alone means `cuda:0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// The first CUDA device when this build has CUDA support and one answers, else the CPU.
    Auto,
    #[default]
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim() {
            "auto" => Ok(DeviceSpec::Auto),
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
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

/// serde through the text form users write (`#[serde(try_from = "String", into = "String")]`),
/// for a type with `FromStr<Err = String>` and `Display`.
macro_rules! serde_as_text {
    ($spec:ty) => {
        impl TryFrom<String> for $spec {
            type Error = String;

            fn try_from(text: String) -> std::result::Result<Self, String> {
                text.parse()
            }
        }

        impl From<$spec> for String {
            fn from(spec: $spec) -> String {
                spec.to_string()
            }
        }
    };
}

serde_as_text!(DeviceSpec);
serde_as_text!(DTypeSpec);

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
    /// The device named by environment variable `var`, `cpu` when it is unset (how the
    /// numerics tests are pointed at a GPU: `COLLM_TEST_DEVICE=cuda:0`).
    pub fn from_env(var: &str) -> Result<DeviceSpec> {
        match std::env::var(var) {
            Ok(text) => text
                .parse()
                .map_err(|err| LlmError::Input(format!("${var}: {err}"))),
            Err(_) => Ok(DeviceSpec::Cpu),
        }
    }

    /// The device to run on.
    pub fn resolve(self) -> Result<Device> {
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
            Err(err) => tracing::warn!(
                "device \"auto\": CUDA device 0 unusable ({}); using the cpu",
                without_backtrace(err)
            ),
        }
    }
    Device::Cpu
}

#[cfg(not(feature = "cuda"))]
fn auto_device() -> Device {
    Device::Cpu
}

#[cfg(feature = "cuda")]
fn cuda_device(n: usize) -> Result<Device> {
    Device::new_cuda(n).map_err(|err| {
        LlmError::Input(format!(
            "device \"cuda:{n}\": cannot open it: {}",
            without_backtrace(err)
        ))
    })
}

/// The driver's complaint alone: under RUST_BACKTRACE candle appends a backtrace, which says
/// nothing to someone who asked for a device that is not there.
#[cfg(feature = "cuda")]
fn without_backtrace(err: candle_core::Error) -> String {
    match err {
        candle_core::Error::WithBacktrace { inner, .. } => inner.to_string(),
        other => other.to_string(),
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(n: usize) -> Result<Device> {
    Err(LlmError::Input(format!(
        "device \"cuda:{n}\": this collm was built without CUDA support, so only \"cpu\" works: \
         set device = \"cpu\" (or \"auto\") in the experiment file or pass --device cpu, or \
         rebuild with CUDA: scripts/cuda-build.sh build --release"
    )))
}

/// The precision of the base weights, activations and matrix products. LoRA and CIE weights,
/// optimizer state and the loss stay f32 whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DTypeSpec {
    /// f32 on the CPU (where the fused kernels are f32), bf16 on a GPU.
    #[default]
    Auto,
    F32,
    Bf16,
}

impl FromStr for DTypeSpec {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim() {
            "auto" => Ok(DTypeSpec::Auto),
            "f32" => Ok(DTypeSpec::F32),
            "bf16" => Ok(DTypeSpec::Bf16),
            other => Err(format!(
                "dtype must be \"auto\", \"f32\" or \"bf16\", got {other:?}"
            )),
        }
    }
}

impl fmt::Display for DTypeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DTypeSpec::Auto => "auto",
            DTypeSpec::F32 => "f32",
            DTypeSpec::Bf16 => "bf16",
        })
    }
}

impl DTypeSpec {
    /// The dtype of the base model on `device`.
    pub fn resolve(self, device: &Device) -> DType {
        match self {
            DTypeSpec::Auto => crate::default_dtype(device),
            DTypeSpec::Bf16 => DType::BF16,
            DTypeSpec::F32 => DType::F32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_specs_parse_print_and_resolve() {
        for (text, spec) in [
            ("auto", DeviceSpec::Auto),
            ("cpu", DeviceSpec::Cpu),
            ("cuda:1", DeviceSpec::Cuda(1)),
        ] {
            assert_eq!(text.parse::<DeviceSpec>(), Ok(spec));
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!("cuda".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(0)));
        for bad in ["gpu", "cuda:", "cuda:x", "CUDA:0"] {
            let err = bad.parse::<DeviceSpec>().unwrap_err();
            assert!(err.contains("\"cuda:N\"") && err.contains(bad), "{err}");
        }
        assert!(DeviceSpec::Cpu.resolve().unwrap().is_cpu());
        if !cfg!(feature = "cuda") {
            let err = DeviceSpec::Cuda(0).resolve().unwrap_err().to_string();
            assert!(
                err.contains("without CUDA support") && err.contains("--device cpu"),
                "{err}"
            );
            assert!(DeviceSpec::Auto.resolve().unwrap().is_cpu());
        }
    }

    #[test]
    fn dtype_auto_is_f32_on_the_cpu_and_bf16_elsewhere() {
        assert_eq!(DTypeSpec::Auto.resolve(&Device::Cpu), DType::F32);
        assert_eq!(DTypeSpec::Bf16.resolve(&Device::Cpu), DType::BF16);
        assert_eq!("bf16".parse::<DTypeSpec>(), Ok(DTypeSpec::Bf16));
        assert_eq!(DTypeSpec::F32.to_string(), "f32");
        assert!("f16".parse::<DTypeSpec>().unwrap_err().contains("\"bf16\""));
    }
}
