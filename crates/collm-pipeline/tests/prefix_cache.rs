//! The stage-2 prefix cache is exact: scores and mapping gradients through a cached prompt
//! prefix equal those of the full prompt (tiny model, LoRA non-zero and frozen, dropout off).

mod common;

use candle_core::{Tensor, Var};
use collm_pipeline::model::Encoded;
use collm_pipeline::score::bce_with_logits;
use collm_pipeline::{PromptKind, Trainable};

#[test]
fn cached_scores_and_gradients_equal_the_full_prompt() {
    let (dataset, _dir, model) = common::frozen_tiny_model();
    // Rows with histories of different lengths, so prefixes and suffixes pad differently.
    let rows: Vec<_> = [0usize, 1, 52, 300, 301, 2000]
        .iter()
        .map(|&i| dataset.train.rows[i].clone())
        .collect();
    let samples: Vec<Encoded> = model.encode_all(&rows, PromptKind::Hybrid).unwrap();
    let refs: Vec<&Encoded> = samples.iter().collect();
    let lens: Vec<usize> = samples.iter().map(|s| s.tokens.prefix_len()).collect();
    assert!(
        lens.iter().min() < lens.iter().max(),
        "prefix lengths differ: {lens:?}"
    );
    let labels = Tensor::new(&[1f32, 0., 1., 0., 1., 1.], model.device()).unwrap();
    let vars: Vec<(String, Var)> = model.vars(&[Trainable::Mapping]).unwrap();

    let full = model.scores(&refs, None).unwrap();
    let full_grads = bce_with_logits(&full, &labels).unwrap().backward().unwrap();
    let prefix = model.prefix_kv(&refs).unwrap();
    let cached = model.scores(&refs, Some(&prefix)).unwrap();
    let cached_grads = bce_with_logits(&cached, &labels)
        .unwrap()
        .backward()
        .unwrap();

    let a = full.to_vec1::<f32>().unwrap();
    let b = cached.to_vec1::<f32>().unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-5, "scores differ: {a:?} vs {b:?}");
    }
    let flat = |grads: &candle_core::backprop::GradStore, var: &Var| -> Vec<f32> {
        grads
            .get(var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    for (name, var) in &vars {
        let (g1, g2) = (flat(&full_grads, var), flat(&cached_grads, var));
        assert!(g1.iter().any(|g| *g != 0.0), "{name} has a gradient");
        for (x, y) in g1.iter().zip(&g2) {
            assert!(
                (x - y).abs() < 1e-5,
                "{name}: gradients differ ({x} vs {y})"
            );
        }
    }
}

#[test]
fn cached_scores_are_exact_with_several_slot_tokens_and_id_tokens() {
    let dataset = common::dataset();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(&common::saved_mf(&dataset, dir.path()));
    cfg.prompt.proj_token_num = 3;
    cfg.slots.kind = collm_pipeline::SlotFill::IdTokens;
    let mut model = common::tiny_model(&cfg, &dataset);
    common::randomise_lora(&model);
    model.set_trainable(false, false);
    let rows: Vec<_> = [5usize, 52, 999]
        .iter()
        .map(|&i| dataset.train.rows[i].clone())
        .collect();
    let samples = model.encode_all(&rows, PromptKind::Hybrid).unwrap();
    let refs: Vec<&Encoded> = samples.iter().collect();
    let full = model.scores(&refs, None).unwrap().to_vec1::<f32>().unwrap();
    let prefix = model.prefix_kv(&refs).unwrap();
    let cached = model
        .scores(&refs, Some(&prefix))
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (x, y) in full.iter().zip(&cached) {
        assert!((x - y).abs() < 1e-5, "{full:?} vs {cached:?}");
    }
}

/// Evaluation scores are the training path's to the bit, with nothing tracked for a backward
/// pass: neither LoRA nor the mapping gets a gradient from them, so no activation is kept for
/// one (this is what keeps an evaluation batch's memory to one layer's activations).
#[test]
fn evaluation_scores_equal_training_scores_and_track_nothing() {
    let (dataset, _dir, model) = common::frozen_tiny_model();
    let rows: Vec<_> = [0usize, 1, 52, 300]
        .iter()
        .map(|&i| dataset.train.rows[i].clone())
        .collect();
    let samples: Vec<Encoded> = model.encode_all(&rows, PromptKind::Hybrid).unwrap();
    let refs: Vec<&Encoded> = samples.iter().collect();
    let mut vars: Vec<(String, Var)> = model.vars(&[Trainable::Mapping]).unwrap();
    vars.extend(model.llm.lora_vars());
    let prefix = model.prefix_kv(&refs).unwrap();

    for prefix in [None, Some(&prefix)] {
        let tracked = model.scores(&refs, prefix).unwrap();
        let untracked = model.eval_scores(&refs, prefix).unwrap();
        assert_eq!(
            tracked.to_vec1::<f32>().unwrap(),
            untracked.to_vec1::<f32>().unwrap()
        );
        let grads = tracked.sum_all().unwrap().backward().unwrap();
        let none = untracked.sum_all().unwrap().backward().unwrap();
        for (name, var) in &vars {
            // Through a cached prefix LoRA acts only on the suffix, which it still reaches.
            assert!(grads.get(var).is_some(), "training scores reach {name}");
            assert!(none.get(var).is_none(), "evaluation scores tracked {name}");
        }
    }
    // Tracking is back on for the training step after an evaluation.
    let again = model.scores(&refs, None).unwrap();
    let grads = again.sum_all().unwrap().backward().unwrap();
    assert!(vars.iter().all(|(_, v)| grads.get(v).is_some()));
}
