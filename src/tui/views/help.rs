//! The help overlay, generated from the keymap.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use crate::tui::app::App;
use crate::tui::keymap::{help_sections, Scope};

/// How headless jobs go beside an open TUI (see the module docs of `crate::tui`).
const STORE_NOTE: [&str; 3] = [
    "This window holds the store: `collm run` on it fails, naming this process.",
    "Queue more runs here (Launch, L), or run headless on another store:",
    "  collm --store ~/.collm/store-batch run experiments/x.toml",
];

pub fn draw(app: &App, frame: &mut Frame, area: Rect, scroll: u16) {
    let t = app.theme;
    let mut lines: Vec<Line> = Vec::new();
    for (scope, rows) in help_sections() {
        // The current view's keys and the global ones matter most: the others follow.
        let current = matches!(scope, Scope::In(v) if v == app.view);
        let title = if current {
            format!("{} (this view)", scope.title())
        } else {
            scope.title().to_string()
        };
        lines.push(Line::styled(title, t.header()));
        for (keys, help) in rows {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<22}"), t.accent()),
                Span::raw(help),
            ]));
        }
        lines.push(Line::from(""));
    }
    lines.push(Line::styled("One store, one writer", t.header()));
    for text in STORE_NOTE {
        lines.push(Line::from(format!("  {text}")));
    }
    // As wide as its longest line, where the terminal allows.
    let widest = lines.iter().map(Line::width).max().unwrap_or(0);
    let width = u16::try_from(widest + 2).unwrap_or(u16::MAX).max(40);
    let popup = super::centered(area, width, area.height.saturating_sub(2));
    app.help_extent
        .record(lines.len(), usize::from(popup.height.saturating_sub(2)));
    let scroll = scroll.min(u16::try_from(app.help_extent.max_offset()).unwrap_or(u16::MAX));
    let block = super::titled(app, "Help — ↑↓ scroll · Esc / ? close");
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}
