//! INTERIM: AUC/UAUC/logloss breakdown until `collm_eval` exports its `evaluate`; only
//! `score::metrics_of` calls this, so switching over is a one-line change there.

use std::collections::BTreeMap;

use collm_eval::{Breakdown, Metrics, ScoredRow};

pub(crate) fn breakdown(rows: &[ScoredRow]) -> Breakdown {
    let warm: Vec<ScoredRow> = rows.iter().copied().filter(|r| r.warm).collect();
    let cold: Vec<ScoredRow> = rows.iter().copied().filter(|r| !r.warm).collect();
    Breakdown { all: metrics(rows), warm: metrics(&warm), cold: metrics(&cold) }
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

/// Mann-Whitney AUC with average ranks for ties (sklearn's `roc_auc_score`).
fn auc(rows: &[ScoredRow]) -> Option<f64> {
    let pos = rows.iter().filter(|r| r.label == 1).count();
    let neg = rows.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut sorted: Vec<&ScoredRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.logit.total_cmp(&b.logit));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].logit == sorted[i].logit {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum_pos += avg_rank * sorted[i..j].iter().filter(|r| r.label == 1).count() as f64;
        i = j;
    }
    let (p, n) = (pos as f64, neg as f64);
    Some((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * n))
}
