//! The runner: carries out queued experiments one after another on a worker thread, writes every
//! event to the store (only the runner writes while runs go on) and then hands it to a consumer
//! (`collm run`'s progress bar, the TUI).
//!
//! The consumer's sink receives [`RunnerMessage`]s on the worker thread (and, for runs cancelled
//! while queued, on the caller's): keep it quick and never call back into the runner from it.
//! Cancelling takes effect between training steps; a cancelled run ends `cancelled` with its
//! best weights so far on disk.

mod cf;
pub mod collm;
pub mod data_check;
mod error;
mod job;
pub mod predictions;
mod ranking;
mod reuse;

pub use reuse::part_finished;
pub use reuse::resolve_sources as resolve_reuse_sources;

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use collm_events::{CancelToken, Event};
use collm_store::{RunId, RunStatus, Store};

pub use cf::score_best;
pub use error::RunError;
pub use job::{Outcome, RunJob};

use crate::experiment::{Experiment, ExperimentKind, Placement};

/// What the runner tells its consumer.
// Each message is moved once into the consumer: boxing the event would cost an allocation per
// training step for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum RunnerMessage {
    /// A run entered the queue (or re-entered it to resume).
    Queued { id: RunId, name: String },
    /// A run left the queue and began.
    Started { id: RunId },
    /// Something happened in a run; it is already in the store.
    Event { id: RunId, event: Event },
    /// A run ended; its record is final.
    Ended { id: RunId, status: RunStatus },
    /// Writing a run's event to the store failed; the run goes on, its record may lack it.
    StoreError { id: RunId, message: String },
    /// Nothing is queued or running any more.
    Idle,
}

type Sink = Box<dyn FnMut(RunnerMessage) + Send>;

struct Job {
    id: RunId,
    experiment: Experiment,
    resume: bool,
    prior_best_step: Option<u64>,
    /// When it starts, take the foundation and first stages from finished runs of the store
    /// that computed exactly the same ([`crate::sweep::share_earlier`]).
    share: bool,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    current: Option<(RunId, CancelToken)>,
    closed: bool,
}

struct Shared {
    store: Arc<Store>,
    data_dir: PathBuf,
    queue: Mutex<Queue>,
    wake: Condvar,
    sink: Mutex<Sink>,
}

/// The runner and its worker thread. Dropping it (or [`Runner::shutdown`]) cancels what is
/// queued or running and waits for the worker.
pub struct Runner {
    handle: RunnerHandle,
    worker: Option<JoinHandle<()>>,
}

/// A cheap, clonable way to submit, cancel and resume runs from any thread (a signal handler,
/// the TUI's background thread).
#[derive(Clone)]
pub struct RunnerHandle {
    shared: Arc<Shared>,
}

impl Runner {
    /// Starts a runner whose messages arrive on the returned channel.
    pub fn start(store: Arc<Store>, data_dir: PathBuf) -> (Runner, Receiver<RunnerMessage>) {
        let (tx, rx) = mpsc::channel();
        let runner = Runner::with_sink(store, data_dir, move |m| {
            // A consumer that stopped listening does not stop the runs.
            let _ = tx.send(m);
        });
        (runner, rx)
    }

    /// Starts a runner that hands its messages to `sink`. `data_dir` is where the embedded
    /// dataset is imported (`paths::data_dir()`).
    pub fn with_sink(
        store: Arc<Store>,
        data_dir: PathBuf,
        sink: impl FnMut(RunnerMessage) + Send + 'static,
    ) -> Runner {
        let shared = Arc::new(Shared {
            store,
            data_dir,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            sink: Mutex::new(Box::new(sink)),
        });
        let worker_shared = shared.clone();
        let worker = std::thread::Builder::new()
            .name("collm-runner".into())
            .spawn(move || work(&worker_shared))
            .expect("cannot start the runner thread");
        Runner {
            handle: RunnerHandle { shared },
            worker: Some(worker),
        }
    }

    pub fn handle(&self) -> RunnerHandle {
        self.handle.clone()
    }

    /// Cancels what is queued or running, and waits until the worker has ended it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        {
            let mut queue = self.handle.shared.lock_queue();
            queue.closed = true;
            if let Some((_, token)) = &queue.current {
                token.cancel();
            }
            let dropped: Vec<Job> = queue.jobs.drain(..).collect();
            drop(queue);
            for job in dropped {
                self.handle.shared.end_unstarted(&job.id);
            }
        }
        self.handle.shared.wake.notify_all();
        if worker.join().is_err() {
            tracing::error!("the runner thread panicked");
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::ops::Deref for Runner {
    type Target = RunnerHandle;
    fn deref(&self) -> &RunnerHandle {
        &self.handle
    }
}

impl RunnerHandle {
    /// Records `experiment` as a new queued run and queues it; returns at once.
    pub fn submit(&self, experiment: &Experiment) -> Result<RunId, RunError> {
        self.submit_new(experiment, false)
    }

    /// [`RunnerHandle::submit`] for one of several runs of a grid: when it starts, a CoLLM run
    /// takes its foundation and first stages from any finished run of the store that computed
    /// exactly the same (an earlier point of the grid, usually), and records that in its
    /// experiment's `[reuse]`. On the CPU the result is the same as training them again.
    pub fn submit_sharing(&self, experiment: &Experiment) -> Result<RunId, RunError> {
        self.submit_new(experiment, true)
    }

    fn submit_new(&self, experiment: &Experiment, share: bool) -> Result<RunId, RunError> {
        // A missing file is reported now, not after the foundation trained, and leaves no run.
        experiment.check_inputs(&self.shared.data_dir)?;
        self.shared.store.check_room_to_train()?;
        let id = self.shared.store.create_run(
            &experiment.name,
            &experiment.to_toml(),
            experiment.kind.as_str(),
        )?;
        self.enqueue(
            Job {
                id: id.clone(),
                experiment: experiment.clone(),
                resume: false,
                prior_best_step: None,
                share,
            },
            &experiment.name,
        )?;
        Ok(id)
    }

    /// Queues an interrupted, cancelled or failed run again under the same id; it skips its
    /// finished parts and continues the interrupted stage from its last resume point when that
    /// is on disk (an epoch of a collaborative model; an evaluation, or the cancelled step, of
    /// an LLM stage).
    pub fn resume(&self, id: &RunId) -> Result<RunId, RunError> {
        self.resume_placed(id, Placement::default())
    }

    /// [`Runner::resume`] on another device or dtype than the run started with (say, a run
    /// interrupted on a GPU machine, finished on a CPU one).
    pub fn resume_placed(&self, id: &RunId, placement: Placement) -> Result<RunId, RunError> {
        let store = &self.shared.store;
        let record = store.run(id)?;
        if !matches!(
            record.status,
            RunStatus::Interrupted | RunStatus::Cancelled | RunStatus::Failed
        ) {
            return Err(RunError::NotResumable {
                id: id.clone(),
                status: record.status,
            });
        }
        let mut experiment = Experiment::of_run(&record)?;
        store.check_room_to_train()?;
        let moved = experiment.place(placement);
        // A device this build or machine lacks is refused while the run keeps its status.
        experiment.resolve_device()?;
        // Resumed elsewhere, the record says so: compare, sweeps and `--reuse` match runs by
        // their stored experiment, and a run partly in bf16 is not the f32 one.
        if moved {
            store.set_experiment(id, &experiment.to_toml())?;
        }
        let dataset_dir = experiment
            .dataset_dir(&self.shared.data_dir)
            .map_err(crate::experiment::RunSetupError::from)?;
        data_check::check(id, &store.run_dir(id), &dataset_dir)?;
        let prior_best_step = record.best_artifact().map(|a| a.step);
        store.set_status(id, RunStatus::Queued)?;
        store.append_event(
            id,
            &Event::Log {
                message: if moved {
                    format!(
                        "resumed on device {}, dtype {}",
                        experiment.device, experiment.dtype
                    )
                } else {
                    "resumed".into()
                },
            },
        )?;
        self.enqueue(
            Job {
                id: id.clone(),
                experiment,
                resume: true,
                prior_best_step,
                share: false,
            },
            &record.name,
        )?;
        Ok(id.clone())
    }

    /// Stops a run: the running one at its next step, a queued one at once (it ends
    /// `cancelled` without starting).
    pub fn cancel(&self, id: &RunId) -> Result<(), RunError> {
        let mut queue = self.shared.lock_queue();
        if let Some((current, token)) = &queue.current {
            if current == id {
                token.cancel();
                return Ok(());
            }
        }
        let Some(pos) = queue.jobs.iter().position(|j| &j.id == id) else {
            return Err(RunError::NotActive { id: id.clone() });
        };
        queue.jobs.remove(pos);
        let idle = queue.jobs.is_empty() && queue.current.is_none();
        drop(queue);
        self.shared.end_unstarted(id);
        if idle {
            self.shared.send(RunnerMessage::Idle);
        }
        Ok(())
    }

    /// Cancels the running run and everything queued.
    pub fn cancel_all(&self) {
        let ids: Vec<RunId> = {
            let queue = self.shared.lock_queue();
            queue
                .jobs
                .iter()
                .map(|j| j.id.clone())
                .chain(queue.current.iter().map(|(id, _)| id.clone()))
                .collect()
        };
        for id in ids {
            // A run that ended meanwhile is no longer active: nothing to do.
            let _ = self.cancel(&id);
        }
    }

    /// Nothing queued or running.
    pub fn is_idle(&self) -> bool {
        let queue = self.shared.lock_queue();
        queue.jobs.is_empty() && queue.current.is_none()
    }

    fn enqueue(&self, job: Job, name: &str) -> Result<(), RunError> {
        let id = job.id.clone();
        {
            let mut queue = self.shared.lock_queue();
            if queue.closed {
                drop(queue);
                self.shared.end_unstarted(&id);
                return Err(RunError::ShutDown);
            }
            queue.jobs.push_back(job);
        }
        self.shared.send(RunnerMessage::Queued {
            id,
            name: name.to_string(),
        });
        self.shared.wake.notify_all();
        Ok(())
    }
}

impl Shared {
    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // The queue stays consistent across a panicking consumer: keep going.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, message: RunnerMessage) {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        sink(message);
    }

    /// Writes `event` to the store, then passes it on.
    fn record(&self, id: &RunId, event: &Event) {
        if let Err(err) = self.store.append_event(id, event) {
            tracing::error!("run {id}: {err}");
            self.send(RunnerMessage::StoreError {
                id: id.clone(),
                message: err.to_string(),
            });
        }
        self.send(RunnerMessage::Event {
            id: id.clone(),
            event: event.clone(),
        });
    }

    /// Ends a run that never started as cancelled.
    fn end_unstarted(&self, id: &RunId) {
        self.record(id, &Event::Cancelled);
        self.send(RunnerMessage::Ended {
            id: id.clone(),
            status: RunStatus::Cancelled,
        });
    }
}

/// The worker thread: one job at a time until shut down.
fn work(shared: &Shared) {
    loop {
        let (job, cancel) = {
            let mut queue = shared.lock_queue();
            loop {
                if queue.closed {
                    return;
                }
                if let Some(job) = queue.jobs.pop_front() {
                    let cancel = CancelToken::new();
                    queue.current = Some((job.id.clone(), cancel.clone()));
                    break (job, cancel);
                }
                queue = shared.wake.wait(queue).unwrap_or_else(|p| p.into_inner());
            }
        };
        let id = job.id.clone();
        let status = run_job(shared, job, &cancel);
        let idle = {
            let mut queue = shared.lock_queue();
            queue.current = None;
            queue.jobs.is_empty()
        };
        shared.send(RunnerMessage::Ended { id, status });
        if idle {
            shared.send(RunnerMessage::Idle);
        }
    }
}

/// Takes what a starting run can from finished runs of the store (newest first), records it in
/// the run's experiment and log. Sharing only saves time: when it cannot be done, the run
/// trains everything itself.
fn share_stages(shared: &Shared, id: &RunId, experiment: &mut Experiment) {
    let mut with_reuse = experiment.clone();
    let taken = (|| -> Result<_, String> {
        let stored = crate::sweep::StoredRuns::load(&shared.store).map_err(|e| e.to_string())?;
        let newest_first = stored.finished_sources();
        let sources: Vec<_> = newest_first.iter().collect();
        let taken = crate::sweep::share_earlier(&mut with_reuse, &sources);
        if !taken.is_empty() {
            reuse::resolve_sources(&shared.store, &mut with_reuse).map_err(|e| e.to_string())?;
            shared
                .store
                .set_experiment(id, &with_reuse.to_toml())
                .map_err(|e| e.to_string())?;
        }
        Ok(taken)
    })();
    match taken {
        Ok(taken) => {
            *experiment = with_reuse;
            for (part, from) in taken {
                shared.record(
                    id,
                    &Event::Log {
                        message: format!("{part} taken from run {from}, which computed the same"),
                    },
                );
            }
        }
        Err(err) => tracing::warn!("run {id}: not sharing stages: {err}"),
    }
}

/// How often a running job looks at the store's free space.
const SPACE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Carries out one run and records how it ended; nothing in it can leave the run `running`
/// (errors and panics end it `failed` with the message).
fn run_job(shared: &Shared, mut job: Job, cancel: &CancelToken) -> RunStatus {
    let id = job.id.clone();
    if let Err(err) = shared.store.set_status(&id, RunStatus::Running) {
        tracing::error!("run {id}: {err}");
        shared.send(RunnerMessage::StoreError {
            id: id.clone(),
            message: err.to_string(),
        });
    }
    shared.send(RunnerMessage::Started { id: id.clone() });
    if job.share && !job.resume {
        share_stages(shared, &id, &mut job.experiment);
    }
    let run_dir = shared.store.run_dir(&id);
    // Noted when the run starts; a run resumed without one (made before fingerprints were
    // kept) is protected from here on.
    if !job.resume || !data_check::noted(&run_dir) {
        if let Ok(dataset_dir) = job.experiment.dataset_dir(&shared.data_dir) {
            if let Err(err) = data_check::note(&run_dir, &dataset_dir) {
                shared.record(
                    &id,
                    &Event::Log {
                        message: format!("warning: {err}"),
                    },
                );
            }
        }
    }
    let run_job = RunJob {
        id: &id,
        experiment: &job.experiment,
        store: &shared.store,
        data_dir: &shared.data_dir,
        run_dir: &run_dir,
        resume: job.resume,
        prior_best_step: job.prior_best_step,
    };
    // A disk filling up during the run stops it (checked every few seconds, as events come)
    // while sled still has room to record why: see `collm_store::MIN_FREE_BYTES`.
    let mut low_space = None;
    let mut space_checked: Option<std::time::Instant> = None;
    let mut sink = |event: &Event| {
        shared.record(&id, event);
        if low_space.is_none() && space_checked.is_none_or(|t| t.elapsed() >= SPACE_CHECK_EVERY) {
            space_checked = Some(std::time::Instant::now());
            low_space = shared.store.low_space();
            if low_space.is_some() {
                cancel.cancel();
            }
        }
    };
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| match job.experiment.kind {
        ExperimentKind::Cf => cf::execute(&run_job, &mut sink, cancel),
        ExperimentKind::Collm => collm::execute(&run_job, &mut sink, cancel),
    }));
    let (last, status) = match result {
        Ok(Ok(Outcome::Finished { ranking })) => {
            for point in ranking {
                shared.record(
                    &id,
                    &Event::Log {
                        message: describe_ranking(&point),
                    },
                );
                if let Err(err) = shared.store.record_ranking(&id, point) {
                    shared.send(RunnerMessage::StoreError {
                        id: id.clone(),
                        message: err.to_string(),
                    });
                }
            }
            (Event::Finished, RunStatus::Finished)
        }
        Ok(Ok(Outcome::Cancelled)) => match low_space {
            Some(free) => (
                Event::Failed {
                    error: format!(
                        "stopped: only {} free on the store's disk ({}), below the {} a store \
                         needs to write safely; free some space, then `collm resume {id}`",
                        collm_store::size_text(free),
                        shared.store.dir().display(),
                        collm_store::size_text(collm_store::MIN_FREE_BYTES)
                    ),
                },
                RunStatus::Failed,
            ),
            None => (Event::Cancelled, RunStatus::Cancelled),
        },
        Ok(Err(err)) => (
            Event::Failed {
                error: err.to_string(),
            },
            RunStatus::Failed,
        ),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            (
                Event::Failed {
                    error: format!("internal error (panic): {what}"),
                },
                RunStatus::Failed,
            )
        }
    };
    shared.record(&id, &last);
    status
}

fn describe_ranking(p: &collm_store::RankingPoint) -> String {
    let m = &p.metrics;
    let show = crate::text::metric;
    format!(
        // Up to: a user who has seen most of the catalogue leaves fewer items to draw.
        "ranking {}: recall@{k} {}, ndcg@{k} {} over {} positives, each against up to {} \
         sampled negatives",
        p.split,
        show(m.recall),
        show(m.ndcg),
        m.positives,
        m.negatives,
        k = m.k
    )
}
