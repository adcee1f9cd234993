//! The prompt inspector's actions: picking a user and a split, asking for the inspection, and
//! moving through the inspected user's rows.

use super::{move_in, PAGE};
use crate::tui::app::App;
use crate::tui::keymap::{Action, View};
use crate::tui::message::Command;

/// The run the prompt inspector scores with: the open run, else the selected one.
/// The run the Prompt view inspects: the run list's selected one (as Metrics and Compare),
/// else the one the Run view shows.
pub(super) fn inspector_run(app: &App) -> Option<collm_store::RunId> {
    app.selected_run()
        .map(|r| r.id.clone())
        .or_else(|| app.run_view.id.clone())
}

pub(super) fn request_users(app: &mut App) {
    let run = inspector_run(app);
    app.commands.push(Command::ListUsers {
        run,
        split: app.prompt.split.clone(),
    });
}

/// The splits `p` steps through: a dataset's four (`valid_small` is what stages select on).
const SPLITS: [&str; 4] = ["valid", "valid_small", "test", "train"];

pub(super) fn inspect(app: &mut App, uid: u32) {
    if let Some(i) = app.prompt.users.iter().position(|u| *u == uid) {
        app.prompt.selected = i;
    }
    app.prompt.loading = true;
    let run = inspector_run(app);
    app.prompt.asked = Some((run.clone(), app.prompt.split.clone(), uid));
    app.commands.push(Command::Inspect {
        run,
        uid,
        split: app.prompt.split.clone(),
    });
}

/// The inspection shown is of run `id`, which just finished: asked again now in the Prompt
/// view, else marked stale so that showing the view asks (an inspection takes seconds of the
/// background thread: not for a view no one looks at). Nothing if the view would now show
/// another run.
pub(super) fn reinspect_run(app: &mut App, id: &collm_store::RunId) {
    if inspector_run(app).as_ref() != Some(id) {
        return;
    }
    if let Some((Some(run), split, uid)) = app.prompt.asked.clone() {
        if &run == id && split == app.prompt.split {
            if app.view == View::Prompt {
                inspect(app, uid);
            } else {
                app.prompt.asked = Some((None, split, uid));
            }
        }
    }
}

pub(super) fn prompt_action(app: &mut App, action: Action) {
    let p = &mut app.prompt;
    match action {
        Action::RowsDown | Action::RowsUp => {
            let page = if action == Action::RowsDown {
                PAGE as isize
            } else {
                -(PAGE as isize)
            };
            p.row_offset = p.rows_extent.step(p.row_offset, page);
            return;
        }
        Action::PromptDown | Action::PromptUp => {
            let line = if action == Action::PromptDown { 1 } else { -1 };
            p.prompt_offset = p.prompt_extent.step(p.prompt_offset, line);
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
            let at = SPLITS.iter().position(|s| *s == app.prompt.split);
            app.prompt.split = SPLITS[at.map_or(0, |i| (i + 1) % SPLITS.len())].into();
            app.prompt.users.clear();
            app.prompt.selected = 0;
            // The shown user's rows were of the old split: gone rather than mislabelled.
            app.prompt.inspection = None;
            app.prompt.error = None;
            request_users(app);
        }
        _ => {}
    }
}
