//! What fills the ID slots: the CIE mapping (an MLP from a collaborative vector into the LLM's
//! token-embedding space) or, for the ablation, free per-user and per-item token embeddings.
//!
//! CIE (spec §3.3): `Linear(d, m·d) -> ReLU -> Linear(m·d, H·proj_token_num)`, one module shared by
//! the user and the item slot, no dropout, PyTorch's default `Linear` initialisation
//! (uniform in ±1/√fan_in for weights and biases). Weights are stored `[out, in]` under the
//! reference's names (`llama_proj.0.*`, `llama_proj.2.*`), so a PyTorch user can load them.
//!
//! ID tokens (the reference's `personlized_prompt`, a bias-free `Linear(U+I, H·T)` over one-hot
//! ids): a table of `U + I` rows, users first, then items at `U + iid`, initialised uniform in
//! ±1/√(U+I) like that Linear. Stored as `[U+I, H·T]` under `id_tokens.weight`.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};

use crate::config::CfInput;
use crate::error::{PipelineError, Result};
use crate::prompt::SlotKind;

/// A trainable tensor and its file name.
pub type NamedVar = (String, Var);

fn uniform_var(
    shape: (usize, usize),
    bound: f64,
    rng: &mut rand::rngs::StdRng,
    device: &Device,
) -> Result<Var> {
    let n = shape.0 * shape.1;
    let data: Vec<f32> = (0..n)
        .map(|_| rng.gen_range(-bound..bound) as f32)
        .collect();
    Ok(Var::from_tensor(&Tensor::from_vec(data, shape, device)?)?)
}

/// The CIE mapping MLP.
#[derive(Debug, Clone)]
pub struct Cie {
    w1: Var,
    b1: Var,
    w2: Var,
    b2: Var,
    tokens: usize,
    hidden: usize,
    input: CfInput,
}

/// Each row of `x` divided by its L2 norm (a zero row stays zero).
fn unit_rows(x: &Tensor) -> Result<Tensor> {
    let norm = (x.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?;
    Ok(x.broadcast_div(&norm)?)
}

impl Cie {
    /// A freshly initialised mapping `d -> mid_times·d -> hidden·tokens`.
    pub fn new(
        d: usize,
        mid_times: usize,
        hidden: usize,
        tokens: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Cie> {
        if d == 0 || mid_times == 0 || hidden == 0 || tokens == 0 {
            return Err(PipelineError::config(
                "mapping",
                "all mapping sizes must be positive",
            ));
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mid = d * mid_times;
        let out = hidden * tokens;
        let b1_bound = 1.0 / (d as f64).sqrt();
        let b2_bound = 1.0 / (mid as f64).sqrt();
        let w1 = uniform_var((mid, d), b1_bound, &mut rng, device)?;
        let b1 = uniform_var((1, mid), b1_bound, &mut rng, device)?;
        let w2 = uniform_var((out, mid), b2_bound, &mut rng, device)?;
        let b2 = uniform_var((1, out), b2_bound, &mut rng, device)?;
        Ok(Cie {
            w1,
            b1,
            w2,
            b2,
            tokens,
            hidden,
            input: CfInput::Raw,
        })
    }

    /// The same mapping reading its input as `input` says.
    pub fn with_input(self, input: CfInput) -> Cie {
        Cie { input, ..self }
    }

    /// `[N, d]` collaborative vectors to `[N, tokens, hidden]` slot embeddings.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.to_dtype(DType::F32)?;
        let x = match self.input {
            CfInput::Raw => x,
            CfInput::Unit => unit_rows(&x)?,
        };
        let h = x
            .matmul(&self.w1.t()?)?
            .broadcast_add(self.b1.as_tensor())?
            .relu()?;
        let y = h
            .matmul(&self.w2.t()?)?
            .broadcast_add(self.b2.as_tensor())?;
        Ok(y.reshape((x.dim(0)?, self.tokens, self.hidden))?)
    }

    /// What the mapping reads of its input.
    pub fn input(&self) -> CfInput {
        self.input
    }

    pub fn vars(&self) -> Vec<NamedVar> {
        // Biases are stored 1-D as in PyTorch; they live as [1, n] here for broadcasting.
        vec![
            ("llama_proj.0.weight".into(), self.w1.clone()),
            ("llama_proj.0.bias".into(), self.b1.clone()),
            ("llama_proj.2.weight".into(), self.w2.clone()),
            ("llama_proj.2.bias".into(), self.b2.clone()),
        ]
    }
}

/// Free token embeddings per user and per item, or (shared) one for every user and one for
/// every item: a soft prompt.
#[derive(Debug, Clone)]
pub struct IdTokens {
    table: Var,
    users: usize,
    items: usize,
    tokens: usize,
    hidden: usize,
    shared: bool,
}

impl IdTokens {
    /// `users` and `items` are table sizes (max id + 1, row 0 the padding id).
    pub fn new(
        users: usize,
        items: usize,
        hidden: usize,
        tokens: usize,
        seed: u64,
        device: &Device,
    ) -> Result<IdTokens> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let bound = 1.0 / ((users + items) as f64).sqrt();
        let table = uniform_var((users + items, hidden * tokens), bound, &mut rng, device)?;
        Ok(IdTokens {
            table,
            users,
            items,
            tokens,
            hidden,
            shared: false,
        })
    }

    /// A soft prompt: row 0 fills every user slot, row 1 every item slot. The rows start as the
    /// reference's `Linear(2, H·T, bias=False)` does (uniform within 1/sqrt(2)).
    pub fn shared(hidden: usize, tokens: usize, seed: u64, device: &Device) -> Result<IdTokens> {
        Ok(IdTokens {
            shared: true,
            ..IdTokens::new(1, 1, hidden, tokens, seed, device)?
        })
    }

    /// Whether one row serves every user (and one every item).
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// `[N, tokens, hidden]` embeddings of the given user or item ids.
    pub fn forward(&self, kind: SlotKind, ids: &[u32]) -> Result<Tensor> {
        let (offset, limit) = match kind {
            SlotKind::User => (0, self.users),
            SlotKind::Item => (self.users, self.items),
        };
        let rows: Vec<u32> = ids
            .iter()
            .map(|&id| {
                if self.shared {
                    Ok(offset as u32)
                } else if (id as usize) < limit {
                    Ok(offset as u32 + id)
                } else {
                    Err(PipelineError::Data(format!(
                        "{kind:?} id {id} is outside the ID-token table (size {limit})"
                    )))
                }
            })
            .collect::<Result<_>>()?;
        let idx = Tensor::new(rows.as_slice(), self.table.device())?;
        Ok(self.table.as_tensor().index_select(&idx, 0)?.reshape((
            ids.len(),
            self.tokens,
            self.hidden,
        ))?)
    }

    pub fn vars(&self) -> Vec<NamedVar> {
        let name = if self.shared {
            "soft_prompt.weight"
        } else {
            "id_tokens.weight"
        };
        vec![(name.into(), self.table.clone())]
    }
}

/// Writes `vars` to a safetensors file (biases as 1-D, as PyTorch stores them).
pub fn save_vars(vars: &[NamedVar], path: &std::path::Path) -> Result<()> {
    let map: HashMap<String, Tensor> = vars
        .iter()
        .map(|(name, v)| {
            let t = v.as_tensor();
            let t = if name.ends_with(".bias") {
                t.flatten_all()?
            } else {
                t.clone()
            };
            Ok((name.clone(), t))
        })
        .collect::<Result<_>>()?;
    candle_core::safetensors::save(&map, path)
        .map_err(|e| PipelineError::checkpoint(path, e.to_string()))
}

/// Loads `vars` in place from a safetensors file written by [`save_vars`]; every var must be
/// present with its element count.
pub fn load_vars(vars: &[NamedVar], path: &std::path::Path) -> Result<()> {
    let device = vars
        .first()
        .map(|(_, v)| v.device().clone())
        .unwrap_or(Device::Cpu);
    let map = candle_core::safetensors::load(path, &device)
        .map_err(|e| PipelineError::checkpoint(path, e.to_string()))?;
    for (name, var) in vars {
        let t = map.get(name).ok_or_else(|| {
            PipelineError::checkpoint(path, format!("tensor `{name}` is missing"))
        })?;
        if t.elem_count() != var.elem_count() {
            return Err(PipelineError::checkpoint(
                path,
                format!(
                    "tensor `{name}` has shape {:?}, the model expects {:?}",
                    t.dims(),
                    var.dims()
                ),
            ));
        }
        var.set(&t.to_dtype(var.dtype())?.reshape(var.shape())?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cie_shapes_sizes_and_relu() {
        let d = Device::Cpu;
        let cie = Cie::new(4, 10, 6, 2, 7, &d).unwrap();
        let n: usize = cie.vars().iter().map(|(_, v)| v.elem_count()).sum();
        assert_eq!(n, 4 * 40 + 40 + 40 * 12 + 12);
        let x = Tensor::new(&[[1.0f32, -2.0, 0.5, 3.0], [0.0, 0.0, 0.0, 0.0]], &d).unwrap();
        let y = cie.forward(&x).unwrap();
        assert_eq!(y.dims(), &[2, 2, 6]);
        // By hand for the zero vector: relu(b1)·W2ᵀ + b2.
        let b1 = cie.b1.as_tensor().relu().unwrap();
        let want = b1
            .matmul(&cie.w2.t().unwrap())
            .unwrap()
            .broadcast_add(cie.b2.as_tensor())
            .unwrap();
        let got = y
            .get(1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn unit_input_ignores_length_and_passes_gradient_across_it() {
        let d = Device::Cpu;
        let raw = Cie::new(3, 2, 4, 1, 5, &d).unwrap();
        let unit = raw.clone().with_input(CfInput::Unit);
        let flat = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let x = Tensor::new(&[[0.03f32, -0.04, 0.0], [0.0, 0.0, 0.0]], &d).unwrap();
        let long = (&x * 100.0).unwrap();
        // By hand: (0.03, -0.04, 0) has length 0.05, so unit input reads (0.6, -0.8, 0) whatever
        // its length; the zero row stays zero.
        let by_hand = Tensor::new(&[[0.6f32, -0.8, 0.0], [0.0, 0.0, 0.0]], &d).unwrap();
        let want = flat(raw.forward(&by_hand).unwrap());
        for input in [&x, &long] {
            for (a, b) in flat(unit.forward(input).unwrap()).iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
        assert_ne!(
            flat(raw.forward(&x).unwrap()),
            want,
            "raw input reads the length"
        );
        // Through the normalisation a trained foundation gets a gradient, and only across the
        // vector: along it the output does not change.
        let v = Var::from_tensor(&Tensor::new(&[[0.3f32, -0.4, 1.2]], &d).unwrap()).unwrap();
        let loss = unit.forward(v.as_tensor()).unwrap().sum_all().unwrap();
        let grad = loss.backward().unwrap();
        let g = flat(grad.get(&v).unwrap().clone());
        let along: f32 = g.iter().zip([0.3f32, -0.4, 1.2]).map(|(a, b)| a * b).sum();
        assert!(g.iter().any(|v| v.abs() > 1e-4), "{g:?}");
        assert!(along.abs() < 1e-5, "gradient along the vector: {along}");
    }

    #[test]
    fn pytorch_default_init_bounds_and_seed() {
        let d = Device::Cpu;
        let a = Cie::new(256, 10, 8, 1, 1, &d).unwrap();
        let b = Cie::new(256, 10, 8, 1, 1, &d).unwrap();
        let w2 = a.w2.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let bound = 1.0 / (2560f32).sqrt();
        assert!(w2.iter().all(|v| v.abs() <= bound));
        assert!(w2.iter().any(|v| v.abs() > 0.9 * bound));
        assert_eq!(w2, b.w2.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    }

    #[test]
    fn id_tokens_pick_their_rows_and_reject_out_of_range() {
        let d = Device::Cpu;
        let t = IdTokens::new(3, 5, 4, 1, 0, &d).unwrap();
        let u = t
            .forward(SlotKind::User, &[2])
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let i = t
            .forward(SlotKind::Item, &[0])
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let table = t.table.as_tensor();
        assert_eq!(u, table.get(2).unwrap().to_vec1::<f32>().unwrap());
        assert_eq!(i, table.get(3).unwrap().to_vec1::<f32>().unwrap());
        assert!(t.forward(SlotKind::Item, &[5]).is_err());
    }

    #[test]
    fn a_soft_prompt_is_one_row_per_slot_kind_for_everyone() {
        let d = Device::Cpu;
        let t = IdTokens::shared(4, 3, 0, &d).unwrap();
        assert!(t.is_shared());
        let rows = |kind, ids: &[u32]| {
            t.forward(kind, ids)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let table = t.table.as_tensor();
        let user_row = table.get(0).unwrap().to_vec1::<f32>().unwrap();
        let item_row = table.get(1).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(user_row.len(), 12, "3 tokens of width 4");
        // Any id, however large: the same tokens.
        assert_eq!(
            rows(SlotKind::User, &[7, 100_000]),
            [user_row.clone(), user_row].concat()
        );
        assert_eq!(rows(SlotKind::Item, &[0]), item_row);
        let bound = 1.0 / 2f32.sqrt();
        assert!(item_row.iter().all(|v| v.abs() <= bound));
        assert_eq!(t.vars()[0].0, "soft_prompt.weight");
    }

    #[test]
    fn save_load_round_trip() {
        let d = Device::Cpu;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cie.safetensors");
        let a = Cie::new(3, 2, 4, 1, 1, &d).unwrap();
        save_vars(&a.vars(), &path).unwrap();
        let b = Cie::new(3, 2, 4, 1, 2, &d).unwrap();
        load_vars(&b.vars(), &path).unwrap();
        for ((_, x), (_, y)) in a.vars().iter().zip(b.vars()) {
            assert_eq!(
                x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                y.flatten_all().unwrap().to_vec1::<f32>().unwrap()
            );
        }
        let raw = candle_core::safetensors::load(&path, &d).unwrap();
        assert_eq!(raw["llama_proj.0.bias"].dims(), &[6]);
        assert_eq!(raw["llama_proj.2.weight"].dims(), &[4, 6]);
        let wrong = Cie::new(5, 2, 4, 1, 1, &d).unwrap();
        assert!(load_vars(&wrong.vars(), &path)
            .unwrap_err()
            .to_string()
            .contains("llama_proj.0"));
    }
}
