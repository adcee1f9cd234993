//! The built-in default dataset: GroupLens' ml-latest-small, compiled into the binary and imported
//! on first use, so a fresh install can train and evaluate without any download.
//!
//! The raw files live in `assets/ml-latest-small/` at the project root; their `README.txt` holds
//! the license (research use, attribution, no commercial use) and is written beside the import.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::movielens::IMPORT_FORMAT_VERSION;
use crate::movielens::{import_source, ImportOptions, ImportRecord, Layout, RawFile, RawSource};

/// The folder name of the default dataset under the data directory.
pub const DEFAULT_DATASET: &str = "ml-latest-small";

const RATINGS_CSV: &[u8] = include_bytes!("../../../assets/ml-latest-small/ratings.csv");
const MOVIES_CSV: &[u8] = include_bytes!("../../../assets/ml-latest-small/movies.csv");
const README_TXT: &[u8] = include_bytes!("../../../assets/ml-latest-small/README.txt");

/// Where errors about the embedded files point.
fn source_name() -> String {
    format!("embedded:{DEFAULT_DATASET}")
}

/// The embedded raw files as an import source.
pub fn embedded_source() -> RawSource<'static> {
    let file = |name: &str, bytes: &'static [u8]| RawFile {
        path: PathBuf::from(source_name()).join(name),
        bytes: Cow::Borrowed(bytes),
    };
    RawSource {
        layout: Layout::MlLatest,
        ratings: file("ratings.csv", RATINGS_CSV),
        movies: file("movies.csv", MOVIES_CSV),
    }
}

/// The folder of the embedded default under `data_dir` when it was imported as this build
/// imports it (else [`ensure_default_dataset`] imports it again).
pub fn current_default_dataset(data_dir: &Path) -> Option<PathBuf> {
    let dir = data_dir.join(DEFAULT_DATASET);
    let record = ImportRecord::read(&dir)?;
    let current = record.format_version == IMPORT_FORMAT_VERSION
        && record.source == source_name()
        && record.options == ImportOptions::default();
    current.then_some(dir)
}

/// Returns `data_dir/ml-latest-small`, importing the embedded data there (default options,
/// atomically) unless a complete import made with the same options and importer version exists.
pub fn ensure_default_dataset(data_dir: &Path) -> Result<PathBuf, DataError> {
    if let Some(dir) = current_default_dataset(data_dir) {
        return Ok(dir);
    }
    let dir = data_dir.join(DEFAULT_DATASET);
    let options = ImportOptions::default();
    if ImportRecord::read(&dir).is_some() {
        tracing::info!(dir = %dir.display(), "re-importing the default dataset: made differently");
    }
    let imported = import_source(&embedded_source(), &options)?;
    imported.write(&dir, &[("README.txt", README_TXT)])?;
    tracing::info!(dir = %dir.display(), "imported the embedded default dataset");
    Ok(dir)
}
