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

use candle_core::{Tensor, Var};

use crate::dice::Dice;
use crate::fused::scale_by;
use crate::nn::{keep_values, xavier_std, Linear, LinearInit, Mode};
use crate::setup::Setup;
use crate::tables::Init;
use crate::{Buildable, CfBatch, CfError, CfKind, CfModel, ModelBase};

pub const USER_TABLE: &str = "embed_layers.0.weight";
pub const ITEM_TABLE: &str = "embed_layers.1.weight";
pub const HISTORY_TABLE: &str = "sequence_embed_layers.0.weight";
/// Hidden widths of the attention unit and of the prediction MLP (the reference's).
pub const ATTENTION_WIDTHS: [usize; 2] = [64, 16];
pub const MLP_WIDTHS: [usize; 2] = [200, 80];
/// The name prefix of the prediction MLP's tensors (the reference's).
const PREDICTION_MLP: &str = "fc_layer.";

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
    base: ModelBase,
    field: usize,
    mode: Mode,
}

impl Buildable for Din {
    const KIND: CfKind = CfKind::Din;

    /// Draws xavier-normal values in the reference's module order. DIN has no reference
    /// trainer, so the PyTorch default initialisations that `_init_weights` overwrites are
    /// not replayed.
    fn construct(mut setup: Setup) -> Result<Self, CfError> {
        let cfg = setup.cfg;
        let f = cfg.dim / 3;
        let ids = setup.ids;
        let table = |setup: &mut Setup, name: &str, rows: usize| {
            let init = Init::Normal {
                std: xavier_std(f, rows),
                zero_padding_row: false,
            };
            setup.var(name, &[rows, f], init)
        };
        let users = table(&mut setup, USER_TABLE, ids.user_num)?;
        let items = table(&mut setup, ITEM_TABLE, ids.item_num)?;
        let history = table(&mut setup, HISTORY_TABLE, ids.item_num)?;
        let [a1, a2] = ATTENTION_WIDTHS;
        let [m1, m2] = MLP_WIDTHS;
        let linear = |setup: &mut Setup, prefix: &str, io| {
            Linear::new(setup, prefix, io, false, LinearInit::XavierNormal)
        };
        let att = "attn.local_att";
        let att_in = linear(&mut setup, &format!("{att}.fc1.fc.0"), (4 * f, a1))?;
        let att_dice = Dice::new(&mut setup, &format!("{att}.fc1.fc.1"), a1, true)?;
        let att_mid = linear(&mut setup, &format!("{att}.fc1.fc.2"), (a1, a2))?;
        let att_out = linear(&mut setup, &format!("{att}.fc2"), (a2, 1))?;
        let mlp_in = linear(&mut setup, "fc_layer.fc.0", (3 * f, m1))?;
        let mlp_dice1 = Dice::new(&mut setup, "fc_layer.fc.1", m1, false)?;
        let mlp_mid = linear(&mut setup, "fc_layer.fc.3", (m1, m2))?;
        let mlp_dice2 = Dice::new(&mut setup, "fc_layer.fc.4", m2, false)?;
        let mlp_out = linear(&mut setup, "fc_layer.fc.6", (m2, 1))?;
        let mode = Mode::new(cfg.dropout(), setup.seed);
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
            // The user and item vectors are three fields wide.
            base: setup.into_base(3 * f, cfg.maxlen()),
            field: f,
            mode,
        })
    }
}

impl Din {
    /// `[B, T]`: each history position's pooling weight (0 at padding).
    pub fn attention_weights(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        let his = batch.history(&self.base)?;
        let target = self.items.as_tensor().embedding(&batch.iids)?;
        self.weights(his, &target, &self.history_embeddings(his)?)
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
            .forward(&self.att_in.forward(&features)?, self.mode.training)?;
        let scores = self
            .att_out
            .forward(&self.att_mid.forward(&h)?)?
            .reshape((b, t))?;
        scale_by(&scores, keep_values(his)?)
    }
}

impl CfModel for Din {
    fn base(&self) -> &ModelBase {
        &self.base
    }
    /// `[B, 3f]`: `[target item, attention-pooled history, user]` (the reference's
    /// `all_encode`).
    fn user_vectors(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        let his = batch.history(&self.base)?;
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
    /// All but the prediction MLP, which only scores: CoLLM reads the vectors before it.
    fn vector_vars(&self) -> Vec<(String, Var)> {
        let mut vars = self.named_vars();
        vars.retain(|(name, _)| !name.starts_with(PREDICTION_MLP));
        vars
    }
    fn logits(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        let x = self.user_vectors(batch)?;
        let h = self
            .mlp_dice1
            .forward(&self.mlp_in.forward(&x)?, self.mode.training)?;
        let h = self.mode.dropout(&h)?;
        let h = self
            .mlp_dice2
            .forward(&self.mlp_mid.forward(&h)?, self.mode.training)?;
        let h = self.mode.dropout(&h)?;
        self.mlp_out.forward(&h)?.squeeze(1)
    }
    fn set_train(&mut self, train: bool) {
        self.mode.training = train;
    }

    fn dropout_state(&self) -> Option<u64> {
        Some(self.mode.rng().state())
    }

    fn set_dropout_state(&self, state: u64) {
        self.mode.rng().set_state(state);
    }
}
