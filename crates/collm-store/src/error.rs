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

    /// Too little free space to do `what` safely (see [`crate::MIN_FREE_BYTES`]).
    #[error("store {}: only {} free on its disk; collm {what} with at least {} free, since sled can corrupt its log when a write fails for want of space: free some space (`collm delete` works down to {}), or pass another --store", dir.display(), crate::store::size_text(*free), crate::store::size_text(*needed), crate::store::size_text(crate::MIN_FREE_TO_OPEN))]
    LowSpace {
        dir: PathBuf,
        free: u64,
        needed: u64,
        what: &'static str,
    },

    #[error("store {}: a file, not a folder (--store and COLLM_HOME name folders)", dir.display())]
    NotAFolder { dir: PathBuf },

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

    /// A command that only reads runs was pointed at a folder holding no store: a mistyped
    /// `--store` or `COLLM_HOME` must not leave an empty store behind.
    #[error("no store at {}: no run has been made there (check --store or COLLM_HOME; `collm run` makes the store)", dir.display())]
    Missing { dir: PathBuf },

    #[error("no run `{id}` in store {}", dir.display())]
    NotFound { dir: PathBuf, id: String },

    /// `RUN:PART` given to a command that takes whole runs.
    #[error(
        "`{text}`: this command takes a whole run ({run}); a part of a CoLLM run, `RUN:cf` or \
         `RUN:stage1`, is named in compare, ensemble, eval and prompt"
    )]
    PartNotTaken { text: String, run: String },

    #[error("run id prefix `{prefix}` matches {} runs: {}; give more of the id", matches.len(), some(matches))]
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

/// The first few of `ids`, and how many more: a short prefix can match a whole store.
fn some(ids: &[String]) -> String {
    const SHOWN: usize = 5;
    match ids.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{}, and {more} more", ids[..SHOWN].join(", ")),
        _ => ids.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ambiguous_prefix_names_a_few_matches_and_counts_the_rest() {
        let matches: Vec<String> = (0..8).map(|i| format!("261205-19000{i}")).collect();
        let e = StoreError::Ambiguous {
            prefix: "26".into(),
            matches: matches.clone(),
        };
        assert_eq!(
            e.to_string(),
            "run id prefix `26` matches 8 runs: 261205-190000, 261205-190001, 261205-190002, \
             261205-190003, 261205-190004, and 3 more; give more of the id"
        );
        let two = StoreError::Ambiguous {
            prefix: "26".into(),
            matches: matches[..2].to_vec(),
        };
        assert!(two
            .to_string()
            .ends_with("261205-190000, 261205-190001; give more of the id"));
    }
}
