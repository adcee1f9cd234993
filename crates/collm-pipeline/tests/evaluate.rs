//! Evaluation batches rows by prompt length but returns them in the caller's order, each
//! scored as it would be alone, and the inspector shows the same scores (tiny model, LoRA
//! non-zero and frozen, dropout off).

mod common;

use candle_core::Device;
use collm_pipeline::evaluate::score_samples;
use collm_pipeline::inspect::inspect;
use collm_pipeline::prefix_cache::PrefixCache;
use collm_pipeline::prompt::SlotKind;
use collm_pipeline::{CfInput, PromptKind, ScoreKind, SlotSource};

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

/// With `cf_input = "unit"` the inspector says so and still shows the foundation's own length;
/// the slot then holds what the raw-input mapping makes of the vector scaled to length 1.
#[test]
fn the_inspector_shows_a_unit_read_vector_at_its_own_length() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    let raw = common::tiny_model(&cfg, &dataset);
    cfg.slots.cf_input = CfInput::Unit;
    let unit = common::tiny_model(&cfg, &dataset);
    let row = &dataset.train.rows[52];
    let (raw_view, unit_view) = (
        inspect(&raw, row, PromptKind::Hybrid, None).unwrap(),
        inspect(&unit, row, PromptKind::Hybrid, None).unwrap(),
    );
    for (r, u) in raw_view.slots.iter().zip(&unit_view.slots) {
        assert!(!r.source.contains("unit"), "{}", r.source);
        assert!(u.source.ends_with("read at unit length"), "{}", u.source);
        assert_eq!(r.vector_norm, u.vector_norm);
        assert!(
            (r.vector_norm - 1.0).abs() > 0.05,
            "the check needs a vector not already of unit length: {}",
            r.vector_norm
        );
        assert!((r.embedding_norm - u.embedding_norm).abs() > 1e-4);
    }
    let SlotSource::Cie { cie, cf } = &raw.slots else {
        panic!("the tiny config has a CIE")
    };
    let batch =
        collm_cf::batch_for(std::slice::from_ref(row), cf.history_len(), &Device::Cpu).unwrap();
    let v = cf.item_vectors(&batch).unwrap();
    let item = unit_view.slots.iter().find(|s| s.kind == SlotKind::Item);
    let scaled = (&v / f64::from(item.unwrap().vector_norm)).unwrap();
    let want = cie.forward(&scaled).unwrap();
    let got = unit.slot_vectors(&[row], SlotKind::Item).unwrap();
    let diff = (want - got).unwrap().abs().unwrap().max_all().unwrap();
    assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
}
