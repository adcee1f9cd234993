//! Ctrl-C while `collm run` works: the first SIGINT (or SIGTERM) cancels the runs cleanly (they
//! end `cancelled` at their next step); a second one quits at once, leaving the run `running` on
//! disk, which the next opener of the store marks `interrupted`.

use std::thread::JoinHandle;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use crate::runner::RunnerHandle;

/// Stops listening for signals when dropped.
pub struct CancelOnSignal {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

pub fn cancel_on_signal(runner: RunnerHandle) -> std::io::Result<CancelOnSignal> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let handle = signals.handle();
    let thread = std::thread::Builder::new()
        .name("collm-signals".into())
        .spawn(move || {
            let mut seen = 0;
            for _ in signals.forever() {
                seen += 1;
                if seen == 1 {
                    eprintln!("\ncancelling at the next step (press Ctrl-C again to quit at once)");
                    runner.cancel_all();
                } else {
                    std::process::exit(130);
                }
            }
        })?;
    Ok(CancelOnSignal {
        handle,
        thread: Some(thread),
    })
}

impl Drop for CancelOnSignal {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
