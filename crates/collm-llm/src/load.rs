//! Building an `Llm` from a source of named weights: a GGUF file, a Hugging Face folder, or a
//! seeded random generator. Every tensor is checked against the shape the config implies.

use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{LlmConfig, LoraConfig, LoraTarget};
use crate::gguf::GgufWeights;
use crate::hf::{self, SafetensorsWeights};
use crate::lora::{Linear, LoraAdapter, LoraRuntime};
use crate::model::{rope_tables, Block, Llm};
use crate::tokenizer::LlmTokenizer;
use crate::{LlmError, Result};

/// The seed of LoRA's A matrices at load; [`Llm::init_lora`] draws them again with another.
pub const LORA_INIT_SEED: u64 = 0;

/// Named weights, returned in the model's dtype on its device.
pub(crate) trait WeightSource {
    fn tensor(&mut self, hf_name: &str, shape: &[usize]) -> Result<Tensor>;
}

struct Gguf<'a> {
    file: &'a GgufWeights,
    config: &'a LlmConfig,
    dtype: DType,
    device: &'a Device,
}

impl WeightSource for Gguf<'_> {
    fn tensor(&mut self, hf_name: &str, shape: &[usize]) -> Result<Tensor> {
        self.file
            .tensor(hf_name, shape, self.config, self.dtype, self.device)
    }
}

struct Safetensors<'a> {
    weights: &'a SafetensorsWeights,
    dtype: DType,
    device: &'a Device,
}

impl WeightSource for Safetensors<'_> {
    fn tensor(&mut self, hf_name: &str, shape: &[usize]) -> Result<Tensor> {
        self.weights.tensor(hf_name, shape, self.dtype, self.device)
    }
}

/// Random weights scaled so activations keep unit size: linear weights N(0, 1/in), embeddings
/// N(0, 1), norm gains 1 ± 0.2, biases N(0, 0.1²).
pub(crate) struct Random {
    rng: StdRng,
    dtype: DType,
    device: Device,
}

impl Random {
    pub(crate) fn new(seed: u64, dtype: DType, device: &Device) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            dtype,
            device: device.clone(),
        }
    }

    fn normal(&mut self) -> f64 {
        // Box-Muller; 1 - u keeps the logarithm finite.
        let u: f64 = 1.0 - self.rng.gen::<f64>();
        let v: f64 = self.rng.gen();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

impl WeightSource for Random {
    fn tensor(&mut self, hf_name: &str, shape: &[usize]) -> Result<Tensor> {
        let count: usize = shape.iter().product();
        let values: Vec<f64> = if hf_name.ends_with("norm.weight") {
            (0..count)
                .map(|_| 1.0 + self.rng.gen_range(-0.2..0.2))
                .collect()
        } else if hf_name.ends_with(".bias") {
            (0..count).map(|_| 0.1 * self.normal()).collect()
        } else if hf_name == "model.embed_tokens.weight" {
            (0..count).map(|_| self.normal()).collect()
        } else {
            let std = 1.0 / (shape[shape.len() - 1] as f64).sqrt();
            (0..count).map(|_| std * self.normal()).collect()
        };
        Ok(Tensor::from_vec(values, shape, &self.device)?.to_dtype(self.dtype)?)
    }
}

/// f32 on the CPU, bf16 on a GPU.
pub fn default_dtype(device: &Device) -> DType {
    if device.is_cpu() {
        DType::F32
    } else {
        DType::BF16
    }
}

/// LoRA runs in f32 even over a bf16 base (f64 over an f64 base, for gradient checks).
fn lora_dtype(dtype: DType) -> DType {
    if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

impl Llm {
    /// Loads a GGUF file (dequantised) or a Hugging Face folder, in the device's default dtype.
    pub fn load(
        path: &Path,
        lora: Option<&LoraConfig>,
        device: &Device,
    ) -> Result<(Llm, LlmTokenizer)> {
        Self::load_with_dtype(path, lora, device, default_dtype(device))
    }

    /// [`Llm::load`] with an explicit dtype for the base weights.
    pub fn load_with_dtype(
        path: &Path,
        lora: Option<&LoraConfig>,
        device: &Device,
        dtype: DType,
    ) -> Result<(Llm, LlmTokenizer)> {
        if !path.exists() {
            return Err(LlmError::MissingFile {
                path: path.to_owned(),
                hint: String::new(),
            });
        }
        let source = path.display().to_string();
        if path.is_dir() {
            let (config, special) = hf::read_config(&path.join("config.json"))?;
            let tokenizer = LlmTokenizer::from_file(&path.join("tokenizer.json"), special)?;
            let weights = SafetensorsWeights::open(path)?;
            let mut src = Safetensors {
                weights: &weights,
                dtype,
                device,
            };
            let llm = build(config, &mut src, lora, dtype, device, source)?;
            return Ok((llm, tokenizer));
        }
        let gguf = GgufWeights::open(path)?;
        let config = gguf.config()?;
        let tokenizer = gguf.tokenizer()?;
        let mut src = Gguf {
            file: &gguf,
            config: &config,
            dtype,
            device,
        };
        let llm = build(config.clone(), &mut src, lora, dtype, device, source)?;
        tracing::info!(path = %path.display(), layers = config.num_layers, hidden = config.hidden_size, "loaded GGUF model");
        Ok((llm, tokenizer))
    }

    /// What [`Llm::load`] reads before the weights, without them: a GGUF file's header and
    /// vocabulary (and that the file holds every tensor the header lists), or a folder's
    /// `config.json`, `tokenizer.json` and safetensors headers. Milliseconds, so that a run can
    /// refuse an unusable backbone before it trains anything.
    pub fn inspect(path: &Path) -> Result<LlmConfig> {
        if !path.exists() {
            return Err(LlmError::MissingFile {
                path: path.to_owned(),
                hint: String::new(),
            });
        }
        if path.is_dir() {
            let (config, special) = hf::read_config(&path.join("config.json"))?;
            LlmTokenizer::from_file(&path.join("tokenizer.json"), special)?;
            SafetensorsWeights::open(path)?;
            return Ok(config);
        }
        let gguf = GgufWeights::open(path)?;
        let config = gguf.config()?;
        gguf.tokenizer()?;
        gguf.check_complete()?;
        Ok(config)
    }

    /// A model of shape `config` with seeded random weights (tests and benchmarks).
    pub fn random(
        config: &LlmConfig,
        seed: u64,
        lora: Option<&LoraConfig>,
        device: &Device,
        dtype: DType,
    ) -> Result<Llm> {
        config.validate(Path::new("<random config>"))?;
        let mut src = Random::new(seed, dtype, device);
        build(
            config.clone(),
            &mut src,
            lora,
            dtype,
            device,
            format!("random(seed={seed})"),
        )
    }

    /// Draws every LoRA A again from `seed` and zeroes every B (peft's initialisation).
    /// The dropout masks restart from `seed` too (on a GPU: its generator is seeded).
    pub fn init_lora(&self, seed: u64) -> Result<()> {
        self.continue_lora_masks(seed)?;
        let mut rng = StdRng::seed_from_u64(seed);
        for block in &self.blocks {
            for lin in block.linears() {
                if let Some(adapter) = &lin.1.lora {
                    adapter.reset(&mut rng)?;
                }
            }
        }
        Ok(())
    }

    /// Where LoRA's dropout mask stream is (saved in resume points).
    pub fn lora_mask_stream(&self) -> u64 {
        self.lora_runtime.position()
    }

    /// Continues the dropout masks from a saved [`Llm::lora_mask_stream`]. On the CPU the
    /// masks are then those an uninterrupted run draws next. A GPU's generator state cannot be
    /// saved, so it is seeded from the position instead: a resumed run repeats, but its masks
    /// differ from the uninterrupted run's.
    pub fn continue_lora_masks(&self, position: u64) -> Result<()> {
        self.lora_runtime.reseed(position);
        if !self.device.is_cpu() {
            self.device.set_seed(position)?;
        }
        Ok(())
    }

    /// The frozen base weights under their Hugging Face names (for export and tests).
    pub fn base_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("model.embed_tokens.weight".to_string(), self.embed.clone())];
        for (i, block) in self.blocks.iter().enumerate() {
            out.push((
                format!("model.layers.{i}.input_layernorm.weight"),
                block.input_norm.clone(),
            ));
            out.push((
                format!("model.layers.{i}.post_attention_layernorm.weight"),
                block.post_norm.clone(),
            ));
            for (target, lin) in block.linears() {
                out.push((format!("{}.weight", target.hf_path(i)), lin.weight.clone()));
                if let Some(bias) = &lin.bias {
                    out.push((format!("{}.bias", target.hf_path(i)), bias.clone()));
                }
            }
        }
        out.push(("model.norm.weight".to_string(), self.norm.clone()));
        if let Some(head) = &self.head {
            out.push(("lm_head.weight".to_string(), head.clone()));
        }
        out
    }
}

impl Block {
    /// The seven linear layers with their names, in [`LoraTarget::ALL`] order.
    pub(crate) fn linears(&self) -> [(LoraTarget, &Linear); 7] {
        [
            (LoraTarget::QProj, &self.q),
            (LoraTarget::KProj, &self.k),
            (LoraTarget::VProj, &self.v),
            (LoraTarget::OProj, &self.o),
            (LoraTarget::GateProj, &self.gate),
            (LoraTarget::UpProj, &self.up),
            (LoraTarget::DownProj, &self.down),
        ]
    }
}

pub(crate) fn build(
    config: LlmConfig,
    src: &mut dyn WeightSource,
    lora: Option<&LoraConfig>,
    dtype: DType,
    device: &Device,
    source: String,
) -> Result<Llm> {
    if let Some(lora) = lora {
        lora.validate()?;
    }
    // Seeded, so that two runs of one experiment draw the same dropout masks.
    let runtime = Arc::new(LoraRuntime::new(LORA_INIT_SEED));
    let mut rng = StdRng::seed_from_u64(LORA_INIT_SEED);
    let (h, v) = (config.hidden_size, config.vocab_size);
    let embed = src.tensor("model.embed_tokens.weight", &[v, h])?;
    let mut blocks = Vec::with_capacity(config.num_layers);
    for i in 0..config.num_layers {
        let mut linear = |target: LoraTarget| -> Result<Linear> {
            let path = target.hf_path(i);
            let shape = config.linear_shape(target);
            let weight = src.tensor(&format!("{path}.weight"), &shape)?;
            let has_bias = config.attention_bias
                && matches!(
                    target,
                    LoraTarget::QProj | LoraTarget::KProj | LoraTarget::VProj
                );
            let bias = if has_bias {
                Some(src.tensor(&format!("{path}.bias"), &shape[..1])?)
            } else {
                None
            };
            let lora = match lora {
                Some(l) if l.targets_module(target) => Some(LoraAdapter::new(
                    shape,
                    l,
                    runtime.clone(),
                    lora_dtype(dtype),
                    device,
                    &mut rng,
                )?),
                _ => None,
            };
            Ok(Linear { weight, bias, lora })
        };
        let (q, k, vv, o) = (
            linear(LoraTarget::QProj)?,
            linear(LoraTarget::KProj)?,
            linear(LoraTarget::VProj)?,
            linear(LoraTarget::OProj)?,
        );
        let (gate, up, down) = (
            linear(LoraTarget::GateProj)?,
            linear(LoraTarget::UpProj)?,
            linear(LoraTarget::DownProj)?,
        );
        let input_norm = src.tensor(&format!("model.layers.{i}.input_layernorm.weight"), &[h])?;
        let post_norm = src.tensor(
            &format!("model.layers.{i}.post_attention_layernorm.weight"),
            &[h],
        )?;
        blocks.push(Block {
            input_norm,
            q,
            k,
            v: vv,
            o,
            post_norm,
            gate,
            up,
            down,
        });
    }
    let norm = src.tensor("model.norm.weight", &[h])?;
    let head = if config.tie_word_embeddings {
        None
    } else {
        Some(src.tensor("lm_head.weight", &[v, h])?)
    };
    let (rope_cos, rope_sin) = rope_tables(&config, dtype, device)?;
    Ok(Llm {
        config,
        dtype,
        device: device.clone(),
        embed,
        blocks,
        norm,
        head,
        rope_cos,
        rope_sin,
        lora: lora.cloned(),
        lora_runtime: runtime,
        source,
    })
}
