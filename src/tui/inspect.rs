//! The prompt inspector's data, computed on the background thread: a split's users, and for one
//! user the history titles, the hybrid prompt with its ID slots, and a finished run's scores.
//!
//! The prompt is built with the pipeline's own template filling (`collm_pipeline::prompt::fill`
//! on the shipped CoLLM movie template), so it is the text the model reads. For a CF run the
//! model's P(Yes) is sigmoid of its score with the run's best weights.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use collm_data::Dataset;
use collm_pipeline::prompt::{fill, FilledPrompt, PromptText, Segment, SlotKind};
use collm_pipeline::template::{Domain, Placeholder, PromptKind, Template};
use collm_store::{RunId, RunRecord, RunStatus, Store, FINAL_STAGE};

use crate::experiment::{Experiment, ExperimentKind, DEFAULT_EXPERIMENT};
use crate::tui::app::{InspectedRow, Inspection, PromptPart};

/// Datasets already loaded, by folder: loading one takes a while, picking users must not.
#[derive(Default)]
pub struct Inspector {
    datasets: HashMap<PathBuf, Dataset>,
}

impl Inspector {
    /// The experiment the inspector reads: that of `run`, else the embedded default.
    fn experiment(
        store: &Store,
        run: Option<&RunId>,
    ) -> Result<(Experiment, Option<RunRecord>), String> {
        match run {
            Some(id) => {
                let record = store.run(id).map_err(|e| e.to_string())?;
                let experiment = Experiment::of_run(&record).map_err(|e| e.to_string())?;
                Ok((experiment, Some(record)))
            }
            None => {
                let experiment =
                    Experiment::from_toml(DEFAULT_EXPERIMENT, Path::new("mf-default.toml"))
                        .map_err(|e| e.to_string())?;
                Ok((experiment, None))
            }
        }
    }

    fn dataset(&mut self, experiment: &Experiment, data_dir: &Path) -> Result<&Dataset, String> {
        let dir = experiment
            .dataset_dir(data_dir)
            .map_err(|e| e.to_string())?;
        if !self.datasets.contains_key(&dir) {
            let dataset = Dataset::load_dir(&dir).map_err(|e| e.to_string())?;
            self.datasets.insert(dir.clone(), dataset);
        }
        Ok(&self.datasets[&dir])
    }

    /// The users of `split`, ascending.
    pub fn users(
        &mut self,
        store: &Store,
        data_dir: &Path,
        run: Option<&RunId>,
        split: &str,
    ) -> Result<Vec<u32>, String> {
        let (experiment, _) = Self::experiment(store, run)?;
        let dataset = self.dataset(&experiment, data_dir)?;
        let rows = &dataset
            .split(split)
            .ok_or_else(|| format!("the data set has no split `{split}`"))?
            .rows;
        let mut users: Vec<u32> = rows.iter().map(|r| r.uid).collect();
        users.sort_unstable();
        users.dedup();
        Ok(users)
    }

    /// What the inspector shows for `uid` on `split`.
    pub fn inspect(
        &mut self,
        store: &Store,
        data_dir: &Path,
        run: Option<&RunId>,
        uid: u32,
        split: &str,
    ) -> Result<Inspection, String> {
        let (experiment, record) = Self::experiment(store, run)?;
        let dataset = self.dataset(&experiment, data_dir)?;
        let split_rows = &dataset
            .split(split)
            .ok_or_else(|| format!("the data set has no split `{split}`"))?
            .rows;
        let rows: Vec<collm_data::Interaction> = split_rows
            .iter()
            .filter(|r| r.uid == uid)
            .cloned()
            .collect();
        let first = rows
            .first()
            .ok_or_else(|| format!("user {uid} has no row in {split}"))?;
        let title = |iid: u32| {
            dataset
                .items
                .title(iid)
                .unwrap_or("(unknown item)")
                .to_string()
        };

        let settings = PromptText::default();
        let all_titles: Vec<String> = first.his.iter().map(|&i| title(i)).collect();
        let shown = all_titles[all_titles.len().saturating_sub(settings.max_history)..].to_vec();

        let scores = match &record {
            Some(r) => scores(r, &experiment, dataset, &rows),
            None => Scores::missing("no run chosen: open or select a finished run for P(Yes)"),
        };
        let p_yes = scores.p_yes;
        let inspected = rows
            .iter()
            .enumerate()
            .map(|(i, r)| InspectedRow {
                iid: r.iid,
                title: title(r.iid),
                label: r.label,
                warm: r.warm,
                p_yes: p_yes.as_ref().map(|p: &Vec<f64>| p[i]),
            })
            .collect();
        let source = match &record {
            Some(r) => format!("run {} ({})", r.id, r.name),
            None => "embedded default data".to_string(),
        };
        // A finished CoLLM run's own filling (its template and history settings) when there is
        // one, else the shipped hybrid template.
        let prompt = prompt_parts(&scores.prompt.unwrap_or_else(|| {
            let refs: Vec<&str> = shown.iter().map(String::as_str).collect();
            let template = Template::builtin(PromptKind::Hybrid, Domain::Movie);
            fill(&template, &refs, &title(first.iid), &settings)
        }));
        Ok(Inspection {
            uid,
            split: split.to_string(),
            source,
            history: shown,
            prompt,
            token_count: scores.token_count,
            rows: inspected,
            note: Some(scores.note),
        })
    }
}

/// The ID slots named by their template tags.
fn prompt_parts(filled: &FilledPrompt) -> Vec<PromptPart> {
    filled
        .segments
        .iter()
        .map(|s| match s {
            Segment::Text(t) => PromptPart::Text(t.clone()),
            Segment::Slot(SlotKind::User) => {
                PromptPart::Slot(Placeholder::UserId.tag().to_string())
            }
            Segment::Slot(SlotKind::Item) => {
                PromptPart::Slot(Placeholder::TargetItemId.tag().to_string())
            }
        })
        .collect()
}

/// What a run adds to the inspector: P(Yes) per row and, for CoLLM runs, the prompt as the run
/// fills it and its token count (counting needs the run's LLM tokenizer).
struct Scores {
    p_yes: Option<Vec<f64>>,
    note: String,
    token_count: Option<usize>,
    prompt: Option<FilledPrompt>,
}

impl Scores {
    fn missing(why: impl Into<String>) -> Self {
        Scores {
            p_yes: None,
            note: why.into(),
            token_count: None,
            prompt: None,
        }
    }
}

fn sigmoid(logit: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(logit)).exp())
}

/// sigmoid(score) of each row with the run's best weights, or why there is none.
fn scores(
    record: &RunRecord,
    experiment: &Experiment,
    dataset: &Dataset,
    rows: &[collm_data::Interaction],
) -> Scores {
    if record.status != RunStatus::Finished {
        return Scores::missing(format!(
            "run {} is {}: P(Yes) needs a finished run",
            record.id, record.status
        ));
    }
    let Some(weights) = record
        .artifacts
        .iter()
        .filter(|a| a.best && a.stage != FINAL_STAGE)
        .max_by_key(|a| a.at_ms)
        .map(|a| PathBuf::from(&a.path))
    else {
        return Scores::missing(format!("run {} recorded no best weights", record.id));
    };
    match experiment.kind {
        ExperimentKind::Cf => {
            let scored = (|| -> Result<Vec<f64>, String> {
                let device = experiment.resolve_device().map_err(|e| e.to_string())?;
                let model = collm_cf::load(&experiment.model, dataset, &weights, &device)
                    .map_err(|e| e.to_string())?;
                let scored =
                    collm_cf::score_rows(model.as_ref(), rows, experiment.training.batch_size)
                        .map_err(|e| e.to_string())?;
                Ok(scored.iter().map(|s| sigmoid(s.logit)).collect())
            })();
            match scored {
                Ok(p) => Scores {
                    p_yes: Some(p),
                    note: "P(Yes) = sigmoid(CF score), best weights; a CF run has no tokens"
                        .to_string(),
                    token_count: None,
                    prompt: None,
                },
                Err(err) => Scores::missing(format!("cannot score: {err}")),
            }
        }
        ExperimentKind::Collm => {
            let run_dir = crate::runner::collm::run_dir_of(&weights);
            match crate::runner::collm::score_finished(experiment, &run_dir, dataset, rows, None) {
                Ok(f) => Scores {
                    p_yes: Some(f.scored.iter().map(|s| sigmoid(s.logit)).collect()),
                    note: "P(Yes) = sigmoid(score) of the final CoLLM model".to_string(),
                    token_count: f.token_counts.first().copied(),
                    prompt: f.first_prompt,
                },
                Err(err) => Scores::missing(format!("cannot score: {err}")),
            }
        }
    }
}
