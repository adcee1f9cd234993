//! The launch view: the experiments to run (the embedded default and the files of
//! `collm --experiments`, `./experiments` by default),
//! a form over their key settings and ablation switches, and the launch key.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::app::{App, LaunchFocus};

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let l = &app.launch;
    let [list_area, form_area] =
        Layout::horizontal([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(area);

    let items: Vec<ListItem> = l
        .choices
        .iter()
        .map(|c| {
            let style = if c.problem.is_some() {
                t.error()
            } else {
                ratatui::style::Style::new()
            };
            ListItem::new(Line::styled(c.label.clone(), style))
        })
        .collect();
    // First in the title, so a title cut to fit still shows which side has the keys.
    let focus_mark = |f: LaunchFocus| if l.focus == f { "◆ " } else { "" };
    let block = super::titled(
        app,
        &format!("{}Experiments", focus_mark(LaunchFocus::List)),
        list_area,
    );
    let inner = block.inner(list_area);
    let list = List::new(items).block(block).highlight_style(t.selected());
    let mut state =
        ListState::default().with_selected((!l.choices.is_empty()).then_some(l.selected));
    frame.render_stateful_widget(list, list_area, &mut state);
    // Where the files come from, under them; and what to do when there are none (the TUI was
    // started outside a checkout, say), instead of a list that silently holds the default only.
    let files = l.choices.iter().filter(|c| c.path.is_some()).count();
    let mut lines = vec![Line::styled(format!("from {}", l.folder), t.dim())];
    if files == 0 {
        lines.push(Line::styled(
            "no *.toml there: start collm where experiments/ is, or pass --experiments DIR",
            t.dim(),
        ));
    }
    let used = u16::try_from(l.choices.len() + 1).unwrap_or(u16::MAX);
    let below = Rect {
        y: inner.y.saturating_add(used),
        height: inner.height.saturating_sub(used),
        ..inner
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), below);

    let [fields_area, info_area] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(5)]).areas(form_area);
    let mut lines: Vec<Line> = Vec::new();
    // A line a field, key then value: a value longer than its room ends in `…`, and text being
    // typed shows its end, where the cursor is.
    let room = usize::from(fields_area.width.saturating_sub(2 + 34)).max(2);
    let edited = |i: usize, f: &crate::experiment::settings::Field| l.file_fields.get(i) != Some(f);
    for (i, f) in l.fields.iter().enumerate() {
        let current = l.focus == LaunchFocus::Form && i == l.field;
        let value = match (&l.editing, current) {
            (Some(typed), true) => {
                let typed: Vec<char> = typed.chars().collect();
                let tail: String = if typed.len() + 1 > room {
                    let from = typed.len() + 2 - room;
                    std::iter::once('…')
                        .chain(typed[from..].iter().copied())
                        .collect()
                } else {
                    typed.iter().collect()
                };
                Span::styled(format!("{tail}▏"), t.accent())
            }
            _ if f.is_switch() => {
                let on = f.value.as_bool() == Some(true);
                Span::styled(
                    if on { "[x] on" } else { "[ ] off" },
                    if on { t.good() } else { t.dim() },
                )
            }
            _ => Span::styled(
                crate::tui::widgets::format::clip(&f.shown(), room),
                if edited(i, f) {
                    t.accent()
                } else {
                    Style::default()
                },
            ),
        };
        let key_style = if current { t.selected() } else { t.header() };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<32}", f.key), key_style),
            Span::raw(" "),
            value,
        ]));
    }
    if lines.is_empty() {
        // A file that does not load has no form: say why here, where the form would be.
        match l.choices.get(l.selected).and_then(|c| c.problem.as_ref()) {
            Some(problem) => lines.push(Line::styled(format!(" {problem}"), t.error())),
            None => lines.push(Line::styled(" (no editable setting)", t.dim())),
        }
    }
    let name = l
        .choices
        .get(l.selected)
        .map(|c| c.name.clone())
        .unwrap_or_default();
    // One line a field; the field being edited stays in view, and the title says which of
    // them show when they do not all fit (an edit must never go to a field no one sees).
    let rows = usize::from(fields_area.height.saturating_sub(2)).max(1);
    let first = match l.focus {
        LaunchFocus::Form => l.field.saturating_sub(rows - 1),
        _ => 0,
    };
    let shown = if l.fields.len() > rows {
        format!(
            " · {}–{} of {} (↑↓)",
            first + 1,
            (first + rows).min(l.fields.len()),
            l.fields.len()
        )
    } else {
        String::new()
    };
    let edits = l
        .fields
        .iter()
        .enumerate()
        .filter(|(i, f)| edited(*i, f))
        .count();
    let edits = match edits {
        0 => String::new(),
        n => format!(" · {n} edited"),
    };
    let title = format!(
        "{}Settings of {name}{edits}{shown}",
        focus_mark(LaunchFocus::Form)
    );
    let paragraph = Paragraph::new(lines).block(super::titled(app, &title, fields_area));
    let paragraph = if l.fields.is_empty() {
        paragraph.wrap(Wrap { trim: false })
    } else {
        paragraph.scroll((u16::try_from(first).unwrap_or(u16::MAX), 0))
    };
    frame.render_widget(paragraph, fields_area);

    // The error first: the box is short, and a refused edit must never be the line cut off.
    let mut info: Vec<Line> = l
        .error
        .iter()
        .map(|err| Line::styled(format!(" {err}"), t.error()))
        .collect();
    info.push(Line::from(vec![
        Span::styled(" L", t.accent()),
        Span::raw(" launch as edited · "),
        Span::styled("Enter", t.accent()),
        Span::raw(" edit / flip · runs queue behind the running one · "),
        Span::styled("1e-2, 1e-3", t.accent()),
        Span::raw(" in a field: a run per value"),
    ]));
    if let Some(path) = l.choices.get(l.selected).and_then(|c| c.path.as_ref()) {
        info.push(Line::styled(format!(" from {}", path.display()), t.dim()));
    }
    frame.render_widget(
        Paragraph::new(info)
            .wrap(Wrap { trim: false })
            .block(super::titled(app, "Launch", info_area)),
        info_area,
    );
}
