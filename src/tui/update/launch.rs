//! The Launch view's actions: picking an experiment, editing its form, launching it.

use super::move_in;
use crate::experiment::{settings, Experiment, ExperimentError};
use crate::tui::app::{App, ExperimentChoice, LaunchFocus};
use crate::tui::keymap::Action;
use crate::tui::message::Command;

pub(super) fn set_choices(app: &mut App, choices: Vec<ExperimentChoice>) {
    let keep = app
        .launch
        .choices
        .get(app.launch.selected)
        .map(|c| c.label.clone());
    app.launch.choices = choices;
    // The files were read again: forms start from what they say now.
    app.launch.kept.clear();
    app.launch.selected = keep
        .and_then(|label| app.launch.choices.iter().position(|c| c.label == label))
        .unwrap_or(0);
    load_form(app);
}

/// Fills the form from the highlighted experiment: as it was left if it was highlighted
/// before, else from its file.
fn load_form(app: &mut App) {
    app.launch.field = 0;
    app.launch.editing = None;
    let Some(choice) = app.launch.choices.get(app.launch.selected) else {
        app.launch.fields.clear();
        app.launch.file_fields.clear();
        return;
    };
    let from_file = settings::form_fields(&choice.text);
    app.launch.file_fields = from_file.clone().unwrap_or_default();
    if let Some((fields, field)) = app.launch.kept.get(&choice.label) {
        app.launch.fields = fields.clone();
        app.launch.field = *field;
        app.launch.error = choice.problem.clone();
        return;
    }
    match from_file {
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

pub(super) fn launch_action(app: &mut App, action: Action) {
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
                if let Some(choice) = app.launch.choices.get(before) {
                    let form = (app.launch.fields.clone(), app.launch.field);
                    app.launch.kept.insert(choice.label.clone(), form);
                }
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
    // A file that does not load is refused with its own error, the one its pane shows.
    if let Some(problem) = &choice.problem {
        app.launch.error = Some(problem.clone());
        return;
    }
    match settings::apply_grid(&choice.text, &app.launch.fields, &choice.name) {
        Ok(experiments) => {
            let origin = choice
                .path
                .clone()
                .unwrap_or_else(|| format!("{}.toml", choice.name).into());
            // An edit the experiment refuses is named here, as edited: the file's own line
            // numbers would point at what the file says, not at the form's value.
            if let Some(err) = experiments
                .iter()
                .find_map(|text| Experiment::from_toml(text, &origin).err())
            {
                app.launch.error = Some(as_edited(err));
                return;
            }
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
            app.launch.opens_next = true;
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

/// An error of the experiment as the form edited it, without the file's position.
fn as_edited(err: ExperimentError) -> String {
    match err {
        ExperimentError::Parse {
            message,
            source_line,
            ..
        } => match source_line {
            Some(line) => format!("as edited: {message} (`{}`)", line.trim()),
            None => format!("as edited: {message}"),
        },
        ExperimentError::Invalid { message, .. } => format!("as edited: {message}"),
        other => other.to_string(),
    }
}
