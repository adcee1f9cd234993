//! Adam with coupled L2 weight decay and dense updates, as `torch.optim.Adam(weight_decay=wd)`:
//! the decay is added to the gradient before the moments, so Adam rescales it and rows that
//! never get a data gradient still shrink steadily (collm-spec.md §8, gotcha 11). candle-nn's AdamW decouples it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::backprop::GradStore;
use std::cell::RefCell;

use candle_core::{CpuStorage, DType, Device, InplaceOp2, Layout, Tensor, Var};

use crate::CfError;

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPS: f64 = 1e-8;

struct Slot {
    name: String,
    var: Var,
    /// First and second moments, kept on the host: the update is one fused pass, in place for
    /// CPU variables (a chain of candle tensor ops costs ~15 table-sized passes and allocations
    /// per step, which dominated MF training).
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
    pub fn new(
        named_vars: Vec<(String, Var)>,
        lr: f64,
        weight_decay: f64,
    ) -> candle_core::Result<Self> {
        let slots = named_vars
            .into_iter()
            .map(|(name, var)| {
                if var.as_tensor().dtype() != DType::F32 {
                    candle_core::bail!(
                        "adam: `{name}` is {:?}, only f32 is supported",
                        var.as_tensor().dtype()
                    );
                }
                let n = var.as_tensor().elem_count();
                Ok(Slot {
                    name,
                    var,
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                    steps: 0,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Adam {
            lr,
            weight_decay,
            slots,
        })
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
            let hyper = Hyper {
                step_size: (self.lr / (1.0 - BETA1.powi(t))) as f32,
                inv_bias2_sqrt: (1.0 / (1.0 - BETA2.powi(t)).sqrt()) as f32,
                weight_decay: self.weight_decay as f32,
            };
            let grad = grad.to_dtype(DType::F32)?.contiguous()?;
            let p = slot.var.as_tensor();
            if p.device().is_cpu() && p.is_contiguous() {
                // In place: no table-sized allocation per step.
                let op = InPlaceAdam {
                    m: RefCell::new(&mut slot.m),
                    v: RefCell::new(&mut slot.v),
                    hyper,
                };
                p.inplace_op2(&grad, &op)?;
            } else {
                let mut values = p.flatten_all()?.to_vec1::<f32>()?;
                let grad = grad.flatten_all()?.to_vec1::<f32>()?;
                hyper.apply(&mut values, &grad, &mut slot.m, &mut slot.v);
                slot.var
                    .set(&Tensor::from_vec(values, p.shape(), p.device())?)?;
            }
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
        self.slots
            .iter()
            .map(|s| (s.name.clone(), s.steps))
            .collect()
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
                        message: format!(
                            "optimizer tensor `{key}` has shape {:?}, expected {:?}",
                            t.dims(),
                            shape.dims()
                        ),
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

/// The per-step constants of one variable's update.
struct Hyper {
    /// lr / (1 - beta1^t)
    step_size: f32,
    /// 1 / sqrt(1 - beta2^t)
    inv_bias2_sqrt: f32,
    weight_decay: f32,
}

impl Hyper {
    /// PyTorch's Adam, one fused pass: g += wd·w; m = b1·m + (1-b1)·g; v = b2·v + (1-b2)·g²;
    /// w -= step_size · m / (sqrt(v)/sqrt(1 - beta2^t) + eps).
    fn apply(&self, w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        let (b1, b2, eps) = (BETA1 as f32, BETA2 as f32, EPS as f32);
        for (((w, g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = g + self.weight_decay * *w;
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *w -= self.step_size * *m / (v.sqrt() * self.inv_bias2_sqrt + eps);
        }
    }
}

/// `Hyper::apply` on a CPU variable's own storage, reading the gradient in place too.
struct InPlaceAdam<'a> {
    m: RefCell<&'a mut Vec<f32>>,
    v: RefCell<&'a mut Vec<f32>>,
    hyper: Hyper,
}

impl InplaceOp2 for InPlaceAdam<'_> {
    fn name(&self) -> &'static str {
        "fused-adam"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        grad: &CpuStorage,
        grad_l: &Layout,
    ) -> candle_core::Result<()> {
        let (Some((w0, w1)), Some((g0, g1))) =
            (dst_l.contiguous_offsets(), grad_l.contiguous_offsets())
        else {
            candle_core::bail!("fused-adam: non-contiguous operands");
        };
        let (CpuStorage::F32(w), CpuStorage::F32(g)) = (dst, grad) else {
            candle_core::bail!("fused-adam: f32 operands expected");
        };
        let (mut m, mut v) = (self.m.borrow_mut(), self.v.borrow_mut());
        self.hyper
            .apply(&mut w[w0..w1], &g[g0..g1], &mut m[..], &mut v[..]);
        Ok(())
    }
}
