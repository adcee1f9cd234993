//! Rotary position embedding with per-row positions, in both pair layouts, with backward.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, D};

use super::{contiguous_f32, fast_path, par_ranges, SendPtr};

/// Which elements of a head vector RoPE rotates together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeLayout {
    /// Pairs (2i, 2i+1): llama.cpp's convention, used by the q/k weights of GGUF Llama files.
    Interleaved,
    /// Pairs (i, i + d/2): the Hugging Face convention.
    HalfSplit,
}

/// Cosine and sine tables `[batch, seq, head_dim / 2]` for per-row `positions` `[batch, seq]`
/// (any numeric dtype; with padding anywhere use `cumsum(mask) - 1`, see
/// [`positions_from_mask`]). Angles are computed in f32 as Hugging Face does.
pub fn rope_tables(positions: &Tensor, head_dim: usize, theta: f32) -> Result<(Tensor, Tensor)> {
    if !head_dim.is_multiple_of(2) {
        candle_core::bail!("rope_tables: head_dim {head_dim} is odd");
    }
    let half = head_dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32))
        .collect();
    let inv_freq = Tensor::from_vec(inv_freq, (1, 1, half), positions.device())?;
    let angles = positions
        .to_dtype(DType::F32)?
        .unsqueeze(2)?
        .broadcast_mul(&inv_freq)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// Positions `[batch, seq]` (u32) for a key mask `[batch, seq]` (nonzero = real token): each
/// real token's index among the real tokens of its row; padding gets position 0.
pub fn positions_from_mask(mask: &Tensor) -> Result<Tensor> {
    let real = mask.to_dtype(DType::F32)?.ne(0f64)?.to_dtype(DType::F32)?;
    // cumsum - 1 on real tokens; the relu and the product zero the pads.
    let positions = (real.cumsum(D::Minus1)? - 1.0)?.relu()?.mul(&real)?;
    positions.to_dtype(DType::U32)
}

/// Rotates the pairs of each head vector of `x` `[batch, seq, heads, head_dim]` by the angles
/// whose `cos` and `sin` are given per row and position, `[batch, seq, head_dim / 2]`. `x` may
/// also hold its heads packed in the last dimension, `[batch, seq, heads·head_dim]` (what the
/// projections give): the result keeps `x`'s shape.
///
/// Only `x` gets a gradient (the tables are constants); the backward pass is the inverse
/// rotation.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor, layout: RopeLayout) -> Result<Tensor> {
    let d = 2 * cos.dim(D::Minus1)?;
    let (b, t, packed) = match *x.dims() {
        [b, t, h, hd] if hd == d => (b, t, h * hd),
        [b, t, packed] if packed.is_multiple_of(d.max(1)) => (b, t, packed),
        _ => (0, 0, 0),
    };
    for table in [cos, sin] {
        if packed == 0 || d == 0 || table.dims() != [b, t, d / 2] {
            candle_core::bail!(
                "rope: x {:?} needs heads of size {d} and tables [batch, seq, {}], got {:?}",
                x.shape(),
                d / 2,
                table.shape()
            );
        }
    }
    if fast_path(&[x, cos, sin]) {
        return x.apply_op3(
            cos,
            sin,
            Rope {
                layout,
                inverse: false,
            },
        );
    }
    let heads = x.reshape((b, t, packed / d, d))?;
    rope_composed(&heads, cos, sin, layout)?.reshape(x.shape())
}

/// The same rotation from candle's differentiable ops (other devices and dtypes).
fn rope_composed(x: &Tensor, cos: &Tensor, sin: &Tensor, layout: RopeLayout) -> Result<Tensor> {
    let (b, t, h, d) = x.dims4()?;
    let half = d / 2;
    let (cos, sin) = (cos.to_dtype(x.dtype())?, sin.to_dtype(x.dtype())?);
    match layout {
        RopeLayout::HalfSplit => {
            let (c, s) = (cos.unsqueeze(2)?, sin.unsqueeze(2)?);
            let x1 = x.narrow(3, 0, half)?;
            let x2 = x.narrow(3, half, half)?;
            let y1 = (x1.broadcast_mul(&c)? - x2.broadcast_mul(&s)?)?;
            let y2 = (x1.broadcast_mul(&s)? + x2.broadcast_mul(&c)?)?;
            Tensor::cat(&[y1, y2], 3)
        }
        RopeLayout::Interleaved => {
            let c = cos.reshape((b, t, 1, half, 1))?;
            let s = sin.reshape((b, t, 1, half, 1))?;
            let pairs = x.reshape((b, t, h, half, 2))?;
            let x0 = pairs.narrow(4, 0, 1)?;
            let x1 = pairs.narrow(4, 1, 1)?;
            let y0 = (x0.broadcast_mul(&c)? - x1.broadcast_mul(&s)?)?;
            let y1 = (x0.broadcast_mul(&s)? + x1.broadcast_mul(&c)?)?;
            Tensor::cat(&[y0, y1], 4)?.reshape((b, t, h, d))
        }
    }
}

/// The CPU kernel; `inverse` rotates by the negative angle (the backward pass).
#[derive(Clone, Copy)]
struct Rope {
    layout: RopeLayout,
    inverse: bool,
}

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        "collm-rope"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        cs: &CpuStorage,
        cl: &Layout,
        ss: &CpuStorage,
        sl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(xs, xl)?;
        let cos = contiguous_f32(cs, cl)?;
        let sin = contiguous_f32(ss, sl)?;
        // x is [rows, heads·d] whether its heads are a dimension or packed (`rope` checked).
        let half = cl.dims()[2];
        let d = 2 * half;
        let rows = cos.len() / half.max(1);
        let h = x.len() / rows.max(1) / d.max(1);
        let sign = if self.inverse { -1.0 } else { 1.0 };
        let mut out = vec![0f32; x.len()];
        let dst = SendPtr(out.as_mut_ptr());
        let row_len = h * d;
        par_ranges(rows, 3 * row_len, |range| {
            for row in range {
                let c = &cos[row * half..(row + 1) * half];
                let s = &sin[row * half..(row + 1) * half];
                for head in 0..h {
                    let start = row * row_len + head * d;
                    let xh = &x[start..start + d];
                    // SAFETY: each (row, head) vector of `out` belongs to the task owning the row.
                    let yh = unsafe { dst.slice(start, d) };
                    rotate(xh, c, s, sign, self.layout, yh);
                }
            }
        });
        Ok((CpuStorage::F32(out), xl.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // A rotation's transpose is the rotation by the opposite angle.
        let inverse = Rope {
            layout: self.layout,
            inverse: !self.inverse,
        };
        let dx = grad.apply_op3_no_bwd(cos, sin, &inverse)?;
        Ok((Some(dx), None, None))
    }
}

/// One head vector: y = rotation of x by the angles with cosines `c` and sines `sign * s`.
#[inline]
fn rotate(x: &[f32], c: &[f32], s: &[f32], sign: f32, layout: RopeLayout, y: &mut [f32]) {
    let half = c.len();
    match layout {
        RopeLayout::HalfSplit => {
            let (x1, x2) = x.split_at(half);
            let (y1, y2) = y.split_at_mut(half);
            for i in 0..half {
                let (a, b, s) = (x1[i], x2[i], sign * s[i]);
                y1[i] = a * c[i] - b * s;
                y2[i] = a * s + b * c[i];
            }
        }
        RopeLayout::Interleaved => {
            for i in 0..half {
                let (a, b, s) = (x[2 * i], x[2 * i + 1], sign * s[i]);
                y[2 * i] = a * c[i] - b * s;
                y[2 * i + 1] = a * s + b * c[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, check_grads, rand_tensor, rand_var};
    use candle_core::Device;

    /// Tables for positions 0..t in every row, and candle's `[t, d/2]` tables for the same.
    fn shared_position_tables(
        b: usize,
        t: usize,
        d: usize,
    ) -> Result<(Tensor, Tensor, Tensor, Tensor)> {
        let pos = Tensor::arange(0u32, t as u32, &Device::Cpu)?
            .unsqueeze(0)?
            .repeat((b, 1))?;
        let (cos, sin) = rope_tables(&pos, d, 10_000.0)?;
        let (cos1, sin1) = (cos.get(0)?, sin.get(0)?);
        Ok((cos, sin, cos1, sin1))
    }

    #[test]
    fn matches_candle_rope_slow_in_both_layouts_with_gradients() -> Result<()> {
        let (b, t, h, d) = (2, 5, 3, 8);
        let (cos, sin, cos1, sin1) = shared_position_tables(b, t, d)?;
        let x = rand_var(&[b, t, h, d], 1)?;
        let probe = rand_tensor(&[b, t, h, d], 2)?;
        for layout in [RopeLayout::HalfSplit, RopeLayout::Interleaved] {
            let y = rope(x.as_tensor(), &cos, &sin, layout)?;
            // candle's reference takes [b, h, t, d].
            let xt = x.as_tensor().transpose(1, 2)?.contiguous()?;
            let y_ref = match layout {
                RopeLayout::HalfSplit => candle_nn::rotary_emb::rope_slow(&xt, &cos1, &sin1)?,
                RopeLayout::Interleaved => candle_nn::rotary_emb::rope_i_slow(&xt, &cos1, &sin1)?,
            }
            .transpose(1, 2)?;
            assert_close(&y, &y_ref, 1e-5)?;
            let g = (y * &probe)?.sum_all()?.backward()?;
            let g_ref = (y_ref * &probe)?.sum_all()?.backward()?;
            assert_close(g.get(&x).expect("grad"), g_ref.get(&x).expect("grad"), 1e-5)?;
        }
        Ok(())
    }

    #[test]
    fn per_row_positions_match_the_composed_fallback_and_finite_differences() -> Result<()> {
        // Left padding in row 0, a pad in the middle of row 1.
        let mask = Tensor::new(&[[0u32, 0, 1, 1, 1], [1, 1, 0, 1, 1]], &Device::Cpu)?;
        let pos = positions_from_mask(&mask)?;
        assert_eq!(
            pos.to_vec2::<u32>()?,
            vec![vec![0, 0, 0, 1, 2], vec![0, 1, 0, 2, 3]]
        );
        let (cos, sin) = rope_tables(&pos, 6, 100_000.0)?;
        for layout in [RopeLayout::HalfSplit, RopeLayout::Interleaved] {
            let x = rand_tensor(&[2, 5, 2, 6], 3)?;
            let fast = rope(&x, &cos, &sin, layout)?;
            let slow = rope_composed(&x, &cos, &sin, layout)?;
            assert_close(&fast, &slow, 1e-6)?;
            // Non-contiguous input: [2, 2, 5, 6] seen as [2, 5, 2, 6].
            check_grads(&[&[2, 2, 5, 6]], 4, |xs| {
                rope(&xs[0].transpose(1, 2)?, &cos, &sin, layout)
            })?;
            // Heads packed in the last dimension: the same rotation, in x's own shape, on both
            // paths, and its gradient.
            let packed = rope(&x.reshape((2, 5, 12))?, &cos, &sin, layout)?;
            assert_eq!(packed.dims(), [2, 5, 12]);
            assert_close(&packed, &fast.reshape((2, 5, 12))?, 1e-6)?;
            let f64s = |t: &Tensor| t.to_dtype(DType::F64);
            let slow = rope(
                &f64s(&x.reshape((2, 5, 12))?)?,
                &f64s(&cos)?,
                &f64s(&sin)?,
                layout,
            )?;
            assert_close(&packed, &slow.to_dtype(DType::F32)?, 1e-5)?;
            check_grads(&[&[2, 12, 5]], 5, |xs| {
                rope(&xs[0].transpose(1, 2)?, &cos, &sin, layout)
            })?;
            assert!(rope(&x.reshape((2, 5, 3, 4))?, &cos, &sin, layout).is_err());
        }
        Ok(())
    }
}
