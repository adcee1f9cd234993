//! Matrix factorisation: a user table and an item table, score = dot product, no biases.
//!
//! Row 0 of each table is the padding id (`nn.Embedding(padding_idx=0)`): it starts at zero and
//! stays there because no row ever uses id 0 (`score_rows` and `train` reject such rows), so its
//! gradient is zero and coupled weight decay of a zero row is zero. Looking up id 0 reads zeros.

use candle_core::{Device, Tensor, Var};

use crate::model::IdSpace;
use crate::pair_dot::pair_scores;
use crate::tables::{TableSource, TableSpec};
use crate::{CfBatch, CfError, CfKind, CfModel, CfModelConfig};

pub const USER_TABLE: &str = "user_embedding.weight";
pub const ITEM_TABLE: &str = "item_embedding.weight";

pub struct MatrixFactorization {
    users: Var,
    items: Var,
    ids: IdSpace,
    dim: usize,
    device: Device,
}

impl MatrixFactorization {
    pub(crate) fn new(
        cfg: &CfModelConfig,
        ids: IdSpace,
        source: &mut TableSource,
        device: &Device,
    ) -> Result<Self, CfError> {
        let spec = |name, rows| TableSpec {
            name,
            rows,
            dim: cfg.dim,
            std: cfg.init_std(),
            zero_padding_row: true,
        };
        let users = source.table(&spec(USER_TABLE, ids.user_num), device)?;
        let items = source.table(&spec(ITEM_TABLE, ids.item_num), device)?;
        Ok(MatrixFactorization {
            users,
            items,
            ids,
            dim: cfg.dim,
            device: device.clone(),
        })
    }
}

impl CfModel for MatrixFactorization {
    fn kind(&self) -> CfKind {
        CfKind::Mf
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
        self.users.as_tensor().embedding(&batch.uids)
    }
    fn item_vectors(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        self.items.as_tensor().embedding(&batch.iids)
    }
    fn logits(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        pair_scores(
            self.users.as_tensor(),
            self.items.as_tensor(),
            &batch.uids,
            &batch.iids,
        )
    }
    fn set_train(&mut self, _train: bool) {}
    fn named_vars(&self) -> Vec<(String, Var)> {
        vec![
            (USER_TABLE.to_string(), self.users.clone()),
            (ITEM_TABLE.to_string(), self.items.clone()),
        ]
    }
}
