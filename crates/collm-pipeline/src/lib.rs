//! CoLLM itself: prompts with collaborative ID slots, the CIE mapping, the two training stages
//! (LoRA on text prompts, then the mapping on hybrid prompts), exact prefix caching for the
//! frozen-LoRA stage, checkpoints and evaluation. See `shared/docs/collm-spec.md`.

pub mod error;
pub mod mapping;
pub mod optim;
pub mod prompt;
pub mod schedule;
pub mod score;
pub mod template;

pub use error::{PipelineError, Result};
