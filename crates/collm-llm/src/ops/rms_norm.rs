//! RMS normalisation over the last dim with a hand-written backward pass.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::vecmath::{dot, multiversion};
use super::{contiguous_f32, cpu_tensor, fast_path, par_ranges, tensor_f32, SendPtr};

/// `x / sqrt(mean(x²) + eps) * w` over the last dim of `x`, `w` having that dim's size.
///
/// The gradient flows to `x`, and to `w` only when `w` is trainable (a `Var` or computed from
/// one): frozen norm weights cost no reduction.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f32) -> Result<Tensor> {
    let hidden = x.dim(candle_core::D::Minus1)?;
    if w.dims1()? != hidden {
        candle_core::bail!(
            "rms_norm: weight {:?} does not match input {:?}",
            w.shape(),
            x.shape()
        );
    }
    if fast_path(&[x, w]) {
        return x.apply_op2(w, RmsNorm { eps });
    }
    candle_nn::ops::rms_norm_slow(x, w, eps)
}

#[derive(Clone, Copy)]
struct RmsNorm {
    eps: f32,
}

impl RmsNorm {
    /// 1 / sqrt(mean(x²) + eps) of one row.
    fn inv_rms(&self, row: &[f32]) -> f32 {
        1.0 / (dot(row, row) / row.len() as f32 + self.eps).sqrt()
    }
}

multiversion! {
    /// out = x * (r * w).
    fn scale_rows(x: &[f32], w: &[f32], r: f32, out: &mut [f32]) {
        for ((o, &x), &w) in out.iter_mut().zip(x).zip(w) {
            *o = x * r * w;
        }
    }
}

multiversion! {
    /// dx = r * (g * w) - c * x, the row's input gradient given c = r³ Σ(g w x) / n.
    fn input_grad_row(x: &[f32], w: &[f32], g: &[f32], r: f32, c: f32, dx: &mut [f32]) {
        for (((d, &x), &w), &g) in dx.iter_mut().zip(x).zip(w).zip(g) {
            *d = r * g * w - c * x;
        }
    }
}

multiversion! {
    /// Σ g * w * x over one row.
    fn weighted_dot(g: &[f32], w: &[f32], x: &[f32]) -> f32 {
        const LANES: usize = 16;
        let mut acc = [0f32; LANES];
        let chunks = g.len() / LANES * LANES;
        for start in (0..chunks).step_by(LANES) {
            for (l, a) in acc.iter_mut().enumerate() {
                let i = start + l;
                *a += g[i] * w[i] * x[i];
            }
        }
        let tail: f32 = (chunks..g.len()).map(|i| g[i] * w[i] * x[i]).sum();
        tail + acc.iter().sum::<f32>()
    }
}

multiversion! {
    /// acc += g * x * r (one row's contribution to the weight gradient).
    fn weight_grad_row(x: &[f32], g: &[f32], r: f32, acc: &mut [f32]) {
        for ((a, &x), &g) in acc.iter_mut().zip(x).zip(g) {
            *a += g * x * r;
        }
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "collm-rms-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(xs, xl)?;
        let w = contiguous_f32(ws, wl)?;
        let n = w.len();
        let rows = x.len().checked_div(n).unwrap_or(0);
        let mut out = vec![0f32; x.len()];
        let dst = SendPtr(out.as_mut_ptr());
        par_ranges(rows, 3 * n, |range| {
            for row in range {
                let xr = &x[row * n..(row + 1) * n];
                // SAFETY: each row of `out` is written by the one task that owns the row.
                let o = unsafe { dst.slice(row * n, n) };
                scale_rows(xr, &w, self.inv_rms(xr), o);
            }
        });
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // Frozen weights (neither a Var nor computed from one) need no gradient.
        let dw_total = w.track_op().then(|| Mutex::new(vec![0f32; w.elem_count()]));
        let (xs, xl) = x.storage_and_layout();
        let (ws, wl) = w.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (x, w, g) = (
            tensor_f32(&xs, xl)?,
            tensor_f32(&ws, wl)?,
            tensor_f32(&gs, gl)?,
        );
        let n = w.len();
        let rows = x.len().checked_div(n).unwrap_or(0);
        let mut dx = vec![0f32; x.len()];
        let dst = SendPtr(dx.as_mut_ptr());
        par_ranges(rows, 6 * n, |range| {
            let mut dw_part = dw_total.as_ref().map(|_| vec![0f32; n]);
            for row in range {
                let (xr, gr) = (&x[row * n..(row + 1) * n], &g[row * n..(row + 1) * n]);
                let r = self.inv_rms(xr);
                let gw_x = weighted_dot(gr, &w, xr);
                let c = r * r * r * gw_x / n as f32;
                // SAFETY: each row of `dx` is written by the one task that owns the row.
                input_grad_row(xr, &w, gr, r, c, unsafe { dst.slice(row * n, n) });
                if let Some(part) = dw_part.as_mut() {
                    weight_grad_row(xr, gr, r, part);
                }
            }
            if let (Some(part), Some(total)) = (dw_part, dw_total.as_ref()) {
                let mut total = total.lock().expect("no task panicked holding the lock");
                total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
            }
        });
        let dx = cpu_tensor(dx, xl.dims())?;
        let dw = match dw_total {
            Some(total) => Some(cpu_tensor(total.into_inner().expect("lock is free"), &[n])?),
            None => None,
        };
        Ok((Some(dx), dw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, check_grads, rand_tensor, rand_var};
    use candle_core::{DType, Var};

    #[test]
    fn matches_candle_rms_norm_slow_with_gradients() -> Result<()> {
        let x = rand_var(&[2, 3, 37], 1)?;
        let w = rand_var(&[37], 2)?;
        let probe = rand_tensor(&[2, 3, 37], 3)?;
        let y = rms_norm(x.as_tensor(), w.as_tensor(), 1e-5)?;
        let y_ref = candle_nn::ops::rms_norm_slow(x.as_tensor(), w.as_tensor(), 1e-5)?;
        assert_close(&y, &y_ref, 1e-5)?;
        let g = (y * &probe)?.sum_all()?.backward()?;
        let g_ref = (y_ref * &probe)?.sum_all()?.backward()?;
        for v in [&x, &w] {
            assert_close(g.get(v).expect("grad"), g_ref.get(v).expect("grad"), 1e-4)?;
        }
        Ok(())
    }

    #[test]
    fn frozen_weight_gets_no_gradient() -> Result<()> {
        let x = rand_var(&[4, 8], 4)?;
        let w = rand_tensor(&[8], 5)?;
        let g = rms_norm(x.as_tensor(), &w, 1e-5)?.sum_all()?.backward()?;
        assert!(g.get(&w).is_none());
        assert!(g.get(&x).is_some());
        Ok(())
    }

    #[test]
    fn gradients_match_finite_differences() -> Result<()> {
        // Both inputs are Vars here, so the weight gradient is checked too; the input is a
        // non-contiguous view.
        check_grads(&[&[5, 3, 2], &[5]], 6, |xs| {
            rms_norm(&xs[0].transpose(0, 2)?, &xs[1], 1e-5)
        })
    }

    #[test]
    fn fallback_computes_the_same_values() -> Result<()> {
        let x = rand_tensor(&[3, 19], 7)?;
        let w = Var::from_tensor(&rand_tensor(&[19], 8)?)?;
        let fast = rms_norm(&x, w.as_tensor(), 1e-6)?;
        let slow = rms_norm(
            &x.to_dtype(DType::F64)?,
            &w.as_tensor().to_dtype(DType::F64)?,
            1e-6,
        )?;
        assert_close(&fast, &slow.to_dtype(DType::F32)?, 1e-5)
    }
}
