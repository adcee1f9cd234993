//! The one error type of this crate: every variant names the file, tensor, field or architecture
//! it is about, so a user can act on it without a backtrace.

use std::path::PathBuf;

/// Everything that can go wrong while loading, running or saving an LLM.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{path}: file not found{hint}")]
    MissingFile { path: PathBuf, hint: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: unsupported architecture `{arch}` (supported: llama, mistral, qwen2)")]
    UnsupportedArchitecture { path: PathBuf, arch: String },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("{path}: tensor `{tensor}` is missing")]
    MissingTensor { path: PathBuf, tensor: String },
    #[error("{path}: tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{path}: {message}")]
    Gguf { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The caller passed tensors of the wrong shape or content (e.g. a row with no real token).
    #[error("invalid input: {0}")]
    Input(String),
    #[error("LoRA: {0}")]
    Lora(String),
    /// A LoRA setting out of range, named by its field in `[collm.lora]`.
    #[error("LoRA: field `{field}` {message}")]
    LoraSetting {
        field: &'static str,
        message: String,
    },
    #[error("model hub: {0}")]
    Hub(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = LlmError> = std::result::Result<T, E>;

impl LlmError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            return LlmError::MissingFile {
                path,
                hint: String::new(),
            };
        }
        LlmError::Io { path, source }
    }

    pub(crate) fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        LlmError::Config {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn gguf(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        LlmError::Gguf {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
