//! MF and LightGCN: padding, propagation and its gradient, saving and loading.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use collm_cf::lightgcn::NormalizedGraph;
use collm_cf::loss::bce_with_logits;
use collm_cf::{batch_for, build, load, score_rows, CfKind, CfModelConfig, CfTrainConfig, IdSpace};
use collm_events::Event;
use common::{
    flat_f64, gradient_norms, logit_gradients, row, train_fresh, two_taste_dataset, var_of,
};

fn cfg(kind: CfKind, dim: usize) -> CfModelConfig {
    CfModelConfig {
        kind,
        dim,
        layers: 2,
        init_std: None,
        ..CfModelConfig::new(kind, dim)
    }
}

#[test]
fn mf_padding_row_starts_and_stays_zero() {
    let dev = Device::Cpu;
    let ds = two_taste_dataset(6, 8, 30, 10, 1);
    let mut model = build(&cfg(CfKind::Mf, 4), &ds, 7, &dev).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let train_cfg = CfTrainConfig {
        lr: 0.1,
        weight_decay: 0.1,
        batch_size: 8,
        max_epochs: 5,
        patience: 10,
        seed: 1,
        select_on: "valid".into(),
        eval_splits: vec![],
    };
    let outcome = train_fresh(
        &mut *model,
        &ds,
        &train_cfg,
        dir.path(),
        &mut |_: &Event| {},
    )
    .unwrap();
    assert_eq!(outcome.epochs_run, 5);
    for (name, var) in model.named_vars() {
        let table = var.as_tensor().to_vec2::<f32>().unwrap();
        assert_eq!(table[0], vec![0.0; 4], "{name}: padding row moved");
        assert!(
            table[1].iter().all(|&x| x != 0.0),
            "{name}: row 1 should be random"
        );
    }
    // Looking up the padding ids reads the zero rows.
    let batch = batch_for(&[row(0, 0, 1, false)], 0, &dev).unwrap();
    assert_eq!(
        model
            .user_vectors(&batch)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()[0],
        vec![0.0; 4]
    );
    assert_eq!(
        model
            .item_vectors(&batch)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap()[0],
        vec![0.0; 4]
    );
    // Rows that use the padding id are refused rather than trained on.
    let mut bad = ds.clone();
    bad.train.rows.push(row(0, 1, 1, true));
    let err = train_fresh(
        &mut *model,
        &bad,
        &train_cfg,
        dir.path(),
        &mut |_: &Event| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("train.tsv") && err.contains("padding"),
        "{err}"
    );
}

#[test]
fn initialisation_is_seeded_and_scaled() {
    let dev = Device::Cpu;
    let ds = two_taste_dataset(40, 50, 200, 10, 1);
    let a = build(&cfg(CfKind::Lightgcn, 64), &ds, 3, &dev).unwrap();
    let b = build(&cfg(CfKind::Lightgcn, 64), &ds, 3, &dev).unwrap();
    let c = build(&cfg(CfKind::Lightgcn, 64), &ds, 4, &dev).unwrap();
    let items = |m: &dyn collm_cf::CfModel| {
        m.named_vars()[1]
            .1
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_eq!(items(&*a), items(&*b));
    assert_ne!(items(&*a), items(&*c));
    let values = items(&*a);
    let std = (values.iter().map(|x| x * x).sum::<f32>() / values.len() as f32).sqrt();
    assert!(
        (std - 0.1).abs() < 0.01,
        "LightGCN init std {std}, expected 0.1"
    );
}

/// The normalised adjacency of a hand-made graph, written out densely.
fn dense_adjacency(ids: IdSpace, pairs: &[(u32, u32)]) -> Vec<Vec<f64>> {
    let n = ids.user_num + ids.item_num;
    let mut a = vec![vec![0.0; n]; n];
    for &(u, i) in pairs {
        let (x, y) = (u as usize, ids.user_num + i as usize);
        a[x][y] = 1.0;
        a[y][x] = 1.0;
    }
    let deg: Vec<f64> = a.iter().map(|r| r.iter().sum()).collect();
    for x in 0..n {
        for y in 0..n {
            if a[x][y] != 0.0 {
                a[x][y] /= (deg[x] * deg[y]).sqrt();
            }
        }
    }
    a
}

fn matmul(a: &[Vec<f64>], e: &[Vec<f64>]) -> Vec<Vec<f64>> {
    a.iter()
        .map(|row| {
            (0..e[0].len())
                .map(|j| row.iter().zip(e).map(|(w, r)| w * r[j]).sum())
                .collect()
        })
        .collect()
}

#[test]
fn lightgcn_propagation_is_the_mean_of_normalised_layers_and_has_exact_gradients() {
    let dev = Device::Cpu;
    // Users 1..3, items 1..4; user 0, item 0 and item 4 are isolated. (2, 3) appears twice.
    let ids = IdSpace {
        user_num: 4,
        item_num: 5,
    };
    let pairs = [(1, 1), (1, 2), (2, 2), (2, 3), (2, 3), (3, 1)];
    let graph = NormalizedGraph::from_pairs(ids, pairs, &dev).unwrap();
    assert_eq!(graph.edges(), 10, "5 distinct pairs, both directions");
    let n = graph.nodes();
    let d = 3;
    let e0: Vec<Vec<f64>> = (0..n)
        .map(|x| {
            (0..d)
                .map(|j| ((x * 7 + j * 3) % 11) as f64 / 5.0 - 1.0)
                .collect()
        })
        .collect();
    let emb = Var::from_tensor(&Tensor::new(e0.clone(), &dev).unwrap()).unwrap();

    // Forward against the dense formula mean(E, AE, A²E); the graph stores its edge weights
    // in f32, hence the tolerance (a wrong normalisation is off by far more).
    let a = dense_adjacency(ids, &pairs);
    let e1 = matmul(&a, &e0);
    let e2 = matmul(&a, &e1);
    let out = graph
        .propagate(emb.as_tensor(), 2)
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    for x in 0..n {
        for j in 0..d {
            let want = (e0[x][j] + e1[x][j] + e2[x][j]) / 3.0;
            assert!(
                (out[x][j] - want).abs() < 1e-6,
                "node {x} dim {j}: {} vs {want}",
                out[x][j]
            );
        }
    }
    // Isolated nodes keep e0 / (K + 1).
    assert!((out[0][1] - e0[0][1] / 3.0).abs() < 1e-12);

    // The CPU op and the index-op version (used off the CPU) give the same result.
    let indexed = graph
        .propagate_indexed(emb.as_tensor(), 2)
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    for (a, b) in out.iter().flatten().zip(indexed.iter().flatten()) {
        assert!((a - b).abs() < 1e-12);
    }
    for layers in [0, 1, 3] {
        let fast = graph.propagate(emb.as_tensor(), layers).unwrap();
        let slow = graph.propagate_indexed(emb.as_tensor(), layers).unwrap();
        let diff = (fast - slow).unwrap().abs().unwrap().max_all().unwrap();
        assert!(diff.to_scalar::<f64>().unwrap() < 1e-12, "{layers} layers");
    }

    // Backward of both against central finite differences of a weighted sum of the output.
    let weights: Vec<Vec<f64>> = (0..n)
        .map(|x| (0..d).map(|j| ((x * 5 + j) % 7) as f64 - 3.0).collect())
        .collect();
    let weights = Tensor::new(weights, &dev).unwrap();
    type Propagation<'a> = (&'a str, &'a dyn Fn(&Tensor) -> Tensor);
    let propagations: [Propagation; 2] = [
        ("propagate", &|e: &Tensor| graph.propagate(e, 2).unwrap()),
        ("propagate_indexed", &|e: &Tensor| {
            graph.propagate_indexed(e, 2).unwrap()
        }),
    ];
    for (name, propagate) in propagations {
        let objective = |e: &Tensor| (propagate(e) * &weights).unwrap().sum_all().unwrap();
        let grads = objective(emb.as_tensor()).backward().unwrap();
        let analytic = grads
            .get(emb.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient reached the embeddings"))
            .to_vec2::<f64>()
            .unwrap();
        let h = 1e-6;
        let mut nonzero = 0;
        for x in 0..n {
            for j in 0..d {
                let mut plus = e0.clone();
                plus[x][j] += h;
                let mut minus = e0.clone();
                minus[x][j] -= h;
                let f = |v: Vec<Vec<f64>>| {
                    objective(&Tensor::new(v, &dev).unwrap())
                        .to_scalar::<f64>()
                        .unwrap()
                };
                let numeric = (f(plus) - f(minus)) / (2.0 * h);
                assert!(
                    (analytic[x][j] - numeric).abs() < 1e-6,
                    "{name}: d/dE[{x},{j}]: {} vs {numeric}",
                    analytic[x][j]
                );
                nonzero += usize::from(analytic[x][j] != 0.0);
            }
        }
        assert!(
            nonzero > n * d / 2,
            "{name}: gradient mostly zero: propagation dropped it"
        );
    }
}

#[test]
fn lightgcn_eval_mode_reuses_propagation_until_switched() {
    let dev = Device::Cpu;
    let ds = two_taste_dataset(10, 12, 60, 20, 3);
    let mut model = build(&cfg(CfKind::Lightgcn, 4), &ds, 1, &dev).unwrap();
    let batch = batch_for(&ds.valid.rows, 0, &dev).unwrap();
    let train_mode = model.logits(&batch).unwrap().to_vec1::<f32>().unwrap();
    model.set_train(false);
    assert_eq!(
        model.logits(&batch).unwrap().to_vec1::<f32>().unwrap(),
        train_mode
    );
    // Frozen: a change to the tables is not seen until the mode is set again. Propagation is
    // linear, so doubling both tables doubles both final vectors: logits x4.
    for (_, var) in model.named_vars() {
        var.set(&var.as_tensor().affine(2.0, 0.0).unwrap()).unwrap();
    }
    assert_eq!(
        model.logits(&batch).unwrap().to_vec1::<f32>().unwrap(),
        train_mode
    );
    model.set_train(false);
    let scaled = model.logits(&batch).unwrap().to_vec1::<f32>().unwrap();
    for (a, b) in scaled.iter().zip(&train_mode) {
        assert!((a - 4.0 * b).abs() < 1e-5, "{a} vs 4 x {b}");
    }
}

#[test]
fn lightgcn_graph_uses_positive_train_rows_only() {
    let dev = Device::Cpu;
    let ds = two_taste_dataset(10, 12, 60, 10, 2);
    let positives: std::collections::BTreeSet<_> = ds
        .train
        .rows
        .iter()
        .filter(|r| r.label == 1)
        .map(|r| (r.uid, r.iid))
        .collect();
    let graph = NormalizedGraph::from_train(
        IdSpace {
            user_num: ds.user_num,
            item_num: ds.item_num,
        },
        &ds.train.rows,
        &dev,
    )
    .unwrap();
    assert_eq!(graph.edges(), positives.len() * 2);
    assert!(positives.len() < ds.train.rows.len());
}

#[test]
fn every_table_gets_a_gradient_through_the_logits() {
    let dev = Device::Cpu;
    let ds = two_taste_dataset(10, 12, 60, 10, 2);
    for kind in [CfKind::Mf, CfKind::Lightgcn] {
        let model = build(&cfg(kind, 4), &ds, 1, &dev).unwrap();
        let grads = logit_gradients(&*model, &batch_for(&ds.train.rows, 0, &dev).unwrap());
        for (name, norm) in gradient_norms(&*model, &grads) {
            let norm = norm.unwrap_or_else(|| panic!("{kind:?} {name}: no gradient"));
            assert!(norm > 0.0, "{kind:?} {name}: zero gradient");
        }
    }
}

#[test]
fn save_then_load_gives_identical_logits() {
    let dev = Device::Cpu;
    let ds = two_taste_dataset(10, 12, 60, 20, 3);
    let dir = tempfile::tempdir().unwrap();
    for kind in [CfKind::Mf, CfKind::Lightgcn] {
        let c = cfg(kind, 5);
        let model = build(&c, &ds, 11, &dev).unwrap();
        let path = dir.path().join(format!("{}.safetensors", kind.name()));
        model.save(&path).unwrap();
        let loaded = load(&c, &ds, &path, &dev).unwrap();
        let before = score_rows(&*model, &ds.valid.rows, 7).unwrap();
        let after = score_rows(&*loaded, &ds.valid.rows, 7).unwrap();
        assert_eq!(before, after, "{kind:?}");
        let batch = batch_for(&ds.valid.rows, 0, &dev).unwrap();
        let u1 = model
            .user_vectors(&batch)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let u2 = loaded
            .user_vectors(&batch)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(u1, u2);
        assert_eq!(u1[0].len(), 5);
    }
}

#[test]
fn loading_weights_of_another_shape_or_kind_names_file_and_tensor() {
    let dev = Device::Cpu;
    let ds = two_taste_dataset(10, 12, 60, 20, 3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mf.safetensors");
    build(&cfg(CfKind::Mf, 5), &ds, 1, &dev)
        .unwrap()
        .save(&path)
        .unwrap();
    let err = load(&cfg(CfKind::Mf, 6), &ds, &path, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("mf.safetensors") && err.contains("user_embedding.weight"),
        "{err}"
    );
    let err = load(&cfg(CfKind::Lightgcn, 5), &ds, &path, &dev)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("mf.safetensors") && err.contains("embedding_user.weight"),
        "{err}"
    );
    let err = load(
        &cfg(CfKind::Mf, 5),
        &ds,
        &dir.path().join("missing.safetensors"),
        &dev,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("missing.safetensors"), "{err}");
}

#[test]
fn scoring_rows_outside_the_tables_is_an_error_not_a_panic() {
    let dev = Device::Cpu;
    let ds = two_taste_dataset(10, 12, 60, 20, 3);
    let model = build(&cfg(CfKind::Mf, 4), &ds, 1, &dev).unwrap();
    let err = score_rows(&*model, &[row(1, 1, 1, true), row(99, 1, 0, false)], 8)
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 2") && err.contains("user 99"), "{err}");
}

#[test]
fn bce_with_logits_is_exact_for_huge_logits() {
    let dev = Device::Cpu;
    let logits = Tensor::new(&[100f32, -100., 0., 2.], &dev).unwrap();
    let labels = Tensor::new(&[0f32, 1., 1., 1.], &dev).unwrap();
    let loss = bce_with_logits(&logits, &labels)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let want = (100.0 + 100.0 + std::f32::consts::LN_2 + (1.0 + (-2f32).exp()).ln()) / 4.0;
    assert!((loss - want).abs() < 1e-5, "{loss} vs {want}");
    assert_eq!(logits.dtype(), DType::F32);
}

#[test]
fn torch_generator_matches_pytorch_and_std_mt19937() {
    use collm_cf::torch_rng::TorchGenerator;
    // std::mt19937 with the default seed 5489: first output, and the 10000th (C++ standard).
    let mut g = TorchGenerator::new(5489);
    assert_eq!(g.random(), 3_499_211_612);
    let mut g = TorchGenerator::new(5489);
    let last = (0..10_000).map(|_| g.random()).last().unwrap();
    assert_eq!(last, 4_123_659_995);
    // torch.manual_seed(0): the first 32-bit draw, which torch.rand(1) turns into 0.4963.
    let mut g = TorchGenerator::new(0);
    let first = g.random();
    assert_eq!(first, 2_357_136_044);
    assert!(((first & 0xff_ffff) as f64 / 16_777_216.0 - 0.496_256_59).abs() < 1e-8);
    // normal_ fills blocks of 16 by Box-Muller: roughly N(mean, std) over many values.
    let mut values = vec![0f32; 16 * 1000 + 5];
    TorchGenerator::new(2023).normal_fill(&mut values, 0.0, 1.0);
    let n = values.len() as f32;
    let mean = values.iter().sum::<f32>() / n;
    let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n;
    assert!(
        mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
        "mean {mean}, var {var}"
    );
}

#[test]
fn pair_scores_op_matches_candle_ops_in_value_and_gradient() {
    use candle_core::DType;
    use collm_cf::pair_dot::pair_scores;
    let dev = Device::Cpu;
    let users: Vec<f32> = (0..5 * 3)
        .map(|k| ((k * 7) % 11) as f32 / 4.0 - 1.0)
        .collect();
    let items: Vec<f32> = (0..4 * 3)
        .map(|k| ((k * 5) % 13) as f32 / 6.0 - 1.0)
        .collect();
    // Repeated users and items: their gradients must accumulate.
    let uids = Tensor::new(&[1u32, 2, 1, 4, 0], &dev).unwrap();
    let iids = Tensor::new(&[3u32, 3, 0, 1, 2], &dev).unwrap();
    let upstream = Tensor::new(&[0.5f64, -1.0, 2.0, 0.25, 1.5], &dev).unwrap();
    let run = |dtype: DType| {
        let u = var_of(&users, &[5, 3], dtype);
        let i = var_of(&items, &[4, 3], dtype);
        let scores = pair_scores(u.as_tensor(), i.as_tensor(), &uids, &iids).unwrap();
        let loss = (scores.to_dtype(DType::F64).unwrap() * &upstream)
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        (
            flat_f64(&scores),
            flat_f64(grads.get(u.as_tensor()).expect("no user gradient")),
            flat_f64(grads.get(i.as_tensor()).expect("no item gradient")),
        )
    };
    // f32 on the CPU takes the custom op; f64 the plain candle expression.
    let (fast, slow) = (run(DType::F32), run(DType::F64));
    for (a, b) in [(&fast.0, &slow.0), (&fast.1, &slow.1), (&fast.2, &slow.2)] {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }
    assert!(fast.1.iter().any(|&g| g != 0.0) && fast.2.iter().any(|&g| g != 0.0));
}
