//! Datasets in the CoLLM TSV layout: reading them, importing raw MovieLens into them, and the
//! embedded default (ml-latest-small) that needs no download.
//!
//! Layout (see `../shared/data/README.md`): `items.tsv` (`iid`, `title`) and split files
//! `train.tsv`, `valid.tsv`, `valid_small.tsv`, optionally `test.tsv`, with columns
//! `uid iid label timestamp warm his` (`his` space-separated, oldest first, may be empty).
//! Ids start at 1; 0 is the padding index of every id table.

mod calendar;
mod dataset;
pub mod embedded;
mod error;
mod fingerprint;
mod items;
pub mod movielens;
mod split;
mod tsv;
mod writer;

#[cfg(test)]
mod read_tests;

pub use dataset::Dataset;
pub use embedded::ensure_default_dataset;
pub use error::DataError;
pub use fingerprint::{Fingerprint, DATASET_FILES};
pub use items::{read_items, Items};
pub use split::{read_split, Split, SplitStats, SPLIT_COLUMNS};
pub use tsv::{is_blank, MAX_ID};
pub use writer::{sanitize_title, write_dataset};

/// The one label every row holds, when they all hold the same (or there are none: `None`):
/// AUC, by which runs pick their best weights, is undefined on such rows.
pub fn single_label(rows: &[Interaction]) -> Option<u8> {
    let first = rows.first()?.label;
    rows.iter().all(|r| r.label == first).then_some(first)
}

/// One interaction row of a split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    pub uid: u32,
    pub iid: u32,
    /// 1 liked, 0 not.
    pub label: u8,
    /// Unix seconds.
    pub timestamp: i64,
    /// User and item both seen in train (the reference's `not_cold`).
    pub warm: bool,
    /// Earlier positive item ids of this user, oldest first, across splits; no leading 0.
    pub his: Vec<u32>,
}
