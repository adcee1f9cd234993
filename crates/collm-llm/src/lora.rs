//! A frozen linear layer that may carry a LoRA adapter: `y = W·x + b + (α/r)·B·A·dropout(x)`,
//! with A kaiming-uniform and B zero at initialisation, as peft does.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::Rng;

use crate::config::LoraConfig;
use crate::ops::{self, LoraDropout};
use crate::prims;
use crate::Result;

/// A base weight `[out, in]` (never trained), its optional bias, and an optional adapter.
pub(crate) struct Linear {
    pub(crate) weight: Tensor,
    pub(crate) bias: Option<Tensor>,
    pub(crate) lora: Option<LoraAdapter>,
}

/// The trainable pair of one adapted layer.
pub(crate) struct LoraAdapter {
    /// `[r, in]`.
    pub(crate) a: Var,
    /// `[out, r]`.
    pub(crate) b: Var,
    scale: f64,
    dropout: f32,
    runtime: Arc<LoraRuntime>,
}

/// State shared by every adapter of a model.
#[derive(Debug, Default)]
pub(crate) struct LoraRuntime {
    /// Dropout is applied only while this is set.
    pub(crate) training: AtomicBool,
    /// Counts dropout draws; each draw's mask seed is derived from it.
    draws: AtomicU64,
    /// While set, passes take their embeddings and the adapters detached (see
    /// [`crate::Llm::untracked`]).
    pub(crate) untracked: AtomicBool,
}

impl LoraRuntime {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            training: AtomicBool::new(false),
            draws: AtomicU64::new(seed),
            untracked: AtomicBool::new(false),
        }
    }

    /// Puts the mask stream at `position`: a seed (the same masks, in the same order, every
    /// run) or a saved [`LoraRuntime::position`] (the masks continue where they were).
    pub(crate) fn reseed(&self, position: u64) {
        self.draws.store(position, Ordering::Relaxed);
    }

    /// Where the mask stream is now.
    pub(crate) fn position(&self) -> u64 {
        self.draws.load(Ordering::Relaxed)
    }

    /// A fresh dropout-mask seed (splitmix64 of a counter).
    fn next_seed(&self) -> u64 {
        let mut z = self
            .draws
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Linear {
    /// The bare frozen weight, when this layer has neither bias nor adapter.
    pub(crate) fn plain_weight(&self) -> Option<&Tensor> {
        (self.bias.is_none() && self.lora.is_none()).then_some(&self.weight)
    }

    /// `residual + forward(x)`: one fused op for a plain frozen layer (the residual stream).
    pub(crate) fn forward_onto(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        match self.plain_weight() {
            Some(w) => Ok(prims::linear_add(x, w, residual)?),
            None => Ok((residual + self.forward(x)?)?),
        }
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let Some(lora) = &self.lora else {
            return Ok(prims::linear(x, &self.weight, self.bias.as_ref())?);
        };
        if x.dtype() != lora.a.dtype() {
            // A half-precision base with f32 adapters: the adapter path runs apart, in f32.
            let y = prims::linear(x, &self.weight, self.bias.as_ref())?;
            return Ok((y + lora.forward_apart(x)?.to_dtype(x.dtype())?)?);
        }
        let (a, b) = lora.weights();
        let y = ops::lora_linear(x, &self.weight, &a, &b, lora.scale, lora.dropout())?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

impl LoraAdapter {
    /// A fresh adapter of `config`'s rank, scale and dropout for a `[out, in]` layer: A drawn
    /// from `rng`, B zero, both in `dtype`.
    pub(crate) fn new(
        out_in: [usize; 2],
        config: &LoraConfig,
        runtime: Arc<LoraRuntime>,
        dtype: DType,
        device: &Device,
        rng: &mut StdRng,
    ) -> Result<Self> {
        let r = config.r;
        let a = Var::from_tensor(&kaiming_uniform(r, out_in[1], dtype, device, rng)?)?;
        let b = Var::zeros((out_in[0], r), dtype, device)?;
        Ok(Self {
            a,
            b,
            scale: config.scale(),
            dropout: config.dropout as f32,
            runtime,
        })
    }

    /// Draws A again and zeroes B.
    pub(crate) fn reset(&self, rng: &mut StdRng) -> Result<()> {
        let (r, input) = self.a.dims2()?;
        self.a.set(&kaiming_uniform(
            r,
            input,
            self.a.dtype(),
            self.a.device(),
            rng,
        )?)?;
        self.b.set(&self.b.zeros_like()?)?;
        Ok(())
    }

    /// A and B as this pass should see them: the variables themselves, or detached copies
    /// (sharing their storage) while the runtime is untracked.
    fn weights(&self) -> (Tensor, Tensor) {
        if self.runtime.untracked.load(Ordering::Relaxed) {
            (self.a.as_tensor().detach(), self.b.as_tensor().detach())
        } else {
            (self.a.as_tensor().clone(), self.b.as_tensor().clone())
        }
    }

    /// The dropout to apply now: `None` in evaluation mode or with p = 0.
    fn dropout(&self) -> Option<LoraDropout> {
        (self.dropout > 0.0 && self.runtime.training.load(Ordering::Relaxed)).then(|| LoraDropout {
            p: self.dropout,
            seed: self.runtime.next_seed(),
        })
    }

    /// `(α/r)·B·A·dropout(x)` computed in the adapter's dtype (f32 when the base runs in bf16).
    fn forward_apart(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.to_dtype(self.a.dtype())?;
        let x = match self.dropout() {
            Some(d) => crate::ops::dropout(&x, d)?,
            None => x,
        };
        let dims = x.dims().to_vec();
        let input = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        // Plain matmuls on purpose: A and B need their own gradients, unlike the frozen base.
        let (a, b) = self.weights();
        let h = x.reshape((rows, input))?.matmul(&a.t()?)?;
        let y = (h.matmul(&b.t()?)? * self.scale)?;
        let mut out_dims = dims;
        *out_dims.last_mut().expect("rank >= 1") = self.b.dim(0)?;
        Ok(y.reshape(out_dims)?)
    }
}

/// peft's initialisation of A: kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in).
fn kaiming_uniform(
    r: usize,
    input: usize,
    dtype: DType,
    device: &Device,
    rng: &mut StdRng,
) -> Result<Tensor> {
    let bound = 1.0 / (input as f64).sqrt();
    let values: Vec<f64> = (0..r * input)
        .map(|_| rng.gen_range(-bound..bound))
        .collect();
    Ok(Tensor::from_vec(values, (r, input), device)?.to_dtype(dtype)?)
}
