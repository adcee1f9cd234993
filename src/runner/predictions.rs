//! A finished run's per-row scores of each evaluation split, kept in its folder
//! (`predictions/<split>.tsv`) so that `collm compare` can pair two runs row by row.

use std::path::{Path, PathBuf};

use collm_data::Interaction;
use collm_eval::predictions::{write_predictions, Prediction};
use collm_eval::ScoredRow;
use collm_events::{Event, EventSink};

use super::RunError;

/// Where a run keeps its final scores of `split`.
pub fn predictions_path(run_dir: &Path, split: &str) -> PathBuf {
    run_dir.join("predictions").join(format!("{split}.tsv"))
}

/// The files of final scores a run keeps, by split name.
pub fn kept_files(run_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(run_dir.join("predictions")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "tsv"))
        .collect();
    files.sort();
    files
}

/// The predictions of `rows`, `scored[i]` being the score of `rows[i]`.
pub fn of_rows(rows: &[Interaction], scored: &[ScoredRow]) -> Vec<Prediction> {
    rows.iter()
        .zip(scored)
        .map(|(row, s)| Prediction {
            uid: row.uid,
            iid: row.iid,
            label: row.label,
            warm: row.warm,
            logit: s.logit,
        })
        .collect()
}

/// Writes the final `predictions` of `split` and says where in the run's log.
pub fn save(
    run_dir: &Path,
    split: &str,
    predictions: &[Prediction],
    sink: &mut dyn EventSink,
) -> Result<(), RunError> {
    let path = predictions_path(run_dir, split);
    write_predictions(&path, predictions)?;
    sink.emit(Event::Log {
        message: format!(
            "per-row scores of {split} ({} rows) in {}",
            predictions.len(),
            path.display()
        ),
    });
    Ok(())
}
