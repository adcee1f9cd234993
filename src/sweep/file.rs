//! Sweep files: a sweep written down beside the experiments (`experiments/sweeps/`), so the
//! search behind a reported number is kept in the repository, not in shell history.
//!
//! ```toml
//! experiment = "../mf-ml1m.toml"   # the experiment swept, relative to this file
//! select = "valid_small"           # optional, as `collm sweep --select`
//! report = "valid"                 # optional, as `--report`
//! share = true                     # optional: CoLLM points take stages an earlier point computed
//!
//! [set]                            # settings changed for every point, as `--set`
//! training.max_epochs = 1000
//!
//! [grid]                           # one axis per key, every combination (the first slowest)
//! training.lr = [1e-2, 1e-3, 1e-4]
//! model.dim = [64, 256]
//!
//! [seeds]                          # repeats of every setting, averaged in the summary
//! training.seed = [2023, 1]
//! ```
//!
//! A key may be written dotted (`training.lr`) or quoted (`"collm.stages.1.lr"`): both name
//! the setting as `collm compare` lists it. Unknown keys are refused with the file and line.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::{Table, Value};

use super::Axis;
use crate::experiment::settings::{canonical_key, flatten_table_counted, same_value};
use crate::experiment::{ExperimentError, Override};

/// A sweep file as read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    experiment: PathBuf,
    select: Option<String>,
    report: Option<String>,
    share: Option<bool>,
    #[serde(default)]
    set: Table,
    #[serde(default)]
    grid: Table,
    #[serde(default)]
    seeds: Table,
}

/// A sweep file, its keys made into the settings, axes and choices of `collm sweep`.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepFile {
    /// The experiment file, absolute.
    pub experiment: PathBuf,
    pub select: Option<String>,
    pub report: Option<String>,
    pub share: Option<bool>,
    pub set: Vec<Override>,
    /// The grid's axes, then the seeds'.
    pub axes: Vec<Axis>,
}

impl SweepFile {
    /// Whether `text` is a sweep file rather than an experiment: only sweep files name an
    /// `experiment` (experiment files refuse that key).
    pub fn is_sweep(text: &str) -> bool {
        // A sweep file that forgot its `experiment` is still one: it has a sweep's sections.
        text.parse::<Table>().is_ok_and(|t| {
            t.get("experiment").is_some_and(Value::is_str)
                || ["set", "grid", "seeds"].iter().any(|k| t.contains_key(*k))
        })
    }

    /// When a setting of the sweep file at `path` (`text`), one of `keys` (those it answers
    /// for), is what made its experiment invalid: that error again, located at the key in the
    /// sweep file.
    pub fn blame(
        text: &str,
        path: &Path,
        keys: &[String],
        error: &ExperimentError,
    ) -> Option<ExperimentError> {
        let ExperimentError::Override {
            path: experiment,
            set,
            message,
        } = error
        else {
            return None;
        };
        let key = set.split('=').next()?.trim();
        if !keys.iter().any(|k| k == key) {
            return None;
        }
        ["set", "grid", "seeds"].into_iter().find_map(|section| {
            let line = line_of(text, section, key).filter(|(_, l)| !l.trim().starts_with('['))?;
            let message = format!(
                "[{section}] {key}: with `{set}`, experiment {}: {message}",
                experiment.display()
            );
            Some(at_line(path, Some(line), message))
        })
    }

    pub fn parse(text: &str, path: &Path) -> Result<SweepFile, ExperimentError> {
        let raw: Raw = toml::from_str(text)
            .map_err(|err| ExperimentError::from_toml(path.to_path_buf(), text, err))?;
        let invalid = |section: &str, key: &str, message: String| {
            at_line(
                path,
                line_of(text, section, key),
                format!("[{section}] {key}: {message}"),
            )
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let experiment = base.join(&raw.experiment);
        let experiment = std::path::absolute(&experiment).unwrap_or(experiment);
        // One setting per key across the three sections: a second would silently drop one.
        let mut seen: Vec<(String, &str)> = Vec::new();
        let mut flat = Vec::new();
        for (section, table) in [
            ("set", &raw.set),
            ("grid", &raw.grid),
            ("seeds", &raw.seeds),
        ] {
            let (keys, twice) = flatten_table_counted(table);
            if let Some(key) = twice.first() {
                let message = "written twice (two spellings of one setting); keep one";
                return Err(invalid(section, key, message.into()));
            }
            for key in keys.keys() {
                if let Some((_, first)) = seen.iter().find(|(k, _)| k == key) {
                    let message =
                        format!("is in [{first}] too; a setting is set, swept or seeded once");
                    return Err(invalid(section, key, message));
                }
                seen.push((key.clone(), section));
            }
            flat.push(keys);
        }
        let [set, grid, seeds] = <[_; 3]>::try_from(flat).expect("three sections");
        let set = set
            .into_iter()
            .map(|(key, value)| Override { key, value })
            .collect();
        let mut axes = Vec::new();
        for (section, table, replicate) in [("grid", grid, false), ("seeds", seeds, true)] {
            for (key, value) in table {
                let values = match value {
                    Value::Array(values) if !values.is_empty() => values,
                    _ => {
                        return Err(invalid(
                            section,
                            &key,
                            "give a list of values, e.g. [1e-2, 1e-3]".into(),
                        ))
                    }
                };
                if replicate {
                    Axis::check_seed_key(&key).map_err(|e| invalid(section, &key, e))?;
                }
                if values
                    .iter()
                    .enumerate()
                    .any(|(i, v)| values[..i].iter().any(|w| same_value(w, v)))
                {
                    return Err(invalid(section, &key, "a value is listed twice".into()));
                }
                axes.push(Axis {
                    key,
                    values,
                    replicate,
                });
            }
        }
        // The flattened tables are in key order; the axes vary in the order the file writes
        // them (the first slowest), as `--grid` flags do in theirs.
        let written_at = |axis: &Axis| {
            let section = if axis.replicate { "seeds" } else { "grid" };
            (
                axis.replicate,
                line_of(text, section, &axis.key).map(|(n, _)| n),
            )
        };
        axes.sort_by_key(written_at);
        Ok(SweepFile {
            experiment,
            select: raw.select,
            report: raw.report,
            share: raw.share,
            set,
            axes,
        })
    }
}

/// The 1-based line where the sweep file `text` sets the top-level `key` (`select`, `report`).
pub fn top_level_line(text: &str, key: &str) -> Option<usize> {
    line_of(text, "", key).map(|(n, _)| n)
}

/// An error in the sweep file at `path`, at a line found by [`line_of`] (column 1), if any.
fn at_line(path: &Path, line: Option<(usize, &str)>, message: String) -> ExperimentError {
    ExperimentError::Parse {
        path: path.to_path_buf(),
        line: line.map(|(n, _)| n),
        column: line.map(|_| 1),
        message,
        source_line: line.map(|(_, l)| l.to_string()),
    }
}

/// The 1-based line (and its text) where `[section]` (`""`: the top level) sets the dotted
/// `key`, written dotted or quoted, in any spelling of its indices; else the section's header
/// line. Found by the TOML parser's spans, so a multi-line value (an axis's values one to a line)
/// or a string holding `[` is no header.
fn line_of<'t>(text: &'t str, section: &str, key: &str) -> Option<(usize, &'t str)> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let table = match section {
        "" => doc.as_table(),
        name => doc.get(name)?.as_table()?,
    };
    let offset = key_span(table, "", key).or_else(|| table.span().map(|s| s.start))?;
    let n = text[..offset].matches('\n').count();
    Some((n + 1, text.lines().nth(n).unwrap_or_default()))
}

/// Where `table` sets `key` (`prefix` the dotted path to it), looking into dotted keys
/// (`training.lr = ...` is a table `training` holding `lr`).
fn key_span(table: &toml_edit::Table, prefix: &str, key: &str) -> Option<usize> {
    table.iter().find_map(|(name, item)| {
        let path = match prefix {
            "" => name.to_string(),
            _ => format!("{prefix}.{name}"),
        };
        if canonical_key(&path) == key {
            return table.key(name)?.span().map(|s| s.start);
        }
        let dotted = item.as_table().filter(|t| t.is_dotted())?;
        key_span(dotted, &path, key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"experiment = "../mf.toml"
select = "valid_small:uauc"

[set]
training.max_epochs = 10
"evaluation.splits" = ["valid", "valid_small"]

[grid]
training.lr = [1e-2, 1e-3]
"collm.stages.1.lr" = [0.5]

[seeds]
training.seed = [1, 2]
"#;

    #[test]
    fn dotted_and_quoted_keys_name_the_same_settings() {
        assert!(SweepFile::is_sweep(FILE));
        assert!(!SweepFile::is_sweep("name = \"x\"\n[training]\nlr = 1.0\n"));
        let s = SweepFile::parse(FILE, Path::new("/e/sweeps/s.toml")).unwrap();
        assert_eq!(s.experiment, Path::new("/e/sweeps/../mf.toml"));
        assert_eq!(s.select.as_deref(), Some("valid_small:uauc"));
        assert_eq!(s.share, None);
        let set: Vec<String> = s.set.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            set,
            [
                "evaluation.splits=[valid, valid_small]",
                "training.max_epochs=10"
            ]
        );
        let axes: Vec<(&str, usize, bool)> = s
            .axes
            .iter()
            .map(|a| (a.key.as_str(), a.values.len(), a.replicate))
            .collect();
        assert_eq!(
            axes,
            [
                ("training.lr", 2, false),
                ("collm.stages.1.lr", 1, false),
                ("training.seed", 2, true)
            ],
            "the file's order, not the keys'"
        );
    }

    #[test]
    fn bad_sweep_files_name_the_file_and_the_key() {
        // After `experiment = "x.toml"`, and what the error must say.
        let cases = [
            ("gird = 1\n", "/e/s.toml:2:1: unknown field `gird`"),
            (
                "[grid]\ntraining.lr = 0.1\n",
                "/e/s.toml:3:1: [grid] training.lr: give a list of values",
            ),
            (
                "[seeds]\n\"seed\" = [1, 1]\n",
                "/e/s.toml:3:1: [seeds] seed: a value is listed twice",
            ),
            (
                "[grid]\ntraining.lr = [1, 1.0]\n",
                "/e/s.toml:3:1: [grid] training.lr: a value is listed twice",
            ),
            (
                "[grid]\n\"training.lr\" = [1e-2]\ntraining.lr = [1e-4]\n",
                "/e/s.toml:3:1: [grid] training.lr: written twice",
            ),
            (
                "[seeds]\ntraining.lr = [1e-2, 1e-3]\n",
                "/e/s.toml:3:1: [seeds] training.lr: training.lr is not a seed",
            ),
            (
                "[set]\ntraining.lr = 1e-2\n[grid]\ntraining.lr = [1e-3]\n",
                "/e/s.toml:5:1: [grid] training.lr: is in [set] too",
            ),
            // An axis's values one to a line, a value a list: no line of it is a header.
            (
                "[grid]\n\"collm.stages.0.train\" = [\n  [\"lora\"],\n  [\"lora\", \"mapping\"],\n]\n\
                 training.lr = 0.1\n",
                "/e/s.toml:7:1: [grid] training.lr: give a list of values",
            ),
        ];
        for (rest, want) in cases {
            let text = format!("experiment = \"x.toml\"\n{rest}");
            let err = SweepFile::parse(&text, Path::new("/e/s.toml")).unwrap_err();
            assert!(err.to_string().contains(want), "{err}");
        }
    }

    #[test]
    fn shipped_sweeps_parse_and_every_point_is_a_valid_experiment() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("experiments/sweeps");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(SweepFile::is_sweep(&text), "{}", path.display());
            let sweep = SweepFile::parse(&text, &path).unwrap_or_else(|e| panic!("{e}"));
            let base = std::fs::read_to_string(&sweep.experiment).unwrap();
            let points = super::super::grid("x", &sweep.axes, &[]);
            assert!(points.len() > 1, "{}", path.display());
            for point in points {
                let all: Vec<Override> =
                    sweep.set.iter().chain(&point.overrides).cloned().collect();
                let e = crate::experiment::overrides::load_with(&base, &sweep.experiment, &all)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let splits = &e.evaluation.splits;
                for split in [&sweep.select, &sweep.report].into_iter().flatten() {
                    let split = split.split(':').next().unwrap();
                    assert!(
                        splits.iter().any(|s| s == split),
                        "{}: {split}",
                        path.display()
                    );
                }
            }
            seen += 1;
        }
        assert!(seen >= 2);
    }
}
