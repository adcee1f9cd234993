//! SASRec and DIN: vector shapes, what the user vector may depend on, padding, modes,
//! gradients, saving and loading, and learning through the shared trainer.

mod common;

use candle_core::{Device, Tensor};
use collm_cf::din::Din;
use collm_cf::sasrec::SasRec;
use collm_cf::{
    batch_for, build, build_as, load, score_rows, CfBatch, CfKind, CfModel, CfModelConfig,
    CfTrainConfig,
};
use collm_data::{Dataset, Interaction};
use collm_events::Event;
use common::{gradient_norms, history_dataset, logit_gradients, row, train_fresh};

fn sasrec_cfg(dim: usize, heads: usize, maxlen: usize) -> CfModelConfig {
    CfModelConfig {
        heads: Some(heads),
        maxlen: Some(maxlen),
        ..CfModelConfig::new(CfKind::Sasrec, dim)
    }
}

fn din_cfg(dim: usize, maxlen: usize) -> CfModelConfig {
    CfModelConfig {
        maxlen: Some(maxlen),
        ..CfModelConfig::new(CfKind::Din, dim)
    }
}

fn tiny() -> Dataset {
    history_dataset(12, 30, 120, 40, 14, 7)
}

fn with_history(uid: u32, iid: u32, his: Vec<u32>) -> Interaction {
    Interaction {
        his,
        ..row(uid, iid, 1, true)
    }
}

fn rows_of(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_vec2::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn batch(model: &dyn CfModel, rows: &[Interaction]) -> CfBatch {
    batch_for(rows, model.history_len(), &Device::Cpu).unwrap()
}

#[test]
fn vectors_have_the_documented_shapes() {
    let ds = tiny();
    let sas = build(&CfModelConfig::new(CfKind::Sasrec, 8), &ds, 1, &Device::Cpu).unwrap();
    assert_eq!((sas.dim(), sas.history_len()), (8, 25));
    let din = build(&CfModelConfig::new(CfKind::Din, 12), &ds, 1, &Device::Cpu).unwrap();
    assert_eq!((din.dim(), din.history_len()), (12, 10));
    for model in [&sas, &din] {
        let b = batch(&**model, &ds.valid.rows[..5]);
        let d = model.dim();
        assert_eq!(model.user_vectors(&b).unwrap().dims(), [5, d]);
        assert_eq!(model.item_vectors(&b).unwrap().dims(), [5, d]);
        assert_eq!(model.logits(&b).unwrap().dims(), [5]);
    }
    // SASRec's item vector is the raw item embedding; DIN's is its item embedding tiled x3,
    // which is also the first third of its user vector.
    let b = batch(&*sas, &ds.valid.rows[..5]);
    let table = sas.named_vars()[0].1.as_tensor().clone();
    assert_eq!(
        rows_of(&sas.item_vectors(&b).unwrap()),
        rows_of(&table.embedding(&b.iids).unwrap())
    );
    let b = batch(&*din, &ds.valid.rows[..5]);
    let (items, users) = (
        rows_of(&din.item_vectors(&b).unwrap()),
        rows_of(&din.user_vectors(&b).unwrap()),
    );
    for (item, user) in items.iter().zip(&users) {
        assert_eq!(&item[..4], &item[4..8]);
        assert_eq!(&item[..4], &item[8..]);
        assert_eq!(
            &item[..4],
            &user[..4],
            "user vector starts with the target item"
        );
    }
}

#[test]
fn sasrec_reads_only_the_last_maxlen_items_and_is_causal() {
    let ds = tiny();
    let cfg = sasrec_cfg(8, 2, 6);
    let sas = build_as::<SasRec>(&cfg, &ds, 3, &Device::Cpu).unwrap();
    let model: &dyn CfModel = &sas;
    let recent = vec![3, 5, 7, 9, 11, 13];
    let rows = [
        with_history(1, 2, recent.clone()),
        with_history(1, 2, [vec![1, 2, 4], recent.clone()].concat()),
        with_history(1, 2, [recent[..5].to_vec(), vec![15]].concat()),
        with_history(1, 2, recent[2..].to_vec()),
    ];
    let b = batch(model, &rows);
    let users = rows_of(&model.user_vectors(&b).unwrap());
    assert_eq!(
        users[0], users[1],
        "items before the last 6 must not matter"
    );
    assert!(
        max_abs_diff(&users[0], &users[2]) > 1e-4,
        "the last item matters"
    );
    // The fast last-position path equals the full sequence output's last position.
    let full = sas.sequence_features(&b).unwrap();
    assert_eq!(full.dims(), [4, 6, 8]);
    let last = rows_of(&full.narrow(1, 5, 1).unwrap().squeeze(1).unwrap());
    for (a, b) in last.iter().zip(&users) {
        assert!(max_abs_diff(a, b) < 1e-5, "{a:?} vs {b:?}");
    }
    // Causality: positions before the changed last item are unchanged.
    let f = full.to_vec3::<f32>().unwrap();
    for (p, (a, b)) in f[0].iter().zip(&f[2]).take(5).enumerate() {
        assert!(max_abs_diff(a, b) < 1e-6, "position {p} saw the future");
    }
    assert!(max_abs_diff(&f[0][5], &f[2][5]) > 1e-4);
    // Padded positions are zeroed after every block: the final LayerNorm turns them into its
    // bias exactly.
    let bias = sas
        .named_vars()
        .into_iter()
        .find(|(n, _)| n == "last_layernorm.bias")
        .unwrap()
        .1;
    bias.set(&Tensor::new(&[0.5f32, -1., 2., 0., 0., 1., 3., -2.], &Device::Cpu).unwrap())
        .unwrap();
    let short = sas
        .sequence_features(&batch(model, &rows[3..]))
        .unwrap()
        .to_vec3::<f32>()
        .unwrap();
    let bias_values = bias.as_tensor().to_vec1::<f32>().unwrap();
    for (p, features) in short[0].iter().take(2).enumerate() {
        assert_eq!(features, &bias_values, "position {p}");
    }
    assert_ne!(short[0][2], short[0][0]);
    let users = rows_of(&model.user_vectors(&b).unwrap());
    // Padding: a shorter history pads on the left, and the padding row's values do not matter.
    let padded = rows_of(&model.user_vectors(&batch(model, &rows[3..])).unwrap());
    let item_table = &model.named_vars()[0].1;
    let mut table = item_table.as_tensor().to_vec2::<f32>().unwrap();
    table[0] = vec![5.0; 8];
    item_table
        .set(&Tensor::new(table, &Device::Cpu).unwrap())
        .unwrap();
    let again = rows_of(&model.user_vectors(&batch(model, &rows[3..])).unwrap());
    assert_eq!(padded, again, "padded positions must be zeroed");
    assert!(max_abs_diff(&padded[0], &users[0]) > 1e-4);
}

#[test]
fn din_gives_padding_zero_weight_and_pools_the_last_items() {
    let ds = tiny();
    let din = build_as::<Din>(&din_cfg(12, 4), &ds, 5, &Device::Cpu).unwrap();
    let model: &dyn CfModel = &din;
    let rows = [
        with_history(1, 2, vec![3, 5]),
        with_history(1, 2, vec![9, 9, 9, 3, 5, 7, 11]),
        with_history(1, 2, vec![3, 5, 7, 11]),
        with_history(1, 2, vec![]),
    ];
    let b = batch(model, &rows);
    let w = din.attention_weights(&b).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(&w[0][..2], &[0.0, 0.0], "left padding gets weight 0");
    assert!(
        w[0][2..].iter().all(|&x| x != 0.0),
        "real items get raw scores: {:?}",
        w[0]
    );
    assert_eq!(w[3], vec![0.0; 4]);
    let users = rows_of(&model.user_vectors(&b).unwrap());
    assert_eq!(users[1], users[2], "only the last 4 history items are read");
    assert_eq!(&users[3][4..8], &[0.0; 4], "no history pools to zero");
    // The pooled block is the weighted sum of the history embeddings (table 2).
    let his_table = rows_of(din.named_vars()[2].1.as_tensor());
    let pooled: Vec<f32> = (0..4)
        .map(|j| w[0][2] * his_table[3][j] + w[0][3] * his_table[5][j])
        .collect();
    assert!(max_abs_diff(&pooled, &users[0][4..8]) < 1e-5);
}

#[test]
fn eval_mode_is_deterministic_and_train_mode_drops_out() {
    let ds = tiny();
    for cfg in [sasrec_cfg(8, 1, 25), din_cfg(12, 10)] {
        let mut model = build(&cfg, &ds, 2, &Device::Cpu).unwrap();
        let b = batch(&*model, &ds.valid.rows);
        let logits = |m: &dyn CfModel| m.logits(&b).unwrap().to_vec1::<f32>().unwrap();
        // Built models start in eval mode.
        let first = logits(&*model);
        assert_eq!(
            first,
            logits(&*model),
            "{:?}: eval must be deterministic",
            cfg.kind
        );
        model.set_train(true);
        let (a, c) = (logits(&*model), logits(&*model));
        assert!(
            max_abs_diff(&a, &c) > 1e-6,
            "{:?}: dropout must be on in training",
            cfg.kind
        );
        model.set_train(false);
        if cfg.kind == CfKind::Sasrec {
            assert_eq!(first, logits(&*model));
        } else {
            // DIN's two training forwards moved its running statistics.
            let moved = logits(&*model);
            assert_eq!(moved, logits(&*model));
            assert!(max_abs_diff(&first, &moved) > 1e-6);
        }
        // Dropout 0: training mode is deterministic too (up to DIN's batch statistics).
        let mut quiet = build(
            &CfModelConfig {
                dropout: Some(0.0),
                ..cfg.clone()
            },
            &ds,
            2,
            &Device::Cpu,
        )
        .unwrap();
        quiet.set_train(true);
        assert_eq!(logits(&*quiet), logits(&*quiet), "{:?}", cfg.kind);
    }
}

#[test]
fn every_variable_gets_a_gradient_and_buffers_none() {
    let ds = tiny();
    for cfg in [sasrec_cfg(8, 2, 25), din_cfg(12, 10)] {
        let mut model = build(&cfg, &ds, 4, &Device::Cpu).unwrap();
        model.set_train(true);
        let grads = logit_gradients(&*model, &batch(&*model, &ds.train.rows));
        for (name, norm) in gradient_norms(&*model, &grads) {
            let norm = norm.unwrap_or_else(|| panic!("{:?} {name}: no gradient", cfg.kind));
            assert!(
                norm > 0.0 && norm.is_finite(),
                "{:?} {name}: gradient norm {norm}",
                cfg.kind
            );
        }
        for (name, var) in model.named_buffers() {
            assert!(grads.get(var.as_tensor()).is_none(), "{name} is a buffer");
        }
        let expected_buffers = if cfg.kind == CfKind::Din { 6 } else { 0 };
        assert_eq!(model.named_buffers().len(), expected_buffers);
    }
}

/// What CoLLM tunes of a collaborative model reaches its vectors: every `vector_vars` tensor
/// gets a gradient through the user and item vectors alone (a stage's optimiser refuses one
/// without), and only DIN leaves a part out, its scoring MLP.
#[test]
fn the_vector_tensors_are_exactly_those_the_vectors_depend_on() {
    let ds = tiny();
    for cfg in [
        CfModelConfig::new(CfKind::Mf, 8),
        CfModelConfig::new(CfKind::Lightgcn, 8),
        sasrec_cfg(8, 2, 25),
        din_cfg(12, 10),
    ] {
        let model = build(&cfg, &ds, 4, &Device::Cpu).unwrap();
        let b = batch(&*model, &ds.train.rows);
        let total = (model.user_vectors(&b).unwrap().sum_all().unwrap()
            + model.item_vectors(&b).unwrap().sum_all().unwrap())
        .unwrap();
        let grads = total.backward().unwrap();
        for (name, var) in model.vector_vars() {
            assert!(
                grads.get(var.as_tensor()).is_some(),
                "{:?} {name}: no gradient through the vectors",
                cfg.kind
            );
        }
        let left_out: Vec<String> = model
            .named_vars()
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| !model.vector_vars().iter().any(|(v, _)| v == n))
            .collect();
        if cfg.kind == CfKind::Din {
            assert!(!left_out.is_empty());
            assert!(
                left_out.iter().all(|n| n.starts_with("fc_layer.")),
                "{left_out:?}"
            );
        } else {
            assert!(left_out.is_empty(), "{:?}: {left_out:?}", cfg.kind);
        }
    }
}

#[test]
fn names_follow_the_reference_state_dicts() {
    let ds = tiny();
    let sas = build(&sasrec_cfg(8, 1, 25), &ds, 1, &Device::Cpu).unwrap();
    let names: Vec<String> = sas.named_vars().into_iter().map(|(n, _)| n).collect();
    for want in [
        "item_emb.weight",
        "pos_emb.weight",
        "attention_layernorms.1.bias",
        "attention_layers.0.in_proj_weight",
        "attention_layers.1.out_proj.weight",
        "forward_layernorms.0.weight",
        "forward_layers.1.conv2.weight",
        "last_layernorm.weight",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "missing {want} in {names:?}"
        );
    }
    let conv = sas
        .named_vars()
        .into_iter()
        .find(|(n, _)| n == "forward_layers.0.conv1.weight")
        .unwrap();
    assert_eq!(conv.1.as_tensor().dims(), [8, 8, 1], "Conv1d layout");
    let item = &sas.named_vars()[0].1;
    assert_eq!(
        item.as_tensor().to_vec2::<f32>().unwrap()[0],
        vec![0.0; 8],
        "padding_idx row"
    );

    let din = build(&din_cfg(192, 10), &ds, 1, &Device::Cpu).unwrap();
    let shapes: std::collections::HashMap<String, Vec<usize>> = din
        .named_state()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().dims().to_vec()))
        .collect();
    assert_eq!(shapes["embed_layers.0.weight"], [ds.user_num, 64]);
    assert_eq!(shapes["sequence_embed_layers.0.weight"], [ds.item_num, 64]);
    assert_eq!(shapes["attn.local_att.fc1.fc.0.weight"], [64, 256]);
    assert_eq!(shapes["attn.local_att.fc1.fc.1.alpha"], [64, 1]);
    assert_eq!(shapes["attn.local_att.fc1.fc.1.bn.running_var"], [64]);
    assert_eq!(shapes["attn.local_att.fc2.weight"], [1, 16]);
    assert_eq!(shapes["fc_layer.fc.0.weight"], [200, 192]);
    assert_eq!(shapes["fc_layer.fc.4.alpha"], [80]);
    assert_eq!(shapes["fc_layer.fc.6.weight"], [1, 80]);
    // Xavier-normal tables: std sqrt(2 / (rows + 64)).
    let users = din.named_vars()[0]
        .1
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let std = (users.iter().map(|x| x * x).sum::<f32>() / users.len() as f32).sqrt();
    let want = (2.0 / (ds.user_num + 64) as f32).sqrt();
    assert!(
        (std - want).abs() < 0.15 * want,
        "DIN user table std {std}, want {want}"
    );
}

#[test]
fn save_then_load_gives_identical_logits_including_dice_statistics() {
    let ds = tiny();
    let dir = tempfile::tempdir().unwrap();
    for cfg in [sasrec_cfg(8, 2, 25), din_cfg(12, 10)] {
        let mut model = build(&cfg, &ds, 6, &Device::Cpu).unwrap();
        // Move DIN's running statistics away from their initial values first.
        model.set_train(true);
        model.logits(&batch(&*model, &ds.train.rows)).unwrap();
        model.set_train(false);
        let path = dir.path().join(format!("{}.safetensors", cfg.kind.name()));
        model.save(&path).unwrap();
        let loaded = load(&cfg, &ds, &path, &Device::Cpu).unwrap();
        assert_eq!(
            score_rows(&*model, &ds.valid.rows, 7).unwrap(),
            score_rows(&*loaded, &ds.valid.rows, 7).unwrap(),
            "{:?}",
            cfg.kind
        );
        let b = batch(&*model, &ds.valid.rows);
        assert_eq!(
            rows_of(&model.user_vectors(&b).unwrap()),
            rows_of(&loaded.user_vectors(&b).unwrap())
        );
        // Another shape is refused, naming the tensor.
        let other = CfModelConfig {
            dim: 6,
            ..cfg.clone()
        };
        let err = load(&other, &ds, &path, &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(cfg.kind.name()) && err.contains("has shape"),
            "{err}"
        );
    }
}

#[test]
fn history_ids_outside_the_tables_are_errors_not_panics() {
    let ds = tiny();
    for cfg in [sasrec_cfg(8, 1, 25), din_cfg(12, 10)] {
        let model = build(&cfg, &ds, 1, &Device::Cpu).unwrap();
        let err = score_rows(&*model, &[with_history(1, 2, vec![3, 999])], 4)
            .unwrap_err()
            .to_string();
        assert!(err.contains("item 999"), "{err}");
        let err = score_rows(&*model, &[with_history(1, 2, vec![0, 3])], 4)
            .unwrap_err()
            .to_string();
        assert!(err.contains("padding"), "{err}");
        // A batch without history is refused by the model, not indexed blindly.
        let bare = batch_for(&ds.valid.rows[..2], 0, &Device::Cpu).unwrap();
        assert!(model
            .user_vectors(&bare)
            .unwrap_err()
            .to_string()
            .contains("history"));
    }
}

#[test]
fn both_learn_from_histories_through_the_shared_trainer() {
    let ds = history_dataset(30, 40, 800, 200, 20, 3);
    for (cfg, lr) in [(sasrec_cfg(16, 1, 25), 1e-2), (din_cfg(24, 10), 1e-2)] {
        // One transformer block for SASRec; DIN has no layers to set.
        let layers = if cfg.kind == CfKind::Sasrec {
            1
        } else {
            cfg.layers
        };
        let cfg = CfModelConfig { layers, ..cfg };
        let mut model = build(&cfg, &ds, 5, &Device::Cpu).unwrap();
        let train_cfg = CfTrainConfig {
            lr,
            weight_decay: 0.0,
            batch_size: 100,
            max_epochs: 8,
            patience: 100,
            seed: 5,
            select_on: "valid".into(),
            eval_splits: vec![],
        };
        let dir = tempfile::tempdir().unwrap();
        let mut losses = Vec::new();
        let mut sink = |e: &Event| {
            if let Event::Step { loss, .. } = e {
                losses.push(*loss);
            }
        };
        let outcome = train_fresh(&mut *model, &ds, &train_cfg, dir.path(), &mut sink).unwrap();
        let per_epoch = losses.len() / 8;
        let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
        let (first, last) = (
            mean(&losses[..per_epoch]),
            mean(&losses[losses.len() - per_epoch..]),
        );
        assert!(
            last < 0.8 * first,
            "{:?}: loss {first:.4} -> {last:.4}",
            cfg.kind
        );
        let auc = outcome.best.all.auc.unwrap();
        assert!(auc > 0.8, "{:?}: valid AUC {auc}", cfg.kind);
    }
}
