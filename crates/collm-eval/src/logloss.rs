//! Binary cross-entropy of sigmoid(logit), computed from the logit so it stays finite and exact
//! for any magnitude.

/// Mean BCE of `sigmoid(logits)` against `labels` (0 negative, anything else positive).
///
/// Each term is `softplus(-s)` for a positive and `softplus(s)` for a negative, which equals
/// `relu(s) + ln(1 + e^-|s|) - y*s` but never subtracts two huge numbers. This is the mean over
/// rows; the reference logs the mean of per-batch means, which differs slightly when the last
/// batch is short. `None` for no rows, mismatched slices or a NaN logit.
pub fn logloss(labels: &[u8], logits: &[f32]) -> Option<f64> {
    if labels.is_empty() || labels.len() != logits.len() {
        return None;
    }
    let total: f64 = labels
        .iter()
        .zip(logits)
        .map(|(&y, &s)| {
            let s = f64::from(s);
            softplus(if y != 0 { -s } else { s })
        })
        .sum();
    let mean = total / labels.len() as f64;
    (!mean.is_nan()).then_some(mean)
}

/// `ln(1 + e^x)`, stable for large |x|.
pub(crate) fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}
