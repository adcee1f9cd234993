//! Reading a GGUF file: its metadata as an `LlmConfig`, its vocabulary as a tokenizer, and its
//! tensors dequantised under their Hugging Face names and layout.
//!
//! Llama-architecture GGUF files (llama.cpp's converter) store the rows of q_proj and k_proj
//! permuted for interleaved RoPE. They are permuted back here, so the in-memory model, its LoRA
//! adapters and any exported adapter are all in the Hugging Face (half-split RoPE) layout.
//! Qwen2 files are not permuted by the converter and are read as they are.

use std::cell::RefCell;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor};

use crate::config::{Architecture, LlmConfig};
use crate::tokenizer::{LlmTokenizer, PreTokenizer, SpecialIds};
use crate::{LlmError, Result};

/// An open GGUF file.
pub(crate) struct GgufWeights {
    path: PathBuf,
    content: Content,
    reader: RefCell<BufReader<File>>,
    architecture: String,
}

/// GGUF token types (llama.cpp's `llama_token_type`).
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

impl GgufWeights {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| LlmError::io(path, e))?;
        let mut reader = BufReader::new(file);
        let content = Content::read(&mut reader).map_err(|e| match e {
            // A copy cut within its header: the reader's own words are "failed to fill whole
            // buffer".
            candle_core::Error::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                LlmError::gguf(path, "the file is cut short within its header")
            }
            e => LlmError::gguf(path, e),
        })?;
        let mut this = Self {
            path: path.to_owned(),
            content,
            reader: RefCell::new(reader),
            architecture: String::new(),
        };
        this.architecture = this.string("general.architecture")?;
        Ok(this)
    }

    /// Checks that the file is long enough for every tensor its header lists (a copy cut
    /// short reads its header fine and fails only when the cut tensor loads).
    pub(crate) fn check_complete(&self) -> Result<()> {
        let end = self
            .content
            .tensor_infos
            .values()
            .map(|t| {
                let bytes =
                    t.shape.elem_count() / t.ggml_dtype.block_size() * t.ggml_dtype.type_size();
                self.content.tensor_data_offset + t.offset + bytes as u64
            })
            .max()
            .unwrap_or(0);
        let size = std::fs::metadata(&self.path)
            .map_err(|e| LlmError::io(&self.path, e))?
            .len();
        if size < end {
            return Err(LlmError::gguf(
                &self.path,
                format!("the file is cut short: {size} bytes, its tensors end at byte {end}"),
            ));
        }
        Ok(())
    }

    fn value(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    fn required(&self, key: &str) -> Result<&Value> {
        self.value(key)
            .ok_or_else(|| LlmError::gguf(&self.path, format!("metadata key `{key}` is missing")))
    }

    fn string(&self, key: &str) -> Result<String> {
        self.required(key)?
            .to_string()
            .cloned()
            .map_err(|e| LlmError::gguf(&self.path, format!("metadata key `{key}`: {e}")))
    }

    fn number(&self, key: &str) -> Result<Option<f64>> {
        let Some(value) = self.value(key) else {
            return Ok(None);
        };
        let number = match value {
            Value::U8(v) => *v as f64,
            Value::I8(v) => *v as f64,
            Value::U16(v) => *v as f64,
            Value::I16(v) => *v as f64,
            Value::U32(v) => *v as f64,
            Value::I32(v) => *v as f64,
            Value::U64(v) => *v as f64,
            Value::I64(v) => *v as f64,
            Value::F32(v) => *v as f64,
            Value::F64(v) => *v,
            other => {
                return Err(LlmError::gguf(
                    &self.path,
                    format!("metadata key `{key}` is {other:?}, not a number"),
                ))
            }
        };
        Ok(Some(number))
    }

    fn arch_number(&self, key: &str) -> Result<Option<f64>> {
        self.number(&format!("{}.{key}", self.architecture))
    }

    fn arch_usize(&self, key: &str) -> Result<usize> {
        let full = format!("{}.{key}", self.architecture);
        self.number(&full)?
            .map(|v| v as usize)
            .ok_or_else(|| LlmError::gguf(&self.path, format!("metadata key `{full}` is missing")))
    }

    pub(crate) fn contains(&self, gguf_name: &str) -> bool {
        self.content.tensor_infos.contains_key(gguf_name)
    }

    /// The decoder's configuration from the `<arch>.*` metadata keys.
    pub(crate) fn config(&self) -> Result<LlmConfig> {
        let architecture = match self.architecture.as_str() {
            "llama" => Architecture::Llama,
            "qwen2" => Architecture::Qwen2,
            other => {
                return Err(LlmError::UnsupportedArchitecture {
                    path: self.path.clone(),
                    arch: other.into(),
                })
            }
        };
        let embed = self
            .content
            .tensor_infos
            .get("token_embd.weight")
            .ok_or_else(|| LlmError::MissingTensor {
                path: self.path.clone(),
                tensor: "token_embd.weight".into(),
            })?;
        let vocab_size = embed.shape.dims()[0];
        let hidden_size = self.arch_usize("embedding_length")?;
        let num_heads = self.arch_usize("attention.head_count")?;
        let num_kv_heads = match self.arch_number("attention.head_count_kv")? {
            Some(v) => v as usize,
            None => num_heads,
        };
        let head_dim = match self.arch_number("attention.key_length")? {
            Some(v) => v as usize,
            None => hidden_size / num_heads.max(1),
        };
        let config = LlmConfig {
            architecture,
            vocab_size,
            hidden_size,
            intermediate_size: self.arch_usize("feed_forward_length")?,
            num_layers: self.arch_usize("block_count")?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: self
                .arch_number("attention.layer_norm_rms_epsilon")?
                .unwrap_or(1e-5),
            rope_theta: self.arch_number("rope.freq_base")?.unwrap_or(10_000.0),
            tie_word_embeddings: !self.contains("output.weight"),
            attention_bias: self.contains("blk.0.attn_q.bias"),
            max_position_embeddings: self
                .arch_number("context_length")?
                .map(|v| v as usize)
                .unwrap_or(4096),
            sliding_window: None,
        };
        config.validate(&self.path)?;
        Ok(config)
    }

    fn string_array(&self, key: &str) -> Result<Vec<String>> {
        let items = self
            .required(key)?
            .to_vec()
            .map_err(|e| LlmError::gguf(&self.path, format!("metadata key `{key}`: {e}")))?;
        items
            .iter()
            .map(|v| {
                v.to_string()
                    .cloned()
                    .map_err(|e| LlmError::gguf(&self.path, format!("metadata key `{key}`: {e}")))
            })
            .collect()
    }

    /// The tokenizer described by the `tokenizer.ggml.*` keys (byte-level BPE only).
    pub(crate) fn tokenizer(&self) -> Result<LlmTokenizer> {
        let model = self.string("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(LlmError::gguf(
                &self.path,
                format!(
                    "tokenizer model `{model}` is not supported (only byte-level BPE, `gpt2`); \
                     load the Hugging Face folder instead"
                ),
            ));
        }
        let pre_name = match self.value("tokenizer.ggml.pre") {
            Some(_) => self.string("tokenizer.ggml.pre")?,
            None => "default".into(),
        };
        let pre = PreTokenizer::from_gguf_name(&pre_name).ok_or_else(|| {
            LlmError::gguf(
                &self.path,
                format!("tokenizer pre-tokenizer `{pre_name}` is not supported"),
            )
        })?;
        let tokens = self.string_array("tokenizer.ggml.tokens")?;
        let merges = self
            .string_array("tokenizer.ggml.merges")?
            .into_iter()
            .enumerate()
            .map(|(i, m)| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .ok_or_else(|| {
                        LlmError::gguf(
                            &self.path,
                            format!("tokenizer.ggml.merges[{i}] = {m:?} has no space"),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let types: Vec<i32> = match self.value("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| LlmError::gguf(&self.path, format!("tokenizer.ggml.token_type: {e}")))?
                .iter()
                .map(|t| t.to_i32())
                .collect::<candle_core::Result<_>>()
                .map_err(|e| {
                    LlmError::gguf(&self.path, format!("tokenizer.ggml.token_type: {e}"))
                })?,
            None => vec![],
        };
        let ids_of = |wanted: i32| -> Vec<u32> {
            types
                .iter()
                .enumerate()
                .filter(|(_, &t)| t == wanted)
                .map(|(i, _)| i as u32)
                .collect()
        };
        let id = |key: &str| -> Result<Option<u32>> { Ok(self.number(key)?.map(|v| v as u32)) };
        let special = SpecialIds {
            bos: id("tokenizer.ggml.bos_token_id")?,
            eos: id("tokenizer.ggml.eos_token_id")?,
            pad: id("tokenizer.ggml.padding_token_id")?,
            unk: id("tokenizer.ggml.unknown_token_id")?,
        };
        LlmTokenizer::byte_level_bpe(
            &tokens,
            merges,
            pre,
            &ids_of(TOKEN_TYPE_CONTROL),
            &ids_of(TOKEN_TYPE_USER_DEFINED),
            special,
        )
    }

    /// A tensor by its Hugging Face name, dequantised to `dtype`, checked against `shape`, and
    /// with the q/k row permutation undone for llama files.
    pub(crate) fn tensor(
        &self,
        hf_name: &str,
        shape: &[usize],
        config: &LlmConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let name = gguf_name(hf_name).ok_or_else(|| {
            LlmError::gguf(&self.path, format!("no GGUF name for tensor `{hf_name}`"))
        })?;
        let info = self
            .content
            .tensor_infos
            .get(&name)
            .ok_or_else(|| LlmError::MissingTensor {
                path: self.path.clone(),
                tensor: name.clone(),
            })?;
        if info.shape.dims() != shape {
            return Err(LlmError::ShapeMismatch {
                path: self.path.clone(),
                tensor: name,
                expected: shape.to_vec(),
                found: info.shape.dims().to_vec(),
            });
        }
        let qtensor = {
            let mut reader = self.reader.borrow_mut();
            self.content
                .tensor(&mut *reader, &name, &Device::Cpu)
                .map_err(|e| LlmError::gguf(&self.path, format!("tensor `{name}`: {e}")))?
        };
        let mut tensor = qtensor
            .dequantize(&Device::Cpu)
            .map_err(|e| LlmError::gguf(&self.path, format!("tensor `{name}`: {e}")))?;
        if self.architecture == "llama" {
            if hf_name.ends_with("q_proj.weight") || hf_name.ends_with("q_proj.bias") {
                tensor = unpermute_rows(&tensor, config.num_heads)?;
            } else if hf_name.ends_with("k_proj.weight") || hf_name.ends_with("k_proj.bias") {
                tensor = unpermute_rows(&tensor, config.num_kv_heads)?;
            }
        }
        Ok(tensor.to_dtype(dtype)?.to_device(device)?)
    }
}

/// Undoes llama.cpp's `permute`: within each head, GGUF row `2i + j` holds Hugging Face row
/// `j·(d/2) + i`. Works on a weight `[heads·d, in]` or a bias `[heads·d]`.
pub(crate) fn unpermute_rows(t: &Tensor, heads: usize) -> Result<Tensor> {
    let dims = t.dims().to_vec();
    let rows = dims[0];
    let rest: usize = dims[1..].iter().product();
    let half = rows / heads / 2;
    let out = t
        .reshape((heads, half, 2, rest))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(dims)?;
    Ok(out)
}

/// The forward of [`unpermute_rows`] (Hugging Face layout to llama.cpp's), for writing GGUF files.
pub fn permute_rows(t: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let dims = t.dims().to_vec();
    let rest: usize = dims[1..].iter().product();
    let half = dims[0] / heads / 2;
    t.reshape((heads, 2, half, rest))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(dims)
}

/// The GGUF name of a Hugging Face tensor name (llama.cpp's naming).
pub fn gguf_name(hf_name: &str) -> Option<String> {
    match hf_name {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = hf_name.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let (module, suffix) = rest.rsplit_once('.')?;
    let short = match module {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        _ => return None,
    };
    Some(format!("blk.{layer}.{short}.{suffix}"))
}
