//! LoRA parameters by name: listing them for an optimiser, saving and loading them as
//! safetensors, and exporting a peft adapter folder that Python's `peft` loads.
//!
//! Names follow peft's saved layout,
//! `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight` (A `[r, in]`, B `[out, r]`).
//! The base weights are held in the Hugging Face layout even when read from a GGUF file (the GGUF
//! q/k row permutation for interleaved RoPE is undone at load, see `gguf`), so the exported
//! q_proj/k_proj `lora_B` rows are already in the order a Hugging Face checkpoint expects and need
//! no un-permutation.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Var};

use crate::config::LoraConfig;
use crate::model::Llm;
use crate::{LlmError, Result};

/// Metadata key under which [`Llm::save_lora`] records the adapter's configuration.
const CONFIG_KEY: &str = "collm.lora_config";

/// A tensor's f32 bytes, in the form the `safetensors` writer takes.
struct Bytes {
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl safetensors::View for &Bytes {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

impl Llm {
    /// Every LoRA parameter with its peft name, A before B, layer by layer.
    pub fn lora_vars(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            for (target, lin) in block.linears() {
                if let Some(adapter) = &lin.lora {
                    let base = format!("base_model.model.{}", target.hf_path(i));
                    out.push((format!("{base}.lora_A.weight"), adapter.a.clone()));
                    out.push((format!("{base}.lora_B.weight"), adapter.b.clone()));
                }
            }
        }
        out
    }

    fn lora_or_err(&self) -> Result<&LoraConfig> {
        self.lora
            .as_ref()
            .ok_or_else(|| LlmError::Lora("the model was loaded without LoRA".into()))
    }

    fn write_lora(&self, path: &Path, metadata: HashMap<String, String>) -> Result<()> {
        let tensors = self
            .lora_vars()
            .into_iter()
            .map(|(name, var)| {
                let t = var.as_tensor().to_dtype(DType::F32)?;
                let values = t.flatten_all()?.to_vec1::<f32>()?;
                let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                Ok((
                    name,
                    Bytes {
                        shape: t.dims().to_vec(),
                        data,
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let views = tensors.iter().map(|(n, b)| (n.as_str(), b));
        safetensors::serialize_to_file(views, Some(metadata), path)
            .map_err(|e| LlmError::Lora(format!("{}: {e}", path.display())))
    }

    /// Writes the LoRA parameters (f32) to a safetensors file (peft names), with the LoRA config
    /// as metadata.
    pub fn save_lora(&self, path: &Path) -> Result<()> {
        let config = self.lora_or_err()?;
        let json = serde_json::to_string(config).map_err(|e| LlmError::Lora(e.to_string()))?;
        // One metadata key only: safetensors writes the metadata map in a HashMap's random
        // order, and a checkpoint should be the same bytes every time it holds the same weights.
        let metadata = HashMap::from([(CONFIG_KEY.to_string(), json)]);
        self.write_lora(path, metadata)
    }

    /// Reads LoRA parameters written by [`Llm::save_lora`] (or a peft `adapter_model.safetensors`
    /// of the same shape). Names and shapes must match this model's adapters exactly, and a
    /// recorded LoRA config must equal this model's.
    pub fn load_lora(&self, path: &Path) -> Result<()> {
        let config = self.lora_or_err()?;
        let bytes = std::fs::read(path).map_err(|e| LlmError::io(path, e))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| LlmError::Lora(format!("{}: {e}", path.display())))?;
        if let Some(json) = meta.metadata().as_ref().and_then(|m| m.get(CONFIG_KEY)) {
            let saved: LoraConfig = serde_json::from_str(json).map_err(|e| {
                LlmError::Lora(format!("{}: metadata `{CONFIG_KEY}`: {e}", path.display()))
            })?;
            if &saved != config {
                return Err(LlmError::Lora(format!(
                    "{}: saved with {saved:?}, the model has {config:?}",
                    path.display()
                )));
            }
        }
        let mut tensors = candle_core::safetensors::load_buffer(&bytes, self.device())
            .map_err(|e| LlmError::Lora(format!("{}: {e}", path.display())))?;
        let vars = self.lora_vars();
        for (name, var) in &vars {
            let t = tensors
                .remove(name)
                .ok_or_else(|| LlmError::MissingTensor {
                    path: path.to_owned(),
                    tensor: name.clone(),
                })?;
            if t.dims() != var.dims() {
                return Err(LlmError::ShapeMismatch {
                    path: path.to_owned(),
                    tensor: name.clone(),
                    expected: var.dims().to_vec(),
                    found: t.dims().to_vec(),
                });
            }
            var.set(&t.to_dtype(var.dtype())?)?;
        }
        if let Some(extra) = tensors.keys().min() {
            return Err(LlmError::Lora(format!(
                "{}: tensor `{extra}` is not a LoRA parameter of this model",
                path.display()
            )));
        }
        Ok(())
    }

    /// Writes a peft adapter folder: `adapter_config.json` and `adapter_model.safetensors`, in the
    /// Hugging Face layout (loadable with `PeftModel.from_pretrained` over the Hugging Face
    /// checkpoint of the same base model).
    pub fn save_peft_adapter(&self, dir: &Path) -> Result<()> {
        let config = self.lora_or_err()?;
        std::fs::create_dir_all(dir).map_err(|e| LlmError::io(dir, e))?;
        let targets: Vec<&str> = config.targets.iter().map(|t| t.name()).collect();
        let adapter_config = serde_json::json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": self.source,
            "r": config.r,
            "lora_alpha": config.alpha,
            "lora_dropout": config.dropout,
            "target_modules": targets,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "modules_to_save": null,
            "use_rslora": false,
            "use_dora": false,
        });
        let config_path = dir.join("adapter_config.json");
        let text = serde_json::to_string_pretty(&adapter_config)
            .map_err(|e| LlmError::Lora(e.to_string()))?;
        std::fs::write(&config_path, text).map_err(|e| LlmError::io(&config_path, e))?;
        let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
        self.write_lora(&dir.join("adapter_model.safetensors"), metadata)
    }
}
