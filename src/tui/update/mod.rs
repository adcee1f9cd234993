//! `update`: the only place the state changes, one message at a time. Slow work is never done
//! here: it is asked of the background thread through `App::commands`.

mod input;
mod launch;
mod prompt;
mod runs;
mod tables;

use crate::compare::Target;
use crate::tui::app::{App, Confirm, Kept, LaunchFocus};
use crate::tui::detail::RunDetail;
use crate::tui::keymap::{Action, View};
use crate::tui::message::{Command, Message};
use input::on_key;
use launch::{launch_action, set_choices};
use prompt::{inspect, inspector_run, prompt_action, request_users};
use runs::{clamp_selection, run_action, runs_action};
use tables::{ask_kept_metrics, ask_significance, compare_action, metrics_action};

/// Rows moved by a page: PageUp / PageDown, and `[` / `]` in the inspected user's rows.
const PAGE: usize = 10;

/// Lines a movement key moves a scrolled pane down (negative: up); `Top` and `Bottom` go as far
/// as there is. `None` for other actions.
fn lines_moved(action: Action) -> Option<isize> {
    let page = PAGE as isize;
    match action {
        Action::Down => Some(1),
        Action::Up => Some(-1),
        Action::PageDown => Some(page),
        Action::PageUp => Some(-page),
        Action::Top => Some(isize::MIN),
        Action::Bottom => Some(isize::MAX),
        _ => None,
    }
}

/// Applies one message to the state.
pub fn update(app: &mut App, message: Message) {
    apply(app, message);
    // The cursor is on a run as soon as there is one (the first runs may arrive one by one,
    // launched here), so that the runs added or re-sorted after it do not move it.
    if app.runs.selected_id.is_none() && !app.runs.records().is_empty() {
        clamp_selection(app);
    }
    ask_kept_metrics(app);
    ask_significance(app);
}

fn apply(app: &mut App, message: Message) {
    match message {
        Message::Key(key) => on_key(app, key),
        Message::Resize { width, height } => app.screen = Some((width, height)),
        Message::Stop { signal } => {
            tracing::warn!("{signal}: quitting, cancelling the active runs");
            quit_cancelling(app);
        }
        Message::Tick { now_ms } => app.now_ms = now_ms,
        Message::Runs {
            records,
            unreadable,
            kept_splits,
        } => {
            app.runs.set_records(records);
            app.runs.unreadable = unreadable;
            app.runs.kept_splits = kept_splits;
            // Read again: `collm eval --predictions` may have kept scores since.
            app.metrics.kept.clear();
            clamp_selection(app);
        }
        Message::RunUpdated(record) => {
            announce_end(app, &record);
            let finished_now = record.status == collm_store::RunStatus::Finished
                && app.record(&record.id).map(|r| r.status) != Some(record.status);
            let id = record.id.clone();
            app.runs.put(*record);
            // The Prompt view showed this run's rows without P(Yes) (it was training): now it
            // can score them.
            if finished_now {
                prompt::reinspect_run(app, &id);
            }
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
            // An answer to an earlier request, overtaken by a later one (two Enters in a
            // row): the later is still on its way.
            let overtaken = result.as_ref().is_ok_and(|ins| {
                app.prompt
                    .asked
                    .as_ref()
                    .is_some_and(|(_, split, uid)| (&ins.split, ins.uid) != (split, *uid))
            });
            if overtaken {
                return;
            }
            app.prompt.loading = false;
            match result {
                Ok(inspection) => {
                    // An error from an earlier pick (a user with no rows) is over.
                    if app
                        .status
                        .as_ref()
                        .is_some_and(|s| s.error && s.view == Some(View::Prompt))
                    {
                        app.status = None;
                    }
                    app.prompt.inspection = Some(*inspection);
                    app.prompt.row_offset = 0;
                    app.prompt.prompt_offset = 0;
                    app.prompt.error = None;
                }
                // The last inspection is of another user or run: showing it beside the list of
                // this one would pass it off as the answer (the pane shows the error instead).
                Err(err) => {
                    app.prompt.error = Some(err);
                    app.prompt.inspection = None;
                }
            }
        }
        Message::Launched { id, name } => {
            app.announce(format!("queued run {id} ({name})"), false);
            // A grid's later runs are announced; the view stays on the first.
            if !std::mem::take(&mut app.launch.opens_next) {
                return;
            }
            // The run list's cursor goes to it too: the views that follow the cursor (Metrics,
            // Compare, Prompt) then show the run the Run view shows.
            app.runs.selected_id = Some(id.clone());
            app.commands.push(Command::LoadRun(id.clone()));
            app.run_view = Default::default();
            app.run_view.id = Some(id);
            app.view = View::Run;
        }
        Message::Deleted { id, bytes } => {
            forget_run(app, &id);
            app.announce(
                format!("deleted run {id} ({:.1} MB freed)", bytes as f64 / 1e6),
                false,
            );
        }
        Message::KeptMetrics { split, results } => {
            for (target, metrics) in results {
                let key = (target, split.clone());
                // Only answers still awaited: a reload since asks again.
                if app.metrics.kept.get(&key) == Some(&Kept::Asked) {
                    app.metrics.kept.insert(key, Kept::Read(metrics));
                }
            }
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
        Message::Notice(text) => app.announce(text, false),
        Message::Error(text) => app.announce(text, true),
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
    app.announce(text, status == collm_store::RunStatus::Failed);
}

/// Does what the question overlay asked about, once answered yes.
fn confirmed(app: &mut App, question: Confirm) {
    match question {
        Confirm::Quit => quit_cancelling(app),
        Confirm::Delete { id, .. } => {
            app.notice(format!("deleting run {id}…"));
            app.commands.push(Command::Delete(id));
        }
    }
}

/// Quits, cancelling the active runs: each ends `cancelled` at its next step, resumable from
/// there.
fn quit_cancelling(app: &mut App) {
    for id in app.active_runs() {
        app.commands.push(Command::Cancel(id));
    }
    app.should_quit = true;
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
        Action::Refresh => {
            app.commands.push(Command::RefreshRuns);
            app.notice("reloading the runs from the store");
        }
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
            // Shown again after another run was opened or selected: the user inspected
            // before, inspected again with that run.
            let run = inspector_run(app);
            let stale =
                app.prompt.asked.clone().filter(|(asked_run, split, _)| {
                    *asked_run != run && *split == app.prompt.split
                });
            if app.prompt.users.is_empty() || stale.is_some() {
                request_users(app);
            }
            if let Some((_, _, uid)) = stale {
                inspect(app, uid);
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
    // Where the cursor is now (its run may have moved since it was put there): it stays on
    // that row if its own run is the one going.
    app.runs.selected = app.selected_index();
    app.runs.remove(id);
    app.runs.marked.remove(id);
    app.details.remove(id);
    app.metrics.kept.retain(|(target, _), _| &target.run != id);
    if app.metrics.baseline.as_ref().is_some_and(|b| &b.run == id) {
        app.metrics.baseline = None;
    }
    if app.run_view.id.as_ref() == Some(id) {
        app.run_view = Default::default();
    }
    clamp_selection(app);
}
