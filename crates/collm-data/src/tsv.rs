//! Reading the layout's tab-separated files: columns found by header name, rows with their line
//! numbers, and typed fields whose errors name file, line and column.

use std::path::Path;

use crate::error::{guess_delimiter, DataError};

/// One data row, its fields in the order of the columns the caller asked for.
pub(crate) struct Row<'a> {
    pub path: &'a Path,
    pub line: usize,
    fields: Vec<&'a str>,
    columns: &'a [&'static str],
}

impl<'a> Row<'a> {
    pub fn text(&self, col: usize) -> &'a str {
        self.fields[col]
    }

    pub fn error(&self, col: usize, message: impl Into<String>) -> DataError {
        DataError::field(self.path, self.line, self.columns[col], message)
    }

    /// A user or item id: a positive integer (0 is the padding index, never stored).
    pub fn id(&self, col: usize) -> Result<u32, DataError> {
        parse_id(self.text(col)).map_err(|m| self.error(col, m))
    }

    /// A 0/1 flag.
    pub fn flag(&self, col: usize) -> Result<bool, DataError> {
        match self.text(col) {
            "0" => Ok(false),
            "1" => Ok(true),
            other => Err(self.error(col, format!("expected 0 or 1, found {other:?}"))),
        }
    }

    pub fn integer(&self, col: usize) -> Result<i64, DataError> {
        let text = self.text(col);
        text.parse::<i64>()
            .map_err(|_| self.error(col, format!("expected an integer, found {text:?}")))
    }
}

/// Largest id accepted. Ids index embedding tables, so they must be dense (1..n); the cap keeps
/// a stray huge id from turning into a huge allocation.
pub const MAX_ID: u32 = 100_000_000;

/// Ids index tables with a row per id up to the largest (the items' titles, the collaborative
/// models' embeddings), so the largest id may exceed the number of distinct ids by at most
/// this factor, plus [`SPARSE_SLACK`]: beyond, a stray or unmapped id (a raw 99999999) would
/// size a table of gigabytes, and the process would abort allocating it.
pub const SPARSE_FACTOR: usize = 16;
pub const SPARSE_SLACK: usize = 100_000;

/// Why `max`, the largest of `distinct` ids, is too far above them for a table, if it is.
pub(crate) fn too_sparse(max: u32, distinct: usize) -> Option<String> {
    (max as usize > SPARSE_FACTOR * distinct + SPARSE_SLACK).then(|| {
        format!(
            "id {max} is far above the {distinct} distinct ids; ids index embedding tables (a \
             row per id up to the largest), so they must be dense (1..n): renumber them"
        )
    })
}

/// Parses a positive id; the message says what was wrong.
pub(crate) fn parse_id(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(0) => Err("id 0 is reserved for padding; ids start at 1".to_string()),
        Ok(id) if id > MAX_ID => Err(format!(
            "id {id} is above the supported maximum {MAX_ID}; ids must be dense (1..n)"
        )),
        Ok(id) => Ok(id),
        Err(_) => Err(format!("expected a positive integer id, found {text:?}")),
    }
}

/// Reads `path` as UTF-8, tab-separated text with a header, and calls `each` for every data row.
pub(crate) fn read_tsv(
    path: &Path,
    columns: &[&'static str],
    each: impl FnMut(&Row<'_>) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let text = decode_utf8(path, &bytes)?;
    parse_tsv(path, text, columns, each)
}

/// Decodes UTF-8, naming the first line that is not.
pub(crate) fn decode_utf8<'b>(path: &Path, bytes: &'b [u8]) -> Result<&'b str, DataError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        DataError::Encoding {
            path: path.to_path_buf(),
            line,
        }
    })
}

pub(crate) fn parse_tsv(
    path: &Path,
    text: &str,
    columns: &[&'static str],
    mut each: impl FnMut(&Row<'_>) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    let header = match lines.next() {
        Some(h) if !text.trim().is_empty() => h,
        _ => {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
                expected: columns.join(", "),
            })
        }
    };
    let positions = header_positions(path, header, columns)?;
    let width = header.split('\t').count();
    for (index, raw) in lines.enumerate() {
        let line = index + 2;
        // Blank lines are skipped, as pandas' `read_csv` (the reference's reader) skips them:
        // an editor's trailing newline should not stop a run. A line of tabs is a row of empty
        // fields, reported as such.
        if is_blank(raw) {
            continue;
        }
        let all: Vec<&str> = raw.split('\t').collect();
        if all.len() != width {
            return Err(row_shape_error(path, line, raw, width, all.len()));
        }
        let row = Row {
            path,
            line,
            fields: positions.iter().map(|&p| all[p]).collect(),
            columns,
        };
        each(&row)?;
    }
    Ok(())
}

/// Whether a line holds nothing at all (whitespace, no field separator).
pub fn is_blank(line: &str) -> bool {
    !line.contains('\t') && line.trim().is_empty()
}

/// Where each requested column sits in the header.
fn header_positions(
    path: &Path,
    header: &str,
    columns: &[&'static str],
) -> Result<Vec<usize>, DataError> {
    // Lines ended by a carriage return alone read as one line, whose cells look like repeated
    // columns: say what it is.
    if header.contains('\r') {
        return Err(DataError::field(
            path,
            1,
            "header",
            "the lines end in a carriage return alone (old Mac line endings): convert them to \
             newlines",
        ));
    }
    let names: Vec<&str> = header.split('\t').map(str::trim).collect();
    if names.len() == 1 && columns.len() > 1 {
        if let Some(found) = guess_delimiter(header) {
            return Err(DataError::Delimiter {
                path: path.to_path_buf(),
                line: 1,
                expected: "tab-separated",
                found,
            });
        }
    }
    // A file without its header line: its first row would read as columns named `1`, `2`...
    let numeric = |n: &&str| !n.is_empty() && n.parse::<f64>().is_ok();
    if !columns.iter().any(|c| names.contains(c)) && names.iter().any(numeric) {
        return Err(DataError::Header {
            path: path.to_path_buf(),
            expected: columns.join(", "),
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(names.len());
    for name in &names {
        if !seen.insert(name) {
            return Err(DataError::field(
                path,
                1,
                name,
                "column appears twice in the header",
            ));
        }
    }
    columns
        .iter()
        .map(|col| {
            names
                .iter()
                .position(|n| n == col)
                .ok_or_else(|| DataError::MissingColumn {
                    path: path.to_path_buf(),
                    field: col.to_string(),
                    found: clipped(&names.join(", ")),
                })
        })
        .collect()
}

/// At most 200 characters of a header in a message (a file with no newline is one huge
/// "header"), ending in `…` when cut.
fn clipped(text: &str) -> String {
    const SHOWN: usize = 200;
    match text.char_indices().nth(SHOWN) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn row_shape_error(
    path: &Path,
    line: usize,
    raw: &str,
    expected: usize,
    found: usize,
) -> DataError {
    if found == 1 && expected > 1 {
        if let Some(delimiter) = guess_delimiter(raw) {
            return DataError::Delimiter {
                path: path.to_path_buf(),
                line,
                expected: "tab-separated",
                found: delimiter,
            };
        }
    }
    DataError::ColumnCount {
        path: path.to_path_buf(),
        line,
        expected,
        found,
    }
}
