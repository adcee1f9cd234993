//! The baselines' training loop: pointwise BCE, seeded shuffled batches, Adam with coupled L2,
//! an evaluation every epoch, early stopping on the selection split's AUC, and checkpoints that
//! let a killed run resume.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;
use collm_data::{Dataset, Interaction};
use collm_eval::Breakdown;
use collm_events::{CancelToken, Event, EventSink};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::adam::Adam;
use crate::batch::labels_for;
use crate::checkpoint::{
    assign_vars, carry_best, read_last, read_tensors, write_last, LoopState, BEST_FILE, LAST_FILE,
};
use crate::loss::bce_with_logits;
use crate::score::{check_ids, PreparedRows};
use crate::{batch_for, CfError, CfModel, CfTrainConfig};

/// The stage name in events.
pub const STAGE: &str = "cf";
/// The reference's extra abort: after evaluating any 0-based epoch beyond this one, stop if the
/// best selection AUC is still below `ABORT_BELOW_AUC` (a run that is not learning).
pub const ABORT_AFTER_EPOCH: usize = 500;
pub const ABORT_BELOW_AUC: f64 = 0.52;

#[derive(Debug, Clone)]
pub struct CfTrainOutcome {
    /// 0-based epoch whose weights are in `weights`.
    pub best_epoch: usize,
    /// Epochs finished (including those of the run this one resumed).
    pub epochs_run: usize,
    /// Metrics of the best epoch on `select_on`.
    pub best: Breakdown,
    /// `out_dir/best.safetensors`.
    pub weights: PathBuf,
    pub cancelled: bool,
}

/// Trains `model` on `dataset.train` and leaves the best weights in it and in
/// `out_dir/best.safetensors`.
///
/// `resume_from`: a folder holding `last.safetensors` of an earlier, interrupted run with the
/// same config (usually `out_dir` itself); training continues after its last finished epoch
/// (a folder without that file starts from scratch). `cancel` is checked before every step; a
/// cancelled run still returns its best weights (if no epoch finished, the current weights are
/// evaluated and saved as the best).
pub fn train(
    model: &mut dyn CfModel,
    dataset: &Dataset,
    cfg: &CfTrainConfig,
    out_dir: &Path,
    resume_from: Option<&Path>,
    sink: &mut dyn EventSink,
    cancel: &CancelToken,
) -> Result<CfTrainOutcome, CfError> {
    cfg.validate()?;
    let train_rows = &dataset.train.rows;
    if train_rows.is_empty() {
        return Err(CfError::Data(format!(
            "{}: the train split has no rows",
            dataset.train.path.display()
        )));
    }
    check_ids(
        train_rows,
        model.id_space(),
        &dataset.train.path.display().to_string(),
    )?;
    let device = model.device().clone();
    let history_len = model.history_len();
    let mut evals: Vec<(String, PreparedRows)> = Vec::new();
    for name in cfg.splits_to_evaluate() {
        let rows = eval_rows(dataset, &name, cfg)?;
        check_ids(rows, model.id_space(), &format!("split `{name}`"))?;
        evals.push((
            name,
            PreparedRows::new(rows, cfg.batch_size, history_len, &device)?,
        ));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| CfError::io(out_dir, e))?;

    let all_train = batch_for(train_rows, history_len, &device)?;
    let all_labels = labels_for(train_rows, &device)?;
    let mut adam = Adam::new(model.named_vars(), cfg.lr, cfg.weight_decay)?;
    let mut state = LoopState::fresh(cfg);
    if let Some(dir) = resume_from {
        match read_last(model, &mut adam, cfg, dir)? {
            Some(saved) => {
                if let Some(dropout) = saved.dropout_state {
                    model.set_dropout_state(dropout);
                }
                if saved.best_epoch.is_some() {
                    carry_best(dir, out_dir)?;
                }
                sink.emit(Event::Resumed {
                    stage: STAGE.to_string(),
                    step: saved.step,
                });
                sink.emit(Event::Log {
                    message: format!(
                        "cf: resumed from {} after epoch {}",
                        dir.join(LAST_FILE).display(),
                        saved.epochs_done
                    ),
                });
                state = LoopState {
                    config: cfg.clone(),
                    ..saved
                };
            }
            None => {
                // What the killed attempt recorded before its first resume point goes.
                sink.emit(Event::Resumed {
                    stage: STAGE.to_string(),
                    step: 0,
                });
                sink.emit(Event::Log {
                    message: format!(
                        "cf: nothing to resume in {}, starting from scratch",
                        dir.display()
                    ),
                })
            }
        }
    }

    let n = train_rows.len();
    let batches_per_epoch = n.div_ceil(cfg.batch_size);
    sink.emit(Event::StageStarted {
        stage: STAGE.to_string(),
        total_steps: Some((cfg.max_epochs * batches_per_epoch) as u64),
    });
    let best_path = out_dir.join(BEST_FILE);
    let mut cancelled = false;
    model.set_train(true);
    'epochs: for epoch in state.epochs_done..cfg.max_epochs {
        if let Some(reason) = stop_reason(&state, cfg) {
            sink.emit(Event::Log {
                message: format!("cf: stopped after {} epochs: {reason}", state.epochs_done),
            });
            break;
        }
        let started = Instant::now();
        let order = Tensor::from_vec(epoch_order(cfg.seed, epoch, n), n, &device)?;
        for start in (0..n).step_by(cfg.batch_size) {
            if cancel.is_cancelled() {
                cancelled = true;
                break 'epochs;
            }
            let idx = order.narrow(0, start, cfg.batch_size.min(n - start))?;
            let batch = all_train.select(&idx)?;
            let labels = all_labels.index_select(&idx, 0)?;
            let loss = bce_with_logits(&model.logits(&batch)?, &labels)?;
            adam.step(&loss.backward()?)?;
            state.step += 1;
            let loss = f64::from(loss.to_scalar::<f32>()?);
            if !loss.is_finite() {
                return Err(CfError::Data(format!(
                    "training diverged: loss {loss} at step {} (epoch {epoch}); lower lr",
                    state.step
                )));
            }
            sink.emit(Event::Step {
                stage: STAGE.to_string(),
                step: state.step,
                loss,
                lr: adam.lr(),
            });
        }

        let select = evaluate_all(model, &evals, state.step, sink)?;
        let auc = select.all.auc;
        let improved = state.best_epoch.is_none() || beats(auc, state.best_auc);
        if improved {
            register_best(model, &mut state, epoch, select, &best_path, sink)?;
        } else {
            state.bad_evals += 1;
        }
        state.epochs_done = epoch + 1;
        state.adam_steps = adam.steps();
        state.dropout_state = model.dropout_state();
        write_last(model, &adam, &state, out_dir)?;
        tracing::debug!(
            epoch,
            ?auc,
            secs = started.elapsed().as_secs_f64(),
            "cf epoch"
        );
    }

    if state.best_epoch.is_none() {
        // Cancelled before the first evaluation: the current weights are all there is.
        let (_, select) = &evals[0];
        model.set_train(false);
        let metrics = collm_eval::evaluate(&select.score(model)?);
        let epoch = state.epochs_done;
        register_best(model, &mut state, epoch, metrics, &best_path, sink)?;
    }
    restore_best(model, &best_path)?;
    model.set_train(false);
    if !cancelled {
        sink.emit(Event::StageFinished {
            stage: STAGE.to_string(),
        });
    }
    Ok(CfTrainOutcome {
        best_epoch: state.best_epoch.unwrap_or(0),
        epochs_run: state.epochs_done,
        best: state.best,
        weights: best_path,
        cancelled,
    })
}

fn eval_rows<'a>(
    dataset: &'a Dataset,
    name: &str,
    cfg: &CfTrainConfig,
) -> Result<&'a [Interaction], CfError> {
    let split = dataset.split(name).ok_or_else(|| {
        let field = if *name == cfg.select_on {
            "select_on"
        } else {
            "eval_splits"
        };
        let known: Vec<String> = dataset.splits().iter().map(|s| s.name.clone()).collect();
        CfError::config(
            field,
            format!(
                "dataset `{}` has no split `{name}` (it has {known:?})",
                dataset.name
            ),
        )
    })?;
    if split.rows.is_empty() {
        return Err(CfError::Data(format!(
            "{}: split `{name}` has no rows to evaluate",
            split.path.display()
        )));
    }
    if let Some(label) = collm_data::single_label(&split.rows).filter(|_| name == cfg.select_on) {
        return Err(CfError::config(
            "select_on",
            format!(
                "split `{name}` ({}) holds only label {label}: its AUC, by which the best epoch \
                 is chosen, is undefined on it; name another split",
                split.path.display()
            ),
        ));
    }
    Ok(&split.rows)
}

/// Scores every evaluation split in eval mode, reports each, and returns the first (`select_on`).
fn evaluate_all(
    model: &mut dyn CfModel,
    evals: &[(String, PreparedRows)],
    step: u64,
    sink: &mut dyn EventSink,
) -> Result<Breakdown, CfError> {
    model.set_train(false);
    let mut select = None;
    for (name, prepared) in evals {
        let metrics = collm_eval::evaluate(&prepared.score(model)?);
        sink.emit(Event::Eval {
            stage: STAGE.to_string(),
            step,
            split: name.clone(),
            metrics: metrics.clone(),
        });
        select.get_or_insert(metrics);
    }
    model.set_train(true);
    Ok(select.unwrap_or_default())
}

/// Why the loop must not start another epoch, if it must not: `patience` evaluations in a row
/// without a new best, or the reference's abort of a run still near chance after epoch 500.
fn stop_reason(state: &LoopState, cfg: &CfTrainConfig) -> Option<String> {
    if state.bad_evals >= cfg.patience {
        return Some(format!(
            "{} evaluations without a better `{}` AUC",
            state.bad_evals, cfg.select_on
        ));
    }
    let last_epoch = state.epochs_done.checked_sub(1)?;
    let best = state.best_auc.unwrap_or(f64::NEG_INFINITY);
    (last_epoch > ABORT_AFTER_EPOCH && best < ABORT_BELOW_AUC)
        .then(|| format!("best AUC {best:.4} still below {ABORT_BELOW_AUC}, giving up"))
}

/// Strictly better; an undefined AUC (one class only) never improves.
fn beats(auc: Option<f64>, best: Option<f64>) -> bool {
    match (auc, best) {
        (Some(a), Some(b)) => a > b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

fn register_best(
    model: &dyn CfModel,
    state: &mut LoopState,
    epoch: usize,
    metrics: Breakdown,
    best_path: &Path,
    sink: &mut dyn EventSink,
) -> Result<(), CfError> {
    model.save(best_path)?;
    state.best_epoch = Some(epoch);
    state.best_auc = metrics.all.auc;
    state.best = metrics;
    state.bad_evals = 0;
    sink.emit(Event::Checkpoint {
        stage: STAGE.to_string(),
        step: state.step,
        path: best_path.display().to_string(),
        best: true,
    });
    Ok(())
}

/// Loads the best checkpoint back into the model's variables.
fn restore_best(model: &dyn CfModel, best_path: &Path) -> Result<(), CfError> {
    let mut tensors = read_tensors(best_path, model.device())?;
    assign_vars(model, &mut tensors, best_path)
}

/// The visiting order of epoch `epoch`: a shuffle that depends only on (seed, epoch), so a
/// resumed run sees the same batches as an uninterrupted one.
fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<u32> {
    let mix = seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut StdRng::seed_from_u64(mix));
    order
}
