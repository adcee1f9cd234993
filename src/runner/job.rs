//! One run's execution as the runner hands it over: what it reads and writes, and how it ended.

use std::path::Path;

use collm_store::RankingPoint;

use crate::experiment::Experiment;

/// How a run that did not fail ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// With the ranking metrics of the best weights, when the experiment asked for them.
    Finished {
        ranking: Vec<RankingPoint>,
    },
    Cancelled,
}

/// What a run's execution reads and writes (a `cf` or a `collm` run alike).
pub struct RunJob<'a> {
    /// The run this job computes.
    pub id: &'a collm_store::RunId,
    pub experiment: &'a Experiment,
    /// The store the run is recorded in (runs named in `[reuse]` are read from it).
    pub store: &'a collm_store::Store,
    /// Where the embedded dataset is imported.
    pub data_dir: &'a Path,
    /// The run's artifact folder: weights and resume state.
    pub run_dir: &'a Path,
    /// Continue from the resume state in `run_dir` rather than start afresh.
    pub resume: bool,
    /// The step of the best checkpoint an earlier attempt of this run already wrote.
    pub prior_best_step: Option<u64>,
}
