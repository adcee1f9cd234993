//! CoLLM itself: prompts with collaborative ID slots, the CIE mapping, the two training stages
//! (LoRA on text prompts, then the mapping on hybrid prompts), exact prefix caching for the
//! frozen-LoRA stage, checkpoints and evaluation. See `shared/docs/collm-spec.md`.
//!
//! Decisions, each documented where it lives:
//! - templates are read verbatim, the reference's literal ` \n` (space, backslash, `n`) kept
//!   ([`template`]); an empty history is the word `unkow` by default, `prompt.empty_history`
//!   changes it ([`prompt`]);
//! - the reference's `<s>` is the model's BOS id prepended as a token; text between ID slots is
//!   tokenised segment by segment, so `feature <UserID>` gives `Ġfeature`, `Ġ`, slot; each slot
//!   is `proj_token_num` positions whose embeddings are replaced ([`prompt`]);
//! - the score token is the one that follows `#Answer:` in `#Answer: Yes` (SmolLM2: ` Yes`, 9230),
//!   looked up through the tokenizer; `score = "yes_minus_no"` subtracts the ` No` logit
//!   ([`score`], [`model::answer_token`]);
//! - warmup is linear over global steps; `warmup = "reference"` reproduces the reference's
//!   per-epoch saw-tooth ([`schedule`]);
//! - LoRA dropout is off whenever LoRA is frozen (the reference leaves it on in stage 2); that is
//!   what makes the stage-2 prefix cache exact ([`prefix_cache`],
//!   [`model::CollmModel::set_trainable`]);
//! - training batches have a fixed composition per stage, visited in a new order every pass
//!   ([`stage`]).

pub mod batch;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod inspect;
pub mod mapping;
pub mod model;
pub mod optim;
pub mod pipeline;
pub mod prefix_cache;
pub mod prompt;
pub mod schedule;
pub mod score;
pub mod stage;
pub mod template;

pub use config::{
    CfInit, CfInput, PipelineConfig, PromptConfig, SlotConfig, SlotFill, StageConfig, Trainable,
};
pub use error::{PipelineError, Result};
pub use model::{Answer, CollmModel, Encoded, SlotSource};
pub use score::ScoreKind;
pub use stage::{adopt_stage, run_stage, StageOutcome, StagePlan};
pub use template::{Domain, PromptKind, Template};
