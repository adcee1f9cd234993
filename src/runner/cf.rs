//! Carrying out a `kind = "cf"` experiment: load the data, train the collaborative model (or
//! continue it), then score every `[evaluation]` split with the best weights as read back from
//! disk, which is exactly what `collm eval` will use later.

use std::path::Path;

use collm_events::{CancelToken, Event, EventSink};
use collm_store::{now_ms, RankingPoint, FINAL_STAGE};

use super::predictions::of_rows;
use crate::experiment::Experiment;
use crate::runner::RunError;

/// How a run that did not fail ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// With the ranking metrics of the best weights, when the experiment asked for them.
    Finished {
        ranking: Vec<RankingPoint>,
    },
    Cancelled,
}

/// Where a CF run reads and writes.
pub struct CfJob<'a> {
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

/// Runs the job; every event goes to `sink`. Errors end the run as failed (the caller reports).
pub fn execute(
    job: &CfJob<'_>,
    sink: &mut dyn EventSink,
    cancel: &CancelToken,
) -> Result<Outcome, RunError> {
    let exp = job.experiment;
    let dataset_dir = exp
        .dataset_dir(job.data_dir)
        .map_err(crate::experiment::RunSetupError::from)?;
    sink.emit(Event::Log {
        message: format!("loading dataset {}", dataset_dir.display()),
    });
    let dataset = exp.load_dataset(job.data_dir)?;
    let device = exp.resolve_device()?;
    sink.emit(Event::Log {
        message: format!(
            "{}: {} users, {} items, {} train rows; {} dim {} on {}",
            dataset.name,
            dataset.user_num - 1,
            dataset.item_num - 1,
            dataset.train.rows.len(),
            exp.model.kind.name(),
            exp.model.dim,
            exp.device
        ),
    });

    let mut model = collm_cf::build(&exp.model, &dataset, exp.training.seed, &device)?;
    // Note the step of each best checkpoint while passing events on: the final evaluation is
    // reported at that step.
    let mut best_step = job.prior_best_step;
    let mut tracking = |event: &Event| {
        if let Event::Checkpoint {
            step, best: true, ..
        } = event
        {
            best_step = Some(*step);
        }
        sink.emit(event.clone());
    };
    let resume_from = job.resume.then_some(job.run_dir);
    let outcome = collm_cf::train(
        model.as_mut(),
        &dataset,
        &exp.training,
        job.run_dir,
        resume_from,
        &mut tracking,
        cancel,
    )?;
    if outcome.cancelled {
        return Ok(Outcome::Cancelled);
    }
    sink.emit(Event::Log {
        message: format!(
            "best epoch {} of {} (selected on {}); scoring {} with its weights",
            outcome.best_epoch + 1,
            outcome.epochs_run,
            exp.training.select_on,
            exp.evaluation.splits.join(", ")
        ),
    });

    let best = collm_cf::load(&exp.model, &dataset, &outcome.weights, &device)?;
    let step = best_step.unwrap_or(0);
    let interacted = exp
        .evaluation
        .ranking
        .as_ref()
        .map(|_| dataset.interacted_by_user());
    let mut ranking = Vec::new();
    for name in &exp.evaluation.splits {
        // load_dataset checked that every evaluation split exists.
        let rows = exp.evaluation_rows(&dataset, name);
        let scored = collm_cf::score_rows(best.as_ref(), &rows, exp.training.batch_size)?;
        sink.emit(Event::Eval {
            stage: FINAL_STAGE.to_string(),
            step,
            split: name.clone(),
            metrics: collm_eval::evaluate(&scored),
        });
        super::predictions::save(job.run_dir, name, None, &of_rows(&rows, &scored), sink)?;
        if let (Some(spec), Some(interacted)) = (&exp.evaluation.ranking, &interacted) {
            let metrics = super::ranking::rank_split(
                best.as_ref(),
                &dataset,
                interacted,
                &rows,
                spec,
                exp.training.batch_size,
            )?;
            ranking.push(RankingPoint {
                stage: FINAL_STAGE.to_string(),
                step,
                split: name.clone(),
                metrics,
                at_ms: now_ms(),
            });
        }
    }
    Ok(Outcome::Finished { ranking })
}
