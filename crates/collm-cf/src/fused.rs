//! Fused CPU ops with exact backwards for the sequence models' elementwise work: adding a bias
//! to every row, layer norm, softmax under an end-aligned causal mask, and scaling by a
//! constant mask (dropout, padding). Built from candle ops, a SASRec step spent most of its
//! time in generic strided reductions (bias and LayerNorm gradients) and per-node gradient
//! buffers rather than in its matmuls. Off the CPU, or for other dtypes than f32, each function
//! runs the same expression as candle ops.

use std::sync::Arc;

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Shape, Storage, Tensor, D,
};

fn fused(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32
}

/// The contiguous f32 values of CPU tensors, all read at once, or an error naming the op.
pub(crate) fn with_f32<R, const N: usize>(
    op: &str,
    tensors: [&Tensor; N],
    f: impl FnOnce([&[f32]; N]) -> R,
) -> candle_core::Result<R> {
    let held = tensors.map(|t| t.storage_and_layout());
    let mut values: [&[f32]; N] = [&[]; N];
    for (v, (storage, layout)) in values.iter_mut().zip(&held) {
        let (Storage::Cpu(CpuStorage::F32(all)), Some((start, end))) =
            (&**storage, layout.contiguous_offsets())
        else {
            candle_core::bail!("{op}: expected a contiguous f32 CPU tensor");
        };
        *v = &all[start..end];
    }
    Ok(f(values))
}

/// A gradient with `t`'s shape and device.
pub(crate) fn grad_like(values: Vec<f32>, t: &Tensor) -> candle_core::Result<Option<Tensor>> {
    Ok(Some(Tensor::from_vec(values, t.shape(), t.device())?))
}

/// `out += a · x`, elementwise.
pub(crate) fn axpy(out: &mut [f32], a: f32, x: &[f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o += a * v;
    }
}

/// `Σ a_i · b_i`.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn slice<'a>(op: &str, s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("{op}: expected contiguous f32 operands"),
    }
}

/// Sums the rows of a `[rows, k]` slice, accumulating in f64.
fn column_sums(values: &[f32], k: usize) -> Vec<f32> {
    let mut acc = vec![0f64; k];
    for row in values.chunks_exact(k) {
        for (a, &v) in acc.iter_mut().zip(row) {
            *a += f64::from(v);
        }
    }
    acc.into_iter().map(|a| a as f32).collect()
}

/// `x + b` with `b` repeated over `x` in memory order: `x`'s element count is a multiple of
/// `b`'s (a bias `[d]` on `[.., d]`; positions `[T, d]` on the `[B·T, d]` rows of B sequences).
pub fn add_row_bias(x: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let (n, k) = (x.elem_count(), b.elem_count());
    if k == 0 || n % k != 0 {
        candle_core::bail!("row-bias: {:?} is not a repeat of {:?}", x.dims(), b.dims());
    }
    if fused(x) && b.dtype() == DType::F32 {
        return x
            .contiguous()?
            .apply_op2_arc(&b.contiguous()?, Arc::new(Box::new(RowBias)));
    }
    let mut repeated = vec![n / k];
    repeated.extend_from_slice(b.dims());
    x.reshape(repeated)?.broadcast_add(b)?.reshape(x.shape())
}

struct RowBias;

impl CustomOp2 for RowBias {
    fn name(&self) -> &'static str {
        "row-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, b) = (slice("row-bias", s1, l1)?, slice("row-bias", s2, l2)?);
        if b.is_empty() || x.len() % b.len() != 0 {
            candle_core::bail!("row-bias: {:?} does not end in {:?}", l1.dims(), l2.dims());
        }
        let mut out = x.to_vec();
        for row in out.chunks_exact_mut(b.len()) {
            axpy(row, 1.0, b);
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let db = with_f32("row-bias", [&grad], |[g]| column_sums(g, b.elem_count()))?;
        Ok((Some(grad), grad_like(db, b)?))
    }
}

/// LayerNorm over the last axis (biased variance), then `· w + b`.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    if fused(x) && w.dtype() == DType::F32 && b.dtype() == DType::F32 {
        return x.contiguous()?.apply_op3_arc(
            &w.contiguous()?,
            &b.contiguous()?,
            Arc::new(Box::new(LayerNormOp { eps })),
        );
    }
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred
        .broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(w)?
        .broadcast_add(b)
}

struct LayerNormOp {
    eps: f64,
}

impl LayerNormOp {
    /// (mean, 1 / sqrt(var + eps)) of one row.
    fn stats(&self, row: &[f32]) -> (f32, f32) {
        let n = row.len() as f64;
        let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = row
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean as f32, (1.0 / (var + self.eps).sqrt()) as f32)
    }
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer-norm-fused"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = "layer-norm-fused";
        let (x, w, b) = (slice(op, s1, l1)?, slice(op, s2, l2)?, slice(op, s3, l3)?);
        let d = w.len();
        if d == 0 || b.len() != d || l1.dims().last() != Some(&d) {
            candle_core::bail!(
                "{op}: {:?} with weight {:?}, bias {:?}",
                l1.dims(),
                l2.dims(),
                l3.dims()
            );
        }
        let mut out = vec![0f32; x.len()];
        for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
            let (mean, rstd) = self.stats(row);
            for (((o, &v), &w), &b) in o.iter_mut().zip(row).zip(w).zip(b) {
                *o = (v - mean) * rstd * w + b;
            }
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = "layer-norm-fused";
        let grad = grad.contiguous()?;
        let d = w.elem_count();
        let (dx, dw, db) = with_f32(op, [x, w, &grad], |[x, w, g]| {
            let mut dx = vec![0f32; x.len()];
            let (mut dw, mut db) = (vec![0f64; d], vec![0f64; d]);
            let mut xhat = vec![0f32; d];
            for ((row, g), dx) in x
                .chunks_exact(d)
                .zip(g.chunks_exact(d))
                .zip(dx.chunks_exact_mut(d))
            {
                let (mean, rstd) = self.stats(row);
                let (mut sum_gw, mut sum_gwx) = (0f32, 0f32);
                for j in 0..d {
                    xhat[j] = (row[j] - mean) * rstd;
                    let gw = g[j] * w[j];
                    sum_gw += gw;
                    sum_gwx += gw * xhat[j];
                    dw[j] += f64::from(g[j] * xhat[j]);
                    db[j] += f64::from(g[j]);
                }
                let (m1, m2) = (sum_gw / d as f32, sum_gwx / d as f32);
                for j in 0..d {
                    dx[j] = rstd * (g[j] * w[j] - m1 - xhat[j] * m2);
                }
            }
            let to32 = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<_>>();
            (dx, to32(dw), to32(db))
        })?;
        Ok((grad_like(dx, x)?, grad_like(dw, w)?, grad_like(db, b)?))
    }
}

/// Softmax over the last axis of `scale · scores` (`[.., Tq, T]`), where query `q` sees key `k`
/// only if `k <= q + T − Tq`: the queries are the last `Tq` of `T` positions, so `Tq = T` is
/// the usual causal mask and `Tq = 1` (the last position) sees every key.
pub fn causal_softmax(scores: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    let (tq, t) = (scores.dim(D::Minus2)?, scores.dim(D::Minus1)?);
    if tq > t {
        candle_core::bail!("causal-softmax: {tq} queries over {t} keys");
    }
    if fused(scores) {
        return scores
            .contiguous()?
            .apply_op1_arc(Arc::new(Box::new(CausalSoftmax {
                scale: scale as f32,
            })));
    }
    let mask: Vec<f32> = (0..tq)
        .flat_map(|q| {
            (0..t).map(move |k| {
                if k > q + t - tq {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    let mask = Tensor::from_vec(mask, (tq, t), scores.device())?.to_dtype(scores.dtype())?;
    let x = (scores * scale)?.broadcast_add(&mask)?;
    let e = x
        .broadcast_sub(&x.max_keepdim(D::Minus1)?.detach())?
        .exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

struct CausalSoftmax {
    scale: f32,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = slice("causal-softmax", s, l)?;
        let dims = l.dims();
        let (tq, t) = (dims[dims.len() - 2], dims[dims.len() - 1]);
        let mut out = vec![0f32; x.len()];
        for (r, (row, o)) in x.chunks_exact(t).zip(out.chunks_exact_mut(t)).enumerate() {
            let visible = r % tq + t - tq + 1;
            let max = row[..visible]
                .iter()
                .fold(f32::NEG_INFINITY, |m, &v| m.max(v * self.scale));
            let mut sum = 0f32;
            for (o, &v) in o[..visible].iter_mut().zip(row) {
                *o = (v * self.scale - max).exp();
                sum += *o;
            }
            for o in &mut o[..visible] {
                *o /= sum;
            }
        }
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    /// `dx = scale · y ⊙ (dy − Σ dy ⊙ y)` per row; hidden keys have y = 0 and get 0.
    fn bwd(&self, _x: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let t = res.dim(D::Minus1)?;
        let dx = with_f32("causal-softmax", [res, &grad], |[y, g]| {
            let mut dx = vec![0f32; y.len()];
            for ((y, g), dx) in y
                .chunks_exact(t)
                .zip(g.chunks_exact(t))
                .zip(dx.chunks_exact_mut(t))
            {
                let yg = dot(y, g);
                for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(g) {
                    *dx = self.scale * y * (g - yg);
                }
            }
            dx
        })?;
        grad_like(dx, res)
    }
}

/// `x ⊙ mask` for a constant mask of `x`'s element count (dropout multipliers, padding zeros);
/// the mask gets no gradient.
pub fn scale_by(x: &Tensor, mask: Vec<f32>) -> candle_core::Result<Tensor> {
    masked(x, mask, false)
}

/// `relu(x) ⊙ mask` for a constant mask (the feed-forward's dropout around its ReLU: dropout
/// and ReLU commute, masks being non-negative).
pub fn relu_scale_by(x: &Tensor, mask: Vec<f32>) -> candle_core::Result<Tensor> {
    masked(x, mask, true)
}

/// `x ⊙ mask`, or `relu(x) ⊙ mask` with `relu`.
fn masked(x: &Tensor, mask: Vec<f32>, relu: bool) -> candle_core::Result<Tensor> {
    let op = ScaleBy {
        mask: Arc::new(mask),
        relu,
    };
    if op.mask.len() != x.elem_count() {
        candle_core::bail!(
            "{}: {} mask values for {:?}",
            op.name(),
            op.mask.len(),
            x.dims()
        );
    }
    if fused(x) {
        return x.contiguous()?.apply_op1_arc(Arc::new(Box::new(op)));
    }
    let mask = Arc::unwrap_or_clone(op.mask);
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    if relu {
        x.relu()? * mask
    } else {
        x * mask
    }
}

struct ScaleBy {
    mask: Arc<Vec<f32>>,
    relu: bool,
}

impl CustomOp1 for ScaleBy {
    fn name(&self) -> &'static str {
        if self.relu {
            "relu-scale-by"
        } else {
            "scale-by"
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = slice(self.name(), s, l)?;
        let out = x
            .iter()
            .zip(self.mask.iter())
            .map(|(&a, m)| if self.relu { a.max(0.0) * m } else { a * m })
            .collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    /// The gradient scaled by the mask; with ReLU, only where the output is non-zero (x > 0
    /// and kept).
    fn bwd(&self, _x: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let dx = with_f32(self.name(), [res, &grad], |[y, g]| {
            y.iter()
                .zip(g)
                .zip(self.mask.iter())
                .map(|((&y, &g), &m)| if !self.relu || y > 0.0 { g * m } else { 0.0 })
                .collect::<Vec<f32>>()
        })?;
        grad_like(dx, res)
    }
}

/// Multi-head scaled dot-product attention of the last `Tq` of `T` positions under the causal
/// mask (as [`causal_softmax`]): queries `q` `[B, Tq, d]`, keys and values `[B, T, d]`, head `h`
/// using features `h·d/heads ..`; the attention weights are multiplied by `dropout` (`[B,
/// heads, Tq, T]` multipliers) when given. Returns `[B, Tq, d]`.
pub fn causal_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    dropout: Option<Vec<f32>>,
) -> candle_core::Result<Tensor> {
    let (b, tq, d) = q.dims3()?;
    let t = k.dim(1)?;
    if k.dims() != [b, t, d] || v.dims() != [b, t, d] || heads == 0 || d % heads != 0 || tq > t {
        candle_core::bail!(
            "causal-attention: q {:?}, k {:?}, v {:?}, {heads} heads",
            q.dims(),
            k.dims(),
            v.dims()
        );
    }
    if dropout
        .as_ref()
        .is_some_and(|m| m.len() != b * heads * tq * t)
    {
        candle_core::bail!("causal-attention: dropout mask of the wrong size");
    }
    let dh = d / heads;
    let scale = 1.0 / (dh as f64).sqrt();
    if fused(q) && k.dtype() == DType::F32 && v.dtype() == DType::F32 {
        let op = CausalAttention {
            heads,
            scale: scale as f32,
            dropout: dropout.map(Arc::new),
        };
        return q.contiguous()?.apply_op3_arc(
            &k.contiguous()?,
            &v.contiguous()?,
            Arc::new(Box::new(op)),
        );
    }
    let split = |x: &Tensor, len| {
        x.reshape((b, len, heads, dh))?
            .transpose(1, 2)?
            .contiguous()
    };
    let scores = split(q, tq)?.matmul(&split(k, t)?.t()?)?;
    let weights = causal_softmax(&scores, scale)?;
    let weights = match dropout {
        Some(mask) => scale_by(&weights, mask)?,
        None => weights,
    };
    weights
        .matmul(&split(v, t)?)?
        .transpose(1, 2)?
        .reshape((b, tq, d))
}

struct CausalAttention {
    heads: usize,
    scale: f32,
    dropout: Option<Arc<Vec<f32>>>,
}

/// The operands of one attention call as slices, with its sizes.
struct AttentionArgs<'a> {
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    b: usize,
    tq: usize,
    t: usize,
    d: usize,
}

impl CausalAttention {
    /// Calls `f(batch row, head, query, probabilities p, kept weights p ⊙ dropout)` for every
    /// query, `p` over the visible keys only.
    fn for_each_query(
        &self,
        a: &AttentionArgs,
        mut f: impl FnMut(usize, usize, usize, &[f32], &[f32]),
    ) {
        let dh = a.d / self.heads;
        let (mut p, mut kept) = (vec![0f32; a.t], vec![0f32; a.t]);
        for bi in 0..a.b {
            for h in 0..self.heads {
                for i in 0..a.tq {
                    let visible = i + a.t - a.tq + 1;
                    let qi = &a.q[(bi * a.tq + i) * a.d + h * dh..][..dh];
                    let mut max = f32::NEG_INFINITY;
                    for (j, pj) in p[..visible].iter_mut().enumerate() {
                        let kj = &a.k[(bi * a.t + j) * a.d + h * dh..][..dh];
                        *pj = self.scale * dot(qi, kj);
                        max = max.max(*pj);
                    }
                    let mut sum = 0f32;
                    for pj in &mut p[..visible] {
                        *pj = (*pj - max).exp();
                        sum += *pj;
                    }
                    let row = ((bi * self.heads + h) * a.tq + i) * a.t;
                    for j in 0..visible {
                        p[j] /= sum;
                        kept[j] = match &self.dropout {
                            Some(m) => p[j] * m[row + j],
                            None => p[j],
                        };
                    }
                    f(bi, h, i, &p[..visible], &kept[..visible]);
                }
            }
        }
    }
}

fn attention_args<'a>(
    q: (&'a [f32], &[usize]),
    k: &'a [f32],
    v: &'a [f32],
    t: usize,
) -> AttentionArgs<'a> {
    let (q, dims) = q;
    AttentionArgs {
        q,
        k,
        v,
        b: dims[0],
        tq: dims[1],
        t,
        d: dims[2],
    }
}

impl CustomOp3 for CausalAttention {
    fn name(&self) -> &'static str {
        "causal-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let op = "causal-attention";
        let a = attention_args(
            (slice(op, s1, l1)?, l1.dims()),
            slice(op, s2, l2)?,
            slice(op, s3, l3)?,
            l2.dims()[1],
        );
        let dh = a.d / self.heads;
        let mut out = vec![0f32; a.q.len()];
        self.for_each_query(&a, |bi, h, i, _, kept| {
            let o = &mut out[(bi * a.tq + i) * a.d + h * dh..][..dh];
            for (j, &w) in kept.iter().enumerate() {
                axpy(o, w, &a.v[(bi * a.t + j) * a.d + h * dh..][..dh]);
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    /// Recomputes the weights, then per query: `dv_j += w'_j·dout`, `dp_j = (dout·v_j)·m_j`,
    /// `ds_j = p_j·(dp_j − Σ p·dp)`, `dq += scale·Σ ds_j k_j`, `dk_j += scale·ds_j q`.
    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = "causal-attention";
        let grad = grad.contiguous()?;
        let t = k.dim(1)?;
        let (dq, dk, dv) = with_f32(op, [q, k, v, &grad], |[qs, ks, vs, g]| {
            let a = attention_args((qs, q.dims()), ks, vs, t);
            let dh = a.d / self.heads;
            let (mut dq, mut dk, mut dv) = (
                vec![0f32; qs.len()],
                vec![0f32; ks.len()],
                vec![0f32; vs.len()],
            );
            let mut ds = vec![0f32; t];
            self.for_each_query(&a, |bi, h, i, p, kept| {
                let at = |row: usize| row * a.d + h * dh;
                let (qi, gi) = (at(bi * a.tq + i), at(bi * a.tq + i));
                let gi = &g[gi..][..dh];
                let row = ((bi * self.heads + h) * a.tq + i) * a.t;
                let mut sum_pdp = 0f32;
                for j in 0..p.len() {
                    let kv = at(bi * a.t + j);
                    axpy(&mut dv[kv..kv + dh], kept[j], gi);
                    let mut dp = dot(gi, &vs[kv..kv + dh]);
                    if let Some(m) = &self.dropout {
                        dp *= m[row + j];
                    }
                    ds[j] = dp;
                    sum_pdp += p[j] * dp;
                }
                for j in 0..p.len() {
                    let s = self.scale * p[j] * (ds[j] - sum_pdp);
                    let kv = at(bi * a.t + j);
                    axpy(&mut dq[qi..qi + dh], s, &ks[kv..kv + dh]);
                    axpy(&mut dk[kv..kv + dh], s, &qs[qi..qi + dh]);
                }
            });
            (dq, dk, dv)
        })?;
        Ok((grad_like(dq, q)?, grad_like(dk, k)?, grad_like(dv, v)?))
    }
}

/// `x · wᵀ + b` for `x` `[N, in]`, `w` `[out, in]`, `b` `[out]`, as one graph node: its
/// forward and backward products run on candle's matmul, but the graph holds one node instead
/// of the matmul, transpose and bias nodes, each of which costs candle's backward a zeroed
/// gradient buffer and an accumulation pass over `[N, out]`.
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    if fused(x) && w.dtype() == DType::F32 && b.dtype() == DType::F32 {
        let y = add_row_bias(&x.detach().matmul(&w.detach().t()?)?, &b.detach())?;
        return x
            .contiguous()?
            .apply_op3_arc(w, b, Arc::new(Box::new(LinearOp { y })));
    }
    add_row_bias(&x.matmul(&w.t()?)?, b)
}

struct LinearOp {
    /// The forward result, computed before the node was recorded.
    y: Tensor,
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn cpu_fwd(
        &self,
        _s1: &CpuStorage,
        _l1: &Layout,
        _s2: &CpuStorage,
        _l2: &Layout,
        _s3: &CpuStorage,
        _l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = with_f32("linear", [&self.y], |[y]| y.to_vec())?;
        Ok((CpuStorage::F32(y), self.y.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.detach().contiguous()?;
        let (x, w) = (x.detach(), w.detach());
        let dx = grad.matmul(&w)?;
        let dw = grad.t()?.matmul(&x)?;
        let db = with_f32("linear", [&grad], |[g]| column_sums(g, b.elem_count()))?;
        Ok((Some(dx), Some(dw), grad_like(db, b)?))
    }
}
