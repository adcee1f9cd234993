//! Ctrl-C while `collm run` works: the first SIGINT (or SIGTERM) cancels the runs cleanly (they
//! end `cancelled` at their next step); a second one quits at once, leaving the run `running` on
//! disk, which the next opener of the store marks `interrupted`.
//!
//! The handlers only set a flag (signal-hook's documented double Ctrl-C pattern); a watcher
//! thread turns the flag into a cancel. No self-pipe: `collm` restores SIGPIPE's default (so that
//! `collm runs | head` ends quietly), and signal-hook's iterator wakes its reader by a `send` on
//! a socket that, when the reader has just seen the close flag and gone, raises SIGPIPE and
//! killed a sweep whose points had all finished earlier (its listener lived for microseconds).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;
use signal_hook::SigId;

use crate::runner::RunnerHandle;

/// How often the watcher looks at the flag: the cancel's delay at most.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// Stops listening for signals when dropped.
pub struct CancelOnSignal {
    signalled: Arc<AtomicBool>,
    handlers: Vec<SigId>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

pub fn cancel_on_signal(runner: RunnerHandle) -> std::io::Result<CancelOnSignal> {
    let signalled = Arc::new(AtomicBool::new(false));
    let mut handlers = Vec::new();
    for signal in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as it was before this signal: set, a second
        // signal quits at once (exit status 130, as a shell reports Ctrl-C).
        handlers.push(flag::register_conditional_shutdown(
            signal,
            130,
            Arc::clone(&signalled),
        )?);
        handlers.push(flag::register(signal, Arc::clone(&signalled))?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher_stop = Arc::clone(&stop);
    let watched = Arc::clone(&signalled);
    let thread = std::thread::Builder::new()
        .name("collm-signals".into())
        .spawn(move || {
            let signalled = watched;
            while !watcher_stop.load(Ordering::SeqCst) {
                if signalled.load(Ordering::SeqCst) {
                    eprintln!("\ncancelling at the next step (press Ctrl-C again to quit at once)");
                    runner.cancel_all();
                    return;
                }
                std::thread::park_timeout(WATCH_EVERY);
            }
        })?;
    Ok(CancelOnSignal {
        signalled,
        handlers,
        stop,
        thread: Some(thread),
    })
}

impl CancelOnSignal {
    /// Whether a signal came: a caller that starts several runs one after another (a sweep)
    /// starts no more. The cancel reaches only the runs there are when it comes; a run in a
    /// step that cannot stop (its final scoring) finishes, and then nothing may follow it.
    pub fn signalled(&self) -> bool {
        self.signalled.load(Ordering::SeqCst)
    }
}

impl Drop for CancelOnSignal {
    fn drop(&mut self) {
        for id in self.handlers.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
