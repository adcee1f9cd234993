//! Drawing helpers shared by the views: curve charts, smoothing, tables wider than the screen,
//! and small formatters.

pub mod chart;
pub mod columns;
pub mod extent;
pub mod format;
pub mod smoothing;
