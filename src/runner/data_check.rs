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

/// Refuses to resume run `id` when the files of `dataset_dir` differ from those it started
/// on. A run from before fingerprints were kept has none and passes.
pub(super) fn check(id: &RunId, run_dir: &Path, dataset_dir: &Path) -> Result<(), RunError> {
    let Ok(text) = std::fs::read_to_string(run_dir.join(FILE)) else {
        return Ok(());
    };
    let started: Fingerprint = serde_json::from_str(&text)
        .map_err(|e| RunError::Invalid(format!("{}: {e}", run_dir.join(FILE).display())))?;
    let now = Fingerprint::of_dir(dataset_dir).map_err(crate::experiment::RunSetupError::from)?;
    let changes = now.changes_since(&started);
    if changes.is_empty() {
        return Ok(());
    }
    Err(RunError::DataChanged {
        id: id.clone(),
        dir: dataset_dir.to_path_buf(),
        changes: changes.join(", "),
    })
}
