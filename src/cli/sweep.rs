//! `collm sweep <experiment.toml> --grid KEY=V1,V2 [--seeds KEY=S1,S2]`: runs the experiment at
//! every point of a grid of settings, one run after another in this process, then picks the
//! best setting on one split and reports it on another, with the spread over seeds.
//!
//! A sweep can always be started again with the same command: a point whose exact experiment
//! already finished in the store is taken as it is, an interrupted or cancelled one continues
//! from its last checkpoint, so Ctrl-C, a crash, or values added to an axis cost only the runs
//! not yet done. A CoLLM point takes its foundation and first stages from a finished run (an
//! earlier point's, else any in the store) that computed exactly the same (`--no-share` trains
//! them anew). `--dry-run` shows which points are which, and what each new one will take from
//! where, without running anything.
//!
//! `--json` prints one object:
//!
//! ```json
//! {
//!   "experiment": "mf-ml1m", "select": "valid_small all AUC", "report_split": "valid",
//!   "settings": [
//!     {"setting": "lr=1e-3",
//!      "runs": [{"run_id": "261129-131515", "name": "mf-ml1m lr=1e-3 seed=1", "status": "finished"}],
//!      "select": {"n": 1, "mean": 0.676, "sd": null},
//!      "report": [{"group": "all", "metric": "AUC", "n": 1, "mean": 0.676, "sd": null}, ...],
//!      "parts": []}
//!   ],
//!   "best": 0,
//!   "runner_up": {"setting": "lr=1e-4", "compare": "collm compare A1,A2 B1,B2 --split valid",
//!                 "bootstrap": {...}, "error": null},
//!   "stopped": false
//! }
//! ```
//!
//! `best` indexes `settings` (null when no run finished); `sd` is the sample standard deviation
//! over the setting's finished runs (null below two); `parts` is, for a CoLLM setting, its
//! foundation and earlier stages over the same runs (`{"part": "cf", "report": [...]}`, then
//! `stage1`, ...), which the table shows as `its cf`, `its stage1` rows; `runner_up` is the
//! best setting minus the runner-up on the report split (`collm compare`'s bootstrap, as in its
//! `differences`, over every seed both finished; null with one setting); `stopped` is true when
//! Ctrl-C ended the sweep early. Exit status: 0 every point finished, 1 some failed, 130 stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use collm_eval::paired::PairedBootstrap;
use collm_store::{RunId, RunRecord, RunStatus, Store};
use serde::Serialize;

use super::report::{align, duration};
use super::run::cancel_on_signal;
use super::run::{insert_reuse, locate_reuse_error, watch};
use super::Context;
use crate::compare::{interval, significance, Target};
use crate::experiment::{Experiment, Override, Placement};
use crate::runner::data_check::DatasetNow;
use crate::runner::Runner;
use crate::sweep::file::SweepFile;
use crate::sweep::summary::{find_reported, summarize, Criterion, Reported, RunRef, Stat, Summary};
use crate::sweep::{grid, record_source, share_earlier, Axis, Point, ShareSource, StoredRuns};
use crate::text::metric;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// An experiment file (experiments/), or a sweep file naming one with its grid
    /// (experiments/sweeps/; the flags below add to it and override its choices).
    pub file: PathBuf,
    /// An axis of settings: a dotted key as `collm compare` lists them and its values, e.g.
    /// `--grid training.lr=1e-2,1e-3,1e-4` (repeatable: the grid is every combination).
    #[arg(long = "grid", value_name = "KEY=V1,V2,...")]
    pub grid: Vec<String>,
    /// Repeats of every setting with other seeds, e.g. `--seeds training.seed=1,2,3`; the
    /// summary gives their mean and standard deviation instead of a row each.
    #[arg(long, value_name = "KEY=S1,S2,...")]
    pub seeds: Vec<String>,
    /// A setting changed for every point, as `collm run --set`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<Override>,
    /// What picks the best setting: SPLIT[:[GROUP.]METRIC], e.g. `valid_small`,
    /// `valid_small:uauc`, `valid_small:cold.auc` (default: valid_small when the experiment
    /// evaluates it, else its first evaluation split; AUC of all rows).
    #[arg(long, value_name = "SPLIT[:METRIC]")]
    pub select: Option<String>,
    /// The split whose metrics the summary reports (default: valid when evaluated, else the
    /// first evaluation split).
    #[arg(long, value_name = "SPLIT")]
    pub report: Option<String>,
    /// As `collm run --reuse`, for every point.
    #[arg(long, value_name = "STAGE=RUN")]
    pub reuse: Vec<String>,
    /// Train every point's foundation and stages itself. By default a CoLLM point takes them
    /// from a finished run (an earlier point's, else any in the store) that computed exactly
    /// the same (the same settings up to that stage, as `--reuse` checks them; for the
    /// foundation, the same `[training]` too): a sweep over stage 2 trains stage 1 once.
    #[arg(long)]
    pub no_share: bool,
    /// List the points, what the store already holds of them and what each new CoLLM point
    /// will take from another run (`#N`: the plan's Nth point); run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the summary as one JSON object on stdout (a plan is a table: not with --dry-run).
    #[arg(long, conflicts_with = "dry_run")]
    pub json: bool,
    #[command(flatten)]
    pub placement: Placement,
}

/// A point of the grid, made into the experiment it runs.
struct Planned {
    point: Point,
    experiment: Experiment,
}

/// A sweep file as errors need it: its path and text, and the settings it answers for.
struct SweepSource {
    path: PathBuf,
    text: String,
    keys: Vec<String>,
}

/// The sweep to run: a sweep file's and the flags' settings, axes and choices together.
struct Spec {
    /// The sweep file, when the sweep came from one (errors point into it).
    file: Option<SweepSource>,
    experiment: PathBuf,
    set: Vec<Override>,
    axes: Vec<Axis>,
    select: Option<String>,
    report: Option<String>,
    /// Where `select` and `report` were given, for messages: `--select`, or the sweep file's key.
    select_origin: String,
    report_origin: String,
    share: bool,
}

fn spec(args: &Args) -> anyhow::Result<Spec> {
    // Where a choice came from: the flag, the sweep file's key, or neither (the default).
    let text = crate::experiment::read_text(&args.file)?;
    let origin = |flag: &str, key: &str, flagged: bool, in_file: bool| match (flagged, in_file) {
        (true, _) => flag.to_string(),
        (false, true) => match crate::sweep::file::top_level_line(&text, key) {
            Some(line) => format!("{}:{line}: {key} =", args.file.display()),
            None => format!("{}: {key} =", args.file.display()),
        },
        (false, false) => format!("the default {key} split (change it with {flag})"),
    };
    let is_sweep = SweepFile::is_sweep(&text);
    let file = if is_sweep {
        SweepFile::parse(&text, &args.file)?
    } else {
        SweepFile {
            experiment: args.file.clone(),
            select: None,
            report: None,
            share: None,
            set: Vec::new(),
            axes: Vec::new(),
        }
    };
    let parse = |text: &String, replicate: bool| {
        let flag = if replicate { "--seeds" } else { "--grid" };
        Axis::parse(text, replicate).map_err(|e| anyhow::anyhow!("{flag} {e}"))
    };
    let file_axes: Vec<String> = file.axes.iter().map(|a| a.key.clone()).collect();
    let axes: Vec<Axis> = file
        .axes
        .into_iter()
        .map(Ok)
        .chain(args.grid.iter().map(|t| parse(t, false)))
        .chain(args.seeds.iter().map(|t| parse(t, true)))
        .collect::<anyhow::Result<_>>()?;
    crate::experiment::overrides::refuse_repeats(&args.set).map_err(anyhow::Error::msg)?;
    // The keys the sweep file sets or sweeps and the command line does not set again: a bad
    // value of one of those is the file's to answer for.
    let file_keys: Vec<String> = (file.set.iter().map(|o| &o.key))
        .chain(file_axes.iter())
        .filter(|key| !args.set.iter().any(|o| &o.key == *key))
        .cloned()
        .collect();
    // The command line's settings come after the file's, so they win.
    let set: Vec<Override> = file.set.into_iter().chain(args.set.clone()).collect();
    for (i, axis) in axes.iter().enumerate() {
        if axes[..i].iter().any(|a| a.key == axis.key) {
            bail!(
                "{} is swept twice; give all its values on one axis",
                axis.key
            );
        }
        if set.iter().any(|o| o.key == axis.key) {
            bail!("{} is both swept and set", axis.key);
        }
    }
    Ok(Spec {
        select_origin: origin(
            "--select",
            "select",
            args.select.is_some(),
            file.select.is_some(),
        ),
        report_origin: origin(
            "--report",
            "report",
            args.report.is_some(),
            file.report.is_some(),
        ),
        file: is_sweep.then(|| SweepSource {
            path: args.file.clone(),
            text,
            keys: file_keys,
        }),
        experiment: file.experiment,
        set,
        axes,
        select: args.select.clone().or(file.select),
        report: args.report.clone().or(file.report),
        share: !args.no_share && file.share.unwrap_or(true),
    })
}

/// A folder of the system's temporary space, removed when dropped.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new() -> ScratchDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("collm-dry-run-{}-{nanos}", std::process::id());
        ScratchDir(std::env::temp_dir().join(name))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    let spec = spec(&args)?;
    // The experiment a sweep file names and cannot be read: said at the file's line.
    let text = crate::experiment::read_text(&spec.experiment).map_err(|e| match &spec.file {
        Some(f) => match crate::sweep::file::top_level_line(&f.text, "experiment") {
            Some(line) => anyhow::anyhow!("{}:{line}: experiment = ...: {e}", f.path.display()),
            None => e.into(),
        },
        None => e.into(),
    })?;
    // A setting that breaks the experiment is blamed on the sweep file's line when it wrote it.
    let blame = |e| match &spec.file {
        Some(f) => SweepFile::blame(&f.text, &f.path, &f.keys, &e).unwrap_or(e),
        None => e,
    };
    let load = |overrides: &[Override]| {
        crate::experiment::overrides::load_with(&text, &spec.experiment, overrides).map_err(blame)
    };
    let base = load(&spec.set)?;
    // A dry run only reads: with no store there yet, it plans against an empty one of its own
    // (removed after), making none where a path may be mistyped.
    let scratch = (args.dry_run && !Store::exists(&ctx.store_dir)).then(ScratchDir::new);
    let store_dir = scratch
        .as_ref()
        .map_or(ctx.store_dir.as_path(), |s| s.0.as_path());
    let store = Arc::new(Store::open(store_dir)?);
    let data_dir = crate::paths::data_dir();
    let stored = StoredRuns::load(&store)?;

    // A grid this large is a slip (a range typed for a list), and would take long to plan.
    let points = spec
        .axes
        .iter()
        .try_fold(1usize, |n, axis| n.checked_mul(axis.values.len()))
        .filter(|&n| n <= MAX_POINTS);
    if points.is_none() {
        let sizes: Vec<String> = spec
            .axes
            .iter()
            .map(|a| a.values.len().to_string())
            .collect();
        bail!(
            "the grid has {} points, more than {MAX_POINTS}: sweep fewer values, or in parts",
            sizes.join(" x ")
        );
    }
    // Every point is checked before anything runs: a typo in the last value must not surface
    // hours into the sweep.
    let mut plan: Vec<Planned> = Vec::new();
    let keys: Vec<String> = crate::experiment::settings::flatten_table(&base.to_toml().parse()?)
        .into_keys()
        .collect();
    for point in grid(&base.name, &spec.axes, &keys) {
        let overrides: Vec<Override> = spec.set.iter().chain(&point.overrides).cloned().collect();
        let mut experiment = load(&overrides)?;
        experiment.name = point.name.clone();
        experiment.place(args.placement);
        insert_reuse(&mut experiment, &args.reuse)?;
        // A point that finished earlier keeps its own copy of what it took: its sources may
        // have gone since (deleted), and the sweep still shows it.
        let finished = |e: &crate::experiment::Experiment| {
            stored
                .point(&e.to_toml())
                .is_some_and(|r| r.status == RunStatus::Finished)
        };
        let typed = experiment.clone();
        if let Err(err) = crate::runner::resolve_reuse_sources(&store, &mut experiment) {
            // A part no stage of the experiment is (`stage7`) is the command's mistake whether
            // or not the point finished; a source gone since it finished is not.
            let no_such_part = typed.check_reuse().is_err();
            if no_such_part || !finished(&typed) {
                return Err(locate_reuse_error(
                    err.into(),
                    &spec.experiment,
                    &args.reuse,
                ));
            }
            experiment = typed;
        }
        experiment
            .check_inputs_of_file(&data_dir, &spec.experiment, &overrides)
            .map_err(blame)
            .with_context(|| format!("point {}", point.name))?;
        plan.push(Planned { point, experiment });
    }
    // As placed by --device: a device this build or machine lacks is refused before any point
    // becomes a (failed) run.
    let first: Vec<Override> = spec
        .set
        .iter()
        .chain(&plan[0].point.overrides)
        .cloned()
        .collect();
    let flagged = args.placement.device.is_some();
    plan[0]
        .experiment
        .resolve_device_of_file(&spec.experiment, &first, flagged)
        .map_err(blame)?;
    let (select_text, report) = splits(&spec, &plan, &data_dir)?;
    let select = Criterion::parse(&select_text)
        .map_err(|e| anyhow::anyhow!("{} {e}", spec.select_origin))?;
    // With one setting (only seeds vary) nothing is picked, so nothing is optimistic.
    let several_settings = plan
        .iter()
        .any(|p| p.point.setting != plan[0].point.setting);
    if select.split == report && several_settings {
        // The advice must work as given: both splits must be scored at the end.
        let other = if report == "valid_small" {
            "valid"
        } else {
            report.as_str()
        };
        let scored = &plan[0].experiment.evaluation.splits;
        let missing: Vec<&str> = ["valid_small", other]
            .into_iter()
            .filter(|s| !scored.iter().any(|x| x == s))
            .collect();
        let already_set = spec.set.iter().any(|o| o.key == "evaluation.splits");
        let add = match (missing.is_empty(), already_set) {
            (true, _) => String::new(),
            (false, true) => format!(" add {} to your evaluation.splits,", missing.join(" and ")),
            (false, false) => {
                let mut splits: Vec<String> = scored.iter().map(|s| format!("\"{s}\"")).collect();
                splits.extend(missing.iter().map(|s| format!("\"{s}\"")));
                format!(" --set 'evaluation.splits=[{}]'", splits.join(","))
            }
        };
        say!(
            "note: picking and reporting on one split ({report}) makes the best setting's numbers \
             optimistic;{add} --select valid_small --report {other} keeps them apart"
        );
    }

    let mut done: Vec<Option<RunRecord>> = plan
        .iter()
        .map(|p| stored.point(&p.experiment.to_toml()).cloned())
        .collect();
    // A point done earlier on other files than the dataset folder holds now is not this
    // point: a table and a pick across two versions of the data would be no one's. (Each
    // folder is hashed once, however many points read it.)
    let mut folders: HashMap<&Path, DatasetNow> = HashMap::new();
    for (p, record) in plan.iter().zip(&done) {
        let (Some(record), Some(dir)) = (record, &p.experiment.dataset.path) else {
            continue;
        };
        let id = &record.id;
        let now = folders.entry(dir).or_insert_with(|| DatasetNow::new(dir));
        if let Some(changes) = now.changes_since_run(&store.run_dir(id))? {
            bail!(
                "point {} ran earlier as run {id} on other data than {} holds now ({changes}): \
                 restore the files, or `collm delete {id}` to run the point again on them",
                p.experiment.name,
                dir.display()
            );
        }
    }
    if args.dry_run {
        let collm = plan.iter().any(|p| p.experiment.collm.is_some());
        let takes = collm && (spec.share || !args.reuse.is_empty());
        let shares = takes.then(|| planned_shares(&plan, &done, &stored, spec.share));
        print_plan(&plan, &done, shares.as_deref());
        return Ok(ExitCode::SUCCESS);
    }

    let (runner, messages) = Runner::start(store.clone(), crate::paths::data_dir());
    let signals = cancel_on_signal(runner.handle())?;
    let total = plan.len();
    let mut stopped = false;
    for (i, p) in plan.iter().enumerate() {
        if signals.signalled() {
            stopped = true;
            break;
        }
        let counter = format!("[{}/{total}] {}", i + 1, p.experiment.name);
        let id = match done[i].as_ref().map(|r| (r.status, r.id.clone())) {
            Some((RunStatus::Finished, id)) => {
                say!("{counter}: finished earlier as run {id}");
                continue;
            }
            Some((RunStatus::Failed, id)) => {
                say!("{counter}: failed earlier as run {id}; `collm resume {id}` retries it");
                continue;
            }
            Some((_, id)) => {
                say!("{counter}: continuing run {id}");
                runner.resume(&id)?
            }
            None if spec.share => runner.submit_sharing(&p.experiment)?,
            None => runner.submit(&p.experiment)?,
        };
        // A signal between the check above and the submit found no run to cancel (an error
        // here is a run that ended already).
        if signals.signalled() {
            let _ = runner.cancel(&id);
        }
        let ended = watch(&store, &messages, &id)?;
        let reason = match (&ended.status, &ended.error) {
            (RunStatus::Failed, Some(error)) => format!(" ({error})"),
            _ => String::new(),
        };
        say!(
            "{counter}: run {id} {}{reason} in {}; {} {}",
            ended.status,
            duration(ended.duration_s()),
            select.label(),
            metric(select.of(&ended))
        );
        let cancelled = ended.status == RunStatus::Cancelled;
        done[i] = Some(ended);
        if cancelled {
            stopped = true;
            break;
        }
    }
    drop(signals);
    runner.shutdown();

    let rows: Vec<(Point, Option<RunRecord>)> =
        plan.into_iter().map(|p| p.point).zip(done).collect();
    let summary = summarize(&rows, &select, &report);
    let runner_up = runner_up(&store, &summary);
    if args.json {
        let out = JsonSummary {
            experiment: &base.name,
            summary: &summary,
            runner_up: runner_up.as_ref(),
            stopped,
        };
        tell!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        tell!(text:
            "{}",
            describe(&base.name, &summary, runner_up.as_ref(), stopped)
        );
    }
    let failed = rows
        .iter()
        .any(|(_, r)| r.as_ref().is_some_and(|r| r.status == RunStatus::Failed));
    Ok(if stopped {
        say!("sweep stopped; the same command continues it");
        ExitCode::from(130)
    } else if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    experiment: &'a str,
    #[serde(flatten)]
    summary: &'a Summary,
    runner_up: Option<&'a RunnerUp>,
    stopped: bool,
}

/// The best setting measured against the runner-up on the report split: `collm compare`'s
/// paired bootstrap (its default 1000 resamples, seed 0) over every seed both finished.
#[derive(Serialize)]
struct RunnerUp {
    setting: String,
    /// The comparison in full: `collm compare RUNNER_UP BEST --split SPLIT`, one column of
    /// runs (seeds) each.
    compare: String,
    /// The best setting minus the runner-up.
    bootstrap: Option<PairedBootstrap>,
    error: Option<String>,
}

const RUNNER_UP_RESAMPLES: usize = 1000;

fn runner_up(store: &Store, s: &Summary) -> Option<RunnerUp> {
    let best = &s.settings[s.best?];
    let second = &s.settings[*s.ranking.get(1)?];
    // Runs are listed in seed order, so the i-th of each setting share a seed.
    let finished = |r: &RunRef| r.status == RunStatus::Finished.as_str();
    let (ours, theirs): (Vec<&str>, Vec<&str>) = best
        .runs
        .iter()
        .zip(&second.runs)
        .filter(|(a, b)| finished(a) && finished(b))
        .map(|(a, b)| (a.run_id.as_str(), b.run_id.as_str()))
        .unzip();
    if ours.is_empty() {
        return None;
    }
    let column = |ids: &[&str]| -> Vec<Target> {
        ids.iter()
            .filter_map(|id| RunId::parse(id))
            .map(Target::whole)
            .collect()
    };
    let split = &s.report_split;
    let mut result = significance(
        store,
        split,
        &column(&theirs),
        &[column(&ours)],
        RUNNER_UP_RESAMPLES,
        0,
    );
    let (bootstrap, error) = match result.pop()? {
        Ok(b) => (Some(b), None),
        Err(e) => (None, Some(e)),
    };
    Some(RunnerUp {
        setting: second.setting.clone(),
        compare: format!(
            "collm compare {} {} --split {split}",
            theirs.join(","),
            ours.join(",")
        ),
        bootstrap,
        error,
    })
}

/// The selection criterion's text and the report split, checked against what every point
/// evaluates at the end.
fn splits(spec: &Spec, plan: &[Planned], data_dir: &Path) -> anyhow::Result<(String, String)> {
    let evaluated = &plan[0].experiment.evaluation.splits;
    let prefer = |name: &str| {
        if evaluated.iter().any(|s| s == name) {
            name.to_string()
        } else {
            evaluated[0].clone()
        }
    };
    let select = spec.select.clone().unwrap_or_else(|| prefer("valid_small"));
    let report = spec.report.clone().unwrap_or_else(|| prefer("valid"));
    let select_split = select.split(':').next().unwrap_or_default().to_string();
    let known = plan[0].experiment.dataset_splits(data_dir);
    for (flag, split) in [
        (&spec.select_origin, &select_split),
        (&spec.report_origin, &report),
    ] {
        // Not a split of the dataset at all: adding it to the evaluation would not help.
        if let Some(known) = known.as_ref().filter(|k| !k.contains(split)) {
            bail!(
                "{flag} {split}: the dataset has no split `{split}` (it has {})",
                known.join(", ")
            );
        }
        if let Some(p) = plan
            .iter()
            .find(|p| !p.experiment.evaluation.splits.contains(split))
        {
            bail!(
                "{flag} {split}: {} scores only {:?} at the end; add it with \
                 --set 'evaluation.splits=[\"{split}\", ...]'",
                p.experiment.name,
                p.experiment.evaluation.splits
            );
        }
    }
    Ok((select, report))
}

/// The most points one sweep plans.
const MAX_POINTS: usize = 10_000;

/// The dry run's table: each point, what the store holds of it and, when `shares` is given,
/// what it would take from another run when it starts; then their count.
fn print_plan(
    plan: &[Planned],
    done: &[Option<RunRecord>],
    shares: Option<&[Vec<(String, String)>]>,
) {
    let mut header = vec!["#".to_string(), "point".into(), "in the store".into()];
    if shares.is_some() {
        header.push("takes".into());
    }
    let mut rows = vec![header];
    for (i, (p, record)) in plan.iter().zip(done).enumerate() {
        let state = match record {
            None => "new".to_string(),
            Some(r) if r.status == RunStatus::Finished => format!("finished as {}", r.id),
            Some(r) if r.status == RunStatus::Failed => format!("failed as {} (skipped)", r.id),
            Some(r) => format!("{} as {} (continued)", r.status, r.id),
        };
        let mut row = vec![(i + 1).to_string(), p.experiment.name.clone(), state];
        if let Some(shares) = shares {
            let taken: Vec<String> = shares[i]
                .iter()
                .map(|(part, from)| format!("{part} from {from}"))
                .collect();
            row.push(if taken.is_empty() {
                "-".into()
            } else {
                taken.join(", ")
            });
        }
        rows.push(row);
    }
    tell!(text: "{}", align(&rows));
    let new = done.iter().filter(|r| r.is_none()).count();
    tell!(
        "{}: {new} new, {} in the store",
        super::report::plural(plan.len(), "point"),
        plan.len() - new
    );
}

/// What each new point would take from another run when it starts: what `--reuse` names, then
/// (when sharing) what the runner will find: the points before it in this sweep first (they
/// will have finished by then; one still to run is named `#N`, its row in the plan), then the
/// store's finished runs, newest first.
fn planned_shares(
    plan: &[Planned],
    done: &[Option<RunRecord>],
    stored: &StoredRuns,
    share: bool,
) -> Vec<Vec<(String, String)>> {
    let in_store = stored.finished_sources();
    // Runs this sweep will finish before the next point starts, the latest last.
    let mut to_finish: Vec<ShareSource> = Vec::new();
    let mut shares = Vec::new();
    for (i, (p, record)) in plan.iter().zip(done).enumerate() {
        match record {
            None => {
                let mut experiment = p.experiment.clone();
                let mut takes: Vec<(String, String)> = experiment
                    .reuse
                    .iter()
                    .map(|(part, from)| (part.clone(), from.clone()))
                    .collect();
                if share {
                    let sources: Vec<&ShareSource> =
                        to_finish.iter().rev().chain(&in_store).collect();
                    takes.extend(share_earlier(&mut experiment, &sources));
                }
                shares.push(takes);
                to_finish.push(ShareSource {
                    label: format!("#{}", i + 1),
                    experiment,
                });
            }
            Some(r) => {
                shares.push(Vec::new());
                // A point continued (not finished, not failed) is a source once it finishes.
                if !matches!(r.status, RunStatus::Finished | RunStatus::Failed) {
                    to_finish.extend(record_source(r).ok());
                }
            }
        }
    }
    shares
}

/// The table's columns of the report split: all-rows AUC and UAUC, warm and cold AUC.
fn report_cells(report: &[Reported]) -> Vec<String> {
    [
        ("all", "AUC"),
        ("all", "UAUC"),
        ("warm", "AUC"),
        ("cold", "AUC"),
    ]
    .map(|(group, metric)| find_reported(report, group, metric).map_or("-".into(), Stat::show))
    .to_vec()
}

/// The summary table: one row per setting, the best marked, then how to look closer.
/// `stopped`: the sweep stopped before its last point (its pick is of what finished so far).
fn describe(name: &str, s: &Summary, runner_up: Option<&RunnerUp>, stopped: bool) -> String {
    let runs: usize = s.settings.iter().map(|x| x.runs.len()).sum();
    // Only seeds vary: a study of seed variance, with nothing to pick.
    let one_setting = s.settings.len() == 1;
    let mut out = if one_setting {
        format!(
            "sweep of {name}: {runs} runs of one setting, reported on {} (mean ± sd over seeds)\n",
            s.report_split
        )
    } else {
        format!(
            "sweep of {name}: {runs} runs, {} settings; picked on {}, reported on {} \
             (mean ± sd over seeds)\n",
            s.settings.len(),
            s.select,
            s.report_split
        )
    };
    let r = &s.report_split;
    let mut rows = vec![[
        "",
        "setting",
        "finished",
        "select",
        &format!("{r} AUC"),
        "UAUC",
        "warm AUC",
        "cold AUC",
    ]
    .map(String::from)
    .to_vec()];
    for (i, x) in s.settings.iter().enumerate() {
        let finished = x.finished_runs().count();
        let mut row = vec![
            if s.best == Some(i) { "*" } else { "" }.to_string(),
            if x.setting.is_empty() {
                "(the file)".into()
            } else {
                x.setting.clone()
            },
            format!("{finished}/{}", x.runs.len()),
            x.select.show(),
        ];
        row.extend(report_cells(&x.report));
        rows.push(row);
        // A CoLLM setting's foundation and earlier stages, over the same runs.
        for part in &x.parts {
            let mut row = vec![
                String::new(),
                format!("  its {}", part.part),
                String::new(),
                String::new(),
            ];
            row.extend(report_cells(&part.report));
            rows.push(row);
        }
    }
    out += &align(&rows);
    let Some(best) = s.best.map(|i| &s.settings[i]) else {
        out += "no run finished: nothing to pick\n";
        return out;
    };
    let ids: Vec<&str> = best.finished_runs().collect();
    if one_setting {
        out += &format!("runs: {}\n", ids.join(", "));
        return out;
    }
    // Picked among the settings with a finished run: a stopped sweep's pick is not the grid's.
    let measured = s.ranking.len();
    let of = if stopped && measured < s.settings.len() {
        format!(
            " so far, of the {measured} of {} settings with a finished run",
            s.settings.len()
        )
    } else {
        String::new()
    };
    out += &format!("best{of}: {} ({})\n", best.setting, ids.join(", "));
    let Some(up) = runner_up else {
        return out;
    };
    match (&up.bootstrap, &up.error) {
        (Some(b), _) => {
            let seeds = match b.runs {
                1 => String::new(),
                n => format!(" and {n} seeds"),
            };
            out += &format!(
                "against the runner-up {} on {}, paired over users{seeds}: AUC {}, UAUC {}\n",
                up.setting,
                s.report_split,
                interval(b.all.auc.as_ref(), b.resamples),
                interval(b.all.uauc.as_ref(), b.resamples)
            );
        }
        (None, error) => {
            out += &format!(
                "against the runner-up {}: {}\n",
                up.setting,
                error.as_deref().unwrap_or_default()
            );
        }
    }
    out += &format!("warm and cold rows too: {}\n", up.compare);
    out
}
