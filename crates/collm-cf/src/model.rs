//! The interface every collaborative model offers (user/item vectors, logits, its variables),
//! and building one from a config: freshly initialised or from saved weights.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};
use collm_data::{Dataset, Interaction};

use crate::din::Din;
use crate::lightgcn::LightGcn;
use crate::mf::MatrixFactorization;
use crate::sasrec::SasRec;
use crate::setup::Setup;
use crate::tables::{save_tensors, TableSource};
use crate::{CfBatch, CfError, CfKind, CfModelConfig};

/// A model's tensors with their state-dict names, in construction order.
pub(crate) type Named = Vec<(String, Var)>;

/// A collaborative model: scores (user, item) pairs and exposes the vectors CoLLM maps.
///
/// `build` and `load` return SASRec and DIN in eval mode (no dropout, Dice on its running
/// statistics), so a freshly loaded model scores deterministically; trainers call
/// `set_train(true)` themselves.
pub trait CfModel: Send {
    /// What every model holds besides its own layers; the accessors below read it.
    fn base(&self) -> &ModelBase;
    fn kind(&self) -> CfKind {
        self.base().kind
    }
    /// The width of the user and item vectors.
    fn dim(&self) -> usize {
        self.base().dim
    }
    fn device(&self) -> &Device {
        &self.base().device
    }
    /// The table sizes (largest user and item id + 1) this model was built for.
    fn id_space(&self) -> IdSpace {
        self.base().ids
    }
    /// How many history items each batch row must carry in `CfBatch::his` (0: none).
    fn history_len(&self) -> usize {
        self.base().history_len
    }
    /// `[B, dim]`: the vector for the user slot.
    fn user_vectors(&self, batch: &CfBatch) -> candle_core::Result<Tensor>;
    /// `[B, dim]`: the vector for the item slot.
    fn item_vectors(&self, batch: &CfBatch) -> candle_core::Result<Tensor>;
    /// `[B]`: the raw score (before the sigmoid).
    fn logits(&self, batch: &CfBatch) -> candle_core::Result<Tensor>;
    /// Switches training-only behaviour on or off: dropout, and whether DIN's Dice
    /// standardises with batch statistics (and moves its running ones) or with the running ones.
    fn set_train(&mut self, train: bool);
    /// Where the dropout mask stream is, for models with dropout (saved in resume points).
    fn dropout_state(&self) -> Option<u64> {
        None
    }
    /// Continues the dropout mask stream from a saved [`CfModel::dropout_state`].
    fn set_dropout_state(&self, _state: u64) {}
    /// The trainable tensors with their safetensors names (PyTorch state-dict keys). Every one
    /// of them gets a gradient from `logits`.
    fn named_vars(&self) -> Vec<(String, Var)> {
        self.base().vars.clone()
    }
    /// The trainable tensors the user and item vectors depend on, each of which gets a gradient
    /// through them: what CoLLM tunes when a stage trains the collaborative model. All of
    /// [`CfModel::named_vars`] unless a part only scores (DIN's prediction MLP).
    fn vector_vars(&self) -> Vec<(String, Var)> {
        self.named_vars()
    }
    /// State that is saved with the weights but never trained (DIN's Dice running statistics),
    /// with PyTorch buffer names.
    fn named_buffers(&self) -> Vec<(String, Var)> {
        self.base().buffers.clone()
    }
    /// Everything a weights file holds: `named_vars`, then `named_buffers`.
    fn named_state(&self) -> Vec<(String, Var)> {
        let mut all = self.named_vars();
        all.extend(self.named_buffers());
        all
    }

    fn vars(&self) -> Vec<Var> {
        self.named_vars().into_iter().map(|(_, v)| v).collect()
    }

    /// Writes the weights and buffers as safetensors (through a temporary file).
    fn save(&self, path: &Path) -> Result<(), CfError> {
        let tensors: HashMap<String, Tensor> = self
            .named_state()
            .into_iter()
            .map(|(name, var)| (name, var.as_detached_tensor()))
            .collect();
        save_tensors(&tensors, path)
    }
}

/// The part of a model that is not its own layers: kind, vector width, id space, history
/// length, device, and its tensors by name. Made by the constructor's `Setup`.
pub struct ModelBase {
    pub(crate) kind: CfKind,
    pub(crate) dim: usize,
    pub(crate) ids: IdSpace,
    pub(crate) history_len: usize,
    pub(crate) device: Device,
    pub(crate) vars: Named,
    pub(crate) buffers: Named,
}

/// A model type that [`build_as`] returns as itself rather than boxed.
pub trait Buildable: CfModel + Sized {
    const KIND: CfKind;
    /// Draws (or reads) its tensors from `setup` in the reference's construction order.
    fn construct(setup: Setup) -> Result<Self, CfError>;
}

/// A freshly initialised model over the dataset's id space. `seed` is a PyTorch seed: MF's
/// tables come out as after `torch.manual_seed(seed)` and the reference's `nn.Embedding` inits
/// (up to float rounding in `log`/`cos`). For LightGCN the same stream is drawn directly at
/// std 0.1; the reference's discarded default N(0, 1) draws are not replayed. SASRec draws in
/// its constructor's order (not checked against PyTorch); DIN see [`crate::din`]. The seed also
/// starts SASRec's and DIN's dropout masks.
pub fn build(
    cfg: &CfModelConfig,
    dataset: &Dataset,
    seed: u64,
    device: &Device,
) -> Result<Box<dyn CfModel>, CfError> {
    construct(cfg, dataset, TableSource::random(seed), seed, device)
}

/// A fresh model as [`build`] makes it, as its concrete type (for what only that type offers,
/// such as `SasRec::sequence_features`); `cfg.kind` must be `M`'s kind.
pub fn build_as<M: Buildable>(
    cfg: &CfModelConfig,
    dataset: &Dataset,
    seed: u64,
    device: &Device,
) -> Result<M, CfError> {
    cfg.validate()?;
    if cfg.kind != M::KIND {
        let message = format!("`{}` is not {}", cfg.kind.name(), M::KIND.name());
        return Err(CfError::config("kind", message));
    }
    let mut source = TableSource::random(seed);
    M::construct(Setup::new(cfg, dataset, &mut source, seed, device))
}

/// A model whose tables are read from `weights` (written by `CfModel::save`); names and shapes
/// must match `cfg` and the dataset exactly. Dropout masks of a loaded model start from seed 0.
pub fn load(
    cfg: &CfModelConfig,
    dataset: &Dataset,
    weights: &Path,
    device: &Device,
) -> Result<Box<dyn CfModel>, CfError> {
    construct(cfg, dataset, TableSource::file(weights, device)?, 0, device)
}

fn construct(
    cfg: &CfModelConfig,
    dataset: &Dataset,
    mut source: TableSource,
    seed: u64,
    device: &Device,
) -> Result<Box<dyn CfModel>, CfError> {
    cfg.validate()?;
    let setup = Setup::new(cfg, dataset, &mut source, seed, device);
    let model: Box<dyn CfModel> = match cfg.kind {
        CfKind::Mf => Box::new(MatrixFactorization::construct(setup)?),
        CfKind::Lightgcn => Box::new(LightGcn::construct(setup)?),
        CfKind::Sasrec => Box::new(SasRec::construct(setup)?),
        CfKind::Din => Box::new(Din::construct(setup)?),
    };
    source.finish()?;
    Ok(model)
}

/// Table sizes: largest id + 1 over all splits, so 0 stays the padding row (collm-spec.md §8, gotcha 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSpace {
    pub user_num: usize,
    pub item_num: usize,
}

impl IdSpace {
    pub fn of(dataset: &Dataset) -> Self {
        IdSpace {
            user_num: dataset.user_num,
            item_num: dataset.item_num,
        }
    }

    /// The first id of `rows` that has no row in these tables: padding (0) or beyond them.
    /// Items (target, then history) are looked at before the user.
    pub fn first_misfit(&self, rows: &[Interaction]) -> Option<Misfit> {
        let bad = |id: u32, size: usize| id == 0 || id as usize >= size;
        rows.iter().enumerate().find_map(|(row, r)| {
            let item = |field, id| (bad(id, self.item_num)).then_some((field, id));
            let (field, id) = item("iid", r.iid)
                .or_else(|| r.his.iter().find_map(|&i| item("his", i)))
                .or_else(|| bad(r.uid, self.user_num).then_some(("uid", r.uid)))?;
            Some(Misfit { row, field, id })
        })
    }
}

/// An id that does not fit an [`IdSpace`]: at index `row` of the rows, in column `field`
/// (`uid`, `iid` or `his`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Misfit {
    pub row: usize,
    pub field: &'static str,
    pub id: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_misfit_is_found_by_row_items_before_the_user() {
        let ids = IdSpace {
            user_num: 3,
            item_num: 5,
        };
        let row = |uid, iid, his: &[u32]| Interaction {
            uid,
            iid,
            label: 1,
            timestamp: 0,
            warm: true,
            his: his.to_vec(),
        };
        let fits = [row(1, 2, &[3]), row(2, 4, &[])];
        assert_eq!(ids.first_misfit(&fits), None);
        let misfit = |rows: &[Interaction]| ids.first_misfit(rows).map(|m| (m.row, m.field, m.id));
        assert_eq!(
            misfit(&[row(1, 2, &[]), row(3, 2, &[])]),
            Some((1, "uid", 3))
        );
        assert_eq!(misfit(&[row(1, 5, &[])]), Some((0, "iid", 5)));
        assert_eq!(misfit(&[row(9, 2, &[1, 0])]), Some((0, "his", 0)));
    }
}
