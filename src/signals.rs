//! Signals that ask collm to stop: the first runs the caller's action once, on a watcher
//! thread (`collm run` cancels its runs, which end `cancelled` at their next step; the TUI quits
//! as `q` then `y` would, restoring the terminal); a second one quits at once, leaving a run
//! `running` on disk, which the next opener of the store marks `interrupted`.
//!
//! The handlers only set a flag (signal-hook's documented double Ctrl-C pattern, with a second
//! signal within half a second taken as the same one: `timeout` sends two); a watcher thread
//! turns the flag into the action. No self-pipe: signal-hook's iterator wakes its reader by a
//! `send` on a socket that, when the reader has just seen the close flag and gone, raises
//! SIGPIPE, which killed a sweep whose points had all finished earlier while `collm` restored
//! SIGPIPE's default for every command (only those that do not train do now).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::SigId;

/// How often the watcher looks at the flag: the cancel's delay at most.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// Stops listening for signals when dropped.
pub struct OnSignal {
    /// The first signal that came (0: none yet).
    first: Arc<AtomicI32>,
    handlers: Vec<SigId>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A second signal sooner than this after the first is the same request: GNU `timeout` (and
/// job managers) signal the process and then its whole group, so `timeout -s INT` delivers
/// two SIGINTs microseconds apart, and half of such runs quit at once instead of cancelling.
const SAME_REQUEST: Duration = Duration::from_millis(500);

/// Milliseconds on the monotonic clock; `clock_gettime` is async-signal-safe.
fn monotonic_ms() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let ms = now.tv_sec as u64 * 1000 + now.tv_nsec as u64 / 1_000_000;
    ms.max(1)
}

/// Whether the process was started with `signal` ignored (`nohup` ignores SIGHUP): a handler
/// would undo what the person starting it asked for.
fn ignored(signal: std::ffi::c_int) -> bool {
    // SAFETY: reads the current action into a zeroed sigaction we own; sets nothing.
    unsafe {
        let mut current: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut current) == 0
            && current.sa_sigaction == libc::SIG_IGN
    }
}

/// Calls `action` once, on a thread of its own, with the name of the first of `signals` to come
/// (`SIGTERM`). A signal the process was started with ignored stays ignored.
pub fn on_signal(
    signals: &[std::ffi::c_int],
    action: impl FnOnce(&'static str) + Send + 'static,
) -> std::io::Result<OnSignal> {
    let first = Arc::new(AtomicI32::new(0));
    // When the first signal came (0: none yet); a later one past SAME_REQUEST quits at once
    // (exit status 130, as a shell reports Ctrl-C).
    let first_at = Arc::new(AtomicU64::new(0));
    let mut handlers = Vec::new();
    for &signal in signals.iter().filter(|&&s| !ignored(s)) {
        let (first, first_at) = (Arc::clone(&first), Arc::clone(&first_at));
        let handler = move || {
            let now = monotonic_ms();
            match first_at.compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => first.store(signal, Ordering::SeqCst),
                Err(first) if now.saturating_sub(first) >= SAME_REQUEST.as_millis() as u64 => {
                    signal_hook::low_level::exit(130)
                }
                Err(_) => {}
            }
        };
        // SAFETY: the handler only reads a clock, touches atomics and may call `_exit`, all
        // async-signal-safe.
        handlers.push(unsafe { signal_hook::low_level::register(signal, handler) }?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let watcher_stop = Arc::clone(&stop);
    let watched = Arc::clone(&first);
    let thread = std::thread::Builder::new()
        .name("collm-signals".into())
        .spawn(move || {
            while !watcher_stop.load(Ordering::SeqCst) {
                let signal = watched.load(Ordering::SeqCst);
                if signal != 0 {
                    action(signal_hook::low_level::signal_name(signal).unwrap_or("a signal"));
                    return;
                }
                std::thread::park_timeout(WATCH_EVERY);
            }
        })?;
    Ok(OnSignal {
        first,
        handlers,
        stop,
        thread: Some(thread),
    })
}

impl OnSignal {
    /// Whether a signal came: a caller that starts several runs one after another (a sweep)
    /// starts no more. The cancel reaches only the runs there are when it comes; a run in a
    /// step that cannot stop (its final scoring) finishes, and then nothing may follow it.
    pub fn signalled(&self) -> bool {
        self.first.load(Ordering::SeqCst) != 0
    }
}

impl Drop for OnSignal {
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
