//! The terminal UI: browse, compare and inspect the runs of a store, and launch experiments into
//! a background runner, in ratatui's Elm architecture.
//!
//! - [`app`]: the one state (the runs table's part in [`run_list`]); [`message`]: what changes it;
//!   [`update`]: how; [`views`]: drawing
//!   only. [`keymap`] is the single source of keys and help.
//! - [`event_loop`] feeds keys and background results to `update` and redraws; [`backend`] is the
//!   only thread that touches the store and the runner; [`terminal`] restores the terminal on
//!   exit and panic and sends logs to a file.
//!
//! One store, one writer: sled allows one process per store, and the TUI holds its store while
//! open (so `collm run` on it fails with an error naming the TUI's pid and command). To run
//! headless jobs beside an open TUI, either queue them in the TUI (Launch view: runs queue and
//! train on its background runner), or run them on another store,
//! `collm --store ~/.collm/store-batch run FILE`, and open that store later with
//! `collm --store ~/.collm/store-batch`.

pub mod app;
pub mod backend;
pub mod bench;
pub mod detail;
pub mod event_loop;
pub mod inspect;
pub mod keymap;
pub mod message;
pub mod run_list;
pub mod terminal;
pub mod theme;
pub mod update;
pub mod views;
pub mod widgets;

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use anyhow::Context as _;
use collm_store::Store;

use crate::signals;

pub use app::App;
pub use message::{Command, Message};
pub use update::update;
pub use views::view;

/// What to print instead of opening the TUI when there is no terminal.
pub fn no_terminal_help() -> String {
    "collm: the terminal UI needs an interactive terminal (stdin and stdout are not both a TTY).\n\
     Headless, run for example:\n\
     \x20 collm run experiments/quick-mf.toml   run an experiment\n\
     \x20 collm runs                            list the runs of the store\n\
     \x20 collm --help                          all commands"
        .to_string()
}

/// Opens the TUI over the store in `store_dir`, experiments listed from `experiments_dir`.
/// Without a terminal it fails with [`no_terminal_help`].
pub fn main(store_dir: &Path, experiments_dir: &Path) -> anyhow::Result<()> {
    if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
        anyhow::bail!(no_terminal_help());
    }
    // Opened before the screen is taken, so a held store is reported on a normal terminal.
    let store = Arc::new(Store::open(store_dir)?);
    let _log = terminal::log_to_file(&crate::paths::home().join("logs"))?;
    tracing::info!("TUI opened on store {}", store_dir.display());

    let (tx, rx) = mpsc::channel::<event_loop::Inbound>();
    let sink_tx = tx.clone();
    let sink: backend::Sink =
        Arc::new(move |m| sink_tx.send(event_loop::Inbound::Other(m)).is_ok());
    let background = backend::spawn(
        store,
        experiments_dir.to_path_buf(),
        crate::paths::data_dir(),
        sink,
    );
    let stop = Arc::new(AtomicBool::new(false));

    let mut app = App::new(
        store_dir.display().to_string(),
        theme::Theme::from_env(),
        collm_store::now_ms(),
    );
    let result = {
        let mut screen = terminal::Screen::enter().context("cannot set up the terminal")?;
        let _signals = quit_on_signal(tx.clone())?;
        event_loop::spawn_input(tx, stop.clone());
        event_loop::run(screen.terminal(), &mut app, &rx, &background.commands)
    };
    stop.store(true, Ordering::Relaxed);
    if let Ok(latency) = &result {
        tracing::info!("input latency, {}", latency.summary());
    }
    // The runner cancels what still runs and the store is flushed before the lock is released,
    // also when the terminal failed (it went away): the runs end `cancelled`, not `running`.
    drop(rx);
    background.join();
    tracing::info!("TUI closed");
    result.context("drawing the terminal").map(drop)
}

/// SIGTERM, SIGHUP (the terminal went away) and a SIGINT from outside (Ctrl-C itself arrives as
/// a key) quit as `q` then `y` do: the terminal is restored and the active runs end
/// `cancelled`, instead of the process dying with the terminal raw and its runs `interrupted`.
fn quit_on_signal(tx: mpsc::Sender<event_loop::Inbound>) -> std::io::Result<signals::OnSignal> {
    use signals::{SIGHUP, SIGINT, SIGTERM};
    signals::on_signal(&[SIGINT, SIGTERM, SIGHUP], move |signal| {
        let _ = tx.send(event_loop::Inbound::Other(Message::Stop { signal }));
    })
}
