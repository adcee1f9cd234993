//! `view`: draws the state, and nothing else. One module per view, plus the frame around them
//! (tabs, status line) and the overlays (help, quit confirmation, too-small terminal).

mod compare;
mod help;
mod launch;
pub(crate) mod metrics;
mod prompt;
mod run;
mod runs;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Tabs, Wrap};
use ratatui::Frame;

use crate::tui::app::{App, Confirm, LaunchFocus, MIN_HEIGHT, MIN_WIDTH};
use crate::tui::keymap::View;

/// Draws the whole screen for `app`.
pub fn view(app: &App, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(app, frame, area);
        // Quitting with runs active asks first: the question shows here too.
        if let Some(question) = &app.confirm {
            confirm(app, question, frame, area);
        }
        return;
    }
    // A message longer than the terminal is wide takes up to three lines: refusals name runs,
    // files and what to do, and cut they said it nowhere.
    let status_height = shown_status(app).map_or(1, |s| {
        status_paragraph(&s.text, Style::default())
            .line_count(area.width)
            .clamp(1, 3) as u16
    });
    let [top, body, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(status_height),
    ])
    .areas(area);
    tabs(app, frame, top);
    match app.view {
        View::Runs => runs::draw(app, frame, body),
        View::Run => run::draw(app, frame, body),
        View::Metrics => metrics::draw(app, frame, body),
        View::Compare => compare::draw(app, frame, body),
        View::Prompt => prompt::draw(app, frame, body),
        View::Launch => launch::draw(app, frame, body),
    }
    status_line(app, frame, bottom);
    if let Some(scroll) = app.help {
        help::draw(app, frame, body, scroll);
    }
    if let Some(question) = &app.confirm {
        confirm(app, question, frame, area);
    }
}

fn too_small(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let lines = vec![
        Line::styled("Terminal too small", t.error()),
        Line::from(format!(
            "{}x{} now, {MIN_WIDTH}x{MIN_HEIGHT} needed.",
            area.width, area.height
        )),
        Line::styled("Enlarge the window, or press q to quit.", t.dim()),
    ];
    let [middle] = Layout::vertical([Constraint::Length(3)])
        .flex(Flex::Center)
        .areas(area);
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(ratatui::layout::Alignment::Center)
            .wrap(Wrap { trim: true }),
        middle,
    );
}

fn tabs(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let titles: Vec<Line> = View::ALL
        .iter()
        .enumerate()
        .map(|(i, v)| Line::from(format!("{} {}", i + 1, v.title())))
        .collect();
    let active = app.active_runs().len();
    let right = if active > 0 {
        format!(" {active} active · {} ", app.store_label)
    } else {
        format!(" {} ", app.store_label)
    };
    // The tabs come first (each title padded by a space, one divider between): the store's
    // label takes what is left, cut at its start, where a path says least.
    let tabs_width: usize = titles.iter().map(|l| l.width() + 2).sum::<usize>() + titles.len() - 1;
    let room = usize::from(area.width).saturating_sub(7 + tabs_width);
    let length = right.chars().count();
    let right = if length > room {
        let keep: String = right
            .chars()
            .skip(length - room.saturating_sub(1))
            .collect();
        if room > 0 {
            format!("…{keep}")
        } else {
            String::new()
        }
    } else {
        right
    };
    let [left, right_area] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(right.chars().count() as u16),
    ])
    .areas(area);
    let tabs = Tabs::new(titles)
        .select(app.view.index())
        .style(t.dim())
        .highlight_style(t.selected().patch(t.title()))
        .divider("│");
    let [name, rest] = Layout::horizontal([Constraint::Length(7), Constraint::Min(0)]).areas(left);
    frame.render_widget(Span::styled(" collm ", t.accent()), name);
    frame.render_widget(tabs, rest);
    frame.render_widget(Span::styled(right, t.dim()), right_area);
}

/// The notice or error the bottom lines show now, if any: a view's message in that view only,
/// and none under a question (it is about something else).
fn shown_status(app: &App) -> Option<&crate::tui::app::StatusLine> {
    app.status
        .as_ref()
        .filter(|s| app.now_ms.saturating_sub(s.at_ms) < crate::tui::app::STATUS_SHOWN_MS)
        .filter(|s| s.view.is_none_or(|v| v == app.view) && app.confirm.is_none())
}

fn status_paragraph(text: &str, style: Style) -> Paragraph<'static> {
    Paragraph::new(Line::styled(format!(" {text}"), style)).wrap(Wrap { trim: false })
}

/// The bottom lines: the last notice or error, wrapped, else the keys of the current view.
fn status_line(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let paragraph = match shown_status(app) {
        Some(s) => status_paragraph(&s.text, if s.error { t.error() } else { t.good() }),
        None => Paragraph::new(Line::styled(
            fit_hints(hints(app), usize::from(area.width)),
            t.dim(),
        )),
    };
    frame.render_widget(paragraph, area);
}

/// A short reminder of the view's main keys (the full list is behind `?`): in Launch, those of
/// the side that has them, and while a value is typed, the editor's.
/// A view's key hints in `width` columns: where they do not all fit, those of the view give way
/// (`…` in their place) before the last two (help and quit), which every screen keeps.
fn fit_hints(hints: &str, width: usize) -> String {
    let line = format!(" {hints}");
    if line.chars().count() <= width {
        return line;
    }
    let parts: Vec<&str> = hints.split(" · ").collect();
    let keep = parts.len().saturating_sub(2);
    let tail = parts[keep..].join(" · ");
    let mut head: Vec<&str> = Vec::new();
    for part in &parts[..keep] {
        let longer = [&head[..], &[part, "…"]].concat().join(" · ");
        if format!(" {longer} · {tail}").chars().count() > width {
            break;
        }
        head.push(part);
    }
    head.push("…");
    let line = format!(" {} · {tail}", head.join(" · "));
    crate::tui::widgets::format::clip(&line, width)
}

fn hints(app: &App) -> &'static str {
    match app.view {
        View::Launch if app.launch.editing.is_some() => {
            "type a value (several: 1e-2, 1e-3 for one run each) · Enter keep · Esc drop the edit"
        }
        View::Launch if app.launch.focus == LaunchFocus::Form => {
            "↑↓ field · Enter edit/flip · ← list · L launch · ? help · q quit"
        }
        View::Runs => "Enter open · / filter · Space mark · s/S sort · c cancel · R resume · D delete · Tab views · ? help · q quit",
        View::Run => "[ ] stage · ↑↓ scroll log · c cancel · R resume · Esc runs · ? help · q quit",
        View::Metrics => "←→ run · b baseline · p split · (marks from Runs) · ? help · q quit",
        View::Compare => "↑↓ settings · ←→ runs · m curve · [ ] stage · (marks from Runs) · ? help · q quit",
        View::Prompt => "/ search user · ↑↓ pick · Enter inspect · { } prompt · [ ] rows · s order · p split · ? help · q quit",
        View::Launch => "↑↓ pick · → form · Enter edit/flip · L launch · ? help · q quit",
    }
}

/// The yes/no overlay: what would happen, and the keys.
fn confirm(app: &App, question: &Confirm, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let (title, what, yes, no) = match question {
        Confirm::Quit => (
            " Quit? ",
            vec![
                format!(
                    "{} run(s) still active in this window.",
                    app.active_runs().len()
                ),
                "Quitting cancels them (they can be resumed later).".to_string(),
            ],
            " quit and cancel   ",
            " stay",
        ),
        Confirm::Delete { id, name } => (
            " Delete? ",
            vec![
                format!("Run {id} ({name}) leaves the store:"),
                "record, curves, weights, kept scores. No undo.".to_string(),
            ],
            " delete   ",
            " keep it",
        ),
    };
    let width = what.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16 + 4;
    let mut text: Vec<Line> = what.into_iter().map(Line::from).collect();
    text.push(Line::from(""));
    text.push(Line::from(vec![
        Span::styled("y", t.header()),
        Span::raw(yes),
        Span::styled("any other key", t.header()),
        Span::raw(no),
    ]));
    let popup = centered(area, width.max(56), 6);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).block(Block::bordered().title(Span::styled(title, t.error()))),
        popup,
    );
}

/// A `width` x `height` rectangle in the middle of `area` (clipped to it).
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

/// A bordered block with a styled title.
pub(crate) fn titled(app: &App, title: &str, area: Rect) -> Block<'static> {
    // Cut with `…` to fit between the corners, not mid-word without a sign.
    let room = usize::from(area.width.saturating_sub(4));
    let title = crate::tui::widgets::format::clip(title, room);
    Block::bordered().title(Span::styled(format!(" {title} "), app.theme.title()))
}

#[cfg(test)]
mod tests {
    use super::fit_hints;

    #[test]
    fn narrow_hints_keep_help_and_quit() {
        let hints = "Enter open · / filter · Space mark · s/S sort · D delete · ? help · q quit";
        assert_eq!(fit_hints(hints, 100), format!(" {hints}"));
        let narrow = fit_hints(hints, 50);
        assert_eq!(narrow, " Enter open · / filter · … · ? help · q quit");
        assert!(narrow.chars().count() <= 50, "{narrow}");
        assert!(narrow.ends_with(" · ? help · q quit"), "{narrow}");
        // Narrower than the two: cut with `…` at the end, as any line.
        assert!(fit_hints(hints, 10).ends_with('…'));
    }
}
