//! Dice, DIN's data-adaptive activation: `p·x + (1 − p)·alpha·x` with `p = sigmoid(bn(x))`,
//! where `bn` is the reference's `nn.BatchNorm1d(features, eps=1e-8)` (affine, momentum 0.1).
//!
//! Training mode standardises with the batch's mean and biased variance and moves the running
//! statistics (the running variance takes the unbiased batch variance, as PyTorch does); eval
//! mode standardises with the running statistics. The statistics are buffers, not variables:
//! they never get a gradient.

use candle_core::{Tensor, Var};

use crate::nn::sigmoid;
use crate::setup::Setup;
use crate::tables::Init;
use crate::CfError;

pub const DICE_EPS: f64 = 1e-8;
pub const BN_MOMENTUM: f64 = 0.1;

pub struct Dice {
    /// `[C]`, or `[C, 1]` for the reference's 3-d Dice (the attention unit's).
    alpha: Var,
    bn_weight: Var,
    bn_bias: Var,
    running_mean: Var,
    running_var: Var,
}

impl Dice {
    /// Reads or creates `{prefix}.alpha` and `{prefix}.bn.*` (alpha 0, weight 1, bias 0, running
    /// mean 0, running variance 1, as PyTorch starts them); the statistics are recorded as buffers.
    pub(crate) fn new(
        setup: &mut Setup,
        prefix: &str,
        features: usize,
        column_alpha: bool,
    ) -> Result<Self, CfError> {
        let alpha_shape: Vec<usize> = if column_alpha {
            vec![features, 1]
        } else {
            vec![features]
        };
        let c = |v| Init::Constant(v);
        let bn = format!("{prefix}.bn");
        let stat = |setup: &mut Setup, name: &str, value| {
            let name = format!("{bn}.{name}");
            let var = setup.tensor(&name, &[features], c(value))?;
            setup.record_buffer(name, var.clone());
            Ok::<_, CfError>(var)
        };
        Ok(Dice {
            alpha: setup.var(format!("{prefix}.alpha"), &alpha_shape, c(0.0))?,
            bn_weight: setup.var(format!("{bn}.weight"), &[features], c(1.0))?,
            bn_bias: setup.var(format!("{bn}.bias"), &[features], c(0.0))?,
            running_mean: stat(setup, "running_mean", 0.0)?,
            running_var: stat(setup, "running_var", 1.0)?,
        })
    }

    /// A Dice over given tensors (each `[C]`; alpha may be `[C, 1]`), of any float dtype.
    pub fn from_vars(
        alpha: Var,
        bn_weight: Var,
        bn_bias: Var,
        running_mean: Var,
        running_var: Var,
    ) -> Self {
        Dice {
            alpha,
            bn_weight,
            bn_bias,
            running_mean,
            running_var,
        }
    }

    /// The running (mean, variance).
    pub fn running_stats(&self) -> (Tensor, Tensor) {
        (
            self.running_mean.as_detached_tensor(),
            self.running_var.as_detached_tensor(),
        )
    }

    /// `x`: `[N, C]`, statistics per column over the N rows (the reference's 3-d Dice on
    /// `[B, T, C]` pools B and T, i.e. the rows of `x.reshape(B·T, C)`).
    pub fn forward(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let features = x.dim(1)?;
        let standardised = if train {
            let rows = x.dim(0)?;
            let mean = x.mean_keepdim(0)?;
            let centred = x.broadcast_sub(&mean)?;
            let var = centred.sqr()?.mean_keepdim(0)?;
            if rows > 1 {
                self.update_running(&mean.squeeze(0)?, &var.squeeze(0)?, rows)?;
            }
            centred.broadcast_div(&(var + DICE_EPS)?.sqrt()?)?
        } else {
            let (mean, var) = self.running_stats();
            x.broadcast_sub(&mean)?
                .broadcast_div(&(var + DICE_EPS)?.sqrt()?)?
        };
        let bn = standardised
            .broadcast_mul(self.bn_weight.as_tensor())?
            .broadcast_add(self.bn_bias.as_tensor())?;
        let p = sigmoid(&bn)?;
        let alpha = self.alpha.as_tensor().reshape(features)?;
        // p·x + (1 − p)·alpha·x = x · (alpha + p·(1 − alpha))
        let gate = p
            .broadcast_mul(&alpha.affine(-1.0, 1.0)?)?
            .broadcast_add(&alpha)?;
        x * gate
    }

    fn update_running(&self, mean: &Tensor, var: &Tensor, rows: usize) -> candle_core::Result<()> {
        let (mean, var) = (mean.detach(), var.detach());
        let unbiased = (var * (rows as f64 / (rows - 1) as f64))?;
        let keep = 1.0 - BN_MOMENTUM;
        let (old_mean, old_var) = self.running_stats();
        self.running_mean
            .set(&((old_mean * keep)? + (mean * BN_MOMENTUM)?)?)?;
        self.running_var
            .set(&((old_var * keep)? + (unbiased * BN_MOMENTUM)?)?)
    }
}
