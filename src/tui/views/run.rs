//! The run view: one run's stage, progress and ETA, its loss (raw and smoothed), learning-rate
//! and evaluation curves, and its event log. A finished run keeps the same screen.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::detail::{RunDetail, StageSeries};
use crate::tui::widgets::chart::{draw_lines, Series};
use crate::tui::widgets::format;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let Some(id) = &app.run_view.id else {
        let text = "No run open. Pick one in Runs (1) and press Enter, or launch one (6).";
        frame.render_widget(
            Paragraph::new(Line::styled(text, t.dim()))
                .wrap(Wrap { trim: true })
                .block(super::titled(app, "Run", area)),
            area,
        );
        return;
    };
    let record = app.record(id);
    let detail = app.details.get(id);
    let [head, charts, log] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(8),
        Constraint::Length(8),
    ])
    .areas(area);

    let stage_index = detail.map(|d| {
        app.run_view
            .stage
            .unwrap_or(d.stages.len().saturating_sub(1))
    });
    let stage = detail.zip(stage_index).and_then(|(d, i)| d.stages.get(i));

    // Header: what run, how it stands, which stage, how far. The name comes last: a long one
    // is cut, not the status and time after it.
    let mut lines = vec![Line::from(vec![
        Span::styled(format!(" {id} "), t.run(id.as_str())),
        match record {
            Some(r) => Span::styled(r.status.to_string(), t.status(r.status)),
            None => Span::styled("loading…", t.dim()),
        },
        Span::styled(
            record
                .and_then(|r| app.duration_s(r))
                .map(|d| format!("  {}", format::duration(d)))
                .unwrap_or_default(),
            t.dim(),
        ),
        Span::raw("  "),
        Span::styled(
            record.map(|r| r.name.clone()).unwrap_or_default(),
            t.title(),
        ),
    ])];
    if let Some(err) = record.and_then(|r| r.error.as_ref()) {
        lines.push(Line::styled(format!(" {err}"), t.error()));
    } else {
        lines.push(stage_line(app, detail, stage_index));
    }
    let [text_area, gauge_area] =
        Layout::vertical([Constraint::Length(2), Constraint::Length(2)]).areas(head);
    let width = usize::from(text_area.width);
    let lines: Vec<Line> = lines
        .into_iter()
        .map(|l| format::clip_line(l, width))
        .collect();
    frame.render_widget(Paragraph::new(lines), text_area);
    // Rate and ETA only while the run trains: an ended run's unfinished stage has none.
    let live = record.is_some_and(|r| r.status == collm_store::RunStatus::Running);
    draw_progress(app, frame, gauge_area, stage, live);

    draw_charts(app, frame, charts, stage);
    draw_log(app, frame, log, detail);
}

/// ` stage 2/2 stage2 · [ ] to switch`.
fn stage_line(app: &App, detail: Option<&RunDetail>, index: Option<usize>) -> Line<'static> {
    let t = app.theme;
    let Some(d) = detail else {
        return Line::styled(" no stage started yet", t.dim());
    };
    if d.stages.is_empty() {
        // A zero-shot run has results and never a stage.
        let what = if d.results.is_empty() {
            " no stage started yet"
        } else {
            " no stage trained (zero-shot)"
        };
        let mut spans = vec![Span::styled(what, t.dim())];
        spans.extend(headline(app, d));
        return Line::from(spans);
    }
    let i = index.unwrap_or(0);
    let names: Vec<Span> = d
        .stages
        .iter()
        .enumerate()
        .flat_map(|(j, s)| {
            let style = if j == i { t.selected() } else { t.dim() };
            [Span::raw(" "), Span::styled(format!(" {} ", s.name), style)]
        })
        .collect();
    let mut spans = vec![Span::styled(" stages:", t.dim())];
    spans.extend(names);
    // Only a live run has a latest stage to follow.
    let live = app.record(&d.id).is_some_and(|r| !r.status.is_terminal());
    if app.run_view.stage.is_none() && live {
        spans.push(Span::styled("  (following the latest)", t.dim()));
    }
    spans.extend(headline(app, d));
    Line::from(spans)
}

/// Once the run has results, they are the headline: `valid AUC … UAUC … (warm …, cold …)`.
fn headline(app: &App, d: &RunDetail) -> Vec<Span<'static>> {
    let t = app.theme;
    let Some(r) = d
        .results
        .iter()
        .find(|r| r.split == "valid")
        .or(d.results.first())
    else {
        return Vec::new();
    };
    vec![
        Span::styled(format!("   {} ", r.split), t.dim()),
        Span::styled(
            format!(
                "AUC {} UAUC {} (warm {}, cold {})",
                format::metric(r.metrics.all.auc),
                format::metric(r.metrics.all.uauc),
                format::metric(r.metrics.warm.auc),
                format::metric(r.metrics.cold.auc)
            ),
            t.good(),
        ),
    ]
}

fn draw_progress(
    app: &App,
    frame: &mut Frame,
    area: Rect,
    stage: Option<&StageSeries>,
    live: bool,
) {
    let t = app.theme;
    let Some(s) = stage else { return };
    let rate = s
        .rate()
        .filter(|_| live)
        // LLM stages take seconds per step: show whichever reads without zeros.
        .map(|r| match r {
            r if r >= 1.0 => format!(" · {r:.1} steps/s"),
            r if r > 0.0 => format!(" · {:.1} s/step", 1.0 / r),
            _ => String::new(),
        })
        .unwrap_or_default();
    let eta = s
        .eta_s()
        .filter(|_| live)
        .map(|e| format!(" · ETA {}", format::duration(e)))
        .unwrap_or_default();
    let steps = match s.total_steps {
        Some(total) => format!("step {}/{total}", s.step()),
        None => format!("step {}", s.step()),
    };
    let done = if s.finished { " · done" } else { "" };
    let label = format!("{} {steps}{rate}{eta}{done}", s.name);
    let [gauge, _] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    match s.progress() {
        Some(p) => frame.render_widget(
            Gauge::default()
                .ratio(p.clamp(0.0, 1.0))
                .label(label)
                .gauge_style(t.title()),
            gauge,
        ),
        None => frame.render_widget(
            Paragraph::new(Line::styled(format!(" {label}"), t.dim())),
            gauge,
        ),
    }
}

fn draw_charts(app: &App, frame: &mut Frame, area: Rect, stage: Option<&StageSeries>) {
    let t = app.theme;
    let [loss_area, right] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let [lr_area, eval_area] =
        Layout::vertical([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(right);
    let marker = t.run_marker(0);
    let empty: &[(f64, f64)] = &[];
    let (loss, smooth, lr) = stage.map_or((empty, empty, empty), |s| {
        (&s.loss[..], &s.smooth[..], &s.lr[..])
    });
    // A run's final scorings (`final`, `final-cf`) are stages without steps.
    let scoring_only = stage.is_some_and(|s| s.name.starts_with(collm_store::FINAL_STAGE));
    let no_steps = if scoring_only {
        "scoring only: no training steps"
    } else {
        "waiting for the first step…"
    };
    let last_loss = loss
        .last()
        .map(|p| format!(" {:.4}", p.1))
        .unwrap_or_default();
    draw_lines(
        frame,
        loss_area,
        &format!("loss{last_loss}"),
        &[
            Series {
                name: "raw".into(),
                points: loss,
                style: t.series(0),
                marker,
            },
            Series {
                name: "smoothed".into(),
                points: smooth,
                style: t.series(1),
                marker: t.run_marker(1),
            },
        ],
        t,
        no_steps,
    );
    draw_lines(
        frame,
        lr_area,
        "learning rate",
        &[Series {
            name: "lr".into(),
            points: lr,
            style: t.series(2),
            marker,
        }],
        t,
        if scoring_only {
            no_steps
        } else {
            "no steps yet"
        },
    );
    let split = stage
        .and_then(|s| s.eval_splits().into_iter().next())
        .unwrap_or_else(|| "valid".into());
    let (auc, uauc) = stage.map(|s| s.eval_curves(&split)).unwrap_or_default();
    // The latest evaluation's, named so: the headline above gives the best weights' result.
    let last = auc
        .last()
        .map(|p| format!(" latest AUC {:.4}", p.1))
        .unwrap_or_default();
    draw_lines(
        frame,
        eval_area,
        &format!("{split}{last}"),
        &[
            Series {
                name: "AUC".into(),
                points: &auc,
                style: t.series(1),
                marker,
            },
            Series {
                name: "UAUC".into(),
                points: &uauc,
                style: t.series(3),
                marker: t.run_marker(1),
            },
        ],
        t,
        "no evaluation yet",
    );
}

fn draw_log(app: &App, frame: &mut Frame, area: Rect, detail: Option<&RunDetail>) {
    let t = app.theme;
    let entries = detail.map(|d| &d.log[..]).unwrap_or(&[]);
    let height = usize::from(area.height.saturating_sub(2));
    app.run_view.log_extent.record(entries.len(), height);
    // Scrolled up from the end: the newest lines show unless the user looks back.
    let end = entries.len().saturating_sub(
        app.run_view
            .log_scroll
            .min(entries.len().saturating_sub(height)),
    );
    let start = end.saturating_sub(height);
    let lines: Vec<Line> = entries[start..end]
        .iter()
        .map(|e| {
            let style = if e.error {
                t.error()
            } else {
                ratatui::style::Style::new()
            };
            let line = Line::from(vec![
                Span::styled(format!("{} ", format::clock(e.at_ms)), t.dim()),
                Span::styled(e.text.clone(), style),
            ]);
            format::clip_line(line, usize::from(area.width.saturating_sub(2)))
        })
        .collect();
    let title = if app.run_view.log_scroll > 0 {
        format!(
            "Event log ({} lines, scrolled; End for newest)",
            entries.len()
        )
    } else {
        format!("Event log ({} lines)", entries.len())
    };
    frame.render_widget(
        Paragraph::new(lines).block(super::titled(app, &title, area)),
        area,
    );
}
