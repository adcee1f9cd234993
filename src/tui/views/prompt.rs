//! The prompt inspector: pick a user, see the titles of their history, the hybrid prompt with
//! its ID slots highlighted, its token count, and the model's P(Yes) against each row's label.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, List, ListItem, ListState, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use crate::tui::app::{App, PromptPart};
use crate::tui::widgets::format;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let p = &app.prompt;
    let [list_area, main] =
        Layout::horizontal([Constraint::Length(20), Constraint::Min(0)]).areas(area);

    // Users, with the search prompt at the bottom while typing.
    let [users_area, search_area] = Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(u16::from(p.search.is_some())),
    ])
    .areas(list_area);
    let items: Vec<ListItem> = p
        .users
        .iter()
        .map(|u| ListItem::new(format!("user {u}")))
        .collect();
    let title = format!("{} · {} users", p.split, p.users.len());
    let list = List::new(items)
        .block(super::titled(app, &title))
        .highlight_style(t.selected());
    let mut state = ListState::default().with_selected((!p.users.is_empty()).then_some(p.selected));
    frame.render_stateful_widget(list, users_area, &mut state);
    if let Some(typed) = &p.search {
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("id: ", t.header()),
                Span::raw(format!("{typed}▏")),
            ])),
            search_area,
        );
    }

    let Some(ins) = &p.inspection else {
        let text = if p.loading {
            "inspecting…".to_string()
        } else if let Some(err) = &p.error {
            err.clone()
        } else {
            "Pick a user (↑↓ or / and an id) and press Enter.".to_string()
        };
        let style = if p.error.is_some() {
            t.error()
        } else {
            t.dim()
        };
        frame.render_widget(
            Paragraph::new(Line::styled(text, style))
                .wrap(Wrap { trim: true })
                .block(super::titled(app, "Prompt")),
            main,
        );
        return;
    };
    // The rows keep room for a few (at 80x24 too): the prompt gives up lines first.
    let [history_area, prompt_area, rows_area] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Max(13),
        Constraint::Min(8),
    ])
    .areas(main);

    let history: Vec<Line> = if ins.history.is_empty() {
        vec![Line::styled("(no liked item before these rows)", t.dim())]
    } else {
        ins.history
            .iter()
            .enumerate()
            .map(|(i, h)| Line::from(format!("{:>2}. {h}", i + 1)))
            .collect()
    };
    let title = format!(
        "user {} · history ({} {}, oldest first)",
        ins.uid,
        ins.history.len(),
        if ins.history.len() == 1 {
            "title"
        } else {
            "titles"
        }
    );
    // The newest titles matter most: keep the end in view.
    let inner_height = usize::from(history_area.height.saturating_sub(2));
    let scroll = history.len().saturating_sub(inner_height) as u16;
    frame.render_widget(
        Paragraph::new(history)
            .block(super::titled(app, &title))
            .scroll((scroll, 0)),
        history_area,
    );

    let spans: Vec<Span> = ins
        .prompt
        .iter()
        .map(|part| match part {
            PromptPart::Text(text) => Span::raw(text.clone()),
            PromptPart::Slot(tag) => Span::styled(tag.clone(), t.slot()),
        })
        .collect();
    let tokens = ins
        .token_count
        .map_or_else(|| "tokens: -".into(), |n| format!("{n} tokens"));
    let title = format!("hybrid prompt · {tokens} · {}", ins.source);
    frame.render_widget(
        Paragraph::new(Line::from(spans))
            .wrap(Wrap { trim: false })
            .block(super::titled(app, &title)),
        prompt_area,
    );

    let header = Row::new(["item", "title", "warm", "label", "P(Yes)", ""]).style(t.header());
    let ordered = ins.ordered_rows(p.rows_by_score);
    // Inside the border, below the note and the header.
    let visible = rows_area
        .height
        .saturating_sub(3 + u16::from(ins.note.is_some()));
    p.rows_extent.record(ordered.len(), usize::from(visible));
    let offset = p.row_offset.min(p.rows_extent.max_offset());
    let widths = [
        Constraint::Length(6),
        Constraint::Min(20),
        Constraint::Length(4),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(10),
    ];
    // The title column takes what the others (a space between each) and the border leave; a
    // longer title ends in `…`.
    let fixed: u16 = widths
        .iter()
        .map(|w| match w {
            Constraint::Length(n) => *n,
            _ => 0,
        })
        .sum();
    let gaps = widths.len() - 1;
    let title_width = usize::from(rows_area.width).saturating_sub(2 + usize::from(fixed) + gaps);
    let rows: Vec<Row> = ordered
        .iter()
        .skip(offset)
        .map(|r| {
            let bar = r
                .p_yes
                .map(|p| "█".repeat((p * 10.0).round() as usize))
                .unwrap_or_default();
            let agrees = r.p_yes.map(|p| (p >= 0.5) == (r.label == 1));
            let style = match agrees {
                Some(true) => t.good(),
                Some(false) => t.bad(),
                None => t.dim(),
            };
            Row::new(vec![
                Cell::from(r.iid.to_string()),
                Cell::from(format::clip(&r.title, title_width)),
                Cell::from(if r.warm { "warm" } else { "cold" }),
                Cell::from(if r.label == 1 { "yes" } else { "no" }),
                Cell::from(Span::styled(format::metric(r.p_yes), style)),
                Cell::from(Span::styled(bar, style)),
            ])
        })
        .collect();
    let user_auc = ins.user_auc.map_or_else(String::new, |a| {
        if a.rows == ins.rows.len() {
            format!(" · user AUC {:.4}", a.auc)
        } else {
            format!(" · user AUC {:.4} on {} rows", a.auc, a.rows)
        }
    });
    let order = if p.rows_by_score {
        "by P(Yes)"
    } else {
        "split order"
    };
    let title = format!(
        "{} rows of {}{user_auc} · {order} (s) · from row {} ([ ])",
        ins.rows.len(),
        ins.split,
        offset + 1
    );
    // Where the scores come from, above the table: too long for its title.
    let block = super::titled(app, &title);
    let inner = block.inner(rows_area);
    frame.render_widget(block, rows_area);
    let [note_area, table_area] = Layout::vertical([
        Constraint::Length(u16::from(ins.note.is_some())),
        Constraint::Min(0),
    ])
    .areas(inner);
    if let Some(note) = &ins.note {
        frame.render_widget(
            Paragraph::new(Line::styled(note.clone(), t.dim())),
            note_area,
        );
    }
    frame.render_widget(Table::new(rows, widths).header(header), table_area);
}
