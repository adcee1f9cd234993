//! SASRec (pmixer-style, as the reference's `rec_base_models.SASRec`): the user vector is a
//! causal transformer's output at the last of `maxlen` history positions, the item vector the
//! raw item embedding; score = their dot product.
//!
//! `log2feats`: item embeddings x sqrt(d) + learned positions 0..maxlen-1 (left padding, so
//! the most recent item sits at position maxlen-1), embedding dropout, padded positions zeroed;
//! then per block `Q = LN(x)`, `x = Q + MHA(Q, x, x)` under a causal mask with no key-padding
//! mask, `x = FFN(LN(x)) + LN(x)` (two kernel-1 convolutions, ReLU, dropout), padded positions
//! zeroed again; a final LayerNorm (all LayerNorms eps 1e-8). Attention weights get dropout too
//! (`nn.MultiheadAttention(dropout=dropout_rate)`).
//!
//! Only the last position is read, and after the key/value projection every op of a block is
//! position-wise, so the final block runs its query path for that position alone: the same
//! numbers for about a third less work ([`SasRec::sequence_features`] is the full path).

use candle_core::{Tensor, Var};

use crate::fused::{add_row_bias, causal_attention, relu_scale_by, scale_by};
use crate::nn::{affine_map, keep_values, LayerNorm, Linear, LinearInit, Mode};
use crate::setup::Setup;
use crate::tables::Init;
use crate::{Buildable, CfBatch, CfError, CfKind, CfModel, ModelBase};

pub const ITEM_TABLE: &str = "item_emb.weight";
pub const POSITION_TABLE: &str = "pos_emb.weight";
pub const LN_EPS: f64 = 1e-8;

struct Block {
    attn_norm: LayerNorm,
    /// `[3d, d]` and `[3d]`: query, key and value projections stacked (PyTorch's layout).
    in_proj_weight: Var,
    in_proj_bias: Var,
    out_proj: Linear,
    ffn_norm: LayerNorm,
    conv1: Linear,
    conv2: Linear,
}

pub struct SasRec {
    items: Var,
    positions: Var,
    blocks: Vec<Block>,
    last_norm: LayerNorm,
    base: ModelBase,
    heads: usize,
    mode: Mode,
}

impl Buildable for SasRec {
    const KIND: CfKind = CfKind::Sasrec;

    /// Draws in the reference's construction order: item and position tables, then per block
    /// MultiheadAttention (`out_proj` by `Linear`'s init, its bias drawn then zeroed, then
    /// xavier-uniform `in_proj_weight`) and the two convolutions; LayerNorms draw nothing.
    fn construct(mut setup: Setup) -> Result<Self, CfError> {
        let cfg = setup.cfg;
        let (d, maxlen) = (cfg.dim, cfg.maxlen());
        let items = setup.table(ITEM_TABLE, setup.ids.item_num, true)?;
        let positions = setup.table(POSITION_TABLE, maxlen, false)?;
        let blocks = (0..cfg.layers)
            .map(|i| Block::new(&mut setup, i, d))
            .collect::<Result<Vec<_>, _>>()?;
        let last_norm = LayerNorm::new(&mut setup, "last_layernorm", d, LN_EPS)?;
        let mode = Mode::new(cfg.dropout(), setup.seed);
        Ok(SasRec {
            items,
            positions,
            blocks,
            last_norm,
            base: setup.into_base(d, maxlen),
            heads: cfg.heads(),
            mode,
        })
    }
}

impl Block {
    /// Block `i`'s tensors, for width `d`.
    fn new(setup: &mut Setup, i: usize, d: usize) -> Result<Self, CfError> {
        let attn_norm = LayerNorm::new(setup, &format!("attention_layernorms.{i}"), d, LN_EPS)?;
        let attn = format!("attention_layers.{i}");
        let out_w_name = format!("{attn}.out_proj.weight");
        let out_bound = 1.0 / (d as f64).sqrt();
        let out_w = setup.tensor(&out_w_name, &[d, d], Init::Uniform { bound: out_bound })?;
        setup.skip_draws(d);
        let in_bound = (6.0 / (4 * d) as f64).sqrt();
        let in_proj_weight = setup.var(
            format!("{attn}.in_proj_weight"),
            &[3 * d, d],
            Init::Uniform { bound: in_bound },
        )?;
        let zero = Init::Constant(0.0);
        let in_proj_bias = setup.var(format!("{attn}.in_proj_bias"), &[3 * d], zero)?;
        setup.record(out_w_name, out_w.clone());
        let out_proj = Linear {
            weight: out_w,
            bias: setup.var(format!("{attn}.out_proj.bias"), &[d], zero)?,
        };
        let ffn_norm = LayerNorm::new(setup, &format!("forward_layernorms.{i}"), d, LN_EPS)?;
        let mut conv = |name: &str| {
            let prefix = format!("forward_layers.{i}.{name}");
            Linear::new(setup, &prefix, (d, d), true, LinearInit::Torch)
        };
        let (conv1, conv2) = (conv("conv1")?, conv("conv2")?);
        Ok(Block {
            attn_norm,
            in_proj_weight,
            in_proj_bias,
            out_proj,
            ffn_norm,
            conv1,
            conv2,
        })
    }
}

impl SasRec {
    /// `[B, maxlen, d]`: the final-LayerNorm output at every position (the reference's
    /// `log2feats`); `user_vectors` is its last position.
    pub fn sequence_features(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        let (x, keep) = self.embed(batch)?;
        let x = self
            .blocks
            .iter()
            .try_fold(x, |x, block| self.block(block, &x, &keep, false))?;
        let (b, t) = (keep.len() / self.base.history_len, self.base.history_len);
        self.last_norm.forward(&x)?.reshape((b, t, self.base.dim))
    }

    /// `[B·T, d]`: scaled item embeddings plus positions, dropout, padding zeroed; and the
    /// `[B·T]` 0/1 values of real positions. Activations stay 2-d (rows = positions) so that
    /// the linear maps need no reshapes, each of which costs a full pass in candle's backward.
    fn embed(&self, batch: &CfBatch) -> candle_core::Result<(Tensor, Vec<f32>)> {
        let his = batch.history(&self.base)?;
        let x = self.items.as_tensor().embedding(&his.flatten_all()?)?;
        // The `[T, d]` position table repeats over the rows of each sequence.
        let x = add_row_bias(
            &(x * (self.base.dim as f64).sqrt())?,
            self.positions.as_tensor(),
        )?;
        let keep = keep_values(his)?;
        let mut mask = self.expand(&keep);
        if let Some(dropout) = self.mode.mask(x.elem_count()) {
            for (m, r) in mask.iter_mut().zip(dropout) {
                *m *= r;
            }
        }
        Ok((scale_by(&x, mask)?, keep))
    }

    /// One value per position -> one per position and feature.
    fn expand(&self, per_position: &[f32]) -> Vec<f32> {
        per_position
            .iter()
            .flat_map(|&k| std::iter::repeat_n(k, self.base.dim))
            .collect()
    }

    /// One pre-LN block over `x` `[B·T, d]`; with `last_only`, only the last position's output
    /// (`[B, d]`), which attends to every key.
    fn block(
        &self,
        block: &Block,
        x: &Tensor,
        keep: &[f32],
        last_only: bool,
    ) -> candle_core::Result<Tensor> {
        let (t, d) = (self.base.history_len, self.base.dim);
        let b = keep.len() / t;
        let (query_in, keep, tq) = if last_only {
            let last: Vec<f32> = keep.iter().skip(t - 1).step_by(t).copied().collect();
            let rows = x.reshape((b, t, d))?.narrow(1, t - 1, 1)?.reshape((b, d))?;
            (rows, self.expand(&last), 1)
        } else {
            (x.clone(), self.expand(keep), t)
        };
        let q = block.attn_norm.forward(&query_in)?;
        let (w, bias) = (
            block.in_proj_weight.as_tensor(),
            block.in_proj_bias.as_tensor(),
        );
        let project = |input: &Tensor, i: usize, len: usize| {
            affine_map(input, &w.narrow(0, i * d, d)?, &bias.narrow(0, i * d, d)?)?
                .reshape((b, len, d))
        };
        let dropout = self.mode.mask(b * self.heads * tq * t);
        let attended = causal_attention(
            &project(&q, 0, tq)?,
            &project(x, 1, t)?,
            &project(x, 2, t)?,
            self.heads,
            dropout,
        )?
        .reshape((b * tq, d))?;
        let y = block
            .ffn_norm
            .forward(&(q + block.out_proj.forward(&attended)?)?)?;
        let h = block.conv1.forward(&y)?;
        let h = match self.mode.mask(h.elem_count()) {
            Some(dropout) => relu_scale_by(&h, dropout)?,
            None => h.relu()?,
        };
        let h = self.mode.dropout(&block.conv2.forward(&h)?)?;
        scale_by(&(h + y)?, keep)
    }
}

impl CfModel for SasRec {
    fn base(&self) -> &ModelBase {
        &self.base
    }
    fn user_vectors(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        let (x, keep) = self.embed(batch)?;
        let last = match self.blocks.split_last() {
            Some((final_block, earlier)) => {
                let x = earlier
                    .iter()
                    .try_fold(x, |x, block| self.block(block, &x, &keep, false))?;
                self.block(final_block, &x, &keep, true)?
            }
            None => {
                let (t, d) = (self.base.history_len, self.base.dim);
                x.reshape((keep.len() / t, t, d))?
                    .narrow(1, t - 1, 1)?
                    .squeeze(1)?
            }
        };
        self.last_norm.forward(&last)
    }
    fn item_vectors(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        self.items.as_tensor().embedding(&batch.iids)
    }
    fn logits(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        (self.user_vectors(batch)? * self.item_vectors(batch)?)?.sum(1)
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
