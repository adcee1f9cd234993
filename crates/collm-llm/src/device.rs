//! Choosing a device from a user's string: `cpu` (the default) or `cuda:N` (builds with the
//! `cuda` feature).

use candle_core::Device;

use crate::{LlmError, Result};

/// Parses `cpu`, `cuda` (= `cuda:0`) or `cuda:N`.
pub fn parse_device(spec: &str) -> Result<Device> {
    let spec = spec.trim();
    if spec.eq_ignore_ascii_case("cpu") {
        return Ok(Device::Cpu);
    }
    let ordinal = match spec.strip_prefix("cuda") {
        Some("") => 0,
        Some(rest) => rest
            .strip_prefix(':')
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                LlmError::Input(format!(
                    "device `{spec}`: expected `cpu`, `cuda` or `cuda:N`"
                ))
            })?,
        None => {
            return Err(LlmError::Input(format!(
                "device `{spec}`: expected `cpu`, `cuda` or `cuda:N`"
            )))
        }
    };
    if !cfg!(feature = "cuda") {
        return Err(LlmError::Input(format!(
            "device `{spec}`: this build has no CUDA support (build with `--features cuda`)"
        )));
    }
    Device::new_cuda(ordinal).map_err(|e| LlmError::Input(format!("device `{spec}`: {e}")))
}
