//! `collm compare <run> <run>...`: runs side by side on one split, headless. The metrics with
//! their differences from a baseline (the first run unless `--baseline`), whether each
//! difference is more than noise (a paired bootstrap over users of the kept per-row scores),
//! and the settings that differ. A run may be named `RUN:PART` for a part of a CoLLM run
//! ([`Target`]); its `run_id` below is then written so, and `from` says `final-<part>`.
//! With `--json`, one object:
//!
//! ```json
//! {
//!   "split": "valid", "baseline": "261129-011202", "resamples": 1000, "seed": 0,
//!   "runs": [{"run_id": "261129-011202", "experiment": "collm-mf-ml1m", "status": "finished",
//!             "from": "final", "metrics": {"all": {...}, "warm": {...}, "cold": {...}}}],
//!   "differences": [{"run_id": "261129-035530",
//!                    "bootstrap": {"all": {"auc": {"observed": 0.0108, "low": -0.0051,
//!                                  "high": 0.027, "p_value": 0.19, "resamples": 1000},
//!                                  "uauc": {...}}, "warm": {...}, "cold": {...},
//!                                  "users": 312, "resamples": 1000, "seed": 0},
//!                    "error": null}],
//!   "settings": [{"key": "collm.slots.cf.model", "values": ["mf", "din"]}]
//! }
//! ```
//!
//! `metrics` is null for a run with no evaluation of the split; in `differences`, one entry per
//! run but the baseline, `bootstrap` null and `error` saying why when the runs' scores cannot be
//! paired (none kept, or of different rows).

use std::process::ExitCode;

use anyhow::bail;
use collm_eval::paired::PairedBootstrap;
use collm_eval::Breakdown;
use collm_store::{RunRecord, Store};
use serde::Serialize;

use super::report::{align, number, SplitReport};
use super::Context;
use crate::compare::{interval, significance, source, Target, GROUPS, MEASURES};
use crate::experiment::settings;

/// What `compare` and `ensemble` share: the runs, the split, the bootstrap, the output form.
#[derive(Debug, clap::Args)]
pub struct RunsOnSplit {
    /// The runs (ids, or prefixes that name one run each), two or more. `RUN:PART` names a part
    /// of a CoLLM run as its final evaluation scored it: `RUN:cf` its foundation alone,
    /// `RUN:stage1` its first stage's best weights (TALLRec, in a two-stage run).
    #[arg(required = true, num_args = 2..)]
    pub runs: Vec<String>,
    /// The split whose evaluations and kept per-row scores are read.
    #[arg(long, default_value = "valid")]
    pub split: String,
    /// Bootstrap resamples of users for the intervals and p-values; 0 leaves them out.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Seed of the resampling, so that a comparison repeats to the digit.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// A run or a part of one (see [`Target`]) with its run's record.
pub struct Named {
    pub target: Target,
    pub record: RunRecord,
}

impl Named {
    /// The column header: `261129-011202` or `261129-011202:stage1`.
    pub fn label(&self) -> String {
        self.target.to_string()
    }

    /// The run's name, and the part's when one is named.
    pub fn name(&self) -> String {
        match &self.target.part {
            Some(part) => format!("{} ({part})", self.record.name),
            None => self.record.name.clone(),
        }
    }

    /// The evaluation of `split` this target is judged by.
    pub fn result_on(&self, split: &str) -> Option<&collm_store::EvalPoint> {
        self.target.result_on(&self.record, split)
    }
}

impl RunsOnSplit {
    /// The runs and parts, in the order named; naming one twice is an error.
    pub fn targets(&self, store: &Store) -> anyhow::Result<Vec<Named>> {
        let mut named: Vec<Named> = Vec::new();
        for text in &self.runs {
            let (target, record) = Target::resolve(store, text)?;
            if named.iter().any(|n| n.target == target) {
                bail!("{target} is named twice");
            }
            named.push(Named { target, record });
        }
        Ok(named)
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub on: RunsOnSplit,
    /// The run (or `RUN:PART`) the others are measured against (default: the first).
    #[arg(long)]
    pub baseline: Option<String>,
}

#[derive(Debug, Serialize)]
struct Comparison {
    split: String,
    baseline: String,
    resamples: usize,
    seed: u64,
    runs: Vec<RunColumn>,
    differences: Vec<RunDifference>,
    settings: Vec<SettingRow>,
}

#[derive(Debug, Serialize)]
struct RunColumn {
    run_id: String,
    experiment: String,
    status: String,
    from: String,
    metrics: Option<SplitReport>,
}

#[derive(Debug, Serialize)]
struct RunDifference {
    run_id: String,
    bootstrap: Option<PairedBootstrap>,
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct SettingRow {
    key: String,
    values: Vec<Option<String>>,
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = Store::open(&ctx.store_dir)?;
    let records = args.on.targets(&store)?;
    let base_index = match &args.baseline {
        None => 0,
        Some(text) => {
            let (base, _) = Target::resolve(&store, text)?;
            records
                .iter()
                .position(|r| r.target == base)
                .ok_or_else(|| {
                    anyhow::anyhow!("the baseline {base} is not among the runs compared")
                })?
        }
    };
    let comparison = compare(&store, &records, base_index, &args);
    if args.on.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print!("{}", describe(&comparison, &records, base_index));
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(store: &Store, records: &[Named], base_index: usize, args: &Args) -> Comparison {
    let base = &records[base_index];
    let runs = records
        .iter()
        .map(|r| {
            let eval = r.result_on(&args.on.split);
            RunColumn {
                run_id: r.label(),
                experiment: r.record.name.clone(),
                status: r.record.status.to_string(),
                from: source(eval),
                metrics: eval.map(|e| (&e.metrics).into()),
            }
        })
        .collect();
    let others: Vec<Target> = records
        .iter()
        .filter(|r| r.target != base.target)
        .map(|r| r.target.clone())
        .collect();
    let differences = if args.on.resamples == 0 {
        others
            .iter()
            .map(|id| (id.clone(), Err("not asked for (--resamples 0)".to_string())))
            .collect()
    } else {
        significance(
            store,
            &args.on.split,
            &base.target,
            &others,
            args.on.resamples,
            args.on.seed,
        )
    };
    let differences = differences
        .into_iter()
        .map(|(id, result)| {
            let (bootstrap, error) = match result {
                Ok(b) => (Some(b), None),
                Err(e) => (None, Some(e)),
            };
            RunDifference {
                run_id: id.to_string(),
                bootstrap,
                error,
            }
        })
        .collect();
    let texts: Vec<&str> = records
        .iter()
        .map(|r| r.record.experiment.as_str())
        .collect();
    let settings = settings::diff(&texts)
        .into_iter()
        .map(|(key, values)| SettingRow { key, values })
        .collect();
    Comparison {
        split: args.on.split.clone(),
        baseline: base.label(),
        resamples: args.on.resamples,
        seed: args.on.seed,
        runs,
        differences,
        settings,
    }
}

/// The comparison for people: the metric table, the bootstrap table, the settings that differ.
fn describe(c: &Comparison, records: &[Named], base_index: usize) -> String {
    let base = &records[base_index];
    let mut out = format!(
        "split {}, baseline {} {}\n\n",
        c.split,
        base.label(),
        base.name()
    );
    let mut rows = vec![
        std::iter::once(String::new())
            .chain(records.iter().map(Named::label))
            .collect::<Vec<_>>(),
        std::iter::once(String::new())
            .chain(records.iter().map(Named::name))
            .collect(),
        std::iter::once("from".to_string())
            .chain(c.runs.iter().map(|r| r.from.clone()))
            .collect(),
    ];
    let evals: Vec<Option<&Breakdown>> = records
        .iter()
        .map(|r| r.result_on(&c.split).map(|e| &e.metrics))
        .collect();
    rows.extend(metric_rows(&evals, base_index));
    out.push_str(&align(&rows));

    if c.resamples > 0 {
        out.push_str(&format!(
            "\nAgainst the baseline, paired over users ({} resamples, seed {}): the difference, \
             its 95% interval, two-sided p\n",
            c.resamples, c.seed
        ));
        let mut rows = difference_header();
        let mut errors: Vec<String> = Vec::new();
        for d in &c.differences {
            match (&d.bootstrap, &d.error) {
                (Some(b), _) => rows.extend(difference_rows(&d.run_id, b)),
                // The same reason for every run (the baseline's scores are missing) is said once.
                (None, error) => {
                    let error = error.clone().unwrap_or_default();
                    if !errors.contains(&error) {
                        errors.push(error);
                    }
                }
            }
        }
        if rows.len() > 1 {
            out.push_str(&align(&rows));
        }
        for error in errors {
            out.push_str(&format!("  {error}\n"));
        }
    }

    out.push_str(&format!("\nSettings that differ ({})\n", c.settings.len()));
    let mut rows = vec![std::iter::once("setting".to_string())
        .chain(records.iter().map(Named::label))
        .collect::<Vec<_>>()];
    rows.extend(c.settings.iter().map(|s| {
        std::iter::once(s.key.clone())
            .chain(s.values.iter().map(|v| clip(v.as_deref().unwrap_or("-"))))
            .collect()
    }));
    out.push_str(&align(&rows));
    out
}

/// The metric rows of a table with one column per breakdown: each value, and for columns other
/// than `base_index` the difference from it.
pub(super) fn metric_rows(columns: &[Option<&Breakdown>], base_index: usize) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for (group, pick) in GROUPS {
        for m in &MEASURES {
            let value = |i: usize| columns[i].and_then(|b| (m.get)(pick(b)));
            let mut row = vec![format!("{group} {}", m.label)];
            for i in 0..columns.len() {
                let mut cell = match m.higher_is_better {
                    None => value(i).map_or_else(|| "-".into(), |v| format!("{v:.0}")),
                    Some(_) => number(value(i)),
                };
                if let (Some(v), Some(b), Some(_), true) = (
                    value(i),
                    value(base_index),
                    m.higher_is_better,
                    i != base_index,
                ) {
                    cell.push_str(&format!(" {:+.4}", v - b));
                }
                row.push(cell);
            }
            rows.push(row);
        }
    }
    rows
}

/// The header of a table of bootstrap differences.
pub(super) fn difference_header() -> Vec<Vec<String>> {
    vec![["run", "group", "AUC", "UAUC"].map(String::from).to_vec()]
}

/// One run's bootstrap differences: a row per group, the run named on the first.
pub(super) fn difference_rows(run: &str, b: &PairedBootstrap) -> Vec<Vec<String>> {
    b.groups()
        .into_iter()
        .enumerate()
        .map(|(i, (group, diff))| {
            vec![
                if i == 0 {
                    run.to_string()
                } else {
                    String::new()
                },
                group.to_string(),
                interval(diff.auc.as_ref()),
                interval(diff.uauc.as_ref()),
            ]
        })
        .collect()
}

/// A setting's value cut to a column's width (descriptions run long); `--json` has it whole.
fn clip(value: &str) -> String {
    const WIDTH: usize = 40;
    if value.chars().count() <= WIDTH {
        value.to_string()
    } else {
        value.chars().take(WIDTH - 1).chain(['…']).collect()
    }
}
