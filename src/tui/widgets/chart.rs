//! One way to draw curves: named series over steps, reduced to the chart's width, with axes
//! labelled at their ends and middle.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use super::smoothing::{downsample, x_bounds, y_bounds};
use crate::tui::theme::Theme;

/// A curve to draw.
pub struct Series<'a> {
    pub name: String,
    pub points: &'a [(f64, f64)],
    pub style: Style,
    pub marker: Marker,
}

/// Draws `series` in `area` under `title`; an empty chart says `empty` instead.
pub fn draw_lines(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    series: &[Series],
    theme: Theme,
    empty: &str,
) {
    let present: Vec<&Series> = series.iter().filter(|s| !s.points.is_empty()).collect();
    // The legend, of the curves drawn, sits on the bottom border: in the plot it hid curves.
    let block = Block::bordered()
        .title(Span::styled(format!(" {title} "), theme.title()))
        .title_bottom(legend(&present).right_aligned());
    let (Some(xb), Some(yb)) = (
        x_bounds(present.iter().map(|s| s.points)),
        y_bounds(present.iter().map(|s| s.points)),
    ) else {
        let text = Paragraph::new(Line::styled(empty.to_string(), theme.dim())).block(block);
        frame.render_widget(text, area);
        return;
    };
    // Braille packs two points per column; more would be invisible.
    let max_points = usize::from(area.width.saturating_sub(10)).max(2) * 2;
    let reduced: Vec<Vec<(f64, f64)>> = present
        .iter()
        .map(|s| downsample(s.points, max_points))
        .collect();
    let datasets: Vec<Dataset> = present
        .iter()
        .zip(&reduced)
        .map(|(s, points)| {
            Dataset::default()
                .name(s.name.clone())
                .marker(s.marker)
                .graph_type(GraphType::Line)
                .style(s.style)
                .data(points)
        })
        .collect();
    let x_axis = Axis::default()
        .bounds(xb)
        .labels(axis_labels(xb, 0))
        .style(theme.dim());
    let y_axis = Axis::default()
        .bounds(yb)
        .labels(axis_labels(yb, 4))
        .style(theme.dim());
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(x_axis)
        .y_axis(y_axis)
        .legend_position(None);
    frame.render_widget(chart, area);
}

/// ` ⣀⣀ raw  ⣀⣀ smoothed `: each series' name after a sample of its marker, in its style.
fn legend<'a>(series: &[&Series]) -> Line<'a> {
    if series.is_empty() {
        return Line::default();
    }
    let mut spans = vec![Span::raw(" ")];
    for s in series {
        let sample = match s.marker {
            Marker::Dot => "••",
            Marker::Block => "██",
            Marker::Bar => "▄▄",
            _ => "⣀⣀",
        };
        spans.push(Span::styled(format!("{sample} {}", s.name), s.style));
        spans.push(Span::raw("  "));
    }
    spans.pop();
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// Three labels: low, middle, high, with `decimals` digits (0 prints integers, as for steps).
fn axis_labels(bounds: [f64; 2], decimals: usize) -> Vec<Line<'static>> {
    let [lo, hi] = bounds;
    [lo, (lo + hi) / 2.0, hi]
        .into_iter()
        .map(|v| Line::from(format!("{v:.decimals$}")))
        .collect()
}
