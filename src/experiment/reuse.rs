//! `[reuse]`: parts of a CoLLM run taken from finished runs instead of trained again, and the
//! check that the source computed exactly what this run would.
//!
//! ```toml
//! [reuse]
//! cf = "261129-015103"      # the foundation, from a `cf` run or another `collm` run
//! stage1 = "261129-011202"  # stage 1 (text prompt, LoRA): TALLRec, shared by every CIE source
//! ```
//!
//! Ablations that differ only in their collaborative model share stage 1 (on 2 cores that stage
//! is 45 minutes of a CoLLM-MF run). Reused stages must come first. What a stage depends on must
//! agree in both experiments: the dataset, backbone, prompt, score, LoRA, seed and every stage up
//! to it; and, when one of those stages reads the ID slots or trains the mapping or the
//! foundation, `[model]`, `[training]`, `[collm.slots]` and the foundation's source too. The
//! foundation (`cf`) needs only the same dataset and `[model]`: how long it trained is the
//! source run's own business, and the run that takes it records the source's `[training]` as
//! its own (the recipe its foundation was trained by).

use std::collections::BTreeMap;

use collm_pipeline::{PipelineConfig, PromptKind, Trainable};

use super::Experiment;

/// The key naming the foundation.
pub const FOUNDATION: &str = "cf";

/// Where a stage's inputs name the run its foundation was taken from (empty: trained here).
const REUSE_CF: &str = "reuse.cf";

/// Stage name (or `cf`) to the run id (or unique id prefix) it is taken from.
pub type ReuseSpec = BTreeMap<String, String>;

/// Why a `collm` experiment has no foundation to give or to take.
const NO_FOUNDATION: &str = "trains no foundation (it names `cf_weights` or has no CIE)";

impl Experiment {
    /// Checks `[reuse]` against the experiment's own stages: `Err((key, message))`, the key of
    /// `[reuse]` at fault and why (none when the whole table is, the message then whole).
    pub fn check_reuse(&self) -> Result<(), (Option<String>, String)> {
        if self.reuse.is_empty() {
            return Ok(());
        }
        let Some(cfg) = self.pipeline() else {
            return Err((
                None,
                "[reuse] belongs to `kind = \"collm\"` experiments".into(),
            ));
        };
        let names = cfg.stage_names();
        let at = |key: &str, message: String| Err((Some(key.to_string()), message));
        for key in self.reuse.keys() {
            if key == FOUNDATION {
                if !super::trains_foundation(cfg) {
                    return at(key, format!("this experiment {NO_FOUNDATION}"));
                }
            } else if !names.contains(key) {
                return at(
                    key,
                    format!(
                        "no such stage (the stages are {}, and `cf` is the foundation)",
                        names.join(", ")
                    ),
                );
            }
        }
        let reused = self.reused_stages().len();
        if let Some(late) = names[reused..].iter().find(|n| self.reuse.contains_key(*n)) {
            return at(
                late,
                format!(
                    "a stage can be reused only after every stage before it ({} is trained \
                     here)",
                    names[reused]
                ),
            );
        }
        Ok(())
    }

    /// The names of the stages this run takes from other runs, in order.
    pub fn reused_stages(&self) -> Vec<String> {
        let Some(cfg) = &self.collm else {
            return Vec::new();
        };
        cfg.stage_names()
            .into_iter()
            .take_while(|n| self.reuse.contains_key(n))
            .collect()
    }

    /// `Ok` when `source` (the experiment of run `source_run`, named in `[reuse] key`) computed
    /// exactly what this experiment's `key` would; otherwise the first setting that differs.
    pub fn can_reuse_from(
        &self,
        key: &str,
        source: &Experiment,
        source_run: &str,
    ) -> Result<(), String> {
        let mine = self.inputs_of(key)?;
        let mut theirs = source
            .inputs_of(key)
            .map_err(|e| format!("the source run cannot provide `{key}`: {e}"))?;
        // A run whose foundation is taken from the source has the foundation the source trained
        // itself (`[reuse] cf = source` here, none there): the same one.
        let cf_source = |inputs: &toml::Value| {
            inputs
                .get(REUSE_CF)
                .and_then(toml::Value::as_str)
                .map(str::to_string)
        };
        if cf_source(&mine).as_deref() == Some(source_run)
            && cf_source(&theirs).as_deref() == Some("")
        {
            if let toml::Value::Table(t) = &mut theirs {
                t.insert(REUSE_CF.into(), toml::Value::String(source_run.into()));
            }
        }
        match first_difference(&mine, &theirs, "") {
            None => Ok(()),
            Some(path) => Err(format!("`{path}` differs")),
        }
    }

    /// Everything `key` (a stage name or `cf`) depends on, as one TOML table.
    fn inputs_of(&self, key: &str) -> Result<toml::Value, String> {
        let mut inputs = toml::Table::new();
        inputs.insert("dataset".into(), to_value(&self.dataset));
        if key == FOUNDATION {
            // A `collm` run without CIE slots (TALLRec) or with its CF weights from a file has
            // a `[model]` section but trained no foundation: nothing to take.
            if self
                .pipeline()
                .is_some_and(|cfg| !super::trains_foundation(cfg))
            {
                return Err(format!("it {NO_FOUNDATION}"));
            }
            inputs.insert("model".into(), to_value(&self.model));
            return Ok(toml::Value::Table(inputs));
        }
        let cfg = self
            .collm
            .as_ref()
            .ok_or("it is not a `collm` experiment")?;
        let index = cfg
            .stage_names()
            .iter()
            .position(|n| n == key)
            .ok_or_else(|| format!("it has no stage `{key}`"))?;
        let mut needed: PipelineConfig = cfg.clone();
        needed.stages.truncate(index + 1);
        // A cosine horizon written out equal to the budget is the default's: one schedule.
        for stage in &mut needed.stages {
            if stage.cosine_steps == Some(stage.max_steps) {
                stage.cosine_steps = None;
            }
        }
        // The prefix cache changes speed, never results.
        needed.prefix_cache = true;
        needed.prefix_cache_mb = 0;
        let reads_foundation = needed.stages.iter().any(|s| {
            s.prompt == PromptKind::Hybrid
                || s.trains(Trainable::Mapping)
                || s.trains(Trainable::Cf)
        });
        if reads_foundation {
            inputs.insert("model".into(), to_value(&self.model));
            inputs.insert("training".into(), to_value(&self.training));
            let cf_source = self.reuse.get(FOUNDATION).cloned().unwrap_or_default();
            inputs.insert(REUSE_CF.into(), toml::Value::String(cf_source));
        } else {
            needed.slots = Default::default();
        }
        inputs.insert("llm".into(), to_value(&self.llm));
        inputs.insert("collm".into(), to_value(&needed));
        Ok(toml::Value::Table(inputs))
    }
}

fn to_value<T: serde::Serialize>(value: &T) -> toml::Value {
    // Experiment sections are plain tables: serialising them cannot fail.
    toml::Value::try_from(value).unwrap_or(toml::Value::String("<unserialisable>".into()))
}

/// The dotted path of the first place where `a` and `b` differ, if any.
fn first_difference(a: &toml::Value, b: &toml::Value, at: &str) -> Option<String> {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match (a, b) {
        (toml::Value::Table(x), toml::Value::Table(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(u), Some(v)) => first_difference(u, v, &join(k)),
                _ => Some(join(k)),
            })
        }
        (toml::Value::Array(x), toml::Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{at} (length {} against {})", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                // Spelt as `--set` takes the key: `collm.stages.0.lr`.
                .find_map(|(i, (u, v))| first_difference(u, v, &format!("{at}.{i}")))
        }
        _ => (a != b).then(|| at.to_string()),
    }
}
