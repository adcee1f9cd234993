//! The prompt inspector's data, computed on the background thread: a split's users, and for one
//! user the history titles, the prompt the run reads (with its ID slots, if hybrid), and a
//! finished run's scores.
//!
//! The prompt is built with the pipeline's own template filling (`collm_pipeline::prompt::fill`):
//! a CoLLM run's final prompt from its own templates, so it is the text the model reads; for a
//! CF run (or no run) the shipped hybrid movie template, the prompt a CoLLM run would read. For a
//! CF run the model's P(Yes) is sigmoid of its score with the run's best weights.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use collm_data::Dataset;
use collm_pipeline::prompt::{fill, FilledPrompt, PromptText, Segment, SlotKind};
use collm_pipeline::template::{Domain, Placeholder, PromptKind, Template};
use collm_store::{RunId, RunRecord, RunStatus, Store};

use collm_eval::predictions::{read_predictions, RowKey};

use crate::experiment::{Experiment, ExperimentKind, DEFAULT_EXPERIMENT};
use crate::runner::predictions::predictions_path;
use crate::tui::app::{InspectedRow, Inspection, PromptPart, UserAuc};

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
        let rows = split_rows(dataset, split)?;
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
        let split_rows = split_rows(dataset, split)?;
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

        // The run's own history settings: its prompt lists that many titles.
        let settings = experiment
            .pipeline()
            .map_or_else(PromptText::default, |c| c.prompt.text());
        let all_titles: Vec<String> = first.his.iter().map(|&i| title(i)).collect();
        let shown = all_titles[all_titles.len().saturating_sub(settings.max_history)..].to_vec();

        let scores = match &record {
            Some(r) => scores(store, r, &experiment, dataset, &rows, split),
            None => Scores::missing("no run chosen: open or select a finished run for P(Yes)"),
        };
        let logit = |i: usize| scores.logits.get(i).copied().flatten();
        let inspected: Vec<InspectedRow> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| InspectedRow {
                iid: r.iid,
                title: title(r.iid),
                label: r.label,
                warm: r.warm,
                p_yes: logit(i).map(sigmoid),
            })
            .collect();
        // On the logits: sigmoid rounds confident rows' probabilities into ties.
        let (labels, scored): (Vec<u8>, Vec<f32>) = (0..rows.len())
            .filter_map(|i| logit(i).map(|l| (rows[i].label, l)))
            .unzip();
        let user_auc = collm_eval::auc(&labels, &scored).map(|auc| UserAuc {
            auc,
            rows: scored.len(),
        });
        let source = match &record {
            Some(r) => format!("run {} ({})", r.id, r.name),
            None => "embedded default data".to_string(),
        };
        // A finished CoLLM run's own filling when it scored the row, else the same template
        // filled here; a template file gone since the run costs only the prompt.
        let prompt_kind = prompt_kind(&experiment);
        let prompt = match scores.prompt {
            Some(filled) => prompt_parts(&filled),
            None => match prompt_template(&experiment, prompt_kind) {
                Ok(template) => {
                    let refs: Vec<&str> = shown.iter().map(String::as_str).collect();
                    prompt_parts(&fill(&template, &refs, &title(first.iid), &settings))
                }
                Err(err) => vec![PromptPart::Text(format!(
                    "(the prompt cannot be shown: the run's template: {err})"
                ))],
            },
        };
        Ok(Inspection {
            uid,
            split: split.to_string(),
            source,
            history: shown,
            prompt,
            prompt_kind,
            run_reads_prompt: record.is_none() || experiment.kind == ExperimentKind::Collm,
            token_count: scores.token_count,
            rows: inspected,
            user_auc,
            note: Some(scores.note),
        })
    }
}

/// The rows of `split`, or why there are none.
fn split_rows<'d>(
    dataset: &'d Dataset,
    split: &str,
) -> Result<&'d [collm_data::Interaction], String> {
    dataset
        .split(split)
        .map(|s| s.rows.as_slice())
        .ok_or_else(|| format!("the dataset has no split `{split}`"))
}

/// The prompt the inspected source reads: a CoLLM run's final prompt (text for TALLRec or
/// zero-shot runs, hybrid once a stage reads the ID slots); for a CF run, or none, the hybrid
/// prompt a CoLLM run would read.
fn prompt_kind(experiment: &Experiment) -> PromptKind {
    experiment
        .pipeline()
        .map_or(PromptKind::Hybrid, |cfg| cfg.final_prompt())
}

/// The template of prompt `kind`: a CoLLM run's own (its file, or the shipped one of its
/// domain), else the shipped movie template.
fn prompt_template(experiment: &Experiment, kind: PromptKind) -> Result<Template, String> {
    match experiment.pipeline() {
        // Template paths were made absolute when the experiment was read.
        Some(cfg) => cfg
            .prompt
            .template(kind, Path::new("/"))
            .map_err(|e| e.to_string()),
        None => Ok(Template::builtin(kind, Domain::Movie)),
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

/// What a run adds to the inspector: P(Yes) per row (none for a row not scored) and, for CoLLM
/// runs, the prompt as the run fills it and its token count (counting needs the run's LLM
/// tokenizer).
struct Scores {
    /// The score (logit) of each row; none for a row not scored.
    logits: Vec<Option<f32>>,
    note: String,
    token_count: Option<usize>,
    prompt: Option<FilledPrompt>,
}

impl Scores {
    fn missing(why: impl Into<String>) -> Self {
        Scores {
            logits: Vec::new(),
            note: why.into(),
            token_count: None,
            prompt: None,
        }
    }
}

fn sigmoid(logit: f32) -> f64 {
    1.0 / (1.0 + (-f64::from(logit)).exp())
}

/// The most rows of one user the inspector scores with the LLM while the user waits: a few
/// seconds on 2 cores. A user of the embedded data has up to 794 rows in `valid`, minutes.
pub const LIVE_ROWS: usize = 32;

/// sigmoid(score) of each row with the run's best weights, or why there is none.
fn scores(
    store: &Store,
    record: &RunRecord,
    experiment: &Experiment,
    dataset: &Dataset,
    rows: &[collm_data::Interaction],
    split: &str,
) -> Scores {
    if record.status != RunStatus::Finished {
        return Scores::missing(format!(
            "run {} is {}: P(Yes) needs a finished run",
            record.id, record.status
        ));
    }
    match experiment.kind {
        ExperimentKind::Cf => {
            match crate::runner::score_best(store, record, experiment, dataset, rows) {
                Ok(scored) => Scores {
                    logits: scored.iter().map(|s| Some(s.logit)).collect(),
                    note: "P(Yes) = sigmoid(CF score), best weights; a CF run has no tokens"
                        .to_string(),
                    token_count: None,
                    prompt: None,
                },
                Err(err) => Scores::missing(format!("cannot score: {err}")),
            }
        }
        // A run without stages (zero-shot) has no weights of its own: the backbone is its model.
        ExperimentKind::Collm => {
            collm_scores(experiment, &store.run_dir(&record.id), dataset, rows, split)
        }
    }
}

/// A finished CoLLM run's scores of `rows` (one user's): those its final evaluation of `split`
/// kept, read back, and up to [`LIVE_ROWS`] more scored now. The first row is scored in any case,
/// for its prompt and token count (the inspector shows them); a kept score stays as kept.
fn collm_scores(
    experiment: &Experiment,
    run_dir: &Path,
    dataset: &Dataset,
    rows: &[collm_data::Interaction],
    split: &str,
) -> Scores {
    let kept: HashMap<_, f32> = read_predictions(&predictions_path(run_dir, split, None))
        .unwrap_or_default()
        .iter()
        .map(|p| (p.row(), p.logit))
        .collect();
    // The key kept predictions are paired by (`Prediction::row`).
    let key = |r: &collm_data::Interaction| -> RowKey { (r.uid, r.iid, r.label, r.warm) };
    let mut logits: Vec<Option<f32>> = rows.iter().map(|r| kept.get(&key(r)).copied()).collect();
    let from_evaluation = logits.iter().flatten().count();
    let first_kept = logits[0].is_some();
    let live: Vec<usize> = std::iter::once(0)
        .chain((1..rows.len()).filter(|&i| logits[i].is_none()))
        .take(LIVE_ROWS + usize::from(first_kept))
        .collect();
    let live_rows: Vec<_> = live.iter().map(|&i| rows[i].clone()).collect();
    let (scored_now, token_count, prompt, failure) = match crate::runner::collm::score_finished(
        experiment, run_dir, dataset, &live_rows, None,
    ) {
        Ok(f) => {
            for (&i, s) in live.iter().zip(&f.scored) {
                logits[i].get_or_insert(s.logit);
            }
            let now = live.len() - usize::from(first_kept);
            (now, f.token_counts.first().copied(), f.first_prompt, None)
        }
        // What the evaluation kept is still worth showing.
        Err(err) => (0, None, None, Some(err)),
    };
    let unscored = logits.iter().filter(|l| l.is_none()).count();
    let mut note = format!(
        "final model's P(Yes): {from_evaluation} from its evaluation, {scored_now} scored now"
    );
    if unscored > 0 {
        note.push_str(&format!(", {unscored} unscored (max {LIVE_ROWS} a user)"));
    }
    if let Some(err) = failure {
        note.push_str(&format!("; cannot score more: {err}"));
    }
    Scores {
        logits,
        note,
        token_count,
        prompt,
    }
}
