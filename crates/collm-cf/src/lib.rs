//! Collaborative models in candle (MF, LightGCN, SASRec, DIN) and their pointwise BCE trainer
//! with early stopping on valid AUC. Each model exposes the user and item vectors that the CoLLM
//! mapping consumes; SASRec and DIN also read each row's recent history (`CfBatch::his`).
//!
//! Reference behaviour: `../shared/docs/collm-spec.md` §3.2 and §6. Seeds are PyTorch seeds
//! (`torch_rng`): seed 2023 starts MF where the reference's `baseline_train_mf_ood.py` did.
//! The CPU hot paths (LightGCN propagation, pair scores, Adam) are fused ops with exact
//! backwards; other devices use the equivalent candle expressions.

pub mod adam;
mod batch;
pub mod checkpoint;
mod config;
pub mod dice;
pub mod din;
mod error;
pub mod fused;
mod graph;
pub mod lightgcn;
pub mod loss;
pub mod mf;
mod model;
mod nn;
pub mod pair_dot;
pub mod sasrec;
mod score;
mod setup;
mod tables;
pub mod torch_rng;
mod train;

pub use batch::{batch_for, labels_for, CfBatch};
pub use config::{CfKind, CfModelConfig, CfTrainConfig, DEFAULT_DROPOUT, DEFAULT_SASREC_HEADS};
pub use error::CfError;
pub use model::{build, build_as, load, Buildable, CfModel, IdSpace, Misfit, ModelBase};
pub use score::score_rows;
pub use train::{train, CfTrainOutcome, ABORT_AFTER_EPOCH, ABORT_BELOW_AUC, STAGE};
