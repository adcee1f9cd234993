//! Importing raw MovieLens (ml-latest*, ml-1m, ml-100k) into the CoLLM layout, following the
//! reference preprocessing of `../shared/docs/collm-spec.md` §1.1.
//!
//! Ratings are inner-joined with movies and put into UTC month slots. The kept window is the last
//! `train_months + valid_months + test_months` months before the `drop_last_months` final months
//! (with the defaults, raw ML-1M gives the paper's slots 14-23 / 24-28 / 29-33); everything outside
//! is dropped, even from histories. Label = rating >= threshold. A row's history is the user's
//! earlier positives across the kept splits in stable (uid, timestamp) order. Users are numbered
//! 1.. by ascending original id, items 1.. by first appearance in that order. A row is warm when
//! its user and item both have train rows. `valid_small` is a seeded sample of valid (see
//! [`build::sample_rows`] for how it differs from the reference's pandas sample).

mod build;
mod raw;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use raw::{detect_layout, Layout, RawFile, RawSource};

use crate::dataset::Dataset;
use crate::error::DataError;
use crate::items::Items;
use crate::split::{Split, SplitStats};
use crate::writer::write_dataset;
use crate::Interaction;

/// The file that records how an imported folder was made.
pub const IMPORT_RECORD_FILE: &str = "import.json";

/// Bumped whenever the importer's output for the same input and options changes, so folders
/// imported by an older version are redone.
pub const IMPORT_FORMAT_VERSION: u32 = 1;

/// How raw ratings become splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportOptions {
    /// A rating at or above this is a positive (label 1).
    pub threshold: f32,
    pub train_months: u32,
    pub valid_months: u32,
    /// 0 writes no test split.
    pub test_months: u32,
    /// Final months with ratings that are left out (the reference dropped ML-1M's last, partial
    /// month).
    pub drop_last_months: u32,
    /// Share of valid rows sampled into valid_small.
    pub valid_small_fraction: f64,
    pub seed: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            threshold: 4.0,
            train_months: 10,
            valid_months: 5,
            test_months: 5,
            drop_last_months: 1,
            valid_small_fraction: 0.5,
            seed: 2023,
        }
    }
}

impl ImportOptions {
    pub fn validate(&self) -> Result<(), DataError> {
        let fail = |field, message: &str| {
            Err(DataError::Option {
                field,
                message: message.to_string(),
            })
        };
        if !self.threshold.is_finite() {
            return fail("threshold", "must be a finite rating");
        }
        if self.train_months == 0 {
            return fail("train_months", "must be at least 1");
        }
        if self.valid_months == 0 {
            return fail("valid_months", "must be at least 1");
        }
        let fraction = self.valid_small_fraction;
        if !(fraction > 0.0 && fraction <= 1.0) {
            return fail("valid_small_fraction", "must be in (0, 1]");
        }
        Ok(())
    }
}

/// First and last month (`YYYY-MM`, UTC) of a span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthRange {
    pub first: String,
    pub last: String,
}

/// The months each split covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportWindow {
    pub train: MonthRange,
    pub valid: MonthRange,
    pub test: Option<MonthRange>,
    /// The final months left out.
    pub dropped_last: Option<MonthRange>,
    /// First and last kept rating (`YYYY-MM-DD`, UTC).
    pub first_kept_date: Option<String>,
    pub last_kept_date: Option<String>,
}

/// What an import did, for the user and for the import record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportSummary {
    pub layout: Layout,
    pub ratings_read: usize,
    /// Ratings dropped by the inner join with the movies file.
    pub ratings_without_movie: usize,
    pub ratings_outside_window: usize,
    pub window: ImportWindow,
    pub users: usize,
    pub items: usize,
    pub splits: Vec<SplitStats>,
}

/// An imported dataset held in memory; split paths are file names until written.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// The raw folder, or `embedded:<name>` for the built-in data.
    pub source: String,
    pub options: ImportOptions,
    pub items: Items,
    pub train: Split,
    pub valid: Split,
    pub valid_small: Split,
    pub test: Option<Split>,
    pub summary: ImportSummary,
}

/// What `import.json` holds: where an imported folder came from and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRecord {
    pub format_version: u32,
    /// The raw folder, or `embedded:<name>` for the built-in data.
    pub source: String,
    pub options: ImportOptions,
    pub summary: ImportSummary,
}

impl ImportRecord {
    /// The record in `dir`, or `None` when absent or unreadable (the folder is then re-imported).
    pub fn read(dir: &Path) -> Option<ImportRecord> {
        let text = std::fs::read(dir.join(IMPORT_RECORD_FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

/// Imports the raw MovieLens folder `raw_dir` (layout detected).
pub fn import(raw_dir: &Path, options: &ImportOptions) -> Result<Imported, DataError> {
    import_source(&RawSource::read_dir(raw_dir)?, options)
}

/// Imports already-read raw files (a folder's, or embedded bytes).
pub fn import_source(
    source: &RawSource<'_>,
    options: &ImportOptions,
) -> Result<Imported, DataError> {
    options.validate()?;
    let raw = raw::parse(source)?;
    let no_rows = |message: String| DataError::Folder {
        path: source.ratings.path.clone(),
        message,
    };
    let built = build::build(&raw, options).ok_or_else(|| {
        no_rows(if raw.ratings.is_empty() {
            "holds no ratings (its header only)".to_string()
        } else {
            format!(
                "no rating refers to a movie of {}",
                source.movies.path.display()
            )
        })
    })?;
    let window = import_window(&built);
    for (rows, name, range) in [
        (&built.train, "train", &window.train),
        (&built.valid, "valid", &window.valid),
    ] {
        if rows.is_empty() {
            return Err(no_rows(format!(
                "no rating falls in the {name} months {}..{}; shorten the windows or check the data",
                range.first, range.last
            )));
        }
    }
    let split = |name: &str, rows: Vec<Interaction>| Split {
        name: name.to_string(),
        path: PathBuf::from(format!("{name}.tsv")),
        rows,
    };
    let valid_small = build::sample_rows(&built.valid, options.valid_small_fraction, options.seed);
    let train = split("train", built.train);
    let valid = split("valid", built.valid);
    let valid_small = split("valid_small", valid_small);
    let test = (options.test_months > 0).then(|| split("test", built.test));
    let mut splits = vec![train.stats(), valid.stats(), valid_small.stats()];
    splits.extend(test.as_ref().map(Split::stats));
    let summary = ImportSummary {
        layout: source.layout,
        ratings_read: raw.ratings.len(),
        ratings_without_movie: built.ratings_without_movie,
        ratings_outside_window: built.ratings_outside_window,
        window,
        users: built.users,
        items: built.items.count(),
        splits,
    };
    tracing::info!(
        layout = ?summary.layout,
        rows = summary.splits.iter().map(|s| s.rows).sum::<usize>(),
        users = summary.users,
        items = summary.items,
        "imported MovieLens ratings"
    );
    let origin = source.ratings.path.parent().unwrap_or(Path::new(""));
    Ok(Imported {
        source: origin.display().to_string(),
        options: options.clone(),
        items: built.items,
        train,
        valid,
        valid_small,
        test,
        summary,
    })
}

fn import_window(built: &build::Built) -> ImportWindow {
    let w = built.window;
    let range = build::Window::range;
    // Train and valid last at least one month (validated options), so only test and the
    // dropped months can be empty; the fallback keeps this total without a panic path.
    let span = |first, last| {
        range(first, last).unwrap_or_else(|| MonthRange {
            first: String::new(),
            last: String::new(),
        })
    };
    ImportWindow {
        train: span(w.train_start, w.valid_start - 1),
        valid: span(w.valid_start, w.test_start - 1),
        test: range(w.test_start, w.end),
        dropped_last: range(w.end + 1, w.data_end),
        first_kept_date: built.first_kept_date.clone(),
        last_kept_date: built.last_kept_date.clone(),
    }
}

impl Imported {
    /// Writes the dataset, `import.json` (source, options, summary) and `extra_files` atomically
    /// into `dir`, and returns it as a [`Dataset`] located there.
    pub fn write(self, dir: &Path, extra_files: &[(&str, &[u8])]) -> Result<Dataset, DataError> {
        let record = ImportRecord {
            format_version: IMPORT_FORMAT_VERSION,
            source: self.source.clone(),
            options: self.options.clone(),
            summary: self.summary.clone(),
        };
        let record_json = serde_json::to_vec_pretty(&record).map_err(|e| DataError::Folder {
            path: dir.to_path_buf(),
            message: format!("cannot encode {IMPORT_RECORD_FILE}: {e}"),
        })?;
        let mut files: Vec<(&str, &[u8])> = vec![(IMPORT_RECORD_FILE, &record_json)];
        files.extend_from_slice(extra_files);
        let mut splits = vec![&self.train, &self.valid, &self.valid_small];
        splits.extend(self.test.as_ref());
        write_dataset(dir, &self.items, &splits, &files)?;
        let relocate = |mut split: Split| {
            split.path = dir.join(format!("{}.tsv", split.name));
            split
        };
        Ok(Dataset::from_parts(
            crate::dataset::named_after(dir),
            dir.to_path_buf(),
            self.items,
            relocate(self.train),
            relocate(self.valid),
            relocate(self.valid_small),
            self.test.map(relocate),
        ))
    }
}
