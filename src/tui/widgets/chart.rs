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
        .title_bottom(legend(&present, usize::from(area.width.saturating_sub(2))).right_aligned());
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
    // A chart with fewer plot rows than labels loses its lowest (ratatui drops from the
    // bottom), and a flat curve then reads against the middle one: keep the two ends.
    let mut y_labels = axis_labels(yb, 4);
    let plot_rows = usize::from(area.height.saturating_sub(4));
    if y_labels.len() > plot_rows.max(2) {
        y_labels.remove(1);
    }
    let y_axis = Axis::default()
        .bounds(yb)
        .labels(y_labels)
        .style(theme.dim());
    let chart = Chart::new(datasets)
        .block(block)
        .x_axis(x_axis)
        .y_axis(y_axis)
        .legend_position(None);
    frame.render_widget(chart, area);
}

/// ` ⣀⣀ raw  ⣀⣀ smoothed `: each series' name after a sample of its marker, in its style,
/// within `width` characters; those that do not fit are counted (` +2 `).
fn legend<'a>(series: &[&Series], width: usize) -> Line<'a> {
    let entries: Vec<(String, Style)> = series
        .iter()
        .map(|s| {
            let sample = match s.marker {
                Marker::Dot => "••",
                Marker::Block => "██",
                Marker::Bar => "▄▄",
                _ => "⣀⣀",
            };
            (format!("{sample} {}", s.name), s.style)
        })
        .collect();
    let mut spans: Vec<Span> = Vec::new();
    let mut used = 2; // the spaces at both ends
    for (i, (text, style)) in entries.iter().enumerate() {
        let left = entries.len() - i - 1;
        let more = if left > 0 {
            format!("  +{left}").len()
        } else {
            0
        };
        let gap = if spans.is_empty() { 0 } else { 2 };
        if used + gap + text.chars().count() + more > width {
            spans.push(Span::raw(format!("  +{}", entries.len() - i)));
            break;
        }
        if gap > 0 {
            spans.push(Span::raw("  "));
        }
        used += gap + text.chars().count();
        spans.push(Span::styled(text.clone(), *style));
    }
    if spans.is_empty() {
        return Line::default();
    }
    spans.insert(0, Span::raw(" "));
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// Three labels: low, middle, high, with `decimals` digits (0 prints integers, as for steps);
/// values too small for those digits (learning rates) in the exponent form (`2.0e-3`), and two
/// labels where the middle would repeat an end (`0 0 1`).
fn axis_labels(bounds: [f64; 2], decimals: usize) -> Vec<Line<'static>> {
    let [lo, hi] = bounds;
    let tiny = decimals > 0 && lo.abs().max(hi.abs()) < 10f64.powi(2 - decimals as i32);
    let label = |v: f64| {
        if tiny && v == 0.0 {
            "0".to_string()
        } else if tiny {
            format!("{v:.1e}")
        } else {
            format!("{v:.decimals$}")
        }
    };
    let mut labels: Vec<String> = [lo, (lo + hi) / 2.0, hi].into_iter().map(label).collect();
    if labels[1] == labels[0] || labels[1] == labels[2] {
        labels.remove(1);
    }
    labels.into_iter().map(Line::from).collect()
}

#[cfg(test)]
mod tests {
    use super::{axis_labels, draw_lines, legend, Series};
    use crate::tui::theme::Theme;
    use ratatui::backend::TestBackend;
    use ratatui::style::Style;
    use ratatui::symbols::Marker;
    use ratatui::Terminal;

    #[test]
    fn a_legend_too_long_for_its_border_counts_what_it_leaves_out() {
        let points = [(0.0, 1.0)];
        let named = |name: &str| Series {
            name: name.into(),
            points: &points,
            style: Style::default(),
            marker: Marker::Braille,
        };
        let series = [
            named("261206-010000"),
            named("261206-010001"),
            named("261206-010002"),
        ];
        let refs: Vec<&Series> = series.iter().collect();
        let all = legend(&refs, 80).to_string();
        assert_eq!(all.matches("261206").count(), 3, "{all}");
        let cut = legend(&refs, 40).to_string();
        assert!(cut.ends_with("  +1 ") && cut.chars().count() <= 40, "{cut}");
        let cut = legend(&refs, 30).to_string();
        assert!(
            cut.ends_with("010000  +2 ") && cut.chars().count() <= 30,
            "{cut}"
        );
        assert_eq!(legend(&[], 40).to_string(), "");
    }

    fn shown(bounds: [f64; 2], decimals: usize) -> Vec<String> {
        axis_labels(bounds, decimals)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn labels_read_at_every_scale() {
        assert_eq!(shown([0.0, 64.0], 0), ["0", "32", "64"]);
        assert_eq!(shown([0.0, 1.0], 0), ["0", "1"]);
        assert_eq!(shown([0.5, 0.7], 4), ["0.5000", "0.6000", "0.7000"]);
        assert_eq!(shown([0.0, 0.002], 4), ["0", "1.0e-3", "2.0e-3"]);
        assert_eq!(shown([1e-4, 1.2e-4], 4), ["1.0e-4", "1.1e-4", "1.2e-4"]);
    }

    /// A chart only a few rows high still labels its lowest value: a flat curve drawn at the
    /// bottom row must not read against the middle label.
    #[test]
    fn a_short_chart_keeps_its_bottom_label() {
        let points = [(4.0, 0.2857), (8.0, 0.2857)];
        let series = [Series {
            name: "AUC".into(),
            points: &points,
            style: Style::default(),
            marker: Marker::Braille,
        }];
        for height in [6u16, 7, 8, 12] {
            let mut terminal = Terminal::new(TestBackend::new(38, height)).unwrap();
            terminal
                .draw(|f| {
                    let area = f.area();
                    draw_lines(f, area, "t", &series, Theme { color: false }, "none")
                })
                .unwrap();
            let screen = terminal.backend().to_string();
            assert!(
                screen.contains("0.2714") && screen.contains("0.3000"),
                "{height} rows:\n{screen}"
            );
        }
    }
}
