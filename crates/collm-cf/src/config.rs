//! The experiment-file settings of a collaborative model and of its trainer, with their
//! defaults and range checks.

use serde::{Deserialize, Serialize};

use crate::CfError;

/// Which collaborative model. SASRec and DIN are to come; they will read `CfBatch::his`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum CfKind {
    Mf,
    Lightgcn,
}

impl CfKind {
    pub fn name(self) -> &'static str {
        match self {
            CfKind::Mf => "mf",
            CfKind::Lightgcn => "lightgcn",
        }
    }

    /// The reference's embedding initialisation: MF keeps `nn.Embedding`'s N(0, 1), LightGCN
    /// uses N(0, 0.1) (`init_emb`).
    pub fn default_init_std(self) -> f64 {
        match self {
            CfKind::Mf => 1.0,
            CfKind::Lightgcn => 0.1,
        }
    }
}

fn default_layers() -> usize {
    2
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CfModelConfig {
    pub kind: CfKind,
    /// Embedding size of the user and item vectors.
    pub dim: usize,
    /// LightGCN propagation rounds (ignored by MF).
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Standard deviation of the normal initialisation; `None` takes the kind's default.
    #[serde(default)]
    pub init_std: Option<f64>,
}

impl CfModelConfig {
    pub fn init_std(&self) -> f64 {
        self.init_std
            .unwrap_or_else(|| self.kind.default_init_std())
    }

    pub fn validate(&self) -> Result<(), CfError> {
        if self.dim == 0 {
            return Err(CfError::config("dim", "must be at least 1"));
        }
        let std = self.init_std();
        if !(std.is_finite() && std > 0.0) {
            return Err(CfError::config(
                "init_std",
                format!("must be a positive number, got {std}"),
            ));
        }
        Ok(())
    }
}

fn default_select_on() -> String {
    "valid".to_string()
}

fn default_eval_splits() -> Vec<String> {
    vec!["valid".to_string()]
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CfTrainConfig {
    pub lr: f64,
    /// Coupled L2 (added to the gradient before Adam's moments), as `torch.optim.Adam`.
    pub weight_decay: f64,
    pub batch_size: usize,
    pub max_epochs: usize,
    /// Stop when this many evaluations in a row did not improve the selection AUC.
    pub patience: usize,
    /// Seeds the per-epoch shuffles (and, by convention, the model's initialisation).
    pub seed: u64,
    /// The split whose AUC selects the best epoch; the baselines use the full `valid`.
    #[serde(default = "default_select_on")]
    pub select_on: String,
    /// Splits evaluated (and reported as events) after every epoch, besides `select_on`.
    #[serde(default = "default_eval_splits")]
    pub eval_splits: Vec<String>,
}

impl CfTrainConfig {
    pub fn validate(&self) -> Result<(), CfError> {
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return Err(CfError::config(
                "lr",
                format!("must be a finite number >= 0, got {}", self.lr),
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(CfError::config(
                "weight_decay",
                format!("must be a finite number >= 0, got {}", self.weight_decay),
            ));
        }
        if self.batch_size == 0 {
            return Err(CfError::config("batch_size", "must be at least 1"));
        }
        if self.max_epochs == 0 {
            return Err(CfError::config("max_epochs", "must be at least 1"));
        }
        if self.patience == 0 {
            return Err(CfError::config("patience", "must be at least 1"));
        }
        if self.select_on.is_empty() {
            return Err(CfError::config("select_on", "must name a split"));
        }
        Ok(())
    }

    /// `select_on` first, then the other requested splits, each once.
    pub fn splits_to_evaluate(&self) -> Vec<String> {
        let mut splits = vec![self.select_on.clone()];
        for s in &self.eval_splits {
            if !splits.contains(s) {
                splits.push(s.clone());
            }
        }
        splits
    }
}
