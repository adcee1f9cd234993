//! The gated MLP activation `silu(gate) * up`, vectorised, with backward for both inputs.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use super::vecmath::{multiversion, sigmoid};
use super::{contiguous_f32, cpu_tensor, fast_path, par_ranges, tensor_f32, SendPtr};

/// `silu(gate) * up` elementwise, `gate` and `up` of the same shape.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if gate.shape() != up.shape() {
        candle_core::bail!(
            "swiglu: gate {:?} and up {:?} differ",
            gate.shape(),
            up.shape()
        );
    }
    if fast_path(&[gate, up]) {
        return gate.apply_op2(up, SwiGlu);
    }
    gate.silu()?.mul(up)
}

struct SwiGlu;

/// Elements per parallel chunk step: the kernels below are a few dozen flops per element.
const COST: usize = 24;

multiversion! {
    fn swiglu_forward(gate: &[f32], up: &[f32], out: &mut [f32]) {
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g * sigmoid(g) * u;
        }
    }
}

multiversion! {
    /// d up = grad * silu(gate); d gate = grad * up * s * (1 + gate * (1 - s)), s = sigmoid(gate).
    fn swiglu_backward(gate: &[f32], up: &[f32], grad: &[f32], d_gate: &mut [f32], d_up: &mut [f32]) {
        for i in 0..gate.len() {
            let (g, u, dy) = (gate[i], up[i], grad[i]);
            let s = sigmoid(g);
            d_up[i] = dy * g * s;
            d_gate[i] = dy * u * s * (1.0 + g * (1.0 - s));
        }
    }
}

/// `silu(gate) * up` into a fresh buffer, in parallel chunks.
pub(super) fn swiglu_values(gate: &[f32], up: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; gate.len()];
    let dst = SendPtr(out.as_mut_ptr());
    par_ranges(gate.len(), COST, |r| {
        // SAFETY: each task writes only its own range of `out`.
        let o = unsafe { dst.slice(r.start, r.len()) };
        swiglu_forward(&gate[r.clone()], &up[r], o);
    });
    out
}

/// `(d gate, d up)` for the output gradient `dy`, in parallel chunks.
pub(super) fn swiglu_grads(gate: &[f32], up: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let mut d_gate = vec![0f32; gate.len()];
    let mut d_up = vec![0f32; gate.len()];
    let (dg_ptr, du_ptr) = (SendPtr(d_gate.as_mut_ptr()), SendPtr(d_up.as_mut_ptr()));
    par_ranges(gate.len(), 2 * COST, |r| {
        // SAFETY: each task writes only its own range of both outputs.
        let (dg, du) = unsafe {
            (
                dg_ptr.slice(r.start, r.len()),
                du_ptr.slice(r.start, r.len()),
            )
        };
        swiglu_backward(&gate[r.clone()], &up[r.clone()], &dy[r], dg, du);
    });
    (d_gate, d_up)
}

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "collm-swiglu"
    }

    fn cpu_fwd(
        &self,
        gs: &CpuStorage,
        gl: &Layout,
        us: &CpuStorage,
        ul: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let gate = contiguous_f32(gs, gl)?;
        let up = contiguous_f32(us, ul)?;
        let out = swiglu_values(&gate, &up);
        Ok((CpuStorage::F32(out), gl.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (gs, gl) = gate.storage_and_layout();
        let (us, ul) = up.storage_and_layout();
        let (ds, dl) = grad.storage_and_layout();
        let (g, u, dy) = (
            tensor_f32(&gs, gl)?,
            tensor_f32(&us, ul)?,
            tensor_f32(&ds, dl)?,
        );
        let (d_gate, d_up) = swiglu_grads(&g, &u, &dy);
        let dims = gl.dims();
        Ok((
            Some(cpu_tensor(d_gate, dims)?),
            Some(cpu_tensor(d_up, dims)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, check_grads, rand_tensor, rand_var};

    #[test]
    fn matches_candle_silu_mul_with_gradients() -> Result<()> {
        // Large magnitudes reach the saturated ends of the sigmoid.
        let gate = candle_core::Var::from_tensor(&(rand_tensor(&[3, 4, 53], 1)? * 12.0)?)?;
        let up = rand_var(&[3, 4, 53], 2)?;
        let probe = rand_tensor(&[3, 4, 53], 3)?;
        let y = swiglu(gate.as_tensor(), up.as_tensor())?;
        let y_ref = gate.as_tensor().silu()?.mul(up.as_tensor())?;
        assert_close(&y, &y_ref, 1e-5)?;
        let g = (y * &probe)?.sum_all()?.backward()?;
        let g_ref = (y_ref * &probe)?.sum_all()?.backward()?;
        for v in [&gate, &up] {
            assert_close(g.get(v).expect("grad"), g_ref.get(v).expect("grad"), 1e-5)?;
        }
        Ok(())
    }

    #[test]
    fn gradients_match_finite_differences() -> Result<()> {
        check_grads(&[&[4, 6], &[6, 4]], 4, |xs| {
            swiglu(&(&xs[0] * 3.0)?, &xs[1].t()?)
        })
    }
}
