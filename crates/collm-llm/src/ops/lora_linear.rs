//! A frozen linear layer with a LoRA adapter as one op: `x·Wᵀ + s·(dropout(x)·Aᵀ)·Bᵀ`.
//!
//! Composed from candle ops, an adapted layer is some ten graph nodes (dropout's random tensor,
//! comparison and products, two matmuls, a scale, reshapes, the add), each of which costs a
//! full-size buffer forward and a zero-filled accumulator plus an add backward. Here it is one
//! node; the dropout mask comes from a counter-based hash, so the backward pass regenerates it
//! instead of storing it, and the base weight never gets a gradient.

use std::borrow::Cow;
use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::gemm::{sgemm, MatMut, MatRef, Threads};
use super::vecmath::multiversion;
use super::{
    contiguous_f32, cpu_tensor, fast_path, frozen_linear, par_ranges, tensor_f32, SendPtr,
};

/// Inverted dropout on the adapter's input: each element is kept with probability `1 - p` and
/// scaled by `1 / (1 - p)`. The mask is a pure function of `seed` and the element index, so
/// draw a fresh seed for every call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoraDropout {
    pub p: f32,
    pub seed: u64,
}

/// `x·wᵀ + scale·(dropout(x)·aᵀ)·bᵀ` for `x` `[..., in]`, a frozen `w` `[out, in]`, and the
/// adapter `a` `[r, in]`, `b` `[out, r]` (peft's `lora_A`/`lora_B` layouts). Gradients flow to
/// `x`, `a` and `b` (to each only when it is tracked), never to `w`.
///
/// On other devices or dtypes this is `frozen_linear` plus candle ops, with [`dropout`]: the
/// same mask for the same seed on the CPU, the device's generator elsewhere.
pub fn lora_linear(
    x: &Tensor,
    w: &Tensor,
    a: &Tensor,
    b: &Tensor,
    scale: f64,
    dropout: Option<LoraDropout>,
) -> Result<Tensor> {
    let (out_features, in_features) = w.dims2()?;
    let (r, a_in) = a.dims2()?;
    let (b_out, b_r) = b.dims2()?;
    if a_in != in_features
        || b_out != out_features
        || b_r != r
        || x.dim(candle_core::D::Minus1)? != in_features
    {
        candle_core::bail!(
            "lora_linear: x {:?}, w {:?}, a {:?}, b {:?} do not fit together",
            x.shape(),
            w.shape(),
            a.shape(),
            b.shape()
        );
    }
    if let Some(d) = dropout {
        if !(0.0..1.0).contains(&d.p) {
            candle_core::bail!("lora_linear: dropout probability {} is outside [0, 1)", d.p);
        }
    }
    let dropout = dropout.filter(|d| d.p > 0.0);
    if fast_path(&[x, w, a, b]) {
        return x.apply_op3(
            a,
            b,
            LoraLinear {
                w: w.detach(),
                scale: scale as f32,
                dropout,
                h: Mutex::new(None),
            },
        );
    }
    let base = frozen_linear(x, w)?;
    // The adapter runs in its own dtype (f32 LoRA over a bf16 base on CUDA).
    let x_lora = x.to_dtype(a.dtype())?;
    let xd = match dropout {
        Some(d) => self::dropout(&x_lora, d)?,
        None => x_lora,
    };
    let rows = x.elem_count() / in_features.max(1);
    let delta = xd
        .reshape((rows, in_features))?
        .matmul(&a.t()?)?
        .matmul(&b.t()?)?;
    let delta = (delta * scale)?
        .reshape(base.shape())?
        .to_dtype(base.dtype())?;
    base.add(&delta)
}

struct LoraLinear {
    w: Tensor,
    scale: f32,
    dropout: Option<LoraDropout>,
    /// `dropout(x)·Aᵀ` `[rows, r]` from the forward pass, for B's gradient (the op is dropped
    /// with the graph).
    h: Mutex<Option<Vec<f32>>>,
}

/// A 32-bit integer hash with good avalanche (Chris Wellons' "lowbias32").
#[inline(always)]
fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The mask stream of one call: element `i` is kept when its hash reaches `threshold`.
#[derive(Clone, Copy)]
struct Mask {
    key: u32,
    threshold: u32,
    /// 1 / (1 - p), the kept elements' scale.
    factor: f32,
}

impl Mask {
    /// The factor element `i` is multiplied by: 0 or 1 / (1 - p).
    #[inline(always)]
    fn factor_at(self, i: u32) -> f32 {
        let h = mix(mix(i ^ self.key).wrapping_add(self.key));
        if h >= self.threshold {
            self.factor
        } else {
            0.0
        }
    }
}

multiversion! {
    /// out[i] = x[i] · mask(first + i).
    fn dropout_slice(x: &[f32], out: &mut [f32], first: u32, mask: Mask) {
        for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            *o = v * mask.factor_at(first + i as u32);
        }
    }
}

multiversion! {
    /// The backward pass's two uses of one mask, drawn once: xd[i] = x[i] · mask(first + i)
    /// and dx[i] += t[i] · mask(first + i).
    fn dropout_both(x: &[f32], xd: &mut [f32], t: &[f32], dx: &mut [f32], first: u32, mask: Mask) {
        for (i, ((xd, &x), (dx, &t))) in xd.iter_mut().zip(x).zip(dx.iter_mut().zip(t)).enumerate() {
            let f = mask.factor_at(first + i as u32);
            *xd = x * f;
            *dx += t * f;
        }
    }
}

/// `d` applied to `x`, on any device and in any dtype. On the CPU the mask is the fused
/// kernel's (the same elements dropped for the same seed, whatever the dtype). On a GPU the
/// device's generator draws it: reseeding that per call would rebuild cuRAND's state every
/// layer, so it is seeded once per run instead (`Llm::init_lora`), which makes a run's masks
/// repeat as long as its sequence of draws does.
pub fn dropout(x: &Tensor, d: LoraDropout) -> Result<Tensor> {
    if x.device().is_cpu() {
        return x.mul(&d.factors(x.dims())?.to_dtype(x.dtype())?);
    }
    candle_nn::ops::dropout(x, d.p)
}

impl LoraDropout {
    /// The mask stream of this call's seed and probability.
    fn mask(&self) -> Mask {
        Mask {
            key: mix(self.seed as u32 ^ mix((self.seed >> 32) as u32 ^ 0x9e37_79b9)),
            threshold: (self.p as f64 * 4_294_967_296.0).min(u32::MAX as f64) as u32,
            factor: 1.0 / (1.0 - self.p),
        }
    }

    /// The mask as an f32 CPU tensor of `shape`: each element's factor, 0 or 1 / (1 - p).
    fn factors(&self, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        cpu_tensor(self.apply(&vec![1f32; n]), shape)
    }

    /// The dropped-out copy of `x` (its element 0 being element 0 of the layer's input).
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        let mask = self.mask();
        let mut out = vec![0f32; x.len()];
        let dst = SendPtr(out.as_mut_ptr());
        par_ranges(x.len(), 16, |r| {
            // SAFETY: each task writes only its own range of `out`.
            let o = unsafe { dst.slice(r.start, r.len()) };
            dropout_slice(&x[r.clone()], o, r.start as u32, mask);
        });
        out
    }

    /// `(dropout(x), dx + dropout'(t))`: the adapter's input again and the input gradient
    /// with the adapter's share `t` added through the same mask, in one pass.
    fn apply_both(&self, x: &[f32], t: &[f32], mut dx: Vec<f32>) -> (Vec<f32>, Vec<f32>) {
        let mask = self.mask();
        let mut xd = vec![0f32; x.len()];
        let (xd_ptr, dx_ptr) = (SendPtr(xd.as_mut_ptr()), SendPtr(dx.as_mut_ptr()));
        par_ranges(x.len(), 16, |r| {
            // SAFETY: each task writes only its own range of `xd` and `dx`.
            let (xd, dx) = unsafe {
                (
                    xd_ptr.slice(r.start, r.len()),
                    dx_ptr.slice(r.start, r.len()),
                )
            };
            dropout_both(&x[r.clone()], xd, &t[r.clone()], dx, r.start as u32, mask);
        });
        (xd, dx)
    }
}

impl LoraLinear {
    /// The adapter's input: `x` itself, or its dropped-out copy.
    fn adapter_input<'a>(&self, x: &'a [f32]) -> Cow<'a, [f32]> {
        match &self.dropout {
            Some(d) => Cow::Owned(d.apply(x)),
            None => Cow::Borrowed(x),
        }
    }
}

/// `dst (m×n) = [dst +] alpha · lhs (m×k) · rhs (k×n)`, all row-major and contiguous, with
/// `lhs`/`rhs` optionally read transposed (`*_t`: the slice holds the transpose).
#[allow(clippy::too_many_arguments)]
fn matmul(
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_t: bool,
    rhs: &[f32],
    rhs_t: bool,
    (m, k, n): (usize, usize, usize),
    alpha: f32,
) {
    // A logical rows×cols matrix: stored as is (row stride cols) or transposed (row stride rows).
    let view = |data: &[f32], t: bool, rows: usize, cols: usize| {
        if t {
            MatRef::rows(data, 0, rows).t()
        } else {
            MatRef::rows(data, 0, cols)
        }
    };
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    // SAFETY: the asserts above bound every view; dst does not alias the inputs (&mut).
    unsafe {
        sgemm(
            m,
            n,
            k,
            MatMut::rows(dst, 0, n),
            accumulate,
            view(lhs, lhs_t, m, k),
            view(rhs, rhs_t, k, n),
            alpha,
            Threads::Pool,
        )
    }
}

impl CustomOp3 for LoraLinear {
    fn name(&self) -> &'static str {
        "collm-lora-linear"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        as_: &CpuStorage,
        al: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (ws, wl) = self.w.storage_and_layout();
        let w = tensor_f32(&ws, wl)?;
        let (x, a, b) = (
            contiguous_f32(xs, xl)?,
            contiguous_f32(as_, al)?,
            contiguous_f32(bs, bl)?,
        );
        let (n, k) = wl.shape().dims2()?;
        let r = al.shape().dims2()?.0;
        let m = x.len().checked_div(k).unwrap_or(0);
        let mut y = vec![0f32; m * n];
        // y = x·Wᵀ
        matmul(&mut y, false, &x, false, &w, true, (m, k, n), 1.0);
        // h = dropout(x)·Aᵀ, then y += s·h·Bᵀ
        let xd = self.adapter_input(&x);
        let mut h = vec![0f32; m * r];
        matmul(&mut h, false, &xd, false, &a, true, (m, k, r), 1.0);
        matmul(&mut y, true, &h, false, &b, true, (m, r, n), self.scale);
        *self.h.lock().expect("lora_linear: poisoned") = Some(h);
        let mut dims = xl.dims().to_vec();
        *dims.last_mut().expect("x has a last dim") = n;
        Ok((CpuStorage::F32(y), dims.into()))
    }

    fn bwd(
        &self,
        x_t: &Tensor,
        a_t: &Tensor,
        b_t: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (want_x, want_a, want_b) = (x_t.track_op(), a_t.track_op(), b_t.track_op());
        let (ws, wl) = self.w.storage_and_layout();
        let (xs, xl) = x_t.storage_and_layout();
        let (as_, al) = a_t.storage_and_layout();
        let (bs, bl) = b_t.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let w = tensor_f32(&ws, wl)?;
        let (x, a, b, g) = (
            tensor_f32(&xs, xl)?,
            tensor_f32(&as_, al)?,
            tensor_f32(&bs, bl)?,
            tensor_f32(&gs, gl)?,
        );
        let (n, k) = wl.shape().dims2()?;
        let r = al.shape().dims2()?.0;
        let m = x.len().checked_div(k).unwrap_or(0);
        let s = self.scale;

        // gB = g·B [m, r], shared by dx and dA.
        let mut gb = vec![0f32; m * r];
        matmul(&mut gb, false, &g, false, &b, false, (m, n, r), 1.0);

        // dx = g·W + s·dropout'(gB·A); dropout(x) is drawn again on the way (dA needs it).
        let (dx, xd) = if want_x {
            let mut dx = vec![0f32; m * k];
            matmul(&mut dx, false, &g, false, &w, false, (m, n, k), 1.0);
            match &self.dropout {
                None => {
                    matmul(&mut dx, true, &gb, false, &a, false, (m, r, k), s);
                    (Some(dx), Cow::Borrowed(&x[..]))
                }
                Some(d) => {
                    let mut t = vec![0f32; m * k];
                    matmul(&mut t, false, &gb, false, &a, false, (m, r, k), s);
                    let (xd, dx) = d.apply_both(&x, &t, dx);
                    (Some(dx), Cow::Owned(xd))
                }
            }
        } else {
            (None, self.adapter_input(&x))
        };
        let dx = dx.map(|dx| cpu_tensor(dx, xl.dims())).transpose()?;
        let da = if want_a {
            // dA = s·gBᵀ·dropout(x)  [r, k]
            let mut da = vec![0f32; r * k];
            matmul(&mut da, false, &gb, true, &xd, false, (r, m, k), s);
            Some(cpu_tensor(da, al.dims())?)
        } else {
            None
        };
        let db = if want_b {
            // dB = s·gᵀ·h with h = dropout(x)·Aᵀ  [n, r], kept by the forward pass.
            let saved = self.h.lock().expect("lora_linear: poisoned");
            let Some(h) = saved.as_ref() else {
                candle_core::bail!("lora_linear: backward without a forward pass");
            };
            let mut db = vec![0f32; n * r];
            matmul(&mut db, false, &g, true, h, false, (n, m, r), s);
            Some(cpu_tensor(db, bl.dims())?)
        } else {
            None
        };
        Ok((dx, da, db))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, check_grads, rand_tensor, rand_var};

    /// The same layer from candle ops, given the dropout mask the op used.
    fn reference(
        x: &Tensor,
        w: &Tensor,
        a: &Tensor,
        b: &Tensor,
        s: f64,
        keep: Option<&Tensor>,
    ) -> Result<Tensor> {
        let xd = match keep {
            Some(k) => (x * k)?,
            None => x.clone(),
        };
        let base = x.broadcast_matmul(&w.t()?)?;
        base + (xd.broadcast_matmul(&a.t()?)?.broadcast_matmul(&b.t()?)? * s)?
    }

    /// The composed paths' dropout on the CPU drops what the fused kernel drops, in any dtype,
    /// and the same seed gives the same mask every time.
    #[test]
    fn dropout_anywhere_is_the_kernels_mask() -> Result<()> {
        let d = LoraDropout { p: 0.3, seed: 5 };
        let x = rand_tensor(&[3, 4, 10], 6)?;
        // The fused op's own dropped-out copy of x.
        let want = cpu_tensor(d.apply(&x.flatten_all()?.to_vec1::<f32>()?), x.dims())?;
        assert_close(&dropout(&x, d)?, &want, 0.0)?;
        let wide = dropout(&x.to_dtype(candle_core::DType::F64)?, d)?;
        assert_close(&wide.to_dtype(candle_core::DType::F32)?, &want, 1e-7)?;
        let other = dropout(&x, LoraDropout { seed: 6, ..d })?;
        let gap = (other - &want)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f32>()?;
        assert!(gap > 0.1, "another seed, another mask");
        Ok(())
    }

    #[test]
    fn matches_candle_ops_with_and_without_dropout() -> Result<()> {
        let x = rand_var(&[2, 5, 12], 1)?;
        let w = rand_tensor(&[7, 12], 2)?;
        let a = rand_var(&[3, 12], 3)?;
        let b = rand_var(&[7, 3], 4)?;
        let probe = rand_tensor(&[2, 5, 7], 5)?;
        for dropout in [None, Some(LoraDropout { p: 0.3, seed: 77 })] {
            let keep = dropout.map(|d| d.factors(&[2, 5, 12])).transpose()?;
            let y = lora_linear(
                x.as_tensor(),
                &w,
                a.as_tensor(),
                b.as_tensor(),
                2.0,
                dropout,
            )?;
            let y_ref = reference(
                x.as_tensor(),
                &w,
                a.as_tensor(),
                b.as_tensor(),
                2.0,
                keep.as_ref(),
            )?;
            assert_close(&y, &y_ref, 1e-5)?;
            let g = (y * &probe)?.sum_all()?.backward()?;
            let g_ref = (y_ref * &probe)?.sum_all()?.backward()?;
            for v in [&x, &a, &b] {
                assert_close(g.get(v).expect("grad"), g_ref.get(v).expect("grad"), 1e-4)?;
            }
        }
        Ok(())
    }

    #[test]
    fn dropout_keeps_about_one_minus_p_and_depends_on_the_seed() -> Result<()> {
        let d = LoraDropout { p: 0.05, seed: 1 };
        let m = d.apply(&vec![1f32; 100_000]);
        let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / m.len() as f64;
        assert!((kept - 0.95).abs() < 0.005, "kept {kept}");
        assert!(m.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.95).abs() < 1e-6));
        let other = LoraDropout { p: 0.05, seed: 2 }.apply(&vec![1f32; 100_000]);
        assert_ne!(m, other);
        Ok(())
    }

    #[test]
    fn gradients_match_finite_differences() -> Result<()> {
        let w = rand_tensor(&[4, 6], 6)?;
        let d = Some(LoraDropout { p: 0.25, seed: 9 });
        check_grads(&[&[3, 6], &[2, 6], &[4, 2]], 7, |xs| {
            lora_linear(&xs[0], &w, &xs[1], &xs[2], 1.5, d)
        })
    }

    #[test]
    fn fallback_runs_the_adapter_in_its_own_dtype() -> Result<()> {
        // An f64 base with an f32 adapter takes the composed path (as bf16 over f32 on CUDA).
        let x = rand_tensor(&[3, 6], 14)?;
        let w = rand_tensor(&[4, 6], 15)?;
        let (a, b) = (rand_tensor(&[2, 6], 16)?, rand_tensor(&[4, 2], 17)?);
        let fast = lora_linear(&x, &w, &a, &b, 2.0, None)?;
        let f64s = |t: &Tensor| t.to_dtype(candle_core::DType::F64);
        let slow = lora_linear(&f64s(&x)?, &f64s(&w)?, &a, &b, 2.0, None)?;
        assert_eq!(slow.dtype(), candle_core::DType::F64);
        assert_close(&fast, &slow.to_dtype(candle_core::DType::F32)?, 1e-5)
    }

    #[test]
    fn base_weight_gets_no_gradient_and_frozen_adapters_none_either() -> Result<()> {
        let x = rand_var(&[3, 6], 10)?;
        let w = candle_core::Var::from_tensor(&rand_tensor(&[4, 6], 11)?)?;
        let (a, b) = (rand_tensor(&[2, 6], 12)?, rand_tensor(&[4, 2], 13)?);
        let g = lora_linear(x.as_tensor(), w.as_tensor(), &a, &b, 2.0, None)?
            .sum_all()?
            .backward()?;
        assert!(g.get(&w).is_none() && g.get(&a).is_none() && g.get(&b).is_none());
        assert!(g.get(&x).is_some());
        Ok(())
    }
}
