//! The run store: one sled record per run (experiment, status, times, losses, metrics, artifacts),
//! with weights as files under the store directory.
//!
//! Layout of a store folder:
//! - `lock`: an advisory lock held by the one process that has the store open;
//! - `holder.json`: who holds it (pid, command line, since), so a second opener can say so;
//! - `db/`: the sled database, with three trees of JSON values: `runs` (one small record per
//!   run, keyed by run id), `steps` and `evals` (one point per training step / evaluation, keyed
//!   by run id + `/` + a big-endian sequence number, so listing runs never loads them);
//! - `runs/<id>/`: the run's artifacts (weights), see [`Store::run_dir`].

mod clock;
mod error;
mod holder;
mod id;
mod record;
mod store;

pub use clock::{format_utc, now_ms};
pub use error::StoreError;
pub use holder::Holder;
pub use id::RunId;
pub use record::{
    Artifact, EvalPoint, FullRun, Headline, LogLine, RankingPoint, RunList, RunRecord, RunStatus,
    RunSummary, StageInfo, StageResume, StepPoint, FINAL_STAGE, SCHEMA_VERSION,
};
pub use store::{size_text, Store};

/// The free space a store's disk must have for a run to start, resume or go on: sled 0.34 can
/// leave its log unreadable (every later open fails) when a write runs out of space, so a
/// nearly full disk is refused up front, with a message, rather than risked.
pub const MIN_FREE_BYTES: u64 = 64_000_000;
/// The free space a store needs to open at all: enough for sled's own records, so that listing
/// runs and deleting them (which frees space) still work on a nearly full disk.
pub const MIN_FREE_TO_OPEN: u64 = 8_000_000;
