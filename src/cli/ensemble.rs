//! `collm ensemble <run> <run>...`: the runs' kept scores of one split combined (a weighted mean
//! of probabilities on the rows every run scored), its metrics beside each run's on those rows,
//! and whether the ensemble beats each run (the paired bootstrap of `collm compare`). The paper's
//! "ensemble MF + CoLLM-MF" row: does a CoLLM run add anything to its own foundation
//! (`collm ensemble RUN:cf RUN`)?
//!
//! With `--json`, one object: `{"split", "weights", "rows", "members": [{"run_id", "experiment",
//! "rows_kept", "metrics"}], "ensemble": {"metrics"}, "differences": [{"run_id", "bootstrap"}],
//! "resamples", "seed"}`; `metrics` as in [`super::report`], `bootstrap` as in `collm compare`
//! (the ensemble minus the run), absent with `--resamples 0`.

use std::process::ExitCode;

use anyhow::ensure;
use collm_eval::ensemble::{common_rows, mean_probability};
use collm_eval::paired::{paired_bootstrap, PairedBootstrap};
use collm_eval::predictions::Prediction;
use collm_eval::{evaluate, Breakdown};
use collm_store::Store;
use serde::Serialize;

use super::compare::{difference_header, difference_rows, metric_rows, Named, RunsOnSplit};
use super::report::{align, plural, SplitReport};
use super::Context;
use crate::compare::kept_predictions;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub on: RunsOnSplit,
    /// One weight per run, comma-separated (normalised); equal weights by default.
    #[arg(long, value_delimiter = ',')]
    pub weights: Vec<f64>,
}

#[derive(Debug, Serialize)]
struct Ensemble {
    split: String,
    weights: Vec<f64>,
    /// Rows every run scored: the rows everything below is measured on.
    rows: usize,
    members: Vec<Member>,
    ensemble: Combined,
    differences: Vec<Difference>,
    resamples: usize,
    seed: u64,
}

#[derive(Debug, Serialize)]
struct Member {
    run_id: String,
    experiment: String,
    /// Rows the run kept scores of (before keeping only the common ones).
    rows_kept: usize,
    metrics: SplitReport,
}

#[derive(Debug, Serialize)]
struct Combined {
    metrics: SplitReport,
}

#[derive(Debug, Serialize)]
struct Difference {
    run_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    bootstrap: Option<PairedBootstrap>,
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    let store = Store::open_existing(&ctx.store_dir)?;
    let on = &args.on;
    let records = on.targets(&store)?;
    super::compare::check_split_known(&store, &records, &on.split)?;
    let kept = records
        .iter()
        .map(|r| kept_predictions(&store, &r.target, &on.split).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<Vec<Prediction>>>>()?;
    // (A score that is not finite, which would poison the mean of every row it is in, is
    // refused as the file is read, at its line.)
    let weights = if args.weights.is_empty() {
        vec![1.0; records.len()]
    } else {
        args.weights.clone()
    };
    ensure!(
        weights.len() == records.len(),
        "--weights: {} for {} runs; give one weight per run, in the runs' order",
        plural(weights.len(), "weight"),
        records.len()
    );
    ensure!(
        weights.iter().all(|w| w.is_finite() && *w >= 0.0) && weights.iter().sum::<f64>() > 0.0,
        "--weights: each weight must be a finite number >= 0, and not all 0"
    );
    let aligned = common_rows(&kept);
    let rows = aligned[0].len();
    ensure!(
        rows > 0,
        "the runs scored no row in common on `{}` (rows kept: {})",
        on.split,
        kept.iter()
            .map(|k| k.len().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let member_rows: Vec<Vec<collm_eval::ScoredRow>> = aligned
        .iter()
        .map(|m| m.iter().map(Prediction::scored).collect())
        .collect();
    let combined = mean_probability(&aligned, &weights);
    let member_metrics: Vec<Breakdown> = member_rows.iter().map(|m| evaluate(m)).collect();
    let combined_metrics = evaluate(&combined);
    let differences = records
        .iter()
        .zip(&member_rows)
        .map(|(r, m)| Difference {
            run_id: r.label(),
            // The rows pair by construction and every score is a number (checked above).
            bootstrap: (on.resamples > 0).then(|| {
                paired_bootstrap(m, &combined, on.resamples, on.seed)
                    .expect("the ensemble's rows are the members' rows, with finite scores")
            }),
        })
        .collect();
    let report = Ensemble {
        split: on.split.clone(),
        weights,
        rows,
        members: records
            .iter()
            .zip(&kept)
            .zip(&member_metrics)
            .map(|((r, k), m)| Member {
                run_id: r.label(),
                experiment: r.name(),
                rows_kept: k.len(),
                metrics: m.into(),
            })
            .collect(),
        ensemble: Combined {
            metrics: (&combined_metrics).into(),
        },
        differences,
        resamples: on.resamples,
        seed: on.seed,
    };
    if on.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!(
            "{}",
            describe(&report, &records, &member_metrics, &combined_metrics)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The ensemble for people: each run and the ensemble on the common rows, then the bootstrap.
fn describe(
    e: &Ensemble,
    records: &[Named],
    members: &[Breakdown],
    combined: &Breakdown,
) -> String {
    let kept: Vec<String> = e.members.iter().map(|m| m.rows_kept.to_string()).collect();
    let mut out = format!(
        "ensemble on {}: the mean probability (weights {}) on the {} rows every run scored \
         (rows kept: {}); beside each run's value, run − ensemble\n\n",
        e.split,
        e.weights
            .iter()
            .map(|w| crate::experiment::settings::format_float(*w))
            .collect::<Vec<_>>()
            .join(", "),
        e.rows,
        kept.join(", ")
    );
    let mut header = vec![String::new()];
    header.extend(records.iter().map(Named::label));
    header.push("ensemble".into());
    let mut names = vec![String::new()];
    names.extend(records.iter().map(Named::name));
    names.push(String::new());
    let mut columns: Vec<Option<&Breakdown>> = members.iter().map(Some).collect();
    columns.push(Some(combined));
    // Each run's column shows its difference from the ensemble (the last column).
    let mut rows = vec![header, names];
    rows.extend(metric_rows(&columns, columns.len() - 1));
    out.push_str(&align(&rows));
    if e.resamples > 0 {
        out.push_str(&format!(
            "\nThe ensemble against each run, paired over users ({} resamples, seed {}): the \
             difference ensemble − run, its 95% interval, two-sided p\n",
            e.resamples, e.seed
        ));
        let mut rows = difference_header();
        for d in &e.differences {
            if let Some(b) = &d.bootstrap {
                rows.extend(difference_rows(&d.run_id, b));
            }
        }
        out.push_str(&align(&rows));
    }
    out
}
