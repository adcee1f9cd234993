//! Deleting a run in two halves that a kill cannot leave half done: the record goes first, then
//! the folder, renamed and marked so that the next open finishes what a killed delete began.

use std::path::{Path, PathBuf};

use super::Store;
use crate::error::StoreError;
use crate::id::RunId;

/// Written into a run's folder before its record is deleted; see [`Store::delete_run`].
const DELETING_MARKER: &str = ".deleting";

/// The name a deleted run's folder takes, before its id, while it is removed.
const TRASH_PREFIX: &str = ".deleted-";

impl Store {
    /// Removes a run: its record, its points and its artifacts folder.
    pub fn delete_run(&self, id: &RunId) -> Result<(), StoreError> {
        let dir = self.forget_run(id)?;
        self.remove_run_dir(&dir)
    }

    /// The first half of [`Store::delete_run`]: marks the run's folder, then removes its record
    /// and points and writes that to disk; returns the folder, left for the caller to remove.
    /// A kill after this leaves a marked folder without a record (removed at the next open),
    /// never a record whose files are half gone. If the record cannot be removed, the mark is.
    fn forget_run(&self, id: &RunId) -> Result<PathBuf, StoreError> {
        let _guard = self.lock_state();
        if !self
            .runs
            .contains_key(id.as_str())
            .map_err(|e| self.db_err(e))?
        {
            return Err(self.not_found(id.as_str()));
        }
        let dir = self.run_dir(id);
        let marker = dir.join(DELETING_MARKER);
        if dir.is_dir() {
            std::fs::write(&marker, b"").map_err(|source| StoreError::Io {
                dir: self.dir.clone(),
                action: "cannot write",
                path: marker.clone(),
                source,
            })?;
        }
        let forgotten = (|| {
            self.runs.remove(id.as_str()).map_err(|e| self.db_err(e))?;
            for tree in [&self.steps, &self.evals] {
                for key in tree.scan_prefix(id.point_prefix()).keys() {
                    let key = key.map_err(|e| self.db_err(e))?;
                    tree.remove(key).map_err(|e| self.db_err(e))?;
                }
            }
            self.flush()
        })();
        if forgotten.is_err() {
            let _ = std::fs::remove_file(&marker);
        }
        forgotten.map(|()| dir)
    }

    /// Removes a forgotten run's folder: renamed first to `.deleted-ID` beside it (one atomic
    /// step, after which whatever is left is known to be garbage), then removed. Removing in
    /// place is not enough: `remove_dir_all` follows no order, the marker may go first, and a
    /// kill after that would leave an unmarked remnant that nothing removes.
    fn remove_run_dir(&self, dir: &Path) -> Result<(), StoreError> {
        if !dir.exists() {
            return Ok(());
        }
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        let trash = dir.with_file_name(format!("{TRASH_PREFIX}{name}"));
        let io = |action, path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io {
                dir: self.dir.clone(),
                action,
                path,
                source,
            }
        };
        if trash.exists() {
            std::fs::remove_dir_all(&trash).map_err(io("cannot remove", &trash))?;
        }
        std::fs::rename(dir, &trash).map_err(io("cannot move aside", dir))?;
        std::fs::remove_dir_all(&trash).map_err(io("cannot remove", &trash))
    }

    /// Finishes deletes that a kill interrupted: removes the folders moved aside for removal,
    /// and run folders marked for deletion whose record is gone. Only those: a folder the
    /// store did not mark (someone's notes, a store whose database was lost) is never touched.
    /// A folder that will not go is reported and left; the store opens anyway.
    pub(super) fn finish_interrupted_deletes(&self) {
        let Ok(entries) = std::fs::read_dir(self.dir.join("runs")) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name.to_str().is_some_and(|n| n.starts_with(TRASH_PREFIX)) {
                match std::fs::remove_dir_all(&path) {
                    Ok(()) => tracing::info!("removed {}, left by a delete", path.display()),
                    Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
                }
                continue;
            }
            let Some(id) = name.to_str().and_then(RunId::parse) else {
                continue;
            };
            let recorded = self.runs.contains_key(id.as_str()).unwrap_or(true);
            if recorded || !path.join(DELETING_MARKER).exists() {
                continue;
            }
            match self.remove_run_dir(&path) {
                Ok(()) => tracing::info!(run = %id, "removed the folder of a run deleted before"),
                Err(e) => tracing::warn!("{e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delete killed after its first half: the run is gone from the store, its folder is
    /// still there, marked; the next open removes it.
    #[test]
    fn a_delete_killed_after_forgetting_the_run_finishes_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let folder = {
            let store = Store::open(dir.path()).unwrap();
            let id = store.create_run("a", "", "cf").unwrap();
            std::fs::create_dir_all(store.run_dir(&id)).unwrap();
            std::fs::write(store.run_dir(&id).join("w.safetensors"), b"x").unwrap();
            let folder = store.forget_run(&id).unwrap();
            assert!(folder.join(DELETING_MARKER).exists());
            assert!(store.run(&id).is_err());
            folder
        };
        assert!(folder.join("w.safetensors").exists());
        Store::open(dir.path()).unwrap();
        assert!(!folder.exists());
    }

    /// A delete killed while removing the files, after the marker went: the folder was moved
    /// aside first, so the next open still knows it for garbage.
    #[test]
    fn a_delete_killed_while_removing_files_finishes_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store.create_run("a", "", "cf").unwrap();
        let folder = store.run_dir(&id);
        std::fs::create_dir_all(folder.join("stage1")).unwrap();
        std::fs::write(folder.join("stage1/w.safetensors"), b"x").unwrap();
        store.delete_run(&id).unwrap();
        assert!(!folder.exists());
        // What such a kill leaves: a moved-aside folder, its marker already gone.
        let left = folder.with_file_name(format!("{TRASH_PREFIX}{id}"));
        std::fs::create_dir_all(left.join("stage1")).unwrap();
        std::fs::write(left.join("stage1/w.safetensors"), b"x").unwrap();
        drop(store);
        Store::open(dir.path()).unwrap();
        assert!(!left.exists());
        assert_eq!(
            std::fs::read_dir(dir.path().join("runs")).unwrap().count(),
            0
        );
    }
}
