//! The one JSON object that `collm run`, `resume`, `eval` and `show` print with `--json`
//! (a contract for scripts; fields are only ever added), and its table form for people.
//!
//! ```json
//! {
//!   "run_id": "250601-143012",
//!   "experiment": "mf-ml1m",
//!   "status": "finished",
//!   "error": null,
//!   "step": 7990,
//!   "duration_s": 61.2,
//!   "splits": {
//!     "valid": {
//!       "all":  {"auc": 0.676, "uauc": 0.619, "logloss": 0.681, "rows": 10401, "users_counted": 282},
//!       "warm": {"auc": 0.729, "uauc": 0.656, "logloss": 0.652, "rows": 8000, "users_counted": 250},
//!       "cold": {"auc": 0.527, "uauc": 0.447, "logloss": 0.744, "rows": 2401, "users_counted": 60}
//!     }
//!   }
//! }
//! ```
//!
//! - `experiment`: the run's name (its experiment's, with a sweep point's values appended:
//!   `mf-ml1m lr=1e-3 seed=1`); `status`: queued, running, finished, failed,
//!   interrupted or cancelled; `error`: why it failed or was interrupted, else null.
//! - `step`: the training step of the weights that were scored (null before any result);
//!   `duration_s`: the run's wall time (null if it never started).
//! - `splits`: per split, the metrics of all rows, warm rows (user and item seen in training)
//!   and cold rows. `auc`, `uauc` and `logloss` are null when undefined (no rows, or one class);
//!   `users_counted` is the number of users that entered UAUC (>= 2 rows, both labels).
//!   For `collm run` and `show` these are the final scores of the best weights on each
//!   `[evaluation]` split; for `collm eval`, the rows it scored, named by the file's stem
//!   (`--data`) or the split (`--split`).
//! - With `[evaluation] ranking = {...}`, each split also has
//!   `"ranking": {"k": 10, "negatives": 100, "positives": 5123, "recall": 0.21, "ndcg": 0.11}`
//!   (Recall@K and NDCG@K of each positive row against sampled negatives, see
//!   `collm_eval::ranking`); the key is absent otherwise.

use std::collections::BTreeMap;

use collm_eval::ranking::RankingMetrics;
use collm_eval::{Breakdown, Metrics};
use collm_store::RunRecord;
use serde::Serialize;

use crate::text::metric;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub experiment: String,
    pub status: String,
    pub error: Option<String>,
    pub step: Option<u64>,
    pub duration_s: Option<f64>,
    pub splits: BTreeMap<String, SplitReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitReport {
    pub all: GroupReport,
    pub warm: GroupReport,
    pub cold: GroupReport,
    /// Only when the experiment has `[evaluation] ranking`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking: Option<RankingMetrics>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    pub auc: Option<f64>,
    pub uauc: Option<f64>,
    pub logloss: Option<f64>,
    pub rows: usize,
    pub users_counted: usize,
}

impl From<&Metrics> for GroupReport {
    fn from(m: &Metrics) -> Self {
        GroupReport {
            auc: m.auc,
            uauc: m.uauc,
            logloss: m.logloss,
            rows: m.rows,
            users_counted: m.users_counted,
        }
    }
}

impl From<&Breakdown> for SplitReport {
    fn from(b: &Breakdown) -> Self {
        SplitReport {
            all: (&b.all).into(),
            warm: (&b.warm).into(),
            cold: (&b.cold).into(),
            ranking: None,
        }
    }
}

impl RunReport {
    /// A run's results: the final evaluations of its best weights.
    pub fn of_run(record: &RunRecord) -> Self {
        let mut report = RunReport::header(record);
        for eval in record.results() {
            report.step = Some(eval.step);
            report
                .splits
                .insert(eval.split.clone(), (&eval.metrics).into());
        }
        for point in &record.ranking {
            if let Some(split) = report.splits.get_mut(&point.split) {
                split.ranking = Some(point.metrics.clone());
            }
        }
        report
    }

    /// The run's identity and state, with no splits yet.
    pub fn header(record: &RunRecord) -> Self {
        RunReport {
            run_id: record.id.to_string(),
            experiment: record.name.clone(),
            status: record.status.to_string(),
            error: record.error.clone(),
            step: None,
            duration_s: record.duration_s(),
            splits: BTreeMap::new(),
        }
    }

    pub fn to_json(&self) -> String {
        // Plain data: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The splits as an aligned table, one line per split and group.
    pub fn table(&self) -> String {
        let mut rows = vec![[
            "split",
            "group",
            "auc",
            "uauc",
            "logloss",
            "rows",
            "uauc_users",
        ]
        .map(String::from)
        .to_vec()];
        for (split, report) in &self.splits {
            for (group, m) in [
                ("all", &report.all),
                ("warm", &report.warm),
                ("cold", &report.cold),
            ] {
                let shown_split = if group == "all" {
                    split.clone()
                } else {
                    String::new()
                };
                rows.push(vec![
                    shown_split,
                    group.to_string(),
                    metric(m.auc),
                    metric(m.uauc),
                    metric(m.logloss),
                    m.rows.to_string(),
                    m.users_counted.to_string(),
                ]);
            }
        }
        align(&rows)
    }
}

/// `1 point`, `4 points`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Left-aligned columns separated by two spaces, without trailing blanks.
pub fn align(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            if c + 1 < row.len() {
                line.push_str(&" ".repeat(widths[c] - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `2.7 ms`, `0.42 s`, `41.2 s`, `12 min 3 s`, `2 h 5 min`: as many digits as a reader of
/// that size of time wants (a step of a tiny model and a whole run both print this way).
pub fn duration(seconds: Option<f64>) -> String {
    let Some(s) = seconds else {
        return "-".to_string();
    };
    if s < 0.1 {
        format!("{:.1} ms", s * 1000.0)
    } else if s < 10.0 {
        format!("{s:.2} s")
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{} min {} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{} h {} min",
            (s / 3600.0) as u64,
            (s % 3600.0 / 60.0) as u64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{duration, plural};

    #[test]
    fn one_thing_is_singular() {
        assert_eq!(plural(1, "point"), "1 point");
        assert_eq!(plural(0, "point"), "0 points");
        assert_eq!(plural(4, "weight"), "4 weights");
    }

    #[test]
    fn durations_keep_the_digits_their_size_needs() {
        assert_eq!(duration(None), "-");
        assert_eq!(duration(Some(0.0027)), "2.7 ms");
        assert_eq!(duration(Some(0.423)), "0.42 s");
        assert_eq!(duration(Some(41.24)), "41.2 s");
        assert_eq!(duration(Some(723.0)), "12 min 3 s");
        assert_eq!(duration(Some(7500.0)), "2 h 5 min");
    }
}
