//! Scores of (user, item) pairs, `dot(users[uid], items[iid])`, as one op with a hand-written
//! backward on the CPU: no `[B, dim]` temporaries and no thread-pool round trips, which
//! otherwise dominate a training step of these small models.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

use crate::fused::{axpy, dot, with_f32};

/// `[B]` scores of the pairs `(uids[b], iids[b])` for tables `users` `[U, d]` and `items`
/// `[I, d]` (f32). Off the CPU, or for other dtypes, the same expression from candle ops.
pub fn pair_scores(
    users: &Tensor,
    items: &Tensor,
    uids: &Tensor,
    iids: &Tensor,
) -> candle_core::Result<Tensor> {
    if users.device().is_cpu() && users.dtype() == candle_core::DType::F32 {
        let op = PairDot {
            uids: Arc::new(uids.to_vec1::<u32>()?),
            iids: Arc::new(iids.to_vec1::<u32>()?),
        };
        users.contiguous()?.apply_op2(&items.contiguous()?, op)
    } else {
        (users.embedding(uids)? * items.embedding(iids)?)?.sum(1)
    }
}

struct PairDot {
    uids: Arc<Vec<u32>>,
    iids: Arc<Vec<u32>>,
}

impl PairDot {
    fn check(&self, users: usize, items: usize) -> candle_core::Result<()> {
        if let Some(u) = self.uids.iter().find(|&&u| u as usize >= users) {
            candle_core::bail!("pair-dot: user id {u} outside a {users}-row table");
        }
        if let Some(i) = self.iids.iter().find(|&&i| i as usize >= items) {
            candle_core::bail!("pair-dot: item id {i} outside a {items}-row table");
        }
        Ok(())
    }

    /// `target[row(b)] += g[b] * source[other(b)]` for every pair, into a zeroed table.
    fn scatter(
        rows: usize,
        dim: usize,
        into: &[u32],
        from: &[u32],
        source: &[f32],
        g: &[f32],
    ) -> Vec<f32> {
        let mut out = vec![0f32; rows * dim];
        for ((&r, &o), &gb) in into.iter().zip(from).zip(g) {
            let (r, o) = (r as usize * dim, o as usize * dim);
            axpy(&mut out[r..r + dim], gb, &source[o..o + dim]);
        }
        out
    }
}

impl CustomOp2 for PairDot {
    fn name(&self) -> &'static str {
        "pair-dot"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let ((u_rows, dim), (i_rows, i_dim)) = (l1.shape().dims2()?, l2.shape().dims2()?);
        if dim != i_dim {
            candle_core::bail!("pair-dot: user dim {dim} != item dim {i_dim}");
        }
        self.check(u_rows, i_rows)?;
        let (CpuStorage::F32(users), CpuStorage::F32(items), Some((u0, u1)), Some((i0, i1))) =
            (s1, s2, l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("pair-dot: expected contiguous f32 tables");
        };
        let (users, items) = (&users[u0..u1], &items[i0..i1]);
        let scores: Vec<f32> = self
            .uids
            .iter()
            .zip(self.iids.iter())
            .map(|(&u, &i)| {
                let (u, i) = (u as usize * dim, i as usize * dim);
                dot(&users[u..u + dim], &items[i..i + dim])
            })
            .collect();
        let n = scores.len();
        Ok((CpuStorage::F32(scores), Shape::from(n)))
    }

    fn bwd(
        &self,
        users: &Tensor,
        items: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (u_rows, dim) = users.dims2()?;
        let i_rows = items.dim(0)?;
        let g = grad.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?;
        let grad_users = with_f32("pair-dot", [items], |[items]| {
            Self::scatter(u_rows, dim, &self.uids, &self.iids, items, &g)
        })?;
        let grad_items = with_f32("pair-dot", [users], |[users]| {
            Self::scatter(i_rows, dim, &self.iids, &self.uids, users, &g)
        })?;
        Ok((
            Some(Tensor::from_vec(grad_users, (u_rows, dim), users.device())?),
            Some(Tensor::from_vec(grad_items, (i_rows, dim), items.device())?),
        ))
    }
}
