//! Runs side by side on one split: which evaluation each run is judged by, the metric rows
//! (all / warm / cold x AUC, UAUC, logloss, rows, users) read against a baseline, and the paired
//! bootstrap of the runs' kept per-row scores that says whether a difference is more than noise.
//! `collm compare` prints this; the TUI's metrics view draws it.

use collm_eval::paired::{paired_bootstrap, Difference, PairedBootstrap, PairingError};
use collm_eval::predictions::{read_predictions, Prediction};
use collm_eval::{Breakdown, Metrics, ScoredRow};
use collm_store::{EvalPoint, RunId, Store, FINAL_STAGE};

use crate::runner::predictions::predictions_path;

/// One metric row: its label, how to read it, and whether higher is better (`None`: a count).
#[derive(Debug)]
pub struct Measure {
    pub label: &'static str,
    pub get: fn(&Metrics) -> Option<f64>,
    pub higher_is_better: Option<bool>,
}

pub const MEASURES: [Measure; 5] = [
    Measure {
        label: "AUC",
        get: |m| m.auc,
        higher_is_better: Some(true),
    },
    Measure {
        label: "UAUC",
        get: |m| m.uauc,
        higher_is_better: Some(true),
    },
    Measure {
        label: "logloss",
        get: |m| m.logloss,
        higher_is_better: Some(false),
    },
    Measure {
        label: "rows",
        get: |m| Some(m.rows as f64),
        higher_is_better: None,
    },
    Measure {
        label: "users",
        get: |m| Some(m.users_counted as f64),
        higher_is_better: None,
    },
];

/// A group of rows by name, and where its metrics sit in a breakdown.
pub type Group = (&'static str, fn(&Breakdown) -> &Metrics);

pub const GROUPS: [Group; 3] = [
    ("all", |b| &b.all),
    ("warm", |b| &b.warm),
    ("cold", |b| &b.cold),
];

/// Where an evaluation came from, as a column header shows it: `final` (the best weights'
/// final evaluation), `stage-1 step 80` (the best seen during training), or `no result`.
pub fn source(eval: Option<&EvalPoint>) -> String {
    match eval {
        Some(e) if e.stage == FINAL_STAGE => "final".to_string(),
        Some(e) => format!("{} step {}", e.stage, e.step),
        None => "no result".to_string(),
    }
}

/// A run's kept final predictions of `split`, or why there are none.
pub fn kept_predictions(store: &Store, id: &RunId, split: &str) -> Result<Vec<Prediction>, String> {
    let path = predictions_path(&store.run_dir(id), split);
    if !path.is_file() {
        return Err(format!(
            "run {id} keeps no per-row scores of `{split}` (it has not finished, finished before \
             runs kept them, or did not evaluate {split}); `collm eval {id} --split {split} \
             --predictions` makes them"
        ));
    }
    read_predictions(&path).map_err(|e| e.to_string())
}

/// Each of `others` against `base` on their kept scores of `split` (user resamples drawn from
/// `seed`), or why it cannot be measured. The baseline's scores are read once; without them
/// every run gets that reason.
pub fn significance(
    store: &Store,
    split: &str,
    base: &RunId,
    others: &[RunId],
    resamples: usize,
    seed: u64,
) -> Vec<(RunId, Result<PairedBootstrap, String>)> {
    let base_rows = kept_predictions(store, base, split);
    others
        .iter()
        .map(|other| {
            let result = base_rows
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|base_rows| {
                    let other_rows = kept_predictions(store, other, split)?;
                    paired(base_rows, &other_rows, resamples, seed)
                        .map_err(|e| format!("runs {base} and {other} on `{split}`: {e}"))
                });
            (other.clone(), result)
        })
        .collect()
}

/// The paired bootstrap of two runs' predictions, once every row is the same row in both: the
/// item too, which the scores the bootstrap reads do not carry.
fn paired(
    base: &[Prediction],
    other: &[Prediction],
    resamples: usize,
    seed: u64,
) -> Result<PairedBootstrap, PairingError> {
    if let Some(row) = base.iter().zip(other).position(|(a, b)| a.row() != b.row()) {
        return Err(PairingError::Mismatch { row });
    }
    let scored =
        |p: &[Prediction]| -> Vec<ScoredRow> { p.iter().map(Prediction::scored).collect() };
    paired_bootstrap(&scored(base), &scored(other), resamples, seed)
}

/// `+0.0108 [-0.0051, +0.0270] p=0.190`, or `-` when the metric is undefined on the group.
pub fn interval(d: Option<&Difference>) -> String {
    d.map_or_else(
        || "-".into(),
        |d| {
            format!(
                "{:+.4} [{:+.4}, {:+.4}] {}",
                d.observed,
                d.low,
                d.high,
                p_value(d.p_value, d.resamples)
            )
        },
    )
}

/// A p-value to the resolution the resamples give: `p<0.001` rather than a bare 0.
fn p_value(p: f64, resamples: usize) -> String {
    let floor = 1.0 / resamples.max(1) as f64;
    if p < floor && floor >= 1e-3 {
        format!("p<{floor:.3}")
    } else if p < floor {
        format!("p<{floor:.0e}")
    } else {
        format!("p={p:.3}")
    }
}
