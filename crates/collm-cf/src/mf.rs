//! Matrix factorisation: a user table and an item table, score = dot product, no biases.

use candle_core::{DType, Device, Tensor, Var};

use crate::model::IdSpace;
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
        Ok(MatrixFactorization { users, items, ids, dim: cfg.dim, device: device.clone() })
    }
}

/// Rows of `table` for `ids`, with id 0 (padding) giving a zero vector and no gradient, as
/// `nn.Embedding(padding_idx=0)`: row 0 then never moves, even under weight decay.
fn lookup_with_padding(table: &Tensor, ids: &Tensor) -> candle_core::Result<Tensor> {
    let keep = ids.ne(0u32)?.to_dtype(DType::F32)?.unsqueeze(1)?;
    table.embedding(ids)?.broadcast_mul(&keep)
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
        lookup_with_padding(self.users.as_tensor(), &batch.uids)
    }
    fn item_vectors(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        lookup_with_padding(self.items.as_tensor(), &batch.iids)
    }
    fn logits(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        (self.user_vectors(batch)? * self.item_vectors(batch)?)?.sum(1)
    }
    fn set_train(&mut self, _train: bool) {}
    fn named_vars(&self) -> Vec<(String, Var)> {
        vec![
            (USER_TABLE.to_string(), self.users.clone()),
            (ITEM_TABLE.to_string(), self.items.clone()),
        ]
    }
}
