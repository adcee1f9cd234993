//! How numbers, durations and times read in every view.

pub use crate::text::{clip, metric};

use ratatui::text::{Line, Span};

/// `+0.0123` / `-0.0040`, or empty when either side is missing.
pub fn delta(value: Option<f64>, baseline: Option<f64>) -> String {
    match (value, baseline) {
        (Some(v), Some(b)) => format!("{:+.4}", v - b),
        _ => String::new(),
    }
}

/// `42s`, `3m07s`, `2h05m`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "-".into();
    }
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `14:30:12` (UTC) of a unix-milliseconds time, for the event log.
pub fn clock(ms: u64) -> String {
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

/// [`clip`], except that a path (a value holding `/`) keeps its end, where paths differ
/// (`…/imports/ml-latest-small` beside `…/data/ml-latest-small`).
pub fn clip_value(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if !text.contains('/') || count <= width {
        return clip(text, width);
    }
    let tail: String = text.chars().skip(count + 1 - width.max(1)).collect();
    format!("…{tail}")
}

/// `line` cut to `width` characters, its last kept span ending in `…` where anything was cut:
/// a line of several styles (a stage list and its headline) cut mid-word would pass for whole.
pub fn clip_line(line: Line<'static>, width: usize) -> Line<'static> {
    if line.width() <= width {
        return line;
    }
    let mut room = width;
    let mut spans = Vec::new();
    for span in line.spans {
        let len = span.content.chars().count();
        if len < room {
            room -= len;
            spans.push(span);
            continue;
        }
        // Something after this point is cut (the line is wider than `width`): mark it.
        let mut kept: String = span.content.chars().take(room.saturating_sub(1)).collect();
        kept.push('…');
        spans.push(Span::styled(kept, span.style));
        break;
    }
    Line::from(spans).style(line.style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_of_spans_is_cut_with_a_mark() {
        let line = Line::from(vec![
            Span::raw(" stages: cf "),
            Span::raw("AUC 0.5572 UAUC 0.5933"),
        ]);
        let cut = clip_line(line.clone(), 20);
        assert_eq!(cut.to_string(), " stages: cf AUC 0.5…");
        assert_eq!(cut.width(), 20);
        assert_eq!(clip_line(line.clone(), 80), line);
        assert_eq!(clip_line(line, 12).to_string(), " stages: cf…");
    }

    #[test]
    fn a_path_keeps_its_end() {
        assert_eq!(clip_value("/tmp/h/data/imports/ml", 12), "…/imports/ml");
        assert_eq!(
            clip_value("/tmp/h/data/imports/ml", 40),
            "/tmp/h/data/imports/ml"
        );
        assert_eq!(clip_value("lightgcn d32 lr=0.01", 8), "lightgc…");
    }

    #[test]
    fn formats() {
        assert_eq!(metric(Some(0.73126)), "0.7313");
        assert_eq!(metric(None), "-");
        assert_eq!(delta(Some(0.75), Some(0.7)), "+0.0500");
        assert_eq!(delta(None, Some(0.7)), "");
        assert_eq!(duration(42.4), "42s");
        assert_eq!(duration(187.0), "3m07s");
        assert_eq!(duration(7500.0), "2h05m");
        assert_eq!(clock(951_827_696_000), "12:34:56");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
