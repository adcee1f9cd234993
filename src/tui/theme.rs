//! Colours and emphasis for every view, in one place, so that `NO_COLOR` turns all colour off at
//! once and each run keeps one colour wherever it is drawn.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;

/// Colours assigned to runs in overlays, chosen to stay apart on dark and light backgrounds.
const RUN_PALETTE: [Color; 8] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::LightRed,
    Color::LightBlue,
    Color::White,
    Color::LightGreen,
];

/// Without colour, overlaid curves are told apart by their marker instead.
const RUN_MARKERS: [Marker; 4] = [Marker::Braille, Marker::Dot, Marker::Block, Marker::Bar];

/// How the UI is painted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless the `NO_COLOR` convention (<https://no-color.org>) asks for none: the
    /// variable set to any non-empty value.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !no_color }
    }

    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    pub fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    pub fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new().add_modifier(Modifier::DIM)
        }
    }
    pub fn header(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    /// The selected row: reversed video reads without colour too.
    pub fn selected(self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }
    pub fn error(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    pub fn good(self) -> Style {
        self.fg(Color::Green)
    }
    pub fn bad(self) -> Style {
        self.fg(Color::Red)
    }
    pub fn accent(self) -> Style {
        self.fg(Color::Magenta).add_modifier(Modifier::BOLD)
    }
    /// An ID slot in a prompt: highlighted by background in colour, by reversed video without.
    pub fn slot(self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::Black)
                .bg(Color::Yellow)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    /// The status colour of a run.
    pub fn status(self, status: collm_store::RunStatus) -> Style {
        use collm_store::RunStatus::*;
        match status {
            Running => self.fg(Color::Cyan).add_modifier(Modifier::BOLD),
            Queued => self.fg(Color::Blue),
            Finished => self.fg(Color::Green),
            Failed => self.fg(Color::Red),
            Interrupted => self.fg(Color::Yellow),
            Cancelled => self.dim(),
        }
    }

    /// Series `index` of a chart (raw, smoothed, ...).
    pub fn series(self, index: usize) -> Style {
        const SERIES: [Color; 4] = [Color::DarkGray, Color::Cyan, Color::Yellow, Color::Magenta];
        self.fg(SERIES[index % SERIES.len()])
    }

    /// The stable style of a run in overlays: derived from its id alone, so a run has the same
    /// colour in every view and every session.
    pub fn run(self, run_id: &str) -> Style {
        self.fg(RUN_PALETTE[stable_index(run_id, RUN_PALETTE.len())])
    }

    /// The chart marker of a run: one shape for all with colour, a shape per run without.
    pub fn run_marker(self, position: usize) -> Marker {
        if self.color {
            Marker::Braille
        } else {
            RUN_MARKERS[position % RUN_MARKERS.len()]
        }
    }
}

/// FNV-1a of `key`, reduced to `0..n`: stable across processes (unlike std's random hasher).
pub fn stable_index(key: &str, n: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % n as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_colours_are_stable_and_no_color_strips_them() {
        let t = Theme { color: true };
        assert_eq!(t.run("250601-120000"), t.run("250601-120000"));
        assert_eq!(
            stable_index("250601-120000", 8),
            stable_index("250601-120000", 8)
        );
        let plain = Theme { color: false };
        assert_eq!(plain.run("x").fg, None);
        assert_eq!(plain.status(collm_store::RunStatus::Failed).fg, None);
        assert_ne!(plain.run_marker(0), plain.run_marker(1));
    }
}
