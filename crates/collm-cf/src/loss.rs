//! Binary cross-entropy on raw logits, in the overflow-free form PyTorch uses.

use candle_core::{DType, Tensor};

/// Mean of `relu(s) - y·s + ln(1 + exp(-|s|))` over the batch: exact for any logit size,
/// unlike candle-nn's sigmoid-then-log version, which saturates at large |s|. Logits and labels
/// of any float dtype (an LLM's bf16 scores too); the loss is computed in f32. The one loss of
/// the collaborative models and of CoLLM's stages.
pub fn bce_with_logits(logits: &Tensor, labels: &Tensor) -> candle_core::Result<Tensor> {
    let s = logits.to_dtype(DType::F32)?;
    let y = labels.to_dtype(DType::F32)?;
    let softplus_tail = s.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    let per_row = ((s.relu()? - (&s * &y)?)? + softplus_tail)?;
    per_row.mean_all()
}
