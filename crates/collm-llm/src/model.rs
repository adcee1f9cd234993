//! The decoder's forward pass: input embeddings and a key mask in, the final-normed hidden state
//! of each row's last real token out, scored against chosen vocabulary rows only.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};

use crate::config::{LlmConfig, LoraConfig};
use crate::kv::KvPrefix;
use crate::lora::{Linear, LoraRuntime};
use crate::mask::{read_mask, CallLayout, PrefixLayout};
use crate::packing::Packing;
use crate::prims;
use crate::{LlmError, Result};

/// One decoder block.
pub(crate) struct Block {
    pub(crate) input_norm: Tensor,
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    pub(crate) post_norm: Tensor,
    pub(crate) gate: Linear,
    pub(crate) up: Linear,
    pub(crate) down: Linear,
}

/// A Llama-family decoder with frozen base weights and optional LoRA adapters.
pub struct Llm {
    pub(crate) config: LlmConfig,
    pub(crate) dtype: DType,
    pub(crate) device: Device,
    /// `[vocab, hidden]`.
    pub(crate) embed: Tensor,
    pub(crate) blocks: Vec<Block>,
    pub(crate) norm: Tensor,
    /// `[vocab, hidden]`; `None` when tied to `embed`.
    pub(crate) head: Option<Tensor>,
    /// `[max_positions, head_dim / 2]`.
    pub(crate) rope_cos: Tensor,
    pub(crate) rope_sin: Tensor,
    pub(crate) lora: Option<LoraConfig>,
    /// Whether LoRA dropout is active, and its mask seeds; shared with every adapter.
    pub(crate) lora_runtime: Arc<LoraRuntime>,
    /// Where the weights came from (a path, or a description for generated models).
    pub(crate) source: String,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm")
            .field("source", &self.source)
            .field("config", &self.config)
            .field("dtype", &self.dtype)
            .field("device", &self.device)
            .field("lora", &self.lora)
            .finish_non_exhaustive()
    }
}

/// What a pass over the blocks should produce.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Each row's last real hidden state, final-normed.
    LastHidden,
    /// Only the keys and values (the last block's attention and MLP are skipped).
    KvOnly,
    /// Both (generation).
    Both,
}

struct Pass {
    last_hidden: Option<Tensor>,
    kv: Option<KvPrefix>,
}

impl Llm {
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// The dtype of the base weights and of the hidden states (f32 on the CPU, bf16 on CUDA).
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn lora_config(&self) -> Option<&LoraConfig> {
        self.lora.as_ref()
    }

    /// Turns LoRA dropout on (training) or off (evaluation; the state after loading).
    pub fn set_lora_dropout(&self, train: bool) {
        self.lora_runtime.training.store(train, Ordering::Relaxed);
    }

    /// Runs `f` with nothing tracked for a backward pass: every forward pass inside takes its
    /// embeddings and the LoRA weights detached, so each layer's activations are freed as soon
    /// as the next layer has read them instead of living until the result is dropped. The same
    /// values to the bit. For passes that are never differentiated (evaluation, the prefix
    /// cache's keys and values); the previous state comes back afterwards, so calls nest.
    pub fn untracked<T>(&self, f: impl FnOnce() -> T) -> T {
        let was = self.lora_runtime.untracked.swap(true, Ordering::Relaxed);
        let out = f();
        self.lora_runtime.untracked.store(was, Ordering::Relaxed);
        out
    }

    /// Token embeddings `[B, T, H]` of ids `[B, T]` (u32), in the model's dtype. The caller may
    /// replace rows of the result with its own vectors (see [`crate::splice`]).
    pub fn embed_tokens(&self, ids: &Tensor) -> Result<Tensor> {
        let (batch, len) = ids.dims2().map_err(|_| {
            LlmError::Input(format!(
                "token ids have shape {:?}, expected [B, T]",
                ids.dims()
            ))
        })?;
        let flat = ids.to_dtype(DType::U32)?.flatten_all()?;
        if batch * len > 0 {
            let max = flat.max(0)?.to_scalar::<u32>()? as usize;
            if max >= self.config.vocab_size {
                return Err(LlmError::Input(format!(
                    "token id {max} is outside the vocabulary ({})",
                    self.config.vocab_size
                )));
            }
        }
        Ok(self
            .embed
            .index_select(&flat, 0)?
            .reshape((batch, len, self.config.hidden_size))?)
    }

    /// The final-normed hidden state `[B, H]` of each row's last real token, from embeddings
    /// `[B, T, H]` and a key mask `[B, T]` (1 real, 0 pad; pads anywhere). Positions count only
    /// real tokens and continue after `prefix`. Every row needs a real token in this call.
    pub fn last_hidden(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        prefix: Option<&KvPrefix>,
    ) -> Result<Tensor> {
        let pass = self.pass(embeds, mask, prefix, Want::LastHidden)?;
        Ok(pass
            .last_hidden
            .expect("LastHidden pass returns the hidden state"))
    }

    /// Keys and values of every block for `embeds`/`mask`, computed without gradient (see
    /// [`Llm::untracked`]), to be passed as the prefix of later calls over the same rows. Rows
    /// may be all padding.
    pub fn prefix_kv(&self, embeds: &Tensor, mask: &Tensor) -> Result<KvPrefix> {
        let pass = self.untracked(|| self.pass(embeds, mask, None, Want::KvOnly))?;
        Ok(pass.kv.expect("KvOnly pass returns the cache"))
    }

    /// `[B, rows.len()]` f32 logits of the vocabulary rows `rows`, multiplying only those rows
    /// of the output head (f64 for an f64 model).
    pub fn score_rows(&self, last_hidden: &Tensor, rows: &[u32]) -> Result<Tensor> {
        if let Some(&bad) = rows.iter().find(|&&r| r as usize >= self.config.vocab_size) {
            return Err(LlmError::Input(format!(
                "vocabulary row {bad} is outside the vocabulary ({})",
                self.config.vocab_size
            )));
        }
        let idx = Tensor::new(rows, &self.device)?;
        let weight = self.head_weight().index_select(&idx, 0)?;
        Ok(prims::linear(last_hidden, &weight, None)?.to_dtype(self.score_dtype())?)
    }

    /// All-vocabulary f32 logits `[B, V]` at each row's last real token (fixtures, generation).
    pub fn full_logits_last(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        prefix: Option<&KvPrefix>,
    ) -> Result<Tensor> {
        let hidden = self.last_hidden(embeds, mask, prefix)?;
        self.logits(&hidden)
    }

    pub(crate) fn logits(&self, last_hidden: &Tensor) -> Result<Tensor> {
        Ok(prims::linear(last_hidden, self.head_weight(), None)?.to_dtype(self.score_dtype())?)
    }

    /// Logits at the last token and the cache extended by this call (generation).
    pub(crate) fn step(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        prefix: Option<&KvPrefix>,
    ) -> Result<(Tensor, KvPrefix)> {
        let pass = self.pass(embeds, mask, prefix, Want::Both)?;
        let logits = self.logits(
            &pass
                .last_hidden
                .expect("Both pass returns the hidden state"),
        )?;
        Ok((logits, pass.kv.expect("Both pass returns the cache")))
    }

    /// Scores leave the model in f32 (f64 for an f64 model, whose precision tests rely on).
    fn score_dtype(&self) -> DType {
        if self.dtype == DType::F64 {
            DType::F64
        } else {
            DType::F32
        }
    }

    fn head_weight(&self) -> &Tensor {
        self.head.as_ref().unwrap_or(&self.embed)
    }

    fn pass(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        prefix: Option<&KvPrefix>,
        want: Want,
    ) -> Result<Pass> {
        let detached;
        let embeds = if self.lora_runtime.untracked.load(Ordering::Relaxed) {
            detached = embeds.detach();
            &detached
        } else {
            embeds
        };
        let cfg = &self.config;
        let (batch, len, hidden) = embeds.dims3().map_err(|_| {
            LlmError::Input(format!(
                "embeddings have shape {:?}, expected [B, T, H]",
                embeds.dims()
            ))
        })?;
        if hidden != cfg.hidden_size {
            return Err(LlmError::Input(format!(
                "embeddings have width {hidden}, the model {}",
                cfg.hidden_size
            )));
        }
        if len == 0 {
            return Err(LlmError::Input("embeddings have no positions".into()));
        }
        let real = read_mask(mask, batch, len)?;
        let empty = PrefixLayout::default();
        let prefix_layout = match prefix {
            Some(p) if p.batch() != batch => {
                return Err(LlmError::Input(format!(
                    "prefix has {} rows, the batch {batch}",
                    p.batch()
                )))
            }
            Some(p) if p.layers.len() != cfg.num_layers => {
                return Err(LlmError::Input(format!(
                    "prefix has {} layers, the model {}",
                    p.layers.len(),
                    cfg.num_layers
                )))
            }
            Some(p) => &p.layout,
            None => &empty,
        };
        let layout = CallLayout::new(&real, prefix_layout);
        let max_pos = layout.extended.counts.iter().copied().max().unwrap_or(0) as usize;
        if max_pos > cfg.max_position_embeddings {
            return Err(LlmError::Input(format!(
                "{max_pos} positions exceed the model's {}",
                cfg.max_position_embeddings
            )));
        }
        let last_rows = match want {
            Want::KvOnly => vec![],
            _ => layout
                .last_real
                .iter()
                .enumerate()
                .map(|(b, t)| {
                    t.map(|t| (b * len + t) as u32).ok_or_else(|| {
                        LlmError::Input(format!("row {b} has no real token (its mask is all 0)"))
                    })
                })
                .collect::<Result<Vec<u32>>>()?,
        };

        let positions: Vec<u32> = layout.positions.iter().flatten().copied().collect();
        let positions = Tensor::from_vec(positions, batch * len, &self.device)?;
        let d = cfg.head_dim;
        let cos = self
            .rope_cos
            .index_select(&positions, 0)?
            .reshape((batch, len, d / 2))?;
        let sin = self
            .rope_sin
            .index_select(&positions, 0)?
            .reshape((batch, len, d / 2))?;
        let bias = layout.bias(prefix_layout, cfg.sliding_window, self.dtype, &self.device)?;

        // The residual stream holds the real positions only, `[1, N, H]` (see `packing`).
        let packing = Packing::new(&real, &self.device)?;
        let mut x = packing.pack(&embeds.to_dtype(self.dtype)?)?;
        let keep_kv = want != Want::LastHidden;
        let mut cache = Vec::with_capacity(if keep_kv { cfg.num_layers } else { 0 });
        // Only the last real row of each sequence is scored, and in the last block nothing
        // else reads the other rows' outputs: that block computes keys and values for every
        // position but its query, attention output, o_proj and MLP for the scored rows only.
        // (Each scored row by its padded position, and by its packed row.)
        let scored = match want {
            Want::KvOnly => None,
            _ => {
                let packed: Vec<u32> = last_rows.iter().map(|&p| packing.row_of(p)).collect();
                Some((
                    Tensor::new(last_rows.as_slice(), &self.device)?,
                    Tensor::new(packed.as_slice(), &self.device)?,
                ))
            }
        };
        // `[1, N, X]` packed rows to `[B, 1, X]`.
        let pick_packed = |t: &Tensor, rows: &Tensor| -> Result<Tensor> {
            Ok(t.squeeze(0)?.index_select(rows, 0)?.unsqueeze(1)?)
        };
        // `[B, T, ...]` padded rows to `[B, 1, ...]`.
        let pick = |t: &Tensor, rows: &Tensor| -> Result<Tensor> {
            let dims = t.dims();
            let (outer, inner) = (batch * len, t.elem_count() / (batch * len));
            let mut picked = dims.to_vec();
            picked[1] = 1;
            Ok(t.reshape((outer, inner))?
                .index_select(rows, 0)?
                .reshape(picked)?)
        };
        let blocks = self.blocks.len();
        for (i, block) in self.blocks.iter().enumerate() {
            let last_block = i + 1 == blocks;
            let h = prims::rms_norm(&x, &block.input_norm, cfg.rms_norm_eps)?;
            // Heads stay side by side in the last dimension, [B, T, heads·d], from the
            // projections through RoPE and attention to o_proj: no reshape nodes in the graph.
            let mut k = prims::rope(&packing.unpack(&block.k.forward(&h)?)?, &cos, &sin)?;
            let mut v = packing.unpack(&block.v.forward(&h)?)?;
            if let Some(p) = prefix {
                let (pk, pv) = &p.layers[i];
                k = Tensor::cat(&[pk, &k], 1)?;
                v = Tensor::cat(&[pv, &v], 1)?;
            }
            if keep_kv {
                cache.push((k.detach(), v.detach()));
            }
            if want == Want::KvOnly && last_block {
                break;
            }
            // (queries, rope tables, bias rows, residual stream) for the rows computed; the
            // scored rows of the last block are one per sequence, `[B, 1, ·]`, unpadded.
            let scored_here = scored.as_ref().filter(|_| last_block);
            let (q, cos, sin, bias) = match scored_here {
                Some((rows, packed_rows)) => {
                    x = pick_packed(&x, packed_rows)?;
                    let bias = bias.transpose(1, 2)?;
                    (
                        block.q.forward(&pick_packed(&h, packed_rows)?)?,
                        pick(&cos, rows)?,
                        pick(&sin, rows)?,
                        pick(&bias, rows)?.transpose(1, 2)?,
                    )
                }
                None => (
                    packing.unpack(&block.q.forward(&h)?)?,
                    cos.clone(),
                    sin.clone(),
                    bias.clone(),
                ),
            };
            let q = prims::rope(&q, &cos, &sin)?;
            let attn = prims::attention(&q, &k, &v, &bias, d)?;
            let attn = match scored_here {
                Some(_) => attn,
                None => packing.pack(&attn)?,
            };
            x = block.o.forward_onto(&attn, &x)?;
            let h = prims::rms_norm(&x, &block.post_norm, cfg.rms_norm_eps)?;
            let gated = match (block.gate.plain_weight(), block.up.plain_weight()) {
                (Some(wg), Some(wu)) => prims::gated_mlp(&h, wg, wu)?,
                _ => prims::swiglu(&block.gate.forward(&h)?, &block.up.forward(&h)?)?,
            };
            x = block.down.forward_onto(&gated, &x)?;
        }

        let last_hidden = if want == Want::KvOnly {
            None
        } else {
            // The last block left exactly the scored rows, in batch order.
            Some(prims::rms_norm(
                &x.reshape((batch, hidden))?,
                &self.norm,
                cfg.rms_norm_eps,
            )?)
        };
        let kv = keep_kv.then(|| KvPrefix::new(cache, layout.extended));
        Ok(Pass { last_hidden, kv })
    }
}

/// Replaces rows of `embeds` `[B, T, H]`: `vectors` `[N, H]` row `n` goes to `(row, position)`
/// `slots[n]`. Differentiable in both inputs, so gradients reach the spliced vectors.
pub fn splice(embeds: &Tensor, slots: &[(usize, usize)], vectors: &Tensor) -> Result<Tensor> {
    let (batch, len, hidden) = embeds.dims3()?;
    let (count, width) = vectors.dims2()?;
    if count != slots.len() || width != hidden {
        return Err(LlmError::Input(format!(
            "{} slots and vectors {:?} do not match embeddings [{batch}, {len}, {hidden}]",
            slots.len(),
            vectors.dims()
        )));
    }
    let mut source = vec![0u32; batch * len];
    let mut take = vec![0u8; batch * len];
    for (n, &(b, t)) in slots.iter().enumerate() {
        if b >= batch || t >= len {
            return Err(LlmError::Input(format!(
                "slot ({b}, {t}) is outside [{batch}, {len}]"
            )));
        }
        source[b * len + t] = n as u32;
        take[b * len + t] = 1;
    }
    let device = embeds.device();
    let source = Tensor::from_vec(source, batch * len, device)?;
    let take =
        Tensor::from_vec(take, (batch * len, 1), device)?.broadcast_as((batch * len, hidden))?;
    let flat = embeds.reshape((batch * len, hidden))?;
    let placed = vectors.to_dtype(embeds.dtype())?.index_select(&source, 0)?;
    Ok(take
        .where_cond(&placed, &flat)?
        .reshape((batch, len, hidden))?)
}

/// Rotary tables `[max_positions, head_dim / 2]` (cos, sin), computed in f64 and stored in f32
/// (f64 for an f64 model).
pub(crate) fn rope_tables(
    cfg: &LlmConfig,
    dtype: DType,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = cfg.head_dim / 2;
    let positions = cfg.max_position_embeddings;
    let mut cos = Vec::with_capacity(positions * half);
    let mut sin = Vec::with_capacity(positions * half);
    for p in 0..positions {
        for i in 0..half {
            let inv_freq = 1.0 / cfg.rope_theta.powf(2.0 * i as f64 / cfg.head_dim as f64);
            let angle = p as f64 * inv_freq;
            cos.push(angle.cos());
            sin.push(angle.sin());
        }
    }
    let dtype = if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let shape = (positions, half);
    let cos = Tensor::from_vec(cos, shape, device)?.to_dtype(dtype)?;
    let sin = Tensor::from_vec(sin, shape, device)?.to_dtype(dtype)?;
    Ok((cos, sin))
}

/// Index of the largest value of a 1-D f32 tensor (first one on ties).
pub(crate) fn argmax(logits: &Tensor) -> Result<u32> {
    let values = logits
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?;
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    Ok(best as u32)
}

/// The pipeline shares one model across threads.
const _: fn() = || {
    fn check<T: Send + Sync>() {}
    check::<Llm>();
};
