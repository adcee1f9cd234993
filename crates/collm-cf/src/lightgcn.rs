//! LightGCN: embeddings smoothed over the normalised user-item graph of positive train edges,
//! final vector = mean of propagation layers 0..K, recomputed on every forward in train mode.
//!
//! Eval mode means frozen (as the reference's frozen encoder): the propagated tables are
//! computed once and reused until `set_train` is called again, which also drops them.

use std::sync::Mutex;

use candle_core::{Device, Tensor, Var};
use collm_data::Interaction;

pub use crate::graph::NormalizedGraph;
use crate::model::IdSpace;
use crate::pair_dot::pair_scores;
use crate::tables::{TableSource, TableSpec};
use crate::{CfBatch, CfError, CfKind, CfModel, CfModelConfig};

pub const USER_TABLE: &str = "embedding_user.weight";
pub const ITEM_TABLE: &str = "embedding_item.weight";

pub struct LightGcn {
    users: Var,
    items: Var,
    graph: NormalizedGraph,
    ids: IdSpace,
    layers: usize,
    dim: usize,
    device: Device,
    training: bool,
    /// Propagated (users, items), kept while in eval mode.
    frozen: Mutex<Option<(Tensor, Tensor)>>,
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
            training: true,
            frozen: Mutex::new(None),
        })
    }

    pub fn graph(&self) -> &NormalizedGraph {
        &self.graph
    }

    /// Propagated (users `[user_num, d]`, items `[item_num, d]`).
    fn propagated(&self) -> candle_core::Result<(Tensor, Tensor)> {
        if self.training {
            return self.propagate_now();
        }
        let mut frozen = self
            .frozen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(tables) = frozen.as_ref() {
            return Ok(tables.clone());
        }
        let tables = self.propagate_now()?;
        *frozen = Some(tables.clone());
        Ok(tables)
    }

    fn propagate_now(&self) -> candle_core::Result<(Tensor, Tensor)> {
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
        pair_scores(&users, &items, &batch.uids, &batch.iids)
    }
    fn set_train(&mut self, train: bool) {
        self.training = train;
        *self
            .frozen
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
    fn named_vars(&self) -> Vec<(String, Var)> {
        vec![
            (USER_TABLE.to_string(), self.users.clone()),
            (ITEM_TABLE.to_string(), self.items.clone()),
        ]
    }
}
