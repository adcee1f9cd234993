//! What a dataset folder held when a run read it: the SHA-256 of each file a [`Dataset`] reads,
//! so that a run resumed on files changed since is refused instead of mixing two versions.
//!
//! [`Dataset`]: crate::Dataset

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::DataError;

/// The files [`crate::Dataset::load_dir`] reads (`test.tsv` only when present).
pub const DATASET_FILES: [&str; 5] = [
    "items.tsv",
    "train.tsv",
    "valid.tsv",
    "valid_small.tsv",
    "test.tsv",
];

/// Each dataset file's SHA-256 (hex), by file name; a file not there is left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(pub BTreeMap<String, String>);

impl Fingerprint {
    /// Hashes the dataset files of `dir`.
    pub fn of_dir(dir: &Path) -> Result<Fingerprint, DataError> {
        let mut files = BTreeMap::new();
        for name in DATASET_FILES {
            let path = dir.join(name);
            let mut file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(DataError::Io { path, source }),
            };
            let mut hasher = Sha256::new();
            std::io::copy(&mut file, &mut hasher).map_err(|source| DataError::Io {
                path: path.clone(),
                source,
            })?;
            let hex: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            files.insert(name.to_string(), hex);
        }
        Ok(Fingerprint(files))
    }

    /// The files that differ from `earlier` (changed, gone or new), each with how.
    pub fn changes_since(&self, earlier: &Fingerprint) -> Vec<String> {
        DATASET_FILES
            .iter()
            .filter_map(|name| match (earlier.0.get(*name), self.0.get(*name)) {
                (Some(a), Some(b)) if a != b => Some(format!("{name} changed")),
                (Some(_), None) => Some(format!("{name} is gone")),
                (None, Some(_)) => Some(format!("{name} is new")),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_gone_or_new_file_is_named_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [("items.tsv", "a"), ("train.tsv", "b"), ("valid.tsv", "c")] {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let before = Fingerprint::of_dir(dir.path()).unwrap();
        assert_eq!(before.0.len(), 3);
        assert_eq!(
            before.0["items.tsv"],
            "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
        );
        assert!(Fingerprint::of_dir(dir.path())
            .unwrap()
            .changes_since(&before)
            .is_empty());
        std::fs::write(dir.path().join("train.tsv"), "b2").unwrap();
        std::fs::remove_file(dir.path().join("valid.tsv")).unwrap();
        std::fs::write(dir.path().join("test.tsv"), "d").unwrap();
        // Files a dataset does not read are not its fingerprint.
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let after = Fingerprint::of_dir(dir.path()).unwrap();
        assert_eq!(
            after.changes_since(&before),
            ["train.tsv changed", "valid.tsv is gone", "test.tsv is new"]
        );
    }
}
