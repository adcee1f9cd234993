//! `collm run <experiment.toml>`: carries out one experiment in this process, with progress on
//! stderr and the results on stdout (a table, or with `--json` the object of [`super::report`]).
//!
//! Exit status: 0 finished, 1 failed (or could not start), 130 cancelled by Ctrl-C.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use collm_store::{RunId, RunRecord, RunStatus, Store};

use super::progress::Progress;
use super::report::{duration, RunReport};
use super::Context;
use crate::experiment::{overrides, Experiment, ExperimentError, Override, Placement};
use crate::runner::{RunError, Runner, RunnerHandle, RunnerMessage};
use crate::signals::{self, OnSignal};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The experiment file (TOML; see experiments/).
    pub experiment: PathBuf,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Take a stage (`stage1`, ...) or the foundation (`cf`) from a finished run instead of
    /// training it, e.g. `--reuse stage1=261129-011202`; adds to the file's `[reuse]`.
    #[arg(long, value_name = "STAGE=RUN")]
    pub reuse: Vec<String>,
    /// Change a setting of the file for this run: a dotted key as `collm compare` lists them and
    /// a TOML value, e.g. `--set training.lr=1e-3 --set collm.stages.1.max_steps=200`
    /// (repeatable; the stored experiment is the changed one).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<Override>,
    #[command(flatten)]
    pub placement: Placement,
}

pub fn execute(args: Args, ctx: &Context) -> anyhow::Result<ExitCode> {
    // A bad file is reported before the store is touched.
    overrides::refuse_repeats(&args.set).map_err(anyhow::Error::msg)?;
    let mut experiment = Experiment::load_with(&args.experiment, &args.set)?;
    // Stored as run: the record says where it computed.
    experiment.place(args.placement);
    // A device this build or machine lacks is reported before a run is created, as is a file
    // the experiment names that is not there (at its line; the runner checks again).
    let flagged = args.placement.device.is_some();
    experiment.resolve_device_of_file(&args.experiment, &args.set, flagged)?;
    experiment.check_inputs_of_file(&crate::paths::data_dir(), &args.experiment, &args.set)?;
    for note in experiment.advice() {
        say!("{note}");
    }
    let store = Arc::new(Store::open(&ctx.store_dir)?);
    add_reuse(&store, &mut experiment, &args.reuse)
        .map_err(|err| locate_reuse_error(err, &args.experiment, &args.reuse))?;
    let (runner, messages) = Runner::start(store.clone(), crate::paths::data_dir());
    let id = runner.submit(&experiment)?;
    follow(store, runner, messages, id, args.json)
}

/// Adds `--reuse STAGE=RUN` pairs to the experiment's `[reuse]` and checks every source run.
pub(super) fn add_reuse(
    store: &Store,
    experiment: &mut Experiment,
    pairs: &[String],
) -> anyhow::Result<()> {
    insert_reuse(experiment, pairs)?;
    Ok(crate::runner::resolve_reuse_sources(store, experiment)?)
}

/// A source that cannot be taken from, reported where it was named: the `--reuse` flag, or
/// the file's `[reuse]` line.
pub(super) fn locate_reuse_error(
    err: anyhow::Error,
    file: &Path,
    pairs: &[String],
) -> anyhow::Error {
    let Some(RunError::Reuse {
        key,
        named,
        message,
        ..
    }) = err.downcast_ref::<RunError>()
    else {
        return err;
    };
    if pairs
        .iter()
        .any(|p| p.split('=').next().map(str::trim) == Some(key.as_str()))
    {
        return anyhow::anyhow!("--reuse {key}={named}: {message}");
    }
    match crate::experiment::read_text(file) {
        Ok(text) => ExperimentError::at_key(
            file.to_path_buf(),
            &text,
            &format!("reuse.{key}"),
            err.to_string(),
        )
        .into(),
        Err(_) => err,
    }
}

/// Adds `--reuse STAGE=RUN` pairs to the experiment's `[reuse]` as typed (sources unchecked).
pub(super) fn insert_reuse(experiment: &mut Experiment, pairs: &[String]) -> anyhow::Result<()> {
    let mut given = std::collections::BTreeMap::new();
    for pair in pairs {
        let (key, run) = pair
            .split_once('=')
            .map(|(k, r)| (k.trim(), r.trim()))
            .filter(|(k, r)| !k.is_empty() && !r.is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("--reuse {pair}: expected STAGE=RUN, e.g. stage1=261129-011202")
            })?;
        if let Some(first) = given.insert(key, run) {
            anyhow::bail!("--reuse {key} is given twice ({first}, then {run}); keep one");
        }
        experiment.reuse.insert(key.to_string(), run.to_string());
    }
    Ok(())
}

/// Ctrl-C (or SIGTERM) cancels the runner's runs: they end `cancelled` at their next step, and
/// resume from there. A second signal quits at once (see [`crate::signals`]).
pub(super) fn cancel_on_signal(runner: RunnerHandle) -> std::io::Result<OnSignal> {
    // SIGHUP: the terminal or ssh session closed (under `nohup` it stays ignored).
    let asked = [signals::SIGINT, signals::SIGTERM, signals::SIGHUP];
    signals::on_signal(&asked, move |_| {
        say!("\ncancelling at the next step (press Ctrl-C again to quit at once)");
        runner.cancel_all();
    })
}

/// Shows the progress of run `id` until it ends, then prints its results and turns its status
/// into the exit status. Ctrl-C cancels it meanwhile.
pub(super) fn follow(
    store: Arc<Store>,
    runner: Runner,
    messages: Receiver<RunnerMessage>,
    id: RunId,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let signals = cancel_on_signal(runner.handle())?;
    say!(
        "run {id}: {} (store {})",
        store.run(&id)?.name,
        store.dir().display()
    );
    let record = watch(&store, &messages, &id)?;
    drop(signals);
    runner.shutdown();

    let report = RunReport::of_run(&record);
    if json {
        tell!("{}", report.to_json());
    } else {
        tell!(
            "run {} ({}): {} in {}",
            report.run_id,
            report.experiment,
            report.status,
            duration(report.duration_s)
        );
        // The error goes to stderr below, once; a run that never evaluated has no table.
        if !report.splits.is_empty() {
            tell!(text: "{}", report.table());
        }
    }
    Ok(match record.status {
        RunStatus::Finished => ExitCode::SUCCESS,
        RunStatus::Cancelled => {
            say!("run {id} cancelled; `collm resume {id}` continues it");
            ExitCode::from(130)
        }
        _ => {
            say!(
                "error: run {id} {}: {}",
                record.status,
                record.error.as_deref().unwrap_or("no reason recorded")
            );
            ExitCode::FAILURE
        }
    })
}

/// Draws the progress of run `id` from the runner's messages until it ends; returns its record.
/// When the store could not record the end (a full disk), the record is told how the run ended
/// as the runner says, with the run's error, or the store's when the run had none.
pub(super) fn watch(
    store: &Store,
    messages: &Receiver<RunnerMessage>,
    id: &RunId,
) -> anyhow::Result<RunRecord> {
    let mut progress = Progress::new(&store.run(id)?.name);
    let mut ended = None;
    let mut failure = None;
    let mut store_error = None;
    for message in messages {
        match message {
            RunnerMessage::Event { event, .. } => {
                if let collm_events::Event::Failed { error } = &event {
                    failure = Some(error.clone());
                }
                // A resumed stage's best so far is the record's (this process saw none of it):
                // a lower evaluation after the resume is no new best.
                if let collm_events::Event::Resumed { stage, .. } = &event {
                    progress.resume_best(stage, &store.run(id)?.best);
                }
                progress.event(&event)
            }
            RunnerMessage::StoreError { message, .. } => {
                progress.warn(&message);
                store_error = Some(message);
            }
            RunnerMessage::Ended { id: done, status } if &done == id => {
                ended = Some(status);
                break;
            }
            _ => {}
        }
    }
    progress.finish();
    let mut record = store.run(id)?;
    if let Some(status) = ended.filter(|_| !record.status.is_terminal()) {
        record.status = status;
        record.error = failure
            .or(store_error.map(|e| format!("the store could not record how the run ended: {e}")));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full disk can keep the run's end out of the store: `run` reports the end the runner
    /// announced, with the run's error, rather than the stale `running` and "no reason".
    #[test]
    fn an_end_the_store_could_not_record_is_reported_as_it_happened() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store.create_run("full-disk", "name = \"x\"", "cf").unwrap();
        let (send, messages) = std::sync::mpsc::channel();
        let no_space = "No space left on device (os error 28)";
        let error = format!("stage1/best.tmp/lora.safetensors: {no_space}");
        for message in [
            RunnerMessage::StoreError {
                id: id.clone(),
                message: no_space.into(),
            },
            RunnerMessage::Event {
                id: id.clone(),
                event: collm_events::Event::Failed {
                    error: error.clone(),
                },
            },
            RunnerMessage::Ended {
                id: id.clone(),
                status: RunStatus::Failed,
            },
        ] {
            send.send(message).unwrap();
        }
        let record = watch(&store, &messages, &id).unwrap();
        assert_eq!(record.status, RunStatus::Failed);
        assert_eq!(record.error.as_deref(), Some(error.as_str()));
        // Without the run's own error, the store's says why.
        let other = store.create_run("full-disk", "name = \"x\"", "cf").unwrap();
        for message in [
            RunnerMessage::StoreError {
                id: other.clone(),
                message: no_space.into(),
            },
            RunnerMessage::Ended {
                id: other.clone(),
                status: RunStatus::Cancelled,
            },
        ] {
            send.send(message).unwrap();
        }
        let record = watch(&store, &messages, &other).unwrap();
        assert_eq!(record.status, RunStatus::Cancelled);
        assert!(record.error.unwrap().ends_with(no_space));
    }
}
