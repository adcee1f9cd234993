//! Adam with coupled L2 weight decay and dense updates, as `torch.optim.Adam(weight_decay=wd)`:
//! the decay is added to the gradient before the moments, so Adam rescales it and rows that
//! never get a data gradient still shrink steadily (gotcha 11). candle-nn's AdamW decouples it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::CfError;

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

struct Slot {
    name: String,
    var: Var,
    m: Tensor,
    v: Tensor,
    /// Steps this variable took (PyTorch keeps one per parameter; skipped when it had no grad).
    steps: u64,
}

pub struct Adam {
    lr: f64,
    weight_decay: f64,
    slots: Vec<Slot>,
}

impl Adam {
    pub fn new(named_vars: Vec<(String, Var)>, lr: f64, weight_decay: f64) -> candle_core::Result<Self> {
        let slots = named_vars
            .into_iter()
            .map(|(name, var)| {
                let zeros = var.as_tensor().zeros_like()?;
                Ok(Slot { name, m: zeros.clone(), v: zeros, var, steps: 0 })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Adam { lr, weight_decay, slots })
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// One update of every variable that has a gradient in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        for slot in &mut self.slots {
            let Some(grad) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            slot.steps += 1;
            let p = slot.var.as_tensor();
            let g = if self.weight_decay == 0.0 {
                grad.clone()
            } else {
                (grad + p.affine(self.weight_decay, 0.0)?)?
            };
            slot.m = (slot.m.affine(BETA1, 0.0)? + g.affine(1.0 - BETA1, 0.0)?)?;
            slot.v = (slot.v.affine(BETA2, 0.0)? + g.sqr()?.affine(1.0 - BETA2, 0.0)?)?;
            let t = slot.steps as i32;
            let bias1 = 1.0 - BETA1.powi(t);
            let bias2 = 1.0 - BETA2.powi(t);
            let denom = slot.v.sqrt()?.affine(1.0 / bias2.sqrt(), EPS)?;
            let update = (&slot.m / denom)?.affine(self.lr / bias1, 0.0)?;
            slot.var.set(&(p - update)?)?;
        }
        Ok(())
    }

    /// The moments as named tensors (`<prefix>m.<var>`, `<prefix>v.<var>`), for a resume file.
    pub fn state_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        self.slots
            .iter()
            .flat_map(|s| {
                [
                    (format!("{prefix}m.{}", s.name), s.m.clone()),
                    (format!("{prefix}v.{}", s.name), s.v.clone()),
                ]
            })
            .collect()
    }

    /// Per-variable step counts, for a resume file.
    pub fn steps(&self) -> BTreeMap<String, u64> {
        self.slots.iter().map(|s| (s.name.clone(), s.steps)).collect()
    }

    /// Restores what `state_tensors` and `steps` saved; `path` names the file in errors.
    pub fn restore(
        &mut self,
        tensors: &mut HashMap<String, Tensor>,
        prefix: &str,
        steps: &BTreeMap<String, u64>,
        path: &Path,
    ) -> Result<(), CfError> {
        for slot in &mut self.slots {
            let shape = slot.var.as_tensor().shape().clone();
            let mut take = |kind: &str| -> Result<Tensor, CfError> {
                let key = format!("{prefix}{kind}.{}", slot.name);
                let t = tensors.remove(&key).ok_or_else(|| CfError::Weights {
                    path: path.to_path_buf(),
                    message: format!("missing optimizer tensor `{key}`"),
                })?;
                if t.shape() != &shape {
                    return Err(CfError::Weights {
                        path: path.to_path_buf(),
                        message: format!("optimizer tensor `{key}` has shape {:?}, expected {:?}", t.dims(), shape.dims()),
                    });
                }
                Ok(t)
            };
            slot.m = take("m")?;
            slot.v = take("v")?;
            slot.steps = *steps.get(&slot.name).ok_or_else(|| CfError::ResumeState {
                path: path.to_path_buf(),
                message: format!("no optimizer step count for `{}`", slot.name),
            })?;
        }
        Ok(())
    }
}
