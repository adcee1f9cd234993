//! The metrics view: all / warm / cold x AUC, UAUC, logloss, rows and counted users on one split,
//! for the marked runs side by side, with deltas against a baseline run.

use collm_eval::Metrics;
use collm_store::EvalPoint;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use crate::tui::app::{result_on, App};
use crate::tui::widgets::format;

/// One metric row: its label, how to read it, and whether higher is better (`None`: a count).
struct Measure {
    label: &'static str,
    get: fn(&Metrics) -> Option<f64>,
    higher_is_better: Option<bool>,
}

const MEASURES: [Measure; 5] = [
    Measure {
        label: "AUC",
        get: |m| m.auc,
        higher_is_better: Some(true),
    },
    Measure {
        label: "UAUC",
        get: |m| m.uauc,
        higher_is_better: Some(true),
    },
    Measure {
        label: "logloss",
        get: |m| m.logloss,
        higher_is_better: Some(false),
    },
    Measure {
        label: "rows",
        get: |m| Some(m.rows as f64),
        higher_is_better: None,
    },
    Measure {
        label: "users",
        get: |m| Some(m.users_counted as f64),
        higher_is_better: None,
    },
];

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let runs = app.chosen_runs();
    let split = &app.metrics.split;
    let [info, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    if runs.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                " No runs. Mark runs with Space in Runs (1) to compare them here.",
                t.dim(),
            )),
            info,
        );
        return;
    }
    // The baseline: the chosen one if it is shown, else the first column.
    let base_index = app
        .metrics
        .baseline
        .as_ref()
        .and_then(|b| runs.iter().position(|r| &r.id == b))
        .unwrap_or(0);
    let results: Vec<Option<&EvalPoint>> = runs.iter().map(|r| result_on(r, split)).collect();
    let base = results[base_index];

    let source = |e: Option<&EvalPoint>| match e {
        Some(e) if e.stage == collm_store::FINAL_STAGE => "final".to_string(),
        Some(e) => format!("{} step {}", e.stage, e.step),
        None => "no result".to_string(),
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" split ", t.dim()),
            Span::styled(split.clone(), t.header()),
            Span::styled(
                if runs.len() > 1 {
                    format!(
                        "   baseline {} (b on a column to change)",
                        runs[base_index].id
                    )
                } else {
                    "   mark several runs in Runs to compare them".to_string()
                },
                t.dim(),
            ),
        ])),
        info,
    );

    let mut header = vec![Cell::from("")];
    for (i, r) in runs.iter().enumerate() {
        let mut label = format!("{} {}", r.id, r.name);
        if i == base_index && runs.len() > 1 {
            label.push_str(" (base)");
        }
        let mut style = t.run(r.id.as_str());
        if i == app.metrics.column {
            style = style.patch(t.selected());
        }
        header.push(Cell::from(Span::styled(label, style)));
    }
    let mut rows: Vec<Row> = Vec::new();
    rows.push(Row::new(
        std::iter::once(Cell::from(Span::styled("from", t.dim()))).chain(
            results
                .iter()
                .map(|e| Cell::from(Span::styled(source(*e), t.dim()))),
        ),
    ));
    for (group, pick) in [
        (
            "all",
            (|b: &collm_eval::Breakdown| &b.all) as fn(&collm_eval::Breakdown) -> &Metrics,
        ),
        ("warm", |b| &b.warm),
        ("cold", |b| &b.cold),
    ] {
        for m in &MEASURES {
            let base_value = base.and_then(|e| (m.get)(pick(&e.metrics)));
            let mut cells = vec![Cell::from(Span::styled(
                format!("{group} {}", m.label),
                t.header(),
            ))];
            for (i, e) in results.iter().enumerate() {
                let value = e.and_then(|e| (m.get)(pick(&e.metrics)));
                cells.push(value_cell(
                    app,
                    m,
                    value,
                    (i != base_index).then_some(base_value).flatten(),
                ));
            }
            rows.push(Row::new(cells));
        }
    }
    let mut widths = vec![Constraint::Length(13)];
    widths.extend(runs.iter().map(|_| Constraint::Min(18)));
    let title = format!("Metrics · {} run(s)", runs.len());
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header))
            .block(super::titled(app, &title))
            .column_spacing(2),
        table_area,
    );
}

/// A value, and its difference from the baseline coloured by whether it is better.
fn value_cell(app: &App, m: &Measure, value: Option<f64>, base: Option<f64>) -> Cell<'static> {
    let t = app.theme;
    let shown = match m.higher_is_better {
        None => value.map_or_else(|| "-".into(), |v| format!("{v:.0}")),
        Some(_) => format::metric(value),
    };
    let mut spans = vec![Span::raw(shown)];
    if let (Some(v), Some(b), Some(higher)) = (value, base, m.higher_is_better) {
        let better = if higher { v > b } else { v < b };
        let style = if v == b {
            Style::new()
        } else if better {
            t.good()
        } else {
            t.bad()
        };
        spans.push(Span::styled(
            format!(" {}", format::delta(Some(v), Some(b))),
            style,
        ));
    }
    Cell::from(Line::from(spans))
}
