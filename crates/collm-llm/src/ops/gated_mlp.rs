//! The gated MLP's input half, `silu(x·W_gᵀ) ⊙ (x·W_uᵀ)`, as one op over frozen weights.
//!
//! Composed of two `frozen_linear`s and `swiglu`, the graph holds two extra `[tokens, 4·H]`
//! nodes whose gradients candle's backward pass materialises (a zero tensor plus an add each),
//! and computes `x`'s gradient as two products summed by a third pass. Here the backward pass
//! writes `d gate` and `d up` once and accumulates both products into one buffer.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::frozen_linear::times_transposed;
use super::gemm::{sgemm, MatMut, MatRef, Threads};
use super::swiglu::{swiglu_grads, swiglu_values};
use super::{contiguous_f32, cpu_tensor, fast_path, frozen_linear, swiglu, tensor_f32};

/// `silu(x·w_gateᵀ) * (x·w_upᵀ)` for `x` `[..., in]` and frozen `w_gate`, `w_up` `[out, in]`;
/// only `x` gets a gradient.
pub fn gated_mlp(x: &Tensor, w_gate: &Tensor, w_up: &Tensor) -> Result<Tensor> {
    let (out_features, in_features) = w_gate.dims2()?;
    if w_up.dims() != w_gate.dims() || x.dim(candle_core::D::Minus1)? != in_features {
        candle_core::bail!(
            "gated_mlp: x {:?}, gate {:?} and up {:?} do not fit together",
            x.shape(),
            w_gate.shape(),
            w_up.shape()
        );
    }
    if fast_path(&[x, w_gate, w_up]) && out_features > 0 && in_features > 0 {
        return x.apply_op3(w_gate, w_up, GatedMlp::default());
    }
    swiglu(&frozen_linear(x, w_gate)?, &frozen_linear(x, w_up)?)
}

/// Keeps the forward pass's gate and up activations for the backward pass (candle would keep
/// them as graph nodes otherwise; the op is dropped with the graph).
#[derive(Default)]
struct GatedMlp {
    saved: Mutex<Option<(Vec<f32>, Vec<f32>)>>,
}

impl CustomOp3 for GatedMlp {
    fn name(&self) -> &'static str {
        "collm-gated-mlp"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
        us: &CpuStorage,
        ul: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(xs, xl)?;
        let (n, k) = gl.shape().dims2()?;
        let m = x.len() / k;
        let gate = times_transposed(&x, m, gs.as_slice::<f32>()?, gl, None)?;
        let up = times_transposed(&x, m, us.as_slice::<f32>()?, ul, None)?;
        let out = swiglu_values(&gate, &up);
        *self.saved.lock().expect("gated_mlp: poisoned") = Some((gate, up));
        let mut dims = xl.dims().to_vec();
        *dims.last_mut().expect("x has a last dim") = n;
        Ok((CpuStorage::F32(out), dims.into()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w_gate: &Tensor,
        w_up: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if !x.track_op() {
            return Ok((None, None, None));
        }
        let saved = self.saved.lock().expect("gated_mlp: poisoned");
        let Some((gate, up)) = saved.as_ref() else {
            candle_core::bail!("gated_mlp: backward without a forward pass");
        };
        let (gs, gl) = grad.storage_and_layout();
        let dy = tensor_f32(&gs, gl)?;
        let (d_gate, d_up) = swiglu_grads(gate, up, &dy);

        // dx = d_gate·W_g + d_up·W_u, the second product accumulated onto the first.
        let (n, k) = w_gate.dims2()?;
        let m = gate.len() / n;
        let mut dx: Vec<f32> = Vec::with_capacity(m * k);
        for (i, (w, d)) in [(w_gate, &d_gate), (w_up, &d_up)].into_iter().enumerate() {
            let (ws, wl) = w.storage_and_layout();
            let w_data = tensor_f32(&ws, wl)?;
            // SAFETY: dx has capacity m·k; the first (non-accumulating) product writes every
            // element before set_len and the second accumulates onto them; d covers m·n and
            // w (contiguous after tensor_f32) n·k elements.
            unsafe {
                sgemm(
                    m,
                    k,
                    n,
                    MatMut::raw_rows(dx.as_mut_ptr(), k),
                    i > 0,
                    MatRef::rows(d, 0, n),
                    MatRef::rows(&w_data, 0, k),
                    1.0,
                    Threads::Pool,
                );
                dx.set_len(m * k);
            }
        }
        Ok((Some(cpu_tensor(dx, x.dims())?), None, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, check_grads, rand_tensor, rand_var};

    #[test]
    fn matches_the_composed_ops_with_gradients() -> Result<()> {
        let x = rand_var(&[2, 3, 5], 1)?;
        // A variable weight still gets no gradient: the op treats its weights as frozen.
        let wg_var = candle_core::Var::from_tensor(&(rand_tensor(&[7, 5], 2)? * 3.0)?)?;
        let wg = wg_var.as_tensor().detach();
        let wu = rand_tensor(&[7, 5], 3)?;
        let probe = rand_tensor(&[2, 3, 7], 4)?;
        let y = gated_mlp(x.as_tensor(), wg_var.as_tensor(), &wu)?;
        let y_ref = swiglu(
            &x.as_tensor().broadcast_matmul(&wg.t()?)?,
            &x.as_tensor().broadcast_matmul(&wu.t()?)?,
        )?;
        assert_close(&y, &y_ref, 1e-5)?;
        let g = (y * &probe)?.sum_all()?.backward()?;
        let g_ref = (y_ref * &probe)?.sum_all()?.backward()?;
        assert!(g.get(&wg_var).is_none());
        assert_close(
            g.get(&x).expect("x grad"),
            g_ref.get(&x).expect("x grad"),
            1e-5,
        )?;
        Ok(())
    }

    #[test]
    fn strided_weights_and_finite_differences() -> Result<()> {
        // Transposed weight views exercise the strided reads in both passes.
        let wg = rand_tensor(&[4, 6], 5)?.t()?;
        let wu = rand_tensor(&[4, 6], 6)?.t()?;
        check_grads(&[&[3, 2, 4]], 7, |xs| gated_mlp(&xs[0], &wg, &wu))
    }
}
