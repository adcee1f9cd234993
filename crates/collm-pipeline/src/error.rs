//! The one error type of the pipeline: what went wrong and, for files and settings, where.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A prompt template that cannot be used; names the file (or built-in) and the line.
    #[error("{source_name}:{line}: {message}")]
    Template {
        source_name: String,
        line: usize,
        message: String,
    },
    /// A setting out of range or inconsistent with another; names the field.
    #[error("invalid setting `{field}`: {message}")]
    Config { field: String, message: String },
    /// Rows the pipeline cannot use (an unknown item, a user outside the tables, ...).
    #[error("{0}")]
    Data(String),
    /// A tokenizer failure (text that does not encode, a token that is not in the vocabulary).
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A checkpoint or resume file that does not fit this run.
    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    /// The cancel token was set; work stopped between batches.
    #[error("cancelled")]
    Cancelled,
    /// Errors of the crates this one builds on, kept with their own message.
    #[error("{0}")]
    Upstream(String),
}

pub type Result<T> = std::result::Result<T, PipelineError>;

impl PipelineError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PipelineError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        PipelineError::Config {
            field: field.into(),
            message: message.into(),
        }
    }
    pub(crate) fn checkpoint(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        PipelineError::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }
}
