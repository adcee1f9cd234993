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
                model.scores(&refs, Some(&prefix))?
            }
            _ => model.scores(&refs, None)?,
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
    interim::breakdown(rows)
}

/// INTERIM: AUC/UAUC/logloss until `collm_eval` exports its `evaluate`; `breakdown` above is the
/// only caller, so switching over deletes this module.
mod interim {
    use std::collections::BTreeMap;

    use collm_eval::{Breakdown, Metrics, ScoredRow};

    pub(super) fn breakdown(rows: &[ScoredRow]) -> Breakdown {
        let pick = |warm: bool| rows.iter().copied().filter(|r| r.warm == warm).collect::<Vec<_>>();
        Breakdown { all: metrics(rows), warm: metrics(&pick(true)), cold: metrics(&pick(false)) }
    }

    fn metrics(rows: &[ScoredRow]) -> Metrics {
        let mut by_user: BTreeMap<u32, Vec<ScoredRow>> = BTreeMap::new();
        for r in rows {
            by_user.entry(r.uid).or_default().push(*r);
        }
        let per_user: Vec<f64> = by_user.values().filter(|u| u.len() >= 2).filter_map(|u| auc(u)).collect();
        let logloss = (!rows.is_empty()).then(|| {
            rows.iter()
                .map(|r| {
                    let s = f64::from(r.logit);
                    s.max(0.0) - f64::from(r.label) * s + (-s.abs()).exp().ln_1p()
                })
                .sum::<f64>()
                / rows.len() as f64
        });
        Metrics {
            auc: auc(rows),
            uauc: (!per_user.is_empty()).then(|| per_user.iter().sum::<f64>() / per_user.len() as f64),
            logloss,
            rows: rows.len(),
            users_counted: per_user.len(),
        }
    }

    /// Rank-based AUC with average ranks for ties; `None` with a single class.
    fn auc(rows: &[ScoredRow]) -> Option<f64> {
        let pos = rows.iter().filter(|r| r.label == 1).count();
        let neg = rows.len() - pos;
        if pos == 0 || neg == 0 {
            return None;
        }
        let mut sorted: Vec<&ScoredRow> = rows.iter().collect();
        sorted.sort_by(|a, b| a.logit.total_cmp(&b.logit));
        let mut rank_sum = 0.0;
        let mut i = 0;
        while i < sorted.len() {
            let mut j = i;
            while j + 1 < sorted.len() && sorted[j + 1].logit == sorted[i].logit {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0 + 1.0;
            rank_sum += avg * sorted[i..=j].iter().filter(|r| r.label == 1).count() as f64;
            i = j + 1;
        }
        Some((rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos * neg) as f64)
    }
}
