//! Why an experiment file cannot be used, always naming the file (and the line when known).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("cannot read experiment {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

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

    /// A command-line setting (`--set KEY=VALUE`, a sweep's point) made the experiment invalid (or
    /// names no setting).
    #[error("{} with `{set}`: {message}", path.display())]
    Override {
        path: PathBuf,
        set: String,
        message: String,
    },

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
        let message = plain_types(err.message().trim());
        let start = err
            .span()
            .map(|s| key_in_section(text, s.start.min(text.len()), &message));
        Self::at_offset(path, text, start, message)
    }

    /// A setting that parsed but is out of range, reported at its key: `key` is dotted as
    /// `--set` writes it (`collm.stages.0.lr`). A key the file leaves at its default is
    /// reported at the nearest table the file writes (`[collm.slots]`), or without a line.
    pub(crate) fn at_key(path: PathBuf, text: &str, key: &str, message: String) -> Self {
        Self::at_offset(path, text, key_offset(text, key), message)
    }

    fn at_offset(path: PathBuf, text: &str, start: Option<usize>, message: String) -> Self {
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
            message,
            source_line,
        }
    }
}

/// Where the file writes dotted `key`, or else the header of the deepest table on its way
/// (`[collm.slots]`, or a stage's `[[collm.stages]]`).
fn key_offset(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut table = doc.as_table();
    let mut found: Option<std::ops::Range<usize>> = None;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some((k, item)) = table.get_key_value(part) else {
            break;
        };
        let item = match (item, parts.peek().and_then(|p| p.parse::<usize>().ok())) {
            (toml_edit::Item::ArrayOfTables(array), Some(index)) => {
                parts.next();
                let Some(t) = array.get(index) else {
                    break;
                };
                found = t.span().or(found);
                table = t;
                continue;
            }
            (item, _) => item,
        };
        found = k.span().or(found);
        match item.as_table() {
            Some(t) => {
                found = t.span().or(found);
                table = t;
            }
            None => break,
        }
    }
    found.map(|span| span.start)
}

/// A value check of a whole section (`[training]`) is reported at the section's header; when
/// the message names a field (`field `batch_size``) that the section sets, point at that line.
fn key_in_section(text: &str, offset: usize, message: &str) -> usize {
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    if !text[line_start..].trim_start().starts_with('[') {
        return offset;
    }
    // `field `lr`` (serde's) or `setting `training.lr`` (a section's range check): the key
    // inside the section is the last part.
    let named = |marker: &str| {
        let rest = message.split(marker).nth(1)?;
        let key = rest.split('`').next()?;
        key.rsplit('.').next()
    };
    let Some(field) = named("field `").or_else(|| named("setting `")) else {
        return offset;
    };
    let mut at = line_start;
    for (n, line) in text[line_start..].split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if n > 0 && trimmed.starts_with('[') {
            break;
        }
        let is_key = trimmed
            .strip_prefix(field)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if n > 0 && is_key {
            return at + (line.len() - trimmed.len());
        }
        at += line.len();
    }
    offset
}

/// The parser's message with Rust's type names said as a TOML writer would know them:
/// `expected usize` is "expected a whole number of 0 or more", `expected struct
/// CfTrainConfig` "expected a table".
pub(crate) fn plain_types(message: &str) -> String {
    const WORDS: [(&str, &str); 11] = [
        ("usize", "a whole number of 0 or more"),
        ("u64", "a whole number of 0 or more"),
        ("u32", "a whole number of 0 or more"),
        ("u16", "a whole number of 0 or more"),
        ("u8", "a whole number of 0 or more"),
        ("i64", "a whole number"),
        ("i32", "a whole number"),
        ("f64", "a number"),
        ("f32", "a number"),
        ("a sequence", "a list"),
        ("a map", "a table"),
    ];
    let mut out = message.to_string();
    for (rust, plain) in WORDS {
        out = replace_word(
            &out,
            &format!("expected {rust}"),
            &format!("expected {plain}"),
        );
    }
    out = out.replace("invalid type: map", "invalid type: table");
    while let Some(at) = out.find("expected struct ") {
        let name_end = out[at + 16..]
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .map_or(out.len(), |n| at + 16 + n);
        out.replace_range(at..name_end, "expected a table");
    }
    out
}

/// `text` with `from` replaced by `to` where `from` ends a word (`expected u8` is not the
/// start of `expected u8x`).
fn replace_word(text: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let after = &rest[at + from.len()..];
        let whole = !after.starts_with(|c: char| c.is_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        out.push_str(if whole { to } else { from });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::key_offset;

    /// A key the file does not write is placed at the header of the deepest table on its way.
    #[test]
    fn an_unwritten_key_is_placed_at_its_table() {
        let text = "name = \"x\"\n[collm]\nseed = 1\n\n[[collm.stages]]\nprompt = \"text\"\n\n\
                    [[collm.stages]]\nprompt = \"hybrid\"\n";
        let line = |key: &str| key_offset(text, key).map(|at| text[..at].matches('\n').count() + 1);
        assert_eq!(line("collm.seed"), Some(3), "written");
        assert_eq!(
            line("collm.stages.1.prompt"),
            Some(9),
            "written, in the second stage"
        );
        assert_eq!(
            line("collm.stages.1.name"),
            Some(8),
            "the second stage's header"
        );
        assert_eq!(line("collm.lora.r"), Some(2), "under [collm]");
    }
}
