//! collm-bench: run, compare and inspect CoLLM experiments, headless or in a terminal UI.
//!
//! The crates follow the data's path: `collm_data` (datasets) -> `collm_cf` (collaborative
//! models) -> `collm_llm` (the LLM) -> `collm_eval` (metrics) -> `collm_store` (runs). This
//! package joins them: experiment files, the runner, the CLI and the TUI.

pub mod cleanup;
pub mod cli;
pub mod compare;
pub mod experiment;
pub mod paths;
pub mod runner;
pub mod signals;
pub mod sweep;
pub mod text;
pub mod tui;
