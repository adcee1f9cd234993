//! A Llama-family decoder in candle that hosts LoRA adapters, takes spliced input embeddings and
//! scores a prompt by the logits of chosen vocabulary rows at its last position.
//!
//! Load a backbone with [`Llm::load`] (a GGUF file or a Hugging Face folder; [`hub`] fetches the
//! default one), embed token ids with [`Llm::embed_tokens`], replace slots with your own vectors
//! ([`splice`]), then [`Llm::last_hidden`] and [`Llm::score_rows`] give the "Yes" logit. A
//! [`KvPrefix`] from [`Llm::prefix_kv`] lets later calls skip a shared prompt head.
//!
//! Supported: Llama (Vicuna, TinyLlama, SmolLM2), Mistral, Qwen2. f32 on the CPU, bf16 on CUDA
//! (feature `cuda`) with f32 LoRA parameters.

mod adapter;
pub mod alloc;
mod backbone;
pub mod bench;
mod config;
mod device;
mod error;
mod generate;
pub mod gguf;
mod hf;
pub mod hub;
mod kv;
mod load;
mod lora;
mod mask;
mod model;
pub mod ops;
mod packing;
mod prims;
mod tiny;
mod tokenizer;

pub use backbone::Backbone;
pub use config::{Architecture, LlmConfig, LoraConfig, LoraTarget};
pub use device::{DTypeSpec, DeviceSpec};
pub use error::{LlmError, Result};
pub use kv::KvPrefix;
pub use load::{default_dtype, LORA_INIT_SEED};
pub use model::{splice, Llm};
pub use tiny::{tiny_config, tiny_tokenizer, tiny_vocab, TinyVocab};
pub use tokenizer::{LlmTokenizer, PreTokenizer, SpecialIds};
