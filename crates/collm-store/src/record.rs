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

/// One stage of a run (the collaborative foundation `cf`, or an LLM stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageInfo {
    pub name: String,
    pub total_steps: Option<u64>,
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
    /// When the stage last resumed from a resume point, and after which step (its speed is
    /// measured from there: the time it lay dead is not its).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed: Option<StageResume>,
}

/// A stage's resume: when, and after which step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageResume {
    pub at_ms: u64,
    pub step: u64,
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
    /// The experiment kind (`cf` or `collm`).
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
    /// Time between an ending (interrupted, cancelled, failed) and the resume that continued
    /// it, to its start: not the run's, so not in its duration.
    #[serde(default)]
    pub idle_ms: u64,
}

impl RunRecord {
    /// A new `queued` run of `experiment_toml`, created by this process at `now_ms`.
    pub fn new(id: RunId, name: &str, kind: &str, experiment_toml: &str, now_ms: u64) -> Self {
        RunRecord {
            schema: SCHEMA_VERSION,
            id,
            name: name.to_string(),
            kind: kind.to_string(),
            experiment: experiment_toml.to_string(),
            status: RunStatus::Queued,
            created_ms: now_ms,
            started_ms: None,
            ended_ms: None,
            updated_ms: now_ms,
            pid: std::process::id(),
            error: None,
            stages: Vec::new(),
            steps: 0,
            evals: 0,
            best: Vec::new(),
            artifacts: Vec::new(),
            log: Vec::new(),
            ranking: Vec::new(),
            idle_ms: 0,
        }
    }

    /// The latest best checkpoint outside the final evaluation: the run's best weights.
    pub fn best_artifact(&self) -> Option<&Artifact> {
        self.artifacts
            .iter()
            .filter(|a| a.best && a.stage != FINAL_STAGE)
            .max_by_key(|a| a.at_ms)
    }

    /// The final evaluations of the best weights, one per split (empty until the run finished).
    pub fn results(&self) -> impl Iterator<Item = &EvalPoint> {
        self.best.iter().filter(|e| e.stage == FINAL_STAGE)
    }

    /// The evaluation a run is judged by on `split`: its final evaluation of the best weights,
    /// else (while it runs, or if it never finished) the best evaluation of `split` in the stage
    /// it is in ([`RunRecord::current_stage`]). An earlier stage's numbers are a part's (a CoLLM
    /// run's foundation or its TALLRec stage), never the run's, even when higher.
    pub fn result_on(&self, split: &str) -> Option<&EvalPoint> {
        self.evaluation(FINAL_STAGE, split)
            .or_else(|| self.evaluation(self.current_stage()?, split))
    }

    /// The stage the run is in, or was in when it stopped: the last one started (final
    /// evaluations aside).
    pub fn current_stage(&self) -> Option<&str> {
        self.stages
            .iter()
            .rev()
            .map(|s| s.name.as_str())
            .find(|name| !name.starts_with(FINAL_STAGE))
    }

    /// The evaluation of `split` recorded under `stage`: `final`, or a part's `final-cf`,
    /// `final-stage1`, ... (see `results`).
    pub fn evaluation(&self, stage: &str, split: &str) -> Option<&EvalPoint> {
        self.best
            .iter()
            .find(|e| e.split == split && e.stage == stage)
    }

    /// Seconds from start to end (or to the last update while it runs or if it was
    /// interrupted), less the time it waited between an ending and a resume.
    pub fn duration_s(&self) -> Option<f64> {
        self.duration_s_at(None)
    }

    /// [`RunRecord::duration_s`], except that with `now_ms` a running run counts up to now (a
    /// live view's clock) instead of to its last update.
    pub fn duration_s_at(&self, now_ms: Option<u64>) -> Option<f64> {
        let start = self.started_ms?;
        let end = match (self.status, now_ms) {
            (RunStatus::Running, Some(now)) => now.max(start),
            _ => self.ended_ms.unwrap_or(self.updated_ms),
        };
        Some(end.saturating_sub(start).saturating_sub(self.idle_ms) as f64 / 1000.0)
    }

    /// The one number a run listing shows: the final all-rows AUC on `valid` if the run has
    /// results (any split when none is `valid`), else the best AUC so far of the stage it is in,
    /// on `valid` if that stage evaluates it.
    pub fn headline_auc(&self) -> Option<Headline> {
        let chosen = self.headline_eval()?;
        Some(Headline {
            stage: chosen.stage.clone(),
            split: chosen.split.clone(),
            auc: chosen.metrics.all.auc?,
            rows: chosen.metrics.all.rows,
        })
    }

    /// The evaluation [`RunRecord::headline_auc`] reads (its other metrics for a table's
    /// other columns).
    pub fn headline_eval(&self) -> Option<&EvalPoint> {
        // Finals in the order the experiment lists its splits; a stage's splits best first.
        let mut evals: Vec<&EvalPoint> = self.results().collect();
        if evals.is_empty() {
            let stage = self.current_stage()?;
            evals = self.best.iter().filter(|e| e.stage == stage).collect();
            evals.sort_by(|a, b| by_auc(b, a));
        }
        evals
            .iter()
            .find(|e| e.split == "valid")
            .or_else(|| evals.first())
            .copied()
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
    /// See [`RunRecord::headline_auc`].
    pub headline_auc: Option<Headline>,
    pub error: Option<String>,
}

/// A run listing's one number: an all-rows AUC, the split it is of, and the stage that
/// recorded it (`final` for a result; another stage's while the run trains or if it stopped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    pub stage: String,
    pub split: String,
    pub auc: f64,
    /// The rows it is over: two runs' AUCs on one split may be over different rows (a
    /// foundation on the whole split, a CoLLM run on its `[evaluation] rows` sample).
    #[serde(default)]
    pub rows: usize,
}

impl Headline {
    /// A result of the best weights rather than a number from training.
    pub fn is_final(&self) -> bool {
        self.stage == FINAL_STAGE
    }
}

/// All runs of a store (their summaries, or whole records), oldest first, and the records that
/// could not be read.
#[derive(Debug)]
pub struct RunList<T = RunSummary> {
    pub runs: Vec<T>,
    pub unreadable: Vec<crate::StoreError>,
}

impl<T> Default for RunList<T> {
    fn default() -> Self {
        RunList {
            runs: Vec::new(),
            unreadable: Vec::new(),
        }
    }
}

/// A run with all its points: what `collm export --format json` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FullRun {
    pub record: RunRecord,
    pub steps: Vec<StepPoint>,
    pub evals: Vec<EvalPoint>,
}
