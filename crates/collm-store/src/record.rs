//! The values a store keeps: a run's record, its step and evaluation points, and summaries.
//!
//! All are JSON in the database (inspectable with any sled dump), tagged with a schema version.

use collm_eval::ranking::RankingMetrics;
use collm_eval::Breakdown;
use serde::{Deserialize, Serialize};

use crate::id::RunId;

/// The record layout this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The stage name under which a runner reports its final evaluation of the best weights; those
/// evaluations are a run's results (see [`RunRecord::results`]).
pub const FINAL_STAGE: &str = "final";

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Finished,
    Failed,
    /// The process running it died (or was killed) before it ended.
    Interrupted,
    Cancelled,
}

impl RunStatus {
    /// The run will not change any more.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stage of a run (a CF training, later the LLM stages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageInfo {
    pub name: String,
    pub total_steps: Option<u64>,
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
}

/// One optimiser step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepPoint {
    pub stage: String,
    pub step: u64,
    pub loss: f64,
    pub lr: f64,
    pub at_ms: u64,
}

/// One evaluation of one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalPoint {
    pub stage: String,
    pub step: u64,
    pub split: String,
    pub metrics: Breakdown,
    pub at_ms: u64,
}

/// Top-K metrics of one split under the sampled-negatives protocol (`collm_eval::ranking`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingPoint {
    pub stage: String,
    pub step: u64,
    pub split: String,
    pub metrics: RankingMetrics,
    pub at_ms: u64,
}

/// A file the run wrote (weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Artifact {
    pub stage: String,
    pub step: u64,
    pub path: String,
    /// The best weights so far of its stage (rather than a resume point).
    pub best: bool,
    pub at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub at_ms: u64,
    pub message: String,
}

/// Everything about one run except its step and evaluation points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema: u32,
    pub id: RunId,
    pub name: String,
    /// The experiment kind (`cf`; later `collm`).
    pub kind: String,
    /// The experiment as run (TOML).
    pub experiment: String,
    pub status: RunStatus,
    pub created_ms: u64,
    pub started_ms: Option<u64>,
    pub ended_ms: Option<u64>,
    /// The last time the record was written: an interrupted run ended around then.
    pub updated_ms: u64,
    /// The process that created the run (and ran it).
    pub pid: u32,
    /// Why it failed or was interrupted.
    pub error: Option<String>,
    pub stages: Vec<StageInfo>,
    pub steps: u64,
    pub evals: u64,
    /// Per (stage, split), the evaluation with the highest all-rows AUC.
    pub best: Vec<EvalPoint>,
    /// Artifacts by path: a checkpoint rewritten in place keeps one entry, the latest.
    pub artifacts: Vec<Artifact>,
    pub log: Vec<LogLine>,
    /// Ranking metrics of the best weights, per split, when the experiment asked for them.
    #[serde(default)]
    pub ranking: Vec<RankingPoint>,
}

impl RunRecord {
    /// The final evaluations of the best weights, one per split (empty until the run finished).
    pub fn results(&self) -> impl Iterator<Item = &EvalPoint> {
        self.best.iter().filter(|e| e.stage == FINAL_STAGE)
    }

    /// The evaluation a run is judged by on `split`: its final evaluation of the best weights,
    /// else (while it runs, or if it never finished) the best evaluation seen during training.
    pub fn result_on(&self, split: &str) -> Option<&EvalPoint> {
        self.evaluation(FINAL_STAGE, split).or_else(|| {
            self.best
                .iter()
                .filter(|e| e.split == split)
                .max_by(|a, b| by_auc(a, b))
        })
    }

    /// The evaluation of `split` recorded under `stage`: `final`, or a part's `final-cf`,
    /// `final-stage1`, ... (see `results`).
    pub fn evaluation(&self, stage: &str, split: &str) -> Option<&EvalPoint> {
        self.best
            .iter()
            .find(|e| e.split == split && e.stage == stage)
    }

    /// Seconds from start to end (or to the last update while it runs or if it was interrupted).
    pub fn duration_s(&self) -> Option<f64> {
        let start = self.started_ms?;
        let end = self.ended_ms.unwrap_or(self.updated_ms);
        Some(end.saturating_sub(start) as f64 / 1000.0)
    }

    /// The one number a run listing shows: the final all-rows AUC on `valid` if the run has
    /// results, else the best `valid` AUC seen during training; any split when none is `valid`.
    pub fn headline_auc(&self) -> Option<(String, f64)> {
        let pick = |evals: Vec<&EvalPoint>| -> Option<(String, f64)> {
            let chosen = evals
                .iter()
                .find(|e| e.split == "valid")
                .or_else(|| evals.first())?;
            chosen
                .metrics
                .all
                .auc
                .map(|auc| (chosen.split.clone(), auc))
        };
        let finals: Vec<&EvalPoint> = self.results().collect();
        if !finals.is_empty() {
            return pick(finals);
        }
        let mut training: Vec<&EvalPoint> = self.best.iter().collect();
        training.sort_by(|a, b| by_auc(b, a));
        pick(training)
    }

    pub fn summary(&self) -> RunSummary {
        RunSummary {
            id: self.id.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
            status: self.status,
            created_ms: self.created_ms,
            duration_s: self.duration_s(),
            headline_auc: self.headline_auc(),
            error: self.error.clone(),
        }
    }
}

/// Evaluations ordered by all-rows AUC (an undefined AUC ties with anything).
fn by_auc(a: &EvalPoint, b: &EvalPoint) -> std::cmp::Ordering {
    a.metrics
        .all
        .auc
        .partial_cmp(&b.metrics.all.auc)
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// What a run listing shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: RunId,
    pub name: String,
    pub kind: String,
    pub status: RunStatus,
    pub created_ms: u64,
    pub duration_s: Option<f64>,
    /// (split, all-rows AUC), see [`RunRecord::headline_auc`].
    pub headline_auc: Option<(String, f64)>,
    pub error: Option<String>,
}

/// All runs of a store, oldest first, and the records that could not be read.
#[derive(Debug, Default)]
pub struct RunList {
    pub runs: Vec<RunSummary>,
    pub unreadable: Vec<crate::StoreError>,
}

/// A run with all its points: what `collm export --format json` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FullRun {
    pub record: RunRecord,
    pub steps: Vec<StepPoint>,
    pub evals: Vec<EvalPoint>,
}
