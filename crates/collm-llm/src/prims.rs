//! The differentiable primitives the decoder is built from, in one place: each forwards to the
//! fused ops of [`crate::ops`] (hand-written backward passes, CPU f32 fast paths, candle
//! compositions on other devices and dtypes).
//!
//! Per-head tensors keep their heads packed in the last dimension, `[batch, seq, heads·head_dim]`,
//! as the projections give them: the ops read that layout without copies or reshape nodes.

use candle_core::{Result, Tensor};

use crate::ops::{self, RopeLayout};

/// `x · wᵀ (+ b)` for a frozen weight `w` `[out, in]` and `x` `[..., in]`; `w` never gets a
/// gradient.
pub(crate) fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let y = ops::frozen_linear(x, w)?;
    match b {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

/// `residual + x · wᵀ` for a frozen weight `w`, as one op.
pub(crate) fn linear_add(x: &Tensor, w: &Tensor, residual: &Tensor) -> Result<Tensor> {
    ops::frozen_linear_add(x, w, residual)
}

/// RMSNorm over the last dimension.
pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    ops::rms_norm(x, weight, eps as f32)
}

/// Half-split (Hugging Face) rotary embedding of `x` `[B, T, heads·d]` with per-row tables
/// `cos`/`sin` `[B, T, d/2]`.
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    ops::rope(x, cos, sin, RopeLayout::HalfSplit)
}

/// Grouped-query attention of `q` `[B, T, h·d]` over `k`, `v` `[B, S, kv·d]` under the additive
/// `bias` `[B, 1, T, S]`, heads of size `d`; returns `[B, T, h·d]`.
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    d: usize,
) -> Result<Tensor> {
    ops::attention_packed(q, k, v, bias, d)
}

/// SwiGLU's gate: `silu(gate) · up`.
pub(crate) fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    ops::swiglu(gate, up)
}

/// `silu(x·W_gᵀ) · (x·W_uᵀ)` for frozen weights, as one op.
pub(crate) fn gated_mlp(x: &Tensor, w_gate: &Tensor, w_up: &Tensor) -> Result<Tensor> {
    ops::gated_mlp(x, w_gate, w_up)
}
