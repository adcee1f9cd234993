//! Adam with coupled L2 weight decay and dense updates, as `torch.optim.Adam(weight_decay=wd)`:
//! the decay is added to the gradient before the moments, so Adam rescales it and rows that
//! never get a data gradient still shrink steadily (gotcha 11). candle-nn's AdamW decouples it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};

use crate::CfError;

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

struct Slot {
    name: String,
    var: Var,
    /// First and second moments, kept on the host: the update is one fused pass over them
    /// (a chain of candle tensor ops costs ~15 full passes and thread-pool barriers each step).
    m: Vec<f32>,
    v: Vec<f32>,
    /// Steps this variable took (PyTorch keeps one per parameter; skipped when it had no grad).
    steps: u64,
}

pub struct Adam {
    lr: f64,
    weight_decay: f64,
    slots: Vec<Slot>,
}

impl Adam {
    /// Every variable must be f32.
    pub fn new(named_vars: Vec<(String, Var)>, lr: f64, weight_decay: f64) -> candle_core::Result<Self> {
        let slots = named_vars
            .into_iter()
            .map(|(name, var)| {
                if var.as_tensor().dtype() != DType::F32 {
                    candle_core::bail!("adam: `{name}` is {:?}, only f32 is supported", var.as_tensor().dtype());
                }
                let n = var.as_tensor().elem_count();
                Ok(Slot { name, var, m: vec![0.0; n], v: vec![0.0; n], steps: 0 })
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
            let t = slot.steps as i32;
            let step_size = (self.lr / (1.0 - BETA1.powi(t))) as f32;
            let inv_bias2_sqrt = (1.0 / (1.0 - BETA2.powi(t)).sqrt()) as f32;
            let (b1, b2, wd, eps) = (BETA1 as f32, BETA2 as f32, self.weight_decay as f32, EPS as f32);
            let p = slot.var.as_tensor();
            let mut values = p.flatten_all()?.to_vec1::<f32>()?;
            let grad = grad.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            for (((w, g), m), v) in values.iter_mut().zip(&grad).zip(&mut slot.m).zip(&mut slot.v) {
                let g = g + wd * *w;
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *w -= step_size * *m / (v.sqrt() * inv_bias2_sqrt + eps);
            }
            slot.var.set(&Tensor::from_vec(values, p.shape(), p.device())?)?;
        }
        Ok(())
    }

    /// The moments as named tensors (`<prefix>m.<var>`, `<prefix>v.<var>`), for a resume file.
    pub fn state_tensors(&self, prefix: &str) -> candle_core::Result<Vec<(String, Tensor)>> {
        self.slots
            .iter()
            .flat_map(|s| {
                [
                    (format!("{prefix}m.{}", s.name), &s.m),
                    (format!("{prefix}v.{}", s.name), &s.v),
                ]
                .map(|(key, moment)| {
                    let shape = s.var.as_tensor().shape();
                    Ok((key, Tensor::from_slice(moment, shape, &Device::Cpu)?))
                })
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
            slot.m = take("m")?.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
            slot.v = take("v")?.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?;
            slot.steps = *steps.get(&slot.name).ok_or_else(|| CfError::ResumeState {
                path: path.to_path_buf(),
                message: format!("no optimizer step count for `{}`", slot.name),
            })?;
        }
        Ok(())
    }
}
