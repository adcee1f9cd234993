//! Scoring rows with the model (no gradient, LoRA dropout off) into `ScoredRow`s and their
//! all/warm/cold metrics.

use collm_eval::{Breakdown, ScoredRow};
use collm_events::CancelToken;

use crate::error::{PipelineError, Result};
use crate::model::{CollmModel, Encoded};
use crate::prefix_cache::{CacheKey, PrefixCache};

/// Scores `samples` in batches of `batch_size`, returning rows in `samples`' order. Batches
/// are formed from the rows sorted by prompt length: a batch pads to its longest row, and on
/// ML-1M's valid rows (82 to 251 tokens, grouped by user) batches of 32 in file order are 11%
/// padding, sorted ones 2%. A row's score does not depend on its batch mates (left padding is
/// masked). With a cache, each batch's prompt prefix is taken from (or put into) it under
/// `CacheKey::Eval(batch index)`: only valid while LoRA is frozen and for the same `samples`
/// in the same order (the sort is stable, so the same samples form the same batches).
pub fn score_samples(
    model: &CollmModel,
    samples: &[Encoded],
    batch_size: usize,
    mut cache: Option<&mut PrefixCache>,
    cancel: Option<&CancelToken>,
) -> Result<Vec<ScoredRow>> {
    let mut order: Vec<usize> = (0..samples.len()).collect();
    order.sort_by_key(|&i| samples[i].tokens.ids.len());
    let mut logits = vec![0f32; samples.len()];
    for (b, batch) in order.chunks(batch_size.max(1)).enumerate() {
        if cancel.is_some_and(|c| c.is_cancelled()) {
            return Err(PipelineError::Cancelled);
        }
        let refs: Vec<&Encoded> = batch.iter().map(|&i| &samples[i]).collect();
        let scores = match cache.as_deref_mut() {
            Some(c) if refs.iter().all(|s| !s.tokens.slots.is_empty()) => {
                let prefix = c.get_or_compute(CacheKey::Eval(b), || model.prefix_kv(&refs))?;
                model.eval_scores(&refs, Some(&prefix))?
            }
            _ => model.eval_scores(&refs, None)?,
        };
        for (&i, logit) in batch.iter().zip(scores.to_vec1::<f32>()?) {
            logits[i] = logit;
        }
    }
    Ok(samples
        .iter()
        .zip(logits)
        .map(|(s, logit)| ScoredRow {
            uid: s.row.uid,
            label: s.row.label,
            logit,
            warm: s.row.warm,
        })
        .collect())
}

/// The all/warm/cold metrics of scored rows.
pub fn breakdown(rows: &[ScoredRow]) -> Breakdown {
    collm_eval::evaluate(rows)
}
