//! [`Store`]: opening a store folder (lock, holder, interrupted runs) and reading and writing runs;
//! a run's events are folded in by [`events`], a run is deleted by [`delete`].

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use collm_events::Event;
use serde::Serialize;

use crate::clock::now_ms;
use crate::error::StoreError;
use crate::holder::Holder;
use crate::id::RunId;
use crate::record::*;

mod delete;
mod events;

use events::keep_best;

const RUNS_TREE: &str = "runs";
const STEPS_TREE: &str = "steps";
const EVALS_TREE: &str = "evals";
const SCHEMA_KEY: &str = "schema";
/// `2.4 MB`, `512 kB`: a size as the low-space messages show it.
pub fn size_text(n: u64) -> String {
    match n {
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n => format!("{} kB", n / 1000),
    }
}

/// How long an opener waits for a store another process holds: long enough for one that is
/// just exiting (`collm runs --ids | xargs collm show`, two scripts' commands back to back),
/// short enough that waiting on a training run or the TUI soon says who holds it.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// `file.try_lock()`, tried again every 50 ms for up to `wait`.
fn try_lock_for(file: &std::fs::File, wait: std::time::Duration) -> Result<(), TryLockError> {
    let until = std::time::Instant::now() + wait;
    loop {
        match file.try_lock() {
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            other => return other,
        }
    }
}

/// An open run store. One process at a time: [`Store::open`] takes an exclusive lock that lasts
/// until the store is dropped. Share it between threads with an `Arc`.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    runs: sled::Tree,
    steps: sled::Tree,
    evals: sled::Tree,
    /// Serialises read-modify-write of records, and holds step counts not yet written into
    /// their record (steps are only counted into the record at the next record write, so a
    /// step costs one insert, not a record rewrite).
    pending_steps: Mutex<HashMap<RunId, u64>>,
    /// Per run, the stage and step it last resumed at in this process: the one evaluation a
    /// resumed stage may record again (it was due when the run stopped), which replaces the
    /// first. (Looked up only there: a scan of a run's evaluations at each one would cost a
    /// long MF run seconds.)
    resumed_at: Mutex<HashMap<RunId, (String, u64)>>,
    /// Held for the store's lifetime; dropping it releases the lock.
    _lock: File,
}

/// Adds to `record` the steps already stored but not yet counted into it.
fn count_pending(pending: &HashMap<RunId, u64>, record: &mut RunRecord) {
    record.steps += pending.get(&record.id).copied().unwrap_or(0);
}

impl Store {
    /// Opens (creating if needed) the store in `dir`. Fails with [`StoreError::Locked`], naming
    /// the holder, when another process has it open. Runs left `queued` or `running` by a process
    /// that ended without finishing them are marked `interrupted`: holding the lock proves that
    /// no live process is still writing them.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        // Paths under the store are written into run records and experiments that are read
        // from elsewhere (a stage's weights, a reused run's folder): they must not depend on
        // the working directory. `--store st` once put a foundation at `/st/runs/...`.
        let dir = std::path::absolute(dir.as_ref()).unwrap_or_else(|_| dir.as_ref().to_path_buf());
        let io = |action: &'static str, path: &Path| {
            let (dir, path) = (dir.clone(), path.to_path_buf());
            move |source| StoreError::Io {
                dir,
                action,
                path,
                source,
            }
        };
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::NotAFolder { dir });
        }
        std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("cannot open", &lock_path))?;
        let holder_path = dir.join("holder.json");
        match try_lock_for(&lock, LOCK_WAIT) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    dir,
                    holder: Holder::read(&holder_path),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io("cannot lock", &lock_path)(e)),
        }
        // Checked before anything is written, while the lock keeps other writers out.
        if let Ok(free) = fs2::available_space(&dir) {
            if free < crate::MIN_FREE_TO_OPEN {
                return Err(StoreError::LowSpace {
                    dir,
                    free,
                    needed: crate::MIN_FREE_TO_OPEN,
                    what: "opens a store",
                });
            }
        }
        Holder::current()
            .write(&holder_path)
            .map_err(io("cannot write", &holder_path))?;

        let db = open_db(&dir)?;
        let tree = |name: &str| {
            db.open_tree(name).map_err(|source| StoreError::Db {
                dir: dir.clone(),
                source,
            })
        };
        let store = Store {
            runs: tree(RUNS_TREE)?,
            steps: tree(STEPS_TREE)?,
            evals: tree(EVALS_TREE)?,
            db,
            dir,
            pending_steps: Mutex::new(HashMap::new()),
            resumed_at: Mutex::new(HashMap::new()),
            _lock: lock,
        };
        store.check_schema()?;
        store.mark_interrupted()?;
        store.flush()?;
        store.finish_interrupted_deletes();
        Ok(store)
    }

    /// Opens the store in `dir` like [`Store::open`], but only if one is there: the commands
    /// that read runs (`show`, `export`, `compare`, ...) fail with [`StoreError::Missing`]
    /// instead of creating an empty store where a mistyped path points.
    pub fn open_existing(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        if !Store::exists(dir.as_ref()) {
            let dir = dir.as_ref();
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            if dir.is_file() {
                return Err(StoreError::NotAFolder { dir });
            }
            return Err(StoreError::Missing { dir });
        }
        Store::open(dir)
    }

    /// Whether `dir` holds a store: its database folder is there (made by the first open).
    pub fn exists(dir: &Path) -> bool {
        dir.join("db").is_dir()
    }

    /// The free space on the store's disk, when it is below [`crate::MIN_FREE_BYTES`]: a run
    /// that sees it stops while sled still has room to record why.
    pub fn low_space(&self) -> Option<u64> {
        fs2::available_space(&self.dir)
            .ok()
            .filter(|free| *free < crate::MIN_FREE_BYTES)
    }

    /// Refuses to start or resume a run below [`crate::MIN_FREE_BYTES`] free.
    pub fn check_room_to_train(&self) -> Result<(), StoreError> {
        match self.low_space() {
            Some(free) => Err(StoreError::LowSpace {
                dir: self.dir.clone(),
                free,
                needed: crate::MIN_FREE_BYTES,
                what: "starts or resumes a run",
            }),
            None => Ok(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder for a run's artifacts (`<store>/runs/<id>`); not created here.
    pub fn run_dir(&self, id: &RunId) -> PathBuf {
        self.dir.join("runs").join(id.as_str())
    }

    /// The folder of the run `record` tells of where the record says the run made one (it
    /// finished, or saved a file there) and it is gone: moved or deleted outside collm. A run
    /// that ended before it started never had one.
    pub fn folder_gone(&self, record: &RunRecord) -> Option<PathBuf> {
        let dir = self.run_dir(&record.id);
        let made = record.status == RunStatus::Finished || !record.artifacts.is_empty();
        (made && !dir.is_dir()).then_some(dir)
    }

    /// The file of a run's best weights (its latest best checkpoint outside the final
    /// evaluation), found in this store's folder of the run: a store copied or moved elsewhere
    /// still records the paths it was written at.
    pub fn best_weights(&self, record: &RunRecord) -> Option<PathBuf> {
        let artifact = record.best_artifact()?;
        Some(self.relocate(&record.id, Path::new(&artifact.path)))
    }

    /// `recorded`, a path inside some store's folder of run `id`, as the same path in this
    /// store's folder of it; a path outside any run folder as it is.
    fn relocate(&self, id: &RunId, recorded: &Path) -> PathBuf {
        let parts: Vec<_> = recorded.components().collect();
        let inside = parts
            .windows(2)
            .rposition(|w| w[0].as_os_str() == "runs" && w[1].as_os_str() == id.as_str());
        match inside {
            Some(at) => parts[at + 2..]
                .iter()
                .fold(self.run_dir(id), |dir, part| dir.join(part)),
            None => recorded.to_path_buf(),
        }
    }

    /// Records a new `queued` run and returns its id.
    pub fn create_run(
        &self,
        name: &str,
        experiment_toml: &str,
        kind: &str,
    ) -> Result<RunId, StoreError> {
        let _guard = self.lock_state();
        let now = now_ms();
        let mut n = 1;
        let id = loop {
            let id = RunId::new(now, n);
            if !self
                .runs
                .contains_key(id.as_str())
                .map_err(|e| self.db_err(e))?
            {
                break id;
            }
            n += 1;
        };
        let record = RunRecord::new(id.clone(), name, kind, experiment_toml, now);
        self.put_record(&record)?;
        self.flush()?;
        Ok(id)
    }

    /// Sets a run's status: `running` stamps the start (and this process as its runner), a
    /// terminal status stamps the end. Flushes.
    pub fn set_status(&self, id: &RunId, status: RunStatus) -> Result<(), StoreError> {
        self.update(id, true, |r| apply_status(r, status))
    }

    /// Replaces a run's experiment text (a run that takes stages from other runs when it starts
    /// records its `[reuse]`). Flushes.
    pub fn set_experiment(&self, id: &RunId, experiment_toml: &str) -> Result<(), StoreError> {
        self.update(id, true, |r| r.experiment = experiment_toml.to_string())
    }

    /// Ends a run as `failed` with `error` as the reason. Flushes.
    pub fn fail(&self, id: &RunId, error: &str) -> Result<(), StoreError> {
        self.append_event(
            id,
            &Event::Failed {
                error: error.to_string(),
            },
        )
    }

    /// One run's record.
    pub fn run(&self, id: &RunId) -> Result<RunRecord, StoreError> {
        let value = self.runs.get(id.as_str()).map_err(|e| self.db_err(e))?;
        let value = value.ok_or_else(|| self.not_found(id.as_str()))?;
        let mut record = decode_record(id.as_str(), &value)?;
        count_pending(&self.lock_state(), &mut record);
        self.relocate_artifacts(&mut record);
        Ok(record)
    }

    /// A record's artifact paths as the files' places in this store: a store copied or moved
    /// elsewhere still records the paths they were written at, which `show`, `export` and the
    /// TUI would otherwise print.
    fn relocate_artifacts(&self, record: &mut RunRecord) {
        for artifact in &mut record.artifacts {
            let path = self.relocate(&record.id, Path::new(&artifact.path));
            artifact.path = path.display().to_string();
        }
    }

    /// The run named by `text`: an exact id, or a prefix matching exactly one run.
    pub fn resolve(&self, text: &str) -> Result<RunId, StoreError> {
        if let Some((run, _part)) = text.split_once(':') {
            if let Ok(id) = self.resolve(run) {
                return Err(StoreError::PartNotTaken {
                    text: text.to_string(),
                    run: id.as_str().to_string(),
                });
            }
        }
        let id = RunId::parse(text).ok_or_else(|| self.not_found(text))?;
        if self
            .runs
            .contains_key(id.as_str())
            .map_err(|e| self.db_err(e))?
        {
            return Ok(id);
        }
        // A whole id names that run or none: read as a prefix, a deleted `X` would name
        // `X-2`, and a `delete` repeated after a kill would remove another run.
        if id.is_whole() {
            return Err(self.not_found(text));
        }
        let mut matches = Vec::new();
        for key in self.runs.scan_prefix(id.as_str()).keys() {
            let key = key.map_err(|e| self.db_err(e))?;
            matches.push(String::from_utf8_lossy(&key).into_owned());
        }
        match matches.len() {
            0 => Err(self.not_found(text)),
            1 => Ok(RunId::parse(&matches[0]).ok_or_else(|| self.not_found(text))?),
            _ => Err(StoreError::Ambiguous {
                prefix: text.to_string(),
                matches,
            }),
        }
    }

    /// Every run's record, oldest first, each as [`Store::run`] gives it; unreadable records
    /// are listed apart, by id.
    pub fn records(&self) -> Result<RunList<RunRecord>, StoreError> {
        let mut list = RunList::default();
        for entry in self.runs.iter() {
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            let key = String::from_utf8_lossy(&key).into_owned();
            match decode_record(&key, &value) {
                Ok(record) => list.runs.push(record),
                Err(err) => list.unreadable.push(err),
            }
        }
        let pending = self.lock_state();
        for record in &mut list.runs {
            count_pending(&pending, record);
        }
        drop(pending);
        for record in &mut list.runs {
            self.relocate_artifacts(record);
        }
        list.runs.sort_by(|a, b| {
            (a.created_ms, a.id.as_str().len(), a.id.as_str()).cmp(&(
                b.created_ms,
                b.id.as_str().len(),
                b.id.as_str(),
            ))
        });
        Ok(list)
    }

    /// Summaries of all runs, oldest first; unreadable records are listed apart, by id.
    pub fn runs(&self) -> Result<RunList, StoreError> {
        let list = self.records()?;
        Ok(RunList {
            runs: list.runs.iter().map(RunRecord::summary).collect(),
            unreadable: list.unreadable,
        })
    }

    /// A run's steps, in order.
    pub fn steps(&self, id: &RunId) -> Result<Vec<StepPoint>, StoreError> {
        self.points(&self.steps, id, "step")
    }

    /// A run's evaluations, in order.
    pub fn evals(&self, id: &RunId) -> Result<Vec<EvalPoint>, StoreError> {
        self.points(&self.evals, id, "evaluation")
    }

    /// The (stage, step, split) of each evaluation a run recorded: what an attempt resuming it
    /// must not record again.
    pub fn eval_keys(
        &self,
        id: &RunId,
    ) -> Result<std::collections::HashSet<(String, u64, String)>, StoreError> {
        Ok(self
            .evals(id)?
            .into_iter()
            .map(|p| (p.stage, p.step, p.split))
            .collect())
    }

    /// A run's record with all its points.
    pub fn full_run(&self, id: &RunId) -> Result<FullRun, StoreError> {
        Ok(FullRun {
            record: self.run(id)?,
            steps: self.steps(id)?,
            evals: self.evals(id)?,
        })
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.db_err(e))
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        match self.db.get(SCHEMA_KEY).map_err(|e| self.db_err(e))? {
            None => {
                self.db
                    .insert(SCHEMA_KEY, SCHEMA_VERSION.to_string().as_bytes())
                    .map_err(|e| self.db_err(e))?;
                Ok(())
            }
            Some(value) => {
                let found = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok());
                match found {
                    Some(found) if found <= SCHEMA_VERSION => Ok(()),
                    Some(found) => Err(StoreError::NewerSchema {
                        dir: self.dir.clone(),
                        found,
                        supported: SCHEMA_VERSION,
                    }),
                    None => Err(StoreError::Corrupt {
                        id: "(store)".into(),
                        what: "schema version",
                        reason: format!("{:?} is not a number", String::from_utf8_lossy(&value)),
                    }),
                }
            }
        }
    }

    fn mark_interrupted(&self) -> Result<(), StoreError> {
        for entry in self.runs.iter() {
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let mut record = match decode_record(&key, &value) {
                Ok(record) => record,
                Err(err) => {
                    tracing::warn!("{err}");
                    continue;
                }
            };
            if record.status.is_terminal() {
                continue;
            }
            let what = if record.status == RunStatus::Queued {
                "started"
            } else {
                "ended"
            };
            record.error = Some(format!(
                "the process that ran it (pid {}) stopped before the run {what}",
                record.pid
            ));
            record.status = RunStatus::Interrupted;
            // It ended after its last record update or its last step, whichever came later:
            // steps do not touch the record, so a run killed mid-stage would seem to have
            // lasted until its last evaluation or log line.
            let last_step = self
                .steps
                .scan_prefix(record.id.point_prefix())
                .values()
                .next_back()
                .and_then(|v| v.ok())
                .and_then(|v| serde_json::from_slice::<StepPoint>(&v).ok())
                .map_or(0, |p| p.at_ms);
            record.ended_ms = Some(record.updated_ms.max(last_step));
            tracing::info!("run {} marked interrupted", record.id);
            self.put_record(&record)?;
        }
        Ok(())
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, u64>> {
        held(&self.pending_steps)
    }

    /// Read-modify-write of one record, counting in its pending steps.
    fn update(
        &self,
        id: &RunId,
        flush: bool,
        change: impl FnOnce(&mut RunRecord),
    ) -> Result<(), StoreError> {
        {
            let mut pending = self.lock_state();
            let value = self.runs.get(id.as_str()).map_err(|e| self.db_err(e))?;
            let value = value.ok_or_else(|| self.not_found(id.as_str()))?;
            let mut record = decode_record(id.as_str(), &value)?;
            record.steps += pending.remove(id).unwrap_or(0);
            change(&mut record);
            record.updated_ms = now_ms();
            self.put_record(&record)?;
        }
        if flush {
            self.flush()?;
        }
        Ok(())
    }

    fn put_record(&self, record: &RunRecord) -> Result<(), StoreError> {
        let bytes = encode(record.id.as_str(), "record", record)?;
        self.runs
            .insert(record.id.as_str(), bytes)
            .map_err(|e| self.db_err(e))?;
        Ok(())
    }

    fn put_point<T: Serialize>(
        &self,
        tree: &sled::Tree,
        id: &RunId,
        what: &'static str,
        point: &T,
    ) -> Result<(), StoreError> {
        let seq = self.db.generate_id().map_err(|e| self.db_err(e))?;
        let mut key = id.point_prefix();
        key.extend_from_slice(&seq.to_be_bytes());
        tree.insert(key, encode(id.as_str(), what, point)?)
            .map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// Removes the points of `id` in `tree` that `gone` picks; returns how many.
    fn remove_points<T: serde::de::DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        id: &RunId,
        what: &'static str,
        gone: impl Fn(&T) -> bool,
    ) -> Result<usize, StoreError> {
        let mut removed = 0;
        for entry in tree.scan_prefix(id.point_prefix()) {
            let (key, value) = entry.map_err(|e| self.db_err(e))?;
            if gone(&decode_point(id, what, &value)?) {
                tree.remove(key).map_err(|e| self.db_err(e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Reads a run's step and evaluation counts and its best evaluations again from its points
    /// (after some were removed or replaced). Flushes.
    fn recount(&self, id: &RunId) -> Result<(), StoreError> {
        let steps = self.steps.scan_prefix(id.point_prefix()).count() as u64;
        let evals: Vec<EvalPoint> = self.points(&self.evals, id, "evaluation")?;
        self.update(id, true, |r| {
            r.steps = steps;
            r.evals = evals.len() as u64;
            r.best.clear();
            for point in evals {
                keep_best(&mut r.best, point);
            }
        })
    }

    fn points<T: serde::de::DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        id: &RunId,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        if !self
            .runs
            .contains_key(id.as_str())
            .map_err(|e| self.db_err(e))?
        {
            return Err(self.not_found(id.as_str()));
        }
        let mut out = Vec::new();
        for value in tree.scan_prefix(id.point_prefix()).values() {
            let value = value.map_err(|e| self.db_err(e))?;
            out.push(decode_point(id, what, &value)?);
        }
        Ok(out)
    }

    fn db_err(&self, source: sled::Error) -> StoreError {
        StoreError::Db {
            dir: self.dir.clone(),
            source,
        }
    }

    fn not_found(&self, id: &str) -> StoreError {
        StoreError::NotFound {
            dir: self.dir.clone(),
            id: id.to_string(),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(err) = self.flush() {
            tracing::error!("{err}");
        }
        // Still holding the lock here (fields drop after this), so no new holder is erased.
        let _ = std::fs::remove_file(self.dir.join("holder.json"));
    }
}

/// Opens the sled database of a store whose lock we hold. sled's own file lock can outlive a
/// dropped database for a moment (its background threads let go of the file last), so a busy
/// lock is waited for briefly before it counts as held by someone else.
fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    const PATIENCE: Duration = Duration::from_secs(5);
    let started = Instant::now();
    loop {
        match sled::Config::new().path(dir.join("db")).open() {
            Ok(db) => return Ok(db),
            Err(source) if source.to_string().contains("could not acquire lock") => {
                if started.elapsed() >= PATIENCE {
                    // Only reachable if a process opened the database without our lock.
                    return Err(StoreError::Locked {
                        dir: dir.to_path_buf(),
                        holder: None,
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(source) => {
                return Err(StoreError::Db {
                    dir: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

fn apply_status(record: &mut RunRecord, status: RunStatus) {
    let now = now_ms();
    // A resumed run waited from its ending to being queued again, then in the queue (since
    // its last write, the queueing) until it starts: neither is its time.
    let resumed = record.started_ms.is_some();
    if status == RunStatus::Running {
        if resumed && record.status == RunStatus::Queued {
            record.idle_ms += now.saturating_sub(record.updated_ms);
        }
        record.started_ms.get_or_insert(now);
        record.pid = std::process::id();
    }
    if status == RunStatus::Queued {
        // Queued again to resume: the earlier ending no longer holds.
        if let (true, Some(ended)) = (resumed, record.ended_ms) {
            record.idle_ms += now.saturating_sub(ended);
        }
        record.ended_ms = None;
        record.error = None;
    }
    if status.is_terminal() {
        record.ended_ms = Some(now);
    }
    record.status = status;
}

/// A lock of the store's in-memory bookkeeping (step counts, resume steps): a panic while
/// holding it leaves only that bookkeeping behind, so it is taken all the same.
fn held<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One stored point of run `id` (`what` names its kind in the error).
fn decode_point<T: serde::de::DeserializeOwned>(
    id: &RunId,
    what: &'static str,
    value: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(value).map_err(|e| StoreError::Corrupt {
        id: id.to_string(),
        what,
        reason: e.to_string(),
    })
}

fn encode<T: Serialize>(id: &str, what: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
        id: id.to_string(),
        what,
        reason: format!("cannot encode: {e}"),
    })
}

fn decode_record(id: &str, bytes: &[u8]) -> Result<RunRecord, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        id: id.to_string(),
        what: "record",
        reason,
    };
    match serde_json::from_slice::<RunRecord>(bytes) {
        Ok(record) if record.schema > SCHEMA_VERSION => Err(corrupt(format!(
            "written by a newer collm (schema {}, this build reads up to {SCHEMA_VERSION})",
            record.schema
        ))),
        Ok(record) => Ok(record),
        Err(e) => Err(corrupt(e.to_string())),
    }
}
