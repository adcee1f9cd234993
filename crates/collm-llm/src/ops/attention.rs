//! Grouped-query scaled dot-product attention under an additive mask, with a hand-written
//! backward pass for queries, keys and values.

use std::borrow::Cow;

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Storage, Tensor, D};
use rayon::prelude::*;

use super::gemm::{sgemm, MatMut, MatRef, Threads};
use super::vecmath::{dot, exp, max, multiversion, sum};
use super::{contiguous_f32, cpu_tensor, fast_path, tensor_f32, SendPtr};

/// `softmax(q·kᵀ / sqrt(d) + bias) · v` per head.
///
/// - `q`: `[batch, q_len, heads, d]`; `k`, `v`: `[batch, kv_len, kv_heads, d]`; query head `h`
///   uses kv head `h / (heads / kv_heads)`. Any strides: a `[batch, heads, len, d]` tensor
///   passed as `.transpose(1, 2)` is read in place, without a copy.
/// - `bias`: `[batch, 1, q_len, kv_len]`, 0 where a query may attend to a key and −∞ where
///   not (any finite additive value works too). Gets no gradient.
/// - Returns a contiguous `[batch, q_len, heads, d]`. A query row whose bias is −∞ everywhere
///   gets zeros and passes no gradient (instead of the NaN a plain softmax gives).
///
/// The CPU path multiplies strided per-head views directly (no repeated kv heads, no
/// transposed copies), vectorises the softmax, recomputes the attention weights in the
/// backward pass instead of keeping them, and skips the keys a block of queries cannot see
/// (under a causal mask, a third of the products at 150 positions).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor) -> Result<Tensor> {
    // k and v must match q's rank and shape: `attention_op` checks.
    let (_, _, _, d) = q.dims4()?;
    attention_op(q, k, v, bias, d)
}

/// [`attention`] on heads packed in the last dimension: `q` `[batch, q_len, heads·d]`, `k`, `v`
/// `[batch, kv_len, kv_heads·d]` (what the projections give), returning `[batch, q_len,
/// heads·d]` (what `o_proj` reads). The same op without the four reshapes around it, each of
/// which would cost a zero-filled gradient buffer and an add in the backward pass.
pub fn attention_packed(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    head_dim: usize,
) -> Result<Tensor> {
    // k and v must match q's rank and shape, and `view4` that heads of `head_dim` fit.
    q.dims3()?;
    attention_op(q, k, v, bias, head_dim)
}

/// Checks shapes and runs the op on 4-D or packed 3-D heads of size `d`.
fn attention_op(q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor, d: usize) -> Result<Tensor> {
    let ([b, q_len, heads, _], _) = view4(q.layout(), d)?;
    let ([kb, kv_len, kv_heads, kd], _) = view4(k.layout(), d)?;
    if k.dims() != v.dims() || kb != b || kd != d || k.rank() != q.rank() {
        candle_core::bail!(
            "attention: q {:?}, k {:?}, v {:?} do not fit together",
            q.shape(),
            k.shape(),
            v.shape()
        );
    }
    if kv_heads == 0 || heads % kv_heads != 0 {
        candle_core::bail!("attention: {heads} query heads cannot share {kv_heads} kv heads");
    }
    if bias.dims() != [b, 1, q_len, kv_len] {
        candle_core::bail!(
            "attention: bias {:?} should be [{b}, 1, {q_len}, {kv_len}]",
            bias.shape()
        );
    }
    let op = Attention {
        bias: bias.detach(),
        scale: 1.0 / (d as f32).sqrt(),
        d,
    };
    if fast_path(&[q, k, v, bias]) {
        return q.apply_op3(k, v, op);
    }
    if q.rank() == 3 {
        let heads4 = |t: &Tensor| -> Result<Tensor> {
            let (b, len, packed) = t.dims3()?;
            t.reshape((b, len, packed / d, d))
        };
        return op
            .composed(&heads4(q)?, &heads4(k)?, &heads4(v)?)?
            .reshape(q.shape());
    }
    op.composed(q, k, v)
}

/// The `[batch, len, heads, d]` dims and strides of a 4-D layout, or of a 3-D one whose last
/// dimension packs the heads.
fn view4(layout: &Layout, d: usize) -> Result<([usize; 4], [usize; 4])> {
    match (layout.dims(), layout.stride()) {
        (&[b, len, h, hd], &[s0, s1, s2, s3]) => Ok(([b, len, h, hd], [s0, s1, s2, s3])),
        (&[b, len, packed], &[s0, s1, s2]) if d > 0 && packed % d == 0 => {
            Ok(([b, len, packed / d, d], [s0, s1, s2 * d, s2]))
        }
        (dims, _) => candle_core::bail!("attention: cannot read {dims:?} as heads of size {d}"),
    }
}

struct Attention {
    bias: Tensor,
    scale: f32,
    /// The head size (the last dim of 4-D inputs; packed 3-D inputs hold heads·d).
    d: usize,
}

/// A `[batch, len, heads, d]` tensor read through its strides (the last one 1).
struct Heads<'a> {
    data: Cow<'a, [f32]>,
    strides: [usize; 3],
}

impl<'a> Heads<'a> {
    fn new(storage: &'a CpuStorage, layout: &Layout, d: usize) -> Result<Self> {
        let (dims, s) = view4(layout, d)?;
        if s[3] == 1 || dims[3] == 1 {
            let data = &storage.as_slice::<f32>()?[layout.start_offset()..];
            return Ok(Self {
                data: Cow::Borrowed(data),
                strides: [s[0], s[1], s[2]],
            });
        }
        let data = contiguous_f32(storage, layout)?;
        Ok(Self {
            data,
            strides: [dims[1] * dims[2] * dims[3], dims[2] * dims[3], dims[3]],
        })
    }

    fn from_storage(storage: &'a Storage, layout: &Layout, d: usize) -> Result<Self> {
        match storage {
            Storage::Cpu(cpu) => Self::new(cpu, layout, d),
            _ => candle_core::bail!("attention: expected a CPU tensor"),
        }
    }

    /// The rows of head `h` in batch `b` from position `t` on (each `d` wide).
    fn head(&self, b: usize, h: usize, t: usize) -> MatRef {
        MatRef::rows(
            &self.data,
            b * self.strides[0] + t * self.strides[1] + h * self.strides[2],
            self.strides[1],
        )
    }

    /// Row `t` of head `h` in batch `b`.
    fn row(&self, b: usize, t: usize, h: usize, d: usize) -> &[f32] {
        let start = b * self.strides[0] + t * self.strides[1] + h * self.strides[2];
        &self.data[start..start + d]
    }
}

/// Sizes of one call; outputs and gradients are contiguous `[batch, len, heads, d]`.
#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    q_len: usize,
    kv_len: usize,
    heads: usize,
    kv_heads: usize,
    d: usize,
}

impl Dims {
    fn new(q: &Layout, k: &Layout, d: usize) -> Result<Self> {
        let ([batch, q_len, heads, _], _) = view4(q, d)?;
        let ([_, kv_len, kv_heads, _], _) = view4(k, d)?;
        Ok(Self {
            batch,
            q_len,
            kv_len,
            heads,
            kv_heads,
            d,
        })
    }
    fn group(&self) -> usize {
        self.heads / self.kv_heads
    }
    /// Offset of head `h` of batch `b` in a contiguous `[batch, q_len, heads, d]` buffer.
    fn q_offset(&self, b: usize, h: usize) -> usize {
        (b * self.q_len * self.heads + h) * self.d
    }
    /// Offset of kv head `g` of batch `b` in a contiguous `[batch, kv_len, kv_heads, d]` buffer.
    fn kv_offset(&self, b: usize, g: usize) -> usize {
        (b * self.kv_len * self.kv_heads + g) * self.d
    }
}

/// Query rows are handled in blocks of this many; each block multiplies only the keys that at
/// least one of its rows can see. Smaller blocks skip more masked products, larger ones keep
/// the products big enough for the gemm kernels to run at speed: on SmolLM2's shapes (d 64,
/// 9 heads, batch 8 × 150 positions, 2 cores) 32 beat 16, 24, 48, 64 and no blocks (the
/// op's forward 6.5 ms against 8.3, its backward 15 against 18).
const QUERY_BLOCK: usize = 32;

/// For each (batch, query block), the key range `[lo, hi)` outside which every row of the
/// block has bias −∞ (an empty range when the block sees no key at all). Indexed
/// `b * blocks + block` with `blocks = q_len.div_ceil(QUERY_BLOCK)`.
fn key_ranges(bias: &[f32], dims: &Dims) -> Vec<(usize, usize)> {
    let Dims { q_len, kv_len, .. } = *dims;
    let blocks = q_len.div_ceil(QUERY_BLOCK);
    let mut ranges = Vec::with_capacity(dims.batch * blocks);
    for b in 0..dims.batch {
        for block in 0..blocks {
            let rows = block * QUERY_BLOCK..((block + 1) * QUERY_BLOCK).min(q_len);
            let (mut lo, mut hi) = (kv_len, 0);
            for i in rows {
                let row = &bias[(b * q_len + i) * kv_len..(b * q_len + i + 1) * kv_len];
                if let Some(first) = row.iter().position(|&x| x != f32::NEG_INFINITY) {
                    let last = row
                        .iter()
                        .rposition(|&x| x != f32::NEG_INFINITY)
                        .unwrap_or(first);
                    lo = lo.min(first);
                    hi = hi.max(last + 1);
                }
            }
            ranges.push(if lo < hi { (lo, hi) } else { (0, 0) });
        }
    }
    ranges
}

/// The query blocks of batch `b` that see some key: (first row, rows, first key, keys).
fn visible_blocks<'a>(
    ranges: &'a [(usize, usize)],
    dims: &Dims,
    b: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> + 'a {
    let blocks = dims.q_len.div_ceil(QUERY_BLOCK);
    let q_len = dims.q_len;
    ranges[b * blocks..(b + 1) * blocks]
        .iter()
        .enumerate()
        .filter(|(_, (lo, hi))| hi > lo)
        .map(move |(block, &(lo, hi))| {
            let r0 = block * QUERY_BLOCK;
            (r0, QUERY_BLOCK.min(q_len - r0), lo, hi - lo)
        })
}

multiversion! {
    /// Softmax of `scores + bias` in place; a row whose bias is −∞ everywhere becomes zeros.
    fn biased_softmax(row: &mut [f32], bias: &[f32]) {
        for (s, &b) in row.iter_mut().zip(bias) {
            *s += b;
        }
        let m = max(row);
        if m == f32::NEG_INFINITY {
            row.iter_mut().for_each(|p| *p = 0.0);
            return;
        }
        // exp(−∞) is exactly 0, so masked keys drop out of the sum. (Summing in this loop
        // would keep it scalar: an f32 sum may not be reordered into vector lanes.)
        for p in row.iter_mut() {
            *p = exp(*p - m);
        }
        let inv = 1.0 / sum(row);
        row.iter_mut().for_each(|p| *p *= inv);
    }
}

multiversion! {
    /// dS = P ⊙ (dP − δ) · scale, in place over dP.
    fn softmax_backward_row(p: &[f32], dp: &mut [f32], delta: f32, scale: f32) {
        for (d, &p) in dp.iter_mut().zip(p) {
            *d = p * (*d - delta) * scale;
        }
    }
}

impl Attention {
    /// The attention weights P `[q_len, kv_len]` of query head `h` in batch `b`, written only
    /// inside each query block's key range (`ranges`); the rest of `p` is left as it was and
    /// must not be read.
    #[allow(clippy::too_many_arguments)]
    fn weights(
        &self,
        dims: &Dims,
        q: &Heads,
        k: &Heads,
        bias: &[f32],
        ranges: &[(usize, usize)],
        b: usize,
        h: usize,
        p: &mut [f32],
    ) {
        let Dims {
            q_len, kv_len, d, ..
        } = *dims;
        let bias = &bias[b * q_len * kv_len..(b + 1) * q_len * kv_len];
        for (r0, rows, lo, keys) in visible_blocks(ranges, dims, b) {
            // SAFETY: the block's rows and keys lie inside p (q_len·kv_len elements) and
            // inside the q and k views.
            unsafe {
                sgemm(
                    rows,
                    keys,
                    d,
                    MatMut::rows(p, r0 * kv_len + lo, kv_len),
                    false,
                    q.head(b, h, r0),
                    k.head(b, h / dims.group(), lo).t(),
                    self.scale,
                    Threads::Single,
                )
            };
            for i in r0..r0 + rows {
                let span = i * kv_len + lo..i * kv_len + lo + keys;
                biased_softmax(&mut p[span.clone()], &bias[span]);
            }
        }
    }

    /// The composed fallback: candle's differentiable ops on repeated kv heads.
    fn composed(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
        let (b, _q_len, heads, d) = q.dims4()?;
        let (_, kv_len, kv_heads, _) = k.dims4()?;
        let repeat = |t: &Tensor| -> Result<Tensor> {
            // [b, kv_len, kv_heads, d] -> [b, heads, kv_len, d], each kv head used `group` times.
            t.transpose(1, 2)?
                .unsqueeze(2)?
                .broadcast_as((b, kv_heads, heads / kv_heads, kv_len, d))?
                .reshape((b, heads, kv_len, d))
        };
        let (kr, vr) = (repeat(k)?, repeat(v)?);
        let qt = q.transpose(1, 2)?.contiguous()?;
        let scores = (qt.matmul(&kr.t()?.contiguous()?)? * self.scale as f64)?;
        // −∞ becomes the dtype's lowest finite value, so an all-masked row stays NaN-free
        // until it is zeroed.
        let bias = self.bias.to_dtype(q.dtype())?.to_device(q.device())?;
        let lowest = match q.dtype() {
            DType::F16 => -65504.0,
            DType::BF16 => -3.38e38,
            DType::F64 => f64::MIN,
            _ => f32::MIN as f64,
        };
        let visible = bias
            .max_keepdim(D::Minus1)?
            .gt(f64::NEG_INFINITY)?
            .to_dtype(q.dtype())?;
        let scores = scores.broadcast_add(&bias.maximum(lowest)?)?;
        // Half-precision scores are normalised in f32.
        let wide = match q.dtype() {
            DType::F16 | DType::BF16 => scores.to_dtype(DType::F32)?,
            _ => scores,
        };
        let p = candle_nn::ops::softmax(&wide, D::Minus1)?.to_dtype(q.dtype())?;
        let p = p.broadcast_mul(&visible)?;
        p.matmul(&vr.contiguous()?)?.transpose(1, 2)?.contiguous()
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "collm-attention"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = Dims::new(ql, kl, self.d)?;
        let (q, k, v) = (
            Heads::new(qs, ql, self.d)?,
            Heads::new(ks, kl, self.d)?,
            Heads::new(vs, vl, self.d)?,
        );
        let (bias_storage, bias_layout) = self.bias.storage_and_layout();
        let bias = tensor_f32(&bias_storage, bias_layout)?;
        let Dims {
            batch,
            q_len,
            kv_len,
            heads,
            d,
            ..
        } = dims;
        let ranges = key_ranges(&bias, &dims);
        // Query rows that see no key keep these zeros.
        let mut out = vec![0f32; batch * q_len * heads * d];
        let dst = SendPtr(out.as_mut_ptr());
        (0..batch * heads).into_par_iter().for_each_init(
            || vec![0f32; q_len * kv_len],
            |p, task| {
                let (b, h) = (task / heads, task % heads);
                self.weights(&dims, &q, &k, &bias, &ranges, b, h, p);
                for (r0, rows, lo, keys) in visible_blocks(&ranges, &dims, b) {
                    // SAFETY: task (b, h) alone writes the q_len rows of head h in batch b;
                    // the block's rows and keys lie inside p and v.
                    unsafe {
                        sgemm(
                            rows,
                            d,
                            keys,
                            MatMut::raw_rows(
                                dst.at(dims.q_offset(b, h) + r0 * heads * d),
                                heads * d,
                            ),
                            false,
                            MatRef::rows(p, r0 * kv_len + lo, kv_len),
                            v.head(b, h / dims.group(), lo),
                            1.0,
                            Threads::Single,
                        )
                    };
                }
            },
        );
        Ok((CpuStorage::F32(out), ql.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (want_q, want_k, want_v) = (q.track_op(), k.track_op(), v.track_op());
        let (qs, ql) = q.storage_and_layout();
        let (ks, kl) = k.storage_and_layout();
        let (vs, vl) = v.storage_and_layout();
        let (os, ol) = out.storage_and_layout();
        let (gs, gl) = grad.storage_and_layout();
        let (bs, bl) = self.bias.storage_and_layout();
        let dims = Dims::new(ql, kl, self.d)?;
        let q = Heads::from_storage(&qs, ql, self.d)?;
        let k = Heads::from_storage(&ks, kl, self.d)?;
        let v = Heads::from_storage(&vs, vl, self.d)?;
        let o = Heads::from_storage(&os, ol, self.d)?;
        let g = Heads::from_storage(&gs, gl, self.d)?;
        let bias = tensor_f32(&bs, bl)?;
        let Dims {
            batch,
            q_len,
            kv_len,
            heads,
            kv_heads,
            d,
        } = dims;

        let mut dq = vec![0f32; batch * q_len * heads * d];
        let mut dk = vec![0f32; batch * kv_len * kv_heads * d];
        let mut dv = vec![0f32; dk.len()];
        let (dq_ptr, dk_ptr, dv_ptr) = (
            SendPtr(dq.as_mut_ptr()),
            SendPtr(dk.as_mut_ptr()),
            SendPtr(dv.as_mut_ptr()),
        );
        let ranges = key_ranges(&bias, &dims);
        // One task per (batch, kv head): the query heads sharing a kv head accumulate into its
        // dk and dv, so no two tasks touch the same gradient rows.
        (0..batch * kv_heads).into_par_iter().for_each_init(
            || (vec![0f32; q_len * kv_len], vec![0f32; q_len * kv_len]),
            |(p, ds), task| {
                let (b, kvh) = (task / kv_heads, task % kv_heads);
                let kv_row = |t: usize| dims.kv_offset(b, kvh) + t * kv_heads * d;
                for h in kvh * dims.group()..(kvh + 1) * dims.group() {
                    self.weights(&dims, &q, &k, &bias, &ranges, b, h, p);
                    for (r0, rows, lo, keys) in visible_blocks(&ranges, &dims, b) {
                        // The block's weights and score gradients: rows r0.., keys lo...
                        let block = r0 * kv_len + lo;
                        // SAFETY (all products below): views stay inside their buffers; the dq
                        // rows of head h and the dk/dv rows of kv head kvh belong to this task.
                        unsafe {
                            if want_v {
                                // dV += Pᵀ · dO
                                sgemm(
                                    keys,
                                    d,
                                    rows,
                                    MatMut::raw_rows(dv_ptr.at(kv_row(lo)), kv_heads * d),
                                    true,
                                    MatRef::rows(p, block, kv_len).t(),
                                    g.head(b, h, r0),
                                    1.0,
                                    Threads::Single,
                                );
                            }
                            if !(want_q || want_k) {
                                continue;
                            }
                            // dP = dO · Vᵀ
                            sgemm(
                                rows,
                                keys,
                                d,
                                MatMut::rows(ds, block, kv_len),
                                false,
                                g.head(b, h, r0),
                                v.head(b, kvh, lo).t(),
                                1.0,
                                Threads::Single,
                            );
                        }
                        for i in r0..r0 + rows {
                            // δ_i = Σ_j P_ij dP_ij = dO_i · O_i
                            let delta = dot(g.row(b, i, h, d), o.row(b, i, h, d));
                            let span = i * kv_len + lo..i * kv_len + lo + keys;
                            softmax_backward_row(
                                &p[span.clone()],
                                &mut ds[span],
                                delta,
                                self.scale,
                            );
                        }
                        unsafe {
                            if want_q {
                                // dQ = dS · K (rows of blocks that see nothing stay 0)
                                sgemm(
                                    rows,
                                    d,
                                    keys,
                                    MatMut::raw_rows(
                                        dq_ptr.at(dims.q_offset(b, h) + r0 * heads * d),
                                        heads * d,
                                    ),
                                    false,
                                    MatRef::rows(ds, block, kv_len),
                                    k.head(b, kvh, lo),
                                    1.0,
                                    Threads::Single,
                                );
                            }
                            if want_k {
                                // dK += dSᵀ · Q
                                sgemm(
                                    keys,
                                    d,
                                    rows,
                                    MatMut::raw_rows(dk_ptr.at(kv_row(lo)), kv_heads * d),
                                    true,
                                    MatRef::rows(ds, block, kv_len).t(),
                                    q.head(b, h, r0),
                                    1.0,
                                    Threads::Single,
                                );
                            }
                        }
                    }
                }
            },
        );
        let grad_of = |want: bool, data: Vec<f32>, dims: &[usize]| -> Result<Option<Tensor>> {
            if want {
                Ok(Some(cpu_tensor(data, dims)?))
            } else {
                Ok(None)
            }
        };
        Ok((
            grad_of(want_q, dq, ql.dims())?,
            grad_of(want_k, dk, kl.dims())?,
            grad_of(want_v, dv, vl.dims())?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, check_grads, rand_tensor, rand_var};
    use candle_core::{Device, Var};

    /// The causal + key-padding bias `[b, 1, t, t]` for a key mask given as rows of 0/1.
    fn causal_bias(rows: &[&[u32]]) -> Result<Tensor> {
        let t = rows[0].len();
        let mut bias = Vec::new();
        for row in rows {
            for i in 0..t {
                for (j, &real) in row.iter().enumerate() {
                    bias.push(if j <= i && real != 0 {
                        0f32
                    } else {
                        f32::NEG_INFINITY
                    });
                }
            }
        }
        Tensor::from_vec(bias, (rows.len(), 1, t, t), &Device::Cpu)
    }

    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let d = q.dim(3)?;
        Attention {
            bias: bias.clone(),
            scale: 1.0 / (d as f32).sqrt(),
            d,
        }
        .composed(q, k, v)
    }

    #[test]
    fn matches_composed_softmax_attention_with_gradients() -> Result<()> {
        // Left padding, a pad in the middle, and 4 query heads sharing 2 kv heads.
        let bias = causal_bias(&[&[0, 0, 1, 1, 1, 1], &[1, 1, 0, 1, 1, 1]])?;
        let y = matches_composed(&bias, 1)?;
        // Rows before the first real token of row 0 see nothing: zeros, not NaN.
        assert_eq!(y.get(0)?.get(0)?.abs()?.sum_all()?.to_scalar::<f32>()?, 0.0);
        Ok(())
    }

    /// Runs the op on random q, k, v (4 query heads sharing 2 kv heads of size 8) under
    /// `bias` `[b, 1, t, t]`, checks values and gradients against the composed reference, and
    /// returns the op's output.
    fn matches_composed(bias: &Tensor, seed: u64) -> Result<Tensor> {
        let (b, _, t, _) = bias.dims4()?;
        let q = rand_var(&[b, t, 4, 8], seed)?;
        let k = rand_var(&[b, t, 2, 8], seed + 1)?;
        let v = rand_var(&[b, t, 2, 8], seed + 2)?;
        let probe = rand_tensor(&[b, t, 4, 8], seed + 3)?;
        let y = attention(q.as_tensor(), k.as_tensor(), v.as_tensor(), bias)?;
        let y_ref = reference(q.as_tensor(), k.as_tensor(), v.as_tensor(), bias)?;
        assert_close(&y, &y_ref, 1e-5)?;
        let g = (&y * &probe)?.sum_all()?.backward()?;
        let g_ref = (y_ref * &probe)?.sum_all()?.backward()?;
        for var in [&q, &k, &v] {
            assert_close(
                g.get(var).expect("grad"),
                g_ref.get(var).expect("grad"),
                1e-4,
            )?;
        }
        Ok(y)
    }

    #[test]
    fn query_blocks_skip_only_keys_nobody_sees() -> Result<()> {
        // Three query blocks. Row 0 is left-padded past the first block (which then sees no
        // key at all), row 1 has pads in the middle; a third row mixes a finite non-zero bias
        // in, which must count as visible.
        let (block, t) = (QUERY_BLOCK, 2 * QUERY_BLOCK + 6);
        let pad = block + 8;
        let left: Vec<u32> = (0..t).map(|i| u32::from(i >= pad)).collect();
        let middle: Vec<u32> = (0..t).map(|i| u32::from(!(5..9).contains(&i))).collect();
        let full = vec![1u32; t];
        let bias = causal_bias(&[&left, &middle, &full])?;
        let soft = Tensor::arange(0f32, (t * t) as f32, &Device::Cpu)?
            .reshape((1, 1, t, t))?
            .affine(-1e-3, 0.0)?;
        let bias = Tensor::cat(&[bias.narrow(0, 0, 2)?, (bias.narrow(0, 2, 1)? + soft)?], 0)?;
        let dims = Dims {
            batch: 3,
            q_len: t,
            kv_len: t,
            heads: 1,
            kv_heads: 1,
            d: 1,
        };
        let causal = [(0, block), (0, 2 * block), (0, t)];
        let mut want = vec![(0, 0), (pad, 2 * block), (pad, t)];
        want.extend(causal);
        want.extend(causal);
        assert_eq!(
            key_ranges(&bias.flatten_all()?.to_vec1::<f32>()?, &dims),
            want
        );
        matches_composed(&bias, 21)?;
        Ok(())
    }

    #[test]
    fn composed_fallback_runs_in_f64_too() -> Result<()> {
        let bias = causal_bias(&[&[1, 0, 1, 1]])?;
        let q = rand_tensor(&[1, 4, 2, 4], 5)?;
        let (k, v) = (
            rand_tensor(&[1, 4, 1, 4], 6)?,
            rand_tensor(&[1, 4, 1, 4], 7)?,
        );
        let fast = attention(&q, &k, &v, &bias)?;
        let f64s = |t: &Tensor| t.to_dtype(DType::F64);
        let slow = attention(&f64s(&q)?, &f64s(&k)?, &f64s(&v)?, &bias)?;
        assert_close(&fast, &slow.to_dtype(DType::F32)?, 1e-5)
    }

    #[test]
    fn gradients_match_finite_differences_on_strided_inputs() -> Result<()> {
        let bias = causal_bias(&[&[0, 1, 1, 1, 1], &[1, 1, 1, 0, 1]])?;
        // q and v arrive as [b, heads, len, d] tensors viewed as [b, len, heads, d].
        check_grads(&[&[2, 4, 5, 3], &[2, 5, 2, 3], &[2, 2, 5, 3]], 8, |xs| {
            attention(
                &xs[0].transpose(1, 2)?,
                &xs[1],
                &xs[2].transpose(1, 2)?,
                &bias,
            )
        })
    }

    #[test]
    fn a_block_of_last_queries_sees_the_whole_prefix() -> Result<()> {
        // Two new queries after a 3-key prefix equal the last two rows of the full computation.
        let bias = causal_bias(&[&[1, 1, 1, 1, 1]])?;
        let q = rand_tensor(&[1, 5, 2, 4], 9)?;
        let (k, v) = (
            rand_tensor(&[1, 5, 1, 4], 10)?,
            rand_tensor(&[1, 5, 1, 4], 11)?,
        );
        let full = attention(&q, &k, &v, &bias)?.narrow(1, 3, 2)?;
        let last = attention(&q.narrow(1, 3, 2)?, &k, &v, &bias.narrow(2, 3, 2)?)?;
        assert_close(&last, &full, 1e-6)
    }

    #[test]
    fn packed_heads_give_the_same_values_and_gradients() -> Result<()> {
        let bias = causal_bias(&[&[0, 1, 1, 1, 1], &[1, 1, 1, 0, 1]])?;
        let (q, k, v) = (
            rand_var(&[2, 5, 4 * 3], 15)?,
            rand_var(&[2, 5, 2 * 3], 16)?,
            rand_var(&[2, 5, 2 * 3], 17)?,
        );
        let heads = |t: &Var| t.as_tensor().reshape((2, 5, t.dim(2).unwrap() / 3, 3));
        let probe = rand_tensor(&[2, 5, 12], 18)?;
        let packed = attention_packed(q.as_tensor(), k.as_tensor(), v.as_tensor(), &bias, 3)?;
        assert_eq!(packed.dims(), [2, 5, 12]);
        let four = attention(&heads(&q)?, &heads(&k)?, &heads(&v)?, &bias)?.reshape((2, 5, 12))?;
        assert_close(&packed, &four, 1e-6)?;
        let g = (&packed * &probe)?.sum_all()?.backward()?;
        let g4 = (four * &probe)?.sum_all()?.backward()?;
        for var in [&q, &k, &v] {
            let grad = g.get(var).expect("grad");
            assert_eq!(grad.dims(), var.dims());
            assert_close(grad, g4.get(var).expect("grad"), 1e-6)?;
        }
        // The composed path (f64) and finite differences on a strided packed input.
        let f64s = |t: &Var| t.as_tensor().to_dtype(DType::F64);
        let slow = attention_packed(&f64s(&q)?, &f64s(&k)?, &f64s(&v)?, &bias, 3)?;
        assert_close(&packed, &slow.to_dtype(DType::F32)?, 1e-5)?;
        check_grads(&[&[2, 12, 5], &[2, 5, 6], &[2, 5, 6]], 19, |xs| {
            attention_packed(&xs[0].transpose(1, 2)?, &xs[1], &xs[2], &bias, 3)
        })?;
        assert!(attention_packed(q.as_tensor(), k.as_tensor(), v.as_tensor(), &bias, 5).is_err());
        Ok(())
    }

    #[test]
    fn frozen_keys_get_no_gradient() -> Result<()> {
        let bias = causal_bias(&[&[1, 1, 1]])?;
        let q = rand_var(&[1, 3, 2, 4], 12)?;
        let k = rand_tensor(&[1, 3, 1, 4], 13)?;
        let v = rand_var(&[1, 3, 1, 4], 14)?;
        let g = attention(q.as_tensor(), &k, v.as_tensor(), &bias)?
            .sum_all()?
            .backward()?;
        assert!(g.get(&k).is_none());
        assert!(g.get(&q).is_some() && g.get(&v).is_some());
        Ok(())
    }
}
