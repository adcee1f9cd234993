//! The differentiable primitives the decoder is built from, in one place so that fused kernels
//! with hand-written backward passes can replace them without touching the model code.
//!
//! Every function here must carry a gradient graph: candle's fast `rms_norm`, `rope` and
//! `softmax_last_dim` do not (see `shared/docs/candle-notes.md`), so the composed versions are
//! used.

use candle_core::{DType, Result, Tensor, D};

/// `x · wᵀ (+ b)` for a frozen weight `w` `[out, in]` and `x` `[..., in]`.
pub(crate) fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let input = dims[dims.len() - 1];
    let rows: usize = dims[..dims.len() - 1].iter().product();
    let y = x.reshape((rows, input))?.matmul(&w.t()?)?;
    let y = match b {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    let mut out_dims = dims;
    *out_dims.last_mut().expect("rank >= 1") = w.dim(0)?;
    y.reshape(out_dims)
}

/// RMSNorm over the last dimension, computed in f32 for half-precision inputs.
pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    candle_nn::ops::rms_norm_slow(x, weight, eps as f32)
}

/// Half-split rotary embedding of `x` `[B, heads, T, d]` with per-row `cos`/`sin` `[B, 1, T, d]`
/// (each half of the last dimension repeated).
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    let x1 = x.narrow(D::Minus1, 0, d / 2)?;
    let x2 = x.narrow(D::Minus1, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?
}

/// Softmax over the last dimension, in f32 for half-precision inputs, returned in `x`'s dtype.
pub(crate) fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let dtype = x.dtype();
    let wide = match dtype {
        DType::BF16 | DType::F16 => x.to_dtype(DType::F32)?,
        _ => x.clone(),
    };
    candle_nn::ops::softmax(&wide, D::Minus1)?.to_dtype(dtype)
}

/// SwiGLU's gate: `silu(gate) · up`.
pub(crate) fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    gate.silu()? * up
}
