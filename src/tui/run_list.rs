//! The runs table's state: the store's records, what was read of each one's experiment, and
//! the filter, marks and order the table shows them in.

use std::collections::{BTreeSet, HashMap};

use collm_store::{EvalPoint, RunId, RunRecord, FINAL_STAGE};

use crate::experiment::{settings, Experiment};
use crate::sweep::SeedSetting;

/// The columns of the runs table, which are also its sort keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Status,
    Id,
    Name,
    Settings,
    Auc,
    Uauc,
    WarmAuc,
    ColdAuc,
    Duration,
}

impl Column {
    pub const ALL: [Column; 9] = [
        Column::Status,
        Column::Id,
        Column::Name,
        Column::Settings,
        Column::Auc,
        Column::Uauc,
        Column::WarmAuc,
        Column::ColdAuc,
        Column::Duration,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Status => "Status",
            Column::Id => "Id",
            Column::Name => "Experiment",
            Column::Settings => "Settings",
            Column::Auc => "AUC",
            Column::Uauc => "UAUC",
            Column::WarmAuc => "Warm",
            Column::ColdAuc => "Cold",
            Column::Duration => "Time",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunsState {
    /// Oldest first, as the store lists them; changed only through the methods below, which
    /// keep `facts` in step.
    records: Vec<RunRecord>,
    /// What the views show of each run's experiment, read when its record arrives.
    facts: HashMap<RunId, RunFacts>,
    pub unreadable: Vec<String>,
    /// The splits some run keeps per-row scores of, as last listed.
    pub kept_splits: Vec<String>,
    pub filter: String,
    /// The filter being typed, when the filter prompt is open.
    pub filter_input: Option<String>,
    pub marked: BTreeSet<RunId>,
    pub sort: Column,
    pub descending: bool,
    /// The run under the cursor: the cursor follows it when the rows re-sort or change (a run
    /// gaining its first AUC moves up), so a key acts on the run it was pressed on.
    pub selected_id: Option<RunId>,
    /// The cursor's row when last placed, for when its run leaves the visible rows.
    pub selected: usize,
}

impl Default for RunsState {
    fn default() -> Self {
        RunsState {
            records: Vec::new(),
            facts: HashMap::new(),
            unreadable: Vec::new(),
            kept_splits: Vec::new(),
            filter: String::new(),
            filter_input: None,
            marked: BTreeSet::new(),
            sort: Column::Id,
            // Newest first.
            descending: true,
            selected_id: None,
            selected: 0,
        }
    }
}

/// What the views show of a run's experiment. Reading one parses its TOML and resolves its
/// data set's folder: done once when the record arrives (in `update`), never while drawing.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// The experiment text these were read from (a starting run may add `[reuse]` to it).
    experiment: String,
    /// The runs table's one-line summary of key settings.
    pub summary: String,
    pub setting: SeedSetting,
    /// A CoLLM run's parts before its final model (`cf`, `stage1`, ...).
    pub earlier_parts: Vec<String>,
    /// Its settings as `dotted.key -> value` (none when unreadable), for the compare view.
    pub flat: std::collections::BTreeMap<String, toml::Value>,
}

impl RunFacts {
    /// `known` if it was read from the record's experiment as it is now, else a fresh read.
    fn kept_or_read(known: Option<RunFacts>, record: &RunRecord) -> RunFacts {
        match known {
            Some(facts) if facts.experiment == record.experiment => facts,
            _ => RunFacts::read(record),
        }
    }

    fn read(record: &RunRecord) -> RunFacts {
        let text = &record.experiment;
        // Parsed once for all the facts (parsing resolves the data set's folder).
        let experiment = Experiment::of_run(record).ok();
        RunFacts {
            experiment: text.clone(),
            summary: settings::key_summary(text),
            setting: SeedSetting::of(text, experiment.as_ref()),
            earlier_parts: crate::compare::earlier_part_names(experiment.as_ref()),
            flat: Experiment::settings_of(record, experiment.as_ref()),
        }
    }
}

impl RunsState {
    /// Every run, oldest first.
    pub fn records(&self) -> &[RunRecord] {
        &self.records
    }

    /// The store's list, replacing the one held.
    pub fn set_records(&mut self, records: Vec<RunRecord>) {
        self.records = records;
        self.read_facts();
    }

    /// A run's new record, added if it is new; its experiment is read again only if changed.
    pub fn put(&mut self, record: RunRecord) {
        let known = self.facts.remove(&record.id);
        self.facts
            .insert(record.id.clone(), RunFacts::kept_or_read(known, &record));
        match self.records.iter_mut().find(|r| r.id == record.id) {
            Some(slot) => *slot = record,
            None => self.records.push(record),
        }
    }

    pub fn remove(&mut self, id: &RunId) {
        self.records.retain(|r| &r.id != id);
        self.facts.remove(id);
    }

    /// One more training step of a run, counted from its event stream.
    pub fn count_step(&mut self, id: &RunId) {
        if let Some(r) = self.records.iter_mut().find(|r| &r.id == id) {
            r.steps += 1;
        }
    }

    /// The rows of the runs table: the records the filter (or the one being typed) keeps, in
    /// the chosen order (`now_ms`: a running run's time so far).
    pub fn visible(&self, now_ms: u64) -> Vec<&RunRecord> {
        let needle = self.filter_input.as_deref().unwrap_or(&self.filter);
        let mut rows: Vec<&RunRecord> = self
            .records
            .iter()
            .filter(|r| {
                let facts = self.facts(r);
                settings::run_matches(r, &facts.summary, &facts.flat, needle)
            })
            .collect();
        let summary = |r: &RunRecord| self.facts(r).summary.as_str();
        rows.sort_by(|a, b| compare_by(self.sort, (a, summary(a)), (b, summary(b)), now_ms));
        if self.descending {
            rows.reverse();
        }
        rows
    }

    /// The facts of `record` (a record of this list).
    pub fn facts(&self, record: &RunRecord) -> &RunFacts {
        &self.facts[&record.id]
    }

    /// Reads the experiments not read yet or changed since, and forgets removed runs.
    fn read_facts(&mut self) {
        let mut facts = std::mem::take(&mut self.facts);
        self.facts = self
            .records
            .iter()
            .map(|r| (r.id.clone(), RunFacts::kept_or_read(facts.remove(&r.id), r)))
            .collect();
    }
}

/// Orders two runs, each with its settings summary, by `column`.
fn compare_by(
    column: Column,
    (a, a_summary): (&RunRecord, &str),
    (b, b_summary): (&RunRecord, &str),
    now_ms: u64,
) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let metric =
        |r: &RunRecord, pick: fn(&EvalPoint) -> Option<f64>| r.headline_eval().and_then(pick);
    // A final result outranks a stage's best so far (dimmed: another split's sample, weights
    // still changing), whatever the numbers: sorting to find the best run must not put a
    // provisional 0.80 on a 32-row sample above every finished run.
    let is_final = |r: &RunRecord| r.headline_eval().is_some_and(|e| e.stage == FINAL_STAGE);
    let by_f64 = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    };
    let duration = |r: &RunRecord| r.duration_s_at(Some(now_ms));
    let by_metric = |pick: fn(&EvalPoint) -> Option<f64>| {
        let a_value = metric(a, pick);
        let b_value = metric(b, pick);
        (a_value.is_some() && is_final(a))
            .cmp(&(b_value.is_some() && is_final(b)))
            .then_with(|| by_f64(a_value, b_value))
    };
    let primary = match column {
        Column::Status => a.status.as_str().cmp(b.status.as_str()),
        Column::Id => Ordering::Equal,
        Column::Name => a.name.cmp(&b.name),
        Column::Settings => a_summary.cmp(b_summary),
        Column::Auc => by_metric(|e| e.metrics.all.auc),
        Column::Uauc => by_metric(|e| e.metrics.all.uauc),
        Column::WarmAuc => by_metric(|e| e.metrics.warm.auc),
        Column::ColdAuc => by_metric(|e| e.metrics.cold.auc),
        Column::Duration => by_f64(duration(a), duration(b)),
    };
    // Ties (and the Id column) fall back to creation order.
    primary.then_with(|| {
        (a.created_ms, a.id.as_str().len(), a.id.as_str()).cmp(&(
            b.created_ms,
            b.id.as_str().len(),
            b.id.as_str(),
        ))
    })
}
