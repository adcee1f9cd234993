//! Binary cross-entropy on raw logits, in the overflow-free form PyTorch uses.

use candle_core::Tensor;

/// Mean of `relu(s) - y·s + ln(1 + exp(-|s|))` over the batch: exact for any logit size,
/// unlike candle-nn's sigmoid-then-log version, which saturates at large |s|.
pub fn bce_with_logits(logits: &Tensor, labels: &Tensor) -> candle_core::Result<Tensor> {
    let softplus_tail = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    let per_row = ((logits.relu()? - (logits * labels)?)? + softplus_tail)?;
    per_row.mean_all()
}
