//! Ranking a CF model's scores: every positive row of a split against sampled negatives, under
//! the protocol of `collm_eval::ranking` (same seed, same candidates for every model).

use std::collections::{HashMap, HashSet};

use collm_cf::{CfError, CfModel};
use collm_data::{Dataset, Interaction};
use collm_eval::ranking::{protocol_rng, rank, ranking_metrics, sample_candidates, RankingMetrics};

use crate::experiment::RankingSpec;

/// Queries scored per model call: bounds the candidate rows held at once.
const QUERIES_PER_CALL: usize = 256;

pub fn rank_split(
    model: &dyn CfModel,
    dataset: &Dataset,
    interacted: &HashMap<u32, HashSet<u32>>,
    rows: &[Interaction],
    spec: &RankingSpec,
    batch_size: usize,
) -> Result<RankingMetrics, CfError> {
    let mut rng = protocol_rng(spec.seed);
    let item_num = u32::try_from(dataset.item_num).unwrap_or(u32::MAX);
    let none = HashSet::new();
    let positives: Vec<&Interaction> = rows.iter().filter(|r| r.label == 1).collect();
    let mut ranks = Vec::with_capacity(positives.len());
    for chunk in positives.chunks(QUERIES_PER_CALL) {
        // Per query: the target row, then its negatives (same user and history).
        let mut candidates = Vec::new();
        let mut counts = Vec::with_capacity(chunk.len());
        for row in chunk {
            let seen = interacted.get(&row.uid).unwrap_or(&none);
            let negatives = sample_candidates(&mut rng, item_num, seen, spec.negatives);
            counts.push(negatives.len());
            candidates.push((*row).clone());
            candidates.extend(negatives.into_iter().map(|iid| Interaction {
                iid,
                label: 0,
                ..(*row).clone()
            }));
        }
        let scored = collm_cf::score_rows(model, &candidates, batch_size)?;
        let mut at = 0;
        for n in counts {
            let negative_scores: Vec<f32> =
                scored[at + 1..at + 1 + n].iter().map(|s| s.logit).collect();
            ranks.push(rank(scored[at].logit, &negative_scores));
            at += 1 + n;
        }
    }
    Ok(ranking_metrics(&ranks, spec.k, spec.negatives))
}
