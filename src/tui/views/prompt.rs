//! The prompt inspector: pick a user, see the titles of their history, the prompt the run reads (a
//! hybrid one's ID slots highlighted), its token count, and the model's P(Yes) against each row's
//! label.

use collm_pipeline::PromptKind;
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
        .block(super::titled(app, &title, users_area))
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
                .block(super::titled(app, "Prompt", main)),
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

    // Titles flow several to a line; when they still overflow, the newest (which matter most)
    // stay in view and the title counts the older ones left out.
    let inner = history_area.inner(ratatui::layout::Margin::new(1, 1));
    let packed = pack_titles(&ins.history, usize::from(inner.width));
    let hidden_lines = packed.len().saturating_sub(usize::from(inner.height));
    let hidden: usize = packed[..hidden_lines].iter().map(|(_, n)| n).sum();
    let lines: Vec<Line> = if ins.history.is_empty() {
        vec![Line::styled("(no liked item before these rows)", t.dim())]
    } else {
        packed[hidden_lines..]
            .iter()
            .map(|(text, _)| Line::from(text.clone()))
            .collect()
    };
    let count = match ins.history.len() {
        1 => "1 title".to_string(),
        n => format!("{n} titles"),
    };
    let older = if hidden > 0 {
        format!(", {hidden} oldest not shown")
    } else {
        String::new()
    };
    let title = format!("user {} · history ({count}, oldest first{older})", ins.uid);
    frame.render_widget(
        Paragraph::new(lines).block(super::titled(app, &title, history_area)),
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
    let kind = match ins.prompt_kind {
        PromptKind::Text => "text",
        PromptKind::Hybrid => "hybrid",
    };
    // Cut to its pane, the prompt scrolls; the title says which lines show.
    let paragraph = Paragraph::new(Line::from(spans)).wrap(Wrap { trim: false });
    let inner = prompt_area.inner(ratatui::layout::Margin::new(1, 1));
    let total = paragraph.line_count(inner.width);
    p.prompt_extent.record(total, usize::from(inner.height));
    let offset = p.prompt_offset.min(p.prompt_extent.max_offset());
    let cut = if total > usize::from(inner.height) {
        let last = (offset + usize::from(inner.height)).min(total);
        format!(" · lines {}-{last} of {total}, {{ }} scroll", offset + 1)
    } else {
        String::new()
    };
    let title = if ins.run_reads_prompt {
        format!("{kind} prompt{cut} · {tokens} · {}", ins.source)
    } else {
        format!(
            "hybrid prompt as a CoLLM run reads it{cut} · {} reads no prompt: it scores its \
             vectors",
            ins.source
        )
    };
    frame.render_widget(
        paragraph
            .scroll((offset as u16, 0))
            .block(super::titled(app, &title, prompt_area)),
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
    let block = super::titled(app, &title, rows_area);
    let inner = block.inner(rows_area);
    frame.render_widget(block, rows_area);
    let [note_area, table_area] = Layout::vertical([
        Constraint::Length(u16::from(ins.note.is_some() || p.loading)),
        Constraint::Min(0),
    ])
    .areas(inner);
    // While another inspection is on its way (the LLM scoring a user's rows takes seconds), the
    // rows shown are the last one's: said where their source is.
    let note = if p.loading {
        Some(Line::styled(
            "inspecting… (scoring with the LLM takes a few seconds)",
            t.accent(),
        ))
    } else {
        let width = usize::from(note_area.width);
        ins.note
            .as_ref()
            .map(|note| Line::styled(format::clip(note, width), t.dim()))
    };
    if let Some(note) = note {
        frame.render_widget(Paragraph::new(note), note_area);
    }
    frame.render_widget(Table::new(rows, widths).header(header), table_area);
}

/// `1. A · 2. B` lines of at most `width` characters, titles in order, each line with the
/// number of titles it holds; a title longer than a line is cut with `…`.
fn pack_titles(history: &[String], width: usize) -> Vec<(String, usize)> {
    const SEPARATOR: &str = " · ";
    let mut lines: Vec<(String, usize)> = Vec::new();
    for (i, title) in history.iter().enumerate() {
        let entry = format::clip(&format!("{}. {title}", i + 1), width.max(1));
        match lines.last_mut() {
            Some((line, n))
                if line.chars().count() + SEPARATOR.chars().count() + entry.chars().count()
                    <= width =>
            {
                line.push_str(SEPARATOR);
                line.push_str(&entry);
                *n += 1;
            }
            _ => lines.push((entry, 1)),
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::pack_titles;

    #[test]
    fn titles_flow_several_to_a_line_and_a_long_one_is_cut() {
        let titles = ["Heat (1995)", "Alien (1979)", "Up (2009)"].map(String::from);
        let packed = |width| pack_titles(&titles, width);
        let line = |s: &str, n| (s.to_string(), n);
        // 14 + 3 + 15 = 32 characters for the first two.
        assert_eq!(
            packed(32),
            [
                line("1. Heat (1995) · 2. Alien (1979)", 2),
                line("3. Up (2009)", 1)
            ]
        );
        assert_eq!(
            packed(30),
            [
                line("1. Heat (1995)", 1),
                line("2. Alien (1979) · 3. Up (2009)", 2)
            ]
        );
        assert_eq!(
            packed(10),
            [
                line("1. Heat (…", 1),
                line("2. Alien …", 1),
                line("3. Up (20…", 1)
            ]
        );
        assert!(pack_titles(&[], 10).is_empty());
    }
}
