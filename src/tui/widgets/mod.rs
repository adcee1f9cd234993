//! Drawing helpers shared by the views: curve charts, smoothing, and small formatters.

pub mod chart;
pub mod format;
pub mod smoothing;
