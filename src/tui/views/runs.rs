//! The runs table: every run of the store with its key settings and results, filtered, marked
//! and sorted.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use collm_store::FINAL_STAGE;

use crate::tui::app::{App, Column};
use crate::tui::widgets::format;

// Widths of the fixed columns: status (mark and word), run id, and each of the number columns
// (AUC, UAUC, warm, cold, time).
const STATUS_WIDTH: u16 = 13;
/// The id column's least width: `261206-142153-2`; wider when a run's id is (a grid of ten or
/// more runs started in one second), so that no two ids show alike.
const ID_WIDTH: u16 = 15;
const METRIC_WIDTH: u16 = 6;
/// Below this width the warm and cold AUC columns give their room to the settings, which tell
/// runs of one experiment apart (the Metrics view has the breakdown).
const NARROW: u16 = 110;

/// The columns shown at `width`.
fn shown_columns(width: u16) -> Vec<Column> {
    let narrow = width < NARROW;
    Column::ALL
        .into_iter()
        .filter(|c| !(narrow && matches!(c, Column::WarmAuc | Column::ColdAuc)))
        .collect()
}

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
    let columns = shown_columns(table_area.width);
    let header = Row::new(columns.iter().map(|c| {
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
    // On a narrow terminal the name takes at most half the room, so some settings show.
    let metric_columns = columns.len() as u16 - 4;
    let longest_id = rows.iter().map(|r| r.id.as_str().chars().count()).max();
    let id_width = (longest_id.unwrap_or(0) as u16).max(ID_WIDTH);
    let fixed = STATUS_WIDTH + id_width + metric_columns * METRIC_WIDTH;
    let spacing = columns.len() as u16 - 1;
    let room = table_area.width.saturating_sub(2 + fixed + spacing);
    let longest = rows.iter().map(|r| r.name.chars().count()).max();
    let name_width = (longest.unwrap_or(10).clamp(10, 32) as u16)
        .min(room)
        .min((room / 2).max(10));
    let settings_width = room.saturating_sub(name_width);
    // A result of the best weights, or (dimmed) the best so far of the stage the run is in;
    // read once a frame, for the cells and the title.
    let heads: Vec<Option<&collm_store::EvalPoint>> =
        rows.iter().map(|r| r.headline_eval()).collect();
    let body: Vec<Row> = rows
        .iter()
        .zip(&heads)
        .map(|(r, &head)| {
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
            Row::new(columns.iter().map(|c| {
                match c {
                    Column::Status => Cell::from(Span::styled(status.clone(), t.status(r.status))),
                    Column::Id => {
                        Cell::from(Span::styled(r.id.to_string(), app.theme.run(r.id.as_str())))
                    }
                    Column::Name => Cell::from(format::clip(&r.name, usize::from(name_width))),
                    Column::Settings => Cell::from(format::clip(
                        &app.runs.facts(r).summary,
                        usize::from(settings_width),
                    )),
                    Column::Auc => Cell::from(metric(|e| e.metrics.all.auc)),
                    Column::Uauc => Cell::from(metric(|e| e.metrics.all.uauc)),
                    Column::WarmAuc => Cell::from(metric(|e| e.metrics.warm.auc)),
                    Column::ColdAuc => Cell::from(metric(|e| e.metrics.cold.auc)),
                    Column::Duration => Cell::from(
                        app.duration_s(r)
                            .map(format::duration)
                            .unwrap_or_else(|| "-".into()),
                    ),
                }
            }))
        })
        .collect();
    let widths: Vec<Constraint> = columns
        .iter()
        .map(|c| {
            Constraint::Length(match c {
                Column::Status => STATUS_WIDTH,
                Column::Id => id_width,
                Column::Name => name_width,
                Column::Settings => settings_width,
                _ => METRIC_WIDTH,
            })
        })
        .collect();
    let marked = app.runs.marked.len();
    // Sorted by a column not shown at this width: the title says by which.
    let hidden_sort = if columns.contains(&app.runs.sort) {
        String::new()
    } else {
        format!(" · by {}{arrow}", app.runs.sort.title())
    };
    // AUCs side by side over different rows (a foundation on its whole split, a CoLLM run on a
    // sample) are no comparison: the title says so, and Metrics pairs runs on common rows.
    let counts = heads.iter().flatten().map(|e| e.metrics.all.rows);
    let (fewest, most) = counts.fold((usize::MAX, 0), |(lo, hi), n| (lo.min(n), hi.max(n)));
    let mixed_rows = if fewest < most {
        format!(" · AUCs over {fewest} to {most} rows")
    } else {
        String::new()
    };
    // Dimming alone is lost on a monochrome terminal or a copied screen: the title counts them.
    let so_far = heads
        .iter()
        .flatten()
        .filter(|e| e.stage != FINAL_STAGE)
        .count();
    let so_far = if so_far > 0 {
        format!(" · {so_far} dimmed: a stage's best so far")
    } else {
        String::new()
    };
    let title = format!(
        "Runs {}/{}{hidden_sort}{mixed_rows}{so_far}{}{}",
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
