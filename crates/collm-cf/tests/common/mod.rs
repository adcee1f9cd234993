//! Tiny synthetic datasets for the collm-cf tests.
#![allow(dead_code)]

use std::path::PathBuf;

use collm_data::{Dataset, Interaction, Items, Split};
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
