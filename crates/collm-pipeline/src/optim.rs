//! AdamW as the reference uses it: decoupled weight decay on tensors of 2 or more dimensions whose
//! names hold no `bias`, `ln` or `bn` ([`wants_decay`]), betas (0.9, 0.999), eps 1e-8 — with its
//! moments exposed so that a run can be resumed exactly from a checkpoint.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{backprop::GradStore, Tensor, Var};

use crate::error::{PipelineError, Result};
use crate::mapping::NamedVar;

struct Slot {
    name: String,
    var: Var,
    decay: bool,
    m: Tensor,
    v: Tensor,
}

/// The optimiser over one stage's trainable tensors.
pub struct AdamW {
    slots: Vec<Slot>,
    step: u64,
    weight_decay: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

/// Whether a tensor gets weight decay, by the reference's rule: 2-D or more, and a name without
/// `bias`, `ln` or `bn` in it. A rank-1 LoRA's `[1, in]` A is 2-D and decays, as in PyTorch.
pub fn wants_decay(name: &str, var: &Var) -> bool {
    var.rank() >= 2 && !["bias", "ln", "bn"].iter().any(|part| name.contains(part))
}

impl AdamW {
    pub fn new(vars: Vec<NamedVar>, weight_decay: f64) -> Result<AdamW> {
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let zeros = var.zeros_like()?;
                Ok(Slot {
                    decay: wants_decay(&name, &var),
                    name,
                    m: zeros.clone(),
                    v: zeros,
                    var,
                })
            })
            .collect::<Result<_>>()?;
        Ok(AdamW {
            slots,
            step: 0,
            weight_decay,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// One update at learning rate `lr`. A trainable tensor without a gradient is an error: it
    /// would mean the graph was cut somewhere and the stage trains less than it claims.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let c1 = 1.0 - self.beta1.powi(t);
        let c2 = 1.0 - self.beta2.powi(t);
        for s in &mut self.slots {
            let g = grads.get(s.var.as_tensor()).ok_or_else(|| {
                PipelineError::Data(format!(
                    "trainable tensor `{}` received no gradient",
                    s.name
                ))
            })?;
            s.m = ((&s.m * self.beta1)? + (g * (1.0 - self.beta1))?)?;
            s.v = ((&s.v * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let update = ((&s.m / c1)? / ((&s.v / c2)?.sqrt()? + self.eps)?)?;
            let decay = if s.decay {
                1.0 - lr * self.weight_decay
            } else {
                1.0
            };
            let next = ((s.var.as_tensor() * decay)? - (update * lr)?)?;
            s.var.set(&next)?;
        }
        Ok(())
    }

    /// Writes the moments and the step count.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for s in &self.slots {
            map.insert(format!("m.{}", s.name), s.m.clone());
            map.insert(format!("v.{}", s.name), s.v.clone());
        }
        let meta: HashMap<String, String> = [("step".to_string(), self.step.to_string())].into();
        let tensors: Vec<(String, Tensor)> = map.into_iter().collect();
        safetensors_save_with_meta(&tensors, meta, path)
    }

    /// Restores what [`AdamW::save`] wrote for the same set of tensors.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| PipelineError::io(path, e))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| PipelineError::checkpoint(path, e.to_string()))?;
        let step = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("step"))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| PipelineError::checkpoint(path, "no `step` in the metadata"))?;
        let device = self.slots.first().map(|s| s.var.device().clone());
        let Some(device) = device else {
            self.step = step;
            return Ok(());
        };
        let map = candle_core::safetensors::load_buffer(&bytes, &device)
            .map_err(|e| PipelineError::checkpoint(path, e.to_string()))?;
        for s in &mut self.slots {
            for (prefix, target) in [("m", &mut s.m), ("v", &mut s.v)] {
                let key = format!("{prefix}.{}", s.name);
                let t = map.get(&key).ok_or_else(|| {
                    PipelineError::checkpoint(path, format!("tensor `{key}` is missing"))
                })?;
                if t.dims() != s.var.dims() {
                    return Err(PipelineError::checkpoint(
                        path,
                        format!("tensor `{key}` has the wrong shape"),
                    ));
                }
                *target = t.clone();
            }
        }
        self.step = step;
        Ok(())
    }
}

/// candle's safetensors writer has no metadata; this one writes f32 tensors with it.
fn safetensors_save_with_meta(
    tensors: &[(String, Tensor)],
    meta: HashMap<String, String>,
    path: &Path,
) -> Result<()> {
    let data: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(name, t)| {
            let v = t
                .to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            Ok((name.clone(), bytes, t.dims().to_vec()))
        })
        .collect::<Result<_>>()?;
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
        .iter()
        .map(|(name, bytes, shape)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| PipelineError::checkpoint(path, e.to_string()))
        })
        .collect::<Result<_>>()?;
    safetensors::serialize_to_file(views, Some(meta), path)
        .map_err(|e| PipelineError::checkpoint(path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn quad_loss(w: &Var, b: &Var) -> Tensor {
        (w.as_tensor().sqr().unwrap().sum_all().unwrap()
            + b.as_tensor().sqr().unwrap().sum_all().unwrap())
        .unwrap()
    }

    #[test]
    fn first_step_by_hand_and_decay_only_on_matrices() {
        let d = Device::Cpu;
        let w = Var::new(&[[1.0f32, -2.0], [0.5, 3.0]], &d).unwrap();
        let b = Var::new(&[[1.0f32, 1.0]], &d).unwrap();
        let mut opt = AdamW::new(
            vec![("w".into(), w.clone()), ("lin.bias".into(), b.clone())],
            0.1,
        )
        .unwrap();
        let grads = quad_loss(&w, &b).backward().unwrap();
        opt.step(&grads, 0.01).unwrap();
        // First Adam step moves each entry by lr·sign(g) (bias-corrected m/√v = ±1); the matrix
        // is also shrunk by (1 - lr·wd) first.
        let w_new = w.as_tensor().to_vec2::<f32>().unwrap();
        let want = |x: f32| x * (1.0 - 0.001) - 0.01 * x.signum();
        assert!((w_new[0][0] - want(1.0)).abs() < 1e-6);
        assert!((w_new[1][1] - want(3.0)).abs() < 1e-6);
        let b_new = b.as_tensor().to_vec2::<f32>().unwrap();
        assert!(
            (b_new[0][0] - 0.99).abs() < 1e-6,
            "bias not decayed: {b_new:?}"
        );
    }

    #[test]
    fn decay_follows_the_reference_rule() {
        let d = Device::Cpu;
        let var = |dims: &[usize]| Var::zeros(dims, candle_core::DType::F32, &d).unwrap();
        let lora_a = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
        assert!(wants_decay(lora_a, &var(&[1, 64])), "rank-1 LoRA A");
        assert!(wants_decay("q_proj.lora_B.weight", &var(&[64, 1])));
        assert!(wants_decay("cf.fc_layer.fc.1.alpha", &var(&[200, 1])));
        assert!(wants_decay("llama_proj.0.weight", &var(&[320, 32])));
        assert!(!wants_decay("llama_proj.0.bias", &var(&[1, 320])));
        assert!(!wants_decay("cf.fc_layer.fc.1.bn.weight", &var(&[200, 2])));
        assert!(!wants_decay("cf.last_ln.weight", &var(&[2, 2])));
        assert!(!wants_decay("cf.item_emb.weight", &var(&[64])));
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let d = Device::Cpu;
        let dir = tempfile::tempdir().unwrap();
        let run = |resume: bool| -> Vec<f32> {
            let w = Var::new(&[[1.0f32, -2.0], [0.5, 3.0]], &d).unwrap();
            let b = Var::new(&[[1.0f32, 1.0]], &d).unwrap();
            let vars = vec![
                ("w".to_string(), w.clone()),
                ("b.bias".to_string(), b.clone()),
            ];
            let mut opt = AdamW::new(vars.clone(), 0.1).unwrap();
            for _ in 0..3 {
                opt.step(&quad_loss(&w, &b).backward().unwrap(), 0.05)
                    .unwrap();
            }
            if resume {
                opt.save(&dir.path().join("opt.safetensors")).unwrap();
                let mut fresh = AdamW::new(vars, 0.1).unwrap();
                fresh.load(&dir.path().join("opt.safetensors")).unwrap();
                assert_eq!(fresh.steps(), 3);
                opt = fresh;
            }
            for _ in 0..3 {
                opt.step(&quad_loss(&w, &b).backward().unwrap(), 0.05)
                    .unwrap();
            }
            w.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(run(false), run(true));
    }

    #[test]
    fn missing_gradient_is_an_error() {
        let d = Device::Cpu;
        let w = Var::new(&[[1.0f32, 2.0], [3.0, 4.0]], &d).unwrap();
        let unused = Var::new(&[[1.0f32, 2.0], [3.0, 4.0]], &d).unwrap();
        let mut opt = AdamW::new(
            vec![("w".into(), w.clone()), ("unused".into(), unused)],
            0.0,
        )
        .unwrap();
        let grads = w.as_tensor().sum_all().unwrap().backward().unwrap();
        assert!(opt
            .step(&grads, 0.1)
            .unwrap_err()
            .to_string()
            .contains("unused"));
    }
}
