//! Why an experiment file cannot be used, always naming the file (and the line when known).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("cannot read experiment {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },

    /// Bad TOML, an unknown or missing key, or a value out of range; `line` and `column` are
    /// 1-based and point at the offending key or section.
    #[error("{}{}: {message}{}", path.display(), location(*line, *column), excerpt(source_line))]
    Parse {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
        source_line: Option<String>,
    },

    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },

    /// The experiment asks for a device this build or machine cannot provide.
    #[error("{0}")]
    Device(String),
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

fn excerpt(line: &Option<String>) -> String {
    match line {
        Some(text) if !text.trim().is_empty() => format!("\n    | {}", text.trim_end()),
        _ => String::new(),
    }
}

impl ExperimentError {
    /// Locates a TOML deserialisation error in `text` (the file's content).
    pub(crate) fn from_toml(path: PathBuf, text: &str, err: toml::de::Error) -> Self {
        let start = err.span().map(|s| s.start.min(text.len()));
        let (line, column, source_line) = match start {
            Some(offset) => {
                let before = &text[..offset];
                let line = before.matches('\n').count() + 1;
                let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                let column = before[line_start..].chars().count() + 1;
                let source_line = text[line_start..].lines().next().map(str::to_string);
                (Some(line), Some(column), source_line)
            }
            None => (None, None, None),
        };
        ExperimentError::Parse {
            path,
            line,
            column,
            message: err.message().trim().to_string(),
            source_line,
        }
    }
}
