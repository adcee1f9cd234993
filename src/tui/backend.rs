//! The background thread: the only place the TUI touches the store and the runner. It answers
//! the UI's commands with messages, so the UI thread never waits on disk or on training.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use collm_store::{RunId, Store};

use crate::experiment::{Experiment, DEFAULT_EXPERIMENT, DEFAULT_EXPERIMENT_NAME};
use crate::runner::{Runner, RunnerMessage};
use crate::tui::app::ExperimentChoice;
use crate::tui::inspect::Inspector;
use crate::tui::message::{Command, Message};

/// Where results go: returns false once the UI is gone.
pub type Sink = Arc<dyn Fn(Message) -> bool + Send + Sync>;

/// The running background thread.
pub struct Background {
    pub commands: Sender<Command>,
    thread: JoinHandle<()>,
}

impl Background {
    /// Stops taking commands and waits for the thread (and so the runner) to finish. When that
    /// takes a moment (the prompt inspector scoring rows with an LLM, a run's step ending), says
    /// so on stderr, the terminal given back by then: a blank wait read as a hang.
    pub fn join(self) {
        drop(self.commands);
        let waited = std::time::Instant::now();
        while !self.thread.is_finished() {
            if waited.elapsed() >= std::time::Duration::from_millis(500) {
                // Not `eprintln!`, which panics when the terminal has gone (SIGHUP): the runs'
                // cancel and the store's flush must still happen.
                let _ = writeln!(
                    std::io::stderr(),
                    "collm: finishing the work in progress (scoring for the prompt inspector, \
                     the active runs' cancel) before the store is released…"
                );
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if self.thread.join().is_err() {
            tracing::error!("the background thread panicked");
        }
    }
}

/// Starts the background thread and its runner over `store`: experiments are listed from
/// `experiments_dir`, the embedded dataset is imported into `data_dir`. Runner events go to
/// `sink` as they happen (from the runner's thread), each followed by the run's new record
/// unless it is a training step.
pub fn spawn(
    store: Arc<Store>,
    experiments_dir: PathBuf,
    data_dir: PathBuf,
    sink: Sink,
) -> Background {
    let (tx, rx) = mpsc::channel::<Command>();
    let thread = std::thread::Builder::new()
        .name("tui-background".into())
        .spawn(move || {
            let runner_store = store.clone();
            let runner_sink = sink.clone();
            let runner = Runner::with_sink(store.clone(), data_dir.clone(), move |m| {
                forward(&runner_store, &runner_sink, m)
            });
            let mut worker = Worker {
                store,
                experiments_dir,
                data_dir,
                sink,
                runner,
                inspector: Inspector::default(),
            };
            for command in rx {
                worker.handle(command);
            }
            // Cancels what still runs and waits, so the store is left consistent.
            worker.runner.shutdown();
            tracing::info!("background thread done");
        })
        .expect("spawning the background thread");
    Background {
        commands: tx,
        thread,
    }
}

/// Passes a runner message on as UI messages (on the runner's thread: quick store reads only).
fn forward(store: &Store, sink: &Sink, message: RunnerMessage) {
    let refresh = |id: &RunId| match store.run(id) {
        Ok(record) => {
            sink(Message::RunUpdated(Box::new(record)));
        }
        Err(err) => {
            sink(Message::Error(err.to_string()));
        }
    };
    match message {
        RunnerMessage::Event { id, event } => {
            let step = matches!(event, collm_events::Event::Step { .. });
            sink(Message::RunEvent {
                id: id.clone(),
                event: Box::new(event),
                at_ms: collm_store::now_ms(),
            });
            if !step {
                refresh(&id);
            }
        }
        RunnerMessage::Queued { id, .. }
        | RunnerMessage::Started { id }
        | RunnerMessage::Ended { id, .. } => refresh(&id),
        RunnerMessage::StoreError { id, message } => {
            sink(Message::Error(format!("run {id}: {message}")));
        }
        RunnerMessage::Idle => {}
    }
}

struct Worker {
    store: Arc<Store>,
    experiments_dir: PathBuf,
    data_dir: PathBuf,
    sink: Sink,
    runner: Runner,
    inspector: Inspector,
}

impl Worker {
    fn send(&self, message: Message) {
        (self.sink)(message);
    }

    fn handle(&mut self, command: Command) {
        tracing::debug!(?command, "background command");
        match command {
            Command::RefreshRuns => self.send(load_runs(&self.store)),
            Command::LoadRun(id) => self.send(load_run(&self.store, &id)),
            Command::LoadExperiments => self.send(experiments_message(&self.experiments_dir)),
            Command::Launch {
                origin,
                experiment,
                share,
            } => {
                let result = Experiment::from_toml(&experiment, &origin)
                    .map_err(|e| e.to_string())
                    .and_then(|mut exp| {
                        crate::runner::resolve_reuse_sources(&self.store, &mut exp)
                            .map_err(|e| e.to_string())?;
                        if share {
                            self.runner.submit_sharing(&exp)
                        } else {
                            self.runner.submit(&exp)
                        }
                        .map(|id| (id, exp.name.clone()))
                        .map_err(|e| e.to_string())
                    });
                match result {
                    Ok((id, name)) => self.send(Message::Launched { id, name }),
                    Err(err) => self.send(Message::Error(err)),
                }
            }
            Command::Cancel(id) => {
                if let Err(err) = self.runner.cancel(&id) {
                    self.send(Message::Error(err.to_string()));
                }
            }
            // Checked again here, against the store: the run may have been resumed since.
            Command::Delete(id) => match crate::cleanup::delete(&self.store, &id) {
                Ok(gone) => self.send(Message::Deleted {
                    id,
                    bytes: gone.bytes,
                }),
                Err(err) => self.send(Message::Error(err)),
            },
            Command::Resume(id) => match self.runner.resume(&id) {
                Ok(id) => self.send(Message::Notice(format!("run {id} queued to resume"))),
                Err(err) => self.send(Message::Error(err.to_string())),
            },
            Command::ListUsers { run, split } => {
                match self
                    .inspector
                    .users(&self.store, &self.data_dir, run.as_ref(), &split)
                {
                    Ok(users) => self.send(Message::Users { split, users }),
                    Err(err) => self.send(Message::Inspected(Err(err))),
                }
            }
            Command::Inspect { run, uid, split } => {
                let result =
                    self.inspector
                        .inspect(&self.store, &self.data_dir, run.as_ref(), uid, &split);
                self.send(Message::Inspected(result.map(Box::new)));
            }
            Command::Significance {
                split,
                base,
                others,
            } => {
                let results = crate::compare::significance(
                    &self.store,
                    &split,
                    &base,
                    &others,
                    crate::tui::app::SIGNIFICANCE_RESAMPLES,
                    0,
                );
                let results = others.into_iter().zip(results).collect();
                self.send(Message::Significance {
                    split,
                    base,
                    results,
                });
            }
            Command::KeptMetrics { split, targets } => {
                let results = targets
                    .into_iter()
                    .map(|t| {
                        let metrics = crate::compare::kept_metrics(&self.store, &t, &split);
                        (t, metrics)
                    })
                    .collect();
                self.send(Message::KeptMetrics { split, results });
            }
        }
    }
}

/// Every run's record (records are small: points live apart).
pub fn load_runs(store: &Store) -> Message {
    match store.records() {
        Ok(list) => {
            let mut kept_splits: Vec<String> = list
                .runs
                .iter()
                .flat_map(|r| crate::runner::predictions::kept_splits(&store.run_dir(&r.id)))
                .collect();
            kept_splits.sort_unstable();
            kept_splits.dedup();
            Message::Runs {
                records: list.runs,
                unreadable: list.unreadable.iter().map(|e| e.to_string()).collect(),
                kept_splits,
            }
        }
        Err(err) => Message::Error(err.to_string()),
    }
}

/// One run with its points.
pub fn load_run(store: &Store, id: &RunId) -> Message {
    match store.full_run(id) {
        Ok(full) => Message::RunLoaded(Box::new(full)),
        Err(err) => Message::Error(err.to_string()),
    }
}

/// [`list_experiments`] of `dir`, with `dir` named as the Launch view shows it: absolute, so
/// that a TUI started outside a checkout says where it looked.
pub fn experiments_message(dir: &Path) -> Message {
    let folder = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    Message::Experiments {
        folder: folder.display().to_string(),
        choices: list_experiments(dir),
    }
}

/// The embedded default, then the `*.toml` files of `dir` sorted by file name; each keeps its
/// problem (file, line, key), if any.
pub fn list_experiments(dir: &Path) -> Vec<ExperimentChoice> {
    let embedded = ExperimentChoice {
        label: format!("{DEFAULT_EXPERIMENT_NAME} (built in)"),
        path: None,
        name: DEFAULT_EXPERIMENT_NAME.to_string(),
        text: DEFAULT_EXPERIMENT.to_string(),
        problem: None,
    };
    std::iter::once(embedded).chain(list_files(dir)).collect()
}

fn list_files(dir: &Path) -> Vec<ExperimentChoice> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(err) => {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot list {}: {err}", dir.display());
            }
            Vec::new()
        }
    };
    files.sort();
    files
        .into_iter()
        .map(|path| choice_from_file(&path))
        .collect()
}

fn choice_from_file(path: &Path) -> ExperimentChoice {
    let label = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let (name, problem) = check_experiment(&text, path, &stem);
            ExperimentChoice {
                label,
                path: Some(path.to_path_buf()),
                name,
                text,
                problem,
            }
        }
        Err(err) => ExperimentChoice {
            label,
            path: Some(path.to_path_buf()),
            name: stem,
            text: String::new(),
            problem: Some(format!("cannot read {}: {err}", path.display())),
        },
    }
}

/// The experiment's name and why it cannot run, if so.
fn check_experiment(text: &str, origin: &Path, fallback: &str) -> (String, Option<String>) {
    match Experiment::from_toml(text, origin) {
        Ok(exp) => (exp.name, None),
        Err(err) => (fallback.to_string(), Some(err.to_string())),
    }
}
