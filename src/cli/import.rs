//! `collm import RAW [OUT]`: a raw MovieLens folder (ml-latest `*.csv`, ml-1m `*.dat`, ml-100k
//! `u.data`/`u.item`) made into the CoLLM layout an experiment's `[dataset] path` names, with
//! the reference preprocessing (see `collm_data::movielens`).

use std::path::{Path, PathBuf};

use anyhow::bail;
use collm_data::movielens::{import, ImportOptions, ImportRecord, IMPORT_RECORD_FILE};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The raw MovieLens folder.
    pub raw: PathBuf,
    /// Where to write the dataset (default: $COLLM_HOME/data/imports/<RAW's name>). A folder
    /// that is there must be an earlier import of RAW, which is replaced.
    pub out: Option<PathBuf>,
    /// A rating at or above this is a positive (label 1).
    #[arg(long, default_value_t = ImportOptions::default().threshold)]
    pub threshold: f32,
    /// Months of the train split (the window ends before the data's last months).
    #[arg(long, default_value_t = ImportOptions::default().train_months)]
    pub train_months: u32,
    /// Months of the valid split, after train's (valid_small is a seeded half of it).
    #[arg(long, default_value_t = ImportOptions::default().valid_months)]
    pub valid_months: u32,
    /// Months of the test split, after valid's; 0 writes no test split.
    #[arg(long, default_value_t = ImportOptions::default().test_months)]
    pub test_months: u32,
    /// Final months left out (the reference dropped ML-1M's last, partial month).
    #[arg(long, default_value_t = ImportOptions::default().drop_last_months)]
    pub drop_last_months: u32,
    /// Seed of the valid_small sample (half of valid).
    #[arg(long, default_value_t = ImportOptions::default().seed)]
    pub seed: u64,
    /// Print the import record (source, options, summary) as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn execute(args: Args) -> anyhow::Result<()> {
    let raw = std::path::absolute(&args.raw)?;
    if !raw.is_dir() {
        let what = if raw.exists() {
            "a file, not a folder"
        } else {
            "no such folder"
        };
        bail!("{}: {what}", raw.display());
    }
    // `..` and links resolved: the folder's own name, and the same source however it is typed.
    let raw = raw.canonicalize()?;
    let out = match &args.out {
        Some(out) => resolved(out)?,
        // Apart from the embedded default's folder (`data/ml-latest-small`), which it imports
        // again whenever it finds another import there.
        None => crate::paths::data_dir().join("imports").join(
            raw.file_name()
                .map_or_else(|| "imported".into(), |n| n.to_string_lossy().into_owned()),
        ),
    };
    let default = crate::paths::data_dir().join(collm_data::embedded::DEFAULT_DATASET);
    if resolved(&default)? == out {
        bail!(
            "{}: the embedded default's folder, which it imports again over anything else \
             there; name another folder",
            out.display()
        );
    }
    refuse_foreign_folder(&out, &raw)?;
    let options = ImportOptions {
        threshold: args.threshold,
        train_months: args.train_months,
        valid_months: args.valid_months,
        test_months: args.test_months,
        drop_last_months: args.drop_last_months,
        seed: args.seed,
        ..ImportOptions::default()
    };
    let imported = import(&raw, &options)?;
    // The data's licence travels with it, as the embedded default's does.
    let readme = std::fs::read(raw.join("README.txt")).ok();
    let extra: Vec<(&str, &[u8])> = readme
        .iter()
        .map(|r| ("README.txt", r.as_slice()))
        .collect();
    let dataset = imported.write(&out, &extra)?;
    let record = ImportRecord::read(&out)
        .ok_or_else(|| anyhow::anyhow!("{}: {IMPORT_RECORD_FILE} unreadable", out.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&record)?);
        return Ok(());
    }
    let s = &record.summary;
    let layout = serde_json::to_value(s.layout)?;
    println!(
        "{} ({} layout): {} users, {} items from {} ratings ({} without a movie, {} outside the window)",
        out.display(),
        layout.as_str().unwrap_or_default(),
        s.users,
        s.items,
        s.ratings_read,
        s.ratings_without_movie,
        s.ratings_outside_window
    );
    for split in dataset.splits() {
        let stats = split.stats();
        if let Some(label) = collm_data::single_label(&split.rows) {
            eprintln!(
                "warning: {} holds only label {label}: AUC is undefined on it (a run evaluating \
                 or selecting on it is refused); change --threshold or the windows",
                stats.name
            );
        }
        println!(
            "  {:<12} {:>8} rows  {:>6} users  {:>6} items  {:>5.1}% positive  {} warm, {} cold",
            stats.name,
            stats.rows,
            stats.users,
            stats.items,
            stats.positive_rate.unwrap_or(0.0) * 100.0,
            stats.warm_rows,
            stats.cold_rows
        );
    }
    println!(
        "use it with:\n[dataset]\npath = {}",
        toml::Value::String(out.display().to_string())
    );
    Ok(())
}

/// `path` absolute, and where it is there, with links and `..` resolved: a link names the folder
/// it points to (that is replaced, not the link), and one folder compares equal however typed.
fn resolved(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    Ok(absolute.canonicalize().unwrap_or(absolute))
}

/// An import replaces only a folder an earlier import of the same raw folder made (with other
/// options, say): never a user's own files, nor the import of another source, which runs may
/// read.
fn refuse_foreign_folder(out: &Path, raw: &Path) -> anyhow::Result<()> {
    if out.is_file() {
        bail!("{}: a file, not a folder", out.display());
    }
    let empty = |dir: &Path| std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
    if !out.exists() || empty(out) {
        return Ok(());
    }
    match ImportRecord::read(out) {
        None => bail!(
            "{}: a folder that no import made (it has no {IMPORT_RECORD_FILE}); name another one",
            out.display()
        ),
        Some(record) if record.source != raw.display().to_string() => bail!(
            "{}: holds the import of {}, not of {}; name another folder",
            out.display(),
            record.source,
            raw.display()
        ),
        Some(_) => Ok(()),
    }
}
