//! `collm eval <run> --data <split.tsv>` (or `--split <name>`): scores any file in the CoLLM TSV
//! layout, or the rows of the run's own split that its final evaluation scored, with a finished
//! run's best weights and prints the metrics (the object of [`super::report`] with one split,
//! named by the file's stem or the split). `RUN:PART` scores one part of a CoLLM run instead, as
//! its final evaluation did: the foundation alone (`cf`) or a stage's best weights (`stage1`).
//! The run's record is not changed; `--predictions` keeps the per-row scores in the run's folder,
//! where `collm compare` pairs runs (and parts) row by row.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use collm_data::{read_items, read_split, Interaction};
use collm_eval::predictions::{read_predictions, Prediction};
use collm_eval::ScoredRow;
use collm_store::{RunRecord, RunStatus, Store};

use super::report::RunReport;
use super::Context;
use crate::compare::{column_name, Target};
use crate::experiment::{Experiment, ExperimentKind, Placement};
use crate::runner::predictions::{of_rows, predictions_path};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run (its id, or a prefix that names one run), or `RUN:PART` for one part of a CoLLM
    /// run: `cf` (its foundation alone) or a stage's name (that stage's best weights).
    pub run: String,
    /// A split file: tab-separated `uid iid label timestamp warm his` with a header line.
    #[arg(long, required_unless_present = "split", conflicts_with = "split")]
    pub data: Option<PathBuf>,
    /// Instead of a file, the rows of the run's own dataset split that its final evaluation
    /// scored (all of them, or its `[evaluation] rows` sample): the final evaluation again.
    #[arg(long)]
    pub split: Option<String>,
    /// The items file the ids refer to (default: the `items.tsv` of the run's dataset); its
    /// titles are the ones the prompts read. The model's tables stay the run's.
    // `requires = "data"` alone let `--split` through (clap skips it beside a conflict).
    #[arg(long, requires = "data", conflicts_with = "split")]
    pub items: Option<PathBuf>,
    /// Keep the per-row scores in the run's folder as `predictions/<name>.tsv` (the file's stem,
    /// or the split's with `--split`; `predictions/<part>/<name>.tsv` for `RUN:PART`), where
    /// `collm compare` finds them (for runs that finished before runs kept them themselves). A
    /// file named like one of the run's splits is refused: `--split NAME` scores that split.
    #[arg(long)]
    pub predictions: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub placement: Placement,
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&ctx.store_dir)?;
    let (target, record) = Target::resolve(&store, &args.run)?;
    let id = record.id.clone();
    refuse_unfinished(&store, &record, &target)?;
    let mut experiment = Experiment::of_run(&record)?;
    experiment.place(args.placement);
    let mut dataset = experiment.load_dataset(&crate::paths::data_dir())?;
    let (split_name, rows, shown) = match (&args.data, &args.split) {
        (Some(data), _) => {
            let name = data
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "data".to_string());
            // Scores are kept under the file's stem, where a split's name would be the final
            // evaluation's own: a file of other histories or times must not take their place.
            // Case aside too: on a file system that ignores case, `VALID.tsv` is `valid.tsv`.
            let split = dataset
                .splits()
                .into_iter()
                .find(|s| s.name.eq_ignore_ascii_case(&name));
            if let (true, Some(split)) = (args.predictions, split) {
                let split = &split.name;
                bail!(
                    "{}: --predictions keeps a file's scores under its name, and `{name}` is \
                     split `{split}` of the run's dataset, whose kept scores are that split's own \
                     (its final evaluation's, or `--split {split}`'s); give the file another \
                     name, or score the split itself with `--split {split} --predictions`",
                    data.display()
                );
            }
            if args.predictions && name.starts_with('.') {
                bail!(
                    "{}: --predictions keeps a file's scores under its name, and `{name}` would \
                     be a hidden file; give the file a name",
                    data.display()
                );
            }
            // The file's items are what the rows name, and their titles are what the prompts
            // read (a study of titles changes them there); the model's tables stay the run's.
            if let Some(items) = &args.items {
                dataset.items = read_items(items)?;
            }
            let rows = read_file_rows(&dataset, data, &name);
            // An id missing from a file of items given is that file's gap as much as the rows'.
            let rows = match &args.items {
                Some(items) => {
                    rows.with_context(|| format!("read against the items of {}", items.display()))?
                }
                None => rows?,
            };
            if has_id_tables(&experiment) {
                check_ids_fit(&dataset, data, &rows)?;
            }
            let differing = dataset.warm_flags_differing(&rows);
            if differing > 0 {
                eprintln!(
                    "note: {}: {differing} of {} rows are flagged `warm` otherwise than the \
                     dataset's definition (user and item both in the run's train split); the \
                     warm/cold breakdown follows the file's flags",
                    data.display(),
                    rows.len()
                );
            }
            (name, rows, data.display().to_string())
        }
        (None, Some(name)) => {
            if dataset.split(name).is_none() {
                bail!("the run's dataset has no split `{name}`");
            }
            let rows = experiment.evaluation_rows(&dataset, name);
            let run_dir = store.run_dir(&id);
            if let Some(changes) = crate::runner::data_check::changes(&run_dir, &dataset.dir)? {
                eprintln!(
                    "note: the dataset {} is not what run {id} trained on ({changes}): these \
                     are not the numbers of its final evaluation",
                    dataset.dir.display()
                );
            }
            let shown = format!("its dataset's `{name}` ({} rows)", rows.len());
            (name.clone(), rows, shown)
        }
        (None, None) => unreachable!("clap requires --data or --split"),
    };
    let scored = match experiment.kind {
        ExperimentKind::Cf => {
            crate::runner::score_best(&store, &record, &experiment, &dataset, &rows)
                .with_context(|| format!("scoring {shown}"))?
        }
        // A CoLLM run's weights are the folder `final/` of its run folder (several files).
        ExperimentKind::Collm => {
            let run_dir = store.run_dir(&id);
            let part = target.part.as_deref();
            // A store moved to another machine may lack the backbone: say so while pulling it.
            crate::runner::collm::pull_backbone(&experiment, &mut |msg| eprintln!("{msg}"))?;
            crate::runner::collm::score_finished(&experiment, &run_dir, &dataset, &rows, part)
                .with_context(|| format!("scoring {shown}"))?
                .scored
        }
    };
    let metrics = collm_eval::evaluate(&scored);
    // Scores that may not replace the kept ones still get their report; the refusal follows.
    let mut not_kept = None;
    if args.predictions {
        let recorded = record
            .evaluation(&target.eval_stage(), &split_name)
            .map(|e| &e.metrics);
        let kept = keep_predictions(
            &store.run_dir(&id),
            &target,
            &split_name,
            &rows,
            &scored,
            recorded.map(|r| (r, &metrics)),
        )?;
        match kept {
            Ok(path) => eprintln!("per-row scores kept in {}", path.display()),
            Err(refusal) => not_kept = Some(refusal),
        }
    }
    // A part's report is the part's: its id (`RUN:stage1`), name and best step, as `compare
    // --json` names it, so a script cannot take it for the run's final model.
    let mut report = RunReport::header(&record);
    report.run_id = target.to_string();
    report.experiment = column_name(&[&record.name], target.part.as_deref());
    report.step = record
        .best
        .iter()
        .find(|e| e.stage == target.eval_stage())
        .map(|e| e.step);
    report.splits.insert(split_name, (&metrics).into());
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{target} ({}) on {}", record.name, shown);
        print!("{}", report.table());
    }
    match not_kept {
        Some(refusal) => Err(anyhow::anyhow!(refusal)),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Refuses what an unfinished run cannot be scored with: its final model, and a part it did
/// not finish. A part it finished (its foundation, a stage) is scored whatever became of the
/// stages after it: a run cancelled in stage 2 still has its TALLRec.
fn refuse_unfinished(store: &Store, record: &RunRecord, target: &Target) -> anyhow::Result<()> {
    let id = &record.id;
    let part_done = |part: &str| crate::runner::part_finished(record, &store.run_dir(id), part);
    if record.status == RunStatus::Finished || target.part.as_deref().is_some_and(part_done) {
        return Ok(());
    }
    let experiment = Experiment::of_run(record).ok();
    let mut parts = crate::compare::parts_of(experiment.as_ref());
    parts.pop(); // the last stage is the run's final model
    let done: Vec<String> = (parts.iter())
        .filter(|p| part_done(p))
        .map(|p| format!("`{id}:{p}`"))
        .collect();
    let which = match &target.part {
        Some(part) => format!("its {part} did not finish"),
        None => "it did not finish".to_string(),
    };
    bail!(
        "run {id} is {}: {which}, and `collm eval` scores a finished run's best weights or a \
         part the run finished ({})",
        record.status,
        if done.is_empty() {
            "it has none yet".to_string()
        } else {
            format!("here {}", done.join(", "))
        }
    )
}

/// The rows of a split file, read against the dataset's items.
fn read_file_rows(
    dataset: &collm_data::Dataset,
    data: &Path,
    split_name: &str,
) -> anyhow::Result<Vec<Interaction>> {
    let split = read_split(data, split_name, &dataset.items)?;
    if split.rows.is_empty() {
        bail!("{}: no rows to score", data.display());
    }
    Ok(split.rows)
}

/// Whether the run's model keeps a vector per user and item (a CF model, the CIE's or ID
/// tokens); a text-only CoLLM run reads titles alone and scores any user.
fn has_id_tables(experiment: &Experiment) -> bool {
    experiment
        .collm
        .as_ref()
        .is_none_or(|cfg| cfg.slots.kind != collm_pipeline::SlotFill::None)
}

/// Every user and item of `rows` must have a vector in the run's model, whose tables were sized
/// by its own dataset; an error names the file's line and field (`uid`, `iid` or `his`).
fn check_ids_fit(
    dataset: &collm_data::Dataset,
    data: &Path,
    rows: &[Interaction],
) -> anyhow::Result<()> {
    let ids = collm_cf::IdSpace::of(dataset);
    let Some(misfit) = ids.first_misfit(rows) else {
        return Ok(());
    };
    let (index, field, id) = (misfit.row, misfit.field, misfit.id);
    let (what, table) = if field == "uid" {
        ("user", ids.user_num)
    } else {
        ("item", ids.item_num)
    };
    // Rows are the file's non-blank lines after the header.
    let text = std::fs::read_to_string(data)?;
    let line = text
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !collm_data::is_blank(l))
        .nth(index)
        .map_or(index + 2, |(n, _)| n + 1);
    bail!(
        "{}:{line}: field `{field}`: {what} {id} is outside the run's tables ({what} ids 1 to {}, \
         from its dataset {}): the model has no vector for it",
        data.display(),
        table - 1,
        dataset.dir.display()
    )
}

/// Writes the scores where the runner keeps a run's own (`Ok(path)`), unless that file holds
/// other rows (a different file with the same stem: an error), or other scores of the same rows,
/// or scores whose metrics do not reproduce the run's recorded evaluation of the split
/// (`recorded`: that evaluation's metrics and these scores'; another device, precision or
/// dataset: `Err(why)`, nothing written). The kept scores are what
/// `compare` and `ensemble` pair beside the run's recorded evaluation, so both must stay the
/// same numbers.
fn keep_predictions(
    run_dir: &Path,
    target: &Target,
    split: &str,
    rows: &[Interaction],
    scored: &[ScoredRow],
    recorded: Option<(&collm_eval::Breakdown, &collm_eval::Breakdown)>,
) -> anyhow::Result<Result<PathBuf, String>> {
    let predictions = of_rows(rows, scored);
    let part = target.part.as_deref();
    let path = predictions_path(run_dir, split, part);
    if path.exists() {
        let kept = read_predictions(&path)?;
        if !kept
            .iter()
            .map(Prediction::row)
            .eq(predictions.iter().map(Prediction::row))
        {
            bail!(
                "{} already holds scores of other `{split}` rows (a split file of that name, or \
                 the split as it was before its dataset changed); give your split file another \
                 name",
                path.display()
            );
        }
        let differ = |(a, b): (&Prediction, &Prediction)| a.logit.to_bits() != b.logit.to_bits();
        if kept.iter().zip(&predictions).any(differ) {
            let most = kept
                .iter()
                .zip(&predictions)
                .map(|(a, b)| (a.logit - b.logit).abs())
                .fold(0f32, f32::max);
            return Ok(Err(format!(
                "{} holds {target}'s scores of these `{split}` rows, and these differ from them \
                 (by up to {most:.1e} in the logit: another device, precision or dataset scores \
                 otherwise); it is left as it is, since `collm compare` and `collm ensemble` \
                 read it beside the run's recorded evaluation. To keep these scores too, score \
                 a copy of the rows under another name with --data FILE --predictions",
                path.display()
            )));
        }
    }
    if let Some((recorded, new)) = recorded {
        if let Some(why) = not_reproduced(recorded, new) {
            return Ok(Err(format!(
                "these scores do not reproduce {target}'s recorded `{split}` evaluation ({why}; \
                 another device, precision or dataset scores otherwise), so they are not kept: \
                 `collm compare` and `collm ensemble` read kept scores beside that record. Score \
                 with the run's own --device and --dtype (the defaults) to keep its scores"
            )));
        }
    }
    crate::runner::predictions::save(
        run_dir,
        split,
        part,
        &predictions,
        &mut |_: &collm_events::Event| {},
    )?;
    Ok(Ok(path))
}

/// How `new` metrics differ from the `recorded` ones of the same rows beyond rounding (1e-4 in
/// AUC, UAUC or logloss: an older build's kernels may move the last bits of a score), if so.
fn not_reproduced(recorded: &collm_eval::Breakdown, new: &collm_eval::Breakdown) -> Option<String> {
    let (a, b) = (&recorded.all, &new.all);
    [
        ("AUC", a.auc, b.auc),
        ("UAUC", a.uauc, b.uauc),
        ("logloss", a.logloss, b.logloss),
    ]
    .into_iter()
    .find(|(_, was, now)| match (was, now) {
        (Some(was), Some(now)) => (was - now).abs() > 1e-4,
        (was, now) => was.is_some() != now.is_some(),
    })
    .map(|(name, was, now)| {
        let shown = crate::text::metric;
        format!("{name} {} against {}", shown(now), shown(was))
    })
}
