//! DIN (the reference's `RecEncoder_DIN`): user, target-item and history-item tables of
//! `dim / 3` each; the history is pooled with weights from a local activation unit, and a Dice
//! MLP scores the concatenation. As a CoLLM source the user vector is that concatenation
//! `[item, pooled history, user]` and the item vector the item embedding tiled three times.
//!
//! Attention unit: `[q, k, q − k, q·k]` (4·f) -> Linear 64 -> Dice -> Linear 16 -> Linear 1, no
//! activation between the last two (the reference's `FullyConnectedLayer` puts none after its
//! last hidden layer). Padded history positions (id 0) get weight 0; the raw scores are the
//! weights (no softmax). The attention Dice's statistics pool every (row, position) pair,
//! padding included, as the reference's BatchNorm does.
//!
//! Prediction MLP: Linear 3f -> 200 -> Dice -> dropout -> Linear 80 -> Dice -> dropout ->
//! Linear 1. The reference ends in a sigmoid; the logit is returned and BCE is taken on it.
//! Every Linear weight and every table is xavier-normal, biases zero; Dice starts at alpha 0.

use candle_core::{Device, Tensor, Var};
use collm_data::Dataset;

use crate::dice::Dice;
use crate::fused::scale_by;
use crate::model::IdSpace;
use crate::nn::{keep_values, param, xavier_std, Linear, LinearInit, MaskRng};
use crate::tables::{Init, TableSource};
use crate::{CfBatch, CfError, CfKind, CfModel, CfModelConfig};

pub const USER_TABLE: &str = "embed_layers.0.weight";
pub const ITEM_TABLE: &str = "embed_layers.1.weight";
pub const HISTORY_TABLE: &str = "sequence_embed_layers.0.weight";
/// Hidden widths of the attention unit and of the prediction MLP (the reference's).
pub const ATTENTION_WIDTHS: [usize; 2] = [64, 16];
pub const MLP_WIDTHS: [usize; 2] = [200, 80];

pub struct Din {
    users: Var,
    items: Var,
    history: Var,
    att_in: Linear,
    att_dice: Dice,
    att_mid: Linear,
    att_out: Linear,
    mlp_in: Linear,
    mlp_dice1: Dice,
    mlp_mid: Linear,
    mlp_dice2: Dice,
    mlp_out: Linear,
    named: Vec<(String, Var)>,
    buffers: Vec<(String, Var)>,
    ids: IdSpace,
    field: usize,
    maxlen: usize,
    dropout: f64,
    training: bool,
    rng: MaskRng,
    device: Device,
}

impl Din {
    /// A fresh model as [`crate::build`] makes it, as its concrete type.
    pub fn build(
        cfg: &CfModelConfig,
        dataset: &Dataset,
        seed: u64,
        device: &Device,
    ) -> Result<Self, CfError> {
        cfg.validate()?;
        if cfg.kind != CfKind::Din {
            let message = format!("`{}` is not {}", cfg.kind.name(), CfKind::Din.name());
            return Err(CfError::config("kind", message));
        }
        Self::new(
            cfg,
            IdSpace::of(dataset),
            &mut TableSource::random(seed),
            seed,
            device,
        )
    }

    /// Draws xavier-normal values in the reference's module order. DIN has no reference
    /// trainer, so the PyTorch default initialisations that `_init_weights` overwrites are
    /// not replayed.
    pub(crate) fn new(
        cfg: &CfModelConfig,
        ids: IdSpace,
        source: &mut TableSource,
        seed: u64,
        device: &Device,
    ) -> Result<Self, CfError> {
        let f = cfg.dim / 3;
        let (mut named, mut buffers) = (Vec::new(), Vec::new());
        let mut table = |source: &mut TableSource, name: &str, rows: usize| {
            let init = Init::Normal {
                std: xavier_std(f, rows),
                zero_padding_row: false,
            };
            param(source, &mut named, name.into(), &[rows, f], init, device)
        };
        let users = table(source, USER_TABLE, ids.user_num)?;
        let items = table(source, ITEM_TABLE, ids.item_num)?;
        let history = table(source, HISTORY_TABLE, ids.item_num)?;
        let [a1, a2] = ATTENTION_WIDTHS;
        let [m1, m2] = MLP_WIDTHS;
        let linear = |source: &mut TableSource, named: &mut Vec<_>, prefix: &str, io| {
            Linear::new(
                source,
                named,
                prefix,
                io,
                false,
                LinearInit::XavierNormal,
                device,
            )
        };
        let att = "attn.local_att";
        let att_in = linear(source, &mut named, &format!("{att}.fc1.fc.0"), (4 * f, a1))?;
        let att_dice = Dice::new(
            source,
            (&mut named, &mut buffers),
            &format!("{att}.fc1.fc.1"),
            a1,
            true,
            device,
        )?;
        let att_mid = linear(source, &mut named, &format!("{att}.fc1.fc.2"), (a1, a2))?;
        let att_out = linear(source, &mut named, &format!("{att}.fc2"), (a2, 1))?;
        let mlp_in = linear(source, &mut named, "fc_layer.fc.0", (3 * f, m1))?;
        let mlp_dice1 = Dice::new(
            source,
            (&mut named, &mut buffers),
            "fc_layer.fc.1",
            m1,
            false,
            device,
        )?;
        let mlp_mid = linear(source, &mut named, "fc_layer.fc.3", (m1, m2))?;
        let mlp_dice2 = Dice::new(
            source,
            (&mut named, &mut buffers),
            "fc_layer.fc.4",
            m2,
            false,
            device,
        )?;
        let mlp_out = linear(source, &mut named, "fc_layer.fc.6", (m2, 1))?;
        Ok(Din {
            users,
            items,
            history,
            att_in,
            att_dice,
            att_mid,
            att_out,
            mlp_in,
            mlp_dice1,
            mlp_mid,
            mlp_dice2,
            mlp_out,
            named,
            buffers,
            ids,
            field: f,
            maxlen: cfg.maxlen(),
            dropout: cfg.dropout(),
            training: false,
            rng: MaskRng::new(seed),
            device: device.clone(),
        })
    }

    /// `[B, T]`: each history position's pooling weight (0 at padding).
    pub fn attention_weights(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        let his = self.history_ids(batch)?;
        let target = self.items.as_tensor().embedding(&batch.iids)?;
        self.weights(his, &target, &self.history_embeddings(his)?)
    }

    fn history_ids<'a>(&self, batch: &'a CfBatch) -> candle_core::Result<&'a Tensor> {
        let his = batch.his.as_ref().ok_or_else(|| {
            candle_core::Error::Msg(
                "din: the batch has no history (build it with history_len())".into(),
            )
        })?;
        let len = his.dim(1)?;
        if len != self.maxlen {
            candle_core::bail!(
                "din: history of {len} items, the model reads exactly {}",
                self.maxlen
            );
        }
        Ok(his)
    }

    fn history_embeddings(&self, his: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = his.dims2()?;
        self.history
            .as_tensor()
            .embedding(&his.flatten_all()?)?
            .reshape((b, t, self.field))
    }

    fn weights(&self, his: &Tensor, target: &Tensor, keys: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t, f) = keys.dims3()?;
        let q = target.unsqueeze(1)?.broadcast_as((b, t, f))?;
        let features =
            Tensor::cat(&[&q, keys, &(&q - keys)?, &(&q * keys)?], 2)?.reshape((b * t, 4 * f))?;
        let h = self
            .att_dice
            .forward(&self.att_in.forward(&features)?, self.training)?;
        let scores = self
            .att_out
            .forward(&self.att_mid.forward(&h)?)?
            .reshape((b, t))?;
        scale_by(&scores, keep_values(his)?)
    }

    fn drop(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.training {
            self.rng.dropout(x, self.dropout)
        } else {
            Ok(x.clone())
        }
    }
}

impl CfModel for Din {
    fn kind(&self) -> CfKind {
        CfKind::Din
    }
    /// The width of the user and item vectors: three fields.
    fn dim(&self) -> usize {
        3 * self.field
    }
    fn device(&self) -> &Device {
        &self.device
    }
    fn id_space(&self) -> IdSpace {
        self.ids
    }
    fn history_len(&self) -> usize {
        self.maxlen
    }
    /// `[B, 3f]`: `[target item, attention-pooled history, user]` (the reference's
    /// `all_encode`).
    fn user_vectors(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        let his = self.history_ids(batch)?;
        let target = self.items.as_tensor().embedding(&batch.iids)?;
        let keys = self.history_embeddings(his)?;
        let w = self.weights(his, &target, &keys)?;
        let pooled = w.unsqueeze(1)?.matmul(&keys)?.squeeze(1)?;
        let user = self.users.as_tensor().embedding(&batch.uids)?;
        Tensor::cat(&[&target, &pooled, &user], 1)
    }
    /// `[B, 3f]`: the target item's embedding three times (the reference's `item_encoder`).
    fn item_vectors(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        let e = self.items.as_tensor().embedding(&batch.iids)?;
        Tensor::cat(&[&e, &e, &e], 1)
    }
    fn logits(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        let x = self.user_vectors(batch)?;
        let h = self
            .mlp_dice1
            .forward(&self.mlp_in.forward(&x)?, self.training)?;
        let h = self.drop(&h)?;
        let h = self
            .mlp_dice2
            .forward(&self.mlp_mid.forward(&h)?, self.training)?;
        let h = self.drop(&h)?;
        self.mlp_out.forward(&h)?.squeeze(1)
    }
    fn set_train(&mut self, train: bool) {
        self.training = train;
    }
    fn named_vars(&self) -> Vec<(String, Var)> {
        self.named.clone()
    }
    fn named_buffers(&self) -> Vec<(String, Var)> {
        self.buffers.clone()
    }
}
