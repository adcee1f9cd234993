//! A finished run's per-row scores of each evaluation split, kept in its folder
//! (`predictions/<split>.tsv`; a CoLLM run's foundation and earlier stages, as its final
//! evaluation scored them, in `predictions/<part>/<split>.tsv`) so that `collm compare` can pair
//! two runs, or two parts of one, row by row.

use std::path::{Path, PathBuf};

use collm_data::Interaction;
use collm_eval::predictions::{write_predictions, Prediction};
use collm_eval::ScoredRow;
use collm_events::{Event, EventSink};

use super::RunError;

/// Where a run keeps its final scores of `split`: the final model's, or those of one `part`
/// (`cf`, a stage's name).
pub fn predictions_path(run_dir: &Path, split: &str, part: Option<&str>) -> PathBuf {
    let dir = run_dir.join("predictions");
    part.map_or(dir.clone(), |p| dir.join(p))
        .join(format!("{split}.tsv"))
}

/// The files of final scores a run keeps: the final model's by split, then each part's.
pub fn kept_files(run_dir: &Path) -> Vec<PathBuf> {
    let dir = run_dir.join("predictions");
    let mut files = tsv_files(&dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return files;
    };
    let mut parts: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    parts.sort();
    files.extend(parts.iter().flat_map(|p| tsv_files(p)));
    files
}

/// The splits whose final model's scores a run keeps (`predictions/<split>.tsv`), by name.
pub fn kept_splits(run_dir: &Path) -> Vec<String> {
    tsv_files(&run_dir.join("predictions"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect()
}

fn tsv_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "tsv"))
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

/// Writes the final `predictions` of `split` (of the final model, or of `part`) and says where
/// in the run's log.
pub fn save(
    run_dir: &Path,
    split: &str,
    part: Option<&str>,
    predictions: &[Prediction],
    sink: &mut dyn EventSink,
) -> Result<(), RunError> {
    let path = predictions_path(run_dir, split, part);
    write_predictions(&path, predictions)?;
    let whose = part.map(|p| format!("{p}'s ")).unwrap_or_default();
    sink.emit(Event::Log {
        message: format!(
            "{whose}per-row scores of {split} ({} rows) in {}",
            predictions.len(),
            path.display()
        ),
    });
    Ok(())
}
