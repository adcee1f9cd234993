//! Scoring rows with the model (no gradient, LoRA dropout off) into `ScoredRow`s and their
//! all/warm/cold metrics.

use collm_eval::{Breakdown, ScoredRow};
use collm_events::CancelToken;

use crate::error::{PipelineError, Result};
use crate::model::{CollmModel, Encoded};
use crate::prefix_cache::{CacheKey, PrefixCache};

/// Scores `samples` in batches of `batch_size`. With a cache, each batch's prompt prefix is
/// taken from (or put into) it under `CacheKey::Eval(batch index)`: only valid while LoRA is
/// frozen and for the same `samples` in the same order.
pub fn score_samples(
    model: &CollmModel,
    samples: &[Encoded],
    batch_size: usize,
    mut cache: Option<&mut PrefixCache>,
    cancel: Option<&CancelToken>,
) -> Result<Vec<ScoredRow>> {
    let mut out = Vec::with_capacity(samples.len());
    for (b, chunk) in samples.chunks(batch_size.max(1)).enumerate() {
        if cancel.is_some_and(|c| c.is_cancelled()) {
            return Err(PipelineError::Cancelled);
        }
        let refs: Vec<&Encoded> = chunk.iter().collect();
        let scores = match cache.as_deref_mut() {
            Some(c) if refs.iter().all(|s| !s.tokens.slots.is_empty()) => {
                let prefix = c.get_or_compute(CacheKey::Eval(b), || model.prefix_kv(&refs))?;
                model.eval_scores(&refs, Some(&prefix))?
            }
            _ => model.eval_scores(&refs, None)?,
        };
        let scores = scores.to_vec1::<f32>()?;
        out.extend(chunk.iter().zip(scores).map(|(s, logit)| ScoredRow {
            uid: s.row.uid,
            label: s.row.label,
            logit,
            warm: s.row.warm,
        }));
    }
    Ok(out)
}

/// The all/warm/cold metrics of scored rows.
pub fn breakdown(rows: &[ScoredRow]) -> Breakdown {
    collm_eval::evaluate(rows)
}
