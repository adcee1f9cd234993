//! The normalised user-item graph Â = D^-1/2 A D^-1/2 of LightGCN as a weighted edge list, and
//! LightGCN's propagation over it (mean of Â^0..Â^K applied to the embeddings) with an exact
//! backward.

use std::collections::BTreeSet;
use std::sync::Arc;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Shape, Tensor, WithDType};
use collm_data::Interaction;

use crate::model::IdSpace;
use crate::CfError;

/// Users are nodes `0..user_num`, items `user_num..user_num + item_num`. Each distinct
/// (user, item) pair is an undirected edge of weight 1 (no self-loops), stored in both
/// directions with weight `1 / sqrt(deg(a) deg(b))`; nodes without edges propagate nothing.
#[derive(Debug, Clone)]
pub struct NormalizedGraph {
    nodes: usize,
    edges: Arc<EdgeList>,
    /// `[M]` u32 sources, `[M]` u32 destinations and `[M, 1]` f32 weights on the graph's
    /// device, for `propagate_indexed` (used off the CPU).
    src: Tensor,
    dst: Tensor,
    weight: Tensor,
}

/// Directed edges sorted by destination (so a propagation writes rows in order).
#[derive(Debug)]
struct EdgeList {
    src: Vec<u32>,
    dst: Vec<u32>,
    weight: Vec<f32>,
}

impl NormalizedGraph {
    pub fn from_pairs(
        ids: IdSpace,
        pairs: impl IntoIterator<Item = (u32, u32)>,
        device: &Device,
    ) -> Result<Self, CfError> {
        let mut distinct = BTreeSet::new();
        for (u, i) in pairs {
            if u as usize >= ids.user_num || i as usize >= ids.item_num {
                return Err(CfError::Data(format!(
                    "graph edge (user {u}, item {i}) outside the id space ({} users, {} items)",
                    ids.user_num, ids.item_num
                )));
            }
            distinct.insert((u, i));
        }
        let nodes = ids.user_num + ids.item_num;
        let mut degree = vec![0u32; nodes];
        for &(u, i) in &distinct {
            degree[u as usize] += 1;
            degree[ids.user_num + i as usize] += 1;
        }
        let mut directed: Vec<(u32, u32, f32)> = Vec::with_capacity(distinct.len() * 2);
        for &(u, i) in &distinct {
            let (a, b) = (u, (ids.user_num + i as usize) as u32);
            let w = 1.0 / (f64::from(degree[a as usize]) * f64::from(degree[b as usize])).sqrt();
            directed.push((a, b, w as f32));
            directed.push((b, a, w as f32));
        }
        directed.sort_by_key(|&(s, d, _)| (d, s));
        let edges = EdgeList {
            src: directed.iter().map(|e| e.0).collect(),
            dst: directed.iter().map(|e| e.1).collect(),
            weight: directed.iter().map(|e| e.2).collect(),
        };
        let m = edges.src.len();
        Ok(NormalizedGraph {
            nodes,
            src: Tensor::from_slice(&edges.src, m, device)?,
            dst: Tensor::from_slice(&edges.dst, m, device)?,
            weight: Tensor::from_slice(&edges.weight, (m, 1), device)?,
            edges: Arc::new(edges),
        })
    }

    /// The graph of the positive rows of `train` (the reference's `GnnDataset`).
    pub fn from_train(
        ids: IdSpace,
        train: &[Interaction],
        device: &Device,
    ) -> Result<Self, CfError> {
        let pairs = train
            .iter()
            .filter(|r| r.label == 1)
            .map(|r| (r.uid, r.iid));
        Self::from_pairs(ids, pairs, device)
    }

    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Directed edges (twice the distinct pairs).
    pub fn edges(&self) -> usize {
        self.edges.src.len()
    }

    /// LightGCN's output: the mean of `emb`, Â·emb, ..., Â^layers·emb for `[nodes, d]` input.
    /// On the CPU one custom op with its own backward; elsewhere `propagate_indexed`.
    pub fn propagate(&self, emb: &Tensor, layers: usize) -> candle_core::Result<Tensor> {
        if emb.device().is_cpu() {
            emb.contiguous()?.apply_op1(MeanOfPowers {
                edges: self.edges.clone(),
                layers,
            })
        } else {
            self.propagate_indexed(emb, layers)
        }
    }

    /// The same mean built from candle's differentiable index ops (gather source rows, scale,
    /// index-add into destinations, per layer). Any device; allocates `[edges, d]` per layer.
    pub fn propagate_indexed(&self, emb: &Tensor, layers: usize) -> candle_core::Result<Tensor> {
        let weight = self.weight.to_dtype(emb.dtype())?;
        let mut layer = emb.clone();
        let mut sum = emb.clone();
        for _ in 0..layers {
            let messages = layer.index_select(&self.src, 0)?.broadcast_mul(&weight)?;
            layer = Tensor::zeros(emb.shape(), emb.dtype(), emb.device())?
                .index_add(&self.dst, &messages, 0)?;
            sum = (sum + &layer)?;
        }
        sum.affine(1.0 / (layers as f64 + 1.0), 0.0)
    }
}

/// `y = (1/(K+1)) Σ_{k=0..K} Â^k x`, computed in plain loops (one pass over the edges per
/// layer, no `[edges, d]` temporaries, no thread-pool round trips). Â is symmetric (every edge
/// is stored both ways with one weight), so this map is self-adjoint and its backward is the
/// same op applied to the incoming gradient (which is itself differentiable).
struct MeanOfPowers {
    edges: Arc<EdgeList>,
    layers: usize,
}

impl MeanOfPowers {
    fn apply<T: WithDType>(
        &self,
        x: &[T],
        rows: usize,
        cols: usize,
    ) -> candle_core::Result<Vec<T>> {
        let e = &self.edges;
        if let Some(&bad) = e.src.iter().chain(&e.dst).find(|&&n| n as usize >= rows) {
            candle_core::bail!("lightgcn-propagate: node {bad} outside a {rows}-row input");
        }
        let mut sum = x.to_vec();
        let mut layer = x.to_vec();
        for _ in 0..self.layers {
            let mut next = vec![T::zero(); rows * cols];
            for ((&s, &d), &w) in e.src.iter().zip(&e.dst).zip(&e.weight) {
                let w = T::from_f64(f64::from(w));
                let (s, d) = (s as usize * cols, d as usize * cols);
                for (out, &v) in next[d..d + cols].iter_mut().zip(&layer[s..s + cols]) {
                    *out += w * v;
                }
            }
            for (acc, &v) in sum.iter_mut().zip(&next) {
                *acc += v;
            }
            layer = next;
        }
        let scale = T::from_f64(1.0 / (self.layers as f64 + 1.0));
        for v in sum.iter_mut() {
            *v *= scale;
        }
        Ok(sum)
    }
}

impl CustomOp1 for MeanOfPowers {
    fn name(&self) -> &'static str {
        "lightgcn-propagate"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, cols) = layout.shape().dims2()?;
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("lightgcn-propagate: input must be contiguous");
        };
        let out = match storage {
            CpuStorage::F32(x) => CpuStorage::F32(self.apply(&x[start..end], rows, cols)?),
            CpuStorage::F64(x) => CpuStorage::F64(self.apply(&x[start..end], rows, cols)?),
            other => {
                candle_core::bail!("lightgcn-propagate: unsupported dtype {:?}", other.dtype())
            }
        };
        Ok((out, layout.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let back = grad_res.contiguous()?.apply_op1(MeanOfPowers {
            edges: self.edges.clone(),
            layers: self.layers,
        })?;
        Ok(Some(back))
    }
}
