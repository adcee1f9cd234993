//! The runner through its library API: a queue carried out in order, cancelling queued and
//! running runs, a failing run that does not stop the queue, resuming, and the idle signal.

mod common;

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use collm_bench::experiment::Experiment;
use collm_bench::runner::{RunError, Runner, RunnerMessage};
use collm_events::Event;
use collm_store::{RunId, RunStatus, Store};
use common::{mf_experiment, ML1M};

fn experiment(name: &str, max_epochs: usize) -> Experiment {
    Experiment::from_toml(
        &mf_experiment(name, max_epochs, 100, 0.01),
        Path::new("test.toml"),
    )
    .unwrap()
}

fn next(rx: &Receiver<RunnerMessage>) -> RunnerMessage {
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the runner went silent")
}

#[test]
fn queue_cancel_failure_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("store")).unwrap());
    let (runner, rx) = Runner::start(store.clone(), dir.path().join("data"));

    let a = runner.submit(&experiment("a", 8)).unwrap();
    let on = |data: &str| {
        Experiment::from_toml(
            &mf_experiment("broken", 1, 1, 0.01).replace(ML1M, data),
            Path::new("broken.toml"),
        )
        .unwrap()
    };
    // A folder that is not there is refused, leaving no run; a bad one fails its run.
    let missing = runner.submit(&on("/nonexistent/data")).unwrap_err();
    assert!(missing.to_string().contains("no such folder"), "{missing}");
    assert_eq!(store.runs().unwrap().runs.len(), 1);
    let bad = common::bad_dataset(dir.path());
    let d = runner.submit(&on(common::path_str(&bad))).unwrap();
    let b = runner.submit(&experiment("b", 1)).unwrap();
    let c = runner.submit(&experiment("c", 1)).unwrap();
    runner.cancel(&c).unwrap();
    assert_eq!(
        store.run(&c).unwrap().status,
        RunStatus::Cancelled,
        "a queued run ends at once"
    );

    let mut ended: Vec<(RunId, RunStatus)> = Vec::new();
    let mut started: Vec<RunId> = Vec::new();
    let mut cancelled_a = false;
    loop {
        match next(&rx) {
            RunnerMessage::Started { id } => started.push(id),
            RunnerMessage::Ended { id, status } => ended.push((id, status)),
            RunnerMessage::Idle => break,
            // `a` would train 8 epochs: cancel it once it has evaluated.
            RunnerMessage::Event {
                id,
                event: Event::Eval { .. },
            } if id == a && !cancelled_a => {
                runner.cancel(&a).unwrap();
                cancelled_a = true;
            }
            _ => {}
        }
    }
    assert!(runner.is_idle());
    assert_eq!(started, vec![a.clone(), d.clone(), b.clone()]);
    assert_eq!(
        ended,
        vec![
            (c.clone(), RunStatus::Cancelled),
            (a.clone(), RunStatus::Cancelled),
            (d.clone(), RunStatus::Failed),
            (b.clone(), RunStatus::Finished),
        ]
    );
    let failed = store.run(&d).unwrap();
    assert!(failed.error.unwrap().contains("train.tsv:2: field `label`"));
    assert_eq!(store.steps(&c).unwrap().len(), 0);
    assert_eq!(store.run(&b).unwrap().results().count(), 2);

    // A finished run cannot be resumed; the cancelled one continues to its end.
    assert!(matches!(
        runner.resume(&b),
        Err(RunError::NotResumable { .. })
    ));
    let evals_before = store.run(&a).unwrap().evals;
    assert_eq!(runner.resume(&a).unwrap(), a);
    loop {
        if let RunnerMessage::Ended { id, status } = next(&rx) {
            assert_eq!((id, status), (a.clone(), RunStatus::Finished));
            break;
        }
    }
    let record = store.run(&a).unwrap();
    assert!(
        record
            .log
            .iter()
            .any(|l| l.message.contains("resumed from")),
        "{:?}",
        record.log
    );
    assert_eq!(record.results().count(), 2);
    let cf_evals = store
        .evals(&a)
        .unwrap()
        .into_iter()
        .filter(|e| e.stage == "cf")
        .count();
    assert_eq!(
        cf_evals, 8,
        "8 epochs in all, none evaluated twice (had {evals_before} before)"
    );
    runner.shutdown();
}

#[test]
fn shutdown_cancels_what_is_queued_and_running() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("store")).unwrap());
    let (runner, rx) = Runner::start(store.clone(), dir.path().join("data"));
    let a = runner.submit(&experiment("a", 100_000)).unwrap();
    let b = runner.submit(&experiment("b", 1)).unwrap();
    while !matches!(
        next(&rx),
        RunnerMessage::Event {
            event: Event::Step { .. },
            ..
        }
    ) {}
    runner.shutdown();
    assert_eq!(store.run(&a).unwrap().status, RunStatus::Cancelled);
    assert_eq!(store.run(&b).unwrap().status, RunStatus::Cancelled);
}

/// A CoLLM run stopped while it scored a finished stage (`final-stage1`, whose per-row scores
/// `collm compare RUN:stage1` reads): on resume the stage is met as finished, and scored again
/// because its scores were never kept (it was once skipped, leaving the run without them).
/// The kill mid-scoring is simulated: a cancel as stage 2 starts, and stage 1's kept scores
/// removed, which is what a kill before they were written leaves.
#[test]
fn a_stage_stopped_while_being_scored_is_scored_on_resume() {
    let tiny = Experiment::load(Path::new(common::QUICK_COLLM_TINY)).unwrap();
    let scores = "predictions/stage1/valid.tsv";
    let (_dir, store, id) = cancel_then_resume(
        &tiny,
        |e| stage_starts(e, "stage2"),
        |run| std::fs::remove_file(run.join(scores)).unwrap(),
    );
    assert!(store.run_dir(&id).join(scores).exists());
}

/// Runs `exp` in a store of its own, cancels it at the first event `stop_at` picks, lets
/// `between` change the run's folder as a kill would have left it, and resumes it to the end.
/// Returns the store (with the folder holding it) and the run.
fn cancel_then_resume(
    exp: &Experiment,
    stop_at: impl Fn(&Event) -> bool,
    between: impl FnOnce(&Path),
) -> (tempfile::TempDir, Arc<Store>, RunId) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("store")).unwrap());
    let (runner, rx) = Runner::start(store.clone(), dir.path().join("data"));
    let id = runner.submit(exp).unwrap();
    let mut between = Some(between);
    loop {
        match next(&rx) {
            RunnerMessage::Event { event, .. } if between.is_some() && stop_at(&event) => {
                // A run that ended already has nothing to cancel.
                let _ = runner.cancel(&id);
            }
            RunnerMessage::Ended { status, .. } => match between.take() {
                Some(change) => {
                    assert_eq!(status, RunStatus::Cancelled);
                    change(&store.run_dir(&id));
                    runner.resume(&id).unwrap();
                }
                None => {
                    assert_eq!(status, RunStatus::Finished);
                    break;
                }
            },
            _ => {}
        }
    }
    runner.shutdown();
    (dir, store, id)
}

fn stage_starts(event: &Event, name: &str) -> bool {
    matches!(event, Event::StageStarted { stage, .. } if stage == name)
}

/// With several evaluation splits, a run stopped between two of a stage's scorings (the first
/// split's scores kept, the second's not) scores only the second on resume, and records no
/// evaluation twice: each split is kept as soon as it is scored. The kill is simulated as
/// above: a cancel as stage 2 starts, then the second split's kept scores removed.
#[test]
fn a_resumed_run_scores_only_the_splits_it_had_not_kept() {
    let mut tiny = Experiment::load(Path::new(common::QUICK_COLLM_TINY)).unwrap();
    tiny.evaluation.splits = vec!["valid".into(), "test".into()];
    let kept = |run: &Path, split: &str| run.join(format!("predictions/stage1/{split}.tsv"));
    let (_dir, store, id) = cancel_then_resume(
        &tiny,
        |e| stage_starts(e, "stage2"),
        |run| {
            assert!(kept(run, "valid").exists());
            std::fs::remove_file(kept(run, "test")).unwrap();
        },
    );
    let kept = |split: &str| kept(&store.run_dir(&id), split);
    assert!(kept("test").exists());
    let evals = store.evals(&id).unwrap();
    for stage in ["final-cf", "final-stage1", "final"] {
        for split in ["valid", "test"] {
            let n = evals
                .iter()
                .filter(|e| e.stage == stage && e.split == split)
                .count();
            assert_eq!(n, 1, "{stage} of {split} recorded {n} times");
        }
    }
    let log: Vec<String> = store
        .run(&id)
        .unwrap()
        .log
        .into_iter()
        .map(|l| l.message)
        .collect();
    let resumed_at = log.iter().position(|l| l.starts_with("resumed")).unwrap();
    let scored_after: Vec<&String> = log[resumed_at..]
        .iter()
        .filter(|l| l.starts_with("final-stage1: scoring"))
        .collect();
    assert_eq!(scored_after.len(), 1, "{scored_after:?}");
    assert!(scored_after[0].contains("scoring test"), "{scored_after:?}");
}

/// A stage killed before its first resume point starts over on resume, and what the killed
/// attempt recorded of it goes: each step is recorded once, and the record counts what is
/// there. A kill -9 is simulated as a cancel on the stage's first step with the resume point
/// the cancel saved removed (`remove` lists it, relative to the run's folder).
fn stage_killed_before_its_first_resume_point_starts_over(stage: &str, remove: &[&str]) {
    let tiny = Experiment::load(Path::new(common::QUICK_COLLM_TINY)).unwrap();
    let first_step = |e: &Event| matches!(e, Event::Step { stage: s, .. } if s == stage);
    let (_dir, store, id) = cancel_then_resume(&tiny, first_step, |run| {
        // (A foundation cancelled in its first epoch saved none.)
        for path in remove {
            let path = run.join(path);
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else if path.exists() {
                std::fs::remove_file(&path).unwrap();
            }
        }
    });
    let steps = store.steps(&id).unwrap();
    let mut seen = std::collections::HashSet::new();
    for p in &steps {
        assert!(
            seen.insert((p.stage.clone(), p.step)),
            "{} step {} twice",
            p.stage,
            p.step
        );
    }
    let record = store.run(&id).unwrap();
    assert_eq!(record.steps, steps.len() as u64);
    let names: Vec<&str> = record.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cf", "stage1", "stage2"]);
    assert!(record.stages.iter().all(|s| s.finished_ms.is_some()));
}

#[test]
fn an_llm_stage_killed_before_its_first_resume_point_starts_over() {
    stage_killed_before_its_first_resume_point_starts_over("stage1", &["stage1/last"]);
}

#[test]
fn a_foundation_killed_before_its_first_resume_point_starts_over() {
    stage_killed_before_its_first_resume_point_starts_over(
        "cf",
        &["cf/last.safetensors", "cf/last.json"],
    );
}
