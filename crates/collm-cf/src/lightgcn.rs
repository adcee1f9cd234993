//! LightGCN: embeddings smoothed over the normalised user-item graph of positive train edges,
//! final vector = mean of propagation layers 0..K, recomputed on every forward in train mode.
//!
//! Eval mode means frozen (as the reference's frozen encoder): the propagated tables are
//! computed once and reused until `set_train` is called again, which also drops them.

use std::sync::Mutex;

use candle_core::{Tensor, Var};

pub use crate::graph::NormalizedGraph;
use crate::pair_dot::pair_scores;
use crate::setup::Setup;
use crate::{Buildable, CfBatch, CfError, CfKind, CfModel, ModelBase};

pub const USER_TABLE: &str = "embedding_user.weight";
pub const ITEM_TABLE: &str = "embedding_item.weight";

pub struct LightGcn {
    users: Var,
    items: Var,
    graph: NormalizedGraph,
    layers: usize,
    base: ModelBase,
    training: bool,
    /// Propagated (users, items), kept while in eval mode.
    frozen: Mutex<Option<(Tensor, Tensor)>>,
}

impl Buildable for LightGcn {
    const KIND: CfKind = CfKind::Lightgcn;

    fn construct(mut setup: Setup) -> Result<Self, CfError> {
        // The reference's tables have no padding_idx: row 0 is random but never looked up.
        let users = setup.table(USER_TABLE, setup.ids.user_num, false)?;
        let items = setup.table(ITEM_TABLE, setup.ids.item_num, false)?;
        // Built fresh from the rows every time: no cache file that could go stale (collm-spec.md §8, gotcha 15).
        let graph = NormalizedGraph::from_train(setup.ids, setup.train, setup.device)?;
        let (layers, dim) = (setup.cfg.layers, setup.cfg.dim);
        Ok(LightGcn {
            users,
            items,
            graph,
            layers,
            base: setup.into_base(dim, 0),
            training: true,
            frozen: Mutex::new(None),
        })
    }
}

impl LightGcn {
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
        let ids = self.base.ids;
        Ok((
            out.narrow(0, 0, ids.user_num)?,
            out.narrow(0, ids.user_num, ids.item_num)?,
        ))
    }
}

impl CfModel for LightGcn {
    fn base(&self) -> &ModelBase {
        &self.base
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
}
