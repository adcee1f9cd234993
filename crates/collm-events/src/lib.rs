//! Training events: what a running stage reports (steps, evaluations, checkpoints, its outcome),
//! and the cancel flag a caller uses to stop it between steps.
//!
//! Trainers only emit events; the runner stores them and forwards them to the CLI or the TUI.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use collm_eval::Breakdown;
use serde::{Deserialize, Serialize};

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A stage began; `total_steps` is its step budget when known (for progress and ETA).
    StageStarted {
        stage: String,
        total_steps: Option<u64>,
    },
    /// One optimiser step finished.
    Step {
        stage: String,
        step: u64,
        loss: f64,
        lr: f64,
    },
    /// An evaluation of `split` after `step` steps of `stage`.
    Eval {
        stage: String,
        step: u64,
        split: String,
        metrics: Breakdown,
    },
    /// Weights were written (the best so far, or a resume point).
    Checkpoint {
        stage: String,
        step: u64,
        path: String,
        best: bool,
    },
    StageFinished {
        stage: String,
    },
    /// A stage continues from its resume point after `step` steps: what an attempt killed
    /// before its next resume point recorded of it past `step` is superseded (the stage
    /// records those steps and evaluations again).
    Resumed {
        stage: String,
        step: u64,
    },
    /// Free-form progress message worth keeping in the run's log.
    Log {
        message: String,
    },
    Finished,
    Failed {
        error: String,
    },
    Cancelled,
}

/// Where trainers send events. Implemented for any `FnMut(&Event)`.
pub trait EventSink {
    fn emit(&mut self, event: Event);
}

impl<F: FnMut(&Event)> EventSink for F {
    fn emit(&mut self, event: Event) {
        self(&event)
    }
}

/// A shared flag: set by the UI or a signal handler, checked by trainers between steps.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst)
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
