//! The compare view: the marked runs' settings where they differ, and one curve of theirs
//! overlaid, each run in its own stable colour.

use collm_store::RunRecord;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use crate::tui::app::{App, Curve};
use crate::tui::detail::Points;
use crate::tui::widgets::chart::{draw_lines, Series};
use crate::tui::widgets::columns::ColumnWindow;
use crate::tui::widgets::format::{clip, clip_value};

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let runs = app.chosen_runs();
    if runs.len() < 2 {
        let text = " Mark two or more runs with Space in Runs (1): their differing settings and curves show here.";
        frame.render_widget(
            Paragraph::new(Line::styled(text, t.dim()))
                .wrap(Wrap { trim: true })
                .block(super::titled(app, "Compare", area)),
            area,
        );
        return;
    }
    let diff = app.differing_settings();
    let table_height = (diff.len() as u16 + 3).clamp(4, area.height / 2);
    let [table_area, chart_area] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Min(6)]).areas(area);
    draw_settings(app, frame, table_area, &runs, &diff);

    let stages = app.compared_stages();
    let stage = stages
        .get(app.compare.stage.min(stages.len().saturating_sub(1)))
        .cloned();
    // A stage's evaluation curves are of the split it evaluates on (`valid`, else its first:
    // the LLM stages select on `valid_small`); the title names the splits drawn.
    let mut splits: Vec<String> = Vec::new();
    let curves: Vec<(usize, &str, Points)> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let s = app.details.get(&r.id).and_then(|d| {
                d.stages
                    .iter()
                    .rev()
                    .find(|s| Some(&s.name) == stage.as_ref())
            });
            let mut eval = |s: &crate::tui::detail::StageSeries| {
                let split = s.eval_splits().into_iter().next().unwrap_or_default();
                if !split.is_empty() && !splits.contains(&split) {
                    splits.push(split.clone());
                }
                s.eval_curves(&split)
            };
            let points = match (s, app.compare.curve) {
                (None, _) => Vec::new(),
                (Some(s), Curve::Loss) => s.smooth.clone(),
                (Some(s), Curve::Lr) => s.lr.clone(),
                (Some(s), Curve::Auc) => eval(s).0,
                (Some(s), Curve::Uauc) => eval(s).1,
            };
            (i, r.id.as_str(), points)
        })
        .collect();
    let series: Vec<Series> = curves
        .iter()
        .map(|(i, id, points)| Series {
            name: id.to_string(),
            points,
            style: t.run(id),
            marker: t.run_marker(*i),
        })
        .collect();
    let on = if splits.is_empty() {
        String::new()
    } else {
        format!(" on {}", splits.join("/"))
    };
    let title = format!(
        "{}{on} · stage {} (m curve, [ ] stage)",
        app.compare.curve.title(),
        stage.as_deref().unwrap_or("-")
    );
    let loading = runs.iter().any(|r| !app.details.contains_key(&r.id));
    let empty = if loading {
        "loading curves…"
    } else {
        "no points for this curve"
    };
    draw_lines(frame, chart_area, &title, &series, t, empty);
}

/// The differing settings, one row a key and one column a run. The key column fits the longest
/// key (a truncated `collm.prompt.proj_token_` hides which setting it is) up to a third of the
/// width; the table scrolls to keep the highlighted row (↑↓) in view.
fn draw_settings(
    app: &App,
    frame: &mut Frame,
    area: Rect,
    runs: &[&RunRecord],
    diff: &[(String, Vec<Option<String>>)],
) {
    let t = app.theme;
    let longest = diff
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let key_width = (longest.max("setting".len()) as u16).min(area.width / 3);
    // Inside the border; as many runs as fit, holding the one ←→ moved to.
    let window = ColumnWindow::new(
        area.width.saturating_sub(2),
        key_width,
        1,
        runs.len(),
        14,
        app.compare.run,
    );
    // Text longer than its column ends in `…`: a value cut silently (`lr=0.0` for
    // `lr=0.01`) reads as another value.
    let (key_cut, value_cut) = (window.width_of(0), window.width_of(1));
    let mut header = vec![Cell::from(Span::styled("setting", t.header()))];
    header.extend(runs.iter().map(|r| {
        Cell::from(Span::styled(
            clip(&format!("{} {}", r.id, r.name), value_cut),
            t.run(r.id.as_str()),
        ))
    }));
    let rows: Vec<Row> = if diff.is_empty() {
        vec![Row::new(vec![Cell::from(Span::styled(
            "(identical settings)",
            t.dim(),
        ))])]
    } else {
        diff.iter()
            .map(|(key, values)| {
                let mut cells = vec![Cell::from(Span::styled(clip(key, key_cut), t.header()))];
                cells.extend(
                    values
                        .iter()
                        .map(|v| Cell::from(clip_value(v.as_deref().unwrap_or("—"), value_cut))),
                );
                Row::new(window.keep(cells))
            })
            .collect()
    };
    let selected = app.compare.setting.min(diff.len().saturating_sub(1));
    let mut title = if diff.is_empty() {
        "Settings that differ: none".to_string()
    } else {
        format!(
            "{} settings differ · at {} (↑↓ scroll)",
            diff.len(),
            selected + 1
        )
    };
    if let Some(shown) = window.describe(runs.len()) {
        title.push_str(&format!(" · runs: {shown} (←→)"));
    }
    let mut state = TableState::default().with_selected((!diff.is_empty()).then_some(selected));
    frame.render_stateful_widget(
        Table::new(rows, window.widths.clone())
            .header(Row::new(window.keep(header)))
            .row_highlight_style(t.selected())
            .block(super::titled(app, &title, area)),
        area,
        &mut state,
    );
}
