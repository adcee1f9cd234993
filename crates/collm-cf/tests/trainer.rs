//! The training loop: learning, early stopping, events, cancellation, resuming, the abort rule.

mod common;

use std::path::Path;

use candle_core::Device;
use collm_cf::{
    build, score_rows, train, CfKind, CfModel, CfModelConfig, CfTrainConfig, CfTrainOutcome,
};
use collm_data::Dataset;
use collm_eval::ScoredRow;
use collm_events::{CancelToken, Event};
use common::{dataset, row, two_taste_dataset};

fn train_cfg(max_epochs: usize, patience: usize) -> CfTrainConfig {
    CfTrainConfig {
        lr: 0.05,
        weight_decay: 1e-4,
        batch_size: 64,
        max_epochs,
        patience,
        seed: 5,
        select_on: "valid".into(),
        eval_splits: vec!["valid".into(), "valid_small".into()],
    }
}

fn model_cfg(kind: CfKind) -> CfModelConfig {
    if kind == CfKind::Din {
        // Three equal fields, xavier-normal tables (as the reference; no other std accepted).
        return CfModelConfig::new(kind, 12);
    }
    CfModelConfig {
        kind,
        dim: 8,
        layers: 2,
        init_std: Some(0.1),
        ..CfModelConfig::new(kind, 8)
    }
}

fn run(
    kind: CfKind,
    ds: &Dataset,
    cfg: &CfTrainConfig,
    out: &Path,
    resume: Option<&Path>,
    cancel_after_steps: Option<u64>,
) -> (Box<dyn CfModel>, CfTrainOutcome, Vec<Event>) {
    let mut model = build(&model_cfg(kind), ds, 9, &Device::Cpu).unwrap();
    let cancel = CancelToken::new();
    let mut events = Vec::new();
    let token = cancel.clone();
    let mut sink = |e: &Event| {
        if let (Event::Step { step, .. }, Some(n)) = (e, cancel_after_steps) {
            if *step >= n {
                token.cancel();
            }
        }
        events.push(e.clone());
    };
    let outcome = train(&mut *model, ds, cfg, out, resume, &mut sink, &cancel).unwrap();
    (model, outcome, events)
}

fn valid_auc(model: &dyn CfModel, ds: &Dataset) -> f64 {
    let scored = score_rows(model, &ds.valid.rows, 100).unwrap();
    let (pos, neg): (Vec<&ScoredRow>, Vec<&ScoredRow>) = scored.iter().partition(|r| r.label == 1);
    let wins: f64 = pos
        .iter()
        .flat_map(|p| {
            neg.iter().map(move |n| {
                if p.logit > n.logit {
                    1.0
                } else if p.logit == n.logit {
                    0.5
                } else {
                    0.0
                }
            })
        })
        .sum();
    wins / (pos.len() * neg.len()) as f64
}

#[test]
fn both_models_learn_two_tastes_and_stop_early() {
    let ds = two_taste_dataset(40, 30, 600, 200, 1);
    for kind in [CfKind::Mf, CfKind::Lightgcn] {
        let dir = tempfile::tempdir().unwrap();
        let (model, outcome, events) = run(kind, &ds, &train_cfg(300, 5), dir.path(), None, None);
        let auc = outcome.best.all.auc.unwrap();
        assert!(auc > 0.8, "{kind:?}: best valid AUC {auc}");
        assert!(!outcome.cancelled);
        assert!(outcome.epochs_run < 300, "{kind:?} never stopped early");
        assert_eq!(
            outcome.epochs_run,
            outcome.best_epoch + 5 + 1,
            "{kind:?}: stops after `patience` non-improving evaluations"
        );
        // The model is left holding the best weights, which are the ones on disk.
        assert!((valid_auc(&*model, &ds) - auc).abs() < 1e-9);
        assert!(outcome.weights.ends_with("best.safetensors") && outcome.weights.exists());
        assert!(
            dir.path().join("last.safetensors").exists() && dir.path().join("last.json").exists()
        );

        let batches = 600_usize.div_ceil(64);
        assert!(
            matches!(&events[0], Event::StageStarted { stage, total_steps: Some(t) } if stage == "cf" && *t == 300 * batches as u64)
        );
        let steps = events
            .iter()
            .filter(|e| matches!(e, Event::Step { .. }))
            .count();
        assert_eq!(steps, outcome.epochs_run * batches);
        let evals: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::Eval { split, .. } => Some(split.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(evals.len(), outcome.epochs_run * 2);
        assert_eq!(&evals[..2], ["valid", "valid_small"]);
        assert!(events
            .iter()
            .any(|e| matches!(e, Event::Checkpoint { best: true, .. })));
        assert!(matches!(events.last(), Some(Event::StageFinished { .. })));
    }
}

#[test]
fn training_is_deterministic_given_the_seed() {
    let ds = two_taste_dataset(20, 20, 200, 60, 2);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, first, _) = run(CfKind::Mf, &ds, &train_cfg(8, 100), a.path(), None, None);
    let (_, second, _) = run(CfKind::Mf, &ds, &train_cfg(8, 100), b.path(), None, None);
    assert_eq!(first.best, second.best);
    assert_eq!(
        std::fs::read(&first.weights).unwrap(),
        std::fs::read(&second.weights).unwrap()
    );
}

#[test]
fn cancellation_stops_between_steps_and_keeps_a_best_checkpoint() {
    let ds = two_taste_dataset(20, 20, 200, 60, 3);
    let dir = tempfile::tempdir().unwrap();
    let (_, outcome, events) = run(
        CfKind::Mf,
        &ds,
        &train_cfg(50, 100),
        dir.path(),
        None,
        Some(9),
    );
    assert!(outcome.cancelled);
    let steps = events
        .iter()
        .filter(|e| matches!(e, Event::Step { .. }))
        .count();
    assert_eq!(steps, 9, "cancel must be seen before the next step");
    assert_eq!(
        outcome.epochs_run, 2,
        "4 batches per epoch: two epochs finished"
    );
    assert!(outcome.weights.exists());
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::StageFinished { .. })));

    // Cancelled before any epoch finished: the current weights become the best.
    let dir = tempfile::tempdir().unwrap();
    let (_, outcome, _) = run(
        CfKind::Mf,
        &ds,
        &train_cfg(50, 100),
        dir.path(),
        None,
        Some(1),
    );
    assert!(outcome.cancelled && outcome.epochs_run == 0 && outcome.weights.exists());
    assert!(outcome.best.all.auc.is_some());
}

/// Trains `kind` for 7 epochs straight, and again cancelled after step 14 then resumed into a
/// fresh folder from a fresh model: both must end with the same bytes. Returns the folder of
/// the cancelled attempt.
fn resumes_like_an_uninterrupted_run(
    kind: CfKind,
    ds: &Dataset,
    cfg: &CfTrainConfig,
) -> tempfile::TempDir {
    let straight = tempfile::tempdir().unwrap();
    let (_, full, _) = run(kind, ds, cfg, straight.path(), None, None);
    assert_eq!(full.epochs_run, 7);

    let first = tempfile::tempdir().unwrap();
    let (_, part, _) = run(kind, ds, cfg, first.path(), None, Some(14));
    assert!(part.cancelled && part.epochs_run == 3);
    // Resume into a fresh folder (the best checkpoint is carried over) from a fresh model.
    let second = tempfile::tempdir().unwrap();
    let (_, resumed, events) = run(kind, ds, cfg, second.path(), Some(first.path()), None);
    assert_eq!(resumed.epochs_run, 7);
    assert_eq!(resumed.best_epoch, full.best_epoch, "{kind:?}");
    assert_eq!(resumed.best, full.best, "{kind:?}");
    assert!(
        std::fs::read(&resumed.weights).unwrap() == std::fs::read(&full.weights).unwrap(),
        "{kind:?}: the resumed run's best weights differ"
    );
    let first_step = events.iter().find_map(|e| match e {
        Event::Step { step, .. } => Some(*step),
        _ => None,
    });
    assert_eq!(first_step, Some(3 * 4 + 1), "step numbering continues");
    first
}

#[test]
fn a_cancelled_run_resumes_to_the_same_result_as_an_uninterrupted_one() {
    let ds = two_taste_dataset(20, 20, 200, 60, 4);
    let cfg = train_cfg(7, 100);
    // SASRec and DIN draw dropout masks: the resume point carries the mask stream.
    for kind in [CfKind::Sasrec, CfKind::Din] {
        resumes_like_an_uninterrupted_run(kind, &ds, &cfg);
    }
    let first = resumes_like_an_uninterrupted_run(CfKind::Lightgcn, &ds, &cfg);

    // A kill between the weights' rename and last.json's leaves the readable copy behind: the
    // resume that reads the weights' own state writes it again.
    let json = first.path().join("last.json");
    let good = std::fs::read(&json).unwrap();
    std::fs::write(&json, b"{\"epochs_done\": 2}").unwrap();
    let again = tempfile::tempdir().unwrap();
    run(
        CfKind::Lightgcn,
        &ds,
        &cfg,
        again.path(),
        Some(first.path()),
        None,
    );
    assert_eq!(std::fs::read(&json).unwrap(), good);

    // A different learning rate is another run: refused, naming the file.
    let third = tempfile::tempdir().unwrap();
    let mut model = build(&model_cfg(CfKind::Lightgcn), &ds, 9, &Device::Cpu).unwrap();
    let other = CfTrainConfig { lr: 0.01, ..cfg };
    let err = train(
        &mut *model,
        &ds,
        &other,
        third.path(),
        Some(first.path()),
        &mut |_: &Event| {},
        &CancelToken::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("last.safetensors") && err.contains("different training config"),
        "{err}"
    );
}

#[test]
fn a_run_that_cannot_beat_chance_is_abandoned_after_epoch_500() {
    // Every valid row is the same (user, item) pair: all scores tie, AUC is exactly 0.5.
    let train_rows = vec![row(1, 1, 1, true), row(1, 2, 0, true), row(2, 1, 0, true)];
    let valid = vec![row(1, 1, 1, true), row(1, 1, 0, true)];
    let ds = dataset(2, train_rows, valid);
    let dir = tempfile::tempdir().unwrap();
    let cfg = CfTrainConfig {
        eval_splits: vec![],
        ..train_cfg(700, 10_000)
    };
    let (_, outcome, events) = run(CfKind::Mf, &ds, &cfg, dir.path(), None, None);
    assert_eq!(outcome.best.all.auc, Some(0.5));
    assert_eq!(
        outcome.epochs_run,
        collm_cf::ABORT_AFTER_EPOCH + 2,
        "stops after 0-based epoch 501"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Log { message } if message.contains("giving up"))));
}

/// Trains a fresh MF on `ds` with `cfg`, its events dropped.
fn train_mf(ds: &Dataset, cfg: &CfTrainConfig) -> Result<CfTrainOutcome, collm_cf::CfError> {
    let mut model = build(&model_cfg(CfKind::Mf), ds, 1, &Device::Cpu).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let quiet = &mut |_: &Event| {};
    train(
        &mut *model,
        ds,
        cfg,
        dir.path(),
        None,
        quiet,
        &CancelToken::new(),
    )
}

#[test]
fn unknown_evaluation_split_is_a_config_error() {
    let ds = two_taste_dataset(10, 10, 50, 20, 5);
    let cfg = CfTrainConfig {
        select_on: "test".into(),
        ..train_cfg(3, 3)
    };
    let err = train_mf(&ds, &cfg).unwrap_err().to_string();
    assert!(err.contains("select_on") && err.contains("test"), "{err}");
}

/// A selection split whose rows all hold one label has no AUC: every epoch would tie and the
/// first would be kept without a word, so training is refused before it starts. A split only
/// reported (not selecting) may be so.
#[test]
fn a_selection_split_of_one_label_is_refused() {
    let rows = |label: u8| (1..=6).map(|u| row(u, u, label, true)).collect::<Vec<_>>();
    let mut ds = dataset(8, [rows(1), rows(0)].concat(), rows(1));
    ds.valid_small.rows = [rows(1), rows(0)].concat();
    let train_on = |select_on: &str, eval_splits: Vec<String>| {
        let cfg = CfTrainConfig {
            select_on: select_on.into(),
            eval_splits,
            ..train_cfg(2, 2)
        };
        train_mf(&ds, &cfg)
    };
    let err = train_on("valid", vec!["valid".into()])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("select_on") && err.contains("holds only label 1"),
        "{err}"
    );
    assert!(train_on("valid_small", vec!["valid_small".into(), "valid".into()]).is_ok());
}

#[test]
fn resuming_a_finished_run_trains_nothing_more() {
    let ds = two_taste_dataset(20, 20, 200, 60, 6);
    let dir = tempfile::tempdir().unwrap();
    let cfg = train_cfg(300, 3);
    let (_, done, _) = run(CfKind::Mf, &ds, &cfg, dir.path(), None, None);
    assert!(done.epochs_run < 300);
    let (_, again, events) = run(CfKind::Mf, &ds, &cfg, dir.path(), Some(dir.path()), None);
    assert_eq!(
        (again.epochs_run, again.best_epoch),
        (done.epochs_run, done.best_epoch)
    );
    assert_eq!(again.best, done.best);
    assert!(!events.iter().any(|e| matches!(e, Event::Step { .. })));
}
