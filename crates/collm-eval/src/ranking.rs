//! Top-K metrics (Recall@K, NDCG@K) under a sampled-negatives protocol, for comparing the
//! pointwise CoLLM scorer with ranking-oriented baselines.
//!
//! Protocol:
//! 1. Every positive row (label 1) of the evaluated split is one ranking query, taken in the
//!    split's row order.
//! 2. For each query, `N` negatives (default [`DEFAULT_NEGATIVES`]) are drawn uniformly without
//!    replacement among items `1..item_num` the user has never interacted with in any split
//!    (the target included), with one generator from [`protocol_rng`] shared by all queries in
//!    order. If fewer than `N` items qualify, all of them are used.
//! 3. The caller scores the target and the negatives with the same model.
//! 4. rank = 1 + negatives scoring strictly higher + negatives scoring equal (ties counted against
//!    the target, so a constant scorer gets the worst rank, not the best).
//! 5. Recall@K = share of queries with rank <= K; NDCG@K = mean of 1/log2(rank + 1) over queries,
//!    0 when rank > K (one relevant item, so the ideal DCG is 1).

use std::collections::HashSet;

use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Negatives per query unless configured otherwise.
pub const DEFAULT_NEGATIVES: usize = 100;

/// Recall@K and NDCG@K over a set of ranked queries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    pub k: usize,
    /// Negatives sampled per query.
    pub negatives: usize,
    /// Queries (positive rows) ranked.
    pub positives: usize,
    /// `None` when there was no query.
    pub recall: Option<f64>,
    pub ndcg: Option<f64>,
}

/// The generator of the protocol: ChaCha8, so a seed gives the same candidates on every platform
/// and `rand` version.
pub fn protocol_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Draws up to `negatives` distinct items from `1..item_num` that are not in `interacted`,
/// uniformly; all qualifying items (ascending) when there are no more than `negatives`.
pub fn sample_candidates<R: Rng + ?Sized>(
    rng: &mut R,
    item_num: u32,
    interacted: &HashSet<u32>,
    negatives: usize,
) -> Vec<u32> {
    let real_items = item_num.saturating_sub(1) as usize;
    let excluded = interacted
        .iter()
        .filter(|&&i| i >= 1 && i < item_num)
        .count();
    let available = real_items - excluded;
    if available <= negatives {
        return (1..item_num).filter(|i| !interacted.contains(i)).collect();
    }
    if available <= 4 * negatives {
        // Dense exclusion: rejection would waste draws, so pick positions in the allowed list.
        let pool: Vec<u32> = (1..item_num).filter(|i| !interacted.contains(i)).collect();
        return index::sample(rng, pool.len(), negatives)
            .into_iter()
            .map(|p| pool[p])
            .collect();
    }
    // Sparse exclusion: each draw is accepted with probability >= 3/4.
    let mut chosen = Vec::with_capacity(negatives);
    let mut seen = HashSet::with_capacity(negatives);
    while chosen.len() < negatives {
        let item = rng.gen_range(1..item_num);
        if !interacted.contains(&item) && seen.insert(item) {
            chosen.push(item);
        }
    }
    chosen
}

/// The target's 1-based rank among the sampled negatives, ties counted against it. A NaN score
/// ranks last: a NaN target below every negative, a NaN negative above the target.
pub fn rank(target: f32, negative_scores: &[f32]) -> usize {
    if target.is_nan() {
        return 1 + negative_scores.len();
    }
    1 + negative_scores
        .iter()
        .filter(|&&s| s.is_nan() || s >= target)
        .count()
}

/// Recall@K and NDCG@K from the ranks of all queries.
pub fn ranking_metrics(ranks: &[usize], k: usize, negatives: usize) -> RankingMetrics {
    let queries = ranks.len() as f64;
    let hits = ranks.iter().filter(|&&r| r <= k).count() as f64;
    let gain: f64 = ranks
        .iter()
        .filter(|&&r| r <= k)
        .map(|&r| 1.0 / ((r + 1) as f64).log2())
        .sum();
    let defined = !ranks.is_empty();
    RankingMetrics {
        k,
        negatives,
        positives: ranks.len(),
        recall: defined.then(|| hits / queries),
        ndcg: defined.then(|| gain / queries),
    }
}
