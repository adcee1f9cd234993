//! The background thread: the only place the TUI touches the store and the runner. It answers
//! the UI's commands with messages, so the UI thread never waits on disk or on training.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use collm_store::{RunId, Store};

use crate::tui::app::ExperimentChoice;
use crate::tui::message::{Command, Message};

/// Where results go: returns false once the UI is gone.
pub type Sink = Arc<dyn Fn(Message) -> bool + Send + Sync>;

/// The running background thread.
pub struct Background {
    pub commands: Sender<Command>,
    thread: JoinHandle<()>,
}

impl Background {
    /// Stops taking commands and waits for the thread (and so the runner) to finish.
    pub fn join(self) {
        drop(self.commands);
        if self.thread.join().is_err() {
            tracing::error!("the background thread panicked");
        }
    }
}

/// Starts the background thread over `store`; experiments are listed from `experiments_dir`.
pub fn spawn(store: Arc<Store>, experiments_dir: PathBuf, sink: Sink) -> Background {
    let (tx, rx) = mpsc::channel::<Command>();
    let thread = std::thread::Builder::new()
        .name("tui-background".into())
        .spawn(move || {
            let worker = Worker { store, experiments_dir, sink };
            for command in rx {
                worker.handle(command);
            }
            tracing::info!("background thread done");
        })
        .expect("spawning the background thread");
    Background { commands: tx, thread }
}

struct Worker {
    store: Arc<Store>,
    experiments_dir: PathBuf,
    sink: Sink,
}

impl Worker {
    fn send(&self, message: Message) {
        (self.sink)(message);
    }

    fn handle(&self, command: Command) {
        tracing::debug!(?command, "background command");
        match command {
            Command::RefreshRuns => self.send(load_runs(&self.store)),
            Command::LoadRun(id) => self.send(load_run(&self.store, &id)),
            Command::LoadExperiments => {
                self.send(Message::Experiments(list_experiments(&self.experiments_dir)))
            }
            Command::Launch { .. } | Command::Cancel(_) | Command::Resume(_) => {
                self.send(Message::Error("the runner is not available in this build".into()))
            }
            Command::ListUsers { .. } | Command::Inspect { .. } => self.send(Message::Inspected(
                Err("the prompt inspector is not available in this build".into()),
            )),
        }
    }
}

/// Every run's record (records are small: points live apart).
pub fn load_runs(store: &Store) -> Message {
    match store.runs() {
        Ok(list) => {
            let mut unreadable: Vec<String> = list.unreadable.iter().map(|e| e.to_string()).collect();
            let mut records = Vec::with_capacity(list.runs.len());
            for summary in &list.runs {
                match store.run(&summary.id) {
                    Ok(record) => records.push(record),
                    Err(err) => unreadable.push(err.to_string()),
                }
            }
            Message::Runs { records, unreadable }
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

/// The `*.toml` files of `dir`, sorted by file name; each keeps its parse problem, if any.
pub fn list_experiments(dir: &Path) -> Vec<ExperimentChoice> {
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
    files.into_iter().map(|path| choice_from_file(&path)).collect()
}

fn choice_from_file(path: &Path) -> ExperimentChoice {
    let label = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let (name, problem) = check_experiment(&text, &path.display().to_string(), &stem);
            ExperimentChoice { label, path: Some(path.to_path_buf()), name, text, problem }
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

/// The experiment's name (its `name` key, else `fallback`) and why it cannot run, if so.
fn check_experiment(text: &str, origin: &str, fallback: &str) -> (String, Option<String>) {
    match text.parse::<toml::Table>() {
        Ok(table) => {
            let name = table.get("name").and_then(|v| v.as_str()).unwrap_or(fallback).to_string();
            (name, None)
        }
        Err(err) => (fallback.to_string(), Some(format!("{origin}: {err}"))),
    }
}
