//! `holder.json`: which process has a store open, written by the opener once it holds the lock,
//! so that a second opener's error can name it.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// The holder's command line, arguments joined by spaces (`collm run
    /// experiments/quick-collm.toml`, or `collm` for the TUI).
    pub command: String,
    /// When it opened the store (unix milliseconds).
    pub since_ms: u64,
}

impl Holder {
    /// This process, now.
    pub fn current() -> Self {
        // `args_os`: an argument that is not UTF-8 (a file name) is shown, not a panic.
        let mut args = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
        // Show the program by its file name: the full path only makes the message longer.
        let program = args
            .next()
            .map(|p| {
                Path::new(&p)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(p)
            })
            .unwrap_or_default();
        let command = std::iter::once(program)
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ");
        Holder {
            pid: std::process::id(),
            command,
            since_ms: crate::clock::now_ms(),
        }
    }

    /// The holder recorded in `path`, if it exists and decodes.
    pub(crate) fn read(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes `path` through a temporary file, so a reader never sees half of it.
    pub(crate) fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }
}
