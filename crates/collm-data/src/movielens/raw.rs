//! The three published raw MovieLens layouts: recognising which one a folder holds and parsing its
//! ratings and movie titles, with errors that name file, line and field.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{guess_delimiter, DataError};
use crate::tsv::decode_utf8;

/// A raw MovieLens layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// `ratings.csv` + `movies.csv` (ml-latest, ml-latest-small, ml-20m, ml-25m, ml-32m):
    /// quoted CSV with a header, UTF-8.
    #[serde(rename = "ml-latest")]
    MlLatest,
    /// `ratings.dat` + `movies.dat` (ml-1m, ml-10m): `::`-separated, latin-1, no header.
    #[serde(rename = "ml-1m")]
    Ml1m,
    /// `u.data` + `u.item` (ml-100k): tab- and `|`-separated, latin-1, no header.
    #[serde(rename = "ml-100k")]
    Ml100k,
}

/// How the lines of one raw file are cut and what their fields are called (for errors).
struct FileFormat {
    name: &'static str,
    /// `None` for quoted CSV with a header; otherwise the separator of a header-less file.
    separator: Option<&'static str>,
    describe: &'static str,
    /// Ratings: user, movie, rating, timestamp. Movies: movie, title.
    fields: &'static [&'static str],
}

impl Layout {
    pub const ALL: [Layout; 3] = [Layout::MlLatest, Layout::Ml1m, Layout::Ml100k];

    fn ratings(self) -> FileFormat {
        let (name, separator, describe, fields): (_, _, _, &'static [&'static str]) = match self {
            Layout::MlLatest => (
                "ratings.csv",
                None,
                "comma-separated",
                &["userId", "movieId", "rating", "timestamp"],
            ),
            Layout::Ml1m => (
                "ratings.dat",
                Some("::"),
                "`::`-separated",
                &["UserID", "MovieID", "Rating", "Timestamp"],
            ),
            Layout::Ml100k => (
                "u.data",
                Some("\t"),
                "tab-separated",
                &["user id", "item id", "rating", "timestamp"],
            ),
        };
        FileFormat {
            name,
            separator,
            describe,
            fields,
        }
    }

    fn movies(self) -> FileFormat {
        let (name, separator, describe, fields): (_, _, _, &'static [&'static str]) = match self {
            Layout::MlLatest => ("movies.csv", None, "comma-separated", &["movieId", "title"]),
            Layout::Ml1m => (
                "movies.dat",
                Some("::"),
                "`::`-separated",
                &["MovieID", "Title"],
            ),
            Layout::Ml100k => (
                "u.item",
                Some("|"),
                "pipe-separated",
                &["movie id", "movie title"],
            ),
        };
        FileFormat {
            name,
            separator,
            describe,
            fields,
        }
    }

    /// File names of the ratings and the movies.
    pub fn file_names(self) -> (&'static str, &'static str) {
        (self.ratings().name, self.movies().name)
    }
}

/// One raw file's bytes and the path errors should name.
#[derive(Debug, Clone)]
pub struct RawFile<'a> {
    pub path: PathBuf,
    pub bytes: Cow<'a, [u8]>,
}

/// The ratings and movies files of one layout.
#[derive(Debug, Clone)]
pub struct RawSource<'a> {
    pub layout: Layout,
    pub ratings: RawFile<'a>,
    pub movies: RawFile<'a>,
}

impl RawSource<'static> {
    /// Finds the layout in `dir` and reads its two files.
    pub fn read_dir(dir: &Path) -> Result<Self, DataError> {
        let layout = detect_layout(dir)?;
        let (ratings, movies) = layout.file_names();
        let read = |name: &str| -> Result<RawFile<'static>, DataError> {
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| DataError::io(&path, e))?;
            Ok(RawFile {
                path,
                bytes: Cow::Owned(bytes),
            })
        };
        Ok(RawSource {
            layout,
            ratings: read(ratings)?,
            movies: read(movies)?,
        })
    }
}

/// Which raw layout `dir` holds.
pub fn detect_layout(dir: &Path) -> Result<Layout, DataError> {
    std::fs::metadata(dir).map_err(|e| DataError::io(dir, e))?;
    for layout in Layout::ALL {
        let (ratings, movies) = layout.file_names();
        if dir.join(ratings).is_file() {
            if dir.join(movies).is_file() {
                return Ok(layout);
            }
            return Err(DataError::Folder {
                path: dir.to_path_buf(),
                message: format!("found {ratings} but not {movies} beside it"),
            });
        }
    }
    Err(DataError::Folder {
        path: dir.to_path_buf(),
        message: "no raw MovieLens data: expected ratings.csv + movies.csv (ml-latest), \
                  ratings.dat + movies.dat (ml-1m) or u.data + u.item (ml-100k)"
            .to_string(),
    })
}

/// One rating with its original ids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawRating {
    pub user: u64,
    pub movie: u64,
    pub rating: f32,
    pub timestamp: i64,
}

/// Parsed raw data: ratings in file order and titles by original movie id.
#[derive(Debug, Default)]
pub(crate) struct RawData {
    pub ratings: Vec<RawRating>,
    pub titles: HashMap<u64, String>,
}

pub(crate) fn parse(source: &RawSource<'_>) -> Result<RawData, DataError> {
    let mut data = RawData::default();
    let format = source.layout.movies();
    let path = &source.movies.path;
    let mut first_line: HashMap<u64, usize> = HashMap::new();
    for_each_record(&source.movies, &format, |line, f| {
        let movie = parse_u64(path, line, format.fields[0], f[0])?;
        if let Some(first) = first_line.insert(movie, line) {
            let message = format!("duplicate movie id {movie} (first defined on line {first})");
            return Err(DataError::field(path, line, format.fields[0], message));
        }
        data.titles.insert(movie, f[1].trim().to_string());
        Ok(())
    })?;
    let format = source.layout.ratings();
    let path = &source.ratings.path;
    for_each_record(&source.ratings, &format, |line, f| {
        let names = format.fields;
        let rating_text = f[2].trim();
        let rating = match rating_text.parse::<f32>() {
            Ok(r) if r.is_finite() => r,
            _ => {
                let message = format!("expected a number, found {rating_text:?}");
                return Err(DataError::field(path, line, names[2], message));
            }
        };
        let timestamp_text = f[3].trim();
        let timestamp = timestamp_text.parse::<i64>().map_err(|_| {
            let message = format!("expected an integer unix timestamp, found {timestamp_text:?}");
            DataError::field(path, line, names[3], message)
        })?;
        data.ratings.push(RawRating {
            user: parse_u64(path, line, names[0], f[0])?,
            movie: parse_u64(path, line, names[1], f[1])?,
            rating,
            timestamp,
        });
        Ok(())
    })?;
    Ok(data)
}

fn parse_u64(path: &Path, line: usize, field: &str, text: &str) -> Result<u64, DataError> {
    let text = text.trim();
    text.parse::<u64>().map_err(|_| {
        DataError::field(
            path,
            line,
            field,
            format!("expected a non-negative integer id, found {text:?}"),
        )
    })
}

/// Calls `each(line, fields)` per record, fields in the order of `format.fields`.
fn for_each_record(
    file: &RawFile<'_>,
    format: &FileFormat,
    each: impl FnMut(usize, &[&str]) -> Result<(), DataError>,
) -> Result<(), DataError> {
    if file.bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DataError::Empty {
            path: file.path.clone(),
            expected: format.fields.join(", "),
        });
    }
    match format.separator {
        None => for_each_csv_record(file, format, each),
        Some(separator) => {
            // The older releases are latin-1: every byte is the code point of the same value.
            let text: String = file.bytes.iter().map(|&b| char::from(b)).collect();
            for_each_line(&file.path, &text, separator, format, each)
        }
    }
}

fn for_each_line(
    path: &Path,
    text: &str,
    separator: &str,
    format: &FileFormat,
    mut each: impl FnMut(usize, &[&str]) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let is_ratings = format.fields.len() == 4;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = raw.split(separator).collect();
        // Ratings have exactly four fields; movie lines have the id, the title and more after.
        let shape_ok = if is_ratings {
            fields.len() == 4
        } else {
            fields.len() >= 3
        };
        if !shape_ok {
            if fields.len() == 1 {
                if let Some(found) = guess_delimiter(raw) {
                    return Err(DataError::Delimiter {
                        path: path.to_path_buf(),
                        line,
                        expected: format.describe,
                        found,
                    });
                }
            }
            return Err(DataError::ColumnCount {
                path: path.to_path_buf(),
                line,
                expected: if is_ratings { 4 } else { 3 },
                found: fields.len(),
            });
        }
        each(line, &fields)?;
    }
    Ok(())
}

fn for_each_csv_record(
    file: &RawFile<'_>,
    format: &FileFormat,
    mut each: impl FnMut(usize, &[&str]) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let path = &file.path;
    // Decode up front so an encoding error names its line like every other error.
    let text = decode_utf8(path, &file.bytes)?;
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| csv_error(path, text, e))?
        .clone();
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    if names.len() == 1 {
        if let Some(found) = guess_delimiter(header.as_slice()).filter(|f| *f != format.describe) {
            return Err(DataError::Delimiter {
                path: path.clone(),
                line: 1,
                expected: format.describe,
                found,
            });
        }
    }
    let positions = format
        .fields
        .iter()
        .map(|field| {
            names
                .iter()
                .position(|n| n == field)
                .ok_or_else(|| DataError::MissingColumn {
                    path: path.clone(),
                    field: field.to_string(),
                    found: names.join(", "),
                })
        })
        .collect::<Result<Vec<usize>, DataError>>()?;
    let mut record = csv::StringRecord::new();
    let mut lines = LineCounter::default();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => return Err(csv_error(path, text, e)),
        }
        let line = record.position().map_or(0, |p| lines.at(text, p));
        let fields: Vec<&str> = positions.iter().map(|&p| &record[p]).collect();
        each(line, &fields)?;
    }
}

/// The 1-based line of a position in the text the reader read. The csv crate's own count
/// (`Position::line`) is one short after every `\r\n` (ml-latest-small's ending), and its byte
/// offset of a record there is the `\n` ending the line before; so lines are counted from the
/// first byte past any line ending at the offset. Going forward only, each byte is counted once.
#[derive(Default)]
struct LineCounter {
    byte: usize,
    newlines: usize,
}

impl LineCounter {
    fn at(&mut self, text: &str, position: &csv::Position) -> usize {
        let bytes = text.as_bytes();
        let mut byte = (position.byte() as usize).min(bytes.len());
        while bytes.get(byte).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
            byte += 1;
        }
        if byte < self.byte {
            *self = LineCounter::default();
        }
        let between = &bytes[self.byte..byte];
        self.newlines += between.iter().filter(|&&b| b == b'\n').count();
        self.byte = byte;
        self.newlines + 1
    }
}

fn csv_error(path: &Path, text: &str, error: csv::Error) -> DataError {
    let line_of = |p: &csv::Position| LineCounter::default().at(text, p);
    let line = error.position().map_or(0, line_of);
    match error.into_kind() {
        csv::ErrorKind::Io(source) => DataError::io(path, source),
        csv::ErrorKind::UnequalLengths {
            expected_len,
            len,
            pos,
        } => DataError::ColumnCount {
            path: path.to_path_buf(),
            line: pos.as_ref().map_or(line, line_of),
            expected: expected_len as usize,
            found: len as usize,
        },
        csv::ErrorKind::Utf8 { pos, .. } => DataError::Encoding {
            path: path.to_path_buf(),
            line: pos.as_ref().map_or(line, line_of),
        },
        other => DataError::Folder {
            path: path.to_path_buf(),
            message: format!("line {line}: unreadable CSV: {other:?}"),
        },
    }
}
