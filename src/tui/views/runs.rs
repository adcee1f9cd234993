//! The runs table: every run of the store with its key settings and results, filtered, marked
//! and sorted.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use collm_store::FINAL_STAGE;

use crate::tui::app::{App, Column};
use crate::tui::widgets::format;

// Widths of the fixed columns: status (mark and word), run id, and each of the five number
// columns (AUC, UAUC, warm, cold, time).
const STATUS_WIDTH: u16 = 13;
const ID_WIDTH: u16 = 15;
const METRIC_WIDTH: u16 = 6;
const METRIC_COLUMNS: u16 = 5;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let rows = app.visible_runs();
    let filter_line = match (&app.runs.filter_input, app.runs.filter.is_empty()) {
        (Some(typed), _) => Some(Line::from(vec![
            Span::styled(" filter: ", t.header()),
            Span::raw(typed.clone()),
            Span::styled("▏ Enter keep · Esc drop", t.dim()),
        ])),
        (None, false) => Some(Line::from(vec![
            Span::styled(" filter: ", t.header()),
            Span::raw(app.runs.filter.clone()),
            Span::styled("  (Esc clears)", t.dim()),
        ])),
        (None, true) => None,
    };
    let [table_area, filter_area] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(u16::from(filter_line.is_some())),
    ])
    .areas(area);
    if let Some(line) = filter_line {
        frame.render_widget(Paragraph::new(line), filter_area);
    }

    let arrow = if app.runs.descending { "▼" } else { "▲" };
    let header = Row::new(Column::ALL.iter().map(|c| {
        let title = if *c == app.runs.sort {
            format!("{}{arrow}", c.title())
        } else {
            c.title().to_string()
        };
        Cell::from(title)
    }))
    .style(t.header());
    // The experiment column fits its longest name (a sweep's `collm-mf-t1-ml1m seed=42`) up to
    // a point; the settings summary, the part that tells runs of one experiment apart, takes
    // the rest of the width, and both end in `…` where cut, so a cut value does not pass for
    // a whole one.
    // On a narrow terminal the settings go first, then the name is cut.
    let fixed = STATUS_WIDTH + ID_WIDTH + METRIC_COLUMNS * METRIC_WIDTH;
    let spacing = METRIC_COLUMNS + 3;
    let room = table_area.width.saturating_sub(2 + fixed + spacing);
    let name_width = (rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(10)
        .clamp(10, 32) as u16)
        .min(room);
    let settings_width = room - name_width;
    let body: Vec<Row> = rows
        .iter()
        .map(|r| {
            // A result of the best weights, or (dimmed) the best so far of the stage the run is in.
            let head = r.headline_eval();
            let style = match head {
                Some(e) if e.stage != FINAL_STAGE => t.dim(),
                _ => ratatui::style::Style::default(),
            };
            let metric = |pick: fn(&collm_store::EvalPoint) -> Option<f64>| {
                Span::styled(format::metric(head.and_then(pick)), style)
            };
            let mark = if app.runs.marked.contains(&r.id) {
                "●"
            } else {
                " "
            };
            let status = format!("{mark} {}", r.status);
            Row::new(vec![
                Cell::from(Span::styled(status, t.status(r.status))),
                Cell::from(Span::styled(r.id.to_string(), app.theme.run(r.id.as_str()))),
                Cell::from(format::clip(&r.name, usize::from(name_width))),
                Cell::from(format::clip(
                    &app.runs.facts(r).summary,
                    usize::from(settings_width),
                )),
                Cell::from(metric(|e| e.metrics.all.auc)),
                Cell::from(metric(|e| e.metrics.all.uauc)),
                Cell::from(metric(|e| e.metrics.warm.auc)),
                Cell::from(metric(|e| e.metrics.cold.auc)),
                Cell::from(
                    app.duration_s(r)
                        .map(format::duration)
                        .unwrap_or_else(|| "-".into()),
                ),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(STATUS_WIDTH),
        Constraint::Length(ID_WIDTH),
        Constraint::Length(name_width),
        Constraint::Length(settings_width),
        Constraint::Length(METRIC_WIDTH),
        Constraint::Length(METRIC_WIDTH),
        Constraint::Length(METRIC_WIDTH),
        Constraint::Length(METRIC_WIDTH),
        Constraint::Length(METRIC_WIDTH),
    ];
    let marked = app.runs.marked.len();
    let title = format!(
        "Runs {}/{}{}{}",
        rows.len(),
        app.runs.records().len(),
        if marked > 0 {
            format!(" · {marked} marked")
        } else {
            String::new()
        },
        if app.runs.unreadable.is_empty() {
            String::new()
        } else {
            format!(" · {} unreadable", app.runs.unreadable.len())
        }
    );
    let empty = rows.is_empty();
    let table = Table::new(body, widths)
        .header(header)
        .block(super::titled(app, &title, table_area))
        .row_highlight_style(t.selected())
        .column_spacing(1);
    let mut state = TableState::default().with_selected((!empty).then_some(app.selected_in(&rows)));
    frame.render_stateful_widget(table, table_area, &mut state);
    if empty {
        let hint = if app.runs.records().is_empty() {
            "No runs yet. Press 6 (Launch) to start one; `collm run FILE` works on this store once \
             the TUI has quit (one process per store)."
        } else {
            "No run matches the filter."
        };
        let inner = table_area.inner(ratatui::layout::Margin {
            horizontal: 2,
            vertical: 2,
        });
        frame.render_widget(
            Paragraph::new(Line::styled(hint, t.dim())).wrap(Wrap { trim: true }),
            inner,
        );
    }
}
