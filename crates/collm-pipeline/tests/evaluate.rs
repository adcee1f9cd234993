//! Evaluation batches rows by prompt length but returns them in the caller's order, each
//! scored as it would be alone, and the inspector shows the same scores (tiny model, LoRA
//! non-zero and frozen, dropout off).

mod common;

use collm_pipeline::evaluate::score_samples;
use collm_pipeline::inspect::inspect;
use collm_pipeline::prefix_cache::PrefixCache;
use collm_pipeline::{PromptKind, ScoreKind};

#[test]
fn rows_come_back_in_order_each_scored_as_alone() {
    let (dataset, _dir, model) = common::frozen_tiny_model();
    let rows: Vec<_> = [2000usize, 0, 301, 1, 52, 300, 7]
        .iter()
        .map(|&i| dataset.train.rows[i].clone())
        .collect();
    let samples = model.encode_all(&rows, PromptKind::Hybrid).unwrap();
    let lens: Vec<usize> = samples.iter().map(|s| s.tokens.ids.len()).collect();
    assert!(
        lens.windows(2).any(|w| w[0] > w[1]),
        "the rows must not already be in length order: {lens:?}"
    );
    let alone: Vec<f32> = samples
        .iter()
        .map(|s| {
            model
                .eval_scores(&[s], None)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()[0]
        })
        .collect();

    let mut cache = PrefixCache::new(1 << 30, model.kv_bytes_per_position());
    // Uncached, then twice through the cache: the second pass reads what the first stored.
    for cached in [false, true, true] {
        let scored =
            score_samples(&model, &samples, 3, cached.then_some(&mut cache), None).unwrap();
        assert_eq!(scored.len(), rows.len());
        for (i, (row, s)) in rows.iter().zip(&scored).enumerate() {
            assert_eq!((s.uid, s.label, s.warm), (row.uid, row.label, row.warm));
            assert!(
                (s.logit - alone[i]).abs() < 1e-5,
                "row {i} (cached {cached}): {} in a batch, {} alone",
                s.logit,
                alone[i]
            );
        }
    }
    assert_eq!(
        cache.stats(),
        (3, 3),
        "three batches stored, then read back"
    );
}

/// The inspector (`collm prompt`, the TUI's Inspect view) shows the score the evaluation
/// gives the same row, under both score kinds.
#[test]
fn the_inspector_shows_the_evaluation_score() {
    let (dataset, _dir, mut model) = common::frozen_tiny_model();
    let rows: Vec<_> = [0usize, 52, 300]
        .iter()
        .map(|&i| dataset.train.rows[i].clone())
        .collect();
    for score in [ScoreKind::Yes, ScoreKind::YesMinusNo] {
        model.score = score;
        let samples = model.encode_all(&rows, PromptKind::Hybrid).unwrap();
        let scored = score_samples(&model, &samples, 2, None, None).unwrap();
        for (row, s) in rows.iter().zip(&scored) {
            let view = inspect(&model, row, PromptKind::Hybrid, Some(row.label)).unwrap();
            assert!(
                (view.score - s.logit).abs() < 1e-5,
                "{score:?}: inspector {} against evaluation {}",
                view.score,
                s.logit
            );
        }
    }
}
