//! The shape of a decoder (`LlmConfig`) and of its LoRA adapters (`LoraConfig`), independent of the
//! file format they were read from.

use serde::{Deserialize, Serialize};

/// The decoder families this crate runs. Vicuna, TinyLlama and SmolLM2 are `Llama`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    Llama,
    Mistral,
    /// Llama with biases on the q, k and v projections.
    Qwen2,
}

impl Architecture {
    /// The Hugging Face `model_type` and class name.
    pub fn hf_names(self) -> (&'static str, &'static str) {
        match self {
            Architecture::Llama => ("llama", "LlamaForCausalLM"),
            Architecture::Mistral => ("mistral", "MistralForCausalLM"),
            Architecture::Qwen2 => ("qwen2", "Qwen2ForCausalLM"),
        }
    }

    /// The inverse of [`Architecture::hf_names`]'s `model_type`.
    pub fn from_model_type(model_type: &str) -> Option<Self> {
        match model_type {
            "llama" => Some(Architecture::Llama),
            "mistral" => Some(Architecture::Mistral),
            "qwen2" => Some(Architecture::Qwen2),
            _ => None,
        }
    }
}

/// Everything needed to build the decoder's tensors and run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmConfig {
    pub architecture: Architecture,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention); equal to `num_heads` for plain multi-head.
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    /// The output head shares the token-embedding matrix.
    pub tie_word_embeddings: bool,
    /// Biases on q_proj, k_proj and v_proj (Qwen2).
    pub attention_bias: bool,
    pub max_position_embeddings: usize,
    /// Mistral's sliding attention window, in positions; `None` attends to everything.
    pub sliding_window: Option<usize>,
}

impl LlmConfig {
    /// Checks the relations between the sizes; `origin` names the file in the error.
    pub fn validate(&self, origin: &std::path::Path) -> crate::Result<()> {
        let fail = |msg: String| Err(crate::LlmError::config(origin, msg));
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (field, value) in positive {
            if value == 0 {
                return fail(format!("field `{field}` must be positive"));
            }
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return fail(format!(
                "field `num_key_value_heads` ({}) must divide `num_attention_heads` ({})",
                self.num_kv_heads, self.num_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return fail(format!(
                "field `head_dim` ({}) must be even for RoPE",
                self.head_dim
            ));
        }
        // Written so that NaN fails too.
        let positive = |x: f64| x > 0.0;
        if !positive(self.rope_theta) || !positive(self.rms_norm_eps) {
            return fail("fields `rope_theta` and `rms_norm_eps` must be positive".into());
        }
        Ok(())
    }

    /// The expected shape of each linear layer's weight, `[out, in]`.
    pub fn linear_shape(&self, target: LoraTarget) -> [usize; 2] {
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let (q, kv) = (
            self.num_heads * self.head_dim,
            self.num_kv_heads * self.head_dim,
        );
        match target {
            LoraTarget::QProj => [q, h],
            LoraTarget::KProj | LoraTarget::VProj => [kv, h],
            LoraTarget::OProj => [h, q],
            LoraTarget::GateProj | LoraTarget::UpProj => [i, h],
            LoraTarget::DownProj => [h, i],
        }
    }

    /// The Hugging Face `config.json` for this configuration (special token ids added by the
    /// caller when it knows them).
    pub fn to_hf_json(&self) -> serde_json::Value {
        let (model_type, class) = self.architecture.hf_names();
        serde_json::json!({
            "architectures": [class],
            "model_type": model_type,
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_layers,
            "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads,
            "head_dim": self.head_dim,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.attention_bias,
            "max_position_embeddings": self.max_position_embeddings,
            "sliding_window": self.sliding_window,
            "hidden_act": "silu",
        })
    }
}

/// A linear layer of a decoder block, named as Hugging Face and peft name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraTarget {
    QProj,
    KProj,
    VProj,
    OProj,
    GateProj,
    UpProj,
    DownProj,
}

impl LoraTarget {
    pub const ALL: [LoraTarget; 7] = [
        LoraTarget::QProj,
        LoraTarget::KProj,
        LoraTarget::VProj,
        LoraTarget::OProj,
        LoraTarget::GateProj,
        LoraTarget::UpProj,
        LoraTarget::DownProj,
    ];

    /// `q_proj`, `gate_proj`, ...
    pub fn name(self) -> &'static str {
        match self {
            LoraTarget::QProj => "q_proj",
            LoraTarget::KProj => "k_proj",
            LoraTarget::VProj => "v_proj",
            LoraTarget::OProj => "o_proj",
            LoraTarget::GateProj => "gate_proj",
            LoraTarget::UpProj => "up_proj",
            LoraTarget::DownProj => "down_proj",
        }
    }

    /// `self_attn` or `mlp`: the Hugging Face submodule that holds the layer.
    pub fn block(self) -> &'static str {
        match self {
            LoraTarget::QProj | LoraTarget::KProj | LoraTarget::VProj | LoraTarget::OProj => {
                "self_attn"
            }
            LoraTarget::GateProj | LoraTarget::UpProj | LoraTarget::DownProj => "mlp",
        }
    }

    /// The Hugging Face parameter path of layer `layer`'s module, e.g.
    /// `model.layers.3.self_attn.q_proj`.
    pub fn hf_path(self, layer: usize) -> String {
        format!("model.layers.{layer}.{}.{}", self.block(), self.name())
    }
}

/// LoRA hyper-parameters; defaults are the CoLLM reference's (r 8, alpha 16, dropout 0.05 on
/// q_proj and v_proj).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraConfig {
    pub r: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub targets: Vec<LoraTarget>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: 8,
            alpha: 16.0,
            dropout: 0.05,
            targets: vec![LoraTarget::QProj, LoraTarget::VProj],
        }
    }
}

impl LoraConfig {
    /// The factor applied to `B·A·x` (peft's `lora_alpha / r`).
    pub fn scale(&self) -> f64 {
        self.alpha / self.r as f64
    }

    pub fn validate(&self) -> crate::Result<()> {
        let bad = |field: &'static str, message: String| {
            Err(crate::LlmError::LoraSetting { field, message })
        };
        if self.r == 0 {
            return bad("r", "must be positive".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(
                "dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            );
        }
        if !self.alpha.is_finite() {
            return bad("alpha", "must be finite".into());
        }
        if self.targets.is_empty() {
            return bad("targets", "must name a module".into());
        }
        Ok(())
    }

    /// The rules for a config a person writes now, beyond [`LoraConfig::validate`] (stored
    /// runs' experiments are not held to them).
    pub fn check_new_input(&self) -> crate::Result<()> {
        const MAX_LORA_RANK: usize = 4096;
        // Past the layers' widths a rank adds nothing; far past, its matrices exhaust memory
        // (r = 1e8 asked for 25 GB and aborted the process).
        if self.r > MAX_LORA_RANK {
            return Err(crate::LlmError::LoraSetting {
                field: "r",
                message: format!(
                    "must be at most {MAX_LORA_RANK} (LoRA ranks are 4 to 64), got {}",
                    self.r
                ),
            });
        }
        Ok(())
    }

    pub fn targets_module(&self, target: LoraTarget) -> bool {
        self.targets.contains(&target)
    }
}
