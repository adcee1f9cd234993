//! The one error type of this crate: what went wrong and, for files, which one.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CfError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A weights or optimizer-state file that does not fit the model.
    #[error("{path}: {message}")]
    Weights { path: PathBuf, message: String },
    /// A resume-state JSON file that cannot be read or does not fit this run.
    #[error("{path}: {message}")]
    ResumeState { path: PathBuf, message: String },
    /// A configuration value out of range; names the field.
    #[error("invalid CF config: field `{field}`: {message}")]
    Config {
        field: &'static str,
        message: String,
    },
    /// Rows that the model cannot score (ids outside its tables, an unknown split, ...).
    #[error("{0}")]
    Data(String),
}

impl CfError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CfError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn config(field: &'static str, message: impl Into<String>) -> Self {
        CfError::Config {
            field,
            message: message.into(),
        }
    }
}
