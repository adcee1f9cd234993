//! AUC as sklearn's `roc_auc_score` computes it (ties count one half, i.e. midranks /
//! Mann-Whitney U) and UAUC, the unweighted mean of per-user AUCs (spec §5).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ScoredRow;

/// Area under the ROC curve: the share of (positive, negative) pairs the scores order correctly,
/// a tie counting one half. Labels: 0 is negative, anything else positive.
///
/// `None` when there is only one class (sklearn raises), when a score is NaN (sklearn raises),
/// or when the slices differ in length.
pub fn auc(labels: &[u8], scores: &[f32]) -> Option<f64> {
    if labels.len() != scores.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let positives = labels.iter().filter(|&&l| l != 0).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    Some(weighted_auc(labels, scores, &score_order(scores), |_| 1.0))
}

/// Row indices in ascending score order (total order: NaN-free input is the caller's check).
pub(crate) fn score_order(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    order
}

/// AUC with each row counted `weight(row)` times (a bootstrap resample's multiplicities), over
/// rows already in [`score_order`]: one pass, so a resample costs no sort. NaN when the weighted
/// rows hold one class only. With integer weights every term is an integer or a half, so the
/// sums are exact in f64 and unit weights give exactly [`auc`].
pub(crate) fn weighted_auc(
    labels: &[u8],
    scores: &[f32],
    order: &[usize],
    weight: impl Fn(usize) -> f64,
) -> f64 {
    // Walk groups of equal scores from the lowest; `==` (not total order) so -0.0 ties 0.0.
    let (mut correct_pairs, mut negatives_below, mut positives) = (0.0f64, 0.0f64, 0.0f64);
    let mut start = 0;
    while start < order.len() {
        let score = scores[order[start]];
        let end = start
            + order[start..]
                .iter()
                .take_while(|&&i| scores[i] == score)
                .count();
        let (mut group_pos, mut group_neg) = (0.0, 0.0);
        for &i in &order[start..end] {
            if labels[i] != 0 {
                group_pos += weight(i);
            } else {
                group_neg += weight(i);
            }
        }
        correct_pairs += group_pos * negatives_below + 0.5 * group_pos * group_neg;
        negatives_below += group_neg;
        positives += group_pos;
        start = end;
    }
    correct_pairs / (positives * negatives_below)
}

/// User-averaged AUC and how many users were left out and why.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserAuc {
    /// Unweighted mean of per-user AUC; `None` when no user qualifies or a score is NaN.
    pub uauc: Option<f64>,
    /// Users with >= 2 rows and both classes: the ones averaged.
    pub users_counted: usize,
    /// Users with exactly one row (the reference's "only one interaction").
    pub users_single_row: usize,
    /// Users with >= 2 rows that are all of one class (the reference's "can not users").
    pub users_single_class: usize,
}

/// UAUC as the reference computes it: rows grouped by uid, single-row and single-class users
/// skipped and counted, the rest averaged with equal weight.
pub fn uauc(rows: &[ScoredRow]) -> UserAuc {
    let mut by_user: BTreeMap<u32, (Vec<u8>, Vec<f32>)> = BTreeMap::new();
    for row in rows {
        let (labels, scores) = by_user.entry(row.uid).or_default();
        labels.push(row.label);
        scores.push(row.logit);
    }
    let mut result = UserAuc::default();
    let mut sum = 0.0;
    let mut undefined = false;
    for (labels, scores) in by_user.values() {
        if labels.len() == 1 {
            result.users_single_row += 1;
        } else if labels.iter().all(|&l| (l != 0) == (labels[0] != 0)) {
            result.users_single_class += 1;
        } else {
            result.users_counted += 1;
            match auc(labels, scores) {
                Some(value) => sum += value,
                None => undefined = true,
            }
        }
    }
    if !undefined && result.users_counted > 0 {
        result.uauc = Some(sum / result.users_counted as f64);
    }
    result
}
