//! Experiment files: one TOML file describes a run (dataset, model, training, evaluation,
//! device), and every unknown key, missing key or bad value is reported with file, line and key.
//!
//! ```toml
//! name = "mf-ml1m"
//! description = "..."          # optional
//! kind = "cf"                  # optional: "cf" (a collaborative model alone) or "collm"
//! device = "cpu"               # "auto" | "cpu" | "cuda:N" (`collm run --device` overrides it)
//! dtype = "auto"               # the LLM's precision: "auto" (f32 on the CPU, bf16 on a GPU),
//!                              # "f32" or "bf16"; LoRA, CIE, optimizer and loss stay f32
//!
//! [dataset]
//! path = "../../shared/data/ml-1m-collm"   # relative to this file; or: source = "embedded"
//!
//! [model]                      # collm_cf::CfModelConfig
//! kind = "mf"
//! dim = 256
//!
//! [training]                   # collm_cf::CfTrainConfig
//! lr = 1e-3
//! weight_decay = 1e-4
//! batch_size = 2048
//! max_epochs = 5000
//! patience = 100
//! seed = 2023
//!
//! [evaluation]                 # splits scored with the best weights at the end
//! splits = ["valid", "valid_small"]
//! rows = 2000                  # optional: a seeded sample of each split (CPU budgets)
//! ranking = { k = 10, negatives = 100 }   # optional: Recall@K / NDCG@K, sampled negatives
//! ```
//!
//! A `kind = "collm"` experiment adds two sections (see `experiments/collm-mf-ml1m.toml`):
//!
//! ```toml
//! [llm]
//! backbone = "smollm2-135m"    # a registered model name, a GGUF file / Hugging Face folder,
//!                              # or "tiny-random" (the built-in tiny model, for smoke tests)
//!
//! [collm]                      # collm_pipeline::PipelineConfig: prompts, score, LoRA, slots,
//! [[collm.stages]]             # and one table per stage (stage1 text/LoRA, stage2 hybrid/CIE)
//! ```
//!
//! There `[model]` and `[training]` describe the collaborative foundation that feeds the CIE: it
//! is trained first, as stage `cf` of the same run, unless `[collm.slots] cf_weights` names
//! pretrained weights. `[collm.slots] cf` is taken from `[model]`.
//!
//! A loaded experiment is self-contained: a relative dataset path is made absolute, so
//! [`Experiment::to_toml`] is "the experiment as run" that the store keeps and `collm eval`
//! re-reads.

mod error;
mod inputs;
pub mod overrides;
mod reuse;
pub mod settings;

use std::path::{Path, PathBuf};

use collm_cf::{CfModelConfig, CfTrainConfig};
use collm_data::{DataError, Dataset};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

pub use collm_llm::{DTypeSpec, DeviceSpec};
pub use error::ExperimentError;
pub use overrides::Override;
pub use reuse::{ReuseSpec, FOUNDATION};

/// The experiment a fresh install can run without any file or download (MF on the embedded
/// ml-latest-small); the same text as `experiments/mf-default.toml`.
pub const DEFAULT_EXPERIMENT: &str = include_str!("../../experiments/mf-default.toml");
/// Its name.
pub const DEFAULT_EXPERIMENT_NAME: &str = "mf-default";

/// What an experiment trains: one struct with optional sections per kind (`[llm]` and
/// `[collm]` for `collm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExperimentKind {
    /// A collaborative model alone (MF, LightGCN, SASRec, DIN).
    #[default]
    Cf,
    /// CoLLM (and TALLRec and the ablations): an LLM with LoRA and the CIE, in stages.
    Collm,
}

impl ExperimentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ExperimentKind::Cf => "cf",
            ExperimentKind::Collm => "collm",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Defaults to the file name without `.toml`.
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub kind: ExperimentKind,
    #[serde(default)]
    pub device: DeviceSpec,
    /// The LLM backbone's precision (kind `collm` only; collaborative models run in f32).
    #[serde(default, skip_serializing_if = "is_auto")]
    pub dtype: DTypeSpec,
    #[serde(deserialize_with = "checked")]
    pub dataset: DatasetSpec,
    #[serde(deserialize_with = "checked")]
    pub model: CfModelConfig,
    #[serde(deserialize_with = "checked")]
    pub training: CfTrainConfig,
    #[serde(default, deserialize_with = "checked")]
    pub evaluation: EvaluationSpec,
    /// The LLM backbone (kind `collm` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmSpec>,
    /// The CoLLM pipeline (kind `collm` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collm: Option<collm_pipeline::PipelineConfig>,
    /// Stages (and the foundation, `cf`) taken from finished runs instead of trained (kind
    /// `collm` only); see [`reuse`].
    #[serde(default, skip_serializing_if = "ReuseSpec::is_empty")]
    pub reuse: ReuseSpec,
}

/// `[llm]`: which backbone a `collm` experiment tunes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSpec {
    /// A model name known to `collm model` (pulled on first use), or a path to a GGUF file or a
    /// Hugging Face folder (relative to the experiment file).
    #[serde(default = "default_backbone")]
    pub backbone: String,
}

fn default_backbone() -> String {
    collm_llm::hub::DEFAULT_MODEL.to_string()
}

impl LlmSpec {
    /// Whether `backbone` names a file or folder (made absolute on reading) rather than a
    /// model known to `collm model`: it has a folder or the GGUF extension in it.
    pub fn names_a_path(&self) -> bool {
        self.backbone.contains('/') || self.backbone.ends_with(".gguf")
    }
}

/// `[dataset]`: exactly one of `path` and `source`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// A folder in the CoLLM TSV layout, relative to the experiment file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DatasetSource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetSource {
    /// The built-in ml-latest-small, imported into `$COLLM_HOME/data` on first use.
    Embedded,
}

/// `[evaluation]`: what the best weights are scored on when training ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluationSpec {
    #[serde(default = "default_splits")]
    pub splits: Vec<String>,
    /// Also rank each positive row against sampled negatives (Recall@K, NDCG@K).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking: Option<RankingSpec>,
    /// Score at most this many rows of each split: a sample drawn with [`EVAL_SAMPLE_SEED`], the
    /// same for every experiment (so runs compare on the same rows); all rows when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
}

fn default_splits() -> Vec<String> {
    vec!["valid".to_string()]
}

impl Default for EvaluationSpec {
    fn default() -> Self {
        EvaluationSpec {
            splits: default_splits(),
            ranking: None,
            rows: None,
        }
    }
}

/// `ranking = { k = 10, negatives = 100 }`: the protocol of `collm_eval::ranking`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankingSpec {
    #[serde(default = "default_k")]
    pub k: usize,
    #[serde(default = "default_negatives")]
    pub negatives: usize,
    /// Seeds the negative sampling, so every model is ranked against the same candidates.
    #[serde(default = "default_ranking_seed")]
    pub seed: u64,
}

fn default_k() -> usize {
    10
}

fn default_negatives() -> usize {
    collm_eval::ranking::DEFAULT_NEGATIVES
}

/// The seed of `[evaluation] rows`'s sample: one for every experiment, so that runs of
/// different settings score the same rows.
pub const EVAL_SAMPLE_SEED: u64 = 2023;

fn default_ranking_seed() -> u64 {
    2023
}

/// A section whose values are checked as it is read, so a range error carries the section's
/// position like a syntax error does.
trait Check {
    fn check(&self) -> Result<(), String>;
}

impl Check for CfModelConfig {
    fn check(&self) -> Result<(), String> {
        self.validate().map_err(|e| cf_setting("model", e))
    }
}

impl Check for CfTrainConfig {
    fn check(&self) -> Result<(), String> {
        self.validate().map_err(|e| cf_setting("training", e))
    }
}

/// A collaborative model's setting error with its key spelt as `--set` takes it
/// (`training.lr`), not the section's own field name.
pub(crate) fn cf_setting(section: &str, e: collm_cf::CfError) -> String {
    match e {
        collm_cf::CfError::Config { field, message } => {
            format!("invalid setting `{section}.{field}`: {message}")
        }
        other => other.to_string(),
    }
}

impl Check for DatasetSpec {
    fn check(&self) -> Result<(), String> {
        match (&self.path, &self.source) {
            (Some(path), None) if path.as_os_str().is_empty() => {
                Err("[dataset] field `path`: is empty; name the dataset's folder".into())
            }
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err(
                "[dataset] needs exactly one of `path = \"<folder>\"` and `source = \"embedded\"`"
                    .into(),
            ),
        }
    }
}

impl Check for EvaluationSpec {
    fn check(&self) -> Result<(), String> {
        if self.splits.is_empty() {
            return Err("[evaluation] field `splits`: name at least one split".into());
        }
        if self.rows == Some(0) {
            return Err("[evaluation] field `rows`: must be at least 1 when given".into());
        }
        if let Some(r) = &self.ranking {
            if r.k == 0 || r.negatives == 0 {
                return Err(
                    "[evaluation] field `ranking`: `k` and `negatives` must be at least 1".into(),
                );
            }
        }
        Ok(())
    }
}

fn checked<'de, D: Deserializer<'de>, T: Deserialize<'de> + Check>(d: D) -> Result<T, D::Error> {
    let value = T::deserialize(d)?;
    value.check().map_err(D::Error::custom)?;
    Ok(value)
}

/// `--device` / `--dtype` from a command line: each one given replaces the experiment's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct Placement {
    /// Where to compute: `auto` (a GPU when this build has CUDA and one answers, else the
    /// CPU), `cpu` or `cuda:N`. Default: the experiment's `device`.
    #[arg(long)]
    pub device: Option<DeviceSpec>,
    /// The LLM's precision: `auto` (f32 on the CPU, bf16 on a GPU), `f32` or `bf16`.
    /// Default: the experiment's `dtype`.
    #[arg(long)]
    pub dtype: Option<DTypeSpec>,
}

fn is_auto(dtype: &DTypeSpec) -> bool {
    *dtype == DTypeSpec::Auto
}

impl Experiment {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pipeline of a `kind = "collm"` experiment.
    pub fn pipeline(&self) -> Option<&collm_pipeline::PipelineConfig> {
        self.collm
            .as_ref()
            .filter(|_| self.kind == ExperimentKind::Collm)
    }

    /// Applies command-line overrides; true when one changed something.
    pub fn place(&mut self, placement: Placement) -> bool {
        let before = (self.device, self.dtype);
        self.device = placement.device.unwrap_or(self.device);
        self.dtype = placement.dtype.unwrap_or(self.dtype);
        before != (self.device, self.dtype)
    }

    /// The device this experiment runs on (`device`), opened.
    pub fn resolve_device(&self) -> Result<candle_core::Device, ExperimentError> {
        self.device
            .resolve()
            .map_err(|err| ExperimentError::Device(err.to_string()))
    }

    /// Reads and checks an experiment file.
    pub fn load(path: &Path) -> Result<Experiment, ExperimentError> {
        Experiment::load_with(path, &[])
    }

    /// Reads an experiment file, writes `overrides` (`--set`) into it, and checks the result.
    pub fn load_with(path: &Path, overrides: &[Override]) -> Result<Experiment, ExperimentError> {
        let text = read_text(path)?;
        overrides::load_with(&text, path, overrides)
    }

    /// The experiment a stored run was started with, read through today's parser. Messages
    /// name it `<experiment of run ID>`: it has no file of its own.
    pub fn of_run(record: &collm_store::RunRecord) -> Result<Experiment, ExperimentError> {
        let origin = PathBuf::from(format!("<experiment of run {}>", record.id));
        Experiment::parse(&record.experiment, &origin)
    }

    /// Parses `text` as if read from `origin` (for messages, the default name and relative
    /// dataset paths).
    pub fn from_toml(text: &str, origin: &Path) -> Result<Experiment, ExperimentError> {
        let experiment = Experiment::parse(text, origin)?;
        experiment.check_new_input(text, origin)?;
        Ok(experiment)
    }

    /// The rules for an experiment a person writes now, beyond those every stored run's
    /// experiment met when it ran: `of_run` does not apply them, so that runs an older version
    /// accepted stay readable, comparable and resumable.
    fn check_new_input(&self, text: &str, origin: &Path) -> Result<(), ExperimentError> {
        let at = |key: &str, message: String| {
            let message = format!("invalid setting `{key}`: {message}");
            ExperimentError::at_key(origin.to_path_buf(), text, key, message)
        };
        // Printed on one line of a table or the terminal, where a control character (a
        // newline, an escape sequence) would break the row or recolour the screen; invisible
        // format characters (a right-to-left override, a zero-width space) make one name look
        // like another.
        let hidden = |c: char| {
            // (Not the zero-width joiners U+200C and U+200D, which Persian, Indic scripts
            // and emoji need.)
            matches!(c, '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
        };
        for (key, value, allowed) in [
            ("name", &self.name, &[][..]),
            ("description", &self.description, &['\n', '\t'][..]),
        ] {
            if let Some(c) = value
                .chars()
                .find(|&c| (c.is_control() || hidden(c)) && !allowed.contains(&c))
            {
                let shown = c.escape_unicode();
                return Err(at(key, format!("holds the control character {shown}")));
            }
        }
        // A split listed twice would be scored twice and read as a setting that differs from
        // the same list written once (`collm compare` would show `[valid] vs [valid, valid]`).
        for (key, splits) in [
            ("evaluation.splits", &self.evaluation.splits),
            ("training.eval_splits", &self.training.eval_splits),
        ] {
            if let Some(split) = splits
                .iter()
                .enumerate()
                .find_map(|(i, s)| splits[..i].contains(s).then_some(s))
            {
                return Err(at(key, format!("`{split}` is listed twice")));
            }
        }
        // A positive ranks among itself and its negatives: with k above their count every
        // positive is in the top k, and recall@k is 1 whatever the model.
        if let Some(r) = self
            .evaluation
            .ranking
            .as_ref()
            .filter(|r| r.k > r.negatives)
        {
            let message = format!(
                "`k` ({}) must be at most `negatives` ({}), or every positive is in the top k",
                r.k, r.negatives
            );
            return Err(at("evaluation.ranking", message));
        }
        if let Err(collm_cf::CfError::Config { field, message }) = self.model.check_new_input() {
            return Err(at(&format!("model.{field}"), message));
        }
        match self.collm.as_ref().map(|c| c.check_new_input()) {
            Some(Err(e)) => Err(pipeline_error(e, text, origin)),
            _ => Ok(()),
        }
    }

    /// Parses `text` with the rules every stored experiment met (see `check_new_input`).
    fn parse(text: &str, origin: &Path) -> Result<Experiment, ExperimentError> {
        let mut experiment: Experiment = toml::from_str(text)
            .map_err(|err| ExperimentError::from_toml(origin.to_path_buf(), text, err))?;
        if experiment.name.trim().is_empty() {
            experiment.name = origin
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "experiment".to_string());
        }
        experiment.settle_collm(text, origin)?;
        // At the `[reuse]` key's line, when the file writes it (not a `--reuse` added later).
        experiment
            .check_reuse()
            .map_err(|(key, message)| match key {
                Some(key) => ExperimentError::at_key(
                    origin.to_path_buf(),
                    text,
                    &format!("reuse.{key}"),
                    format!("[reuse] {key}: {message}"),
                ),
                None => ExperimentError::Invalid {
                    path: origin.to_path_buf(),
                    message,
                },
            })?;
        if let Some(path) = experiment.dataset.path.as_mut() {
            if path.is_relative() {
                let base = origin.parent().unwrap_or(Path::new("."));
                let joined = base.join(&*path);
                *path = std::path::absolute(&joined).unwrap_or(joined);
            }
            // Tidy `a/b/../c` for the record, when the folder exists.
            if let Ok(canonical) = path.canonicalize() {
                *path = canonical;
            }
        }
        Ok(experiment)
    }

    /// Checks that the kind and the `[llm]`/`[collm]` sections agree, takes the CIE's CF model
    /// from `[model]`, makes the pipeline's file paths absolute and validates the pipeline.
    fn settle_collm(&mut self, text: &str, origin: &Path) -> Result<(), ExperimentError> {
        let invalid = |message: String| ExperimentError::Invalid {
            path: origin.to_path_buf(),
            message,
        };
        let base = origin.parent().unwrap_or(Path::new("."));
        let absolute = |p: &mut PathBuf| {
            if p.is_relative() {
                let joined = base.join(&*p);
                *p = std::path::absolute(&joined).unwrap_or(joined);
            }
        };
        match (self.kind, &mut self.collm) {
            (ExperimentKind::Cf, None) if self.llm.is_none() => Ok(()),
            (ExperimentKind::Cf, _) => Err(invalid(
                "[llm] and [collm] belong to `kind = \"collm\"` experiments".into(),
            )),
            (ExperimentKind::Collm, None) => Err(invalid(
                "`kind = \"collm\"` needs a [collm] section with its stages".into(),
            )),
            (ExperimentKind::Collm, Some(cfg)) => {
                match &cfg.slots.cf {
                    Some(cf) if cf != &self.model => {
                        return Err(invalid("[collm.slots] cf differs from [model]; leave it out, [model] is the CIE's CF model".into()))
                    }
                    _ => cfg.slots.cf = Some(self.model.clone()),
                }
                for p in [
                    &mut cfg.slots.cf_weights,
                    &mut cfg.prompt.text_template,
                    &mut cfg.prompt.hybrid_template,
                ]
                .into_iter()
                .flatten()
                {
                    absolute(p);
                }
                let llm = self.llm.get_or_insert_with(|| LlmSpec {
                    backbone: default_backbone(),
                });
                if llm.names_a_path() {
                    let mut p = PathBuf::from(&llm.backbone);
                    absolute(&mut p);
                    llm.backbone = p.display().to_string();
                }
                cfg.validate().map_err(|e| pipeline_error(e, text, origin))
            }
        }
    }

    /// The experiment as run: what the store keeps.
    pub fn to_toml(&self) -> String {
        // Every field is a plain value or table, so serialising cannot fail.
        toml::to_string_pretty(self).unwrap_or_else(|err| format!("# cannot write: {err}\n"))
    }

    /// A stored experiment's text as today's parser writes it back, so that a setting added
    /// since it was stored reads as its default there and old and new runs compare setting by
    /// setting. Text that no longer parses is returned as written.
    pub fn spelled_out(text: &str) -> std::borrow::Cow<'_, str> {
        let read = Experiment::parse(text, Path::new("<stored experiment>")).ok();
        Experiment::spelled(text, read.as_ref())
    }

    /// [`Experiment::spelled_out`] of `text` already read as `experiment` (none: it does not
    /// parse).
    pub fn spelled<'a>(
        text: &'a str,
        experiment: Option<&Experiment>,
    ) -> std::borrow::Cow<'a, str> {
        experiment.map_or(text.into(), |e| e.to_toml().into())
    }

    /// A stored run's settings as `dotted.key -> value`, defaults spelt out (as
    /// [`Experiment::spelled`] writes them; `parsed`, its experiment read, when at hand).
    pub fn settings_of(
        record: &collm_store::RunRecord,
        parsed: Option<&Experiment>,
    ) -> std::collections::BTreeMap<String, toml::Value> {
        settings::flatten(&Experiment::spelled(&record.experiment, parsed)).unwrap_or_default()
    }

    /// Settings that are allowed but probably not meant, each said as a note: a stage whose
    /// warmup outlasts its step budget never reaches its learning rate.
    pub fn advice(&self) -> Vec<String> {
        let Some(cfg) = &self.collm else {
            return Vec::new();
        };
        cfg.stages
            .iter()
            .enumerate()
            .filter(|(_, s)| s.warmup_steps >= s.max_steps)
            .map(|(i, s)| {
                format!(
                    "note: collm.stages.{i}.warmup_steps ({}) is not below its max_steps ({}): \
                     the stage's learning rate never reaches its lr ({})",
                    s.warmup_steps, s.max_steps, s.lr
                )
            })
            .collect()
    }

    /// The dataset folder (importing the embedded default under `data_dir` when asked for).
    pub fn dataset_dir(&self, data_dir: &Path) -> Result<PathBuf, DataError> {
        match (&self.dataset.path, self.dataset.source) {
            (Some(path), _) => Ok(path.clone()),
            (None, _) => collm_data::ensure_default_dataset(data_dir),
        }
    }

    /// The rows of split `name` that the final evaluation scores: all of them, or the seeded
    /// sample of `[evaluation] rows` (empty for a split the dataset lacks; `load_dataset` checks).
    pub fn evaluation_rows(&self, dataset: &Dataset, name: &str) -> Vec<collm_data::Interaction> {
        let rows = dataset
            .split(name)
            .map(|s| s.rows.as_slice())
            .unwrap_or(&[]);
        collm_pipeline::stage::sample_rows(rows, self.evaluation.rows, EVAL_SAMPLE_SEED)
    }

    /// Loads the dataset and checks that the evaluation splits exist in it.
    pub fn load_dataset(&self, data_dir: &Path) -> Result<Dataset, RunSetupError> {
        let dataset = Dataset::load_dir(&self.dataset_dir(data_dir)?)?;
        let known: Vec<String> = dataset.splits().iter().map(|s| s.name.clone()).collect();
        self.check_splits(&dataset.dir, &known)?;
        Ok(dataset)
    }

    /// Checks that every split the experiment evaluates on is among `known`, those of the
    /// dataset in `dir`.
    fn check_splits(&self, dir: &Path, known: &[String]) -> Result<(), RunSetupError> {
        match self
            .splits_used()
            .into_iter()
            .find(|(_, s)| !known.contains(s))
        {
            Some((key, split)) => Err(RunSetupError::UnknownSplit {
                key,
                split,
                dataset: dir.to_path_buf(),
                known: known.join(", "),
            }),
            None => Ok(()),
        }
    }

    /// Every split the experiment evaluates on, with the setting that names it (dotted as
    /// `--set` takes it): the final evaluation's, the foundation's selection and extra ones,
    /// each stage's.
    pub fn splits_used(&self) -> Vec<(String, String)> {
        let listed = |key: &str, splits: &[String]| {
            splits
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("{key}.{i}"), s.clone()))
                .collect::<Vec<_>>()
        };
        let mut wanted = listed("evaluation.splits", &self.evaluation.splits);
        wanted.push(("training.select_on".into(), self.training.select_on.clone()));
        wanted.extend(listed("training.eval_splits", &self.training.eval_splits));
        if let Some(cfg) = &self.collm {
            wanted.extend(
                cfg.stages
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (format!("collm.stages.{i}.eval_split"), s.eval_split.clone())),
            );
        }
        wanted
    }
}

/// A `[collm]` setting's error, located at its key: `stages[0].lr` as `--set` and `collm
/// compare` name it, `collm.stages.0.lr`.
fn pipeline_error(e: collm_pipeline::PipelineError, text: &str, origin: &Path) -> ExperimentError {
    match e {
        collm_pipeline::PipelineError::Config { field, message } => {
            let key = format!("collm.{}", field.replace('[', ".").replace(']', ""));
            let message = format!("invalid setting `{key}`: {message}");
            ExperimentError::at_key(origin.to_path_buf(), text, &key, message)
        }
        other => ExperimentError::Invalid {
            path: origin.to_path_buf(),
            message: format!("[collm] {other}"),
        },
    }
}

/// The text of an experiment or sweep file; bytes that are not UTF-8 are reported by line.
pub fn read_text(path: &Path) -> Result<String, ExperimentError> {
    let bytes = std::fs::read(path).map_err(|source| ExperimentError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // A byte-order mark (Windows editors write one) is not TOML.
    let bytes = bytes
        .strip_prefix("\u{feff}".as_bytes())
        .map(<[u8]>::to_vec)
        .unwrap_or(bytes);
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        ExperimentError::Parse {
            path: path.to_path_buf(),
            line: Some(line),
            column: None,
            message: "not valid UTF-8 text".into(),
            source_line: None,
        }
    })
}

/// Whether a `collm` pipeline trains its own foundation: CIE slots from a pretrained CF model
/// whose weights the experiment does not name.
pub fn trains_foundation(cfg: &collm_pipeline::PipelineConfig) -> bool {
    use collm_pipeline::{CfInit, SlotFill};
    cfg.slots.kind == SlotFill::Cie
        && cfg.slots.cf_init == CfInit::Pretrained
        && cfg.slots.cf_weights.is_none()
}

/// Why an experiment's data cannot be prepared.
#[derive(Debug, thiserror::Error)]
pub enum RunSetupError {
    #[error(transparent)]
    Data(#[from] DataError),
    /// A file or folder the experiment names (setting `key`, dotted as `--set` takes it) is
    /// missing or unusable.
    #[error("setting `{key}`: {message}")]
    Input { key: String, message: String },
    #[error("setting `{key}` names split `{split}`, which dataset {} does not have (it has {known})", dataset.display())]
    UnknownSplit {
        key: String,
        split: String,
        dataset: PathBuf,
        known: String,
    },
}

impl RunSetupError {
    /// The setting the error is about, dotted as `--set` takes it (`dataset.path`).
    pub fn key(&self) -> Option<&str> {
        match self {
            RunSetupError::Input { key, .. } | RunSetupError::UnknownSplit { key, .. } => Some(key),
            RunSetupError::Data(_) => None,
        }
    }
}

#[cfg(test)]
mod tests;
