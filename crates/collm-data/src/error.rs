//! The crate's one error type: every failure names its file and, where it can, the line and field.

use std::path::{Path, PathBuf};

/// Why a dataset (or raw MovieLens data) could not be read, imported or written.
///
/// Lines are 1-based and the header is line 1, so `path:line` opens in an editor.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading or writing a file or folder failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file has no header line.
    #[error("{}: the file is empty; expected a header line with columns {expected}", path.display())]
    Empty { path: PathBuf, expected: String },
    /// The first line holds data instead of the header.
    #[error("{}:1: the first line holds values, not column names; a file starts with a header line naming its columns ({expected})", path.display())]
    Header { path: PathBuf, expected: String },
    /// A line is not valid text in the file's encoding.
    #[error("{}:{line}: not valid UTF-8 text", path.display())]
    Encoding { path: PathBuf, line: usize },
    /// A line does not use the file's delimiter.
    #[error("{}:{line}: the file must be {expected}, but this line looks {found}", path.display())]
    Delimiter {
        path: PathBuf,
        line: usize,
        expected: &'static str,
        found: &'static str,
    },
    /// A required column is absent from the header.
    #[error("{}:1: field `{field}`: missing from the header (found: {found})", path.display())]
    MissingColumn {
        path: PathBuf,
        field: String,
        found: String,
    },
    /// A row has a different number of fields than the header.
    #[error("{}:{line}: expected {expected} fields, found {found}", path.display())]
    ColumnCount {
        path: PathBuf,
        line: usize,
        expected: usize,
        found: usize,
    },
    /// A field holds a value that is not allowed.
    #[error("{}:{line}: field `{field}`: {message}", path.display())]
    Field {
        path: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
    /// A folder does not hold what was asked of it (no raw MovieLens layout, a missing file,
    /// an import window without rows).
    #[error("{}: {message}", path.display())]
    Folder { path: PathBuf, message: String },
    /// An import option has a value the importer cannot use.
    #[error("import option `{field}`: {message}")]
    Option {
        field: &'static str,
        message: String,
    },
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn field(path: &Path, line: usize, field: &str, message: impl Into<String>) -> Self {
        DataError::Field {
            path: path.to_path_buf(),
            line,
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// The file or folder the error is about (none for an invalid import option).
    pub fn path(&self) -> Option<&Path> {
        match self {
            DataError::Io { path, .. }
            | DataError::Empty { path, .. }
            | DataError::Header { path, .. }
            | DataError::Encoding { path, .. }
            | DataError::Delimiter { path, .. }
            | DataError::MissingColumn { path, .. }
            | DataError::ColumnCount { path, .. }
            | DataError::Field { path, .. }
            | DataError::Folder { path, .. } => Some(path),
            DataError::Option { .. } => None,
        }
    }

    /// The 1-based line (header = 1) when the error is about one line.
    pub fn line(&self) -> Option<usize> {
        match self {
            DataError::Encoding { line, .. }
            | DataError::Delimiter { line, .. }
            | DataError::ColumnCount { line, .. }
            | DataError::Field { line, .. } => Some(*line),
            DataError::MissingColumn { .. } | DataError::Header { .. } => Some(1),
            _ => None,
        }
    }

    /// The column or option the error is about.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            DataError::MissingColumn { field, .. } | DataError::Field { field, .. } => Some(field),
            DataError::Option { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Names the delimiter a line seems to use instead of the expected one, if any.
pub(crate) fn guess_delimiter(line: &str) -> Option<&'static str> {
    if line.contains("::") {
        Some("`::`-separated")
    } else if line.contains('\t') {
        Some("tab-separated")
    } else if line.contains(',') {
        Some("comma-separated")
    } else if line.contains(';') {
        Some("semicolon-separated")
    } else if line.contains('|') {
        Some("pipe-separated")
    } else if line.trim().contains(' ') {
        Some("space-separated")
    } else {
        None
    }
}
