//! The files a training run leaves in its output folder, and resuming a killed run from them.
//!
//! `best.safetensors`: the model at the best evaluation. `last.safetensors`: the model after the
//! latest finished epoch plus, under `resume.`-prefixed names, Adam's moments and the loop state
//! (JSON bytes): one file, renamed into place, so a kill can never pair weights with the wrong
//! state. `last.json` is a readable copy of that state. `load` ignores the `resume.` entries.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use collm_eval::Breakdown;
use serde::{Deserialize, Serialize};

use crate::adam::Adam;
use crate::tables::{save_tensors, tmp_path};
use crate::{CfError, CfModel, CfTrainConfig};

pub const BEST_FILE: &str = "best.safetensors";
pub const LAST_FILE: &str = "last.safetensors";
pub const LAST_JSON: &str = "last.json";
/// Names starting with this in a weights file are resume state, not model tables.
pub const RESUME_PREFIX: &str = "resume.";
const ADAM_PREFIX: &str = "resume.adam.";
const STATE_TENSOR: &str = "resume.state";

/// Where the epoch loop stands after a finished epoch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoopState {
    /// Finished epochs; the next epoch index to run.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// 0-based epoch of the best evaluation so far.
    pub best_epoch: Option<usize>,
    pub best_auc: Option<f64>,
    pub best: Breakdown,
    /// Evaluations in a row without improvement.
    pub bad_evals: usize,
    /// Per-variable Adam step counts.
    pub adam_steps: BTreeMap<String, u64>,
    /// The dropout mask stream's state (models with dropout; absent in older resume points).
    #[serde(default)]
    pub dropout_state: Option<u64>,
    pub config: CfTrainConfig,
}

impl LoopState {
    pub fn fresh(config: &CfTrainConfig) -> Self {
        LoopState {
            epochs_done: 0,
            step: 0,
            best_epoch: None,
            best_auc: None,
            best: Breakdown::default(),
            bad_evals: 0,
            adam_steps: BTreeMap::new(),
            dropout_state: None,
            config: config.clone(),
        }
    }
}

pub(crate) fn write_last(
    model: &dyn CfModel,
    adam: &Adam,
    state: &LoopState,
    out_dir: &Path,
) -> Result<(), CfError> {
    let json = serde_json::to_vec_pretty(state).map_err(|e| CfError::ResumeState {
        path: out_dir.join(LAST_JSON),
        message: e.to_string(),
    })?;
    let mut tensors: HashMap<String, Tensor> = model
        .named_state()
        .into_iter()
        .map(|(name, var)| (name, var.as_detached_tensor()))
        .collect();
    tensors.extend(adam.state_tensors(ADAM_PREFIX)?);
    let n = json.len();
    tensors.insert(
        STATE_TENSOR.to_string(),
        Tensor::from_vec(json.clone(), n, &Device::Cpu)?,
    );
    save_tensors(&tensors, &out_dir.join(LAST_FILE))?;
    write_last_json(out_dir, &json)
}

/// Writes `last.json`, the readable copy of the state in `last.safetensors`, unless it holds
/// `json` already. A kill between the two renames leaves it one epoch behind: the resume that
/// reads the weights' state writes it again.
fn write_last_json(out_dir: &Path, json: &[u8]) -> Result<(), CfError> {
    let json_path = out_dir.join(LAST_JSON);
    if std::fs::read(&json_path).is_ok_and(|held| held == json) {
        return Ok(());
    }
    let tmp = tmp_path(&json_path);
    std::fs::write(&tmp, json).map_err(|e| CfError::io(&tmp, e))?;
    std::fs::rename(&tmp, &json_path).map_err(|e| CfError::io(&json_path, e))
}

/// Restores model, optimizer and loop state from `dir/last.safetensors`; `None` when the
/// folder holds no such file (the run died before its first epoch ended).
pub(crate) fn read_last(
    model: &dyn CfModel,
    adam: &mut Adam,
    config: &CfTrainConfig,
    dir: &Path,
) -> Result<Option<LoopState>, CfError> {
    let path = dir.join(LAST_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let mut tensors = read_tensors(&path, model.device())?;
    let weights_error = |message: String| CfError::Weights {
        path: path.clone(),
        message,
    };
    let json = tensors
        .remove(STATE_TENSOR)
        .ok_or_else(|| weights_error(format!("no `{STATE_TENSOR}`: not a resume checkpoint")))?
        .to_vec1::<u8>()?;
    let state: LoopState = serde_json::from_slice(&json).map_err(|e| CfError::ResumeState {
        path: path.clone(),
        message: format!("`{STATE_TENSOR}`: {e}"),
    })?;
    check_same_run(&state.config, config, &path)?;
    assign_vars(model, &mut tensors, &path)?;
    adam.restore(&mut tensors, ADAM_PREFIX, &state.adam_steps, &path)?;
    if !tensors.is_empty() {
        let mut names: Vec<_> = tensors.into_keys().collect();
        names.sort();
        return Err(weights_error(format!("unexpected tensors {names:?}")));
    }
    write_last_json(dir, &json)?;
    Ok(Some(state))
}

pub(crate) fn read_tensors(
    path: &Path,
    device: &Device,
) -> Result<HashMap<String, Tensor>, CfError> {
    candle_core::safetensors::load(path, device).map_err(|e| CfError::Weights {
        path: path.to_path_buf(),
        message: format!("cannot read safetensors: {e}"),
    })
}

/// Sets each model variable and buffer from the tensor of the same name (removed from
/// `tensors`).
pub(crate) fn assign_vars(
    model: &dyn CfModel,
    tensors: &mut HashMap<String, Tensor>,
    path: &Path,
) -> Result<(), CfError> {
    for (name, var) in model.named_state() {
        let weights_error = |message: String| CfError::Weights {
            path: path.to_path_buf(),
            message,
        };
        let t = tensors
            .remove(&name)
            .ok_or_else(|| weights_error(format!("missing tensor `{name}`")))?;
        if t.shape() != var.as_tensor().shape() {
            return Err(weights_error(format!(
                "tensor `{name}` has shape {:?}, the model expects {:?}",
                t.dims(),
                var.as_tensor().dims()
            )));
        }
        var.set(&t.to_dtype(var.as_tensor().dtype())?)?;
    }
    Ok(())
}

/// Only the stopping rule and the reported splits may change when a run is resumed: anything
/// else would silently mix two different trainings.
fn check_same_run(saved: &CfTrainConfig, now: &CfTrainConfig, path: &Path) -> Result<(), CfError> {
    let mut comparable = now.clone();
    comparable.max_epochs = saved.max_epochs;
    comparable.patience = saved.patience;
    comparable.eval_splits = saved.eval_splits.clone();
    if &comparable == saved {
        Ok(())
    } else {
        Err(CfError::ResumeState {
            path: path.to_path_buf(),
            message: format!(
                "checkpoint was written with a different training config ({saved:?}); only \
                 max_epochs, patience and eval_splits may change on resume, got {now:?}"
            ),
        })
    }
}

/// The best checkpoint of `from` brought into `out_dir` (a resume into a new folder).
pub(crate) fn carry_best(from: &Path, out_dir: &Path) -> Result<PathBuf, CfError> {
    let src = from.join(BEST_FILE);
    let dst = out_dir.join(BEST_FILE);
    if src != dst {
        std::fs::copy(&src, &dst).map_err(|e| CfError::io(&src, e))?;
    } else if !dst.exists() {
        return Err(CfError::io(
            &dst,
            std::io::Error::new(std::io::ErrorKind::NotFound, "best checkpoint missing"),
        ));
    }
    Ok(dst)
}
