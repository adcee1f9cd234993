//! Shared setup of the collm-cf tests: tiny synthetic datasets, variables, gradients.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var, WithDType};
use collm_cf::{train, CfBatch, CfError, CfModel, CfTrainConfig, CfTrainOutcome};
use collm_data::{Dataset, Interaction, Items, Split};
use collm_events::{CancelToken, EventSink};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub fn row(uid: u32, iid: u32, label: u8, warm: bool) -> Interaction {
    Interaction {
        uid,
        iid,
        label,
        timestamp: 0,
        warm,
        his: Vec::new(),
    }
}

pub fn split(name: &str, rows: Vec<Interaction>) -> Split {
    Split {
        name: name.to_string(),
        path: PathBuf::from(format!("{name}.tsv")),
        rows,
    }
}

pub fn dataset(items: u32, train: Vec<Interaction>, valid: Vec<Interaction>) -> Dataset {
    let titles = (1..=items).map(|i| format!("Item {i}"));
    Dataset::from_parts(
        "tiny".to_string(),
        PathBuf::from("tiny"),
        Items::from_titles(titles),
        split("train", train),
        split("valid", valid.clone()),
        split("valid_small", valid),
        None,
    )
}

/// Two taste groups: even users like even items and dislike odd ones, odd users the reverse.
/// Train and valid are disjoint random (user, item) pairs; every valid row is warm.
pub fn two_taste_dataset(
    users: u32,
    items: u32,
    train_rows: usize,
    valid_rows: usize,
    seed: u64,
) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut seen = std::collections::HashSet::new();
    let mut draw = |n: usize| {
        let mut rows = Vec::new();
        while rows.len() < n {
            let (u, i) = (rng.gen_range(1..=users), rng.gen_range(1..=items));
            if seen.insert((u, i)) {
                rows.push(row(u, i, u8::from(u % 2 == i % 2), true));
            }
        }
        rows
    };
    let train = draw(train_rows);
    let valid = draw(valid_rows);
    dataset(items, train, valid)
}

/// Histories that carry the signal: each user likes one parity of items (user % 2), and the
/// history holds `1..=max_history` earlier liked items of that parity. A row's label is 1 when
/// the target has the user's parity. Valid rows are warm.
pub fn history_dataset(
    users: u32,
    items: u32,
    train_rows: usize,
    valid_rows: usize,
    max_history: usize,
    seed: u64,
) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draw = |n: usize| {
        (0..n)
            .map(|_| {
                let u = rng.gen_range(1..=users);
                let i = rng.gen_range(1..=items);
                let len = rng.gen_range(1..=max_history);
                let his = (0..len)
                    .map(|_| {
                        let liked = rng.gen_range(1..=items / 2) * 2 - (u % 2 == 1) as u32;
                        liked.clamp(1, items)
                    })
                    .collect();
                Interaction {
                    his,
                    ..row(u, i, u8::from(u % 2 == i % 2), true)
                }
            })
            .collect::<Vec<_>>()
    };
    let train = draw(train_rows);
    let valid = draw(valid_rows);
    dataset(items, train, valid)
}

/// The gradients of the sum of `model`'s logits over `batch`.
pub fn logit_gradients(model: &dyn CfModel, batch: &CfBatch) -> GradStore {
    model
        .logits(batch)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap()
}

/// Each of `model`'s variables with the squared norm of its gradient in `grads` (None: it got
/// none).
pub fn gradient_norms(model: &dyn CfModel, grads: &GradStore) -> Vec<(String, Option<f32>)> {
    model
        .named_vars()
        .into_iter()
        .map(|(name, var)| {
            let norm = grads.get(var.as_tensor()).map(|g| {
                g.sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap()
            });
            (name, norm)
        })
        .collect()
}

/// A variable holding `values` with `shape`, converted to `dtype`.
pub fn var_of<T: WithDType>(values: &[T], shape: &[usize], dtype: DType) -> Var {
    Var::from_tensor(
        &Tensor::from_slice(values, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap(),
    )
    .unwrap()
}

/// All values of `t`, flattened, as f64.
pub fn flat_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// Trains `model` from scratch (no resume) into `dir`, never cancelled, with events to `sink`.
pub fn train_fresh(
    model: &mut dyn CfModel,
    dataset: &Dataset,
    cfg: &CfTrainConfig,
    dir: &Path,
    sink: &mut dyn EventSink,
) -> Result<CfTrainOutcome, CfError> {
    train(model, dataset, cfg, dir, None, sink, &CancelToken::new())
}
