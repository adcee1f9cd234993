//! Carrying out a `kind = "cf"` experiment: load the data, train the collaborative model (or
//! continue it), then score every `[evaluation]` split with the best weights as read back from
//! disk, which is exactly what `collm eval` will use later.

use std::path::Path;

use collm_cf::{CfError, CfTrainOutcome};
use collm_data::Dataset;
use collm_events::{CancelToken, Event, EventSink};
use collm_store::{now_ms, RankingPoint, FINAL_STAGE};

use super::predictions::of_rows;
use super::{Outcome, RunJob};
use crate::runner::RunError;

/// Runs the job; every event goes to `sink`. Errors end the run as failed (the caller reports).
pub fn execute(
    job: &RunJob<'_>,
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
    let Some(outcome) = train_foundation(job, &dataset, job.run_dir, &mut tracking, cancel)? else {
        return Ok(Outcome::Cancelled);
    };
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

/// Trains the experiment's collaborative model (`[model]` by `[training]`) with its artifacts in
/// `dir`, continuing from the resume state there when the job resumes: a `cf` run's whole work,
/// a `collm` run's foundation. `None` when cancelled.
pub(super) fn train_foundation(
    job: &RunJob<'_>,
    dataset: &Dataset,
    dir: &Path,
    sink: &mut dyn EventSink,
    cancel: &CancelToken,
) -> Result<Option<CfTrainOutcome>, RunError> {
    let exp = job.experiment;
    let device = exp.resolve_device()?;
    let mut model = collm_cf::build(&exp.model, dataset, exp.training.seed, &device)?;
    let resume_from = job.resume.then_some(dir);
    let outcome = collm_cf::train(
        model.as_mut(),
        dataset,
        &exp.training,
        dir,
        resume_from,
        sink,
        cancel,
    )
    .map_err(|e| match e {
        // A setting the data refuses (a selection split of one label), spelt as `--set` takes
        // it (`training.select_on`).
        e @ CfError::Config { .. } => {
            RunError::Invalid(crate::experiment::cf_setting("training", e))
        }
        other => other.into(),
    })?;
    Ok((!outcome.cancelled).then_some(outcome))
}

/// Scores `rows` with a finished `cf` run's best weights as its final evaluation did (`collm
/// eval`, the prompt inspector): the file must still be there.
pub fn score_best(
    store: &collm_store::Store,
    record: &collm_store::RunRecord,
    experiment: &crate::experiment::Experiment,
    dataset: &Dataset,
    rows: &[collm_data::Interaction],
) -> Result<Vec<collm_eval::ScoredRow>, RunError> {
    let path = store
        .best_weights(record)
        .ok_or_else(|| RunError::Invalid(format!("run {} recorded no best weights", record.id)))?;
    if !path.is_file() {
        return Err(RunError::Invalid(format!(
            "run {}: its best weights {} are gone",
            record.id,
            path.display()
        )));
    }
    let device = experiment.resolve_device()?;
    let model = collm_cf::load(&experiment.model, dataset, &path, &device)?;
    Ok(collm_cf::score_rows(
        model.as_ref(),
        rows,
        experiment.training.batch_size,
    )?)
}
