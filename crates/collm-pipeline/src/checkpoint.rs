//! Checkpoints: the model's tuned parts as safetensors (LoRA, also as a peft adapter folder;
//! the mapping; the collaborative model), the optimiser moments and the stage's loop state, so a
//! killed run resumes where its last checkpoint left it.
//!
//! Layout of one checkpoint folder:
//! - `lora.safetensors` (peft names) and `adapter/` (`adapter_config.json`,
//!   `adapter_model.safetensors`, loadable by Python's peft) when the model has LoRA;
//! - `mapping.safetensors` (CIE as `llama_proj.*`, or `id_tokens.weight`);
//! - `cf.safetensors` (the collaborative model, collm-cf's names);
//! - `optimizer.safetensors` and `state.json` for resume points.
//!
//! Every part the model has is written, trained in this stage or not, so each folder alone
//! restores the model. Folders are written under a temporary name and renamed into place, so a
//! kill during a write leaves the previous checkpoint intact.

use std::path::{Path, PathBuf};

use collm_eval::Breakdown;
use serde::{Deserialize, Serialize};

use crate::config::Trainable;
use crate::error::{PipelineError, Result};
use crate::mapping::{load_vars, save_vars};
use crate::model::{up, CollmModel, SlotSource};

pub const LORA_FILE: &str = "lora.safetensors";
pub const PEFT_DIR: &str = "adapter";
pub const MAPPING_FILE: &str = "mapping.safetensors";
pub const CF_FILE: &str = "cf.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "state.json";

/// Where a stage is, as a resume point records it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageState {
    /// Optimiser steps finished.
    pub step: u64,
    /// The best selection AUC so far and the step it was reached at.
    pub best_auc: Option<f64>,
    pub best_step: Option<u64>,
    pub best: Option<Breakdown>,
    /// Evaluations in a row without a strictly better AUC.
    pub bad_evals: u64,
    /// Set when the stage ended (budget, early stop); its best checkpoint is final.
    pub done: bool,
    /// Where the dropout masks were, so a resumed stage draws the ones that come next (absent
    /// in resume points written before this was recorded: those restart the masks).
    #[serde(default)]
    pub masks: MaskStreams,
    /// Set when the stage stopped after a step that is due an evaluation, before that
    /// evaluation ended (a Ctrl-C during it): a resumed stage evaluates first, as the
    /// uninterrupted one did, instead of going on to the next step without it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub eval_pending: bool,
}

/// The positions of the model's dropout mask streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskStreams {
    /// LoRA's ([`collm_llm::Llm::lora_mask_stream`]); `None` without LoRA.
    pub lora: Option<u64>,
    /// The collaborative model's, when it has dropout.
    pub cf: Option<u64>,
}

/// Writes the model's parts (and the peft folder when `peft`) into `dir`, replacing it.
pub fn save_model(model: &CollmModel, dir: &Path, peft: bool) -> Result<()> {
    write_atomically(dir, |tmp| write_model_parts(model, tmp, peft))
}

/// Writes the model's parts into the existing folder `tmp` (no atomicity of its own).
pub fn write_model_parts(model: &CollmModel, tmp: &Path, peft: bool) -> Result<()> {
    {
        if model.llm.lora_config().is_some() {
            model.llm.save_lora(&tmp.join(LORA_FILE)).map_err(up)?;
            if peft {
                model
                    .llm
                    .save_peft_adapter(&tmp.join(PEFT_DIR))
                    .map_err(up)?;
            }
        }
        match &model.slots {
            SlotSource::Cie { cie, cf } => {
                save_vars(&cie.vars(), &tmp.join(MAPPING_FILE))?;
                cf.save(&tmp.join(CF_FILE))
                    .map_err(|e| PipelineError::Upstream(e.to_string()))?;
            }
            SlotSource::IdTokens(t) => save_vars(&t.vars(), &tmp.join(MAPPING_FILE))?,
            SlotSource::None => {}
        }
        Ok(())
    }
}

/// Restores what [`save_model`] wrote.
pub fn load_model(model: &CollmModel, dir: &Path) -> Result<()> {
    load_parts(
        model,
        dir,
        &[Trainable::Lora, Trainable::Mapping, Trainable::Cf],
    )
}

/// Restores only `parts` of what [`save_model`] wrote (those the model has); the others keep
/// their current values.
pub fn load_parts(model: &CollmModel, dir: &Path, parts: &[Trainable]) -> Result<()> {
    let wants = |part| parts.contains(&part);
    if wants(Trainable::Lora) && model.llm.lora_config().is_some() {
        model.llm.load_lora(&dir.join(LORA_FILE)).map_err(up)?;
    }
    match &model.slots {
        SlotSource::Cie { cie, cf } => {
            if wants(Trainable::Mapping) {
                load_vars(&cie.vars(), &dir.join(MAPPING_FILE))?;
            }
            if wants(Trainable::Cf) {
                load_vars(&cf.named_vars(), &dir.join(CF_FILE))?;
            }
        }
        SlotSource::IdTokens(t) if wants(Trainable::Mapping) => {
            load_vars(&t.vars(), &dir.join(MAPPING_FILE))?
        }
        SlotSource::IdTokens(_) | SlotSource::None => {}
    }
    Ok(())
}

pub fn write_state(dir: &Path, state: &StageState) -> Result<()> {
    write_state_file(&dir.join(STATE_FILE), state)
}

/// Writes `state` as JSON to `path` (the resume state, or a stage's `done` marker), through a
/// `.tmp` file renamed over it: a kill or a full disk mid-write leaves the old file or none,
/// never an empty `done.json` that every later resume would stop at.
pub fn write_state_file(path: &Path, state: &StageState) -> Result<()> {
    let text = serde_json::to_string_pretty(state)
        .map_err(|e| PipelineError::checkpoint(path, e.to_string()))?;
    let tmp = sibling(path, "tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| PipelineError::io(path, e))
}

/// The state in `dir`, or `None` when the folder holds none.
pub fn read_state(dir: &Path) -> Result<Option<StageState>> {
    read_state_file(&dir.join(STATE_FILE))
}

/// The state written by `write_state_file` at `path`, or `None` when there is no such file.
pub fn read_state_file(path: &Path) -> Result<Option<StageState>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| PipelineError::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| PipelineError::checkpoint(path, e.to_string()))
}

/// Runs `write` into a fresh `<dir>.tmp` folder, then swaps it in for `dir`.
pub fn write_atomically(dir: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = sibling(dir, "tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| PipelineError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| PipelineError::io(&tmp, e))?;
    write(&tmp)?;
    let old = sibling(dir, "old");
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| PipelineError::io(&old, e))?;
        }
        std::fs::rename(dir, &old).map_err(|e| PipelineError::io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| PipelineError::io(dir, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| PipelineError::io(&old, e))?;
    }
    Ok(())
}

/// Completes a [`write_atomically`] of `dir` that a kill stopped between its two renames: then
/// `dir` is missing, `dir.old` holds the previous contents and `dir.tmp` the new ones, written
/// in full (the renames start only after). Without this a resume saw no resume point and
/// started the stage again from its first step.
pub fn finish_interrupted_write(dir: &Path) -> Result<()> {
    let (tmp, old) = (sibling(dir, "tmp"), sibling(dir, "old"));
    if dir.exists() || !old.exists() {
        return Ok(());
    }
    let newest = if tmp.exists() { &tmp } else { &old };
    std::fs::rename(newest, dir).map_err(|e| PipelineError::io(dir, e))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| PipelineError::io(&old, e))?;
    }
    Ok(())
}

/// `path` beside itself with `.suffix` added to its name (`last.tmp`, `done.json.tmp`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_stopped_between_its_renames_is_finished() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("last");
        let write = |text: &'static str| {
            write_atomically(&dir, |tmp| {
                std::fs::write(tmp.join("state.json"), text).map_err(|e| PipelineError::io(tmp, e))
            })
            .unwrap()
        };
        let read = || std::fs::read_to_string(dir.join("state.json")).unwrap();
        write("step 2");
        write("step 4");
        // Killed after `last` became `last.old`, before `last.tmp` became `last`.
        std::fs::rename(&dir, sibling(&dir, "old")).unwrap();
        std::fs::create_dir(sibling(&dir, "tmp")).unwrap();
        std::fs::write(sibling(&dir, "tmp").join("state.json"), "step 6").unwrap();
        finish_interrupted_write(&dir).unwrap();
        assert_eq!(read(), "step 6");
        assert!(!sibling(&dir, "old").exists() && !sibling(&dir, "tmp").exists());
        // A first write killed while writing `last.tmp` (no `last` yet) is not taken.
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir(sibling(&dir, "tmp")).unwrap();
        finish_interrupted_write(&dir).unwrap();
        assert!(!dir.exists());
        // Nothing to do for a finished write.
        write("step 8");
        finish_interrupted_write(&dir).unwrap();
        assert_eq!(read(), "step 8");
    }

    #[test]
    fn resume_states_round_trip_and_older_ones_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let state = StageState {
            step: 6,
            best_auc: Some(0.71),
            best_step: Some(4),
            bad_evals: 1,
            masks: MaskStreams {
                lora: Some(u64::MAX - 3),
                cf: Some(17),
            },
            ..StageState::default()
        };
        write_state(dir.path(), &state).unwrap();
        assert_eq!(read_state(dir.path()).unwrap(), Some(state));

        // A resume point written before the mask positions were recorded.
        let older = r#"{"step": 6, "best_auc": 0.71, "best_step": 4, "best": null,
                        "bad_evals": 1, "done": false}"#;
        std::fs::write(dir.path().join(STATE_FILE), older).unwrap();
        let read = read_state(dir.path()).unwrap().unwrap();
        assert_eq!((read.step, read.masks), (6, MaskStreams::default()));
        assert_eq!(read_state(&dir.path().join("none")).unwrap(), None);
    }
}
