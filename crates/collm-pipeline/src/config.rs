//! The settings of a CoLLM experiment (prompts, score, LoRA, what fills the ID slots, the
//! stages), as they appear in an experiment file, with defaults and range checks.
//!
//! Every ablation is a combination of these switches rather than its own code path:
//! - TALLRec (w/o CIE): `slots.kind = "none"`, one stage `{ prompt = "text", train = ["lora"] }`;
//! - CoLLM: stage 1 text/`lora`, stage 2 hybrid/`mapping` (CF frozen);
//! - T1: stage 2 `train = ["mapping", "cf"]` with `slots.cf_init = "pretrained"`;
//! - T2: the same with `slots.cf_init = "scratch"`;
//! - T3: one stage `{ prompt = "hybrid", train = ["lora", "mapping"] }`;
//! - ID tokens: `slots.kind = "id_tokens"` (free per-user and per-item embeddings);
//! - ICL (zero-shot): `slots.kind = "none"`, `stages = []`: the untuned backbone scored on the
//!   text prompt;
//! - CF backbone: `slots.cf.kind = "mf" | "lightgcn"`.

use std::path::{Path, PathBuf};

use collm_cf::CfModelConfig;
use collm_llm::LoraConfig;
use serde::{Deserialize, Serialize};

use crate::error::{PipelineError, Result};
use crate::prompt::{PromptText, REFERENCE_EMPTY_HISTORY, REFERENCE_MAX_HISTORY};
use crate::schedule::{Schedule, Warmup};
use crate::score::ScoreKind;
use crate::template::{Domain, PromptKind, Template};

fn default_empty_history() -> String {
    REFERENCE_EMPTY_HISTORY.to_string()
}
fn default_max_history() -> usize {
    REFERENCE_MAX_HISTORY
}
fn one() -> usize {
    1
}
fn default_mid_times() -> usize {
    10
}
fn default_cache_mb() -> usize {
    2048
}
fn yes() -> bool {
    true
}

/// Prompt settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptConfig {
    /// Wording of the built-in templates (`movie` or `book`).
    #[serde(default)]
    pub domain: Domain,
    /// A template file replacing the built-in text-only prompt.
    #[serde(default)]
    pub text_template: Option<PathBuf>,
    /// A template file replacing the built-in hybrid prompt.
    #[serde(default)]
    pub hybrid_template: Option<PathBuf>,
    /// The history text of a user without liked items (the reference's `unkow`).
    #[serde(default = "default_empty_history")]
    pub empty_history: String,
    /// At most this many (most recent) liked titles.
    #[serde(default = "default_max_history")]
    pub max_history: usize,
    /// Token positions per ID slot.
    #[serde(default = "one")]
    pub proj_token_num: usize,
}

impl PromptConfig {
    /// The settings of the history text these prompts list.
    pub fn text(&self) -> PromptText {
        PromptText {
            empty_history: self.empty_history.clone(),
            max_history: self.max_history,
        }
    }

    /// The template file configured for prompt `kind`, if any (else the built-in one is used).
    pub fn template_file(&self, kind: PromptKind) -> Option<&Path> {
        match kind {
            PromptKind::Text => self.text_template.as_deref(),
            PromptKind::Hybrid => self.hybrid_template.as_deref(),
        }
    }

    /// The template of prompt `kind`: the configured file (relative to `base_dir`) or the
    /// built-in one in this domain, checked to suit `kind`.
    pub fn template(&self, kind: PromptKind, base_dir: &Path) -> Result<Template> {
        let template = match self.template_file(kind) {
            Some(file) => Template::load(&base_dir.join(file))?,
            None => Template::builtin(kind, self.domain),
        };
        template.check_kind(kind)?;
        Ok(template)
    }
}

impl Default for PromptConfig {
    fn default() -> Self {
        PromptConfig {
            domain: Domain::Movie,
            text_template: None,
            hybrid_template: None,
            empty_history: default_empty_history(),
            max_history: default_max_history(),
            proj_token_num: 1,
        }
    }
}

/// What fills the ID slots of the hybrid prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotFill {
    /// The CIE mapping of collaborative vectors (CoLLM).
    #[default]
    Cie,
    /// Free per-user and per-item token embeddings (the "ID tokens" ablation).
    IdTokens,
    /// One learned token sequence for the user slot and one for the item slot, the same for
    /// every user and item (the paper's soft-prompt baseline, Prompt4NR; the reference uses
    /// `proj_token_num = 3` and its `softprompt` template).
    SoftPrompt,
    /// Nothing: only text prompts are allowed (TALLRec).
    None,
}

/// Where the collaborative model of the CIE starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CfInit {
    /// The pretrained weights in `cf_weights` (CoLLM, T1).
    #[default]
    Pretrained,
    /// A fresh random initialisation (T2; only sensible when a stage trains `cf`).
    Scratch,
}

/// What the CIE reads of a collaborative vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CfInput {
    /// The vector as the foundation gives it (the reference).
    #[default]
    Raw,
    /// The vector divided by its L2 norm: user and item vectors enter the shared mapping at the
    /// same scale, whatever the foundation's training did to their lengths (a SASRec trained
    /// long under weight decay has layer-normed user vectors of norm ~14.5 and item embeddings
    /// of 0.01 to 0.10, and the CIE then barely sees the target item).
    Unit,
}

/// The ID-slot settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotConfig {
    #[serde(default)]
    pub kind: SlotFill,
    /// The hidden width of the CIE is `mid_times · d`.
    #[serde(default = "default_mid_times")]
    pub mid_times: usize,
    /// The collaborative model feeding the CIE (kind, dim, layers).
    #[serde(default)]
    pub cf: Option<CfModelConfig>,
    #[serde(default)]
    pub cf_init: CfInit,
    /// Pretrained CF weights (safetensors written by collm-cf). Needed to build the model with
    /// `cf_init = "pretrained"`; an experiment without it trains its foundation first and fills
    /// it in.
    #[serde(default)]
    pub cf_weights: Option<PathBuf>,
    /// What the CIE reads of each collaborative vector (`raw`, or `unit`: L2-normalised).
    #[serde(default)]
    pub cf_input: CfInput,
}

impl Default for SlotConfig {
    fn default() -> Self {
        SlotConfig {
            kind: SlotFill::Cie,
            mid_times: 10,
            cf: None,
            cf_init: CfInit::Pretrained,
            cf_weights: None,
            cf_input: CfInput::Raw,
        }
    }
}

/// What a stage trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trainable {
    Lora,
    /// The CIE mapping or the ID tokens.
    Mapping,
    /// The collaborative model's tables.
    Cf,
}

impl Trainable {
    /// As experiment files spell it.
    pub fn name(self) -> &'static str {
        match self {
            Trainable::Lora => "lora",
            Trainable::Mapping => "mapping",
            Trainable::Cf => "cf",
        }
    }
}

fn default_lr() -> f64 {
    1e-3
}
fn default_min_lr() -> f64 {
    8e-5
}
fn default_warmup_lr() -> f64 {
    1e-5
}
fn default_warmup_steps() -> u64 {
    200
}
fn default_ipe() -> u64 {
    50
}
fn default_wd() -> f64 {
    1e-3
}
fn default_batch() -> usize {
    16
}
fn default_eval_batch() -> usize {
    64
}
fn default_eval_every() -> u64 {
    50
}
fn default_patience() -> u64 {
    20
}
fn default_eval_split() -> String {
    "valid_small".to_string()
}

/// One training stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// The name in events and checkpoint folders (default `stage1`, `stage2`, ... by position).
    #[serde(default)]
    pub name: Option<String>,
    pub prompt: PromptKind,
    pub train: Vec<Trainable>,
    /// Peak learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default = "default_min_lr")]
    pub min_lr: f64,
    #[serde(default = "default_warmup_lr")]
    pub warmup_lr: f64,
    #[serde(default = "default_warmup_steps")]
    pub warmup_steps: u64,
    #[serde(default)]
    pub warmup: Warmup,
    /// Steps per pseudo-epoch of the reference warmup.
    #[serde(default = "default_ipe")]
    pub iters_per_epoch: u64,
    /// The step budget.
    pub max_steps: u64,
    /// The cosine's horizon in steps, where the rate reaches `min_lr` (default `max_steps`, so
    /// a stage decays over its own budget). The reference's is `max_epoch·iters_per_epoch`
    /// (10 000 for ML-1M), which early stopping ends long before: its rate stays near the peak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cosine_steps: Option<u64>,
    #[serde(default = "default_wd")]
    pub weight_decay: f64,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_eval_batch")]
    pub eval_batch_size: usize,
    /// Evaluate (and keep the best checkpoint) every this many steps.
    #[serde(default = "default_eval_every")]
    pub eval_every: u64,
    /// Stop after this many evaluations in a row without a strictly better AUC.
    #[serde(default = "default_patience")]
    pub patience: u64,
    /// Use at most this many training rows (a seeded sample of train); all when absent.
    #[serde(default)]
    pub train_rows: Option<usize>,
    /// Evaluate on at most this many rows of `eval_split` (a seeded sample); all when absent.
    #[serde(default)]
    pub eval_rows: Option<usize>,
    /// The selection split.
    #[serde(default = "default_eval_split")]
    pub eval_split: String,
}

impl StageConfig {
    pub fn schedule(&self) -> Schedule {
        Schedule {
            lr: self.lr,
            min_lr: self.min_lr,
            warmup_lr: self.warmup_lr,
            warmup_steps: self.warmup_steps,
            warmup: self.warmup,
            iters_per_epoch: self.iters_per_epoch,
            total_steps: self.cosine_steps.unwrap_or(self.max_steps),
        }
    }

    pub fn trains(&self, t: Trainable) -> bool {
        self.train.contains(&t)
    }
}

/// A LoRA setting's error as the pipeline names it (`lora.r`).
fn lora_error(e: collm_llm::LlmError) -> PipelineError {
    match e {
        collm_llm::LlmError::LoraSetting { field, message } => {
            PipelineError::config(format!("lora.{field}"), message)
        }
        other => PipelineError::config("lora", other.to_string()),
    }
}

/// Names a stage may not take: the other parts of a run's folder and of `RUN:PART` references
/// (the foundation `cf`, the final weights, the kept scores).
pub const RESERVED_STAGE_NAMES: [&str; 3] = ["cf", crate::pipeline::FINAL_DIR, "predictions"];

/// Why `name` cannot name a stage, if it cannot. It becomes a folder of the run (`stage1/`,
/// `predictions/stage1/`) and the part after `:` in `RUN:stage1`, so it is one plain word: a
/// letter, then letters, digits, `_` or `-` (no `/`, `..` or `:`), at most 40 characters.
fn bad_stage_name(name: &str) -> Option<String> {
    let plain = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !plain {
        return Some(format!(
            "`{}` is not a plain word: a letter, then letters, digits, `_` or `-`, at most 40 \
             (it names the stage's folder in the run)",
            name.escape_debug()
        ));
    }
    // `final-stage1` labels stage 1's part in the final evaluation.
    if name.to_ascii_lowercase().starts_with("final-") {
        return Some(format!(
            "`{name}` starts like the final evaluation's labels of parts (`final-stage1`); \
             choose another"
        ));
    }
    // Folders named `CF` and `cf` are one on a file system that ignores case (macOS, Windows).
    RESERVED_STAGE_NAMES
        .iter()
        .find(|reserved| reserved.eq_ignore_ascii_case(name))
        .map(|reserved| {
            // `cf` and `final` are parts of every run; `predictions` a folder of it.
            let what = if *reserved == "predictions" {
                "folder"
            } else {
                "part"
            };
            format!("`{name}` is taken by the run's own `{reserved}` {what}; choose another")
        })
}

/// The name of stage `i` (0-based) when the experiment gives it none: `stage1`, `stage2`, ...
pub fn unnamed_stage(i: usize) -> String {
    format!("stage{}", i + 1)
}

/// A whole CoLLM experiment's model and training settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    #[serde(default)]
    pub prompt: PromptConfig,
    #[serde(default)]
    pub score: ScoreKind,
    #[serde(default)]
    pub lora: LoraConfig,
    #[serde(default)]
    pub slots: SlotConfig,
    /// Seeds row sampling, batch order and the initialisation of the mapping and LoRA.
    #[serde(default)]
    pub seed: u64,
    /// Keep prompt-prefix keys and values of frozen-LoRA stages (exact; see `prefix_cache`).
    #[serde(default = "yes")]
    pub prefix_cache: bool,
    /// Memory budget of that cache in MiB; batches beyond it recompute their prefix each time.
    #[serde(default = "default_cache_mb")]
    pub prefix_cache_mb: usize,
    pub stages: Vec<StageConfig>,
}

impl PipelineConfig {
    /// The name of stage `i` (0-based).
    pub fn stage_name(&self, i: usize) -> String {
        self.stages[i]
            .name
            .clone()
            .unwrap_or_else(|| unnamed_stage(i))
    }

    /// The batch size of the final evaluation: the last stage's, or the setting's default for
    /// a pipeline without stages (in-context learning).
    pub fn eval_batch_size(&self) -> usize {
        self.stages
            .last()
            .map_or_else(default_eval_batch, |s| s.eval_batch_size)
    }

    /// Every stage's name, in order.
    pub fn stage_names(&self) -> Vec<String> {
        (0..self.stages.len()).map(|i| self.stage_name(i)).collect()
    }

    /// The prompt of the stage named `name`, if the config has one.
    pub fn stage_prompt(&self, name: &str) -> Option<PromptKind> {
        (0..self.stages.len())
            .find(|&i| self.stage_name(i) == name)
            .map(|i| self.stages[i].prompt)
    }

    /// The prompt the final model is scored with: hybrid when any stage uses it.
    pub fn final_prompt(&self) -> PromptKind {
        if self.stages.iter().any(|s| s.prompt == PromptKind::Hybrid) {
            PromptKind::Hybrid
        } else {
            PromptKind::Text
        }
    }

    /// The rules for a pipeline a person writes now, beyond [`PipelineConfig::validate`]: not
    /// applied to stored runs' experiments, which older versions accepted and ran (they must
    /// stay readable and resumable). Errors name the field.
    pub fn check_new_input(&self) -> Result<()> {
        // Both size the CIE's layers and the prompt: a typo far past any use would abort the
        // process allocating them.
        for (field, value, most) in [
            ("prompt.proj_token_num", self.prompt.proj_token_num, 64),
            ("slots.mid_times", self.slots.mid_times, 64),
        ] {
            if value > most {
                return Err(PipelineError::config(
                    field,
                    format!("must be at most {most}, got {value}"),
                ));
            }
        }
        self.lora.check_new_input().map_err(lora_error)?;
        if let Some(cf) = &self.slots.cf {
            cf.check_new_input()
                .map_err(|e| PipelineError::config("slots.cf", e.to_string()))?;
        }
        for (i, s) in self.stages.iter().enumerate() {
            let field = |f: &str| format!("stages[{i}].{f}");
            let name = self.stage_name(i);
            if let Some(message) = bad_stage_name(&name) {
                return Err(PipelineError::config(field("name"), message));
            }
            // Exact repeats are `validate`'s; these would share a folder where case is ignored.
            if let Some(other) = (0..i)
                .map(|j| self.stage_name(j))
                .find(|other| other != &name && other.eq_ignore_ascii_case(&name))
            {
                return Err(PipelineError::config(
                    field("name"),
                    format!(
                        "`{name}` differs from `{other}` only in case: their folders would be one \
                         on a file system that ignores case"
                    ),
                ));
            }
            // Twice in the list would hand the optimizer each tensor twice: two updates a step.
            if let Some(twice) = (1..s.train.len()).find(|&j| s.train[..j].contains(&s.train[j])) {
                return Err(PipelineError::config(
                    field("train"),
                    format!("`{}` is listed twice", s.train[twice].name()),
                ));
            }
        }
        Ok(())
    }

    /// Range and consistency checks; errors name the field.
    pub fn validate(&self) -> Result<()> {
        // No stages: the backbone as it comes, scored on the text prompt. Nothing would train
        // a mapping or ID tokens, so a slot fill other than `none` is a mistake, not a baseline.
        if self.stages.is_empty() && self.slots.kind != SlotFill::None {
            return Err(PipelineError::config(
                "stages",
                "with no stages the untuned backbone is scored zero-shot on the text prompt; \
                 set slots.kind = \"none\", or add the stages that train the slots",
            ));
        }
        if self.prompt.max_history == 0 {
            return Err(PipelineError::config(
                "prompt.max_history",
                "must be at least 1",
            ));
        }
        if self.prompt.proj_token_num == 0 {
            return Err(PipelineError::config(
                "prompt.proj_token_num",
                "must be at least 1",
            ));
        }
        self.lora.validate().map_err(lora_error)?;
        let uses_hybrid = self.final_prompt() == PromptKind::Hybrid;
        match self.slots.kind {
            SlotFill::None if uses_hybrid => {
                return Err(PipelineError::config(
                    "slots.kind",
                    "`none` cannot fill the hybrid prompt of a stage",
                ))
            }
            SlotFill::Cie => {
                let cf = self.slots.cf.as_ref().ok_or_else(|| {
                    PipelineError::config("slots.cf", "the CIE needs a collaborative model")
                })?;
                cf.validate()
                    .map_err(|e| PipelineError::config("slots.cf", e.to_string()))?;
                if self.slots.mid_times == 0 {
                    return Err(PipelineError::config(
                        "slots.mid_times",
                        "must be at least 1",
                    ));
                }
            }
            _ if self.slots.cf_input != CfInput::Raw => {
                return Err(PipelineError::config(
                    "slots.cf_input",
                    "only the CIE reads collaborative vectors (slots.kind = \"cie\")",
                ))
            }
            _ => {}
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in self.stages.iter().enumerate() {
            let field = |f: &str| format!("stages[{i}].{f}");
            let name = self.stage_name(i);
            if !names.insert(name.clone()) {
                // Against an unnamed stage's default name, the name written is the one to blame.
                let first = (0..i).find(|&j| self.stage_name(j) == name).unwrap_or(i);
                let (at, message) = if s.name.is_none() {
                    (
                        first,
                        format!(
                            "`{name}` is the name of stage {} when it has none (an unnamed \
                             stage N is `stageN`); choose another, or name that stage",
                            i + 1
                        ),
                    )
                } else {
                    (i, format!("`{name}` is used twice"))
                };
                return Err(PipelineError::config(format!("stages[{at}].name"), message));
            }
            if s.train.is_empty() {
                return Err(PipelineError::config(
                    field("train"),
                    "name at least one of lora, mapping, cf",
                ));
            }
            if s.prompt == PromptKind::Text
                && (s.trains(Trainable::Mapping) || s.trains(Trainable::Cf))
            {
                return Err(PipelineError::config(
                    field("train"),
                    "a text-only prompt has no ID slots; only `lora` can be trained",
                ));
            }
            if s.trains(Trainable::Cf) && self.slots.kind != SlotFill::Cie {
                return Err(PipelineError::config(
                    field("train"),
                    "`cf` needs slots.kind = \"cie\"",
                ));
            }
            for (name, v) in [
                ("lr", s.lr),
                ("min_lr", s.min_lr),
                ("warmup_lr", s.warmup_lr),
                ("weight_decay", s.weight_decay),
            ] {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(PipelineError::config(
                        field(name),
                        format!("must be a finite number >= 0, got {v}"),
                    ));
                }
            }
            for (name, v) in [
                ("max_steps", s.max_steps as usize),
                ("batch_size", s.batch_size),
                ("eval_batch_size", s.eval_batch_size),
                ("eval_every", s.eval_every as usize),
                ("patience", s.patience as usize),
                ("iters_per_epoch", s.iters_per_epoch as usize),
            ] {
                if v == 0 {
                    return Err(PipelineError::config(field(name), "must be at least 1"));
                }
            }
            for (name, given) in [
                ("train_rows", s.train_rows),
                ("eval_rows", s.eval_rows),
                ("cosine_steps", s.cosine_steps.map(|n| n as usize)),
            ] {
                if given == Some(0) {
                    return Err(PipelineError::config(
                        field(name),
                        "must be at least 1 when given",
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLLM: &str = r#"
        seed = 3
        [slots]
        cf = { kind = "mf", dim = 8 }
        cf_weights = "mf.safetensors"
        [[stages]]
        prompt = "text"
        train = ["lora"]
        max_steps = 10
        [[stages]]
        prompt = "hybrid"
        train = ["mapping"]
        max_steps = 10
        lr = 1e-2
    "#;

    #[test]
    fn parses_with_reference_defaults() {
        let c: PipelineConfig = toml::from_str(COLLM).unwrap();
        c.validate().unwrap();
        assert_eq!(c.prompt.empty_history, "unkow");
        assert_eq!(c.stages[0].lr, 1e-3);
        assert_eq!(c.stages[1].lr, 1e-2);
        assert_eq!(c.stages[0].patience, 20);
        assert_eq!(c.lora.r, 8);
        assert_eq!(c.stage_name(1), "stage2");
        assert_eq!(c.stage_prompt("stage1"), Some(PromptKind::Text));
        assert_eq!(c.stage_prompt("stage2"), Some(PromptKind::Hybrid));
        assert_eq!(c.stage_prompt("stage3"), None);
        assert_eq!(c.final_prompt(), PromptKind::Hybrid);
        assert!(c.prefix_cache);
        assert_eq!(c.slots.cf_input, CfInput::Raw);
    }

    /// A stage decays over its own budget unless `cosine_steps` names the reference's horizon,
    /// where 64 steps keep the rate within 1% of its peak.
    #[test]
    fn the_cosine_horizon_is_the_budget_unless_named() {
        let budget = COLLM.replace(
            "max_steps = 10\n        lr = 1e-2",
            "max_steps = 64\nwarmup_steps = 8",
        );
        let c: PipelineConfig = toml::from_str(&budget).unwrap();
        let own = c.stages[1].schedule();
        assert_eq!(own.total_steps, 64);
        assert!(own.lr_at(63) < 1e-4, "{}", own.lr_at(63));
        let named = budget.replace("max_steps = 64", "max_steps = 64\ncosine_steps = 10000");
        let c: PipelineConfig = toml::from_str(&named).unwrap();
        c.validate().unwrap();
        let reference = c.stages[1].schedule();
        assert_eq!(reference.total_steps, 10_000);
        assert!(reference.lr_at(63) > 0.99e-3, "{}", reference.lr_at(63));
        let zero = budget.replace("max_steps = 64", "max_steps = 64\ncosine_steps = 0");
        let e = toml::from_str::<PipelineConfig>(&zero)
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("stages[1].cosine_steps"), "{e}");
    }

    #[test]
    fn unit_cf_input_is_for_the_cie_only() {
        let unit = COLLM.replace("[slots]", "[slots]\ncf_input = \"unit\"");
        let mut c: PipelineConfig = toml::from_str(&unit).unwrap();
        assert_eq!(c.slots.cf_input, CfInput::Unit);
        c.validate().unwrap();
        c.slots.kind = SlotFill::IdTokens;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("slots.cf_input") && e.contains("cie"), "{e}");
        let bad = COLLM.replace("[slots]", "[slots]\ncf_input = \"unitary\"");
        let e = toml::from_str::<PipelineConfig>(&bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unitary") && e.contains("`raw` or `unit`"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = toml::from_str::<PipelineConfig>(&format!("{COLLM}\nbogus_key = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus_key"), "{e}");
        let bad = COLLM.replace("lr = 1e-2", "learning_rate = 1e-2");
        let e = toml::from_str::<PipelineConfig>(&bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("learning_rate"), "{e}");
    }

    #[test]
    fn inconsistent_switches_are_rejected() {
        let mut c: PipelineConfig = toml::from_str(COLLM).unwrap();
        c.slots.kind = SlotFill::None;
        assert!(c.validate().unwrap_err().to_string().contains("slots.kind"));
        let mut c: PipelineConfig = toml::from_str(COLLM).unwrap();
        c.stages[0].train = vec![Trainable::Mapping];
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("stages[0].train"));
        // Sizes far past any use are refused (they would abort the process allocating them).
        let mut c: PipelineConfig = toml::from_str(COLLM).unwrap();
        c.slots.mid_times = 100_000_000;
        c.validate().unwrap();
        let e = c.check_new_input().unwrap_err().to_string();
        assert!(
            e.contains("slots.mid_times") && e.contains("at most 64"),
            "{e}"
        );
        let mut c: PipelineConfig = toml::from_str(COLLM).unwrap();
        c.prompt.proj_token_num = 65;
        assert!(c.check_new_input().is_err());
        let mut c: PipelineConfig = toml::from_str(COLLM).unwrap();
        c.lora.r = 100_000_000;
        let e = c.check_new_input().unwrap_err().to_string();
        assert!(e.contains("lora.r") && e.contains("at most 4096"), "{e}");
        let mut c: PipelineConfig = toml::from_str(COLLM).unwrap();
        c.stages[1].eval_every = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("stages[1].eval_every"));
    }

    #[test]
    fn stage_names_are_plain_words_of_their_own() {
        let named = |name: &str| {
            let mut c: PipelineConfig = toml::from_str(COLLM).unwrap();
            c.stages[1].name = Some(name.to_string());
            c.validate()
                .and_then(|()| c.check_new_input())
                .map_err(|e| e.to_string())
        };
        named("cie-tuning_2").unwrap();
        // A name is a folder of the run: none may leave it or land on another part of it.
        for bad in [
            "../../x/predictions",
            "/tmp/x",
            "..",
            "",
            "a b",
            "st:1",
            "2nd",
            "é",
        ] {
            let e = named(bad).unwrap_err();
            assert!(
                e.contains("stages[1].name") && e.contains("not a plain word"),
                "{bad}: {e}"
            );
        }
        for taken in ["cf", "final", "predictions", "CF", "Final"] {
            let e = named(taken).unwrap_err();
            assert!(e.contains("is taken by the run's own"), "{taken}: {e}");
        }
        assert!(named(&"s".repeat(41)).is_err());
        assert!(named("stage1").unwrap_err().contains("used twice"));
        // The first stage named as the second is by default: the name written is blamed.
        let mut c: PipelineConfig = toml::from_str(COLLM).unwrap();
        c.stages[0].name = Some("stage2".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("stages[0].name") && e.contains("is the name of stage 2 when it has none"),
            "{e}"
        );
        assert!(named("final-tune")
            .unwrap_err()
            .contains("final evaluation's labels of parts"));
        // One folder where case is ignored.
        assert!(named("Stage1").unwrap_err().contains("only in case"));
    }

    #[test]
    fn a_part_listed_twice_in_train_is_refused() {
        let mut c: PipelineConfig = toml::from_str(COLLM).unwrap();
        c.stages[1].train = vec![Trainable::Mapping, Trainable::Cf, Trainable::Mapping];
        // A stored run's experiment is not held to it: older versions ran such stages.
        c.validate().unwrap();
        let e = c.check_new_input().unwrap_err().to_string();
        assert!(
            e.contains("stages[1].train") && e.contains("`mapping` is listed twice"),
            "{e}"
        );
    }

    #[test]
    fn no_stages_is_zero_shot_on_the_text_prompt_and_needs_no_slots() {
        let mut c: PipelineConfig = toml::from_str(COLLM).unwrap();
        c.stages.clear();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("stages") && e.contains("zero-shot"), "{e}");
        c.slots.kind = SlotFill::None;
        c.validate().unwrap();
        assert_eq!(c.final_prompt(), PromptKind::Text);
        let parsed: PipelineConfig =
            toml::from_str("stages = []\n[slots]\nkind = \"none\"\n").unwrap();
        parsed.validate().unwrap();
    }
}
