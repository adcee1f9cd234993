//! A whole dataset folder: items plus the train, valid, valid_small and optional test splits, and
//! the id-table sizes every model shares.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::items::{read_items, Items};
use crate::split::{read_split_noting_max, Split, SplitStats};
use crate::tsv::too_sparse;

/// A dataset in the CoLLM layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The folder's name, e.g. `ml-1m-collm`.
    pub name: String,
    pub dir: PathBuf,
    pub items: Items,
    pub train: Split,
    pub valid: Split,
    /// The validation sample used for model selection.
    pub valid_small: Split,
    pub test: Option<Split>,
    /// Max uid + 1 over all splits (0 is padding): the user-table size.
    pub user_num: usize,
    /// Max iid + 1 over the items and all splits (0 is padding): the item-table size.
    pub item_num: usize,
}

impl Dataset {
    /// The splits `load_dir` would read from `dir`, found without reading them: an error names
    /// the folder, or the first required file that is missing.
    pub fn split_names_in(dir: &Path) -> Result<Vec<String>, DataError> {
        let folder = |message: String| DataError::Folder {
            path: dir.to_path_buf(),
            message,
        };
        if !dir.is_dir() {
            return Err(folder(if dir.exists() {
                "is a file; a dataset is a folder of TSV files".into()
            } else {
                "no such folder".into()
            }));
        }
        for file in ["items", "train", "valid", "valid_small"].map(|n| format!("{n}.tsv")) {
            if !dir.join(&file).is_file() {
                return Err(folder(format!(
                    "has no {file} (a dataset folder holds items.tsv, train.tsv, valid.tsv, \
                     valid_small.tsv and optionally test.tsv)"
                )));
            }
        }
        let mut names: Vec<String> = ["train", "valid", "valid_small"].map(String::from).into();
        if dir.join("test.tsv").exists() {
            names.push("test".into());
        }
        Ok(names)
    }

    /// Reads `items.tsv`, `train.tsv`, `valid.tsv`, `valid_small.tsv` and, when present,
    /// `test.tsv`.
    pub fn load_dir(dir: &Path) -> Result<Dataset, DataError> {
        let items = read_items(&dir.join("items.tsv"))?;
        // Each split with its largest user id and where it is.
        let mut largest: Vec<(u32, usize, PathBuf)> = Vec::new();
        let mut split = |name: &str| {
            let path = dir.join(format!("{name}.tsv"));
            let (split, max) = read_split_noting_max(&path, name, &items)?;
            largest.extend(max.map(|(uid, line)| (uid, line, path)));
            Ok::<Split, DataError>(split)
        };
        let train = split("train")?;
        let valid = split("valid")?;
        let valid_small = split("valid_small")?;
        let test_path = dir.join("test.tsv");
        let test = if test_path.exists() {
            Some(split("test")?)
        } else {
            None
        };
        // The user table is sized by the largest user id of all splits.
        if let Some((max, line, path)) = largest.iter().max_by_key(|l| l.0) {
            let distinct: HashSet<u32> = [&train, &valid, &valid_small]
                .into_iter()
                .chain(test.as_ref())
                .flat_map(|s| s.rows.iter().map(|r| r.uid))
                .collect();
            if let Some(message) = too_sparse(*max, distinct.len()) {
                return Err(DataError::field(path, *line, "uid", message));
            }
        }
        Ok(Dataset::from_parts(
            named_after(dir),
            dir.to_path_buf(),
            items,
            train,
            valid,
            valid_small,
            test,
        ))
    }

    /// Assembles a dataset, computing the table sizes.
    pub fn from_parts(
        name: String,
        dir: PathBuf,
        items: Items,
        train: Split,
        valid: Split,
        valid_small: Split,
        test: Option<Split>,
    ) -> Dataset {
        let mut dataset = Dataset {
            name,
            dir,
            items,
            train,
            valid,
            valid_small,
            test,
            user_num: 0,
            item_num: 0,
        };
        let rows = || dataset.splits().into_iter().flat_map(|s| s.rows.iter());
        let max_uid = rows().map(|r| r.uid).max().unwrap_or(0) as usize;
        let max_iid = rows()
            .flat_map(|r| std::iter::once(r.iid).chain(r.his.iter().copied()))
            .max()
            .unwrap_or(0) as usize;
        let user_num = max_uid + 1;
        let item_num = dataset.items.len().max(max_iid + 1);
        dataset.user_num = user_num;
        dataset.item_num = item_num;
        dataset
    }

    /// The splits present, in the order train, valid, valid_small, test.
    pub fn splits(&self) -> Vec<&Split> {
        let mut splits = vec![&self.train, &self.valid, &self.valid_small];
        splits.extend(self.test.as_ref());
        splits
    }

    /// The split called `name`, if present.
    pub fn split(&self, name: &str) -> Option<&Split> {
        self.splits().into_iter().find(|s| s.name == name)
    }

    /// Counts for every split present.
    pub fn stats(&self) -> Vec<SplitStats> {
        self.splits().into_iter().map(Split::stats).collect()
    }

    /// Users with at least one train row (the warm users).
    pub fn train_users(&self) -> HashSet<u32> {
        self.train.rows.iter().map(|r| r.uid).collect()
    }

    /// Items with at least one train row (the warm items).
    pub fn train_items(&self) -> HashSet<u32> {
        self.train.rows.iter().map(|r| r.iid).collect()
    }

    /// How many of `rows` carry a `warm` flag other than this dataset's definition: the user
    /// and the item both have train rows (the reference's `not_cold`). A file may flag rows by
    /// another definition (the reference's notebooks count users and items with more than 3
    /// train rows); the breakdown follows the file, and this says that it differs.
    pub fn warm_flags_differing(&self, rows: &[crate::Interaction]) -> usize {
        let (users, items) = (self.train_users(), self.train_items());
        rows.iter()
            .filter(|r| r.warm != (users.contains(&r.uid) && items.contains(&r.iid)))
            .count()
    }

    /// Every item each user has a row for in any split (`valid_small` is inside `valid`), as
    /// ranking protocols need to exclude them from sampled negatives.
    pub fn interacted_by_user(&self) -> HashMap<u32, HashSet<u32>> {
        let mut map: HashMap<u32, HashSet<u32>> = HashMap::new();
        for row in self.splits().into_iter().flat_map(|s| s.rows.iter()) {
            map.entry(row.uid).or_default().insert(row.iid);
        }
        map
    }
}

/// A dataset's name: its folder's (the whole path when it has no last component).
pub(crate) fn named_after(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}
