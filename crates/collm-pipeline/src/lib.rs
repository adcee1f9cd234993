//! CoLLM itself: prompts with collaborative ID slots, the CIE mapping, the two training stages
//! (LoRA on text prompts, then the mapping on hybrid prompts), exact prefix caching for the
//! frozen-LoRA stage, checkpoints and evaluation. See `shared/docs/collm-spec.md`.

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

pub use config::{CfInit, PipelineConfig, PromptConfig, SlotConfig, SlotFill, StageConfig, Trainable};
pub use error::{PipelineError, Result};
pub use model::{CollmModel, Encoded, SlotSource};
pub use score::ScoreKind;
pub use stage::{run_stage, StageOutcome, StagePlan};
pub use template::{Domain, PromptKind, Template};
