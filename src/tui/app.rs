//! The UI's whole state: one `App`, changed only by `update`, read by `view`.

use crate::tui::widgets::extent::Extent;
use std::collections::HashMap;
use std::path::PathBuf;

use collm_eval::Breakdown;
use collm_store::{RunId, RunRecord};

use crate::compare::{ColumnDifferences, Target};
use crate::experiment::settings::Field;
use crate::tui::detail::RunDetail;
use crate::tui::keymap::View;
use crate::tui::message::Command;
use crate::tui::theme::Theme;

pub use crate::tui::run_list::{Column, RunFacts, RunsState};

/// The smallest terminal the views are laid out for.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// The application state.
#[derive(Debug)]
pub struct App {
    pub theme: Theme,
    /// The store folder, shown in the title bar.
    pub store_label: String,
    /// This process: runs it is running are the ones quitting would stop.
    pub pid: u32,
    pub view: View,
    /// The help overlay, with its scroll offset, when shown.
    pub help: Option<u16>,
    /// The help overlay as last drawn (its offset stays within it).
    pub help_extent: Extent,
    /// A question that takes the next key: y does it, anything else leaves it.
    pub confirm: Option<Confirm>,
    pub should_quit: bool,
    pub now_ms: u64,
    pub runs: RunsState,
    /// Runs loaded with their points, live-updated.
    pub details: HashMap<RunId, RunDetail>,
    pub run_view: RunViewState,
    pub metrics: MetricsState,
    pub compare: CompareState,
    pub prompt: PromptState,
    pub launch: LaunchState,
    pub status: Option<StatusLine>,
    /// The terminal's size as last reported (none yet: taken as large enough).
    pub screen: Option<(u16, u16)>,
    /// Requests for the background thread, drained by the event loop after each update.
    pub commands: Vec<Command>,
}

/// The last notice or error, shown in the bottom line until the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusLine {
    pub text: String,
    pub error: bool,
    /// When it was said (the app's clock): the bottom line gives way to the view's keys
    /// [`STATUS_SHOWN_MS`] later, so a message does not follow the user from view to view.
    pub at_ms: u64,
    /// The view whose key it answers (shown in that view only), or none for news of the runs
    /// (one ended, was deleted or queued), shown in every view.
    pub view: Option<View>,
}

/// How long a notice or error holds the bottom line.
pub const STATUS_SHOWN_MS: u64 = 20_000;

#[derive(Debug, Clone, Default)]
pub struct RunViewState {
    /// The run shown.
    pub id: Option<RunId>,
    /// The stage shown; `None` follows the latest stage.
    pub stage: Option<usize>,
    /// Lines scrolled up from the end of the event log.
    pub log_scroll: usize,
    /// The event log as last drawn (`log_scroll` stays within it).
    pub log_extent: Extent,
}

#[derive(Debug, Clone)]
pub struct MetricsState {
    pub split: String,
    pub baseline: Option<Target>,
    /// The highlighted column.
    pub column: usize,
    /// Metric rows scrolled past (↑↓), where the table does not fit.
    pub row_scroll: usize,
    /// Rows of the differences scrolled past (PgUp PgDn), where they do not fit.
    pub difference_scroll: usize,
    /// Each CoLLM run also shown by its parts: its foundation alone and its earlier stages.
    pub parts: bool,
    /// Runs of one setting that differ only in their seeds shown as one column: their mean,
    /// paired with other such columns seed by seed.
    pub seeds: bool,
    /// The differences from the baseline, measured for the request they answer.
    pub significance: Option<Significance>,
    /// The metrics of kept per-row scores, read for the columns whose runs hold no evaluation
    /// of a split (`collm eval --data FILE --predictions` keeps scores no record shows), by
    /// target and split.
    pub kept: HashMap<(Target, String), Kept>,
}

/// A target's kept per-row scores of a split, as the metrics view knows them.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// Asked of the background, not back yet.
    Asked,
    /// Read: their metrics, none when it keeps none.
    Read(Option<Breakdown>),
}

impl MetricsState {
    /// The metrics of `target`'s kept scores of `split`, once read (see [`MetricsState::kept`]).
    pub fn kept_metrics(&self, target: &Target, split: &str) -> Option<Breakdown> {
        match self.kept.get(&(target.clone(), split.to_string())) {
            Some(Kept::Read(metrics)) => metrics.clone(),
            _ => None,
        }
    }

    /// Whether `target`'s kept scores of `split` are being read.
    pub fn kept_asked(&self, target: &Target, split: &str) -> bool {
        self.kept.get(&(target.clone(), split.to_string())) == Some(&Kept::Asked)
    }
}

impl Default for MetricsState {
    fn default() -> Self {
        MetricsState {
            split: "valid".into(),
            baseline: None,
            column: 0,
            row_scroll: 0,
            difference_scroll: 0,
            parts: false,
            seeds: false,
            significance: None,
            kept: HashMap::new(),
        }
    }
}

/// User resamples of the metrics view's paired bootstrap (`collm compare`'s default; seed 0).
pub const SIGNIFICANCE_RESAMPLES: usize = 1000;

/// The paired bootstrap the metrics view shows: what was asked (split, baseline, the other
/// columns with when each of their runs ended, so that a run finishing asks again) and, once
/// back, the answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Significance {
    pub split: String,
    pub base: Vec<Target>,
    /// When the baseline's runs ended: one that finishes (or ends again) since asks anew.
    pub base_ended: Vec<Option<u64>>,
    pub others: Vec<(Vec<Target>, Vec<Option<u64>>)>,
    pub results: Option<ColumnDifferences>,
}

/// One column of the metrics view: a run or a part of one, or, with seeds grouped, the runs of
/// one setting (or the same part of each) in seed order.
pub type MetricsColumn<'a> = Vec<(Target, &'a RunRecord)>;

/// What a metrics column measures, as `collm compare` takes a column.
pub fn column_targets(column: &MetricsColumn) -> Vec<Target> {
    column.iter().map(|(t, _)| t.clone()).collect()
}

/// The curve the compare view overlays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Curve {
    #[default]
    Loss,
    Lr,
    Auc,
    Uauc,
}

impl Curve {
    pub fn next(self) -> Curve {
        match self {
            Curve::Loss => Curve::Lr,
            Curve::Lr => Curve::Auc,
            Curve::Auc => Curve::Uauc,
            Curve::Uauc => Curve::Loss,
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Curve::Loss => "smoothed loss",
            Curve::Lr => "learning rate",
            Curve::Auc => "AUC",
            Curve::Uauc => "UAUC",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CompareState {
    pub curve: Curve,
    /// Index into the stage names of the compared runs.
    pub stage: usize,
    /// The highlighted row of the differing settings (the table scrolls to keep it in view).
    pub setting: usize,
    /// The run column kept in view when not all the compared runs fit across.
    pub run: usize,
}

/// A piece of a prompt: text, or an ID slot (named by its template tag).
#[derive(Debug, Clone, PartialEq)]
pub enum PromptPart {
    Text(String),
    Slot(String),
}

/// One row of the inspected user: the target item, its label and the model's P(Yes).
#[derive(Debug, Clone, PartialEq)]
pub struct InspectedRow {
    pub iid: u32,
    pub title: String,
    pub label: u8,
    pub warm: bool,
    pub p_yes: Option<f64>,
}

/// What the prompt inspector shows for one user.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    pub uid: u32,
    pub split: String,
    /// Where the prompt and scores come from (a run, or the experiment's data set alone).
    pub source: String,
    /// The user's liked titles, oldest first, as the prompt lists them.
    pub history: Vec<String>,
    /// The prompt of the user's first row.
    pub prompt: Vec<PromptPart>,
    /// Which prompt that is: the run's final one (text for TALLRec or zero-shot runs).
    pub prompt_kind: collm_pipeline::PromptKind,
    /// Whether the source's model reads that prompt: a `cf` run scores its vectors alone (the
    /// prompt is then the one a CoLLM run would read).
    pub run_reads_prompt: bool,
    pub token_count: Option<usize>,
    pub rows: Vec<InspectedRow>,
    /// AUC over the user's scored rows (none without both labels among them).
    pub user_auc: Option<UserAuc>,
    /// Why some part is missing (no tokenizer, no trained run), if it is.
    pub note: Option<String>,
}

/// One user's AUC and the rows it is of: every row of the user in the split is this user's term
/// in UAUC; fewer (the inspector scores only some) are a sample of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserAuc {
    pub auc: f64,
    pub rows: usize,
}

impl Inspection {
    /// The rows in the order the view lists them: the split's, or by P(Yes), highest first
    /// (unscored rows last, in the split's order).
    pub fn ordered_rows(&self, by_score: bool) -> Vec<&InspectedRow> {
        let mut rows: Vec<&InspectedRow> = self.rows.iter().collect();
        if by_score {
            rows.sort_by(|a, b| {
                // Unscored rows, and NaN scores of a diverged run, go last.
                let key =
                    |r: &InspectedRow| r.p_yes.filter(|p| !p.is_nan()).unwrap_or(f64::NEG_INFINITY);
                key(b).total_cmp(&key(a))
            });
        }
        rows
    }
}

#[derive(Debug, Clone)]
pub struct PromptState {
    pub split: String,
    pub users: Vec<u32>,
    pub selected: usize,
    /// The user id being typed, when the search prompt is open.
    pub search: Option<String>,
    pub inspection: Option<Inspection>,
    /// The first of the user's rows shown (`[` and `]` scroll them).
    pub row_offset: usize,
    /// Rows by P(Yes), highest first, instead of the split's order (`s`).
    pub rows_by_score: bool,
    pub loading: bool,
    pub error: Option<String>,
    /// The run, split and user of the last inspection asked for: when the view is shown
    /// again for another run (or split), it asks again instead of showing the old one's.
    pub asked: Option<(Option<collm_store::RunId>, String, u32)>,
    /// The rows table as last drawn (`row_offset` stays within it).
    pub rows_extent: Extent,
    /// The first line of the wrapped prompt shown (`{` and `}` scroll it: on a small terminal
    /// its end, the target and the ID slots, would otherwise be out of view).
    pub prompt_offset: usize,
    /// The prompt pane as last drawn.
    pub prompt_extent: Extent,
}

impl Default for PromptState {
    fn default() -> Self {
        PromptState {
            split: "valid".into(),
            users: Vec::new(),
            selected: 0,
            search: None,
            inspection: None,
            row_offset: 0,
            rows_by_score: false,
            loading: false,
            error: None,
            asked: None,
            rows_extent: Extent::default(),
            prompt_offset: 0,
            prompt_extent: Extent::default(),
        }
    }
}

/// An experiment that can be launched: a file of `./experiments` or the embedded default.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentChoice {
    pub label: String,
    pub path: Option<PathBuf>,
    pub name: String,
    pub text: String,
    /// Why it cannot be launched as it is (a parse error naming line and field).
    pub problem: Option<String>,
}

/// Which side of the launch view has the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LaunchFocus {
    #[default]
    List,
    Form,
}

/// What a yes/no question overlay asks before doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// Quit, cancelling this window's active runs.
    Quit,
    /// Delete this run from the store (record, curves, weights, kept scores).
    Delete { id: RunId, name: String },
}

#[derive(Debug, Clone, Default)]
pub struct LaunchState {
    /// Where the experiment files were looked for (`collm --experiments`).
    pub folder: String,
    pub choices: Vec<ExperimentChoice>,
    pub selected: usize,
    pub fields: Vec<Field>,
    /// The fields as the highlighted experiment's file writes them: a field that differs was
    /// edited, and shows so (an edit kept from an earlier visit must not pass for the file's).
    pub file_fields: Vec<Field>,
    pub field: usize,
    pub focus: LaunchFocus,
    /// The value being typed into the highlighted field.
    pub editing: Option<String>,
    pub error: Option<String>,
    /// The forms of the experiments highlighted before (by label), with their edits and
    /// highlighted field: moving through the list does not throw edits away.
    pub kept: HashMap<String, (Vec<crate::experiment::settings::Field>, usize)>,
    /// Whether the next run queued opens in the Run view: the first of a launch does (of a
    /// grid, the one that trains first), not each queued behind it.
    pub opens_next: bool,
}

impl App {
    pub fn new(store_label: impl Into<String>, theme: Theme, now_ms: u64) -> Self {
        App {
            theme,
            store_label: store_label.into(),
            pid: std::process::id(),
            view: View::Runs,
            help: None,
            help_extent: Extent::default(),
            confirm: None,
            should_quit: false,
            now_ms,
            runs: RunsState::default(),
            details: HashMap::new(),
            run_view: RunViewState::default(),
            metrics: MetricsState::default(),
            compare: CompareState::default(),
            prompt: PromptState::default(),
            launch: LaunchState::default(),
            status: None,
            screen: None,
            commands: vec![Command::RefreshRuns, Command::LoadExperiments],
        }
    }

    /// Whether the terminal is too small to draw the views (only the too-small notice shows).
    pub fn too_small(&self) -> bool {
        self.screen
            .is_some_and(|(width, height)| width < MIN_WIDTH || height < MIN_HEIGHT)
    }

    pub fn record(&self, id: &RunId) -> Option<&RunRecord> {
        self.runs.records().iter().find(|r| &r.id == id)
    }

    /// The runs this process is running or has queued: quitting would stop them.
    pub fn active_runs(&self) -> Vec<RunId> {
        self.runs
            .records()
            .iter()
            .filter(|r| !r.status.is_terminal() && r.pid == self.pid)
            .map(|r| r.id.clone())
            .collect()
    }

    /// The runs table's rows after the filter, in the chosen order.
    pub fn visible_runs(&self) -> Vec<&RunRecord> {
        self.runs.visible(self.now_ms)
    }

    /// The cursor's row among the visible runs: that of the selected run, else (it left the
    /// rows) where the cursor last was, within the rows.
    pub fn selected_index(&self) -> usize {
        self.selected_in(&self.visible_runs())
    }

    /// [`App::selected_index`] within `visible`, the visible runs already listed (listing
    /// filters and sorts every run).
    pub fn selected_in(&self, visible: &[&RunRecord]) -> usize {
        self.runs
            .selected_id
            .as_ref()
            .and_then(|id| visible.iter().position(|r| &r.id == id))
            .unwrap_or_else(|| self.runs.selected.min(visible.len().saturating_sub(1)))
    }

    /// The run under the cursor of the runs table.
    pub fn selected_run(&self) -> Option<&RunRecord> {
        let visible = self.visible_runs();
        visible.get(self.selected_in(&visible)).copied()
    }

    /// Puts the cursor on row `index` of the visible runs (and so on its run).
    pub fn select_row(&mut self, index: usize) {
        self.runs.selected_id = self.visible_runs().get(index).map(|r| r.id.clone());
        self.runs.selected = index;
    }

    /// The runs the metrics and compare views show: the marked ones, else the selected one;
    /// oldest first, so columns keep their place.
    pub fn chosen_runs(&self) -> Vec<&RunRecord> {
        if self.runs.marked.is_empty() {
            return self.selected_run().into_iter().collect();
        }
        self.runs
            .records()
            .iter()
            .filter(|r| self.runs.marked.contains(&r.id))
            .collect()
    }

    /// The stages the Compare view can show: those with a loss curve in any chosen run, in
    /// order of first appearance.
    pub fn compared_stages(&self) -> Vec<String> {
        let mut stages: Vec<String> = Vec::new();
        for r in self.chosen_runs() {
            for s in self.details.get(&r.id).map_or(&[][..], |d| &d.stages[..]) {
                if !stages.contains(&s.name) && !s.loss.is_empty() {
                    stages.push(s.name.clone());
                }
            }
        }
        stages
    }

    /// The settings in which the chosen runs differ: each key with every run's value (`None`
    /// where a run's experiment has no such key), in key order.
    pub fn differing_settings(&self) -> Vec<(String, Vec<Option<String>>)> {
        let runs = self.chosen_runs();
        let flats: Vec<_> = runs.iter().map(|r| &self.runs.facts(r).flat).collect();
        crate::experiment::settings::diff_flat(&flats)
    }

    /// What the metrics view's columns measure: the chosen runs (grouped by setting over seeds
    /// when asked, `s`), each preceded by its earlier parts when those are asked for (`o`).
    pub fn metrics_columns(&self) -> Vec<MetricsColumn<'_>> {
        let runs = self.chosen_runs();
        let groups = if self.metrics.seeds {
            crate::sweep::group_by_seeds(runs.into_iter().map(|r| (&self.runs.facts(r).setting, r)))
        } else {
            runs.into_iter().map(|r| vec![r]).collect()
        };
        groups
            .into_iter()
            .flat_map(|group| {
                let parts: Vec<Option<String>> = if self.metrics.parts {
                    let names = &self.runs.facts(group[0]).earlier_parts;
                    names.iter().cloned().map(Some).collect()
                } else {
                    Vec::new()
                };
                parts
                    .into_iter()
                    .chain([None])
                    .map(|part| {
                        group
                            .iter()
                            .map(|&r| {
                                let target = Target {
                                    run: r.id.clone(),
                                    part: part.clone(),
                                };
                                (target, r)
                            })
                            .collect()
                    })
                    .collect::<Vec<MetricsColumn>>()
            })
            .collect()
    }

    /// The metrics view's baseline among `columns`: the column holding the chosen one if it is
    /// shown, else the first column.
    pub fn metrics_base_index(&self, columns: &[MetricsColumn]) -> usize {
        self.metrics
            .baseline
            .as_ref()
            .and_then(|b| columns.iter().position(|c| c.iter().any(|(t, _)| t == b)))
            // Unchosen, the first column with a result on the split: one without would leave
            // nothing to measure the others against.
            .or_else(|| {
                columns.iter().position(|c| {
                    c.iter()
                        .all(|(t, r)| t.result_on(r, &self.metrics.split).is_some())
                })
            })
            .unwrap_or(0)
    }

    /// Seconds a run has taken, counting up to now while it runs.
    pub fn duration_s(&self, record: &RunRecord) -> Option<f64> {
        record.duration_s_at(Some(self.now_ms))
    }

    /// Every split any listed run evaluated, `valid` first.
    pub fn known_splits(&self) -> Vec<String> {
        let mut splits: Vec<String> = Vec::new();
        let evaluated = self
            .runs
            .records()
            .iter()
            .flat_map(|r| &r.best)
            .map(|e| &e.split);
        for split in evaluated.chain(&self.runs.kept_splits) {
            if !splits.contains(split) {
                splits.push(split.clone());
            }
        }
        if !splits.iter().any(|s| s == "valid") {
            splits.push("valid".into());
        }
        splits.sort_by_key(|s| (s != "valid", s.clone()));
        splits
    }

    /// What a key in the current view did.
    pub fn notice(&mut self, text: impl Into<String>) {
        self.say(text.into(), false, Some(self.view));
    }

    /// Why a key in the current view did nothing.
    pub fn error(&mut self, text: impl Into<String>) {
        self.say(text.into(), true, Some(self.view));
    }

    /// News of the runs, for every view (`error`: the news is bad).
    pub fn announce(&mut self, text: impl Into<String>, error: bool) {
        self.say(text.into(), error, None);
    }

    fn say(&mut self, text: String, error: bool, view: Option<View>) {
        self.status = Some(StatusLine {
            text,
            error,
            at_ms: self.now_ms,
            view,
        });
    }
}
