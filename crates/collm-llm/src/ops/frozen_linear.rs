//! `y = x·Wᵀ` for a frozen weight: the backward pass returns only `g·W`, never a weight gradient.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

use super::gemm::{sgemm, MatMut, MatRef, Threads};
use super::{contiguous_f32, fast_path};

/// `x·wᵀ` for `x` of shape `[..., in]` and a frozen weight `w` of shape `[out, in]`
/// (the layout of GGUF and Hugging Face linear weights), giving `[..., out]`.
///
/// Only `x` receives a gradient: candle's matmul would also compute `gᵀ·x` for the weight, a
/// GEMM as large as the forward one, and keep it in memory, which halves training speed.
pub fn frozen_linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let out_dims = linear_dims(x, w)?;
    if fast_path(&[x, w]) {
        return x.apply_op2(w, FrozenLinear);
    }
    // Other devices: a plain matmul against the detached weight.
    let in_features = w.dim(1)?;
    let rows = x.elem_count() / in_features.max(1);
    x.reshape((rows, in_features))?
        .matmul(&w.detach().t()?)?
        .reshape(out_dims)
}

/// The CPU kernel: `x·wᵀ` with `w` read through its strides, so `frozen_linear`'s backward
/// runs the same kernel on `wᵀ`.
struct FrozenLinear;

/// `x·wᵀ` for `x` `[m, k]` and `w` `[n, k]` read through its layout, into a fresh `[m, n]`,
/// added onto a copy of `onto` (`[m, n]`, row-major) when given.
pub(super) fn times_transposed(
    x: &[f32],
    m: usize,
    w: &[f32],
    wl: &Layout,
    onto: Option<&[f32]>,
) -> Result<Vec<f32>> {
    let (n, k) = wl.shape().dims2()?;
    let mut y: Vec<f32> = match onto {
        Some(start) if start.len() == m * n => start.to_vec(),
        Some(start) => candle_core::bail!(
            "times_transposed: {} values to add onto, not {m}x{n}",
            start.len()
        ),
        None => Vec::with_capacity(m * n),
    };
    // SAFETY: y has capacity m·n; the non-accumulating product writes every element before
    // set_len, the accumulating one reads the m·n elements copied in. x covers m·k elements
    // and the rhs view stays inside w's storage.
    unsafe {
        sgemm(
            m,
            n,
            k,
            MatMut::raw_rows(y.as_mut_ptr(), n),
            onto.is_some(),
            MatRef::rows(x, 0, k),
            MatRef {
                ptr: w[wl.start_offset()..].as_ptr(),
                row_stride: wl.stride()[1] as isize,
                col_stride: wl.stride()[0] as isize,
            },
            1.0,
            Threads::Pool,
        );
        y.set_len(m * n);
    }
    Ok(y)
}

/// `residual + x·wᵀ` for a frozen `w`: the decoder's residual stream after `o_proj` and
/// `down_proj` as one op. Composed, the product and the sum are two graph nodes, and each node
/// costs a zero-filled gradient buffer plus an add in the backward pass; here the product
/// accumulates onto a copy of the residual. Gradients: `g·w` to `x`, `g` to `residual`.
pub fn frozen_linear_add(x: &Tensor, w: &Tensor, residual: &Tensor) -> Result<Tensor> {
    let y_dims = linear_dims(x, w)?;
    if residual.dims() != y_dims.as_slice() {
        candle_core::bail!(
            "frozen_linear_add: residual {:?} should be {y_dims:?}",
            residual.shape()
        );
    }
    if fast_path(&[x, w, residual]) {
        return x.apply_op3(w, residual, FrozenLinearAdd);
    }
    residual + frozen_linear(x, w)?
}

/// The output dims of `x·wᵀ`, after checking that `x`'s features fit `w`.
fn linear_dims(x: &Tensor, w: &Tensor) -> Result<Vec<usize>> {
    let (out_features, in_features) = w.dims2()?;
    let x_in = x.dim(candle_core::D::Minus1)?;
    if x_in != in_features {
        candle_core::bail!(
            "frozen_linear: input has {x_in} features but the weight {:?} expects {in_features}",
            w.shape()
        );
    }
    let mut dims = x.dims().to_vec();
    *dims.last_mut().expect("x has a last dim") = out_features;
    Ok(dims)
}

struct FrozenLinearAdd;

/// Both kernels' body: `x·wᵀ` for `x` `[..., k]` and `w` `[n, k]`, onto `onto` when given.
fn linear_kernel(
    xs: &CpuStorage,
    xl: &Layout,
    ws: &CpuStorage,
    wl: &Layout,
    onto: Option<&[f32]>,
) -> Result<Vec<f32>> {
    let x = contiguous_f32(xs, xl)?;
    let (n, k) = wl.shape().dims2()?;
    let m: usize = xl.dims()[..xl.dims().len() - 1].iter().product();
    if k == 0 {
        // An empty product: the start values, or zeros.
        return Ok(onto.map_or_else(|| vec![0.0; m * n], <[f32]>::to_vec));
    }
    times_transposed(&x, m, ws.as_slice::<f32>()?, wl, onto)
}

impl CustomOp3 for FrozenLinearAdd {
    fn name(&self) -> &'static str {
        "frozen-linear-add"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        rs: &CpuStorage,
        rl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let residual = contiguous_f32(rs, rl)?;
        let y = linear_kernel(xs, xl, ws, wl, Some(&residual))?;
        Ok((CpuStorage::F32(y), rl.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        w: &Tensor,
        _residual: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = grad.apply_op2_no_bwd(&w.t()?, &FrozenLinear)?;
        Ok((Some(dx), None, Some(grad.clone())))
    }
}

impl CustomOp2 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let mut out_dims = xl.dims().to_vec();
        *out_dims.last_mut().expect("x has a last dim") = wl.dims()[0];
        let y = linear_kernel(xs, xl, ws, wl, None)?;
        Ok((CpuStorage::F32(y), out_dims.into()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        // dx = g·w = g·(wᵀ)ᵀ: the forward kernel applied to the transposed view.
        let dx = grad.apply_op2_no_bwd(&w.t()?, &FrozenLinear)?;
        Ok((Some(dx), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, check_grads, rand_tensor, rand_var};
    use candle_core::{DType, Var};

    #[test]
    fn forward_and_input_gradient_match_candle_matmul() -> Result<()> {
        let x = rand_var(&[2, 3, 5], 1)?;
        let w = rand_tensor(&[4, 5], 2)?;
        let probe = rand_tensor(&[2, 3, 4], 3)?;

        let y = frozen_linear(x.as_tensor(), &w)?;
        let y_ref = x.as_tensor().broadcast_matmul(&w.t()?)?;
        assert_close(&y, &y_ref, 1e-5)?;

        let g = (y * &probe)?.sum_all()?.backward()?;
        let g_ref = (y_ref * &probe)?.sum_all()?.backward()?;
        assert_close(
            g.get(&x).expect("x grad"),
            g_ref.get(&x).expect("x grad"),
            1e-5,
        )?;
        Ok(())
    }

    #[test]
    fn weight_gets_no_gradient_even_when_it_is_a_var() -> Result<()> {
        let x = rand_var(&[3, 5], 4)?;
        let w = Var::from_tensor(&rand_tensor(&[4, 5], 5)?)?;
        let g = frozen_linear(x.as_tensor(), w.as_tensor())?
            .sum_all()?
            .backward()?;
        assert!(g.get(&w).is_none());
        assert!(g.get(&x).is_some());
        Ok(())
    }

    #[test]
    fn strided_inputs_and_finite_differences() -> Result<()> {
        // A transposed weight and a non-contiguous input exercise the strided paths.
        let wt = rand_tensor(&[5, 4], 6)?;
        let w = wt.t()?;
        check_grads(&[&[4, 2, 5]], 7, |xs| {
            frozen_linear(&xs[0].transpose(0, 1)?, &w)
        })?;
        Ok(())
    }

    #[test]
    fn adding_onto_a_residual_matches_the_sum_with_gradients_to_both() -> Result<()> {
        let w = rand_tensor(&[4, 5], 10)?;
        let x = rand_var(&[2, 3, 5], 11)?;
        let residual = rand_var(&[2, 3, 4], 12)?;
        let y = frozen_linear_add(x.as_tensor(), &w, residual.as_tensor())?;
        let y_ref = (residual.as_tensor() + x.as_tensor().broadcast_matmul(&w.t()?)?)?;
        assert_close(&y, &y_ref, 1e-5)?;
        // The other dtype takes the composed path: the same values.
        let slow = frozen_linear_add(
            &x.as_tensor().to_dtype(DType::F64)?,
            &w.to_dtype(DType::F64)?,
            &residual.as_tensor().to_dtype(DType::F64)?,
        )?;
        assert_close(&y, &slow.to_dtype(DType::F32)?, 1e-5)?;
        // A transposed weight and a non-contiguous input, against finite differences.
        let wt = w.t()?.contiguous()?.t()?;
        check_grads(&[&[3, 2, 5], &[2, 3, 4]], 13, |xs| {
            frozen_linear_add(&xs[0].transpose(0, 1)?, &wt, &xs[1])
        })?;
        let bad = frozen_linear_add(x.as_tensor(), &w, &rand_tensor(&[2, 3, 5], 14)?);
        assert!(bad.unwrap_err().to_string().contains("residual"));
        Ok(())
    }

    #[test]
    fn fallback_computes_the_same_values() -> Result<()> {
        let x = rand_tensor(&[2, 3, 5], 8)?;
        let w = rand_tensor(&[4, 5], 9)?;
        let fast = frozen_linear(&x, &w)?;
        let slow = frozen_linear(&x.to_dtype(DType::F64)?, &w.to_dtype(DType::F64)?)?;
        assert_close(&fast, &slow.to_dtype(DType::F32)?, 1e-5)?;
        Ok(())
    }
}
