//! Why a run could not be queued, resumed or carried out.

use collm_store::{RunId, RunStatus, StoreError};

use crate::experiment::{ExperimentError, RunSetupError};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Experiment(#[from] ExperimentError),
    #[error(transparent)]
    Setup(#[from] RunSetupError),
    #[error(transparent)]
    Cf(#[from] collm_cf::CfError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pipeline(#[from] collm_pipeline::PipelineError),
    #[error(transparent)]
    Llm(#[from] collm_llm::LlmError),
    #[error(transparent)]
    Predictions(#[from] collm_eval::predictions::PredictionsError),
    /// A `collm` run that cannot be carried out as configured.
    #[error("{0}")]
    Invalid(String),
    /// A `[reuse]` source, named by its part (`cf`, `stage1`), that cannot be taken from.
    #[error("[reuse] {key} = \"{named}\"{}: {message}", run.as_ref().map(|id| format!(" (run {id})")).unwrap_or_default())]
    Reuse {
        key: String,
        named: String,
        run: Option<RunId>,
        message: String,
    },
    #[error("run {id} is {status}: only interrupted, cancelled or failed runs can be resumed")]
    NotResumable { id: RunId, status: RunStatus },
    /// The dataset's files are not those the run started on (see `data_check`).
    #[error("run {id} cannot resume: its dataset {} is not what the run started on ({changes}); resuming would mix two versions of the data in one result: put the files back, or start a new run", dir.display())]
    DataChanged {
        id: RunId,
        dir: std::path::PathBuf,
        changes: String,
    },
    #[error("run {id} is not queued or running in this process")]
    NotActive { id: RunId },
    #[error("the runner has been shut down")]
    ShutDown,
}
