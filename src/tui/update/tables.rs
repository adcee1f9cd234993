//! The Metrics and Compare views' actions, and the paired bootstrap the metrics view asks the
//! background for whenever what it shows changed.

use super::move_in;
use crate::compare::{column_header, Target, GROUPS};
use crate::tui::app::{column_targets, App, Kept, MetricsState, Significance};
use crate::tui::keymap::{Action, View};
use crate::tui::message::Command;

/// While the metrics view shows two or more runs, asks the background for the paired bootstrap
/// of each against the baseline whenever what is shown changed (split, baseline, runs, or a run
/// that ended since): the view itself only draws the answer.
pub(super) fn ask_significance(app: &mut App) {
    if app.view != View::Metrics {
        return;
    }
    let columns = app.metrics_columns();
    if columns.len() < 2 {
        return;
    }
    let base_index = app.metrics_base_index(&columns);
    let base = column_targets(&columns[base_index]);
    let base_ended: Vec<Option<u64>> = columns[base_index]
        .iter()
        .map(|(_, r)| r.ended_ms)
        .collect();
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
    if app.metrics.significance.as_ref().is_some_and(|s| {
        s.split == split && s.base == base && s.base_ended == base_ended && s.others == others
    }) {
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
        base_ended,
        others,
        results: None,
    });
}

/// While the metrics view shows a column whose run holds no final evaluation of the split,
/// asks the background for the metrics of its kept per-row scores (a file `collm eval
/// --predictions` scored), once per target and split; the view reads the answer when drawing.
pub(super) fn ask_kept_metrics(app: &mut App) {
    if app.view != View::Metrics {
        return;
    }
    let split = app.metrics.split.clone();
    let wanted: Vec<Target> = app
        .metrics_columns()
        .into_iter()
        .flatten()
        .filter(|(target, record)| {
            // A live run keeps scores once it ends, with the evaluation that records them.
            record.status.is_terminal()
                && record.evaluation(&target.eval_stage(), &split).is_none()
                && !app
                    .metrics
                    .kept
                    .contains_key(&(target.clone(), split.clone()))
        })
        .map(|(target, _)| target)
        .collect();
    if wanted.is_empty() {
        return;
    }
    for target in &wanted {
        app.metrics
            .kept
            .insert((target.clone(), split.clone()), Kept::Asked);
    }
    app.commands.push(Command::KeptMetrics {
        split,
        targets: wanted,
    });
}

/// Flips one of the metrics view's switches, keeps the highlighted column among the columns
/// now shown, and says what they are.
fn toggle_metrics(
    app: &mut App,
    switch: fn(&mut MetricsState) -> &mut bool,
    on: &'static str,
    off: &'static str,
) {
    // The highlight stays on what it was on: the column of the same target (its run's own
    // column, once parts are hidden or seeds grouped), not the same position.
    let highlighted: Option<Target> = app
        .metrics_columns()
        .get(app.metrics.column)
        .and_then(|c| c.first().map(|(t, _)| t.clone()));
    let flag = switch(&mut app.metrics);
    *flag = !*flag;
    let now = *flag;
    let columns: Vec<Vec<Target>> = app.metrics_columns().iter().map(column_targets).collect();
    let find = |wanted: &Target| columns.iter().position(|c| c.contains(wanted));
    let kept = highlighted.and_then(|t| find(&t).or_else(|| find(&Target::whole(t.run.clone()))));
    app.metrics.column = kept
        .unwrap_or(app.metrics.column)
        .min(columns.len().saturating_sub(1));
    app.notice(if now { on } else { off });
}

pub(super) fn metrics_action(app: &mut App, action: Action) {
    let n = app.metrics_columns().len();
    // As far as rows are hidden.
    let (hidden, hidden_differences) = app.screen.map_or((0, 0), |screen| {
        use crate::tui::views::metrics::{hidden_difference_rows, hidden_rows};
        (
            hidden_rows(screen.1, n),
            hidden_difference_rows(app, screen, n),
        )
    });
    let m = &mut app.metrics;
    match action {
        Action::Left => {
            move_in(&mut m.column, n, Action::Up);
        }
        Action::Right => {
            move_in(&mut m.column, n, Action::Down);
        }
        Action::Top | Action::Bottom => {
            move_in(&mut m.column, n, action);
        }
        // Rows that do not fit the terminal.
        Action::Up => m.row_scroll = m.row_scroll.saturating_sub(1),
        Action::Down => m.row_scroll = (m.row_scroll + 1).min(hidden),
        Action::PageUp => m.difference_scroll = m.difference_scroll.saturating_sub(GROUPS.len()),
        Action::PageDown => {
            m.difference_scroll = (m.difference_scroll + GROUPS.len()).min(hidden_differences)
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

pub(super) fn compare_action(app: &mut App, action: Action) {
    match action {
        Action::NextCurve => app.compare.curve = app.compare.curve.next(),
        Action::PrevStage => app.compare.stage = app.compare.stage.saturating_sub(1),
        Action::NextStage => {
            let last = app.compared_stages().len().saturating_sub(1);
            app.compare.stage = (app.compare.stage + 1).min(last);
        }
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
