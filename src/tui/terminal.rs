//! The terminal's lifecycle: raw mode and the alternate screen on entry, restored on exit and on
//! panic; and the log file, because a full-screen app must never write logs to the screen.

use std::io;
use std::mem::ManuallyDrop;
use std::path::Path;

use ratatui::DefaultTerminal;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Sends `tracing` output to `<dir>/tui.log` (appended). `COLLM_LOG` sets the level, as for the CLI
/// (default `info`). Keep the guard alive: dropping it flushes the file. Fails if another
/// subscriber is already installed, because that one may write to the screen.
pub fn log_to_file(dir: &Path) -> anyhow::Result<WorkerGuard> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create the log folder {}: {e}", dir.display()))?;
    let appender = tracing_appender::rolling::never(dir, "tui.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("COLLM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).map_err(|_| {
        anyhow::anyhow!("a log subscriber is already installed; the TUI needs to own logging")
    })?;
    Ok(guard)
}

/// The terminal in TUI mode; dropping it restores the terminal.
pub struct Screen {
    /// Dropped by hand: not at all when the terminal has gone away (see `drop`).
    terminal: ManuallyDrop<DefaultTerminal>,
}

impl Screen {
    /// Enters raw mode and the alternate screen. A panic anywhere afterwards first restores the
    /// terminal (ratatui's hook), then is logged, then reported as usual.
    pub fn enter() -> io::Result<Screen> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            tracing::error!("panic: {info}");
            previous(info);
        }));
        // Installed last so that its restore runs before the hooks above print anything.
        let terminal = ratatui::try_init()?;
        Ok(Screen {
            terminal: ManuallyDrop::new(terminal),
        })
    }

    pub fn terminal(&mut self) -> &mut DefaultTerminal {
        &mut self.terminal
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        match ratatui::try_restore() {
            // SAFETY: dropped once, here; the field is not used after.
            Ok(()) => unsafe { ManuallyDrop::drop(&mut self.terminal) },
            // The terminal is gone (SIGHUP: its window or ssh session closed). ratatui's own
            // drop would report failing to show the cursor with `eprintln!`, which panics when
            // stderr is that terminal, and the panic hook's restore fails the same way: the
            // process aborted before its runs were cancelled. Nothing is left to restore.
            Err(err) => tracing::error!("cannot restore the terminal: {err}"),
        }
    }
}
