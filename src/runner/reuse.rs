//! Carrying out `[reuse]`: the foundation and the first stages of a CoLLM run taken from finished
//! runs. Each is checked against its source run's experiment, copied into this run's folder
//! (where a resumed run finds it finished), and the source's training events are replayed into
//! this run's record, so its curves and log show what was taken and from where.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use collm_events::{Event, EventSink};
use collm_pipeline::pipeline::plans;
use collm_pipeline::stage::stage_finished;
use collm_pipeline::{CollmModel, PipelineConfig};
use collm_store::{RunId, RunRecord, Store};

use super::predictions::predictions_path;
use super::RunJob;
use crate::experiment::{Experiment, ExperimentKind, FOUNDATION};
use crate::runner::RunError;

/// A finished run named in `[reuse]`, checked to have computed what this run's `key` would.
struct Source {
    id: RunId,
    dir: PathBuf,
    experiment: Experiment,
}

fn source(store: &Store, exp: &Experiment, key: &str) -> Result<Source, RunError> {
    let named = &exp.reuse[key];
    let reuse = |run: Option<&RunId>, message: String| RunError::Reuse {
        key: key.to_string(),
        named: named.clone(),
        run: run.cloned(),
        message,
    };
    let id = store
        .resolve(named)
        .map_err(|e| reuse(None, e.to_string()))?;
    let record = store.run(&id)?;
    let experiment = Experiment::of_run(&record)?;
    let refuse = |why: String| reuse(Some(&id), why);
    exp.can_reuse_from(key, &experiment, id.as_str())
        .map_err(refuse)?;
    // Checked now rather than where the part is copied: by then the run exists and fails.
    let dir = store.run_dir(&id);
    // A part trained on other files than this run reads would mix two versions of the data
    // (the embedded default is the same bytes for every run of a build).
    if let Some(path) = &exp.dataset.path {
        if let Some(changes) = super::data_check::changes(&dir, path)? {
            return Err(refuse(format!(
                "it read other data than {} holds now ({changes})",
                path.display()
            )));
        }
    }
    if !part_finished(&record, &dir, key) {
        return Err(refuse(format!(
            "its {key} did not finish (the run is {}); `collm resume {id}` finishes it",
            record.status
        )));
    }
    Ok(Source {
        dir,
        id,
        experiment,
    })
}

/// Whether run `record` (its folder `dir`) finished its part `key` (`cf`, or a stage's name):
/// what another run may take from it, and what `collm eval RUN:PART` may score, whatever
/// became of the stages after it.
pub fn part_finished(record: &RunRecord, dir: &Path, key: &str) -> bool {
    if key == FOUNDATION {
        // The foundation is done once the run finished, marked it, or went on to a stage.
        record.status == collm_store::RunStatus::Finished
            || dir
                .join(super::collm::CF_DIR)
                .join(super::collm::CF_DONE)
                .exists()
            || record.stages.iter().any(|s| s.name != collm_cf::STAGE)
    } else {
        stage_finished(&dir.join(key))
    }
}

/// Before a run is created: names each run of `exp`'s `[reuse]` by its full id (a prefix may be
/// written) and checks that it computed what `exp` would.
pub fn resolve_sources(store: &Store, exp: &mut Experiment) -> Result<(), RunError> {
    exp.check_reuse().map_err(|(key, message)| match key {
        Some(key) => RunError::Reuse {
            named: exp.reuse[&key].clone(),
            key,
            run: None,
            message,
        },
        None => RunError::Invalid(message),
    })?;
    // The foundation first: the stages after it are checked against the `[training]` it
    // brings.
    let mut keys: Vec<String> = exp.reuse.keys().cloned().collect();
    keys.sort_by_key(|k| k != FOUNDATION);
    for key in keys {
        let src = source(store, exp, &key)?;
        // A foundation taken from a run that trained it otherwise was trained by that run's
        // `[training]`: the record says so, not the file's recipe (a sweep would take the run
        // for the file's point, and `compare` would show no difference).
        if key == FOUNDATION {
            exp.training = src.experiment.training.clone();
        }
        exp.reuse.insert(key, src.id.to_string());
    }
    Ok(())
}

/// Takes the foundation's best weights from the run `[reuse] cf` names into `cf_dir`, unless
/// they are there already. Returns whether the foundation is reused.
pub fn adopt_foundation(
    job: &RunJob<'_>,
    cf_dir: &Path,
    sink: &mut dyn EventSink,
) -> Result<bool, RunError> {
    let exp = job.experiment;
    if !exp.reuse.contains_key(FOUNDATION) {
        return Ok(false);
    }
    let target = cf_dir.join(collm_cf::checkpoint::BEST_FILE);
    let copied = target.exists();
    // The stage's end is its last event: a run killed before it says the rest again. (Its
    // start comes before the copy; a run that adopted its foundation before stages were
    // recorded for it has none, and nothing to say again.)
    if copied {
        let record = job.store.run(job.id)?;
        let stage = record.stages.iter().find(|s| s.name == collm_cf::STAGE);
        if stage.is_none_or(|s| s.finished_ms.is_some()) {
            return Ok(true);
        }
    }
    let src = source(job.store, exp, FOUNDATION)?;
    if !copied {
        copy_foundation(job, &src, cf_dir, &target, sink)?;
    }
    let best_step = job
        .store
        .run(&src.id)?
        .artifacts
        .iter()
        .rev()
        .find_map(|a| (a.best && a.stage == collm_cf::STAGE).then_some(a.step));
    sink.emit(Event::Checkpoint {
        stage: collm_cf::STAGE.to_string(),
        step: best_step.unwrap_or(0),
        path: target.display().to_string(),
        best: true,
    });
    sink.emit(Event::Log {
        message: format!(
            "foundation ({} dim {}) taken from run {} ({}), with the [training] it was trained by",
            exp.model.kind.name(),
            exp.model.dim,
            src.id,
            src.experiment.name
        ),
    });
    sink.emit(Event::StageFinished {
        stage: collm_cf::STAGE.to_string(),
    });
    Ok(true)
}

/// The foundation's curve replayed as a stage of this run, then its best weights copied to
/// `target`: the curve first, the weights last (whole, by a rename), so that a kill between
/// the two leaves no weights and the resume replays again, skipping what was recorded,
/// instead of taking the weights as adopted with half the curve.
fn copy_foundation(
    job: &RunJob<'_>,
    src: &Source,
    cf_dir: &Path,
    target: &Path,
    sink: &mut dyn EventSink,
) -> Result<(), RunError> {
    let from = match src.experiment.kind {
        ExperimentKind::Cf => src.dir.clone(),
        ExperimentKind::Collm => src.dir.join(super::collm::CF_DIR),
    }
    .join(collm_cf::checkpoint::BEST_FILE);
    if !from.exists() {
        return Err(RunError::Invalid(format!(
            "[reuse] cf: run {} has no trained foundation ({} is missing)",
            src.id,
            from.display()
        )));
    }
    announce_copy(collm_cf::STAGE, &src.id, sink);
    sink.emit(Event::StageStarted {
        stage: collm_cf::STAGE.to_string(),
        total_steps: None,
    });
    replay(job, &src.id, collm_cf::STAGE, None, sink)?;
    let partial = cf_dir.join(format!("{}.partial", collm_cf::checkpoint::BEST_FILE));
    std::fs::create_dir_all(cf_dir)
        .and_then(|_| std::fs::copy(&from, &partial))
        .and_then(|_| std::fs::rename(&partial, target))
        .map_err(|e| RunError::Invalid(format!("{}: {e}", target.display())))?;
    Ok(())
}

/// Says, before a taken stage's curve is copied step by step (the record draws it as its
/// source's), that the steps that follow are not trained here.
fn announce_copy(stage: &str, from: &collm_store::RunId, sink: &mut dyn EventSink) {
    sink.emit(Event::Log {
        message: format!(
            "{stage}: copying run {from}'s (its steps follow as recorded; none is trained here)"
        ),
    });
}

/// Takes every stage `[reuse]` names (not yet finished here) from its source run into `model`
/// and this run's folder, with its final evaluation and kept scores when the source scored the
/// same rows (otherwise this run scores it, as a stage of its own).
pub fn adopt_stages(
    job: &RunJob<'_>,
    cfg: &PipelineConfig,
    model: &CollmModel,
    sink: &mut dyn EventSink,
) -> Result<(), RunError> {
    let exp = job.experiment;
    let reused = exp.reused_stages();
    for plan in plans(cfg, job.run_dir).iter().take(reused.len()) {
        if stage_finished(&plan.dir) {
            continue;
        }
        let src = source(job.store, exp, &plan.name)?;
        announce_copy(&plan.name, &src.id, sink);
        sink.emit(Event::StageStarted {
            stage: plan.name.clone(),
            total_steps: Some(plan.config.max_steps),
        });
        let final_label = format!("final-{}", plan.name);
        let same_rows = src.experiment.evaluation == exp.evaluation;
        // The curve before the stage is marked finished here (as for the foundation above).
        let replayed_final = replay(
            job,
            &src.id,
            &plan.name,
            same_rows.then_some(final_label.as_str()),
            sink,
        )?;
        let state = collm_pipeline::adopt_stage(model, plan, &src.dir.join(&plan.name))?;
        // Its best weights are this run's now, listed as a trained stage's are.
        sink.emit(Event::Checkpoint {
            stage: plan.name.clone(),
            step: state.best_step.unwrap_or(state.step),
            path: plan
                .dir
                .join(collm_pipeline::stage::BEST_DIR)
                .display()
                .to_string(),
            best: true,
        });
        sink.emit(Event::StageFinished {
            stage: plan.name.clone(),
        });
        if replayed_final {
            copy_part_scores(&src, exp, &plan.name, job.run_dir, sink)?;
        }
        let best = state.best_auc.map_or_else(
            || "no selection AUC".into(),
            |a| format!("selection AUC {a:.4}"),
        );
        sink.emit(Event::Log {
            message: format!(
                "{} taken from run {} ({}): {} steps, best step {}, {best}",
                plan.name,
                src.id,
                src.experiment.name,
                state.step,
                state.best_step.unwrap_or(0)
            ),
        });
    }
    Ok(())
}

/// With the source's final evaluation of `stage` replayed (the same rows), its kept per-row
/// scores come along, so `RUN:stage` pairs in `collm compare` as in the source. A source from
/// before runs kept them has none: `collm eval RUN:stage --predictions` makes them.
fn copy_part_scores(
    src: &Source,
    exp: &Experiment,
    stage: &str,
    run_dir: &Path,
    sink: &mut dyn EventSink,
) -> Result<(), RunError> {
    for split in &exp.evaluation.splits {
        let from = predictions_path(&src.dir, split, Some(stage));
        if !from.is_file() {
            continue;
        }
        let to = predictions_path(run_dir, split, Some(stage));
        let copied = to
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::copy(&from, &to));
        if let Err(e) = copied {
            return Err(RunError::Invalid(format!(
                "copying {} to {}: {e}",
                from.display(),
                to.display()
            )));
        }
        sink.emit(Event::Log {
            message: format!(
                "{stage}'s per-row scores of {split} copied from run {}",
                src.id
            ),
        });
    }
    Ok(())
}

/// Re-emits run `id`'s steps and evaluations of `stage` (and, when given, its evaluations
/// labelled `final_label`). Returns whether any `final_label` evaluation was replayed.
fn replay(
    job: &RunJob<'_>,
    id: &RunId,
    stage: &str,
    final_label: Option<&str>,
    sink: &mut dyn EventSink,
) -> Result<bool, RunError> {
    let store = job.store;
    // What an attempt of this run killed midway already recorded is not recorded twice.
    let had_steps: HashSet<(String, u64)> = store
        .steps(job.id)?
        .into_iter()
        .map(|p| (p.stage, p.step))
        .collect();
    let had_evals = store.eval_keys(job.id)?;
    for p in store.steps(id)?.into_iter().filter(|p| p.stage == stage) {
        if had_steps.contains(&(p.stage.clone(), p.step)) {
            continue;
        }
        sink.emit(Event::Step {
            stage: p.stage,
            step: p.step,
            loss: p.loss,
            lr: p.lr,
        });
    }
    let mut replayed_final = false;
    for p in store.evals(id)? {
        let is_final = final_label == Some(p.stage.as_str());
        if p.stage != stage && !is_final {
            continue;
        }
        replayed_final |= is_final;
        if had_evals.contains(&(p.stage.clone(), p.step, p.split.clone())) {
            continue;
        }
        sink.emit(Event::Eval {
            stage: p.stage,
            step: p.step,
            split: p.split,
            metrics: p.metrics,
        });
    }
    Ok(replayed_final)
}
