//! Matrix factorisation: a user table and an item table, score = dot product, no biases.
//!
//! Row 0 of each table is the padding id (`nn.Embedding(padding_idx=0)`): it starts at zero and
//! stays there because no row ever uses id 0 (`score_rows` and `train` reject such rows), so its
//! gradient is zero and coupled weight decay of a zero row is zero. Looking up id 0 reads zeros.

use candle_core::{Tensor, Var};

use crate::pair_dot::pair_scores;
use crate::setup::Setup;
use crate::{Buildable, CfBatch, CfError, CfKind, CfModel, ModelBase};

pub const USER_TABLE: &str = "user_embedding.weight";
pub const ITEM_TABLE: &str = "item_embedding.weight";

pub struct MatrixFactorization {
    users: Var,
    items: Var,
    base: ModelBase,
}

impl Buildable for MatrixFactorization {
    const KIND: CfKind = CfKind::Mf;

    fn construct(mut setup: Setup) -> Result<Self, CfError> {
        let users = setup.table(USER_TABLE, setup.ids.user_num, true)?;
        let items = setup.table(ITEM_TABLE, setup.ids.item_num, true)?;
        let dim = setup.cfg.dim;
        Ok(MatrixFactorization {
            users,
            items,
            base: setup.into_base(dim, 0),
        })
    }
}

impl CfModel for MatrixFactorization {
    fn base(&self) -> &ModelBase {
        &self.base
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
}
