//! The store's contract: records survive reopening, dead runs become interrupted, a second
//! opener is told who holds the store, and a corrupt record costs only that record.

use collm_eval::{Breakdown, Metrics};
use collm_events::Event;
use collm_store::{Headline, RankingPoint, RunId, RunStatus, Store, StoreError, FINAL_STAGE};

fn breakdown(auc: f64) -> Breakdown {
    let m = Metrics {
        auc: Some(auc),
        uauc: Some(auc - 0.05),
        logloss: Some(0.6),
        rows: 100,
        users_counted: 7,
    };
    Breakdown {
        all: m.clone(),
        warm: m.clone(),
        cold: Metrics {
            rows: 0,
            ..Default::default()
        },
    }
}

fn eval(stage: &str, step: u64, split: &str, auc: f64) -> Event {
    Event::Eval {
        stage: stage.into(),
        step,
        split: split.into(),
        metrics: breakdown(auc),
    }
}

#[test]
fn run_round_trips_through_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = Store::open(dir.path()).unwrap();
        let id = store
            .create_run("mf-test", "name = \"mf-test\"\n", "cf")
            .unwrap();
        store
            .append_event(
                &id,
                &Event::StageStarted {
                    stage: "mf".into(),
                    total_steps: Some(40),
                },
            )
            .unwrap();
        for step in 1..=3 {
            store
                .append_event(
                    &id,
                    &Event::Step {
                        stage: "mf".into(),
                        step,
                        loss: 1.0 / step as f64,
                        lr: 1e-3,
                    },
                )
                .unwrap();
        }
        store
            .append_event(&id, &eval("mf", 3, "valid", 0.61))
            .unwrap();
        store
            .append_event(&id, &eval("mf", 6, "valid", 0.66))
            .unwrap();
        store
            .append_event(&id, &eval("mf", 9, "valid", 0.64))
            .unwrap();
        let weights = store
            .run_dir(&id)
            .join("best.safetensors")
            .display()
            .to_string();
        for step in [3, 6] {
            store
                .append_event(
                    &id,
                    &Event::Checkpoint {
                        stage: "mf".into(),
                        step,
                        path: weights.clone(),
                        best: true,
                    },
                )
                .unwrap();
        }
        store
            .append_event(
                &id,
                &Event::Log {
                    message: "stopped early".into(),
                },
            )
            .unwrap();
        store
            .append_event(&id, &Event::StageFinished { stage: "mf".into() })
            .unwrap();
        store
            .append_event(&id, &eval(FINAL_STAGE, 6, "valid", 0.66))
            .unwrap();
        let metrics = collm_eval::ranking::ranking_metrics(&[1, 3, 20], 10, 100);
        let point = RankingPoint {
            stage: FINAL_STAGE.into(),
            step: 6,
            split: "valid".into(),
            metrics,
            at_ms: 0,
        };
        store.record_ranking(&id, point.clone()).unwrap();
        store.record_ranking(&id, point).unwrap();
        store.append_event(&id, &Event::Finished).unwrap();
        id
    };
    let store = Store::open(dir.path()).unwrap();
    let record = store.run(&id).unwrap();
    assert_eq!(record.status, RunStatus::Finished);
    assert_eq!(record.name, "mf-test");
    assert_eq!(record.experiment, "name = \"mf-test\"\n");
    assert_eq!(record.steps, 3);
    assert_eq!(record.evals, 4);
    assert!(record.started_ms.is_some() && record.ended_ms.is_some());
    assert_eq!(record.stages.len(), 1);
    assert_eq!(record.stages[0].total_steps, Some(40));
    assert!(record.stages[0].finished_ms.is_some());
    // The best training evaluation is kept, not the last one.
    let best_mf = record.best.iter().find(|e| e.stage == "mf").unwrap();
    assert_eq!((best_mf.step, best_mf.metrics.all.auc), (6, Some(0.66)));
    assert_eq!(record.results().count(), 1);
    // A checkpoint rewritten in place is one artifact, the latest.
    assert_eq!(record.artifacts.len(), 1);
    assert_eq!(record.artifacts[0].step, 6);
    assert_eq!(record.log[0].message, "stopped early");
    assert_eq!(
        record.ranking.len(),
        1,
        "recording a split again replaces it"
    );
    assert_eq!(record.ranking[0].metrics.positives, 3);
    let steps = store.steps(&id).unwrap();
    assert_eq!(
        steps.iter().map(|s| s.step).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(steps[1].loss, 0.5);
    assert_eq!(store.evals(&id).unwrap().len(), 4);
    let list = store.runs().unwrap();
    assert_eq!(list.runs.len(), 1);
    // Whole records in one pass, each as `run` gives it (steps not yet counted in included).
    let records = store.records().unwrap();
    assert_eq!(records.runs, vec![store.run(&id).unwrap()]);
    assert_eq!(records.runs[0].steps, 3);
    assert_eq!(records.runs[0].summary(), list.runs[0]);
    assert_eq!(
        list.runs[0].headline_auc,
        Some(Headline {
            stage: FINAL_STAGE.into(),
            split: "valid".into(),
            auc: 0.66,
            rows: 100
        })
    );
}

#[test]
fn an_unfinished_run_is_judged_by_the_stage_it_is_in_not_by_its_parts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = store.create_run("collm-mf", "", "collm").unwrap();
    let start = |stage: &str| Event::StageStarted {
        stage: stage.into(),
        total_steps: Some(96),
    };
    let headline = |store: &Store| store.runs().unwrap().runs[0].headline_auc.clone();
    // The foundation evaluates all of valid, the LLM stages a sample of valid_small.
    for event in [
        start("cf"),
        eval("cf", 40, "valid", 0.68),
        Event::StageFinished { stage: "cf".into() },
        start("stage1"),
        eval("stage1", 32, "valid_small", 0.50),
        Event::StageFinished {
            stage: "stage1".into(),
        },
        start("stage2"),
    ] {
        store.append_event(&id, &event).unwrap();
    }
    let record = store.run(&id).unwrap();
    assert_eq!(record.current_stage(), Some("stage2"));
    // Stage 2 has evaluated nothing yet: no number, rather than the foundation's 0.68.
    assert_eq!(record.result_on("valid"), None);
    assert_eq!(headline(&store), None);

    store
        .append_event(&id, &eval("stage2", 32, "valid_small", 0.63))
        .unwrap();
    store
        .append_event(&id, &eval("stage2", 64, "valid_small", 0.61))
        .unwrap();
    let record = store.run(&id).unwrap();
    assert_eq!(record.result_on("valid"), None);
    assert_eq!(record.result_on("valid_small").unwrap().step, 32);
    let so_far = Headline {
        stage: "stage2".into(),
        split: "valid_small".into(),
        auc: 0.63,
        rows: 100,
    };
    assert_eq!(headline(&store), Some(so_far.clone()));
    assert!(!so_far.is_final());

    // Its results replace the training numbers, on the listing's split first.
    store.append_event(&id, &start(FINAL_STAGE)).unwrap();
    store
        .append_event(&id, &eval(FINAL_STAGE, 32, "valid", 0.66))
        .unwrap();
    let record = store.run(&id).unwrap();
    assert_eq!(record.current_stage(), Some("stage2"));
    assert_eq!(record.result_on("valid").unwrap().stage, FINAL_STAGE);
    assert_eq!(headline(&store).unwrap().auc, 0.66);
}

#[test]
fn running_run_of_a_dead_process_is_interrupted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (running, queued, done) = {
        let store = Store::open(dir.path()).unwrap();
        let running = store.create_run("a", "", "cf").unwrap();
        store.set_status(&running, RunStatus::Running).unwrap();
        // The step comes after the record's last update; steps do not update it.
        std::thread::sleep(std::time::Duration::from_millis(30));
        store
            .append_event(
                &running,
                &Event::Step {
                    stage: "mf".into(),
                    step: 1,
                    loss: 0.7,
                    lr: 0.1,
                },
            )
            .unwrap();
        let queued = store.create_run("b", "", "cf").unwrap();
        let done = store.create_run("c", "", "cf").unwrap();
        store.append_event(&done, &Event::Finished).unwrap();
        // Dropping without ending the runs is what a killed process leaves on disk.
        (running, queued, done)
    };
    let store = Store::open(dir.path()).unwrap();
    let r = store.run(&running).unwrap();
    assert_eq!(r.status, RunStatus::Interrupted);
    assert!(r
        .error
        .as_deref()
        .unwrap()
        .contains(&format!("pid {}", std::process::id())));
    // It lasted to its last step, not to its last record update.
    let step_at = store.steps(&running).unwrap()[0].at_ms;
    assert!(step_at >= r.started_ms.unwrap() + 30);
    assert_eq!(r.ended_ms, Some(step_at));
    assert_eq!(
        r.steps, 0,
        "steps not yet counted into the record stay only as points"
    );
    assert_eq!(store.steps(&running).unwrap().len(), 1);
    assert_eq!(store.run(&queued).unwrap().status, RunStatus::Interrupted);
    assert_eq!(store.run(&done).unwrap().status, RunStatus::Finished);
}

#[test]
fn second_opener_is_told_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path())
        .err()
        .expect("a second open must fail");
    match &err {
        StoreError::Locked {
            holder: Some(holder),
            ..
        } => assert_eq!(holder.pid, std::process::id()),
        other => panic!("expected Locked with a holder, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&format!("is held by pid {}", std::process::id())),
        "{message}"
    );
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

/// A path that is a file, or no store, is said to be one: `open_existing` makes nothing there,
/// `open` makes a store in an empty folder only.
#[test]
fn a_file_or_a_folder_without_a_store_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("afile");
    std::fs::write(&file, "x").unwrap();
    let err = Store::open(&file)
        .err()
        .expect("a file is no store")
        .to_string();
    assert!(err.contains("a file, not a folder"), "{err}");
    let err = Store::open_existing(&file)
        .err()
        .expect("a file is no store");
    assert!(matches!(err, StoreError::NotAFolder { .. }), "{err}");
    let missing = dir.path().join("typo");
    let err = Store::open_existing(&missing)
        .err()
        .expect("no store there");
    assert!(matches!(err, StoreError::Missing { .. }), "{err}");
    assert!(!missing.exists());
    drop(Store::open(&missing).unwrap());
    assert!(Store::exists(&missing));
    Store::open_existing(&missing).expect("a store made by open");
}

/// An opener waits a moment for a holder that is about to let go (a command exiting while the
/// next in a pipeline starts), instead of failing at once.
#[test]
fn a_store_let_go_within_a_moment_opens() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    let letting_go = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(first);
    });
    Store::open(dir.path()).expect("opened once the first let go");
    letting_go.join().unwrap();
}

#[test]
fn corrupt_record_is_named_and_spares_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let good = {
        let store = Store::open(dir.path()).unwrap();
        store.create_run("good", "", "cf").unwrap()
    };
    {
        let db = sled::open(dir.path().join("db")).unwrap();
        let runs = db.open_tree("runs").unwrap();
        runs.insert("990101-000000", &b"{not json"[..]).unwrap();
        db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let list = store.runs().unwrap();
    assert_eq!(list.runs.len(), 1);
    assert_eq!(list.runs[0].id, good);
    assert_eq!(list.unreadable.len(), 1);
    let bad = RunId::parse("990101-000000").unwrap();
    let err = store.run(&bad).unwrap_err().to_string();
    assert!(
        err.contains("run 990101-000000") && err.contains("unreadable"),
        "{err}"
    );
    assert_eq!(store.run(&good).unwrap().name, "good");
}

#[test]
fn many_steps_stay_out_of_the_listing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = store.create_run("long", "", "cf").unwrap();
    let other = store.create_run("other", "", "cf").unwrap();
    for step in 0..20_000u64 {
        store
            .append_event(
                &id,
                &Event::Step {
                    stage: "mf".into(),
                    step,
                    loss: 1.0,
                    lr: 1e-3,
                },
            )
            .unwrap();
    }
    store
        .append_event(
            &other,
            &Event::Step {
                stage: "mf".into(),
                step: 0,
                loss: 2.0,
                lr: 1e-3,
            },
        )
        .unwrap();
    store.append_event(&id, &Event::Finished).unwrap();
    assert_eq!(store.run(&id).unwrap().steps, 20_000);
    let steps = store.steps(&id).unwrap();
    assert_eq!(steps.len(), 20_000);
    assert!(steps.windows(2).all(|w| w[0].step < w[1].step));
    assert_eq!(store.steps(&other).unwrap().len(), 1);
    // The record itself stays small however long the run.
    let db_record = serde_json::to_vec(&store.run(&id).unwrap()).unwrap();
    assert!(
        db_record.len() < 4096,
        "record is {} bytes",
        db_record.len()
    );
}

#[test]
fn ids_resolve_by_prefix_and_delete_removes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = store.create_run("a", "", "cf").unwrap();
    let b = store.create_run("b", "", "cf").unwrap();
    assert_ne!(a, b);
    assert!(a < b, "ids sort by creation: {a} {b}");
    assert_eq!(store.resolve(a.as_str()).unwrap(), a);
    assert_eq!(store.resolve(b.as_str()).unwrap(), b);
    assert!(matches!(
        store.resolve(&a.as_str()[..6]),
        Err(StoreError::Ambiguous { .. })
    ));
    assert!(matches!(
        store.resolve("nope"),
        Err(StoreError::NotFound { .. })
    ));
    // A part given where a whole run is taken (`show RUN:stage1`) is said to be one, not a
    // run that does not exist.
    let part = format!("{a}:stage1");
    let err = store.resolve(&part).unwrap_err();
    assert!(matches!(err, StoreError::PartNotTaken { .. }), "{err}");
    assert!(
        err.to_string().contains("this command takes a whole run"),
        "{err}"
    );
    assert!(matches!(
        store.resolve("nope:stage1"),
        Err(StoreError::NotFound { .. })
    ));
    store
        .append_event(
            &a,
            &Event::Step {
                stage: "mf".into(),
                step: 0,
                loss: 1.0,
                lr: 1.0,
            },
        )
        .unwrap();
    std::fs::create_dir_all(store.run_dir(&a)).unwrap();
    std::fs::write(store.run_dir(&a).join("w.safetensors"), b"x").unwrap();
    store.delete_run(&a).unwrap();
    assert!(!store.run_dir(&a).exists());
    assert!(matches!(store.run(&a), Err(StoreError::NotFound { .. })));
    assert!(matches!(store.steps(&a), Err(StoreError::NotFound { .. })));
    assert_eq!(store.runs().unwrap().runs.len(), 1);
    // The deleted run's whole id names nothing now, though it is a prefix of `b` when both
    // were made in one second (`X` and `X-2`): a repeated delete must not take `b`.
    assert!(matches!(
        store.resolve(a.as_str()),
        Err(StoreError::NotFound { .. })
    ));
}

/// `delete_run` marks the folder and writes the record's removal before it removes the folder,
/// so a kill between the two leaves a marked folder without a record; the next open removes
/// such folders, and only them.
#[test]
fn a_folder_left_by_an_interrupted_delete_is_removed_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, orphan, unmarked) = {
        let store = Store::open(dir.path()).unwrap();
        let kept = store.create_run("kept", "", "cf").unwrap();
        let gone = store.create_run("gone", "", "cf").unwrap();
        let lost = store.create_run("lost", "", "cf").unwrap();
        for id in [&kept, &gone, &lost] {
            std::fs::create_dir_all(store.run_dir(id)).unwrap();
            std::fs::write(store.run_dir(id).join("w.safetensors"), b"x").unwrap();
        }
        // The state a kill after the record's removal leaves: the marked folder, no record.
        let orphan = store.run_dir(&gone);
        let saved = dir.path().join("saved");
        std::fs::rename(&orphan, &saved).unwrap();
        store.delete_run(&gone).unwrap();
        std::fs::rename(&saved, &orphan).unwrap();
        std::fs::write(orphan.join(".deleting"), b"").unwrap();
        // A folder whose record went some other way (a lost database): not the store's to judge.
        let unmarked = store.run_dir(&lost);
        std::fs::rename(&unmarked, &saved).unwrap();
        store.delete_run(&lost).unwrap();
        std::fs::rename(&saved, &unmarked).unwrap();
        (kept, orphan, unmarked)
    };
    let store = Store::open(dir.path()).unwrap();
    assert!(!orphan.exists(), "{}", orphan.display());
    assert!(unmarked.join("w.safetensors").exists());
    assert!(store.run_dir(&kept).join("w.safetensors").exists());
    assert_eq!(store.runs().unwrap().runs.len(), 1);
}

#[test]
fn a_running_run_counts_up_to_a_live_clock_and_an_ended_one_stops_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = store.create_run("mf", "", "cf").unwrap();
    store.set_status(&id, RunStatus::Running).unwrap();
    let mut record = store.run(&id).unwrap();
    let start = record.started_ms.unwrap();
    record.updated_ms = start + 4_000;
    // The listing counts to the last update; a live view counts to its clock.
    assert_eq!(record.duration_s(), Some(4.0));
    assert_eq!(record.duration_s_at(Some(start + 9_500)), Some(9.5));
    // A clock behind the start (another machine's) is not a negative duration.
    assert_eq!(record.duration_s_at(Some(start - 1_000)), Some(0.0));

    record.status = RunStatus::Finished;
    record.ended_ms = Some(start + 6_000);
    assert_eq!(record.duration_s(), Some(6.0));
    assert_eq!(record.duration_s_at(Some(start + 60_000)), Some(6.0));

    let queued = store.create_run("mf", "", "cf").unwrap();
    assert_eq!(store.run(&queued).unwrap().duration_s_at(Some(start)), None);
}

/// A run resumed after a wait counts only the time it ran: not from its failure to its
/// resume, nor its time in the queue before it started again.
#[test]
fn a_resumed_run_does_not_count_the_wait_before_its_resume() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = store.create_run("mf", "", "cf").unwrap();
    let pause = |ms: u64| std::thread::sleep(std::time::Duration::from_millis(ms));
    store.set_status(&id, RunStatus::Running).unwrap();
    pause(40);
    store.fail(&id, "boom").unwrap();
    let ran = store.run(&id).unwrap().duration_s().unwrap();
    pause(500);
    store.set_status(&id, RunStatus::Queued).unwrap();
    pause(500);
    store.set_status(&id, RunStatus::Running).unwrap();
    pause(40);
    store.append_event(&id, &Event::Finished).unwrap();
    let r = store.run(&id).unwrap();
    let total = (r.ended_ms.unwrap() - r.started_ms.unwrap()) as f64 / 1000.0;
    let duration = r.duration_s().unwrap();
    assert!(total >= 1.08, "{total}");
    assert!(
        duration >= ran + 0.04 && duration < 0.5,
        "{duration} (ran {ran}, total {total})"
    );
}

#[test]
fn best_weights_are_found_in_the_store_that_is_open_wherever_they_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let id = {
        let store = Store::open(&first).unwrap();
        let id = store.create_run("cf", "name = \"cf\"\n", "cf").unwrap();
        let checkpoint = |stage: &str, file: &str, best| Event::Checkpoint {
            stage: stage.into(),
            step: 1,
            path: store.run_dir(&id).join(file).display().to_string(),
            best,
        };
        for event in [
            checkpoint("mf", "last.safetensors", false),
            checkpoint("mf", "best.safetensors", true),
            checkpoint(FINAL_STAGE, "final/best", true),
        ] {
            store.append_event(&id, &event).unwrap();
        }
        assert_eq!(
            store.best_weights(&store.run(&id).unwrap()),
            Some(store.run_dir(&id).join("best.safetensors"))
        );
        id
    };
    let moved = dir.path().join("elsewhere/moved");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&first, &moved).unwrap();
    let store = Store::open(&moved).unwrap();
    let record = store.run(&id).unwrap();
    let here = moved.join("runs").join(id.as_str());
    assert_eq!(
        store.best_weights(&record),
        Some(here.join("best.safetensors"))
    );
    // Every artifact is shown where it is now, by `run` and `records` alike (show and export
    // printed the paths of the store it was written in).
    let listed = store.records().unwrap().runs.remove(0);
    for record in [&record, &listed] {
        let paths: Vec<&str> = record.artifacts.iter().map(|a| a.path.as_str()).collect();
        let want: Vec<String> = ["last.safetensors", "best.safetensors", "final/best"]
            .iter()
            .map(|f| here.join(f).display().to_string())
            .collect();
        assert_eq!(paths, want);
    }
    // A run without best weights has none.
    let other = store.create_run("new", "name = \"new\"\n", "cf").unwrap();
    assert_eq!(store.best_weights(&store.run(&other).unwrap()), None);
}

/// A stage resumed from its resume point supersedes what a killed attempt recorded past it:
/// those steps and evaluations go (the stage records them again), the counts and bests are
/// read again, and the stage stays one stage. An evaluation recorded again at the same step
/// (killed before it moved on) replaces the first.
#[test]
fn a_resumed_stage_supersedes_what_was_recorded_past_its_resume_point() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let id = store.create_run("r", "name = \"r\"", "collm").unwrap();
    let started = Event::StageStarted {
        stage: "stage1".into(),
        total_steps: Some(20),
    };
    let step = |step: u64| Event::Step {
        stage: "stage1".into(),
        step,
        loss: 1.0 / step as f64,
        lr: 1e-3,
    };
    store.append_event(&id, &started).unwrap();
    for s in 1..=12 {
        store.append_event(&id, &step(s)).unwrap();
        if s % 4 == 0 {
            // The attempt killed after step 12 saw its best at step 12.
            let auc = if s == 12 { 0.9 } else { 0.5 + s as f64 / 100.0 };
            store
                .append_event(&id, &eval("stage1", s, "valid", auc))
                .unwrap();
        }
    }
    // Killed after step 12, its last resume point at step 8; the second attempt starts.
    store.append_event(&id, &started).unwrap();
    let resumed = Event::Resumed {
        stage: "stage1".into(),
        step: 8,
    };
    store.append_event(&id, &resumed).unwrap();
    let record = store.run(&id).unwrap();
    assert_eq!(record.steps, 8);
    assert_eq!(record.evals, 2);
    assert_eq!(record.stages.len(), 1, "{:?}", record.stages);
    assert_eq!(record.stages[0].resumed.map(|r| r.step), Some(8));
    let best = record.evaluation("stage1", "valid").unwrap();
    assert_eq!((best.step, best.metrics.all.auc), (8, Some(0.58)));
    // Step 8's evaluation again (the resume point was written before it), then on.
    store
        .append_event(&id, &eval("stage1", 8, "valid", 0.58))
        .unwrap();
    for s in 9..=12 {
        store.append_event(&id, &step(s)).unwrap();
    }
    store
        .append_event(&id, &eval("stage1", 12, "valid", 0.7))
        .unwrap();
    let steps: Vec<u64> = store.steps(&id).unwrap().iter().map(|p| p.step).collect();
    assert_eq!(steps, (1..=12).collect::<Vec<_>>());
    let evals: Vec<u64> = store.evals(&id).unwrap().iter().map(|p| p.step).collect();
    assert_eq!(evals, [4, 8, 12]);
    let record = store.run(&id).unwrap();
    assert_eq!((record.steps, record.evals), (12, 3));
    let best = record.evaluation("stage1", "valid").unwrap();
    assert_eq!((best.step, best.metrics.all.auc), (12, Some(0.7)));
    // Its end, said again by a later resume, stays the first; started again by a resume that
    // meets it finished, it is still one stage.
    let finished = Event::StageFinished {
        stage: "stage1".into(),
    };
    store.append_event(&id, &finished).unwrap();
    let end = store.run(&id).unwrap().stages[0].finished_ms;
    std::thread::sleep(std::time::Duration::from_millis(5));
    store.append_event(&id, &resumed).unwrap();
    store.append_event(&id, &started).unwrap();
    store.append_event(&id, &finished).unwrap();
    assert!(end.is_some());
    let record = store.run(&id).unwrap();
    assert_eq!(record.stages.len(), 1, "{:?}", record.stages);
    assert_eq!(record.stages[0].finished_ms, end);
}
