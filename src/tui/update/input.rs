//! Keys as they arrive: a text prompt (the runs filter, the user search, a form field) takes
//! every key while open; any other key becomes the action the keymap binds it to.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};

use super::prompt::inspect;
use super::{confirmed, lines_moved, on_action};
use crate::experiment::settings;
use crate::tui::app::App;
use crate::tui::keymap::{action_for, global_action_for, Action, View};

pub(super) fn on_key(app: &mut App, key: KeyEvent) {
    // Key release and repeat events (kitty protocol) would act twice.
    if key.kind == KeyEventKind::Release {
        return;
    }
    if let Some(question) = app.confirm.take() {
        // Only `y`, as the question says ("any other key keeps it"): Enter, pressed out of
        // habit, must not delete a run or cancel training.
        if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            confirmed(app, question);
        }
        return;
    }
    // Nothing else is drawn on a terminal too small for the views: a key acting on them would
    // act unseen (a `D` would ask a question no one sees). Quitting still works.
    if app.too_small() {
        // `q` typed into an open prompt (or pressed over the help) is not a quit: Ctrl-C is.
        let typing = app.help.is_some()
            || app.runs.filter_input.is_some()
            || app.prompt.search.is_some()
            || app.launch.editing.is_some();
        let ctrl_c = key.code == KeyCode::Char('c')
            && key
                .modifiers
                .contains(crossterm::event::KeyModifiers::CONTROL);
        if ctrl_c || (!typing && global_action_for(&key) == Some(Action::Quit)) {
            on_action(app, Action::Quit);
        }
        return;
    }
    if let Some(scroll) = app.help {
        match global_action_for(&key) {
            Some(Action::Help | Action::Back | Action::Quit) => app.help = None,
            Some(action) => {
                if let Some(lines) = lines_moved(action) {
                    let moved = app.help_extent.step(usize::from(scroll), lines);
                    app.help = Some(u16::try_from(moved).unwrap_or(u16::MAX));
                }
            }
            _ => {}
        }
        return;
    }
    clear_answered_message(app, &key);
    if text_input(app, &key) {
        return;
    }
    if let Some(action) = action_for(app.view, &key) {
        on_action(app, action);
    }
}

/// A view's notice or error answered an earlier key there; the next key in that view has its
/// own, or none (a stale "cancel it first" read as the answer to the keys after it). A key
/// that goes to another view keeps it for when the user comes back; news of runs ending stays
/// its time.
fn clear_answered_message(app: &mut App, key: &KeyEvent) {
    let typing = input_buffer(app).is_some();
    let leaves = !typing
        && action_for(app.view, key).is_some_and(|a| {
            matches!(
                a,
                Action::GoTo(_) | Action::NextView | Action::PrevView | Action::Help
            )
        });
    if !leaves
        && app
            .status
            .as_ref()
            .is_some_and(|s| s.view == Some(app.view))
    {
        app.status = None;
    }
}

/// The current view's open text prompt (runs filter, user search, a form field), if any.
fn input_buffer(app: &mut App) -> Option<&mut String> {
    match app.view {
        View::Runs => app.runs.filter_input.as_mut(),
        View::Prompt => app.prompt.search.as_mut(),
        View::Launch => app.launch.editing.as_mut(),
        _ => None,
    }
}

/// Text prompts take every key while open.
fn text_input(app: &mut App, key: &KeyEvent) -> bool {
    let Some(buffer) = input_buffer(app) else {
        return false;
    };
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
    // The cursor stays on its run while that run still shows, else on a row that is there.
    if app.view == View::Runs {
        super::runs::clamp_selection(app);
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
                // A user with no row in this split has nothing to inspect: say so, rather
                // than leaving the pane as it was.
                Ok(uid) if !app.prompt.users.is_empty() && !app.prompt.users.contains(&uid) => app
                    .error(format!(
                        "user {uid} has no rows in {} (p: another split)",
                        app.prompt.split
                    )),
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
                    // The field stays open with what was typed, to mend or drop (Esc): closed,
                    // it showed the old value again, and `L` launched that.
                    Err(err) => {
                        app.launch.error = Some(err);
                        app.launch.editing = Some(typed);
                    }
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
        View::Launch => {
            app.launch.editing = None;
            // A refused edit's error goes with it; the file's own problem, if any, stays.
            let choice = app.launch.choices.get(app.launch.selected);
            app.launch.error = choice.and_then(|c| c.problem.clone());
        }
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
