//! The Runs and Run views' actions: selection, marks, sorting, and cancelling, resuming and
//! deleting runs (deleting asks first).

use super::{lines_moved, move_in, open_run};
use crate::tui::app::{App, Column, Confirm};
use crate::tui::keymap::{Action, View};
use crate::tui::message::Command;

/// Keeps the cursor on its run where the rows changed, else on a row that is there.
pub(super) fn clamp_selection(app: &mut App) {
    app.select_row(app.selected_index());
}

pub(super) fn runs_action(app: &mut App, action: Action) {
    let visible = app.visible_runs();
    let (n, mut row) = (visible.len(), app.selected_in(&visible));
    if move_in(&mut row, n, action) {
        app.select_row(row);
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
                app.select_row((row + 1).min(n.saturating_sub(1)));
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

pub(super) fn run_action(app: &mut App, action: Action) {
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
        // The log scrolls up from its end: a key's lines count the other way.
        Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
            let lines = -lines_moved(action).unwrap_or(0);
            let v = &mut app.run_view;
            v.log_scroll = v.log_extent.step(v.log_scroll, lines);
        }
        Action::Bottom => app.run_view.log_scroll = 0,
        Action::Top => app.run_view.log_scroll = app.run_view.log_extent.max_offset(),
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
