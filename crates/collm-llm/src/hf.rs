//! Reading a Hugging Face model folder: `config.json`, `tokenizer.json` and the safetensors
//! weights (one file or shards listed in `model.safetensors.index.json`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use crate::config::{Architecture, LlmConfig};
use crate::tokenizer::SpecialIds;
use crate::{LlmError, Result};

/// Typed access to the fields of a Hugging Face `config.json`, with errors naming the field.
/// Unknown keys are ignored on purpose: the file belongs to another project and carries dozens
/// of unrelated settings.
struct Fields<'a> {
    path: &'a Path,
    map: &'a serde_json::Map<String, serde_json::Value>,
}

impl Fields<'_> {
    fn present(&self, key: &str) -> Option<&serde_json::Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn fail(&self, key: &str, expected: &str) -> LlmError {
        LlmError::config(
            self.path,
            format!("field `{key}`: expected {expected}, got {}", self.map[key]),
        )
    }

    fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        self.present(key)
            .map(|v| {
                v.as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| self.fail(key, "a non-negative integer"))
            })
            .transpose()
    }

    fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?
            .ok_or_else(|| LlmError::config(self.path, format!("field `{key}` is missing")))
    }

    fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        self.present(key)
            .map(|v| v.as_f64().ok_or_else(|| self.fail(key, "a number")))
            .transpose()
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        self.present(key)
            .map(|v| v.as_bool().ok_or_else(|| self.fail(key, "true or false")))
            .transpose()
    }

    fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        self.present(key)
            .map(|v| v.as_str().ok_or_else(|| self.fail(key, "a string")))
            .transpose()
    }

    /// A token id given as a number or as a list of numbers (the first one is taken).
    fn opt_id(&self, key: &str) -> Result<Option<u32>> {
        let Some(value) = self.present(key) else {
            return Ok(None);
        };
        let first = match value {
            serde_json::Value::Array(items) => items.first(),
            other => Some(other),
        };
        match first {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as u32))
                .ok_or_else(|| self.fail(key, "a token id or a list of them")),
        }
    }
}

/// Parses `config.json`; errors name the file and the field.
pub(crate) fn read_config(path: &Path) -> Result<(LlmConfig, SpecialIds)> {
    let text = std::fs::read_to_string(path).map_err(|e| LlmError::io(path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| LlmError::config(path, format!("line {}: {e}", e.line())))?;
    let map = json
        .as_object()
        .ok_or_else(|| LlmError::config(path, "expected a JSON object"))?;
    let f = Fields { path, map };
    let first_class = f
        .present("architectures")
        .and_then(|v| v.get(0))
        .and_then(|v| v.as_str());
    let model_type = f.opt_str("model_type")?.or(first_class).unwrap_or("<none>");
    let architecture = Architecture::from_model_type(model_type).ok_or_else(|| {
        LlmError::UnsupportedArchitecture {
            path: path.to_owned(),
            arch: model_type.to_owned(),
        }
    })?;
    if let Some(act) = f.opt_str("hidden_act")? {
        if act != "silu" {
            return Err(LlmError::config(
                path,
                format!("field `hidden_act`: `{act}` is not supported, only `silu`"),
            ));
        }
    }
    if let Some(scaling) = f.present("rope_scaling") {
        return Err(LlmError::config(
            path,
            format!("field `rope_scaling`: {scaling} is not supported"),
        ));
    }
    let sliding_window = match architecture {
        Architecture::Mistral => f.opt_usize("sliding_window")?,
        Architecture::Qwen2 if f.opt_bool("use_sliding_window")? == Some(true) => {
            f.opt_usize("sliding_window")?
        }
        _ => None,
    };
    let num_heads = f.usize("num_attention_heads")?;
    let hidden_size = f.usize("hidden_size")?;
    let config = LlmConfig {
        architecture,
        vocab_size: f.usize("vocab_size")?,
        hidden_size,
        intermediate_size: f.usize("intermediate_size")?,
        num_layers: f.usize("num_hidden_layers")?,
        num_heads,
        num_kv_heads: f.opt_usize("num_key_value_heads")?.unwrap_or(num_heads),
        head_dim: f
            .opt_usize("head_dim")?
            .unwrap_or(hidden_size / num_heads.max(1)),
        rms_norm_eps: f.opt_f64("rms_norm_eps")?.unwrap_or(1e-6),
        rope_theta: f.opt_f64("rope_theta")?.unwrap_or(10_000.0),
        tie_word_embeddings: f.opt_bool("tie_word_embeddings")?.unwrap_or(false),
        attention_bias: architecture == Architecture::Qwen2
            || f.opt_bool("attention_bias")?.unwrap_or(false),
        max_position_embeddings: f.opt_usize("max_position_embeddings")?.unwrap_or(4096),
        sliding_window,
    };
    config.validate(path)?;
    let special = SpecialIds {
        bos: f.opt_id("bos_token_id")?,
        eos: f.opt_id("eos_token_id")?,
        pad: f.opt_id("pad_token_id")?,
        unk: None,
    };
    Ok((config, special))
}

/// The safetensors files of a folder: the shards named by the index if there is one, else
/// `model.safetensors`, else every `*.safetensors` file.
pub(crate) fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index).map_err(|e| LlmError::io(&index, e))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| LlmError::config(&index, format!("line {}: {e}", e.line())))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| {
                LlmError::config(&index, "field `weight_map` is missing or not an object")
            })?;
        let files: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
        let paths: Vec<PathBuf> = files.into_iter().map(|f| dir.join(f)).collect();
        for p in &paths {
            if !p.exists() {
                return Err(LlmError::MissingFile {
                    path: p.clone(),
                    hint: format!(" (listed in {})", index.display()),
                });
            }
        }
        return Ok(paths);
    }
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| LlmError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(LlmError::MissingFile {
            path: single,
            hint: " (no *.safetensors weights in the folder)".into(),
        });
    }
    Ok(found)
}

/// Memory-mapped safetensors shards, read tensor by tensor with a shape check.
pub(crate) struct SafetensorsWeights {
    dir: PathBuf,
    st: MmapedSafetensors,
}

impl SafetensorsWeights {
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let files = weight_files(dir)?;
        // SAFETY: the files are only read; modifying them while loaded is the caller's problem,
        // as for every memory-mapped weight loader.
        let st = unsafe { MmapedSafetensors::multi(&files) }
            .map_err(|e| LlmError::config(dir, format!("reading safetensors: {e}")))?;
        Ok(Self {
            dir: dir.to_owned(),
            st,
        })
    }

    pub(crate) fn tensor(
        &self,
        name: &str,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let view = self.st.get(name).map_err(|_| LlmError::MissingTensor {
            path: self.dir.clone(),
            tensor: name.into(),
        })?;
        if view.shape() != shape {
            return Err(LlmError::ShapeMismatch {
                path: self.dir.clone(),
                tensor: name.into(),
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        Ok(self.st.load(name, device)?.to_dtype(dtype)?)
    }
}
