//! Where a model's tensors come from: initial values drawn from PyTorch's stream for the seed
//! (in construction order, as the reference builds them), or a safetensors file whose tensors
//! must match the model's names and shapes exactly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};

use crate::checkpoint::{read_tensors, RESUME_PREFIX};
use crate::torch_rng::TorchGenerator;
use crate::CfError;

/// How a fresh tensor is filled.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Init {
    /// `normal_(0, std)`; with `zero_padding_row`, row 0 is then zeroed
    /// (`nn.Embedding(padding_idx=0)`).
    Normal { std: f64, zero_padding_row: bool },
    /// `uniform_(-bound, bound)`.
    Uniform { bound: f64 },
    /// A constant; draws nothing.
    Constant(f32),
}

pub(crate) enum TableSource {
    Random(Box<TorchGenerator>),
    File {
        path: PathBuf,
        tensors: HashMap<String, Tensor>,
    },
}

impl TableSource {
    pub fn random(seed: u64) -> Self {
        TableSource::Random(Box::new(TorchGenerator::new(seed)))
    }

    pub fn file(path: &Path, device: &Device) -> Result<Self, CfError> {
        let mut tensors = read_tensors(path, device)?;
        // A resume checkpoint (`last.safetensors`) also carries optimizer state: not tables.
        tensors.retain(|name, _| !name.starts_with(RESUME_PREFIX));
        Ok(TableSource::File {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// The tensor `name` of shape `shape` (f32): drawn as `init` says, or read from the file.
    pub fn tensor(
        &mut self,
        name: &str,
        shape: &[usize],
        init: Init,
        device: &Device,
    ) -> Result<Var, CfError> {
        match self {
            TableSource::Random(rng) => {
                let n: usize = shape.iter().product();
                let mut values = vec![0f32; n];
                match init {
                    Init::Normal {
                        std,
                        zero_padding_row,
                    } => {
                        rng.normal_fill(&mut values, 0.0, std as f32);
                        if zero_padding_row {
                            let row = shape.last().copied().unwrap_or(n).min(n);
                            values[..row].fill(0.0);
                        }
                    }
                    Init::Uniform { bound } => {
                        rng.uniform_fill(&mut values, -bound as f32, bound as f32)
                    }
                    Init::Constant(c) => values.fill(c),
                }
                let t = Tensor::from_vec(values, shape, device)?;
                Ok(Var::from_tensor(&t)?)
            }
            TableSource::File { path, tensors } => {
                let t = tensors.remove(name).ok_or_else(|| CfError::Weights {
                    path: path.clone(),
                    message: format!("missing tensor `{name}`"),
                })?;
                if t.dims() != shape {
                    return Err(CfError::Weights {
                        path: path.clone(),
                        message: format!(
                            "tensor `{name}` has shape {:?}, the model expects {shape:?}",
                            t.dims(),
                        ),
                    });
                }
                Ok(Var::from_tensor(&t.to_dtype(DType::F32)?)?)
            }
        }
    }

    /// Consumes the `n` uniform draws of an initialisation the reference overwrites right away
    /// (MultiheadAttention zeroes `out_proj.bias` after `Linear` drew it), so that later
    /// tensors see the stream where the reference's did. Reading a file draws nothing.
    pub fn skip_draws(&mut self, n: usize) {
        if let TableSource::Random(rng) = self {
            let mut discard = vec![0f32; n];
            rng.uniform_fill(&mut discard, 0.0, 1.0);
        }
    }

    /// Every tensor of a file must have been used: a leftover means another model's file.
    pub fn finish(self) -> Result<(), CfError> {
        match self {
            TableSource::Random(_) => Ok(()),
            TableSource::File { path, tensors } => {
                if tensors.is_empty() {
                    Ok(())
                } else {
                    let mut names: Vec<_> = tensors.keys().cloned().collect();
                    names.sort();
                    Err(CfError::Weights {
                        path,
                        message: format!("unexpected tensors {names:?}: weights of another model?"),
                    })
                }
            }
        }
    }
}

/// Writes tensors to `path` through a temporary file of a known name (`<file>.tmp`, replaced by
/// the next save), so a killed run never leaves half a file, nor a stray one: candle's `save`
/// writes through a randomly named temporary file that a kill leaves in the folder for good.
pub(crate) fn save_tensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<(), CfError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| CfError::io(dir, e))?;
    }
    let tmp = tmp_path(path);
    let bytes = safetensors::serialize(tensors, None).map_err(|e| CfError::Weights {
        path: tmp.clone(),
        message: format!("cannot write safetensors: {e}"),
    })?;
    std::fs::write(&tmp, bytes).map_err(|e| CfError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CfError::io(path, e))
}

pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}
