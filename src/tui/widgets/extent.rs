//! How much of a scrolled pane the last frame showed, so that key handling keeps the pane's
//! offset where a key press still moves it.
//!
//! The update step does not know a pane's height (the view's layout decides it); each view
//! records its pane here as it draws, as ratatui's own `ListState` and `TableState` are written
//! during rendering.

use std::cell::Cell;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Extent(Cell<(usize, usize)>);

impl Extent {
    /// The pane holds `lines` in all and showed `visible` of them.
    pub fn record(&self, lines: usize, visible: usize) {
        self.0.set((lines, visible));
    }

    /// The largest offset worth scrolling to: the one that shows the last lines (0 before
    /// the pane was first drawn).
    pub fn max_offset(&self) -> usize {
        let (lines, visible) = self.0.get();
        lines.saturating_sub(visible.max(1))
    }

    /// `offset` moved by `delta` lines, kept within `0..=max_offset`.
    pub fn step(&self, offset: usize, delta: isize) -> usize {
        offset
            .min(self.max_offset())
            .saturating_add_signed(delta)
            .min(self.max_offset())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_stay_where_a_key_moves_the_pane() {
        let e = Extent::default();
        assert_eq!(e.step(0, 5), 0, "not drawn yet: nothing to scroll");
        e.record(30, 10);
        assert_eq!(e.step(0, 15), 15);
        assert_eq!(e.step(0, 25), 20);
        assert_eq!(e.step(18, 5), 20);
        // An offset left too far (the pane grew taller) comes back from its end at once.
        assert_eq!(e.step(60, -1), 19);
        assert_eq!(e.step(3, -10), 0);
        e.record(4, 10);
        assert_eq!(e.step(0, 1), 0, "everything shows");
    }
}
