//! Settings given on the command line (`--set training.lr=1e-3`): parsed, written into the
//! experiment file's TOML at their dotted keys, and named when the result is not a valid
//! experiment.

use std::path::Path;
use std::str::FromStr;

use toml::{Table, Value};

use super::settings::{self, Missing};
use super::{Experiment, ExperimentError};

/// One `KEY=VALUE`: a dotted key as `collm compare` lists settings (`collm.stages.1.lr`) and a
/// TOML value (`1e-3`, `true`, `["valid"]`, `"text"`); a value that is not TOML is a string, so
/// `model.kind=lightgcn` needs no quotes.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub key: String,
    pub value: Value,
}

impl Override {
    pub fn new(key: &str, value: &str) -> Result<Override, String> {
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("`{key}={value}`: the key is empty"));
        }
        Ok(Override {
            key: settings::canonical_key(key),
            value: parse_value(value),
        })
    }

    /// `lr=1e-3`: the key's last part and the value as tables show it.
    pub fn label(&self) -> String {
        let leaf = self.key.rsplit('.').next().unwrap_or(&self.key);
        format!("{leaf}={}", settings::show(&self.value))
    }
}

impl std::fmt::Display for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Echoed in messages: a control character typed into a value (an escape sequence)
        // is shown escaped, not sent to the terminal.
        let shown = format!("{}={}", self.key, settings::show(&self.value));
        for c in shown.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                std::fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

impl FromStr for Override {
    type Err = String;

    fn from_str(text: &str) -> Result<Override, String> {
        let (key, value) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: expected KEY=VALUE, e.g. training.lr=1e-3"))?;
        Override::new(key, value)
    }
}

/// Refuses a key given twice on one command line (`--set training.lr=1e-2 --set
/// training.lr=1e-3`): one of the two is a slip, and which one was meant cannot be told, so
/// neither silently wins.
pub fn refuse_repeats(sets: &[Override]) -> Result<(), String> {
    for (i, later) in sets.iter().enumerate() {
        if let Some(first) = sets[..i].iter().find(|o| o.key == later.key) {
            return Err(format!(
                "--set {} is given twice ({}, then {}); keep one",
                later.key,
                settings::show(&first.value),
                settings::show(&later.value)
            ));
        }
    }
    Ok(())
}

/// A value as TOML reads it, else the text itself as a string. Text that reads as a value
/// followed by more TOML (`1e-3\n[foo]\nx=1`) is a string too, so the setting's check
/// refuses it rather than the rest being dropped unseen.
pub fn parse_value(text: &str) -> Value {
    let text = text.trim();
    format!("v = {text}")
        .parse::<Table>()
        .ok()
        .filter(|t| t.len() == 1)
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(text.to_string()))
}

/// The experiment file `text` (read from `origin`) with `overrides` written in, in order, and
/// parsed. When the result is not a valid experiment, the first override that made it invalid
/// is named with the parser's reason.
pub fn load_with(
    text: &str,
    origin: &Path,
    overrides: &[Override],
) -> Result<Experiment, ExperimentError> {
    if overrides.is_empty() {
        return Experiment::from_toml(text, origin);
    }
    // Each replaces the other (below), so both on one command line would drop one unsaid.
    let at = |key: &str| overrides.iter().rposition(|o| o.key == key);
    if let (Some(path), Some(source)) = (at("dataset.path"), at("dataset.source")) {
        return Err(ExperimentError::Override {
            path: origin.to_path_buf(),
            set: overrides[path.max(source)].to_string(),
            message: "dataset.path and dataset.source are one choice (a folder, or the \
                      embedded default): set one"
                .into(),
        });
    }
    let written = |upto: usize| -> Result<Table, ExperimentError> {
        let mut table: Table = text
            .parse()
            .map_err(|err| ExperimentError::from_toml(origin.to_path_buf(), text, err))?;
        for o in &overrides[..upto] {
            // A CoLLM setting on a foundation-only experiment would add a `[collm]` that
            // lacks its stages, which the parser reports as just that.
            let section = o.key.split('.').next().unwrap_or_default();
            let collm = table.get("kind").and_then(Value::as_str) == Some("collm");
            if ["collm", "llm"].contains(&section) && !collm {
                return Err(ExperimentError::Override {
                    path: origin.to_path_buf(),
                    set: o.to_string(),
                    message: format!(
                        "[{section}] settings belong to `kind = \"collm\"` experiments, and \
                         this one trains a collaborative model alone"
                    ),
                });
            }
            settings::set_path(&mut table, &o.key, o.value.clone(), Missing::Add).map_err(
                |reason| ExperimentError::Override {
                    path: origin.to_path_buf(),
                    set: o.to_string(),
                    message: reason,
                },
            )?;
            // A dataset is a folder or the embedded default, one of two keys: setting either
            // replaces the other (the file's, which would otherwise make both).
            let other = match o.key.as_str() {
                "dataset.path" => Some("source"),
                "dataset.source" => Some("path"),
                _ => None,
            };
            if let (Some(other), Some(Value::Table(dataset))) = (other, table.get_mut("dataset")) {
                dataset.remove(other);
            }
        }
        Ok(table)
    };
    // The file alone must be valid, so a failure below is the overrides'.
    Experiment::from_toml(text, origin)?;
    let table = written(overrides.len())?;
    Experiment::from_toml(&table.to_string(), origin).map_err(|err| {
        // Blame the first override after which the text stops parsing (a later one may have
        // mended it, two settings that must agree, so only the whole list decides whether to
        // blame at all); looked for only now, as a valid list needs one parse.
        let first = (1..overrides.len()).find_map(|upto| {
            let prefix = written(upto).ok()?.to_string();
            Experiment::from_toml(&prefix, origin)
                .err()
                .map(|e| (upto - 1, reason_of(e)))
        });
        let (n, reason) = first.unwrap_or_else(|| (overrides.len() - 1, reason_of(err)));
        ExperimentError::Override {
            path: origin.to_path_buf(),
            set: overrides[n].to_string(),
            message: reason,
        }
    })
}

/// The parser's reason without the position: lines of the rewritten text mean nothing to the
/// person who typed `--set`.
fn reason_of(err: ExperimentError) -> String {
    match err {
        ExperimentError::Parse { message, .. } | ExperimentError::Invalid { message, .. } => {
            message
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "name = \"t\"\n[dataset]\nsource = \"embedded\"\n[model]\nkind = \"mf\"\ndim = 8\n[training]\nlr = 0.01\nweight_decay = 0.0\nbatch_size = 64\nmax_epochs = 2\npatience = 1\nseed = 1\n";

    fn load(sets: &[&str]) -> Result<Experiment, String> {
        let sets: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
        load_with(FILE, Path::new("/x/t.toml"), &sets).map_err(|e| e.to_string())
    }

    /// `--set dataset.path=DIR` on an experiment of the embedded default runs it on DIR, and
    /// `--set dataset.source=embedded` the reverse (both were refused as "needs exactly one").
    #[test]
    fn a_dataset_set_either_way_replaces_the_other() {
        let e = load(&["dataset.path=/data/mine"]).unwrap();
        assert_eq!(e.dataset.path.as_deref(), Some(Path::new("/data/mine")));
        let path_file = FILE.replace("source = \"embedded\"", "path = \"/data/mine\"");
        let set: Vec<Override> = vec!["dataset.source=embedded".parse().unwrap()];
        let e = load_with(&path_file, Path::new("/x/t.toml"), &set).unwrap();
        assert_eq!(e.dataset.path, None);
        let both = load(&["dataset.path=/data/mine", "dataset.source=embedded"]).unwrap_err();
        assert!(both.contains("are one choice"), "{both}");
    }

    #[test]
    fn values_are_toml_or_else_strings() {
        assert_eq!(parse_value("1e-3"), Value::Float(1e-3));
        assert_eq!(parse_value(" 7 "), Value::Integer(7));
        assert_eq!(parse_value("true"), Value::Boolean(true));
        assert_eq!(parse_value("lightgcn"), Value::String("lightgcn".into()));
        assert_eq!(parse_value("\"a b\""), Value::String("a b".into()));
        assert_eq!(
            parse_value("[\"valid\", \"valid_small\"]"),
            Value::Array(vec![
                Value::String("valid".into()),
                Value::String("valid_small".into())
            ])
        );
        // More TOML after the value is not dropped unseen: the whole text is the value.
        let smuggled = "1e-3\n[foo]\nx = 1";
        assert_eq!(parse_value(smuggled), Value::String(smuggled.into()));
        assert!(load(&["training.lr=1e-3\n[foo]\nx = 1"]).is_err());
        assert!("training.lr".parse::<Override>().is_err());
        assert!("=1".parse::<Override>().is_err());
        // Echoed in messages with control characters escaped, not sent to the terminal.
        let o: Override = "description=x\u{1b}]0;T\u{7}y".parse().unwrap();
        assert_eq!(o.to_string(), "description=x\\u{1b}]0;T\\u{7}y");
        let o: Override = "collm.stages.1.lr=1e-3".parse().unwrap();
        assert_eq!(o.label(), "lr=1e-3");
        assert_eq!(o.to_string(), "collm.stages.1.lr=1e-3");
    }

    #[test]
    fn overrides_change_written_and_default_settings() {
        let e = load(&["training.lr=1e-3", "model.init_std=0.1", "model.dim=16"]).unwrap();
        assert_eq!(e.training.lr, 1e-3);
        assert_eq!(
            e.model.init_std,
            Some(0.1),
            "a setting the file leaves at its default"
        );
        assert_eq!(e.model.dim, 16);
        // An integer where the file has a float stays a float.
        assert_eq!(load(&["training.lr=1"]).unwrap().training.lr, 1.0);
        // A whole new table.
        let e = load(&["evaluation.rows=100"]).unwrap();
        assert_eq!(e.evaluation.rows, Some(100));
    }

    #[test]
    fn a_key_set_twice_is_refused() {
        let sets: Vec<Override> = ["training.lr=1e-2", "model.dim=8", "training.lr=1e-3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let err = refuse_repeats(&sets).unwrap_err();
        assert_eq!(
            err,
            "--set training.lr is given twice (0.01, then 1e-3); keep one"
        );
        assert_eq!(refuse_repeats(&sets[..2]), Ok(()));
        // Two spellings of one index are one key.
        let sets: Vec<Override> = ["collm.stages.0.lr=1e-2", "collm.stages.+00.lr=1e-3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(refuse_repeats(&sets)
            .unwrap_err()
            .contains("collm.stages.0.lr is given twice"));
    }

    #[test]
    fn a_bad_override_is_named_with_the_reason() {
        let err = load(&["training.lr=1e-3", "training.lrr=1e-3"]).unwrap_err();
        assert!(
            err.starts_with("/x/t.toml with `training.lrr=1e-3`:"),
            "{err}"
        );
        assert!(err.contains("lrr"), "{err}");
        let err = load(&["training.batch_size=big"]).unwrap_err();
        assert!(err.contains("`training.batch_size=big`"), "{err}");
        let err = load(&["training.lr.x=1"]).unwrap_err();
        assert!(err.contains("not a table"), "{err}");
        // An unknown section too: the parser rejects it, named by its override.
        let err = load(&["trainig.lr=1"]).unwrap_err();
        assert!(
            err.contains("`trainig.lr=1`: unknown field `trainig`"),
            "{err}"
        );
        // A CoLLM setting on a foundation-only experiment says so, not "missing `stages`".
        for set in ["collm.seed=3", "llm.backbone=x"] {
            let err = load(&[set]).unwrap_err();
            assert!(
                err.contains(&format!("`{set}`: [")) && err.contains("] settings belong to"),
                "{err}"
            );
        }
    }
}
