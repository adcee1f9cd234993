//! Where a model's embedding tables come from: a normal initialisation drawn from PyTorch's
//! stream for the seed (tables in construction order, as the reference builds them), or a
//! safetensors file whose tensors must match the model's names and shapes exactly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};

use crate::checkpoint::{read_tensors, RESUME_PREFIX};
use crate::torch_rng::TorchGenerator;
use crate::CfError;

/// One embedding table of a model: its safetensors name, shape and initialisation.
pub(crate) struct TableSpec<'a> {
    pub name: &'a str,
    pub rows: usize,
    pub dim: usize,
    pub std: f64,
    /// Row 0 is the padding id and starts at zero (`nn.Embedding(padding_idx=0)`).
    pub zero_padding_row: bool,
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

    pub fn table(&mut self, spec: &TableSpec, device: &Device) -> Result<Var, CfError> {
        match self {
            TableSource::Random(rng) => {
                let mut values = vec![0f32; spec.rows * spec.dim];
                rng.normal_fill(&mut values, 0.0, spec.std as f32);
                if spec.zero_padding_row {
                    let row = spec.dim.min(values.len());
                    values[..row].fill(0.0);
                }
                let t = Tensor::from_vec(values, (spec.rows, spec.dim), device)?;
                Ok(Var::from_tensor(&t)?)
            }
            TableSource::File { path, tensors } => {
                let t = tensors.remove(spec.name).ok_or_else(|| CfError::Weights {
                    path: path.clone(),
                    message: format!("missing tensor `{}`", spec.name),
                })?;
                if t.dims() != [spec.rows, spec.dim] {
                    return Err(CfError::Weights {
                        path: path.clone(),
                        message: format!(
                            "tensor `{}` has shape {:?}, the model expects [{}, {}]",
                            spec.name,
                            t.dims(),
                            spec.rows,
                            spec.dim
                        ),
                    });
                }
                Ok(Var::from_tensor(&t.to_dtype(DType::F32)?)?)
            }
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

/// Writes tensors to `path` through a temporary file, so a killed run never leaves half a file.
pub(crate) fn save_tensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<(), CfError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| CfError::io(dir, e))?;
    }
    let tmp = tmp_path(path);
    candle_core::safetensors::save(tensors, &tmp).map_err(|e| CfError::Weights {
        path: tmp.clone(),
        message: format!("cannot write safetensors: {e}"),
    })?;
    std::fs::rename(&tmp, path).map_err(|e| CfError::io(path, e))
}

pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}
