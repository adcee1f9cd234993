//! What can go wrong with a store, each error naming the store folder or the run it concerns.

use std::path::PathBuf;

use crate::holder::Holder;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process has the store open (sled allows one process per store).
    #[error("store {} is held by {}; only one collm process may use a store at a time: wait for it to end, stop it, or pass another --store", dir.display(), describe_holder(holder))]
    Locked {
        dir: PathBuf,
        holder: Option<Holder>,
    },

    #[error("store {}: {action} {}: {source}", dir.display(), path.display())]
    Io {
        dir: PathBuf,
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("store {}: database error: {source}", dir.display())]
    Db { dir: PathBuf, source: sled::Error },

    #[error("store {} was written by a newer collm (schema {found}, this build reads up to {supported})", dir.display())]
    NewerSchema {
        dir: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error("no run `{id}` in store {}", dir.display())]
    NotFound { dir: PathBuf, id: String },

    #[error("run id prefix `{prefix}` matches several runs: {}", matches.join(", "))]
    Ambiguous {
        prefix: String,
        matches: Vec<String>,
    },

    /// A stored value that does not decode: the run is named, the other runs are unaffected.
    #[error("run {id}: stored {what} is unreadable: {reason}")]
    Corrupt {
        id: String,
        what: &'static str,
        reason: String,
    },
}

fn describe_holder(holder: &Option<Holder>) -> String {
    match holder {
        Some(h) => format!(
            "pid {} ({}) since {}",
            h.pid,
            h.command,
            crate::clock::format_utc(h.since_ms)
        ),
        None => "another process (holder.json is missing or unreadable)".to_string(),
    }
}
