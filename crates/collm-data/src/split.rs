//! One split file (train, valid, ...): its interaction rows, how they are read, and their counts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::items::Items;
use crate::tsv::{parse_id, read_tsv};
use crate::Interaction;

/// The columns of a split file, in the order the writer emits them.
pub const SPLIT_COLUMNS: [&str; 6] = ["uid", "iid", "label", "timestamp", "warm", "his"];

/// A named split and the file it came from (or will be written to).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub name: String,
    pub path: PathBuf,
    pub rows: Vec<Interaction>,
}

/// Counts describing one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitStats {
    pub name: String,
    pub rows: usize,
    pub users: usize,
    pub items: usize,
    pub positives: usize,
    /// Share of rows with label 1; `None` for an empty split.
    pub positive_rate: Option<f64>,
    pub warm_rows: usize,
    pub cold_rows: usize,
}

impl Split {
    /// Distinct user ids.
    pub fn users(&self) -> BTreeSet<u32> {
        self.rows.iter().map(|r| r.uid).collect()
    }

    /// Distinct target item ids.
    pub fn items(&self) -> BTreeSet<u32> {
        self.rows.iter().map(|r| r.iid).collect()
    }

    pub fn warm_rows(&self) -> usize {
        self.rows.iter().filter(|r| r.warm).count()
    }

    pub fn cold_rows(&self) -> usize {
        self.rows.len() - self.warm_rows()
    }

    /// The items each user liked in this split, in row order.
    pub fn positives_by_user(&self) -> BTreeMap<u32, Vec<u32>> {
        let mut map: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for row in self.rows.iter().filter(|r| r.label == 1) {
            map.entry(row.uid).or_default().push(row.iid);
        }
        map
    }

    pub fn stats(&self) -> SplitStats {
        let positives = self.rows.iter().filter(|r| r.label == 1).count();
        let warm_rows = self.warm_rows();
        SplitStats {
            name: self.name.clone(),
            rows: self.rows.len(),
            users: self.users().len(),
            items: self.items().len(),
            positives,
            positive_rate: (!self.rows.is_empty())
                .then(|| positives as f64 / self.rows.len() as f64),
            warm_rows,
            cold_rows: self.rows.len() - warm_rows,
        }
    }
}

/// Reads a split file; every target and history item must be in `items`.
pub fn read_split(path: &Path, name: &str, items: &Items) -> Result<Split, DataError> {
    read_split_noting_max(path, name, items).map(|(split, _)| split)
}

/// [`read_split`], and the largest user id with the line it is first on (none when empty).
pub(crate) fn read_split_noting_max(
    path: &Path,
    name: &str,
    items: &Items,
) -> Result<(Split, Option<(u32, usize)>), DataError> {
    let mut max_uid: Option<(u32, usize)> = None;
    let mut rows = Vec::new();
    read_tsv(path, &SPLIT_COLUMNS, |row| {
        let uid = row.id(0)?;
        if max_uid.is_none_or(|(max, _)| uid > max) {
            max_uid = Some((uid, row.line));
        }
        let iid = row.id(1)?;
        if !items.contains(iid) {
            return Err(row.error(1, format!("item {iid} is not in the items table")));
        }
        let label = u8::from(row.flag(2)?);
        let timestamp = row.integer(3)?;
        let warm = row.flag(4)?;
        let his = row
            .text(5)
            .split_ascii_whitespace()
            .map(|token| {
                let id = parse_id(token).map_err(|m| row.error(5, m))?;
                if items.contains(id) {
                    Ok(id)
                } else {
                    Err(row.error(5, format!("history item {id} is not in the items table")))
                }
            })
            .collect::<Result<Vec<u32>, DataError>>()?;
        rows.push(Interaction {
            uid,
            iid,
            label,
            timestamp,
            warm,
            his,
        });
        Ok(())
    })?;
    let split = Split {
        name: name.to_string(),
        path: path.to_path_buf(),
        rows,
    };
    Ok((split, max_uid))
}
