//! The metrics view: all / warm / cold x AUC, UAUC, logloss, rows and counted users on one split,
//! for the marked runs side by side (and, on `o`, each CoLLM run's own foundation and earlier
//! stages as their own columns; on `s`, the runs of one setting over seeds as one column, their
//! mean), with deltas against a baseline column and, below, whether each delta is more than
//! noise (the paired bootstrap of the kept per-row scores, over users and seeds).

use collm_eval::paired::Difference;
use collm_eval::Breakdown;
use collm_store::RunStatus;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use crate::compare::{
    column_header, column_metrics, column_name, interval, interval_short, measured, source,
    training_source, Measure, Target, GROUPS, MEASURES,
};
use crate::tui::app::{column_targets, App, MetricsColumn, SIGNIFICANCE_RESAMPLES};
use crate::tui::widgets::columns::ColumnWindow;
use crate::tui::widgets::format;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let columns = app.metrics_columns();
    let split = &app.metrics.split;
    let [info, table_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    if columns.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled(
                " No runs. Mark runs with Space in Runs (1) to compare them here.",
                t.dim(),
            )),
            info,
        );
        return;
    }
    let base_index = app.metrics_base_index(&columns);
    let targets: Vec<Vec<Target>> = columns.iter().map(column_targets).collect();
    // A column's metrics: its run's, or the mean of its runs' (none when one has none, or
    // when they scored different rows), read as `collm compare` reads them.
    let kept = |t: &Target| app.metrics.kept_metrics(t, split);
    let measured_columns: Vec<Result<Option<Breakdown>, String>> = columns
        .iter()
        .map(|c| column_metrics(c.iter().map(|(t, r)| (t, *r)), split, kept))
        .collect();
    let means: Vec<Option<Breakdown>> = measured_columns
        .iter()
        .map(|m| m.clone().ok().flatten())
        .collect();
    let base = means[base_index].as_ref();

    // Where each column's numbers come from: the table's `from` row, and the hint below.
    let sources: Vec<String> = columns
        .iter()
        .zip(&measured_columns)
        .map(|(c, m)| match m {
            Err(_) => "rows differ".to_string(),
            Ok(_) => column_source(app, c, split),
        })
        .collect();

    // Why a column shows no metrics comes before any hint, then a finished column whose
    // numbers are a training evaluation's: its rows are a sample its seed drew, so its
    // differences from the others are not of the same rows (as `collm compare` notes).
    let refused = measured_columns.iter().find_map(|m| m.as_ref().err());
    let sampled = (columns.len() > 1)
        .then(|| {
            columns
                .iter()
                .zip(&targets)
                .zip(means.iter().zip(&sources))
                .find_map(|((c, t), (m, from))| {
                    // A run still training is judged by its training so far, as it says.
                    let finished = c.iter().all(|(_, r)| r.status == RunStatus::Finished);
                    let sample = finished && m.is_some() && training_source(from).is_some();
                    sample.then(|| (column_header(t), from.clone()))
                })
        })
        .flatten();
    let hint = if let Some(why) = refused {
        format!("   {why}")
    } else if let Some((column, from)) = &sampled {
        format!(
            "   {column}: its {from} numbers are of a sample of {split} its seed drew: \
             its differences are not of the others' rows (collm eval RUN --split {split} \
             --predictions scores its final weights on the rows every seed shares)"
        )
    } else if columns.len() > 1 {
        format!(
            "   baseline {} (b on a column to change){}{}",
            column_header(&targets[base_index]),
            seeds_hint(app),
            parts_hint(app)
        )
    } else {
        format!(
            "   mark several runs in Runs to compare them{}",
            seeds_hint(app)
        )
    };
    // Cut with `…` where the line is too long, not mid-word without a sign.
    let room = usize::from(info.width).saturating_sub(" split ".len() + split.chars().count());
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" split ", t.dim()),
            Span::styled(split.clone(), t.header()),
            Span::styled(
                format::clip(&hint, room),
                if refused.is_some() || sampled.is_some() {
                    t.bad()
                } else {
                    t.dim()
                },
            ),
        ])),
        info,
    );

    // The label column fits its longest label (`warm UAUC users`).
    let label_width = GROUPS
        .iter()
        .flat_map(|(group, _)| {
            MEASURES
                .iter()
                .map(move |m| group.len() + 1 + m.label.len())
        })
        .max()
        .unwrap_or(13);
    let window = ColumnWindow::new(
        table_area.width.saturating_sub(2),
        u16::try_from(label_width).unwrap_or(u16::MAX),
        2,
        columns.len(),
        18,
        app.metrics.column,
    );
    let mut header = vec![Cell::from("")];
    for (i, (column, targets)) in columns.iter().zip(&targets).enumerate() {
        let names: Vec<&str> = column.iter().map(|(_, r)| r.name.as_str()).collect();
        let part = targets[0].part.as_deref();
        let mut label = format!("{} {}", column_header(targets), column_name(&names, part));
        if i == base_index && columns.len() > 1 {
            label.push_str(" (base)");
        }
        let label = format::clip(&label, window.width_of(1));
        let mut style = t.run(targets[0].run.as_str());
        if i == app.metrics.column {
            style = style.patch(t.selected());
        }
        header.push(Cell::from(Span::styled(label, style)));
    }
    // Inside the border; as many columns as fit, holding the highlighted one (←→).
    let mut rows: Vec<Row> = Vec::new();
    rows.push(Row::new(
        window.keep(
            std::iter::once(Cell::from(Span::styled("from", t.dim())))
                .chain(
                    sources
                        .iter()
                        .map(|from| Cell::from(Span::styled(from.clone(), t.dim()))),
                )
                .collect(),
        ),
    ));
    for (group, pick) in GROUPS {
        for m in &MEASURES {
            let base_value = base.and_then(|b| (m.get)(pick(b)));
            let mut cells = vec![Cell::from(Span::styled(
                format!("{group} {}", m.label),
                t.header(),
            ))];
            for (i, e) in means.iter().enumerate() {
                let value = e.as_ref().and_then(|b| (m.get)(pick(b)));
                cells.push(value_cell(
                    app,
                    m,
                    value,
                    (i != base_index).then_some(base_value).flatten(),
                ));
            }
            rows.push(Row::new(window.keep(cells)));
        }
    }
    let (table_height, differences_height) = heights(table_area.height, columns.len());
    let [table_area, difference_area] = Layout::vertical([
        Constraint::Length(table_height),
        Constraint::Length(differences_height),
    ])
    .areas(table_area);
    // Rows that do not fit scroll (↑↓); the offset asked for is held to what can be shown.
    let cut = rows
        .len()
        .saturating_sub(usize::from(table_area.height.saturating_sub(3)));
    let offset = app.metrics.row_scroll.min(cut);
    let rows: Vec<Row> = rows.into_iter().skip(offset).collect();
    let title = format!(
        "Metrics · {} run(s){}{}{}",
        app.chosen_runs().len(),
        if app.metrics.parts {
            ", with their parts"
        } else {
            ""
        },
        window
            .describe(columns.len())
            .map(|c| format!(" · {c} (←→)"))
            .unwrap_or_default(),
        if cut > 0 {
            let (above, below) = (offset, cut - offset);
            format!(" · {above} rows above, {below} below (↑↓)")
        } else {
            String::new()
        }
    );
    frame.render_widget(
        Table::new(rows, window.widths.clone())
            .header(Row::new(window.keep(header)))
            .block(super::titled(app, &title, table_area))
            .column_spacing(2),
        table_area,
    );
    if columns.len() > 1 {
        draw_differences(app, frame, difference_area);
    }
}

/// The `from` row and the metric rows of the table.
const TABLE_ROWS: usize = 1 + GROUPS.len() * MEASURES.len();

/// The heights of the metrics table and of the differences below, in `height` (the view's
/// body below its info line): the table, its header, its rows and a border, as much as fits;
/// on a short terminal the differences keep room for a column's rows (they are why one
/// compares), and the table's rows scroll.
fn heights(height: u16, columns: usize) -> (u16, u16) {
    let table = TABLE_ROWS as u16 + 3;
    let differences = if columns > 1 {
        height.saturating_sub(table).max(8)
    } else {
        0
    };
    (table.min(height.saturating_sub(differences)), differences)
}

/// How many lines of the differences from the baseline the view cannot show on a `screen`
/// (width, height) with `columns` columns: as far as PgUp PgDn scroll. Before the bootstrap
/// is in, each column but the baseline counts a row per group.
pub fn hidden_difference_rows(app: &App, screen: (u16, u16), columns: usize) -> usize {
    let (width, height) = screen;
    let (_, differences) = heights(height.saturating_sub(3), columns);
    // Inside its border, below its header (none without rows).
    let inside = usize::from(differences.saturating_sub(2));
    let (rows, reasons) = difference_content(app)
        .unwrap_or_else(|| (GROUPS.len() * columns.saturating_sub(1), Vec::new()));
    let shown = inside - usize::from(rows > 0).min(inside);
    (rows + reason_lines(&reasons, usize::from(width).saturating_sub(2))).saturating_sub(shown)
}

/// What the differences pane lists below its header once the bootstrap is in: a row per group
/// of each column measured, and the reasons the others were not, each once.
fn difference_content(app: &App) -> Option<(usize, Vec<&str>)> {
    let results = app.metrics.significance.as_ref()?.results.as_ref()?;
    let mut rows = 0;
    let mut reasons: Vec<&str> = Vec::new();
    for (_, result) in results {
        match result {
            Ok(b) => rows += b.groups().len(),
            Err(reason) if !reasons.contains(&reason.as_str()) => reasons.push(reason),
            Err(_) => {}
        }
    }
    Some((rows, reasons))
}

/// The lines `reasons` take, each after a space, wrapped to `width`: counted by the paragraph
/// the pane draws them with.
fn reason_lines(reasons: &[&str], width: usize) -> usize {
    reasons_paragraph(reasons, ratatui::style::Style::default())
        .line_count(u16::try_from(width.max(1)).unwrap_or(u16::MAX))
}

fn reasons_paragraph(reasons: &[&str], style: ratatui::style::Style) -> Paragraph<'static> {
    let lines: Vec<Line> = reasons
        .iter()
        .map(|r| Line::styled(format!(" {r}"), style))
        .collect();
    Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false })
}

/// How many metric rows the view cannot show on a screen `screen_height` rows high with
/// `columns` columns: as far as ↑↓ scroll.
pub fn hidden_rows(screen_height: u16, columns: usize) -> usize {
    // The tabs, the key line and the view's info line.
    let (table, _) = heights(screen_height.saturating_sub(3), columns);
    TABLE_ROWS.saturating_sub(usize::from(table.saturating_sub(3)))
}

/// Where a column's numbers come from (see [`measured`]): its members' one source, or each
/// distinct one; a column of seeds with members lacking a result (so no mean) says how many.
fn column_source(app: &App, column: &MetricsColumn, split: &str) -> String {
    if column.iter().any(|(t, _)| app.metrics.kept_asked(t, split)) {
        return "reading…".to_string();
    }
    let kept = |t: &Target| app.metrics.kept_metrics(t, split);
    let sources: Vec<Option<String>> = column
        .iter()
        .map(|(target, record)| measured(target, record, split, kept).map(|(_, from)| from))
        .collect();
    let missing = sources.iter().filter(|s| s.is_none()).count();
    if missing > 0 && column.len() > 1 {
        return format!("{} ({missing} of {})", source(None), column.len());
    }
    let mut distinct: Vec<String> = Vec::new();
    for from in sources
        .into_iter()
        .map(|s| s.unwrap_or_else(|| source(None)))
    {
        if !distinct.contains(&from) {
            distinct.push(from);
        }
    }
    distinct.join(" / ")
}

/// How to group runs over seeds, when some chosen runs differ only in their seeds, or undo it.
fn seeds_hint(app: &App) -> &'static str {
    let runs = app.chosen_runs();
    if app.metrics.seeds {
        "   s: a column per run"
    } else if crate::sweep::group_by_seeds(runs.iter().map(|r| (&app.runs.facts(r).setting, r)))
        .len()
        < runs.len()
    {
        "   s: group seeds"
    } else {
        ""
    }
}

/// How to show or hide the CoLLM runs' parts, when a chosen run has any.
fn parts_hint(app: &App) -> &'static str {
    if app.metrics.parts {
        "   o: runs only"
    } else if app
        .chosen_runs()
        .iter()
        .any(|r| !app.runs.facts(r).earlier_parts.is_empty())
    {
        "   o: with each CoLLM run's foundation and earlier stages"
    } else {
        ""
    }
}

/// Each run against the baseline: the paired bootstrap of their kept per-row scores.
fn draw_differences(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let over = if app.metrics.seeds {
        "users and seeds"
    } else {
        "users"
    };
    let title = format!(
        "Differences from the baseline · paired over {over}, {SIGNIFICANCE_RESAMPLES} \
         resamples: difference [95% interval] p"
    );
    let results = app
        .metrics
        .significance
        .as_ref()
        .and_then(|s| s.results.as_ref());
    let Some(results) = results else {
        frame.render_widget(
            Paragraph::new(Line::styled(" measuring…", t.dim()))
                .block(super::titled(app, &title, area)),
            area,
        );
        return;
    };
    // Widths worked out here: the run column fits its labels, the two differences share the
    // rest, and what does not fit ends in `…`.
    let inner = usize::from(area.width.saturating_sub(2));
    let run_width = results
        .iter()
        .map(|(column, _)| column_header(column).chars().count())
        .max()
        .unwrap_or(3)
        .clamp(3, (inner / 4).max(16));
    const GROUP_WIDTH: usize = 4;
    let each = inner.saturating_sub(run_width + GROUP_WIDTH + 3 * 2) / 2;
    let mut rows: Vec<Row> = Vec::new();
    let reasons = difference_content(app).map(|(_, r)| r).unwrap_or_default();
    // A column without a bootstrap is said below, each reason once (the same for every run
    // when the baseline has no scores).
    for (column, b) in results
        .iter()
        .filter_map(|(c, r)| Some((c, r.as_ref().ok()?)))
    {
        for (i, (group, diff)) in b.groups().into_iter().enumerate() {
            let run = if i == 0 {
                column_header(column)
            } else {
                String::new()
            };
            let style = t.run(column.first().map_or("", |c| c.run.as_str()));
            rows.push(Row::new(vec![
                Cell::from(Span::styled(format::clip(&run, run_width), style)),
                Cell::from(Span::styled(group, t.header())),
                difference_cell(app, diff.auc.as_ref(), b.resamples, each),
                difference_cell(app, diff.uauc.as_ref(), b.resamples, each),
            ]));
        }
    }
    // Rows and reasons scroll as one list below the table's header.
    let inner = area.inner(ratatui::layout::Margin::new(1, 1));
    let shown = usize::from(inner.height.saturating_sub(u16::from(!rows.is_empty())));
    let content = rows.len() + reason_lines(&reasons, usize::from(inner.width));
    let hidden = content.saturating_sub(shown);
    let offset = app.metrics.difference_scroll.min(hidden);
    let rows_skipped = offset.min(rows.len());
    let rows: Vec<Row> = rows.into_iter().skip(rows_skipped).collect();
    let [table_area, reason_area] = Layout::vertical([
        Constraint::Length(if rows.is_empty() {
            0
        } else {
            rows.len() as u16 + 1
        }),
        Constraint::Min(0),
    ])
    .areas(inner);
    let title = if hidden > 0 {
        format!(
            "{offset} above, {} below (PgUp PgDn) · {title}",
            hidden - offset
        )
    } else {
        title
    };
    frame.render_widget(super::titled(app, &title, area), area);
    let [run_width, each] = [run_width, each].map(|w| u16::try_from(w).unwrap_or(u16::MAX));
    let widths = [
        Constraint::Length(run_width),
        Constraint::Length(GROUP_WIDTH as u16),
        Constraint::Length(each),
        Constraint::Length(each),
    ];
    let header = Row::new(["run", "", "AUC", "UAUC"].map(|h| Cell::from(Span::styled(h, t.dim()))));
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(2),
        table_area,
    );
    let reasons_skipped = u16::try_from(offset - rows_skipped).unwrap_or(u16::MAX);
    frame.render_widget(
        reasons_paragraph(&reasons, t.dim()).scroll((reasons_skipped, 0)),
        reason_area,
    );
}

/// A difference with its interval and p-value in `width` characters, coloured by whether the
/// interval is above or below zero.
fn difference_cell(app: &App, d: Option<&Difference>, asked: usize, width: usize) -> Cell<'static> {
    let t = app.theme;
    let style = match d {
        Some(d) if d.low > 0.0 => t.good(),
        Some(d) if d.high < 0.0 => t.bad(),
        _ => Style::new(),
    };
    // Where the count of resamples does not fit, the interval may; where that does not, the
    // difference and its p-value do.
    let text = [interval(d, asked), interval(d, 0)]
        .into_iter()
        .find(|text| text.chars().count() <= width)
        .unwrap_or_else(|| interval_short(d));
    Cell::from(Span::styled(format::clip(&text, width), style))
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

#[cfg(test)]
mod tests {
    use super::reason_lines;

    #[test]
    fn reasons_wrap_at_words_as_the_pane_does() {
        // " ab cd" in 3 columns: " ab" then "cd".
        assert_eq!(reason_lines(&["ab cd"], 3), 2);
        assert_eq!(reason_lines(&["ab cd"], 6), 1);
        // A word longer than the line is cut across lines: " " + 7 letters in 4 columns.
        assert_eq!(reason_lines(&["abcdefg"], 4), 2);
        assert_eq!(reason_lines(&["", "x"], 10), 2, "an empty reason is a line");
    }
}
