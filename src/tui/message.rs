//! What changes the UI's state (`Message`: keys, ticks, results from the store and the runner)
//! and what the UI asks of the background (`Command`).

use collm_events::Event;
use collm_store::{FullRun, RunId, RunRecord};
use crossterm::event::KeyEvent;

use crate::compare::{ColumnDifferences, Target};
use crate::tui::app::{ExperimentChoice, Inspection};

/// Everything `update` reacts to.
#[derive(Debug, Clone)]
pub enum Message {
    Key(KeyEvent),
    /// The terminal's size, at start and whenever it changes.
    Resize {
        width: u16,
        height: u16,
    },
    /// The clock moved (durations and ETAs are shown against `now_ms`).
    Tick {
        now_ms: u64,
    },
    /// Every run of the store, oldest first, and what could not be read.
    Runs {
        records: Vec<RunRecord>,
        unreadable: Vec<String>,
        /// The splits some run keeps per-row scores of (`collm eval --predictions` may keep
        /// some no record shows).
        kept_splits: Vec<String>,
    },
    /// One run's record changed.
    RunUpdated(Box<RunRecord>),
    /// One run with all its points, as asked by [`Command::LoadRun`].
    RunLoaded(Box<FullRun>),
    /// An event of a live run, received at `at_ms`.
    RunEvent {
        id: RunId,
        /// Boxed: an evaluation event is large, and steps pass here by the thousand.
        event: Box<Event>,
        at_ms: u64,
    },
    /// The experiments that can be launched, and the folder their files were looked for in.
    Experiments {
        folder: String,
        choices: Vec<ExperimentChoice>,
    },
    /// The users of a split, for the prompt inspector.
    Users {
        split: String,
        users: Vec<u32>,
    },
    Inspected(Result<Box<Inspection>, String>),
    /// The paired bootstrap of each column against `base` on `split`, as asked by
    /// [`Command::Significance`].
    Significance {
        split: String,
        base: Vec<Target>,
        results: ColumnDifferences,
    },
    /// Each target's metrics of its kept per-row scores of `split` (none: it keeps none), as
    /// asked by [`Command::KeptMetrics`].
    KeptMetrics {
        split: String,
        results: Vec<(Target, Option<collm_eval::Breakdown>)>,
    },
    /// A run was accepted by the runner (queued).
    Launched {
        id: RunId,
        name: String,
    },
    /// A run was deleted from the store, freeing `bytes` on disk.
    Deleted {
        id: RunId,
        bytes: u64,
    },
    Notice(String),
    Error(String),
    /// The process was asked to stop (SIGTERM, SIGHUP: the terminal closed; SIGINT from
    /// outside): quit as `q` then `y` would.
    Stop {
        signal: &'static str,
    },
}

/// What the UI asks the background thread to do; answers come back as messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    RefreshRuns,
    LoadRun(RunId),
    LoadExperiments,
    /// Queue `experiment` (TOML text) as if read from `origin` (relative dataset paths and
    /// error messages refer to it).
    Launch {
        origin: std::path::PathBuf,
        experiment: String,
        /// One run of a grid: it takes the stages that another finished run computed the same
        /// (see `RunnerHandle::submit_sharing`).
        share: bool,
    },
    Cancel(RunId),
    Resume(RunId),
    /// Delete a finished, failed, cancelled or interrupted run (see [`crate::cleanup`]).
    Delete(RunId),
    /// The users of `split` of the data set the inspector reads (that of `run` when given).
    ListUsers {
        run: Option<RunId>,
        split: String,
    },
    /// The prompt of `uid` and, when `run` is given, that run's P(Yes) for the user's rows.
    Inspect {
        run: Option<RunId>,
        uid: u32,
        split: String,
    },
    /// Whether each of `others` differs from `base` on `split` by more than noise; a column is
    /// one target or one setting's runs over seeds (see [`crate::compare::significance`]).
    Significance {
        split: String,
        base: Vec<Target>,
        others: Vec<Vec<Target>>,
    },
    /// The metrics of the kept per-row scores of `split` of `targets` (see
    /// [`crate::compare::kept_metrics`]), for columns whose runs hold no evaluation of it.
    KeptMetrics {
        split: String,
        targets: Vec<Target>,
    },
}
