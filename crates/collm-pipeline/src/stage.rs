//! One training stage, whatever it trains: LoRA on the text prompt (stage 1), the mapping on the
//! hybrid prompt (stage 2), or any ablation's mix. AdamW with a warmup-cosine schedule, an
//! evaluation every `eval_every` steps, early stopping on AUC, the best checkpoint kept, a resume
//! point at every evaluation, and the stage-2 prefix cache when LoRA is frozen.
//!
//! Batches: the stage's training rows (a seeded sample when `train_rows` is set) are shuffled
//! once into fixed batches of `batch_size` (a trailing partial batch is dropped when there is a
//! full one, as the reference's `drop_last`); every pass over them visits the batches in a new
//! seeded order. Fixed composition is what lets a batch's prompt prefix be cached once and reused
//! on every pass, and makes the cached and uncached paths take exactly the same steps.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;
use collm_data::{Dataset, Interaction};
use collm_eval::Breakdown;
use collm_events::{CancelToken, Event, EventSink};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::checkpoint::{
    load_model, load_parts, read_state, read_state_file, save_model, write_atomically,
    write_model_parts, write_state, write_state_file, StageState, OPTIMIZER_FILE,
};
use crate::config::{StageConfig, Trainable};
use crate::error::{PipelineError, Result};
use crate::evaluate::{breakdown, score_samples};
use crate::model::{CollmModel, Encoded};
use crate::optim::AdamW;
use crate::prefix_cache::{CacheKey, PrefixCache};
use crate::score::bce_with_logits;
use crate::template::PromptKind;

/// Where the stage's checkpoints go, inside its folder.
pub const BEST_DIR: &str = "best";
pub const LAST_DIR: &str = "last";
pub const DONE_FILE: &str = "done.json";

/// Everything a stage needs besides the model and the data.
#[derive(Debug, Clone)]
pub struct StagePlan {
    pub name: String,
    pub config: StageConfig,
    /// The stage's folder (checkpoints, resume state).
    pub dir: PathBuf,
    pub seed: u64,
    /// Cache budget in bytes; `None` disables the prefix cache.
    pub cache_bytes: Option<usize>,
}

/// How a stage ended.
#[derive(Debug, Clone, PartialEq)]
pub struct StageOutcome {
    pub best: Option<Breakdown>,
    pub best_step: Option<u64>,
    pub steps: u64,
    pub stopped_early: bool,
    pub cancelled: bool,
    /// Seconds spent in this process on training steps (evaluations excluded) and in total.
    pub train_secs: f64,
    pub wall_secs: f64,
    /// Steps run in this process (not counting those of a resumed-from run).
    pub steps_here: u64,
}

/// `limit` rows of `rows`, a seeded sample kept in the original order (all when `None`).
pub fn sample_rows(rows: &[Interaction], limit: Option<usize>, seed: u64) -> Vec<Interaction> {
    match limit {
        Some(n) if n < rows.len() => {
            let mut idx: Vec<usize> = (0..rows.len()).collect();
            idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let mut keep = idx[..n].to_vec();
            keep.sort_unstable();
            keep.into_iter().map(|i| rows[i].clone()).collect()
        }
        _ => rows.to_vec(),
    }
}

/// The fixed batches (indices into the stage's rows).
pub fn fixed_batches(rows: usize, batch_size: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..rows).collect();
    idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let mut batches: Vec<Vec<usize>> = idx.chunks(batch_size).map(|c| c.to_vec()).collect();
    if batches.len() > 1 && batches.last().is_some_and(|b| b.len() < batch_size) {
        batches.pop();
    }
    batches
}

/// The batch visited at `step`: passes over the fixed batches, each in its own seeded order.
pub fn batch_at(step: u64, batches: usize, seed: u64) -> usize {
    let pass = step / batches as u64;
    let mut order: Vec<usize> = (0..batches).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(
        seed ^ (pass + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    ));
    order[(step % batches as u64) as usize]
}

fn split_rows<'d>(dataset: &'d Dataset, name: &str) -> Result<&'d [Interaction]> {
    dataset
        .split(name)
        .map(|s| s.rows.as_slice())
        .ok_or_else(|| {
            PipelineError::config(
                "eval_split",
                format!("dataset `{}` has no split `{name}`", dataset.name),
            )
        })
}

/// Whether a stage's training can use the prefix cache: LoRA frozen, hybrid prompt.
pub fn can_cache(cfg: &StageConfig) -> bool {
    !cfg.trains(Trainable::Lora) && cfg.prompt == PromptKind::Hybrid
}

/// The stage's training data, tokenised, with its fixed batches.
pub struct StageData {
    pub train: Vec<Encoded>,
    pub batches: Vec<Vec<usize>>,
    pub eval: Vec<Encoded>,
}

impl StageData {
    pub fn prepare(model: &CollmModel, dataset: &Dataset, plan: &StagePlan) -> Result<StageData> {
        let cfg = &plan.config;
        if dataset.train.rows.is_empty() {
            return Err(PipelineError::Data(format!(
                "{}: the train split has no rows",
                dataset.train.path.display()
            )));
        }
        let train_rows = sample_rows(&dataset.train.rows, cfg.train_rows, plan.seed);
        let eval_rows = eval_rows(dataset, plan)?;
        let train = model.encode_all(&train_rows, cfg.prompt)?;
        let eval = model.encode_all(&eval_rows, cfg.prompt)?;
        let batches = fixed_batches(train.len(), cfg.batch_size, plan.seed.wrapping_add(2));
        Ok(StageData {
            train,
            batches,
            eval,
        })
    }
}

/// The rows a stage evaluates (its seeded sample of `eval_split`), refused when there are none or
/// they all hold one label: their AUC, by which the stage keeps its best step, would be undefined,
/// and the stage would keep its first evaluation's weights without a word. A run checks every stage
/// before it trains anything.
pub fn eval_rows(dataset: &Dataset, plan: &StagePlan) -> Result<Vec<Interaction>> {
    let cfg = &plan.config;
    let rows = sample_rows(
        split_rows(dataset, &cfg.eval_split)?,
        cfg.eval_rows,
        plan.seed.wrapping_add(1),
    );
    if rows.is_empty() {
        return Err(PipelineError::Data(format!(
            "{}: its eval_split `{}` has no rows: the stage keeps its best step by their AUC; \
             name a split that has rows",
            plan.name, cfg.eval_split
        )));
    }
    if let Some(label) = collm_data::single_label(&rows) {
        return Err(PipelineError::Data(format!(
            "{}: its evaluation rows of `{}` ({} rows) all hold label {label}: their AUC, by \
             which the stage keeps its best step, is undefined; raise its eval_rows (if the \
             split holds both labels) or name another eval_split",
            plan.name,
            cfg.eval_split,
            rows.len()
        )));
    }
    Ok(rows)
}

/// One optimisation step's forward and loss on batch `b` (cached when `cache` is given).
pub fn batch_loss(
    model: &CollmModel,
    data: &StageData,
    b: usize,
    cache: Option<&mut PrefixCache>,
) -> Result<Tensor> {
    let samples: Vec<&Encoded> = data.batches[b].iter().map(|&i| &data.train[i]).collect();
    let labels: Vec<f32> = samples.iter().map(|s| f32::from(s.row.label)).collect();
    let labels = Tensor::new(labels.as_slice(), model.device())?;
    let scores = match cache {
        Some(c) => {
            let prefix = c.get_or_compute(CacheKey::Train(b), || model.prefix_kv(&samples))?;
            model.scores(&samples, Some(&prefix))?
        }
        None => model.scores(&samples, None)?,
    };
    bce_with_logits(&scores, &labels)
}

/// Runs (or resumes, or skips when done) one stage. On return the model holds the stage's best
/// weights (the current ones when no evaluation finished).
pub fn run_stage(
    model: &mut CollmModel,
    dataset: &Dataset,
    plan: &StagePlan,
    sink: &mut dyn EventSink,
    cancel: &CancelToken,
) -> Result<StageOutcome> {
    let started = Instant::now();
    let cfg = &plan.config;
    let stage = plan.name.clone();
    let best_dir = plan.dir.join(BEST_DIR);
    let last_dir = plan.dir.join(LAST_DIR);
    // A folder from an earlier attempt: this one resumes the stage, from its resume point or,
    // killed before the first, from scratch (and says so).
    let attempted_before = plan.dir.exists();
    std::fs::create_dir_all(&plan.dir).map_err(|e| PipelineError::io(&plan.dir, e))?;
    for dir in [&best_dir, &last_dir] {
        crate::checkpoint::finish_interrupted_write(dir)?;
    }

    if let Some(done) = read_done(&plan.dir)? {
        if best_dir.exists() {
            load_model(model, &best_dir)?;
        }
        // Where the stage left the dropout masks: a later stage that trains LoRA draws the
        // same masks in a new process (a resume, a reused stage) as after this one in-process.
        model.continue_mask_streams(&done.masks)?;
        sink.emit(Event::Log {
            message: format!("{stage}: already finished, using its best checkpoint"),
        });
        // A kill between its `done` marker and this event left the stage unended.
        sink.emit(Event::StageFinished {
            stage: stage.clone(),
        });
        return Ok(StageOutcome {
            best: done.best.clone(),
            best_step: done.best_step,
            steps: done.step,
            stopped_early: done.step < cfg.max_steps,
            cancelled: false,
            train_secs: 0.0,
            wall_secs: 0.0,
            steps_here: 0,
        });
    }

    let data = StageData::prepare(model, dataset, plan)?;
    let (lora, cf) = (cfg.trains(Trainable::Lora), cfg.trains(Trainable::Cf));
    model.set_trainable(lora, cf);
    let mut opt = AdamW::new(model.vars(&cfg.train)?, cfg.weight_decay)?;
    let schedule = cfg.schedule();
    let mut cache = match plan.cache_bytes {
        Some(bytes) if can_cache(cfg) => {
            Some(PrefixCache::new(bytes, model.kv_bytes_per_position()))
        }
        _ => None,
    };

    let mut state = StageState::default();
    if let Some(saved) = read_state(&last_dir)? {
        load_model(model, &last_dir)?;
        opt.load(&last_dir.join(OPTIMIZER_FILE))?;
        model.continue_mask_streams(&saved.masks)?;
        state = saved;
        sink.emit(Event::Resumed {
            stage: stage.to_string(),
            step: state.step,
        });
        sink.emit(Event::Log {
            message: format!("{stage}: resumed after step {}", state.step),
        });
    } else {
        // What an earlier attempt recorded is done again: one killed before its first resume
        // point, or whose folder is gone since (the run's record still holds its steps).
        sink.emit(Event::Resumed {
            stage: stage.to_string(),
            step: 0,
        });
        if attempted_before {
            sink.emit(Event::Log {
                message: format!(
                    "{stage}: nothing to resume in {}, starting from scratch",
                    last_dir.display()
                ),
            });
        }
    }
    tracing::info!(
        stage,
        rows = data.train.len(),
        batches = data.batches.len(),
        eval_rows = data.eval.len(),
        cached = cache.is_some(),
        "stage starts"
    );
    sink.emit(Event::StageStarted {
        stage: stage.clone(),
        total_steps: Some(cfg.max_steps),
    });

    let mut train_secs = 0.0;
    let mut steps_here = 0;
    let mut cancelled = false;
    let mut stopped_early = false;
    // An evaluation follows every `eval_every`-th step and the last; a resume point records
    // one that a cancel interrupted (`eval_pending`), so the resumed stage does it first.
    loop {
        if state.eval_pending {
            // Evaluation mode: no dropout anywhere (and no masks drawn, so the streams a
            // resume point records do not depend on how often the stage evaluated).
            model.set_trainable(false, false);
            let eval_cache = if lora { None } else { cache.as_mut() };
            let scored = match score_samples(
                model,
                &data.eval,
                cfg.eval_batch_size,
                eval_cache,
                Some(cancel),
            ) {
                Err(PipelineError::Cancelled) => {
                    cancelled = true;
                    break;
                }
                other => other?,
            };
            model.set_trainable(lora, cf);
            state.eval_pending = false;
            let metrics = breakdown(&scored);
            sink.emit(Event::Eval {
                stage: stage.clone(),
                step: state.step,
                split: cfg.eval_split.clone(),
                metrics: metrics.clone(),
            });
            let auc = metrics.all.auc.unwrap_or(f64::NEG_INFINITY);
            if state.best_auc.is_none_or(|best| auc > best) {
                state.best_auc = Some(auc);
                state.best_step = Some(state.step);
                state.best = Some(metrics);
                state.bad_evals = 0;
                save_model(model, &best_dir, true)?;
                write_state(&best_dir, &with_masks(model, &state))?;
                sink.emit(Event::Checkpoint {
                    stage: stage.clone(),
                    step: state.step,
                    path: best_dir.display().to_string(),
                    best: true,
                });
            } else {
                state.bad_evals += 1;
            }
            save_resume_point(model, &opt, &state, &last_dir)?;
            sink.emit(Event::Checkpoint {
                stage: stage.clone(),
                step: state.step,
                path: last_dir.display().to_string(),
                best: false,
            });
        }
        // Checked on the state, not right after an evaluation: a stage killed after its resume
        // point recorded the last bad evaluation stops here on resume too.
        if state.bad_evals >= cfg.patience {
            stopped_early = true;
            sink.emit(Event::Log {
                message: format!(
                    "{stage}: early stop after {} evaluations without a better AUC",
                    state.bad_evals
                ),
            });
            break;
        }
        if state.step >= cfg.max_steps {
            break;
        }
        if cancel.is_cancelled() {
            cancelled = true;
            break;
        }
        let t0 = Instant::now();
        let lr = schedule.lr_at(state.step);
        let b = batch_at(state.step, data.batches.len(), plan.seed.wrapping_add(3));
        let loss = batch_loss(model, &data, b, cache.as_mut())?;
        let grads = loss.backward()?;
        opt.step(&grads, lr)?;
        let loss = loss.to_scalar::<f32>()? as f64;
        if !loss.is_finite() {
            return Err(PipelineError::Data(format!(
                "{stage}: the loss became {loss} at step {}",
                state.step + 1
            )));
        }
        train_secs += t0.elapsed().as_secs_f64();
        steps_here += 1;
        state.step += 1;
        sink.emit(Event::Step {
            stage: stage.clone(),
            step: state.step,
            loss,
            lr,
        });
        state.eval_pending = state.step % cfg.eval_every == 0 || state.step == cfg.max_steps;
    }
    model.set_trainable(false, false);
    if cancelled {
        save_resume_point(model, &opt, &state, &last_dir)?;
        // Listed with the run's artifacts, as every resume point: where `collm resume` goes on.
        sink.emit(Event::Checkpoint {
            stage: stage.clone(),
            step: state.step,
            path: last_dir.display().to_string(),
            best: false,
        });
    } else {
        if best_dir.exists() {
            load_model(model, &best_dir)?;
        } else {
            save_model(model, &best_dir, true)?;
        }
        state.done = true;
        state.masks = model.mask_streams();
        write_done(&plan.dir, &state)?;
        let secs_per_step = if steps_here > 0 {
            train_secs / steps_here as f64
        } else {
            0.0
        };
        let cache_note = cache
            .as_ref()
            .map(|c| {
                format!(
                    ", prefix cache {:.0} MiB, hits/misses {:?}",
                    c.bytes() as f64 / 1048576.0,
                    c.stats()
                )
            })
            .unwrap_or_default();
        sink.emit(Event::Log {
            message: format!(
                "{stage}: {} steps here, {secs_per_step:.3} s/step, wall {:.1} s{cache_note}",
                steps_here,
                started.elapsed().as_secs_f64()
            ),
        });
        sink.emit(Event::StageFinished {
            stage: stage.clone(),
        });
    }
    Ok(StageOutcome {
        best: state.best.clone(),
        best_step: state.best_step,
        steps: state.step,
        stopped_early,
        cancelled,
        train_secs,
        wall_secs: started.elapsed().as_secs_f64(),
        steps_here,
    })
}

/// `state` with the mask streams' current positions, as every written state holds them (the
/// in-memory state's are where the stage started: a resumed stage's would differ from an
/// uninterrupted one's).
fn with_masks(model: &CollmModel, state: &StageState) -> StageState {
    StageState {
        masks: model.mask_streams(),
        ..state.clone()
    }
}

/// Writes the model, the optimiser and `state` with the mask streams' current positions.
fn save_resume_point(
    model: &CollmModel,
    opt: &AdamW,
    state: &StageState,
    dir: &Path,
) -> Result<()> {
    let state = with_masks(model, state);
    write_atomically(dir, |tmp| {
        write_model_parts(model, tmp, false)?;
        opt.save(&tmp.join(OPTIMIZER_FILE))?;
        write_state(tmp, &state)
    })
}

/// Takes a finished stage from another run's stage folder `source` instead of training it: the
/// parts `plan` trains are loaded from that stage's best checkpoint, the rest of the model stays
/// as it is here, and the result is written as this run's best checkpoint with the stage marked
/// finished in the source's state. [`run_stage`] then skips the stage like any finished one.
/// That the source stage computed the same thing is the caller's check.
pub fn adopt_stage(model: &CollmModel, plan: &StagePlan, source: &Path) -> Result<StageState> {
    let done_file = source.join(DONE_FILE);
    let done = read_done(source)?.ok_or_else(|| {
        PipelineError::checkpoint(&done_file, "missing: that stage did not finish")
    })?;
    let source_best = source.join(BEST_DIR);
    if !source_best.is_dir() {
        return Err(PipelineError::checkpoint(
            &source_best,
            "missing: the finished stage has no best checkpoint",
        ));
    }
    load_parts(model, &source_best, &plan.config.train)?;
    std::fs::create_dir_all(&plan.dir).map_err(|e| PipelineError::io(&plan.dir, e))?;
    write_atomically(&plan.dir.join(BEST_DIR), |tmp| {
        write_model_parts(model, tmp, true)?;
        write_state(tmp, &done)
    })?;
    write_done(&plan.dir, &done)?;
    Ok(done)
}

/// The finished stage's state, or `None` while it has not finished. An empty or cut-off
/// `done.json` is one a kill or a full disk cut short in a build that wrote it in place: not
/// finished, so the stage goes on from its resume point (and writes it again) instead of
/// failing every resume.
fn read_done(dir: &Path) -> Result<Option<StageState>> {
    match read_state_file(&dir.join(DONE_FILE)) {
        Err(PipelineError::Checkpoint { .. }) => Ok(None),
        other => other,
    }
}

/// Whether the stage whose folder is `dir` finished (its `done.json` reads whole).
pub fn stage_finished(dir: &Path) -> bool {
    matches!(read_done(dir), Ok(Some(_)))
}

fn write_done(dir: &Path, state: &StageState) -> Result<()> {
    write_state_file(&dir.join(DONE_FILE), state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_fixed_and_passes_reorder_them() {
        let b = fixed_batches(10, 4, 1);
        assert_eq!(b.len(), 2, "the partial batch of 2 is dropped");
        assert!(b.iter().all(|x| x.len() == 4));
        assert_eq!(b, fixed_batches(10, 4, 1));
        let pass0: Vec<usize> = (0..6).map(|s| batch_at(s, 6, 9)).collect();
        let pass1: Vec<usize> = (6..12).map(|s| batch_at(s, 6, 9)).collect();
        let mut sorted = pass0.clone();
        sorted.sort();
        assert_eq!(sorted, (0..6).collect::<Vec<_>>());
        assert_ne!(pass0, pass1);
        assert_eq!(
            fixed_batches(3, 4, 0).len(),
            1,
            "a lone partial batch is kept"
        );
    }

    #[test]
    fn row_sample_is_seeded_and_ordered() {
        let rows: Vec<Interaction> = (0..20)
            .map(|i| Interaction {
                uid: i,
                iid: 1,
                label: 1,
                timestamp: i as i64,
                warm: true,
                his: vec![],
            })
            .collect();
        let a = sample_rows(&rows, Some(5), 7);
        assert_eq!(a, sample_rows(&rows, Some(5), 7));
        assert_eq!(a.len(), 5);
        assert!(a.windows(2).all(|w| w[0].uid < w[1].uid));
        assert_eq!(sample_rows(&rows, None, 7).len(), 20);
    }
}
