//! The dataset a run read, kept as its files' SHA-256 in the run folder (`dataset.json`) when
//! the run starts, and checked before it resumes: a run resumed on changed files would select
//! its foundation on one version of the data and train and score its stages on another.

use std::path::Path;

use collm_data::Fingerprint;
use collm_store::RunId;

use super::RunError;

const FILE: &str = "dataset.json";

/// Writes the fingerprint of `dataset_dir` into `run_dir`. A dataset that cannot be read is
/// not noted: loading it fails the run with the reason.
pub(super) fn note(run_dir: &Path, dataset_dir: &Path) -> Result<(), RunError> {
    let Ok(fingerprint) = Fingerprint::of_dir(dataset_dir) else {
        return Ok(());
    };
    let io =
        |e: std::io::Error| RunError::Invalid(format!("{}: {e}", run_dir.join(FILE).display()));
    std::fs::create_dir_all(run_dir).map_err(io)?;
    let text = serde_json::to_string_pretty(&fingerprint).unwrap_or_default();
    // Written whole or not at all: a kill mid-write must not leave a fingerprint that refuses
    // every resume.
    let partial = run_dir.join(format!("{FILE}.partial"));
    std::fs::write(&partial, text).map_err(io)?;
    std::fs::rename(&partial, run_dir.join(FILE)).map_err(io)
}

/// Whether the run in `run_dir` keeps the fingerprint of its dataset.
pub(super) fn noted(run_dir: &Path) -> bool {
    run_dir.join(FILE).is_file()
}

/// Refuses to resume run `id` when the files of `dataset_dir` differ from those it started
/// on. A run from before fingerprints were kept has none and passes.
pub(super) fn check(id: &RunId, run_dir: &Path, dataset_dir: &Path) -> Result<(), RunError> {
    match changes(run_dir, dataset_dir)? {
        None => Ok(()),
        Some(changes) => Err(RunError::DataChanged {
            id: id.clone(),
            dir: dataset_dir.to_path_buf(),
            changes,
        }),
    }
}

/// How the files of `dataset_dir` differ from those the run in `run_dir` started on (`None`:
/// the same, or the run kept no fingerprint). A run taking a part of another (`[reuse]`) must
/// read the data that part was trained on, as a resumed run must.
pub fn changes(run_dir: &Path, dataset_dir: &Path) -> Result<Option<String>, RunError> {
    DatasetNow::new(dataset_dir).changes_since_run(run_dir)
}

/// A dataset folder as it is now, hashed on the first check that needs it and kept for the
/// next: a sweep checks each of its earlier points against one folder.
pub struct DatasetNow<'a> {
    dir: &'a Path,
    /// `None` until hashed; then the files, or `None` where the folder is gone.
    files: Option<Option<Fingerprint>>,
}

impl<'a> DatasetNow<'a> {
    pub fn new(dir: &'a Path) -> DatasetNow<'a> {
        DatasetNow { dir, files: None }
    }

    /// See [`changes`].
    pub fn changes_since_run(&mut self, run_dir: &Path) -> Result<Option<String>, RunError> {
        let Ok(text) = std::fs::read_to_string(run_dir.join(FILE)) else {
            return Ok(None);
        };
        let started: Fingerprint = serde_json::from_str(&text)
            .map_err(|e| RunError::Invalid(format!("{}: {e}", run_dir.join(FILE).display())))?;
        if self.files.is_none() {
            let files = if self.dir.is_dir() {
                let read = Fingerprint::of_dir(self.dir);
                Some(read.map_err(crate::experiment::RunSetupError::from)?)
            } else {
                None
            };
            self.files = Some(files);
        }
        let Some(Some(now)) = &self.files else {
            return Ok(Some(format!("the folder {} is gone", self.dir.display())));
        };
        let changes = now.changes_since(&started);
        Ok((!changes.is_empty()).then(|| changes.join(", ")))
    }
}
