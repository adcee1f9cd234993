//! `collm bench tui`: how long the views take to draw a store's runs, off any terminal.
//!
//! The views run on every key and tick, so they must only draw: this loads the store's runs
//! into the app the way the event loop does (`update` with the run list), then draws each view
//! into an off-screen buffer of the given size, every run marked (the metrics view with seeds
//! grouped and each CoLLM run's parts shown: its widest case), and reports milliseconds a frame.

use std::time::Instant;

use collm_store::Store;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde::Serialize;

use crate::tui::app::{App, Column};
use crate::tui::keymap::View;
use crate::tui::theme::Theme;
use crate::tui::{backend, update, view};

/// What `collm bench tui` reports.
#[derive(Debug, Serialize)]
pub struct FrameTimes {
    pub runs: usize,
    pub width: u16,
    pub height: u16,
    pub frames: usize,
    /// The first `update` with the run list: reading every run's experiment once.
    pub load_ms: f64,
    /// Each view's mean draw time, in the order drawn.
    pub views: Vec<ViewTime>,
    /// The machine: its CPU, and the process's peak resident memory (VmHWM).
    pub cpu: Option<String>,
    pub peak_rss_mb: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ViewTime {
    pub view: String,
    pub ms_per_frame: f64,
}

/// Draws each view `frames` times over the runs of `store`.
pub fn frame_times(
    store: &Store,
    width: u16,
    height: u16,
    frames: usize,
) -> anyhow::Result<FrameTimes> {
    use crate::tui::app::{MIN_HEIGHT, MIN_WIDTH};
    // Below the TUI's size it draws a notice, not the views; past a screen of 1000x1000 the
    // buffers alone are gigabytes. Neither is a time worth reporting.
    anyhow::ensure!(frames > 0, "--frames must be at least 1");
    for (flag, value, least) in [
        ("--width", width, MIN_WIDTH),
        ("--height", height, MIN_HEIGHT),
    ] {
        anyhow::ensure!(
            (least..=1000).contains(&value),
            "{flag} {value}: the views are drawn from {least} to 1000 cells"
        );
    }
    let mut app = App::new("bench", Theme { color: true }, 0);
    app.commands.clear();
    let runs = backend::load_runs(store);
    let start = Instant::now();
    update(&mut app, runs);
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    app.now_ms = app
        .runs
        .records()
        .iter()
        .map(|r| r.updated_ms)
        .max()
        .unwrap_or(0);
    let mut terminal = Terminal::new(TestBackend::new(width, height))?;
    let mut time = |app: &App, label: &str| -> anyhow::Result<ViewTime> {
        // One untimed frame first: the first draw of a view sizes the buffers.
        terminal.draw(|f| view(app, f))?;
        let start = Instant::now();
        for _ in 0..frames {
            terminal.draw(|f| view(app, f))?;
        }
        Ok(ViewTime {
            view: label.to_string(),
            ms_per_frame: start.elapsed().as_secs_f64() * 1e3 / frames as f64,
        })
    };
    let mut views = vec![time(&app, "runs")?];
    app.runs.sort = Column::Settings;
    views.push(time(&app, "runs, sorted by settings")?);
    let ids: Vec<_> = app.runs.records().iter().map(|r| r.id.clone()).collect();
    app.runs.marked.extend(ids);
    app.view = View::Metrics;
    app.metrics.seeds = true;
    app.metrics.parts = true;
    views.push(time(&app, "metrics, all runs, seeds and parts")?);
    app.view = View::Compare;
    views.push(time(&app, "compare, all runs")?);
    Ok(FrameTimes {
        runs: app.runs.records().len(),
        width,
        height,
        frames,
        load_ms,
        views,
        cpu: collm_llm::bench::cpu_model(),
        peak_rss_mb: collm_llm::bench::peak_rss_mb(),
    })
}
