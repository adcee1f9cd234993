//! `collm eval <run> --data <split.tsv>`: scores any file in the CoLLM TSV layout with a finished
//! run's best weights and prints the metrics (the object of [`super::report`] with one split,
//! named by the file's stem). Read-only: the run's record is not changed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use collm_data::{read_items, read_split};
use collm_store::{RunRecord, RunStatus, Store, FINAL_STAGE};

use super::report::RunReport;
use super::Context;
use crate::experiment::{Experiment, ExperimentKind, Placement};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run (its id, or a prefix that names one run).
    pub run: String,
    /// A split file: tab-separated `uid iid label timestamp warm his` with a header line.
    #[arg(long)]
    pub data: PathBuf,
    /// The items file the ids refer to (default: the `items.tsv` of the run's dataset).
    #[arg(long)]
    pub items: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub placement: Placement,
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = Store::open(&ctx.store_dir)?;
    let id = store.resolve(&args.run)?;
    let record = store.run(&id)?;
    if record.status != RunStatus::Finished {
        bail!(
            "run {id} is {}: `collm eval` scores with a finished run's best weights",
            record.status
        );
    }
    let origin = PathBuf::from(format!("<experiment of run {id}>"));
    let mut experiment = Experiment::from_toml(&record.experiment, &origin)?;
    experiment.place(args.placement);
    let split_name = args
        .data
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".to_string());
    let metrics = match experiment.kind {
        ExperimentKind::Cf => score_cf(
            &experiment,
            &best_weights(&record)?,
            &args.data,
            args.items.as_deref(),
            &split_name,
        )?,
        // A CoLLM run's weights are the folder `final/` of its run folder (several files).
        ExperimentKind::Collm => score_collm(
            &experiment,
            &store.run_dir(&id),
            &args.data,
            args.items.as_deref(),
            &split_name,
        )?,
    };
    let mut report = RunReport::of_run(&record);
    report.splits.clear();
    report.splits.insert(split_name, (&metrics).into());
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!(
            "run {} ({}) on {}",
            report.run_id,
            report.experiment,
            args.data.display()
        );
        print!("{}", report.table());
    }
    Ok(ExitCode::SUCCESS)
}

/// The file of the run's best weights (its latest best checkpoint).
fn best_weights(record: &RunRecord) -> anyhow::Result<PathBuf> {
    let artifact = record
        .artifacts
        .iter()
        .filter(|a| a.best && a.stage != FINAL_STAGE)
        .max_by_key(|a| a.at_ms)
        .with_context(|| format!("run {} recorded no best weights", record.id))?;
    let path = PathBuf::from(&artifact.path);
    if !path.is_file() {
        bail!(
            "run {}: its best weights {} are gone",
            record.id,
            path.display()
        );
    }
    Ok(path)
}

/// The run's own dataset (the model's tables, LightGCN's graph and the titles come from it) and
/// the split file to score, read against `items` when given, else the dataset's items.
fn dataset_and_split(
    experiment: &Experiment,
    data: &Path,
    items: Option<&Path>,
    split_name: &str,
) -> anyhow::Result<(collm_data::Dataset, collm_data::Split)> {
    let dataset = experiment.load_dataset(&crate::paths::data_dir())?;
    let items = match items {
        Some(path) => read_items(path)?,
        None => dataset.items.clone(),
    };
    let split = read_split(data, split_name, &items)?;
    if split.rows.is_empty() {
        bail!("{}: no rows to score", data.display());
    }
    Ok((dataset, split))
}

fn score_cf(
    experiment: &Experiment,
    weights: &Path,
    data: &Path,
    items: Option<&Path>,
    split_name: &str,
) -> anyhow::Result<collm_eval::Breakdown> {
    let (dataset, split) = dataset_and_split(experiment, data, items, split_name)?;
    let device = experiment.resolve_device()?;
    let model = collm_cf::load(&experiment.model, &dataset, weights, &device)?;
    let scored = collm_cf::score_rows(model.as_ref(), &split.rows, experiment.training.batch_size)
        .with_context(|| format!("scoring {}", data.display()))?;
    Ok(collm_eval::evaluate(&scored))
}

fn score_collm(
    experiment: &Experiment,
    run_dir: &Path,
    data: &Path,
    items: Option<&Path>,
    split_name: &str,
) -> anyhow::Result<collm_eval::Breakdown> {
    let (dataset, split) = dataset_and_split(experiment, data, items, split_name)?;
    let scored = crate::runner::collm::score_finished(experiment, run_dir, &dataset, &split.rows)
        .with_context(|| format!("scoring {}", data.display()))?
        .scored;
    Ok(collm_eval::evaluate(&scored))
}
