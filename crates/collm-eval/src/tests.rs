//! Hand-computed checks of every metric; the expected values are derived in the comments.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};

use crate::ranking::{protocol_rng, rank, ranking_metrics, sample_candidates};
use crate::{auc, evaluate, logloss, uauc, Breakdown, ScoredRow};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

pub(crate) fn row(uid: u32, label: u8, logit: f32, warm: bool) -> ScoredRow {
    ScoredRow {
        uid,
        label,
        logit,
        warm,
    }
}

#[test]
fn auc_of_sklearns_doc_example() {
    // Positives 0.35, 0.8; negatives 0.1, 0.4. Pairs won: 0.35>0.1, 0.8>0.1, 0.8>0.4 = 3 of 4.
    assert_eq!(auc(&[0, 0, 1, 1], &[0.1, 0.4, 0.35, 0.8]), Some(0.75));
}

#[test]
fn auc_counts_ties_as_half() {
    // Positives 0.5, 0.9, 0.2; negatives 0.2, 0.5, 0.1 (9 pairs).
    // 0.5: beats 0.2 and 0.1, ties 0.5 -> 2.5. 0.9: beats all -> 3.
    // 0.2: ties 0.2, beats 0.1 -> 1.5. AUC = (2.5 + 3 + 1.5) / 9 = 7/9.
    let labels = [0, 1, 0, 1, 1, 0];
    let scores = [0.2, 0.5, 0.5, 0.9, 0.2, 0.1];
    assert!(close(auc(&labels, &scores).unwrap(), 7.0 / 9.0));
    // Monotone transforms (logit -> sigmoid) keep every pair's order, hence the AUC.
    let sigmoid: Vec<f32> = scores
        .iter()
        .map(|s| 1.0 / (1.0 + (-s * 10.0f32).exp()))
        .collect();
    assert!(close(auc(&labels, &sigmoid).unwrap(), 7.0 / 9.0));
}

#[test]
fn all_tied_scores_give_one_half() {
    assert_eq!(auc(&[1, 0, 0, 1, 1], &[3.0; 5]), Some(0.5));
    // -0.0 and 0.0 are the same score: one positive, one negative, tied.
    assert_eq!(auc(&[1, 0], &[-0.0, 0.0]), Some(0.5));
}

#[test]
fn auc_is_undefined_for_one_class_nan_or_mismatch() {
    assert_eq!(auc(&[1, 1, 1], &[0.1, 0.2, 0.3]), None);
    assert_eq!(auc(&[0, 0], &[0.1, 0.2]), None);
    assert_eq!(auc(&[], &[]), None);
    assert_eq!(auc(&[0, 1], &[0.1, f32::NAN]), None);
    assert_eq!(auc(&[0, 1], &[0.1]), None);
}

/// sklearn's own route: ROC points at each distinct threshold (descending), trapezoid area.
fn trapezoid_auc(labels: &[u8], scores: &[f32]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let p = labels.iter().filter(|&&l| l == 1).count() as f64;
    let n = labels.len() as f64 - p;
    let (mut tp, mut fp, mut last_tpr, mut last_fpr, mut area) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (k, &i) in order.iter().enumerate() {
        if labels[i] == 1 {
            tp += 1.0
        } else {
            fp += 1.0
        }
        let threshold_ends = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if threshold_ends {
            let (tpr, fpr) = (tp / p, fp / n);
            area += (fpr - last_fpr) * (tpr + last_tpr) / 2.0;
            (last_tpr, last_fpr) = (tpr, fpr);
        }
    }
    area
}

#[test]
fn auc_matches_the_trapezoid_roc_on_random_tied_scores() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for case in 0..200 {
        let len = rng.gen_range(2..60);
        let levels = rng.gen_range(1..8);
        let labels: Vec<u8> = (0..len).map(|_| rng.gen_range(0..2)).collect();
        let scores: Vec<f32> = (0..len)
            .map(|_| rng.gen_range(0..levels) as f32 * 0.25)
            .collect();
        match auc(&labels, &scores) {
            Some(value) => {
                let expected = trapezoid_auc(&labels, &scores);
                assert!(close(value, expected), "case {case}: {value} vs {expected}");
            }
            None => assert!(labels.iter().all(|&l| l == labels[0]), "case {case}"),
        }
    }
}

#[test]
fn uauc_skips_and_counts_single_row_and_single_class_users() {
    let rows = [
        // User 1: positive 0.9 above negative 0.1 -> AUC 1.
        row(1, 1, 0.9, true),
        row(1, 0, 0.1, true),
        // User 2: positives 0.2 and 0.9 against negative 0.5 -> (0 + 1) / 2 = 0.5.
        row(2, 1, 0.2, true),
        row(2, 0, 0.5, false),
        row(2, 1, 0.9, false),
        // User 3: one row. User 4: two rows, both positive.
        row(3, 0, 0.3, true),
        row(4, 1, 0.3, true),
        row(4, 1, 0.7, true),
    ];
    let users = uauc(&rows);
    assert_eq!(users.uauc, Some(0.75)); // (1 + 0.5) / 2, unweighted
    assert_eq!(
        (
            users.users_counted,
            users.users_single_row,
            users.users_single_class
        ),
        (2, 1, 1)
    );
    let none = uauc(&rows[5..]);
    assert_eq!((none.uauc, none.users_counted), (None, 0));
    assert_eq!(
        uauc(&[row(1, 1, f32::NAN, true), row(1, 0, 0.0, true)]).uauc,
        None
    );
}

#[test]
fn logloss_is_finite_for_huge_logits() {
    // Terms: softplus(-100) ~ 3.7e-44, softplus(100) = 100 + ln(1 + e^-100), softplus(0) = ln 2.
    let value = logloss(&[1, 1, 0], &[100.0, -100.0, 0.0]).unwrap();
    assert!(
        close(value, (100.0 + std::f64::consts::LN_2) / 3.0),
        "{value}"
    );
    let extreme = logloss(&[1, 0, 1, 0], &[f32::MAX, -f32::MAX, -f32::MAX, f32::MAX]).unwrap();
    assert!(extreme.is_finite());
    assert!(close(extreme, 2.0 * f64::from(f32::MAX) / 4.0));
    // A single row with logit 0 is ln 2 whatever the label; sigmoid(2) for a positive is
    // -ln(1 / (1 + e^-2)) = ln(1 + e^-2).
    assert!(close(
        logloss(&[1], &[0.0]).unwrap(),
        std::f64::consts::LN_2
    ));
    assert!(close(
        logloss(&[1], &[2.0]).unwrap(),
        (-2.0f64).exp().ln_1p()
    ));
    assert_eq!(logloss(&[], &[]), None);
    assert_eq!(logloss(&[1], &[f32::NAN]), None);
}

#[test]
fn evaluate_breaks_down_warm_and_cold() {
    let rows = [
        row(1, 1, 2.0, true),
        row(1, 0, -1.0, true),
        row(2, 1, -3.0, true),
        row(3, 0, 1.0, false),
        row(3, 1, 0.5, false),
        row(4, 1, 0.0, false),
    ];
    let b = evaluate(&rows);
    assert_eq!((b.all.rows, b.warm.rows, b.cold.rows), (6, 3, 3));
    // Warm: positives 2, -3 vs negative -1 -> 1/2. User 1 only counts (user 2 has one row).
    assert_eq!(b.warm.auc, Some(0.5));
    assert_eq!((b.warm.uauc, b.warm.users_counted), (Some(1.0), 1));
    // Cold: positives 0.5, 0 vs negative 1 -> 0. User 3: 0.
    assert_eq!(
        (b.cold.auc, b.cold.uauc, b.cold.users_counted),
        (Some(0.0), Some(0.0), 1)
    );
    // All: positives 2, -3, 0.5, 0 vs negatives -1, 1. Pairs won: 2 beats both (2), -3 none,
    // 0.5 beats -1 (1), 0 beats -1 (1): 4 of 8.
    assert_eq!(b.all.auc, Some(0.5));
    assert_eq!((b.all.uauc, b.all.users_counted), (Some(0.5), 2));
    assert!(b.all.logloss.unwrap() > 0.0);
    let empty = evaluate(&[]);
    assert_eq!(
        (empty.all.auc, empty.all.logloss, empty.all.rows),
        (None, None, 0)
    );
}

#[test]
fn rank_counts_ties_against_the_target() {
    // One negative above (0.9), two tied (0.5, 0.5): rank 1 + 1 + 2 = 4.
    assert_eq!(rank(0.5, &[0.9, 0.5, 0.1, 0.5]), 4);
    assert_eq!(rank(0.5, &[0.1, 0.2]), 1);
    // A constant scorer gets the worst rank, not the best.
    assert_eq!(rank(1.0, &[1.0; 100]), 101);
    assert_eq!(rank(f32::NAN, &[0.1, 0.2]), 3);
    assert_eq!(rank(0.5, &[f32::NAN, 0.1]), 2);
}

#[test]
fn recall_and_ndcg_from_ranks() {
    // K = 10: ranks 1 and 4 are hits, 12 is not. Recall 2/3.
    // NDCG = (1/log2(2) + 1/log2(5) + 0) / 3 = (1 + 0.430676558...) / 3.
    let m = ranking_metrics(&[1, 4, 12], 10, 100);
    assert_eq!((m.k, m.negatives, m.positives), (10, 100, 3));
    assert!(close(m.recall.unwrap(), 2.0 / 3.0));
    assert!(close(m.ndcg.unwrap(), (1.0 + 1.0 / 5f64.log2()) / 3.0));
    let json = serde_json::to_value(&m).unwrap();
    assert_eq!(json["positives"], 3);
    let none = ranking_metrics(&[], 10, 100);
    assert_eq!((none.recall, none.ndcg), (None, None));
}

#[test]
fn candidates_avoid_interacted_items_and_padding() {
    let interacted: HashSet<u32> = (1..=5).collect();
    let mut rng = protocol_rng(2023);
    for negatives in [3, 10] {
        let picked = sample_candidates(&mut rng, 21, &interacted, negatives);
        assert_eq!(picked.len(), negatives);
        let distinct: HashSet<u32> = picked.iter().copied().collect();
        assert_eq!(distinct.len(), negatives);
        assert!(picked.iter().all(|i| (6..=20).contains(i)), "{picked:?}");
    }
    // Fewer qualifying items than asked: all of them, ascending.
    let few = sample_candidates(&mut rng, 9, &interacted, 100);
    assert_eq!(few, vec![6, 7, 8]);
    // The same seed gives the same candidates.
    let a = sample_candidates(&mut protocol_rng(1), 1000, &interacted, 100);
    let b = sample_candidates(&mut protocol_rng(1), 1000, &interacted, 100);
    assert_eq!(a, b);
}

#[test]
fn candidates_are_uniform_in_both_sampling_regimes() {
    let interacted: HashSet<u32> = (1..=5).collect();
    // 15 qualifying items (6..=20). 3 negatives: sparse (rejection) path; 10: dense path.
    for (negatives, draws) in [(3usize, 30_000usize), (10, 9_000)] {
        let mut counts = [0usize; 21];
        let mut rng = protocol_rng(negatives as u64);
        for _ in 0..draws {
            for item in sample_candidates(&mut rng, 21, &interacted, negatives) {
                counts[item as usize] += 1;
            }
        }
        let expected = (draws * negatives) as f64 / 15.0;
        for (item, &count) in counts.iter().enumerate().skip(6) {
            let ratio = count as f64 / expected;
            assert!(
                (0.95..1.05).contains(&ratio),
                "{negatives} negatives, item {item}: {ratio}"
            );
        }
        assert!(counts[..6].iter().all(|&c| c == 0));
    }
}

#[test]
fn the_mean_of_runs_averages_each_metric_and_leaves_undefined_ones_undefined() {
    let a = evaluate(&[
        row(0, 1, 0.9, true),
        row(0, 0, 0.1, true),
        row(1, 1, 0.2, false),
        row(1, 0, 0.3, false),
    ]);
    let b = evaluate(&[
        row(0, 1, 0.1, true),
        row(0, 0, 0.9, true),
        row(1, 1, 0.8, false),
        row(1, 0, 0.3, false),
    ]);
    // By hand: all-rows AUC of a is 3/4 (0.9 beats both negatives, 0.2 beats 0.1 only), of b
    // 1/4 (only 0.8 beats 0.3).
    assert_eq!((a.all.auc, b.all.auc), (Some(0.75), Some(0.25)));
    let m = Breakdown::mean(&[&a, &b]);
    assert_eq!(m.all.auc, Some(0.5));
    // Warm: a 1, b 0; cold: a 0, b 1. UAUC per user likewise.
    assert_eq!(
        (m.warm.auc, m.cold.auc, m.all.uauc),
        (Some(0.5), Some(0.5), Some(0.5))
    );
    assert!(close(
        m.all.logloss.unwrap(),
        (a.all.logloss.unwrap() + b.all.logloss.unwrap()) / 2.0
    ));
    assert_eq!((m.all.rows, m.all.users_counted), (4, 2));
    // One run without warm rows: the mean's warm AUC is undefined, not the other run's.
    let cold_only = evaluate(&[row(1, 1, 0.2, false), row(1, 0, 0.3, false)]);
    assert_eq!(Breakdown::mean(&[&a, &cold_only]).warm.auc, None);
}
