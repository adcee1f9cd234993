//! Evaluation metrics: AUC, UAUC and logloss over scored rows, broken down into all, warm and cold.
//!
//! Scores are raw logits (the reference's `s`); AUC is rank-based so logits and sigmoid
//! probabilities give the same value. See `../shared/docs/collm-spec.md` §5. Top-K metrics under
//! a sampled-negatives protocol live in [`ranking`]; whether one run beats another on the same
//! rows, in [`paired`]; per-row scores as a file, in [`predictions`]; several runs' scores
//! combined, in [`ensemble`].

mod auc;
pub mod ensemble;
mod logloss;
pub mod paired;
pub mod predictions;
pub mod ranking;

pub use auc::{auc, uauc, UserAuc};
pub use logloss::logloss;

use serde::{Deserialize, Serialize};

/// One evaluated row: who, the truth, the model's raw logit, and whether the row is warm
/// (user and item both seen in train).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScoredRow {
    pub uid: u32,
    pub label: u8,
    pub logit: f32,
    pub warm: bool,
}

/// The metrics of one group of rows.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// Global AUC; `None` when the group has a single class or no rows.
    pub auc: Option<f64>,
    /// Unweighted mean of per-user AUC over users with >= 2 rows and both classes.
    pub uauc: Option<f64>,
    /// Mean BCE of sigmoid(logit) against the label.
    pub logloss: Option<f64>,
    pub rows: usize,
    /// Users that entered UAUC.
    pub users_counted: usize,
}

/// Metrics on all rows, warm rows and cold rows of one split.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Breakdown {
    pub all: Metrics,
    pub warm: Metrics,
    pub cold: Metrics,
}

impl Metrics {
    /// The mean of several runs' metrics of one group of rows (the same setting over seeds): a
    /// metric undefined for any run is undefined; the counts are the runs' mean, rounded.
    pub fn mean(of: &[&Metrics]) -> Metrics {
        let n = of.len() as f64;
        let mean = |get: fn(&Metrics) -> Option<f64>| -> Option<f64> {
            of.iter()
                .map(|m| get(m))
                .sum::<Option<f64>>()
                .filter(|_| !of.is_empty())
                .map(|sum| sum / n)
        };
        let count = |get: fn(&Metrics) -> usize| -> usize {
            (of.iter().map(|m| get(m) as f64).sum::<f64>() / n.max(1.0)).round() as usize
        };
        Metrics {
            auc: mean(|m| m.auc),
            uauc: mean(|m| m.uauc),
            logloss: mean(|m| m.logloss),
            rows: count(|m| m.rows),
            users_counted: count(|m| m.users_counted),
        }
    }
}

impl Breakdown {
    /// Each group's [`Metrics::mean`].
    pub fn mean(of: &[&Breakdown]) -> Breakdown {
        let group = |get: fn(&Breakdown) -> &Metrics| {
            Metrics::mean(&of.iter().map(|b| get(b)).collect::<Vec<_>>())
        };
        Breakdown {
            all: group(|b| &b.all),
            warm: group(|b| &b.warm),
            cold: group(|b| &b.cold),
        }
    }
}

/// AUC, UAUC and logloss of one group of rows.
pub fn metrics(rows: &[ScoredRow]) -> Metrics {
    let labels: Vec<u8> = rows.iter().map(|r| r.label).collect();
    let logits: Vec<f32> = rows.iter().map(|r| r.logit).collect();
    let users = uauc(rows);
    Metrics {
        auc: auc(&labels, &logits),
        uauc: users.uauc,
        logloss: logloss(&labels, &logits),
        rows: rows.len(),
        users_counted: users.users_counted,
    }
}

/// Metrics on all rows and on the warm and cold subsets.
pub fn evaluate(rows: &[ScoredRow]) -> Breakdown {
    let (warm, cold): (Vec<ScoredRow>, Vec<ScoredRow>) = rows.iter().partition(|r| r.warm);
    Breakdown {
        all: metrics(rows),
        warm: metrics(&warm),
        cold: metrics(&cold),
    }
}

#[cfg(test)]
mod tests;
