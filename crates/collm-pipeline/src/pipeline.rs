//! A whole CoLLM run: its stages in order, each starting from the previous stage's best
//! weights, then the final model written to `final/`. Resuming is the same call on the same
//! folder: finished stages are skipped (their best weights reloaded), an interrupted stage
//! continues from its last resume point.

use std::path::{Path, PathBuf};

use collm_data::Dataset;
use collm_eval::Breakdown;
use collm_events::{CancelToken, EventSink};

use crate::checkpoint::{load_model, save_model};
use crate::config::PipelineConfig;
use crate::error::Result;
use crate::model::CollmModel;
use crate::stage::{can_cache, run_stage, StageOutcome, StagePlan};

/// The folder of the final model inside a run folder.
pub const FINAL_DIR: &str = "final";

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    pub stages: Vec<(String, StageOutcome)>,
    /// The selection metrics of the final model (the last stage's best).
    pub best: Option<Breakdown>,
    pub cancelled: bool,
}

/// The plans of `cfg`'s stages inside `run_dir`.
pub fn plans(cfg: &PipelineConfig, run_dir: &Path) -> Vec<StagePlan> {
    (0..cfg.stages.len())
        .map(|i| {
            let name = cfg.stage_name(i);
            StagePlan {
                dir: run_dir.join(&name),
                config: cfg.stages[i].clone(),
                seed: cfg.seed.wrapping_add(1000 * (i as u64 + 1)),
                cache_bytes: (cfg.prefix_cache && can_cache(&cfg.stages[i]))
                    .then_some(cfg.prefix_cache_mb << 20),
                name,
            }
        })
        .collect()
}

/// Runs (or resumes) every stage; on success the model holds the final weights, also saved in
/// `run_dir/final`. A cancelled run leaves resume points and returns `cancelled`.
pub fn run(
    model: &mut CollmModel,
    cfg: &PipelineConfig,
    dataset: &Dataset,
    run_dir: &Path,
    sink: &mut dyn EventSink,
    cancel: &CancelToken,
) -> Result<RunOutcome> {
    run_with(
        model,
        cfg,
        dataset,
        run_dir,
        sink,
        cancel,
        &mut |_, _, _, _| Ok(()),
    )
}

/// What [`run_with`] calls after each stage that ended (not after a cancelled one): the stage's
/// name, the model holding that stage's best weights, how the stage went, and the event sink
/// (e.g. to score evaluation splits with each stage's model).
pub type AfterStage<'a> =
    dyn FnMut(&str, &CollmModel, &StageOutcome, &mut dyn EventSink) -> Result<()> + 'a;

/// [`run`] with a hook after every finished stage.
pub fn run_with(
    model: &mut CollmModel,
    cfg: &PipelineConfig,
    dataset: &Dataset,
    run_dir: &Path,
    sink: &mut dyn EventSink,
    cancel: &CancelToken,
    after_stage: &mut AfterStage<'_>,
) -> Result<RunOutcome> {
    cfg.validate()?;
    let mut stages = Vec::new();
    for plan in plans(cfg, run_dir) {
        let outcome = run_stage(model, dataset, &plan, sink, cancel)?;
        if !outcome.cancelled {
            after_stage(&plan.name, model, &outcome, sink)?;
        }
        let cancelled = outcome.cancelled;
        stages.push((plan.name.clone(), outcome));
        if cancelled {
            return Ok(RunOutcome {
                stages,
                best: None,
                cancelled: true,
            });
        }
    }
    save_model(model, &final_dir(run_dir), true)?;
    let best = stages.last().and_then(|(_, o)| o.best.clone());
    Ok(RunOutcome {
        stages,
        best,
        cancelled: false,
    })
}

pub fn final_dir(run_dir: &Path) -> PathBuf {
    run_dir.join(FINAL_DIR)
}

/// Loads a finished run's final weights into a model built from the same config.
pub fn load_final(model: &CollmModel, run_dir: &Path) -> Result<()> {
    load_model(model, &final_dir(run_dir))
}
