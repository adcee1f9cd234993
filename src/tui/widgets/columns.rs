//! Tables with more data columns than fit: which columns to draw, and how wide, decided here
//! instead of by ratatui's layout solver.
//!
//! Why not `Constraint::Min` per column: when the columns' minimum widths add up to the area or
//! more, ratatui's solver (kasuari) can cycle forever at 100% CPU (ratatui issue #1855, kasuari
//! issue #18; it depends on hash-map order, so one process in a few hangs). The metrics view
//! hung that way with 30 marked runs. Exact lengths that fit are solved at once.

use std::ops::Range;

use ratatui::layout::Constraint;

/// The data columns a table draws beside its key column, and the widths that draw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnWindow {
    /// Indices of the data columns drawn, a window that holds the one asked to stay in view.
    pub shown: Range<usize>,
    /// The key column's width, then one per shown column: exact lengths that fit the width.
    pub widths: Vec<Constraint>,
}

impl ColumnWindow {
    /// Lays out `count` data columns of at least `min_width` beside a key column of `key_width`
    /// in `width` cells (inside the table's border), `spacing` cells between columns. As many as
    /// fit are shown, sharing the room equally, as a window holding column `keep`.
    pub fn new(
        width: u16,
        key_width: u16,
        spacing: u16,
        count: usize,
        min_width: u16,
        keep: usize,
    ) -> ColumnWindow {
        let key_width = key_width.min(width);
        let room = width - key_width;
        if count == 0 {
            return ColumnWindow {
                shown: 0..0,
                widths: vec![Constraint::Length(key_width)],
            };
        }
        // Always one column, however narrow: an empty table says less than a cut-off one.
        let fit = usize::from(room / (min_width + spacing).max(1)).clamp(1, count);
        let start = (keep.min(count - 1) + 1).saturating_sub(fit);
        let each = (room.saturating_sub(spacing * fit as u16) / fit as u16).max(1);
        let mut widths = vec![Constraint::Length(key_width)];
        widths.extend((0..fit).map(|_| Constraint::Length(each)));
        ColumnWindow {
            shown: start..start + fit,
            widths,
        }
    }

    /// The width of column `i` of the drawn ones (0: the key column), for cutting text to
    /// it with `…` rather than letting the table cut it silently.
    pub fn width_of(&self, i: usize) -> usize {
        match self.widths.get(i.min(self.widths.len().saturating_sub(1))) {
            Some(Constraint::Length(n)) => usize::from(*n),
            _ => 0,
        }
    }

    /// Of a row's cells (the key cell, then one per data column), the ones drawn.
    pub fn keep<T>(&self, cells: Vec<T>) -> Vec<T> {
        cells
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i == 0 || self.shown.contains(&(i - 1)))
            .map(|(_, cell)| cell)
            .collect()
    }

    /// `columns 4–9 of 15` when some are left out, else nothing.
    pub fn describe(&self, count: usize) -> Option<String> {
        (self.shown.len() < count).then(|| {
            format!(
                "columns {}–{} of {count}",
                self.shown.start + 1,
                self.shown.end
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::{Layout, Rect};

    fn lengths(w: &ColumnWindow) -> Vec<u16> {
        w.widths
            .iter()
            .map(|c| match c {
                Constraint::Length(n) => *n,
                other => panic!("{other:?} is not an exact length"),
            })
            .collect()
    }

    #[test]
    fn all_columns_fit_and_share_the_room() {
        // 100 cells: key 13, three columns of 27 with 2 cells before each.
        let w = ColumnWindow::new(100, 13, 2, 3, 18, 0);
        assert_eq!(w.shown, 0..3);
        assert_eq!(lengths(&w), [13, 27, 27, 27]);
        assert_eq!(w.describe(3), None);
    }

    #[test]
    fn too_many_columns_show_a_window_holding_the_kept_one() {
        // Room 87 fits 4 columns of 18 + 2.
        let w = ColumnWindow::new(100, 13, 2, 15, 18, 0);
        assert_eq!(w.shown, 0..4);
        assert_eq!(ColumnWindow::new(100, 13, 2, 15, 18, 3).shown, 0..4);
        let w = ColumnWindow::new(100, 13, 2, 15, 18, 9);
        assert_eq!(w.shown, 6..10);
        assert_eq!(w.describe(15).as_deref(), Some("columns 7–10 of 15"));
        let row: Vec<usize> = (0..16).collect();
        assert_eq!(w.keep(row), [0, 7, 8, 9, 10]);
        // Asked past the end: the last columns.
        assert_eq!(ColumnWindow::new(100, 13, 2, 15, 18, 99).shown, 11..15);
    }

    #[test]
    fn a_narrow_area_still_shows_one_column() {
        let w = ColumnWindow::new(20, 13, 2, 5, 18, 2);
        assert_eq!(w.shown, 2..3);
        assert_eq!(lengths(&w), [13, 5]);
        let w = ColumnWindow::new(8, 13, 2, 5, 18, 0);
        assert_eq!(lengths(&w), [8, 1]);
        assert_eq!(ColumnWindow::new(100, 13, 2, 0, 18, 0).shown, 0..0);
    }

    /// Every width from a narrow terminal to a wide one, with up to 60 columns: the widths
    /// always fit, so the solver never has to trade minimums off (where it can hang).
    #[test]
    fn the_widths_always_fit_and_the_layout_solves() {
        for count in 0..60 {
            for width in (10..=260).step_by(7) {
                let w = ColumnWindow::new(width, 24, 2, count, 14, count / 2);
                let total: u16 = lengths(&w).iter().sum::<u16>() + 2 * w.shown.len() as u16;
                assert!(
                    total <= width || w.shown.len() <= 1,
                    "{count} columns in {width}: {total}"
                );
                let areas = Layout::horizontal(w.widths.clone())
                    .spacing(2)
                    .split(Rect::new(0, 0, width, 3));
                assert_eq!(areas.len(), w.shown.len() + 1);
            }
        }
    }
}
