//! A run's per-row scores on a split as a TSV file (`uid iid label warm logit`), kept so that
//! runs can be compared row by row ([`crate::paired`]) or analysed outside collm-bench.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::ScoredRow;

/// One scored row, with the item it was about.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub uid: u32,
    pub iid: u32,
    pub label: u8,
    pub warm: bool,
    /// The raw score (a logit: sigmoid gives P(like)).
    pub logit: f32,
}

/// Which row a prediction is of: two runs' predictions with the same key are of the same row.
pub type RowKey = (u32, u32, u8, bool);

impl Prediction {
    /// The row this predicts: user, item, label and warm flag.
    pub fn row(&self) -> RowKey {
        (self.uid, self.iid, self.label, self.warm)
    }

    pub fn scored(&self) -> ScoredRow {
        ScoredRow {
            uid: self.uid,
            label: self.label,
            logit: self.logit,
            warm: self.warm,
        }
    }
}

const HEADER: [&str; 5] = ["uid", "iid", "label", "warm", "logit"];

/// A predictions file that could not be read, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum PredictionsError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: field `{field}`: {message}", path.display())]
    Field {
        path: PathBuf,
        line: usize,
        field: &'static str,
        message: String,
    },
    #[error("{}:1: the header must be `{}`, found `{found}`", path.display(), HEADER.join("\t"))]
    Header { path: PathBuf, found: String },
}

/// Writes `rows` with a header; logits in Rust's shortest round-trip form, so reading the file
/// back gives the same bits.
pub fn write_predictions(path: &Path, rows: &[Prediction]) -> Result<(), PredictionsError> {
    let mut text = HEADER.join("\t");
    text.push('\n');
    for r in rows {
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{}\t{}",
            r.uid,
            r.iid,
            r.label,
            u8::from(r.warm),
            r.logit
        );
    }
    let io = |source| PredictionsError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    // Written whole then renamed, so a kill mid-write never leaves half a file to compare.
    let partial = path.with_extension("tsv.partial");
    std::fs::write(&partial, text).map_err(io)?;
    std::fs::rename(&partial, path).map_err(io)
}

/// Reads a file written by [`write_predictions`].
pub fn read_predictions(path: &Path) -> Result<Vec<Prediction>, PredictionsError> {
    let text = std::fs::read_to_string(path).map_err(|source| PredictionsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    if header.split('\t').ne(HEADER) {
        return Err(PredictionsError::Header {
            path: path.to_path_buf(),
            found: header.to_string(),
        });
    }
    // Every line written ends in a newline: one that does not is the end of a cut-off file,
    // whose last row may look whole (`0.06133` of `0.061337`).
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(PredictionsError::Field {
            path: path.to_path_buf(),
            line: text.lines().count(),
            field: "logit",
            message: "the file ends mid-line: it was cut off".into(),
        });
    }
    let mut rows = Vec::new();
    for (index, line) in lines.enumerate() {
        let line_no = index + 2;
        let mut fields = line.split('\t');
        let mut next = |field: &'static str| {
            fields.next().ok_or_else(|| PredictionsError::Field {
                path: path.to_path_buf(),
                line: line_no,
                field,
                message: "missing".into(),
            })
        };
        let bad = |field: &'static str, value: &str, what: &str| PredictionsError::Field {
            path: path.to_path_buf(),
            line: line_no,
            field,
            message: format!("`{value}` is not {what}"),
        };
        let uid = next("uid")?;
        let iid = next("iid")?;
        let label = next("label")?;
        let warm = next("warm")?;
        let logit = next("logit")?;
        rows.push(Prediction {
            uid: uid.parse().map_err(|_| bad("uid", uid, "a user id"))?,
            iid: iid.parse().map_err(|_| bad("iid", iid, "an item id"))?,
            label: match label {
                "0" => 0,
                "1" => 1,
                _ => return Err(bad("label", label, "0 or 1")),
            },
            warm: match warm {
                "0" => false,
                "1" => true,
                _ => return Err(bad("warm", warm, "0 or 1")),
            },
            // A score that is not finite would poison every comparison and mean it is in:
            // refused here, where the file and line are known.
            logit: match logit.parse::<f32>() {
                Ok(v) if v.is_finite() => v,
                Ok(_) => return Err(bad("logit", logit, "finite")),
                Err(_) => return Err(bad("logit", logit, "a number")),
            },
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictions_read_back_to_the_same_bits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("predictions/valid.tsv");
        let rows = vec![
            Prediction {
                uid: 3,
                iid: 17,
                label: 1,
                warm: true,
                logit: -0.123_456_79,
            },
            Prediction {
                uid: 4,
                iid: 0,
                label: 0,
                warm: false,
                logit: 1.0e-30,
            },
            Prediction {
                uid: 4,
                iid: 9,
                label: 0,
                warm: false,
                logit: f32::MAX,
            },
        ];
        write_predictions(&path, &rows).unwrap();
        let back = read_predictions(&path).unwrap();
        assert_eq!(back, rows);
        assert!(back
            .iter()
            .zip(&rows)
            .all(|(a, b)| a.logit.to_bits() == b.logit.to_bits()));
        assert!(!path.with_extension("tsv.partial").exists());
    }

    #[test]
    fn a_bad_file_names_its_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.tsv");
        let check = |text: &str, expect: &str| {
            std::fs::write(&path, text).unwrap();
            let err = read_predictions(&path).unwrap_err().to_string();
            assert!(err.contains(expect), "{err} lacks {expect}");
            assert!(err.contains("p.tsv"), "{err}");
        };
        check("uid\titem\n", "the header must be");
        check(
            "uid\tiid\tlabel\twarm\tlogit\n1\t2\t1\t0\t0.5\n1\t3\t0\t0\t0.06",
            ":3: field `logit`: the file ends mid-line",
        );
        check(
            "uid\tiid\tlabel\twarm\tlogit\n1\t2\t1\t0\t0.5\n1\t2\t2\t0\t0.5\n",
            ":3: field `label`: `2` is not 0 or 1",
        );
        check(
            "uid\tiid\tlabel\twarm\tlogit\n1\t2\t1\t0\n",
            ":2: field `logit`: missing",
        );
        check(
            "uid\tiid\tlabel\twarm\tlogit\n1\t2\t1\t0\tabc\n",
            ":2: field `logit`: `abc` is not a number",
        );
        for value in ["NaN", "inf", "-inf"] {
            check(
                &format!("uid\tiid\tlabel\twarm\tlogit\n1\t2\t1\t0\t0.5\n1\t3\t0\t0\t{value}\n"),
                &format!(":3: field `logit`: `{value}` is not finite"),
            );
        }
    }
}
