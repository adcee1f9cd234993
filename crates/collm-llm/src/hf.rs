//! Reading a Hugging Face model folder: `config.json`, `tokenizer.json` and the safetensors
//! weights (one file or shards listed in `model.safetensors.index.json`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use crate::config::{Architecture, LlmConfig};
use crate::tokenizer::SpecialIds;
use crate::{LlmError, Result};

/// The fields of a Hugging Face `config.json` this crate reads. Unknown keys are ignored on
/// purpose: the file belongs to another project and carries dozens of unrelated settings.
#[derive(Debug, Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    #[serde(default)]
    architectures: Vec<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: f64,
    rope_theta: Option<f64>,
    tie_word_embeddings: Option<bool>,
    attention_bias: Option<bool>,
    max_position_embeddings: usize,
    sliding_window: Option<usize>,
    use_sliding_window: Option<bool>,
    rope_scaling: Option<serde_json::Value>,
    hidden_act: Option<String>,
    bos_token_id: Option<serde_json::Value>,
    eos_token_id: Option<serde_json::Value>,
    pad_token_id: Option<serde_json::Value>,
}

/// The first id of a field that may be a number or a list of numbers.
fn first_id(value: &Option<serde_json::Value>) -> Option<u32> {
    match value.as_ref()? {
        serde_json::Value::Number(n) => n.as_u64().map(|v| v as u32),
        serde_json::Value::Array(items) => items.first().and_then(|v| v.as_u64()).map(|v| v as u32),
        _ => None,
    }
}

/// Parses `config.json`; the error names the file and, for a bad field, the field.
pub(crate) fn read_config(path: &Path) -> Result<(LlmConfig, SpecialIds)> {
    let text = std::fs::read_to_string(path).map_err(|e| LlmError::io(path, e))?;
    let raw: HfConfig = serde_json::from_str(&text)
        .map_err(|e| LlmError::config(path, format!("line {}: {e}", e.line())))?;
    let model_type = raw
        .model_type
        .clone()
        .or_else(|| raw.architectures.first().cloned())
        .unwrap_or_else(|| "<none>".into());
    let architecture = Architecture::from_model_type(&model_type).ok_or_else(|| {
        LlmError::UnsupportedArchitecture { path: path.to_owned(), arch: model_type.clone() }
    })?;
    if let Some(act) = raw.hidden_act.as_deref() {
        if act != "silu" {
            return Err(LlmError::config(path, format!("field `hidden_act`: `{act}` is not supported, only `silu`")));
        }
    }
    if let Some(scaling) = raw.rope_scaling.as_ref().filter(|v| !v.is_null()) {
        return Err(LlmError::config(path, format!("field `rope_scaling`: {scaling} is not supported")));
    }
    let sliding_window = match architecture {
        Architecture::Mistral => raw.sliding_window,
        Architecture::Qwen2 if raw.use_sliding_window == Some(true) => raw.sliding_window,
        _ => None,
    };
    let config = LlmConfig {
        architecture,
        vocab_size: raw.vocab_size,
        hidden_size: raw.hidden_size,
        intermediate_size: raw.intermediate_size,
        num_layers: raw.num_hidden_layers,
        num_heads: raw.num_attention_heads,
        num_kv_heads: raw.num_key_value_heads.unwrap_or(raw.num_attention_heads),
        head_dim: raw.head_dim.unwrap_or(raw.hidden_size / raw.num_attention_heads.max(1)),
        rms_norm_eps: raw.rms_norm_eps,
        rope_theta: raw.rope_theta.unwrap_or(10_000.0),
        tie_word_embeddings: raw.tie_word_embeddings.unwrap_or(false),
        attention_bias: architecture == Architecture::Qwen2 || raw.attention_bias.unwrap_or(false),
        max_position_embeddings: raw.max_position_embeddings,
        sliding_window,
    };
    config.validate(path)?;
    let special = SpecialIds {
        bos: first_id(&raw.bos_token_id),
        eos: first_id(&raw.eos_token_id),
        pad: first_id(&raw.pad_token_id),
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
            .ok_or_else(|| LlmError::config(&index, "field `weight_map` is missing or not an object"))?;
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
        Ok(Self { dir: dir.to_owned(), st })
    }

    pub(crate) fn tensor(&self, name: &str, shape: &[usize], dtype: DType, device: &Device) -> Result<Tensor> {
        let view = self
            .st
            .get(name)
            .map_err(|_| LlmError::MissingTensor { path: self.dir.clone(), tensor: name.into() })?;
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
