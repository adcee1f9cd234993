//! Checks, before a run is created, that the files an experiment names are there and usable:
//! the dataset folder and the splits it evaluates, the LLM backbone, the prompt templates, a
//! pretrained foundation's weights file.
//!
//! Why here and not where they are read: a CoLLM run trains its foundation first (up to
//! thousands of epochs on ML-1M) and reads the backbone and templates only after; a typo found
//! then has cost that time and left a failed run in the store. These checks read no rows and
//! load no weights (a backbone's header and vocabulary, a weights file's header, a template's
//! line of text: milliseconds), so the TUI can run them as it launches.

use std::path::{Path, PathBuf};

use collm_data::Dataset;
use collm_pipeline::PromptKind;

use super::{Experiment, ExperimentError, RunSetupError};

impl Experiment {
    /// Checks the experiment's inputs (see the module docs); `data_dir` is where the embedded
    /// default dataset is imported.
    pub fn check_inputs(&self, data_dir: &Path) -> Result<(), RunSetupError> {
        self.check_dataset(data_dir)?;
        self.check_backbone()?;
        self.check_templates()?;
        self.check_cf_weights()
    }

    /// [`Experiment::check_inputs`] of the experiment read from `path` with `overrides`
    /// (`--set`): a problem is reported at its line in the file, or as the `--set` that wrote
    /// the setting.
    pub fn check_inputs_of_file(
        &self,
        data_dir: &Path,
        path: &Path,
        overrides: &[super::Override],
    ) -> Result<(), ExperimentError> {
        let Err(err) = self.check_inputs(data_dir) else {
            return Ok(());
        };
        let message = err.to_string();
        match err.key() {
            Some(key) => Err(at_setting(path, overrides, key, message)),
            None => Err(ExperimentError::Invalid {
                path: path.to_path_buf(),
                message,
            }),
        }
    }

    /// [`Experiment::resolve_device`] of the experiment read from `path` with `overrides`, a
    /// device this build or machine lacks reported where it was chosen: `--device` (`flagged`),
    /// a `--set device=...`, or the file's `device` line.
    pub fn resolve_device_of_file(
        &self,
        path: &Path,
        overrides: &[super::Override],
        flagged: bool,
    ) -> Result<candle_core::Device, ExperimentError> {
        self.resolve_device().map_err(|err| match err {
            ExperimentError::Device(message) if !flagged => {
                at_setting(path, overrides, "device", message)
            }
            other => other,
        })
    }

    /// A pretrained foundation named by file must be there (it is read after the backbone),
    /// where the run reads it: CIE slots from a pretrained model.
    fn check_cf_weights(&self) -> Result<(), RunSetupError> {
        let read = self.collm.as_ref().filter(|c| {
            c.slots.kind == collm_pipeline::SlotFill::Cie
                && c.slots.cf_init == collm_pipeline::CfInit::Pretrained
        });
        let Some(path) = read.and_then(|c| c.slots.cf_weights.as_ref()) else {
            return Ok(());
        };
        let bad = |message: String| RunSetupError::Input {
            key: "collm.slots.cf_weights".into(),
            message: format!("{}: {message}", path.display()),
        };
        if path.is_dir() {
            return Err(bad("is a folder; name the weights file".into()));
        }
        if !path.is_file() {
            return Err(bad("no such file".into()));
        }
        // Its header, and that the file holds every tensor the header lists: whether their
        // names and shapes fit the model is for the load to say, with the tensor's name.
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        candle_core::safetensors::SliceSafetensors::new(&bytes)
            .map(|_| ())
            .map_err(|e| bad(format!("not a safetensors file: {e}")))
    }

    /// The dataset folder: the configured one, or the embedded default once imported as this
    /// build would (`None` before that: the run imports it, which cannot fail for want of a
    /// file).
    fn dataset_dir_if_there(&self, data_dir: &Path) -> Option<PathBuf> {
        match &self.dataset.path {
            Some(path) => Some(path.clone()),
            None => collm_data::embedded::current_default_dataset(data_dir),
        }
    }

    /// The splits the dataset holds, where its folder can be read now.
    pub fn dataset_splits(&self, data_dir: &Path) -> Option<Vec<String>> {
        Dataset::split_names_in(&self.dataset_dir_if_there(data_dir)?).ok()
    }

    fn check_dataset(&self, data_dir: &Path) -> Result<(), RunSetupError> {
        let Some(dir) = self.dataset_dir_if_there(data_dir) else {
            return Ok(());
        };
        let known = Dataset::split_names_in(&dir).map_err(|e| RunSetupError::Input {
            key: "dataset.path".into(),
            message: e.to_string(),
        })?;
        self.check_splits(&dir, &known)
    }

    fn check_backbone(&self) -> Result<(), RunSetupError> {
        let Some(llm) = self.llm.as_ref().filter(|_| self.collm.is_some()) else {
            return Ok(());
        };
        let name = &llm.backbone;
        let bad = |message: String| {
            Err(RunSetupError::Input {
                key: "llm.backbone".into(),
                message,
            })
        };
        if name == collm_llm::hub::TINY_RANDOM {
            return Ok(());
        }
        if Path::new(name).exists() {
            // A file that is not a model, or a copy cut short, fails here rather than after
            // the foundation trained.
            return collm_llm::Llm::inspect(Path::new(name))
                .map(|_| ())
                .or_else(|e| bad(format!("not a usable backbone: {e}")));
        }
        if llm.names_a_path() {
            return bad(format!("{name}: no such file or folder"));
        }
        match collm_llm::hub::known_model(name) {
            Ok(_) => Ok(()),
            Err(e) => bad(format!("{e}, and no file {name} here")),
        }
    }

    fn check_templates(&self) -> Result<(), RunSetupError> {
        let Some(cfg) = &self.collm else {
            return Ok(());
        };
        for (kind, key) in [
            (PromptKind::Text, "collm.prompt.text_template"),
            (PromptKind::Hybrid, "collm.prompt.hybrid_template"),
        ] {
            // The built-in templates pass; the paths are absolute once the file is read.
            if cfg.prompt.template_file(kind).is_some() {
                cfg.prompt
                    .template(kind, Path::new(""))
                    .and_then(|t| t.check_placeholders())
                    .map_err(|e| RunSetupError::Input {
                        key: key.into(),
                        message: e.to_string(),
                    })?;
            }
        }
        Ok(())
    }
}

/// A problem with the setting `key` of the experiment read from `path` with `overrides`: as
/// the `--set` that wrote it (the last of the key, the one applied), else at its line in the
/// file.
fn at_setting(
    path: &Path,
    overrides: &[super::Override],
    key: &str,
    message: String,
) -> ExperimentError {
    // `evaluation.splits` set whole covers `evaluation.splits.0`.
    let covers = |o: &&super::Override| {
        key == o.key
            || key
                .strip_prefix(o.key.as_str())
                .is_some_and(|r| r.starts_with('.'))
    };
    if let Some(set) = overrides.iter().rev().find(covers) {
        return ExperimentError::Override {
            path: path.to_path_buf(),
            set: set.to_string(),
            message,
        };
    }
    match super::read_text(path) {
        Ok(text) => ExperimentError::at_key(path.to_path_buf(), &text, key, message),
        Err(err) => err,
    }
}
