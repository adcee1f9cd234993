//! The dense building blocks of SASRec and DIN: linear maps, layer norm, sigmoid, and the
//! train/eval mode with its seeded dropout masks (the elementwise work runs as the fused ops of
//! `fused`).

use std::sync::Mutex;

use candle_core::{Tensor, Var};

use crate::fused::{layer_norm, linear, scale_by};
use crate::setup::Setup;
use crate::tables::Init;
use crate::CfError;

/// `nn.Linear` (weight `[out, in]`) or a kernel-1 `nn.Conv1d` (weight `[out, in, 1]`, the
/// reference's point-wise feed-forward), applied over the last axis.
pub(crate) struct Linear {
    pub weight: Var,
    pub bias: Var,
}

/// How a layer's weight and bias start.
pub(crate) enum LinearInit {
    /// PyTorch's default for `Linear`/`Conv1d`: both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (weight
    /// by kaiming-uniform with a = sqrt(5), which reduces to the same bound).
    Torch,
    /// Xavier-normal weight, zero bias (DIN's `_init_weights`).
    XavierNormal,
}

impl Linear {
    /// Reads or draws `{prefix}.weight` and `{prefix}.bias`; `kernel` adds the Conv1d axis.
    pub fn new(
        setup: &mut Setup,
        prefix: &str,
        (inputs, outputs): (usize, usize),
        kernel: bool,
        init: LinearInit,
    ) -> Result<Self, CfError> {
        let shape: Vec<usize> = if kernel {
            vec![outputs, inputs, 1]
        } else {
            vec![outputs, inputs]
        };
        let (w_init, b_init) = match init {
            LinearInit::Torch => {
                let bound = 1.0 / (inputs as f64).sqrt();
                (Init::Uniform { bound }, Init::Uniform { bound })
            }
            LinearInit::XavierNormal => (
                Init::Normal {
                    std: xavier_std(inputs, outputs),
                    zero_padding_row: false,
                },
                Init::Constant(0.0),
            ),
        };
        let weight = setup.var(format!("{prefix}.weight"), &shape, w_init)?;
        let bias = setup.var(format!("{prefix}.bias"), &[outputs], b_init)?;
        Ok(Linear { weight, bias })
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        affine_map(x, self.weight.as_tensor(), self.bias.as_tensor())
    }
}

/// `x · wᵀ + b` over the last axis of `x`; `w` is `[out, in]` or `[out, in, 1]`.
pub(crate) fn affine_map(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let w = if w.rank() == 3 {
        w.squeeze(2)?
    } else {
        w.clone()
    };
    if x.rank() == 2 {
        // Already rows: a reshape would be one more graph node to pay for in the backward.
        return linear(x, &w, b);
    }
    let mut dims = x.dims().to_vec();
    let inputs = dims.pop().unwrap_or(1);
    let rows: usize = dims.iter().product();
    let y = linear(&x.reshape((rows, inputs))?, &w, b)?;
    dims.push(y.dim(1)?);
    y.reshape(dims)
}

/// `nn.init.xavier_normal_` std for a `[outputs, inputs]` weight (embeddings: `[rows, dim]`).
pub(crate) fn xavier_std(inputs: usize, outputs: usize) -> f64 {
    (2.0 / (inputs + outputs) as f64).sqrt()
}

/// `nn.LayerNorm(dim, eps)` weight and bias.
pub(crate) struct LayerNorm {
    pub weight: Var,
    pub bias: Var,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(setup: &mut Setup, prefix: &str, dim: usize, eps: f64) -> Result<Self, CfError> {
        let weight = setup.var(format!("{prefix}.weight"), &[dim], Init::Constant(1.0))?;
        let bias = setup.var(format!("{prefix}.bias"), &[dim], Init::Constant(0.0))?;
        Ok(LayerNorm { weight, bias, eps })
    }

    /// Normalises the last axis with the biased variance, then scales and shifts.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        layer_norm(x, self.weight.as_tensor(), self.bias.as_tensor(), self.eps)
    }
}

/// `sigmoid(x) = (1 + tanh(x / 2)) / 2`: finite in value and gradient for any `x`, unlike
/// `1 / (1 + exp(-x))`, whose backward multiplies 0 by an overflowed exp.
pub(crate) fn sigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    ((x * 0.5)?.tanh()? + 1.0)? * 0.5
}

/// Whether a model trains, and the dropout it then applies. Models start in eval mode.
pub(crate) struct Mode {
    pub training: bool,
    rate: f64,
    rng: MaskRng,
}

impl Mode {
    pub fn new(rate: f64, seed: u64) -> Self {
        Mode {
            training: false,
            rate,
            rng: MaskRng::new(seed),
        }
    }

    /// Dropout multipliers for `n` values in training mode (drawn even at rate 0), none in eval
    /// mode.
    pub fn mask(&self, n: usize) -> Option<Vec<f32>> {
        self.training.then(|| self.rng.mask(n, self.rate))
    }

    /// The dropout stream (its state is part of a resume point).
    pub fn rng(&self) -> &MaskRng {
        &self.rng
    }

    /// `x` with dropout in training mode, `x` itself in eval mode.
    pub fn dropout(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.training {
            self.rng.dropout(x, self.rate)
        } else {
            Ok(x.clone())
        }
    }
}

/// The random stream of a model's dropout masks: seeded, so a run is reproducible; its state
/// goes into each resume point, so a resumed run draws the masks an uninterrupted one would.
pub(crate) struct MaskRng(Mutex<u64>);

impl MaskRng {
    pub fn new(seed: u64) -> Self {
        MaskRng(Mutex::new(seed ^ 0x5DEE_CE66_D1CE_5EED))
    }

    /// Where the stream is (for a resume point).
    pub fn state(&self) -> u64 {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Continues the stream from a saved [`MaskRng::state`].
    pub fn set_state(&self, state: u64) {
        *self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = state;
    }

    /// Inverted-dropout multipliers for `n` values: each 1 / (1 − p) with probability 1 − p,
    /// else 0.
    pub fn mask(&self, n: usize, p: f64) -> Vec<f32> {
        let scale = (1.0 / (1.0 - p)) as f32;
        // Compare 24-bit uniforms against p: two per 64-bit draw.
        let threshold = (p * f64::from(1u32 << 24)) as u32;
        let mut mask = Vec::with_capacity(n + 1);
        let mut state = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while mask.len() < n {
            let z = splitmix64(&mut state);
            for half in [(z >> 40) as u32, ((z >> 8) & 0xff_ffff) as u32] {
                mask.push(if half >= threshold { scale } else { 0.0 });
            }
        }
        mask.truncate(n);
        mask
    }

    /// `x` with inverted dropout at rate `p`.
    pub fn dropout(&self, x: &Tensor, p: f64) -> candle_core::Result<Tensor> {
        if p <= 0.0 {
            return Ok(x.clone());
        }
        scale_by(x, self.mask(x.elem_count(), p))
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `[B·T]`: 1 where the history id is real, 0 where it is padding (id 0).
pub(crate) fn keep_values(his: &Tensor) -> candle_core::Result<Vec<f32>> {
    Ok(his
        .flatten_all()?
        .to_vec1::<u32>()?
        .into_iter()
        .map(|id| if id == 0 { 0.0 } else { 1.0 })
        .collect())
}
