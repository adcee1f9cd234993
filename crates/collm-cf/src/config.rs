//! The experiment-file settings of a collaborative model and of its trainer, with their
//! defaults and range checks.

use serde::{Deserialize, Serialize};

use crate::CfError;

/// Which collaborative model. SASRec and DIN read `CfBatch::his`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum CfKind {
    Mf,
    Lightgcn,
    Sasrec,
    Din,
}

impl CfKind {
    pub fn name(self) -> &'static str {
        match self {
            CfKind::Mf => "mf",
            CfKind::Lightgcn => "lightgcn",
            CfKind::Sasrec => "sasrec",
            CfKind::Din => "din",
        }
    }

    /// The reference's embedding initialisation: MF and SASRec keep `nn.Embedding`'s N(0, 1),
    /// LightGCN uses N(0, 0.1) (`init_emb`). DIN draws xavier-normal per table (its std follows
    /// each table's shape), so it has no single value.
    pub fn default_init_std(self) -> Option<f64> {
        match self {
            CfKind::Mf | CfKind::Sasrec => Some(1.0),
            CfKind::Lightgcn => Some(0.1),
            CfKind::Din => None,
        }
    }

    /// How many history items the model reads by default: SASRec's `maxlen` 25, DIN's
    /// `sas_seq[:, -10:]`; MF and LightGCN read none.
    pub fn default_maxlen(self) -> usize {
        match self {
            CfKind::Mf | CfKind::Lightgcn => 0,
            CfKind::Sasrec => 25,
            CfKind::Din => 10,
        }
    }

    fn reads_history(self) -> bool {
        self.default_maxlen() > 0
    }

    /// LightGCN propagates `layers` rounds and SASRec stacks `layers` blocks; MF and DIN have
    /// nothing the setting could change.
    fn reads_layers(self) -> bool {
        matches!(self, CfKind::Lightgcn | CfKind::Sasrec)
    }
}

fn default_layers() -> usize {
    2
}

/// SASRec's attention heads when the config names none. The reference's CoLLM-SASRec config
/// says `num_heads: 4`, but the SASRec checkpoint it loads was trained by
/// `baseline_train_sasrec.py` with 1 head (spec §6.3, gotcha 14); 1 is the model whose logged
/// valid AUC (0.6902) we compare against.
pub const DEFAULT_SASREC_HEADS: usize = 1;
/// The widest collaborative vectors accepted (see `validate`).
pub const MAX_DIM: usize = 16_384;
/// Dropout of SASRec (`dropout_rate`) and of DIN's prediction MLP (`drop`) in the reference.
pub const DEFAULT_DROPOUT: f64 = 0.2;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CfModelConfig {
    pub kind: CfKind,
    /// Size of the user and item vectors. DIN splits it into three equal fields (uid, target
    /// item, pooled history), so it must be divisible by 3 (the reference: 192 = 3 x 64).
    pub dim: usize,
    /// LightGCN propagation rounds; SASRec transformer blocks (`num_blocks`). MF and DIN
    /// refuse any value but the default: they have no layers, and every stored experiment
    /// (this field is always written) carries the default.
    #[serde(default = "default_layers")]
    pub layers: usize,
    /// Standard deviation of the normal initialisation of the embedding tables (MF, LightGCN,
    /// SASRec); `None` takes the kind's default. DIN is xavier-normal and refuses it.
    #[serde(default)]
    pub init_std: Option<f64>,
    /// SASRec attention heads (`dim` must be divisible by it); `None`: 1, see
    /// [`DEFAULT_SASREC_HEADS`]. Only SASRec accepts it.
    #[serde(default)]
    pub heads: Option<usize>,
    /// Dropout rate in [0, 1): SASRec's embeddings, attention weights and feed-forward, DIN's
    /// prediction MLP; `None`: 0.2. Only SASRec and DIN accept it.
    #[serde(default)]
    pub dropout: Option<f64>,
    /// History items read per row (the last ones): SASRec's sequence length (and position
    /// table), DIN's pooled history; `None`: 25 for SASRec, 10 for DIN. Only they accept it.
    #[serde(default)]
    pub maxlen: Option<usize>,
}

impl CfModelConfig {
    /// A config of `kind` and `dim` with every other setting at its default.
    pub fn new(kind: CfKind, dim: usize) -> Self {
        CfModelConfig {
            kind,
            dim,
            layers: default_layers(),
            init_std: None,
            heads: None,
            dropout: None,
            maxlen: None,
        }
    }

    /// The embedding std: the configured one, else the kind's default (1.0 where the kind has
    /// none: DIN does not read it).
    pub fn init_std(&self) -> f64 {
        self.init_std
            .or_else(|| self.kind.default_init_std())
            .unwrap_or(1.0)
    }

    pub fn heads(&self) -> usize {
        self.heads.unwrap_or(DEFAULT_SASREC_HEADS)
    }

    pub fn dropout(&self) -> f64 {
        self.dropout.unwrap_or(DEFAULT_DROPOUT)
    }

    /// History items the model reads (0 for MF and LightGCN).
    pub fn maxlen(&self) -> usize {
        self.maxlen.unwrap_or_else(|| self.kind.default_maxlen())
    }

    /// The error for a `field` set on a kind that does not read it.
    fn applies_only(&self, field: &'static str, kinds: &str) -> CfError {
        let kind = self.kind.name();
        CfError::config(field, format!("applies to {kinds} only, not to `{kind}`"))
    }

    /// The rules for a config a person writes now, beyond [`CfModelConfig::validate`]: not
    /// applied to stored runs' experiments, which older versions accepted and ran (they must
    /// stay readable and resumable).
    pub fn check_new_input(&self) -> Result<(), CfError> {
        // Tables hold a row of `dim` floats per id: far past what any model uses (64 to 256),
        // a typo would abort the process allocating them.
        if self.dim > MAX_DIM {
            return Err(CfError::config(
                "dim",
                format!("must be at most {MAX_DIM}, got {}", self.dim),
            ));
        }
        if self.layers != default_layers() && !self.kind.reads_layers() {
            return Err(self.applies_only("layers", "lightgcn and sasrec"));
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<(), CfError> {
        if self.dim == 0 {
            return Err(CfError::config("dim", "must be at least 1"));
        }
        match self.init_std {
            Some(_) if self.kind == CfKind::Din => {
                return Err(CfError::config(
                    "init_std",
                    "DIN initialises every table xavier-normal (as the reference); remove it",
                ))
            }
            Some(std) if !(std.is_finite() && std > 0.0) => {
                return Err(CfError::config(
                    "init_std",
                    format!("must be a positive number, got {std}"),
                ))
            }
            _ => {}
        }
        if self.heads.is_some() && self.kind != CfKind::Sasrec {
            return Err(self.applies_only("heads", "sasrec"));
        }
        if self.dropout.is_some() && !self.kind.reads_history() {
            return Err(self.applies_only("dropout", "sasrec and din"));
        }
        if self.maxlen.is_some() && !self.kind.reads_history() {
            return Err(self.applies_only("maxlen", "sasrec and din"));
        }
        let p = self.dropout();
        if !(p.is_finite() && (0.0..1.0).contains(&p)) {
            return Err(CfError::config(
                "dropout",
                format!("must be in [0, 1), got {p}"),
            ));
        }
        if self.kind.reads_history() && self.maxlen() == 0 {
            return Err(CfError::config("maxlen", "must be at least 1"));
        }
        match self.kind {
            CfKind::Sasrec => {
                let heads = self.heads();
                if heads == 0 || !self.dim.is_multiple_of(heads) {
                    return Err(CfError::config(
                        "heads",
                        format!(
                            "must be at least 1 and divide dim {} evenly, got {heads}",
                            self.dim
                        ),
                    ));
                }
            }
            CfKind::Din if !self.dim.is_multiple_of(3) => {
                return Err(CfError::config(
                    "dim",
                    format!(
                        "DIN splits dim into three equal fields (user, item, history; the \
                         reference: 192 = 3 x 64), so it must be divisible by 3, got {}",
                        self.dim
                    ),
                ))
            }
            _ => {}
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
