//! A frozen linear layer that may carry a LoRA adapter: `y = W·x + b + (α/r)·B·A·dropout(x)`,
//! with A kaiming-uniform and B zero at initialisation, as peft does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::Rng;

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
    /// Shared by every adapter of a model: dropout is applied only while it is set.
    training: Arc<AtomicBool>,
}

impl Linear {
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = prims::linear(x, &self.weight, self.bias.as_ref())?;
        match &self.lora {
            None => Ok(y),
            Some(lora) => Ok((y + lora.forward(x)?.to_dtype(x.dtype())?)?),
        }
    }
}

impl LoraAdapter {
    /// A fresh adapter for a `[out, in]` layer: A drawn from `rng`, B zero, both in `dtype`.
    pub(crate) fn new(
        out_in: [usize; 2],
        r: usize,
        scale: f64,
        dropout: f64,
        training: Arc<AtomicBool>,
        dtype: DType,
        device: &Device,
        rng: &mut StdRng,
    ) -> Result<Self> {
        let a = Var::from_tensor(&kaiming_uniform(r, out_in[1], dtype, device, rng)?)?;
        let b = Var::zeros((out_in[0], r), dtype, device)?;
        Ok(Self { a, b, scale, dropout: dropout as f32, training })
    }

    /// Draws A again and zeroes B.
    pub(crate) fn reset(&self, rng: &mut StdRng) -> Result<()> {
        let (r, input) = self.a.dims2()?;
        self.a.set(&kaiming_uniform(r, input, self.a.dtype(), self.a.device(), rng)?)?;
        self.b.set(&self.b.zeros_like()?)?;
        Ok(())
    }

    /// `(α/r)·B·A·dropout(x)` in the adapter's dtype (f32 even when the base runs in bf16).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.to_dtype(self.a.dtype())?;
        let x = if self.dropout > 0.0 && self.training.load(Ordering::Relaxed) {
            candle_nn::ops::dropout(&x, self.dropout)?
        } else {
            x
        };
        let dims = x.dims().to_vec();
        let input = dims[dims.len() - 1];
        let rows: usize = dims[..dims.len() - 1].iter().product();
        // Plain matmuls on purpose: A and B need their own gradients, unlike the frozen base.
        let h = x.reshape((rows, input))?.matmul(&self.a.as_tensor().t()?)?;
        let y = (h.matmul(&self.b.as_tensor().t()?)? * self.scale)?;
        let mut out_dims = dims;
        *out_dims.last_mut().expect("rank >= 1") = self.b.dim(0)?;
        Ok(y.reshape(out_dims)?)
    }
}

/// peft's initialisation of A: kaiming-uniform with a = √5, i.e. U(−1/√in, 1/√in).
fn kaiming_uniform(r: usize, input: usize, dtype: DType, device: &Device, rng: &mut StdRng) -> Result<Tensor> {
    let bound = 1.0 / (input as f64).sqrt();
    let values: Vec<f64> = (0..r * input).map(|_| rng.gen_range(-bound..bound)).collect();
    Ok(Tensor::from_vec(values, (r, input), device)?.to_dtype(dtype)?)
}
