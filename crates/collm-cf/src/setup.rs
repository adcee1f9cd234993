//! What a model's constructor reads (config, id space, train rows, seed, device) and the
//! tensors it makes: drawn or read from a file, each recorded under its state-dict name.

use candle_core::{Device, Var};
use collm_data::{Dataset, Interaction};

use crate::model::{IdSpace, ModelBase, Named};
use crate::tables::{Init, TableSource};
use crate::{CfError, CfModelConfig};

/// The inputs of one model construction, and the record of the tensors made so far (variables,
/// then buffers, each in construction order).
pub struct Setup<'a> {
    pub(crate) cfg: &'a CfModelConfig,
    pub(crate) ids: IdSpace,
    /// The train split's rows (LightGCN's graph).
    pub(crate) train: &'a [Interaction],
    /// Starts the dropout masks of the sequence models.
    pub(crate) seed: u64,
    pub(crate) device: &'a Device,
    source: &'a mut TableSource,
    vars: Named,
    buffers: Named,
}

impl<'a> Setup<'a> {
    pub(crate) fn new(
        cfg: &'a CfModelConfig,
        dataset: &'a Dataset,
        source: &'a mut TableSource,
        seed: u64,
        device: &'a Device,
    ) -> Self {
        Setup {
            cfg,
            ids: IdSpace::of(dataset),
            train: &dataset.train.rows,
            seed,
            device,
            source,
            vars: Vec::new(),
            buffers: Vec::new(),
        }
    }

    /// The trainable tensor `name`, recorded as a variable.
    pub(crate) fn var(
        &mut self,
        name: impl Into<String>,
        shape: &[usize],
        init: Init,
    ) -> Result<Var, CfError> {
        let name = name.into();
        let var = self.tensor(&name, shape, init)?;
        self.record(name, var.clone());
        Ok(var)
    }

    /// An embedding table `[rows, cfg.dim]`, normal at `cfg.init_std()`.
    pub(crate) fn table(
        &mut self,
        name: &str,
        rows: usize,
        zero_padding_row: bool,
    ) -> Result<Var, CfError> {
        let init = Init::Normal {
            std: self.cfg.init_std(),
            zero_padding_row,
        };
        self.var(name, &[rows, self.cfg.dim], init)
    }

    /// The tensor `name`, not yet recorded: for a model whose state-dict order differs from the
    /// order in which the reference draws (see [`Setup::record`]).
    pub(crate) fn tensor(
        &mut self,
        name: &str,
        shape: &[usize],
        init: Init,
    ) -> Result<Var, CfError> {
        self.source.tensor(name, shape, init, self.device)
    }

    /// Records `var` as the next variable.
    pub(crate) fn record(&mut self, name: String, var: Var) {
        self.vars.push((name, var));
    }

    /// Records `var` as the next buffer: saved with the weights, never trained.
    pub(crate) fn record_buffer(&mut self, name: String, var: Var) {
        self.buffers.push((name, var));
    }

    /// See [`TableSource::skip_draws`].
    pub(crate) fn skip_draws(&mut self, n: usize) {
        self.source.skip_draws(n);
    }

    /// The finished model's [`ModelBase`]: `dim` is its vector width, `history_len` what
    /// `CfModel::history_len` reports.
    pub(crate) fn into_base(self, dim: usize, history_len: usize) -> ModelBase {
        ModelBase {
            kind: self.cfg.kind,
            dim,
            ids: self.ids,
            history_len,
            device: self.device.clone(),
            vars: self.vars,
            buffers: self.buffers,
        }
    }
}
