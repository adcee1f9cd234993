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

use candle_core::{Device, Tensor, Var};
use collm_data::Dataset;

use crate::fused::{add_row_bias, causal_attention, relu_scale_by, scale_by};
use crate::model::IdSpace;
use crate::nn::{affine_map, keep_values, param, LayerNorm, Linear, LinearInit, MaskRng};
use crate::tables::{Init, TableSource};
use crate::{CfBatch, CfError, CfKind, CfModel, CfModelConfig};

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
    named: Vec<(String, Var)>,
    ids: IdSpace,
    dim: usize,
    heads: usize,
    maxlen: usize,
    dropout: f64,
    training: bool,
    rng: MaskRng,
    device: Device,
}

impl SasRec {
    /// A fresh model as [`crate::build`] makes it, as its concrete type.
    pub fn build(
        cfg: &CfModelConfig,
        dataset: &Dataset,
        seed: u64,
        device: &Device,
    ) -> Result<Self, CfError> {
        cfg.validate()?;
        if cfg.kind != CfKind::Sasrec {
            let message = format!("`{}` is not {}", cfg.kind.name(), CfKind::Sasrec.name());
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

    /// Draws in the reference's construction order: item and position tables, then per block
    /// MultiheadAttention (`out_proj` by `Linear`'s init, its bias drawn then zeroed, then
    /// xavier-uniform `in_proj_weight`) and the two convolutions; LayerNorms draw nothing.
    pub(crate) fn new(
        cfg: &CfModelConfig,
        ids: IdSpace,
        source: &mut TableSource,
        seed: u64,
        device: &Device,
    ) -> Result<Self, CfError> {
        let d = cfg.dim;
        let maxlen = cfg.maxlen();
        let mut named = Vec::new();
        let std = cfg.init_std();
        let items = param(
            source,
            &mut named,
            ITEM_TABLE.into(),
            &[ids.item_num, d],
            Init::Normal {
                std,
                zero_padding_row: true,
            },
            device,
        )?;
        let positions = param(
            source,
            &mut named,
            POSITION_TABLE.into(),
            &[maxlen, d],
            Init::Normal {
                std,
                zero_padding_row: false,
            },
            device,
        )?;
        let mut blocks = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let named = &mut named;
            let attn_norm = LayerNorm::new(
                source,
                named,
                &format!("attention_layernorms.{i}"),
                d,
                LN_EPS,
                device,
            )?;
            let attn = format!("attention_layers.{i}");
            let out_w = source.tensor(
                &format!("{attn}.out_proj.weight"),
                &[d, d],
                Init::Uniform {
                    bound: 1.0 / (d as f64).sqrt(),
                },
                device,
            )?;
            source.skip_draws(d);
            let in_proj_weight = param(
                source,
                named,
                format!("{attn}.in_proj_weight"),
                &[3 * d, d],
                Init::Uniform {
                    bound: (6.0 / (4 * d) as f64).sqrt(),
                },
                device,
            )?;
            let in_proj_bias = param(
                source,
                named,
                format!("{attn}.in_proj_bias"),
                &[3 * d],
                Init::Constant(0.0),
                device,
            )?;
            named.push((format!("{attn}.out_proj.weight"), out_w.clone()));
            let out_b = param(
                source,
                named,
                format!("{attn}.out_proj.bias"),
                &[d],
                Init::Constant(0.0),
                device,
            )?;
            let out_proj = Linear {
                weight: out_w,
                bias: out_b,
            };
            let ffn_norm = LayerNorm::new(
                source,
                named,
                &format!("forward_layernorms.{i}"),
                d,
                LN_EPS,
                device,
            )?;
            let mut conv = |name: &str| {
                Linear::new(
                    source,
                    named,
                    &format!("forward_layers.{i}.{name}"),
                    (d, d),
                    true,
                    LinearInit::Torch,
                    device,
                )
            };
            let conv1 = conv("conv1")?;
            let conv2 = conv("conv2")?;
            blocks.push(Block {
                attn_norm,
                in_proj_weight,
                in_proj_bias,
                out_proj,
                ffn_norm,
                conv1,
                conv2,
            });
        }
        let last_norm = LayerNorm::new(source, &mut named, "last_layernorm", d, LN_EPS, device)?;
        Ok(SasRec {
            items,
            positions,
            blocks,
            last_norm,
            named,
            ids,
            dim: d,
            heads: cfg.heads(),
            maxlen,
            dropout: cfg.dropout(),
            training: false,
            rng: MaskRng::new(seed),
            device: device.clone(),
        })
    }

    /// `[B, maxlen, d]`: the final-LayerNorm output at every position (the reference's
    /// `log2feats`); `user_vectors` is its last position.
    pub fn sequence_features(&self, batch: &CfBatch) -> candle_core::Result<Tensor> {
        let (x, keep) = self.embed(batch)?;
        let x = self
            .blocks
            .iter()
            .try_fold(x, |x, block| self.block(block, &x, &keep, false))?;
        let (b, t) = (keep.len() / self.maxlen, self.maxlen);
        self.last_norm.forward(&x)?.reshape((b, t, self.dim))
    }

    fn history<'a>(&self, batch: &'a CfBatch) -> candle_core::Result<&'a Tensor> {
        let his = batch.his.as_ref().ok_or_else(|| {
            candle_core::Error::Msg(
                "sasrec: the batch has no history (build it with history_len())".into(),
            )
        })?;
        let len = his.dim(1)?;
        if len != self.maxlen {
            candle_core::bail!(
                "sasrec: history of {len} items, the model reads exactly {}",
                self.maxlen
            );
        }
        Ok(his)
    }

    /// `[B·T, d]`: scaled item embeddings plus positions, dropout, padding zeroed; and the
    /// `[B·T]` 0/1 values of real positions. Activations stay 2-d (rows = positions) so that
    /// the linear maps need no reshapes, each of which costs a full pass in candle's backward.
    fn embed(&self, batch: &CfBatch) -> candle_core::Result<(Tensor, Vec<f32>)> {
        let his = self.history(batch)?;
        let x = self.items.as_tensor().embedding(&his.flatten_all()?)?;
        // The `[T, d]` position table repeats over the rows of each sequence.
        let x = add_row_bias(&(x * (self.dim as f64).sqrt())?, self.positions.as_tensor())?;
        let keep = keep_values(his)?;
        let mut mask = self.expand(&keep);
        if self.training {
            for (m, r) in mask
                .iter_mut()
                .zip(self.rng.mask(x.elem_count(), self.dropout))
            {
                *m *= r;
            }
        }
        Ok((scale_by(&x, mask)?, keep))
    }

    /// One value per position -> one per position and feature.
    fn expand(&self, per_position: &[f32]) -> Vec<f32> {
        per_position
            .iter()
            .flat_map(|&k| std::iter::repeat_n(k, self.dim))
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
        let (t, d) = (self.maxlen, self.dim);
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
        let dropout = self
            .training
            .then(|| self.rng.mask(b * self.heads * tq * t, self.dropout));
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
        let h = if self.training {
            relu_scale_by(&h, self.rng.mask(h.elem_count(), self.dropout))?
        } else {
            h.relu()?
        };
        let h = self.drop(&block.conv2.forward(&h)?)?;
        scale_by(&(h + y)?, keep)
    }

    fn drop(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.training {
            self.rng.dropout(x, self.dropout)
        } else {
            Ok(x.clone())
        }
    }
}

impl CfModel for SasRec {
    fn kind(&self) -> CfKind {
        CfKind::Sasrec
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
    fn history_len(&self) -> usize {
        self.maxlen
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
                let (t, d) = (self.maxlen, self.dim);
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
        self.training = train;
    }
    fn named_vars(&self) -> Vec<(String, Var)> {
        self.named.clone()
    }
}
