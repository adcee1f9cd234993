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
    "  collm --store OTHER_STORE_FOLDER run experiments/x.toml",
];

/// Width of the keys column: two spaces, then the keys padded to 22.
const KEYS_WIDTH: usize = 24;

pub fn draw(app: &App, frame: &mut Frame, area: Rect, scroll: u16) {
    let t = app.theme;
    let sections = help_sections();
    // As wide as its longest line, where the terminal allows; a description too long for the
    // width left goes on under itself, word by word.
    let widest = sections
        .iter()
        .flat_map(|(_, rows)| {
            rows.iter()
                .map(|(_, help)| KEYS_WIDTH + help.chars().count())
        })
        .chain(STORE_NOTE.iter().map(|text| 2 + text.chars().count()))
        .max()
        .unwrap_or(0);
    let width = u16::try_from(widest + 2).unwrap_or(u16::MAX).max(40);
    let popup = super::centered(area, width, area.height.saturating_sub(2));
    let room = usize::from(popup.width.saturating_sub(2))
        .saturating_sub(KEYS_WIDTH)
        .max(10);
    let mut lines: Vec<Line> = Vec::new();
    for (scope, rows) in sections {
        // The current view's keys and the global ones matter most: the others follow.
        let current = matches!(scope, Scope::In(v) if v == app.view);
        let title = if current {
            format!("{} (this view)", scope.title())
        } else {
            scope.title().to_string()
        };
        lines.push(Line::styled(title, t.header()));
        for (keys, help) in rows {
            for (i, part) in wrap_words(help, room).into_iter().enumerate() {
                let keys = if i == 0 { keys.as_str() } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(format!("  {keys:<22}"), t.accent()),
                    Span::raw(part),
                ]));
            }
        }
        lines.push(Line::from(""));
    }
    lines.push(Line::styled("One store, one writer", t.header()));
    for text in STORE_NOTE {
        lines.push(Line::from(format!("  {text}")));
    }
    app.help_extent
        .record(lines.len(), usize::from(popup.height.saturating_sub(2)));
    let scroll = scroll.min(u16::try_from(app.help_extent.max_offset()).unwrap_or(u16::MAX));
    let block = super::titled(app, "Help — ↑↓ scroll · Esc / ? close", popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}

/// `text` in lines of at most `width` characters, broken between words (a word longer than a
/// line has one to itself).
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if line.is_empty() {
            line.push_str(word);
        } else if line.chars().count() + 1 + word.chars().count() <= width {
            line.push(' ');
            line.push_str(word);
        } else {
            lines.push(word.to_string());
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap_words;

    #[test]
    fn descriptions_wrap_between_words() {
        assert_eq!(
            wrap_words("mark or unmark the run", 12),
            ["mark or", "unmark the", "run"]
        );
        assert_eq!(wrap_words("short", 12), ["short"]);
        assert_eq!(wrap_words("", 12), [""]);
    }
}
