//! `collm compare <run> <run>...`: runs side by side on one split, headless. The metrics with
//! their differences from a baseline (the first run unless `--baseline`), whether each
//! difference is more than noise (a paired bootstrap over users of the kept per-row scores),
//! and the settings that differ. A run may be named `RUN:PART` for a part of a CoLLM run
//! ([`Target`]); its `run_id` below is then written so, and `from` says `final-<part>`. A
//! column may be several runs, `A,B,C`: the same setting over seeds, shown as their mean and
//! paired with the baseline's runs in order ([`Column`]); its `run_id` is written so, and
//! `varies_within` lists the settings that differ inside a column (the seeds).
//! With `--json`, one object:
//!
//! ```json
//! {
//!   "split": "valid", "baseline": "261129-011202", "resamples": 1000, "seed": 0,
//!   "runs": [{"run_id": "261129-011202", "experiment": "collm-mf-ml1m", "status": "finished",
//!             "from": "final", "metrics": {"all": {...}, "warm": {...}, "cold": {...}}}],
//!   "differences": [{"run_id": "261129-035530",
//!                    "bootstrap": {"all": {"auc": {"observed": 0.0108, "low": -0.0051,
//!                                  "high": 0.027, "p_value": 0.19, "resamples": 1000,
//!                                  "users": 72},
//!                                  "uauc": {...}}, "warm": {...}, "cold": {...},
//!                                  "users": 312, "resamples": 1000, "seed": 0},
//!                    "error": null}],
//!   "settings": [{"key": "collm.slots.cf.model", "values": ["mf", "din"]}],
//!   "varies_within": []
//! }
//! ```
//!
//! `metrics` is null for a run with no evaluation of the split; in `differences`, one entry per
//! run but the baseline, `bootstrap` null and `error` saying why when the runs' scores cannot be
//! paired (none kept, of different rows, or columns of different numbers of runs). The
//! bootstrap's `runs` is the number of runs a side. A difference's `users` is the users it
//! rests on; under `collm_eval::paired::MIN_USERS` its `low`, `high` and `p_value` are null and
//! `resamples` 0.

use std::process::ExitCode;

use anyhow::bail;
use collm_eval::paired::PairedBootstrap;
use collm_eval::Breakdown;
use collm_store::{RunRecord, Store};
use serde::Serialize;

use super::report::{align, SplitReport};
use super::Context;
use crate::compare::{
    column_header, column_label, column_metrics, column_name, interval, kept_metrics, measured,
    significance, source, training_source, Target, GROUPS, MEASURES,
};
use crate::experiment::settings;
use crate::runner::predictions::predictions_path;
use crate::text::metric;

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
    /// Bootstrap resamples of users for the intervals and p-values (100 to 1,000,000); 0
    /// leaves them out.
    #[arg(long, default_value_t = 1000, value_parser = resamples)]
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
        column_name(&[&self.record.name], self.target.part.as_deref())
    }

    /// Its metrics on `split` and where they come from (see [`measured`]).
    fn measured_on(&self, store: &Store, split: &str) -> Option<(Breakdown, String)> {
        measured(&self.target, &self.record, split, |t| {
            kept_metrics(store, t, split)
        })
    }

    /// Where its metrics on `split` come from, `no result` when it has none.
    fn source_on(&self, store: &Store, split: &str) -> String {
        self.measured_on(store, split)
            .map_or_else(|| source(None), |(_, from)| from)
    }
}

/// One column of `collm compare`: a run (or part), or `A,B,C`, the same setting run with
/// several seeds. Its metrics are its runs' means; its difference from the baseline is paired
/// run by run, in the order named (so name the seeds in the same order in every column).
pub struct Column {
    pub members: Vec<Named>,
}

impl Column {
    /// The table header: `261129-011202`, or `261204-232639+2` for a column of three runs.
    pub fn label(&self) -> String {
        column_header(&self.targets())
    }

    /// The column as the command line names it: `A` or `A,B,C`.
    pub fn full_label(&self) -> String {
        column_label(&self.targets())
    }

    /// See [`column_name`].
    pub fn name(&self) -> String {
        let names: Vec<&str> = self
            .members
            .iter()
            .map(|m| m.record.name.as_str())
            .collect();
        let part = self.distinct(|m| m.target.part.clone().unwrap_or_default());
        column_name(&names, Some(part.as_str()).filter(|p| !p.is_empty()))
    }

    pub fn targets(&self) -> Vec<Target> {
        self.members.iter().map(|m| m.target.clone()).collect()
    }

    /// The mean of the runs' metrics on `split` (see [`column_metrics`]).
    pub fn metrics_on(&self, store: &Store, split: &str) -> anyhow::Result<Option<Breakdown>> {
        column_metrics(
            self.members.iter().map(|m| (&m.target, &m.record)),
            split,
            |t| kept_metrics(store, t, split),
        )
        .map_err(anyhow::Error::msg)
    }

    /// The members' values of `get`, each distinct one once, joined by ` / `.
    fn distinct(&self, get: impl Fn(&Named) -> String) -> String {
        let mut seen: Vec<String> = Vec::new();
        for value in self.members.iter().map(get) {
            if !seen.contains(&value) {
                seen.push(value);
            }
        }
        seen.join(" / ")
    }
}

impl RunsOnSplit {
    /// The runs and parts, in the order named; naming one twice is an error. A group `A,B` is
    /// `collm compare`'s alone.
    pub fn targets(&self, store: &Store) -> anyhow::Result<Vec<Named>> {
        let mut named = Vec::new();
        for column in self.columns(store)? {
            if column.members.len() > 1 {
                bail!(
                    "`{}`: a column of several runs is for `collm compare`; name each run on \
                     its own",
                    column.full_label()
                );
            }
            named.extend(column.members);
        }
        Ok(named)
    }

    /// The columns, in the order named (`A` or `A,B,C` each); naming a run twice is an error.
    pub fn columns(&self, store: &Store) -> anyhow::Result<Vec<Column>> {
        let mut columns: Vec<Column> = Vec::new();
        for text in &self.runs {
            let column = resolve_column(store, text)?;
            for member in &column.members {
                let again = columns.iter().chain([&column]).flat_map(|c| &c.members);
                if again.filter(|n| n.target == member.target).count() > 1 {
                    bail!("{} is named twice", member.target);
                }
            }
            columns.push(column);
        }
        Ok(columns)
    }
}

/// `A` or `A,B,C`, each resolved in the store.
fn resolve_column(store: &Store, text: &str) -> anyhow::Result<Column> {
    let members = text
        .split(',')
        .map(|run| {
            let (target, record) = Target::resolve(store, run.trim())?;
            Ok(Named { target, record })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Column { members })
}

#[derive(Debug, clap::Args)]
#[command(mut_arg("runs", |a| a.help(
    "The columns: runs (ids, or prefixes that name one run each), two or more. `RUN:PART` names \
     a part of a CoLLM run as its final evaluation scored it: `RUN:cf` its foundation alone, \
     `RUN:stage1` its first stage's best weights (TALLRec, in a two-stage run). `A,B,C` is one \
     column: the same setting over seeds, shown as the runs' mean and paired with another such \
     column run by run (name the seeds in the same order in every column)"
)))]
pub struct Args {
    #[command(flatten)]
    pub on: RunsOnSplit,
    /// The run (or `RUN:PART`, or column `A,B,C`) the others are measured against (default: the
    /// first).
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
    /// Settings that differ between the runs of one column (its seeds).
    varies_within: Vec<String>,
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
    let store = Store::open_existing(&ctx.store_dir)?;
    let columns = args.on.columns(&store)?;
    let base_index = match &args.baseline {
        None => 0,
        Some(text) => {
            let base = resolve_column(&store, text)?.targets();
            columns
                .iter()
                .position(|c| c.targets() == base)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the baseline {} is not among the columns compared",
                        column_label(&base)
                    )
                })?
        }
    };
    let means: Vec<Option<Breakdown>> = columns
        .iter()
        .map(|c| c.metrics_on(&store, &args.on.split))
        .collect::<anyhow::Result<_>>()?;
    check_split_known(
        &store,
        columns.iter().flat_map(|c| &c.members),
        &args.on.split,
    )?;
    let comparison = compare(&store, &columns, &means, base_index, &args);
    if args.on.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print!("{}", describe(&comparison, &columns, &means, base_index));
    }
    Ok(ExitCode::SUCCESS)
}

/// A split that none of `runs` evaluates, or has evaluated, is a typo, not a column of dashes
/// (`compare`) or a hint to score it (`ensemble`): refused, naming the splits they have. (A
/// split only some of them have, that a running run has not reached yet, or that `collm eval`
/// kept scores of, is let through.)
pub(super) fn check_split_known<'a>(
    store: &Store,
    runs: impl IntoIterator<Item = &'a Named>,
    split: &str,
) -> anyhow::Result<()> {
    let mut known: Vec<String> = Vec::new();
    for Named { target, record } in runs {
        // Scores `collm eval --split SPLIT --predictions` kept count too.
        let run_dir = store.run_dir(&target.run);
        if predictions_path(&run_dir, split, target.part.as_deref()).is_file() {
            return Ok(());
        }
        let planned: Vec<String> = crate::experiment::Experiment::of_run(record)
            .map(|e| e.splits_used().into_iter().map(|(_, s)| s).collect())
            .unwrap_or_default();
        for name in record.best.iter().map(|e| &e.split).chain(&planned) {
            if name == split {
                return Ok(());
            }
            if !known.contains(name) {
                known.push(name.clone());
            }
        }
    }
    known.sort_unstable();
    if known.is_empty() {
        known.push("none yet".into());
    }
    bail!(
        "none of the runs named evaluates split `{split}` (they evaluate: {})",
        known.join(", ")
    )
}

/// `means`: each column's metrics on the split (a column of several runs: their mean).
fn compare(
    store: &Store,
    columns: &[Column],
    means: &[Option<Breakdown>],
    base_index: usize,
    args: &Args,
) -> Comparison {
    let split = &args.on.split;
    let base = &columns[base_index];
    let runs = columns
        .iter()
        .zip(means)
        .map(|(c, mean)| RunColumn {
            run_id: c.full_label(),
            experiment: c.name(),
            status: c.distinct(|m| m.record.status.to_string()),
            from: c.distinct(|m| m.source_on(store, split)),
            metrics: mean.as_ref().map(Into::into),
        })
        .collect();
    let others: Vec<&Column> = columns
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != base_index)
        .map(|(_, c)| c)
        .collect();
    let results = if args.on.resamples == 0 {
        others
            .iter()
            .map(|_| Err("not asked for (--resamples 0)".to_string()))
            .collect()
    } else {
        let targets: Vec<Vec<Target>> = others.iter().map(|c| c.targets()).collect();
        significance(
            store,
            split,
            &base.targets(),
            &targets,
            args.on.resamples,
            args.on.seed,
        )
    };
    let differences = others
        .iter()
        .zip(results)
        .map(|(column, result)| {
            let (bootstrap, error) = match result {
                Ok(b) => (Some(b), None),
                Err(e) => (None, Some(e)),
            };
            RunDifference {
                run_id: column.full_label(),
                bootstrap,
                error,
            }
        })
        .collect();
    let heads: Vec<&str> = columns
        .iter()
        .map(|c| c.members[0].record.experiment.as_str())
        .collect();
    let settings = settings::diff(&heads)
        .into_iter()
        .map(|(key, values)| SettingRow { key, values })
        .collect();
    let mut varies_within: Vec<String> = columns
        .iter()
        .flat_map(|c| {
            let texts: Vec<&str> = c
                .members
                .iter()
                .map(|m| m.record.experiment.as_str())
                .collect();
            settings::diff(&texts)
        })
        .map(|(key, _)| key)
        .filter(|key| key != "name")
        .collect();
    varies_within.sort();
    varies_within.dedup();
    Comparison {
        split: split.clone(),
        baseline: base.full_label(),
        resamples: args.on.resamples,
        seed: args.on.seed,
        runs,
        differences,
        settings,
        varies_within,
    }
}

/// The comparison for people: the metric table, the bootstrap table, the settings that differ.
fn describe(
    c: &Comparison,
    columns: &[Column],
    means: &[Option<Breakdown>],
    base_index: usize,
) -> String {
    let base = &columns[base_index];
    let mut out = format!(
        "split {}, baseline {} {}\n",
        c.split,
        base.label(),
        base.name()
    );
    let grouped: Vec<&Column> = columns.iter().filter(|c| c.members.len() > 1).collect();
    for column in &grouped {
        out.push_str(&format!(
            "  {} is the mean of {}\n",
            column.label(),
            column.full_label()
        ));
    }
    out.push('\n');
    let mut rows = vec![
        std::iter::once(String::new())
            .chain(columns.iter().map(Column::label))
            .collect::<Vec<_>>(),
        std::iter::once(String::new())
            .chain(columns.iter().map(Column::name))
            .collect(),
        std::iter::once("from".to_string())
            .chain(c.runs.iter().map(|r| r.from.clone()))
            .collect(),
    ];
    let evals: Vec<Option<&Breakdown>> = means.iter().map(Option::as_ref).collect();
    rows.extend(metric_rows(&evals, base_index));
    out.push_str(&align(&rows));
    // A run judged by a stage's evaluation (it has not finished) or by another sample of the
    // split: its differences are not of the same rows, so not like for like.
    let mut counts: Vec<usize> = evals.iter().flatten().map(|b| b.all.rows).collect();
    counts.dedup();
    if counts.len() > 1 {
        out.push_str(&format!(
            "  note: the columns scored different numbers of rows of {} ({}): their differences \
             are not of the same rows\n",
            c.split,
            evals
                .iter()
                .map(|b| b.map_or("-".to_string(), |b| b.all.rows.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    for run in c.runs.iter().filter(|r| r.status == "finished") {
        if let Some(from) = training_source(&run.from) {
            out.push_str(&format!(
                "  note: {} finished without final scores of {split} by its best weights: its \
                 numbers are its {from} evaluation, during training, of a sample of {split} its \
                 seed drew (another seed draws other rows); `collm eval {} --split {split} \
                 --predictions` scores its final weights on {split} as a final evaluation does \
                 (all of it, or the `[evaluation] rows` sample every seed shares)\n",
                run.run_id,
                run.run_id.split(',').next().unwrap_or_default(),
                split = c.split,
            ));
        }
    }

    if c.resamples > 0 {
        let over = if grouped.is_empty() {
            "paired over users".to_string()
        } else {
            "paired over users and over the columns' runs, i-th with i-th".to_string()
        };
        out.push_str(&format!(
            "\nAgainst the baseline, {over} ({} resamples, seed {}): the difference, its 95% \
             interval, two-sided p\n",
            c.resamples, c.seed
        ));
        let mut rows = difference_header();
        let mut errors: Vec<String> = Vec::new();
        let others = columns.iter().enumerate().filter(|&(i, _)| i != base_index);
        for ((_, column), d) in others.zip(&c.differences) {
            match (&d.bootstrap, &d.error) {
                (Some(b), _) => rows.extend(difference_rows(&column.label(), b)),
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

    // Parts of one run (`A:cf A:stage1 A`) share every setting: what differs is where each
    // stops along the run's stages, which the table's header already says.
    let runs: Vec<_> = columns
        .iter()
        .flat_map(|c| c.targets())
        .map(|t| t.run)
        .collect();
    let one_run = runs.iter().all(|r| *r == runs[0]);
    let note = if one_run && c.settings.is_empty() {
        ": the columns are parts of one run, trained by one experiment"
    } else {
        ""
    };
    out.push_str(&format!(
        "\nSettings that differ ({}){note}\n",
        c.settings.len()
    ));
    let mut rows = vec![std::iter::once("setting".to_string())
        .chain(columns.iter().map(Column::label))
        .collect::<Vec<_>>()];
    rows.extend(c.settings.iter().map(|s| {
        std::iter::once(s.key.clone())
            .chain(s.values.iter().map(|v| clip(v.as_deref().unwrap_or("-"))))
            .collect()
    }));
    if rows.len() > 1 {
        out.push_str(&align(&rows));
    }
    if !c.varies_within.is_empty() {
        out.push_str(&format!(
            "Within a column (first run's value above): {}\n",
            c.varies_within.join(", ")
        ));
    }
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
                    Some(_) => metric(value(i)),
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
                interval(diff.auc.as_ref(), b.resamples),
                interval(diff.uauc.as_ref(), b.resamples),
            ]
        })
        .collect()
}

/// A setting's value cut to a column's width (descriptions run long); `--json` has it whole.
fn clip(value: &str) -> String {
    crate::text::clip(value, 40)
}

/// `--resamples`: 0, or enough for the 2.5% and 97.5% percentiles to mean something (fewer
/// than 100 leaves them a handful of draws apart) and few enough to end (a million takes about
/// a second per column; 1e12 hung for days).
fn resamples(text: &str) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    if n == 0 || (100..=1_000_000).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{n}: give 0 (no intervals) or 100 to 1,000,000 (1000 by default)"
        ))
    }
}
