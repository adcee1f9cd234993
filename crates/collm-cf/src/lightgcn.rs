//! LightGCN: embeddings smoothed over the normalised user-item graph of positive train edges,
//! final vector = mean of propagation layers 0..K, recomputed on every forward.

use std::collections::BTreeSet;

use candle_core::{Device, Tensor, Var};
use collm_data::Interaction;

use crate::model::IdSpace;
use crate::tables::{TableSource, TableSpec};
use crate::{CfBatch, CfError, CfKind, CfModel, CfModelConfig};

pub const USER_TABLE: &str = "embedding_user.weight";
pub const ITEM_TABLE: &str = "embedding_item.weight";

/// D^-1/2 A D^-1/2 of the symmetric bipartite graph as a weighted edge list (users are nodes
/// `0..user_num`, items `user_num..user_num + item_num`). Propagation gathers source rows,
/// scales them and index-adds them into their destinations: ops with a backward in candle.
#[derive(Debug, Clone)]
pub struct NormalizedGraph {
    nodes: usize,
    /// `[M]` u32 source node of each directed edge.
    src: Tensor,
    /// `[M]` u32 destination node of each directed edge.
    dst: Tensor,
    /// `[M, 1]` f32 `1 / sqrt(deg(src) deg(dst))`.
    weight: Tensor,
}

impl NormalizedGraph {
    /// The graph of distinct (user, item) pairs; weight 1 per pair, no self-loops. Nodes
    /// without edges (padding, users or items unseen in train) propagate nothing.
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
        let m = distinct.len() * 2;
        let (mut src, mut dst, mut weight) = (
            Vec::with_capacity(m),
            Vec::with_capacity(m),
            Vec::with_capacity(m),
        );
        for &(u, i) in &distinct {
            let (a, b) = (u, (ids.user_num + i as usize) as u32);
            let w = 1.0 / ((degree[a as usize] as f64) * (degree[b as usize] as f64)).sqrt();
            for (s, d) in [(a, b), (b, a)] {
                src.push(s);
                dst.push(d);
                weight.push(w as f32);
            }
        }
        Ok(NormalizedGraph {
            nodes,
            src: Tensor::from_vec(src, m, device)?,
            dst: Tensor::from_vec(dst, m, device)?,
            weight: Tensor::from_vec(weight, (m, 1), device)?,
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
        self.src.dims1().unwrap_or(0)
    }

    /// One multiplication by the normalised adjacency: `[nodes, d]` -> `[nodes, d]`.
    pub fn spread(&self, emb: &Tensor) -> candle_core::Result<Tensor> {
        let weight = self.weight.to_dtype(emb.dtype())?;
        let messages = emb.index_select(&self.src, 0)?.broadcast_mul(&weight)?;
        Tensor::zeros(emb.shape(), emb.dtype(), emb.device())?.index_add(&self.dst, &messages, 0)
    }

    /// Mean of `emb`, A·emb, ..., A^layers·emb.
    pub fn propagate(&self, emb: &Tensor, layers: usize) -> candle_core::Result<Tensor> {
        let mut layer = emb.clone();
        let mut sum = emb.clone();
        for _ in 0..layers {
            layer = self.spread(&layer)?;
            sum = (sum + &layer)?;
        }
        sum.affine(1.0 / (layers as f64 + 1.0), 0.0)
    }
}

pub struct LightGcn {
    users: Var,
    items: Var,
    graph: NormalizedGraph,
    ids: IdSpace,
    layers: usize,
    dim: usize,
    device: Device,
}

impl LightGcn {
    pub(crate) fn new(
        cfg: &CfModelConfig,
        ids: IdSpace,
        train: &[Interaction],
        source: &mut TableSource,
        device: &Device,
    ) -> Result<Self, CfError> {
        // The reference's tables have no padding_idx: row 0 is random but never looked up.
        let spec = |name, rows| TableSpec {
            name,
            rows,
            dim: cfg.dim,
            std: cfg.init_std(),
            zero_padding_row: false,
        };
        let users = source.table(&spec(USER_TABLE, ids.user_num), device)?;
        let items = source.table(&spec(ITEM_TABLE, ids.item_num), device)?;
        // Built fresh from the rows every time: no cache file that could go stale (gotcha 15).
        let graph = NormalizedGraph::from_train(ids, train, device)?;
        Ok(LightGcn {
            users,
            items,
            graph,
            ids,
            layers: cfg.layers,
            dim: cfg.dim,
            device: device.clone(),
        })
    }

    pub fn graph(&self) -> &NormalizedGraph {
        &self.graph
    }

    /// Propagated (users `[user_num, d]`, items `[item_num, d]`).
    fn propagated(&self) -> candle_core::Result<(Tensor, Tensor)> {
        let all = Tensor::cat(&[self.users.as_tensor(), self.items.as_tensor()], 0)?;
        let out = self.graph.propagate(&all, self.layers)?;
        Ok((
            out.narrow(0, 0, self.ids.user_num)?,
            out.narrow(0, self.ids.user_num, self.ids.item_num)?,
        ))
    }
}

impl CfModel for LightGcn {
    fn kind(&self) -> CfKind {
        CfKind::Lightgcn
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn device(&self) -> &Device {
        &self.device
    }
    fn id_space(&self) -> IdSpace {
        self.ids
    }
    fn user_vectors(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        self.propagated()?.0.index_select(&batch.uids, 0)
    }
    fn item_vectors(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        self.propagated()?.1.index_select(&batch.iids, 0)
    }
    fn logits(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        let (users, items) = self.propagated()?;
        let u = users.index_select(&batch.uids, 0)?;
        let i = items.index_select(&batch.iids, 0)?;
        (u * i)?.sum(1)
    }
    fn set_train(&mut self, _train: bool) {}
    fn named_vars(&self) -> Vec<(String, Var)> {
        vec![
            (USER_TABLE.to_string(), self.users.clone()),
            (ITEM_TABLE.to_string(), self.items.clone()),
        ]
    }
}
