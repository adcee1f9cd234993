//! `update`: the only place the state changes, one message at a time. Slow work is never done
//! here: it is asked of the background thread through `App::commands`.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use crate::compare::{column_header, Target};
use crate::experiment::settings;
use crate::tui::app::{
    column_targets, App, Column, Confirm, ExperimentChoice, LaunchFocus, MetricsState, Significance,
};
use crate::tui::detail::RunDetail;
use crate::tui::keymap::{action_for, Action, View};
use crate::tui::message::{Command, Message};

/// Rows moved by PageUp / PageDown.
const PAGE: usize = 10;

/// Applies one message to the state.
pub fn update(app: &mut App, message: Message) {
    apply(app, message);
    ask_significance(app);
}

fn apply(app: &mut App, message: Message) {
    match message {
        Message::Key(key) => on_key(app, key),
        Message::Resize => {}
        Message::Tick { now_ms } => app.now_ms = now_ms,
        Message::Runs {
            records,
            unreadable,
        } => {
            app.runs.set_records(records);
            app.runs.unreadable = unreadable;
            clamp_selection(app);
        }
        Message::RunUpdated(record) => {
            announce_end(app, &record);
            app.runs.put(*record);
        }
        Message::RunLoaded(full) => {
            let detail = RunDetail::from_full(&full);
            app.runs.put(full.record);
            app.details.insert(detail.id.clone(), detail);
        }
        Message::RunEvent { id, event, at_ms } => {
            if let Some(detail) = app.details.get_mut(&id) {
                detail.apply(&event, at_ms);
            }
            if let collm_events::Event::Step { .. } = &*event {
                app.runs.count_step(&id);
            }
        }
        Message::Experiments { folder, choices } => {
            app.launch.folder = folder;
            set_choices(app, choices);
        }
        Message::Users { split, users } => {
            if split == app.prompt.split {
                app.prompt.users = users;
                app.prompt.selected = app
                    .prompt
                    .selected
                    .min(app.prompt.users.len().saturating_sub(1));
            }
        }
        Message::Inspected(result) => {
            app.prompt.loading = false;
            match result {
                Ok(inspection) => {
                    app.prompt.inspection = Some(*inspection);
                    app.prompt.row_offset = 0;
                    app.prompt.error = None;
                }
                Err(err) => app.prompt.error = Some(err),
            }
        }
        Message::Launched { id, name } => {
            app.notice(format!("queued run {id} ({name})"));
            app.commands.push(Command::LoadRun(id.clone()));
            app.run_view = Default::default();
            app.run_view.id = Some(id);
            app.view = View::Run;
        }
        Message::Deleted { id, bytes } => {
            forget_run(app, &id);
            app.notice(format!(
                "deleted run {id} ({:.1} MB freed)",
                bytes as f64 / 1e6
            ));
        }
        Message::Significance {
            split,
            base,
            results,
        } => {
            if let Some(asked) = &mut app.metrics.significance {
                let answers: Vec<&Vec<Target>> = results.iter().map(|(t, _)| t).collect();
                let wanted: Vec<&Vec<Target>> = asked.others.iter().map(|(t, _)| t).collect();
                if asked.split == split && asked.base == base && answers == wanted {
                    asked.results = Some(results);
                }
            }
        }
        Message::Notice(text) => app.notice(text),
        Message::Error(text) => app.error(text),
    }
}

/// Says in the status line when a run this TUI saw live ends, whichever view is open: a run is
/// launched and then waited for while one looks at others.
fn announce_end(app: &mut App, record: &collm_store::RunRecord) {
    let was_live = app
        .runs
        .records()
        .iter()
        .any(|r| r.id == record.id && !r.status.is_terminal());
    if !was_live || !record.status.is_terminal() {
        return;
    }
    let (id, name, status) = (&record.id, &record.name, record.status);
    let result = match (record.headline_auc(), &record.error) {
        (_, Some(error)) if status != collm_store::RunStatus::Finished => format!(": {error}"),
        (Some(h), _) if h.is_final() => format!(": {} AUC {:.4}", h.split, h.auc),
        _ => String::new(),
    };
    let text = format!("run {id} ({name}) {status}{result}");
    if status == collm_store::RunStatus::Failed {
        app.error(text);
    } else {
        app.notice(text);
    }
}

/// While the metrics view shows two or more runs, asks the background for the paired bootstrap
/// of each against the baseline whenever what is shown changed (split, baseline, runs, or a run
/// that ended since): the view itself only draws the answer.
fn ask_significance(app: &mut App) {
    if app.view != View::Metrics {
        return;
    }
    let columns = app.metrics_columns();
    if columns.len() < 2 {
        return;
    }
    let base_index = app.metrics_base_index(&columns);
    let base = column_targets(&columns[base_index]);
    let others: Vec<(Vec<Target>, Vec<Option<u64>>)> = columns
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != base_index)
        .map(|(_, c)| {
            (
                column_targets(c),
                c.iter().map(|(_, r)| r.ended_ms).collect(),
            )
        })
        .collect();
    let split = app.metrics.split.clone();
    if app
        .metrics
        .significance
        .as_ref()
        .is_some_and(|s| s.split == split && s.base == base && s.others == others)
    {
        return;
    }
    app.commands.push(Command::Significance {
        split: split.clone(),
        base: base.clone(),
        others: others.iter().map(|(t, _)| t.clone()).collect(),
    });
    app.metrics.significance = Some(Significance {
        split,
        base,
        others,
        results: None,
    });
}

fn on_key(app: &mut App, key: KeyEvent) {
    // Key release and repeat events (kitty protocol) would act twice.
    if key.kind == KeyEventKind::Release {
        return;
    }
    if let Some(question) = app.confirm.take() {
        if matches!(
            key.code,
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter
        ) {
            confirmed(app, question);
        }
        return;
    }
    if let Some(scroll) = app.help {
        match action_for(app.view, &key) {
            Some(Action::Help | Action::Back | Action::Quit) => app.help = None,
            Some(Action::Down) => app.help = Some(scroll.saturating_add(1)),
            Some(Action::Up) => app.help = Some(scroll.saturating_sub(1)),
            Some(Action::PageDown) => app.help = Some(scroll.saturating_add(PAGE as u16)),
            Some(Action::PageUp) => app.help = Some(scroll.saturating_sub(PAGE as u16)),
            _ => {}
        }
        return;
    }
    if text_input(app, &key) {
        return;
    }
    if let Some(action) = action_for(app.view, &key) {
        on_action(app, action);
    }
}

/// Text prompts (runs filter, user search, a form field) take every key while open.
fn text_input(app: &mut App, key: &KeyEvent) -> bool {
    let buffer = match app.view {
        View::Runs => app.runs.filter_input.as_mut(),
        View::Prompt => app.prompt.search.as_mut(),
        View::Launch => app.launch.editing.as_mut(),
        _ => None,
    };
    let Some(buffer) = buffer else { return false };
    if key
        .modifiers
        .contains(crossterm::event::KeyModifiers::CONTROL)
    {
        if key.code == KeyCode::Char('c') {
            // Ctrl-C still quits from a prompt.
            return false;
        }
        return true;
    }
    match key.code {
        KeyCode::Char(c) => buffer.push(c),
        KeyCode::Backspace => {
            buffer.pop();
        }
        KeyCode::Enter => accept_input(app),
        KeyCode::Esc => cancel_input(app),
        _ => {}
    }
    if app.view == View::Runs {
        app.runs.selected = 0;
    }
    if app.view == View::Prompt {
        jump_to_typed_user(app);
    }
    true
}

fn accept_input(app: &mut App) {
    match app.view {
        View::Runs => {
            app.runs.filter = app.runs.filter_input.take().unwrap_or_default();
        }
        View::Prompt => {
            let typed = app.prompt.search.take().unwrap_or_default();
            match typed.trim().parse::<u32>() {
                Ok(uid) => inspect(app, uid),
                Err(_) => app.error(format!("`{typed}` is not a user id (a whole number)")),
            }
        }
        View::Launch => {
            let typed = app.launch.editing.take().unwrap_or_default();
            let i = app.launch.field;
            if let Some(field) = app.launch.fields.get(i) {
                match settings::parse_input(field, &typed) {
                    Ok(values) => {
                        app.launch.fields[i].set(values);
                        app.launch.error = None;
                    }
                    Err(err) => app.launch.error = Some(err),
                }
            }
        }
        _ => {}
    }
}

fn cancel_input(app: &mut App) {
    match app.view {
        View::Runs => app.runs.filter_input = None,
        View::Prompt => app.prompt.search = None,
        View::Launch => app.launch.editing = None,
        _ => {}
    }
}

/// While typing a user id, the list follows the first user whose id starts with it.
fn jump_to_typed_user(app: &mut App) {
    let Some(typed) = app.prompt.search.as_deref().filter(|t| !t.is_empty()) else {
        return;
    };
    if let Some(i) = app
        .prompt
        .users
        .iter()
        .position(|u| u.to_string().starts_with(typed))
    {
        app.prompt.selected = i;
    }
}

/// Does what the question overlay asked about, once answered yes.
fn confirmed(app: &mut App, question: Confirm) {
    match question {
        Confirm::Quit => {
            for id in app.active_runs() {
                app.commands.push(Command::Cancel(id));
            }
            app.should_quit = true;
        }
        Confirm::Delete { id, .. } => {
            app.notice(format!("deleting run {id}…"));
            app.commands.push(Command::Delete(id));
        }
    }
}

fn on_action(app: &mut App, action: Action) {
    match action {
        Action::Quit => {
            if app.active_runs().is_empty() {
                app.should_quit = true;
            } else {
                app.confirm = Some(Confirm::Quit);
            }
        }
        Action::Help => app.help = Some(0),
        Action::NextView => go_to(app, app.view.cycle(1)),
        Action::PrevView => go_to(app, app.view.cycle(-1)),
        Action::GoTo(view) => go_to(app, view),
        Action::Refresh => app.commands.push(Command::RefreshRuns),
        Action::Back => match app.view {
            View::Runs if !app.runs.filter.is_empty() => app.runs.filter.clear(),
            View::Launch if app.launch.focus == LaunchFocus::Form => {
                app.launch.focus = LaunchFocus::List
            }
            View::Run => go_to(app, View::Runs),
            _ => app.status = None,
        },
        _ => match app.view {
            View::Runs => runs_action(app, action),
            View::Run => run_action(app, action),
            View::Metrics => metrics_action(app, action),
            View::Compare => compare_action(app, action),
            View::Prompt => prompt_action(app, action),
            View::Launch => launch_action(app, action),
        },
    }
}

fn go_to(app: &mut App, view: View) {
    app.view = view;
    match view {
        View::Run => {
            if app.run_view.id.is_none() {
                if let Some(id) = app.selected_run().map(|r| r.id.clone()) {
                    open_run(app, id);
                }
            }
        }
        View::Compare | View::Metrics => {
            let missing: Vec<_> = app
                .chosen_runs()
                .iter()
                .map(|r| r.id.clone())
                .filter(|id| !app.details.contains_key(id))
                .collect();
            if view == View::Compare {
                app.commands
                    .extend(missing.into_iter().map(Command::LoadRun));
            }
        }
        View::Prompt => {
            if app.prompt.users.is_empty() {
                request_users(app);
            }
        }
        View::Launch => {
            if app.launch.choices.is_empty() {
                app.commands.push(Command::LoadExperiments);
            }
        }
        View::Runs => {}
    }
}

fn open_run(app: &mut App, id: collm_store::RunId) {
    app.run_view = Default::default();
    app.run_view.id = Some(id.clone());
    app.commands.push(Command::LoadRun(id));
}

/// Moves `index` in a list of `len` by an action; returns whether the action was a move. An
/// index left past the end (the list shrank since) moves from the last item.
fn move_in(index: &mut usize, len: usize, action: Action) -> bool {
    let last = len.saturating_sub(1);
    let from = (*index).min(last);
    *index = match action {
        Action::Up => from.saturating_sub(1),
        Action::Down => (from + 1).min(last),
        Action::PageUp => from.saturating_sub(PAGE),
        Action::PageDown => (from + PAGE).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => return false,
    };
    true
}

/// Drops every trace of a deleted run from the state: its row, mark, loaded points, and the
/// views that showed it.
fn forget_run(app: &mut App, id: &collm_store::RunId) {
    app.runs.remove(id);
    app.runs.marked.remove(id);
    app.details.remove(id);
    if app.metrics.baseline.as_ref().is_some_and(|b| &b.run == id) {
        app.metrics.baseline = None;
    }
    if app.run_view.id.as_ref() == Some(id) {
        app.run_view = Default::default();
    }
    clamp_selection(app);
}

fn clamp_selection(app: &mut App) {
    let n = app.visible_runs().len();
    app.runs.selected = app.runs.selected.min(n.saturating_sub(1));
}

fn runs_action(app: &mut App, action: Action) {
    let n = app.visible_runs().len();
    if move_in(&mut app.runs.selected, n, action) {
        return;
    }
    let selected = app.selected_run().map(|r| (r.id.clone(), r.status));
    match action {
        Action::Open => {
            if let Some((id, _)) = selected {
                open_run(app, id);
                app.view = View::Run;
            }
        }
        Action::Filter => app.runs.filter_input = Some(app.runs.filter.clone()),
        Action::Mark => {
            if let Some((id, _)) = selected {
                if !app.runs.marked.remove(&id) {
                    app.runs.marked.insert(id);
                }
                app.runs.selected = (app.runs.selected + 1).min(n.saturating_sub(1));
            }
        }
        Action::ClearMarks => app.runs.marked.clear(),
        Action::SortNext | Action::Right => {
            let i = Column::ALL
                .iter()
                .position(|c| *c == app.runs.sort)
                .unwrap_or(0);
            app.runs.sort = Column::ALL[(i + 1) % Column::ALL.len()];
        }
        Action::Left => {
            let i = Column::ALL
                .iter()
                .position(|c| *c == app.runs.sort)
                .unwrap_or(0);
            app.runs.sort = Column::ALL[(i + Column::ALL.len() - 1) % Column::ALL.len()];
        }
        Action::SortReverse => app.runs.descending = !app.runs.descending,
        Action::CancelRun => cancel(app, selected),
        Action::ResumeRun => resume(app, selected),
        Action::DeleteRun => ask_delete(app, selected),
        _ => {}
    }
}

fn ask_delete(app: &mut App, run: Option<(collm_store::RunId, collm_store::RunStatus)>) {
    match run {
        Some((id, status)) if !status.is_terminal() => {
            app.error(format!("run {id} is {status}: cancel it first (c)"))
        }
        Some((id, _)) => {
            let name = app.record(&id).map(|r| r.name.clone()).unwrap_or_default();
            app.confirm = Some(Confirm::Delete { id, name });
        }
        None => {}
    }
}

fn cancel(app: &mut App, run: Option<(collm_store::RunId, collm_store::RunStatus)>) {
    match run {
        Some((id, status)) if !status.is_terminal() => {
            app.notice(format!("cancelling run {id}…"));
            app.commands.push(Command::Cancel(id));
        }
        Some((id, status)) => app.error(format!("run {id} is {status}: nothing to cancel")),
        None => {}
    }
}

fn resume(app: &mut App, run: Option<(collm_store::RunId, collm_store::RunStatus)>) {
    use collm_store::RunStatus;
    match run {
        Some((id, RunStatus::Interrupted | RunStatus::Cancelled | RunStatus::Failed)) => {
            app.notice(format!("resuming run {id}…"));
            app.commands.push(Command::Resume(id));
        }
        Some((id, status)) => app.error(format!(
            "run {id} is {status}: only an interrupted, cancelled or failed run resumes"
        )),
        None => {}
    }
}

fn run_action(app: &mut App, action: Action) {
    let Some(id) = app.run_view.id.clone() else {
        return;
    };
    let stages = app.details.get(&id).map_or(0, |d| d.stages.len());
    let current = app.run_view.stage.unwrap_or(stages.saturating_sub(1));
    match action {
        Action::PrevStage => app.run_view.stage = Some(current.saturating_sub(1)),
        Action::NextStage => {
            let next = current + 1;
            // Stepping onto the last stage follows new stages again.
            app.run_view.stage = if next + 1 >= stages { None } else { Some(next) };
        }
        Action::Up => app.run_view.log_scroll += 1,
        Action::Down => app.run_view.log_scroll = app.run_view.log_scroll.saturating_sub(1),
        Action::PageUp => app.run_view.log_scroll += PAGE,
        Action::PageDown => app.run_view.log_scroll = app.run_view.log_scroll.saturating_sub(PAGE),
        Action::Bottom => app.run_view.log_scroll = 0,
        Action::CancelRun => {
            let status = app.record(&id).map(|r| r.status);
            cancel(app, status.map(|s| (id, s)));
        }
        Action::ResumeRun => {
            let status = app.record(&id).map(|r| r.status);
            resume(app, status.map(|s| (id, s)));
        }
        _ => {}
    }
}

/// Flips one of the metrics view's switches, keeps the highlighted column among the columns
/// now shown, and says what they are.
fn toggle_metrics(
    app: &mut App,
    switch: fn(&mut MetricsState) -> &mut bool,
    on: &'static str,
    off: &'static str,
) {
    let flag = switch(&mut app.metrics);
    *flag = !*flag;
    let now = *flag;
    let n = app.metrics_columns().len();
    app.metrics.column = app.metrics.column.min(n.saturating_sub(1));
    app.notice(if now { on } else { off });
}

fn metrics_action(app: &mut App, action: Action) {
    let n = app.metrics_columns().len();
    match action {
        Action::Left | Action::Up => {
            move_in(&mut app.metrics.column, n, Action::Up);
        }
        Action::Right | Action::Down => {
            move_in(&mut app.metrics.column, n, Action::Down);
        }
        Action::SetBaseline => {
            let column: Option<Vec<Target>> = app
                .metrics_columns()
                .get(app.metrics.column)
                .map(column_targets);
            if let Some(column) = column {
                app.notice(format!("baseline: {}", column_header(&column)));
                app.metrics.baseline = column.into_iter().next();
            }
        }
        Action::ToggleParts => toggle_metrics(
            app,
            |m| &mut m.parts,
            "showing each CoLLM run's parts: its foundation alone and its earlier stages",
            "showing runs only",
        ),
        Action::ToggleSeeds => toggle_metrics(
            app,
            |m| &mut m.seeds,
            "runs that differ only in their seeds: one column, their mean, paired seed by seed",
            "one column per run",
        ),
        Action::NextSplit => {
            let splits = app.known_splits();
            let i = splits
                .iter()
                .position(|s| *s == app.metrics.split)
                .map_or(0, |i| i + 1);
            app.metrics.split = splits[i % splits.len()].clone();
        }
        _ => {}
    }
}

fn compare_action(app: &mut App, action: Action) {
    match action {
        Action::NextCurve => app.compare.curve = app.compare.curve.next(),
        Action::PrevStage => app.compare.stage = app.compare.stage.saturating_sub(1),
        Action::NextStage => app.compare.stage += 1,
        // Along the run columns, over the runs marked now.
        Action::Left | Action::Right => {
            let step = if action == Action::Left {
                Action::Up
            } else {
                Action::Down
            };
            let runs = app.chosen_runs().len();
            move_in(&mut app.compare.run, runs, step);
        }
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => {
            let len = app.differing_settings().len();
            move_in(&mut app.compare.setting, len, action);
        }
        _ => {}
    }
}

/// The run the prompt inspector scores with: the open run, else the selected one.
fn inspector_run(app: &App) -> Option<collm_store::RunId> {
    app.run_view
        .id
        .clone()
        .or_else(|| app.selected_run().map(|r| r.id.clone()))
}

fn request_users(app: &mut App) {
    let run = inspector_run(app);
    app.commands.push(Command::ListUsers {
        run,
        split: app.prompt.split.clone(),
    });
}

fn inspect(app: &mut App, uid: u32) {
    if let Some(i) = app.prompt.users.iter().position(|u| *u == uid) {
        app.prompt.selected = i;
    }
    app.prompt.loading = true;
    let run = inspector_run(app);
    app.commands.push(Command::Inspect {
        run,
        uid,
        split: app.prompt.split.clone(),
    });
}

/// Rows a PgUp/PgDn scrolls the inspected user's rows by.
const ROWS_PAGE: usize = 10;

fn prompt_action(app: &mut App, action: Action) {
    let p = &mut app.prompt;
    let rows = p.inspection.as_ref().map_or(0, |i| i.rows.len());
    match action {
        Action::PageDown => {
            p.row_offset = (p.row_offset + ROWS_PAGE).min(rows.saturating_sub(1));
            return;
        }
        Action::PageUp => {
            p.row_offset = p.row_offset.saturating_sub(ROWS_PAGE);
            return;
        }
        Action::SortNext => {
            p.rows_by_score = !p.rows_by_score;
            p.row_offset = 0;
            return;
        }
        _ => {}
    }
    if move_in(&mut app.prompt.selected, app.prompt.users.len(), action) {
        return;
    }
    match action {
        Action::Search => app.prompt.search = Some(String::new()),
        Action::Open => {
            if let Some(uid) = app.prompt.users.get(app.prompt.selected).copied() {
                inspect(app, uid);
            }
        }
        Action::NextSplit => {
            app.prompt.split = match app.prompt.split.as_str() {
                "valid" => "test".into(),
                "test" => "train".into(),
                _ => "valid".into(),
            };
            app.prompt.users.clear();
            app.prompt.selected = 0;
            request_users(app);
        }
        _ => {}
    }
}

fn set_choices(app: &mut App, choices: Vec<ExperimentChoice>) {
    let keep = app
        .launch
        .choices
        .get(app.launch.selected)
        .map(|c| c.label.clone());
    app.launch.choices = choices;
    app.launch.selected = keep
        .and_then(|label| app.launch.choices.iter().position(|c| c.label == label))
        .unwrap_or(0);
    load_form(app);
}

/// Fills the form from the highlighted experiment.
fn load_form(app: &mut App) {
    app.launch.field = 0;
    app.launch.editing = None;
    let Some(choice) = app.launch.choices.get(app.launch.selected) else {
        app.launch.fields.clear();
        return;
    };
    match settings::form_fields(&choice.text) {
        Ok(fields) => {
            app.launch.fields = fields;
            app.launch.error = choice.problem.clone();
        }
        Err(err) => {
            app.launch.fields.clear();
            app.launch.error = Some(format!("{}: {err}", choice.label));
        }
    }
}

fn launch_action(app: &mut App, action: Action) {
    match (app.launch.focus, action) {
        (LaunchFocus::List, Action::Right | Action::Open) => {
            if !app.launch.fields.is_empty() {
                app.launch.focus = LaunchFocus::Form;
            }
        }
        (LaunchFocus::Form, Action::Left) => app.launch.focus = LaunchFocus::List,
        (LaunchFocus::List, a) => {
            let before = app.launch.selected;
            move_in(&mut app.launch.selected, app.launch.choices.len(), a);
            if app.launch.selected != before {
                load_form(app);
            }
        }
        (LaunchFocus::Form, Action::Open) => {
            let i = app.launch.field;
            if let Some(field) = app.launch.fields.get_mut(i) {
                if let Some(on) = field.value.as_bool() {
                    field.value = toml::Value::Boolean(!on);
                } else {
                    app.launch.editing = Some(field.shown());
                }
            }
        }
        (LaunchFocus::Form, a) => {
            move_in(&mut app.launch.field, app.launch.fields.len(), a);
        }
    }
    if action == Action::Launch {
        launch(app);
    }
}

fn launch(app: &mut App) {
    let Some(choice) = app.launch.choices.get(app.launch.selected) else {
        app.error("no experiment to launch: add a *.toml file to ./experiments");
        return;
    };
    match settings::apply_grid(&choice.text, &app.launch.fields, &choice.name) {
        Ok(experiments) => {
            let origin = choice
                .path
                .clone()
                .unwrap_or_else(|| format!("{}.toml", choice.name).into());
            let swept: Vec<&str> = app
                .launch
                .fields
                .iter()
                .filter(|f| !f.grid.is_empty())
                .map(|f| f.key.as_str())
                .collect();
            app.notice(if swept.is_empty() {
                format!("launching {}…", choice.name)
            } else {
                format!(
                    "launching {} runs of {} (a grid over {})…",
                    experiments.len(),
                    choice.name,
                    swept.join(", ")
                )
            });
            let share = experiments.len() > 1;
            for experiment in experiments {
                app.commands.push(Command::Launch {
                    origin: origin.clone(),
                    experiment,
                    share,
                });
            }
            app.launch.error = None;
        }
        Err(err) => app.launch.error = Some(err),
    }
}
